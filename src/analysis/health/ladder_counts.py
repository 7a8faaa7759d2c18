"""The counts behind the member ladder: per member and rule window, aggregated on the engine.

:func:`ladder_counts` computes, for every member placed on the ladder and every period, the three
numbers the rules of :mod:`analysis.health.ladder` read (definitions in that module's docstring):
messages and first responses to newcomers in the rule window, and referrals so far. It returns
them as dense ``periods × members`` integer matrices, with the members in ``member_id`` order
(column ``j`` is the ``j``-th smallest ``member_id``), so the ladder frame can be built in
``(period_start, member_id)`` order without sorting strings.

How the windows are counted on the engine
-----------------------------------------
Let ``d`` be the UTC day of an event and ``π(x)`` the index of the calendar period containing day
``x``. The rule window of period ``p`` is ``[E_p − k, E_p)`` with ``E_p`` the period's end (the
start ``S_{p+1}`` of the next period) and ``k = window_days``. Both ends are UTC midnights, so an
event of day ``d`` lies in it iff ``E_p − k ≤ d < E_p``, i.e. iff ``d < S_{p+1} ≤ d + k``, i.e. iff

    ``π(d) ≤ p ≤ π(d + k) − 1``.

Every message is therefore summarised by the pair ``a = π(d)``, ``b = π(d + k)`` (``b = a + 1``
with ``window_days=None``, when the window is the period itself). ``π`` is computed on the engine
from the integer UTC day ``d`` with the period ordinal of
:func:`analysis.health.member_days.period_ordinal` (consecutive periods differ by 1) minus the
ordinal of the first period; indexes past the last period are clipped when the windows are summed.
The messages are read from the member-day table (:func:`analysis.health.member_days.member_days`:
non-service messages per member and UTC day, already stored and shared by the member metrics), not
from the messages: the engine groups member-days by ``(member_id, a, b)`` (a member writes on few
days of a period, so there are far fewer groups than member-days), maps members to integer codes,
and only integer rows ``(code, what, a, b, n)`` come back. The windows are then a difference array
over periods (``+n`` at ``a``, ``−n`` at ``b``) summed cumulatively in numpy. First responses are
grouped the same way by their responder and day. A referral (a referred member joining on day
``d``) counts in every period ``p`` with ``d < E_p``; it comes back with its day number in ``a``.

The day number of a first response or a join is ``⌊epoch seconds / 86400⌋``; on DuckDB taken from
``epoch(ts)`` (no ICU calendar; fractional seconds are floored, so a time late on a day stays in
that day), on other engines from ``epoch_seconds``. It equals the member-day table's ``day``.

First responses on the engine
    A member's first message (smallest ``(created_at, message_id)`` among their non-service
    messages) and the direct replies to it by other members are the stored tables of
    :mod:`analysis.health.first_messages`, shared with the newcomer metrics. The first response
    is the smallest ``(created_at, message_id, member_id)`` (``MIN`` of a struct, compared field
    by field) among the direct replies by another non-bot member to the first message of a
    non-bot member: the tables built with ``include_bots=False``, from the messages of non-bot
    members only (so neither a bot's first message nor a bot's reply is in them).

Member codes
    ``row_number()`` over ``member_id`` of the members placed on the ladder, computed once on the
    engine (:func:`analysis.health.engine_cache.materialise`) and read by both queries. If the
    engine's string order differs from Python's (it does not on DuckDB or Spark, which compare
    bytes), the columns are re-ordered to Python's order, the order of the old string sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.data import Community, utc_timestamp
from analysis.health.activity import members_included
from analysis.health.engine_cache import materialise
from analysis.health.first_messages import first_replies
from analysis.health.member_days import member_days, period_ordinal
from analysis.health.periods import Period, on_duckdb, period_end, period_floor, period_index

__all__ = ["LadderCounts", "day_number_expr", "ladder_counts"]

_DAY_S = 86_400
#: The kinds of counted rows (the ``what`` column of the engine result).
_MESSAGES, _RESPONSES, _REFERRALS = 0, 1, 2


@ibis.udf.scalar.builtin(name="epoch")
def _duckdb_epoch(ts) -> dt.float64:  # type: ignore[empty-body,no-untyped-def]
    """DuckDB's ``epoch(timestamp[tz])``: seconds since 1970-01-01 UTC, with fractions."""


