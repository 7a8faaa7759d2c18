"""Thread and newcomer metrics against the simulator's planted truth, an independent pandas
computation from the parquet files, and Spark.

Tolerances
----------
* Rates: within 3 standard errors ``sqrt(p (1 - p) / n)`` of the planted probability.
* Medians of first-response delay: the planted delay is lognormal(median m, log-sd σ)
  *conditioned on ≤ 24 h* (``analysis.synth.sampling.lognormal_truncated``), so the expected
  median is that of the truncated law, ``m · exp(σ Φ⁻¹(Φ(ln(1440/m)/σ) / 2))`` (staff: 25.0 →
  25.0 min, members: 90 → 88.6 min). The sample median is compared with it within 4 asymptotic
  standard errors ``m σ sqrt(π/2) / sqrt(n)`` (from ``1 / (2 f(m) sqrt(n))``) plus 2% for the
  ~1% of first answers that staff give on a member's delay when no member could answer yet
  (``GroundTruth.realised["answer_fallbacks"]``).
* Spark: quantiles are computed in pandas from the per-thread rows both engines return, so every
  number, quantiles included, must agree exactly (relative tolerance 1e-12).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis.data import Community
from analysis.health import first_response
from analysis.health import newcomers as nc
from analysis.health.discussion import sessions_expr
from analysis.health.responsiveness import response_rate, time_to_first_response
from analysis.health.shares import member_to_member_share
from analysis.health.thread_table import thread_table
from analysis.pseudonym import Pseudonymizer


@pytest.fixture(scope="module")
def community(synthetic_dataset):
    processed, _, truth = synthetic_dataset
    return Community.load(processed), truth


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def _truncated_median(median: float, sigma: float, cap: float) -> float:
    top = norm.cdf(math.log(cap / median) / sigma)
    return median * math.exp(sigma * norm.ppf(top / 2))


def test_first_response_medians_recover_planted_delays(community):
    c, truth = community
    r = time_to_first_response(c)
    for who in ("staff", "member"):
        m, sigma = truth.response_median_minutes[who], truth.response_sigma[who]
        expected = _truncated_median(m, sigma, truth.response_max_hours * 60)
        got = r.overall[who]
        se = expected * sigma * math.sqrt(math.pi / 2) / math.sqrt(got["n"])
        assert got["n"] > 1000
        assert abs(got["median_minutes"] - expected) < 4 * se + 0.02 * expected, (who, got)
        assert got["p90_minutes"] <= truth.response_max_hours * 60
    assert r.overall["staff"]["median_minutes"] < r.overall["member"]["median_minutes"]


def test_response_rate_recovers_planted_probability(community):
    c, truth = community
    r = response_rate(c, within=("24h", "7d"))
    for w in ("24h", "7d"):
        o = r.overall[w]
        # every planted answer comes within 24 h, so both windows estimate response_prob
        assert abs(o["rate"] - truth.response_prob) < 3 * _se(truth.response_prob, o["exposed"])
    assert r.to_dict()["n_missing_root_threads"] == 0 and r.to_dict()["n_skewed_replies"] == 0


def test_newcomer_return_recovers_planted_probabilities(community):
    c, truth = community
    pseudonyms = Pseudonymizer()
    core = [pseudonyms.member_id("telegram", uid) for uid in truth.core_ids]
    assert truth.newcomer_return_window_days == [7, 35]
    r = nc.newcomer_return(c, window_days=(7, 35), exclude_members=core)
    assert r.n_excluded == len(core)
    planted = truth.newcomer_return_prob
    for rate, n, p in (
        (r.rate_answered, r.n_answered, planted["answered"]),
        (r.rate_unanswered, r.n_unanswered, planted["unanswered"]),
    ):
        assert n > 100
        assert abs(rate - p) < 3 * _se(p, n), (rate, p, n)
    assert r.comparison.diff_ci[0] < planted["answered"] - planted["unanswered"]
    w = nc.newcomer_welcome(c)
    p = truth.newcomer_answer_prob
    assert abs(w.share_answered_24h - p) < 3 * _se(p, w.exposed_24h)


def _pandas_first_responses(processed) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Independent computation straight from the parquet files (no ibis, no package code)."""
    msgs = pd.read_parquet(processed / "messages.parquet")
    members = pd.read_parquet(processed / "members.parquet")
    end = msgs["created_at"].max()
    bots = set(members.loc[members["is_bot"], "member_id"])
    staff = set(members.loc[members["is_staff"], "member_id"])
    regular = msgs[(msgs["kind"] != "service") & ~msgs["member_id"].isin(bots)]
    roots = regular[regular["reply_to_id"].isna()]
    replies = regular[regular["reply_to_id"].notna() & (regular["reply_source"] == "explicit")]
    j = replies.merge(
        roots[["message_id", "member_id", "created_at"]],
        left_on="thread_id",
        right_on="message_id",
        suffixes=("", "_root"),
    )
    j = j[j["member_id"] != j["member_id_root"]].sort_values(["created_at", "message_id"])
    first = j.groupby("thread_id").first()
    out = roots.set_index("message_id")[["created_at"]].copy()
    out["response_at"] = first["created_at"]
    out["staff"] = first["member_id"].isin(staff)
    out["seconds"] = (out["response_at"] - out["created_at"]).dt.total_seconds().clip(lower=0)
    return out, end


