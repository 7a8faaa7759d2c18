"""The A/B experiment study: every metric of an experiment, tested the right way, in one call.

:func:`analyse_experiment` (units from the community's ``assignments``, metrics from activity)
and :func:`analyse_unit_table` (a per-unit table an analyst brings) share one path:

1. **Sufficient statistics** per variant (and segment) are computed by the engine
   (:mod:`analysis.experiments.sufficient`); only sums leave it.
2. **Sample ratio mismatch** is checked on every analysis (χ² against the planned weights,
   warning at p < 0.001; :func:`~analysis.experiments.design.sample_ratio_mismatch`).
3. **Each metric × treatment arm** is compared with control by the test its type calls for:
   binary → pooled two-proportion z (Newcombe interval); mean → Welch t, or CUPED when a
   pre-period covariate with variance is available; ratio → delta method with the covariance
   term; clustered units (a cluster column) → OLS with cluster-robust (CR1) errors. In
   ``mode="sequential"`` the intervals and p-values are always-valid asymptotic confidence
   sequences (Waudby-Smith et al. 2023), so a daily scheduled report can be read every day.
4. **Decisions**: Holm or Benjamini–Hochberg across the primary metrics × arms, and separately
   across the secondary ones; guardrails get one-sided non-inferiority tests outside the
   correction family (:func:`~analysis.experiments.corrections.decide`).
5. **Segments** (acquisition source, join cohort, activity level, or the table's segment
   columns) with Benjamini–Hochberg across segment rows; **retention by week** per arm and the
   **effect by week since assignment** (novelty fading); **how much longer to run** for the
   first primary metric; and, for community experiments, an **interference check** on the reply
   graph (do control members with more treated neighbours behave differently?).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.experiments.bayes import bayes_binomial, bayes_means
from analysis.experiments.corrections import MetricFamily, adjust_pvalues, decide
from analysis.experiments.cuped import cuped_test
from analysis.experiments.design import (
    SampleRatioCheck,
    cluster_robust_difference,
    sample_ratio_mismatch,
    spillover_check,
)
from analysis.experiments.effects import Comparison
from analysis.experiments.means import welch_test
from analysis.experiments.nonparametric import mann_whitney
from analysis.experiments.power import sample_size_means, sample_size_proportions, time_to_run
from analysis.experiments.ratio import ratio_test
from analysis.experiments.sequential import (
    sequential_from_comparison,
    sequential_proportions,
    sequential_welch,
)
from analysis.experiments.sufficient import SufficientStats, stats_from_frame
from analysis.experiments.tests import (
    ProportionComparison,
    proportions_chi2_test,
    two_proportion_test,
)
from analysis.experiments.unit_metrics import (
    COVARIATE,
    MAX_WEEKS,
    SEGMENTS,
    UnitMetric,
    community_metric,
    metric_stats,
    unit_outcomes_expr,
)
from analysis.experiments.unit_table import UnitTable
from analysis.results import Result

MODES = ("fixed", "sequential")
#: Units per arm read for the rank (Mann–Whitney) check; larger arms are sampled with a seed.
RANK_CHECK_MAX_UNITS = 200_000
DEFAULT_METRICS = ("first_post_7d", "retained_week4", "messages_28d", "replies_per_message_28d")


def as_comparison(result: ProportionComparison, metric: str) -> Comparison:
    """A two-proportion result in the common :class:`Comparison` shape."""
    return Comparison(
        metric=metric,
        metric_type="binary",
        control_name=result.control_name,
        treatment_name=result.treatment_name,
        n_control=result.n_control,
        n_treatment=result.n_treatment,
        estimate_control=result.rate_control,
        estimate_treatment=result.rate_treatment,
        diff=result.diff,
        diff_ci=tuple(result.diff_ci),
        relative_lift=result.relative_lift,
        relative_lift_ci=tuple(result.relative_lift_ci),
        statistic=result.z,
        df=math.nan,
        p_value=result.p_value,
        alpha=result.alpha,
        alternative=result.alternative,
        method="pooled two-proportion z test",
        ci_method=result.ci_method,
        relative_ci_method=result.relative_ci_method,
    )


@dataclass(frozen=True)
class _Source:
    """Where per-unit data lives: an ibis table and the function that executes expressions."""

    per_unit: Any
    execute: Any
    metrics: tuple[UnitMetric, ...]
    covariate: str | None
    cluster: str | None
    segments: tuple[str, ...]
    assigned: dict[str, int]


def _compare(
    metric: UnitMetric,
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    names: tuple[str, str],
    alpha: float,
    mode: str,
    tuning_n: float,
    use_cuped: bool,
) -> Comparison:
    kw = {"metric": metric.name, "alpha": alpha, "control_name": names[0]}
    kw["treatment_name"] = names[1]
    if metric.kind == "binary":
        sc, nc = round(control.sum_y), control.n
        st, nt = round(treatment.sum_y), treatment.n
        if mode == "sequential":
            return sequential_proportions(sc, nc, st, nt, tuning_n=tuning_n, **kw)
        return as_comparison(
            two_proportion_test(sc, nc, st, nt, alpha=alpha, **_names(names)), metric.name
        )
    if metric.kind == "ratio":
        fixed = ratio_test(control, treatment, **kw)
        return (
            sequential_from_comparison(fixed, tuning_n=tuning_n) if mode == "sequential" else fixed
        )
    if mode == "sequential":
        return sequential_welch(_y_only(control), _y_only(treatment), tuning_n=tuning_n, **kw)
    if use_cuped:
        return cuped_test(control, treatment, **kw)
    return welch_test(_y_only(control), _y_only(treatment), **kw)


def _names(names: tuple[str, str]) -> dict[str, str]:
    return {"control_name": names[0], "treatment_name": names[1]}


def _y_only(stats: SufficientStats) -> SufficientStats:
    return SufficientStats(stats.n, stats.sum_y, stats.sum_y2)


def _covariate_has_variance(stats: Mapping[str, SufficientStats]) -> bool:
    pooled = None
    for s in stats.values():
        pooled = s if pooled is None else pooled + s
    return bool(pooled is not None and pooled.has_x and pooled.n > 2 and pooled.var_x > 1e-12)


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
                f"The effect {direction} at week 4: {row['diff'] * 100:+.1f} pp in weekly "
                f"activity (95% CI {row['ci_low'] * 100:+.1f} to {row['ci_high'] * 100:+.1f})."
            )
        return (
            f"At week 4 the difference in weekly activity is {row['diff'] * 100:+.1f} pp "
            f"(95% CI {row['ci_low'] * 100:+.1f} to {row['ci_high'] * 100:+.1f}): not "
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


def _value(v: float, pct: bool) -> str:
    return "" if math.isnan(v) else (f"{v:.1%}" if pct else f"{v:,.3g}")


def _effect(v: float, pct: bool) -> str:
    return "" if math.isnan(v) else (f"{v * 100:+.1f} pp" if pct else f"{v:+,.3g}")


def _interval(ci: tuple[float, float], pct: bool) -> str:
    lo, hi = ci
    if math.isnan(lo) or math.isnan(hi):
        return ""
    if pct:
        return f"{lo * 100:+.1f} to {hi * 100:+.1f}"
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
        effect = f"{c.diff * 100:+.1f} pp, {level} CI {low * 100:+.1f} to {high * 100:+.1f}"
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


def _metric_table(source: _Source, metric: UnitMetric, by: tuple[str, ...]) -> pd.DataFrame:
    covariate = source.covariate if metric.kind == "mean" else None
    return metric_stats(source.per_unit, metric, execute=source.execute, by=by, covariate=covariate)


def _analyse(
    source: _Source,
    *,
    experiment_id: str,
    control: str,
    alpha: float,
    mode: str,
    correction: str,
    primary: Sequence[str],
    guardrails: Mapping[str, float],
    lower_is_better: Sequence[str],
    planned_weights: Mapping[str, float] | None,
    tuning_n: float | None,
    target_lift: float,
    days_running: float | None,
) -> tuple[list[Comparison], pd.DataFrame, pd.DataFrame, Any, list[str], SampleRatioCheck]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if control not in source.assigned:
        raise ValueError(
            f"experiment {experiment_id!r} has no variant {control!r}; variants present: "
            f"{sorted(source.assigned)}"
        )
    arms = [v for v in sorted(source.assigned) if v != control]
    if not arms:
        raise ValueError(
            f"experiment {experiment_id!r} has only the variant {control!r}: nothing to compare"
        )
    srm = sample_ratio_mismatch(source.assigned, planned_weights)
    n_total = sum(source.assigned.values())
    tuning = float(tuning_n) if tuning_n else float(max(n_total, 100))
    notes: list[str] = []
    comparisons: list[Comparison] = []
    for metric in source.metrics:
        stats = stats_from_frame(_metric_table(source, metric, ("variant",)))
        has_covariate = metric.kind == "mean" and source.covariate is not None
        use_cuped = has_covariate and _covariate_has_variance(stats)
        if has_covariate and not use_cuped:
            notes.append(
                f"CUPED not applied to {metric.name}: the pre-period covariate has no variance "
                f"(for example, every unit is new)."
            )
        for arm in arms:
            if control not in stats or arm not in stats or min(stats[control].n, stats[arm].n) == 0:
                notes.append(f"{metric.name}: no exposed units in {arm} or {control} yet.")
                continue
            if source.cluster and mode == "fixed" and metric.kind != "ratio":
                comparisons.append(_clustered(source, metric, control, arm, alpha))
                continue
            comparisons.append(
                _compare(
                    metric,
                    stats[control],
                    stats[arm],
                    names=(control, arm),
                    alpha=alpha,
                    mode=mode,
                    tuning_n=tuning,
                    use_cuped=use_cuped,
                )
            )
    measured = [c.metric for c in comparisons]
    primary = [m for m in primary if m in measured] or measured[:1]
    family = MetricFamily(
        primary=primary,
        secondary=[m for m in dict.fromkeys(measured) if m not in primary and m not in guardrails],
        guardrails={m: v for m, v in guardrails.items() if m in measured},
        lower_is_better=lower_is_better,
        method=correction,
        alpha=alpha,
    )
    decisions = decide(comparisons, family) if comparisons else pd.DataFrame()
    segments = _segments(source, control, arms, alpha)
    plan = _plan(source, comparisons, primary, control, target_lift, days_running, alpha)
    bayes = _bayes(source, control, arms, alpha)
    notes.extend(_omnibus(source, control, arms))
    notes.extend(_rank_checks(source, comparisons, control))
    return comparisons, decisions, segments, plan, notes, srm, bayes


def _bayes(source: _Source, control: str, arms: list[str], alpha: float) -> dict:
    """Chance to beat control and risk per binary / mean metric × arm (flat priors)."""
    out = {}
    for metric in source.metrics:
        if metric.kind == "ratio":
            continue
        stats = stats_from_frame(_metric_table(source, metric, ("variant",)))
        for arm in arms:
            c, t = stats.get(control), stats.get(arm)
            if c is None or t is None or min(c.n, t.n) < 2:
                continue
            kw = {"metric": metric.name, "alpha": alpha, "control_name": control}
            kw["treatment_name"] = arm
            if metric.kind == "binary":
                out[(metric.name, arm)] = bayes_binomial(
                    round(c.sum_y), c.n, round(t.sum_y), t.n, **kw
                )
            elif c.mean_y != 0:
                out[(metric.name, arm)] = bayes_means(_y_only(c), _y_only(t), **kw)
    return out


def _omnibus(source: _Source, control: str, arms: list[str]) -> list[str]:
    """With more than one treatment arm: Pearson χ² across all arms for each binary metric."""
    if len(arms) < 2:
        return []
    lines = []
    for metric in source.metrics:
        if metric.kind != "binary":
            continue
        stats = stats_from_frame(_metric_table(source, metric, ("variant",)))
        names = [v for v in [control, *arms] if v in stats and stats[v].n > 0]
        test = proportions_chi2_test(
            [round(stats[v].sum_y) for v in names], [stats[v].n for v in names], names=names
        )
        p = "< 0.001" if test.p_value < 0.001 else f"{test.p_value:.3f}"
        lines.append(
            f"All arms together on {metric.name}: χ²({test.df:g}) = {test.statistic:.2f}, "
            f"p = {p} (Pearson, no continuity correction)."
        )
    return lines


def _rank_checks(source: _Source, comparisons: list[Comparison], control: str) -> list[str]:
    """Mann–Whitney on the per-unit values of mean metrics: is the result driven by outliers?"""
    lines = []
    for c in comparisons:
        metric = community_or_table_metric(source, c.metric)
        if metric.kind != "mean" or source.cluster:
            continue
        table = source.per_unit.filter(source.per_unit.days_observed >= metric.window_days)
        values = {}
        for arm in (control, c.treatment_name):
            part = table.filter(table.variant == arm)
            column = part[metric.column].cast("float64").name("y")
            frame = source.execute(part.select(column))
            y = frame["y"].to_numpy()
            if len(y) > RANK_CHECK_MAX_UNITS:
                rng = np.random.default_rng(0)
                y = rng.choice(y, RANK_CHECK_MAX_UNITS, replace=False)
            values[arm] = y
        if min(len(v) for v in values.values()) < 2:
            continue
        rank = mann_whitney(
            values[control],
            values[c.treatment_name],
            metric=c.metric,
            method="asymptotic",
            alpha=c.alpha,
        )
        agree = (rank.p_value < c.alpha) == (c.p_value < c.alpha)
        lines.append(
            f"Rank check for {c.metric} ({c.treatment_name}): Mann–Whitney p = "
            f"{rank.p_value:.3f}, probability that a treated unit exceeds a control unit "
            f"{rank.extra['prob_superiority']:.2f}; "
            + (
                "agrees with the test on means."
                if agree
                else "DISAGREES with the test on "
                "means: the mean effect may be driven by a few extreme units."
            )
        )
    return lines


def _clustered(source: _Source, metric: UnitMetric, control: str, arm: str, alpha: float) -> Any:
    cols = ["variant", metric.column, source.cluster]
    table = source.per_unit.filter(source.per_unit.variant.isin([control, arm]))
    if metric.window_days:
        table = table.filter(table.days_observed >= metric.window_days)
    frame = source.execute(table.select(*cols))
    frame["treated"] = (frame["variant"] == arm).astype(float)
    result = cluster_robust_difference(frame, metric.column, "treated", source.cluster, control=0.0)
    return replace(
        result,
        metric=metric.name,
        metric_type=metric.kind,
        control_name=control,
        treatment_name=arm,
        alpha=alpha,
    )


def _segments(source: _Source, control: str, arms: list[str], alpha: float) -> pd.DataFrame:
    rows = []
    for segment in source.segments:
        for metric in source.metrics:
            frame = _metric_table(source, metric, (segment, "variant"))
            for value, part in frame.groupby(segment, dropna=False):
                stats = stats_from_frame(part.drop(columns=[segment]))
                for arm in arms:
                    if control not in stats or arm not in stats:
                        continue
                    if min(stats[control].n, stats[arm].n) < 2:
                        continue
                    c = _compare(
                        metric,
                        stats[control],
                        stats[arm],
                        names=(control, arm),
                        alpha=alpha,
                        mode="fixed",
                        tuning_n=1.0,
                        use_cuped=False,
                    )
                    rows.append(
                        {
                            "segment": segment,
                            "value": str(value),
                            "metric": metric.name,
                            "arm": arm,
                            "n_control": c.n_control,
                            "n_treatment": c.n_treatment,
                            "estimate_control": c.estimate_control,
                            "estimate_treatment": c.estimate_treatment,
                            "diff": c.diff,
                            "ci_low": c.diff_ci[0],
                            "ci_high": c.diff_ci[1],
                            "p_value": c.p_value,
                        }
                    )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["adjusted_p"] = np.nan
    for _, idx in out.groupby("metric").groups.items():
        out.loc[idx, "adjusted_p"] = adjust_pvalues(out.loc[idx, "p_value"].to_numpy(), "fdr_bh")
    return out


def _plan(
    source: _Source,
    comparisons: list[Comparison],
    primary: Sequence[str],
    control: str,
    target_lift: float,
    days_running: float | None,
    alpha: float,
) -> Any:
    if not comparisons or not days_running or days_running <= 0:
        return None
    first = next((c for c in comparisons if c.metric in primary), comparisons[0])
    if first.metric_type == "binary":
        p1 = first.estimate_control
        p2 = min(p1 * (1 + target_lift), 0.999)
        if not 0 < p1 < 1 or p2 == p1:
            return None
        required = sample_size_proportions(p1, p2, power=0.8, alpha=alpha)
        design = (
            f"detect a change in {first.metric} from {p1:.1%} to {p2:.1%} "
            f"({target_lift:+.0%}) with 80% power"
        )
    elif first.metric_type == "mean":
        stats = stats_from_frame(
            _metric_table(source, community_or_table_metric(source, first.metric), ("variant",))
        )
        sd = math.sqrt(stats[control].var_y) if control in stats else math.nan
        delta = abs(first.estimate_control * target_lift)
        if not (sd > 0 and delta > 0):
            return None
        required = sample_size_means(delta, sd, power=0.8, alpha=alpha)
        design = (
            f"detect a {target_lift:+.0%} change in {first.metric} (mean "
            f"{first.estimate_control:.3g}) with 80% power"
        )
    else:
        return None
    arm = first.treatment_name
    so_far = {control: first.n_control, arm: first.n_treatment}
    per_day = {
        control: source.assigned[control] / days_running,
        arm: source.assigned[arm] / days_running,
    }
    return time_to_run(per_day, required, so_far, design=design)


def community_or_table_metric(source: _Source, name: str) -> UnitMetric:
    return next(m for m in source.metrics if m.name == name)


def _weekly(source: _Source, control: str, arms: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Retention curves per arm and the weekly effect with Newcombe intervals."""
    curves, novelty = [], []
    for k in range(1, MAX_WEEKS + 1):
        metric = community_metric(f"retained_week{k}")
        stats = stats_from_frame(_metric_table(source, metric, ("variant",)))
        for variant, s in stats.items():
            if s.n:
                curves.append({"variant": variant, "week": k, "units": s.n, "rate": s.sum_y / s.n})
        for arm in arms:
            if control in stats and arm in stats and min(stats[control].n, stats[arm].n) > 0:
                r = two_proportion_test(
                    round(stats[control].sum_y),
                    stats[control].n,
                    round(stats[arm].sum_y),
                    stats[arm].n,
                )
                novelty.append(
                    {
                        "arm": arm,
                        "week": k,
                        "diff": r.diff,
                        "ci_low": r.diff_ci[0],
                        "ci_high": r.diff_ci[1],
                        "p_value": r.p_value,
                    }
                )
    columns = ["variant", "week", "units", "rate"]
    return pd.DataFrame(curves, columns=columns), pd.DataFrame(
        novelty, columns=["arm", "week", "diff", "ci_low", "ci_high", "p_value"]
    )


