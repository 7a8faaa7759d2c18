"""The experiment study's result: ExperimentAnalysis, its tables, plots and verdict sentences.

Returned by :func:`~analysis.experiments.study.analyse_experiment` and
:func:`~analysis.experiments.study.analyse_unit_table`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.experiments.effects import Comparison
from analysis.experiments.srm import SampleRatioCheck
from analysis.results import Result


@dataclass(frozen=True)
class ExperimentAnalysis(Result):
    """Everything the experiment study found.

    Attributes
    ----------
    experiment_id, control, mode, correction : str
    alpha : float
    srm : SampleRatioCheck
        Sample ratio mismatch check of the assigned units.
    comparisons : tuple of Comparison
        One per metric × treatment arm (see :class:`~analysis.experiments.effects.Comparison`).
    decisions : pandas.DataFrame
        Role, adjusted p-value and decision per metric × arm (``corrections.decide``).
    segments : pandas.DataFrame
        Per segment value × metric × arm: n, difference, interval, p and BH-adjusted p.
    retention : pandas.DataFrame
        Share active in week 1 … 8 after assignment per arm (community experiments).
    novelty : pandas.DataFrame
        Effect (treatment − control) on weekly activity by week since assignment, with intervals.
    plan : Any
        "How much longer to run" for the first primary metric (a ``PowerPlan``), or None.
    bayes : dict
        ``(metric, arm)`` → Bayesian result (chance to beat control, expected loss, credible
        interval): Beta–Binomial for binary metrics, normal approximation for means.
    interference : Any
        Spillover check on the reply graph (community experiments), or None.
    notes : tuple of str
        Methods used, skipped steps and why.
    """

    experiment_id: str
    control: str
    mode: str
    alpha: float
    correction: str
    srm: SampleRatioCheck
    comparisons: tuple[Comparison, ...]
    decisions: pd.DataFrame = field(repr=False)
    segments: pd.DataFrame = field(repr=False)
    retention: pd.DataFrame = field(repr=False)
    novelty: pd.DataFrame = field(repr=False)
    plan: Any = None
    interference: Any = None
    bayes: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    notes: tuple[str, ...] = ()
    title: str = "Experiment"

    def comparison(self, metric: str, arm: str | None = None) -> Comparison:
        """The comparison of ``metric`` (for ``arm``, or the only treatment arm)."""
        found = [
            c
            for c in self.comparisons
            if c.metric == metric and (arm is None or c.treatment_name == arm)
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} comparisons for metric {metric!r}, arm {arm!r}")
        return found[0]

    def verdicts(self) -> list[str]:
        """One plain-language sentence per metric × arm, then the checks."""
        lines = [verdict_sentence(c, self._decision(c)) for c in self.comparisons]
        lines.append(self.srm.summary())
        held = self._week4_statement()
        if held:
            lines.append(held)
        return lines

    def _decision(self, c: Comparison) -> str:
        rows = self.decisions[
            (self.decisions["metric"] == c.metric) & (self.decisions["arm"] == c.treatment_name)
        ]
        return str(rows["decision"].iloc[0]) if len(rows) else ""

    def _week4_statement(self) -> str:
        week4 = self.novelty[self.novelty["week"] == 4] if len(self.novelty) else self.novelty
        if week4 is None or week4.empty:
            return ""
        row = week4.iloc[0]
        if row["ci_low"] > 0 or row["ci_high"] < 0:
            direction = "holds" if row["diff"] > 0 else "reverses"
            return (
                f"The effect {direction} at week 4: {_pp(row['diff'])} pp in weekly "
                f"activity (95% CI {_pp(row['ci_low'])} to {_pp(row['ci_high'])})."
            )
        return (
            f"At week 4 the difference in weekly activity is {_pp(row['diff'])} pp "
            f"(95% CI {_pp(row['ci_low'])} to {_pp(row['ci_high'])}): not "
            f"distinguishable from no effect."
        )

    def to_frame(self) -> pd.DataFrame:
        return self.decisions.copy()

    def results_table(self) -> pd.DataFrame:
        """One readable row per metric × arm: values, effect with interval, p, decision."""
        rows = []
        for c in self.comparisons:
            pct = c.metric_type == "binary"
            rows.append(
                {
                    "metric": c.metric,
                    "arm": c.treatment_name,
                    "control": _value(c.estimate_control, pct),
                    "treatment": _value(c.estimate_treatment, pct),
                    "effect": _effect(c.diff, pct),
                    f"{1 - c.alpha:.0%} CI": _interval(c.diff_ci, pct),
                    "relative": _relative(c.relative_lift),
                    "p": _p(c.p_value),
                    "adjusted p": _p(self._adjusted(c)),
                    "P(beat control)": _chance(self.bayes.get((c.metric, c.treatment_name))),
                    "decision": self._decision(c),
                    "method": c.method,
                }
            )
        return pd.DataFrame(rows)

    def _adjusted(self, c: Comparison) -> float:
        rows = self.decisions[
            (self.decisions["metric"] == c.metric) & (self.decisions["arm"] == c.treatment_name)
        ]
        return float(rows["adjusted_p"].iloc[0]) if len(rows) else math.nan

    def segment_table(self) -> pd.DataFrame:
        """Segments formatted for reading (Benjamini–Hochberg adjusted p per metric)."""
        if self.segments.empty:
            return self.segments
        seg = self.segments
        binary = {c.metric for c in self.comparisons if c.metric_type == "binary"}
        pct = seg["metric"].isin(binary)
        return pd.DataFrame(
            {
                "segment": seg["segment"] + " = " + seg["value"],
                "metric": seg["metric"],
                "arm": seg["arm"],
                "units": (seg["n_control"] + seg["n_treatment"]).map("{:,}".format),
                "effect": [_effect(d, b) for d, b in zip(seg["diff"], pct, strict=True)],
                "95% CI": [
                    _interval((lo, hi), b)
                    for lo, hi, b in zip(seg["ci_low"], seg["ci_high"], pct, strict=True)
                ],
                "adjusted p": seg["adjusted_p"].map(_p),
            }
        )

    def checks(self) -> list[str]:
        """The trust checks in plain words: sample ratio, time to run, interference, notes."""
        lines = [self.srm.summary()]
        if self.plan is not None:
            lines.append(self.plan.summary())
        if self.interference is not None:
            lines.append(self.interference.summary())
        lines.extend(self.notes)
        return lines

    def summary(self) -> str:
        return " ".join(self.verdicts())

    def plot(self, ax: Any = None) -> Any:
        """Forest plot: each metric × arm's relative effect with its interval."""
        import matplotlib.pyplot as plt

        rows = [
            (f"{c.metric} ({c.treatment_name})", c.relative_lift, *c.relative_lift_ci)
            for c in self.comparisons
        ]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.55 * len(rows) + 1.2))
        for i, (_, est, low, high) in enumerate(rows):
            if math.isnan(est):
                continue
            ax.errorbar(
                [est * 100],
                [i],
                xerr=[[max(est - low, 0) * 100], [max(high - est, 0) * 100]],
                fmt="o",
                capsize=3,
            )
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel(f"relative effect vs {self.control}, % ({1 - self.alpha:.0%} interval)")
        ax.set_title("Effects by metric")
        return ax

    def plot_retention(self, ax: Any = None) -> Any:
        """Share of units active in each week after assignment, per arm."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        if self.retention.empty:
            ax.text(0.5, 0.5, "no retention data", ha="center", transform=ax.transAxes)
            return ax
        sns.lineplot(data=self.retention, x="week", y="rate", hue="variant", marker="o", ax=ax)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_xlabel("week after assignment")
        ax.set_ylabel("active in that week")
        ax.set_title("Retention by arm")
        return ax

    def plot_novelty(self, ax: Any = None) -> Any:
        """Effect on weekly activity by week since assignment, with 95% intervals."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3))
        data = self.novelty
        if data.empty:
            ax.text(0.5, 0.5, "no weekly data", ha="center", transform=ax.transAxes)
            return ax
        for arm, part in data.groupby("arm"):
            ax.plot(part["week"], part["diff"] * 100, marker="o", label=str(arm))
            ax.fill_between(part["week"], part["ci_low"] * 100, part["ci_high"] * 100, alpha=0.2)
        ax.axhline(0, color="grey", lw=1, ls="--")
        ax.set_xlabel("week after assignment")
        ax.set_ylabel("difference vs control, pp")
        ax.set_title("Does the effect fade? (novelty check)")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        metrics = []
        for c in self.comparisons:
            metrics.append(
                {
                    "metric": c.metric,
                    "arm": c.treatment_name,
                    "effect": c.diff,
                    "ci": list(c.diff_ci),
                    "relative_effect": c.relative_lift,
                    "relative_ci": list(c.relative_lift_ci),
                    "p_value": c.p_value,
                    "method": c.method,
                    "decision": self._decision(c),
                    "chance_to_beat_control": None
                    if (c.metric, c.treatment_name) not in self.bayes
                    else self.bayes[(c.metric, c.treatment_name)].chance_to_win,
                }
            )
        return to_jsonable(
            {
                "experiment_id": self.experiment_id,
                "mode": self.mode,
                "correction": self.correction,
                "alpha": self.alpha,
                "srm_p_value": self.srm.p_value,
                "srm_ok": self.srm.ok,
                "metrics": metrics,
                "days_to_run": None if self.plan is None else self.plan.days_remaining,
                "interference": None if self.interference is None else self.interference.summary(),
            }
        )


