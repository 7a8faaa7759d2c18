"""The shared first-message and reply tables, and whole seconds on DuckDB, against pandas.

A seeded community with what the engine queries can get wrong: several messages of one member at
the same instant (first-message ties broken by ``message_id``, which is not time order), replies
at the same instant as another reply to the same first message (the ladder's tie break), thread
messages that also reply directly (listed once), service messages, staff and bot responders and
self-replies. Every table is compared with a direct pandas implementation of the definitions;
they must be equal, not close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health import member_days as md
from analysis.health.engine_cache import clear
from analysis.health.first_messages import (
    first_messages,
    first_messages_expr,
    first_replies,
    first_replies_expr,
)
from analysis.health.ladder_counts import first_responses_expr, ladder_counts
from analysis.health.newcomer_table import newcomer_table
from analysis.health.periods import epoch_seconds
from analysis.schema import Tables

START = pd.Timestamp("2024-03-01", tz="UTC")
DAY = 86_400


def _tables(seed: int) -> Tables:
    rng = np.random.default_rng(seed)
    n_members, n_messages = 60, 900
    ids = [f"u{i:02d}" for i in range(n_members)]
    members = pd.DataFrame(
        {
            "member_id": ids,
            "platform": "telegram",
            "joined_at": START - pd.Timedelta(days=1),
            "source": None,
            "is_staff": [i < 3 for i in range(n_members)],
            "is_bot": [3 <= i < 6 for i in range(n_members)],
            "display_name": None,
            "referred_by": None,
        }
    )
    weight = rng.lognormal(0.0, 1.4, n_members)  # skew: a few members write most
    author = rng.choice(n_members, n_messages, p=weight / weight.sum())
    ms = rng.integers(0, 60 * DAY * 1000, n_messages)  # milliseconds: fractional seconds
    tie = rng.random(n_messages) < 0.15  # same instant as the previous message
    ms[1:][tie[1:]] = ms[:-1][tie[1:]]
    same_author = rng.random(n_messages) < 0.5
    author[1:][tie[1:] & same_author[1:]] = author[:-1][tie[1:] & same_author[1:]]
    order = np.argsort(ms, kind="stable")
    author, ms = author[order], ms[order]
    mids = [f"m{i:04d}" for i in rng.permutation(n_messages)]  # id order is not time order
    parent: list[str | None] = [None]
    for i in range(1, n_messages):
        if rng.random() < 0.6:
            # replies to recent messages, often the same one (several replies at one instant)
            parent.append(mids[int(rng.integers(max(0, i - 30), i))])
        else:
            parent.append(None)
    thread: list[str] = []
    for i, p in enumerate(parent):
        thread.append(mids[i] if p is None else thread[mids.index(p)])
    messages = pd.DataFrame(
        {
            "message_id": mids,
            "platform": "telegram",
            "channel_id": rng.choice(["tg:1", "tg:2"], n_messages),
            "thread_id": thread,
            "member_id": [ids[a] for a in author],
            "created_at": START + pd.to_timedelta(ms, unit="ms"),
            "reply_to_id": parent,
            "reply_source": ["explicit" if p else "none" for p in parent],
            "kind": np.where(rng.random(n_messages) < 0.05, "service", "message"),
            "text": None,
            "text_len": 0,
            "n_reactions": 0,
        }
    )
    return Tables(members=members, messages=messages, reactions=None)


@pytest.fixture(scope="module")
def tables() -> Tables:
    return _tables(11)


@pytest.fixture
def community(tables) -> Community:
    c = Community.from_tables(tables)
    yield c
    clear(c)


BOTS = [f"u{i:02d}" for i in range(3, 6)]


def _messages(tables: Tables, bots: bool) -> pd.DataFrame:
    """Non-service messages; without the bots' messages unless ``bots``."""
    m = tables.messages[tables.messages["kind"] != "service"]
    return m if bots else m[~m["member_id"].isin(BOTS)]


def _firsts(tables: Tables, bots: bool = True) -> pd.DataFrame:
    m = _messages(tables, bots).sort_values(["member_id", "created_at", "message_id"])
    return m.groupby("member_id").head(1).set_index("member_id")


