"""Active members per period: the shared building block of activity, usage, return and cohorts.

Definitions (as in :mod:`analysis.health.activity`, used by :mod:`analysis.health.activity`,
:mod:`analysis.health.usage`, :mod:`analysis.health.weekly_return` and
:mod:`analysis.health.cohorts`):

Active member
    A member with at least one non-service message or one attributed reaction (reactor and time
    known) in the period. Where the platform exports no reactor names, active members equal
    authors.
Period
    UTC calendar day, ISO week (Monday 00:00 UTC) or calendar month; every period between the
    first and the last activity appears, empty ones as zeros.

How the weekly and monthly counts are computed (:func:`member_activity_counts`)
    From the member-day table (:func:`analysis.health.member_days.member_days`, one row per
    member and UTC day with activity; a period is a union of UTC days). One engine query groups
    it by member into *period bit masks*: bit ``i`` of a member's week mask is set iff the member
    was active in the ``i``-th week of the data (``i`` = week ordinal − the first week's; 63 bits
    per 64-bit word, ``bit_or`` over the member's days), the same for months, and, when the
    community has reactions, masks of the days with a message (authors). The same query sums
    every bit position over the members: active members of period ``i`` = Σ bit ``i``; members
    active in both period ``i − 1`` and ``i`` (the *retained* of weekly return) = Σ bit ``i`` ·
    bit ``i − 1``. One small row comes back. This replaces three stored ``(member, period)``
    tables and a self-join of one of them by one group-by over the member-days (the masks are
    exact: a set of periods per member, nothing is approximated). Messages per period are summed
    from the per-day counts (one group-by by day). Spans longer than :data:`MAX_MASK_PERIODS`
    weeks are left to the ``(member, period)`` pair tables
    (:func:`analysis.health.member_days.member_periods`), which give the same numbers.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.engine_cache import memo
from analysis.health.member_days import drop_excluded, member_days, member_days_of, period_ordinal
from analysis.health.periods import (
    Period,
    check_period,
    epoch_seconds,
    period_start_expr,
    utc_date_expr,
)

__all__ = [
    "MASK_BITS",
    "MAX_MASK_PERIODS",
    "active_member_periods_expr",
    "attributed_reactions",
    "bit_or",
    "mask_bit",
    "member_activity_counts",
    "members_counted",
]

#: Longest span (in weeks) counted with period bit masks; longer data reads the pair tables.
MAX_MASK_PERIODS = 320
#: Bits used per 64-bit mask word (the sign bit stays clear on every engine).
MASK_BITS = 63
#: ``2**62``: ``_TOP >> (62 − i)`` is bit ``i``. A literal above ``2**31``, so DuckDB and Spark
#: both type it BIGINT (a literal ``1 << i`` would be a 32-bit INT on both).
_TOP = 1 << (MASK_BITS - 1)


@ibis.udf.agg.builtin(name="bit_or")
def bit_or(arg: dt.int64) -> dt.int64:  # type: ignore[empty-body]
    """Bitwise OR over a group (``bit_or`` on DuckDB and Spark; ibis 12 compiles its own
    ``bit_or`` on DuckDB only)."""


def members_counted(include_staff: bool, include_bots: bool) -> str:
    """Which members a summary counts, in words ("including staff, excluding bots")."""
    staff = "including staff" if include_staff else "excluding staff"
    bots = "including bots" if include_bots else "excluding bots"
    return f"{staff}, {bots}"


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
    from analysis.health.activity import activity_events_expr, members_included

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


# --------------------------------------------------------------------------------------------
# per-period counts of active members from period bit masks
# --------------------------------------------------------------------------------------------


def member_activity_counts(
    community: Community, period: Period, *, include_staff: bool, include_bots: bool
) -> pd.DataFrame | None:
    """Per period with activity: ``ordinal``, ``messages``, ``authors``, ``active_members``
    [, ``retained``] (pandas, memoised per community and switches).

    ``ordinal`` is :func:`analysis.health.member_days.period_ordinal`; ``messages`` = non-service
    messages, ``authors`` / ``active_members`` = distinct members with a message / with any
    activity in the period (definitions in :mod:`analysis.health.activity`); for weeks and
    months ``retained`` = members active in both period ``ordinal − 1`` and ``ordinal`` (the
    numerator of :func:`analysis.health.weekly_return.weekly_return`). Computed for day, week
    and month at once by two engine queries (the module docstring's *How*). ``None`` for a week
    or month when the data spans more than :data:`MAX_MASK_PERIODS` weeks (the caller reads the
    pair tables instead).
    """
    check_period(period)
    key = ("member_activity_counts", bool(include_staff), bool(include_bots))
    counts = memo(
        community,
        key,
        lambda: _all_counts(community, include_staff=include_staff, include_bots=include_bots),
    )
    out = counts[period]
    return None if out is None else out.copy()


def _all_counts(
    community: Community, *, include_staff: bool, include_bots: bool
) -> dict[str, pd.DataFrame | None]:
    days = member_days_of(community, include_staff=include_staff, include_bots=include_bots)
    per_day = days.group_by("day").aggregate(
        messages=days.messages.sum().cast("int64"),
        # one row per member and day: rows are distinct members
        authors=days.count(where=days.messages > 0).cast("int64"),
        active_members=days.count().cast("int64"),
    )
    daily = community.execute(per_day.order_by("day")).rename(columns={"day": "ordinal"})
    daily = daily.astype("int64")
    out: dict[str, pd.DataFrame | None] = {"day": daily, "week": None, "month": None}
    if daily.empty:
        empty = daily.assign(retained=pd.Series(dtype="int64"))
        return {"day": daily, "week": empty, "month": empty.copy()}
    ordinals = {p: _day_ordinals(daily["ordinal"], p) for p in ("week", "month")}
    spans = {p: (int(o.min()), int(o.max()) - int(o.min()) + 1) for p, o in ordinals.items()}
    if spans["week"][1] > MAX_MASK_PERIODS:
        return out
    with_authors = community.has("reactions")
    masks = _masks_expr(member_days(community), spans, with_authors)
    # staff or bots left out after the group-by: fewer rows to probe (one per member)
    masks = drop_excluded(masks, community, include_staff=include_staff, include_bots=include_bots)
    row = community.execute(_mask_counts_expr(masks, spans, with_authors)).iloc[0]
    for p, (base, n) in spans.items():
        active = np.array([int(row[f"{p}_active_{i}"]) for i in range(n)], dtype=np.int64)
        retained = np.array(
            [0, *(int(row[f"{p}_retained_{i}"]) for i in range(1, n))], dtype=np.int64
        )
        authors = (
            np.array([int(row[f"{p}_authors_{i}"]) for i in range(n)], dtype=np.int64)
            if with_authors
            else active
        )
        messages = daily.groupby(ordinals[p].to_numpy())["messages"].sum()
        frame = pd.DataFrame(
            {
                "ordinal": np.arange(base, base + n, dtype=np.int64),
                "messages": messages.reindex(range(base, base + n), fill_value=0).to_numpy(),
                "authors": authors,
                "active_members": active,
                "retained": retained,
            }
        )
        out[p] = frame[frame["active_members"] > 0].reset_index(drop=True).astype("int64")
    return out


def _day_ordinals(days: pd.Series, period: Period) -> pd.Series:
    """:func:`analysis.health.member_days.period_ordinal` of integer UTC days, in pandas."""
    d = days.astype("int64")
    if period == "week":
        return (d + 3) // 7
    dates = pd.to_datetime(d, unit="D")
    return dates.dt.year.astype("int64") * 12 + dates.dt.month.astype("int64") - 1


def mask_bit(index: Any, word: int, where: Any = None) -> Any:
    """``2**(index − 63·word)`` if that bit lies in word ``word`` (and ``where`` holds), else 0."""
    off = index - word * MASK_BITS
    inside = (off >= 0) & (off < MASK_BITS)
    if where is not None:
        inside = inside & where
    # shifting 2**62 right by 63 gives 0
    shift = ibis.ifelse(inside, MASK_BITS - 1 - off, MASK_BITS).cast("int32")
    return ibis.literal(_TOP, "int64") >> shift


def _bit_set(masks: Any, name: str, i: int) -> Any:
    """``1`` where bit ``i`` of the multi-word mask ``name`` is set, else ``0`` (ibis int64)."""
    word, b = divmod(i, MASK_BITS)
    return (masks[f"{name}{word}"] >> b) & 1


def _masks_expr(days: Any, spans: dict[str, tuple[int, int]], with_authors: bool) -> Any:
    """One row per member of ``days``: ``member_id`` and the period bit mask words ``<p>_a<w>``
    (active) [and ``<p>_m<w>``: days with a message] of each span ``p: (first ordinal, n)``."""
    words: dict[str, Any] = {}
    for p, (base, n) in spans.items():
        index = period_ordinal(days.day, p) - base
        for w in range(-(-n // MASK_BITS)):
            words[f"{p}_a{w}"] = bit_or(mask_bit(index, w))
            if with_authors:
                words[f"{p}_m{w}"] = bit_or(mask_bit(index, w, days.messages > 0))
    return days.group_by("member_id").aggregate(**words)


def _mask_counts_expr(masks: Any, spans: dict[str, tuple[int, int]], with_authors: bool) -> Any:
    """One row: per period ``i`` of each span, ``<p>_active_i``, ``<p>_retained_i`` (i ≥ 1) and
    [``<p>_authors_i``], summed over the members' period bit masks (:func:`_masks_expr`)."""
    sums: dict[str, Any] = {}
    for p, (_, n) in spans.items():
        for i in range(n):
            here = _bit_set(masks, f"{p}_a", i)
            sums[f"{p}_active_{i}"] = here.sum().cast("int64")
            if i:
                sums[f"{p}_retained_{i}"] = (here & _bit_set(masks, f"{p}_a", i - 1)).sum()
                sums[f"{p}_retained_{i}"] = sums[f"{p}_retained_{i}"].cast("int64")
            if with_authors:
                sums[f"{p}_authors_{i}"] = _bit_set(masks, f"{p}_m", i).sum().cast("int64")
    return masks.aggregate(**sums)
