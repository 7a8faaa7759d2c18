"""Thread and newcomer metrics on hand-made communities: every number below is worked by hand."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health import newcomers as nc
from analysis.health.discussion import conversation_duration, discussion_depth, sessions_expr
from analysis.health.responsiveness import response_rate, time_to_first_response
from analysis.health.shares import (
    member_initiated_share,
    member_to_member_share,
    support_deflection,
)
from analysis.health.thread_table import thread_table
from analysis.schema import Tables
from tests.conftest import make_members, make_messages

NAN = float("nan")
KEYS = ("message_key", "thread_key", "reply_to_key")


def _community(members, messages, channels: dict[str, str] | None = None) -> Community:
    msgs = make_messages(messages)
    for mid, channel in (channels or {}).items():
        msgs.loc[msgs["message_id"] == mid, "channel_id"] = channel
    return Community.from_tables(Tables(members=make_members(members), messages=msgs))


MEMBERS = [
    ("a", "2023-12-01", False, False),
    ("b", "2023-12-01", False, False),
    ("s", "2023-12-01", True, False),
    ("bot", "2023-12-01", False, True),
]


@pytest.fixture
def threads_community() -> Community:
    """Weeks of 2024-01-01 (five threads, a bot thread, a missing root), 01-08 (one unanswered
    root), 01-15 (empty) and 01-22 (a root too recent for 24 h). Data end 2024-01-24 10:20."""
    return _community(
        MEMBERS,
        [
            # thread 1: self-reply, then staff (30 min, depth 2), then b (depth 3)
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "a", "2024-01-01 10:05", "1"),
            ("3", "s", "2024-01-01 10:30", "2"),
            ("4", "b", "2024-01-01 11:00", "3"),
            # thread 5: member answer after 10 min
            ("5", "b", "2024-01-02 09:00", None),
            ("6", "a", "2024-01-02 09:10", "5"),
            # thread 7: only a bot replies (not a response unless bots are included)
            ("7", "a", "2024-01-03 12:00", None),
            ("15", "bot", "2024-01-03 12:01", "7"),
            # thread 8: member answer after 48 h (inside 7 d, outside 24 h)
            ("8", "b", "2024-01-04 12:00", None),
            ("9", "a", "2024-01-06 12:00", "8"),
            # a reply whose root x0 is missing from the export
            ("10", "a", "2024-01-05 10:00", "x0"),
            # clock skew: staff reply stamped 10 min before its root
            ("11", "b", "2024-01-05 12:00", None),
            ("12", "s", "2024-01-05 11:50", "11"),
            # a bot's root with a member reply: not a thread while bots are excluded
            ("13", "bot", "2024-01-05 08:00", None),
            ("14", "a", "2024-01-05 08:05", "13"),
            # week of 01-08: a root nobody answers
            ("18", "a", "2024-01-09 10:00", None),
            # week of 01-22: answered after 20 min but younger than 24 h at the data end
            ("16", "a", "2024-01-24 10:00", None),
            ("17", "b", "2024-01-24 10:20", "16"),
        ],
    )


WEEKS = pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"])


def test_thread_table_by_hand(threads_community):
    t = thread_table(threads_community).set_index("thread_id")
    assert list(t.index) == ["1", "5", "7", "8", "11", "18", "16"]  # by root time; no bot root
    one = t.loc["1"]
    assert (one.n_replies, one.participants, one.max_depth) == (3, 3, 3)
    assert one.response_seconds == 1800 and one.first_responder_id == "s"
    assert bool(one.first_responder_is_staff) and one.duration_seconds == 3600
    assert t.loc["5", "response_seconds"] == 600 and not t.loc["5", "first_responder_is_staff"]
    assert pd.isna(t.loc["7", "response_seconds"])  # bot reply ignored
    for unanswered in ("7", "18"):  # no responder: no id and no staff flag (null, not False)
        assert pd.isna(t.loc[unanswered, "first_responder_id"])
        assert pd.isna(t.loc[unanswered, "first_responder_is_staff"])
    assert t.loc["7", "n_replies"] == 0 and t.loc["7", "max_depth"] == 0
    assert pd.isna(t.loc["7", "duration_seconds"])  # one participant
    assert t.loc["8", "response_seconds"] == 48 * 3600
    skew = t.loc["11"]
    assert skew.response_seconds == 0 and bool(skew.response_clipped)
    assert skew.n_skewed_replies == 1 and skew.duration_seconds == 600  # earliest → latest
    assert t["n_skewed_replies"].sum() == 1


def test_response_rate_windows_exposure_and_empty_periods(threads_community):
    r = response_rate(threads_community, within=("24h", "7d"))
    f = r.to_frame()
    day = f[f["window"] == "24h"].set_index("period_start")
    week = f[f["window"] == "7d"].set_index("period_start")
    assert list(day.index) == list(WEEKS)
    assert day["roots"].tolist() == [5, 1, 0, 1]
    assert day["exposed"].tolist() == [5, 1, 0, 0]  # 01-24 root is younger than 24 h
    assert day["responded"].tolist() == [3, 0, 0, 0]  # roots 1 (30 min), 5 (10 min), 11 (0)
    assert week["responded"].tolist() == [4, 0, 0, 0]  # + root 8 (48 h)
    assert day["rate"].iloc[0] == pytest.approx(0.6) and day["rate"].iloc[1] == 0.0
    assert math.isnan(day["rate"].iloc[2]) and math.isnan(day["rate"].iloc[3])
    assert r.overall["24h"] == {"roots": 7, "exposed": 6, "responded": 3, "rate": 0.5}
    assert r.overall["7d"]["rate"] == pytest.approx(4 / 6)
    d = r.to_dict()
    assert (d["n_missing_root_threads"], d["n_skewed_replies"], d["n_clipped_responses"]) == (
        1,
        1,
        1,
    )
    assert "50.0%" in r.summary() and "missing" in r.summary()
    assert r.to_dict()["include_staff"] is True and r.to_dict()["include_bots"] is False


def test_bots_included_makes_the_bot_reply_a_response(threads_community):
    r = response_rate(threads_community, within=("24h",), include_bots=True)
    # roots 13 (bot, answered by a in 5 min) and 7 (bot answered in 1 min) join the answered
    assert r.overall["24h"] == {"roots": 8, "exposed": 7, "responded": 5, "rate": 5 / 7}


def test_time_to_first_response_split_by_responder(threads_community):
    r = time_to_first_response(threads_community)
    o = r.overall
    # all: 0, 10, 20, 30, 2880 minutes; staff: 0, 30; members: 10, 20, 2880
    assert o["all"]["n"] == 5 and o["all"]["median_minutes"] == 20
    assert o["all"]["p90_minutes"] == pytest.approx(30 + 0.6 * 2850)
    assert (o["staff"]["n"], o["staff"]["median_minutes"], o["staff"]["p90_minutes"]) == (
        2,
        15,
        pytest.approx(27),
    )
    assert o["member"]["median_minutes"] == 20
    assert o["member"]["p90_minutes"] == pytest.approx(20 + 0.8 * 2860)
    f = r.to_frame().set_index(["period_start", "responder"])
    assert f.loc[(WEEKS[0], "all"), "n"] == 4 and f.loc[(WEEKS[0], "all"), "median_minutes"] == 20
    assert f.loc[(WEEKS[1], "all"), "n"] == 0  # a week with a root but no reply
    assert math.isnan(f.loc[(WEEKS[1], "all"), "median_minutes"])
    assert f.loc[(WEEKS[2], "member"), "n"] == 0  # the empty week is present
    assert "20 minutes" in r.summary()


def test_without_staff_staff_replies_are_not_responses(threads_community):
    r = time_to_first_response(threads_community, include_staff=False)
    # thread 1 is now first answered by b at 60 min; thread 11's only answer was staff
    assert r.overall["staff"]["n"] == 0
    assert r.overall["member"]["n"] == 4 and r.overall["member"]["median_minutes"] == 40
    assert r.to_dict()["include_staff"] is False


def test_discussion_depth_by_hand(threads_community):
    r = discussion_depth(threads_community)
    first = r.to_frame().iloc[0]  # threads 1, 5, 7, 8, 11
    assert first["threads"] == 5
    assert first["mean_replies"] == pytest.approx(6 / 5) and first["median_replies"] == 1
    assert first["mean_participants"] == 2 and first["median_participants"] == 2
    assert first["mean_depth"] == pytest.approx(6 / 5)
    assert r.overall["max_depth"]["mean"] == pytest.approx(7 / 7)  # 3,1,0,1,1,0,1
    assert r.to_frame()["threads"].tolist() == [5, 1, 0, 1]


def test_conversation_duration_threads(threads_community):
    r = conversation_duration(threads_community, mode="threads")
    # durations of threads with ≥ 2 people: 60, 10, 2880, 10 (skewed: 11:50 → 12:00), 20 min
    assert r.overall["conversations"] == 7 and r.overall["multi"] == 5
    assert r.overall["median_minutes"] == 20
    assert r.to_frame()["median_minutes"].iloc[0] == 35


def test_sessions_with_a_30_minute_gap():
    c = _community(
        [
            ("a", "2023-12-01", False, False),
            ("b", "2023-12-01", False, False),
            ("s", "2023-12-01", True, False),
        ],
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "b", "2024-01-01 10:20", None),
            ("3", "a", "2024-01-01 10:50", None),  # gap exactly 30 min: same session
            ("4", "b", "2024-01-01 11:21", None),  # gap 31 min: new session (b alone)
            ("5", "b", "2024-01-01 11:40", None),
            ("6", "a", "2024-01-01 13:00", None),  # alone
            ("7", "a", "2024-01-01 10:10", None),  # other channel, interleaved in time
            ("8", "s", "2024-01-01 10:15", None),
        ],
        channels={"7": "tg:2", "8": "tg:2"},
    )
    s = c.execute(sessions_expr(c)).sort_values(["channel_id", "session"])
    assert s["n_messages"].tolist() == [3, 2, 1, 2]
    assert s["participants"].tolist() == [2, 1, 1, 2]
    assert s["duration_seconds"].tolist() == [3000, 1140, 0, 300]
    r = conversation_duration(c, period="day")  # no reply links observed: sessions
    assert r.mode == "sessions" and r.gap == "30min"
    assert (r.overall["conversations"], r.overall["multi"]) == (4, 2)
    assert r.overall["median_minutes"] == pytest.approx(27.5)  # 50 and 5 minutes
    assert conversation_duration(c, mode="sessions", gap="31min").overall["multi"] == 2
    assert conversation_duration(c, mode="sessions", gap="19min").overall["multi"] == 1


@pytest.fixture
def shares_community() -> Community:
    return _community(
        [
            ("a", "2023-12-01", False, False),
            ("b", "2023-12-01", False, False),
            ("s1", "2023-12-01", True, False),
            ("s2", "2023-12-01", True, False),
        ],
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "s1", "2024-01-01 10:10", "1"),  # staff answers a member
            ("3", "b", "2024-01-01 10:20", "2"),  # member answers staff
            ("4", "a", "2024-01-01 10:30", "3"),  # member to member
            ("5", "a", "2024-01-01 10:40", "4"),  # self-reply: not talk between people
            ("6", "b", "2024-01-02 10:00", None),
            ("7", "a", "2024-01-02 10:30", "6"),  # member to member, first answer by member
            ("8", "s1", "2024-01-10 10:00", None),  # staff-only channel, next week
            ("9", "s2", "2024-01-10 10:05", "8"),
        ],
        channels={"8": "tg:staff", "9": "tg:staff"},
    )


def test_member_initiated_share_and_staff_only_channel(shares_community):
    r = member_initiated_share(shares_community)
    assert (r.numerator, r.denominator) == (2, 3)
    assert r.to_frame()["share"].tolist() == [1.0, 0.0]
    by = member_initiated_share(shares_community, by_channel=True).to_frame()
    staff_channel = by[by["channel_id"] == "tg:staff"]
    assert staff_channel["denominator"].tolist() == [0, 1]
    assert staff_channel["numerator"].sum() == 0
    assert "66.7%" in r.summary()


def test_member_to_member_share(shares_community):
    r = member_to_member_share(shares_community)
    assert (r.numerator, r.denominator) == (2, 5)  # replies 4 and 7 of 2, 3, 4, 7, 9
    assert r.to_frame()["share"].tolist() == [pytest.approx(0.5), 0.0]


def test_support_deflection(shares_community):
    r = support_deflection(shares_community)
    assert (r.numerator, r.denominator) == (1, 3)  # root 6 answered first by a member
    assert r.to_dict()["share"] == pytest.approx(1 / 3)


def test_plots_and_dicts_are_well_formed(threads_community):
    import json

    import matplotlib

    matplotlib.use("Agg")
    for fn in (
        response_rate,
        time_to_first_response,
        discussion_depth,
        conversation_duration,
        member_initiated_share,
        member_to_member_share,
        support_deflection,
    ):
        result = fn(threads_community)
        json.dumps(result.to_dict(), allow_nan=False)
        assert result.plot() is not None
        assert result._repr_html_().startswith("<div")


# ---- newcomers -----------------------------------------------------------------------------------
@pytest.fixture
def newcomers_community() -> Community:
    return _community(
        [*MEMBERS, ("c", "2023-12-01", False, False), ("d", "2023-12-01", False, False)],
        [
            ("s0", "s", "2024-01-01 09:00", None),  # staff are not newcomers
            ("1", "a", "2024-01-01 10:00", None),  # a: answered by b after 120 min
            ("2", "b", "2024-01-01 12:00", "1"),  # b's first message is a reply ...
            ("3", "a", "2024-01-01 12:30", "2"),  # ... answered after 30 min
            ("4", "a", "2024-01-05 10:00", None),  # a again after 4 days
            ("5", "a", "2024-01-15 10:00", None),  # and on day 14: returned
            ("6", "c", "2024-01-03 10:00", None),  # c: bot, self-reply, then staff after 26 h
            ("7", "bot", "2024-01-03 10:01", "6"),
            ("8", "c", "2024-01-03 10:05", "6"),
            ("9", "s", "2024-01-04 12:00", "8"),
            ("11", "d", "2024-02-20 10:00", None),  # d: never answered, too recent to return
            ("10", "s", "2024-03-01 10:00", None),  # data end
        ],
    )


def test_newcomer_table_and_welcome(newcomers_community):
    t = nc.newcomer_table(newcomers_community).set_index("member_id")
    assert list(t.index) == ["a", "b", "c", "d"]
    assert t["reply_seconds"].tolist()[:3] == [7200, 1800, 26 * 3600]
    assert pd.isna(t.loc["d", "reply_seconds"])
    w = nc.newcomer_welcome(newcomers_community)
    assert (w.newcomers, w.answered, w.exposed_24h, w.answered_24h) == (4, 3, 4, 2)
    assert w.share_answered_24h == 0.5
    assert w.median_minutes == 120 and w.p90_minutes == pytest.approx(120 + 0.8 * 1440)
    assert w.to_frame()["newcomers"].sum() == 4
    assert "50.0%" in w.summary()
    with_bots = nc.newcomer_table(newcomers_community, include_bots=True).set_index("member_id")
    assert with_bots.loc["c", "reply_seconds"] == 60  # the bot's reply now counts


def test_newcomer_return_and_repeat(newcomers_community):
    r = nc.newcomer_return(newcomers_community)
    # exposed for day 35: a, b, c (d is too recent); a and b answered within 24 h, c not
    assert (r.n_answered, r.returned_answered, r.n_unanswered, r.returned_unanswered) == (
        2,
        1,
        1,
        0,
    )
    assert r.comparison.diff == pytest.approx(0.5)
    assert r.associational and "association" in r.summary()
    assert nc.newcomer_return(newcomers_community, exclude_members=["b"]).n_answered == 1
    rep = nc.repeat_contribution(newcomers_community)
    assert rep.overall[7] == {"exposed": 4, "repeated": 2, "share": 0.5}  # a and c (self-reply)
    assert rep.overall[30] == {"exposed": 3, "repeated": 2, "share": pytest.approx(2 / 3)}


def test_first_responder_ties_broken_by_message_id():
    # two answers at the same second: the one with the smaller message_id is the first response
    c = _community(
        MEMBERS,
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("3", "s", "2024-01-01 10:07", "1"),
            ("2", "b", "2024-01-01 10:07", "1"),
            ("4", "a", "2024-01-01 10:05", "1"),  # the author's own reply is never a response
        ],
    )
    row = thread_table(c).iloc[0]
    assert row["first_responder_id"] == "b"  # message "2" < "3"
    assert not row["first_responder_is_staff"]
    assert row["response_seconds"] == 7 * 60
    assert row["participants"] == 3 and row["n_replies"] == 3


def test_first_responder_tie_uses_each_repliers_smallest_message_at_that_second():
    # b wrote "8" and "3" at 10:07, s wrote "5" at 10:07: b's smallest pair (10:07, "3") comes
    # first; a replier's earlier message beats a smaller id later ("9" at 10:06 over "2")
    tie = [
        ("1", "a", "2024-01-01 10:00", None),
        ("8", "b", "2024-01-01 10:07", "1"),
        ("5", "s", "2024-01-01 10:07", "1"),
        ("3", "b", "2024-01-01 10:07", "1"),
    ]
    for rows in (tie, [tie[0], *tie[:0:-1]]):  # the replies in either order
        assert thread_table(_community(MEMBERS, rows)).iloc[0]["first_responder_id"] == "b"
    earlier = [
        ("1", "a", "2024-01-01 10:00", None),
        ("2", "s", "2024-01-01 10:07", "1"),
        ("9", "b", "2024-01-01 10:06", "1"),
        ("0", "b", "2024-01-01 10:08", "1"),
    ]
    row = thread_table(_community(MEMBERS, earlier)).iloc[0]
    assert row["first_responder_id"] == "b" and row["response_seconds"] == 6 * 60
    assert not row["first_responder_is_staff"]
    staff_first = [*earlier[:2], ("9", "b", "2024-01-01 10:07", "1")]  # "2" < "9" at 10:07
    row = thread_table(_community(MEMBERS, staff_first)).iloc[0]
    assert row["first_responder_id"] == "s" and row["first_responder_is_staff"]


def test_sessions_do_not_depend_on_the_order_of_messages_at_one_second():
    rows = [
        ("1", "a", "2024-01-01 10:00", None),
        ("2", "b", "2024-01-01 10:40", None),  # new session (gap 40 min)
        ("3", "a", "2024-01-01 10:40", None),  # same second as "2"
        ("4", "b", "2024-01-01 11:05", None),
    ]
    one = _community(MEMBERS, rows)
    other = _community(MEMBERS, [rows[0], rows[2], rows[1], rows[3]])
    a = one.execute(sessions_expr(one)).sort_values("session", ignore_index=True)
    b = other.execute(sessions_expr(other)).sort_values("session", ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    assert a["n_messages"].tolist() == [1, 3]
    assert a["participants"].tolist() == [1, 2]


def test_thread_values_sort_only_when_order_could_change_a_mean():
    from analysis.health.thread_queries import _integral

    assert _integral(pd.DataFrame({"x": [1.0, NAN, 3.0], "y": pd.array([1, None, 2], "Int64")}))
    assert not _integral(pd.DataFrame({"x": [0.1, 0.2]}))
    assert not _integral(pd.DataFrame({"x": [2.0**52, 2.0**52]}))


def test_skewed_replies_counted_at_every_depth():
    # "3" is stamped before its parent "2" (not the root); "4" before the root; "5" is fine
    c = _community(
        MEMBERS,
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "b", "2024-01-01 10:30", "1"),
            ("3", "a", "2024-01-01 10:20", "2"),
            ("4", "s", "2024-01-01 09:55", "1"),
            ("5", "b", "2024-01-01 10:40", "3"),
        ],
    )
    row = thread_table(c).iloc[0]
    assert row["n_skewed_replies"] == 2
    assert row["max_depth"] == 3
    # without staff, "4" is not a counted reply: one skewed reply left
    assert thread_table(c, include_staff=False).iloc[0]["n_skewed_replies"] == 1


def test_first_responder_tie_with_the_authors_own_reply():
    # the author's own reply "2" is at the first response's second and has the smallest id:
    # it is not a response, so "b" (message "5") answers before "s" (message "7")
    c = _community(
        MEMBERS,
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "a", "2024-01-01 10:07", "1"),
            ("7", "s", "2024-01-01 10:07", "1"),
            ("5", "b", "2024-01-01 10:07", "2"),
        ],
    )
    row = thread_table(c).iloc[0]
    assert row["first_responder_id"] == "b"
    assert row["response_seconds"] == 7 * 60


def test_included_messages_are_stored_once_and_equal_the_expression():
    from analysis.health.included import message_store
    from analysis.health.thread_table import included_messages, shared_included_messages

    c = _community(
        MEMBERS,
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "s", "2024-01-01 10:07", "1"),
            ("3", "b", "2024-01-01 10:09", "2"),
            ("4", "bot", "2024-01-01 10:10", "3"),
            ("5", "b", "2024-01-01 10:11", None, "service"),
        ],
    )
    store = c.execute(message_store(c)).set_index("message_id").sort_index()
    assert message_store(c) is message_store(c)  # stored once per community
    assert store["is_staff"].tolist() == [False, True, False, False, False]
    assert store["is_bot"].tolist() == [False, False, False, True, False]
    assert store["is_service"].tolist() == [False, False, False, False, True]
    kept = {
        (True, False): {"1", "2", "3"},
        (False, False): {"1", "3"},
        (True, True): {"1", "2", "3", "4"},
        (False, True): {"1", "3", "4"},
    }
    # the join keys: DuckDB hashes, one per id, the same key wherever an id appears
    ms = message_store(c)
    assert str(ms.schema()["message_key"]) == "uint64"
    keys = c.execute(  # as text: pandas would read a key column with nulls as float
        ms.select("message_id", **{k: ms[k].cast("string") for k in KEYS})
    ).set_index("message_id")
    key_of = keys["message_key"].to_dict()
    assert len(set(key_of.values())) == len(key_of)
    for column in ("thread_id", "reply_to_id"):
        ids = c.messages.execute().set_index("message_id")[column].reindex(keys.index)
        want = [key_of.get(i) if isinstance(i, str) else None for i in ids]
        got = [None if pd.isna(k) else k for k in keys[column.replace("_id", "_key")]]
        assert got == want, column
    # one member key per member, a different one for every member
    members = c.execute(ms.select("member_id", k=ms.member_key.cast("string"))).drop_duplicates()
    assert members["member_id"].is_unique and members["k"].is_unique
    assert set(members["member_id"]) == {"a", "s", "b", "bot"}
    for (staff, bots), ids in kept.items():
        stored = shared_included_messages(c, include_staff=staff, include_bots=bots)
        assert shared_included_messages(c, include_staff=staff, include_bots=bots) is stored
        expr = included_messages(c, include_staff=staff, include_bots=bots)
        # timestamps keep their type (unions need it)
        assert stored.schema()["created_at"] == expr.schema()["created_at"]
        key = ["message_id"]
        got = c.execute(stored).sort_values(key, ignore_index=True)
        want = c.execute(expr).sort_values(key, ignore_index=True)
        same = ["message_id", "channel_id", "member_id", "created_at", "reply_source", "is_staff"]
        pd.testing.assert_frame_equal(got[same], want[same])
        pd.testing.assert_series_equal(
            got["reply_to_key"].isna(), want["reply_to_id"].isna(), check_names=False
        )
        assert set(got["message_id"]) == ids


def _length_hash(ids):
    """Every id of one length gets the same key: message ids and member ids collide."""
    return ids.length().cast("uint64")


def _member_collision_hash(ids):
    """Numeric ids (the messages here) keep distinct keys of their own (1000 + the number);
    other ids (the members, the missing root ``x0``) get their length: ``a``, ``b`` and ``s``
    share one key, and no dangling id takes a message's key."""
    numeric = ids.re_search("^[0-9]+$")
    return ibis.ifelse(numeric, ids.cast("uint64") + 1000, ids.length().cast("uint64"))


