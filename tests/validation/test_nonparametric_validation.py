"""Validation of analysis.experiments.rank and .bootstrap against R, scipy, brute force, simulation.

Arm convention: ``mann_whitney(control, treatment)`` reports W = the U statistic of the treatment
sample, i.e. R's ``wilcox.test(treatment, control)`` and scipy's
``mannwhitneyu(treatment, control)``; the Hodges–Lehmann shift is the median of
``treatment - control`` pairwise differences (R's ``median(outer(x, y, "-"))`` with x the
treatment).

All random data are seeded, so every Monte Carlo check is deterministic; tolerances are about
3 Monte Carlo standard errors (the reasoning is given at each test).
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from scipy import stats

from analysis.experiments import _pairwise_order_stats as order_stats
from analysis.experiments import bootstrap as boot_module
from analysis.experiments import rank as rank_module
from analysis.experiments.bootstrap import bootstrap_difference
from analysis.experiments.rank import mann_whitney

# R ?wilcox.test: x plays the treatment, y the control.
R_X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
R_Y = [1.15, 0.88, 0.90, 0.74, 1.21]


def mc_tolerance(p: float, draws: int) -> float:
    return 3.0 * math.sqrt(p * (1.0 - p) / draws)


def brute_null_cdf(n: int, m: int) -> np.ndarray:
    """P(U <= u) of the treatment U by enumerating every assignment of ranks (tiny n, m only)."""
    counts = np.zeros(n * m + 1)
    for ranks in itertools.combinations(range(1, n + m + 1), n):
        counts[sum(ranks) - n * (n + 1) // 2] += 1
    return np.cumsum(counts) / counts.sum()


def r_conf_int(x, y, alternative: str, conf_level: float = 0.95) -> tuple[float, float]:
    """R's exact ``wilcox.test(x, y, conf.int = TRUE)$conf.int``, transcribed line by line."""
    n_x, n_y = len(x), len(y)
    alpha = 1 - conf_level
    diffs = np.sort(np.subtract.outer(np.asarray(x), np.asarray(y)).ravel())
    cdf = brute_null_cdf(n_x, n_y)

    def qwilcox(p: float) -> int:  # smallest q with P(U <= q) >= p
        return int(np.flatnonzero(cdf >= p)[0])

    if alternative == "two-sided":
        qu = qwilcox(alpha / 2) or 1
        ql = n_x * n_y - qu
        return float(diffs[qu - 1]), float(diffs[ql])  # R's diffs[qu], diffs[ql + 1]
    qu = qwilcox(alpha) or 1
    if alternative == "larger":
        return float(diffs[qu - 1]), math.inf
    return -math.inf, float(diffs[n_x * n_y - qu])


# --------------------------------------------------------------------------------------------
# R reference (shared/spec/references.md)
# --------------------------------------------------------------------------------------------


def test_r_reference_exact() -> None:
    res = mann_whitney(R_Y, R_X, alternative="larger")
    assert res.statistic == 35.0
    assert res.p_value == pytest.approx(0.1272061, rel=1e-6)
    assert res.extra["method_used"] == "exact"
    assert res.significant is False


def test_r_reference_normal_approximation_with_continuity() -> None:
    res = mann_whitney(R_Y, R_X, alternative="larger", method="asymptotic", continuity=True)
    assert res.statistic == 35.0
    assert res.p_value == pytest.approx(0.1223118, rel=1e-6)
    assert res.extra["method_used"] == "asymptotic"
    assert res.extra["continuity_correction"] is True
    # R's z: (W - nm/2 - 0.5) / sigma
    assert res.extra["z"] == pytest.approx((35 - 25 - 0.5) / math.sqrt(50 * 16 / 12), rel=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_r_reference_hodges_lehmann_and_exact_interval(alternative: str) -> None:
    res = mann_whitney(R_Y, R_X, alternative=alternative)
    assert res.diff == np.median(np.subtract.outer(R_X, R_Y))
    assert res.diff == pytest.approx(0.305, abs=1e-12)
    assert res.diff_ci == r_conf_int(R_X, R_Y, alternative)
    assert res.extra["ci_rank_method"] == "exact null distribution"


# --------------------------------------------------------------------------------------------
# Exact null distribution
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 4), (3, 3), (4, 7), (7, 4), (6, 8)])
def test_null_cdf_matches_enumeration(n: int, m: int) -> None:
    np.testing.assert_allclose(rank_module._mwu_null_cdf(n, m), brute_null_cdf(n, m), rtol=1e-14)


