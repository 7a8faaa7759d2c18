"""Validation of power, design checks and multiplicity corrections.

* Reference numbers from ``shared/spec/references.md`` (R ``power.prop.test``, ``power.t.test``,
  ``p.adjust``; ``sandwich::vcovCL`` on Petersen's data), relative tolerance 1e-6 (Holm and
  BH to 1e-12).
* Agreement with statsmodels' own power classes on other inputs.
* Simulations, all seeded: the power formulas against the empirical power of the tests they
  describe; the SRM check's false-positive rate and its power against a 52/48 split; coverage of
  cluster-robust intervals where naive iid intervals under-cover; the spillover check's
  false-positive rate and power. Monte Carlo tolerances are 3 standard errors unless said.

Simulated figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from analysis.config import SHARED_DIR
from analysis.experiments.clusters import cluster_robust_difference, cluster_robust_ols
from analysis.experiments.corrections import adjust_pvalues
from analysis.experiments.interference import (
    NO_SPILLOVER,
    SPILLOVER_BETTER,
    spillover_check,
    treated_neighbour_share,
)
from analysis.experiments.power import (
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from analysis.experiments.proportions import _pooled_z
from analysis.experiments.srm import sample_ratio_mismatch

PETERSEN = SHARED_DIR / "data" / "petersen-cluster" / "PetersenCL.csv"


def mc_se(p: float, draws: int) -> float:
    return math.sqrt(p * (1.0 - p) / draws)


# --------------------------------------------------------------------------------------------
# Reference numbers
# --------------------------------------------------------------------------------------------


def test_power_prop_test_reference() -> None:
    # R: power.prop.test(n = 50, p1 = .50, p2 = .75); power.prop.test(p1 = .5, p2 = .75,
    # power = .90)
    assert power_proportions(50, 0.50, 0.75) == pytest.approx(0.7401659, rel=1e-6)
    assert sample_size_proportions(0.50, 0.75, power=0.90) == pytest.approx(76.70693, rel=1e-6)


def test_power_t_test_reference() -> None:
    # R: power.t.test(n = 20, delta = 1); power.t.test(power = .90, delta = 1)
    assert power_means(20, 1.0, 1.0) == pytest.approx(0.8689528, rel=1e-6)
    assert sample_size_means(1.0, 1.0, power=0.90) == pytest.approx(22.02110, rel=1e-6)


def test_holm_reference() -> None:
    got = adjust_pvalues([0.01, 0.04, 0.03, 0.005, 0.55, 0.6], method="holm")
    np.testing.assert_allclose(got, [0.05, 0.12, 0.12, 0.03, 1, 1], rtol=1e-12)


def test_benjamini_hochberg_reference() -> None:
    got = adjust_pvalues([0.898, 0.138, 0.007, 0.964, 0.538, 0.006, 0.138], method="fdr_bh")
    expected = [0.964, 0.2415, 0.0245, 0.964, 0.7532, 0.0245, 0.2415]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.fixture(scope="module")
def petersen() -> pd.DataFrame:
    if not PETERSEN.exists():
        pytest.skip(f"shared reference data not found: {PETERSEN}")
    return pd.read_csv(PETERSEN)


def test_petersen_cluster_robust_reference(petersen: pd.DataFrame) -> None:
    # R: sandwich::vcovCL(lm(y ~ x, PetersenCL), cluster = ~firm, type = "HC1")
    assert petersen.shape == (5000, 4) and petersen["firm"].nunique() == 500
    fit = cluster_robust_ols(petersen, "y", "x", "firm")
    i = fit.terms.index("x")
    assert fit.params[i] == pytest.approx(1.034833439, rel=1e-6)
    assert fit.se_iid[i] == pytest.approx(0.028583288, rel=1e-6)
    assert fit.se_cluster[i] == pytest.approx(0.050595726, rel=1e-6)
    assert (fit.n_obs, fit.n_clusters, fit.df) == (5000, 500, 499)


def test_petersen_sandwich_by_hand(petersen: pd.DataFrame) -> None:
    """The CR1 formula written out in numpy gives the same covariance matrix."""
    fit = cluster_robust_ols(petersen, "y", "x", "firm")
    X = np.column_stack([np.ones(len(petersen)), petersen["x"].to_numpy()])
    y = petersen["y"].to_numpy()
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ X.T @ y
    resid = y - X @ beta
    _, g = np.unique(petersen["firm"].to_numpy(), return_inverse=True)
    scores = np.zeros((g.max() + 1, 2))
    np.add.at(scores, g, X * resid[:, None])
    n, k, G = len(y), 2, g.max() + 1
    cov = G / (G - 1) * (n - 1) / (n - k) * bread @ (scores.T @ scores) @ bread
    np.testing.assert_allclose(np.asarray(fit.cov_cluster), cov, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# Agreement with statsmodels' power classes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p1", "p2", "n"),
    [(0.10, 0.12, 3000), (0.10, 0.13, 1000), (0.30, 0.35, 1000), (0.05, 0.06, 5000),
     (0.50, 0.60, 200), (0.20, 0.15, 700), (0.60, 0.50, 300)],
)  # fmt: skip
def test_power_proportions_near_normal_ind_power(p1: float, p2: float, n: int) -> None:
    # statsmodels uses Cohen's arcsine effect size h; R's formula differs slightly.
    h = proportion_effectsize(p2, p1)
    theirs = NormalIndPower().power(h, n, alpha=0.05, ratio=1.0, alternative="two-sided")
    assert power_proportions(n, p1, p2) == pytest.approx(theirs, abs=0.005)


@pytest.mark.parametrize(
    ("n", "delta", "sd", "alpha"),
    [(10, 1.0, 1.0, 0.05), (50, 0.5, 1.0, 0.05), (100, 3.0, 10.0, 0.01), (30, -0.6, 1.2, 0.1)],
)
def test_power_means_matches_ttest_ind_power(n: int, delta: float, sd: float, alpha: float) -> None:
    theirs = TTestIndPower().power(delta / sd, n, alpha=alpha, ratio=1.0)
    # strict=True is statsmodels' two-sided convention (both tails): identical.
    assert power_means(n, delta, sd, alpha, strict=True) == pytest.approx(theirs, rel=1e-10)
    assert power_means(n, delta, sd, alpha) == pytest.approx(theirs, abs=0.005)
    solved = TTestIndPower().solve_power(abs(delta) / sd, None, alpha, 0.8)
    assert sample_size_means(delta, sd, 0.8, alpha, strict=True) == pytest.approx(solved, rel=1e-5)


# --------------------------------------------------------------------------------------------
# Power against simulation
# --------------------------------------------------------------------------------------------

POWER_DRAWS = 20_000


@pytest.mark.parametrize(
    ("p1", "p2", "target"), [(0.10, 0.13, 0.8), (0.30, 0.36, 0.9), (0.50, 0.75, 0.9)]
)
def test_proportion_power_against_simulation(p1: float, p2: float, target: float) -> None:
    """Empirical power of the pooled two-proportion z test at the planned n."""
    n = math.ceil(sample_size_proportions(p1, p2, power=target))
    formula = power_proportions(n, p1, p2)
    rng = np.random.default_rng(20240501)
    sc = rng.binomial(n, p1, POWER_DRAWS)
    st = rng.binomial(n, p2, POWER_DRAWS)
    z = _pooled_z(sc, n, st, n)  # the project's z test, vectorised
    empirical = float(np.mean(2 * stats.norm.sf(np.abs(z)) < 0.05))
    print(f"\n  z test {p1} vs {p2}, n = {n}/arm: formula {formula:.4f}, simulated {empirical:.4f}")
    assert empirical == pytest.approx(formula, abs=0.02)


def test_means_power_against_simulation() -> None:
    n = math.ceil(sample_size_means(1.0, 1.0, power=0.9))  # 23 per arm
    formula = power_means(n, 1.0, 1.0)
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 1.0, (POWER_DRAWS, n))
    b = rng.normal(1.0, 1.0, (POWER_DRAWS, n))
    p = stats.ttest_ind(b, a, axis=1).pvalue
    empirical = float(np.mean(p < 0.05))
    print(f"\n  t test n = {n}/arm: formula {formula:.4f}, simulated {empirical:.4f}")
    assert empirical == pytest.approx(formula, abs=3 * mc_se(formula, POWER_DRAWS))


# --------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------


def _chi2_p(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    expected = counts.sum(axis=1, keepdims=True) * weights
    return stats.chisquare(counts, expected, axis=1).pvalue


def test_srm_false_positive_rate_under_correct_randomisation() -> None:
    draws = 200_000
    rng = np.random.default_rng(99)
    weights = np.array([0.5, 0.25, 0.25])
    counts = rng.multinomial(10_000, weights, size=draws)
    p = _chi2_p(counts, weights)
    planned = dict(zip("abc", weights.tolist(), strict=True))
    for row in counts[:20]:  # the vectorised p-values are the public function's
        res = sample_ratio_mismatch(dict(zip("abc", row.tolist(), strict=True)), planned)
        assert res.p_value == pytest.approx(_chi2_p(row[None, :], weights)[0], rel=1e-12)
    for level in (0.001, 0.05):
        rate = float(np.mean(p < level))
        print(f"\n  SRM false positives at {level}: {rate:.5f} ({draws:,} correct splits)")
        assert rate == pytest.approx(level, abs=3 * mc_se(level, draws))


def test_srm_detects_a_52_48_split() -> None:
    n = 20_000
    exact = sample_ratio_mismatch({"control": 10_400, "treatment": 9_600})
    assert not exact.ok and exact.statistic == pytest.approx(32.0)
    assert exact.p_value == pytest.approx(stats.chi2.sf(32.0, 1), rel=1e-12)
    draws = 4_000
    rng = np.random.default_rng(52)
    first = rng.binomial(n, 0.52, draws)
    p = _chi2_p(np.column_stack([first, n - first]), np.array([0.5, 0.5]))
    rate = float(np.mean(p < 0.001))
    # Power of the chi-square test: noncentrality n * sum((pi - w)^2 / w) = 32.
    theory = float(stats.ncx2.sf(stats.chi2.isf(0.001, 1), 1, 32.0))
    print(f"\n  SRM detection of 52/48 at n = {n:,}: {rate:.4f} (theory {theory:.4f})")
    assert rate > 0.97
    assert rate == pytest.approx(theory, abs=3 * mc_se(theory, draws) + 0.005)


# --------------------------------------------------------------------------------------------
# Cluster-robust coverage
# --------------------------------------------------------------------------------------------


def test_cluster_robust_coverage_where_iid_undercovers() -> None:
    """80 channels of 10-20 members randomised whole, ICC 0.15, true effect 0.3."""
    reps, n_clusters, icc, effect = 2000, 80, 0.15, 0.3
    rng = np.random.default_rng(2024)
    sizes = rng.integers(10, 21, n_clusters)
    cluster = np.repeat(np.arange(n_clusters), sizes)
    cover_cr1 = cover_iid = 0
    deffs, deffs_icc = [], []
    for _ in range(reps):
        arm = np.repeat(rng.permutation(np.arange(n_clusters) % 2), sizes)
        y = (
            effect * arm
            + np.repeat(rng.normal(0, math.sqrt(icc), n_clusters), sizes)
            + rng.normal(0, math.sqrt(1 - icc), cluster.size)
        )
        res = cluster_robust_difference(
            pd.DataFrame({"y": y, "arm": arm, "channel": cluster}), "y", "arm", "channel"
        )
        cover_cr1 += res.diff_ci[0] <= effect <= res.diff_ci[1]
        half = stats.t.isf(0.025, cluster.size - 2) * res.extra["se_iid"]
        cover_iid += abs(res.diff - effect) <= half
        deffs.append(res.extra["design_effect"])
        deffs_icc.append(res.extra["design_effect_icc"])
    cr1, iid = cover_cr1 / reps, cover_iid / reps
    print(
        f"\n  coverage of 95% intervals over {reps} cluster-randomised experiments: "
        f"CR1 {cr1:.4f}, naive iid {iid:.4f}; mean design effect {np.mean(deffs):.2f} "
        f"(ICC formula {np.mean(deffs_icc):.2f}; truth ≈ {1 + (sizes.mean() - 1) * icc:.2f})"
    )
    assert cr1 == pytest.approx(0.95, abs=0.015)
    assert iid < 0.85
    assert np.mean(deffs) == pytest.approx(1 + (sizes.mean() - 1) * icc, rel=0.2)


# --------------------------------------------------------------------------------------------
# Spillover
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network() -> tuple[pd.DataFrame, np.ndarray, nx.Graph]:
    graph = nx.gnm_random_graph(600, 2400, seed=1)
    rng = np.random.default_rng(5)
    for u, v in graph.edges():
        graph[u][v]["weight"] = float(rng.integers(1, 5))
    edges = pd.DataFrame(
        [(u, v, d["weight"]) for u, v, d in graph.edges(data=True)],
        columns=["source", "target", "weight"],
    )
    degree = np.array([graph.degree(i) for i in range(600)], dtype=float)
    return edges, degree, graph


def _share_networkx(graph: nx.Graph, treated: np.ndarray) -> np.ndarray:
    """Weighted treated share of every node's neighbours, straight from networkx."""
    out = np.full(graph.number_of_nodes(), np.nan)
    for i in graph.nodes():
        w = [(graph[i][j]["weight"], treated[j]) for j in graph.neighbors(i)]
        if w:
            out[i] = sum(a * t for a, t in w) / sum(a for a, _ in w)
    return out


