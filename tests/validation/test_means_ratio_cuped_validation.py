"""Validation of the Welch, delta-method ratio and CUPED tests: references, oracles, simulation.

Arm convention: every function here estimates treatment minus control. scipy's
``ttest_ind(a, b)`` and statsmodels' ``CompareMeans(d1, d2)`` test ``a - b``, so the treatment
is their *first* sample. In R's ``sleep`` example ``t.test(extra ~ group)`` estimates
group 1 - group 2, so group 1 is our treatment and group 2 our control.

The simulations draw many replicate experiments at once, reduce each arm to sums and push the
arrays through the ``_*_arrays`` helpers that the public functions call (a consistency test
checks the two paths agree exactly). Seeds are fixed, so the Monte Carlo checks are
deterministic. Rates are estimated from ``REPLICATES = 4000`` experiments (Monte Carlo standard
error 0.0034 for a 5% rate and for 95% coverage), so the required bands (FPR 0.05 ± 0.01,
coverage 0.95 ± 0.015) are 2.9 and 4.4 standard errors wide. The large-sample simulations use
n = 1,000 units per arm or more on skewed, community-like data (lognormal values,
Poisson-gamma message counts).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analysis.experiments.cuped import (
    RatioCupedStats,
    _cuped_arrays,
    _cuped_ratio_arrays,
    cuped_ratio_test,
    cuped_test,
)
from analysis.experiments.means import _welch_arrays, welch_test
from analysis.experiments.ratio import _ratio_arrays, ratio_test
from analysis.experiments.sufficient import SufficientStats

REPLICATES = 4000
CHUNK = 500  # replicates simulated at once (bounds memory at ~ CHUNK x n floats per array)
FPR_BAND = 0.01
COVERAGE_BAND = 0.015


# --------------------------------------------------------------------------------------------
# Reference numbers (shared/spec/references.md)
# --------------------------------------------------------------------------------------------

SLEEP_GROUP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_GROUP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_reference_r_sleep() -> None:
    # R: t.test(extra ~ group, data = sleep) -> t = -1.8608, df = 17.776, p = 0.07939,
    # 95% CI of mean(group 1) - mean(group 2) = (-3.3654832, 0.2054832).
    res = welch_test(
        SufficientStats.from_values(SLEEP_GROUP_2), SufficientStats.from_values(SLEEP_GROUP_1)
    )
    assert res.statistic == pytest.approx(-1.8608135, rel=1e-6)
    assert res.df == pytest.approx(17.776474, rel=1e-6)
    assert res.p_value == pytest.approx(0.07939414, rel=1e-6)
    assert res.diff_ci == pytest.approx((-3.3654832, 0.2054832), rel=1e-6)
    assert res.diff == pytest.approx(0.75 - 2.33, rel=1e-12)


def test_welch_reference_gbstats_sufficient_stats() -> None:
    # GrowthBook gbstats tests, 5 decimals. A (0.41 per unit) is the control, B (0.70) the
    # treatment: lift 0.7 / 0.41 - 1 = 0.70732.
    res = welch_test(
        SufficientStats(3407, 1396.87, 52377.9767), SufficientStats(3461, 2422.7, 134698.29)
    )
    five_dp = 5e-6
    assert res.diff == pytest.approx(0.29, abs=five_dp)
    assert res.diff_ci == pytest.approx((0.04538, 0.53462), abs=five_dp)
    assert res.p_value == pytest.approx(0.02016, abs=five_dp)
    assert res.relative_lift == pytest.approx(0.70732, abs=five_dp)
    assert res.relative_lift_ci == pytest.approx((-0.03526, 1.44989), abs=five_dp)
    assert res.extra["relative_p_value"] == pytest.approx(0.06191, abs=five_dp)
    # The t quantile on Welch df matters at 5 dp: a normal interval would give 0.04543.
    assert abs(res.diff_ci[0] - (0.29 - stats.norm.isf(0.025) * res.extra["se"])) > 4e-5


def test_ratio_reference_gbstats() -> None:
    # GrowthBook gbstats tests, re-derived (m numerator = our y, d denominator = our x).
    # These sums are not realisable by real data (Σd² = 810 < (Σd)²/n = 2601): the reference
    # is reproduced only when component variances are NOT clipped at 0, as in gbstats; the
    # result carries a note saying the sums are impossible.
    control = SufficientStats(100, 270, 848.79, 510, 810, -900)
    treatment = SufficientStats(120, 300, 869, 500, 800, -905)
    res = ratio_test(control, treatment)
    assert res.estimate_control == pytest.approx(0.529411765, rel=1e-9)
    assert res.estimate_treatment == pytest.approx(0.6, rel=1e-12)
    assert res.relative_lift == pytest.approx(0.133333333, rel=1e-8)
    # Nine significant digits: Welch df and unbiased (n - 1) variances give 0.6106633394;
    # n_c + n_t - 2 df would give 0.6106630717 and a normal reference 0.6101472824.
    assert res.extra["relative_p_value"] == pytest.approx(0.610663339, rel=2e-9)
    assert any("impossible for real data" in note for note in res.notes)


def test_cuped_reference_gbstats() -> None:
    # GrowthBook gbstats tests, re-derived. theta pooled over both arms as one sample
    # ("pooled"); the within-arm slope would be -0.0747940 and the lift on the unadjusted
    # control mean -0.2817; the relative p-value needs the gbstats control gradient (k =
    # unadjusted treatment mean / control mean): the exact plug-in gradient would give 0.003375.
    control = SufficientStats(3001, 300, 600, 210, 415, -20)
    treatment = SufficientStats(3000, 222, 555, 120, 405, -10)
    res = cuped_test(control, treatment)
    assert res.extra["theta"] == pytest.approx(-0.0732119, rel=1e-6)
    assert res.relative_lift == pytest.approx(-0.281707154, rel=1e-8)
    assert res.extra["relative_p_value"] == pytest.approx(0.003732549, rel=1e-6)
    within = cuped_test(control, treatment, theta="within")
    assert within.extra["theta"] == pytest.approx(-0.0747940, rel=1e-5)


# --------------------------------------------------------------------------------------------
# Independent implementations on the same unit-level data
# --------------------------------------------------------------------------------------------


def _lognormal_pair(seed: int, n_c: int, n_t: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.lognormal(1.0, 1.0, n_c), 0.3 + rng.lognormal(1.0, 1.3, n_t)


DATA_SETS = [
    _lognormal_pair(seed, n_c, n_t)
    for seed, (n_c, n_t) in enumerate([(5, 7), (12, 40), (300, 280), (2000, 3500)])
] + [(np.array(SLEEP_GROUP_2), np.array(SLEEP_GROUP_1))]


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_welch_agrees_with_scipy_and_statsmodels(alternative: str, alpha: float) -> None:
    scipy_alt = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    for y_c, y_t in DATA_SETS:
        res = welch_test(
            SufficientStats.from_values(y_c),
            SufficientStats.from_values(y_t),
            alpha=alpha,
            alternative=alternative,
        )
        sp = stats.ttest_ind(y_t, y_c, equal_var=False, alternative=scipy_alt)
        assert res.statistic == pytest.approx(sp.statistic, rel=1e-9)
        assert res.p_value == pytest.approx(sp.pvalue, rel=1e-8, abs=1e-15)
        assert res.df == pytest.approx(sp.df, rel=1e-9)
        low, high = sp.confidence_interval(1 - alpha)
        assert res.diff_ci == pytest.approx((low, high), rel=1e-9)

        cm = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_c))
        t, p, df = cm.ttest_ind(alternative=alternative, usevar="unequal")
        assert (res.statistic, res.p_value, res.df) == pytest.approx((t, p, df), rel=1e-8)
        low, high = cm.tconfint_diff(alpha=alpha, alternative=alternative, usevar="unequal")
        assert res.diff_ci == pytest.approx((low, high), rel=1e-9)


def _numeric_gradient(g: Callable[[np.ndarray], float], point: np.ndarray) -> np.ndarray:
    grad = np.empty_like(point)
    for i in range(point.size):
        h = 1e-6 * max(abs(point[i]), 1e-3)
        up, down = point.copy(), point.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (g(up) - g(down)) / (2 * h)
    return grad


def test_welch_relative_lift_is_the_delta_method() -> None:
    """Generic delta method: central-difference gradient, covariance diag(s²/n)."""
    for y_c, y_t in DATA_SETS:
        res = welch_test(SufficientStats.from_values(y_c), SufficientStats.from_values(y_t))
        point = np.array([y_c.mean(), y_t.mean()])
        grad = _numeric_gradient(lambda m: m[1] / m[0] - 1.0, point)
        cov = np.diag([y_c.var(ddof=1) / y_c.size, y_t.var(ddof=1) / y_t.size])
        se = math.sqrt(grad @ cov @ grad)
        crit = stats.t.isf(0.025, res.df)
        lift = y_t.mean() / y_c.mean() - 1
        assert res.relative_lift == pytest.approx(lift, rel=1e-12)
        assert res.extra["relative_se"] == pytest.approx(se, rel=1e-6)
        assert res.relative_lift_ci == pytest.approx((lift - crit * se, lift + crit * se), rel=1e-6)
        assert res.extra["relative_p_value"] == pytest.approx(
            2 * stats.t.sf(abs(lift / se), res.df), rel=1e-5
        )


def _ratio_units(seed: int, n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Messages sent (Poisson-gamma, at least 1) and replies received per member."""
    rng = np.random.default_rng(seed)
    messages = 1 + rng.poisson(rng.gamma(0.6, 6.0, n))
    replies = rng.poisson(messages * rng.gamma(2.0, rate / 2.0, n))
    return replies.astype(float), messages.astype(float)


