"""The igraph/numpy path (analysis.network.fast*) equals the networkx path on the same graphs.

networkx is the oracle. Graphs: Zachary's karate club (undirected, weighted by networkx's
``weight``), and a seeded random directed weighted graph of ~2,000 members with Zipf-like
activity, staff and bot flags. Exact metrics must agree within 1e-9; betweenness is compared
from the same pivots; Leiden with the same seed on the same (sorted) vertex order.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.network import brokers as B
from analysis.network import fast
from analysis.network.communities import leiden_communities
from analysis.network.core import core_members, innermost_core, k_core_numbers
from analysis.network.dependency import graph_dependency
from analysis.network.fast_graph import EdgeListError, fast_graph, from_networkx
from analysis.network.reply import network_overview
from analysis.network.structure import structure

TOL = 1e-9


def karate() -> nx.Graph:
    g = nx.karate_club_graph()
    g = nx.relabel_nodes(g, {v: f"m{v:02d}" for v in g})
    for v in g:
        g.nodes[v]["is_staff"] = v in ("m00", "m33")
        g.nodes[v]["is_bot"] = False
    return g


def random_directed(n: int = 2000, m: int = 12000, seed: int = 3) -> nx.DiGraph:
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, n + 1) ** 0.7
    p /= p.sum()
    g = nx.DiGraph()
    for a, b in zip(rng.choice(n, m, p=p), rng.choice(n, m, p=p), strict=True):
        if a == b:
            continue
        u, v = f"u{a:05d}", f"u{b:05d}"
        if g.has_edge(u, v):
            g[u][v]["weight"] += 1
        else:
            g.add_edge(u, v, weight=int(rng.integers(1, 4)))
    for v in g:
        g.nodes[v]["is_staff"] = bool(rng.random() < 0.02)
        g.nodes[v]["is_bot"] = bool(rng.random() < 0.005)
    return g


@pytest.fixture(scope="module", params=["karate", "random"])
def pair(request):
    g = karate() if request.param == "karate" else random_directed()
    return g, from_networkx(g)


def close(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= TOL


def test_structure_equals_networkx(pair):
    g, fg = pair
    ref, ours = structure(g), fast.fast_structure(fg)
    for name, value in ref._scalars().items():
        assert close(float(value), float(ours._scalars()[name])), name
    a = ref.nodes.set_index("member_id").sort_index()
    b = ours.nodes.set_index("member_id").sort_index()
    assert list(a.columns) == list(b.columns)
    np.testing.assert_allclose(
        a.drop(columns="is_staff").to_numpy(float), b.drop(columns="is_staff").to_numpy(float)
    )
    assert (a["is_staff"] == b["is_staff"]).all()


def test_triangles_count_like_igraph(pair):
    _, fg = pair
    und = fg.undirected()
    nodes, edges = fast.triangles(und)
    assert len(nodes) == len(und.igraph.list_triangles()) > 0
    # every listed triangle is one: its three edges join its three vertices
    ends = {(int(a), int(b)) for a, b in zip(und.src, und.dst, strict=True)}
    for (u, v, w), (e1, e2, e3) in zip(nodes[:50], edges[:50], strict=True):
        assert {u, v} == {und.src[e1], und.dst[e1]} and {u, w} == {und.src[e2], und.dst[e2]}
        assert {v, w} == {und.src[e3], und.dst[e3]} and (min(v, w), max(v, w)) in ends


def test_triangles_in_chunks_equal_one_pass(pair, monkeypatch):
    _, fg = pair
    und = fg.undirected()
    whole = {tuple(sorted(t)) for t in fast.triangles(und)[0].tolist()}
    monkeypatch.setattr("analysis.network.fast_metrics.TRIANGLE_CHUNK", 97)
    chunked = fast.triangles(und)[0].tolist()
    assert len(chunked) == len(whole) and {tuple(sorted(t)) for t in chunked} == whole


def test_cores_equal_networkx(pair):
    g, fg = pair
    ref = k_core_numbers(g)
    ours = dict(zip(fg.names, fast.fast_k_core_numbers(fg).tolist(), strict=True))
    assert ours == ref
    a, b = innermost_core(g), fast.fast_innermost_core(fg)
    assert (a.k, a.members, a.n_nodes) == (b.k, b.members, b.n_nodes)
    for size in [(5, 10), (1, 3), (12, 20)]:
        a, b = core_members(g, size=size), fast.fast_core_members(fg, size=size)
        assert (a.members, a.k, a.rule, a.weight_threshold) == (
            b.members,
            b.k,
            b.rule,
            b.weight_threshold,
        )
        pd.testing.assert_frame_equal(a.table, b.table, check_dtype=False)


def test_leiden_same_partition_and_modularity(pair):
    g, fg = pair
    sorted_nx = fg.to_networkx()  # same graph, vertices in the sorted order the fast path uses
    und = B.undirected_view(g) if g.is_directed() else g
    # leidenalg iterated to convergence takes ~10 s on the 2k graph: one seed there
    for seed in (0, 3) if g.number_of_nodes() < 100 else (0,):
        ref = leiden_communities(sorted_nx, seed=seed)
        # the leidenalg implementation: the very partition of the networkx path
        same = fast.fast_leiden(fg, seed=seed, implementation="leidenalg")
        assert same.partition == ref.partition
        assert same.sizes == ref.sizes
        assert abs(same.modularity - ref.modularity) <= TOL
        # igraph's C Leiden (the default): its own partition, modularity equal to networkx's
        ours = fast.fast_leiden(fg, seed=seed)
        assert set(ours.partition) == set(ref.partition)
        groups = [set(grp) for grp in ours.groups()]
        ref_q = nx.community.modularity(und, groups, weight="weight")
        assert abs(ours.modularity - ref_q) <= TOL
        assert ours.modularity >= ref.modularity - 0.02
        assert fast.fast_leiden(fg, seed=seed).partition == ours.partition  # seeded
    if g.number_of_nodes() < 100:
        # another resolution: the resolution-scaled model, the partition of the networkx path
        ref = leiden_communities(sorted_nx, seed=0, resolution=0.5)
        same = fast.fast_leiden(fg, seed=0, resolution=0.5, implementation="leidenalg")
        assert same.partition == ref.partition
        assert same.partition != fast.fast_leiden(fg, seed=0, implementation="leidenalg").partition
    # modularity at another resolution, of any partition, equals networkx's
    labels = np.arange(fg.n_nodes) % 3
    groups = [set(fg.names[labels == c]) for c in range(3)]
    und = B.undirected_view(g) if g.is_directed() else g
    ref_q = nx.community.modularity(und, groups, weight="weight", resolution=0.7)
    assert abs(fast.fast_modularity(fg.undirected(), labels, 0.7) - ref_q) <= TOL


def test_broker_metrics_equal_networkx(pair):
    g, fg = pair
    directed = B.without_bots(g)
    und_nx = B.undirected_view(directed)
    und = fg.without_bots().undirected()
    assert list(und.names) == list(und_nx.nodes)
    # exact on the karate club; 25 pivots on the random graph (networkx exact would take minutes)
    for exact_max, k in [(100, 10), (0, 25)]:
        ref = B.betweenness(und_nx, exact_max_nodes=exact_max, k=k, seed=2, engine="networkx")
        ours = fast.fast_betweenness(und, exact_max_nodes=exact_max, k=k, seed=2)
        assert ours.exact == ref.exact and ours.k == ref.k and ours.seed == ref.seed
        assert ours.method.startswith(ref.method)  # + the measured standard error
        assert np.abs(ours.values.to_numpy() - ref.values.reindex(und.names).to_numpy()).max() < TOL
    one = fast.fast_betweenness(und, exact_max_nodes=0, k=25, seed=2).values.to_numpy()
    two = fast.fast_betweenness(und, exact_max_nodes=0, k=25, seed=2, processes=2)
    assert np.abs(two.values.to_numpy() - one).max() < 1e-12
    ref_c = pd.Series(nx.constraint(directed, weight="weight")).reindex(und.names).to_numpy()
    ours_c = fast.fast_constraint(und)
    np.testing.assert_array_equal(np.isnan(ref_c), np.isnan(ours_c))
    assert np.nanmax(np.abs(ref_c - ours_c)) < TOL
    partition = fast.fast_leiden(und, seed=0).partition
    labels = np.asarray([partition[v] for v in und.names], dtype=np.int64)
    member = dict(zip(und.names, labels.tolist(), strict=True))
    ref_p = B.participation_coefficients(und_nx, member).reindex(und.names).to_numpy()
    assert np.nanmax(np.abs(ref_p - fast.fast_participation(und, labels))) < TOL
    ref_b = {tuple(sorted(e)) for e in nx.bridges(und_nx)}
    ours_b = {(und.names[und.src[e]], und.names[und.dst[e]]) for e in fast.fast_bridges(und)}
    assert ours_b == ref_b
    ref_cb = B.cluster_bridges(und_nx, member)
    ours_cb = fast.fast_cluster_bridges(und, labels)
    pd.testing.assert_frame_equal(ref_cb, ours_cb, check_dtype=False)


def test_broker_ranking_equals_networkx_given_the_same_communities(pair):
    g, fg = pair
    parts = fast.fast_leiden(fg.without_bots().undirected(), seed=0)
    ours = fast.fast_broker_ranking(fg, top_n=5, communities=parts, exact_max_nodes=0, k=20)
    # the networkx ranking with its community placeholder swapped for the same partition
    groups = [set(grp) for grp in parts.groups()]
    original = B._communities
    try:
        B._communities = lambda graph, seed=0: groups  # type: ignore[assignment]
        ref = B.broker_ranking(g, top_n=5, engine="networkx", exact_max_nodes=0, k=20)
    finally:
        B._communities = original
    for name in ("n_nodes", "n_edges", "n_communities", "n_bridges", "n_nontrivial_bridges"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert abs(ours.modularity - ref.modularity) < TOL
    assert abs(ours.cross_cluster_weight_share - ref.cross_cluster_weight_share) < TOL
    cols = ["member_id", "rank", "community", "degree", "clusters_reached", "is_staff"]
    pd.testing.assert_frame_equal(ours.members[cols], ref.members[cols], check_dtype=False)
    num = ["betweenness", "constraint", "participation"]
    np.testing.assert_allclose(
        ours.members[num].to_numpy(float), ref.members[num].to_numpy(float), atol=TOL
    )
    assert list(ours.members["reasons"]) == list(ref.members["reasons"])


def test_dependency_and_overview_equal_networkx():
    g = random_directed()
    fg = from_networkx(g)
    assert fast.fast_graph_dependency(fg) == graph_dependency(g)
    ours = fast.fast_overview(fg, top_n=10)
    assert ours.n_nodes == g.number_of_nodes() and ours.n_edges == g.number_of_edges()
    assert abs(ours.reciprocity - nx.overall_reciprocity(g)) < TOL
    assert abs(ours.density - nx.density(g)) < TOL
    rank = nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-12)
    got = ours.top.set_index("member_id")["pagerank"]
    assert np.abs(got - pd.Series(rank).reindex(got.index)).max() < 1e-9
    staff = sum(
        w for u, v, w in g.edges(data="weight") if g.nodes[u]["is_staff"] or g.nodes[v]["is_staff"]
    )
    assert abs(ours.staff_edge_share - staff / g.size(weight="weight")) < TOL


def test_construction_ignores_row_order_and_sums_duplicates():
    rng = np.random.default_rng(0)
    edges = pd.DataFrame(
        {
            "source": rng.choice(list("abcdefgh"), 60),
            "target": rng.choice(list("abcdefgh"), 60),
            "weight": rng.integers(1, 5, 60),
        }
    )
    flags = pd.DataFrame({"member_id": ["c", "h"], "is_staff": [True, False], "is_bot": [0, 1]})
    for directed in (True, False):
        one = fast_graph(edges, directed=directed, members=flags)
        two = fast_graph(edges.sample(frac=1, random_state=5), directed=directed, members=flags)
        for name in ("names", "src", "dst", "weight", "is_staff", "is_bot"):
            np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
        assert list(one.names) == sorted(one.names)
        total = edges.groupby(["source", "target"])["weight"].sum()
        assert one.weight.sum() == edges["weight"].sum() and one.n_edges <= len(total)
        assert one.is_staff.tolist() == [n == "c" for n in one.names]
        assert one.is_bot.tolist() == [n == "h" for n in one.names]
    directed = fast_graph(edges, directed=True)
    assert directed.n_edges == len(total)
    ref = nx.DiGraph()
    for (u, v), w in total.items():
        ref.add_edge(u, v, weight=w)
    assert {(a, b): w for a, b, w in directed.edge_frame().itertuples(index=False)} == {
        (u, v): w for u, v, w in ref.edges(data="weight")
    }


def test_bad_edge_lists_name_row_field_and_value():
    good = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "weight": [1, 2]})
    with pytest.raises(EdgeListError, match=r"lacks column\(s\) \['weight'\]"):
        fast_graph(good.drop(columns="weight"), directed=True, origin="x.parquet")
    bad = good.assign(target=["b", None])
    with pytest.raises(EdgeListError, match=r"x.parquet: row 1: field 'target' is null"):
        fast_graph(bad, directed=True, origin="x.parquet")
    with pytest.raises(EdgeListError, match=r"row 0: field 'weight' is -3"):
        fast_graph(good.assign(weight=[-3, 1]), directed=True)


def test_empty_and_tiny_graphs():
    empty = fast_graph(pd.DataFrame({"source": [], "target": [], "weight": []}), directed=True)
    assert fast.fast_structure(empty).n_nodes == 0
    assert fast.fast_innermost_core(empty).members == ()
    assert fast.fast_core_members(empty).members == ()
    assert fast.fast_broker_ranking(empty).n_edges == 0
    assert fast.fast_overview(empty).n_nodes == 0
    assert fast.fast_leiden(empty).sizes == ()
    two = fast_graph(pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [2]}), directed=True)
    g = nx.DiGraph()
    g.add_edge("a", "b", weight=2)
    for name, value in structure(g)._scalars().items():
        assert close(float(value), float(fast.fast_structure(two)._scalars()[name])), name


def test_choose_engine():
    assert fast.choose_engine("auto", 100, 200) == "networkx"
    assert fast.choose_engine("auto", fast.AUTO_MAX_NODES + 1, 10) == "igraph"
    assert fast.choose_engine("auto", 10, fast.AUTO_MAX_EDGES + 1) == "igraph"
    assert fast.choose_engine("networkx", 10**7, 10**8) == "networkx"
    with pytest.raises(ValueError, match="engine must be"):
        fast.choose_engine("spark", 1, 1)  # type: ignore[arg-type]


def test_overview_matches_network_overview_on_tiny(tiny_tables, tmp_path):
    from analysis.data import Community, write_dataset

    write_dataset(tiny_tables, tmp_path / "d", sources=[])
    community = Community.load(tmp_path / "d")
    ref = network_overview(community, top_n=5)
    ours = fast.fast_overview(fast.fast_reply_graph(community), top_n=5)
    for name in ("n_nodes", "n_edges", "n_replies"):
        assert getattr(ours, name) == getattr(ref, name)
    for name in ("density", "reciprocity", "giant_share", "staff_edge_share"):
        assert abs(getattr(ours, name) - getattr(ref, name)) < TOL, name
    assert list(ours.top["member_id"]) == list(ref.top["member_id"])
    np.testing.assert_allclose(ours.top["pagerank"], ref.top["pagerank"], atol=1e-5)


def test_components_partition_equals_networkx(pair):
    g, fg = pair
    labels = fast.components(fg)
    ours = {frozenset(fg.names[labels == c].tolist()) for c in np.unique(labels)}
    if g.is_directed():
        ref = {frozenset(c) for c in nx.weakly_connected_components(g)}
    else:
        ref = {frozenset(c) for c in nx.connected_components(g)}
    assert ours == ref
    assert fast.components(fg) is labels  # computed once per graph
    # a graph split in pieces (staff removed) as well
    sub = fg.subgraph(~fg.is_staff)
    sub_labels = fast.components(sub)
    ours = {frozenset(sub.names[sub_labels == c].tolist()) for c in np.unique(sub_labels)}
    h = g.subgraph([v for v in g if not g.nodes[v]["is_staff"]])
    cc = nx.weakly_connected_components(h) if h.is_directed() else nx.connected_components(h)
    assert ours == {frozenset(c) for c in cc}
    assert len(ours) > 1
