"""Interaction graphs, structure, cores and communities on hand-made graphs, checked by hand."""

from __future__ import annotations

import json
import math

import matplotlib
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.network import graphs
from analysis.network.communities import (
    adjusted_rand_index,
    community_stability,
    leiden_communities,
    louvain_cross_check,
)
from analysis.network.core import core_members, core_stability, innermost_core, k_core_numbers
from analysis.network.rich_club import rich_club
from analysis.network.structure import garlaschelli_loffredo, structure
from analysis.schema import Tables
from tests.conftest import make_members, make_messages, ts

matplotlib.use("Agg")


def _edges(community, expr) -> list[tuple[str, str, int]]:
    frame = community.execute(expr)
    return sorted(zip(frame["source"], frame["target"], frame["weight"].astype(int), strict=True))


@pytest.fixture
def hand_community() -> Community:
    """a, b, c members, s staff. Threads: T1 = 1 (a) ← 2 (b) ← 3 (c) ← 4 (a) in January, plus a
    service event by s replying into it; T2 = 5 (a) ← 6 (b) in January; T3 = 7 (a) alone; T4 =
    8 (c) ← 9 (s) in February."""
    members = make_members(
        [
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-01", False, False),
            ("c", "2024-01-01", False, False),
            ("s", "2024-01-01", True, False),
        ]
    )
    messages = make_messages(
        [
            ("1", "a", "2024-01-02", None),
            ("2", "b", "2024-01-02 01:00", "1"),
            ("3", "c", "2024-01-02 02:00", "2"),
            ("4", "a", "2024-01-02 03:00", "3"),
            ("x", "s", "2024-01-02 04:00", "1", "service"),
            ("5", "a", "2024-01-05", None),
            ("6", "b", "2024-01-05 01:00", "5"),
            ("7", "a", "2024-01-06", None),
            ("8", "c", "2024-02-10", None),
            ("9", "s", "2024-02-10 01:00", "8"),
        ]
    )
    reactions = pd.DataFrame(
        {
            "message_id": ["1", "1", "1", "1", "2", "8", "9"],
            "member_id": ["b", "b", None, "a", "a", "a", "c"],
            "emoji": ["👍", "❤", "👍", "👍", "👍", "🔥", "👍"],
            "count": [1, 1, 5, 1, 2, 1, 1],
            "reacted_at": pd.Series([pd.NaT] * 7, dtype="datetime64[ns, UTC]"),
        }
    )
    return Community.from_tables(Tables(members=members, messages=messages, reactions=reactions))


def test_reaction_edges_exact(hand_community):
    c = hand_community
    # b put two emoji on a's message 1 (weight 2); the anonymous 5 and a's self-reaction are out
    assert _edges(c, graphs.reaction_edges_expr(c)) == [
        ("a", "b", 2),
        ("a", "c", 1),
        ("b", "a", 2),
        ("c", "s", 1),
    ]
    # bounds apply to the reacted-to message's time: February messages 8 and 9 are out
    assert _edges(c, graphs.reaction_edges_expr(c, end="2024-02-01")) == [
        ("a", "b", 2),
        ("b", "a", 2),
    ]
    graph = graphs.reaction_graph(c)
    assert graph.is_directed() and graph.nodes["s"]["is_staff"] is True


def test_reaction_edges_without_reactions_table():
    members = make_members([("a", "2024-01-01", False, False)])
    messages = make_messages([("1", "a", "2024-01-02", None)])
    c = Community.from_tables(Tables(members=members, messages=messages))
    assert _edges(c, graphs.reaction_edges_expr(c)) == []


