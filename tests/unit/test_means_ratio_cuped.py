"""Fast checks of the Welch, ratio and CUPED tests: inputs, degenerate arms, notes, results."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.experiments.cuped import (
    RatioCupedStats,
    cuped_ratio_test,
    cuped_test,
    ratio_cuped_stats_expr,
    ratio_cuped_stats_from_frame,
)
from analysis.experiments.effects import Comparison
from analysis.experiments.means import RELATIVE_DELTA_CI_METHOD, WELCH_CI_METHOD, welch_test
from analysis.experiments.ratio import ratio_test
from analysis.experiments.sufficient import SufficientStats

S = SufficientStats


def strict_json(result: Comparison) -> str:
    """JSON without NaN/inf (they must have become null)."""
    return json.dumps(result.to_dict(), allow_nan=False)


def ratio_cuped_arm(seed: int, n: int = 200, effect: float = 0.0) -> RatioCupedStats:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(2.0, 0.25, n)
    x0 = 1 + rng.poisson(4, n)
    x = 1 + rng.poisson(4, n)
    return RatioCupedStats.from_values(
        rng.poisson(x * rate * (1 + effect)), x, rng.poisson(x0 * rate), x0
    )


@pytest.fixture
def welch() -> Comparison:
    return welch_test(
        S(3407, 1396.87, 52377.9767),
        S(3461, 2422.7, 134698.29),
        metric="messages per member",
        control_name="old onboarding",
        treatment_name="new onboarding",
    )


# --------------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------------


def test_welch_result_fields(welch: Comparison) -> None:
    assert isinstance(welch, Comparison)
    assert welch.metric_type == "mean"
    assert (welch.n_control, welch.n_treatment) == (3407, 3461)
    assert welch.estimate_control == pytest.approx(0.41)
    assert welch.estimate_treatment == pytest.approx(0.70)
    assert welch.ci_method == WELCH_CI_METHOD
    assert welch.relative_ci_method == RELATIVE_DELTA_CI_METHOD
    assert welch.diff_ci[0] < welch.diff < welch.diff_ci[1]
    assert welch.relative_lift_ci[0] < welch.relative_lift < welch.relative_lift_ci[1]
    assert welch.significant is True
    assert welch.notes == ()
    assert set(welch.extra) >= {"relative_p_value", "se", "relative_se", "relative_statistic"}
    assert all(isinstance(v, float) for v in (welch.statistic, welch.df, welch.p_value))
    with pytest.raises(dataclasses.FrozenInstanceError):
        welch.diff = 0.0  # type: ignore[misc]


def test_summary_frame_html_and_json(welch: Comparison) -> None:
    text = welch.summary()
    assert "new onboarding" in text and "old onboarding" in text
    assert "Welch t test" in text and "p = 0.020" in text
    frame = welch.to_frame()
    assert list(frame["term"]) == [
        "old onboarding",
        "new onboarding",
        "difference",
        "relative lift",
    ]
    assert frame.loc[2, "p_value"] == pytest.approx(welch.p_value)
    assert "<h4>" in welch._repr_html_()
    data = json.loads(strict_json(welch))
    assert data["extra"]["relative_p_value"] == pytest.approx(welch.extra["relative_p_value"])
    assert data["significant"] is True


def test_sign_convention_is_treatment_minus_control() -> None:
    a, b = S(500, 1000.0, 9000.0), S(600, 1500.0, 14000.0)
    up, down = welch_test(a, b), welch_test(b, a)
    assert up.diff > 0 and up.statistic > 0
    assert down.diff == pytest.approx(-up.diff)
    assert down.statistic == pytest.approx(-up.statistic)
    assert down.p_value == pytest.approx(up.p_value)


def test_one_sided_alternatives_and_synonyms() -> None:
    a, b = S(500, 1000.0, 9000.0), S(600, 1300.0, 12000.0)
    two = welch_test(a, b)
    larger = welch_test(a, b, alternative="larger")
    smaller = welch_test(a, b, alternative="less")
    assert larger.alternative == "larger" and smaller.alternative == "smaller"
    assert larger.p_value == pytest.approx(two.p_value / 2)
    assert smaller.p_value == pytest.approx(1 - two.p_value / 2)
    assert larger.diff_ci[1] == math.inf and larger.diff_ci[0] > two.diff_ci[0]
    assert smaller.diff_ci[0] == -math.inf
    assert larger.relative_lift_ci[1] == math.inf
    assert welch_test(a, b, alternative="greater").p_value == larger.p_value
    assert json.loads(strict_json(larger))["diff_ci"][1] is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"alpha": 0.0}, ValueError),
        ({"alpha": 1.5}, ValueError),
        ({"alternative": "bigger"}, ValueError),
    ],
)
def test_invalid_options(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        welch_test(S(10, 5.0, 9.0), S(10, 6.0, 9.0), **kwargs)


def test_invalid_inputs() -> None:
    with pytest.raises(TypeError, match="control must be SufficientStats"):
        welch_test((10, 5.0, 9.0), S(10, 6.0, 9.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sum_x"):
        ratio_test(S(10, 5.0, 9.0), S(10, 6.0, 9.0))
    with pytest.raises(ValueError, match="CUPED"):
        cuped_test(S(10, 5.0, 9.0), S(10, 6.0, 9.0))
    with pytest.raises(TypeError, match="RatioCupedStats"):
        cuped_ratio_test(S(10, 5.0, 9.0, 1, 1, 1), ratio_cuped_arm(1))  # type: ignore[arg-type]
    arm = S(100, 50.0, 80.0, 40.0, 60.0, 30.0)
    for bad in ("total", True, math.nan, "0.5"):
        with pytest.raises(ValueError, match="theta"):
            cuped_test(arm, arm, theta=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Degenerate arms: documented behaviour, no crash, a note
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_small", [0, 1])
def test_welch_arm_too_small(n_small: int) -> None:
    small = S(n_small, 3.0 * n_small, 9.0 * n_small)
    res = welch_test(small, S(50, 100.0, 260.0))
    assert math.isnan(res.p_value) and math.isnan(res.statistic) and math.isnan(res.df)
    assert all(math.isnan(v) for v in res.diff_ci + res.relative_lift_ci)
    assert math.isnan(res.extra["relative_p_value"])
    if n_small == 1:
        assert res.diff == pytest.approx(2.0 - 3.0)
    assert any("at least 2 per arm" in note for note in res.notes)
    assert res.significant is False
    strict_json(res)
    assert "at least 2 per arm" in res.summary()


def test_welch_zero_variance_in_both_arms() -> None:
    same = welch_test(S(20, 40.0, 80.0), S(30, 60.0, 120.0))  # all 2s in both arms
    assert same.statistic == 0 and same.p_value == 1
    assert same.diff_ci == (0.0, 0.0) and math.isnan(same.df)
    assert any("zero variance and the same value" in note for note in same.notes)
    differ = welch_test(S(20, 40.0, 80.0), S(30, 90.0, 270.0))  # all 2s vs all 3s
    assert differ.statistic == math.inf and differ.p_value == 0
    assert differ.diff_ci == (1.0, 1.0)
    assert any("zero variance but different values" in note for note in differ.notes)
    strict_json(differ)


def test_welch_zero_variance_in_one_arm_is_an_ordinary_test() -> None:
    res = welch_test(S(20, 40.0, 80.0), S(30, 75.0, 200.0))
    assert 0 < res.p_value < 1 and res.df == pytest.approx(29.0)
    assert res.notes == ()


def test_welch_control_mean_zero_and_negative() -> None:
    zero = welch_test(S(10, 0.0, 10.0), S(10, 5.0, 12.0))
    assert not math.isnan(zero.p_value)
    assert math.isnan(zero.relative_lift) and math.isnan(zero.extra["relative_p_value"])
    assert all(math.isnan(v) for v in zero.relative_lift_ci)
    assert any("relative lift is undefined" in note for note in zero.notes)
    strict_json(zero)
    zero.summary()
    negative = welch_test(S(10, -5.0, 12.0), S(10, -2.0, 12.0))
    assert negative.diff > 0 and negative.relative_lift < 0
    assert any("opposite sign" in note for note in negative.notes)


def test_impossible_sums_are_flagged() -> None:
    res = welch_test(S(10, 10.0, 5.0), S(10, 12.0, 20.0))  # Σy² < (Σy)²/n
    assert any("impossible for real data" in note for note in res.notes)


def test_ratio_degenerate_denominators_and_small_arms() -> None:
    zero_den = ratio_test(S(10, 0.0, 0.0, 0.0, 0.0, 0.0), S(10, 5.0, 9.0, 20.0, 50.0, 12.0))
    assert math.isnan(zero_den.estimate_control) and math.isnan(zero_den.p_value)
    assert any("denominator sums to 0" in note for note in zero_den.notes)
    strict_json(zero_den)
    zero_den.summary()
    small = ratio_test(S(1, 1.0, 1.0, 2.0, 4.0, 2.0), S(10, 5.0, 9.0, 20.0, 50.0, 12.0))
    assert small.estimate_control == 0.5 and math.isnan(small.p_value)
    assert any("at least 2 per arm" in note for note in small.notes)
    # Every unit has the same ratio (y = x / 2): the linearised ratio has no variance.
    x = np.array([2.0, 4.0, 6.0, 8.0])
    same = ratio_test(S.from_values(x / 2, x), S.from_values(x / 2, x))
    assert same.p_value == 1 and same.statistic == 0
    control_zero = ratio_test(
        S.from_values([0.0, 0, 0], [1.0, 2, 3]), S.from_values([1.0, 0, 2], [1.0, 2, 3])
    )
    assert math.isnan(control_zero.relative_lift)
    assert any("relative lift is undefined" in note for note in control_zero.notes)


def test_ratio_result_fields() -> None:
    res = ratio_test(
        S(1000, 480.0, 900.0, 1000.0, 2400.0, 1100.0),
        S(1000, 540.0, 1000.0, 1010.0, 2500.0, 1200.0),
        metric="replies per message",
    )
    assert res.metric_type == "ratio"
    assert res.estimate_control == pytest.approx(0.48)
    assert res.extra["mean_denominator_control"] == pytest.approx(1.0)
    assert "ratio of sums" in res.method and "covariance" in res.ci_method
    strict_json(res)


# --------------------------------------------------------------------------------------------
# CUPED
# --------------------------------------------------------------------------------------------


def cuped_arms(rho_seed: int = 3, n: int = 400) -> tuple[SufficientStats, SufficientStats]:
    rng = np.random.default_rng(rho_seed)
    arms = []
    for shift in (0.0, 0.3):
        x = rng.normal(10, 2, n)
        arms.append(S.from_values(x + rng.normal(shift, 1.5, n), x))
    return arms[0], arms[1]


def test_cuped_extra_and_variance_reduction_note() -> None:
    res = cuped_test(*cuped_arms(), metric="messages")
    assert res.extra["theta_method"] == "pooled"
    assert 0.5 < res.extra["theta"] < 1.5
    assert 0.4 < res.extra["variance_reduction"] < 0.9
    assert res.extra["se"] < res.extra["unadjusted_se"]
    assert res.estimate_treatment == pytest.approx(res.estimate_control + res.diff)
    assert res.relative_lift == pytest.approx(res.estimate_treatment / res.estimate_control - 1)
    note = next(n for n in res.notes if n.startswith("CUPED reduced the variance by"))
    assert f"{100 * res.extra['variance_reduction']:.0f}%" in note
    assert note in res.summary()
    strict_json(res)


def test_cuped_theta_options() -> None:
    control, treatment = cuped_arms()
    pooled, within = cuped_test(control, treatment), cuped_test(control, treatment, theta="within")
    assert within.extra["theta_method"] == "within"
    assert within.extra["theta"] != pooled.extra["theta"]
    fixed = cuped_test(control, treatment, theta=within.extra["theta"])
    assert fixed.extra["theta_method"] == "fixed"
    assert fixed.diff == pytest.approx(within.diff, rel=1e-12)
    none = cuped_test(control, treatment, theta=0)
    plain = welch_test(control, treatment)
    assert none.p_value == pytest.approx(plain.p_value, rel=1e-12)
    assert none.extra["variance_reduction"] == pytest.approx(0.0, abs=1e-12)


def test_cuped_covariate_without_variance_is_welch() -> None:
    control = S(50, 100.0, 260.0, 150.0, 450.0, 300.0)  # x = 3 for everyone
    treatment = S(60, 140.0, 380.0, 180.0, 540.0, 420.0)
    res = cuped_test(control, treatment)
    plain = welch_test(control, treatment)
    assert res.extra["theta"] == 0
    assert res.p_value == pytest.approx(plain.p_value, rel=1e-12)
    assert any("no adjustment (θ = 0)" in note for note in res.notes)


def test_cuped_increase_note_and_degenerate_arms() -> None:
    rng = np.random.default_rng(5)
    y, x = rng.normal(0, 1, (2, 60))
    res = cuped_test(S.from_values(y[:30], x[:30]), S.from_values(y[30:] + 5, x[30:] + 3))
    # θ pooled over both arms picks up the arm difference (not a within-arm relation).
    assert res.extra["variance_reduction"] < 0
    assert any("increased the variance" in note for note in res.notes)
    small = cuped_test(S(1, 1.0, 1.0, 1.0, 1.0, 1.0), S(30, 10.0, 20.0, 5.0, 9.0, 3.0))
    assert math.isnan(small.p_value)
    assert any("at least 2 per arm" in note for note in small.notes)
    strict_json(small)
    zero = cuped_test(S(30, 0.0, 0.0, 5.0, 9.0, 0.0), S(30, 10.0, 20.0, 5.0, 9.0, 3.0))
    assert math.isnan(zero.relative_lift)
    strict_json(zero)


def test_ratio_cuped_stats_api() -> None:
    rng = np.random.default_rng(9)
    y, x, y0, x0 = rng.poisson(3, (4, 25)).astype(float)
    stats_ = RatioCupedStats.from_values(y, x, y0, x0)
    assert stats_.n == 25 and stats_.sum_x_y0 == pytest.approx(float((x * y0).sum()))
    np.testing.assert_allclose(stats_.cov_matrix, np.cov(np.vstack([y, x, y0, x0])), rtol=1e-12)
    np.testing.assert_allclose(stats_.means, [y.mean(), x.mean(), y0.mean(), x0.mean()])
    assert stats_.post == S.from_values(y, x)
    assert stats_.pre == S.from_values(y0, x0)
    half = RatioCupedStats.from_values(y[:10], x[:10], y0[:10], x0[:10])
    rest = RatioCupedStats.from_values(y[10:], x[10:], y0[10:], x0[10:])
    total = half + rest
    assert total.n == 25
    assert all(
        getattr(total, f.name) == pytest.approx(getattr(stats_, f.name))
        for f in dataclasses.fields(RatioCupedStats)
    )
    assert json.loads(json.dumps(stats_.to_dict()))["n"] == 25
    with pytest.raises(ValueError, match="same shape"):
        RatioCupedStats.from_values(y, x, y0, x0[:-1])
    with pytest.raises(ValueError, match="missing values in y0"):
        RatioCupedStats.from_values(y, x, np.r_[y0[:-1], np.nan], x0)
    with pytest.raises(ValueError, match="non-negative integer"):
        RatioCupedStats(-1, *[0.0] * 14)
    assert math.isnan(RatioCupedStats(1, *[1.0] * 14).cov_matrix[0, 0])


def test_ratio_cuped_stats_from_engine() -> None:
    ibis = pytest.importorskip("ibis")
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "variant": rng.choice(["control", "treatment"], 80),
            "replies": rng.poisson(2, 80),
            "messages": rng.poisson(4, 80),
            "replies_pre": rng.poisson(2, 80),
            "messages_pre": rng.poisson(4, 80),
        }
    )
    expr = ratio_cuped_stats_expr(
        ibis.memtable(frame), "replies", "messages", "replies_pre", "messages_pre"
    )
    got = ratio_cuped_stats_from_frame(expr.execute())
    for variant, group in frame.groupby("variant"):
        expected = RatioCupedStats.from_values(
            group["replies"], group["messages"], group["replies_pre"], group["messages_pre"]
        )
        assert got[variant] == expected


def test_cuped_ratio_result_and_notes() -> None:
    res = cuped_ratio_test(ratio_cuped_arm(1), ratio_cuped_arm(2, effect=0.1))
    assert res.metric_type == "ratio"
    assert res.extra["variance_reduction"] > 0.05
    assert any(note.startswith("CUPED reduced the variance by") for note in res.notes)
    assert res.estimate_treatment == pytest.approx(res.estimate_control + res.diff)
    strict_json(res)
    assert "CUPED" in res.summary()


def test_cuped_ratio_degenerate_pre_period_and_denominators() -> None:
    control, treatment = ratio_cuped_arm(1), ratio_cuped_arm(2)
    no_pre = dataclasses.replace(
        control, sum_y0=0.0, sum_x0=0.0, sum_y02=0.0, sum_x02=0.0, sum_y_y0=0.0,
        sum_y_x0=0.0, sum_x_y0=0.0, sum_x_x0=0.0, sum_x0_y0=0.0,
    )  # fmt: skip
    res = cuped_ratio_test(no_pre, treatment)
    plain = ratio_test(no_pre.post, treatment.post)
    assert res.extra["theta"] == 0
    assert res.p_value == pytest.approx(plain.p_value, rel=1e-12)
    assert any("pre-period denominator sums to 0" in note for note in res.notes)
    strict_json(res)

    zeros = dict.fromkeys(["sum_x", "sum_x2", "sum_xy", "sum_x_y0", "sum_x_x0"], 0.0)
    no_post = dataclasses.replace(control, **zeros)
    res = cuped_ratio_test(no_post, treatment)
    assert math.isnan(res.estimate_control) and math.isnan(res.p_value)
    assert any("denominator sums to 0" in note for note in res.notes)
    strict_json(res)
    res.summary()

    tiny = RatioCupedStats.from_values([1.0], [2.0], [1.0], [2.0])
    res = cuped_ratio_test(tiny, treatment)
    assert math.isnan(res.p_value)
    assert any("at least 2 per arm" in note for note in res.notes)
    strict_json(res)
