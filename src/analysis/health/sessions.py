"""Time-gap sessions: conversations in chats without reply links.

:func:`sessions_expr` cuts each channel's message stream wherever the gap between consecutive
messages exceeds a threshold (30 minutes by default, the usual session timeout of web analytics,
e.g. Google Analytics sessions). :func:`analysis.health.discussion.conversation_duration` times
these sessions when the dataset has no observed reply links.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from analysis.data import Community
from analysis.health.periods import epoch_seconds
from analysis.health.thread_table import shared_included_messages

__all__ = ["sessions_expr"]


def sessions_expr(
    community: Community,
    *,
    gap: str = "30min",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """Time-gap sessions per channel, one row per session (an ibis expression).

    Within each channel, the included non-service messages in time order (whole seconds since
    the epoch) are cut wherever the gap to the previous message exceeds ``gap``: a session is a
    maximal run of consecutive messages with gaps ``≤ gap``. Messages at the same second are 0
    apart, so the order among them changes no session. Computed with window functions (``lag``
    for the gap, a running sum of "new session" flags for the session number).

    Columns: ``channel_id``, ``session`` (1, 2, ... per channel), ``created_at`` (first
    message), ``last_at``, ``n_messages``, ``participants``, ``duration_seconds`` (last − first,
    whole seconds).
    """
    gap_s = int(pd.Timedelta(gap).total_seconds())
    if gap_s <= 0:
        raise ValueError(f"gap {gap!r} must be positive, e.g. '30min'")
    msgs = shared_included_messages(
        community, include_staff=include_staff, include_bots=include_bots
    )
    # ordered by time only: messages at the same time have gap 0 to each other, so only the
    # first of them can start a session and every order of the ties gives the same sessions
    m = msgs.mutate(t=epoch_seconds(msgs.created_at))
    w = ibis.window(group_by="channel_id", order_by=["t"])
    cw = ibis.cumulative_window(group_by="channel_id", order_by=["t"])
    m = m.mutate(prev_t=m.t.lag().over(w))
    m = m.mutate(
        new=ibis.ifelse(m.prev_t.isnull() | ((m.t - m.prev_t) > gap_s), 1, 0).cast("int64")
    )
    m = m.mutate(session=m.new.sum().over(cw))
    s = m.group_by(["channel_id", "session"]).aggregate(
        created_at=m.created_at.min(),
        last_at=m.created_at.max(),
        n_messages=m.count(),
        participants=m.member_id.nunique(),
        first_t=m.t.min(),
        last_t=m.t.max(),
    )
    return s.select(
        "channel_id",
        "session",
        "created_at",
        "last_at",
        "n_messages",
        "participants",
        duration_seconds=s.last_t - s.first_t,
    )
