"""The newcomer table: one row per newcomer (first message, first reply, return, repeats).

The per-member table (:func:`newcomer_table_expr`) is computed on the community's engine; one row
per member comes back as pandas (:func:`newcomer_table`, computed once per community and options
and shared by :mod:`analysis.health.newcomers` and :mod:`analysis.health.repeat`), from which the
exact medians and 90th percentiles are computed (as in :mod:`analysis.health.period_results`, so
DuckDB and Spark agree exactly). The definitions below are those of all newcomer metrics.

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
from analysis.health.activity import members_included
from analysis.health.engine_cache import materialise, memo
from analysis.health.periods import epoch_seconds

__all__ = ["DAY_S", "newcomer_table", "newcomer_table_expr"]

DAY_S = 86_400


def newcomer_table_expr(
    community: Community,
    *,
    include_staff: bool = False,
    include_bots: bool = False,
    repeat_days: Sequence[int] = (7, 30),
    return_window_days: tuple[int, int] = (7, 35),
    materialise_first: bool = False,
) -> Any:
    """One row per newcomer (ibis expression; definitions in the module docstring).

    Columns: ``member_id``, ``is_staff``, ``first_message_id``, ``first_at``, ``channel_id``,
    ``first_is_root``, ``first_reply_at`` (null if never answered), ``reply_seconds`` (clipped
    at 0; null if never answered), ``returned`` (a message in the return window),
    ``repeat_<k>d`` for each ``k`` in ``repeat_days``. With ``materialise_first`` the
    first-message table, which four joins read, is computed once and stored on the engine
    (:func:`analysis.health.engine_cache.materialise`) before the expression is built.
    """
    msgs = community.messages.filter(community.messages.kind != "service")
    newcomers = members_included(community, include_staff=include_staff, include_bots=include_bots)
    newcomers = newcomers.select(n_id=newcomers.member_id, is_staff=newcomers.is_staff)
    own = msgs.inner_join(newcomers, msgs.member_id == newcomers.n_id)
    order = ibis.window(group_by="member_id", order_by=["created_at", "message_id"])
    ranked = own.mutate(rank=ibis.row_number().over(order))
    first = ranked.filter(ranked.rank == 0).select(
        "member_id",
        "is_staff",
        "channel_id",
        first_message_id=ranked.message_id,
        first_at=ranked.created_at,
        first_is_root=ranked.reply_to_id.isnull(),
    )
    if materialise_first:
        first = materialise(community, first)

    # replies by others: direct replies, and messages of the thread the first message started
    responders = members_included(community, include_staff=True, include_bots=include_bots)
    answers = msgs.semi_join(responders, msgs.member_id == responders.member_id).select(
        a_id=msgs.message_id,
        a_member=msgs.member_id,
        a_at=msgs.created_at,
        a_reply_to=msgs.reply_to_id,
        a_thread=msgs.thread_id,
    )
    direct = first.inner_join(answers, first.first_message_id == answers.a_reply_to)
    direct = direct.select("member_id", "a_member", "a_at", "a_id")
    roots = first.filter(first.first_is_root)
    threaded = roots.inner_join(answers, roots.first_message_id == answers.a_thread)
    threaded = threaded.select("member_id", "a_member", "a_at", "a_id")
    cand = direct.union(threaded, distinct=False)
    cand = cand.filter(cand.a_member != cand.member_id)
    replied = cand.group_by(r_member=cand.member_id).aggregate(first_reply_at=cand.a_at.min())

    # later messages of the newcomer (offsets in seconds from the first message)
    later = own.select(
        l_member=own.member_id, l_id=own.message_id, l_t=epoch_seconds(own.created_at)
    )
    f = first.select(
        f_member=first.member_id, f_id=first.first_message_id, f_t=epoch_seconds(first.first_at)
    )
    lj = later.inner_join(f, later.l_member == f.f_member)
    lj = lj.filter(lj.l_id != lj.f_id)
    off = lj.l_t - lj.f_t
    lo, hi = return_window_days
    flags = {"returned": ((off >= lo * DAY_S) & (off < hi * DAY_S)).cast("int64").max()}
    for k in repeat_days:
        flags[f"repeat_{k}d"] = ((off > 0) & (off <= k * DAY_S)).cast("int64").max()
    again = lj.group_by(g_member=lj.l_member).aggregate(**flags)

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
    kw = {
        "include_staff": bool(include_staff),
        "include_bots": bool(include_bots),
        "repeat_days": tuple(int(k) for k in repeat_days),
        "return_window_days": tuple(int(k) for k in return_window_days),
    }
    key = ("newcomers", *kw.values())
    return memo(community, key, lambda: _newcomer_frame(community, **kw)).copy()


def _newcomer_frame(
    community: Community,
    *,
    include_staff: bool,
    include_bots: bool,
    repeat_days: Sequence[int],
    return_window_days: tuple[int, int],
) -> pd.DataFrame:
    expr = newcomer_table_expr(
        community,
        include_staff=include_staff,
        include_bots=include_bots,
        repeat_days=repeat_days,
        return_window_days=return_window_days,
        materialise_first=True,
    )
    frame = community.execute(expr)
    for col in ("first_at", "first_reply_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ns, UTC]")
    end = community.last_message_at() if len(frame) else pd.Timestamp(0, tz="UTC")
    age = (end - frame["first_at"]).dt.total_seconds()
    frame["age_seconds"] = age
    frame["exposed_24h"] = age >= DAY_S
    frame["answered_24h"] = frame["reply_seconds"].le(DAY_S).fillna(False).astype(bool)
    frame["exposed_return"] = age >= return_window_days[1] * DAY_S
    for k in repeat_days:
        frame[f"exposed_{k}d"] = age >= k * DAY_S
    for col in ("returned", "first_is_root", "is_staff", *[f"repeat_{k}d" for k in repeat_days]):
        frame[col] = frame[col].astype(bool)
    return frame.sort_values(["first_at", "member_id"], kind="stable").reset_index(drop=True)


def _who(include_staff: bool, include_bots: bool) -> str:
    return (
        f"newcomers {'including' if include_staff else 'excluding'} staff and "
        f"{'including' if include_bots else 'excluding'} bots"
    )


def _fill_periods(frame: pd.DataFrame, index: pd.DatetimeIndex, fn: Any) -> pd.DataFrame:
    groups = dict(iter(frame.groupby("period_start"))) if len(frame) else {}
    rows = [{"period_start": p, **fn(groups.get(p, frame.iloc[0:0]))} for p in index]
    return pd.DataFrame(rows)
