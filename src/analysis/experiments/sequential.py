r"""Always-valid (sequential) A/B inference: read the results every day without peeking bias.

A fixed-horizon test (Welch t, z test) controls the false-positive rate at ``alpha`` only if it
is looked at **once**, at a sample size fixed in advance. A scheduled notebook that recomputes the
test every day and stops "when it is significant" rejects a true null far more often (about 25 %
of A/A experiments over 30 daily looks at ``alpha = 0.05``; see the validation tests). The
functions here replace the fixed interval by an **asymptotic confidence sequence** (Waudby-Smith
et al. 2023): a sequence of intervals that contains the true effect *at every look
simultaneously* with probability about ``1 - alpha``, so the experiment may be read as often as
one likes and stopped the first time the interval excludes 0.

The construction (the one GrowthBook uses for its sequential frequentist engine)
---------------------------------------------------------------------------------
Let :math:`\hat\theta` be the estimated effect (difference of means or of proportions,
treatment − control), :math:`\widehat{SE}` its usual unpooled standard error (Welch),
:math:`N = n_c + n_t` the units observed so far in both arms and
:math:`\hat\sigma^2 = N\,\widehat{SE}^2` the per-unit variance scale. The two-sided
:math:`1-\alpha` asymptotic confidence sequence is

.. math::

    \hat\theta \pm \hat\sigma \sqrt{\frac{2(N\rho^2 + 1)}{N^2\rho^2}
        \log\!\left(\frac{\sqrt{N\rho^2 + 1}}{\alpha}\right)}
    \;=\; \hat\theta \pm \widehat{SE}\,\sqrt{\frac{2(N\rho^2 + 1)}{N\rho^2}
        \log\!\left(\frac{\sqrt{N\rho^2 + 1}}{\alpha}\right)}

(Waudby-Smith et al. 2023, the Gaussian-mixture asymptotic confidence sequence for i.i.d.
data of their Section 2; eq. 9 of arXiv:2103.06476v7 as cited in GrowthBook's ``gbstats``).
The mixing parameter :math:`\rho > 0` sets *where* the sequence is tightest. It is chosen for
a planned total sample size :math:`N^*` (``tuning_n``) by the approximately width-minimising
value at :math:`N = N^*`

.. math::

    \rho = \sqrt{\frac{-2\log\alpha + \log(1 - 2\log\alpha)}{N^*}}

(eq. 161 of arXiv:2103.06476v7, ``gbstats.frequentist.tests.sequential_rho``). Any
:math:`\rho > 0` gives a valid sequence; a good :math:`N^*` only makes it narrower near the end.
GrowthBook's default is :math:`N^* = 5000` (total units); set ``tuning_n`` to the planned total
number of units in **both** arms at the last scheduled look.

**Always-valid p-value.** For the fixed :math:`\rho` above, the sequence at level
:math:`\alpha'` excludes 0 exactly when :math:`\alpha' > p`, where, with
:math:`z = \hat\theta / \widehat{SE}`,

.. math::

    p = \min\!\left(1,\; \sqrt{N\rho^2 + 1}\,
        \exp\!\left(-\frac{N\rho^2\,z^2}{2(N\rho^2 + 1)}\right)\right)

(the reciprocal of the mixture e-value, eq. 155 of arXiv:2103.06476v7). So ``p_value`` is the
smallest ``alpha`` whose sequence (with :math:`\rho` held at the value tuned for the nominal
``alpha``) excludes 0, ``p_value < alpha`` exactly when the reported interval excludes 0, and
:math:`P(\exists\ \text{look}: p \le \alpha) \lesssim \alpha` under the null. It is 1 until some
evidence has accumulated; that is expected, not a bug.

**Relative lift.** The same half-width formula is applied to the relative lift
:math:`\hat\mu_t / \hat\mu_c - 1` with its delta-method standard error, treating the control
mean as random (GrowthBook's "relative" sequential interval):
:math:`\widehat{SE}_{rel}^2 = \frac{s_t^2/n_t}{\hat\mu_c^2}
+ \frac{\hat\mu_t^2\, s_c^2/n_c}{\hat\mu_c^4}`.

Caveats
-------
* The sequence is *asymptotic*: its time-uniform coverage holds as the sample grows (a
  strong-approximation argument), not exactly in small samples; results with fewer than 100 units
  in an arm carry a note.
* It is wider than a fixed-horizon interval at every sample size ("always-valid intervals are
  wider by design"); ``extra["fixed_horizon_halfwidth"]`` shows the fixed-horizon half-width for
  comparison.
* Only two-sided sequences are implemented.

The arithmetic lives in array helpers (one element per experiment or per look) that the public
functions call, so simulation studies in the validation tests run the same code path.

References
----------
.. [1] Waudby-Smith, I., Arbour, D., Sinha, R., Kennedy, E. H. and Ramdas, A. (2023).
   Time-uniform central limit theory and asymptotic confidence sequences. *Annals of
   Statistics* 52(6) (2024); arXiv:2103.06476.
.. [2] Howard, S. R., Ramdas, A., McAuliffe, J. and Sekhon, J. (2021). Time-uniform,
   nonparametric, nonasymptotic confidence sequences. *Annals of Statistics* 49(2), 1055-1080.
.. [3] GrowthBook, "Sequential Testing", https://docs.growthbook.io/statistics/sequential, and
   ``gbstats`` (``SequentialTwoSidedTTest``, ``sequential_rho``,
   ``sequential_interval_halfwidth``), https://github.com/growthbook/growthbook
"""

