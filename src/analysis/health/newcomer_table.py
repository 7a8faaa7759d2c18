"""The newcomer table: one row per newcomer (first message, first reply, return, repeats).

The per-member table (:func:`newcomer_table_expr`) is computed on the community's engine, from
the member-day table (:mod:`analysis.health.member_days`) and the first messages and replies to
them (:mod:`analysis.health.first_messages`, stored once per community and shared with the member
ladder); its pandas frames are memoised once per community and options (the query itself is not
stored: each frame reads it once, the numeric one without the identifiers). The newcomer metrics
(:mod:`analysis.health.newcomers`, :mod:`analysis.health.repeat`) read its numeric columns, one
row per newcomer (:func:`newcomer_flags`), from which the exact medians and 90th percentiles are
computed (as in :mod:`analysis.health.period_results`, so DuckDB and Spark agree exactly);
:func:`newcomer_table` brings back every column, identifiers included, sorted. The definitions
below are those of all newcomer metrics.

Definitions
-----------
Newcomer and first message
    A member's first message is their earliest non-service message (ties broken by
    ``message_id``). Newcomers are the members with a first message in the data; staff are
    excluded unless ``include_staff`` (staff are not newcomers) and bots unless ``include_bots``.
Reply to the first message
    A non-service message by someone other than the newcomer that replies directly to the first
    message (``reply_to_id`` = its id) or, when the first message starts a thread (no
    ``reply_to_id``), any message of that thread. Replies by staff count (a staff welcome is a
    welcome); replies by bots count only with ``include_bots``. *Time to first reply* = earliest
    such reply − first message, in whole seconds, clipped at 0 (clock skew).
Answered within 24 h
    Time to first reply ≤ 24 h. Only newcomers whose first message is at least 24 h before the
    data end (the last message) are exposed.
Return (the simulator's definition, :class:`analysis.synth.GroundTruth`)
    ≥ 1 non-service message in ``[first + 7 d, first + 35 d)``; exposed when ``first + 35 d ≤``
    data end.
Repeat contribution
    Another non-service message in ``(first, first + k d]`` for ``k`` = 7 and 30; exposed when
    ``first + k d ≤`` data end.
Periods
    A newcomer belongs to the UTC calendar period of their first message; every period from the
    first to the last message of the data is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import pandas as pd

from analysis.data import Community
from analysis.health.engine_cache import memo
from analysis.health.first_messages import first_messages, first_replies
from analysis.health.included import staff_ids
from analysis.health.member_days import drop_excluded, member_days
from analysis.health.periods import epoch_seconds

__all__ = [
    "DAY_S",
    "fill_periods",
    "newcomer_flags",
    "newcomer_table",
    "newcomer_table_expr",
    "newcomers_counted",
]

DAY_S = 86_400


def _first_messages(community: Community, *, include_staff: bool, include_bots: bool) -> Any:
    """Per newcomer: ``member_id``, ``is_staff``, ``channel_id``, ``first_message_id``,
    ``first_at``, ``first_is_root``, ``first_s`` (whole seconds of ``first_at``).

    The stored first messages (:func:`analysis.health.first_messages.first_messages`, shared
    with the member ladder; without bots unless ``include_bots``) without the staff newcomers
    unless ``include_staff`` (an anti join against the few excluded accounts).
    """
    first = drop_excluded(
        first_messages(community, include_bots=include_bots),
        community,
        include_staff=include_staff,
        include_bots=include_bots,
    )
    # the staff flag from a join with the (few) staff accounts, not with every member
    staff = staff_ids(community)
    first = first.left_join(staff, first.member_id == staff.st_id)
    return first.select(
        member_id=first.member_id,
        is_staff=first.st_id.notnull(),
        channel_id=first.channel_id,
        first_message_id=first.first_message_id,
        first_at=first.first_at,
        first_is_root=first.first_is_root,
        first_s=first.first_s,
    )


def _in_window(off: Any, lo_s: int, hi_s: int, *, closed_right: bool) -> Any:
    if closed_right:
        return (off > lo_s) & (off <= hi_s)
    return (off >= lo_s) & (off < hi_s)


def newcomer_table_expr(
    community: Community,
    *,
    include_staff: bool = False,
    include_bots: bool = False,
    repeat_days: Sequence[int] = (7, 30),
    return_window_days: tuple[int, int] = (7, 35),
) -> Any:
    """One row per newcomer (ibis expression; definitions in the module docstring).

    Columns: ``member_id``, ``is_staff``, ``first_message_id``, ``first_at``, ``channel_id``,
    ``first_is_root``, ``first_reply_at`` (null if never answered), ``reply_seconds`` (clipped
    at 0; null if never answered), ``returned`` (a message in the return window),
    ``repeat_<k>d`` for each ``k`` in ``repeat_days``. The first messages and the replies to
    them are the tables of :mod:`analysis.health.first_messages`, stored on the engine once per
    community and ``include_bots`` (shared with the member ladder); without ``include_bots``
    they hold no bot newcomer and no bot reply.

    How: the first second and the later-message flags come from the member-day table
    (:func:`analysis.health.member_days.member_days`, one row per member and UTC day with the
    first and last message second): the return and repeat windows are whole days long, so a
    member-day has a message inside one iff its first or last message second is inside it (the
    argument is in :mod:`analysis.health.member_days`); the same flags as testing every later
    message, from far fewer rows.
    """
    first = _first_messages(community, include_staff=include_staff, include_bots=include_bots)

    # replies by others (direct, and in the thread the first message started), stored once per
    # community; staff replies always count, bot replies only with include_bots (the table
    # built without bots has none)
    cand = first_replies(community, include_bots=include_bots)
    replied = cand.group_by(r_member=cand.member_id).aggregate(first_reply_at=cand.a_at.min())

    # later messages of the newcomer, from their member-days (offsets in seconds from the first)
    days = member_days(community)
    days = days.filter(days.messages > 0)
    # (every member's stored first message: the left join below drops the members that are no
    # newcomers under the switches, so the staff joins are not repeated here)
    stored = first_messages(community, include_bots=include_bots)
    f = stored.select(f_member=stored.member_id, f_t=stored.first_s)
    lj = days.inner_join(f, days.member_id == f.f_member)
    lo, hi = return_window_days
    # every window ends by `reach` seconds after the first message: a member-day that starts
    # later has no message in any window (its last second is later still), so it is dropped
    # before the group-by (most member-days of long-lived members)
    reach = max([hi, *repeat_days]) * DAY_S
    lj = lj.filter(lj.msg_first_s - lj.f_t <= reach)
    off_first, off_last = lj.msg_first_s - lj.f_t, lj.msg_last_s - lj.f_t

    def flag(lo_s: int, hi_s: int, closed_right: bool) -> Any:
        hit = _in_window(off_first, lo_s, hi_s, closed_right=closed_right) | _in_window(
            off_last, lo_s, hi_s, closed_right=closed_right
        )
        return hit.cast("int64").max()

    flags = {"returned": flag(lo * DAY_S, hi * DAY_S, False)}
    for k in repeat_days:
        flags[f"repeat_{k}d"] = flag(0, k * DAY_S, True)
    again = lj.group_by(g_member=lj.f_member).aggregate(**flags)

    t = first.left_join(replied, first.member_id == replied.r_member)
    t = t.left_join(again, t.member_id == again.g_member)
    delta = epoch_seconds(t.first_reply_at) - epoch_seconds(t.first_at)
    out = {
        "member_id": t.member_id,
        "is_staff": t.is_staff,
        "first_message_id": t.first_message_id,
        "first_at": t.first_at,
        "channel_id": t.channel_id,
        "first_is_root": t.first_is_root,
        "first_reply_at": t.first_reply_at,
        "reply_seconds": ibis.ifelse(delta < 0, ibis.literal(0, "int64"), delta),
        "returned": t.returned.fill_null(0) > 0,
    }
    for k in repeat_days:
        out[f"repeat_{k}d"] = t[f"repeat_{k}d"].fill_null(0) > 0
    return t.select(**out)


def _options(
    include_staff: bool,
    include_bots: bool,
    repeat_days: Sequence[int],
    return_window_days: tuple[int, int],
) -> dict[str, Any]:
    return {
        "include_staff": bool(include_staff),
        "include_bots": bool(include_bots),
        "repeat_days": tuple(int(k) for k in repeat_days),
        "return_window_days": tuple(int(k) for k in return_window_days),
    }


def newcomer_table(
    community: Community,
    *,
    include_staff: bool = False,
    include_bots: bool = False,
    repeat_days: Sequence[int] = (7, 30),
    return_window_days: tuple[int, int] = (7, 35),
) -> pd.DataFrame:
    """:func:`newcomer_table_expr` executed, sorted by first message time, plus exposure columns.

    Added columns: ``age_seconds`` (data end − first message), ``exposed_24h``,
    ``answered_24h``, ``exposed_return``, ``exposed_<k>d``. Computed once per community and
    options (:mod:`analysis.health.engine_cache`); every call returns its own copy.
    """
    kw = _options(include_staff, include_bots, repeat_days, return_window_days)
    key = ("newcomers", *kw.values())
    return memo(community, key, lambda: _newcomer_frame(community, **kw)).copy()


def newcomer_flags(
    community: Community,
    *,
    include_staff: bool = False,
    include_bots: bool = False,
    repeat_days: Sequence[int] = (7, 30),
    return_window_days: tuple[int, int] = (7, 35),
) -> pd.DataFrame:
    """The numeric columns of :func:`newcomer_table` that the newcomer metrics read, unsorted.

    ``first_at``, ``reply_seconds``, ``returned``, ``repeat_<k>d`` and the exposure columns
    (``age_seconds``, ``exposed_24h``, ``answered_24h``, ``exposed_return``, ``exposed_<k>d``),
    one row per newcomer in no particular order: the same values as :func:`newcomer_table`
    without its identifiers (strings are most of the transfer from the engine) and its sort.
    Computed once per community and options; every call returns its own copy.
    """
    kw = _options(include_staff, include_bots, repeat_days, return_window_days)
    key = ("newcomer_flags", *kw.values())
    return memo(community, key, lambda: _flags_frame(community, **kw)).copy()


def _execute(community: Community, table: Any) -> pd.DataFrame:
    """``table`` executed, with ``reply_seconds`` as float64, NaN when never answered.

    The column travels with -1 for "never answered" (replies are clipped at 0, so -1 is no
    value) and is set back to NaN in pandas: ibis's DuckDB backend converts any column that has
    nulls through Python objects (about 0.3 s for 0.7M newcomers), a column without nulls
    directly. The same values as executing the nullable column.
    """
    frame = community.execute(table.mutate(reply_seconds=table.reply_seconds.fill_null(-1)))
    seconds = frame["reply_seconds"].astype("float64")
    frame["reply_seconds"] = seconds.where(seconds >= 0)
    return frame


def _flags_frame(community: Community, **kw: Any) -> pd.DataFrame:
    # executed, not stored: the frame itself is memoised, and its query reads no identifier
    table = newcomer_table_expr(community, **kw)
    columns = ["first_at", "reply_seconds", "returned"]
    columns += [f"repeat_{k}d" for k in kw["repeat_days"]]
    frame = _execute(community, table.select(*columns))
    return _add_exposure(community, frame, kw["repeat_days"], kw["return_window_days"])


def _newcomer_frame(
    community: Community,
    *,
    include_staff: bool,
    include_bots: bool,
    repeat_days: Sequence[int],
    return_window_days: tuple[int, int],
) -> pd.DataFrame:
    table = newcomer_table_expr(
        community,
        include_staff=include_staff,
        include_bots=include_bots,
        repeat_days=repeat_days,
        return_window_days=return_window_days,
    )
    frame = _execute(community, table)
    frame["first_reply_at"] = pd.to_datetime(frame["first_reply_at"], utc=True).astype(
        "datetime64[ns, UTC]"
    )
    frame = _add_exposure(community, frame, repeat_days, return_window_days)
    for col in ("first_is_root", "is_staff"):
        frame[col] = frame[col].astype(bool)
    return frame.sort_values(["first_at", "member_id"], kind="stable").reset_index(drop=True)


def _add_exposure(
    community: Community,
    frame: pd.DataFrame,
    repeat_days: Sequence[int],
    return_window_days: tuple[int, int],
) -> pd.DataFrame:
    frame["first_at"] = pd.to_datetime(frame["first_at"], utc=True).astype("datetime64[ns, UTC]")
    end = community.last_message_at() if len(frame) else pd.Timestamp(0, tz="UTC")
    age = (end - frame["first_at"]).dt.total_seconds()
    frame["age_seconds"] = age
    frame["exposed_24h"] = age >= DAY_S
    frame["answered_24h"] = frame["reply_seconds"].le(DAY_S).fillna(False).astype(bool)
    frame["exposed_return"] = age >= return_window_days[1] * DAY_S
    for k in repeat_days:
        frame[f"exposed_{k}d"] = age >= k * DAY_S
    for col in ("returned", *[f"repeat_{k}d" for k in repeat_days]):
        frame[col] = frame[col].astype(bool)
    return frame


def newcomers_counted(include_staff: bool, include_bots: bool) -> str:
    """Which newcomers a summary counts, in words ("newcomers excluding staff and excluding
    bots")."""
    return (
        f"newcomers {'including' if include_staff else 'excluding'} staff and "
        f"{'including' if include_bots else 'excluding'} bots"
    )


def fill_periods(frame: pd.DataFrame, index: pd.DatetimeIndex, fn: Any) -> pd.DataFrame:
    """One row per period of ``index``: ``period_start`` and the fields ``fn`` returns for the
    rows of ``frame`` in that period (``fn`` gets an empty frame for a period without rows)."""
    groups = dict(iter(frame.groupby("period_start"))) if len(frame) else {}
    rows = [{"period_start": p, **fn(groups.get(p, frame.iloc[0:0]))} for p in index]
    return pd.DataFrame(rows)
