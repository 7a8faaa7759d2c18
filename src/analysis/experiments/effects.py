"""The result of comparing one metric between a treatment arm and the control arm.

Every test in :mod:`analysis.experiments` (Welch, delta-method ratio, CUPED, Mann–Whitney,
bootstrap, sequential) returns a :class:`Comparison`; binary metrics use
:class:`~analysis.experiments.proportions.ProportionComparison`, which has the same core fields
(``diff``, ``diff_ci``, ``relative_lift``, ``relative_lift_ci``, ``p_value``, ``alpha``,
``significant``, ``ci_method``, ``relative_ci_method``), so reports treat both alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.results import Result


def _fmt(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def _fmt_p(p: float) -> str:
    """``p = 0.012`` or ``p < 0.001`` (``p n/a`` when undefined)."""
    if p is None or math.isnan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


@dataclass(frozen=True)
class Comparison(Result):
    """Treatment vs control on one metric.

    Attributes
    ----------
    metric : str
        Metric name.
    metric_type : str
        ``mean``, ``ratio``, ``binary``, ``rank`` (Mann–Whitney), or the bootstrapped statistic
        (``mean``, ``median`` or a callable's name).
    control_name, treatment_name : str
    n_control, n_treatment : int
        Units in each arm.
    estimate_control, estimate_treatment : float
        Per-arm estimate (mean, ratio of sums, adjusted mean for CUPED; NaN for rank tests).
    diff, diff_ci : float, (float, float)
        Absolute effect treatment − control and its interval at level 1 − alpha (for rank tests
        the location shift or NaN; see ``method``).
    relative_lift, relative_lift_ci : float, (float, float)
        ``estimate_treatment / estimate_control − 1`` and its interval (NaN if undefined).
    statistic : float
        Test statistic (t, z, W, ...), see ``method``.
    df : float
        Degrees of freedom where the test has them (Welch), else NaN.
    p_value : float
    alpha : float
    alternative : str
        ``two-sided``, ``larger`` (treatment > control) or ``smaller``.
    method : str
        Name of the test, e.g. ``"Welch t test (sufficient statistics)"``.
    ci_method, relative_ci_method : str
        How each interval was computed (intervals for a relative lift are not unique).
    notes : tuple of str
        Caveats in plain words (variance reduction achieved, degenerate arms, ...).
    extra : dict
        Method-specific figures (e.g. CUPED ``theta`` and ``variance_reduction``).
    """

    metric: str
    metric_type: str
    control_name: str
    treatment_name: str
    n_control: int
    n_treatment: int
    estimate_control: float
    estimate_treatment: float
    diff: float
    diff_ci: tuple[float, float]
    relative_lift: float
    relative_lift_ci: tuple[float, float]
    statistic: float
    df: float
    p_value: float
    alpha: float
    alternative: str
    method: str
    ci_method: str
    relative_ci_method: str
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    title: str = "Comparison"

    @property
    def significant(self) -> bool:
        """Whether ``p_value < alpha``."""
        return bool(self.p_value < self.alpha)

    def to_frame(self) -> pd.DataFrame:
        level = 1 - self.alpha
        return pd.DataFrame(
            [
                {
                    "term": self.control_name,
                    "n": self.n_control,
                    "estimate": self.estimate_control,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "method": "",
                },
                {
                    "term": self.treatment_name,
                    "n": self.n_treatment,
                    "estimate": self.estimate_treatment,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "method": "",
                },
                {
                    "term": "difference",
                    "n": pd.NA,
                    "estimate": self.diff,
                    "ci_low": self.diff_ci[0],
                    "ci_high": self.diff_ci[1],
                    "method": f"{self.method}; {self.ci_method}",
                },
                {
                    "term": "relative lift",
                    "n": pd.NA,
                    "estimate": self.relative_lift,
                    "ci_low": self.relative_lift_ci[0],
                    "ci_high": self.relative_lift_ci[1],
                    "method": self.relative_ci_method,
                },
            ]
        ).assign(ci_level=level, p_value=[math.nan, math.nan, self.p_value, math.nan])

    def summary(self) -> str:
        level = f"{1 - self.alpha:.0%}"
        verdict = (
            f"significant at α = {self.alpha:g}"
            if self.significant
            else f"not significant at α = {self.alpha:g}"
        )
        parts = [f"{self.metric}:"]
        if not (math.isnan(self.estimate_treatment) or math.isnan(self.estimate_control)):
            parts.append(
                f"{self.treatment_name} {_fmt(self.estimate_treatment)} vs "
                f"{self.control_name} {_fmt(self.estimate_control)};"
            )
        label = "difference" if self.metric_type != "rank" else "location shift"
        parts.append(
            f"{label} {_fmt(self.diff)} ({level} CI {_fmt(self.diff_ci[0])} to "
            f"{_fmt(self.diff_ci[1])})"
        )
        if not math.isnan(self.relative_lift):
            low, high = self.relative_lift_ci
            interval = (
                f" ({level} CI {low:+.1%} to {high:+.1%})"
                if not (math.isnan(low) or math.isnan(high))
                else ""
            )
            parts[-1] += f", relative {self.relative_lift:+.1%}{interval}"
        text = " ".join(parts) + f"; {_fmt_p(self.p_value)}, {verdict} [{self.method}]."
        if self.notes:
            text += " " + " ".join(self.notes)
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 1.6))
        low, high = self.diff_ci
        ax.errorbar([self.diff], [0], xerr=[[self.diff - low], [high - self.diff]], fmt="o")
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set_yticks([0], [self.metric])
        ax.set_xlabel(f"{self.treatment_name} − {self.control_name} ({1 - self.alpha:.0%} CI)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        return to_jsonable(
            {
                "metric": self.metric,
                "metric_type": self.metric_type,
                "control_name": self.control_name,
                "treatment_name": self.treatment_name,
                "n_control": self.n_control,
                "n_treatment": self.n_treatment,
                "estimate_control": self.estimate_control,
                "estimate_treatment": self.estimate_treatment,
                "diff": self.diff,
                "diff_ci": list(self.diff_ci),
                "relative_lift": self.relative_lift,
                "relative_lift_ci": list(self.relative_lift_ci),
                "statistic": self.statistic,
                "df": self.df,
                "p_value": self.p_value,
                "alpha": self.alpha,
                "alternative": self.alternative,
                "significant": self.significant,
                "method": self.method,
                "ci_method": self.ci_method,
                "relative_ci_method": self.relative_ci_method,
                "notes": list(self.notes),
                "extra": self.extra,
            }
        )