from __future__ import annotations

import math
import numbers
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import special

from analysis.experiments.effects import Comparison
from analysis.experiments.proportions import _check_alpha, _check_arm
from analysis.experiments.sufficient import SufficientStats

__all__ = [
    "DEFAULT_TUNING_N",
    "METHOD",
    "RELATIVE_CI_METHOD",
    "confidence_sequence_halfwidth",
    "sequential_proportions",
    "sequential_rho",
    "sequential_welch",
]

#: GrowthBook's default planned total sample size N* (both arms).
DEFAULT_TUNING_N = 5000.0
#: Name of the method in results.
METHOD = "asymptotic confidence sequence (Waudby-Smith et al. 2023)"
#: Name of the interval for the relative lift.
RELATIVE_CI_METHOD = (
    "asymptotic confidence sequence on the delta-method standard error (control mean random)"
)
#: Arms smaller than this get a note: the sequence is asymptotic.
SMALL_ARM = 100


# --------------------------------------------------------------------------------------------
# Array helpers (broadcast over experiments / looks)
# --------------------------------------------------------------------------------------------


def _check_tuning_n(tuning_n: Any) -> float:
    if isinstance(tuning_n, bool) or not isinstance(tuning_n, numbers.Real):
        raise ValueError(f"tuning_n must be a positive number of units, got {tuning_n!r}")
    value = float(tuning_n)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"tuning_n must be a positive number of units, got {tuning_n!r}")
    return value


def sequential_rho(alpha: float, tuning_n: float) -> float:
    r"""Mixing parameter :math:`\rho` that makes the sequence tightest near ``tuning_n`` units.

    :math:`\rho = \sqrt{(-2\log\alpha + \log(1 - 2\log\alpha)) / N^*}` with
    :math:`N^*` = ``tuning_n`` (planned total units in both arms); eq. 161 of
    Waudby-Smith et al. (2023, arXiv:2103.06476v7), as in GrowthBook's ``gbstats``.

    Parameters
    ----------
    alpha : float
        Significance level, strictly between 0 and 1.
    tuning_n : float
        Planned total sample size :math:`N^* > 0`.

    Returns
    -------
    float
    """
    alpha = _check_alpha(alpha)
    tuning_n = _check_tuning_n(tuning_n)
    log_alpha = math.log(alpha)
    return math.sqrt((-2.0 * log_alpha + math.log(1.0 - 2.0 * log_alpha)) / tuning_n)