def _replies(tables: Tables, bots: bool = True) -> pd.DataFrame:
    """Every (first message, reply) pair by the definitions, by brute force (without bot
    newcomers and bot replies unless ``bots``)."""
    m = _messages(tables, bots)
    rows = []
    for member, f in _firsts(tables, bots).iterrows():
        fid = f["message_id"]
        other = m[m["member_id"] != member]
        direct = other[other["reply_to_id"] == fid]
        rows += [
            (member, fid, r.member_id, r.created_at, r.message_id, True)
            for r in direct.itertuples()
        ]
        if f["reply_to_id"] is None:
            thread = other[(other["thread_id"] == fid) & (other["reply_to_id"] != fid)]
            rows += [
                (member, fid, r.member_id, r.created_at, None, False) for r in thread.itertuples()
            ]
    cols = ["member_id", "first_message_id", "a_member", "a_at", "a_id", "direct"]
    return pd.DataFrame(rows, columns=cols)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["a_at"] = pd.to_datetime(frame["a_at"], utc=True)
    frame["a_id"] = frame["a_id"].astype(object).where(frame["a_id"].notna(), None)
    frame["direct"] = frame["direct"].astype(bool)
    keys = ["member_id", "first_message_id", "a_member", "a_at", "direct"]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("bots", [False, True])
