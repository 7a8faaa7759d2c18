"""Usage (DAU/WAU/MAU, stickiness), return rates and cohort retention: one import for all three.

The metrics live in :mod:`analysis.health.usage`, :mod:`analysis.health.weekly_return` and
:mod:`analysis.health.cohorts`, on :mod:`analysis.health.active_periods`; they are importable
from here as before.

Every count is an ibis expression executed by the community's engine (DuckDB or Spark); only
per-period or per-cohort aggregates come back as pandas. The words *active*, *author*, *member*,
*period* and the staff/bot switches mean exactly what :mod:`analysis.health.activity` says:

Active member
    A member with at least one non-service message or one attributed reaction (reactor and time
    known) in the period. Where the platform exports no reactor names, active members equal
    authors.
Period
    UTC calendar day, ISO week (Monday 00:00 UTC) or calendar month; every period between the
    first and the last activity appears, empty ones as zeros.

Functions
---------
:func:`usage`
    DAU / WAU / MAU, stickiness (mean DAU ÷ WAU or MAU) and the share of active authors.
:func:`weekly_return`
    Active members ÷ members (from :func:`~analysis.health.activity.activity`) and
    period-over-period retention of the previous period's active members.
:func:`cohort_retention`
    The retention matrix: join cohort × periods since join, optionally split by acquisition
    source.

References
----------
* CHAOSS, "Active Users" / "Activity Dates and Times" metrics (https://chaoss.community/kb/).
* DAU/MAU "stickiness": A. Chen, "DAU/MAU is an important metric to measure engagement, but
  here's where it fails" (2018), https://andrewchen.com/dau-mau-is-an-important-metric-but-heres-where-it-fails/
* Cohort retention tables: Amplitude, "Retention analysis" (N-day retention from the start event,
  https://amplitude.com/docs/analytics/charts/retention-analysis/retention-analysis-interpret).
"""

from analysis.health.active_periods import active_member_periods_expr, attributed_reactions
from analysis.health.cohorts import CohortRetention, cohort_retention
from analysis.health.usage import UsageSeries, usage
from analysis.health.weekly_return import ReturnSeries, weekly_return

__all__ = [
    "CohortRetention",
    "ReturnSeries",
    "UsageSeries",
    "active_member_periods_expr",
    "attributed_reactions",
    "cohort_retention",
    "usage",
    "weekly_return",
]