def test_coparticipation_edges_exact_and_cap(hand_community):
    c = hand_community
    # T1 {a, b, c} gives ab, ac, bc; T2 {a, b} gives ab; T3 {a} nothing; T4 {c, s} gives cs;
    # the service event of s in T1 is not participation
    assert _edges(c, graphs.coparticipation_edges_expr(c)) == [
        ("a", "b", 2),
        ("a", "c", 1),
        ("b", "c", 1),
        ("c", "s", 1),
    ]
    # the cap: threads with more than 2 participants (T1) are skipped entirely
    assert _edges(c, graphs.coparticipation_edges_expr(c, max_participants=2)) == [
        ("a", "b", 1),
        ("c", "s", 1),
    ]
    assert _edges(c, graphs.coparticipation_edges_expr(c, start="2024-01-03")) == [
        ("a", "b", 1),
        ("c", "s", 1),
    ]
    sizes = c.execute(graphs.thread_sizes_expr(c)).set_index("thread_id")["participants"]
    assert sizes.to_dict() == {"1": 3, "5": 2, "7": 1, "8": 2}
    assert not graphs.coparticipation_graph(c).is_directed()


def test_monthly_snapshots(hand_community):
    snaps = graphs.monthly_snapshots(hand_community, kind="reply")
    assert list(snaps) == [ts("2024-01-01"), ts("2024-02-01")]
    assert sorted(snaps[ts("2024-01-01")].edges(data="weight")) == [
        ("a", "c", 1),
        ("b", "a", 2),
        ("c", "b", 1),
    ]
    assert sorted(snaps[ts("2024-02-01")].edges(data="weight")) == [("s", "c", 1)]
    assert snaps[ts("2024-02-01")].nodes["s"]["is_staff"] is True
    co = graphs.monthly_snapshots(hand_community, kind="coparticipation")
    assert sorted(co[ts("2024-01-01")].edges(data="weight")) == [
        ("a", "b", 2),
        ("a", "c", 1),
        ("b", "c", 1),
    ]
    with pytest.raises(ValueError, match="unknown graph kind"):
        graphs.monthly_snapshots(hand_community, kind="hashtag")


def test_build_graph_sums_reverse_rows_when_undirected_and_flags():
    edges = pd.DataFrame(
        {"source": ["a", "b", "a"], "target": ["b", "a", "c"], "weight": [2, 3, 1]}
    )
    flags = pd.DataFrame(
        {"member_id": ["a", "c"], "is_staff": [True, False], "is_bot": [False, True]}
    )
    und = graphs.build_graph(edges, directed=False, members=flags)
    assert sorted(und.edges(data="weight")) == [("a", "b", 5), ("a", "c", 1)]
    assert und.nodes["a"]["is_staff"] and und.nodes["c"]["is_bot"]
    assert und.nodes["b"]["is_staff"] is False  # unknown members get False
    directed = graphs.build_graph(edges, directed=True)
    assert sorted(directed.edges(data="weight")) == [("a", "b", 2), ("a", "c", 1), ("b", "a", 3)]


def test_to_igraph_keeps_names_weights_and_direction():
    g = nx.DiGraph()
    g.add_weighted_edges_from([("x", "y", 3), ("y", "z", 1), ("z", "x", 7)])
    ig_graph = graphs.to_igraph(g)
    assert ig_graph.is_directed() and ig_graph.vs["name"] == ["x", "y", "z"]
    got = sorted(
        (ig_graph.vs[e.source]["name"], ig_graph.vs[e.target]["name"], e["weight"])
        for e in ig_graph.es
    )
    assert got == [("x", "y", 3), ("y", "z", 1), ("z", "x", 7)]


def test_garlaschelli_loffredo_by_hand():
    # a↔b reciprocated, a→c and c→d not: r = 2/4, ā = 4/(4·3) = 1/3,
    # ρ = (1/2 − 1/3) / (1 − 1/3) = 1/4
    g = nx.DiGraph([("a", "b"), ("b", "a"), ("a", "c"), ("c", "d")])
    r, a, rho = garlaschelli_loffredo(g)
    assert r == pytest.approx(0.5, abs=1e-15)
    assert a == pytest.approx(1 / 3, abs=1e-15)
    assert rho == pytest.approx(0.25, abs=1e-15)
    result = structure(g)
    assert result.reciprocity == pytest.approx(0.5, abs=1e-15)
    assert result.rho == pytest.approx(0.25, abs=1e-15)
    # a complete digraph leaves nothing to compare with (ā = 1): ρ is undefined, not 1
    assert math.isnan(garlaschelli_loffredo(nx.DiGraph([("a", "b"), ("b", "a")]))[2])
    # a fully reciprocal but sparse graph has ρ = 1
    full = nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")])
    assert garlaschelli_loffredo(full)[2] == pytest.approx(1.0, abs=1e-15)