def _message_collision_hash(ids):
    """Numeric ids (the messages here) get their length, so ``1`` and ``5`` share a key; other
    ids (the members, the missing root ``x0``) keep distinct keys of their own."""
    numeric = ids.re_search("^[0-9]+$")
    own = ids.length().cast("uint64") * 1000 + ids.ascii_str().cast("uint64")
    return ibis.ifelse(numeric, ids.length().cast("uint64"), own)


@pytest.mark.parametrize("collide", [_length_hash, _member_collision_hash, _message_collision_hash])
def test_colliding_keys_fall_back_to_the_ids_with_the_same_results(
    threads_community, monkeypatch, collide
):
    """A hash under which ids collide: the store's check finds the collision (among message
    ids, or among member ids only) and keys the messages by their ids; every thread metric
    stays the same."""
    from analysis.health import included

    def results(c: Community) -> list:
        return [
            thread_table(c),
            response_rate(c, period="week").to_frame(),
            discussion_depth(c, period="week").to_frame(),
            member_to_member_share(c, period="week").to_frame(),
            nc.newcomer_welcome(c, period="week").to_frame(),
        ]

    tables = {name: threads_community.tables[name].execute() for name in ("members", "messages")}
    fresh = Community.from_tables(Tables(**tables))
    want = results(threads_community)
    assert str(included.message_store(threads_community).schema()["message_key"]) == "uint64"
    monkeypatch.setattr(included, "_duckdb_hash", collide)
    got = results(fresh)
    assert str(included.message_store(fresh).schema()["message_key"]) == "string"
    for g, w in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(g, w)


