"""How the study compares one metric between two arms: the test each metric type calls for.

:class:`_Source` says where the per-unit data lives (an ibis table and its engine);
:func:`_compare` picks the test from the metric's type and the mode — binary → pooled
two-proportion z (Newcombe interval), mean → Welch t or CUPED, ratio → delta method,
sequential mode → always-valid confidence sequences — and :func:`_clustered` handles
cluster-randomised units (OLS with CR1 errors). Used by :mod:`analysis.experiments.study` and
:mod:`analysis.experiments.study_checks`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from analysis.experiments.clusters import cluster_robust_difference
from analysis.experiments.cuped import cuped_test
from analysis.experiments.effects import Comparison
from analysis.experiments.means import welch_test
from analysis.experiments.proportions import ProportionComparison, two_proportion_test
from analysis.experiments.ratio import ratio_test
from analysis.experiments.sequential import (
    sequential_from_comparison,
    sequential_proportions,
    sequential_welch,
)
from analysis.experiments.sufficient import SufficientStats
from analysis.experiments.unit_metrics import UnitMetric, metric_stats


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


def _metric_table(source: _Source, metric: UnitMetric, by: tuple[str, ...]) -> pd.DataFrame:
    covariate = source.covariate if metric.kind == "mean" else None
    return metric_stats(source.per_unit, metric, execute=source.execute, by=by, covariate=covariate)


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


def community_or_table_metric(source: _Source, name: str) -> UnitMetric:
    return next(m for m in source.metrics if m.name == name)
