"""Fast checks of analysis.experiments.sequential and analysis.experiments.bayes.

API surface, input validation, degenerate arms (no conversions, one unit), seeded Monte Carlo
reproducible bit for bit, JSON-serialisable results, and the algebraic identities that tie the
reported numbers together.
"""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.experiments._posterior_math import _beta_two_arm_arrays
from analysis.experiments.bayes import bayes_binomial, bayes_means
from analysis.experiments.bayes_multi import bayes_multi_arm
from analysis.experiments.bayes_results import BayesResult, MultiArmBayesResult
from analysis.experiments.effects import Comparison
from analysis.experiments.sequential import (
    DEFAULT_TUNING_N,
    METHOD,
    RELATIVE_CI_METHOD,
    _halfwidth_multiplier,
    _sequential_mean_arrays,
    _sequential_proportion_arrays,
    confidence_sequence_halfwidth,
    sequential_proportions,
    sequential_rho,
    sequential_welch,
)
from analysis.experiments.sufficient import SufficientStats
from analysis.results import Result


def stats_of(values: list[float]) -> SufficientStats:
    return SufficientStats.from_values(values)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------------------------
# Sequential: API and formulas
# --------------------------------------------------------------------------------------------


def test_sequential_welch_returns_comparison() -> None:
    rng = np.random.default_rng(0)
    c = SufficientStats.from_values(rng.normal(10, 2, 500))
    t = SufficientStats.from_values(rng.normal(10.5, 2, 520))
    res = sequential_welch(c, t, metric="revenue", tuning_n=2000)
    assert isinstance(res, Comparison) and isinstance(res, Result)
    assert res.method == METHOD == "asymptotic confidence sequence (Waudby-Smith et al. 2023)"
    assert res.relative_ci_method == RELATIVE_CI_METHOD
    assert res.metric == "revenue" and res.metric_type == "mean"
    assert res.alternative == "two-sided" and math.isnan(res.df)
    assert res.n_control == 500 and res.n_treatment == 520
    assert res.diff == pytest.approx(t.mean_y - c.mean_y)
    assert res.relative_lift == pytest.approx(t.mean_y / c.mean_y - 1)
    assert res.diff_ci[0] < res.diff < res.diff_ci[1]
    assert 0.0 <= res.p_value <= 1.0
    assert res.extra["tuning_n"] == 2000
    assert res.extra["rho"] == pytest.approx(sequential_rho(0.05, 2000))
    assert "N* = 2,000" in res.ci_method
    assert res.significant == bool(res.p_value < res.alpha)
    assert isinstance(res.summary(), str) and isinstance(res.to_frame(), pd.DataFrame)
    assert "<div" in res._repr_html_()
    res.plot()


def test_sequential_rho_and_halfwidth_formula() -> None:
    alpha, n_star = 0.05, 5000
    la = math.log(alpha)
    rho = sequential_rho(alpha, n_star)
    assert rho == pytest.approx(math.sqrt((-2 * la + math.log(1 - 2 * la)) / n_star), rel=1e-15)
    # half-width = sigma * sqrt(2(N rho^2 + 1) / (N^2 rho^2) * log(sqrt(N rho^2 + 1) / alpha))
    se, n = 0.013, 7000
    sigma = se * math.sqrt(n)
    nr2 = n * rho * rho
    expected = sigma * math.sqrt(
        2 * (nr2 + 1) / (n * n * rho * rho) * math.log(math.sqrt(nr2 + 1) / alpha)
    )
    assert confidence_sequence_halfwidth(se, n, alpha, n_star) == pytest.approx(expected, rel=1e-13)


def test_rho_is_nearly_width_minimising_at_tuning_n() -> None:
    for alpha in (0.01, 0.05, 0.1):
        rho = sequential_rho(alpha, 4000)
        grid = np.geomspace(rho / 10, rho * 10, 4001)
        best = min(float(_halfwidth_multiplier(4000, alpha, g)) for g in grid)
        assert float(_halfwidth_multiplier(4000, alpha, rho)) <= best * 1.001