def day_number_expr(ts: Any) -> Any:
    """UTC day number ``⌊epoch seconds / 86400⌋`` of an ibis timestamp column (``int64``)."""
    seconds = _duckdb_epoch(ts) if on_duckdb(ts) else ts.epoch_seconds()
    return (seconds // _DAY_S).cast("int64")


@dataclass(frozen=True)
class LadderCounts:
    """Per period (rows) and member (columns, ``member_id`` order) the inputs of the ladder rules.

    Attributes
    ----------
    member_ids : numpy.ndarray
        The members placed on the ladder, sorted (object array of ``str``).
    joined : numpy.ndarray
        Their ``joined_at`` (``datetime64[ns]``, naive UTC).
    starts, ends : pandas.DatetimeIndex
        Start and end (exclusive) of every period from the first to the last message of these
        members.
    messages, first_responses : numpy.ndarray
        ``int32`` ``(periods, members)``: messages and first responses to newcomers in the rule
        window of each period.
    referrals : numpy.ndarray
        ``int32`` ``(periods, members)``: referred members who joined before the period's end.
    """

    member_ids: np.ndarray
    joined: np.ndarray
    starts: pd.DatetimeIndex
    ends: pd.DatetimeIndex
    messages: np.ndarray
    first_responses: np.ndarray
    referrals: np.ndarray


# ------------------------------------------------------------------------------ the engine part


def _span_starts(first: pd.Timestamp, last: pd.Timestamp, period: Period) -> pd.DatetimeIndex:
    """Every period start from the period of ``first`` to the period of ``last``."""
    bounds = period_floor(pd.Series([first, last]), period)
    return period_index(bounds.iloc[0], bounds.iloc[1], period)


def _ordinal_of(start: pd.Timestamp, period: Period) -> int:
    """:func:`analysis.health.member_days.period_ordinal` of a period start, in pandas."""
    day = int((start - pd.Timestamp(0)).days)
    if period == "day":
        return day
    if period == "week":
        return (day + 3) // 7
    return start.year * 12 + start.month - 1


def _period_pair(day: Any, period: Period, window_days: int | None, base: int) -> tuple[Any, Any]:
    """``a = π(d)`` and ``b = π(d + k)`` of an integer UTC day column (ibis), ``π(first) = 0``.

    ``π`` is the period ordinal (:func:`analysis.health.member_days.period_ordinal`, consecutive
    periods differ by 1) minus ``base``, the ordinal of the first period; ``b = a + 1`` without
    a window. Indexes past the last period are clipped later (:func:`_window_matrix`).
    """
    a = period_ordinal(day, period) - base
    if window_days is None:
        return a, a + 1
    return a, period_ordinal(day + window_days, period) - base


def _rows(table: Any, what: int) -> Any:
    """``table`` (``member_id``, ``a``, ``b``, ``n``) in the common shape of the union."""
    return table.select(
        member_id=table.member_id,
        what=ibis.literal(what, "int8"),
        a=table.a.cast("int32"),
        b=table.b.cast("int32"),
        n=table.n.cast("int32"),
    )


def _counts_expr(
    community: Community, codes: Any, period: Period, window_days: int | None, base: int
) -> Any:
    """The integer rows ``(code, what, a, b, n)`` of messages, first responses and referrals."""
    # messages: the member-day table (non-service messages per member and UTC day)
    md = member_days(community)
    md = md.filter(md.messages > 0)
    a, b = _period_pair(md.day, period, window_days, base)
    keyed = md.select("member_id", "messages", a=a, b=b)
    groups = keyed.group_by(["member_id", "a", "b"]).aggregate(n=keyed.messages.sum())
    parts = [_rows(groups, _MESSAGES)]

    # first responses: the earliest direct reply by another non-bot member to the first message
    # of a non-bot member, from the stored replies to every non-bot member's first message
    # (built without bots' messages: no bot first messages, no bot replies)
    m = community.members
    answers = first_replies(community, include_bots=False)
    answers = answers.filter(answers.direct)
    first = answers.group_by("first_message_id").aggregate(
        r=ibis.struct({"t": answers.a_at, "id": answers.a_id, "who": answers.a_member}).min()
    )
    first = first.select(member_id=first.r["who"], day=day_number_expr(first.r["t"]))
    a, b = _period_pair(first.day, period, window_days, base)
    first = first.select("member_id", a=a, b=b)
    parts.append(_rows(first.group_by(["member_id", "a", "b"]).aggregate(n=first.count()), 1))

    # referrals: the referred member's join day (its day number in `a`)
    refs = m.filter(m.referred_by.notnull())
    refs = refs.select(member_id=refs.referred_by, a=day_number_expr(refs.joined_at))
    refs = refs.group_by(["member_id", "a"]).aggregate(n=refs.count())
    parts.append(_rows(refs.mutate(b=refs.a), _REFERRALS))

    rows = parts[0].union(parts[1], distinct=False).union(parts[2], distinct=False)
    out = rows.inner_join(codes, rows.member_id == codes.c_id)
    return out.select(code=out.code.cast("int32"), what=out.what, a=out.a, b=out.b, n=out.n)


def first_responses_expr(community: Community) -> Any:
    """``responder`` and ``at`` of every first response to a member's first message (ibis).

    The same definitions as :func:`ladder_counts` in a plain formulation (first messages by one
    ``MIN`` of ``(created_at, message_id)`` per member), for checks.
    """
    m = community.members
    bots = m.filter(m.is_bot).select(bot_id=m.member_id)
    msgs = community.messages.filter(community.messages.kind != "service")
    humans = msgs.anti_join(bots, msgs.member_id == bots.bot_id)
    firsts = humans.group_by(newcomer=humans.member_id).aggregate(
        first=ibis.struct({"t": humans.created_at, "id": humans.message_id}).min()
    )
    firsts = firsts.select("newcomer", first_id=firsts.first["id"])
    replies = humans.filter(humans.reply_to_id.notnull())
    joined = replies.inner_join(
        firsts,
        (replies.reply_to_id == firsts.first_id) & (replies.member_id != firsts.newcomer),
    )
    first = joined.group_by("first_id").aggregate(
        r=ibis.struct(
            {"t": joined.created_at, "id": joined.message_id, "who": joined.member_id}
        ).min()
    )
    return first.select(responder=first.r["who"], at=first.r["t"])


# ------------------------------------------------------------------------------- numpy part


def _window_matrix(
    lo: np.ndarray, hi: np.ndarray, code: np.ndarray, n: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """``out[p, m]`` = Σ ``n`` over rows of member ``m`` with ``lo ≤ p < hi`` (clipped to range).

    A difference array over periods (``+n`` at ``lo``, ``−n`` at ``hi``) summed cumulatively;
    ``int32``.
    """
    n_periods, n_members = shape
    lo = np.clip(lo, 0, n_periods)
    hi = np.clip(hi, 0, n_periods)
    keep = hi > lo
    code, n = code[keep].astype(np.int64), n[keep].astype(np.int32)
    diff = np.zeros((n_periods + 1) * n_members, dtype=np.int32)
    np.add.at(diff, lo[keep] * n_members + code, n)
    np.subtract.at(diff, hi[keep] * n_members + code, n)
    out = diff.reshape(n_periods + 1, n_members)[:n_periods]
    # the running sum over periods row by row (np.cumsum along axis 0 of a C-ordered matrix
    # walks it column-wise: ~10x slower at 1M members)
    for p in range(1, n_periods):
        np.add(out[p], out[p - 1], out=out[p])
    return out


def ladder_counts(
    community: Community,
    *,
    period: Period,
    window_days: int | None,
    include_staff: bool,
) -> LadderCounts | None:
    """Messages, first responses (in the rule window) and referrals per period and member.

    Parameters
    ----------
    community : Community
    period : {"week", "month", "day"}
    window_days : int or None
        Rule window length in days (``None`` = the period itself).
    include_staff : bool
        Place staff on the ladder (bots never are).

    Returns
    -------
    LadderCounts or None
        ``None`` when no member is placed on the ladder or they wrote no message.
    """
    msgs = community.messages
    span = community.execute(msgs.aggregate(lo=msgs.created_at.min(), hi=msgs.created_at.max()))
    lo, hi = span["lo"].iloc[0], span["hi"].iloc[0]
    if lo is None or pd.isna(lo):
        return None
    first, last = (utc_timestamp(t).tz_convert(None) for t in (lo, hi))
    span_starts = _span_starts(first, last, period)
    base = _ordinal_of(span_starts[0], period)

    members = members_included(community, include_staff=include_staff, include_bots=False)
    codes = members.select(
        c_id=members.member_id,
        joined_at=members.joined_at,
        code=ibis.row_number().over(order_by=members.member_id),
    )
    codes = materialise(community, codes)
    roster = _arrays(community, codes.order_by(codes.code).select("c_id", "joined_at"))
    if not len(roster["c_id"]):
        return None
    counted = _counts_expr(community, codes.select("c_id", "code"), period, window_days, base)
    rows = _arrays(community, counted)
    return _assemble(roster, rows, span_starts, period)


def _arrays(community: Community, expr: Any) -> dict[str, np.ndarray]:
    """The result of ``expr`` as numpy arrays, one per column, fetched through Arrow.

    Skips the per-column conversion to pandas (1M member ids as Python strings: 0.1 s instead of
    0.5 s). Strings become object arrays of ``str``; timestamps naive ``datetime64[ns]`` (UTC,
    ``NaT`` for nulls); integers keep their type.
    """
    table = community.engine().to_pyarrow(expr)
    out = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            values = pd.to_datetime(column.to_pandas(), utc=True).dt.tz_convert(None)
            out[name] = values.to_numpy(dtype="datetime64[ns]")
        else:
            out[name] = column.to_numpy(zero_copy_only=False)
    return out


def _assemble(
    roster: dict[str, np.ndarray],
    rows: dict[str, np.ndarray],
    span_starts: pd.DatetimeIndex,
    period: Period,
) -> LadderCounts | None:
    """The count matrices from the roster (``c_id``, ``joined_at`` in code order) and the rows."""
    what = rows["what"]
    code = rows["code"].astype(np.int64)
    a = rows["a"].astype(np.int64)
    b = rows["b"].astype(np.int64)
    n = rows["n"].astype(np.int64)
    is_msg = what == _MESSAGES
    if not is_msg.any():
        return None
    ids = np.asarray(roster["c_id"], dtype=object)
    joined = roster["joined_at"]
    order = _python_order(ids)
    if order is not None:  # the engine sorted strings differently from Python: re-code
        ids, joined = ids[order], joined[order]
        recode = np.empty(len(order), dtype=np.int64)
        recode[order] = np.arange(len(order))
        code = recode[code]
    # the periods from the first to the last message of the members on the ladder
    first, last = int(a[is_msg].min()), int(a[is_msg].max())
    starts = span_starts[first : last + 1]
    ends = pd.DatetimeIndex(period_end(pd.Series(starts), period))
    shape = (len(starts), len(ids))

    def windowed(kind: int) -> np.ndarray:
        sel = what == kind
        return _window_matrix(a[sel] - first, b[sel] - first, code[sel], n[sel], shape)

    sel = what == _REFERRALS
    end_days = (ends - pd.Timestamp(0)).days.to_numpy(dtype=np.int64)
    from_period = np.searchsorted(end_days, a[sel], side="right")  # first p with d < E_p
    to_end = np.full(len(from_period), shape[0])
    return LadderCounts(
        member_ids=ids,
        joined=joined,
        starts=pd.DatetimeIndex(starts),
        ends=ends,
        messages=windowed(_MESSAGES),
        first_responses=windowed(_RESPONSES),
        referrals=_window_matrix(from_period, to_end, code[sel], n[sel], shape),
    )


def _python_order(ids: np.ndarray) -> np.ndarray | None:
    """``None`` if ``ids`` is already in Python's string order, else the sorting permutation."""
    if pd.Index(ids).is_monotonic_increasing:
        return None
    return np.argsort(ids, kind="stable")