def test_null_cdf_matches_scipy_exact_p_values() -> None:
    rng = np.random.default_rng(3)
    for n, m in [(5, 9), (12, 20), (30, 45), (49, 49)]:
        cdf = rank_module._mwu_null_cdf(n, m)
        for _ in range(5):
            t, c = rng.normal(size=n), rng.normal(0.3, 1, size=m)
            res = stats.mannwhitneyu(t, c, alternative="less", method="exact")
            assert cdf[int(res.statistic)] == pytest.approx(res.pvalue, rel=1e-9)


@pytest.mark.parametrize(("n", "m", "alpha"), [(30, 40, 0.05), (45, 45, 0.05), (40, 25, 0.1)])
def test_normal_approximation_of_interval_rank_is_close_to_exact(n, m, alpha) -> None:
    sigma = math.sqrt(n * m * (n + m + 1) / 12)
    exact = rank_module._interval_rank(n, m, alpha / 2, sigma, exact=True)
    approx = rank_module._interval_rank(n, m, alpha / 2, sigma, exact=False)
    assert abs(exact[0] - approx[0]) <= 1
    assert exact[1] < alpha / 2 and approx[1] == pytest.approx(exact[1], abs=0.003)


# --------------------------------------------------------------------------------------------
# scipy cross-check: W and p identical
# --------------------------------------------------------------------------------------------

SCIPY_CASES = [
    # (n_treatment, n_control, ties, method)
    (8, 11, False, "exact"),
    (35, 20, False, "exact"),
    (35, 20, True, "asymptotic"),
    (200, 150, False, "asymptotic"),
    (400, 500, True, "asymptotic"),
]


@pytest.mark.parametrize(("n_t", "n_c", "ties", "method"), SCIPY_CASES)
@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
@pytest.mark.parametrize("continuity", [True, False])
def test_w_and_p_identical_to_scipy(n_t, n_c, ties, method, alternative, continuity) -> None:
    rng = np.random.default_rng(n_t * 1000 + n_c)
    if ties:
        t, c = rng.poisson(2.2, n_t).astype(float), rng.poisson(2.0, n_c).astype(float)
    else:
        t, c = rng.lognormal(0.2, 1.0, n_t), rng.lognormal(0.0, 1.0, n_c)
    res = mann_whitney(c, t, alternative=alternative, continuity=continuity)
    assert res.extra["method_used"] == method  # auto: R's rule
    scipy_alt = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    ref = stats.mannwhitneyu(
        t, c, use_continuity=continuity, alternative=scipy_alt, method=method, axis=0
    )
    assert res.statistic == ref.statistic
    assert res.p_value == ref.pvalue
    if method == "asymptotic":
        z = res.extra["z"]
        p_from_z = {
            "two-sided": 2 * stats.norm.sf(abs(z)),
            "larger": stats.norm.sf(z),
            "smaller": stats.norm.cdf(z),
        }[alternative]
        assert min(p_from_z, 1.0) == pytest.approx(ref.pvalue, rel=1e-9)


def test_exact_request_with_ties_equals_scipy_asymptotic() -> None:
    t, c = [1.0, 2.0, 2.0, 4.0, 6.0], [0.5, 2.0, 3.0, 3.0]
    res = mann_whitney(c, t, method="exact")
    ref = stats.mannwhitneyu(t, c, alternative="two-sided", method="asymptotic")
    assert res.extra["method_used"] == "asymptotic"
    assert (res.statistic, res.p_value) == (ref.statistic, ref.pvalue)


