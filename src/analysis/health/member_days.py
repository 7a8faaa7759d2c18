"""The member-day table: one row per member and UTC day with activity, shared by the member metrics.

Activity, usage, weekly return, cohort retention, concentration and the newcomer flags all count
*members per period*; each used to read every message again. :func:`member_days` aggregates the
activity events once per community (one pass over the messages, and the attributed reactions when
there are any), materialises the result on the engine (:func:`analysis.health.engine_cache.memo`
and :func:`~analysis.health.engine_cache.materialise`) and hands the same table to every later
metric; :func:`member_days_of` restricts it to the members counted. On the synthetic 10M-message
benchmark the table has ~7.4M rows (members write on few days), read in a fraction of the time of
the messages.

Definitions
-----------
Events
    As in :func:`analysis.health.activity.activity_events_expr`: non-service messages and
    attributed reactions (reactor and ``reacted_at`` known), of every member (staff and bots
    included; :func:`member_days_of` drops them when asked).
Day
    ``day`` = ⌊s / 86 400⌋ where ``s`` = whole seconds since 1970-01-01 UTC
    (:func:`analysis.health.periods.epoch_seconds`), i.e. the UTC calendar day as an integer
    (day 0 = 1970-01-01).
Columns
    ``member_id``, ``day``; ``messages`` = non-service messages of the member that day;
    ``first_s`` / ``last_s`` = ``s`` of the member's first / last event that day;
    ``msg_first_s`` / ``msg_last_s`` = the same over messages only (null on a day with reactions
    only). Without a reactions table the ``msg_`` columns equal the others.

Why first and last seconds are enough
    A day spans 86 399 s. For any half-open window ``[a, b)`` (or ``(a, b]``) at least one day
    long, a member has an event of day *D* inside the window **iff** ``first_s`` or ``last_s`` of
    *D* is inside it: if an event ``e`` of *D* is inside but ``first_s`` is not, then
    ``first_s < a ≤ e ≤ last_s < first_s + 86 400 ≤ a + 86 400 ≤ b``. So the periods-since-join
    of cohort retention (7 or 30 days long) and the newcomer windows (whole days) are computed
    exactly from this table, as are calendar periods (unions of days).
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from analysis.data import Community
from analysis.health.engine_cache import materialise, memo
from analysis.health.periods import Period, epoch_seconds

__all__ = [
    "DAY_SECONDS",
    "drop_excluded",
    "excluded_members",
    "member_days",
    "member_days_of",
    "member_periods",
    "member_totals",
    "ordinal_starts",
    "period_ordinal",
    "store",
]

DAY_SECONDS = 86_400


def excluded_members(community: Community, *, include_staff: bool, include_bots: bool) -> Any:
    """``member_id`` of the members *not* counted under the staff/bot switches, or ``None``.

    The complement of :func:`analysis.health.activity.members_included`. Every ``member_id`` of
    ``messages`` and ``reactions`` names a row of ``members`` (checked at validation,
    :func:`analysis.schema.check_links`), so dropping these few members (an anti join against a
    handful of rows) keeps exactly the rows a semi join with the included members keeps, without
    probing a table of every member.
    """
    members = community.members
    cond = None
    if not include_staff:
        cond = members.is_staff
    if not include_bots:
        cond = members.is_bot if cond is None else (cond | members.is_bot)
    if cond is None:
        return None
    return members.filter(cond).select(x_member=members.member_id)


def drop_excluded(
    table: Any, community: Community, *, include_staff: bool, include_bots: bool
) -> Any:
    """``table`` (with a ``member_id`` column) without the rows of excluded members."""
    out = excluded_members(community, include_staff=include_staff, include_bots=include_bots)
    if out is None:
        return table
    return table.anti_join(out, table.member_id == out.x_member)


def _events_expr(community: Community) -> Any:
    """Activity events of every member: ``member_id``, ``s`` (whole seconds), ``is_message``."""
    msgs = community.messages
    msgs = msgs.filter(msgs.kind != "service")
    events = msgs.select(
        member_id=msgs.member_id, s=epoch_seconds(msgs.created_at), is_message=ibis.literal(1)
    )
    with_reactions = community.has("reactions")
    if with_reactions:
        r = community.table("reactions")
        r = r.filter(r.member_id.notnull() & r.reacted_at.notnull())
        events = events.union(
            r.select(member_id=r.member_id, s=epoch_seconds(r.reacted_at), is_message=0),
            distinct=False,
        )
    return events


def _member_days_expr(community: Community) -> Any:
    with_reactions = community.has("reactions")
    events = _events_expr(community)
    events = events.mutate(day=events.s // DAY_SECONDS)
    is_msg = events.is_message == 1
    # a count, not a sum of the 0/1 flag: the engines sum integers into a 128-bit value (DuckDB
    # SUM → HUGEINT, which ibis types as int64 and so keeps in the stored table), a count is int64
    aggs = {
        "messages": events.count(where=is_msg) if with_reactions else events.count(),
        "first_s": events.s.min(),
        "last_s": events.s.max(),
    }
    if with_reactions:
        aggs["msg_first_s"] = events.s.min(where=is_msg)
        aggs["msg_last_s"] = events.s.max(where=is_msg)
    return events.group_by(["member_id", "day"]).aggregate(**aggs)


def member_days(community: Community) -> Any:
    """The member-day table of every member (ibis table materialised on the engine, memoised).

    Columns and definitions in the module docstring. Built once per community (the first metric
    that needs it pays one pass over the events); later calls return the same table.
    """
    return memo(community, ("member_days",), lambda: _build(community))


def store(community: Community, expr: Any) -> Any:
    """``expr`` stored on the community's engine (:mod:`analysis.health.engine_cache`).

    :func:`~analysis.health.engine_cache.materialise`, which leaves an expression over
    in-memory tables only uncached on engines without temporary tables.
    """
    return materialise(community, expr)


def _state(community: Community) -> dict[str, bool]:
    return memo(community, ("member_days_state",), dict)


def _build(community: Community) -> Any:
    table = store(community, _member_days_expr(community))
    _state(community)["built"] = True
    if "msg_first_s" not in table.columns:
        table = table.mutate(msg_first_s=table.first_s, msg_last_s=table.last_s)
    return table


def member_days_of(community: Community, *, include_staff: bool, include_bots: bool) -> Any:
    """:func:`member_days` restricted to the members counted under the staff/bot switches."""
    return drop_excluded(
        member_days(community),
        community,
        include_staff=include_staff,
        include_bots=include_bots,
    )


def member_totals(community: Community, *, include_staff: bool, include_bots: bool) -> Any:
    """One row per counted member with a message: ``member_id``, ``messages``, ``msg_first_s``.

    ``messages`` = the member's non-service messages in the data, ``msg_first_s`` = the whole
    second of the first of them; summed from :func:`member_days` and stored once per community
    (every member; the switches drop the few staff or bot rows afterwards). Read by
    concentration over the whole data and by the newcomer table.
    """

    def build() -> Any:
        days = member_days(community)
        days = days.filter(days.messages > 0)
        agg = days.group_by("member_id").aggregate(
            messages=days.messages.sum().cast("int64"), msg_first_s=days.msg_first_s.min()
        )
        return store(community, agg)

    totals = memo(community, ("member_totals",), build)
    return drop_excluded(totals, community, include_staff=include_staff, include_bots=include_bots)


def member_periods(
    community: Community, period: Period, *, include_staff: bool, include_bots: bool
) -> Any:
    """One row per counted member and period with activity (ibis table, memoised on the engine).

    Columns ``member_id``, ``ordinal`` (:func:`period_ordinal`), ``messages`` (non-service
    messages of the member in the period): the distinct ``(member, period)`` pairs of the
    activity events, stored once per community, period and switches. Activity, usage and weekly
    return count from period bit masks
    (:func:`analysis.health.active_periods.member_activity_counts`) and read these pairs only
    for data spanning more than
    :data:`~analysis.health.active_periods.MAX_MASK_PERIODS` weeks. ``period="day"`` is
    :func:`member_days_of` itself. Built from the member-day table when that is already stored
    (a period is a union of UTC days), else in one pass over the events; the same rows either
    way (checked in the tests).
    """
    if period == "day":
        days = member_days_of(community, include_staff=include_staff, include_bots=include_bots)
        return days.select("member_id", ordinal=days.day, messages=days.messages)

    def build() -> Any:
        if _state(community).get("built"):
            days = member_days_of(community, include_staff=include_staff, include_bots=include_bots)
            t = days.mutate(ordinal=period_ordinal(days.day, period))
            agg = t.group_by(["member_id", "ordinal"]).aggregate(messages=t.messages.sum())
        else:
            ev = drop_excluded(
                _events_expr(community),
                community,
                include_staff=include_staff,
                include_bots=include_bots,
            )
            ev = ev.mutate(ordinal=period_ordinal(ev.s // DAY_SECONDS, period))
            agg = ev.group_by(["member_id", "ordinal"]).aggregate(messages=ev.is_message.sum())
        return store(
            community, agg.select("member_id", "ordinal", messages=agg.messages.cast("int64"))
        )

    key = ("member_periods", period, bool(include_staff), bool(include_bots))
    return memo(community, key, build)


def period_ordinal(day: Any, period: Period) -> Any:
    """The period of an integer UTC ``day`` (ibis), numbered so consecutive periods differ by 1.

    ``day``: the day itself; ``week``: ISO weeks, ``(day + 3) // 7`` (1970-01-01 was a
    Thursday, so week 0 starts Monday 1969-12-29); ``month``: ``12·year + month − 1`` of the
    day's calendar date. The same numbering as
    :func:`analysis.health.active_periods._period_ordinal` for timestamps.
    """
    if period == "day":
        return day
    if period == "week":
        return (day + 3) // 7
    date = ibis.date(1970, 1, 1) + day.as_interval("D")
    return date.year().cast("int64") * 12 + date.month().cast("int64") - 1


def ordinal_starts(ordinals: pd.Series, period: Period) -> pd.Series:
    """Start (naive ``datetime64[ns]``, UTC) of the periods numbered by :func:`period_ordinal`."""
    o = pd.Series(ordinals, copy=False).astype("int64")
    epoch = pd.Timestamp("1970-01-01")
    if period == "day":
        out = epoch + pd.to_timedelta(o, unit="D")
    elif period == "week":
        out = epoch + pd.to_timedelta(7 * o - 3, unit="D")
    else:
        out = pd.to_datetime(pd.DataFrame({"year": o // 12, "month": o % 12 + 1, "day": 1}))
    return pd.Series(out, index=o.index).astype("datetime64[ns]")