def test_engine_numbers_equal_an_independent_pandas_computation(community, synthetic_dataset):
    c, _ = community
    processed, _, _ = synthetic_dataset
    ref, end = _pandas_first_responses(processed)
    r = response_rate(c, within=("24h",), period="week")
    exposed = ref["created_at"] + pd.Timedelta("24h") <= end
    responded = exposed & (ref["seconds"] <= 86_400)
    assert r.overall["24h"]["exposed"] == int(exposed.sum())
    assert r.overall["24h"]["responded"] == int(responded.sum())
    week = ref["created_at"].dt.tz_convert(None).dt.to_period("W-SUN").dt.start_time
    per_week = responded.groupby(week).sum()
    got = r.to_frame().set_index("period_start")["responded"]
    assert got[got > 0].astype(int).to_dict() == per_week[per_week > 0].astype(int).to_dict()
    t = time_to_first_response(c)
    answered = ref.dropna(subset=["response_at"])
    assert t.overall["all"]["n"] == len(answered)
    assert t.overall["all"]["median_minutes"] == pytest.approx(
        np.median(answered["seconds"] / 60), rel=1e-12
    )
    staff = answered[answered["staff"]]["seconds"] / 60
    assert t.overall["staff"]["median_minutes"] == pytest.approx(np.median(staff), rel=1e-12)


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_agree(engines):
    """The engine-side pieces on both engines: the per-thread and per-newcomer tables (from which
    every quantile, depth and share is computed in pandas), the response-rate and
    member-to-member aggregates, and the window-function sessions."""
    duck, spark = engines
    for call in (
        lambda c: response_rate(c, period="month", by_channel=True),
        lambda c: member_to_member_share(c, period="month"),
    ):
        a, b = call(duck), call(spark)
        assert a.to_dict() == b.to_dict(), type(a).__name__
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), rtol=1e-12, check_dtype=False)
    ta, tb = (thread_table(c, with_depth=False) for c in engines)
    assert len(ta) > 10_000 and ta["response_seconds"].notna().sum() > 8_000
    pd.testing.assert_frame_equal(ta, tb, check_dtype=False)
    sa, sb = (
        c.execute(sessions_expr(c)).sort_values(["channel_id", "session"], ignore_index=True)
        for c in engines
    )
    pd.testing.assert_frame_equal(sa, sb, check_dtype=False)
    na, nb = (nc.newcomer_table(c) for c in engines)
    assert len(na) > 500
    pd.testing.assert_frame_equal(na, nb, check_dtype=False)
    # quantiles come from these identical rows, so they agree exactly (tolerance 1e-12)
    qa, qb = (first_response._response_stats(t) for t in (ta, tb))
    assert qa == qb


@pytest.mark.spark
@pytest.mark.slow
def test_first_responder_ties_on_spark(engines):
    """First-response ties on Spark as on DuckDB: at one second the smallest message id answers
    first (Spark ``min_by``, DuckDB ``arg_min``), the author's own reply is never a response,
    and a replier's earlier message beats a smaller id later."""
    from analysis.schema import Tables
    from tests.conftest import make_members, make_messages

    _, spark = engines
    members = make_members(
        [
            ("a", "2023-12-01", False, False),
            ("b", "2023-12-01", False, False),
            ("s", "2023-12-01", True, False),
        ]
    )
    rows = [
        ("1", "a", "2024-01-01 10:00", None),
        ("8", "b", "2024-01-01 10:07", "1"),
        ("5", "s", "2024-01-01 10:07", "1"),
        ("3", "b", "2024-01-01 10:07", "1"),
        ("2", "a", "2024-01-01 10:07", "1"),
        ("10", "a", "2024-01-01 11:00", None),
        ("12", "s", "2024-01-01 11:07", "10"),
        ("19", "b", "2024-01-01 11:06", "10"),
        ("11", "b", "2024-01-01 11:08", "10"),
    ]
    tables = Tables(members=members, messages=make_messages(rows))
    duck_t, spark_t = (
        thread_table(Community.from_tables(tables, backend=backend), with_depth=False)
        for backend in (None, spark.backend)
    )
    pd.testing.assert_frame_equal(duck_t, spark_t, check_dtype=False)
    assert duck_t["first_responder_id"].tolist() == ["b", "b"]
    assert duck_t["response_seconds"].tolist() == [7 * 60, 6 * 60]