# --------------------------------------------------------------------------------------------
# Hodges–Lehmann: exact equality with the brute-force median of all pairwise differences
# --------------------------------------------------------------------------------------------


def _datasets() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2024)
    return [
        ("continuous", rng.lognormal(0.3, 1, 37), rng.lognormal(0, 1, 52)),
        ("odd pairs", rng.normal(size=7), rng.normal(size=9)),
        ("integer ties", rng.poisson(1.5, 60).astype(float), rng.poisson(1.2, 45).astype(float)),
        ("zero-inflated", rng.binomial(1, 0.3, 80) * rng.exponential(5, 80), np.zeros(30)),
        (
            "rounding-prone",
            np.concatenate([rng.normal(1e6, 1, 20), rng.normal(0, 1e-3, 20), [0.1, 0.2, 0.3]]),
            np.concatenate([rng.normal(1e6, 1, 25), rng.normal(0, 1e-3, 15), [0.3, 0.1]]),
        ),
        ("single unit", np.array([2.5]), rng.normal(2, 1, 13)),
    ]


@pytest.mark.parametrize(("label", "t", "c"), _datasets(), ids=[d[0] for d in _datasets()])
def test_hodges_lehmann_equals_brute_force(label, t, c) -> None:
    diffs = np.subtract.outer(t, c).ravel()
    ordered = np.sort(diffs)
    res = mann_whitney(c, t)
    assert res.diff == np.median(diffs)
    q = res.extra["ci_rank"]
    assert res.diff_ci == (ordered[q - 1], ordered[diffs.size - q])


