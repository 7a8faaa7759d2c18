"""Distribution-free comparisons of two arms from unit-level values.

Two entry points, both returning a :class:`~analysis.experiments.effects.Comparison`:

* :func:`mann_whitney` — the Wilcoxon–Mann–Whitney rank-sum test with the Hodges–Lehmann
  location shift and its distribution-free confidence interval (Bauer 1972).
* :func:`bootstrap_difference` — the percentile bootstrap of the difference (and the relative
  difference) of a statistic (mean, median or any vectorised reduction) between the arms.

Unlike the parametric tests in this package these need the per-unit values, not sufficient
statistics. Both are written so that an experiment with millions of units per arm never
allocates an ``n × m`` (pairwise differences) or ``n × B`` (units × resamples) array.

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
.. [6] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, Chapman &
   Hall, Chapter 13 (the percentile interval) and Section 16.4 (two-sample problems).
.. [7] R Core Team, ``wilcox.test`` (stats package); scipy ``scipy.stats.mannwhitneyu`` and
   ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special, stats

from analysis.experiments.effects import Comparison

__all__ = ["bootstrap_difference", "mann_whitney"]

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

#: Up to this many pairwise differences the Hodges–Lehmann quantities are read off the full
#: ``n × m`` array; above it a selection algorithm with O(n + m) memory is used.
_BRUTE_FORCE_PAIRS = 1 << 21

#: The exact null distribution of U (for the interval's ranks) is built when
#: ``min(n, m) * n * m`` is at most this (about a second of work); otherwise the ranks come from
#: the normal approximation.
_EXACT_NULL_MAX_WORK = 30_000_000

#: Default memory budget of one bootstrap batch, in resampled values per arm.
_BATCH_ELEMENTS = 1 << 22

_RELATIVE_NONE = "not defined for a location shift"


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _as_sample(name: str, values: Any, *, min_size: int = 1) -> np.ndarray:
    """``values`` as a finite 1-D float array, or a ValueError that names the argument."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: need at least {min_size} value(s)")
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(
            f"{name} has {n_nan} missing (NaN) value(s) of {arr.size}; drop or impute them "
            "explicitly before testing"
        )
    n_inf = int(np.isinf(arr).sum())
    if n_inf:
        raise ValueError(f"{name} has {n_inf} infinite value(s) of {arr.size}")
    if arr.size < min_size:
        raise ValueError(f"{name} has {arr.size} value(s): need at least {min_size}")
    return arr


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return alpha


def _check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_alternative(alternative: Any) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'larger' or 'smaller', got {alternative!r}"
        )
    return _ALTERNATIVES[alternative]


# --------------------------------------------------------------------------------------------
# Order statistics of the pairwise differences t_i - c_j without the n × m array
# --------------------------------------------------------------------------------------------


def _count_below(
    rows: np.ndarray, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray, p: float, strict: bool
) -> np.ndarray:
    """Per row r, the number of s with ``rows[r] + cols[s] < p`` (``<= p`` if not strict).

    ``rows`` and ``cols`` are sorted ascending, so each row of the (never built) matrix
    ``rows[:, None] + cols[None, :]`` is sorted. The caller guarantees the answer of row r lies
    in ``[lo[r], hi[r]]``. A guess from ``searchsorted(cols, p - rows)`` is accepted where the
    neighbouring sums confirm it; other rows (rounding in ``p - rows`` can shift the guess) are
    settled by a vectorised bisection of their window. Only the very floating-point sums the
    full matrix would hold are compared with ``p``, so the counts are exact.
    """
    count = lo.copy()
    active = np.flatnonzero(lo < hi)
    if not active.size:
        return count
    r_lo, r_hi, r_val = lo[active], hi[active], rows[active]
    guess = np.searchsorted(cols, p - r_val, side="left" if strict else "right")
    guess = np.clip(guess, r_lo, r_hi)
    before = r_val + cols[np.maximum(guess - 1, 0)]
    after = r_val + cols[np.minimum(guess, cols.size - 1)]
    if strict:
        ok = ((guess == r_lo) | (before < p)) & ((guess == r_hi) | (after >= p))
    else:
        ok = ((guess == r_lo) | (before <= p)) & ((guess == r_hi) | (after > p))
    count[active[ok]] = guess[ok]
    active = active[~ok]
    left = lo.copy()
    right = hi.copy()
    while active.size:
        mid = (left[active] + right[active]) >> 1
        values = rows[active] + cols[mid]
        go_right = values < p if strict else values <= p
        left[active[go_right]] = mid[go_right] + 1
        right[active[~go_right]] = mid[~go_right]
        done = left[active] >= right[active]
        count[active[done]] = left[active[done]]
        active = active[~done]
    return count


