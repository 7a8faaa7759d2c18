"""Binary experiment metrics from community activity: counts per variant and their comparison.

The metrics and the exposure rule are defined in :mod:`analysis.experiments.unit_metrics`;
this module reduces a binary metric to ``n`` and ``successes`` per variant and compares two
variants with the two-proportion test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.experiments.unit_metrics import (
    COMMUNITY_METRICS,
    community_metric,
    metric_stats,
    unit_outcomes_expr,
)
from analysis.results import Result

BINARY_METRICS = {name: m for name, m in COMMUNITY_METRICS.items() if m.kind == "binary"}


def binary_outcome_counts(community: Community, experiment_id: str, metric: str) -> pd.DataFrame:
    """Units and successes per variant for a binary metric, counting exposed units only.

    Returns
    -------
    pandas.DataFrame
        ``variant``, ``n`` (exposed units), ``successes``, ``assigned`` (all units assigned) and
        ``unexposed`` (assigned too recently to count), sorted by variant.
    """
    spec = community_metric(metric)
    if spec.kind != "binary":
        raise ValueError(f"metric {metric!r} is {spec.kind}, not binary")
    assignments = community.table("assignments")
    units = assignments.filter(assignments.experiment_id == experiment_id)
    assigned = community.execute(units.group_by("variant").aggregate(assigned=units.count()))
    if assigned.empty:
        known = community.execute(assignments.experiment_id.name("experiment_id").value_counts())
        raise ValueError(
            f"experiment {experiment_id!r} has no assignments in dataset '{community.name}'; "
            f"experiments present: {sorted(known['experiment_id'].tolist())}"
        )
    per_unit = unit_outcomes_expr(community, experiment_id, community.last_message_at())
    stats = metric_stats(per_unit, spec, execute=community.execute)
    counts = stats.rename(columns={"sum_y": "successes"})[["variant", "n", "successes"]]
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
