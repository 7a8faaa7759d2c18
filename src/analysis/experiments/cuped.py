r"""CUPED: variance reduction with a pre-period covariate, for means and for ratio metrics.

CUPED (Deng, Xu, Kohavi and Walker 2013) compares
:math:`\bar y_a - \theta (\bar x_a - \bar x)` between arms instead of :math:`\bar y_a`, where
:math:`x` is a per-unit quantity measured *before* exposure (so the treatment cannot move it)
and :math:`\theta = Cov(x, y) / Var(x)`. The treatment effect is unchanged in expectation,
while the variance of the estimated difference falls by the factor :math:`1 - \rho^2`,
:math:`\rho` being the correlation of :math:`x` and :math:`y`. For a member community the
natural covariate is the same metric over the weeks before the experiment (messages sent,
replies received, ...).

* :func:`cuped_test` adjusts a mean metric with a covariate, from
  :class:`~analysis.experiments.sufficient.SufficientStats` whose second variable is the
  covariate.
* :func:`cuped_ratio_test` adjusts a ratio metric :math:`\sum y / \sum x` with the same ratio
  over the pre-period, :math:`\sum y_0 / \sum x_0`, from :class:`RatioCupedStats` (all first and
  second moments of the four per-unit quantities): regression adjustment applied to the
  delta-method linearisations of the two ratios, as GrowthBook's
  ``RegressionAdjustedRatioStatistic``.

Both share the two-arm engine :func:`analysis.experiments.means._two_arm_arrays` (Welch
degrees of freedom, relative lift by the delta method with the control mean random) and have
vectorised array functions (:func:`_cuped_arrays`, :func:`_cuped_ratio_arrays`) that the
simulation tests call directly.

References
----------
.. [1] Deng, A., Xu, Y., Kohavi, R. and Walker, T. (2013). Improving the sensitivity of online
   controlled experiments by utilizing pre-experiment data. *WSDM '13*, 123-132.
.. [2] Deng, A., Knoblich, U. and Lu, J. (2018). Applying the delta method in metric analytics:
   a practical guide with novel ideas. *KDD '18*, 233-242 (CUPED for ratio metrics).
.. [3] GrowthBook, "CUPED technical details" and ``gbstats`` (``compute_theta``,
   ``RegressionAdjustedStatistic``, ``RegressionAdjustedRatioStatistic``,
   ``frequentist_variance_relative_cuped``), https://docs.growthbook.io/statistics/cuped
.. [4] Lin, W. (2013). Agnostic notes on regression adjustments to experimental data:
   reexamining Freedman's critique. *Annals of Applied Statistics* 7(1), 295-318.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

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

__all__ = [
    "CUPED_CI_METHOD",
    "CUPED_RATIO_CI_METHOD",
    "RatioCupedStats",
    "cuped_ratio_test",
    "cuped_test",
    "ratio_cuped_stats_expr",
    "ratio_cuped_stats_from_frame",
]

#: Name of the interval for the CUPED-adjusted difference of means.
CUPED_CI_METHOD = "CUPED-adjusted Welch t interval (θ treated as known)"
#: Name of the interval for the CUPED-adjusted difference of ratios.
CUPED_RATIO_CI_METHOD = "CUPED on delta-method linearised ratios, t with Welch df (θ as known)"
#: Name of the relative-lift interval under CUPED.
CUPED_RELATIVE_CI_METHOD = (
    "delta method (control mean random, unadjusted control mean as base), t with Welch df"
)

_THETA_METHODS = ("pooled", "within")


# --------------------------------------------------------------------------------------------
# Sums for CUPED on ratio metrics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatioCupedStats:
    r"""Sums of one arm for a ratio metric with a pre-period version of the same ratio.

    Per unit *i* (the unit of randomisation, e.g. a member): ``y`` the numerator and ``x`` the
    denominator in the experiment period (replies received, messages sent), ``y0`` and ``x0``
    the same quantities in the pre-period. The arm's ratio is :math:`\sum y / \sum x`, the
    pre-period ratio :math:`\sum y_0 / \sum x_0`. All first and second moments are kept, which
    is what the delta method needs (14 sums and ``n``, one aggregation query).

    Attributes
    ----------
    n : int
        Units.
    sum_y, sum_x, sum_y0, sum_x0 : float
        :math:`\sum y, \sum x, \sum y_0, \sum x_0`.
    sum_y2, sum_x2, sum_y02, sum_x02 : float
        Sums of squares :math:`\sum y^2, \sum x^2, \sum y_0^2, \sum x_0^2`.
    sum_xy, sum_y_y0, sum_y_x0, sum_x_y0, sum_x_x0, sum_x0_y0 : float
        Sums of cross products :math:`\sum xy, \sum y y_0, \sum y x_0, \sum x y_0,
        \sum x x_0, \sum x_0 y_0`.
    """

    n: int
    sum_y: float
    sum_x: float
    sum_y0: float
    sum_x0: float
    sum_y2: float
    sum_x2: float
    sum_y02: float
    sum_x02: float
    sum_xy: float
    sum_y_y0: float
    sum_y_x0: float
    sum_x_y0: float
    sum_x_x0: float
    sum_x0_y0: float

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, numbers.Integral) or self.n < 0:
            raise ValueError(f"n must be a non-negative integer, got {self.n!r}")
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if not isinstance(value, numbers.Real) or math.isnan(float(value)):
                raise ValueError(f"{f.name} must be a number, got {value!r}")

    @property
    def post(self) -> SufficientStats:
        """The experiment-period ratio's sums (numerator ``y``, denominator ``x``)."""
        return SufficientStats(
            self.n, self.sum_y, self.sum_y2, self.sum_x, self.sum_x2, self.sum_xy
        )

    @property
    def pre(self) -> SufficientStats:
        """The pre-period ratio's sums (numerator ``y0``, denominator ``x0``)."""
        return SufficientStats(
            self.n, self.sum_y0, self.sum_y02, self.sum_x0, self.sum_x02, self.sum_x0_y0
        )

    @property
    def means(self) -> np.ndarray:
        """Per-unit means of ``(y, x, y0, x0)`` (NaN when n = 0)."""
        first = np.array([self.sum_y, self.sum_x, self.sum_y0, self.sum_x0], dtype=float)
        return first / self.n if self.n else np.full(4, np.nan)

    @property
    def cov_matrix(self) -> np.ndarray:
        """4 x 4 unbiased (ddof = 1) covariance matrix of ``(y, x, y0, x0)`` (NaN when n < 2)."""
        if self.n < 2:
            return np.full((4, 4), np.nan)
        first = np.array([self.sum_y, self.sum_x, self.sum_y0, self.sum_x0], dtype=float)
        second = np.array(
            [
                [self.sum_y2, self.sum_xy, self.sum_y_y0, self.sum_y_x0],
                [self.sum_xy, self.sum_x2, self.sum_x_y0, self.sum_x_x0],
                [self.sum_y_y0, self.sum_x_y0, self.sum_y02, self.sum_x0_y0],
                [self.sum_y_x0, self.sum_x_x0, self.sum_x0_y0, self.sum_x02],
            ],
            dtype=float,
        )
        return (second - np.outer(first, first) / self.n) / (self.n - 1)

    def __add__(self, other: RatioCupedStats) -> RatioCupedStats:
        """Pool two sets of sums (e.g. segments into a total)."""
        if not isinstance(other, RatioCupedStats):
            return NotImplemented
        return RatioCupedStats(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )

    @classmethod
    def from_values(cls, y: Any, x: Any, y0: Any, x0: Any) -> RatioCupedStats:
        """Sums of per-unit values (equal lengths; NaN values are an error, not dropped)."""
        arrays = {}
        for name, values in (("y", y), ("x", x), ("y0", y0), ("x0", x0)):
            arr = np.asarray(values, dtype=float)
            if np.isnan(arr).any():
                raise ValueError(f"{int(np.isnan(arr).sum())} missing values in {name}")
            arrays[name] = arr
        shapes = {name: arr.shape for name, arr in arrays.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"y, x, y0 and x0 must have the same shape, got {shapes}")
        y, x, y0, x0 = arrays["y"], arrays["x"], arrays["y0"], arrays["x0"]

        def s(v: np.ndarray) -> float:
            return float(v.sum())

        return cls(
            int(y.size), s(y), s(x), s(y0), s(x0), s(y * y), s(x * x), s(y0 * y0), s(x0 * x0),
            s(x * y), s(y * y0), s(y * x0), s(x * y0), s(x * x0), s(x0 * y0),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The sums as a plain dict (JSON-serialisable)."""
        return {k: (int(v) if k == "n" else float(v)) for k, v in asdict(self).items()}


def ratio_cuped_stats_expr(
    table: Any, y: str, x: str, y0: str, x0: str, *, by: Sequence[str] = ("variant",)
) -> Any:
    """The :class:`RatioCupedStats` sums per group as one ibis aggregation (runs on any engine).

    Columns: the ``by`` columns and the field names of :class:`RatioCupedStats`. Values are cast
    to float64 first so integer sums cannot overflow.
    """
    columns = {"y": y, "x": x, "y0": y0, "x0": x0}
    v = {name: table[col].cast("float64") for name, col in columns.items()}
    aggs = {"n": table.count()}
    for f in fields(RatioCupedStats)[1:]:
        factors = _FIELD_FACTORS[f.name]
        expr = v[factors[0]]
        for factor in factors[1:]:
            expr = expr * v[factor]
        aggs[f.name] = expr.sum()
    return table.group_by(list(by)).aggregate(**aggs)


_FIELD_FACTORS: dict[str, tuple[str, ...]] = {
    "sum_y": ("y",),
    "sum_x": ("x",),
    "sum_y0": ("y0",),
    "sum_x0": ("x0",),
    "sum_y2": ("y", "y"),
    "sum_x2": ("x", "x"),
    "sum_y02": ("y0", "y0"),
    "sum_x02": ("x0", "x0"),
    "sum_xy": ("x", "y"),
    "sum_y_y0": ("y", "y0"),
    "sum_y_x0": ("y", "x0"),
    "sum_x_y0": ("x", "y0"),
    "sum_x_x0": ("x", "x0"),
    "sum_x0_y0": ("x0", "y0"),
}


def ratio_cuped_stats_from_frame(
    frame: pd.DataFrame, *, by: str = "variant"
) -> dict[Any, RatioCupedStats]:
    """Turn the result of :func:`ratio_cuped_stats_expr` into ``{group: RatioCupedStats}``."""
    out = {}
    for row in frame.to_dict("records"):
        sums = [float(row[f.name] or 0.0) for f in fields(RatioCupedStats)[1:]]
        out[row[by]] = RatioCupedStats(int(row["n"]), *sums)
    return out


# --------------------------------------------------------------------------------------------
# Array functions
# --------------------------------------------------------------------------------------------


def _theta(
    method: str | float,
    n: tuple[np.ndarray, np.ndarray],
    cov: tuple[np.ndarray, np.ndarray],
    pre_var: tuple[np.ndarray, np.ndarray],
    pooled_cov: np.ndarray,
    pooled_pre_var: np.ndarray,
) -> np.ndarray:
    r"""The adjustment coefficient :math:`\theta` (0 where the covariate has no variance).

    ``"pooled"``: :math:`Cov(x, y) / Var(x)` over both arms taken as one sample (GrowthBook
    ``compute_theta``). ``"within"``: the pooled within-arm slope
    :math:`\sum_a (n_a - 1) C_a / \sum_a (n_a - 1) W_a` (the covariate's coefficient in the OLS
    of the metric on arm and covariate). A number: that value.
    """
    if not isinstance(method, str):
        return np.full(np.shape(pooled_cov), float(method))
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "pooled":
            num, den = pooled_cov, pooled_pre_var
        else:
            num = (n[0] - 1.0) * cov[0] + (n[1] - 1.0) * cov[1]
            den = (n[0] - 1.0) * pre_var[0] + (n[1] - 1.0) * pre_var[1]
        theta = num / den
    return np.where(np.isfinite(theta) & (den > 0), theta, 0.0)


def _mean_moments(arm: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Means, unbiased variances and covariance of (y, x) from sums (components unclipped)."""
    n = _arr(arm["n"])
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_y = np.where(n > 0, _arr(arm["sum_y"]) / n, np.nan)
        mean_x = np.where(n > 0, _arr(arm["sum_x"]) / n, np.nan)
    return {
        "n": n,
        "est": mean_y,
        "pre": mean_x,
        "var": _sample_var(n, arm["sum_y"], arm["sum_y2"], clip=False),
        "pre_var": _sample_var(n, arm["sum_x"], arm["sum_x2"], clip=False),
        "cov": _sample_cov(n, arm["sum_y"], arm["sum_x"], arm["sum_xy"]),
    }


def _ratio_pair_moments(arm: Mapping[str, Any]) -> dict[str, np.ndarray]:
    r"""Ratios :math:`R = \sum y/\sum x`, :math:`R_0 = \sum y_0/\sum x_0`, linearised moments.

    With the 4 x 4 unbiased covariance matrix :math:`\Lambda` of :math:`(y, x, y_0, x_0)` and the
    gradients :math:`g = (1/\bar x, -R/\bar x, 0, 0)`, :math:`g_0 = (0, 0, 1/\bar x_0,
    -R_0/\bar x_0)`: ``var`` :math:`= g^\top \Lambda g`, ``pre_var`` :math:`= g_0^\top \Lambda
    g_0`, ``cov`` :math:`= g^\top \Lambda g_0` (per unit; divide by ``n`` for the variance of
    the ratio).
    """
    n = _arr(arm["n"])
    s = {k: _arr(arm[k]) for k in _FIELD_FACTORS}

    def cov(a: str, b: str, sab: str) -> np.ndarray:
        return _sample_cov(n, s[a], s[b], s[sab])

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(s["sum_x"] != 0, s["sum_y"] / s["sum_x"], np.nan)
        ratio0 = np.where(s["sum_x0"] != 0, s["sum_y0"] / s["sum_x0"], np.nan)
        mx = np.where(n > 0, s["sum_x"] / n, np.nan)
        mx0 = np.where(n > 0, s["sum_x0"] / n, np.nan)
        vyy = _sample_var(n, s["sum_y"], s["sum_y2"], clip=False)
        vxx = _sample_var(n, s["sum_x"], s["sum_x2"], clip=False)
        v00 = _sample_var(n, s["sum_y0"], s["sum_y02"], clip=False)
        vx0 = _sample_var(n, s["sum_x0"], s["sum_x02"], clip=False)
        c_xy = cov("sum_x", "sum_y", "sum_xy")
        c_y0x0 = cov("sum_x0", "sum_y0", "sum_x0_y0")
        c_y_y0 = cov("sum_y", "sum_y0", "sum_y_y0")
        c_y_x0 = cov("sum_y", "sum_x0", "sum_y_x0")
        c_x_y0 = cov("sum_x", "sum_y0", "sum_x_y0")
        c_x_x0 = cov("sum_x", "sum_x0", "sum_x_x0")
        var = (vyy - 2.0 * ratio * c_xy + ratio**2 * vxx) / mx**2
        pre_var = (v00 - 2.0 * ratio0 * c_y0x0 + ratio0**2 * vx0) / mx0**2
        cross = (c_y_y0 - ratio * c_x_y0 - ratio0 * c_y_x0 + ratio * ratio0 * c_x_x0) / (mx * mx0)
    return {"n": n, "est": ratio, "pre": ratio0, "var": var, "pre_var": pre_var, "cov": cross}


def _adjusted_arrays(
    c: Mapping[str, np.ndarray],
    t: Mapping[str, np.ndarray],
    pooled: Mapping[str, np.ndarray],
    theta: str | float,
    alpha: float,
    alternative: str,
) -> dict[str, np.ndarray]:
    """CUPED on per-arm (linearised) moments: theta, the adjusted effects, variance reduction."""
    pre_ok = np.isfinite(c["pre"]) & np.isfinite(t["pre"])
    th = _theta(
        theta, (c["n"], t["n"]), (c["cov"], t["cov"]), (c["pre_var"], t["pre_var"]),
        pooled["cov"], pooled["pre_var"],
    )  # fmt: skip
    th = np.where(pre_ok, th, 0.0)

    def usable(arm: Mapping[str, np.ndarray], key: str) -> np.ndarray:
        return np.where(pre_ok, arm[key], 0.0)

    out = _two_arm_arrays(
        c["n"], t["n"], c["est"], t["est"], c["var"], t["var"],
        pre_control=usable(c, "pre"), pre_treatment=usable(t, "pre"),
        pre_var_control=usable(c, "pre_var"), pre_var_treatment=usable(t, "pre_var"),
        cov_control=usable(c, "cov"), cov_treatment=usable(t, "cov"),
        theta=th, alpha=alpha, alternative=alternative,
    )  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        unadj_var = np.maximum(c["var"], 0.0) / c["n"] + np.maximum(t["var"], 0.0) / t["n"]
        adj_var = out["se"] ** 2
        reduction = np.where(unadj_var > 0, 1.0 - adj_var / unadj_var, np.nan)
    out |= {
        "theta": th,
        "variance_reduction": reduction,
        "unadjusted_diff": t["est"] - c["est"],
        "unadjusted_se": np.sqrt(unadj_var),
        "unadjusted_estimate_treatment": t["est"],
        "pre_control": c["pre"],
        "pre_treatment": t["pre"],
    }
    return out


def _cuped_arrays(
    control: Mapping[str, Any],
    treatment: Mapping[str, Any],
    theta: str | float = "pooled",
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> dict[str, np.ndarray]:
    """All figures of :func:`cuped_test` from arrays of sums.

    ``control`` and ``treatment`` map ``n``, ``sum_y``, ``sum_y2``, ``sum_x``, ``sum_x2``,
    ``sum_xy`` (``x`` the covariate) to scalars or arrays. The result has the keys of
    :func:`analysis.experiments.means._two_arm_arrays` plus ``theta``, ``variance_reduction``,
    ``unadjusted_diff``, ``unadjusted_se``, ``unadjusted_estimate_treatment``, ``pre_control``
    and ``pre_treatment``.
    """
    keys = ("n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy")
    pooled = _mean_moments({k: _arr(control[k]) + _arr(treatment[k]) for k in keys})
    return _adjusted_arrays(
        _mean_moments(control), _mean_moments(treatment), pooled, theta, alpha, alternative
    )


def _cuped_ratio_arrays(
    control: Mapping[str, Any],
    treatment: Mapping[str, Any],
    theta: str | float = "pooled",
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> dict[str, np.ndarray]:
    """All figures of :func:`cuped_ratio_test` from arrays of sums.

    ``control`` and ``treatment`` map the field names of :class:`RatioCupedStats` to scalars or
    arrays; the result has the keys of :func:`_cuped_arrays`.
    """
    keys = ("n", *_FIELD_FACTORS)
    pooled = _ratio_pair_moments({k: _arr(control[k]) + _arr(treatment[k]) for k in keys})
    return _adjusted_arrays(
        _ratio_pair_moments(control),
        _ratio_pair_moments(treatment),
        pooled,
        theta,
        alpha,
        alternative,
    )


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def _check_theta(theta: Any) -> str | float:
    if isinstance(theta, str):
        if theta not in _THETA_METHODS:
            raise ValueError(f"theta must be 'pooled', 'within' or a number, got {theta!r}")
        return theta
    if isinstance(theta, bool) or not isinstance(theta, numbers.Real):
        raise ValueError(f"theta must be 'pooled', 'within' or a number, got {theta!r}")
    if not math.isfinite(float(theta)):
        raise ValueError(f"theta must be finite, got {theta!r}")
    return float(theta)


def _percent(share: float) -> str:
    value = 100.0 * abs(share)
    return f"{value:.0f}%" if value >= 9.5 else f"{value:.2g}%"


def _cuped_notes(a: Mapping[str, float], theta_method: str | float, what: str) -> list[str]:
    how = {"pooled": "pooled over both arms", "within": "pooled within arms"}.get(
        str(theta_method), "fixed by the caller"
    )
    reduction = a["variance_reduction"]
    theta = a["theta"]
    if theta == 0:
        if isinstance(theta_method, str):
            return [
                f"The pre-period {what} has no usable variance, so CUPED made no adjustment "
                "(θ = 0)."
            ]
        return ["θ = 0 was given, so CUPED made no adjustment (the unadjusted test)."]
    if math.isnan(reduction):
        return []
    if reduction >= 0:
        text = (
            f"CUPED reduced the variance by {_percent(reduction)} (variance of the estimated "
            f"difference; θ = {theta:.4g}, {how})"
        )
        if 0.05 <= reduction < 1:
            text += (
                f": as precise as an unadjusted analysis with {1 / (1 - reduction):.2g}× the units."
            )
        else:
            text += "."
        return [text]
    return [
        f"CUPED increased the variance of the estimated difference by {_percent(reduction)} "
        f"(θ = {theta:.4g}, {how}): within arms the pre-period {what} does not predict the "
        "metric as θ assumes, so the adjustment does not help here."
    ]


def _cuped_extra(a: Mapping[str, float], theta_method: str | float) -> dict[str, Any]:
    return _relative_extra(a) | {
        "theta": a["theta"],
        "theta_method": theta_method if isinstance(theta_method, str) else "fixed",
        "variance_reduction": a["variance_reduction"],
        "unadjusted_diff": a["unadjusted_diff"],
        "unadjusted_se": a["unadjusted_se"],
        "unadjusted_estimate_treatment": a["unadjusted_estimate_treatment"],
        "pre_mean_control": a["pre_control"],
        "pre_mean_treatment": a["pre_treatment"],
    }


def cuped_test(
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    metric: str = "metric",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    control_name: str = "control",
    treatment_name: str = "treatment",
    theta: str | float = "pooled",
) -> Comparison:
    r"""Compare a mean metric between two arms with CUPED adjustment for a pre-period covariate.

    Each arm's statistics hold the metric in ``y`` and the pre-period covariate in ``x``. Per
    arm *a*: means :math:`\bar y_a, \bar x_a`, unbiased (ddof = 1) variances
    :math:`s^2_{y,a}, s^2_{x,a}` and covariance :math:`s_{xy,a}`.

    * **Coefficient** :math:`\theta`: with ``theta="pooled"`` (default, GrowthBook
      ``compute_theta``) :math:`\theta = s_{xy} / s_x^2` computed over both arms as one sample,
      ignoring the arm labels; with ``"within"`` the pooled within-arm slope
      :math:`\sum_a (n_a-1) s_{xy,a} / \sum_a (n_a-1) s^2_{x,a}`, which is the coefficient of
      :math:`x` in the OLS regression of :math:`y` on an arm indicator and :math:`x` (ANCOVA),
      so ``diff`` then equals that regression's arm coefficient; or a number (e.g. from a
      previous period). :math:`\theta` is treated as known (its estimation error is
      :math:`O(1/n)`). If the covariate has no variance, :math:`\theta = 0`.
    * **Absolute effect**
      ``diff`` :math:`= \bar y_t - \bar y_c - \theta (\bar x_t - \bar x_c)`, the difference of
      adjusted means :math:`\bar y_a - \theta(\bar x_a - \bar x)` for any common centre
      :math:`\bar x`. Adjusted per-unit variances
      :math:`V_a = s^2_{y,a} + \theta^2 s^2_{x,a} - 2 \theta s_{xy,a}` (the sample variance of
      :math:`y - \theta x` in the arm); ``se`` :math:`= \sqrt{V_t/n_t + V_c/n_c}`, Welch–
      Satterthwaite df from :math:`V_c, V_t`, t test and interval as in
      :func:`~analysis.experiments.means.welch_test`.
    * **Estimates**: ``estimate_control`` is the observed control mean :math:`\bar y_c` and
      ``estimate_treatment`` :math:`= \bar y_c + \text{diff} = \bar y_t - \theta(\bar x_t -
      \bar x_c)`, the treatment mean adjusted to the control arm's covariate mean; hence
      ``estimate_treatment / estimate_control - 1`` is the relative lift.
    * **Relative lift** :math:`L = \text{diff} / \bar y_c` (base: the *unadjusted* control
      mean), delta-method variance with the control mean random, as GrowthBook's
      ``frequentist_variance_relative_cuped``:
      :math:`\widehat{Var}(L) = \frac{V_t}{n_t \bar y_c^2} + \frac{k^2 s^2_{y,c} - 2\theta k\,
      s_{xy,c} + \theta^2 s^2_{x,c}}{n_c \bar y_c^2}`, :math:`k = \bar y_t / \bar y_c`; the
      gradient is evaluated at the unadjusted treatment mean, which is its expectation because
      randomisation makes :math:`E \bar x_t = E \bar x_c`. t statistic, p-value
      (``extra["relative_p_value"]``) and interval use the same Welch df.
    * **Variance reduction** ``extra["variance_reduction"]``
      :math:`= 1 - (V_t/n_t + V_c/n_c) / (s^2_{y,t}/n_t + s^2_{y,c}/n_c)`, about
      :math:`\rho^2` for a covariate with correlation :math:`\rho`; a note states it.

    Parameters
    ----------
    control, treatment : SufficientStats
        Sums of each arm with the pre-period covariate as the second variable (``sum_x`` ...).
    metric : str, default "metric"
        Metric name for the result.
    alpha : float, default 0.05
        Significance level; intervals have coverage ``1 - alpha``.
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        Alternative about treatment minus control (``"greater"``/``"less"`` are synonyms).
    control_name, treatment_name : str
        Labels of the arms.
    theta : {"pooled", "within"} or float, default "pooled"
        How :math:`\theta` is obtained (see above).

    Returns
    -------
    Comparison
        ``metric_type="mean"``. ``extra`` holds ``theta``, ``theta_method``,
        ``variance_reduction``, ``unadjusted_diff``, ``unadjusted_se``,
        ``unadjusted_estimate_treatment``, ``pre_mean_control``, ``pre_mean_treatment``,
        ``se``, ``relative_se``, ``relative_statistic``, ``relative_p_value``,
        ``var_control`` and ``var_treatment`` (adjusted per-unit variances).

    Raises
    ------
    TypeError
        If an arm is not :class:`SufficientStats`.
    ValueError
        If an arm has no covariate sums, or for an invalid ``alpha``, ``alternative`` or
        ``theta``.

    Notes
    -----
    The covariate must be measured before exposure; a covariate the treatment can move biases
    the effect. Degenerate inputs never raise: a covariate without variance gives
    :math:`\theta = 0` (the plain Welch test) and a note; arms with fewer than 2 units, zero
    adjusted variance in both arms or a control mean of 0 are handled as in
    :func:`~analysis.experiments.means.welch_test`, with a note.

    References
    ----------
    .. [1] Deng, A., Xu, Y., Kohavi, R. and Walker, T. (2013). Improving the sensitivity of
       online controlled experiments by utilizing pre-experiment data. WSDM '13, 123-132.
    .. [2] GrowthBook, CUPED, https://docs.growthbook.io/statistics/cuped

    Examples
    --------
    >>> c = SufficientStats(3001, 300, 600, 210, 415, -20)
    >>> t = SufficientStats(3000, 222, 555, 120, 405, -10)
    >>> res = cuped_test(c, t)
    >>> round(res.extra["theta"], 7), round(res.relative_lift, 9)
    (-0.0732119, -0.281707154)
    >>> round(res.extra["relative_p_value"], 9)
    0.003732549
    """
    _check_stats("control", control, need_x="CUPED (the pre-period covariate)")
    _check_stats("treatment", treatment, need_x="CUPED (the pre-period covariate)")
    alpha = _check_alpha(alpha)
    alternative = _check_alternative(alternative)
    theta = _check_theta(theta)
    raw = _cuped_arrays(control.to_dict(), treatment.to_dict(), theta, alpha, alternative)
    a = {k: float(v) for k, v in raw.items()}
    names = (str(control_name), str(treatment_name))
    notes = _common_notes(a, names, (control.n, treatment.n))
    if control.n >= 2 and treatment.n >= 2:
        notes += _cuped_notes(a, theta, "covariate")
    for name, arm in zip(names, (control, treatment), strict=True):
        notes += _impossible_sums_note(name, "the metric", arm.n, arm.sum_y, arm.sum_y2)
        notes += _impossible_sums_note(name, "the covariate", arm.n, arm.sum_x, arm.sum_x2)
    return _comparison(
        a,
        metric=metric,
        metric_type="mean",
        names=names,
        ns=(control.n, treatment.n),
        alpha=alpha,
        alternative=alternative,
        method="CUPED-adjusted Welch t test (sufficient statistics)",
        ci_method=CUPED_CI_METHOD,
        relative_ci_method=CUPED_RELATIVE_CI_METHOD,
        notes=notes,
        extra=_cuped_extra(a, theta),
    )


def cuped_ratio_test(
    control: RatioCupedStats,
    treatment: RatioCupedStats,
    *,
    metric: str = "metric",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    control_name: str = "control",
    treatment_name: str = "treatment",
    theta: str | float = "pooled",
) -> Comparison:
    r"""Compare a ratio metric between two arms with CUPED on the pre-period ratio.

    Per arm *a*: the experiment-period ratio :math:`R_a = \sum y / \sum x` and the pre-period
    ratio :math:`Q_a = \sum y_0 / \sum x_0`. Both are linearised by the delta method, with the
    unbiased 4 x 4 covariance matrix :math:`\Lambda_a` of :math:`(y, x, y_0, x_0)` and
    gradients :math:`g = (1/\bar x, -R/\bar x, 0, 0)`, :math:`g_0 = (0, 0, 1/\bar x_0,
    -Q/\bar x_0)`:

    .. math:: V_a = g^\top\Lambda_a g, \quad W_a = g_0^\top\Lambda_a g_0, \quad
              C_a = g^\top\Lambda_a g_0

    (per-unit variances of the two linearised ratios and their covariance). CUPED is then the
    regression adjustment of the mean case applied to these linearisations (Deng et al. 2018,
    GrowthBook ``RegressionAdjustedRatioStatistic``):

    * :math:`\theta`: ``"pooled"`` (default) :math:`C / W` computed from both arms' sums taken
      as one sample; ``"within"`` :math:`\sum_a (n_a-1) C_a / \sum_a (n_a-1) W_a`; or a number.
    * ``diff`` :math:`= R_t - R_c - \theta (Q_t - Q_c)`; adjusted per-unit variance
      :math:`V_a + \theta^2 W_a - 2\theta C_a`, standard error, Welch df, t test and interval
      exactly as :func:`cuped_test` (``estimate_treatment`` :math:`= R_c + \text{diff}`).
    * Relative lift :math:`\text{diff} / R_c` with the delta-method variance of
      :func:`cuped_test`, :math:`s^2_y, s^2_x, s_{xy}` replaced by :math:`V, W, C` and
      :math:`k = R_t / R_c`.
    * ``extra["variance_reduction"]`` compares with the unadjusted delta-method variance of
      :func:`~analysis.experiments.ratio.ratio_test`.

    With every denominator equal to 1 this is exactly :func:`cuped_test`; with
    :math:`\theta = 0` it is exactly :func:`~analysis.experiments.ratio.ratio_test`.

    Parameters
    ----------
    control, treatment : RatioCupedStats
        Sums of each arm (experiment-period and pre-period numerator and denominator).
    metric, alpha, alternative, control_name, treatment_name, theta
        As in :func:`cuped_test`.

    Returns
    -------
    Comparison
        ``metric_type="ratio"``; ``extra`` as in :func:`cuped_test` (``pre_mean_*`` are the
        pre-period ratios).

    Raises
    ------
    TypeError
        If an arm is not :class:`RatioCupedStats`.
    ValueError
        For an invalid ``alpha``, ``alternative`` or ``theta``.

    Notes
    -----
    GrowthBook differs in two details, both asymptotically negligible: its :math:`\theta` is
    :math:`(C_c + C_t)/(W_c + W_t)` (unweighted by arm size; equal to ``"within"`` when the
    arms have equal size), and its relative-lift gradient uses the adjusted treatment ratio
    instead of :math:`R_t`. Here one formula serves means and ratios. Degenerate inputs never
    raise: an experiment-period denominator summing to 0 makes that ratio undefined (NaN
    figures and a note); a pre-period denominator summing to 0 in either arm, or a pre-period
    ratio without variance, gives :math:`\theta = 0` (the plain delta-method test) and a note.

    References
    ----------
    .. [1] Deng, A., Knoblich, U. and Lu, J. (2018). Applying the delta method in metric
       analytics: a practical guide with novel ideas. KDD '18, 233-242.
    .. [2] GrowthBook, CUPED technical details, https://docs.growthbook.io/statistics/cuped
    """
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, RatioCupedStats):
            raise TypeError(f"{name} must be RatioCupedStats, got {type(arm).__name__}")
    alpha = _check_alpha(alpha)
    alternative = _check_alternative(alternative)
    theta = _check_theta(theta)
    raw = _cuped_ratio_arrays(control.to_dict(), treatment.to_dict(), theta, alpha, alternative)
    a = {k: float(v) for k, v in raw.items()}
    names = (str(control_name), str(treatment_name))
    arms = (control, treatment)
    notes = [
        f"The {name} arm's denominator sums to 0, so its ratio is undefined (NaN)."
        for name, arm in zip(names, arms, strict=True)
        if arm.sum_x == 0
    ]
    defined = not notes and control.n >= 2 and treatment.n >= 2
    notes += _common_notes(a, names, (control.n, treatment.n), what="ratio")
    pre_zero = [name for name, arm in zip(names, arms, strict=True) if arm.sum_x0 == 0]
    if pre_zero:
        notes.append(
            f"The pre-period denominator sums to 0 in the {' and '.join(pre_zero)} arm, so the "
            "pre-period ratio is undefined and CUPED made no adjustment (θ = 0)."
        )
    elif defined:
        notes += _cuped_notes(a, theta, "ratio")
    for name, arm in zip(names, arms, strict=True):
        for label, s, s2 in (
            ("the numerator", arm.sum_y, arm.sum_y2),
            ("the denominator", arm.sum_x, arm.sum_x2),
            ("the pre-period numerator", arm.sum_y0, arm.sum_y02),
            ("the pre-period denominator", arm.sum_x0, arm.sum_x02),
        ):
            notes += _impossible_sums_note(name, label, arm.n, s, s2)
    return _comparison(
        a,
        metric=metric,
        metric_type="ratio",
        names=names,
        ns=(control.n, treatment.n),
        alpha=alpha,
        alternative=alternative,
        method="CUPED-adjusted delta-method t test for a ratio of sums (Welch df)",
        ci_method=CUPED_RATIO_CI_METHOD,
        relative_ci_method=CUPED_RELATIVE_CI_METHOD,
        notes=notes,
        extra=_cuped_extra(a, theta),
    )
