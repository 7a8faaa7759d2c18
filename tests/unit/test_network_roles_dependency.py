"""Brokers, roles, staff dependency, newcomer integration and evolution on hand-made graphs."""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.network.brokers import (
    betweenness,
    broker_ranking,
    burt_constraint,
    cluster_bridges,
    participation_coefficients,
    undirected_view,
)
from analysis.network.dependency import graph_dependency, staff_dependency
from analysis.network.evolution import network_evolution
from analysis.network.integration import innermost_core, newcomer_integration
from analysis.network.reply import reply_graph
from analysis.network.roles import expertise_z, member_roles
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def _digraph(edges, staff=(), bots=()):
    g = nx.DiGraph()
    g.add_weighted_edges_from(edges)
    for v in g:
        g.nodes[v]["is_staff"] = v in staff
        g.nodes[v]["is_bot"] = v in bots
    return g


# ---- brokers ---------------------------------------------------------------------------------
def test_participation_coefficient_by_hand():
    g = nx.Graph([("x", "a"), ("x", "b"), ("x", "c"), ("x", "d"), ("a", "b")])
    parts = [{"x", "a", "b"}, {"c"}, {"d"}]
    p = participation_coefficients(g, parts)
    # x: 2 of 4 partners in its own module, 1 in each other: 1 - (1/4 + 1/16 + 1/16)
    assert p["x"] == pytest.approx(0.625, abs=1e-15)
    # a: partners x and b, both in module 0
    assert p["a"] == 0.0
    assert p["c"] == 0.0
    g.add_node("lonely")
    assert math.isnan(participation_coefficients(g, parts + [{"lonely"}])["lonely"])


def test_betweenness_igraph_equals_networkx_on_a_path():
    g = nx.path_graph(["a", "b", "c", "d"])
    est = betweenness(g)
    # b lies on a–c and a–d of the 3 pairs not involving it: 2/3
    assert est.exact and est.values["b"] == pytest.approx(2 / 3, abs=1e-12)
    assert est.values["a"] == 0.0
    nxb = nx.betweenness_centrality(g)
    assert max(abs(est.values[v] - nxb[v]) for v in g) < 1e-12


def test_sampled_betweenness_equals_networkx_with_same_pivots():
    g = undirected_view(nx.gnm_random_graph(200, 600, seed=5, directed=True))
    est = betweenness(g, exact_max_nodes=10, k=40, seed=3)
    ref = nx.betweenness_centrality(g, k=40, seed=3)
    assert not est.exact and est.k == 40
    assert max(abs(est.values[v] - ref[v]) for v in g) < 1e-9


def test_constraint_igraph_equals_networkx():
    rng = np.random.default_rng(1)
    g = nx.gnm_random_graph(60, 200, seed=2, directed=True)
    nx.set_edge_attributes(g, {e: int(rng.integers(1, 6)) for e in g.edges}, "weight")
    ours = burt_constraint(g)
    ref = nx.constraint(g, weight="weight")
    assert max(abs(ours[v] - ref[v]) for v in g if not math.isnan(ref[v])) < 1e-9


def test_barbell_broker_is_the_middle_member_with_reasons():
    base = nx.barbell_graph(5, 1)
    edges = [(f"m{u}", f"m{v}", 1) for u, v in base.edges]
    g = _digraph(edges + [("bot", "m0", 3)], bots={"bot"})
    result = broker_ranking(g, top_n=3)
    top = result.top()
    assert top.loc[0, "member_id"] == "m5"  # the single node between the two cliques
    # m5 lies on all 25 paths between the cliques of 5: 25 / C(10, 2)
    assert top.loc[0, "betweenness"] == pytest.approx(25 / 45, abs=1e-12)
    assert "bot" not in set(result.members["member_id"])
    assert result.n_nontrivial_bridges == 2
    assert any("only connection" in r for r in top.loc[0, "reasons"])
    assert result.n_communities == 2
    bridges = result.bridges
    assert len(bridges) == 1 and bool(bridges.loc[0, "is_bridge"])
    json.dumps(result.to_dict())
    assert "m5" in result.summary()


