"""The study's checks beyond the per-metric tests: Bayes, omnibus χ², rank, plan, weeks, segments.

Each takes the study's :class:`~analysis.experiments.study_compare._Source` and returns what
:class:`~analysis.experiments.study_result.ExperimentAnalysis` holds: Bayesian chance to beat
control per metric × arm, the all-arms χ² and Mann–Whitney rank checks (as notes), segment
effects with Benjamini–Hochberg, the "how much longer to run" plan, retention by week and the
effect by week since assignment (novelty), and the spillover check on the reply graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.experiments.bayes import bayes_binomial, bayes_means
from analysis.experiments.corrections import adjust_pvalues
from analysis.experiments.effects import Comparison
from analysis.experiments.interference import spillover_check
from analysis.experiments.power import sample_size_means, sample_size_proportions, time_to_run
from analysis.experiments.proportions import proportions_chi2_test, two_proportion_test
from analysis.experiments.rank import mann_whitney
from analysis.experiments.study_compare import (
    _compare,
    _metric_table,
    _Source,
    _y_only,
    community_or_table_metric,
)
from analysis.experiments.sufficient import stats_from_frame
from analysis.experiments.unit_metrics import MAX_WEEKS, community_metric

#: Units per arm read for the rank (Mann–Whitney) check; larger arms are sampled with a seed.
RANK_CHECK_MAX_UNITS = 200_000


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
