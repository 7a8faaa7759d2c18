"""The A/B experiment study: every metric of an experiment, tested the right way, in one call.

:func:`analyse_experiment` (units from the community's ``assignments``, metrics from activity)
and :func:`analyse_unit_table` (a per-unit table an analyst brings) share one path:

1. **Sufficient statistics** per variant (and segment) are computed by the engine
   (:mod:`analysis.experiments.sufficient`); only sums leave it.
2. **Sample ratio mismatch** is checked on every analysis (χ² against the planned weights,
   warning at p < 0.001; :func:`~analysis.experiments.srm.sample_ratio_mismatch`).
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

This module holds the two entry points and the shared path; the test each metric gets is in
:mod:`analysis.experiments.study_compare`, the checks (segments, weeks, time to run,
interference, Bayes, rank and omnibus notes) in :mod:`analysis.experiments.study_checks` and
the result object in :mod:`analysis.experiments.study_result`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.experiments.corrections import MetricFamily, decide
from analysis.experiments.effects import Comparison
from analysis.experiments.srm import SampleRatioCheck, sample_ratio_mismatch
from analysis.experiments.study_checks import (
    _bayes,
    _interference,
    _omnibus,
    _plan,
    _rank_checks,
    _segments,
    _weekly,
)
from analysis.experiments.study_compare import (
    _clustered,
    _compare,
    _covariate_has_variance,
    _metric_table,
    _Source,
)
from analysis.experiments.study_result import ExperimentAnalysis
from analysis.experiments.sufficient import stats_from_frame
from analysis.experiments.unit_metrics import (
    COVARIATE,
    SEGMENTS,
    UnitMetric,
    community_metric,
    unit_outcomes_expr,
)
from analysis.experiments.unit_table import UnitTable

MODES = ("fixed", "sequential")
DEFAULT_METRICS = ("first_post_7d", "retained_week4", "messages_28d", "replies_per_message_28d")


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
) -> tuple[list[Comparison], pd.DataFrame, pd.DataFrame, Any, list[str], SampleRatioCheck, dict]:
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
