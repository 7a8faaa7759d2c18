"""fast_network_evolution equals network_evolution (the networkx oracle) month by month, and the
engine-numbered fast reply graph equals the one built from the engine's string edge list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community, write_dataset
from analysis.network.evolution import network_evolution
from analysis.network.fast_evolution import fast_network_evolution
from analysis.network.fast_graph import fast_graph, fast_reply_graph
from analysis.network.graphs import edges_expr
from analysis.schema import Tables
from tests.conftest import make_members

TOL = 1e-12


def drawn_tables(members: int = 400, messages: int = 6000, seed: int = 4) -> Tables:
    """Zipf-like authors, replies to earlier messages, staff and bots, five months with a gap
    month (no messages in March) and a month with only bot replies."""
    rng = np.random.default_rng(seed)
    w = 1 / np.arange(1, members + 1) ** 0.8
    author = rng.choice(members, messages, p=w / w.sum())
    days = np.sort(rng.integers(0, 150, messages))
    days = np.where((days >= 60) & (days < 91), days + 31, days)  # no message in March
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days * 86400 + 1, "s")
    parent = np.where(
        rng.random(messages) < 0.6,
        np.maximum(np.arange(messages) - rng.geometric(0.1, messages), -1),
        -1,
    )
    ids = np.char.add("m", np.arange(messages).astype(str)).astype(object)
    member_ids = np.asarray([f"u{i:04d}" for i in range(members)], dtype=object)
    reply_to = np.where(parent >= 0, ids[np.maximum(parent, 0)], None)
    frame = pd.DataFrame(
        {
            "message_id": ids,
            "platform": "telegram",
            "channel_id": "tg:1",
            "thread_id": ids,
            "member_id": member_ids[author],
            "created_at": created,
            "reply_to_id": reply_to,
            "reply_source": np.where(parent >= 0, "explicit", "none"),
            "kind": "message",
            "text": None,
            "text_len": 0,
            "n_reactions": 0,
        }
    )
    people = make_members(
        [(m, "2023-12-01", bool(i % 17 == 0), bool(i % 41 == 5)) for i, m in enumerate(member_ids)]
    )
    return Tables(members=people, messages=frame)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> Community:
    out = tmp_path_factory.mktemp("evo") / "d"
    write_dataset(drawn_tables(), out, sources=[])
    return Community.load(out)


def assert_same(ours, ref) -> None:
    a, b = ours.months, ref.months
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    assert (a["month"].to_numpy() == b["month"].to_numpy()).all()
    for col in ("n_nodes", "n_edges", "n_replies", "core_size"):
        assert a[col].astype(int).tolist() == b[col].astype(int).tolist(), col
    for col in ("density", "reciprocity", "giant_share", "staff_dependency", "core_jaccard"):
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=col)
        assert np.nanmax(np.abs(x - y), initial=0.0) < TOL, col
    assert ours.cores == ref.cores
    assert ours.summary() == ref.summary()


def test_evolution_equals_networkx_on_drawn_community(drawn):
    ref = network_evolution(drawn)
    ours = fast_network_evolution(drawn)
    assert_same(ours, ref)
    months = ours.months
    assert len(months) == 5 and (months["n_nodes"] > 0).sum() == 4  # March is empty
    assert months["core_size"].max() > 0 and months["staff_dependency"].notna().sum() >= 3


def test_evolution_equals_networkx_on_tiny(tiny_tables, tmp_path):
    write_dataset(tiny_tables, tmp_path / "d", sources=[])
    community = Community.load(tmp_path / "d")
    assert_same(fast_network_evolution(community), network_evolution(community))


def test_engine_numbered_graph_equals_string_edge_list(drawn):
    ours = fast_reply_graph(drawn)
    edges = drawn.execute(edges_expr(drawn, "reply"))
    flags = drawn.execute(drawn.members.select("member_id", "is_staff", "is_bot"))
    ref = fast_graph(edges, directed=True, members=flags)
    assert ours.names.tolist() == ref.names.tolist()
    for name in ("src", "dst", "weight", "is_staff", "is_bot"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(ref, name), err_msg=name)
    assert ours.is_bot.any() and ours.is_staff.any()