RATIO_SETS = [
    (_ratio_units(10 + i, n_c, 0.5), _ratio_units(20 + i, n_t, 0.55))
    for i, (n_c, n_t) in enumerate([(30, 45), (400, 380), (5000, 5200)])
]


def test_ratio_matches_hand_delta_method_on_units() -> None:
    for (y_c, x_c), (y_t, x_t) in RATIO_SETS:
        res = ratio_test(
            SufficientStats.from_values(y_c, x_c), SufficientStats.from_values(y_t, x_t)
        )
        arms = []
        for y, x in ((y_c, x_c), (y_t, x_t)):
            r = y.sum() / x.sum()
            influence = (y - r * x) / x.mean()  # linearised ratio, one value per unit
            arms.append((r, influence.var(ddof=1), y.size))
        (r_c, v_c, n_c), (r_t, v_t, n_t) = arms
        se = math.sqrt(v_c / n_c + v_t / n_t)
        df = se**4 / ((v_c / n_c) ** 2 / (n_c - 1) + (v_t / n_t) ** 2 / (n_t - 1))
        assert res.diff == pytest.approx(r_t - r_c, rel=1e-12)
        assert res.extra["se"] == pytest.approx(se, rel=1e-9)
        assert res.df == pytest.approx(df, rel=1e-9)
        assert res.p_value == pytest.approx(2 * stats.t.sf(abs(r_t - r_c) / se, df), rel=1e-8)

        # Relative lift: gradient of R_t / R_c - 1 in the four means (m_c, d_c, m_t, d_t) with
        # the block-diagonal covariance of the means (np.cov per arm / n).
        point = np.array([y_c.mean(), x_c.mean(), y_t.mean(), x_t.mean()])
        grad = _numeric_gradient(lambda m: (m[2] / m[3]) / (m[0] / m[1]) - 1.0, point)
        cov = np.zeros((4, 4))
        cov[:2, :2] = np.cov(y_c, x_c) / y_c.size
        cov[2:, 2:] = np.cov(y_t, x_t) / y_t.size
        assert res.extra["relative_se"] == pytest.approx(math.sqrt(grad @ cov @ grad), rel=1e-6)


