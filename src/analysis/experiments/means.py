r"""Welch's t test of two means from sufficient statistics, and the two-arm engine behind it.

:func:`welch_test` compares the mean of a metric between a treatment arm and a control arm from
each arm's sums ``n, Σy, Σy²`` (:class:`~analysis.experiments.sufficient.SufficientStats`), so
the cost does not depend on the number of units. It reports

* the absolute effect :math:`\bar y_t - \bar y_c` with Welch's unequal-variance t test and
  interval (Welch–Satterthwaite degrees of freedom), and
* the relative lift :math:`\bar y_t / \bar y_c - 1` with a delta-method standard error that
  treats the control mean as random, its own t statistic, p-value and interval on the same
  degrees of freedom (the convention of GrowthBook's ``gbstats``).

The arithmetic is :func:`_two_arm_arrays`, a NumPy function of per-arm *linearised* moments that
also serves the delta-method ratio test (:mod:`analysis.experiments.ratio`) and CUPED
(:mod:`analysis.experiments.cuped`); every argument may be an array (one element per experiment),
so the simulation studies in the validation tests run the very code path of the public
functions.

References
----------
.. [1] Welch, B. L. (1947). The generalization of "Student's" problem when several different
   population variances are involved. *Biometrika* 34(1/2), 28-35.
.. [2] Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
   components. *Biometrics Bulletin* 2(6), 110-114.
.. [3] GrowthBook, "Statistical Details" (frequentist engine: Welch t, delta-method relative
   effects with the control mean random), https://docs.growthbook.io/statistics/details
.. [4] R Core Team, ``t.test`` (stats package), Welch variant (the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import special, stats

from analysis.experiments.effects import Comparison
from analysis.experiments.proportions import _ALTERNATIVES, _check_alpha
from analysis.experiments.sufficient import SufficientStats

__all__ = [
    "WELCH_CI_METHOD",
    "RELATIVE_DELTA_CI_METHOD",
    "welch_test",
]

#: Name of the interval for the absolute difference of means.
WELCH_CI_METHOD = "Welch t interval (Welch–Satterthwaite df)"
#: Name of the interval for the relative lift (shared by the Welch, ratio and CUPED tests).
RELATIVE_DELTA_CI_METHOD = "delta method (control mean random), t with Welch df"


# --------------------------------------------------------------------------------------------
# Array engine: every argument may be a scalar or an array (broadcast); results are arrays.
# --------------------------------------------------------------------------------------------


def _arr(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=float)


def _sample_var(n: Any, s: Any, s2: Any, *, clip: bool = True) -> np.ndarray:
    """Unbiased variance (ddof = 1) from n, Σv and Σv²; NaN where n < 2.

    With ``clip`` (the default) a negative value (rounding, or sums that no data can produce) is
    set to 0. Components of a linearised variance are left unclipped (``clip=False``) so that the
    combination keeps its algebraic identity; only the combination is clipped.
    """
    n, s, s2 = _arr(n), _arr(s), _arr(s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (s2 - s * s / n) / (n - 1.0)
    if clip:
        var = np.maximum(var, 0.0)
    return np.where(n >= 2, var, np.nan)


def _sample_cov(n: Any, s_a: Any, s_b: Any, s_ab: Any) -> np.ndarray:
    """Unbiased covariance (ddof = 1) from n, Σa, Σb and Σab; NaN where n < 2."""
    n, s_a, s_b, s_ab = _arr(n), _arr(s_a), _arr(s_b), _arr(s_ab)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (s_ab - s_a * s_b / n) / (n - 1.0)
    return np.where(n >= 2, cov, np.nan)


def _t_inference(
    estimate: np.ndarray, se: np.ndarray, df: np.ndarray, alpha: float, alternative: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """t statistic, p-value and (1 - alpha) interval of ``estimate`` with standard error ``se``.

    Where ``se == 0`` (no visible sampling variability) the statistic is 0 if the estimate is 0
    and ±inf otherwise, the p-value is taken from the normal limit of that statistic (two-sided:
    1 or 0) and the interval collapses to the estimate. NaN inputs give NaN outputs. One-sided
    alternatives give a one-sided bound with the other end at ±inf.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = se > 0
        stat = np.where(
            positive,
            estimate / np.where(positive, se, 1.0),
            np.where(estimate == 0, 0.0, np.sign(estimate) * np.inf),
        )
        stat = np.where(np.isnan(se) | np.isnan(estimate), np.nan, stat)
        safe_df = np.where(positive & (df > 0), df, 1.0)
        if alternative == "two-sided":
            p_t = 2.0 * stats.t.sf(np.abs(stat), safe_df)
            p_z = 2.0 * special.ndtr(-np.abs(stat))
            crit = stats.t.isf(alpha / 2.0, safe_df)
        elif alternative == "larger":
            p_t = stats.t.sf(stat, safe_df)
            p_z = special.ndtr(-stat)
            crit = stats.t.isf(alpha, safe_df)
        else:
            p_t = stats.t.cdf(stat, safe_df)
            p_z = special.ndtr(stat)
            crit = stats.t.isf(alpha, safe_df)
        p = np.where(positive, p_t, p_z)
        p = np.where(positive & ~(df > 0), np.nan, p)  # positive se but undefined df
        half = np.where(positive, crit * se, np.where(se == 0, 0.0, np.nan))
    low = estimate - half
    high = estimate + half
    if alternative == "larger":
        high = np.where(np.isnan(low), np.nan, np.inf)
    elif alternative == "smaller":
        low = np.where(np.isnan(high), np.nan, -np.inf)
    return stat, np.minimum(p, 1.0), low, high