def _halfwidth_multiplier(n_total: Any, alpha: float, rho: float) -> np.ndarray:
    r""":math:`\sqrt{2(N\rho^2+1)/(N\rho^2)\,\log(\sqrt{N\rho^2+1}/\alpha)}`: half-width / SE."""
    n_total = np.asarray(n_total, dtype=float)
    nr2 = n_total * rho * rho
    return np.sqrt(2.0 * (nr2 + 1.0) / nr2 * np.log(np.sqrt(nr2 + 1.0) / alpha))


def confidence_sequence_halfwidth(se: Any, n_total: Any, alpha: float, tuning_n: float) -> Any:
    r"""Half-width of the asymptotic confidence sequence for an estimate with standard error ``se``.

    Equals :math:`\hat\sigma\sqrt{2(N\rho^2+1)/(N^2\rho^2)\,\log(\sqrt{N\rho^2+1}/\alpha)}` with
    :math:`\hat\sigma = \sqrt{N}\,SE`, :math:`N` = ``n_total`` and :math:`\rho` =
    :func:`sequential_rho` ``(alpha, tuning_n)``. Broadcasts over arrays.

    Parameters
    ----------
    se : float or array
        Standard error of the estimate at the current look.
    n_total : float or array
        Units observed so far in both arms.
    alpha : float
        Significance level (the sequence has time-uniform coverage about ``1 - alpha``).
    tuning_n : float
        Planned total sample size at which the sequence is tightest.

    Returns
    -------
    float or numpy.ndarray
    """
    rho = sequential_rho(alpha, tuning_n)
    out = np.asarray(se, dtype=float) * _halfwidth_multiplier(n_total, alpha, rho)
    return float(out) if out.ndim == 0 else out


def _always_valid_p(estimate: Any, se: Any, n_total: Any, rho: float) -> np.ndarray:
    """``min(1, sqrt(Nρ²+1) exp(-Nρ² z² / (2(Nρ²+1))))``; 1 when estimate = se = 0, 0 when only
    se = 0 (a deterministic, non-zero difference)."""
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    nr2 = np.asarray(n_total, dtype=float) * rho * rho
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, estimate / np.where(se > 0, se, 1.0), np.nan)
        log_p = 0.5 * np.log1p(nr2) - nr2 * z * z / (2.0 * (nr2 + 1.0))
        p = np.minimum(1.0, np.exp(np.minimum(log_p, 0.0)))
    p = np.where(se > 0, p, np.where(estimate == 0, 1.0, 0.0))
    return np.where(np.isnan(estimate) | np.isnan(se), np.nan, p)


def _sequential_arrays(
    mean_c: Any,
    var_c: Any,
    n_c: Any,
    mean_t: Any,
    var_t: Any,
    n_t: Any,
    alpha: float,
    tuning_n: float,
) -> dict[str, np.ndarray]:
    """All figures of the sequential comparison from per-arm means, unit variances and sizes.

    Returns a dict of arrays: ``diff``, ``se``, ``diff_low``, ``diff_high``, ``z``, ``p_value``,
    ``relative_lift``, ``se_relative``, ``relative_lift_low``, ``relative_lift_high``,
    ``halfwidth``, ``fixed_halfwidth`` (``z_{1-alpha/2} * se``), ``n_total`` and ``rho``.
    """
    mean_c = np.asarray(mean_c, dtype=float)
    mean_t = np.asarray(mean_t, dtype=float)
    var_c = np.asarray(var_c, dtype=float)
    var_t = np.asarray(var_t, dtype=float)
    n_c = np.asarray(n_c, dtype=float)
    n_t = np.asarray(n_t, dtype=float)
    rho = sequential_rho(alpha, tuning_n)
    n_total = n_c + n_t
    mult = _halfwidth_multiplier(n_total, alpha, rho)

    diff = mean_t - mean_c
    se = np.sqrt(var_c / n_c + var_t / n_t)
    halfwidth = se * mult
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff == 0, 0.0, np.nan))
        safe_c = np.where(mean_c != 0, mean_c, np.nan)
        lift = mean_t / safe_c - 1.0
        se_rel = np.sqrt((var_t / n_t) / safe_c**2 + mean_t**2 * (var_c / n_c) / safe_c**4)
    rel_half = se_rel * mult
    return {
        "diff": diff,
        "se": se,
        "diff_low": diff - halfwidth,
        "diff_high": diff + halfwidth,
        "z": z,
        "p_value": _always_valid_p(diff, se, n_total, rho),
        "relative_lift": lift,
        "se_relative": se_rel,
        "relative_lift_low": lift - rel_half,
        "relative_lift_high": lift + rel_half,
        "halfwidth": halfwidth,
        "fixed_halfwidth": float(special.ndtri(1.0 - alpha / 2.0)) * se,
        "n_total": n_total,
        "rho": np.full_like(diff, rho),
    }


