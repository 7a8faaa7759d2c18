"""Binary experiment metrics from community activity as counts per variant.

The metrics and the exposure rule are defined in :mod:`analysis.experiments.unit_metrics`; the
full analysis of an experiment is :func:`analysis.experiments.analyse_experiment`.
"""

from __future__ import annotations

import pandas as pd

from analysis.data import Community
from analysis.experiments.unit_metrics import (
    COMMUNITY_METRICS,
    community_metric,
    metric_stats,
    unit_outcomes_expr,
)

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
