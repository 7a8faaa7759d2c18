"""The member-day table and the member metrics read from it, against per-event implementations.

A seeded random community with what makes the shortcuts risky: several messages of one member in
one second (first-message ties), days whose events straddle a period-since-join boundary, events
before a member's recorded join, service messages, staff and bots, and attributed and
unattributed reactions. Every number is compared with a direct implementation over the events
(pandas, or the per-event ibis expressions the fast paths replace); they must be equal, not close.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health import member_days as md
from analysis.health.activity import _assemble as assemble_activity
from analysis.health.activity import activity, activity_expr, joins_expr, members_included
from analysis.health.concentration import concentration, gini
from analysis.health.engine_cache import clear
from analysis.health.newcomer_table import newcomer_flags, newcomer_table
from analysis.health.periods import period_end, period_floor
from analysis.health.retention import cohort_retention, weekly_return
from analysis.schema import Tables

START = pd.Timestamp("2024-01-01", tz="UTC")
DAY = 86_400


def _random_tables(seed: int, with_reactions: bool) -> Tables:
    rng = np.random.default_rng(seed)
    n_members, n_messages = 80, 700
    ids = [f"u{i}" for i in range(n_members)]
    joined = START + pd.to_timedelta(rng.integers(-20 * DAY, 90 * DAY, n_members), unit="s")
    members = pd.DataFrame(
        {
            "member_id": ids,
            "platform": "telegram",
            "joined_at": joined,
            "source": rng.choice(["ads", "organic", None], n_members),
            "is_staff": [i < 3 for i in range(n_members)],
            "is_bot": [3 <= i < 5 for i in range(n_members)],
            "display_name": None,
            "referred_by": None,
        }
    )
    weight = rng.lognormal(0.0, 1.5, n_members)
    author = rng.choice(n_members, n_messages, p=weight / weight.sum())
    seconds = rng.integers(0, 120 * DAY, n_messages)
    # ties: some messages share the second of an earlier message of the same author
    tie = rng.random(n_messages) < 0.1
    seconds[1:][tie[1:]] = seconds[:-1][tie[1:]]
    author[1:][tie[1:]] = author[:-1][tie[1:]]
    created = START + pd.to_timedelta(seconds, unit="s")
    order = np.argsort(seconds, kind="stable")
    author, created = author[order], created[order]
    mids = [f"m{i:04d}" for i in rng.permutation(n_messages)]  # id order is not time order
    parent = [None] + [
        mids[int(rng.integers(0, i))] if rng.random() < 0.6 else None for i in range(1, n_messages)
    ]
    thread = []
    for i, p in enumerate(parent):
        thread.append(mids[i] if p is None else thread[mids.index(p)])
    messages = pd.DataFrame(
        {
            "message_id": mids,
            "platform": "telegram",
            "channel_id": rng.choice(["tg:1", "tg:2"], n_messages),
            "thread_id": thread,
            "member_id": [ids[a] for a in author],
            "created_at": created,
            "reply_to_id": parent,
            "reply_source": ["explicit" if p else "none" for p in parent],
            "kind": np.where(rng.random(n_messages) < 0.05, "service", "message"),
            "text": None,
            "text_len": 0,
            "n_reactions": 0,
        }
    )
    reactions = None
    if with_reactions:
        n = 150
        target = rng.integers(0, n_messages, n)
        reacted = created[target] + pd.to_timedelta(rng.integers(0, 3 * DAY, n), unit="s")
        known = rng.random(n) < 0.8
        reactions = pd.DataFrame(
            {
                "message_id": [mids[t] for t in target],
                "member_id": [ids[int(a)] for a in rng.integers(0, n_members, n)],
                "emoji": "x",
                "count": 1,
                "reacted_at": pd.Series(reacted).where(known),
            }
        )
        reactions = reactions.drop_duplicates(["message_id", "member_id"])
    return Tables(members=members, messages=messages, reactions=reactions)


@pytest.fixture(params=[False, True], ids=["messages", "with_reactions"], scope="module")
def tables(request) -> Tables:
    return _random_tables(7, request.param)


@pytest.fixture
def community(tables) -> Community:
    return Community.from_tables(tables)


def _events(tables: Tables) -> pd.DataFrame:
    """member_id, s (whole seconds), is_message: messages and attributed reactions."""
    m = tables.messages[tables.messages["kind"] != "service"]
    ev = [pd.DataFrame({"member_id": m["member_id"], "at": m["created_at"], "is_message": 1})]
    if tables.reactions is not None:
        r = tables.reactions.dropna(subset=["member_id", "reacted_at"])
        ev.append(
            pd.DataFrame({"member_id": r["member_id"], "at": r["reacted_at"], "is_message": 0})
        )
    out = pd.concat(ev, ignore_index=True)
    out["s"] = out["at"].astype("int64") // 10**9
    return out


def _counted(tables: Tables, include_staff: bool, include_bots: bool) -> set[str]:
    m = tables.members
    keep = (m["is_staff"] <= include_staff) & (m["is_bot"] <= include_bots)
    return set(m.loc[keep, "member_id"])


def test_member_days_equal_a_groupby_of_the_events(community, tables):
    got = community.execute(md.member_days(community))
    ev = _events(tables)
    ev["day"] = ev["s"] // DAY
    msgs = ev[ev["is_message"] == 1]
    want = ev.groupby(["member_id", "day"]).agg(first_s=("s", "min"), last_s=("s", "max"))
    want["messages"] = msgs.groupby(["member_id", "day"]).size()
    want["msg_first_s"] = msgs.groupby(["member_id", "day"])["s"].min()
    want["msg_last_s"] = msgs.groupby(["member_id", "day"])["s"].max()
    want["messages"] = want["messages"].fillna(0).astype("int64")
    got = got.set_index(["member_id", "day"]).sort_index()[want.columns]
    pd.testing.assert_frame_equal(got, want.sort_index(), check_dtype=False)
    # built once per community
    assert md.member_days(community).op() is md.member_days(community).op()


@pytest.mark.parametrize("staff, bots", [(True, False), (False, False), (False, True)])
def test_drop_excluded_keeps_the_counted_members(community, tables, staff, bots):
    got = community.execute(md.member_days_of(community, include_staff=staff, include_bots=bots))
    assert set(got["member_id"]) == _counted(tables, staff, bots) & set(got["member_id"])
    assert md.excluded_members(community, include_staff=True, include_bots=True) is None
    members = members_included(community, include_staff=staff, include_bots=bots)
    assert set(community.execute(members)["member_id"]) == _counted(tables, staff, bots)


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_period_ordinals_name_the_calendar_periods(period):
    rng = np.random.default_rng(1)
    stamps = pd.Series(
        pd.Timestamp("1999-12-20", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 40 * 365 * DAY, 2000), unit="s")
    )
    days = pd.Series(stamps.astype("int64") // 10**9 // DAY)
    t = ibis.memtable(pd.DataFrame({"day": days}))
    con = Community.from_tables(_random_tables(0, False)).backend
    ordinals = con.execute(t.select(o=md.period_ordinal(t.day, period)))["o"]
    starts = md.ordinal_starts(ordinals, period)
    pd.testing.assert_series_equal(
        starts.reset_index(drop=True),
        period_floor(stamps, period).reset_index(drop=True),
        check_names=False,
    )
    # the next ordinal is the next period
    pd.testing.assert_series_equal(
        md.ordinal_starts(ordinals + 1, period), period_end(starts, period), check_names=False
    )


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("staff, bots", [(True, False), (False, True)])
def test_activity_equals_the_per_event_expression(community, period, staff, bots):
    kw = {"period": period, "include_staff": staff, "include_bots": bots}
    got = activity(community, **kw).frame
    want = assemble_activity(
        community.execute(activity_expr(community, **kw)),
        community.execute(joins_expr(community, **kw)),
        period,
    )
    pd.testing.assert_frame_equal(got.drop(columns="complete"), want)
    # a second call is served from the memo, as its own copy
    again = activity(community, **kw).frame
    again.loc[0, "messages"] = -1
    assert activity(community, **kw).frame.loc[0, "messages"] == got.loc[0, "messages"]


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_retained_equals_set_intersections(community, tables, period):
    r = weekly_return(community, period=period, include_staff=False).frame
    ev = _events(tables)
    ev = ev[ev["member_id"].isin(_counted(tables, False, False))]
    ev["p"] = period_floor(pd.to_datetime(ev["s"], unit="s", utc=True), period)
    sets = ev.groupby("p")["member_id"].agg(set)
    index = list(r["period_start"])
    want = [0] + [
        len(sets.get(index[i - 1], set()) & sets.get(index[i], set())) for i in range(1, len(index))
    ]
    assert r["retained"].tolist() == want
    assert sum(want) > 10


@pytest.mark.parametrize("cohort", ["week", "month"])
@pytest.mark.parametrize("by", [None, "source"])
def test_cohort_cells_equal_per_event_periods(community, tables, cohort, by):
    got = cohort_retention(community, cohort=cohort, by=by, max_periods=6).frame
    length = {"week": 7, "month": 30}[cohort] * DAY
    mem = tables.members[~tables.members["is_bot"]].copy()
    mem["joined_s"] = mem["joined_at"].astype("int64") // 10**9
    mem["cohort_start"] = period_floor(mem["joined_at"], cohort)
    mem["source"] = mem["source"].fillna("unknown")
    ev = _events(tables).merge(mem, on="member_id")
    off = ev["s"] - ev["joined_s"]
    ev = ev.assign(period=off // length)[(off >= 0) & (off // length < 6)]
    keys = ["source", "cohort_start"] if by else ["cohort_start"]
    want = ev.groupby([*keys, "period"])["member_id"].nunique()
    got = got[got["active"] > 0].set_index([*keys, "period"])["active"]
    assert got.to_dict() == want.to_dict()
    # the random joins put day boundaries of events inside periods: both sides reached
    assert len(want) > 10


@pytest.mark.parametrize("period", [None, "week"])
def test_concentration_equals_the_rank_formula(community, tables, period):
    c = concentration(community, period=period, include_staff=False)
    ev = _events(tables)
    ev = ev[(ev["is_message"] == 1) & ev["member_id"].isin(_counted(tables, False, False))]
    if period is None:
        x = ev.groupby("member_id").size()
        assert c.messages == int(x.sum()) and c.authors == len(x)
        assert c.gini_authors == pytest.approx(gini(x), abs=1e-12)
        top = x.sort_values(ascending=False)
        assert c.top5_share == pytest.approx(top.head(5).sum() / x.sum(), abs=1e-12)
    else:
        ev["p"] = period_floor(pd.to_datetime(ev["s"], unit="s", utc=True), "week")
        x = ev.groupby(["p", "member_id"]).size()
        f = c.frame.set_index("period_start")
        for p, g in x.groupby(level=0):
            assert f.loc[p, "messages"] == int(g.sum())
            assert f.loc[p, "gini_authors"] == pytest.approx(gini(g), abs=1e-12)


def _brute_newcomers(tables: Tables, staff: bool, bots: bool) -> pd.DataFrame:
    m = tables.messages[tables.messages["kind"] != "service"].copy()
    m["s"] = m["created_at"].astype("int64") // 10**9
    own = m[m["member_id"].isin(_counted(tables, staff, bots))]
    own = own.sort_values(["member_id", "created_at", "message_id"])
    first = own.groupby("member_id").head(1).set_index("member_id")
    rows = {}
    for member, g in own.groupby("member_id"):
        f = first.loc[member]
        off = g.loc[g["message_id"] != f["message_id"], "s"] - f["s"]
        rows[member] = {
            "first_message_id": f["message_id"],
            "returned": bool(((off >= 7 * DAY) & (off < 35 * DAY)).any()),
            "repeat_1d": bool(((off > 0) & (off <= DAY)).any()),
            "repeat_7d": bool(((off > 0) & (off <= 7 * DAY)).any()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


@pytest.mark.parametrize("staff, bots", [(False, False), (True, True)])
def test_newcomer_flags_equal_testing_every_message(community, tables, staff, bots):
    kw = {"include_staff": staff, "include_bots": bots, "repeat_days": (1, 7)}
    t = newcomer_table(community, **kw).set_index("member_id").sort_index()
    want = _brute_newcomers(tables, staff, bots)
    assert t.index.tolist() == want.index.tolist()
    for col in want.columns:
        assert t[col].tolist() == want[col].tolist(), col
    assert 0 < want["returned"].sum() < len(want) and 0 < want["repeat_1d"].sum() < len(want)
    # the numeric frame the metrics read holds the same values, in another order
    flags = newcomer_flags(community, **kw)
    cols = [c for c in flags.columns]
    a = flags.sort_values(cols[:2], kind="stable").reset_index(drop=True)
    b = t.reset_index()[cols].sort_values(cols[:2], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        a.sort_values(list(a.columns)).reset_index(drop=True),
        b.sort_values(list(b.columns)).reset_index(drop=True),
    )
    clear(community)


def test_a_day_straddling_a_period_boundary_counts_in_both_periods():
    """a joins Monday 1 Jan 12:00; on 8 Jan a writes at 06:00 (day 6, period 0) and 18:00
    (period 1): both periods count, though the two messages share one member-day. b joins
    1 Jan 12:00 too and writes at 06:00 that day (before joining: ignored) and 18:00 (period 0).
    c bounds the data."""
    from tests.conftest import make_members, make_messages

    members = make_members(
        [
            ("a", "2024-01-01 12:00", False, False),
            ("b", "2024-01-01 12:00", False, False),
            ("c", "2023-12-01", False, False),
        ]
    )
    messages = make_messages(
        [
            ("m0", "c", "2023-12-31 00:00", None),
            ("m1", "a", "2024-01-08 06:00", None),
            ("m2", "a", "2024-01-08 18:00", None),
            ("m3", "b", "2024-01-01 06:00", None),
            ("m4", "b", "2024-01-01 18:00", None),
            ("m5", "c", "2024-03-01 00:00", None),
        ]
    )
    c = Community.from_tables(Tables(members=members, messages=messages))
    f = cohort_retention(c, cohort="week", max_periods=3).frame
    jan = f[f["cohort_start"] == pd.Timestamp("2024-01-01")].set_index("period")["active"]
    # period 0: b (18:00 on join day) and a (8 Jan 06:00); period 1: a (8 Jan 18:00)
    assert jan.to_dict() == {0: 2, 1: 1, 2: 0}


@pytest.mark.parametrize("period", ["week", "month"])
def test_member_periods_are_the_same_from_events_and_from_member_days(tables, period):
    kw = {"include_staff": False, "include_bots": False}
    direct_c = Community.from_tables(tables)
    direct = direct_c.execute(md.member_periods(direct_c, period, **kw))
    assert not md._state(direct_c).get("built")  # one pass over the events, no member-days
    derived_c = Community.from_tables(tables)
    md.member_days(derived_c)
    derived = derived_c.execute(md.member_periods(derived_c, period, **kw))
    a, b = (f.sort_values(["member_id", "ordinal"], ignore_index=True) for f in (direct, derived))
    assert len(a) > 50
    pd.testing.assert_frame_equal(a, b)
    # and activity on top of either is the per-event expression's
    for c in (direct_c, derived_c):
        got = activity(c, period=period, include_staff=False).frame
        want = assemble_activity(
            c.execute(activity_expr(c, period=period, include_staff=False)),
            c.execute(joins_expr(c, period=period, include_staff=False)),
            period,
        )
        pd.testing.assert_frame_equal(got.drop(columns="complete"), want)
