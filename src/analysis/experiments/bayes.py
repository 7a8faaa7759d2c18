r"""Bayesian two-arm comparisons: chance to win, expected loss (risk) and credible intervals.

Three entry points, all from counts or sufficient statistics (the third lives in
:mod:`analysis.experiments.bayes_multi`):

* :func:`bayes_binomial` compares two conversion rates. ``method="beta"`` (default) uses the
  exact Beta–Binomial posterior; ``method="normal"`` uses GrowthBook's normal approximation of the
  effect with a flat prior (this is what reproduces GrowthBook's published numbers).
* :func:`bayes_means` compares two means (normal approximation, flat prior).
* :func:`~analysis.experiments.bayes_multi.bayes_multi_arm` gives each of k >= 2 arms its
  probability of being the best and its expected loss (Beta–Binomial, Monte Carlo with a seed
  or numerical integration).

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
from typing import Any

import numpy as np
from scipy import special

from analysis.experiments._posterior_math import (
    QUADRATURE_NODES,
    _beta_two_arm_arrays,
    _normal_effect_arrays,
    _normal_moments,
    _TwoBeta,
)
from analysis.experiments.bayes_results import BayesResult
from analysis.experiments.proportions import _check_alpha, _check_arm
from analysis.experiments.sufficient import SufficientStats

__all__ = ["QUADRATURE_NODES", "bayes_binomial", "bayes_means"]


_METHODS = ("beta", "normal")
_DIFFERENCES = ("relative", "absolute")


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