def test_cluster_bridges_ranked_by_weight():
    g = nx.Graph()
    g.add_weighted_edges_from([("a", "b", 5), ("b", "c", 1), ("a", "c", 7), ("c", "d", 2)])
    frame = cluster_bridges(g, {"a": 0, "b": 0, "c": 1, "d": 1})
    assert frame[["member_a", "member_b", "weight"]].values.tolist() == [
        ["a", "c", 7],
        ["b", "c", 1],
    ]


# ---- roles -----------------------------------------------------------------------------------
def test_expertise_z_by_hand():
    assert expertise_z(4, 1) == pytest.approx(3 / math.sqrt(5))
    assert expertise_z(0, 2) == pytest.approx(-math.sqrt(2))
    assert math.isnan(expertise_z(0, 0))


@pytest.fixture
def qa_community():
    members = make_members(
        [(m, "2024-01-01", False, False) for m in ("h", "k1", "k2", "k3", "k4", "d1", "d2")]
    )
    rows = [
        ("t1", "k1", "2024-01-02 10:00", None),
        ("t2", "k2", "2024-01-02 11:00", None),
        ("t3", "k3", "2024-01-02 12:00", None),
        ("t4", "k4", "2024-01-02 13:00", None),
        ("h1", "h", "2024-01-02 14:00", "t1"),
        ("h2", "h", "2024-01-02 14:05", "t2"),
        ("h3", "h", "2024-01-02 14:10", "t3"),
        ("h4", "h", "2024-01-02 14:15", "t4"),
        ("k1b", "k1", "2024-01-02 15:00", "h1"),
        ("h5", "h", "2024-01-02 15:30", "k1b"),
        ("u1", "d1", "2024-01-03 10:00", None),
        ("d2a", "d2", "2024-01-03 10:10", "u1"),
        ("d1a", "d1", "2024-01-03 10:20", "d2a"),
        ("d2b", "d2", "2024-01-03 10:30", "d1a"),
        ("u2", "d2", "2024-01-04 10:00", None),
        ("d1b", "d1", "2024-01-04 10:10", "u2"),
        ("d2c", "d2", "2024-01-04 10:20", "d1b"),
        ("d1c", "d1", "2024-01-04 10:30", "d2c"),
    ]
    return Community.from_tables(Tables(members=members, messages=make_messages(rows)))


def test_member_roles_by_hand(qa_community):
    result = member_roles(qa_community, min_replies=2)
    m = result.members.set_index("member_id")
    # h answered 4 threads of others (t1 twice counts once) and started none: z = 4/√4
    assert (m.loc["h", "a"], m.loc["h", "q"]) == (4, 0)
    assert m.loc["h", "z"] == pytest.approx(2.0)
    assert m.loc["h", "replies_others"] == 5 and m.loc["h", "distinct_askers"] == 4
    assert m.loc["h", "asker_diversity"] == pytest.approx(0.8)
    # h replied to k1 (who replied once, to h) and k2..k4 (who never replied): (1+0+0+0)/4
    assert m.loc["h", "neighbour_out_degree"] == pytest.approx(0.25)
    assert (m.loc["k1", "a"], m.loc["k1", "q"], m.loc["k1", "replies_own"]) == (0, 1, 1)
    assert m.loc["k1", "z"] == pytest.approx(-1.0)
    assert (m.loc["d1", "a"], m.loc["d1", "q"]) == (1, 1) and m.loc["d1", "z"] == 0
    assert m.loc["d1", "own_thread_share"] == pytest.approx(1 / 3)
    assert result.reference_out_degree == pytest.approx(1.0)  # median of 0.25, 1, 1
    assert m.loc["h", "role"] == "answer person"
    assert m.loc["d1", "role"] == m.loc["d2", "role"] == "discussion person"
    assert m.loc["k2", "role"] == "asker"
    assert result.members.iloc[0]["member_id"] == "h"  # ranked by z
    assert result.role_counts["answer person"] == 1
    json.dumps(result.to_dict())
    # the rule's thresholds matter: demand more diversity and h is no longer an answer person
    strict = member_roles(qa_community, min_replies=2, min_asker_diversity=0.9)
    assert strict.members.set_index("member_id").loc["h", "role"] == "discussion person"