def _spillover_experiment(rng, edges, degree, graph, spill: float):
    treated = rng.permutation(np.repeat([0, 1], 300))
    share = _share_networkx(graph, treated) if spill else np.full(600, np.nan)
    # Outcomes depend on degree (busier members post more) but, without spillover, not on the
    # neighbours' arms; the treatment itself works (+0.5) in the treated arm.
    y = 0.1 * degree + rng.normal(size=600) + 0.5 * treated
    y = y + spill * (1 - treated) * np.nan_to_num(share)
    units = pd.DataFrame(
        {"unit_id": np.arange(600), "variant": np.where(treated == 1, "t", "control"), "outcome": y}
    )
    return units, share


def test_share_matches_networkx(network) -> None:
    edges, degree, graph = network
    units, share = _spillover_experiment(np.random.default_rng(0), edges, degree, graph, 1.0)
    ours, counts = treated_neighbour_share(units, edges)
    np.testing.assert_allclose(ours.to_numpy(), share[ours.index.to_numpy()], rtol=1e-12)
    assert counts["n_edges"] == graph.number_of_edges()


def test_spillover_false_positive_rate(network) -> None:
    edges, degree, graph = network
    reps, alpha = 400, 0.05
    rejections = 0
    for seed in range(reps):
        units, _ = _spillover_experiment(np.random.default_rng(seed), edges, degree, graph, 0.0)
        res = spillover_check(units, edges, alpha=alpha)
        rejections += res.detected
        assert res.detected or res.verdict == NO_SPILLOVER
    rate = rejections / reps
    print(f"\n  spillover check false positives: {rate:.4f} over {reps} null experiments")
    assert rate == pytest.approx(alpha, abs=3 * mc_se(alpha, reps))


def test_spillover_planted_is_detected(network) -> None:
    edges, degree, graph = network
    reps = 50
    slopes, hits = [], 0
    for seed in range(1000, 1000 + reps):
        units, _ = _spillover_experiment(np.random.default_rng(seed), edges, degree, graph, 1.5)
        res = spillover_check(units, edges)
        hits += res.verdict == SPILLOVER_BETTER
        slopes.append(res.slope)
    print(f"\n  planted spillover 1.5: detected {hits}/{reps}, mean slope {np.mean(slopes):.3f}")
    assert hits / reps >= 0.9
    assert np.mean(slopes) == pytest.approx(1.5, abs=0.15)