def analyse_experiment(
    community: Community,
    experiment_id: str,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    primary: Sequence[str] = ("first_post_7d",),
    guardrails: Mapping[str, float] | None = None,
    lower_is_better: Sequence[str] = (),
    control: str = "control",
    alpha: float = 0.05,
    mode: str = "fixed",
    correction: str = "holm",
    segments: Sequence[str] = ("source",),
    planned_weights: Mapping[str, float] | None = None,
    tuning_n: float | None = None,
    target_lift: float = 0.10,
    interference: bool = True,
) -> ExperimentAnalysis:
    """Analyse a community experiment: units from ``assignments``, metrics from activity.

    Parameters
    ----------
    community : Community
    experiment_id : str
        Value of ``assignments.experiment_id``.
    metrics : sequence of str
        Names from :data:`analysis.experiments.unit_metrics.COMMUNITY_METRICS`.
    primary : sequence of str
        Metrics that decide the experiment (corrected as one family); the others are secondary
        unless listed in ``guardrails``.
    guardrails : mapping, optional
        Metric → non-inferiority margin (absolute, in the metric's units).
    lower_is_better : sequence of str
        Metrics where a decrease is an improvement.
    control : str
        Control variant.
    alpha : float
    mode : {"fixed", "sequential"}
        Fixed-horizon tests, or always-valid confidence sequences for reports read every day.
    correction : {"holm", "fdr_bh", "bonferroni"}
    segments : sequence of str
        Any of ``source``, ``cohort``, ``activity_level``.
    planned_weights : mapping, optional
        Planned share per variant for the SRM check (default: equal).
    tuning_n : float, optional
        Planned total units for the sequential mode's tuning (default: units assigned so far).
    target_lift : float
        Relative effect the "how much longer to run" plan is powered for (80% power).
    interference : bool
        Run the spillover check on the reply graph.

    Notes
    -----
    CUPED uses ``messages_pre28d`` (messages in the 28 days before assignment) when it varies
    across units; for experiments on newcomers it is zero for everyone and CUPED is skipped
    (a note says so).
    """
    unknown = [s for s in segments if s not in SEGMENTS]
    if unknown:
        raise ValueError(f"unknown segments {unknown}; choose from {list(SEGMENTS)}")
    guardrails = dict(guardrails or {})
    names = list(dict.fromkeys([*metrics, *primary, *guardrails]))
    specs = tuple(community_metric(m) for m in names)
    end = community.last_message_at()
    per_unit = unit_outcomes_expr(community, experiment_id, end)
    counts = community.execute(per_unit.group_by("variant").aggregate(n=per_unit.count()))
    if counts.empty:
        assignments = community.table("assignments")
        known = community.execute(assignments.select("experiment_id").distinct())
        raise ValueError(
            f"experiment {experiment_id!r} has no assignments in dataset '{community.name}'; "
            f"experiments present: {sorted(known['experiment_id'].tolist())}"
        )
    assigned = dict(zip(counts["variant"], counts["n"].astype(int), strict=True))
    first_assigned = pd.Timestamp(community.execute(per_unit.assigned_at.min()))
    last_assigned = pd.Timestamp(community.execute(per_unit.assigned_at.max()))
    days = max((last_assigned - first_assigned).total_seconds() / 86_400, 1.0)
    clustered = community.execute(per_unit.cluster_id.notnull().sum())
    source = _Source(
        per_unit=per_unit,
        execute=community.execute,
        metrics=specs,
        covariate=COVARIATE,
        cluster="cluster_id" if int(clustered) == sum(assigned.values()) else None,
        segments=tuple(segments),
        assigned=assigned,
    )
    comparisons, decisions, segment_table, plan, notes, srm, bayes = _analyse(
        source,
        experiment_id=experiment_id,
        control=control,
        alpha=alpha,
        mode=mode,
        correction=correction,
        primary=primary,
        guardrails=guardrails,
        lower_is_better=lower_is_better,
        planned_weights=planned_weights,
        tuning_n=tuning_n,
        target_lift=target_lift,
        days_running=days,
    )
    arms = [v for v in sorted(assigned) if v != control]
    retention, novelty = _weekly(source, control, arms)
    spill = None
    if interference:
        spill, note = _interference(community, per_unit, names[0], control, first_assigned)
        if note:
            notes.append(note)
    idle = (end - last_assigned).total_seconds() / 86_400
    if idle > 7:
        notes.append(
            f"No unit was assigned in the last {idle:.0f} days of the data: enrolment seems to "
            f"have stopped, so the time-to-run projection assumes it resumes at its earlier pace."
        )
    notes.append(_mode_note(mode, source))
    return ExperimentAnalysis(
        experiment_id=experiment_id,
        control=control,
        mode=mode,
        alpha=alpha,
        correction=correction,
        srm=srm,
        comparisons=tuple(comparisons),
        decisions=decisions,
        segments=segment_table,
        retention=retention,
        novelty=novelty,
        plan=plan,
        interference=spill,
        bayes=bayes,
        notes=tuple(notes),
    )


