"""Experiment metrics per unit, derived from community activity and computed on the engine.

Units are the ``assignments`` rows of one experiment (``unit_id`` = a member id). For a unit
assigned at ``t`` (its ``assigned_at``), with ``d`` = days since assignment of one of its
messages (``kind`` other than ``service``):

``first_post_7d`` (binary)
    At least one message with ``0 <= d < 7``.
``retained_week{k}`` (binary, k = 1 … 8)
    At least one message with ``7(k−1) <= d < 7k``: active in the k-th week after assignment.
    ``retained_week1`` is the same event as ``first_post_7d``.
``messages_28d`` (mean)
    Number of messages with ``0 <= d < 28``.
``replies_per_message_28d`` (ratio)
    Σ replies received ÷ Σ messages written, over units: the unit's messages with
    ``0 <= d < 28`` are the denominator; replies to them by other members, written within 7 days
    of the message replied to, the numerator. A ratio of sums, analysed with the delta method.
``messages_pre28d`` (pre-period covariate for CUPED)
    Number of messages with ``-28 <= d < 0`` (zero for newcomers assigned when they join).

Exposure: a unit enters a metric only once the metric's whole window has been observed,
``t + window_days <= end of data`` (the last message), so a week-4 retention rate never counts
units assigned ten days ago. Segments attached to each unit: ``source`` (acquisition source from
``members``), ``cohort`` (calendar month of assignment, ``YYYY-MM``) and ``activity_level``
(``none`` / ``light`` (1–5) / ``heavy`` (6+) messages in the 28 days before assignment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import ibis
import pandas as pd

from analysis.data import Community
from analysis.experiments.sufficient import SufficientStats, stats_from_frame, sufficient_stats_expr

DAY_S = 86_400
MAX_WEEKS = 8
REPLY_WINDOW_DAYS = 7


@dataclass(frozen=True)
class UnitMetric:
    """A metric of the per-unit table.

    Attributes
    ----------
    name : str
    kind : {"binary", "mean", "ratio"}
    column : str
        Per-unit column holding the value (the numerator for ratios).
    window_days : int
        Days after assignment that must be observed before a unit counts (exposure).
    description : str
    denominator : str or None
        Per-unit denominator column for ratio metrics.
    """

    name: str
    kind: Literal["binary", "mean", "ratio"]
    column: str
    window_days: int
    description: str
    denominator: str | None = None


def _registry() -> dict[str, UnitMetric]:
    metrics = [
        UnitMetric("first_post_7d", "binary", "first_post_7d", 7, "posted within 7 days"),
        UnitMetric("messages_28d", "mean", "messages_28d", 28, "messages in the first 28 days"),
        UnitMetric(
            "replies_per_message_28d",
            "ratio",
            "replies_received_28d",
            28 + REPLY_WINDOW_DAYS,
            "replies received per message written in the first 28 days",
            denominator="messages_28d",
        ),
    ]
    metrics += [
        UnitMetric(
            f"retained_week{k}",
            "binary",
            f"retained_week{k}",
            7 * k,
            f"active in week {k} after assignment (days {7 * (k - 1)}–{7 * k - 1})",
        )
        for k in range(1, MAX_WEEKS + 1)
    ]
    return {m.name: m for m in metrics}


COMMUNITY_METRICS: dict[str, UnitMetric] = _registry()
COVARIATE = "messages_pre28d"
SEGMENTS = ("source", "cohort", "activity_level")


def community_metric(name: str) -> UnitMetric:
    """Look up a community-derived metric by name (a clear error lists the known ones)."""
    try:
        return COMMUNITY_METRICS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment metric {name!r}; known metrics: {sorted(COMMUNITY_METRICS)}"
        ) from None


def _days(later: Any, earlier: Any) -> Any:
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / DAY_S


def _flag(condition: Any) -> Any:
    return condition.ifelse(1, 0)


def unit_outcomes_expr(community: Community, experiment_id: str, data_end: pd.Timestamp) -> Any:
    """One row per unit of the experiment with every metric, the covariate and the segments.

    Columns: ``unit_id``, ``variant``, ``assigned_at``, ``cluster_id``, ``days_observed``,
    ``first_post_7d``, ``retained_week1`` … ``retained_week8``, ``messages_28d``,
    ``replies_received_28d``, ``messages_pre28d``, ``source``, ``cohort``, ``activity_level``
    (definitions in the module docstring). An ibis expression: nothing leaves the engine.
    """
    assignments = community.table("assignments")
    units = assignments.filter(assignments.experiment_id == experiment_id).select(
        "unit_id", "variant", "assigned_at", "cluster_id"
    )
    msgs = community.messages.filter(community.messages.kind != "service").select(
        "message_id", "member_id", "created_at", "reply_to_id"
    )
    horizon = 7 * MAX_WEEKS
    joined = units.left_join(
        msgs,
        (units.unit_id == msgs.member_id)
        & (msgs.created_at >= units.assigned_at - ibis.interval(days=28))
        & (msgs.created_at < units.assigned_at + ibis.interval(days=horizon)),
    )
    d = _days(joined.created_at, joined.assigned_at)
    has = joined.message_id.notnull()
    aggs = {
        "first_post_7d": _flag(has & (d >= 0) & (d < 7)).max(),
        "messages_28d": _flag(has & (d >= 0) & (d < 28)).sum(),
        "messages_pre28d": _flag(has & (d < 0)).sum(),
    }
    for k in range(1, MAX_WEEKS + 1):
        aggs[f"retained_week{k}"] = _flag(has & (d >= 7 * (k - 1)) & (d < 7 * k)).max()
    per_unit = joined.group_by(["unit_id", "variant", "assigned_at", "cluster_id"]).aggregate(
        **aggs
    )

    # replies received within 7 days to the unit's messages of its first 28 days
    own = units.join(
        msgs,
        (units.unit_id == msgs.member_id)
        & (msgs.created_at >= units.assigned_at)
        & (msgs.created_at < units.assigned_at + ibis.interval(days=28)),
    ).select(owner=units.unit_id, parent_id=msgs.message_id, parent_at=msgs.created_at)
    replies = msgs.select(
        reply_to=msgs.reply_to_id, replier=msgs.member_id, reply_at=msgs.created_at
    )
    answered = own.join(
        replies,
        (replies.reply_to == own.parent_id)
        & (replies.replier != own.owner)
        & (replies.reply_at < own.parent_at + ibis.interval(days=REPLY_WINDOW_DAYS)),
    )
    received = answered.group_by(unit_ref="owner").aggregate(replies_received_28d=answered.count())

    members = community.members.select(member_ref="member_id", source="source")
    out = per_unit.left_join(received, per_unit.unit_id == received.unit_ref).left_join(
        members, per_unit.unit_id == members.member_ref
    )
    end = ibis.literal(data_end, type="timestamp('UTC')")
    pre = out.messages_pre28d
    return out.select(
        unit_id=out.unit_id,
        variant=out.variant,
        assigned_at=out.assigned_at,
        cluster_id=out.cluster_id,
        days_observed=_days(end, out.assigned_at),
        first_post_7d=out.first_post_7d,
        **{f"retained_week{k}": out[f"retained_week{k}"] for k in range(1, MAX_WEEKS + 1)},
        messages_28d=out.messages_28d,
        replies_received_28d=out.replies_received_28d.fill_null(0),
        messages_pre28d=pre,
        source=out.source.fill_null("unknown"),
        cohort=out.assigned_at.strftime("%Y-%m"),
        activity_level=ibis.cases((pre == 0, "none"), (pre <= 5, "light"), else_="heavy"),
    )


def exposed(per_unit: Any, metric: UnitMetric) -> Any:
    """The units that have been observed for the metric's whole window."""
    return per_unit.filter(per_unit.days_observed >= metric.window_days)