def test_structure_hand_checked_and_distributions():
    # triangle a-b-c with a pendant d on a; weights a-b 4 (2 + 2 both ways), others 1
    g = nx.DiGraph()
    g.add_weighted_edges_from(
        [("a", "b", 2), ("b", "a", 2), ("b", "c", 1), ("c", "a", 1), ("d", "a", 1)]
    )
    s = structure(g)
    assert (s.n_nodes, s.n_edges, s.total_weight) == (4, 5, 7.0)
    assert s.density == pytest.approx(5 / 12, abs=1e-15)
    # clustering: a has 3 neighbours and 1 link among them (1/3), b and c 1, d 0
    assert s.clustering == pytest.approx((1 / 3 + 1 + 1 + 0) / 4, abs=1e-15)
    und = graphs.undirected_view(g)
    assert s.clustering_weighted == pytest.approx(
        nx.average_clustering(und, weight="weight"), abs=1e-15
    )
    assert s.assortativity == pytest.approx(
        nx.degree_assortativity_coefficient(nx.Graph(und.edges())), abs=1e-12
    )
    assert s.giant_share == 1.0 and s.n_components == 1
    nodes = s.nodes.set_index("member_id")
    assert nodes["degree"].to_dict() == {"a": 3, "b": 2, "c": 2, "d": 1}
    assert nodes["strength"].to_dict() == {"a": 6, "b": 5, "c": 2, "d": 1}
    assert nodes["in_degree"].to_dict() == {"a": 3, "b": 1, "c": 1, "d": 0}
    # CCDF of degree: P(≥1) = 1, P(≥2) = 3/4, P(≥3) = 1/4
    ccdf = s.degree_distribution("degree")
    assert ccdf["value"].tolist() == [1, 2, 3]
    assert ccdf["ccdf"].tolist() == pytest.approx([1.0, 0.75, 0.25], abs=1e-15)
    # in-degree 0 (d) is left out of the log-log CCDF
    assert s.degree_distribution("in_degree")["ccdf"].tolist() == pytest.approx([1.0, 1 / 3])
    strength = s.degree_distribution("strength")
    assert strength["value"].tolist() == [1, 2, 5, 6]
    assert strength["ccdf"].tolist() == pytest.approx([1.0, 0.75, 0.5, 0.25], abs=1e-15)
    axes = s.plot_distributions()
    assert len(axes) == 2 and axes[0].get_xscale() == "log"
    json.dumps(s.to_dict())
    assert "returned" in s.summary()


def test_structure_of_an_undirected_and_an_empty_graph():
    s = structure(nx.Graph([("a", "b"), ("c", "d")]))
    assert math.isnan(s.reciprocity) and s.giant_share == 0.5 and s.n_components == 2
    json.dumps(s.to_dict())
    empty = structure(nx.DiGraph())
    assert empty.n_nodes == 0 and "no edges" in empty.summary()


def test_k_cores_and_innermost_core():
    # a 4-clique a-b-c-d (3-core), e attached to a and b (2), f pendant on e (1)
    g = nx.complete_graph(["a", "b", "c", "d"])
    g.add_edges_from([("e", "a"), ("e", "b"), ("f", "e")])
    assert k_core_numbers(g) == {"a": 3, "b": 3, "c": 3, "d": 3, "e": 2, "f": 1}
    inner = innermost_core(g.to_directed())
    assert inner.k == 3 and inner.members == ("a", "b", "c", "d")
    json.dumps(inner.to_dict())