def test_ratio_se_equals_statsmodels_wls_hc1() -> None:
    """Σy/Σx is the WLS slope of y on x (no intercept, weights 1/x); its HC1 SE is ours."""
    for arms in RATIO_SETS:
        res = ratio_test(*(SufficientStats.from_values(y, x) for y, x in arms))
        fits = [sm.WLS(y, x, weights=1.0 / x).fit(cov_type="HC1") for y, x in arms]
        assert res.estimate_control == pytest.approx(fits[0].params[0], rel=1e-12)
        assert res.estimate_treatment == pytest.approx(fits[1].params[0], rel=1e-12)
        se = math.sqrt(fits[0].bse[0] ** 2 + fits[1].bse[0] ** 2)
        assert res.extra["se"] == pytest.approx(se, rel=1e-9)


def _cuped_units(seed: int, n: int, effect: float) -> tuple[np.ndarray, np.ndarray]:
    """Pre-period and experiment-period messages of members with gamma-distributed activity."""
    rng = np.random.default_rng(seed)
    activity = rng.gamma(1.0, 3.0, n)
    pre = rng.poisson(activity).astype(float)
    post = rng.poisson(activity * (1 + effect)).astype(float)
    return post, pre


CUPED_SETS = [
    (_cuped_units(30 + i, n_c, 0.0), _cuped_units(40 + i, n_t, 0.1))
    for i, (n_c, n_t) in enumerate([(25, 40), (500, 450), (3000, 3100)])
]


