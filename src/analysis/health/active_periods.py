"""Active members per period: the shared building block of usage, return and cohort retention.

Definitions (as in :mod:`analysis.health.activity`, used by :mod:`analysis.health.usage`,
:mod:`analysis.health.weekly_return` and :mod:`analysis.health.cohorts`):

Active member
    A member with at least one non-service message or one attributed reaction (reactor and time
    known) in the period. Where the platform exports no reactor names, active members equal
    authors.
Period
    UTC calendar day, ISO week (Monday 00:00 UTC) or calendar month; every period between the
    first and the last activity appears, empty ones as zeros.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.health.activity import activity_events_expr, members_included
from analysis.health.periods import (
    Period,
    check_period,
    epoch_seconds,
    period_start_expr,
    utc_date_expr,
)

__all__ = ["active_member_periods_expr", "attributed_reactions"]


def _pct(value: float) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1%}"


def _who(include_staff: bool, include_bots: bool) -> str:
    staff = "including staff" if include_staff else "excluding staff"
    bots = "including bots" if include_bots else "excluding bots"
    return f"{staff}, {bots}"


def _naive_utc(values: Any) -> pd.Series:
    """Engine timestamps (aware on DuckDB, naive UTC on Spark) as naive UTC pandas values."""
    s = pd.to_datetime(pd.Series(values))
    if s.dt.tz is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.astype("datetime64[ns]")


def _period_ordinal(ts: Any, period: str) -> Any:
    """Consecutive integers for consecutive UTC periods (days since 1970, ISO weeks, months)."""
    if period == "month":
        date = utc_date_expr(ts)
        return date.year().cast("int64") * 12 + date.month().cast("int64") - 1
    day = epoch_seconds(ts) // 86400
    # 1970-01-01 was a Thursday: +3 puts Monday 1969-12-29 at the start of week 0
    return (day + 3) // 7 if period == "week" else day


def active_member_periods_expr(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """Distinct ``(period_start, ordinal, member_id)`` of active members (an ibis expression).

    ``ordinal`` numbers the periods so that consecutive periods differ by exactly 1.
    """
    check_period(period)
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    events = activity_events_expr(community, members)
    return events.select(
        period_start=period_start_expr(events.at, period),
        ordinal=_period_ordinal(events.at, period),
        member_id=events.member_id,
    ).distinct()


def attributed_reactions(community: Community) -> int:
    """Number of reaction rows whose reactor and time are known (0 without a reactions table)."""
    if not community.has("reactions"):
        return 0
    r = community.table("reactions")
    n = community.execute(r.filter(r.member_id.notnull() & r.reacted_at.notnull()).count())
    return int(n)
