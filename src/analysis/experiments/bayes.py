r"""Bayesian A/B comparisons: chance to win, expected loss (risk) and credible intervals.

Three entry points, all from counts or sufficient statistics:

* :func:`bayes_binomial` compares two conversion rates. ``method="beta"`` (default) uses the
  exact Beta–Binomial posterior; ``method="normal"`` uses GrowthBook's normal approximation of the
  effect with a flat prior (this is what reproduces GrowthBook's published numbers).
* :func:`bayes_means` compares two means (normal approximation, flat prior).
* :func:`bayes_multi_arm` gives each of k >= 2 arms its probability of being the best and its
  expected loss (Beta–Binomial, Monte Carlo with a seed or numerical integration).

Quantities (treatment *t* vs control *c*)
-----------------------------------------
With posterior parameters :math:`p_c, p_t` (rates or means), the relative lift
:math:`\lambda = p_t / p_c - 1` and the absolute difference :math:`\delta = p_t - p_c`:

* **chance to win** :math:`P(p_t > p_c \mid \text{data})` (probability that the treatment beats
  the control);
* **risk** (expected loss, Stucchio 2015; GrowthBook): ``risk = (E[max(λ, 0)], E[max(-λ, 0)])``,
  the expected relative loss of choosing the **control** and of choosing the **treatment**
  (GrowthBook's ``risk_type="relative"``: a fraction of the control's value, so 0.04 = 4 % of
  the control rate); ``risk_absolute`` is the same with :math:`\delta` (units of the metric);
* **credible intervals**: equal-tailed :math:`1-\alpha` posterior intervals of each arm's
  parameter, of :math:`\delta` and of :math:`\lambda`.

Conventions of the two models
-----------------------------
``method="beta"`` (exact Beta–Binomial)
    Independent priors :math:`p \sim \mathrm{Beta}(a_0, b_0)` (default ``prior=(1, 1)``, uniform)
    give posteriors :math:`\mathrm{Beta}(a_0 + s, b_0 + n - s)`. With ``draws=None`` every
    quantity is computed by one-dimensional numerical integration over the posterior with the
    smaller spread: :math:`E[g(p)] = \int g(F^{-1}(\Phi(z)))\,\phi(z)\,dz` by
    ``QUADRATURE_NODES``-point Gauss–Hermite quadrature, with the inner expectation in closed
    form through regularised incomplete beta functions :math:`I_x(a, b)`, e.g.
    :math:`P(p_t > p_c) = E_c[1 - I_{p_c}(a_t, b_t)]`,
    :math:`E[(p_t - x)^+] = \tfrac{a_t}{a_t+b_t}(1 - I_x(a_t+1, b_t)) - x(1 - I_x(a_t, b_t))`
    and :math:`E[1/p_c;\, p_c < y] = \tfrac{a_c+b_c-1}{a_c-1} I_y(a_c-1, b_c)`; interval
    limits are found by root-finding on the integrated CDF. Accurate to about 1e-10 (checked
    against adaptive quadrature in the validation tests). With ``draws=N`` the same figures are
    Monte Carlo averages over ``N`` posterior draws from ``numpy.random.default_rng(seed)``
    (control drawn first), reproducible bit for bit.
    :math:`E[\lambda] = \tfrac{a_t}{a_t+b_t}\tfrac{a_c+b_c-1}{a_c-1} - 1` is infinite when
    :math:`a_c \le 1` (no control conversions under a uniform prior): then ``risk[0]`` and
    ``relative_lift_mean`` are ``inf`` (the credible interval of the lift stays finite).

``method="normal"`` (GrowthBook ``gbstats`` ``EffectBayesianABTest`` with its default improper
flat prior)
    The posterior of the relative lift is :math:`N(\hat\lambda, \widehat{SE}_{rel}^2)` with
    :math:`\hat\lambda = \hat p_t/\hat p_c - 1` and the delta-method variance treating the
    control mean as random,
    :math:`\widehat{SE}_{rel}^2 = \frac{v_t/n_t}{\hat p_c^2} + \frac{\hat p_t^2\,v_c/n_c}
    {\hat p_c^4}`, with unit variances :math:`v = \hat p(1-\hat p)` for rates (ddof 0) and the
    unbiased sample variance for means (ddof 1). The absolute difference has posterior
    :math:`N(\hat\delta, v_c/n_c + v_t/n_t)`. Chance to win is :math:`\Phi(\hat\lambda /
    \widehat{SE}_{rel})` (``difference="relative"``, GrowthBook's default) or
    :math:`\Phi(\hat\delta/\widehat{SE})` (``difference="absolute"``). For a normal posterior
    :math:`N(m, s^2)`, :math:`E[\max(X, 0)] = m\Phi(m/s) + s\phi(m/s)` and
    :math:`E[\max(-X, 0)] = E[\max(X, 0)] - m`. GrowthBook's model is *normal* in the relative
    lift (older ``gbstats`` releases used a log-normal model of :math:`p_t/p_c` with Beta
    moments, chance to win 0.61052 on the reference below; that is **not** what the current
    reference numbers come from).

Reference (``references.md``; GrowthBook ``gbstats`` ``test_bayesian_binomial_ab_test``):
49/100 control vs 51/100 treatment, flat prior, ``method="normal"``: relative lift 0.04082,
posterior sd 0.14725, 95 % credible interval (−0.24779, 0.32943), chance to win 0.60918,
risk (0.0814, 0.04058). The exact Beta(1, 1) posterior gives chance to win 0.61077.

References
----------
.. [1] GrowthBook, "Bayesian Statistics" and "Statistical Details",
   https://docs.growthbook.io/statistics/details; ``gbstats.bayesian.tests``
   (``EffectBayesianABTest``, ``getRisk``), https://github.com/growthbook/growthbook
.. [2] Stucchio, C. (2015). Bayesian A/B testing at VWO. VWO technical whitepaper
   (expected loss as the decision criterion).
.. [3] Miller, E. (2015). Formulas for Bayesian A/B testing,
   https://www.evanmiller.org/bayesian-ab-testing.html (closed forms for Beta posteriors).
.. [4] Gelman, A. et al. (2013). *Bayesian Data Analysis*, 3rd ed., ch. 2–3 (Beta–Binomial
   model; normal approximation with a flat prior).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special

from analysis.experiments.sufficient import SufficientStats
from analysis.experiments.tests import _check_alpha, _check_arm
from analysis.results import Result

__all__ = [
    "QUADRATURE_NODES",
    "BayesResult",
    "MultiArmBayesResult",
    "bayes_binomial",
    "bayes_means",
    "bayes_multi_arm",
]

#: Gauss–Hermite nodes used for the exact Beta posterior integrals.
QUADRATURE_NODES = 64

_METHODS = ("beta", "normal")
_DIFFERENCES = ("relative", "absolute")


# --------------------------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------------------------


@cache
def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and weights normalised to sum to 1 (E over N(0, 1))."""
    z, w = special.roots_hermitenorm(n)
    return z, w / w.sum()