def _two_arm_arrays(
    n_control: Any,
    n_treatment: Any,
    est_control: Any,
    est_treatment: Any,
    var_control: Any,
    var_treatment: Any,
    *,
    pre_control: Any = 0.0,
    pre_treatment: Any = 0.0,
    pre_var_control: Any = 0.0,
    pre_var_treatment: Any = 0.0,
    cov_control: Any = 0.0,
    cov_treatment: Any = 0.0,
    theta: Any = 0.0,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> dict[str, np.ndarray]:
    r"""Absolute and relative effect of treatment vs control from linearised per-arm moments.

    Each arm *a* supplies its size :math:`n_a`, a point estimate :math:`P_a` (a mean or a ratio
    of sums) and the per-unit variance :math:`V_a` of its linearisation (its influence values:
    :math:`y - \bar y` for a mean, :math:`(y - R x)/\bar x` for a ratio :math:`R`); for CUPED
    also a pre-period estimate :math:`Q_a`, the per-unit variance :math:`W_a` of its
    linearisation and the covariance :math:`C_a` of the two linearisations. With the adjustment
    coefficient :math:`\theta` (0 without CUPED):

    * adjusted per-unit variance :math:`V^{adj}_a = V_a + \theta^2 W_a - 2\theta C_a`;
    * ``estimate_treatment`` :math:`= P_t - \theta (Q_t - Q_c)` (the treatment arm adjusted to
      the control arm's pre-period level) and ``estimate_control`` :math:`= P_c`;
    * ``diff`` :math:`= P_t - P_c - \theta (Q_t - Q_c)`,
      :math:`\widehat{Var} = V^{adj}_t / n_t + V^{adj}_c / n_c`;
    * Welch–Satterthwaite degrees of freedom
      :math:`\nu = (V^{adj}_t/n_t + V^{adj}_c/n_c)^2 / \big((V^{adj}_t/n_t)^2/(n_t-1) +
      (V^{adj}_c/n_c)^2/(n_c-1)\big)`;
    * relative lift :math:`L = \text{diff} / P_c` with the delta-method variance (control mean
      random), gradient evaluated at :math:`k = P_t / P_c`:
      :math:`\widehat{Var}(L) = \frac{V^{adj}_t}{n_t P_c^2} +
      \frac{k^2 V_c - 2\theta k C_c + \theta^2 W_c}{n_c P_c^2}`, which for
      :math:`\theta = 0` is :math:`V_t/(n_t P_c^2) + P_t^2 V_c / (n_c P_c^4)`.

    Both effects are tested with a t distribution on :math:`\nu` degrees of freedom.

    Returns a dict of arrays: ``estimate_control``, ``estimate_treatment``, ``diff``, ``se``,
    ``df``, ``statistic``, ``p_value``, ``diff_low``, ``diff_high``, ``relative_lift``,
    ``relative_se``, ``relative_statistic``, ``relative_p_value``, ``relative_low``,
    ``relative_high``, ``var_control``, ``var_treatment`` (adjusted per-unit variances).
    Figures that need a variance are NaN where an arm has fewer than 2 units (or a NaN
    input); relative figures are NaN where :math:`P_c = 0`.
    """
    alternative = _ALTERNATIVES[alternative]
    nc, nt = _arr(n_control), _arr(n_treatment)
    pc, pt = _arr(est_control), _arr(est_treatment)
    qc, qt = _arr(pre_control), _arr(pre_treatment)
    theta = _arr(theta)
    vc = _adjusted_var(var_control, pre_var_control, cov_control, theta)
    vt = _adjusted_var(var_treatment, pre_var_treatment, cov_treatment, theta)
    enough = (nc >= 2) & (nt >= 2)
    vc = np.where(enough, vc, np.nan)
    vt = np.where(enough, vt, np.nan)

    est_t = pt - theta * (qt - qc)
    diff = est_t - pc
    with np.errstate(divide="ignore", invalid="ignore"):
        sc, st = vc / nc, vt / nt
        var_diff = sc + st
        df = var_diff**2 / (sc**2 / (nc - 1.0) + st**2 / (nt - 1.0))
        se = np.sqrt(var_diff)
        stat, p, low, high = _t_inference(diff, se, df, alpha, alternative)

        safe_pc = np.where(pc != 0, pc, np.nan)
        lift = diff / safe_pc
        k = pt / safe_pc
        ctrl = _arr(var_control) * k**2 - 2.0 * theta * k * _arr(cov_control)
        ctrl = np.maximum(ctrl + theta**2 * _arr(pre_var_control), 0.0)
        var_rel = vt / (nt * safe_pc**2) + np.where(enough, ctrl, np.nan) / (nc * safe_pc**2)
        se_rel = np.sqrt(var_rel)
        rstat, rp, rlow, rhigh = _t_inference(lift, se_rel, df, alpha, alternative)
    return {
        "estimate_control": pc,
        "estimate_treatment": est_t,
        "diff": diff,
        "se": se,
        "df": np.where(var_diff > 0, df, np.nan),
        "statistic": stat,
        "p_value": p,
        "diff_low": low,
        "diff_high": high,
        "relative_lift": lift,
        "relative_se": se_rel,
        "relative_statistic": rstat,
        "relative_p_value": rp,
        "relative_low": rlow,
        "relative_high": rhigh,
        "var_control": vc,
        "var_treatment": vt,
    }


def _adjusted_var(var: Any, pre_var: Any, cov: Any, theta: np.ndarray) -> np.ndarray:
    """:math:`V + \\theta^2 W - 2 \\theta C`, clipped at 0 (it is a variance)."""
    with np.errstate(invalid="ignore"):
        adj = _arr(var) + theta**2 * _arr(pre_var) - 2.0 * theta * _arr(cov)
    return np.where(np.isnan(adj), np.nan, np.maximum(adj, 0.0))


def _welch_arrays(
    control: Mapping[str, Any],
    treatment: Mapping[str, Any],
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> dict[str, np.ndarray]:
    """All figures of :func:`welch_test` from arrays of sums.

    ``control`` and ``treatment`` map ``n``, ``sum_y`` and ``sum_y2`` to scalars or arrays (one
    element per experiment); see :func:`_two_arm_arrays` for the keys of the result.
    """
    arms = []
    for arm in (control, treatment):
        n = _arr(arm["n"])
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(n > 0, _arr(arm["sum_y"]) / n, np.nan)
        arms.append((n, mean, _sample_var(n, arm["sum_y"], arm["sum_y2"])))
    (nc, mc, vc), (nt, mt, vt) = arms
    return _two_arm_arrays(nc, nt, mc, mt, vc, vt, alpha=alpha, alternative=alternative)


# --------------------------------------------------------------------------------------------
# Validation, notes and the public function
# --------------------------------------------------------------------------------------------


def _check_alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'larger' or 'smaller', got {alternative!r}"
        )
    return _ALTERNATIVES[alternative]


def _check_stats(name: str, value: Any, *, need_x: str | None = None) -> SufficientStats:
    if not isinstance(value, SufficientStats):
        raise TypeError(f"{name} must be SufficientStats, got {type(value).__name__}")
    if need_x is not None and not value.has_x:
        raise ValueError(f"{name} has no sum_x/sum_x2/sum_xy, needed for {need_x}")
    return value


def _impossible_sums_note(name: str, label: str, n: int, s: float, s2: float) -> list[str]:
    """A note when Σv² < (Σv)²/n beyond rounding: no real data has a negative sum of squares."""
    if n < 1:
        return []
    centred = s2 - s * s / n
    if centred < -1e-9 * max(abs(s2), s * s / n, 1.0):
        return [
            f"The {name} arm's sums of {label} are impossible for real data (Σv² < (Σv)²/n, a "
            "negative variance); check the aggregation."
        ]
    return []


def _small_arm_notes(names: tuple[str, str], ns: tuple[int, int]) -> list[str]:
    return [
        f"The {name} arm has {n} unit{'s' if n != 1 else ''}: at least 2 per arm are needed to "
        "estimate a variance, so no test or interval is reported."
        for name, n in zip(names, ns, strict=True)
        if n < 2
    ]


def _common_notes(
    a: Mapping[str, float],
    names: tuple[str, str],
    ns: tuple[int, int],
    what: str = "mean",
) -> list[str]:
    """Plain-words caveats shared by the Welch, ratio and CUPED tests."""
    control_name, treatment_name = names
    notes = _small_arm_notes(names, ns)
    if not notes and a["var_control"] == 0 and a["var_treatment"] == 0:
        if a["diff"] == 0:
            notes.append(
                "Both arms have zero variance and the same value, so the t test has nothing to "
                "work with: t = 0 and p = 1 (two-sided) are reported."
            )
        else:
            notes.append(
                "Both arms have zero variance but different values: no sampling variability "
                "is visible, so t = ±inf and a p-value of 0 or 1 are reported; treat this "
                "with suspicion (constant metrics rarely mean a certain effect)."
            )
    estimate_control = a["estimate_control"]
    if estimate_control == 0:
        notes.append(
            f"The {control_name} {what} is 0, so the relative lift is undefined (reported as NaN)."
        )
    elif estimate_control < 0:
        notes.append(
            f"The {control_name} {what} is negative, so the relative lift "
            f"({what} ratio minus 1) has the opposite sign of the difference."
        )
    return notes


def _relative_extra(a: Mapping[str, float]) -> dict[str, float]:
    return {
        "se": a["se"],
        "relative_se": a["relative_se"],
        "relative_statistic": a["relative_statistic"],
        "relative_p_value": a["relative_p_value"],
        "var_control": a["var_control"],
        "var_treatment": a["var_treatment"],
    }


def welch_test(
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    metric: str = "metric",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> Comparison:
    r"""Welch's t test of two means from sufficient statistics, with absolute and relative effects.

    For each arm :math:`a \in \{c, t\}` with :math:`n_a` units, sum :math:`S_a = \sum y` and sum
    of squares :math:`S2_a = \sum y^2`: mean :math:`\bar y_a = S_a / n_a` and unbiased variance
    :math:`s_a^2 = (S2_a - S_a^2 / n_a) / (n_a - 1)`.

    * **Absolute effect** ``diff`` :math:`= \bar y_t - \bar y_c` (treatment minus control),
      standard error :math:`\sqrt{s_t^2/n_t + s_c^2/n_c}`, t statistic ``diff / se`` on the
      Welch–Satterthwaite degrees of freedom
      :math:`\nu = (s_t^2/n_t + s_c^2/n_c)^2 / \big((s_t^2/n_t)^2/(n_t-1) +
      (s_c^2/n_c)^2/(n_c-1)\big)`; interval ``diff ± t_{1-α/2, ν} se``. Identical to
      ``scipy.stats.ttest_ind(y_t, y_c, equal_var=False)`` and R's ``t.test(y_t, y_c)`` on the
      unit-level data.
    * **Relative lift** :math:`L = \bar y_t / \bar y_c - 1` with the delta-method variance that
      treats the control mean as random,
      :math:`\widehat{Var}(L) = s_t^2/(n_t \bar y_c^2) + \bar y_t^2 s_c^2/(n_c \bar y_c^4)`;
      its t statistic :math:`L / \sqrt{\widehat{Var}(L)}`, p-value (``extra["relative_p_value"]``)
      and interval use the same :math:`\nu` (GrowthBook ``gbstats`` convention). The interval is
      symmetric and not unique: Fieller or log-ratio intervals differ in small samples.

    Parameters
    ----------
    control, treatment : SufficientStats
        Sums of each arm (only ``n``, ``sum_y`` and ``sum_y2`` are used).
    metric : str, default "metric"
        Metric name for the result.
    alpha : float, default 0.05
        Significance level; intervals have coverage ``1 - alpha``.
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        Alternative about treatment minus control (``"greater"``/``"less"`` are synonyms).
        One-sided alternatives give one-sided bounds, the other end at ±inf.
    control_name, treatment_name : str
        Labels of the arms.

    Returns
    -------
    Comparison
        ``metric_type="mean"``; ``statistic`` is t and ``p_value`` that of ``diff``. ``extra``
        holds ``se``, ``relative_se``, ``relative_statistic``, ``relative_p_value``,
        ``var_control`` and ``var_treatment`` (per-unit sample variances).

    Raises
    ------
    TypeError
        If an arm is not :class:`SufficientStats`.
    ValueError
        For an invalid ``alpha`` or ``alternative``.

    Notes
    -----
    Degenerate inputs never raise; a note in plain words explains each:

    * An arm with fewer than 2 units has no variance: ``diff`` (and the lift) are reported when
      defined, every standard error, statistic, p-value and interval is NaN.
    * Both arms with zero variance: ``t = 0``, ``p = 1`` (two-sided) if the means are equal;
      ``t = ±inf``, ``p = 0`` (two-sided) if not; ``df`` is NaN and intervals collapse to the
      estimate. (scipy returns NaN here.) One arm with zero variance is an ordinary Welch test.
    * Control mean 0: the relative lift, its interval and p-value are NaN.

    References
    ----------
    .. [1] Welch, B. L. (1947). Biometrika 34(1/2), 28-35.
    .. [2] Satterthwaite, F. E. (1946). Biometrics Bulletin 2(6), 110-114.
    .. [3] GrowthBook, Statistical Details, https://docs.growthbook.io/statistics/details

    Examples
    --------
    >>> a = SufficientStats(3407, 1396.87, 52377.9767)
    >>> b = SufficientStats(3461, 2422.7, 134698.29)
    >>> res = welch_test(a, b)
    >>> round(res.diff, 5), [round(v, 5) for v in res.diff_ci], round(res.p_value, 5)
    (0.29, [0.04538, 0.53462], 0.02016)
    >>> round(res.relative_lift, 5), round(res.extra["relative_p_value"], 5)
    (0.70732, 0.06191)
    """
    _check_stats("control", control)
    _check_stats("treatment", treatment)
    alpha = _check_alpha(alpha)
    alternative = _check_alternative(alternative)
    raw = _welch_arrays(
        {"n": control.n, "sum_y": control.sum_y, "sum_y2": control.sum_y2},
        {"n": treatment.n, "sum_y": treatment.sum_y, "sum_y2": treatment.sum_y2},
        alpha,
        alternative,
    )
    a = {k: float(v) for k, v in raw.items()}
    names = (str(control_name), str(treatment_name))
    notes = _common_notes(a, names, (control.n, treatment.n))
    for name, arm in zip(names, (control, treatment), strict=True):
        notes += _impossible_sums_note(name, "the metric", arm.n, arm.sum_y, arm.sum_y2)
    return _comparison(
        a,
        metric=metric,
        metric_type="mean",
        names=names,
        ns=(control.n, treatment.n),
        alpha=alpha,
        alternative=alternative,
        method="Welch t test (sufficient statistics)",
        ci_method=WELCH_CI_METHOD,
        notes=notes,
        extra=_relative_extra(a),
    )


def _comparison(
    a: Mapping[str, float],
    *,
    metric: str,
    metric_type: str,
    names: tuple[str, str],
    ns: tuple[int, int],
    alpha: float,
    alternative: str,
    method: str,
    ci_method: str,
    notes: list[str],
    extra: dict[str, Any],
    relative_ci_method: str = RELATIVE_DELTA_CI_METHOD,
) -> Comparison:
    """Assemble a :class:`Comparison` from the scalar figures of :func:`_two_arm_arrays`."""
    return Comparison(
        metric=str(metric),
        metric_type=metric_type,
        control_name=names[0],
        treatment_name=names[1],
        n_control=int(ns[0]),
        n_treatment=int(ns[1]),
        estimate_control=a["estimate_control"],
        estimate_treatment=a["estimate_treatment"],
        diff=a["diff"],
        diff_ci=(a["diff_low"], a["diff_high"]),
        relative_lift=a["relative_lift"],
        relative_lift_ci=(a["relative_low"], a["relative_high"]),
        statistic=a["statistic"],
        df=a["df"],
        p_value=a["p_value"],
        alpha=alpha,
        alternative=alternative,
        method=method,
        ci_method=ci_method,
        relative_ci_method=relative_ci_method,
        notes=tuple(notes),
        extra={
            k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in extra.items()
        },
    )
