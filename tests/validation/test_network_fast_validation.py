"""The igraph path on the simulated community equals the networkx path (the oracle).

The reply graph of the session's synthetic community (2,000 simulated members,
``synthetic_dataset``) is built both ways: :func:`analysis.network.fast_reply_graph` straight
from the engine's edge list, and :func:`analysis.network.reply.reply_graph` (networkx). Every
metric of the study is then compared: exact ones within 1e-9, betweenness from the same
pivots, Leiden as leidenalg's partition (same seed) or by networkx modularity; and the whole
study run with ``engine="igraph"`` against ``engine="networkx"``.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.network import brokers as B
from analysis.network import fast, network_study
from analysis.network.communities import leiden_communities
from analysis.network.core import core_members, innermost_core
from analysis.network.dependency import graph_dependency
from analysis.network.fast_graph import fast_graph
from analysis.network.reply import network_overview, reply_edges_expr, reply_graph
from analysis.network.structure import structure

TOL = 1e-9


@pytest.fixture(scope="module")
def community(synthetic_dataset):
    return Community.load(synthetic_dataset[0])


@pytest.fixture(scope="module")
def graphs(community):
    return reply_graph(community), fast.fast_reply_graph(community)


def test_graph_construction_equals_networkx(graphs):
    g, fg = graphs
    assert fg.n_nodes == g.number_of_nodes() > 500
    assert fg.n_edges == g.number_of_edges()
    assert list(fg.names) == sorted(g.nodes)
    ours = {(u, v): w for u, v, w in fg.edge_frame().itertuples(index=False)}
    assert ours == {(u, v): w for u, v, w in g.edges(data="weight")}
    assert fg.is_staff.tolist() == [g.nodes[v]["is_staff"] for v in fg.names]
    assert fg.is_bot.tolist() == [g.nodes[v]["is_bot"] for v in fg.names]
    assert fg.is_staff.sum() > 0


def test_construction_independent_of_engine_row_order(community, graphs):
    _, fg = graphs
    edges = community.execute(reply_edges_expr(community))
    flags = community.execute(community.members.select("member_id", "is_staff", "is_bot"))
    for state in (1, 2):
        shuffled = fast_graph(
            edges.sample(frac=1, random_state=state),
            directed=True,
            members=flags.sample(frac=1, random_state=state),
        )
        for name in ("names", "src", "dst", "weight", "is_staff", "is_bot"):
            np.testing.assert_array_equal(getattr(shuffled, name), getattr(fg, name))
        assert (
            fast.fast_leiden(shuffled, seed=1).partition == fast.fast_leiden(fg, seed=1).partition
        )


def test_structure_core_dependency_equal_networkx(graphs):
    g, fg = graphs
    ref, ours = structure(g), fast.fast_structure(fg)
    for name, value in ref._scalars().items():
        mine = float(ours._scalars()[name])
        assert (np.isnan(value) and np.isnan(mine)) or abs(float(value) - mine) <= TOL, name
    assert ours.clustering > 0 and ours.reciprocity > 0
    a, b = innermost_core(g), fast.fast_innermost_core(fg)
    assert (a.k, a.members) == (b.k, b.members)
    a, b = core_members(g), fast.fast_core_members(fg)
    assert (a.members, a.k, a.rule, a.weight_threshold) == (
        b.members,
        b.k,
        b.rule,
        b.weight_threshold,
    )
    pd.testing.assert_frame_equal(a.table, b.table, check_dtype=False)
    assert fast.fast_graph_dependency(fg) == graph_dependency(g)


def test_leiden_equals_leidenalg_and_networkx_modularity(graphs):
    g, fg = graphs
    ref = leiden_communities(fg.to_networkx(), seed=0)
    same = fast.fast_leiden(fg, seed=0, implementation="leidenalg")
    assert same.partition == ref.partition and abs(same.modularity - ref.modularity) <= TOL
    ours = fast.fast_leiden(fg, seed=0)
    und = B.undirected_view(g)
    q = nx.community.modularity(und, [set(x) for x in ours.groups()], weight="weight")
    assert abs(ours.modularity - q) <= TOL
    assert ours.modularity >= ref.modularity - 0.02


def test_brokers_equal_networkx_from_the_same_pivots(graphs):
    g, fg = graphs
    directed = B.without_bots(g)
    und_nx = B.undirected_view(directed)
    und = fg.without_bots().undirected()
    ref = B.betweenness(und_nx, exact_max_nodes=0, k=40, seed=5, engine="networkx")
    ours = fast.fast_betweenness(und, exact_max_nodes=0, k=40, seed=5)
    assert np.abs(ours.values.to_numpy() - ref.values.reindex(und.names).to_numpy()).max() < TOL
    igraph_path = B.betweenness(und_nx, exact_max_nodes=0, k=300, seed=0)
    ours = fast.fast_betweenness(und, exact_max_nodes=0, k=300, seed=0)
    assert np.abs(ours.values.to_numpy() - igraph_path.values.reindex(und.names)).max() < TOL
    ref_c = pd.Series(nx.constraint(directed, weight="weight")).reindex(und.names).to_numpy()
    assert np.nanmax(np.abs(ref_c - fast.fast_constraint(und))) < TOL
    assert np.isnan(ref_c).sum() == np.isnan(fast.fast_constraint(und)).sum()
    ref_b = {tuple(sorted(e)) for e in nx.bridges(und_nx)}
    got = {(und.names[und.src[e]], und.names[und.dst[e]]) for e in fast.fast_bridges(und)}
    assert got == ref_b and len(got) > 0


def test_study_igraph_equals_networkx(community):
    a = network_study(community, seeds=range(2), engine="networkx")
    b = network_study(community, seeds=range(2), engine="igraph")
    assert (a.engine, b.engine) == ("networkx", "igraph")
    assert network_study(community, seeds=range(2)).engine == "networkx"  # auto: small graph
    assert a.structure.to_frame()["metric"].tolist() == b.structure.to_frame()["metric"].tolist()
    np.testing.assert_allclose(
        a.structure.to_frame()["value"], b.structure.to_frame()["value"], atol=TOL
    )
    assert a.core.members == b.core.members
    assert a.dependency == b.dependency
    assert a.roles.to_frame().equals(b.roles.to_frame())
    ov = network_overview(community)
    assert (b.overview.n_nodes, b.overview.n_edges, b.overview.n_replies) == (
        ov.n_nodes,
        ov.n_edges,
        ov.n_replies,
    )
    assert abs(b.overview.reciprocity - ov.reciprocity) < TOL
    # PRPACK solves exactly; networkx stops at an L1 change below N·1e-6, so compare with
    # networkx iterated to 1e-12 (network_overview's own values differ by up to ~1e-4)
    exact = nx.pagerank(reply_graph(community), alpha=0.85, weight="weight", tol=1e-12)
    got = b.overview.top.set_index("member_id")["pagerank"]
    assert np.abs(got - pd.Series(exact).reindex(got.index)).max() < 1e-9
    assert set(b.overview.top["member_id"][:3]) == set(ov.top["member_id"][:3])
    # brokers: same betweenness; communities differ by design (Leiden vs the Louvain placeholder)
    m_a = a.brokers.members.set_index("member_id").sort_index()
    m_b = b.brokers.members.set_index("member_id").sort_index()
    np.testing.assert_allclose(m_a["betweenness"], m_b["betweenness"], atol=TOL)
    np.testing.assert_allclose(m_a["constraint"], m_b["constraint"], atol=TOL)
    assert a.brokers.n_bridges == b.brokers.n_bridges
    assert b.findings()[0].startswith("Without the")
    assert b.plot_core().get_title().startswith("Top ")
    assert len(b.ambassador_candidates().columns) == len(a.ambassador_candidates().columns)


@pytest.mark.spark
def test_fast_graph_identical_on_duckdb_and_spark(engines):
    duck, spark = engines
    a, b = fast.fast_reply_graph(duck), fast.fast_reply_graph(spark)
    for name in ("names", "src", "dst", "weight", "is_staff", "is_bot"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.spark
def test_reply_pairs_identical_on_duckdb_and_spark(engines):
    from analysis.network.fast_replies import contacts_from_pairs, graph_from_pairs, reply_pairs

    duck, spark = engines
    a, b = reply_pairs(duck), reply_pairs(spark)
    order_a = np.lexsort((a.month, a.dst, a.src))
    order_b = np.lexsort((b.month, b.dst, b.src))
    for name in ("src", "dst", "month", "weight", "first_at"):
        np.testing.assert_array_equal(getattr(a, name)[order_a], getattr(b, name)[order_b])
    for name in ("names", "is_staff", "is_bot"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    g, ref = graph_from_pairs(b), fast.fast_reply_graph(duck)
    for name in ("names", "src", "dst", "weight", "is_staff", "is_bot"):
        np.testing.assert_array_equal(getattr(g, name), getattr(ref, name))
    ca, cb = contacts_from_pairs(a), contacts_from_pairs(b)
    assert sorted(map(tuple, ca.edges.tolist())) == sorted(map(tuple, cb.edges.tolist()))