def test_first_messages_equal_the_pandas_definition(community, tables, bots):
    stored = first_messages(community, include_bots=bots)
    got = community.execute(stored).set_index("member_id").sort_index()
    want = _firsts(tables, bots).sort_index()
    assert got.index.tolist() == want.index.tolist()
    assert got.index.isin(BOTS).any() == bots
    assert got["first_message_id"].tolist() == want["message_id"].tolist()
    assert got["channel_id"].tolist() == want["channel_id"].tolist()
    assert got["first_is_root"].tolist() == want["reply_to_id"].isna().tolist()
    at = pd.to_datetime(got["first_at"], utc=True)
    assert (at == want["created_at"]).all()
    assert got["first_s"].tolist() == (want["created_at"].astype("int64") // 10**9).tolist()
    # the fixture has first-message ties that message_id breaks against time order
    m = _messages(tables, bots)
    at_first = m.merge(want[["created_at"]].reset_index(), on=["member_id", "created_at"])
    assert (at_first.groupby("member_id").size() > 1).any()
    # the unstored expression is the same table
    plain = first_messages_expr(community, include_bots=bots)
    plain = community.execute(plain).set_index("member_id").sort_index()
    pd.testing.assert_frame_equal(plain, got)


@pytest.mark.parametrize("bots", [False, True])
def test_first_replies_equal_the_pandas_definition(community, tables, bots):
    got = _sorted(community.execute(first_replies(community, include_bots=bots)))
    want = _sorted(_replies(tables, bots))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert want["direct"].any() and (~want["direct"]).any()
    assert want["a_member"].isin(BOTS).any() == bots  # bot responders
    assert want["member_id"].isin(BOTS).any() == bots  # bot newcomers
    plain = _sorted(community.execute(first_replies_expr(community, include_bots=bots)))
    pd.testing.assert_frame_equal(plain, got)


def test_tables_without_bots_read_the_stored_included_messages(community):
    """Without bots the tables are built from the thread metrics' stored included messages
    (staff in, bots out), not from the raw messages; with bots from every message."""
    from analysis.health.first_messages import source_messages
    from analysis.health.included import shared_included_messages

    src = source_messages(community, include_bots=False)
    assert src.op() is shared_included_messages(community, include_staff=True).op()
    assert source_messages(community, include_bots=True).op() is not src.op()
    # the two tables are stored once per community and switch
    assert first_replies(community).op() is first_replies(community, include_bots=False).op()
    assert first_messages(community).op() is not first_messages(community, include_bots=True).op()


def test_thread_messages_of_every_kind():
    """A first message that starts a thread: messages of the thread without ``reply_to_id``,
    replies to other thread messages, direct replies (listed once, as direct), the newcomer's
    own messages (never) and messages of other threads (never)."""
    from tests.conftest import make_members, make_messages

    members = make_members([(m, "2023-12-01", m == "s", False) for m in "nabcs"])
    t0 = pd.Timestamp("2024-01-01 10:00:00")

    def at(minutes: int) -> str:
        return (t0 + pd.Timedelta(minutes=minutes)).isoformat()

    messages = make_messages(
        [
            ("f", "n", at(0), None),  # n's first message, a thread root
            ("x", "a", at(1), None),  # a's first message, its own thread
            ("d", "b", at(2), "f"),  # direct reply to f
            ("e", "a", at(3), "d"),  # reply to d, in f's thread
            ("n2", "n", at(4), "e"),  # n's own message in the thread
            ("y", "c", at(5), "x"),  # reply to x: not f's thread
        ]
    )
    messages.loc[messages["message_id"].isin(["d", "e", "n2"]), "thread_id"] = "f"
    # a thread message without reply_to_id (a Slack-style thread message)
    extra = messages[messages["message_id"] == "y"].copy()
    extra["message_id"], extra["member_id"], extra["reply_to_id"] = "z", "s", None
    extra["reply_source"] = "none"
    extra["thread_id"], extra["created_at"] = "f", pd.Timestamp(at(6), tz="UTC")
    messages = pd.concat([messages, extra], ignore_index=True)
    c = Community.from_tables(Tables(members=members, messages=messages, reactions=None))
    for bots in (False, True):
        got = c.execute(first_replies(c, include_bots=bots))
        mine = got[got["first_message_id"] == "f"].sort_values("a_at")
        assert mine["a_member"].tolist() == ["b", "a", "s"]
        assert mine["direct"].tolist() == [True, False, False]
        assert mine["a_id"].tolist()[0] == "d"
        theirs = got[got["first_message_id"] == "x"]
        assert theirs["a_member"].tolist() == ["c"] and theirs["direct"].all()
    clear(c)


@pytest.mark.parametrize("bots", [False, True])
def test_newcomer_first_reply_equals_the_pandas_definition(community, tables, bots):
    t = newcomer_table(community, include_staff=True, include_bots=bots).set_index("member_id")
    r = _replies(tables, bots)
    want = r.groupby("member_id")["a_at"].min()
    got = t["first_reply_at"].dropna()
    assert sorted(got.index) == sorted(want.index.intersection(t.index))
    assert (got.sort_index() == want.loc[got.index].sort_index()).all()
    # whole seconds of each time (floored), subtracted, clipped at 0
    reply_s = want.loc[got.index].astype("int64") // 10**9
    first_s = t.loc[got.index, "first_at"].astype("int64") // 10**9
    assert t.loc[got.index, "reply_seconds"].tolist() == (reply_s - first_s).clip(lower=0).tolist()
    assert len(got) > 10


def test_ladder_first_responses_equal_the_plain_query(community, tables):
    """Responders credited by the ladder counts = the plain one-MIN formulation, with ties."""
    plain = community.execute(first_responses_expr(community))
    got = ladder_counts(community, period="month", window_days=None, include_staff=True)
    assert got is not None
    total = dict(zip(got.member_ids, got.first_responses.sum(axis=0), strict=True))
    want = plain.groupby("responder").size()
    assert {k: v for k, v in total.items() if v} == want.to_dict()
    # replies at the same instant to the same first message exist, so the tie break matters
    r = _replies(tables)
    r = r[r["direct"]]
    assert r.duplicated(["first_message_id", "a_at"], keep=False).any()


def test_epoch_seconds_floor_fractions_on_duckdb():
    """12:00:00.6 is second 12:00:00 (DuckDB used to round it up), and 23:59:59.6 stays that day."""
    at = pd.Series(
        pd.to_datetime(
            [
                "2024-01-01 12:00:00.600",
                "2024-01-01 23:59:59.600",
                "2024-01-02 00:00:00.000",
                "1969-12-31 23:59:59.400",
            ],
            utc=True,
        )
    )
    import ibis

    from analysis.data import duckdb_backend

    backend = duckdb_backend()
    t = backend.create_table("epoch_check", ibis.memtable(pd.DataFrame({"at": at})), temp=True)
    got = backend.execute(t.select(s=epoch_seconds(t.at)))["s"].tolist()
    want = [int(np.floor(x.value / 10**9)) for x in at]
    assert got == want
    assert got[1] // DAY == 19723 and got[2] // DAY == 19724
    assert got[3] == -1


def test_member_day_of_a_message_late_in_the_day(tables):
    """The member-day table puts a message at 23:59:59.6 on its own day (floor, not round)."""
    msgs = tables.messages.copy()
    msgs.loc[0, "created_at"] = pd.Timestamp("2024-03-05 23:59:59.600", tz="UTC")
    msgs.loc[0, "kind"] = "message"
    msgs = msgs.sort_values("created_at", kind="stable").reset_index(drop=True)
    c = Community.from_tables(Tables(members=tables.members, messages=msgs, reactions=None))
    days = c.execute(md.member_days(c))
    member = msgs.loc[msgs["created_at"] == pd.Timestamp("2024-03-05 23:59:59.600", tz="UTC")]
    who = member["member_id"].iloc[0]
    late = pd.Timestamp("2024-03-05 23:59:59", tz="UTC").value // 10**9
    row = days[(days["member_id"] == who) & (days["day"] == late // DAY)]
    assert len(row) == 1 and late in (row["first_s"].iloc[0], row["last_s"].iloc[0])
    clear(c)


def test_newcomer_windows_at_their_edges():
    """Later messages exactly at the window ends (the member-days beyond the longest window are
    dropped before the flags are aggregated): [7 d, 35 d) for return, (0, k d] for repeats."""
    from tests.conftest import make_members, make_messages

    t0 = "2024-01-01 10:00:00"
    at = {
        k: (pd.Timestamp(t0) + pd.Timedelta(seconds=s)).isoformat()
        for k, s in {
            "35d-1s": 35 * DAY - 1,
            "35d": 35 * DAY,
            "30d": 30 * DAY,
            "30d+1s": 30 * DAY + 1,
            "7d": 7 * DAY,
            "7d-1s": 7 * DAY - 1,
            "90d": 90 * DAY,
            "120d": 120 * DAY,
        }.items()
    }
    members = make_members(
        [(m, "2023-12-01", False, False) for m in "abcde"] + [("z", "2023-12-01", False, False)]
    )
    messages = make_messages(
        [
            ("a0", "a", t0, None),
            ("a1", "a", at["35d-1s"], None),  # returned, no repeat
            ("b0", "b", t0, None),
            ("b1", "b", at["35d"], None),
            ("b2", "b", at["90d"], None),
            ("c0", "c", t0, None),
            ("c1", "c", at["30d"], None),  # repeat_30d, returned
            ("d0", "d", t0, None),
            ("d1", "d", at["30d+1s"], None),
            ("d2", "d", at["7d-1s"], None),
            ("e0", "e", t0, None),
            ("e1", "e", at["7d"], None),  # repeat_7d and returned
            ("z0", "z", at["120d"], None),
        ]
    )
    c = Community.from_tables(Tables(members=members, messages=messages, reactions=None))
    t = newcomer_table(c).set_index("member_id")
    assert t["returned"].to_dict() == {
        "a": True,
        "b": False,
        "c": True,
        "d": True,
        "e": True,
        "z": False,
    }
    assert t["repeat_7d"].to_dict() == {
        "a": False,
        "b": False,
        "c": False,
        "d": True,
        "e": True,
        "z": False,
    }
    assert t["repeat_30d"].to_dict() == {
        "a": False,
        "b": False,
        "c": True,
        "d": True,
        "e": True,
        "z": False,
    }
    clear(c)


def test_reply_seconds_zero_unanswered_and_late():
    """``reply_seconds`` comes back as float64: 0 for a reply in the same second (or clock skew,
    clipped), NaN when never answered, whole seconds otherwise, in both newcomer frames."""
    from analysis.health.newcomer_table import newcomer_flags
    from tests.conftest import make_members, make_messages

    members = make_members([(m, "2023-12-01", False, False) for m in "nbcx"])
    messages = make_messages(
        [
            ("n0", "n", "2024-01-01 10:00:00.200", None),
            ("x0", "x", "2024-01-01 10:00:00.900", "n0"),  # same second: 0
            ("b0", "b", "2024-01-01 11:00:00", None),  # never answered: NaN
            ("c0", "c", "2024-01-01 12:00:00", None),
            ("x1", "x", "2024-01-01 12:01:30.700", "c0"),  # 90 s (whole seconds)
            ("c1", "c", "2024-01-03 12:00:00", "x1"),
        ]
    )
    c = Community.from_tables(Tables(members=members, messages=messages, reactions=None))
    table = newcomer_table(c).set_index("member_id")
    assert table["reply_seconds"].dtype == "float64"
    got = table["reply_seconds"].to_dict()
    assert got["n"] == 0.0 and got["c"] == 90.0 and np.isnan(got["b"])
    assert np.isnan(got["x"])  # x's first message is the reply to n, itself unanswered
    flags = newcomer_flags(c).sort_values("first_at", ignore_index=True)  # n, x, b, c
    assert flags["reply_seconds"].dtype == "float64"
    seconds = flags["reply_seconds"].tolist()
    assert seconds[0] == 0.0 and seconds[3] == 90.0 and np.isnan(seconds[1:3]).all()
    assert flags["answered_24h"].tolist() == [True, False, False, True]
    clear(c)