def _ols_design(
    arms: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (y_c, x_c), (y_t, x_t) = arms
    y = np.concatenate([y_c, y_t])
    x = np.concatenate([x_c, x_t])
    treat = np.concatenate([np.zeros(y_c.size), np.ones(y_t.size)])
    return y, x, treat


def test_cuped_within_theta_equals_ancova_ols() -> None:
    """theta="within": diff and θ are the arm and covariate coefficients of y ~ 1 + T + (x - x̄)."""
    for arms in CUPED_SETS:
        res = cuped_test(*(SufficientStats.from_values(y, x) for y, x in arms), theta="within")
        y, x, treat = _ols_design(arms)
        fit = sm.OLS(y, np.column_stack([np.ones_like(y), treat, x - x.mean()])).fit()
        assert res.diff == pytest.approx(fit.params[1], rel=1e-9)
        assert res.extra["theta"] == pytest.approx(fit.params[2], rel=1e-9)
        # Standard errors agree to first order in large arms (HC2 of the ANCOVA vs our
        # θ-as-known Welch SE; with 25 vs 40 units they differ by ~6%, leverage of x).
        if y.size >= 500:
            hc2 = sm.OLS(y, fit.model.exog).fit(cov_type="HC2")
            assert res.extra["se"] == pytest.approx(hc2.bse[1], rel=0.01)


def test_cuped_pooled_theta_equals_ols_on_adjusted_outcome() -> None:
    """Default θ = cov/var over all units; y - θ(x - x̄) regressed on T with HC2 gives diff, SE."""
    for arms in CUPED_SETS:
        res = cuped_test(*(SufficientStats.from_values(y, x) for y, x in arms))
        y, x, treat = _ols_design(arms)
        theta = np.cov(x, y)[0, 1] / x.var(ddof=1)
        assert res.extra["theta"] == pytest.approx(theta, rel=1e-9)
        adjusted = y - theta * (x - x.mean())
        fit = sm.OLS(adjusted, sm.add_constant(treat)).fit(cov_type="HC2")
        assert res.diff == pytest.approx(fit.params[1], rel=1e-9)
        # HC2 with a single binary regressor is exactly the Welch (unequal-variance) SE.
        assert res.extra["se"] == pytest.approx(fit.bse[1], rel=1e-9)
        assert res.extra["unadjusted_diff"] == pytest.approx(
            arms[1][0].mean() - arms[0][0].mean(), rel=1e-12
        )
        welch = stats.ttest_ind(adjusted[treat == 1], adjusted[treat == 0], equal_var=False)
        assert res.p_value == pytest.approx(welch.pvalue, rel=1e-8)


def _ratio_cuped_units(
    seed: int, n: int, effect: float, pre_correlated: bool = True
) -> tuple[np.ndarray, ...]:
    """Replies received (y) per message sent (x), with the same members' pre-period (y0, x0).

    Members have a persistent activity level and reply rate (gamma); the pre-period shares them
    unless ``pre_correlated`` is False. Returns ``(y, x, y0, x0)``.
    """
    rng = np.random.default_rng(seed)
    activity = rng.gamma(0.8, 5.0, n)
    rate = rng.gamma(2.0, 0.25, n)
    x = 1 + rng.poisson(activity)
    y = rng.poisson(x * rate * (1 + effect))
    if not pre_correlated:
        activity = rng.gamma(0.8, 5.0, n)
        rate = rng.gamma(2.0, 0.25, n)
    x0 = 1 + rng.poisson(activity)
    y0 = rng.poisson(x0 * rate)
    return tuple(v.astype(float) for v in (y, x, y0, x0))


RATIO_CUPED_SETS = [
    (_ratio_cuped_units(50 + i, n_c, 0.0), _ratio_cuped_units(60 + i, n_t, 0.08))
    for i, (n_c, n_t) in enumerate([(40, 35), (800, 900), (4000, 3800)])
]


@pytest.mark.parametrize("theta", ["pooled", "within", 0.37])
def test_cuped_ratio_matches_hand_implementation_on_units(theta: str | float) -> None:
    """Linearise both ratios per unit, adjust, and take Welch on the adjusted influence values."""
    for arms in RATIO_CUPED_SETS:
        res = cuped_ratio_test(*(RatioCupedStats.from_values(*a) for a in arms), theta=theta)

        def linearised(y, x, y0, x0, ref=None):
            ref = ref if ref is not None else (y, x, y0, x0)
            r, r0 = ref[0].sum() / ref[1].sum(), ref[2].sum() / ref[3].sum()
            return (y - r * x) / ref[1].mean(), (y0 - r0 * x0) / ref[3].mean(), r, r0

        lin = [linearised(*a) for a in arms]
        if theta == "pooled":
            both = tuple(np.concatenate([arms[0][k], arms[1][k]]) for k in range(4))
            l_all, l0_all, _, _ = linearised(*both)
            th = np.cov(l_all, l0_all)[0, 1] / l0_all.var(ddof=1)
        elif theta == "within":
            num = sum((a[0].size - 1) * np.cov(a[0], a[1])[0, 1] for a in lin)
            den = sum((a[0].size - 1) * a[1].var(ddof=1) for a in lin)
            th = num / den
        else:
            th = theta
        assert res.extra["theta"] == pytest.approx(th, rel=1e-9)
        adjusted = [lc - th * l0 for lc, l0, _, _ in lin]
        diff = (lin[1][2] - lin[0][2]) - th * (lin[1][3] - lin[0][3])
        var = [a.var(ddof=1) / a.size for a in adjusted]
        assert res.diff == pytest.approx(diff, rel=1e-9)
        assert res.extra["se"] == pytest.approx(math.sqrt(sum(var)), rel=1e-9)
        df = sum(var) ** 2 / sum(v**2 / (a.size - 1) for v, a in zip(var, adjusted, strict=True))
        assert res.df == pytest.approx(df, rel=1e-9)


def test_cuped_ratio_reduces_to_cuped_and_to_ratio_test() -> None:
    for arms in RATIO_CUPED_SETS:
        # Every denominator 1: the ratio metric is a mean, CUPED for ratios is CUPED for means.
        ones = [
            RatioCupedStats.from_values(y, np.ones_like(y), y0, np.ones_like(y0))
            for y, _, y0, _ in arms
        ]
        means = [SufficientStats.from_values(y, y0) for y, _, y0, _ in arms]
        a, b = cuped_ratio_test(*ones), cuped_test(*means)
        for key in ("diff", "statistic", "df", "p_value", "relative_lift"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-9)
        assert a.extra["relative_p_value"] == pytest.approx(b.extra["relative_p_value"], rel=1e-9)
        # theta = 0: the plain delta-method ratio test.
        stats_ = [RatioCupedStats.from_values(*arm) for arm in arms]
        c = cuped_ratio_test(*stats_, theta=0.0)
        d = ratio_test(*(s.post for s in stats_))
        assert c.diff_ci == pytest.approx(d.diff_ci, rel=1e-12)
        assert c.relative_lift_ci == pytest.approx(d.relative_lift_ci, rel=1e-12)
        assert c.p_value == pytest.approx(d.p_value, rel=1e-12)


def test_array_helpers_are_the_public_code_path() -> None:
    def stack(dicts: list[dict]) -> dict[str, np.ndarray]:
        return {k: np.array([d[k] for d in dicts]) for k in dicts[0]}

    cases = [
        (welch_test, _welch_arrays, [
            tuple(SufficientStats.from_values(v) for v in pair) for pair in DATA_SETS]),
        (ratio_test, _ratio_arrays, [
            tuple(SufficientStats.from_values(*a) for a in arms) for arms in RATIO_SETS]),
        (cuped_test, _cuped_arrays, [
            tuple(SufficientStats.from_values(*a) for a in arms) for arms in CUPED_SETS]),
        (cuped_ratio_test, _cuped_ratio_arrays, [
            tuple(RatioCupedStats.from_values(*a) for a in arms) for arms in RATIO_CUPED_SETS]),
    ]  # fmt: skip
    for public, helper, pairs in cases:
        for alternative in ("two-sided", "larger"):
            arrays = helper(
                stack([c.to_dict() for c, _ in pairs]),
                stack([t.to_dict() for _, t in pairs]),
                alpha=0.05,
                alternative=alternative,
            )
            for i, (c, t) in enumerate(pairs):
                res = public(c, t, alternative=alternative)
                assert arrays["p_value"][i] == res.p_value
                assert arrays["relative_p_value"][i] == res.extra["relative_p_value"]
                assert (arrays["diff_low"][i], arrays["diff_high"][i]) == res.diff_ci
                assert (arrays["relative_low"][i], arrays["relative_high"][i]) == (
                    res.relative_lift_ci
                )


# --------------------------------------------------------------------------------------------
# Simulation (seeded, vectorised over replicates)
# --------------------------------------------------------------------------------------------


def _sums(values: dict[str, np.ndarray], products: dict[str, tuple[str, ...]]) -> dict:
    """Per-replicate sums (rows are replicates) of the named products of unit-level arrays."""
    first = next(iter(values.values()))
    out: dict[str, np.ndarray] = {"n": np.full(first.shape[0], first.shape[1])}
    for name, factors in products.items():
        prod = values[factors[0]]
        for factor in factors[1:]:
            prod = prod * values[factor]
        out[name] = prod.sum(axis=1)
    return out


MEAN_SUMS = {"sum_y": ("y",), "sum_y2": ("y", "y")}
PAIR_SUMS = MEAN_SUMS | {"sum_x": ("x",), "sum_x2": ("x", "x"), "sum_xy": ("x", "y")}
RATIO_CUPED_SUMS = {
    "sum_y": ("y",), "sum_x": ("x",), "sum_y0": ("y0",), "sum_x0": ("x0",),
    "sum_y2": ("y", "y"), "sum_x2": ("x", "x"), "sum_y02": ("y0", "y0"),
    "sum_x02": ("x0", "x0"), "sum_xy": ("x", "y"), "sum_y_y0": ("y", "y0"),
    "sum_y_x0": ("y", "x0"), "sum_x_y0": ("x", "y0"), "sum_x_x0": ("x", "x0"),
    "sum_x0_y0": ("x0", "y0"),
}  # fmt: skip


def simulate(
    seed: int,
    draw: Callable[[np.random.Generator, int, int, bool], dict[str, np.ndarray]],
    products: dict[str, tuple[str, ...]],
    n_control: int,
    n_treatment: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sums of REPLICATES experiments; ``draw(rng, replicates, n, is_treatment)`` gives units."""
    rng = np.random.default_rng(seed)
    chunks: list[tuple[dict, dict]] = []
    for _ in range(REPLICATES // CHUNK):
        chunks.append(
            (
                _sums(draw(rng, CHUNK, n_control, False), products),
                _sums(draw(rng, CHUNK, n_treatment, True), products),
            )
        )
    return tuple(  # type: ignore[return-value]
        {k: np.concatenate([c[arm][k] for c in chunks]) for k in chunks[0][arm]} for arm in (0, 1)
    )


def rejection_rate(p_values: np.ndarray, alpha: float = 0.05) -> float:
    assert not np.isnan(p_values).any()
    return float(np.mean(p_values < alpha))


def coverage(low: np.ndarray, high: np.ndarray, truth: float) -> float:
    return float(np.mean((low <= truth) & (truth <= high)))


# Welch on lognormal values (skewness 6.2): n = 1,000 control and 1,500 treatment units.
LOGNORMAL_SIGMA = 1.0
LOGNORMAL_SHIFT = 0.1  # treatment log-mean shift of the planted effect


def _draw_lognormal(shift: float) -> Callable:
    def draw(rng: np.random.Generator, reps: int, n: int, treated: bool) -> dict:
        mu = shift if treated else 0.0
        return {"y": rng.lognormal(mu, LOGNORMAL_SIGMA, (reps, n))}

    return draw


def test_simulation_welch_aa_false_positive_rate() -> None:
    c, t = simulate(101, _draw_lognormal(0.0), MEAN_SUMS, 1000, 1500)
    res = _welch_arrays(c, t)
    assert rejection_rate(res["p_value"]) == pytest.approx(0.05, abs=FPR_BAND)
    assert rejection_rate(res["relative_p_value"]) == pytest.approx(0.05, abs=FPR_BAND)


def test_simulation_welch_coverage_of_planted_effect() -> None:
    c, t = simulate(102, _draw_lognormal(LOGNORMAL_SHIFT), MEAN_SUMS, 1000, 1500)
    res = _welch_arrays(c, t)
    mean_c = math.exp(LOGNORMAL_SIGMA**2 / 2)
    mean_t = math.exp(LOGNORMAL_SHIFT + LOGNORMAL_SIGMA**2 / 2)
    cov_abs = coverage(res["diff_low"], res["diff_high"], mean_t - mean_c)
    cov_rel = coverage(res["relative_low"], res["relative_high"], mean_t / mean_c - 1)
    assert cov_abs == pytest.approx(0.95, abs=COVERAGE_BAND)
    assert cov_rel == pytest.approx(0.95, abs=COVERAGE_BAND)


def test_simulation_welch_small_unequal_arms_need_welch_df() -> None:
    """Normal data, n = 8 (sd 3) vs 25 (sd 1): Welch's df keep the size; a normal
    reference distribution (or the pooled t) would not."""

    def draw(rng: np.random.Generator, reps: int, n: int, treated: bool) -> dict:
        return {"y": rng.normal(0.0, 1.0 if treated else 3.0, (reps, n))}

    c, t = simulate(103, draw, MEAN_SUMS, 8, 25)
    res = _welch_arrays(c, t)
    assert rejection_rate(res["p_value"]) == pytest.approx(0.05, abs=FPR_BAND)
    z_rate = rejection_rate(2 * stats.norm.sf(np.abs(res["statistic"])))
    assert z_rate > 0.065  # what ignoring the degrees of freedom would cost


# Ratio metric: replies received per message sent, Poisson-gamma counts, n = 1,000 per arm.
REPLY_RATE = 0.5
RATIO_EFFECT = 0.08  # relative change of every member's reply rate


def _draw_replies(effect: float) -> Callable:
    def draw(rng: np.random.Generator, reps: int, n: int, treated: bool) -> dict:
        messages = rng.poisson(rng.gamma(0.6, 6.0, (reps, n))).astype(float)
        rate = rng.gamma(2.0, REPLY_RATE / 2.0, (reps, n)) * (1 + effect if treated else 1.0)
        return {"y": rng.poisson(messages * rate).astype(float), "x": messages}

    return draw


def test_simulation_ratio_aa_false_positive_rate() -> None:
    # Messages ~ Poisson(Gamma(0.6, 6)): 40% of members post nothing, a few post 30+.
    c, t = simulate(201, _draw_replies(0.0), PAIR_SUMS, 1000, 1000)
    res = _ratio_arrays(c, t)
    assert rejection_rate(res["p_value"]) == pytest.approx(0.05, abs=FPR_BAND)
    assert rejection_rate(res["relative_p_value"]) == pytest.approx(0.05, abs=FPR_BAND)


def test_simulation_ratio_coverage_of_planted_effect() -> None:
    c, t = simulate(202, _draw_replies(RATIO_EFFECT), PAIR_SUMS, 1000, 1000)
    res = _ratio_arrays(c, t)
    # Reply rate independent of activity: true ratio = E[rate] = REPLY_RATE (x (1 + effect)).
    truth_abs = REPLY_RATE * RATIO_EFFECT
    assert coverage(res["diff_low"], res["diff_high"], truth_abs) == pytest.approx(
        0.95, abs=COVERAGE_BAND
    )
    assert coverage(res["relative_low"], res["relative_high"], RATIO_EFFECT) == pytest.approx(
        0.95, abs=COVERAGE_BAND
    )


def test_simulation_naive_per_message_test_is_anticonservative() -> None:
    """Why the delta method: members' messages are correlated (shared reply rate)."""
    c, t = simulate(203, _draw_replies(0.0), PAIR_SUMS, 1000, 1000)
    # The per-message model: replies as Poisson counts over Σx independent messages, variance
    # R / Σx per arm. It ignores that one member's messages share that member's reply rate.
    r_c, r_t = c["sum_y"] / c["sum_x"], t["sum_y"] / t["sum_x"]
    z = (r_t - r_c) / np.sqrt(r_c / c["sum_x"] + r_t / t["sum_x"])
    assert rejection_rate(2 * stats.norm.sf(np.abs(z))) > 0.1


# CUPED for means: members' pre-period and experiment-period messages share an activity level.
ACTIVITY_SHAPE, ACTIVITY_SCALE = 1.0, 3.0
CUPED_EFFECT = 0.1


def _draw_messages(effect: float) -> Callable:
    def draw(rng: np.random.Generator, reps: int, n: int, treated: bool) -> dict:
        activity = rng.gamma(ACTIVITY_SHAPE, ACTIVITY_SCALE, (reps, n))
        pre = rng.poisson(activity).astype(float)
        post = rng.poisson(activity * (1 + effect if treated else 1.0)).astype(float)
        return {"y": post, "x": pre}

    return draw


def test_simulation_cuped_aa_false_positive_rate() -> None:
    c, t = simulate(301, _draw_messages(0.0), PAIR_SUMS, 1000, 1000)
    res = _cuped_arrays(c, t)
    assert rejection_rate(res["p_value"]) == pytest.approx(0.05, abs=FPR_BAND)
    assert rejection_rate(res["relative_p_value"]) == pytest.approx(0.05, abs=FPR_BAND)


def test_simulation_cuped_coverage_of_planted_effect() -> None:
    c, t = simulate(302, _draw_messages(CUPED_EFFECT), PAIR_SUMS, 1000, 1000)
    res = _cuped_arrays(c, t)
    truth_abs = CUPED_EFFECT * ACTIVITY_SHAPE * ACTIVITY_SCALE
    assert coverage(res["diff_low"], res["diff_high"], truth_abs) == pytest.approx(
        0.95, abs=COVERAGE_BAND
    )
    assert coverage(res["relative_low"], res["relative_high"], CUPED_EFFECT) == pytest.approx(
        0.95, abs=COVERAGE_BAND
    )
    # Correlation of pre and post counts: Var(activity) / (Var(activity) + E activity) = 0.75.
    assert float(np.mean(res["variance_reduction"])) == pytest.approx(0.75**2, abs=0.03)


def test_simulation_cuped_variance_reduction_is_rho_squared() -> None:
    """Bivariate normal covariate with correlation 0.6: variance falls by ≈ 0.36."""
    rho = 0.6

    def draw(rng: np.random.Generator, reps: int, n: int, treated: bool) -> dict:
        x = rng.normal(0.0, 1.0, (reps, n))
        y = 5.0 + rho * x + math.sqrt(1 - rho**2) * rng.normal(0.0, 1.0, (reps, n))
        return {"y": y, "x": x}

    c, t = simulate(303, draw, PAIR_SUMS, 1000, 1000)
    res = _cuped_arrays(c, t)
    assert float(np.mean(res["variance_reduction"])) == pytest.approx(rho**2, abs=0.03)
    # ... and the estimates themselves vary less across replicates by that factor.
    realised = 1 - np.var(res["diff"]) / np.var(res["unadjusted_diff"])
    assert realised == pytest.approx(rho**2, abs=0.03)
    assert rejection_rate(res["p_value"]) == pytest.approx(0.05, abs=FPR_BAND)


# CUPED for ratios: replies per message, pre-period from the same members.
def _draw_ratio_cuped(effect: float, pre_correlated: bool = True) -> Callable:
    def draw(rng: np.random.Generator, reps: int, n: int, treated: bool) -> dict:
        shape = (reps, n)
        activity = rng.gamma(0.8, 5.0, shape)
        rate = rng.gamma(2.0, REPLY_RATE / 2.0, shape)
        x = rng.poisson(activity).astype(float)
        y = rng.poisson(x * rate * (1 + effect if treated else 1.0)).astype(float)
        if not pre_correlated:
            activity = rng.gamma(0.8, 5.0, shape)
            rate = rng.gamma(2.0, REPLY_RATE / 2.0, shape)
        x0 = rng.poisson(activity).astype(float)
        y0 = rng.poisson(x0 * rate).astype(float)
        return {"y": y, "x": x, "y0": y0, "x0": x0}

    return draw


def test_simulation_cuped_ratio_aa_and_coverage() -> None:
    c, t = simulate(401, _draw_ratio_cuped(0.0), RATIO_CUPED_SUMS, 1000, 1000)
    aa = _cuped_ratio_arrays(c, t)
    assert rejection_rate(aa["p_value"]) == pytest.approx(0.05, abs=FPR_BAND)
    assert rejection_rate(aa["relative_p_value"]) == pytest.approx(0.05, abs=FPR_BAND)

    c, t = simulate(402, _draw_ratio_cuped(RATIO_EFFECT), RATIO_CUPED_SUMS, 1000, 1000)
    res = _cuped_ratio_arrays(c, t)
    assert coverage(res["diff_low"], res["diff_high"], REPLY_RATE * RATIO_EFFECT) == (
        pytest.approx(0.95, abs=COVERAGE_BAND)
    )
    assert coverage(res["relative_low"], res["relative_high"], RATIO_EFFECT) == pytest.approx(
        0.95, abs=COVERAGE_BAND
    )
    # The pre-period ratio shares each member's reply rate: the variance falls, as reported
    # and as realised across replicates.
    reported = float(np.mean(res["variance_reduction"]))
    realised = 1 - np.var(res["diff"]) / np.var(res["unadjusted_diff"])
    assert reported > 0.15
    assert realised == pytest.approx(reported, abs=0.04)


def test_simulation_cuped_ratio_uncorrelated_pre_period_changes_little() -> None:
    c, t = simulate(403, _draw_ratio_cuped(0.0, pre_correlated=False), RATIO_CUPED_SUMS, 1000, 1000)
    res = _cuped_ratio_arrays(c, t)
    assert float(np.mean(res["variance_reduction"])) == pytest.approx(0.0, abs=0.01)
    assert rejection_rate(res["p_value"]) == pytest.approx(0.05, abs=FPR_BAND)