def _beta_quantile_of_z(a: Any, b: Any, z: Any) -> np.ndarray:
    """``F^{-1}(Φ(z))`` for Beta(a, b), using the upper tail for z > 0 (no loss of precision)."""
    z = np.asarray(z, dtype=float)
    lower = special.betaincinv(a, b, special.ndtr(np.minimum(z, 0.0)))
    upper = special.betainccinv(a, b, special.ndtr(-np.maximum(z, 0.0)))
    return np.where(z <= 0, lower, upper)


def _beta_var(a: Any, b: Any) -> np.ndarray:
    return a * b / ((a + b) ** 2 * (a + b + 1.0))


def _beta_two_arm_arrays(
    a_c: Any, b_c: Any, a_t: Any, b_t: Any, nodes: int = QUADRATURE_NODES
) -> dict[str, np.ndarray]:
    r"""Chance to win, absolute and relative expected losses for Beta posteriors (quadrature).

    Arguments broadcast (one element per experiment). Integrates over the arm with the smaller
    posterior variance (the *outer* arm, nodes :math:`x_j`), using closed forms for the other
    (*inner*) arm; the control is forced outer when :math:`a_c \le 1` so that no
    :math:`E[1/p_c]` term is needed.

    Returns ``chance_to_win``, ``risk_abs_control`` (:math:`E[(p_t-p_c)^+]`, loss of keeping
    the control), ``risk_abs_treatment`` (:math:`E[(p_c-p_t)^+]`), ``risk_rel_control``
    (:math:`E[(p_t/p_c-1)^+]`, ``inf`` if :math:`a_c \le 1`), ``risk_rel_treatment``
    (:math:`E[(1-p_t/p_c)^+]`) and ``relative_lift_mean`` (:math:`E[p_t/p_c] - 1`).
    """
    a_c, b_c, a_t, b_t = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (a_c, b_c, a_t, b_t))
    )
    m_c = a_c / (a_c + b_c)
    m_t = a_t / (a_t + b_t)
    oc = (_beta_var(a_c, b_c) <= _beta_var(a_t, b_t)) | (a_c <= 1.0)
    a_o, b_o = np.where(oc, a_c, a_t), np.where(oc, b_c, b_t)
    a_i, b_i = np.where(oc, a_t, a_c), np.where(oc, b_t, b_c)
    m_i = np.where(oc, m_t, m_c)

    z, w = _hermite(nodes)
    ex = (..., None)
    x = _beta_quantile_of_z(a_o[ex], b_o[ex], z)
    a_i, b_i, m_i, occ = a_i[ex], b_i[ex], m_i[ex], oc[ex]
    s_cdf = special.betainc(a_i, b_i, x)
    s_sf = special.betaincc(a_i, b_i, x)
    j_cdf = special.betainc(a_i + 1.0, b_i, x)
    j_sf = special.betaincc(a_i + 1.0, b_i, x)
    upper = m_i * j_sf - x * s_sf  # E[(P_inner - x)^+]
    lower = x * s_cdf - m_i * j_cdf  # E[(x - P_inner)^+]

    # Relative losses. Outer control (x = p_c): divide the partial expectations by x.
    # Outer treatment (x = p_t, inner control): E[1/p_c; p_c < x] = k I_x(a_c - 1, b_c).
    a_safe = np.where(a_i > 1.0, a_i - 1.0, 1.0)
    k = (a_i + b_i - 1.0) / a_safe
    k_cdf = special.betainc(a_safe, b_i, x)
    k_sf = special.betaincc(a_safe, b_i, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_plus = np.where(occ, upper / x, x * k * k_cdf - s_cdf)
        rel_minus = np.where(occ, lower / x, s_sf - x * k * k_sf)

    def expect(values: np.ndarray) -> np.ndarray:
        return np.sum(values * w, axis=-1)

    ctw = expect(np.where(occ, s_sf, s_cdf))
    loss_control = expect(np.where(occ, upper, lower))
    loss_treatment = expect(np.where(occ, lower, upper))
    with np.errstate(divide="ignore", invalid="ignore"):
        k_c = (a_c + b_c - 1.0) / np.where(a_c > 1.0, a_c - 1.0, 1.0)
        lift_mean = np.where(a_c > 1.0, m_t * k_c - 1.0, np.inf)
    return {
        "chance_to_win": np.clip(ctw, 0.0, 1.0),
        "risk_abs_control": np.maximum(loss_control, 0.0),
        "risk_abs_treatment": np.maximum(loss_treatment, 0.0),
        "risk_rel_control": np.where(a_c > 1.0, np.maximum(expect(rel_plus), 0.0), np.inf),
        "risk_rel_treatment": np.clip(expect(rel_minus), 0.0, 1.0),
        "relative_lift_mean": lift_mean,
    }


def _normal_effect_arrays(estimate: Any, se: Any) -> dict[str, np.ndarray]:
    r"""For a posterior :math:`N(m, s^2)`: ``P(X > 0)``, ``E[max(X, 0)]`` and ``E[max(-X, 0)]``.

    NaN where ``s`` is not positive (the normal approximation has nothing to work with).
    """
    m = np.asarray(estimate, dtype=float)
    s = np.asarray(se, dtype=float)
    ok = s > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = np.where(ok, m / np.where(ok, s, 1.0), np.nan)
        plus = m * special.ndtr(zz) + s * np.exp(-0.5 * zz * zz) / math.sqrt(2.0 * math.pi)
    return {
        "chance_to_win": np.where(ok, special.ndtr(zz), np.nan),
        "loss_control": np.where(ok, plus, np.nan),
        "loss_treatment": np.where(ok, plus - m, np.nan),
    }


def _normal_moments(
    mean_c: Any, var_c: Any, n_c: Any, mean_t: Any, var_t: Any, n_t: Any
) -> dict[str, np.ndarray]:
    """Absolute difference and delta-method relative lift with their standard errors."""
    mean_c = np.asarray(mean_c, dtype=float)
    mean_t = np.asarray(mean_t, dtype=float)
    vc = np.asarray(var_c, dtype=float) / np.asarray(n_c, dtype=float)
    vt = np.asarray(var_t, dtype=float) / np.asarray(n_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_c = np.where(mean_c != 0, mean_c, np.nan)
        lift = mean_t / safe_c - 1.0
        se_rel = np.sqrt(vt / safe_c**2 + mean_t**2 * vc / safe_c**4)
    return {"diff": mean_t - mean_c, "se": np.sqrt(vc + vt), "lift": lift, "se_rel": se_rel}


# --------------------------------------------------------------------------------------------
# Exact two-arm Beta posterior: scalar helpers (intervals by root-finding)
# --------------------------------------------------------------------------------------------


class _TwoBeta:
    r"""CDFs of δ = p_t − p_c and of r = p_t / p_c for one pair of Beta posteriors.

    Each CDF is an expectation over the posterior with the smaller variance (the *outer* arm),
    integrated adaptively in probability space, :math:`\int_0^1 g(F_o^{-1}(u))\,du`, with the
    other arm's CDF in closed form inside; the integrand is bounded and monotone, so adaptive
    quadrature copes with its kinks (where a limit is clipped to [0, 1]).
    """

    def __init__(self, a_c: float, b_c: float, a_t: float, b_t: float) -> None:
        self.a_c, self.b_c, self.a_t, self.b_t = a_c, b_c, a_t, b_t
        self.outer_control = bool(_beta_var(a_c, b_c) <= _beta_var(a_t, b_t))
        self.a_o, self.b_o = (a_c, b_c) if self.outer_control else (a_t, b_t)

    def _expect(self, g: Any) -> float:
        def h(u: float) -> float:
            return float(g(special.betaincinv(self.a_o, self.b_o, u)))

        value = integrate.quad(h, 0.0, 1.0, limit=200, epsabs=1e-12, epsrel=1e-10)[0]
        return min(max(value, 0.0), 1.0)

    def cdf_diff(self, d: float) -> float:
        """P(p_t − p_c ≤ d)."""
        if self.outer_control:
            return self._expect(
                lambda x: special.betainc(self.a_t, self.b_t, min(max(x + d, 0), 1))
            )
        return self._expect(lambda y: special.betaincc(self.a_c, self.b_c, min(max(y - d, 0), 1)))

    def cdf_ratio(self, r: float) -> float:
        """P(p_t / p_c ≤ r) for r > 0."""
        if self.outer_control:
            return self._expect(lambda x: special.betainc(self.a_t, self.b_t, min(r * x, 1.0)))
        return self._expect(lambda y: special.betaincc(self.a_c, self.b_c, min(y / r, 1.0)))

    def diff_quantile(self, q: float) -> float:
        return float(optimize.brentq(lambda d: self.cdf_diff(d) - q, -1.0, 1.0, xtol=1e-12))

    def ratio_quantile(self, q: float) -> float:
        """Quantile of p_t / p_c, found on the log scale with an expanding bracket."""

        def f(s: float) -> float:
            return self.cdf_ratio(math.exp(s)) - q

        lo, hi = -1.0, 1.0
        while f(lo) > 0 and lo > -700:
            lo *= 2.0
        while f(hi) < 0 and hi < 700:
            hi *= 2.0
        return math.exp(optimize.brentq(f, lo, hi, xtol=1e-12))


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _pct(x: float, signed: bool = False) -> str:
    if x is None or math.isnan(x):
        return "undefined"
    if math.isinf(x):
        return "unbounded"
    return f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"


def _num(x: float) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "unbounded"
    return f"{x:.3g}"


@dataclass(frozen=True)
class BayesResult(Result):
    """Posterior comparison of a treatment with a control; see :func:`bayes_binomial`.

    Attributes
    ----------
    metric, metric_type : str
        Metric name; ``"binary"`` (rates) or ``"mean"``.
    control_name, treatment_name : str
        Labels.
    n_control, n_treatment : int
        Units per arm.
    estimate_control, estimate_treatment : float
        Observed rate (``s / n``) or mean per arm.
    posterior_control_ci, posterior_treatment_ci : (float, float)
        Equal-tailed ``1 - alpha`` credible interval of each arm's rate or mean.
    diff : float
        Observed absolute difference ``estimate_treatment - estimate_control``.
    diff_ci : (float, float)
        Credible interval of the absolute difference.
    relative_lift : float
        Observed relative lift ``estimate_treatment / estimate_control - 1`` (NaN if the control
        estimate is 0).
    relative_lift_mean : float
        Posterior mean of the relative lift (equals ``relative_lift`` under ``method="normal"``;
        ``inf`` for the Beta model when the control posterior has :math:`a_c \\le 1`).
    relative_lift_ci : (float, float)
        Credible interval of the relative lift.
    chance_to_win : float
        Posterior probability that the treatment beats the control.
    risk : (float, float)
        Expected *relative* loss of choosing the control and of choosing the treatment,
        ``(E[max(λ, 0)], E[max(-λ, 0)])`` with λ the relative lift (a fraction of the control's
        value; GrowthBook's ``risk_type="relative"``).
    risk_absolute : (float, float)
        Same with the absolute difference (units of the metric).
    alpha : float
        Credible intervals have level ``1 - alpha``.
    method : str
        Model and computation, e.g. ``"Beta–Binomial posterior (numerical integration)"``.
    prior : str
        The prior in words.
    ci_method, relative_ci_method : str
        How the intervals were computed.
    draws, seed : int or None
        Monte Carlo draws and seed (None when computed by integration or in closed form).
    notes : tuple of str
        Caveats (degenerate arms, undefined quantities).
    extra : dict
        Posterior parameters (``posterior_family``, ``posterior_control``,
        ``posterior_treatment``) and model settings.
    """

    metric: str
    metric_type: str
    control_name: str
    treatment_name: str
    n_control: int
    n_treatment: int
    estimate_control: float
    estimate_treatment: float
    posterior_control_ci: tuple[float, float]
    posterior_treatment_ci: tuple[float, float]
    diff: float
    diff_ci: tuple[float, float]
    relative_lift: float
    relative_lift_mean: float
    relative_lift_ci: tuple[float, float]
    chance_to_win: float
    risk: tuple[float, float]
    risk_absolute: tuple[float, float]
    alpha: float
    method: str
    prior: str
    ci_method: str
    relative_ci_method: str
    draws: int | None = None
    seed: int | None = None
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    title = "Bayesian A/B comparison"

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: arms, difference, relative lift, chance to win and the four risks.

        Columns: ``term``, ``n``, ``estimate``, ``ci_low``, ``ci_high``, ``ci_level``,
        ``method``. Arm rows hold the observed estimate and the posterior credible interval.
        """
        nan = math.nan
        rows = [
            (self.control_name, self.n_control, self.estimate_control,
             *self.posterior_control_ci, self.method),
            (self.treatment_name, self.n_treatment, self.estimate_treatment,
             *self.posterior_treatment_ci, self.method),
            ("difference", pd.NA, self.diff, *self.diff_ci, self.ci_method),
            ("relative lift", pd.NA, self.relative_lift, *self.relative_lift_ci,
             self.relative_ci_method),
            ("relative lift, posterior mean", pd.NA, self.relative_lift_mean, nan, nan,
             self.method),
            ("chance to win", pd.NA, self.chance_to_win, nan, nan, self.method),
            ("risk of choosing control (relative)", pd.NA, self.risk[0], nan, nan, self.method),
            ("risk of choosing treatment (relative)", pd.NA, self.risk[1], nan, nan,
             self.method),
            ("risk of choosing control (absolute)", pd.NA, self.risk_absolute[0], nan, nan,
             self.method),
            ("risk of choosing treatment (absolute)", pd.NA, self.risk_absolute[1], nan, nan,
             self.method),
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["term", "n", "estimate", "ci_low", "ci_high", "method"])
        frame.insert(5, "ci_level", 1.0 - self.alpha)
        return frame.astype({"n": "Int64"})

    def summary(self) -> str:
        """Plain-language verdict: chance to win, lift with its credible interval, risks."""
        level = f"{1 - self.alpha:.0%}"
        if math.isnan(self.chance_to_win):
            head = (
                f"{self.metric}: the chance that {self.treatment_name} beats "
                f"{self.control_name} is undefined here [{self.method}]."
            )
        else:
            head = (
                f"{self.metric}: {self.treatment_name} beats {self.control_name} with "
                f"probability {self.chance_to_win:.1%} [{self.method}; prior {self.prior}]."
            )
        lift = (
            f" Observed {self.treatment_name} {_num(self.estimate_treatment)} vs "
            f"{self.control_name} {_num(self.estimate_control)}: difference {_num(self.diff)} "
            f"({level} credible interval {_num(self.diff_ci[0])} to {_num(self.diff_ci[1])}), "
            f"relative lift {_pct(self.relative_lift, True)} ({level} credible interval "
            f"{_pct(self.relative_lift_ci[0], True)} to {_pct(self.relative_lift_ci[1], True)})."
        )
        risk = (
            f" Expected loss if {self.treatment_name} is chosen: {_pct(self.risk[1])} of the "
            f"control value ({_num(self.risk_absolute[1])} absolute); if {self.control_name} is "
            f"kept: {_pct(self.risk[0])} ({_num(self.risk_absolute[0])} absolute)."
        )
        text = head + lift + risk
        if self.notes:
            text += " " + " ".join(self.notes)
        return text

    def plot(self, ax: Any = None) -> Any:
        """Posterior densities of the two arms' rates or means; returns the Axes."""
        import matplotlib.pyplot as plt
        from scipy import stats

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        family = self.extra.get("posterior_family")
        params = [self.extra.get("posterior_control"), self.extra.get("posterior_treatment")]
        names = [self.control_name, self.treatment_name]
        dists = []
        for p in params:
            if p is None or any(v is None or not math.isfinite(v) for v in p) or p[1] <= 0:
                dists.append(None)
            elif family == "beta":
                dists.append(stats.beta(p[0], p[1]))
            else:
                dists.append(stats.norm(p[0], p[1]))
        live = [d for d in dists if d is not None]
        if live:
            lo = min(d.ppf(1e-4) for d in live)
            hi = max(d.ppf(1 - 1e-4) for d in live)
            grid = np.linspace(lo, hi, 400)
            for name, d in zip(names, dists, strict=True):
                if d is not None:
                    ax.plot(grid, d.pdf(grid), label=name)
            ax.legend()
        ax.set_xlabel(self.metric)
        ax.set_ylabel("posterior density")
        ctw = "n/a" if math.isnan(self.chance_to_win) else f"{self.chance_to_win:.1%}"
        ax.set_title(f"chance to win {ctw}", fontsize="medium")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-serialisable values (tuples as lists, NaN and ±inf as None)."""
        from analysis.report import to_jsonable

        return to_jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class MultiArmBayesResult(Result):
    """Probability that each arm is best; see :func:`bayes_multi_arm`.

    Attributes
    ----------
    names : tuple of str
        Arm labels.
    successes, totals : tuple of int
        Counts per arm.
    rates : tuple of float
        Observed ``successes / totals``.
    rate_cis : tuple of (float, float)
        Equal-tailed ``1 - alpha`` credible intervals of each rate (Beta posterior quantiles).
    p_best : tuple of float
        Posterior probability that each arm has the highest rate (sums to 1).
    expected_loss : tuple of float
        :math:`E[\\max_j p_j - p_i]`, the expected absolute loss of choosing arm i.
    alpha : float
        Credible level ``1 - alpha``.
    method, prior : str
        Computation and prior in words.
    draws, seed : int or None
        Monte Carlo draws and seed (None under numerical integration).
    """

    names: tuple[str, ...]
    successes: tuple[int, ...]
    totals: tuple[int, ...]
    rates: tuple[float, ...]
    rate_cis: tuple[tuple[float, float], ...]
    p_best: tuple[float, ...]
    expected_loss: tuple[float, ...]
    alpha: float
    method: str
    prior: str
    draws: int | None = None
    seed: int | None = None

    title = "Bayesian multi-arm comparison"

    @property
    def best(self) -> str:
        """Name of the arm with the highest probability of being best."""
        return self.names[int(np.argmax(self.p_best))]

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: counts, rate, credible interval, P(best) and expected loss."""
        return pd.DataFrame(
            {
                "name": list(self.names),
                "successes": list(self.successes),
                "n": list(self.totals),
                "rate": list(self.rates),
                "ci_low": [c[0] for c in self.rate_cis],
                "ci_high": [c[1] for c in self.rate_cis],
                "ci_level": 1.0 - self.alpha,
                "p_best": list(self.p_best),
                "expected_loss": list(self.expected_loss),
            }
        )

    def summary(self) -> str:
        """Which arm is most likely best, how likely, and what choosing it risks."""
        i = int(np.argmax(self.p_best))
        mc = f", {self.draws:,} draws, seed {self.seed}" if self.draws else ""
        return (
            f"{self.names[i]} is most likely the best of {len(self.names)} arms "
            f"(P(best) = {self.p_best[i]:.1%}; rate {self.rates[i]:.2%}); choosing it has an "
            f"expected loss of {self.expected_loss[i]:.3g} in rate. P(best) per arm: "
            + ", ".join(f"{n} {p:.1%}" for n, p in zip(self.names, self.p_best, strict=True))
            + f" [{self.method}{mc}; prior {self.prior}]."
        )

    def plot(self, ax: Any = None) -> Any:
        """Bar chart of P(best) per arm; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(1.6 + 1.2 * len(self.names), 3.2))
        ax.bar(list(self.names), list(self.p_best))
        ax.set_ylim(0, 1)
        ax.set_ylabel("P(best)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-serialisable values."""
        from analysis.report import to_jsonable

        return to_jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _check_prior(prior: Any) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ValueError(
            f"prior must be a pair (a, b) of positive numbers, got {prior!r}"
        ) from None
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"prior must be a pair (a, b) of positive numbers, got {prior!r}")
    return a, b


def _check_draws(draws: Any) -> int | None:
    if draws is None:
        return None
    if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) or draws < 1:
        raise ValueError(f"draws must be None or a positive integer, got {draws!r}")
    return int(draws)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def _beta_ci(a: float, b: float, alpha: float) -> tuple[float, float]:
    low, high = special.betaincinv(a, b, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def _normal_ci(m: float, s: float, alpha: float) -> tuple[float, float]:
    if not s > 0:
        return (math.nan, math.nan)
    crit = float(special.ndtri(1.0 - alpha / 2.0))
    return (m - crit * s, m + crit * s)


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def _from_normal(
    *,
    mean_c: float,
    var_c: float,
    n_c: int,
    mean_t: float,
    var_t: float,
    n_t: int,
    alpha: float,
    difference: str,
    metric: str,
    metric_type: str,
    control_name: str,
    treatment_name: str,
    notes: list[str],
    clip_rates: bool,
) -> BayesResult:
    mom = {k: float(v) for k, v in _normal_moments(mean_c, var_c, n_c, mean_t, var_t, n_t).items()}
    rel = {k: float(v) for k, v in _normal_effect_arrays(mom["lift"], mom["se_rel"]).items()}
    ab = {k: float(v) for k, v in _normal_effect_arrays(mom["diff"], mom["se"]).items()}
    ctw = rel["chance_to_win"] if difference == "relative" else ab["chance_to_win"]
    sd_c = math.sqrt(var_c / n_c) if var_c >= 0 else math.nan
    sd_t = math.sqrt(var_t / n_t) if var_t >= 0 else math.nan
    ci_c, ci_t = _normal_ci(mean_c, sd_c, alpha), _normal_ci(mean_t, sd_t, alpha)
    if clip_rates:
        ci_c = tuple(float(np.clip(v, 0.0, 1.0)) for v in ci_c)  # type: ignore[assignment]
        ci_t = tuple(float(np.clip(v, 0.0, 1.0)) for v in ci_t)  # type: ignore[assignment]
    if mean_c == 0:
        notes.append(
            f"The {control_name} estimate is 0, so the relative lift and its normal model are "
            "undefined" + ("; use method='beta'." if metric_type == "binary" else ".")
        )
    if not mom["se"] > 0:
        notes.append(
            "Neither arm shows any variation, so the normal approximation is undefined "
            "(chance to win and risks are NaN)."
        )
    elif (
        metric_type == "binary"
        and min(mean_c * n_c, (1 - mean_c) * n_c, mean_t * n_t, (1 - mean_t) * n_t) < 5
    ):
        notes.append(
            "An arm has fewer than 5 successes or failures: the normal approximation is poor; "
            "prefer method='beta'."
        )
    scale = "relative lift" if difference == "relative" else "absolute difference"
    return BayesResult(
        metric=str(metric),
        metric_type=metric_type,
        control_name=str(control_name),
        treatment_name=str(treatment_name),
        n_control=int(n_c),
        n_treatment=int(n_t),
        estimate_control=float(mean_c),
        estimate_treatment=float(mean_t),
        posterior_control_ci=ci_c,
        posterior_treatment_ci=ci_t,
        diff=mom["diff"],
        diff_ci=_normal_ci(mom["diff"], mom["se"], alpha),
        relative_lift=mom["lift"],
        relative_lift_mean=mom["lift"],
        relative_lift_ci=_normal_ci(mom["lift"], mom["se_rel"], alpha),
        chance_to_win=ctw,
        risk=(rel["loss_control"], rel["loss_treatment"]),
        risk_absolute=(ab["loss_control"], ab["loss_treatment"]),
        alpha=alpha,
        method=f"normal approximation of the {scale}, flat prior (GrowthBook gbstats)",
        prior="improper flat prior on the effect",
        ci_method="normal posterior of the difference (Welch standard error)",
        relative_ci_method="normal posterior of the relative lift (delta method, control mean "
        "random)",
        notes=tuple(notes),
        extra={
            "posterior_family": "normal",
            "posterior_control": (float(mean_c), sd_c),
            "posterior_treatment": (float(mean_t), sd_t),
            "se": mom["se"],
            "se_relative": mom["se_rel"],
            "difference": difference,
        },
    )


def bayes_binomial(
    successes_c: int,
    n_c: int,
    successes_t: int,
    n_t: int,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    method: str = "beta",
    difference: str = "relative",
    draws: int | None = None,
    seed: int = 0,
    alpha: float = 0.05,
    metric: str = "conversion",
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> BayesResult:
    r"""Bayesian comparison of two conversion rates: chance to win, risk, credible intervals.

    ``method="beta"`` (default): posteriors :math:`p_k \sim \mathrm{Beta}(a_0 + s_k,
    b_0 + n_k - s_k)`; chance to win :math:`P(p_t > p_c)`, risks
    ``(E[max(λ, 0)], E[max(-λ, 0)])`` with :math:`\lambda = p_t/p_c - 1` (and the absolute
    versions with :math:`p_t - p_c`), and equal-tailed credible intervals of :math:`p_t - p_c`
    and :math:`\lambda`, all by Gauss–Hermite numerical integration (``draws=None``) or by Monte
    Carlo with ``draws`` posterior draws from ``numpy.random.default_rng(seed)``.

    ``method="normal"``: GrowthBook's model (``gbstats`` ``EffectBayesianABTest``, improper flat
    prior): the relative lift is :math:`N(\hat\lambda, \widehat{SE}_{rel}^2)` with the
    delta-method variance (unit variance :math:`\hat p(1-\hat p)`), the absolute difference is
    :math:`N(\hat\delta, \widehat{SE}^2)`; chance to win :math:`\Phi(\hat\lambda /
    \widehat{SE}_{rel})` (or of the absolute difference with ``difference="absolute"``) and
    risks :math:`E[\max(\pm X, 0)]` in closed form. ``prior`` is not used. See the module
    docstring for every formula.

    Parameters
    ----------
    successes_c, n_c : int
        Converted units and all units of the control arm (``n_c >= 1``).
    successes_t, n_t : int
        Same for the treatment arm.
    prior : (float, float), default (1, 1)
        Beta prior :math:`(a_0, b_0)` of each rate (``method="beta"``); (1, 1) is uniform.
    method : {"beta", "normal"}, default "beta"
        Exact Beta–Binomial posterior, or GrowthBook's normal approximation.
    difference : {"relative", "absolute"}, default "relative"
        Which normal model gives the chance to win under ``method="normal"`` (ignored by
        ``"beta"``, where :math:`P(p_t > p_c)` does not depend on the scale).
    draws : int, optional
        Monte Carlo draws for ``method="beta"``; None (default) integrates numerically.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` when ``draws`` is given.
    alpha : float, default 0.05
        Credible intervals have level ``1 - alpha``.
    metric, control_name, treatment_name : str
        Labels.

    Returns
    -------
    BayesResult

    Raises
    ------
    ValueError
        For invalid counts (negative, non-integer, successes above the arm size, an arm with no
        units), an invalid prior, ``alpha``, ``method``, ``difference`` or ``draws``, or
        ``draws`` with ``method="normal"``.

    Notes
    -----
    Degenerate arms never raise. With 0 control conversions the observed relative lift is
    undefined (NaN) and, under a uniform prior, :math:`E[\lambda]` and the risk of keeping the
    control are infinite; the Beta credible interval of the lift remains finite. The normal
    method returns NaN for quantities it cannot define (control rate 0, no variance).

    References
    ----------
    .. [1] GrowthBook ``gbstats``, ``EffectBayesianABTest`` and its test
       ``test_bayesian_binomial_ab_test`` (49/100 vs 51/100).
    .. [2] Miller, E. (2015), Formulas for Bayesian A/B testing.

    Examples
    --------
    >>> res = bayes_binomial(49, 100, 51, 100, method="normal")
    >>> round(res.relative_lift, 5), round(res.chance_to_win, 5)
    (0.04082, 0.60918)
    >>> tuple(round(r, 5) for r in res.risk)
    (0.0814, 0.04058)
    >>> round(bayes_binomial(49, 100, 51, 100).chance_to_win, 5)
    0.61077
    """
    sc, nc = _check_arm("successes_c", successes_c, "n_c", n_c)
    st, nt = _check_arm("successes_t", successes_t, "n_t", n_t)
    alpha = _check_alpha(alpha)
    a0, b0 = _check_prior(prior)
    method = _check_choice("method", method, _METHODS)
    difference = _check_choice("difference", difference, _DIFFERENCES)
    draws = _check_draws(draws)
    pc, pt = sc / nc, st / nt
    notes: list[str] = []

    if method == "normal":
        if draws is not None:
            raise ValueError(
                "draws applies to method='beta' only (the normal model is closed form)"
            )
        if (a0, b0) != (1.0, 1.0):
            notes.append("The prior is not used by method='normal' (flat prior on the effect).")
        return _from_normal(
            mean_c=pc,
            var_c=pc * (1 - pc),
            n_c=nc,
            mean_t=pt,
            var_t=pt * (1 - pt),
            n_t=nt,
            alpha=alpha,
            difference=difference,
            metric=metric,
            metric_type="binary",
            control_name=control_name,
            treatment_name=treatment_name,
            notes=notes,
            clip_rates=True,
        )

    a_c, b_c = a0 + sc, b0 + nc - sc
    a_t, b_t = a0 + st, b0 + nt - st
    q = (alpha / 2.0, 1.0 - alpha / 2.0)
    if draws is None:
        fig = {k: float(v) for k, v in _beta_two_arm_arrays(a_c, b_c, a_t, b_t).items()}
        two = _TwoBeta(a_c, b_c, a_t, b_t)
        diff_ci = (two.diff_quantile(q[0]), two.diff_quantile(q[1]))
        lift_ci = (two.ratio_quantile(q[0]) - 1.0, two.ratio_quantile(q[1]) - 1.0)
        computed = f"numerical integration, {QUADRATURE_NODES}-point Gauss–Hermite"
        seed_out = None
    else:
        rng = np.random.default_rng(seed)
        draw_c = rng.beta(a_c, b_c, size=draws)
        draw_t = rng.beta(a_t, b_t, size=draws)
        delta = draw_t - draw_c
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = draw_t / draw_c - 1.0
        fig = {
            "chance_to_win": float(np.mean(draw_t > draw_c)),
            "risk_abs_control": float(np.mean(np.maximum(delta, 0.0))),
            "risk_abs_treatment": float(np.mean(np.maximum(-delta, 0.0))),
            "risk_rel_control": float(np.mean(np.maximum(lam, 0.0))),
            "risk_rel_treatment": float(np.mean(np.maximum(-lam, 0.0))),
            "relative_lift_mean": float(np.mean(lam)),
        }
        diff_ci = tuple(float(v) for v in np.quantile(delta, q))  # type: ignore[assignment]
        lift_ci = tuple(float(v) for v in np.quantile(lam, q))  # type: ignore[assignment]
        computed = f"Monte Carlo, {draws:,} draws"
        seed_out = int(seed)

    if sc == 0:
        notes.append(
            f"{control_name} has no conversions: the observed relative lift is undefined"
            + (
                " and, under this prior, the posterior mean lift and the risk of keeping the "
                "control are unbounded."
                if a_c <= 1
                else "."
            )
        )
    if draws is not None:
        notes.append(
            f"Monte Carlo figures have standard error up to about {0.5 / math.sqrt(draws):.2g} "
            "for the chance to win."
        )
    return BayesResult(
        metric=str(metric),
        metric_type="binary",
        control_name=str(control_name),
        treatment_name=str(treatment_name),
        n_control=nc,
        n_treatment=nt,
        estimate_control=pc,
        estimate_treatment=pt,
        posterior_control_ci=_beta_ci(a_c, b_c, alpha),
        posterior_treatment_ci=_beta_ci(a_t, b_t, alpha),
        diff=pt - pc,
        diff_ci=diff_ci,
        relative_lift=pt / pc - 1.0 if pc > 0 else math.nan,
        relative_lift_mean=fig["relative_lift_mean"],
        relative_lift_ci=lift_ci,
        chance_to_win=fig["chance_to_win"],
        risk=(fig["risk_rel_control"], fig["risk_rel_treatment"]),
        risk_absolute=(fig["risk_abs_control"], fig["risk_abs_treatment"]),
        alpha=alpha,
        method=f"Beta–Binomial posterior ({computed})",
        prior=f"Beta({a0:g}, {b0:g}) on each rate",
        ci_method="equal-tailed posterior interval of p_t − p_c",
        relative_ci_method="equal-tailed posterior interval of p_t / p_c − 1",
        draws=draws,
        seed=seed_out,
        notes=tuple(notes),
        extra={
            "posterior_family": "beta",
            "posterior_control": (a_c, b_c),
            "posterior_treatment": (a_t, b_t),
        },
    )


def bayes_means(
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    difference: str = "relative",
    alpha: float = 0.05,
    metric: str = "metric",
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> BayesResult:
    r"""Bayesian comparison of two means from sufficient statistics (normal approximation).

    GrowthBook's model with an improper flat prior on the effect: the relative lift has
    posterior :math:`N(\hat\lambda, \widehat{SE}_{rel}^2)`, :math:`\hat\lambda = \bar y_t /
    \bar y_c - 1`, :math:`\widehat{SE}_{rel}^2 = \frac{s_t^2/n_t}{\bar y_c^2} + \frac{\bar y_t^2
    s_c^2/n_c}{\bar y_c^4}` (:math:`s^2` unbiased, ddof 1), and the absolute difference
    :math:`N(\bar y_t - \bar y_c, s_c^2/n_c + s_t^2/n_t)`; each arm's mean has posterior
    :math:`N(\bar y, s^2/n)`. Chance to win is :math:`\Phi(\hat\lambda/\widehat{SE}_{rel})`
    (``difference="relative"``, default) or :math:`\Phi(\hat\delta/\widehat{SE})`; risks are
    :math:`(E[\max(X,0)], E[\max(-X,0)]) = (m\Phi(m/s) + s\phi(m/s),\ \cdot - m)` for the
    relative (``risk``) and absolute (``risk_absolute``) posteriors.

    Parameters
    ----------
    control, treatment : SufficientStats
        Sums of each arm (``n``, ``sum_y``, ``sum_y2``).
    difference : {"relative", "absolute"}, default "relative"
        Scale of the normal model that gives the chance to win.
    alpha : float, default 0.05
        Credible level ``1 - alpha``.
    metric, control_name, treatment_name : str
        Labels.

    Returns
    -------
    BayesResult

    Raises
    ------
    ValueError
        If an arm has no units, or ``alpha``/``difference`` is invalid. Arms with one unit (no
        variance) give NaN figures and a note.

    Examples
    --------
    GrowthBook ``gbstats`` ``test_bayesian_gaussian_ab_test``:

    >>> a = SufficientStats(10, 100, 1002.25)
    >>> b = SufficientStats(10, 105, 1111.5)
    >>> res = bayes_means(a, b)
    >>> round(res.chance_to_win, 5), tuple(round(r, 5) for r in res.risk)
    (0.91923, (0.05131, 0.00131))
    """
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, SufficientStats):
            raise ValueError(f"{name} must be SufficientStats, got {type(arm).__name__}")
        if arm.n < 1:
            raise ValueError(f"{name} has no units")
    alpha = _check_alpha(alpha)
    difference = _check_choice("difference", difference, _DIFFERENCES)
    notes: list[str] = []
    if min(control.n, treatment.n) < 2:
        notes.append("An arm has a single unit, so its variance (and every interval) is undefined.")
    return _from_normal(
        mean_c=control.mean_y,
        var_c=control.var_y,
        n_c=control.n,
        mean_t=treatment.mean_y,
        var_t=treatment.var_y,
        n_t=treatment.n,
        alpha=alpha,
        difference=difference,
        metric=metric,
        metric_type="mean",
        control_name=control_name,
        treatment_name=treatment_name,
        notes=notes,
        clip_rates=False,
    )


def _multi_arm_exact(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(best) and expected loss by adaptive quadrature over each arm's central range."""
    from scipy import stats

    k = a.size
    dists = [stats.beta(a[i], b[i]) for i in range(k)]
    lo = np.array([d.ppf(1e-15) for d in dists])
    hi = np.array([d.isf(1e-15) for d in dists])
    med = np.array([d.median() for d in dists])
    p_best = np.empty(k)
    for i in range(k):
        others = [j for j in range(k) if j != i]

        def integrand(x: float, i: int = i, others: list[int] = others) -> float:
            val = dists[i].pdf(x)
            for j in others:
                val *= special.betainc(a[j], b[j], x)
            return float(val)

        pts = [m for m in med if lo[i] < m < hi[i]]
        p_best[i] = integrate.quad(
            integrand, lo[i], hi[i], points=pts or None, limit=500, epsabs=1e-13, epsrel=1e-11
        )[0]

    # E[max_j p_j] = ∫_0^1 (1 - Π_j F_j(x)) dx
    lo_all, hi_all = float(lo.min()), float(hi.max())

    def tail(x: float) -> float:
        return float(1.0 - np.prod(special.betainc(a, b, x)))

    pts = [m for m in med if lo_all < m < hi_all]
    e_max = (
        lo_all
        + integrate.quad(
            tail, lo_all, hi_all, points=pts or None, limit=500, epsabs=1e-14, epsrel=1e-12
        )[0]
    )
    return p_best, e_max - a / (a + b)


def bayes_multi_arm(
    successes: Sequence[int],
    totals: Sequence[int],
    *,
    names: Sequence[str] | None = None,
    prior: tuple[float, float] = (1.0, 1.0),
    draws: int | None = 20000,
    seed: int = 0,
    alpha: float = 0.05,
) -> MultiArmBayesResult:
    r"""Probability that each of k >= 2 arms has the highest conversion rate.

    Each rate has posterior :math:`\mathrm{Beta}(a_0 + s_i, b_0 + n_i - s_i)`.
    :math:`P(\text{arm } i \text{ best}) = P(p_i = \max_j p_j)` and the expected loss of choosing
    arm *i* is :math:`E[\max_j p_j - p_i]` (absolute). With ``draws`` (default 20 000) both are
    Monte Carlo frequencies over a ``draws × k`` matrix of posterior draws from
    ``numpy.random.default_rng(seed)`` (reproducible bit for bit; standard error at most
    :math:`0.5/\sqrt{\text{draws}}`). With ``draws=None`` they are computed by adaptive
    quadrature: :math:`P(i \text{ best}) = \int f_i(x) \prod_{j \ne i} F_j(x)\,dx` and
    :math:`E[\max_j p_j] = \int_0^1 (1 - \prod_j F_j(x))\,dx`.

    Parameters
    ----------
    successes, totals : sequence of int
        Converted units and units per arm (same length, at least 2).
    names : sequence of str, optional
        Arm labels; default ``"arm 1"``, ``"arm 2"``, ...
    prior : (float, float), default (1, 1)
        Beta prior of every rate.
    draws : int or None, default 20000
        Monte Carlo draws, or None for numerical integration.
    seed : int, default 0
        Seed of the Monte Carlo draws.
    alpha : float, default 0.05
        Credible level of the per-arm intervals.

    Returns
    -------
    MultiArmBayesResult

    Raises
    ------
    ValueError
        For fewer than two arms, sequences of different lengths, invalid counts, prior, draws
        or alpha (the message names the offending element).

    References
    ----------
    .. [1] Scott, S. L. (2010). A modern Bayesian look at the multi-armed bandit. *Applied
       Stochastic Models in Business and Industry* 26(6), 639-658 (P(best) by simulation).

    Examples
    --------
    >>> res = bayes_multi_arm([1580, 1700, 1550], [31500, 32000, 31000])
    >>> res.best
    'arm 2'
    """
    successes = list(successes)
    totals = list(totals)
    if len(successes) != len(totals):
        raise ValueError(
            f"successes and totals must have the same length, got {len(successes)} and "
            f"{len(totals)}"
        )
    if len(successes) < 2:
        raise ValueError(f"need at least 2 arms, got {len(successes)}")
    checked = [
        _check_arm(f"successes[{i}]", s, f"totals[{i}]", n)
        for i, (s, n) in enumerate(zip(successes, totals, strict=True))
    ]
    alpha = _check_alpha(alpha)
    a0, b0 = _check_prior(prior)
    draws = _check_draws(draws)
    k = len(checked)
    names = (
        tuple(str(n) for n in names)
        if names is not None
        else tuple(f"arm {i + 1}" for i in range(k))
    )
    if len(names) != k:
        raise ValueError(f"names must have {k} entries, got {len(names)}")
    s = np.array([c[0] for c in checked], dtype=float)
    n = np.array([c[1] for c in checked], dtype=float)
    a, b = a0 + s, b0 + n - s

    if draws is None:
        p_best, loss = _multi_arm_exact(a, b)
        method = "Beta–Binomial posterior (numerical integration)"
        seed_out = None
    else:
        rng = np.random.default_rng(seed)
        sample = rng.beta(a, b, size=(draws, k))
        p_best = np.bincount(np.argmax(sample, axis=1), minlength=k) / draws
        loss = np.mean(sample.max(axis=1)[:, None] - sample, axis=0)
        method = "Beta–Binomial posterior (Monte Carlo)"
        seed_out = int(seed)
    return MultiArmBayesResult(
        names=names,
        successes=tuple(int(c[0]) for c in checked),
        totals=tuple(int(c[1]) for c in checked),
        rates=tuple(float(v) for v in s / n),
        rate_cis=tuple(_beta_ci(a[i], b[i], alpha) for i in range(k)),
        p_best=tuple(float(v) for v in p_best),
        expected_loss=tuple(float(max(v, 0.0)) for v in loss),
        alpha=alpha,
        method=method,
        prior=f"Beta({a0:g}, {b0:g}) on each rate",
        draws=draws,
        seed=seed_out,
    )