def _pp(v: float) -> str:
    """Percentage points with a sign, ``+2.8``; a value that rounds to zero is ``0.0``."""
    text = f"{v * 100:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _value(v: float, pct: bool) -> str:
    return "" if math.isnan(v) else (f"{v:.1%}" if pct else f"{v:,.3g}")


def _effect(v: float, pct: bool) -> str:
    return "" if math.isnan(v) else (f"{_pp(v)} pp" if pct else f"{v:+,.3g}")


def _interval(ci: tuple[float, float], pct: bool) -> str:
    lo, hi = ci
    if math.isnan(lo) or math.isnan(hi):
        return ""
    if pct:
        return f"{_pp(lo)} to {_pp(hi)}"
    return f"{lo:+,.3g} to {hi:+,.3g}"


def _chance(result: Any) -> str:
    return "" if result is None else f"{result.chance_to_win:.0%}"


def _relative(v: float) -> str:
    return "" if math.isnan(v) else f"{v:+.1%}"


def _p(p: float) -> str:
    if p is None or math.isnan(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def verdict_sentence(c: Comparison, decision: str = "") -> str:
    """ "Variant B raised first_post_7d from 18.2% to 21.0% (+2.8 pp, 95% CI +1.1 to +4.5;
    p = 0.002)." — the plain-language line for one metric × arm."""
    level = f"{1 - c.alpha:.0%}"
    low, high = c.diff_ci
    if c.metric_type == "binary":
        values = f"from {c.estimate_control:.1%} to {c.estimate_treatment:.1%}"
        effect = f"{_pp(c.diff)} pp, {level} CI {_pp(low)} to {_pp(high)}"
    else:
        values = f"from {c.estimate_control:.3g} to {c.estimate_treatment:.3g}"
        effect = f"{c.diff:+.3g}, {level} CI {low:+.3g} to {high:+.3g}"
    p = "p < 0.001" if c.p_value < 0.001 else f"p = {c.p_value:.3f}"
    significant = c.p_value < c.alpha
    if significant:
        verb = "raised" if c.diff > 0 else "lowered"
        sentence = f"{c.treatment_name} {verb} {c.metric} {values} ({effect}; {p})."
    else:
        sentence = (
            f"{c.treatment_name} did not detectably change {c.metric}: {values} ({effect}; {p})."
        )
    if decision:
        sentence += f" Decision: {decision}."
    return sentence