def _pandas_sessions(messages: pd.DataFrame, gap_s: int) -> pd.DataFrame:
    """Sessions straight from the definition: per channel, sort by second, cut at gaps > gap."""
    epoch = pd.Timestamp(0, tz="UTC")
    m = messages.assign(t=(messages["created_at"] - epoch) // pd.Timedelta(seconds=1))
    m = m.sort_values(["channel_id", "t"], kind="stable")
    new = m.groupby("channel_id")["t"].diff().isna() | (m.groupby("channel_id")["t"].diff() > gap_s)
    m["session"] = new.astype("int64").groupby(m["channel_id"]).cumsum()
    out = m.groupby(["channel_id", "session"], as_index=False).agg(
        n_messages=("t", "size"),
        participants=("member_id", "nunique"),
        first_t=("t", "min"),
        last_t=("t", "max"),
    )
    return out.assign(duration_seconds=out["last_t"] - out["first_t"])


@pytest.mark.parametrize("gap", ["30min", "7min", "1s"])
def test_sessions_equal_a_plain_sort_and_cut(gap):
    # random seconds with many gaps near the threshold and near bucket edges, some before
    # 1970 (bucket = floor, not truncation), three channels, ties at one second
    rng = np.random.default_rng(5)
    gap_s = int(pd.Timedelta(gap).total_seconds())
    steps = rng.choice([0, 1, gap_s - 1, gap_s, gap_s + 1, 2 * gap_s, 5], size=600)
    seconds = -40 * gap_s + np.cumsum(steps)
    rng.shuffle(seconds)
    stamps = pd.to_datetime(seconds, unit="s", utc=True)
    rows = [(str(i), ["a", "b", "s"][i % 3], ts.isoformat(), None) for i, ts in enumerate(stamps)]
    channels = {str(i): f"tg:{rng.integers(3)}" for i in range(len(rows))}
    c = _community(MEMBERS, rows, channels=channels)
    got = c.execute(sessions_expr(c, gap=gap)).sort_values(["channel_id", "session"])
    msgs = c.execute(c.messages)
    msgs["created_at"] = pd.to_datetime(msgs["created_at"], utc=True)
    want = _pandas_sessions(msgs, gap_s)
    assert len(want) > 20  # many sessions, so the cuts are tested
    for col in ("session", "n_messages", "participants", "duration_seconds"):
        assert got[col].astype("int64").tolist() == want[col].tolist(), col


def test_missing_root_count_only_counts_threads_whose_root_is_nowhere_in_the_export():
    from analysis.health.thread_table import missing_root_threads_expr

    msgs = make_messages(
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "b", "2024-01-01 10:05", "1"),
            # two replies in one thread whose root x0 is missing: one missing thread
            ("10", "a", "2024-01-02 10:00", "x0"),
            ("11", "b", "2024-01-02 10:05", "10"),
            # roots that exist but are not counted: a bot's root and a service message
            ("13", "bot", "2024-01-03 10:00", None),
            ("14", "a", "2024-01-03 10:05", "13"),
            ("20", "b", "2024-01-04 10:00", None, "service"),
            ("21", "a", "2024-01-04 10:05", "20"),
            # an export whose thread_id names a message that is itself a reply ("30"): the
            # root is in the export, only not among the messages that reply to nothing
            ("30", "a", "2024-01-05 10:00", "1"),
            ("31", "b", "2024-01-05 10:05", "30"),
        ]
    )
    msgs.loc[msgs["message_id"] == "31", "thread_id"] = "30"
    c = Community.from_tables(Tables(members=make_members(MEMBERS), messages=msgs))
    assert c.execute(missing_root_threads_expr(c)) == 1
    # with the bots' messages counted, the bot thread is a thread and still not missing
    assert c.execute(missing_root_threads_expr(c, include_bots=True)) == 1