def test_tuning_near_n_gives_the_narrowest_interval() -> None:
    c, t = SufficientStats(3000, 1396.87, 52377.9767), SufficientStats(3461, 2422.7, 134698.29)
    width = {
        n_star: np.diff(sequential_welch(c, t, tuning_n=n_star).diff_ci)[0]
        for n_star in (10, 6461, 10_000)
    }
    assert width[6461] < width[10_000] < width[10]


def test_sequential_interval_wider_than_fixed_horizon() -> None:
    res = sequential_proportions(480, 5000, 540, 5000)
    assert res.extra["halfwidth"] > res.extra["fixed_horizon_halfwidth"]
    assert res.extra["width_ratio_vs_fixed_horizon"] > 1


@pytest.mark.parametrize(
    "counts", [(480, 5000, 540, 5000), (400, 5000, 540, 5000), (50, 900, 30, 1000), (7, 40, 9, 35)]
)
def test_p_value_is_smallest_alpha_whose_sequence_excludes_zero(counts) -> None:
    res = sequential_proportions(*counts)
    excludes_zero = res.diff_ci[0] > 0 or res.diff_ci[1] < 0
    assert res.significant == excludes_zero
    p = res.p_value
    if 0 < p < 1:
        # At alpha' = p (rho held fixed) the half-width equals |diff| exactly.
        half = res.extra["se"] * float(
            _halfwidth_multiplier(res.extra["n_total"], p, res.extra["rho"])
        )
        assert half == pytest.approx(abs(res.diff), rel=1e-9)


def test_p_value_is_one_early() -> None:
    # GrowthBook: the e-value is below 1 until evidence accumulates, so p is clamped at 1.
    assert sequential_proportions(10, 100, 12, 100).p_value == 1.0


def test_public_functions_equal_array_helpers() -> None:
    res = sequential_proportions(130, 1000, 170, 1000, tuning_n=3000)
    arr = _sequential_proportion_arrays(
        np.array([130, 5]), np.array([1000, 50]), np.array([170, 9]), np.array([1000, 60]),
        0.05, 3000,
    )  # fmt: skip
    assert res.diff_ci == (arr["diff_low"][0], arr["diff_high"][0])
    assert res.relative_lift_ci == (arr["relative_lift_low"][0], arr["relative_lift_high"][0])
    assert res.p_value == arr["p_value"][0]
    c, t = stats_of([1.0, 2.0, 4.0, 3.0]), stats_of([2.0, 5.0, 4.0, 6.0, 1.0])
    res = sequential_welch(c, t)
    arr = _sequential_mean_arrays(c.n, c.sum_y, c.sum_y2, t.n, t.sum_y, t.sum_y2)
    assert res.diff_ci == (float(arr["diff_low"]), float(arr["diff_high"]))
    assert res.p_value == float(arr["p_value"])


def test_sequential_degenerate_arms() -> None:
    zero = sequential_proportions(0, 10, 0, 10)
    assert zero.diff == 0 and zero.diff_ci == (0.0, 0.0) and zero.p_value == 1.0
    assert math.isnan(zero.relative_lift)
    assert any("undefined" in n for n in zero.notes)
    assert any("fewer than 100" in n for n in zero.notes)
    tiny = sequential_proportions(0, 1, 1, 1)  # all-0 vs all-1: no variance, a certain difference
    assert tiny.diff == 1.0 and tiny.p_value == 0.0
    one_sided_zero = sequential_proportions(0, 50, 4, 50)
    assert one_sided_zero.diff_ci[0] < 0.08 < one_sided_zero.diff_ci[1]
    assert math.isnan(one_sided_zero.relative_lift)
    const = sequential_welch(stats_of([2.0, 2.0]), stats_of([2.0, 2.0, 2.0]))
    assert const.p_value == 1.0 and const.diff == 0.0


