"""Weekly and monthly member counts from period bit masks, against per-event implementations.

:func:`analysis.health.active_periods.member_activity_counts` packs each member's active weeks
and months into 64-bit words (63 bits each) and sums the bits on the engine. The risky parts are
the word boundaries (week 62 → 63 of the data is bit 62 of word 0 → bit 0 of word 1, and the
retained count of week 63 reads both words), the reactions (authors get masks of their own) and
the fallback to the pair tables for long spans. A seeded community over ~3.5 years (183 weeks,
three words) with a member active every week (so every boundary has a retained member) is
compared with the per-event ibis expression and with pandas set intersections; equal, not close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health import active_periods
from analysis.health.activity import _assemble as assemble_activity
from analysis.health.activity import activity, activity_expr, joins_expr
from analysis.health.engine_cache import clear
from analysis.health.periods import period_floor
from analysis.health.retention import cohort_retention, usage, weekly_return
from analysis.schema import Tables

START = pd.Timestamp("2021-03-03", tz="UTC")
DAY = 86_400
WEEKS = 183


def _long_tables(seed: int, with_reactions: bool) -> Tables:
    rng = np.random.default_rng(seed)
    n_members, n_random = 40, 900
    ids = [f"u{i}" for i in range(n_members)]
    joined = START + pd.to_timedelta(rng.integers(-30 * DAY, 400 * DAY, n_members), unit="s")
    members = pd.DataFrame(
        {
            "member_id": ids,
            "platform": "telegram",
            "joined_at": joined,
            "source": None,
            "is_staff": [i == 1 for i in range(n_members)],
            "is_bot": [i == 2 for i in range(n_members)],
            "display_name": None,
            "referred_by": None,
        }
    )
    # u0 writes every Wednesday at noon (START is a Wednesday), the others at random
    weekly = np.arange(WEEKS) * 7 * DAY + DAY // 2
    seconds = np.concatenate([weekly, rng.integers(0, WEEKS * 7 * DAY, n_random)])
    weight = rng.lognormal(0.0, 1.2, n_members)
    author = np.concatenate(
        [np.zeros(WEEKS, dtype=int), rng.choice(n_members, n_random, p=weight / weight.sum())]
    )
    order = np.argsort(seconds, kind="stable")
    seconds, author = seconds[order], author[order]
    n = len(seconds)
    created = START + pd.to_timedelta(seconds, unit="s")
    mids = [f"m{i:05d}" for i in range(n)]
    messages = pd.DataFrame(
        {
            "message_id": mids,
            "platform": "telegram",
            "channel_id": "tg:1",
            "thread_id": mids,
            "member_id": [ids[a] for a in author],
            "created_at": created,
            "reply_to_id": None,
            "reply_source": "none",
            "kind": np.where((rng.random(n) < 0.05) & (author > 0), "service", "message"),
            "text": None,
            "text_len": 0,
            "n_reactions": 0,
        }
    )
    reactions = None
    if with_reactions:
        k = 300
        target = rng.integers(0, n, k)
        reacted = created[target] + pd.to_timedelta(rng.integers(0, 20 * DAY, k), unit="s")
        reactions = pd.DataFrame(
            {
                "message_id": [mids[t] for t in target],
                "member_id": [ids[int(a)] for a in rng.integers(3, n_members, k)],
                "emoji": "x",
                "count": 1,
                "reacted_at": pd.Series(reacted).where(rng.random(k) < 0.8),
            }
        ).drop_duplicates(["message_id", "member_id"])
    return Tables(members=members, messages=messages, reactions=reactions)


@pytest.fixture(params=[False, True], ids=["messages", "with_reactions"], scope="module")
def tables(request) -> Tables:
    return _long_tables(11, request.param)


def _events(tables: Tables, staff: bool, bots: bool) -> pd.DataFrame:
    """member_id, at, is_message of the counted members: messages and attributed reactions."""
    m = tables.messages[tables.messages["kind"] != "service"]
    ev = [pd.DataFrame({"member_id": m["member_id"], "at": m["created_at"], "is_message": 1})]
    if tables.reactions is not None:
        r = tables.reactions.dropna(subset=["member_id", "reacted_at"])
        ev.append(
            pd.DataFrame({"member_id": r["member_id"], "at": r["reacted_at"], "is_message": 0})
        )
    out = pd.concat(ev, ignore_index=True)
    mem = tables.members
    keep = mem.loc[(mem["is_staff"] <= staff) & (mem["is_bot"] <= bots), "member_id"]
    return out[out["member_id"].isin(set(keep))]


@pytest.mark.parametrize("period", ["week", "month"])
@pytest.mark.parametrize("staff, bots", [(True, False), (False, True)])
def test_mask_counts_equal_the_per_event_expression(tables, period, staff, bots):
    community = Community.from_tables(tables)
    kw = {"period": period, "include_staff": staff, "include_bots": bots}
    got = activity(community, **kw).frame
    want = assemble_activity(
        community.execute(activity_expr(community, **kw)),
        community.execute(joins_expr(community, **kw)),
        period,
    )
    pd.testing.assert_frame_equal(got.drop(columns="complete"), want)
    if period == "week":
        assert len(got) > 2 * 63  # three mask words
    if tables.reactions is not None:  # reactions make actives differ from authors somewhere
        assert (got["active_members"] > got["authors"]).any()


@pytest.mark.parametrize("period", ["week", "month"])
def test_retained_across_mask_words_equals_set_intersections(tables, period):
    community = Community.from_tables(tables)
    r = weekly_return(community, period=period).frame
    ev = _events(tables, True, False)
    ev["p"] = period_floor(ev["at"], period)
    sets = ev.groupby("p")["member_id"].agg(set)
    index = list(r["period_start"])
    want = [0] + [
        len(sets.get(index[i - 1], set()) & sets.get(index[i], set())) for i in range(1, len(index))
    ]
    assert r["retained"].tolist() == want
    # u0 is active every week: every week after the first has a retained member, including
    # weeks 63 and 126 of the data, whose previous week is in the previous mask word
    if period == "week":
        assert min(want[1:WEEKS]) >= 1 and len(want) > 2 * 63 + 1


def test_long_spans_fall_back_to_the_pair_tables(tables, monkeypatch):
    masked = Community.from_tables(tables)
    results = {
        "activity": activity(masked, period="week").frame,
        "monthly": activity(masked, period="month").frame,
        "return": weekly_return(masked, period="week").frame,
        "usage": usage(masked, period="month").frame,
    }
    assert (
        active_periods.member_activity_counts(
            masked, "week", include_staff=True, include_bots=False
        )
        is not None
    )
    monkeypatch.setattr(active_periods, "MAX_MASK_PERIODS", WEEKS - 1)  # one week too short
    pairs = Community.from_tables(tables)
    assert (
        active_periods.member_activity_counts(pairs, "week", include_staff=True, include_bots=False)
        is None
    )
    pd.testing.assert_frame_equal(activity(pairs, period="week").frame, results["activity"])
    pd.testing.assert_frame_equal(activity(pairs, period="month").frame, results["monthly"])
    pd.testing.assert_frame_equal(weekly_return(pairs, period="week").frame, results["return"])
    pd.testing.assert_frame_equal(usage(pairs, period="month").frame, results["usage"])
    clear(pairs)


def test_daily_counts_equal_a_groupby_of_the_events(tables):
    community = Community.from_tables(tables)
    got = active_periods.member_activity_counts(
        community, "day", include_staff=False, include_bots=False
    )
    ev = _events(tables, False, False)
    ev["day"] = ev["at"].astype("int64") // 10**9 // DAY
    want = ev.groupby("day").agg(
        messages=("is_message", "sum"), active_members=("member_id", "nunique")
    )
    want["authors"] = ev[ev["is_message"] == 1].groupby("day")["member_id"].nunique()
    want = want.fillna(0).astype("int64").reset_index().rename(columns={"day": "ordinal"})
    pd.testing.assert_frame_equal(got, want[["ordinal", "messages", "authors", "active_members"]])


@pytest.mark.parametrize("by", [None, "source"])
def test_cohort_cells_over_several_mask_words_equal_per_event_periods(tables, by):
    """Weekly cohorts with 130 periods since join: three mask words of 63 bits per member."""
    community = Community.from_tables(tables)
    got = cohort_retention(community, cohort="week", by=by, max_periods=130).frame
    mem = tables.members[~tables.members["is_bot"]].copy()
    mem["joined_s"] = mem["joined_at"].astype("int64") // 10**9
    mem["cohort_start"] = period_floor(mem["joined_at"], "week")
    mem["source"] = mem["source"].fillna("unknown")
    ev = _events(tables, True, False)
    ev = ev.assign(s=ev["at"].astype("int64") // 10**9).merge(mem, on="member_id")
    off = ev["s"] - ev["joined_s"]
    ev = ev.assign(period=off // (7 * DAY))[(off >= 0) & (off // (7 * DAY) < 130)]
    keys = ["source", "cohort_start"] if by else ["cohort_start"]
    want = ev.groupby([*keys, "period"])["member_id"].nunique()
    got = got[got["active"] > 0].set_index([*keys, "period"])["active"]
    assert got.to_dict() == want.to_dict()
    # u0 is active in every week since joining: cells in the second and third words
    assert want.index.get_level_values("period").max() > 2 * 63