def _mode_note(mode: str, source: _Source) -> str:
    if mode == "sequential":
        return (
            "Mode: sequential — intervals and p-values are always-valid asymptotic confidence "
            "sequences (Waudby-Smith et al. 2023): reading this report every day does not "
            "inflate false positives."
        )
    text = (
        "Mode: fixed horizon — valid when the result is read once at the planned end; for daily "
        "reading use mode='sequential'."
    )
    if source.cluster:
        text += " Units are clustered: OLS with cluster-robust (CR1) standard errors."
    return text


def _interference(
    community: Community, per_unit: Any, metric_name: str, control: str, before: pd.Timestamp
) -> tuple[Any, str]:
    """Spillover check on the reply graph of interactions *before* the experiment started.

    The graph must not be an outcome of the treatment: replies written after assignment are
    themselves affected by it (treated members who post more meet other early posters), which
    would make the check find "interference" that is only the treatment effect seen twice.
    """
    from analysis.network import reply_edges_expr

    metric = community_metric(metric_name)
    if metric.kind == "ratio":
        return None, f"Interference check skipped: {metric_name} is a ratio metric."
    edges = community.execute(reply_edges_expr(community, end=before))
    if edges.empty:
        return None, (
            "Interference check not possible: units had no replies between them before the "
            "experiment started (for example, every unit is a newcomer)."
        )
    units = community.execute(
        per_unit.filter(per_unit.days_observed >= metric.window_days).select(
            "unit_id", "variant", outcome=per_unit[metric.column].cast("float64")
        )
    )
    try:
        return spillover_check(units, edges, control=control), ""
    except ValueError as exc:
        return None, f"Interference check not possible: {exc}"


