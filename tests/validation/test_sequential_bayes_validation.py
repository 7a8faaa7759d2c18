"""Validation of analysis.experiments.sequential and analysis.experiments.bayes.

1. Reference numbers (shared/spec/references.md and GrowthBook ``gbstats`` test cases).
2. The exact Beta-posterior integrals against scipy adaptive quadrature and Monte Carlo.
3. Simulations (seeded numpy, vectorised through the same array helpers as the public
   functions): a daily-read A/A experiment (30 looks, 200 units per arm per day, 2,000
   replicates) keeps its false-positive rate at or below alpha under the confidence sequence,
   while a fixed-horizon z test read daily does not; time-uniform coverage; power for a planted
   effect; Bayesian chance to win calibrated under A/A and under the prior; exact vs normal
   approximation for large arms.

Monte Carlo tolerances are 3 standard errors, ``3 * sqrt(p (1 - p) / R)``. Every seed is fixed, so
every check is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from analysis.experiments._posterior_math import _beta_two_arm_arrays
from analysis.experiments.bayes import bayes_binomial, bayes_means
from analysis.experiments.bayes_multi import bayes_multi_arm
from analysis.experiments.proportions import _two_proportion_arrays
from analysis.experiments.sequential import (
    _sequential_mean_arrays,
    _sequential_proportion_arrays,
    sequential_proportions,
    sequential_welch,
)
from analysis.experiments.sufficient import SufficientStats

ALPHA = 0.05
REPLICATES = 2000
LOOKS = 30
PER_DAY = 200  # units per arm per day


def mc_tolerance(p: float, draws: int) -> float:
    return 3.0 * math.sqrt(p * (1.0 - p) / draws)


# --------------------------------------------------------------------------------------------
# 1. References
# --------------------------------------------------------------------------------------------


def test_reference_bayesian_binomial_growthbook() -> None:
    # references.md: 49/100 vs 51/100, flat prior -> relative lift 0.04082, chance to win 0.60918,
    # risk (0.0814, 0.04058) [GrowthBook gbstats tests, 5 dp]. The convention that reproduces
    # them is gbstats' EffectBayesianABTest: relative lift ~ N(lift, SE_rel^2) (delta method,
    # unit variance p(1-p)), risk = (E[max(lift, 0)], E[max(-lift, 0)]) in relative terms.
    res = bayes_binomial(49, 100, 51, 100, method="normal")
    assert round(res.relative_lift, 5) == 0.04082
    assert round(res.chance_to_win, 5) == 0.60918
    assert tuple(round(r, 5) for r in res.risk) == (0.0814, 0.04058)
    # the rest of the gbstats expectation: uplift sd 0.14725, 95% CI (-0.24779, 0.32943)
    assert round(res.extra["se_relative"], 5) == 0.14725
    assert tuple(round(v, 5) for v in res.relative_lift_ci) == (-0.24779, 0.32943)


def test_reference_exact_beta_differs_only_slightly() -> None:
    exact = bayes_binomial(49, 100, 51, 100)
    normal = bayes_binomial(49, 100, 51, 100, method="normal")
    # Exact P(p_t > p_c) for Beta(50, 52) vs Beta(52, 50) by adaptive quadrature.
    fc, ft = stats.beta(50, 52), stats.beta(52, 50)
    truth = integrate.quad(lambda x: fc.pdf(x) * ft.sf(x), 0, 1, epsabs=1e-14, limit=200)[0]
    assert exact.chance_to_win == pytest.approx(truth, abs=1e-12)
    assert round(exact.chance_to_win, 5) == 0.61077
    assert 0 < exact.chance_to_win - normal.chance_to_win < 0.002
    # The older gbstats log-normal model gave 0.61052 and absolute risk (0.03872, 0.01912); the
    # exact Beta absolute risks agree with those to 5 dp (they came from Beta quadrature).
    assert tuple(round(r, 5) for r in exact.risk_absolute) == (0.03872, 0.01912)


def test_reference_bayesian_means_growthbook() -> None:
    # gbstats test_bayesian_gaussian_ab_test: sums (100, 1002.25, n=10) vs (105, 1111.5, n=10):
    # expected 0.05, ci (-0.02, 0.12), uplift sd 0.03572, chance to win 0.91923,
    # risk (0.05131, 0.00131).
    res = bayes_means(SufficientStats(10, 100, 1002.25), SufficientStats(10, 105, 1111.5))
    assert round(res.relative_lift, 5) == 0.05
    assert tuple(round(v, 5) for v in res.relative_lift_ci) == (-0.02, 0.12)
    assert round(res.extra["se_relative"], 5) == 0.03572
    assert round(res.chance_to_win, 5) == 0.91923
    assert tuple(round(r, 5) for r in res.risk) == (0.05131, 0.00131)


def test_reference_sequential_growthbook_means() -> None:
    # gbstats TestSequentialTTest.test_sequential_test_runs (relative, N* = 1000):
    # expected 0.50336, ci (-0.55844, 1.56516), uplift sd 0.33341, p = 1.
    res = sequential_welch(
        SufficientStats(3000, 1396.87, 52377.9767),
        SufficientStats(3461, 2422.7, 134698.29),
        tuning_n=1000,
    )
    assert round(res.relative_lift, 5) == 0.50336
    assert tuple(round(v, 5) for v in res.relative_lift_ci) == (-0.55844, 1.56516)
    assert round(res.extra["se_relative"], 5) == 0.33341
    assert res.p_value == 1.0


def test_reference_sequential_growthbook_proportions() -> None:
    # gbstats test_sequential_test_runs_prop (relative, default N* = 5000):
    # expected 0.50386, ci (0.40098, 0.60675), uplift sd 0.03386, p = 0.0 (5 dp).
    res = sequential_proportions(1396, 3000, 2422, 3461)
    assert round(res.relative_lift, 5) == 0.50386
    assert tuple(round(v, 5) for v in res.relative_lift_ci) == (0.40098, 0.60675)
    assert round(res.extra["se_relative"], 5) == 0.03386
    assert round(res.p_value, 5) == 0.0


def test_reference_multi_arm() -> None:
    # references.md: 1580/31500, 1700/32000, 1550/31000; 20 000 draws ->
    # P(best) ~ 0.0419, 0.9224, 0.0358 (Monte Carlo; tolerance 3 / sqrt(draws)).
    successes, totals, draws = [1580, 1700, 1550], [31500, 32000, 31000], 20_000
    expected = (0.0419, 0.9224, 0.0358)
    tol = 3 / math.sqrt(draws)
    mc = bayes_multi_arm(successes, totals, draws=draws, seed=0)
    exact = bayes_multi_arm(successes, totals, draws=None)
    assert mc.p_best == pytest.approx(expected, abs=tol)
    assert exact.p_best == pytest.approx(expected, abs=tol)
    # our Monte Carlo against our quadrature: 3 binomial standard errors per arm
    for got, truth in zip(mc.p_best, exact.p_best, strict=True):
        assert abs(got - truth) <= mc_tolerance(truth, draws)
    assert sum(exact.p_best) == pytest.approx(1.0, abs=1e-9)


# --------------------------------------------------------------------------------------------
# 2. Exact Beta integrals
# --------------------------------------------------------------------------------------------


CASES = [
    (49, 100, 51, 100),
    (0, 10, 1, 10),
    (3, 20, 10, 30),
    (50, 100, 40, 100_000),
    (1, 1, 0, 1),
    (5000, 100_000, 5200, 100_000),
    (999, 1000, 1000, 1000),
]


def _brute_force(ac: float, bc: float, at: float, bt: float) -> dict[str, float]:
    """Adaptive quadrature over the control posterior, inner expectations in closed form."""
    fc = stats.beta(ac, bc)
    mt = at / (at + bt)
    pts = [fc.ppf(1e-12), fc.median(), fc.isf(1e-12)]

    def q(fun):
        return integrate.quad(fun, 0, 1, points=pts, epsabs=1e-14, epsrel=1e-12, limit=500)[0]

    upper = lambda x: mt * special.betaincc(at + 1, bt, x) - x * special.betaincc(at, bt, x)  # noqa: E731
    lower = lambda x: x * special.betainc(at, bt, x) - mt * special.betainc(at + 1, bt, x)  # noqa: E731
    return {
        "chance_to_win": q(lambda x: fc.pdf(x) * special.betaincc(at, bt, x)),
        "risk_abs_control": q(lambda x: fc.pdf(x) * upper(x)),
        "risk_abs_treatment": q(lambda x: fc.pdf(x) * lower(x)),
        "risk_rel_control": q(lambda x: fc.pdf(x) * upper(x) / x) if ac > 1 else math.inf,
        "risk_rel_treatment": q(lambda x: fc.pdf(x) * lower(x) / x),
    }


@pytest.mark.parametrize("counts", CASES)
def test_beta_quadrature_matches_adaptive_quadrature(counts) -> None:
    sc, nc, st, nt = counts
    res = bayes_binomial(sc, nc, st, nt)
    truth = _brute_force(1 + sc, 1 + nc - sc, 1 + st, 1 + nt - st)
    got = {
        "chance_to_win": res.chance_to_win,
        "risk_abs_control": res.risk_absolute[0],
        "risk_abs_treatment": res.risk_absolute[1],
        "risk_rel_control": res.risk[0],
        "risk_rel_treatment": res.risk[1],
    }
    for key, value in truth.items():
        if math.isinf(value):
            assert math.isinf(got[key])
        else:
            assert got[key] == pytest.approx(value, abs=1e-10), key
    # credible-interval limits are the posterior quantiles: check the CDF at each limit
    fc, ft = stats.beta(1 + sc, 1 + nc - sc), stats.beta(1 + st, 1 + nt - st)
    pts = [fc.ppf(1e-12), fc.median(), fc.isf(1e-12)]
    for limit, level in zip(res.relative_lift_ci, (0.025, 0.975), strict=True):
        r = limit + 1
        cdf = integrate.quad(
            lambda x, r=r: fc.pdf(x) * ft.cdf(min(r * x, 1.0)), 0, 1, points=pts, limit=500
        )[0]
        assert cdf == pytest.approx(level, abs=1e-8)
    for limit, level in zip(res.diff_ci, (0.025, 0.975), strict=True):
        cdf = integrate.quad(
            lambda x, d=limit: fc.pdf(x) * ft.cdf(min(max(x + d, 0.0), 1.0)),
            0,
            1,
            points=pts,
            limit=500,
        )[0]
        assert cdf == pytest.approx(level, abs=1e-8)


def test_beta_quadrature_matches_monte_carlo() -> None:
    draws = 400_000
    exact = bayes_binomial(3, 20, 10, 30)
    mc = bayes_binomial(3, 20, 10, 30, draws=draws, seed=11)
    assert mc.chance_to_win == pytest.approx(
        exact.chance_to_win, abs=mc_tolerance(exact.chance_to_win, draws)
    )
    # risks and quantiles: generous relative tolerance for heavier-tailed quantities
    assert mc.risk_absolute == pytest.approx(exact.risk_absolute, rel=0.02)
    assert mc.risk == pytest.approx(exact.risk, rel=0.03)
    assert mc.relative_lift_ci == pytest.approx(exact.relative_lift_ci, rel=0.02)
    assert mc.relative_lift_mean == pytest.approx(exact.relative_lift_mean, rel=0.02)


# --------------------------------------------------------------------------------------------
# 3. Simulation: daily looks
# --------------------------------------------------------------------------------------------


def _daily_counts(rng: np.random.Generator, p_c: float, p_t: float, replicates: int):
    """Cumulative successes and units per arm at each of LOOKS daily looks: (replicates, LOOKS)."""
    sc = rng.binomial(PER_DAY, p_c, size=(replicates, LOOKS)).cumsum(axis=1)
    st = rng.binomial(PER_DAY, p_t, size=(replicates, LOOKS)).cumsum(axis=1)
    n = np.broadcast_to(PER_DAY * np.arange(1, LOOKS + 1), sc.shape)
    return sc, n, st, n


TUNING_N = 2 * PER_DAY * LOOKS  # planned total units at the last look (both arms)


@pytest.fixture(scope="module")
def aa_daily():
    rng = np.random.default_rng(20240601)
    counts = _daily_counts(rng, 0.10, 0.10, REPLICATES)
    seq = _sequential_proportion_arrays(*counts, ALPHA, TUNING_N)
    fixed = _two_proportion_arrays(*counts, ALPHA)
    return seq, fixed


def test_aa_false_positive_rate_any_look(aa_daily) -> None:
    seq, fixed = aa_daily
    seq_fpr = float(np.mean((seq["p_value"] < ALPHA).any(axis=1)))
    fixed_fpr = float(np.mean((fixed["p_value"] < ALPHA).any(axis=1)))
    fixed_single = float(np.mean(fixed["p_value"][:, -1] < ALPHA))
    print(f"A/A, {LOOKS} daily looks: sequential {seq_fpr:.4f}, fixed z daily {fixed_fpr:.4f}")
    assert seq_fpr <= ALPHA + mc_tolerance(ALPHA, REPLICATES)
    # reading a fixed-horizon test every day inflates the false-positive rate several-fold ...
    assert fixed_fpr > 0.15
    # ... although each single look is fine
    assert abs(fixed_single - ALPHA) <= mc_tolerance(ALPHA, REPLICATES)
    # rejecting <=> interval excludes 0, look by look
    excludes = (seq["diff_low"] > 0) | (seq["diff_high"] < 0)
    np.testing.assert_array_equal(excludes, seq["p_value"] < ALPHA)


def test_aa_coverage(aa_daily) -> None:
    seq, _ = aa_daily
    covered = (seq["diff_low"] <= 0) & (seq["diff_high"] >= 0)
    floor = 1 - ALPHA - mc_tolerance(ALPHA, REPLICATES)
    assert float(np.mean(covered[:, -1])) >= floor  # at the final look
    assert float(np.mean(covered.all(axis=1))) >= floor  # at every look simultaneously
    rel_covered = (seq["relative_lift_low"] <= 0) & (seq["relative_lift_high"] >= 0)
    assert float(np.mean(rel_covered.all(axis=1))) >= floor


def test_planted_effect_coverage_and_power() -> None:
    rng = np.random.default_rng(7)
    p_c, p_t = 0.10, 0.13
    seq = _sequential_proportion_arrays(*_daily_counts(rng, p_c, p_t, REPLICATES), ALPHA, TUNING_N)
    floor = 1 - ALPHA - mc_tolerance(ALPHA, REPLICATES)
    truth = p_t - p_c
    covered = (seq["diff_low"] <= truth) & (seq["diff_high"] >= truth)
    assert float(np.mean(covered.all(axis=1))) >= floor
    assert float(np.mean(covered[:, -1])) >= floor
    rel_truth = p_t / p_c - 1
    rel_cov = (seq["relative_lift_low"] <= rel_truth) & (seq["relative_lift_high"] >= rel_truth)
    assert float(np.mean(rel_cov[:, -1])) >= floor
    power_final = float(np.mean(seq["p_value"][:, -1] < ALPHA))
    detected = (seq["p_value"] < ALPHA).any(axis=1)
    first_day = np.argmax(seq["p_value"] < ALPHA, axis=1)[detected] + 1
    print(f"3-point lift: power at the last look {power_final:.3f}, "
          f"median first detection day {np.median(first_day):.0f}")  # fmt: skip
    assert power_final >= 0.9
    assert np.median(first_day) < LOOKS  # usually detected before the planned end


def test_aa_means_skewed_outcomes() -> None:
    # Revenue-like exponential outcomes, Welch sequence from sufficient statistics.
    rng = np.random.default_rng(99)
    reps = 1000
    sums = []
    for _ in range(2):
        y = rng.exponential(1.0, size=(reps, LOOKS, PER_DAY))
        sums.append((y.sum(axis=2).cumsum(axis=1), (y * y).sum(axis=2).cumsum(axis=1)))
    n = np.broadcast_to(PER_DAY * np.arange(1, LOOKS + 1), (reps, LOOKS))
    (s_c, q_c), (s_t, q_t) = sums
    seq = _sequential_mean_arrays(n, s_c, q_c, n, s_t, q_t, ALPHA, TUNING_N)
    fpr = float(np.mean((seq["p_value"] < ALPHA).any(axis=1)))
    assert fpr <= ALPHA + mc_tolerance(ALPHA, reps)
    covered = ((seq["diff_low"] <= 0) & (seq["diff_high"] >= 0)).all(axis=1)
    assert float(np.mean(covered)) >= 1 - ALPHA - mc_tolerance(ALPHA, reps)


# --------------------------------------------------------------------------------------------
# 3b. Simulation: Bayesian calibration
# --------------------------------------------------------------------------------------------


def test_chance_to_win_calibrated_under_aa() -> None:
    # Under A/A with large arms the chance to win is close to uniform: it exceeds 0.95 (and falls
    # below 0.05) in about 5% of experiments.
    rng = np.random.default_rng(3)
    reps, n, p = 4000, 2000, 0.10
    sc, st = rng.binomial(n, p, reps), rng.binomial(n, p, reps)
    ctw = _beta_two_arm_arrays(1 + sc, 1 + n - sc, 1 + st, 1 + n - st)["chance_to_win"]
    tol = mc_tolerance(0.05, reps)
    assert abs(float(np.mean(ctw > 0.95)) - 0.05) <= tol
    assert abs(float(np.mean(ctw < 0.05)) - 0.05) <= tol
    deciles = np.histogram(ctw, bins=10, range=(0, 1))[0] / reps
    assert np.all(np.abs(deciles - 0.1) <= mc_tolerance(0.1, reps))


def test_chance_to_win_calibrated_under_the_prior() -> None:
    # When the true rates are drawn from the prior, P(p_t > p_c | data) is exactly calibrated:
    # among experiments with chance to win ~ q, the treatment truly wins a fraction ~ q.
    rng = np.random.default_rng(17)
    reps, n, prior = 8000, 200, (20.0, 180.0)
    p_c, p_t = rng.beta(*prior, reps), rng.beta(*prior, reps)
    sc, st = rng.binomial(n, p_c), rng.binomial(n, p_t)
    post = _beta_two_arm_arrays(prior[0] + sc, prior[1] + n - sc, prior[0] + st, prior[1] + n - st)
    ctw = post["chance_to_win"]
    win = p_t > p_c
    se = math.sqrt(float(np.mean(ctw * (1 - ctw))) / reps)
    assert abs(float(np.mean(win - ctw))) <= 3 * se
    bins = np.digitize(ctw, [0.2, 0.4, 0.6, 0.8])
    for b in range(5):
        m = bins == b
        q = ctw[m]
        assert abs(float(win[m].mean() - q.mean())) <= 3 * math.sqrt(np.mean(q * (1 - q)) / m.sum())
    # the expected loss is calibrated too: realised relative loss of keeping the control
    realised = np.maximum(p_t / p_c - 1, 0)
    sd = float(np.std(realised - post["risk_rel_control"]))
    assert abs(float(np.mean(realised - post["risk_rel_control"]))) <= 3 * sd / math.sqrt(reps)


@pytest.mark.parametrize(
    "counts",
    [
        (5000, 100_000, 5100, 100_000),
        (5000, 100_000, 5200, 100_000),
        (20_000, 50_000, 20_300, 50_000),
        (1000, 20_000, 1000, 20_000),
        (2000, 40_000, 2080, 41_000),
    ],
)
def test_exact_and_normal_agree_for_large_arms(counts) -> None:
    exact = bayes_binomial(*counts)
    absolute = bayes_binomial(*counts, method="normal", difference="absolute")
    relative = bayes_binomial(*counts, method="normal")
    # The absolute-difference normal model is the large-sample limit of the Beta posterior; the
    # relative (delta-method) model differs by O(lift) and agrees to a few thousandths.
    assert absolute.chance_to_win == pytest.approx(exact.chance_to_win, abs=2e-4)
    assert relative.chance_to_win == pytest.approx(exact.chance_to_win, abs=5e-3)
    assert absolute.risk_absolute == pytest.approx(exact.risk_absolute, rel=0.02, abs=1e-6)
    assert relative.risk == pytest.approx(exact.risk, rel=0.01, abs=5e-4)
    # the exact lift interval is skewed (a ratio); the symmetric normal one is within a tenth of
    # a posterior standard deviation of it
    tol = 0.1 * relative.extra["se_relative"]
    assert relative.relative_lift_ci == pytest.approx(exact.relative_lift_ci, abs=tol)
    assert absolute.diff_ci == pytest.approx(exact.diff_ci, abs=1e-4)
