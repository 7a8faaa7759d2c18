"""Retention, usage, engagement and concentration on the simulated community (2,000 members).

(a) An independent pandas computation from the processed parquet files (read with pandas, no
    ibis, no package code) gives the same weekly cohort retention matrix, DAU/MAU/stickiness and
    Gini coefficients as the engine: counts and matrices exactly, Gini to 1e-12 (a different
    formula: mean absolute difference instead of ranks).
(b) Planted truth: the simulator plants, per experiment unit (every non-core member joining
    April-October; ``assigned_at`` = join time), P(≥1 message in days [0, 7)) = ``first_post_7d``
    and P(≥1 message in days [21, 28)) = ``retained_week4``, per arm. On messages alone
    (reactions are drawn at random among members, independent of the planted outcomes, so they
    are left out here), weeks 0 and 3 of the weekly cohort matrix, pooled over the cohorts inside
    the window, are exactly those outcomes: the pooled rates must lie within 3 standard errors of
    the planted probabilities mixed by the units' arms.
(c) DuckDB and Spark give identical matrices, counts and medians, and Gini to 1e-12 (usage is
    :func:`~analysis.health.activity.activity` twice, whose parity test_engine_parity checks).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community, read_tables
from analysis.health.concentration import concentration
from analysis.health.engagement import engagement_rate
from analysis.health.retention import cohort_retention, usage, weekly_return

WEEK_S = 7 * 86400


@pytest.fixture(scope="module")
def raw_frames(synthetic_dataset):
    """The processed tables read with pandas only, bots dropped (the functions' default)."""
    processed, _, truth = synthetic_dataset
    members = pd.read_parquet(processed / "members.parquet")
    messages = pd.read_parquet(processed / "messages.parquet")
    reactions = pd.read_parquet(processed / "reactions.parquet")
    assignments = pd.read_parquet(processed / "assignments.parquet")
    for frame, col in (
        (members, "joined_at"),
        (messages, "created_at"),
        (reactions, "reacted_at"),
        (assignments, "assigned_at"),
    ):
        frame[col] = frame[col].dt.tz_convert("UTC")
    return members, messages, reactions, assignments, truth


@pytest.fixture(scope="module")
def duck(synthetic_dataset):
    return Community.load(synthetic_dataset[0])


def _events(members, messages, reactions) -> pd.DataFrame:
    """(member_id, at): non-service messages and attributed reactions of non-bot members."""
    keep = set(members.loc[~members["is_bot"], "member_id"])
    msgs = messages[(messages["kind"] != "service") & messages["member_id"].isin(keep)]
    rx = reactions.dropna(subset=["member_id", "reacted_at"])
    rx = rx[rx["member_id"].isin(keep)]
    return pd.concat(
        [
            msgs[["member_id", "created_at"]].rename(columns={"created_at": "at"}),
            rx[["member_id", "reacted_at"]].rename(columns={"reacted_at": "at"}),
        ],
        ignore_index=True,
    )


def _pandas_cohort_matrix(members, messages, events, max_periods=12) -> pd.DataFrame:
    m = members[~members["is_bot"]].copy()
    m["cohort_start"] = m["joined_at"].dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    e = events.merge(m[["member_id", "joined_at", "cohort_start"]], on="member_id")
    seconds = (e["at"] - e["joined_at"]).dt.total_seconds()
    e = e[seconds >= 0].assign(period=(seconds[seconds >= 0] // WEEK_S).astype("int64"))
    e = e[e["period"] < max_periods]
    active = e.groupby(["cohort_start", "period"])["member_id"].nunique()
    sizes = m.groupby("cohort_start").agg(
        n=("member_id", "size"), first=("joined_at", "min"), last=("joined_at", "max")
    )
    lo, hi = messages["created_at"].min(), messages["created_at"].max()
    out = pd.DataFrame(index=sizes.index, columns=range(max_periods), dtype=float)
    for cohort, row in sizes.iterrows():
        for k in range(max_periods):
            observed = (row["first"] + pd.Timedelta(weeks=k) >= lo) and (
                row["last"] + pd.Timedelta(weeks=k + 1) <= hi
            )
            if observed:
                out.loc[cohort, k] = active.get((cohort, k), 0) / row["n"]
    return out


def _gini_mad(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.abs(x[:, None] - x[None, :]).mean() / (2 * x.mean()))


# ---- (a) independent pandas computation -------------------------------------------------------


def test_timestamps_are_whole_seconds(raw_frames):
    """The engine counts periods since join on whole seconds; the data has nothing finer."""
    members, messages, reactions, _, _ = raw_frames
    for s in (members["joined_at"], messages["created_at"], reactions["reacted_at"].dropna()):
        assert (s.dt.microsecond == 0).all() and (s.dt.nanosecond == 0).all()


def test_weekly_cohort_matrix_matches_pandas(raw_frames, duck):
    members, messages, reactions, _, _ = raw_frames
    expected = _pandas_cohort_matrix(members, messages, _events(members, messages, reactions))
    result = cohort_retention(duck, cohort="week", max_periods=12)
    got = result.matrix
    assert len(got) >= 50 and got.notna().sum().sum() > 400
    np.testing.assert_array_equal(got.index.to_numpy(), expected.index.to_numpy())
    np.testing.assert_array_equal(got.to_numpy(dtype=float), expected.to_numpy(dtype=float))
    # sizes: every non-bot member in exactly one cohort
    assert result.sizes.sum() == int((~members["is_bot"]).sum())


def test_dau_mau_stickiness_match_pandas(raw_frames, duck):
    members, messages, reactions, _, _ = raw_frames
    events = _events(members, messages, reactions)
    day = events["at"].dt.tz_localize(None).dt.floor("D")
    dau = events.assign(day=day).groupby("day")["member_id"].nunique()
    dau = dau.reindex(pd.date_range(day.min(), day.max(), freq="D"), fill_value=0)
    month = day.dt.to_period("M").dt.start_time
    mau = events.assign(month=month).groupby("month")["member_id"].nunique()
    mean_dau = dau.groupby(dau.index.to_period("M").start_time).mean()

    got = usage(duck, period="month").to_frame().set_index("period_start")
    assert len(got) == 12
    np.testing.assert_array_equal(got["active_members"].to_numpy(), mau.to_numpy())
    np.testing.assert_allclose(got["mean_dau"].to_numpy(), mean_dau.to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(
        got["stickiness"].to_numpy(), (mean_dau / mau).to_numpy(), rtol=1e-15
    )
    weekly = usage(duck, period="week").to_frame()
    week = day.dt.to_period("W-SUN").dt.start_time
    wau = events.assign(week=week).groupby("week")["member_id"].nunique()
    wau = wau.reindex(weekly["period_start"], fill_value=0)
    np.testing.assert_array_equal(weekly["active_members"].to_numpy(), wau.to_numpy())


def test_gini_and_top_shares_match_pandas(raw_frames, duck):
    members, messages, _, _, _ = raw_frames
    included = members[~members["is_bot"]]
    msgs = messages[
        (messages["kind"] != "service") & messages["member_id"].isin(included["member_id"])
    ]
    counts = msgs["member_id"].value_counts()
    everyone = included[included["joined_at"] <= messages["created_at"].max()]
    zeros = np.zeros(len(set(everyone["member_id"]) - set(counts.index)))
    result = concentration(duck)
    assert result.authors == len(counts) and result.messages == counts.sum()
    assert result.members == len(zeros) + len(counts)
    assert result.gini_authors == pytest.approx(_gini_mad(counts.to_numpy()), abs=1e-12)
    all_x = np.r_[counts.to_numpy(), zeros]
    assert result.gini_members == pytest.approx(_gini_mad(all_x), abs=1e-12)
    top = counts.sort_values(ascending=False).to_numpy()
    assert result.top5_share == top[:5].sum() / top.sum()
    assert result.top10_share == top[:10].sum() / top.sum()
    assert result.absence_factor == int(np.argmax(np.cumsum(top) * 2 >= top.sum())) + 1

    # per month, against pandas too
    monthly = concentration(duck, period="month").to_frame()
    month = msgs["created_at"].dt.tz_localize(None).dt.to_period("M").dt.start_time
    for start, group in msgs.assign(month=month).groupby("month"):
        row = monthly.set_index("period_start").loc[start]
        x = group["member_id"].value_counts().to_numpy()
        assert row["gini_authors"] == pytest.approx(_gini_mad(x), abs=1e-12)
        assert row["authors"] == len(x)


# ---- (b) planted truth --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def messages_only(synthetic_dataset):
    """The same community without its reactions table: active = wrote a message."""
    tables = read_tables(synthetic_dataset[0])
    tables.reactions = None
    return Community.from_tables(tables)


@pytest.mark.parametrize(("week", "metric"), [(0, "first_post_7d"), (3, "retained_week4")])
def test_cohort_weeks_recover_the_planted_experiment_rates(raw_frames, messages_only, week, metric):
    members, _, _, assignments, truth = raw_frames
    window_from, window_to = (pd.Timestamp(t) for t in truth.experiment["window"])
    # weekly cohorts wholly inside the window (1 Apr is a Monday): exactly the units joining then
    result = cohort_retention(messages_only, cohort="week", max_periods=4, include_staff=False)
    f = result.to_frame()
    cohort_end = f["cohort_start"] + pd.Timedelta(days=7)
    inside = f[
        (f["cohort_start"] >= window_from.tz_localize(None))
        & (cohort_end <= window_to.tz_localize(None))
        & (f["period"] == week)
    ]
    assert inside["observed"].all() and len(inside) == 30
    n, active = int(inside["cohort_size"].sum()), int(inside["active"].sum())

    units = assignments.merge(
        members[["member_id", "joined_at"]], left_on="unit_id", right_on="member_id"
    )
    assert (units["assigned_at"] == units["joined_at"]).all()  # assigned at joining
    last_cohort_end = cohort_end[f["cohort_start"].isin(inside["cohort_start"])].max()
    in_cohorts = units[units["joined_at"].dt.tz_localize(None) < last_cohort_end]
    assert len(in_cohorts) == n  # the cohorts hold the units and nobody else
    planted = truth.experiment["metrics"][metric]
    arms = in_cohorts["variant"].value_counts()
    p = (arms["control"] * planted["control"] + arms["treatment"] * planted["treatment"]) / n
    se = math.sqrt(p * (1 - p) / n)
    assert abs(active / n - p) < 3 * se, (metric, active / n, p, se)


def test_reactions_only_add_activity(duck, messages_only):
    """Cell by cell, counting reactions can only raise retention (a monotonicity check)."""
    with_rx = cohort_retention(duck, max_periods=8).to_frame()
    without = cohort_retention(messages_only, max_periods=8).to_frame()
    assert (with_rx["active"] >= without["active"]).all()
    assert (with_rx["active"] > without["active"]).any()


# ---- (c) engine parity --------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.slow
def test_parity_cohort_matrix(engines):
    a, b = (cohort_retention(c, cohort="week", by="source") for c in engines)
    assert a.to_frame()["active"].sum() > 1000
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    pd.testing.assert_frame_equal(a.matrix, b.matrix)


@pytest.mark.spark
@pytest.mark.slow
def test_parity_return_rate(engines):
    a, b = (weekly_return(c).to_frame() for c in engines)
    assert a["retained"].sum() > 1000
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.spark
@pytest.mark.slow
def test_parity_engagement_rate(engines):
    a, b = (engagement_rate(c, period="month").to_frame() for c in engines)
    assert a["roots"].sum() > 1000
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    # counts exactly; the medians come from each engine's exact median aggregate, (a+b)/2 on both
    for col in ("roots", "roots_censored", "replies", "median_rate"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())


@pytest.mark.spark
@pytest.mark.slow
def test_parity_concentration(engines):
    a, b = (concentration(c, period="month", include_staff=False) for c in engines)
    da, db = a.to_dict(), b.to_dict()
    for key in ("gini_authors", "gini_members", "top5_share", "top10_share"):
        assert da[key] == pytest.approx(db[key], abs=1e-12)
    for key in ("absence_factor", "members", "authors", "messages"):
        assert da[key] == db[key]
    fa, fb = a.to_frame(), b.to_frame()
    for col in ("messages", "authors", "members", "absence_factor"):
        np.testing.assert_array_equal(fa[col].to_numpy(), fb[col].to_numpy())
    for col in ("gini_authors", "gini_members", "top5_share", "top10_share"):
        np.testing.assert_allclose(fa[col].to_numpy(), fb[col].to_numpy(), rtol=0, atol=1e-12)
