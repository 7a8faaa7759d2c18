"""Rank-based comparison of two arms: Mann–Whitney with the Hodges–Lehmann shift and its interval.

:func:`mann_whitney` — the Wilcoxon–Mann–Whitney rank-sum test with the Hodges–Lehmann
location shift and its distribution-free confidence interval (Bauer 1972), returning a
:class:`~analysis.experiments.effects.Comparison`. The interval's limits are order statistics
of the ``n × m`` pairwise differences, found by a selection algorithm (Johnson & Mizoguchi
1978) so that an experiment with millions of units per arm never allocates that array.

Unlike the parametric tests in this package this needs the per-unit values, not sufficient
statistics (as does :func:`~analysis.experiments.bootstrap.bootstrap_difference`).

Conventions
-----------
* Every effect is **treatment − control**.
* ``alternative="larger"`` means the treatment values tend to be larger (``"greater"`` and
  ``"less"`` are accepted as the scipy/R spellings of ``"larger"``/``"smaller"``).
* ``W`` is the Mann–Whitney U statistic *of the treatment sample*,
  :math:`W = \\#\\{(i, j): t_i > c_j\\} + \\tfrac12 \\#\\{(i, j): t_i = c_j\\}`, i.e. R's
  ``W`` from ``wilcox.test(treatment, control)`` and scipy's ``statistic`` from
  ``mannwhitneyu(treatment, control)``. ``W / (n_t n_c)`` is the probability of superiority.
* Inputs with missing (NaN) or infinite values are rejected, never silently dropped.

References
----------
.. [1] Mann, H. B. and Whitney, D. R. (1947). On a test of whether one of two random variables
   is stochastically larger than the other. *Annals of Mathematical Statistics* 18(1), 50-60.
.. [2] Hodges, J. L. and Lehmann, E. L. (1963). Estimates of location based on rank tests.
   *Annals of Mathematical Statistics* 34(2), 598-611.
.. [3] Bauer, D. F. (1972). Constructing confidence sets using rank statistics. *Journal of the
   American Statistical Association* 67(339), 687-690.
.. [4] Hollander, M., Wolfe, D. A. and Chicken, E. (2014). *Nonparametric Statistical Methods*,
   3rd ed., Wiley, Section 4.3 (large-sample approximation of the interval's ranks).
.. [5] Johnson, D. B. and Mizoguchi, T. (1978). Selecting the Kth element in X + Y and
   X1 + X2 + ... + Xm. *SIAM Journal on Computing* 7(2), 147-153.
.. [6] R Core Team, ``wilcox.test`` (stats package); scipy ``scipy.stats.mannwhitneyu``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special, stats

from analysis.experiments._pairwise_order_stats import (
    _hodges_lehmann_ranks,
    _pairwise_difference_order_stats,
)
from analysis.experiments._samples import _as_sample, _check_alpha
from analysis.experiments.effects import Comparison

__all__ = ["mann_whitney"]


_ALTERNATIVES = {
    "two-sided": "two-sided",
    "larger": "larger",
    "smaller": "smaller",
    "greater": "larger",
    "less": "smaller",
}
_SCIPY_ALTERNATIVE = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}

#: ``method="auto"`` uses the exact null distribution when both arms have fewer units than
#: this and there are no ties (R's rule for ``wilcox.test``).
EXACT_MAX_N = 50

#: The exact null distribution of U (for the interval's ranks) is built when
#: ``min(n, m) * n * m`` is at most this (about a second of work); otherwise the ranks come from
#: the normal approximation.
_EXACT_NULL_MAX_WORK = 30_000_000

_RELATIVE_NONE = "not defined for a location shift"


def _check_alternative(alternative: Any) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'larger' or 'smaller', got {alternative!r}"
        )
    return _ALTERNATIVES[alternative]


# --------------------------------------------------------------------------------------------
# Null distribution of U and the ranks of the interval
# --------------------------------------------------------------------------------------------


def _mwu_null_cdf(n: int, m: int) -> np.ndarray:
    """Exact ``P(U <= u)`` for ``u = 0 .. n m`` under H0 (no ties), as float64.

    The counts of U are the coefficients of the Gaussian binomial coefficient
    :math:`\\binom{n+m}{n}_q = \\prod_{j=1}^{n} (1 - q^{m+j}) / (1 - q^j)`, built one factor at a
    time in exact integer (Python ``int``) arithmetic and divided by :math:`\\binom{n+m}{n}`.
    """
    small, large = min(n, m), max(n, m)
    poly = np.array([1], dtype=object)
    for j in range(1, small + 1):
        length = (j - 1) * large + 1 + large + j
        prod = np.zeros(length, dtype=object)
        prod[: poly.size] = poly
        prod[large + j : large + j + poly.size] -= poly
        # divide by (1 - q^j): b[t] = prod[t] + b[t - j], a cumulative sum per residue class
        padded = np.zeros(-(-length // j) * j, dtype=object)
        padded[:length] = prod
        quotient = padded.reshape(-1, j).cumsum(axis=0).ravel()
        poly = quotient[: j * large + 1]
    cum = np.cumsum(poly)
    total = cum[-1]
    return np.array([int(c) / total for c in cum], dtype=float)


def _interval_rank(
    n: int, m: int, tail: float, sigma: float, exact: bool
) -> tuple[int, float, str]:
    """Rank q (1-based) of the lower limit ``D_(q)`` and the achieved one-tail error.

    ``tail`` is the error allowed in one tail (``alpha / 2`` two-sided, ``alpha`` one-sided).
    Exact: q is the smallest u with ``P(U <= u) >= tail`` (R's ``qwilcox``), so the achieved
    tail error ``P(U <= q - 1)`` is below ``tail``. Normal approximation with continuity
    correction of the same rule: ``q = ceil(n m / 2 - 1/2 - z_{1-tail} sigma)``. q is at least 1.
    """
    n_pairs = n * m
    if exact:
        cdf = _mwu_null_cdf(n, m)
        q = int(np.searchsorted(cdf, tail, side="left"))
        q = max(q, 1)
        return q, float(cdf[q - 1]), "exact null distribution"
    z = float(special.ndtri(1.0 - tail))
    q = math.ceil(n_pairs / 2 - 0.5 - z * sigma)
    q = min(max(q, 1), n_pairs)
    achieved = float(special.ndtr((q - 1 + 0.5 - n_pairs / 2) / sigma))
    return q, achieved, "normal approximation"


# --------------------------------------------------------------------------------------------
# Mann–Whitney
# --------------------------------------------------------------------------------------------


def mann_whitney(
    control_values: Any,
    treatment_values: Any,
    *,
    metric: str = "metric",
    alternative: str = "two-sided",
    method: str = "auto",
    continuity: bool = True,
    alpha: float = 0.05,
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> Comparison:
    r"""Wilcoxon–Mann–Whitney rank-sum test with the Hodges–Lehmann shift and its interval.

    With control values :math:`c_1..c_m` and treatment values :math:`t_1..t_n`:

    * **Statistic** ``W`` (``statistic``): the Mann–Whitney U of the *treatment* sample,
      :math:`W = \sum_{i,j} [t_i > c_j] + \tfrac12 [t_i = c_j] = R_t - n(n+1)/2` with
      :math:`R_t` the sum of the treatment ranks in the pooled sample (mid-ranks for ties).
      This is R's ``W`` for ``wilcox.test(treatment, control)`` and scipy's statistic for
      ``mannwhitneyu(treatment, control)``; the control's U is ``n m - W``
      (``extra["U_control"]``).
    * **p-value**: ``scipy.stats.mannwhitneyu(treatment, control, alternative=...,
      method=...)`` with both arguments always passed explicitly. ``"exact"`` uses the exact
      null distribution of U; ``"asymptotic"`` the normal approximation with the tie-corrected
      variance :math:`\sigma^2 = \frac{nm}{12}\big(N + 1 - \frac{\sum (t_k^3 - t_k)}
      {N(N-1)}\big)` (:math:`t_k` the sizes of groups of tied values, :math:`N = n + m`) and,
      if ``continuity``, a continuity correction of 1/2 toward the null. Both agree with R's
      ``wilcox.test`` (exact p, and ``exact = FALSE, correct = continuity``).
      ``extra["z"]`` holds the standardised statistic of the asymptotic test (R's sign
      convention: positive when the treatment tends to be larger).
    * **Probability of superiority** ``extra["prob_superiority"]``
      :math:`= P(T > C) + \tfrac12 P(T = C)` estimated by :math:`W / (nm)` (0.5 under H0;
      also called the common-language effect size, or the AUC).
    * **Location shift** ``diff``: the Hodges–Lehmann estimator, the median of the
      :math:`nm` pairwise differences :math:`D_{ij} = t_i - c_j` (mean of the two middle
      values when :math:`nm` is even), as R's ``median(outer(x, y, "-"))``.
    * **Interval** ``diff_ci``: the distribution-free interval of Bauer (1972) from the order
      statistics :math:`D_{(1)} \le \dots \le D_{(nm)}`: :math:`(D_{(q)}, D_{(nm+1-q)})`
      two-sided; :math:`(D_{(q)}, +\infty)` for ``"larger"``; :math:`(-\infty, D_{(nm+1-q)})`
      for ``"smaller"``. With the exact method q is R's ``qwilcox(tail, n, m)`` (smallest u
      with :math:`P(U \le u) \ge` tail, tail = alpha/2 two-sided, alpha one-sided; at least 1),
      so the interval equals R's ``wilcox.test(..., conf.int = TRUE)``; it covers the shift of
      a continuous shift model with probability at least 1 − alpha (``extra["ci_level"]``
      gives the level achieved). With the asymptotic method q comes from the normal
      approximation of the same rule, :math:`q = \lceil nm/2 - 1/2 - z_{1-\text{tail}}\sigma
      \rceil` (Hollander, Wolfe & Chicken 2014, §4.3) with the tie-corrected :math:`\sigma`;
      R instead solves for the roots of the asymptotic statistic, so asymptotic intervals (and
      R's asymptotic "difference in location", which is not the Hodges–Lehmann median) can
      differ from R's slightly.

    Large samples never build the :math:`n \times m` matrix: above 2²¹ pairs the four order
    statistics are found exactly by selection in X + Y (Johnson & Mizoguchi 1978) with
    O(n + m) memory (``extra["hodges_lehmann_algorithm"]``).

    Parameters
    ----------
    control_values, treatment_values : array-like of float
        Per-unit values of each arm (1-D, finite, at least one value each).
    metric : str, default "metric"
        Metric name for the result.
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        ``"larger"``: treatment values tend to be larger (stochastically greater). ``"greater"``
        and ``"less"`` are accepted as synonyms.
    method : {"auto", "exact", "asymptotic"}, default "auto"
        ``"auto"`` follows R: exact when both arms have fewer than 50 units and there are no
        ties, else asymptotic (scipy's own ``"auto"`` switches at 8 units; it is never used).
        ``"exact"`` with tied values falls back to ``"asymptotic"`` and says so in ``notes``
        (the exact null distribution assumes no ties; scipy would silently ignore them).
        Forcing ``"exact"`` on arms of hundreds of units can take seconds (scipy tabulates the
        null distribution up to the observed U).
    continuity : bool, default True
        Continuity correction of the asymptotic test (ignored by the exact test).
    alpha : float, default 0.05
        Significance level and 1 − confidence level of the interval.
    control_name, treatment_name : str
        Labels of the arms.

    Returns
    -------
    Comparison
        ``metric_type="rank"``; ``statistic`` is W; ``estimate_control`` and
        ``estimate_treatment`` are NaN (their medians are in ``extra``); ``relative_lift`` and
        its interval are NaN. ``extra`` holds ``method_requested``, ``method_used``,
        ``continuity_correction`` (whether it was applied), ``ties``, ``U_control``,
        ``prob_superiority``, ``z`` (asymptotic only), ``sigma``, ``median_control``,
        ``median_treatment``, ``ci_rank`` (q), ``ci_rank_method``, ``ci_level`` (achieved
        coverage) and ``hodges_lehmann_algorithm``.

    Raises
    ------
    ValueError
        If a sample is empty, not 1-D, or has NaN or infinite values (the message names the
        argument), or ``alpha``, ``alternative`` or ``method`` is invalid.

    Notes
    -----
    If every value in both arms is the same, the test has no information: W = nm/2, p = 1, the
    shift and interval are 0, and a note says so.

    References
    ----------
    .. [1] Mann & Whitney (1947); Hodges & Lehmann (1963); Bauer (1972); Hollander, Wolfe &
       Chicken (2014); Johnson & Mizoguchi (1978) — see the module documentation.
    .. [2] R Core Team, ``wilcox.test``; scipy ``scipy.stats.mannwhitneyu``.

    Examples
    --------
    R's ``?wilcox.test`` example (x plays the treatment):

    >>> x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    >>> y = [1.15, 0.88, 0.90, 0.74, 1.21]
    >>> res = mann_whitney(y, x, alternative="larger")
    >>> res.statistic, round(res.p_value, 7), res.extra["method_used"]
    (35.0, 0.1272061, 'exact')
    """
    control = _as_sample("control_values", control_values)
    treatment = _as_sample("treatment_values", treatment_values)
    alpha = _check_alpha(alpha)
    alternative = _check_alternative(alternative)
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"method must be 'auto', 'exact' or 'asymptotic', got {method!r}")

    n_t, n_c = treatment.size, control.size
    n_pairs = n_t * n_c
    pooled = np.concatenate([treatment, control])
    _, tie_sizes = np.unique(pooled, return_counts=True)
    ties = bool((tie_sizes > 1).any())
    n_all = n_t + n_c
    tie_term = float(np.sum(tie_sizes.astype(float) ** 3 - tie_sizes))
    sigma = math.sqrt(
        n_pairs / 12.0 * ((n_all + 1) - (tie_term / (n_all * (n_all - 1)) if n_all > 1 else 0.0))
    )

    notes: list[str] = []
    if method == "auto":
        used = "exact" if (n_t < EXACT_MAX_N and n_c < EXACT_MAX_N and not ties) else "asymptotic"
        if ties and n_t < EXACT_MAX_N and n_c < EXACT_MAX_N:
            notes.append(
                "Tied values: the asymptotic test with tie-corrected variance was used (the "
                "exact null distribution assumes no ties)."
            )
    elif method == "exact" and ties:
        used = "asymptotic"
        notes.append(
            f"method='exact' was requested but {int((tie_sizes > 1).sum())} value(s) are tied; "
            "the exact null distribution assumes no ties, so the asymptotic test with "
            "tie-corrected variance was used instead."
        )
    else:
        used = method

    degenerate = tie_sizes.size == 1  # every value in both arms identical
    continuity_applied = bool(continuity and used == "asymptotic")
    if degenerate:
        w = n_pairs / 2.0
        p_value = 1.0
        z = 0.0
        notes.append(
            "Every value in both arms is the same, so the ranks carry no information: "
            "p = 1 and the location shift is 0."
        )
    else:
        res = stats.mannwhitneyu(
            treatment,
            control,
            use_continuity=continuity,
            alternative=_SCIPY_ALTERNATIVE[alternative],
            method=used,
        )
        w = float(res.statistic)
        p_value = float(res.pvalue)
        centred = w - n_pairs / 2.0
        correction = 0.0
        if continuity_applied:
            correction = {"two-sided": 0.5 * np.sign(centred), "larger": 0.5, "smaller": -0.5}[
                alternative
            ]
        z = float((centred - correction) / sigma)

    # Hodges–Lehmann shift and the order-statistic interval.
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    exact_ranks = (
        used == "exact" and not degenerate and min(n_t, n_c) * n_pairs <= _EXACT_NULL_MAX_WORK
    )
    if used == "exact" and not exact_ranks and not degenerate:
        notes.append(
            "The interval's ranks come from the normal approximation (the exact null "
            "distribution is not built for samples this large)."
        )
    if degenerate:
        q, achieved_tail, rank_method = 1, 0.0, "degenerate (all values tied)"
    else:
        q, achieved_tail, rank_method = _interval_rank(n_t, n_c, tail, sigma, exact_ranks)
    achieved_level = 1.0 - (2.0 if alternative == "two-sided" else 1.0) * achieved_tail
    if achieved_level < 1.0 - alpha - alpha / 2.0:
        notes.append(
            f"The requested {1 - alpha:.0%} interval is not achievable with {n_t} and {n_c} "
            f"units; the interval shown has level {achieved_level:.1%}."
        )
    hl_ranks = _hodges_lehmann_ranks(n_pairs)
    ci_ranks = [q - 1, n_pairs - q]
    values, algorithm = _pairwise_difference_order_stats(treatment, control, hl_ranks + ci_ranks)
    hl_values, (ci_low, ci_high) = values[: len(hl_ranks)], values[len(hl_ranks) :]
    shift = hl_values[0] if len(hl_values) == 1 else (hl_values[0] + hl_values[1]) / 2
    if alternative == "larger":
        ci_high = math.inf
    elif alternative == "smaller":
        ci_low = -math.inf

    if used == "exact":
        method_text = "Wilcoxon–Mann–Whitney rank-sum test (exact)"
    else:
        method_text = "Wilcoxon–Mann–Whitney rank-sum test (normal approximation, tie-corrected"
        method_text += ", continuity correction)" if continuity_applied else ")"
    extra = {
        "method_requested": method,
        "method_used": used,
        "continuity_correction": continuity_applied,
        "ties": ties,
        "U_treatment": w,
        "U_control": n_pairs - w,
        "prob_superiority": w / n_pairs,
        "z": z if used == "asymptotic" else math.nan,
        "sigma": sigma,
        "median_control": float(np.median(control)),
        "median_treatment": float(np.median(treatment)),
        "ci_rank": q,
        "ci_rank_method": rank_method,
        "ci_level": achieved_level,
        "hodges_lehmann_algorithm": algorithm,
    }
    return Comparison(
        metric=str(metric),
        metric_type="rank",
        control_name=str(control_name),
        treatment_name=str(treatment_name),
        n_control=int(n_c),
        n_treatment=int(n_t),
        estimate_control=math.nan,
        estimate_treatment=math.nan,
        diff=float(shift),
        diff_ci=(float(ci_low), float(ci_high)),
        relative_lift=math.nan,
        relative_lift_ci=(math.nan, math.nan),
        statistic=w,
        df=math.nan,
        p_value=p_value,
        alpha=alpha,
        alternative=alternative,
        method=method_text,
        ci_method=(
            "Hodges–Lehmann shift; distribution-free interval from order statistics of the "
            f"pairwise differences (Bauer 1972), ranks from the {rank_method}"
        ),
        relative_ci_method=_RELATIVE_NONE,
        notes=tuple(notes),
        extra=extra,
    )
