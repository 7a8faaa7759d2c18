"""Community health: is the community alive, and is it getting better or worse?

Start with :func:`health_overview` (everything, with headline findings); each metric is also a
function of its own module:

activity        messages, authors, active members, members per day / week / month
channels        the same per channel (chat, forum topic, ...)
responsiveness  response rate within 24 h / 7 d, time to first response (staff vs members)
discussion      discussion depth, conversation duration (reply trees or time-gap sessions)
shares          member-initiated threads, member-to-member replies, support deflection
newcomers       newcomer welcome, return after a reply (repeat: repeat contribution; both on
                newcomer_table, one row per newcomer)
retention       one import for usage (DAU/WAU/MAU, stickiness), weekly_return (week-over-week
                return) and cohorts (cohort retention matrix), built on active_periods
engagement      replies per root post ÷ members
concentration   Gini, top-5/10 share, CHAOSS contributor absence factor
ladder          member levels and rules; ladder_moves: transitions, promotion candidates
warnings        early warnings: robust z-scores and change points, overheating vs fatigue

Shared machinery: periods (UTC calendar periods on the engine and in pandas), period_results
(per-period rows, exact quantiles), thread_table (the per-thread table) with thread_queries (its
aggregates) and reply_depth (reply depth by pointer jumping on the engine), engine_cache (tables
materialised once per community and shared by the metrics that need them), concurrent
(run_concurrently: several metrics at once on two connections to the community's database).
"""

from analysis.health.activity import ActivitySeries, activity, activity_expr, members_included
from analysis.health.channels import ChannelActivity, activity_by_channel
from analysis.health.concentration import Concentration, concentration, gini
from analysis.health.concurrent import run_concurrently
from analysis.health.discussion import conversation_duration, discussion_depth
from analysis.health.engagement import engagement_rate
from analysis.health.ladder import LadderRules, member_levels
from analysis.health.ladder_moves import ladder_transitions, promotion_candidates
from analysis.health.newcomers import newcomer_return, newcomer_welcome, repeat_contribution
from analysis.health.overview import HealthOverview, health_overview
from analysis.health.responsiveness import response_rate, time_to_first_response
from analysis.health.retention import cohort_retention, usage, weekly_return
from analysis.health.shares import (
    member_initiated_share,
    member_to_member_share,
    support_deflection,
)
from analysis.health.thread_table import thread_table
from analysis.health.warnings import early_warnings

__all__ = [
    "ActivitySeries",
    "ChannelActivity",
    "Concentration",
    "HealthOverview",
    "LadderRules",
    "activity",
    "activity_by_channel",
    "activity_expr",
    "cohort_retention",
    "concentration",
    "conversation_duration",
    "discussion_depth",
    "early_warnings",
    "engagement_rate",
    "gini",
    "health_overview",
    "ladder_transitions",
    "member_initiated_share",
    "member_levels",
    "member_to_member_share",
    "members_included",
    "newcomer_return",
    "newcomer_welcome",
    "promotion_candidates",
    "repeat_contribution",
    "response_rate",
    "run_concurrently",
    "support_deflection",
    "thread_table",
    "time_to_first_response",
    "usage",
    "weekly_return",
]
