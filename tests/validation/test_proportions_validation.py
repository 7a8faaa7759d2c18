"""Validation of analysis.experiments.proportions against references, statsmodels/scipy, simulation.

Arm convention: ``two_proportion_test(s_c, n_c, s_t, n_t)`` estimates ``p_t - p_c``. statsmodels
computes ``count1/nobs1 - count2/nobs2``, so its first element is our *treatment* arm:
``proportions_ztest([s_t, s_c], [n_t, n_c])``.

The simulations draw binomial counts for many replicate experiments at once and push the arrays
through ``_two_proportion_arrays``, the helper that ``two_proportion_test`` itself calls; a
consistency test checks the two paths give identical numbers. All seeds are fixed, so the Monte
Carlo checks are deterministic; tolerances are 3 Monte Carlo standard errors, and never looser
than the product's acceptance bands (false-positive rate 5% ± 1%, coverage 95% ± 1.5%).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_chisquare,
    proportions_ztest,
)

from analysis.experiments import proportions_chi2_test, two_proportion_test
from analysis.experiments.proportions import _two_proportion_arrays

REPLICATES = 10_000


def mc_tolerance(p: float, draws: int) -> float:
    """3 Monte Carlo SE, capped by the acceptance bands (±0.01 for rates near 5%, ±0.015 for
    coverage near 95%)."""
    band = 0.01 if p < 0.5 else 0.015
    return min(3.0 * math.sqrt(p * (1.0 - p) / draws), band)


# --------------------------------------------------------------------------------------------
# Reference numbers (shared/spec/references.md)
# --------------------------------------------------------------------------------------------


def test_two_proportions_reference_statsmodels_docstring() -> None:
    # statsmodels: proportions_ztest(count=[5, 12], nobs=[83, 99]) -> z = -1.4078304,
    # p = 0.1591813; its first sample (5/83) is our treatment, 12/99 our control.
    res = two_proportion_test(12, 99, 5, 83)
    assert res.z == pytest.approx(-1.4078304, rel=1e-6)
    assert res.p_value == pytest.approx(0.1591813, rel=1e-6)
    assert res.diff == pytest.approx(5 / 83 - 12 / 99, rel=1e-12)
    assert res.significant is False


def test_k_sample_reference_r_prop_test() -> None:
    # R ?prop.test: smokers <- c(83, 90, 129, 70); patients <- c(86, 93, 136, 82)
    res = proportions_chi2_test([83, 90, 129, 70], [86, 93, 136, 82])
    assert res.statistic == pytest.approx(12.600411, rel=1e-6)
    assert res.df == 3
    assert res.p_value == pytest.approx(0.005585477, rel=1e-6)
    assert res.significant is True


@pytest.mark.parametrize(
    ("s1", "n1", "s2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_newcombe_1998_table_ii_method_10(
    s1: int, n1: int, s2: int, n2: int, low: float, high: float
) -> None:
    # Newcombe (1998) Stat Med 17:873, Table II, method 10, for p1 - p2 (4 decimals);
    # sample 1 is our treatment. Includes the degenerate 0/10 vs 0/10 and 10/10 vs 0/10 cases.
    res = two_proportion_test(s2, n2, s1, n1)
    assert res.diff_ci == pytest.approx((low, high), abs=5e-5)


# --------------------------------------------------------------------------------------------
# Independent implementations on the same data (statsmodels, scipy)
# --------------------------------------------------------------------------------------------


def random_count_sets(seed: int, size: int) -> list[tuple[int, int, int, int]]:
    """Random (s_c, n_c, s_t, n_t) with small and large arms and rates near 0 and 1."""
    rng = np.random.default_rng(seed)
    sets = []
    while len(sets) < size:
        nc, nt = (int(v) for v in rng.choice([5, 20, 83, 500, 10_000, 2_000_000], size=2))
        pc, pt = (float(v) for v in rng.choice([0.002, 0.05, 0.3, 0.5, 0.9, 0.99], size=2))
        sc, st = int(rng.binomial(nc, pc)), int(rng.binomial(nt, pt))
        pooled = (sc + st) / (nc + nt)
        if 0 < pooled < 1:  # statsmodels returns NaN for the degenerate case; tested elsewhere
            sets.append((sc, nc, st, nt))
    return sets


COUNT_SETS = random_count_sets(seed=20240611, size=40)


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_agrees_with_statsmodels(alternative: str, alpha: float) -> None:
    for sc, nc, st, nt in COUNT_SETS:
        res = two_proportion_test(sc, nc, st, nt, alpha=alpha, alternative=alternative)
        z, p = proportions_ztest([st, sc], [nt, nc], alternative=alternative)
        assert res.z == pytest.approx(z, rel=1e-9, abs=1e-9)
        assert res.p_value == pytest.approx(p, rel=1e-9, abs=1e-12)

        # Newcombe: two-sided at alpha, or the one-sided bound = two-sided limit at 2 * alpha
        level = alpha if alternative == "two-sided" else 2 * alpha
        low, high = confint_proportions_2indep(
            st, nt, sc, nc, compare="diff", method="newcomb", alpha=level
        )
        if alternative == "two-sided":
            assert res.diff_ci == pytest.approx((low, high), abs=1e-9)
        elif alternative == "larger":
            assert res.diff_ci == pytest.approx((low, 1.0), abs=1e-9)
        else:
            assert res.diff_ci == pytest.approx((-1.0, high), abs=1e-9)

        for s, n, ci in [(sc, nc, res.rate_control_ci), (st, nt, res.rate_treatment_ci)]:
            expected = proportion_confint(s, n, alpha=alpha, method="wilson")
            assert ci == pytest.approx(expected, abs=1e-9)


def test_relative_lift_matches_generic_delta_method() -> None:
    """Gradient of g(p_c, p_t) = p_t / p_c - 1 by central differences, Σ = diag(binomial vars)."""
    crit = stats.norm.isf(0.025)
    for sc, nc, st, nt in COUNT_SETS:
        if sc == 0:
            assert math.isnan(two_proportion_test(sc, nc, st, nt).relative_lift)
            continue
        res = two_proportion_test(sc, nc, st, nt)
        pc, pt = sc / nc, st / nt
        h = 1e-6 * pc
        grad = np.array(
            [
                ((pt / (pc + h)) - (pt / (pc - h))) / (2 * h),
                (((pt + h) / pc) - ((pt - h) / pc)) / (2 * h),
            ]
        )
        cov = np.diag([pc * (1 - pc) / nc, pt * (1 - pt) / nt])
        se = math.sqrt(grad @ cov @ grad)
        lift = pt / pc - 1
        assert res.relative_lift == pytest.approx(lift, rel=1e-12)
        assert res.relative_lift_ci == pytest.approx(
            (lift - crit * se, lift + crit * se), rel=1e-6, abs=1e-9
        )


def test_k_sample_agrees_with_statsmodels_and_scipy() -> None:
    rng = np.random.default_rng(7)
    for k in (2, 3, 5, 8):
        totals = rng.integers(20, 5000, size=k)
        successes = rng.binomial(totals, rng.uniform(0.05, 0.6, size=k))
        res = proportions_chi2_test(successes.tolist(), totals.tolist())
        chi2, p, _ = proportions_chisquare(successes, totals)
        assert res.statistic == pytest.approx(chi2, rel=1e-9)
        assert res.p_value == pytest.approx(p, rel=1e-9)
        table = np.vstack([successes, totals - successes])
        chi2_sp, p_sp, dof, _ = stats.chi2_contingency(table, correction=False)
        assert res.statistic == pytest.approx(chi2_sp, rel=1e-9)
        assert res.p_value == pytest.approx(p_sp, rel=1e-9)
        assert res.df == dof == k - 1


def test_array_helper_is_the_public_code_path() -> None:
    sc, nc, st, nt = (np.array(col) for col in zip(*COUNT_SETS, strict=True))
    for alternative in ("two-sided", "larger", "smaller"):
        arrays = _two_proportion_arrays(sc, nc, st, nt, 0.05, alternative)
        for i, counts in enumerate(COUNT_SETS):
            res = two_proportion_test(*counts, alternative=alternative)
            assert arrays["z"][i] == res.z
            assert arrays["p_value"][i] == res.p_value
            assert (arrays["diff_low"][i], arrays["diff_high"][i]) == res.diff_ci
            np.testing.assert_array_equal(
                [arrays["relative_lift_low"][i], arrays["relative_lift_high"][i]],
                res.relative_lift_ci,
            )


# --------------------------------------------------------------------------------------------
# Simulation (seeded, vectorised over replicates)
# --------------------------------------------------------------------------------------------


def simulate(
    seed: int, p_control: float, p_treatment: float, n: int, alternative: str = "two-sided"
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    sc = rng.binomial(n, p_control, size=REPLICATES)
    st = rng.binomial(n, p_treatment, size=REPLICATES)
    return _two_proportion_arrays(sc, n, st, n, 0.05, alternative)


def test_aa_false_positive_rate() -> None:
    out = simulate(seed=1, p_control=0.3, p_treatment=0.3, n=2000)
    fpr = float(np.mean(out["p_value"] < 0.05))
    assert abs(fpr - 0.05) <= mc_tolerance(0.05, REPLICATES), fpr
    # p-values of a calibrated test are uniform under H0
    assert stats.kstest(out["p_value"], "uniform").pvalue > 0.001


def test_difference_interval_coverage() -> None:
    out = simulate(seed=2, p_control=0.30, p_treatment=0.33, n=2000)
    covered = (out["diff_low"] <= 0.03) & (out["diff_high"] >= 0.03)
    coverage = float(np.mean(covered))
    assert abs(coverage - 0.95) <= mc_tolerance(0.95, REPLICATES), coverage


def test_power_matches_normal_approximation() -> None:
    out = simulate(seed=3, p_control=0.30, p_treatment=0.36, n=1000)
    simulated = float(np.mean(out["p_value"] < 0.05))
    expected = NormalIndPower().power(
        effect_size=proportion_effectsize(0.36, 0.30), nobs1=1000, alpha=0.05, ratio=1.0
    )
    assert abs(simulated - expected) <= 0.03, (simulated, expected)


def test_relative_lift_interval_coverage() -> None:
    out = simulate(seed=4, p_control=0.30, p_treatment=0.33, n=5000)
    true_lift = 0.33 / 0.30 - 1
    covered = (out["relative_lift_low"] <= true_lift) & (true_lift <= out["relative_lift_high"])
    coverage = float(np.mean(covered))
    assert abs(coverage - 0.95) <= mc_tolerance(0.95, REPLICATES), coverage


def test_one_sided_aa_false_positive_rate() -> None:
    out = simulate(seed=5, p_control=0.3, p_treatment=0.3, n=2000, alternative="larger")
    fpr = float(np.mean(out["p_value"] < 0.05))
    assert abs(fpr - 0.05) <= mc_tolerance(0.05, REPLICATES), fpr
    # the one-sided lower bound excludes the true difference (0) in about 5% of replicates
    miss = float(np.mean(out["diff_low"] > 0.0))
    assert abs(miss - 0.05) <= mc_tolerance(0.05, REPLICATES), miss
