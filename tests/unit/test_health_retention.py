"""Usage, return rate, cohort retention, engagement rate and concentration: hand-checked numbers.

Every expected number below is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health.activity import activity
from analysis.health.concentration import concentration, gini
from analysis.health.engagement import engagement_rate
from analysis.health.retention import cohort_retention, usage, weekly_return
from analysis.schema import Tables
from tests.conftest import make_members, make_messages, ts

matplotlib.use("Agg")


def _community(members, messages, reactions=None) -> Community:
    return Community.from_tables(Tables(members=members, messages=messages, reactions=reactions))


def _reactions(rows: list[tuple]) -> pd.DataFrame:
    """rows: (message_id, member_id, reacted_at)."""
    return pd.DataFrame(
        {
            "message_id": [r[0] for r in rows],
            "member_id": [r[1] for r in rows],
            "emoji": "👍",
            "count": 1,
            "reacted_at": [ts(r[2]) for r in rows],
        }
    )


def _json_ok(result) -> None:
    json.dumps(result.to_dict())
    assert isinstance(result.summary(), str) and result.summary()
    assert result.plot() is not None
    matplotlib.pyplot.close("all")


# ---- usage: DAU / WAU / MAU and stickiness -----------------------------------------------------


@pytest.fixture
def february() -> Community:
    """February 2024 (29 days) observed completely: messages on 31 Jan and 1 Mar bound it.

    x writes on 10 distinct February days (twice on 2 Feb), y on 5 days (3 of them x's days),
    z never writes, r only reacts (attributed) on 5 Feb, s (staff) writes every February day.
    """
    members = make_members(
        [
            ("x", "2024-01-01", False, False),
            ("y", "2024-01-01", False, False),
            ("z", "2024-01-01", False, False),
            ("r", "2024-01-01", False, False),
            ("s", "2024-01-01", True, False),
        ]
    )
    rows = [("jan", "x", "2024-01-31 12:00", None), ("mar", "y", "2024-03-01 12:00", None)]
    rows += [(f"x{d}", "x", f"2024-02-{d:02d} 09:00", None) for d in range(1, 11)]
    rows += [("x2b", "x", "2024-02-02 23:59", None)]
    rows += [(f"y{d}", "y", f"2024-02-{d:02d} 10:00", None) for d in (1, 2, 3, 20, 21)]
    rows += [(f"s{d}", "s", f"2024-02-{d:02d} 08:00", None) for d in range(1, 30)]
    reactions = _reactions([("x1", "r", "2024-02-05 18:00")])
    return _community(members, make_messages(rows), reactions)


def test_monthly_usage_hand_checked(february):
    result = usage(february, period="month", include_staff=False)
    f = result.to_frame().set_index("period_start")
    feb = f.loc[pd.Timestamp("2024-02-01")]
    # MAU = x, y, r (reaction only); authors = x, y; members = x, y, z, r (staff excluded)
    assert (feb["active_members"], feb["authors"], feb["members"]) == (3, 2, 4)
    # Σ DAU over February: x on 10 days + y on 5 days + r on 1 day = 16; 29 observed days
    assert feb["days_observed"] == 29 and feb["days_in_period"] == 29
    assert feb["mean_dau"] == pytest.approx(16 / 29, abs=1e-12)
    assert feb["stickiness"] == pytest.approx(16 / 29 / 3, abs=1e-12)
    assert feb["authors_per_member"] == pytest.approx(2 / 4)
    assert feb["authors_per_active"] == pytest.approx(2 / 3)
    assert bool(feb["complete"])
    # January has one observed day (31 Jan, x only): mean DAU 1, MAU 1, stickiness 1
    jan = f.loc[pd.Timestamp("2024-01-01")]
    assert (jan["days_observed"], jan["mean_dau"], jan["stickiness"]) == (1, 1.0, 1.0)
    # the partial months are not "full": the summary speaks about February
    assert result.full_periods["period_start"].tolist() == [pd.Timestamp("2024-02-01")]
    assert "2024-02-01" in result.summary() and "excluding staff" in result.summary()
    # the shares in words: 2 of 4 members and 2 of 3 active members wrote
    assert "50.0% of members and 66.7% of active members were authors" in result.summary()
    assert result.attributed_reactions == 1
    d = result.to_dict()
    assert d["latest_stickiness"] == pytest.approx(16 / 87) and d["include_staff"] is False
    _json_ok(result)


def test_usage_with_staff_and_daily_series(february):
    result = usage(february, period="month", include_staff=True)
    feb = result.to_frame().set_index("period_start").loc[pd.Timestamp("2024-02-01")]
    # s adds one active member and one active day to each of the 29 days: Σ DAU = 16 + 29
    assert (feb["active_members"], feb["members"]) == (4, 5)
    assert feb["stickiness"] == pytest.approx(45 / 29 / 4, abs=1e-12)
    daily = result.daily.set_index("day")["active_members"]
    # 31 Jan .. 1 Mar, every day present; 25 Feb has only s; 5 Feb has x, r and s
    assert len(daily) == 31
    assert daily[pd.Timestamp("2024-02-25")] == 1
    assert daily[pd.Timestamp("2024-02-05")] == 3


def test_weekly_usage_is_dau_over_wau(february):
    f = usage(february, period="week", include_staff=False).to_frame().set_index("period_start")
    # ISO week of Mon 5 Feb: x on 5..10 (6 days), r on 5 Feb -> WAU 2, Σ DAU 7
    w = f.loc[pd.Timestamp("2024-02-05")]
    assert (w["active_members"], w["authors"]) == (2, 1)
    assert w["stickiness"] == pytest.approx(7 / 7 / 2)
    # week of Mon 12 Feb: nobody but staff -> WAU 0, stickiness undefined
    empty = f.loc[pd.Timestamp("2024-02-12")]
    assert empty["active_members"] == 0 and math.isnan(empty["stickiness"])
    assert usage(february, period="day").to_frame()["stickiness"].isna().all()


# ---- weekly return ------------------------------------------------------------------------------


@pytest.fixture
def weeks() -> Community:
    """Weeks from 1 Jan 2024: w1 a, b (and staff s); w2 a, c (and s); w3 empty; w4 a, b;
    w5 empty; w6 (5 Feb) a.

    c joins on 8 January; b's week-1 activity is a reaction only.
    """
    members = make_members(
        [
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-01", False, False),
            ("c", "2024-01-08", False, False),
            ("s", "2024-01-01", True, False),
        ]
    )
    messages = make_messages(
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "s", "2024-01-02 10:00", None),
            ("3", "a", "2024-01-09 10:00", None),
            ("4", "c", "2024-01-10 10:00", None),
            ("5", "s", "2024-01-14 23:59", None),
            ("6", "a", "2024-01-22 10:00", None),
            ("7", "b", "2024-01-28 23:00", "6"),
            ("8", "a", "2024-02-05 10:00", None),
        ]
    )
    return _community(members, messages, _reactions([("1", "b", "2024-01-07 12:00")]))


def test_weekly_return_hand_checked(weeks):
    result = weekly_return(weeks, include_staff=False)
    f = result.to_frame()
    assert f["period_start"].dt.strftime("%m-%d").tolist() == [
        "01-01", "01-08", "01-15", "01-22", "01-29", "02-05",
    ]  # fmt: skip
    assert f["active_members"].tolist() == [2, 2, 0, 2, 0, 1]
    assert f["retained"].tolist() == [0, 1, 0, 0, 0, 0]
    # w2: a of {a, b} -> 1/2; w3: 0 of 2; w4: previous week empty -> NaN; w5: 0 of 2;
    # w6: previous week empty -> NaN
    expected = [np.nan, 0.5, 0.0, np.nan, 0.0, np.nan]
    np.testing.assert_allclose(f["return_rate"].to_numpy(), expected)
    # active share is activity's, not recomputed: w1 2 of 2 members, w2 2 of 3
    base = activity(weeks, period="week", include_staff=False).to_frame()
    pd.testing.assert_series_equal(f["active_share"], base["active_share"])
    assert f["active_share"].tolist()[:2] == [1.0, pytest.approx(2 / 3)]
    _json_ok(result)


def test_weekly_return_counts_staff_when_asked(weeks):
    f = weekly_return(weeks, include_staff=True).to_frame()
    # w1 {a, b, s}, w2 {a, c, s}: retained a and s -> 2 of 3
    assert f["retained"].iloc[1] == 2
    assert f["return_rate"].iloc[1] == pytest.approx(2 / 3)


def test_monthly_return_rate(weeks):
    f = weekly_return(weeks, period="month", include_staff=False).to_frame()
    # January {a, b, c}, February {a}: 1 of 3
    assert f["retained"].tolist() == [0, 1]
    assert f["return_rate"].iloc[1] == pytest.approx(1 / 3)


# ---- cohort retention ---------------------------------------------------------------------------


@pytest.fixture
def cohorts() -> Community:
    """Two weekly cohorts observed from 1 Jan 00:00 (a service event) to 20 Feb 12:00.

    Cohort of week 1 Jan: a (joined Mon 1 Jan 00:00, ads), b (Wed 3 Jan 12:00, organic),
    e (Tue 2 Jan 00:00, ads; never writes, reacts on 12 Jan = day 10 -> week 1).
    Cohort of week 8 Jan: c (Wed 10 Jan 00:00, no source) writes once, at joining.
    s is staff (joined Dec 2023), q a bot.
    """
    members = make_members(
        [
            ("a", "2024-01-01 00:00", False, False),
            ("e", "2024-01-02 00:00", False, False),
            ("b", "2024-01-03 12:00", False, False),
            ("c", "2024-01-10 00:00", False, False),
            ("s", "2023-12-01 00:00", True, False),
            ("q", "2024-01-01 00:00", False, True),
        ]
    )
    members["source"] = ["ads", "ads", "organic", None, None, None]
    messages = make_messages(
        [
            ("t", "s", "2024-01-01 00:00", None, "service"),
            ("a0", "a", "2024-01-05 10:00", None),  # a: day 4 -> week 0
            ("b0", "b", "2024-01-03 13:00", None),  # b: week 0
            ("b1", "b", "2024-01-10 11:00", None),  # b: 6 d 23 h -> still week 0
            ("b2", "b", "2024-01-10 13:00", None),  # b: 7 d 1 h -> week 1
            ("c0", "c", "2024-01-10 00:05", None),  # c: week 0, never again
            ("q0", "q", "2024-01-16 00:00", None),  # bot: excluded by default
            ("a3", "a", "2024-01-22 10:00", None),  # a: 21 d 10 h -> week 3
            ("b3", "b", "2024-01-25 00:00", None),  # b: 21 d 12 h -> week 3
            ("end", "s", "2024-02-20 12:00", None),  # staff: end of observation
        ]
    )
    return _community(members, messages, _reactions([("a0", "e", "2024-01-12 00:00")]))


def test_weekly_cohort_matrix_hand_checked(cohorts):
    result = cohort_retention(cohorts, cohort="week", max_periods=8, include_staff=False)
    m = result.matrix
    assert m.index.tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]
    # cohort 1 Jan (a, e, b): week 0 a, b; week 1 b, e (reaction); week 3 a, b.
    # Observed while last join (3 Jan 12:00) + 7(k+1) d <= 20 Feb 12:00 (48 d): k <= 5.
    jan1 = [2 / 3, 2 / 3, 0, 2 / 3, 0, 0, np.nan, np.nan]
    # cohort 8 Jan (c): only week 0; observed while 10 Jan + 7(k+1) d <= 20 Feb 12:00: k <= 4
    jan8 = [1, 0, 0, 0, 0, np.nan, np.nan, np.nan]
    np.testing.assert_allclose(m.to_numpy(dtype=float), np.array([jan1, jan8]), atol=1e-15)
    assert result.sizes.tolist() == [3, 1]
    tidy = result.to_frame()
    assert tidy.columns.tolist() == [
        "cohort_start", "cohort_size", "period", "active", "retention", "observed",
    ]  # fmt: skip
    assert tidy["active"].tolist()[:8] == [2, 2, 0, 2, 0, 0, 0, 0]
    pooled = result.pooled().set_index("period")
    # week 1: (2 + 0) of (3 + 1) members; week 5: only cohort 1 Jan is observed: 0 of 3
    assert pooled.loc[1, "retention"] == pytest.approx(2 / 4)
    assert pooled.loc[5, "members"] == 3 and pooled.loc[5, "retention"] == 0
    assert 6 not in pooled.index
    # week 0 pooled: (2 + 1) of (3 + 1)
    assert "75.0% in their first week" in result.summary()
    _json_ok(result)


def test_cohort_with_staff_unobserved_before_the_data(cohorts):
    m = cohort_retention(cohorts, max_periods=8, include_staff=True).matrix
    # staff s joined 1 Dec 2023 (cohort of Mon 27 Nov): its weeks before 1 Jan are not observed
    # (1 Dec + 7k d >= 1 Jan needs k >= 5); s writes on day 81 (week 11), so weeks 5-7 are 0
    staff = m.loc[pd.Timestamp("2023-11-27")]
    assert staff.isna().tolist() == [True] * 5 + [False] * 3
    assert staff.iloc[5:].tolist() == [0.0, 0.0, 0.0]


def test_cohorts_by_source(cohorts):
    result = cohort_retention(cohorts, by="source", max_periods=4, include_staff=False)
    m = result.matrix
    ads = m.loc[("ads", pd.Timestamp("2024-01-01"))].tolist()
    organic = m.loc[("organic", pd.Timestamp("2024-01-01"))].tolist()
    unknown = m.loc[("unknown", pd.Timestamp("2024-01-08"))].tolist()
    # ads = {a, e}: week 0 a; week 1 e; week 3 a.  organic = {b}: weeks 0, 1, 3.
    assert ads == [0.5, 0.5, 0.0, 0.5]
    assert organic == [1.0, 1.0, 0.0, 1.0]
    assert unknown == [1.0, 0.0, 0.0, 0.0]
    _json_ok(result)


def test_monthly_cohorts_use_30_day_periods(cohorts):
    result = cohort_retention(cohorts, cohort="month", max_periods=3, include_staff=False)
    # one cohort (January: a, e, b, c); month 0 = first 30 days: a, b, c, e (reaction) -> 4/4;
    # observed while 10 Jan + 30(k+1) d <= 20 Feb 12:00 (41.5 d): only k = 0
    row = result.matrix.iloc[0]
    assert row.iloc[0] == 1.0 and row.iloc[1:].isna().all()
    assert result.period_days == 30


def test_cohort_arguments_are_checked(cohorts):
    with pytest.raises(ValueError, match=r"cohort must be one of \['week', 'month'\], got 'day'"):
        cohort_retention(cohorts, cohort="day")
    with pytest.raises(ValueError, match="by must be"):
        cohort_retention(cohorts, by="platform")


# ---- engagement rate ----------------------------------------------------------------------------


@pytest.fixture
def posts() -> Community:
    """Roots r1 (a, Tue 2 Jan), r2 (b, Thu 4 Jan), r3 (c, Thu 11 Jan), r4 (a, Thu 1 Feb, last).

    r1 gets b (1 h), a answering b (2 h), staff s (1 day) and b again after 10 days; r3 gets a.
    x is a reply to a message missing from the data (its thread's root is not here).
    Members: a, b, s join 1 Jan; c joins 10 Jan; d joins 1 Feb 12:00 (after r4).
    """
    members = make_members(
        [
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-01", False, False),
            ("s", "2024-01-01", True, False),
            ("c", "2024-01-10", False, False),
            ("d", "2024-02-01 12:00", False, False),
        ]
    )
    messages = make_messages(
        [
            ("r1", "a", "2024-01-02 10:00", None),
            ("p1", "b", "2024-01-02 11:00", "r1"),
            ("p2", "a", "2024-01-02 12:00", "p1"),
            ("p3", "s", "2024-01-03 10:00", "r1"),
            ("p4", "b", "2024-01-12 10:00", "r1"),
            ("r2", "b", "2024-01-04 10:00", None),
            ("r3", "c", "2024-01-11 10:00", None),
            ("p5", "a", "2024-01-11 12:00", "r3"),
            ("x", "b", "2024-01-05 10:00", "gone"),
            ("r4", "a", "2024-02-01 10:00", None),
        ]
    )
    return _community(members, messages)


def test_engagement_rate_hand_checked(posts):
    result = engagement_rate(posts, period="week", window="7D")
    f = result.to_frame().set_index("period_start")
    # week 1 Jan: r1 3 replies in 7 days / 3 members = 1; r2 0 / 3 -> mean 0.5, median 0.5
    w1 = f.loc[pd.Timestamp("2024-01-01")]
    assert (w1["roots"], w1["replies"]) == (2, 3)
    assert (w1["mean_rate"], w1["median_rate"]) == (0.5, 0.5)
    # week 8 Jan: r3 1 reply / 4 members (c joined 10 Jan)
    w2 = f.loc[pd.Timestamp("2024-01-08")]
    assert (w2["roots"], w2["mean_rate"], w2["median_rate"]) == (1, 0.25, 0.25)
    # r4's window runs past the last message: censored, not a zero
    w5 = f.loc[pd.Timestamp("2024-01-29")]
    assert (w5["roots"], w5["roots_censored"]) == (0, 1) and math.isnan(w5["mean_rate"])
    # empty weeks are present
    assert len(f) == 5 and f.loc[pd.Timestamp("2024-01-15"), "roots"] == 0
    assert result.to_dict()["roots_censored"] == 1
    _json_ok(result)


def test_engagement_without_window_and_staff(posts):
    f = engagement_rate(posts, period="week", window=None).to_frame().set_index("period_start")
    # every reply: r1 4 / 3 members, r2 0 -> mean 2/3, median (0 + 4/3) / 2 = 2/3
    w1 = f.loc[pd.Timestamp("2024-01-01")]
    assert w1["mean_rate"] == pytest.approx(2 / 3) and w1["median_rate"] == pytest.approx(2 / 3)
    # r4 counts now: 0 replies / 4 members (d joined after it)
    assert f.loc[pd.Timestamp("2024-01-29"), "mean_rate"] == 0.0
    month = engagement_rate(posts, period="month", window=None).to_frame()
    # January: rates 4/3, 0, 1/4 -> mean 19/36, median 1/4
    assert month.loc[0, "mean_rate"] == pytest.approx(19 / 36)
    assert month.loc[0, "median_rate"] == pytest.approx(1 / 4)
    no_staff = engagement_rate(posts, period="week", include_staff=False).to_frame()
    # staff neither replies nor counts: r1 2 / 2 = 1, r2 0 / 2; r3 1 / 3
    assert no_staff["mean_rate"].tolist()[:2] == [0.5, pytest.approx(1 / 3)]


# ---- concentration ------------------------------------------------------------------------------


def _counts_community(counts: list[int], start: str = "2024-01-01") -> Community:
    """Member i writes counts[i] messages on `start` (staff member "s" writes 100)."""
    ids = [f"m{i}" for i in range(len(counts))]
    members = make_members([(m, "2023-12-01", False, False) for m in ids])
    members = pd.concat([members, make_members([("s", "2023-12-01", True, False)])])
    rows = [
        (f"{m}-{j}", m, f"{start} {j // 60:02d}:{j % 60:02d}", None)
        for m, n in zip(ids, counts, strict=True)
        for j in range(n)
    ]
    rows += [(f"s-{j}", "s", f"{start} 12:{j % 60:02d}", None) for j in range(100)]
    return _community(members.reset_index(drop=True), make_messages(rows))


def test_gini_reference_values():
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    assert gini([10]) == 0.0
    assert math.isnan(gini([0, 0]))
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(0, 50, rng.integers(2, 40))
        if x.sum() == 0:
            continue
        # independent: mean absolute difference over all ordered pairs / (2 mean)
        mad = np.abs(x[:, None] - x[None, :]).mean()
        assert gini(x) == pytest.approx(mad / (2 * x.mean()), abs=1e-12)


def test_concentration_hand_checked():
    result = concentration(_counts_community([0, 0, 0, 10]), include_staff=False)
    # one author of four members: Gini 0 over authors, 0.75 over all members
    assert (result.messages, result.authors, result.members) == (10, 1, 4)
    assert result.gini_authors == 0.0
    assert result.gini_members == pytest.approx(0.75, abs=1e-15)
    assert (result.top5_share, result.absence_factor) == (1.0, 1)
    assert "excluding staff" in result.summary()
    _json_ok(result)

    even = concentration(_counts_community([1, 1, 1, 1]), include_staff=False)
    assert (even.gini_authors, even.gini_members, even.absence_factor) == (0.0, 0.0, 2)


@pytest.mark.parametrize(
    ("counts", "caf"),
    [([50, 30, 20], 1), ([40, 30, 30], 2), ([10] * 10, 5), ([9, 1], 1), ([1, 1, 1], 2)],
)
def test_contributor_absence_factor(counts, caf):
    assert concentration(_counts_community(counts), include_staff=False).absence_factor == caf


def test_top_shares_and_staff():
    counts = list(range(1, 13))  # 12 authors, 78 messages
    result = concentration(_counts_community(counts), include_staff=False)
    assert result.top5_share == pytest.approx((12 + 11 + 10 + 9 + 8) / 78)
    assert result.top10_share == pytest.approx((78 - 1 - 2) / 78)
    assert result.gini_authors == pytest.approx(gini(counts), abs=1e-15)
    # 78 messages: top-k cumulative 12, 23, 33, 42 >= 39 -> 4
    assert result.absence_factor == 4
    with_staff = concentration(_counts_community(counts), include_staff=True)
    # staff's 100 messages of 178 are more than half on their own
    assert (with_staff.absence_factor, with_staff.members) == (1, 13)
    assert with_staff.gini_members == pytest.approx(gini([*counts, 100]), abs=1e-15)


def test_concentration_per_month():
    members = make_members(
        [
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-01", False, False),
            ("c", "2024-02-10", False, False),
        ]
    )
    rows = [(f"a{i}", "a", f"2024-01-0{i + 1} 10:00", None) for i in range(3)]
    rows += [("b0", "b", "2024-01-05 10:00", None)]
    rows += [("c0", "c", "2024-03-03 10:00", None), ("c1", "c", "2024-03-04 10:00", None)]
    result = concentration(_community(members, make_messages(rows)), period="month")
    f = result.to_frame()
    assert f["period_start"].dt.strftime("%m").tolist() == ["01", "02", "03"]
    # Jan: [3, 1] over authors (Gini (2*(1*1 + 2*3) - 3*4) / (2*4) = 1/4); members a, b
    # Feb: empty month; c joined -> 3 members.  Mar: c alone of 3 members -> Gini 2/3
    assert f["messages"].tolist() == [4, 0, 2] and f["members"].tolist() == [2, 3, 3]
    assert f["gini_authors"].iloc[0] == pytest.approx(0.25)
    assert f["gini_members"].iloc[0] == pytest.approx(0.25)
    assert math.isnan(f["gini_authors"].iloc[1]) and f["absence_factor"].iloc[1] == 0
    assert f["gini_members"].iloc[2] == pytest.approx(2 / 3)
    assert f["absence_factor"].tolist() == [1, 0, 1]
    # overall: [3, 1, 2] over 3 authors
    assert result.gini_authors == pytest.approx(gini([3, 1, 2]), abs=1e-15)
    _json_ok(result)