def analyse_unit_table(
    table: UnitTable,
    *,
    primary: Sequence[str] | None = None,
    guardrails: Mapping[str, float] | None = None,
    lower_is_better: Sequence[str] = (),
    control: str = "control",
    alpha: float = 0.05,
    mode: str = "fixed",
    correction: str = "holm",
    planned_weights: Mapping[str, float] | None = None,
    tuning_n: float | None = None,
    experiment_id: str = "experiment",
) -> ExperimentAnalysis:
    """Analyse a per-unit table (see :mod:`analysis.experiments.unit_table`).

    The table goes onto an in-process DuckDB engine and through the same path as community
    experiments: sufficient statistics per variant and segment, SRM, the test each metric's type
    calls for (CUPED when ``table.covariate`` is set, cluster-robust errors when
    ``table.cluster`` is set), corrections, guardrails and segments.
    """
    from analysis.data import duckdb_backend

    frame = table.frame.copy()
    frame["days_observed"] = np.inf
    backend = duckdb_backend()
    per_unit = backend.create_table("units", ibis.memtable(frame), temp=True)
    specs = []
    for name in table.metrics:
        kind = table.metric_kind(name)
        numerator, _, denominator = name.partition("/")
        specs.append(
            UnitMetric(
                name=name,
                kind=kind,
                column=numerator,
                window_days=0,
                description=name,
                denominator=denominator or None,
            )
        )
    counts = frame.groupby("variant").size()
    source = _Source(
        per_unit=per_unit,
        execute=backend.execute,
        metrics=tuple(specs),
        covariate=table.covariate,
        cluster=table.cluster,
        segments=table.segments,
        assigned={str(k): int(v) for k, v in counts.items()},
    )
    comparisons, decisions, segment_table, _, notes, srm, bayes = _analyse(
        source,
        experiment_id=experiment_id,
        control=control,
        alpha=alpha,
        mode=mode,
        correction=correction,
        primary=primary or table.metrics[:1],
        guardrails=dict(guardrails or {}),
        lower_is_better=lower_is_better,
        planned_weights=planned_weights,
        tuning_n=tuning_n,
        target_lift=0.1,
        days_running=None,
    )
    notes.append(_mode_note(mode, source))
    empty = pd.DataFrame()
    return ExperimentAnalysis(
        experiment_id=experiment_id,
        control=control,
        mode=mode,
        alpha=alpha,
        correction=correction,
        srm=srm,
        comparisons=tuple(comparisons),
        decisions=decisions,
        segments=segment_table,
        retention=empty,
        novelty=empty,
        bayes=bayes,
        notes=tuple(notes),
    )