def _sequential_proportion_arrays(
    successes_c: Any,
    n_c: Any,
    successes_t: Any,
    n_t: Any,
    alpha: float = 0.05,
    tuning_n: float = DEFAULT_TUNING_N,
) -> dict[str, np.ndarray]:
    """:func:`_sequential_arrays` for counts: unit variance ``p (1 - p)`` (ddof 0, as gbstats)."""
    sc = np.asarray(successes_c, dtype=float)
    st = np.asarray(successes_t, dtype=float)
    nc = np.asarray(n_c, dtype=float)
    nt = np.asarray(n_t, dtype=float)
    pc = sc / nc
    pt = st / nt
    out = _sequential_arrays(pc, pc * (1 - pc), nc, pt, pt * (1 - pt), nt, alpha, tuning_n)
    out["rate_control"] = pc
    out["rate_treatment"] = pt
    return out


def _sequential_mean_arrays(
    n_c: Any,
    sum_c: Any,
    sum_sq_c: Any,
    n_t: Any,
    sum_t: Any,
    sum_sq_t: Any,
    alpha: float = 0.05,
    tuning_n: float = DEFAULT_TUNING_N,
) -> dict[str, np.ndarray]:
    """:func:`_sequential_arrays` from sums: unbiased variances (ddof 1, as Welch and gbstats)."""
    n_c = np.asarray(n_c, dtype=float)
    n_t = np.asarray(n_t, dtype=float)
    sum_c = np.asarray(sum_c, dtype=float)
    sum_t = np.asarray(sum_t, dtype=float)
    mean_c = sum_c / n_c
    mean_t = sum_t / n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        var_c = np.maximum((np.asarray(sum_sq_c, dtype=float) - sum_c * mean_c) / (n_c - 1), 0.0)
        var_t = np.maximum((np.asarray(sum_sq_t, dtype=float) - sum_t * mean_t) / (n_t - 1), 0.0)
    var_c = np.where(n_c >= 2, var_c, np.nan)
    var_t = np.where(n_t >= 2, var_t, np.nan)
    out = _sequential_arrays(mean_c, var_c, n_c, mean_t, var_t, n_t, alpha, tuning_n)
    out["mean_control"] = mean_c
    out["mean_treatment"] = mean_t
    return out


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def _ci_method(alpha: float, tuning_n: float, rho: float) -> str:
    return (
        f"{1 - alpha:.0%} asymptotic confidence sequence, tuned for N* = {tuning_n:,.0f} total "
        f"units (rho = {rho:.4g}); valid at every look"
    )