# ---- staff dependency ------------------------------------------------------------------------
def test_star_around_staff_is_fully_dependent():
    edges = [(f"m{i}", "s", 1) for i in range(5)] + [("s", "m0", 2)]
    dep = graph_dependency(_digraph(edges, staff={"s"}))
    assert dep["cut_off_share"] == 1.0
    assert dep["n_cut_off"] == dep["n_members_in_giant"] == 5
    assert dep["n_components_before"] == 1 and dep["n_components_after"] == 5
    assert dep["giant_share_after"] == 0.0
    assert dep["staff_reply_share"] == 1.0


def test_members_talking_to_each_other_lowers_dependency():
    edges = [(f"m{i}", "s", 1) for i in range(5)] + [("m0", "m1", 1), ("m1", "m2", 2)]
    dep = graph_dependency(_digraph(edges, staff={"s"}))
    # without s: {m0, m1, m2} stays together, m3 and m4 are cut off: 2 of 5
    assert dep["cut_off_share"] == pytest.approx(0.4)
    assert dep["n_components_after"] == 3
    assert dep["giant_share_after"] == pytest.approx(0.6)
    assert dep["staff_reply_share"] == pytest.approx(5 / 8)


@pytest.fixture
def newcomer_community():
    members = make_members(
        [
            ("s", "2023-12-01", True, False),
            ("bot", "2023-12-01", False, True),
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-02", False, False),
            ("c", "2024-01-03", False, False),
        ]
    )
    rows = [
        ("s0", "s", "2023-12-31 10:00", None),  # staff's own first message: not a newcomer
        ("a1", "a", "2024-01-01 10:00", None),
        ("a1s", "s", "2024-01-01 10:05", "a1"),  # staff answers a first
        ("a1b", "b", "2024-01-01 11:00", "a1"),
        ("b1", "b", "2024-01-02 09:00", None),  # b's first message was a1b, never answered
        ("c1", "c", "2024-01-03 09:00", None),
        ("c1c", "c", "2024-01-03 09:10", "c1"),  # self-reply does not count
        ("c2", "c", "2024-01-03 10:00", None),
        ("c2a", "a", "2024-01-03 10:05", "c2"),  # a reply to c's second message does not count
    ]
    return Community.from_tables(Tables(members=members, messages=make_messages(rows)))


def test_newcomer_first_reply_staff_vs_member(newcomer_community):
    dep = staff_dependency(newcomer_community)
    # newcomers a, b (first message a1b), c; a answered by staff first; b's first message a1b
    # got no reply; c's first message only got a self-reply
    assert dep.n_newcomers == 3
    assert dep.n_newcomers_answered == 1 and dep.n_first_reply_staff == 1
    assert dep.staff_first_reply_share == 1.0 and dep.member_first_reply_share == 0.0


def test_newcomer_first_reply_by_member_and_bots_ignored():
    members = make_members(
        [
            ("s", "2023-12-01", True, False),
            ("bot", "2023-12-01", False, True),
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-02", False, False),
        ]
    )
    rows = [
        ("a1", "a", "2024-01-01 10:00", None),
        ("a1bot", "bot", "2024-01-01 10:01", "a1"),  # automatic welcome: ignored
        ("a1b", "b", "2024-01-01 10:30", "a1"),  # first reply by a person: a member
        ("a1s", "s", "2024-01-01 11:00", "a1"),
        ("b0", "b", "2024-01-01 09:00", None),  # b's first message, answered by staff
        ("b0s", "s", "2024-01-01 09:30", "b0"),
    ]
    community = Community.from_tables(Tables(members=members, messages=make_messages(rows)))
    dep = staff_dependency(community)
    assert dep.n_newcomers == 2 and dep.n_newcomers_answered == 2
    assert dep.n_first_reply_member == 1 and dep.n_first_reply_staff == 1
    assert dep.member_first_reply_share == 0.5
    # the graph part: bot dropped; s links a and b, who also talk directly → nobody cut off
    assert dep.cut_off_share == 0.0 and dep.n_staff == 1
    assert "Without the 1 staff account, 0% of active members" in dep.summary()
    json.dumps(dep.to_dict())