def test_sequential_to_dict_is_json() -> None:
    for res in (
        sequential_proportions(0, 10, 0, 10),
        sequential_proportions(30, 400, 45, 410),
        sequential_welch(stats_of([1.0, 2.0, 3.0]), stats_of([2.0, 3.0, 5.0])),
    ):
        payload = json.loads(json.dumps(res.to_dict(), allow_nan=False))
        assert payload["method"] == METHOD
        assert payload["extra"]["tuning_n"] == DEFAULT_TUNING_N


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sequential_welch(stats_of([1.0]), stats_of([1.0, 2.0])), "at least 2"),
        (lambda: sequential_welch((3, 1.0, 1.0), stats_of([1.0, 2.0])), "SufficientStats"),
        (lambda: sequential_proportions(5, 0, 1, 10), "n_c must be at least 1"),
        (lambda: sequential_proportions(11, 10, 1, 10), "cannot exceed"),
        (lambda: sequential_proportions(-1, 10, 1, 10), "non-negative"),
        (lambda: sequential_proportions(1, 10, 1, 10, alpha=1.5), "alpha"),
        (lambda: sequential_proportions(1, 10, 1, 10, tuning_n=0), "tuning_n"),
        (lambda: sequential_proportions(1, 10, 1, 10, tuning_n=float("nan")), "tuning_n"),
    ],
)
def test_sequential_invalid_input(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Bayes: two arms
# --------------------------------------------------------------------------------------------


def test_bayes_binomial_api() -> None:
    res = bayes_binomial(
        120, 1000, 140, 1000, metric="signup", control_name="A", treatment_name="B"
    )
    assert isinstance(res, BayesResult) and isinstance(res, Result)
    assert res.metric == "signup" and res.metric_type == "binary"
    assert res.method.startswith("Beta–Binomial posterior (numerical integration")
    assert res.prior == "Beta(1, 1) on each rate"
    assert res.draws is None and res.seed is None
    assert 0.5 < res.chance_to_win < 1
    assert res.diff_ci[0] < res.diff < res.diff_ci[1]
    assert res.relative_lift_ci[0] < res.relative_lift < res.relative_lift_ci[1]
    lo, hi = res.posterior_control_ci
    assert lo < 0.12 < hi
    frame = res.to_frame()
    assert list(frame.columns) == [
        "term",
        "n",
        "estimate",
        "ci_low",
        "ci_high",
        "ci_level",
        "method",
    ]
    assert frame.loc[frame.term == "chance to win", "estimate"].item() == res.chance_to_win
    text = res.summary()
    assert "B beats A with probability" in text and "Expected loss" in text
    assert "<h4>Bayesian A/B comparison</h4>" in res._repr_html_()
    assert res.plot() is not None


def test_bayes_risk_identities() -> None:
    # E[(X)+] - E[(-X)+] = E[X]: absolute risks differ by the difference of posterior means.
    res = bayes_binomial(30, 200, 41, 210, prior=(2, 3))
    (a_c, b_c), (a_t, b_t) = res.extra["posterior_control"], res.extra["posterior_treatment"]
    mean_diff = a_t / (a_t + b_t) - a_c / (a_c + b_c)
    assert res.risk_absolute[0] - res.risk_absolute[1] == pytest.approx(mean_diff, abs=1e-12)
    assert res.risk[0] - res.risk[1] == pytest.approx(res.relative_lift_mean, abs=1e-12)
    normal = bayes_binomial(30, 200, 41, 210, method="normal")
    assert normal.risk[0] - normal.risk[1] == pytest.approx(normal.relative_lift, abs=1e-14)
    assert normal.relative_lift_mean == normal.relative_lift


def test_bayes_swapping_arms_mirrors_results() -> None:
    ab = bayes_binomial(30, 200, 41, 210)
    ba = bayes_binomial(41, 210, 30, 200)
    assert ab.chance_to_win + ba.chance_to_win == pytest.approx(1.0, abs=1e-12)
    assert ab.risk_absolute == pytest.approx(ba.risk_absolute[::-1], abs=1e-12)
    assert ab.diff_ci == pytest.approx((-ba.diff_ci[1], -ba.diff_ci[0]), abs=1e-9)


def test_bayes_public_equals_array_helper() -> None:
    res = bayes_binomial(12, 90, 20, 95, prior=(0.5, 0.5))
    arr = _beta_two_arm_arrays(
        np.array([12.5, 1.0]), np.array([78.5, 1.0]), np.array([20.5, 1.0]), np.array([75.5, 1.0])
    )
    assert res.chance_to_win == arr["chance_to_win"][0]
    assert res.risk == (arr["risk_rel_control"][0], arr["risk_rel_treatment"][0])
    assert arr["chance_to_win"][1] == pytest.approx(0.5, abs=1e-14)


def test_bayes_monte_carlo_reproducible_bit_for_bit() -> None:
    one = bayes_binomial(49, 100, 51, 100, draws=5000, seed=7)
    two = bayes_binomial(49, 100, 51, 100, draws=5000, seed=7)
    other = bayes_binomial(49, 100, 51, 100, draws=5000, seed=8)
    assert one.to_dict() == two.to_dict()
    assert one.chance_to_win != other.chance_to_win
    assert one.draws == 5000 and one.seed == 7 and "Monte Carlo" in one.method
    exact = bayes_binomial(49, 100, 51, 100)
    assert one.chance_to_win == pytest.approx(exact.chance_to_win, abs=3 * 0.5 / math.sqrt(5000))


@pytest.mark.parametrize("method", ["beta", "normal"])
@pytest.mark.parametrize("counts", [(0, 10, 0, 10), (0, 10, 3, 10), (3, 10, 0, 10), (0, 1, 1, 1),
                                    (1, 1, 1, 1), (10, 10, 10, 10)])  # fmt: skip
def test_bayes_degenerate_arms_never_raise(method, counts) -> None:
    res = bayes_binomial(*counts, method=method)
    json.dumps(res.to_dict(), allow_nan=False)
    res.summary()
    res.to_frame()
    if method == "beta":
        assert 0.0 <= res.chance_to_win <= 1.0
        assert all(math.isfinite(v) for v in res.relative_lift_ci)
        assert all(math.isfinite(v) and v >= 0 for v in res.risk_absolute)


def test_bayes_no_control_conversions() -> None:
    res = bayes_binomial(0, 10, 3, 10)
    assert math.isnan(res.relative_lift)
    assert math.isinf(res.risk[0]) and math.isinf(res.relative_lift_mean)
    assert 0 < res.risk[1] < 1
    assert res.chance_to_win > 0.9
    assert res.to_dict()["risk"][0] is None
    assert any("no conversions" in n for n in res.notes)
    both = bayes_binomial(0, 10, 0, 10)
    assert both.chance_to_win == pytest.approx(0.5, abs=1e-13)
    normal = bayes_binomial(0, 10, 3, 10, method="normal")
    assert math.isnan(normal.chance_to_win) and math.isnan(normal.relative_lift)
    assert any("method='beta'" in n for n in normal.notes)
    assert bayes_binomial(0, 10, 3, 10, method="normal", difference="absolute").chance_to_win > 0.9


def test_bayes_means_api_and_degenerate() -> None:
    c, t = SufficientStats(10, 100, 1002.25), SufficientStats(10, 105, 1111.5)
    res = bayes_means(c, t, metric="minutes")
    assert res.metric_type == "mean" and res.extra["posterior_family"] == "normal"
    assert res.diff == pytest.approx(0.5)
    ab = bayes_means(c, t, difference="absolute")
    z = 0.5 / math.sqrt(0.25 / 10 + 1.0 / 10)  # Welch z of the absolute difference
    assert ab.chance_to_win == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))), rel=1e-12)
    single = bayes_means(SufficientStats(1, 3.0, 9.0), t)
    assert math.isnan(single.chance_to_win)
    assert any("single unit" in n for n in single.notes)
    json.dumps(single.to_dict(), allow_nan=False)
    zero_mean = bayes_means(stats_of([0.0, 0.0, 0.0]), stats_of([0.0, 1.0, 2.0]))
    assert math.isnan(zero_mean.relative_lift)
    assert bayes_means(stats_of([0.0, 0.0, 0.0]), stats_of([0.0, 1.0, 2.0]),
                       difference="absolute").chance_to_win > 0.5  # fmt: skip


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bayes_binomial(1, 10, 1, 10, prior=(0, 1)), "prior"),
        (lambda: bayes_binomial(1, 10, 1, 10, prior=(1,)), "prior"),
        (lambda: bayes_binomial(1, 10, 1, 10, method="mcmc"), "method"),
        (lambda: bayes_binomial(1, 10, 1, 10, difference="log"), "difference"),
        (lambda: bayes_binomial(1, 10, 1, 10, draws=0), "draws"),
        (lambda: bayes_binomial(1, 10, 1, 10, draws=2.5), "draws"),
        (lambda: bayes_binomial(1, 10, 1, 10, method="normal", draws=100), "draws"),
        (lambda: bayes_binomial(1, 0, 1, 10), "n_c"),
        (lambda: bayes_binomial(1, 10, 1, 10, alpha=0), "alpha"),
        (lambda: bayes_means(SufficientStats(0, 0.0, 0.0), stats_of([1.0, 2.0])), "no units"),
        (lambda: bayes_multi_arm([1], [10]), "at least 2"),
        (lambda: bayes_multi_arm([1, 2], [10]), "same length"),
        (lambda: bayes_multi_arm([1, 20], [10, 10]), r"successes\[1\]"),
        (lambda: bayes_multi_arm([1, 2], [10, 10], names=["a"]), "names"),
    ],
)
def test_bayes_invalid_input(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Bayes: k arms
# --------------------------------------------------------------------------------------------


def test_multi_arm_api_and_reproducibility() -> None:
    res = bayes_multi_arm([30, 45, 38], [500, 510, 490], names=["a", "b", "c"], draws=4000, seed=3)
    assert isinstance(res, MultiArmBayesResult)
    assert sum(res.p_best) == pytest.approx(1.0)
    assert res.best == "b" and res.draws == 4000 and res.seed == 3
    again = bayes_multi_arm(
        [30, 45, 38], [500, 510, 490], names=["a", "b", "c"], draws=4000, seed=3
    )
    assert res.to_dict() == again.to_dict()
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["names"] == ["a", "b", "c"]
    frame = res.to_frame()
    assert list(frame.name) == ["a", "b", "c"] and frame.p_best.sum() == pytest.approx(1.0)
    assert min(res.expected_loss) == res.expected_loss[1]
    assert "b is most likely the best" in res.summary()
    assert res.plot() is not None


def test_multi_arm_two_arms_matches_chance_to_win() -> None:
    exact = bayes_multi_arm([30, 45], [500, 510], draws=None)
    two = bayes_binomial(30, 500, 45, 510)
    assert exact.p_best[1] == pytest.approx(two.chance_to_win, abs=1e-9)
    assert exact.expected_loss[0] == pytest.approx(two.risk_absolute[0], abs=1e-9)
    assert exact.expected_loss[1] == pytest.approx(two.risk_absolute[1], abs=1e-9)
    assert exact.draws is None and exact.seed is None


def test_multi_arm_degenerate() -> None:
    res = bayes_multi_arm([0, 0, 0], [5, 5, 5], draws=None)
    assert res.p_best == pytest.approx((1 / 3, 1 / 3, 1 / 3), abs=1e-9)
    mc = bayes_multi_arm([0, 0, 0], [5, 5, 5], draws=3000, seed=1)
    assert sum(mc.p_best) == pytest.approx(1.0)