def _notes(n_c: int, n_t: int, se: float, se_rel: float, estimate_c: float) -> tuple[str, ...]:
    notes = []
    if min(n_c, n_t) < SMALL_ARM:
        notes.append(
            f"An arm has fewer than {SMALL_ARM} units: the confidence sequence is asymptotic, so "
            "its coverage is approximate this early."
        )
    if not se > 0:
        notes.append(
            "Neither arm shows any variation (standard error 0): the interval is degenerate and "
            "the p-value is 1 if the arms agree, 0 otherwise."
        )
    if estimate_c == 0:
        notes.append("The control mean is 0, so the relative lift is undefined.")
    elif math.isnan(se_rel) and not math.isnan(se):
        notes.append("The relative lift interval is undefined.")
    return tuple(notes)


def _comparison(
    a: dict[str, Any],
    *,
    metric: str,
    metric_type: str,
    control_name: str,
    treatment_name: str,
    n_c: int,
    n_t: int,
    estimate_c: float,
    estimate_t: float,
    alpha: float,
    tuning_n: float,
    extra: dict[str, Any],
) -> Comparison:
    notes = _notes(n_c, n_t, a["se"], a["se_relative"], estimate_c)
    return Comparison(
        metric=str(metric),
        metric_type=metric_type,
        control_name=str(control_name),
        treatment_name=str(treatment_name),
        n_control=n_c,
        n_treatment=n_t,
        estimate_control=estimate_c,
        estimate_treatment=estimate_t,
        diff=a["diff"],
        diff_ci=(a["diff_low"], a["diff_high"]),
        relative_lift=a["relative_lift"],
        relative_lift_ci=(a["relative_lift_low"], a["relative_lift_high"]),
        statistic=a["z"],
        df=math.nan,
        p_value=a["p_value"],
        alpha=alpha,
        alternative="two-sided",
        method=METHOD,
        ci_method=_ci_method(alpha, tuning_n, a["rho"]),
        relative_ci_method=RELATIVE_CI_METHOD,
        notes=notes,
        extra={
            "tuning_n": tuning_n,
            "rho": a["rho"],
            "n_total": a["n_total"],
            "se": a["se"],
            "se_relative": a["se_relative"],
            "halfwidth": a["halfwidth"],
            "fixed_horizon_halfwidth": a["fixed_halfwidth"],
            "width_ratio_vs_fixed_horizon": (
                a["halfwidth"] / a["fixed_halfwidth"] if a["fixed_halfwidth"] > 0 else math.nan
            ),
            **extra,
        },
    )


