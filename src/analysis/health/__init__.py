"""Community health: is the community alive, and is it getting better or worse?

Modules
-------
activity
    Messages, authors, active members and members per day / week / month.
"""

from analysis.health.activity import ActivitySeries, activity, activity_expr, members_included

__all__ = ["ActivitySeries", "activity", "activity_expr", "members_included"]