@pytest.mark.parametrize(("label", "t", "c"), _datasets(), ids=[d[0] for d in _datasets()])
def test_selection_algorithm_equals_brute_force(label, t, c, monkeypatch) -> None:
    # A tiny gathering threshold forces many pivot rounds of the O(n + m) selection path.
    monkeypatch.setattr(order_stats, "_BRUTE_FORCE_PAIRS", 16)
    ordered = np.sort(np.subtract.outer(t, c).ravel())
    size = ordered.size
    ks = sorted({0, 1, size // 7, size // 2 - 1, size // 2, size - 2, size - 1} & set(range(size)))
    values, algorithm = order_stats._pairwise_difference_order_stats(t, c, ks, force_selection=True)
    assert "selection" in algorithm
    assert values == [ordered[k] for k in ks]
    res = mann_whitney(c, t)
    assert res.diff == np.median(ordered)


def test_large_samples_use_selection_without_the_pairwise_matrix() -> None:
    rng = np.random.default_rng(8)
    t, c = rng.exponential(1.1, 2500), rng.exponential(1.0, 1000)  # 2.5 million pairs
    res = mann_whitney(c, t)
    assert "selection" in res.extra["hodges_lehmann_algorithm"]
    diffs = np.subtract.outer(t, c).ravel()
    assert res.diff == np.median(diffs)
    ordered = np.sort(diffs)
    q = res.extra["ci_rank"]
    assert res.diff_ci == (ordered[q - 1], ordered[diffs.size - q])


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


def test_mann_whitney_aa_false_positive_rate_skewed_data() -> None:
    # A/A: both arms lognormal(0, 1.5) (heavily skewed), 200 units each, asymptotic test at
    # alpha = 0.05 through the public function. 5,000 replicates: Monte Carlo SE
    # sqrt(.05 * .95 / 5000) = 0.0031, so the brief's ±0.01 is about 3.2 SE.
    rng = np.random.default_rng(20240601)
    reps, n = 5000, 200
    control = rng.lognormal(0.0, 1.5, (reps, n))
    treatment = rng.lognormal(0.0, 1.5, (reps, n))
    p = np.array(
        [mann_whitney(control[i], treatment[i], method="asymptotic").p_value for i in range(reps)]
    )
    rate = float(np.mean(p < 0.05))
    assert abs(rate - 0.05) <= 0.01, rate
    # p-values are uniform under H0 (Kolmogorov–Smirnov, loose)
    assert stats.kstest(p, "uniform").pvalue > 0.001


def test_mann_whitney_aa_false_positive_rate_tied_counts() -> None:
    # A/A on zero-inflated counts (negative binomial, ~50% zeros: heavy ties), 200 per arm:
    # the tie-corrected asymptotic test must keep its level. 2,000 replicates, ±3 MC SE.
    rng = np.random.default_rng(77)
    reps, n = 2000, 200
    control = rng.negative_binomial(0.5, 0.3, (reps, n)).astype(float)
    treatment = rng.negative_binomial(0.5, 0.3, (reps, n)).astype(float)
    assert np.mean(control == 0) > 0.4
    p = np.array([mann_whitney(control[i], treatment[i]).p_value for i in range(reps)])
    rate = float(np.mean(p < 0.05))
    assert abs(rate - 0.05) <= mc_tolerance(0.05, reps), rate


def test_hodges_lehmann_exact_interval_coverage() -> None:
    # Shift model with continuous skewed data, 15 units per arm: the exact interval covers the
    # shift with probability equal to its achieved level (>= 0.95). 2,000 replicates, ±3 MC SE.
    rng = np.random.default_rng(5)
    reps, n, shift = 2000, 15, 0.7
    covered, levels = [], set()
    for _ in range(reps):
        c = rng.gamma(2.0, 1.0, n)
        t = rng.gamma(2.0, 1.0, n) + shift
        res = mann_whitney(c, t)
        covered.append(res.diff_ci[0] <= shift <= res.diff_ci[1])
        levels.add(res.extra["ci_level"])
    (level,) = levels
    assert level >= 0.95
    assert abs(np.mean(covered) - level) <= mc_tolerance(level, reps)


def test_bootstrap_percentile_coverage_of_a_planted_mean_difference() -> None:
    # Control exponential(mean 1), treatment exponential(mean 1.2): planted difference 0.2,
    # 300 units per arm, 1,000 resamples per interval, 1,500 replicates.
    # Tolerance ±0.02: the Monte Carlo SE of the coverage is sqrt(.95 * .05 / 1500) = 0.0056
    # (±0.017 at 3 SE) and the percentile interval's own error for a skewed mean at n = 300 is
    # O(1/n) (a few thousandths); B = 1,000 resamples add little noise to the endpoints.
    rng = np.random.default_rng(99)
    reps, n, truth = 1500, 300, 0.2
    control = rng.exponential(1.0, (reps, n))
    treatment = rng.exponential(1.2, (reps, n))
    hits = []
    for i in range(reps):
        res = bootstrap_difference(control[i], treatment[i], n_resamples=1000, seed=i)
        hits.append(res.diff_ci[0] <= truth <= res.diff_ci[1])
    coverage = float(np.mean(hits))
    assert abs(coverage - 0.95) <= 0.02, coverage


def test_bootstrap_interval_matches_scipy_percentile_bootstrap() -> None:
    # Same data, independent resamples: endpoints agree within Monte Carlo error. The SD of a
    # bootstrap quantile estimate is sqrt(q (1 - q) / B) / f(x_q) with f the density of the
    # bootstrap distribution (≈ normal with sd = se); the difference of two independent
    # estimates has sqrt(2) times that; we allow 4 SD.
    rng = np.random.default_rng(12)
    control, treatment = rng.lognormal(0.0, 1.0, 400), rng.lognormal(0.15, 1.0, 350)
    n_resamples = 20_000
    for statistic in ("mean", "median"):
        ours = bootstrap_difference(
            control, treatment, statistic=statistic, n_resamples=n_resamples, seed=1
        )
        func = np.mean if statistic == "mean" else np.median

        def diff(c, t, axis=-1, func=func):
            return func(t, axis=axis) - func(c, axis=axis)

        ref = stats.bootstrap(
            (control, treatment),
            diff,
            method="percentile",
            n_resamples=n_resamples,
            confidence_level=0.95,
            rng=np.random.default_rng(2),
            vectorized=True,
        )
        se = ours.extra["bootstrap_se"]
        q = 0.025
        sd = math.sqrt(q * (1 - q) / n_resamples) * se / stats.norm.pdf(stats.norm.ppf(q))
        tol = 4 * math.sqrt(2) * sd
        assert ours.diff_ci[0] == pytest.approx(ref.confidence_interval.low, abs=tol)
        assert ours.diff_ci[1] == pytest.approx(ref.confidence_interval.high, abs=tol)
        assert se == pytest.approx(ref.standard_error, rel=0.05)


# --------------------------------------------------------------------------------------------
# Reproducibility and scale
# --------------------------------------------------------------------------------------------


def test_reproducibility() -> None:
    rng = np.random.default_rng(4)
    control, treatment = rng.exponential(1.0, 3000), rng.exponential(1.05, 2000)
    runs = [
        bootstrap_difference(control, treatment, n_resamples=2000, seed=11, batch_size=b)
        for b in (None, 1, 333)
    ]

    def without_batch_size(result):
        data = result.to_dict()
        data["extra"].pop("batch_size")
        return data

    assert without_batch_size(runs[0]) == without_batch_size(runs[1])
    for other in runs[1:]:
        assert other.diff_ci == runs[0].diff_ci
        assert other.relative_lift_ci == runs[0].relative_lift_ci
        assert other.p_value == runs[0].p_value
    again = mann_whitney(control, treatment)
    assert again.to_dict() == mann_whitney(control, treatment).to_dict()
    sub_a = bootstrap_difference(control, treatment, n_resamples=500, max_units=700, seed=5)
    sub_b = bootstrap_difference(control, treatment, n_resamples=500, max_units=700, seed=5)
    assert sub_a.to_dict() == sub_b.to_dict()


def test_bootstrap_memory_is_bounded_by_batches(monkeypatch) -> None:
    # Every resampled array handed to the statistic must respect the batch budget, and all
    # B × (n_c + n_t) draws must still be made.
    sizes = []
    real = boot_module._apply_statistic

    def spy(func, values, name):
        sizes.append(values.size)
        return real(func, values, name)

    monkeypatch.setattr(boot_module, "_apply_statistic", spy)
    monkeypatch.setattr(boot_module, "_BATCH_ELEMENTS", 50_000)
    rng = np.random.default_rng(0)
    res = bootstrap_difference(rng.normal(size=20_000), rng.normal(size=15_000), n_resamples=100)
    assert res.extra["batch_size"] == 2
    resampled = sizes[2:]  # the first two calls are the point estimates on the data
    assert max(resampled) <= 50_000
    assert sum(resampled) == 100 * (20_000 + 15_000)


def test_hodges_lehmann_scales_to_large_arms() -> None:
    # 200,000 × 200,000 = 4e10 pairwise differences (320 GB as a matrix) in O(n + m) memory.
    rng = np.random.default_rng(6)
    c, t = rng.lognormal(0, 1, 200_000), rng.lognormal(0, 1, 200_000) * 1.05
    start = time.perf_counter()
    res = mann_whitney(c, t)
    elapsed = time.perf_counter() - start
    assert res.diff_ci[0] < res.diff < res.diff_ci[1]
    assert res.p_value < 1e-6
    # sanity against an estimate from random pairs (not exact, just the right place)
    pairs = t[rng.integers(0, t.size, 400_000)] - c[rng.integers(0, c.size, 400_000)]
    assert res.diff == pytest.approx(np.median(pairs), abs=0.01)
    assert elapsed < 20
