"""Per-unit experiment outcomes derived from community activity, reduced on the engine.

Units are the ``assignments`` rows of one experiment; their outcomes come from ``messages``.
A unit counts only once it has been exposed long enough for the metric: a unit assigned at
``t`` enters a metric with window ``[t + start, t + end)`` only if ``t + end`` is not after the
end of the data (the last message), so a week-4 retention rate never includes units assigned
ten days ago.

Binary metrics
--------------
``first_post_7d``
    The unit wrote at least one message (any kind but ``service``) in ``[t, t + 7 days)``.
``retained_week1``
    At least one message in ``[t + 7 days, t + 14 days)``.
``retained_week4``
    At least one message in ``[t + 21 days, t + 28 days)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from analysis.data import Community
from analysis.results import Result


@dataclass(frozen=True)
class WindowMetric:
    """A binary "did the unit post in this window after assignment" metric."""

    name: str
    start_days: int
    end_days: int
    description: str


BINARY_METRICS: dict[str, WindowMetric] = {
    m.name: m
    for m in (
        WindowMetric("first_post_7d", 0, 7, "posted within 7 days of assignment"),
        WindowMetric("retained_week1", 7, 14, "posted in days 7–13 after assignment"),
        WindowMetric("retained_week4", 21, 28, "posted in days 21–27 after assignment"),
    )
}


def binary_metric(name: str) -> WindowMetric:
    """Look up a binary metric by name, with a clear error listing the known ones."""
    try:
        return BINARY_METRICS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment metric {name!r}; known binary metrics: {sorted(BINARY_METRICS)}"
        ) from None


def binary_outcome_counts_expr(
    community: Community, experiment_id: str, metric: str, data_end: pd.Timestamp
) -> Any:
    """Counts per variant as an ibis expression: ``variant``, ``n``, ``successes``."""
    spec = binary_metric(metric)
    assignments = community.table("assignments")
    units = assignments.filter(assignments.experiment_id == experiment_id)
    units = units.select(
        unit_id=units.unit_id,
        variant=units.variant,
        window_start=units.assigned_at + ibis.interval(days=spec.start_days),
        window_end=units.assigned_at + ibis.interval(days=spec.end_days),
    )
    units = units.filter(units.window_end <= ibis.literal(data_end, type="timestamp('UTC')"))
    msgs = community.messages.filter(community.messages.kind != "service")
    hits = units.join(
        msgs,
        (units.unit_id == msgs.member_id)
        & (msgs.created_at >= units.window_start)
        & (msgs.created_at < units.window_end),
    ).select(units.unit_id)
    converted = hits.distinct().mutate(converted=ibis.literal(1))
    per_unit = units.left_join(converted, units.unit_id == converted.unit_id).select(
        variant=units.variant, converted=converted.converted.fill_null(0)
    )
    return per_unit.group_by("variant").aggregate(
        n=per_unit.count(), successes=per_unit.converted.sum()
    )


def binary_outcome_counts(community: Community, experiment_id: str, metric: str) -> pd.DataFrame:
    """Units and successes per variant for a binary metric, counting exposed units only.

    Returns
    -------
    pandas.DataFrame
        ``variant``, ``n`` (exposed units), ``successes``, ``assigned`` (all units assigned) and
        ``unexposed`` (assigned too recently to count), sorted by variant.
    """
    assignments = community.table("assignments")
    units = assignments.filter(assignments.experiment_id == experiment_id)
    assigned = community.execute(units.group_by("variant").aggregate(assigned=units.count()))
    if assigned.empty:
        known = community.execute(assignments.experiment_id.name("experiment_id").value_counts())
        raise ValueError(
            f"experiment {experiment_id!r} has no assignments in dataset '{community.name}'; "
            f"experiments present: {sorted(known['experiment_id'].tolist())}"
        )
    end = community.last_message_at()
    counts = community.execute(binary_outcome_counts_expr(community, experiment_id, metric, end))
    out = assigned.merge(counts, on="variant", how="left").fillna({"n": 0, "successes": 0})
    out = out.astype({"n": "int64", "successes": "int64", "assigned": "int64"})
    out["unexposed"] = out["assigned"] - out["n"]
    return out[["variant", "n", "successes", "assigned", "unexposed"]].sort_values("variant")


@dataclass(frozen=True)
class BinaryMetricResult(Result):
    """An experiment's binary metric: exposure counts and the two-proportion comparison.

    Attributes
    ----------
    experiment_id, metric : str
    counts : pandas.DataFrame
        Per variant: exposed units ``n``, ``successes``, ``assigned``, ``unexposed``.
    comparison : ProportionComparison
        Treatment vs control (see :func:`analysis.experiments.two_proportion_test`).
    """

    experiment_id: str
    metric: str
    counts: pd.DataFrame
    comparison: Any
    title: str = "Experiment metric"

    def to_frame(self) -> pd.DataFrame:
        return self.comparison.to_frame()

    def summary(self) -> str:
        unexposed = int(self.counts["unexposed"].sum())
        spec = BINARY_METRICS[self.metric]
        text = f"Metric '{self.metric}' ({spec.description}). {self.comparison.summary()}"
        if unexposed:
            text += (
                f" {unexposed:,} units assigned too recently to have completed the window were "
                f"not counted."
            )
        return text

    def plot(self, ax: Any = None) -> Any:
        return self.comparison.plot(ax=ax)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "metric": self.metric,
            "unexposed_units": int(self.counts["unexposed"].sum()),
            **self.comparison.to_dict(),
        }


def analyse_binary_metric(
    community: Community,
    experiment_id: str,
    *,
    metric: str = "first_post_7d",
    control: str = "control",
    treatment: str = "treatment",
    alpha: float = 0.05,
) -> BinaryMetricResult:
    """Compare a binary activity metric between two variants of an experiment.

    Per-unit outcomes are computed on the engine (see the module docstring for the metric
    definitions and the exposure rule) and reduced to counts per variant; the comparison is the
    pooled two-proportion z test with Newcombe's interval for the difference
    (:func:`analysis.experiments.two_proportion_test`).
    """
    from analysis.experiments.tests import two_proportion_test

    counts = binary_outcome_counts(community, experiment_id, metric)
    by_variant = counts.set_index("variant")
    for variant in (control, treatment):
        if variant not in by_variant.index:
            raise ValueError(
                f"experiment {experiment_id!r} has no variant {variant!r}; variants present: "
                f"{sorted(by_variant.index)}"
            )
    c, t = by_variant.loc[control], by_variant.loc[treatment]
    comparison = two_proportion_test(
        int(c["successes"]),
        int(c["n"]),
        int(t["successes"]),
        int(t["n"]),
        alpha=alpha,
        control_name=control,
        treatment_name=treatment,
    )
    return BinaryMetricResult(experiment_id, metric, counts.reset_index(drop=True), comparison)