def sequential_welch(
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    metric: str = "metric",
    alpha: float = 0.05,
    tuning_n: float = DEFAULT_TUNING_N,
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> Comparison:
    r"""Always-valid comparison of two means from sufficient statistics.

    Estimates :math:`\theta = \mu_t - \mu_c` by :math:`\hat\mu_t - \hat\mu_c` (sample means
    :math:`\Sigma y / n`) with the Welch standard error
    :math:`\widehat{SE} = \sqrt{s_c^2/n_c + s_t^2/n_t}` (:math:`s^2` unbiased, ddof 1), and
    reports the two-sided :math:`1-\alpha` asymptotic confidence sequence
    :math:`\hat\theta \pm \widehat{SE}\sqrt{2(N\rho^2+1)/(N\rho^2)\log(\sqrt{N\rho^2+1}/\alpha)}`,
    :math:`N = n_c + n_t`, :math:`\rho` from :func:`sequential_rho` (see the module docstring
    for the derivation and references). Read it at any number of looks: the chance that it
    *ever* misses the true difference is about ``alpha``.

    Parameters
    ----------
    control, treatment : SufficientStats
        Cumulative sums of each arm up to the current look (``n``, ``sum_y``, ``sum_y2``).
    metric : str
        Metric name for the result.
    alpha : float, default 0.05
        Significance level of the whole sequence (not of one look).
    tuning_n : float, default 5000
        Planned total units in both arms at the last look (:math:`N^*`); the sequence is
        tightest there. GrowthBook's default is 5000.
    control_name, treatment_name : str
        Labels.

    Returns
    -------
    Comparison
        ``diff``/``diff_ci``: difference of means and its confidence sequence at this look;
        ``relative_lift``/``relative_lift_ci``: ``mean_t / mean_c - 1`` with the same sequence
        applied to its delta-method standard error (NaN when ``mean_c = 0``); ``statistic``:
        :math:`z = \hat\theta/\widehat{SE}`; ``p_value``: the always-valid p-value (smallest
        ``alpha`` whose sequence excludes 0); ``extra``: ``tuning_n``, ``rho``, ``n_total``,
        ``se``, ``se_relative``, ``halfwidth``, ``fixed_horizon_halfwidth`` and their ratio.

    Raises
    ------
    ValueError
        If an arm has fewer than 2 units (no variance), or ``alpha``/``tuning_n`` is invalid.

    References
    ----------
    .. [1] Waudby-Smith et al. (2023), Time-uniform central limit theory and asymptotic
       confidence sequences, arXiv:2103.06476.
    .. [2] GrowthBook ``gbstats`` ``SequentialTwoSidedTTest``.

    Examples
    --------
    GrowthBook's ``gbstats`` test case (relative lift, ``N* = 1000``):

    >>> a = SufficientStats(3000, 1396.87, 52377.9767)
    >>> b = SufficientStats(3461, 2422.7, 134698.29)
    >>> res = sequential_welch(a, b, tuning_n=1000)
    >>> [round(v, 5) for v in (res.relative_lift, *res.relative_lift_ci)]
    [0.50336, -0.55844, 1.56516]
    """
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, SufficientStats):
            raise ValueError(f"{name} must be SufficientStats, got {type(arm).__name__}")
        if arm.n < 2:
            raise ValueError(
                f"{name} has {arm.n} unit(s): at least 2 are needed to estimate a variance"
            )
    alpha = _check_alpha(alpha)
    tuning_n = _check_tuning_n(tuning_n)
    arrays = _sequential_mean_arrays(
        control.n,
        control.sum_y,
        control.sum_y2,
        treatment.n,
        treatment.sum_y,
        treatment.sum_y2,
        alpha,
        tuning_n,
    )
    a = {k: float(v) for k, v in arrays.items()}
    return _comparison(
        a,
        metric=metric,
        metric_type="mean",
        control_name=control_name,
        treatment_name=treatment_name,
        n_c=int(control.n),
        n_t=int(treatment.n),
        estimate_c=a["mean_control"],
        estimate_t=a["mean_treatment"],
        alpha=alpha,
        tuning_n=tuning_n,
        extra={},
    )


