r"""Delta-method t test for ratio metrics (a ratio of sums per arm) from sufficient statistics.

A ratio metric divides two per-unit quantities summed over the arm, e.g. *replies received per
message sent*: :math:`R = \sum_i y_i / \sum_i x_i` with numerator :math:`y` (replies) and
denominator :math:`x` (messages) per member. The unit of randomisation is the member, not the
message, so the messages of one member are not independent and a naive per-message test is
anti-conservative; the delta method linearises :math:`R` around the arm means and gives a
variance over members that includes the covariance of numerator and denominator.

References
----------
.. [1] Deng, A., Knoblich, U. and Lu, J. (2018). Applying the delta method in metric analytics:
   a practical guide with novel ideas. *KDD '18*, 233-242.
.. [2] Kohavi, R., Tang, D. and Xu, Y. (2020). *Trustworthy Online Controlled Experiments*,
   ch. 18 (variance of ratio metrics). Cambridge University Press.
.. [3] GrowthBook ``gbstats``: ``RatioStatistic`` (delta method with the covariance term,
   unbiased variances) and Welch degrees of freedom,
   https://docs.growthbook.io/statistics/details
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from analysis.experiments.effects import Comparison
from analysis.experiments.means import (
    _arr,
    _check_alternative,
    _check_stats,
    _common_notes,
    _comparison,
    _impossible_sums_note,
    _relative_extra,
    _sample_cov,
    _sample_var,
    _two_arm_arrays,
)
from analysis.experiments.proportions import _check_alpha
from analysis.experiments.sufficient import SufficientStats

__all__ = ["RATIO_CI_METHOD", "ratio_test"]

#: Name of the interval for the absolute difference of two ratios.
RATIO_CI_METHOD = "delta method (numerator–denominator covariance), t with Welch df"


def _ratio_moments(arm: Mapping[str, Any]) -> dict[str, np.ndarray]:
    r"""Ratio of sums and the per-unit variance of its linearisation for arrays of sums.

    With :math:`\bar y = \sum y / n`, :math:`\bar x = \sum x / n`, :math:`R = \sum y / \sum x`
    and unbiased (ddof = 1) :math:`s_y^2, s_x^2, s_{xy}`, the linearisation of :math:`R` is
    :math:`(y - R x) / \bar x` per unit, whose variance is
    :math:`V = (s_y^2 - 2 R s_{xy} + R^2 s_x^2) / \bar x^2`, so
    :math:`\widehat{Var}(R) = V / n`. Returns ``n``, ``ratio``, ``mean_y``, ``mean_x`` and ``var``
    (NaN where :math:`\sum x = 0` or, for ``var``, where :math:`n < 2`).
    """
    n = _arr(arm["n"])
    sy, sx = _arr(arm["sum_y"]), _arr(arm["sum_x"])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sx != 0, sy / sx, np.nan)
        mean_y = np.where(n > 0, sy / n, np.nan)
        mean_x = np.where(n > 0, sx / n, np.nan)
        vy = _sample_var(n, sy, arm["sum_y2"], clip=False)
        vx = _sample_var(n, sx, arm["sum_x2"], clip=False)
        cxy = _sample_cov(n, sy, sx, arm["sum_xy"])
        var = (vy - 2.0 * ratio * cxy + ratio**2 * vx) / mean_x**2
    return {
        "n": n,
        "ratio": ratio,
        "mean_y": mean_y,
        "mean_x": mean_x,
        "var": np.where(np.isnan(var), np.nan, np.maximum(var, 0.0)),
    }


def _ratio_arrays(
    control: Mapping[str, Any],
    treatment: Mapping[str, Any],
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> dict[str, np.ndarray]:
    """All figures of :func:`ratio_test` from arrays of sums.

    ``control`` and ``treatment`` map ``n``, ``sum_y``, ``sum_y2``, ``sum_x``, ``sum_x2`` and
    ``sum_xy`` (``y`` numerator, ``x`` denominator) to scalars or arrays. The keys of the result
    are those of :func:`analysis.experiments.means._two_arm_arrays`.
    """
    c, t = _ratio_moments(control), _ratio_moments(treatment)
    return _two_arm_arrays(
        c["n"],
        t["n"],
        c["ratio"],
        t["ratio"],
        c["var"],
        t["var"],
        alpha=alpha,
        alternative=alternative,
    )


def ratio_test(
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    metric: str = "metric",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> Comparison:
    r"""Compare a ratio metric (ratio of sums) between two arms by the delta method.

    Each arm's statistics hold the numerator in ``y`` and the denominator in ``x``
    (``sum_y, sum_y2`` for the numerator, ``sum_x, sum_x2`` for the denominator, ``sum_xy`` their
    cross products over units). Per arm: :math:`R = \sum y / \sum x`, means
    :math:`\bar y, \bar x`, unbiased (ddof = 1) variances :math:`s_y^2, s_x^2` and covariance
    :math:`s_{xy}`, and the delta-method variance of the ratio **with the covariance term**

    .. math:: \widehat{Var}(R) = \frac{s_y^2 - 2 R\, s_{xy} + R^2 s_x^2}{n\, \bar x^2}
              = \frac{V}{n}.

    * **Absolute effect** ``diff`` :math:`= R_t - R_c`, standard error
      :math:`\sqrt{V_t/n_t + V_c/n_c}`, t statistic on the Welch–Satterthwaite degrees of
      freedom computed from :math:`V_c, V_t` (as :func:`~analysis.experiments.means.welch_test`
      with :math:`V` in place of :math:`s^2`), interval ``diff ± t_{1-α/2, ν} se``.
    * **Relative lift** :math:`L = R_t / R_c - 1`, delta-method variance with the control ratio
      random, :math:`V_t / (n_t R_c^2) + R_t^2 V_c / (n_c R_c^4)`; t statistic, p-value
      (``extra["relative_p_value"]``) and interval on the same :math:`\nu`.

    This is GrowthBook's ``gbstats`` convention (unbiased variances, Welch df); it reproduces
    the ``gbstats`` relative p-value 0.610663339 of the reference case to all nine digits, where
    a normal reference distribution gives 0.61015 and :math:`n_c + n_t - 2` df 0.61066307.

    Parameters
    ----------
    control, treatment : SufficientStats
        Sums of each arm, with the denominator as the second variable (``sum_x`` ...).
    metric : str, default "metric"
        Metric name for the result.
    alpha : float, default 0.05
        Significance level; intervals have coverage ``1 - alpha``.
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        Alternative about treatment minus control (``"greater"``/``"less"`` are synonyms).
    control_name, treatment_name : str
        Labels of the arms.

    Returns
    -------
    Comparison
        ``metric_type="ratio"``; ``estimate_control``/``estimate_treatment`` are the ratios of
        sums. ``extra`` holds ``se``, ``relative_se``, ``relative_statistic``,
        ``relative_p_value``, ``var_control``/``var_treatment`` (per-unit variances :math:`V`
        of the linearised ratio) and the arms' numerator and denominator means.

    Raises
    ------
    TypeError
        If an arm is not :class:`SufficientStats`.
    ValueError
        If an arm has no denominator sums, or for an invalid ``alpha`` or ``alternative``.

    Notes
    -----
    The delta method is a large-sample approximation: it needs many units per arm and a
    denominator mean well away from 0. Degenerate inputs never raise; a note explains each:

    * Denominator sum 0 in an arm: that ratio is undefined and every figure that uses it is NaN.
    * Fewer than 2 units in an arm: no variance, so no test or interval (NaN).
    * Zero variance of the linearised ratio in both arms (e.g. every unit has the same ratio):
      as in :func:`~analysis.experiments.means.welch_test`, ``p = 1`` if the ratios are equal,
      else ``t = ±inf``.
    * Control ratio 0: the relative lift is NaN.

    References
    ----------
    .. [1] Deng, A., Knoblich, U. and Lu, J. (2018). Applying the delta method in metric
       analytics: a practical guide with novel ideas. KDD '18, 233-242.
    .. [2] GrowthBook, Statistical Details, https://docs.growthbook.io/statistics/details

    Examples
    --------
    >>> c = SufficientStats(100, 270, 848.79, 510, 810, -900)
    >>> t = SufficientStats(120, 300, 869, 500, 800, -905)
    >>> res = ratio_test(c, t)
    >>> round(res.estimate_control, 9), res.estimate_treatment, round(res.relative_lift, 9)
    (0.529411765, 0.6, 0.133333333)
    >>> round(res.extra["relative_p_value"], 9)
    0.610663339
    """
    _check_stats("control", control, need_x="a ratio metric (the denominator)")
    _check_stats("treatment", treatment, need_x="a ratio metric (the denominator)")
    alpha = _check_alpha(alpha)
    alternative = _check_alternative(alternative)
    raw = _ratio_arrays(control.to_dict(), treatment.to_dict(), alpha, alternative)
    a = {k: float(v) for k, v in raw.items()}
    names = (str(control_name), str(treatment_name))
    notes = [
        f"The {name} arm's denominator sums to 0, so its ratio is undefined (NaN)."
        for name, arm in zip(names, (control, treatment), strict=True)
        if arm.sum_x == 0
    ]
    notes += _common_notes(a, names, (control.n, treatment.n), what="ratio")
    for name, arm in zip(names, (control, treatment), strict=True):
        notes += _impossible_sums_note(name, "the numerator", arm.n, arm.sum_y, arm.sum_y2)
        notes += _impossible_sums_note(name, "the denominator", arm.n, arm.sum_x, arm.sum_x2)
    extra = _relative_extra(a) | {
        "mean_numerator_control": control.mean_y,
        "mean_denominator_control": control.mean_x,
        "mean_numerator_treatment": treatment.mean_y,
        "mean_denominator_treatment": treatment.mean_x,
    }
    return _comparison(
        a,
        metric=metric,
        metric_type="ratio",
        names=names,
        ns=(control.n, treatment.n),
        alpha=alpha,
        alternative=alternative,
        method="Delta-method t test for a ratio of sums (Welch df)",
        ci_method=RATIO_CI_METHOD,
        notes=notes,
        extra=extra,
    )
