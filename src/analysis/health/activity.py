"""Community health: is the community alive, and is it getting better or worse?

Every metric is an ibis expression executed by the community's engine (DuckDB or Spark); only the
per-period aggregates come back as pandas.

Definitions shared by all metrics here
--------------------------------------
Periods
    Calendar periods in UTC (:mod:`analysis.health.periods`): ``day``; ``week`` = ISO week,
    Monday 00:00 UTC to the next Monday; ``month`` = calendar month. Every period between the
    first and the last message appears, including periods with no activity (zeros, not gaps).
Messages
    Rows of ``messages`` whose ``kind`` is not ``service`` (joins, pins and topic creation are
    events, not contributions).
Authors
    Distinct members with at least one message in the period.
Active members
    Distinct members with at least one message *or* one attributed reaction (a reaction whose
    reactor and time are known) in the period. On platforms that export no reactor names, active
    members equal authors.
Members
    Members whose ``joined_at`` is before the end of the period (cumulative), and ``new_members``
    those who joined within it.
Staff and bots
    Flags on ``members``. Each function takes ``include_staff`` and ``include_bots`` and the result
    records which were used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from analysis.data import Community
from analysis.health.active_periods import member_activity_counts
from analysis.health.engine_cache import memo
from analysis.health.member_days import member_periods, ordinal_starts
from analysis.health.periods import (
    Period,
    check_period,
    period_end,
    period_index,
    period_start_expr,
)
from analysis.results import Result


def members_included(community: Community, *, include_staff: bool, include_bots: bool) -> Any:
    """The ``members`` table restricted by the staff/bot flags (an ibis expression)."""
    members = community.members
    if not include_staff:
        members = members.filter(~members.is_staff)
    if not include_bots:
        members = members.filter(~members.is_bot)
    return members


def activity_events_expr(community: Community, members: Any, *, with_channel: bool = False) -> Any:
    """Activity events of ``members``: ``member_id``, ``at``, ``is_message`` [, ``channel_id``].

    The one definition of what makes a member *active* (see the module docstring): a non-service
    message (``at`` = ``created_at``, ``is_message`` = 1) or an attributed reaction, i.e. one
    whose reactor and ``reacted_at`` are known (``at`` = ``reacted_at``, ``is_message`` = 0).
    With ``with_channel`` a reaction carries the channel of the message it reacts to.
    """
    msgs = community.messages.filter(community.messages.kind != "service")
    msgs = msgs.semi_join(members, msgs.member_id == members.member_id)
    columns = {"member_id": msgs.member_id, "at": msgs.created_at, "is_message": ibis.literal(1)}
    if with_channel:
        columns["channel_id"] = msgs.channel_id
    events = msgs.select(**columns)
    if community.has("reactions"):
        reactions = community.table("reactions")
        reactions = reactions.filter(reactions.member_id.notnull() & reactions.reacted_at.notnull())
        reactions = reactions.semi_join(members, reactions.member_id == members.member_id)
        if with_channel:
            where = community.messages.select(target_id="message_id", channel_id="channel_id")
            reactions = reactions.join(where, reactions.message_id == where.target_id)
        columns = {
            "member_id": reactions.member_id,
            "at": reactions.reacted_at,
            "is_message": ibis.literal(0),
        }
        if with_channel:
            columns["channel_id"] = reactions.channel_id
        events = events.union(reactions.select(**columns), distinct=False)
    return events


def activity_expr(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
    by_channel: bool = False,
) -> Any:
    """The activity aggregate as one ibis expression (see :func:`activity` for definitions).

    Columns: ``period_start`` (date), [``channel_id``], ``messages``, ``authors``,
    ``active_members``. With ``by_channel`` a reaction counts in the channel of the message it
    reacts to. Periods without activity are absent here; :func:`activity` fills them.
    """
    check_period(period)
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    events = activity_events_expr(community, members, with_channel=by_channel)
    keys = ["period_start", "channel_id"] if by_channel else ["period_start"]
    acts = events.mutate(period_start=period_start_expr(events.at, period))
    if not community.has("reactions"):
        # every event is a message: active members are the authors (one aggregation, not two)
        agg = acts.group_by(keys).aggregate(
            messages=acts.is_message.sum(), authors=acts.member_id.nunique()
        )
        return agg.select(
            *(agg[k] for k in keys),
            messages=agg.messages,
            authors=agg.authors,
            active_members=agg.authors,
        ).order_by(keys)
    per_message = acts.filter(acts.is_message == 1)
    active = acts.group_by(keys).aggregate(active_members=acts.member_id.nunique())
    written = per_message.group_by(keys).aggregate(
        messages=per_message.is_message.sum(),
        authors=per_message.member_id.nunique(),
    )
    joined = active.left_join(written, keys)
    return joined.select(
        *(joined[k] for k in keys),
        messages=joined.messages.fill_null(0),
        authors=joined.authors.fill_null(0),
        active_members=joined.active_members,
    ).order_by(keys)


def joins_expr(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """New members per period (``period_start``, ``new_members``) as an ibis expression."""
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    joins = members.select(period_start=period_start_expr(members.joined_at, period))
    return (
        joins.group_by("period_start").aggregate(new_members=joins.count()).order_by("period_start")
    )


@dataclass(frozen=True)
class ActivitySeries(Result):
    """Activity per period: messages, authors, active members, members.

    Attributes
    ----------
    period : str
        ``day``, ``week`` or ``month`` (UTC calendar periods; weeks start on Monday).
    include_staff, include_bots : bool
        Whether staff and bot accounts were counted.
    frame : pandas.DataFrame
        One row per period with ``period_start``, ``messages``, ``authors``, ``active_members``,
        ``new_members``, ``members`` (cumulative joined by period end), ``active_share``
        (active members ÷ members) and ``complete`` (False for a period that the data ends
        inside, whose counts are therefore partial).
    """

    period: str
    include_staff: bool
    include_bots: bool
    frame: pd.DataFrame = field(repr=False)
    title: str = "Activity"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    @property
    def complete_periods(self) -> pd.DataFrame:
        """Rows of periods that ended before the data did."""
        return self.frame[self.frame["complete"]].copy()

    def summary(self) -> str:
        f = self.frame[self.frame["complete"]]
        if f.empty:
            return "No complete period with messages in this dataset, so no activity to describe."
        who = "including" if self.include_staff else "excluding"
        window = min(4, len(f))
        recent = f.tail(window)
        last = recent.iloc[-1]
        text = (
            f"In the last {window} complete {self.period}s ({who} staff), on average "
            f"{recent['active_members'].mean():,.0f} members were active per {self.period} and "
            f"{recent['authors'].mean():,.0f} wrote, out of {int(last['members']):,} members "
            f"({recent['active_share'].mean():.1%} active)."
        )
        earlier = f.iloc[-2 * window : -window]
        if len(earlier) == window and earlier["active_members"].mean() > 0:
            change = recent["active_members"].mean() / earlier["active_members"].mean() - 1
            text += (
                f" Active members changed by {change:+.0%} against the {window} {self.period}s "
                f"before."
            )
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        long = self.frame.melt(
            id_vars="period_start",
            value_vars=["active_members", "authors"],
            var_name="series",
            value_name="count",
        )
        sns.lineplot(data=long, x="period_start", y="count", hue="series", ax=ax)
        ax.set_xlabel(f"{self.period} (UTC)")
        ax.set_ylabel(f"members per {self.period}")
        ax.set_title(f"Active members and authors per {self.period}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        f = self.complete_periods
        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "complete_periods": int(len(f)),
            "messages_total": int(self.frame["messages"].sum()),
            "latest_period_start": str(f["period_start"].iloc[-1].date()) if len(f) else None,
            "latest_active_members": int(f["active_members"].iloc[-1]) if len(f) else 0,
            "latest_members": int(f["members"].iloc[-1]) if len(f) else 0,
        }


def activity(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> ActivitySeries:
    """Messages, authors, active members and members per day, week or month.

    Parameters
    ----------
    community : Community
    period : {"day", "week", "month"}
        UTC calendar periods; ISO weeks start Monday 00:00 UTC.
    include_staff, include_bots : bool
        Count staff / bot accounts (default: staff yes, bots no).

    Returns
    -------
    ActivitySeries
        See the module docstring for each column's definition. ``active_share`` is active
        members ÷ members at the period's end (the *weekly return rate* of the domain spec when
        ``period="week"``).

    Notes
    -----
    DAU/WAU/MAU follow the usual product-analytics definitions (distinct active users per
    day/week/month); a member counts once per period however much they post.

    How: the counts come from the member-day table
    (:func:`analysis.health.member_days.member_days`, built by the first member metric and
    shared with usage, weekly return, cohorts, concentration, the newcomer metrics and the
    ladder): per-day counts by one group-by, weekly and monthly ones from period bit masks per
    member (:func:`analysis.health.active_periods.member_activity_counts`), both memoised, so
    the daily, weekly and monthly series of :func:`~analysis.health.usage.usage` and the return
    rate of :func:`~analysis.health.weekly_return.weekly_return` cost no further query.
    """
    check_period(period)
    kw = {
        "period": period,
        "include_staff": bool(include_staff),
        "include_bots": bool(include_bots),
    }
    frame = memo(community, ("activity", *kw.values()), lambda: _activity_frame(community, **kw))
    return ActivitySeries(
        period=period, include_staff=include_staff, include_bots=include_bots, frame=frame.copy()
    )


def _activity_frame(
    community: Community, *, period: Period, include_staff: bool, include_bots: bool
) -> pd.DataFrame:
    kw = {"include_staff": include_staff, "include_bots": include_bots}
    acts = member_activity_counts(community, period, **kw)
    if acts is None:  # a span too long for period bit masks: the (member, period) pairs
        acts = community.execute(activity_counts_expr(community, period=period, **kw))
    acts = acts[["ordinal", "messages", "authors", "active_members"]].copy()
    acts["period_start"] = ordinal_starts(acts.pop("ordinal"), period)
    joins = community.execute(joins_expr(community, period=period, **kw))
    frame = _assemble(acts, joins, period)
    if len(frame):
        last = community.last_message_at().tz_convert(None)
        frame["complete"] = period_end(frame["period_start"], period) <= last
    else:
        frame["complete"] = pd.Series(dtype=bool)
    return frame


def activity_counts_expr(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """:func:`activity_expr`'s counts from the member-day table (one row per period with activity).

    Columns ``ordinal`` (:func:`analysis.health.member_days.period_ordinal`), ``messages``,
    ``authors``, ``active_members``: the same numbers as :func:`activity_expr` (a period is a
    union of UTC days, so the distinct members of its member-day rows are its active members),
    read from :func:`analysis.health.member_days.member_periods` (one row per member and period
    with activity, derived from the member-day table) instead of every message. Used by
    :func:`activity` when the data spans too many weeks for the period bit masks of
    :func:`analysis.health.active_periods.member_activity_counts`; checked equal to
    :func:`activity_expr` in the tests.
    """
    check_period(period)
    t = member_periods(community, period, include_staff=include_staff, include_bots=include_bots)
    # one row per member and period: counting rows counts distinct members
    active = t.count()
    authors = t.count(where=t.messages > 0) if community.has("reactions") else active
    agg = t.group_by("ordinal").aggregate(
        messages=t.messages.sum().cast("int64"),
        authors=authors.cast("int64"),
        active_members=active.cast("int64"),
    )
    return agg.order_by("ordinal")


def _assemble(acts: pd.DataFrame, joins: pd.DataFrame, period: Period) -> pd.DataFrame:
    columns = ["period_start", "messages", "authors", "active_members", "new_members", "members"]
    if acts.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns}).assign(
            period_start=pd.Series(dtype="datetime64[ns]"), active_share=pd.Series(dtype=float)
        )
    for frame in (acts, joins):
        frame["period_start"] = pd.to_datetime(frame["period_start"])
    index = period_index(acts["period_start"].min(), acts["period_start"].max(), period)
    out = acts.set_index("period_start").reindex(index, fill_value=0)
    new = joins.set_index("period_start")["new_members"]
    out["new_members"] = new.reindex(index, fill_value=0)
    joined_before = int(new[new.index < index[0]].sum())
    out["members"] = out["new_members"].cumsum() + joined_before
    out = out.astype("int64").rename_axis("period_start").reset_index()
    members = out["members"].where(out["members"] > 0)
    out["active_share"] = (out["active_members"] / members).astype(float)
    return out[[*columns, "active_share"]]