def _weighted_clique(nodes, w):
    return [(u, v, w) for i, u in enumerate(nodes) for v in nodes[i + 1 :]]


def test_core_members_rule():
    inner = [f"c{i}" for i in range(6)]
    g = nx.Graph()
    g.add_weighted_edges_from(_weighted_clique(inner, 10))
    # a 14-clique of weight-1 ties around it, including the inner six: the unweighted innermost
    # core has all 14 members, the backbone of ties of weight ≥ 10 only the six
    outer = inner + [f"o{i}" for i in range(8)]
    g.add_weighted_edges_from(
        (u, v, 1) for u, v, _ in _weighted_clique(outer, 1) if not g.has_edge(u, v)
    )
    g.add_edge("boss", "c0", weight=50)
    g.add_edge("boss", "c1", weight=50)
    nx.set_node_attributes(g, {n: n == "boss" for n in g}, "is_staff")
    result = core_members(g, size=(5, 10))
    assert result.members == tuple(inner) and result.rule == "innermost"
    assert result.weight_threshold == 10 and result.k == 5
    # a core of exactly the maximum size is taken as is
    exact = core_members(g, size=(5, 6))
    assert exact.members == tuple(inner) and exact.rule == "innermost"
    # with staff included the boss still is not in the weight ≥ 10 core (only 2 strong ties)
    assert "boss" not in core_members(g, include_staff=True).members
    # size (8, 10): the 6 are grown by the outer members tied most to them (all equal: by id)
    grown = core_members(g, size=(8, 10))
    assert grown.rule == "expanded" and len(grown.members) == 8
    assert set(inner) < set(grown.members)
    # size (2, 3): no backbone has an innermost core of ≤ 3, so the strongest are kept
    trimmed = core_members(g, size=(2, 3))
    assert trimmed.rule == "trimmed" and len(trimmed.members) == 3
    json.dumps(result.to_dict())
    with pytest.raises(ValueError, match="size"):
        core_members(g, size=(5, 3))


def test_core_stability_jaccard_by_hand():
    def clique(nodes):
        g = nx.Graph()
        g.add_weighted_edges_from(_weighted_clique(nodes, 3))
        return g

    snaps = {
        "2024-01": clique(["a", "b", "c", "d", "e"]),
        "2024-02": clique(["a", "b", "c", "d", "f"]),  # e left, f entered: J = 4/6
        "2024-03": clique(["a", "b", "c", "d", "f"]),
    }
    result = core_stability(snaps, size=(3, 10))
    table = result.to_frame()
    assert table["jaccard"].tolist()[1:] == pytest.approx([4 / 6, 1.0], abs=1e-15)
    assert table["entered"].tolist() == [5, 1, 0] and table["left"].tolist() == [0, 1, 0]
    assert table["turnover"].tolist()[1:] == pytest.approx([0.2, 0.0], abs=1e-15)
    assert result.always_core == ("a", "b", "c", "d")
    assert result.mean_jaccard == pytest.approx((4 / 6 + 1) / 2)
    json.dumps(result.to_dict())


def test_rich_club_phi_equals_networkx_and_rewiring_preserves_degrees():
    g = nx.barabasi_albert_graph(200, 3, seed=1)
    result = rich_club(g, n_rewirings=3, swaps_per_edge=5, seed=4)
    oracle = nx.rich_club_coefficient(g, normalized=False)
    table = result.to_frame().set_index("k")
    for k, phi in oracle.items():
        assert table.loc[k, "phi"] == pytest.approx(phi, abs=1e-15)
    assert table["phi"].dropna().index.max() == max(oracle)
    assert result.n_swaps == 5 * g.number_of_edges()
    again = rich_club(g, n_rewirings=3, swaps_per_edge=5, seed=4)
    pd.testing.assert_frame_equal(result.to_frame(), again.to_frame())  # bit-for-bit with seed
    json.dumps(result.to_dict())

    from analysis.network.rich_club import _rewire

    edges = np.array(list(g.edges()))
    rewired = _rewire(edges, 2000, np.random.default_rng(0))
    assert np.array_equal(np.bincount(rewired.ravel()), np.bincount(edges.ravel()))
    assert len({tuple(sorted(e)) for e in rewired.tolist()}) == len(edges)  # still simple
    assert (rewired[:, 0] != rewired[:, 1]).all()
    assert {tuple(sorted(e)) for e in rewired.tolist()} != {
        tuple(sorted(e)) for e in edges.tolist()
    }