def _kth_sum(rows: np.ndarray, cols: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """The k-th smallest (0-based) of all ``rows[r] + cols[s]``, exactly, in O(len) memory.

    Selection in X + Y (Johnson & Mizoguchi 1978) by sample-based pivots (Floyd–Rivest style):
    each row keeps a window ``[lo, hi)`` of candidate columns; a few thousand candidates are
    sampled, two pivots bracketing the target rank are taken from the sample, and counting the
    sums below each pivot (:func:`_count_below`) shrinks every window. Once at most
    ``_BRUTE_FORCE_PAIRS`` candidates remain they are gathered and partitioned. The random
    pivots only affect the running time; the answer is exact.
    """
    n_rows = rows.size
    lo = np.zeros(n_rows, dtype=np.int64)
    hi = np.full(n_rows, cols.size, dtype=np.int64)
    sample_size = 1 << 14
    while True:
        sizes = hi - lo
        total = int(sizes.sum())
        rank = k - int(lo.sum())  # rank of the answer among the remaining candidates
        ends = np.cumsum(sizes)
        if total <= _BRUTE_FORCE_PAIRS:
            row_idx = np.repeat(np.arange(n_rows), sizes)
            col_idx = lo[row_idx] + (np.arange(total) - (ends - sizes)[row_idx])
            candidates = rows[row_idx] + cols[col_idx]
            return float(np.partition(candidates, rank)[rank])
        draws = rng.integers(0, total, size=sample_size)
        r = np.searchsorted(ends, draws, side="right")
        sample = np.sort(rows[r] + cols[lo[r] + draws - (ends[r] - sizes[r])])
        frac = (rank + 0.5) / total
        spread = 3.0 * math.sqrt(sample_size * frac * (1.0 - frac)) + 2.0
        i_low = math.floor(frac * sample_size - spread)
        i_high = math.ceil(frac * sample_size + spread)
        pivots = []
        if i_low >= 0:
            pivots.append(float(sample[i_low]))
        if i_high < sample_size:
            pivots.append(float(sample[i_high]))
        if not pivots:  # pragma: no cover - needs sample_size tiny relative to the spread
            pivots.append(float(sample[sample_size // 2]))
        lower_bound = -math.inf
        for i, p in enumerate(pivots):
            if p <= lower_bound:
                continue  # already excluded by the previous pivot
            # The answer is expected above the lower pivot and below the upper one: test that
            # side first, so most pivots need one count.
            if i == 0 and len(pivots) == 2:
                at_most = _count_below(rows, cols, lo, hi, p, strict=False)
                if int(at_most.sum()) <= k:  # the answer is > p
                    lo = at_most
                    lower_bound = p
                    continue
                below = _count_below(rows, cols, lo, at_most, p, strict=True)
                if int(below.sum()) > k:  # the answer is < p
                    hi = below
                    break
                return p
            below = _count_below(rows, cols, lo, hi, p, strict=True)
            if int(below.sum()) > k:  # the answer is < p
                hi = below
                break
            at_most = _count_below(rows, cols, below, hi, p, strict=False)
            if int(at_most.sum()) > k:  # the answer is p
                return p
            lo = at_most  # the answer is > p
            lower_bound = p


def _pairwise_difference_order_stats(
    treatment: np.ndarray, control: np.ndarray, ks: list[int], *, force_selection: bool = False
) -> tuple[list[float], str]:
    """The order statistics (0-based ranks ``ks``) of all differences ``t_i - c_j``.

    Returns the values and the name of the algorithm used. Small problems sort (partition) the
    full array of differences; large ones use :func:`_kth_sum` on ``t + (-c)`` (identical
    floating-point values, as IEEE subtraction is addition of the negation).
    """
    n_pairs = treatment.size * control.size
    if n_pairs <= _BRUTE_FORCE_PAIRS and not force_selection:
        diffs = np.subtract.outer(treatment, control).ravel()
        part = np.partition(diffs, sorted(set(ks)))
        return [float(part[k]) for k in ks], "all pairwise differences"
    x = np.sort(treatment)
    y = np.sort(-control)
    rows, cols = (x, y) if x.size <= y.size else (y, x)
    rng = np.random.default_rng(20_240_601)  # pivot sampling only; the result is exact
    values = [_kth_sum(rows, cols, k, rng) for k in ks]
    return values, "exact selection in X + Y (Johnson & Mizoguchi 1978), O(n + m) memory"


def _hodges_lehmann_ranks(n_pairs: int) -> list[int]:
    """0-based ranks whose mean is the median of ``n_pairs`` values."""
    half = n_pairs // 2
    return [half] if n_pairs % 2 else [half - 1, half]


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


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


def _resolve_statistic(statistic: Any) -> tuple[Callable[..., Any], str]:
    if isinstance(statistic, str):
        if statistic == "mean":
            return np.mean, "mean"
        if statistic == "median":
            return np.median, "median"
        raise ValueError(f"statistic must be 'mean', 'median' or a callable, got {statistic!r}")
    if callable(statistic):
        return statistic, getattr(statistic, "__name__", "statistic")
    raise ValueError(f"statistic must be 'mean', 'median' or a callable, got {statistic!r}")


def _apply_statistic(func: Callable[..., Any], values: np.ndarray, name: str) -> np.ndarray:
    """``func(values, axis=-1)`` as a float array of shape ``values.shape[:-1]``, checked."""
    try:
        out = np.asarray(func(values, axis=-1), dtype=float)
    except TypeError as exc:
        raise ValueError(
            f"statistic {name!r} must accept an 'axis' keyword and reduce along it, like "
            f"numpy.mean(values, axis=-1): {exc}"
        ) from exc
    if out.shape != values.shape[:-1]:
        raise ValueError(
            f"statistic {name!r} must reduce along axis=-1: for input of shape {values.shape} "
            f"it returned shape {out.shape}, expected {values.shape[:-1]}"
        )
    return out


def _percentile_inversion_p(boot: np.ndarray) -> float:
    """Smallest alpha at which the two-sided percentile interval of ``boot`` excludes 0.

    The interval at level 1 − a is ``(Q(a/2), Q(1 - a/2))`` with ``Q`` numpy's default
    (linear-interpolation) quantile of the B bootstrap values ``d_(0) <= ... <= d_(B-1)``,
    ``Q(u) = d_(h)`` interpolated at ``h = (B - 1) u``. If k values are ``<= 0``
    (``0 < k < B``) the lower end crosses 0 at ``h* = k - 1 + f`` with
    ``f = -d_(k-1) / (d_(k) - d_(k-1))``, so it excludes 0 for ``a > 2 h* / (B - 1)``; the
    upper end is the same computation on ``-boot``. The p-value is the smaller of the two
    (capped at 1); it is 0 when every value lies on one side of 0, and 1 when the values are
    balanced around it. ``p < alpha`` exactly when the reported interval excludes 0.
    """

    def side(values: np.ndarray) -> float:
        d = np.sort(values)
        size = d.size
        k = int(np.searchsorted(d, 0.0, side="right"))
        if k == 0:
            return 0.0
        if k == size:
            return math.inf
        below, above = float(d[k - 1]), float(d[k])
        frac = -below / (above - below)
        return 2.0 * (k - 1 + frac) / (size - 1)

    return float(min(1.0, side(boot), side(-boot)))


def bootstrap_difference(
    control_values: Any,
    treatment_values: Any,
    *,
    statistic: str | Callable[..., Any] = "mean",
    n_resamples: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    relative: bool = True,
    batch_size: int | None = None,
    max_units: int | None = None,
    metric: str = "metric",
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> Comparison:
    r"""Percentile bootstrap of the difference of a statistic, treatment − control.

    With :math:`\hat\theta_a = s(\text{arm } a)` for a statistic :math:`s` (mean, median or a
    vectorised callable):

    * **Effect**: ``diff`` :math:`= \hat\theta_t - \hat\theta_c`; ``relative_lift``
      :math:`= \hat\theta_t / \hat\theta_c - 1` (NaN if :math:`\hat\theta_c = 0` or
      ``relative=False``).
    * **Resampling** (Efron & Tibshirani 1993, §16.4, two-sample bootstrap): for
      b = 1..B (``n_resamples``), draw :math:`n_c` control units and :math:`n_t` treatment units
      with replacement, *within each arm*, and compute
      :math:`d^*_b = \hat\theta^*_{t,b} - \hat\theta^*_{c,b}` and
      :math:`r^*_b = \hat\theta^*_{t,b} / \hat\theta^*_{c,b} - 1`.
    * **Intervals**: percentile intervals (Efron & Tibshirani 1993, ch. 13),
      ``numpy.quantile(d*, [alpha/2, 1 - alpha/2])`` with linear interpolation — the interval of
      ``scipy.stats.bootstrap(..., method="percentile")`` — and the same for :math:`r^*`.
    * **p-value** (two-sided) by inverting the percentile interval: the smallest alpha at which
      the ``1 - alpha`` percentile interval excludes 0 (see :func:`_percentile_inversion_p`;
      roughly :math:`2 \min(\#\{d^* \le 0\}, \#\{d^* \ge 0\}) / B`). So ``significant`` agrees
      with "the interval excludes 0". Its resolution is about 2/B; p = 0 means no resample fell
      on the other side of 0 (read it as p < 2/B; a note says so).
    * ``extra`` holds ``bootstrap_se`` (standard deviation of :math:`d^*`), ``bootstrap_bias``
      (mean of :math:`d^*` minus ``diff``), ``n_resamples``, ``seed``, ``batch_size``,
      ``statistic``, ``p_value_resolution`` (2/B) and, when units were subsampled,
      ``n_control_total``, ``n_treatment_total`` and ``diff_full_data``.

    Reproducibility and memory: one ``numpy.random.default_rng(seed)`` is spawned into three
    independent streams (unit subsampling, control resamples, treatment resamples), so the result
    is identical bit for bit for the same inputs and seed — whatever ``batch_size`` is, since each
    stream is consumed in the same order. Resamples are drawn ``batch_size`` at a time, so
    memory is ``O(batch_size × max(n_c, n_t))``; the default batch holds about 4 million values
    per arm (≈ 64 MB of indices and values), e.g. 4 resamples at a time for 10⁶ units. The time is
    still proportional to ``B × (n_c + n_t)``: 10⁴ resamples of 10⁶ units per arm are 2 × 10¹⁰
    draws (many minutes) — use ``max_units`` for a quick look at very large experiments.

    Parameters
    ----------
    control_values, treatment_values : array-like of float
        Per-unit values of each arm (1-D, finite, at least 2 values each).
    statistic : {"mean", "median"} or callable, default "mean"
        A callable must reduce along an ``axis`` keyword like ``numpy.mean``: it is called as
        ``statistic(values, axis=-1)`` with a 2-D array (one resample per row).
    n_resamples : int, default 10_000
        Bootstrap resamples B (at least 100).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.
    alpha : float, default 0.05
        1 − confidence level; ``significant`` is ``p_value < alpha``.
    relative : bool, default True
        Also bootstrap the relative difference.
    batch_size : int, optional
        Resamples per batch (memory only; the result does not depend on it). Default: about
        2²² / max(n_c, n_t), at least 1.
    max_units : int, optional
        If an arm has more units than this, a simple random sample (without replacement, drawn
        with the seed) of ``max_units`` of its units is analysed instead — the estimate, the
        interval and the p-value all refer to that subsample (wider than the full data would
        give) and a note says so; ``extra["diff_full_data"]`` gives the full-data difference.
    metric, control_name, treatment_name : str
        Labels.

    Returns
    -------
    Comparison
        ``metric_type`` is the statistic's name (``"mean"``, ``"median"`` or the callable's
        ``__name__``); ``statistic`` and ``df`` are NaN (no test statistic);
        ``estimate_control``/``estimate_treatment`` are the statistic in each (analysed) arm;
        ``n_control``/``n_treatment`` count the units analysed.

    Raises
    ------
    ValueError
        If a sample has fewer than 2 values, is not 1-D, or has NaN or infinite values (the
        message names the argument); for invalid ``statistic``, ``n_resamples``, ``seed``,
        ``alpha``, ``batch_size`` or ``max_units``.

    Notes
    -----
    Percentile intervals under-cover in small samples and for skewed statistics; the result
    carries a note when an arm has fewer than 20 units. The relative interval is NaN (with a
    note) when the control statistic is 0 or changes sign across resamples.

    References
    ----------
    .. [1] Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman
       & Hall, chapters 13 and 16.
    .. [2] scipy ``scipy.stats.bootstrap`` (``method="percentile"``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> c, t = rng.exponential(1.0, 200), rng.exponential(1.5, 200)
    >>> res = bootstrap_difference(c, t, n_resamples=2000, seed=3)
    >>> res.diff_ci[0] < res.diff < res.diff_ci[1]
    True
    """
    control = _as_sample("control_values", control_values, min_size=2)
    treatment = _as_sample("treatment_values", treatment_values, min_size=2)
    func, stat_name = _resolve_statistic(statistic)
    alpha = _check_alpha(alpha)
    n_resamples = _check_positive_int("n_resamples", n_resamples)
    if n_resamples < 100:
        raise ValueError(f"n_resamples must be at least 100, got {n_resamples}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    batch_size = _check_positive_int("batch_size", batch_size, allow_none=True)
    max_units = _check_positive_int("max_units", max_units, allow_none=True)

    rng = np.random.default_rng(int(seed))
    rng_units, rng_control, rng_treatment = rng.spawn(3)
    notes: list[str] = []
    extra: dict[str, Any] = {}

    n_control_total, n_treatment_total = control.size, treatment.size
    if max_units is not None and max(control.size, treatment.size) > max_units:
        full_diff = float(
            _apply_statistic(func, treatment[None, :], stat_name)[0]
            - _apply_statistic(func, control[None, :], stat_name)[0]
        )
        if control.size > max_units:
            control = control[np.sort(rng_units.choice(control.size, max_units, replace=False))]
        if treatment.size > max_units:
            treatment = treatment[
                np.sort(rng_units.choice(treatment.size, max_units, replace=False))
            ]
        if min(control.size, treatment.size) < 2:
            raise ValueError(f"max_units must be at least 2, got {max_units}")
        notes.append(
            f"Units were subsampled (max_units = {max_units:,}): {control.size:,} of "
            f"{n_control_total:,} {control_name} and {treatment.size:,} of "
            f"{n_treatment_total:,} {treatment_name} units were analysed, so the estimate and "
            f"interval describe that random subsample (full-data difference {full_diff:.4g})."
        )
        extra |= {
            "n_control_total": n_control_total,
            "n_treatment_total": n_treatment_total,
            "diff_full_data": full_diff,
        }

    n_c, n_t = control.size, treatment.size
    est_c = float(_apply_statistic(func, control[None, :], stat_name)[0])
    est_t = float(_apply_statistic(func, treatment[None, :], stat_name)[0])
    if batch_size is None:
        batch_size = max(1, min(n_resamples, _BATCH_ELEMENTS // max(n_c, n_t)))

    boot_c = np.empty(n_resamples)
    boot_t = np.empty(n_resamples)
    for start in range(0, n_resamples, batch_size):
        size = min(batch_size, n_resamples - start)
        idx = rng_control.integers(0, n_c, size=(size, n_c))
        boot_c[start : start + size] = _apply_statistic(func, control[idx], stat_name)
        idx = rng_treatment.integers(0, n_t, size=(size, n_t))
        boot_t[start : start + size] = _apply_statistic(func, treatment[idx], stat_name)
        del idx
    boot_diff = boot_t - boot_c
    if not np.isfinite(boot_diff).all():
        raise ValueError(f"statistic {stat_name!r} returned non-finite values on resamples")

    diff = est_t - est_c
    ci_low, ci_high = (float(v) for v in np.quantile(boot_diff, [alpha / 2, 1 - alpha / 2]))
    p_value = _percentile_inversion_p(boot_diff)
    if p_value == 0.0:
        notes.append(
            f"No bootstrap resample gave a difference on the other side of 0, so p is below the "
            f"bootstrap's resolution (read p = 0 as p < {2 / n_resamples:.2g})."
        )

    relative_lift, rel_low, rel_high = math.nan, math.nan, math.nan
    rel_method = "percentile bootstrap of the ratio of the statistics − 1"
    if not relative:
        rel_method = "not computed (relative=False)"
    elif est_c == 0.0:
        notes.append(f"The relative difference is undefined: the {control_name} {stat_name} is 0.")
    elif not (np.all(boot_c > 0) or np.all(boot_c < 0)):
        relative_lift = est_t / est_c - 1.0
        notes.append(
            f"The {control_name} {stat_name} is 0 or changes sign across resamples, so no "
            "relative interval is given."
        )
    else:
        relative_lift = est_t / est_c - 1.0
        rel_low, rel_high = (
            float(v) for v in np.quantile(boot_t / boot_c - 1.0, [alpha / 2, 1 - alpha / 2])
        )
    if min(n_c, n_t) < 20:
        notes.append(
            "An arm has fewer than 20 units: percentile bootstrap intervals tend to be too narrow "
            "in samples this small."
        )

    extra |= {
        "statistic": stat_name,
        "n_resamples": n_resamples,
        "seed": int(seed),
        "batch_size": batch_size,
        "bootstrap_se": float(np.std(boot_diff, ddof=1)),
        "bootstrap_bias": float(np.mean(boot_diff) - diff),
        "p_value_resolution": 2.0 / n_resamples,
    }
    return Comparison(
        metric=str(metric),
        metric_type=stat_name,
        control_name=str(control_name),
        treatment_name=str(treatment_name),
        n_control=int(n_c),
        n_treatment=int(n_t),
        estimate_control=est_c,
        estimate_treatment=est_t,
        diff=float(diff),
        diff_ci=(ci_low, ci_high),
        relative_lift=float(relative_lift),
        relative_lift_ci=(rel_low, rel_high),
        statistic=math.nan,
        df=math.nan,
        p_value=p_value,
        alpha=alpha,
        alternative="two-sided",
        method=(
            f"percentile bootstrap of the difference in {stat_name}s "
            f"({n_resamples:,} resamples within arms, seed {int(seed)})"
        ),
        ci_method="bootstrap percentile interval (Efron & Tibshirani 1993)",
        relative_ci_method=rel_method,
        notes=tuple(notes),
        extra=extra,
    )
