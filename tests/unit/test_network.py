"""Reply graph: edge list from the engine equals a pandas computation; metrics from networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.network import network_overview, reply_edges_expr, reply_graph
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def test_reply_graph_hand_checked(tiny_tables):
    graph = reply_graph(Community.from_tables(tiny_tables))
    assert sorted(graph.edges(data="weight")) == [("a", "s", 1), ("b", "a", 1)]
    assert graph.nodes["s"]["is_staff"] is True and graph.nodes["a"]["is_staff"] is False


def test_self_replies_dropped_and_date_range():
    members = make_members([("a", "2024-01-01", False, False), ("b", "2024-01-01", False, False)])
    messages = make_messages(
        [
            ("1", "a", "2024-01-02", None),
            ("2", "a", "2024-01-02 01:00", "1"),  # self-reply: not an edge
            ("3", "b", "2024-01-03", "1"),
            ("4", "b", "2024-02-03", "2"),
        ]
    )
    community = Community.from_tables(Tables(members=members, messages=messages))
    assert sorted(reply_graph(community).edges(data="weight")) == [("b", "a", 2)]
    january = reply_graph(community, start="2024-01-01", end="2024-02-01")
    assert sorted(january.edges(data="weight")) == [("b", "a", 1)]


@pytest.fixture
def random_community():
    rng = np.random.default_rng(3)
    n, k = 40, 1500
    members = make_members([(f"m{i}", "2024-01-01", i < 2, False) for i in range(n)])
    rows = []
    for i in range(k):
        parent = f"x{rng.integers(0, i)}" if i > 0 and rng.random() < 0.7 else None
        rows.append((f"x{i}", f"m{rng.integers(0, n)}", f"2024-01-{1 + i // 60:02d} 10:00", parent))
    messages = make_messages(rows)
    return Community.from_tables(Tables(members=members, messages=messages)), messages


def test_edges_equal_pandas(random_community):
    community, messages = random_community
    got = community.execute(reply_edges_expr(community)).sort_values(["source", "target"])
    parent = messages.set_index("message_id")["member_id"]
    replies = messages.dropna(subset=["reply_to_id"])
    pairs = pd.DataFrame(
        {"source": replies["member_id"].values, "target": parent.loc[replies["reply_to_id"]].values}
    )
    pairs = pairs[pairs["source"] != pairs["target"]]
    expected = pairs.groupby(["source", "target"]).size().rename("weight").reset_index()
    assert got.reset_index(drop=True)[["source", "target"]].equals(expected[["source", "target"]])
    assert got["weight"].astype(int).tolist() == expected["weight"].tolist()


def test_overview_matches_networkx(random_community):
    community, _ = random_community
    overview = network_overview(community, top_n=5)
    graph = reply_graph(community)
    pr = nx.pagerank(graph, weight="weight")
    top = sorted(pr, key=lambda v: (-pr[v], v))[:5]
    assert overview.top["member_id"].tolist() == top
    assert overview.n_nodes == graph.number_of_nodes()
    assert overview.density == pytest.approx(nx.density(graph), rel=1e-12)
    assert overview.reciprocity == pytest.approx(nx.overall_reciprocity(graph), rel=1e-12)
    assert overview.n_replies == sum(w for *_, w in graph.edges(data="weight"))
    staff = {"m0", "m1"}
    staff_w = sum(w for u, v, w in graph.edges(data="weight") if u in staff or v in staff)
    assert overview.staff_edge_share == pytest.approx(staff_w / overview.n_replies)
    assert "replies" in overview.summary()


def test_empty_network_is_described_not_crashed():
    members = make_members([("a", "2024-01-01", False, False)])
    messages = make_messages([("1", "a", "2024-01-02", None)])
    overview = network_overview(Community.from_tables(Tables(members=members, messages=messages)))
    assert overview.n_nodes == 0
    assert "no reply network" in overview.summary()


def test_date_bounds_accept_aware_and_naive_times(tiny_tables):
    community = Community.from_tables(tiny_tables)
    aware = reply_graph(community, end=pd.Timestamp("2024-01-10 00:00", tz="Europe/Moscow"))
    naive = reply_graph(community, end="2024-01-09 21:00")
    assert sorted(aware.edges) == sorted(naive.edges) == [("b", "a")]


def test_submodules_are_not_shadowed_by_functions():
    import importlib
    import inspect

    import analysis.network as package

    for name in ("brokers", "structure", "rich_club", "graphs", "core", "communities"):
        module = importlib.import_module(f"analysis.network.{name}")
        assert inspect.ismodule(getattr(package, name, module)), name