def test_adjusted_rand_index_hand_computed():
    # contingency [[2, 0, 0], [0, 1, 1]]: Σ C(n_ij, 2) = 1, rows 2 + ... → Σ C(a_i, 2) = 2,
    # Σ C(b_j, 2) = 1, C(4, 2) = 6, E = 2·1/6 = 1/3, max = 3/2: ARI = (2/3)/(7/6) = 4/7
    # (also scikit-learn's documented example, adjusted_rand_score([0,0,1,1],[0,0,1,2]) ≈ 0.57)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7, abs=1e-15)
    # contingency [[2, 1, 0], [0, 1, 2]]: Σ C(n_ij,2) = 2, Σ C(a_i,2) = 6, Σ C(b_j,2) = 3,
    # C(6,2) = 15, E = 18/15 = 1.2, max = 4.5: ARI = 0.8 / 3.3 = 8/33
    assert adjusted_rand_index([0, 0, 0, 1, 1, 1], list("aabbcc")) == pytest.approx(
        8 / 33, abs=1e-15
    )
    assert adjusted_rand_index([1, 1, 2, 2], ["x", "x", "y", "y"]) == 1.0  # relabelled
    assert adjusted_rand_index([0, 0, 0], [0, 0, 0]) == 1.0
    # two ways to split 4 items into pairs that cross: below chance
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5, abs=1e-15)
    with pytest.raises(ValueError, match="lengths"):
        adjusted_rand_index([0, 1], [0])


def test_leiden_on_two_cliques_and_stability():
    g = nx.Graph()
    g.add_weighted_edges_from(_weighted_clique(list("abcde"), 1))
    g.add_weighted_edges_from(_weighted_clique(list("vwxyz"), 1))
    g.add_edge("a", "v", weight=1)
    result = leiden_communities(g, seed=0)
    assert sorted(map(tuple, result.groups())) == [tuple("abcde"), tuple("vwxyz")]
    # Q = Σ_c [L_c/m − (d_c/2m)²], m = 21, L_c = 10, d_c = 21: Q = 20/21 − 1/2
    assert result.modularity == pytest.approx(20 / 21 - 0.5, abs=1e-12)
    stab = community_stability(g, seeds=range(3))
    assert stab.ari_mean == 1.0 and stab.ari_min == 1.0
    check = louvain_cross_check(g, seed=0)
    assert check.ari == 1.0 and check.louvain_modularity == pytest.approx(result.modularity)
    for r in (result, stab, check):
        json.dumps(r.to_dict())
        assert r.summary()


def test_graph_construction_does_not_depend_on_row_order():
    """Seeded community detection is reproducible only if node order is: shuffled engine rows
    must give the same graph, node for node, and the same Leiden partition."""
    import numpy as np
    import pandas as pd

    from analysis.network.communities import leiden_communities
    from analysis.network.graphs import build_graph

    rng = np.random.default_rng(5)
    edges = pd.DataFrame(
        {"source": rng.integers(0, 60, 400), "target": rng.integers(0, 60, 400), "weight": 1}
    )
    edges = edges[edges["source"] != edges["target"]].astype({"source": str, "target": str})
    edges = edges.groupby(["source", "target"], as_index=False)["weight"].sum()
    shuffled = edges.sample(frac=1.0, random_state=3)
    a, b = build_graph(edges, directed=True), build_graph(shuffled, directed=True)
    assert list(a.nodes) == list(b.nodes) and list(a.edges) == list(b.edges)
    assert leiden_communities(a, seed=0).partition == leiden_communities(b, seed=0).partition