def metric_stats(
    per_unit: Any,
    metric: UnitMetric,
    *,
    execute: Any,
    by: tuple[str, ...] = ("variant",),
    covariate: str | None = None,
) -> pd.DataFrame:
    """Sufficient statistics of ``metric`` per group, reduced by the engine.

    The second variable (``sum_x`` …) is the ratio's denominator for ratio metrics, else the
    ``covariate`` (for CUPED) when given. Returns the aggregated frame (small).
    """
    table = exposed(per_unit, metric)
    x = metric.denominator if metric.kind == "ratio" else covariate
    return execute(sufficient_stats_expr(table, metric.column, by=by, x=x))


def stats_by_variant(frame: pd.DataFrame) -> dict[str, SufficientStats]:
    """``{variant: SufficientStats}`` from :func:`metric_stats` grouped by variant only."""
    return stats_from_frame(frame, by="variant")


def retention_curves(per_unit_frame: pd.DataFrame) -> pd.DataFrame:
    """Share of exposed units active in each week after assignment, per variant.

    Returns ``variant``, ``week`` (1 … 8), ``units`` (exposed for that week), ``active`` and
    ``rate`` — the curve behind "does the effect hold at week 4" and novelty fading.
    """
    rows = []
    for k in range(1, MAX_WEEKS + 1):
        window = per_unit_frame[per_unit_frame["days_observed"] >= 7 * k]
        grouped = window.groupby("variant")[f"retained_week{k}"].agg(["size", "sum"])
        for variant, row in grouped.iterrows():
            rows.append(
                {
                    "variant": variant,
                    "week": k,
                    "units": int(row["size"]),
                    "active": int(row["sum"]),
                }
            )
    out = pd.DataFrame(rows, columns=["variant", "week", "units", "active"])
    out["rate"] = out["active"] / out["units"].where(out["units"] > 0)
    return out
