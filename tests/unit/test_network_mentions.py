"""The mention graph: edges from the ``mentions`` table, checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data import Community
from analysis.network import graphs
from analysis.schema import SchemaValidationError, Tables
from tests.conftest import make_members, make_messages


def _edges(community, expr) -> list[tuple[str, str, int]]:
    frame = community.execute(expr)
    return sorted(zip(frame["source"], frame["target"], frame["weight"].astype(int), strict=True))


@pytest.fixture
def mentioning() -> Community:
    """a mentions b twice (messages 1, 3) and c once (message 1); b mentions a in February
    (message 4); c mentions itself (message 5, dropped); s's service event mentions a (dropped)."""
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
            ("3", "a", "2024-01-03", None),
            ("4", "b", "2024-02-03", None),
            ("5", "c", "2024-01-04", None),
            ("x", "s", "2024-01-05", None, "service"),
        ]
    )
    mentions = pd.DataFrame(
        {
            "message_id": ["1", "1", "3", "4", "5", "x"],
            "member_id": ["b", "c", "b", "a", "c", "a"],
        }
    )
    return Community.from_tables(Tables(members=members, messages=messages, mentions=mentions))


def test_mention_edges_exact(mentioning):
    c = mentioning
    assert _edges(c, graphs.mention_edges_expr(c)) == [("a", "b", 2), ("a", "c", 1), ("b", "a", 1)]
    assert _edges(c, graphs.mention_edges_expr(c, end="2024-02-01")) == [
        ("a", "b", 2),
        ("a", "c", 1),
    ]
    graph = graphs.mention_graph(c)
    assert graph.is_directed()
    assert graph["a"]["b"]["weight"] == 2
    assert graphs.DIRECTED["mention"] is True


def test_mentions_follow_the_window(mentioning):
    january = mentioning.window("2024-01-01", "2024-02-01")
    frame = january.execute(january.table("mentions"))
    assert sorted(frame["message_id"]) == ["1", "1", "3", "5", "x"]


def test_no_mentions_table_gives_an_empty_graph():
    members = make_members([("a", "2024-01-01", False, False)])
    messages = make_messages([("1", "a", "2024-01-02", None)])
    c = Community.from_tables(Tables(members=members, messages=messages))
    assert _edges(c, graphs.mention_edges_expr(c)) == []
    assert graphs.interaction_graph(c, "mention").number_of_nodes() == 0


def test_mentions_must_point_at_known_messages_and_members():
    members = make_members([("a", "2024-01-01", False, False)])
    messages = make_messages([("1", "a", "2024-01-02", None)])
    bad_member = pd.DataFrame({"message_id": ["1"], "member_id": ["ghost"]})
    with pytest.raises(SchemaValidationError, match="'mentions', column 'member_id'"):
        Tables(members=members, messages=messages, mentions=bad_member).validated()
    bad_message = pd.DataFrame({"message_id": ["99"], "member_id": ["a"]})
    with pytest.raises(SchemaValidationError, match="'mentions', column 'message_id'.*99"):
        Tables(members=members, messages=messages, mentions=bad_message).validated()


def test_unknown_graph_kind_names_the_choices(mentioning):
    with pytest.raises(ValueError, match="'mention'"):
        graphs.edges_expr(mentioning, "mentions")


def test_simulated_mentions_address_the_replied_to_member(tmp_path, monkeypatch):
    """The simulator's replies that open with a mention_name address the author of the message
    replied to: through the real Telegram ingest, every mention edge is also a reply edge."""
    from analysis.ingest import ingest_raw_dir
    from analysis.synth import generate_community

    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY", "test-key-not-secret")
    generate_community(tmp_path, n_members=300, seed=4)
    tables = ingest_raw_dir(tmp_path)
    assert len(tables.mentions) > 100
    c = Community.from_tables(tables)
    mention = set(_edges(c, graphs.mention_edges_expr(c)))
    reply = {(s, t) for s, t, _ in _edges(c, graphs.edges_expr(c, "reply"))}
    assert {(s, t) for s, t, _ in mention} <= reply