# ---- integration -----------------------------------------------------------------------------
def test_innermost_core_excludes_staff():
    g = nx.complete_graph(["p", "q", "r", "t"])
    g.add_edges_from([("x", "p"), ("s", "p"), ("s", "q"), ("s", "r"), ("s", "t")])
    assert innermost_core(g) == {"p", "q", "r", "t", "s"}
    assert innermost_core(g, exclude={"s"}) == {"p", "q", "r", "t"}


@pytest.fixture
def integration_community():
    people = [(m, "2024-01-01", False, False) for m in ("p", "q", "r", "t", "x")]
    people += [
        ("n", "2024-02-01 12:00", False, False),
        ("o", "2024-02-01 12:00", False, False),
        ("z", "2024-02-01 12:00", False, False),
        ("late", "2024-03-10", False, False),
    ]
    rows = []
    clique = ["p", "q", "r", "t"]
    for i, u in enumerate(clique):  # a 4-clique of replies in January: core number 3
        rows.append((f"root_{u}", u, f"2024-01-0{i + 2} 10:00", None))
        for j, v in enumerate(clique):
            if u != v:
                rows.append((f"{v}{u}", v, f"2024-01-0{i + 2} 1{j}:30", f"root_{u}"))
    rows += [
        ("x1", "x", "2024-01-20 10:00", "root_p"),  # x — p
        ("xm", "x", "2024-02-05 10:00", None),
        ("n1", "n", "2024-02-06 10:00", "xm"),  # n — x: distance 2 to the core
        ("z1", "z", "2024-02-10 10:00", None),
        ("pz", "p", "2024-03-02 10:00", "z1"),  # after z's four weeks (snapshot ends Mar 1)
        ("end", "q", "2024-03-20 10:00", None),
    ]
    members = make_members(people)
    return Community.from_tables(Tables(members=members, messages=make_messages(rows)))


@pytest.mark.parametrize("engine", ["igraph", "networkx"])
def test_newcomer_integration_by_hand(integration_community, engine):
    result = newcomer_integration(integration_community, engine=engine)
    m = result.members.set_index("member_id")
    assert m.loc["n", "distance"] == 2 and m.loc["n", "core_number"] == 1
    assert not m.loc["o", "reached"] and not m.loc["o", "in_graph"]
    assert not m.loc["z", "reached"]  # p's reply came after z's snapshot
    assert m.loc["z", "snapshot_end"] == pd.Timestamp("2024-03-01", tz="UTC")
    assert m.loc["p", "distance"] == 0 and m.loc["p", "core_number"] == 3
    assert not m.loc["late", "observed"]  # joined + 28 d is after the last message
    feb = result.cohorts.set_index("cohort").loc[pd.Timestamp("2024-02-01", tz="UTC")]
    assert feb["n_joined"] == 3 and feb["n_observed"] == 3
    assert feb["share_reached"] == pytest.approx(1 / 3)
    assert feb["median_distance"] == 2
    json.dumps(result.to_dict())
    assert "newcomers" in result.summary()


# ---- evolution -------------------------------------------------------------------------------
def test_evolution_matches_networkx_per_month(integration_community):
    evo = network_evolution(integration_community)
    frame = evo.to_frame().set_index("month")
    assert list(frame.index.strftime("%Y-%m")) == ["2024-01", "2024-02", "2024-03"]
    for month, end in (("2024-01-01", "2024-02-01"), ("2024-02-01", "2024-03-01")):
        g = reply_graph(integration_community, start=month, end=end)
        row = frame.loc[pd.Timestamp(month, tz="UTC")]
        assert row["n_nodes"] == g.number_of_nodes()
        assert row["n_edges"] == g.number_of_edges()
        assert row["density"] == pytest.approx(nx.density(g), rel=1e-12)
        assert row["reciprocity"] == pytest.approx(nx.overall_reciprocity(g), rel=1e-12)
    jan = frame.iloc[0]
    assert jan["core_size"] == 4 and math.isnan(jan["core_jaccard"])
    # February: edges x—n only → core {x, n} (core number 1); Jaccard with {p,q,r,t} is 0
    assert evo.cores["2024-02-01"] == ["n", "x"]
    assert frame.iloc[1]["core_jaccard"] == 0.0 and frame.iloc[1]["core_turnover"] == 1.0
    json.dumps(evo.to_dict())
    assert "month" in evo.summary()