def sequential_proportions(
    successes_c: int,
    n_c: int,
    successes_t: int,
    n_t: int,
    *,
    metric: str = "conversion",
    alpha: float = 0.05,
    tuning_n: float = DEFAULT_TUNING_N,
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> Comparison:
    r"""Always-valid comparison of two conversion rates from counts.

    Same construction as :func:`sequential_welch` with :math:`\hat p = s/n` and the unpooled
    per-unit variance :math:`\hat p(1-\hat p)` (ddof 0, GrowthBook's ``ProportionStatistic``):
    :math:`\widehat{SE} = \sqrt{\hat p_c(1-\hat p_c)/n_c + \hat p_t(1-\hat p_t)/n_t}`; the
    interval is :math:`\hat p_t - \hat p_c \pm \widehat{SE}\sqrt{2(N\rho^2+1)/(N\rho^2)
    \log(\sqrt{N\rho^2+1}/\alpha)}`, and the p-value is the always-valid p-value.

    Parameters
    ----------
    successes_c, n_c : int
        Cumulative converted units and units in the control arm at this look.
    successes_t, n_t : int
        Same for the treatment arm.
    metric : str
        Metric name for the result.
    alpha : float, default 0.05
        Significance level of the whole sequence.
    tuning_n : float, default 5000
        Planned total units in both arms at the last look.
    control_name, treatment_name : str
        Labels.

    Returns
    -------
    Comparison
        As :func:`sequential_welch`, with ``metric_type="binary"`` and the rates as estimates.
        If both arms are all-0 (or all-1) the standard error is 0: the interval collapses to the
        observed difference, the p-value is 1 when the rates agree, and a note says so.

    Raises
    ------
    ValueError
        For negative or non-integer counts, an arm without units, successes above the arm size,
        or an invalid ``alpha``/``tuning_n``.

    Examples
    --------
    GrowthBook's ``gbstats`` test case (relative lift, default ``N* = 5000``):

    >>> res = sequential_proportions(1396, 3000, 2422, 3461)
    >>> [round(v, 5) for v in (res.relative_lift, *res.relative_lift_ci)]
    [0.50386, 0.40098, 0.60675]
    """
    sc, nc = _check_arm("successes_c", successes_c, "n_c", n_c)
    st, nt = _check_arm("successes_t", successes_t, "n_t", n_t)
    alpha = _check_alpha(alpha)
    tuning_n = _check_tuning_n(tuning_n)
    a = {
        k: float(v)
        for k, v in _sequential_proportion_arrays(sc, nc, st, nt, alpha, tuning_n).items()
    }
    return _comparison(
        a,
        metric=metric,
        metric_type="binary",
        control_name=control_name,
        treatment_name=treatment_name,
        n_c=nc,
        n_t=nt,
        estimate_c=a["rate_control"],
        estimate_t=a["rate_treatment"],
        alpha=alpha,
        tuning_n=tuning_n,
        extra={"successes_control": sc, "successes_treatment": st},
    )


def sequential_from_comparison(
    fixed: Comparison, *, tuning_n: float = DEFAULT_TUNING_N
) -> Comparison:
    """Turn a fixed-horizon, normal-theory comparison into an always-valid one.

    For tests with no dedicated sequential form (the delta-method ratio test): the standard
    errors are recovered from the fixed intervals (``SE = width / (2 z_{1-α/2})``, exact for the
    symmetric normal intervals of :func:`analysis.experiments.ratio.ratio_test`), then the same
    confidence-sequence half-width and always-valid p-value as :func:`sequential_welch` are
    applied with ``N = n_control + n_treatment``. Intervals that are not symmetric (Newcombe,
    bootstrap, rank tests) are refused: use the dedicated functions for them.
    """
    from scipy.stats import norm

    if fixed.alternative != "two-sided":
        raise ValueError(
            f"sequential comparisons are two-sided only; got alternative={fixed.alternative!r}"
        )
    low, high = fixed.diff_ci
    if not math.isclose(fixed.diff - low, high - fixed.diff, rel_tol=1e-6, abs_tol=1e-12):
        raise ValueError(
            f"{fixed.method}: the interval is not symmetric around the estimate, so its "
            f"standard error cannot be recovered; use a dedicated sequential test"
        )
    z = norm.ppf(1 - fixed.alpha / 2)
    se = (high - low) / (2 * z)
    rel_low, rel_high = fixed.relative_lift_ci
    se_rel = (rel_high - rel_low) / (2 * z) if np.isfinite([rel_low, rel_high]).all() else math.nan
    n_total = fixed.n_control + fixed.n_treatment
    rho = sequential_rho(fixed.alpha, tuning_n)
    half = float(se * _halfwidth_multiplier(n_total, fixed.alpha, rho))
    half_rel = float(se_rel * _halfwidth_multiplier(n_total, fixed.alpha, rho))
    p = float(_always_valid_p(fixed.diff, se, n_total, rho))
    return replace(
        fixed,
        diff_ci=(fixed.diff - half, fixed.diff + half),
        relative_lift_ci=(fixed.relative_lift - half_rel, fixed.relative_lift + half_rel),
        p_value=p,
        df=math.nan,
        method=f"{METHOD} on {fixed.method}",
        ci_method=_ci_method(fixed.alpha, tuning_n, rho),
        relative_ci_method=RELATIVE_CI_METHOD,
        extra={**fixed.extra, "tuning_n": tuning_n, "rho": rho, "n_total": n_total, "se": se},
    )
