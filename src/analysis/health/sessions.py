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
from analysis.health.included import shared_included_messages
from analysis.health.periods import epoch_seconds

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
    apart, so the order among them changes no session.

    Method: the messages are first counted into buckets of ``gap`` seconds per channel
    (``⌊t / gap⌋``). Two messages of one bucket are less than ``gap`` apart, so a session never
    ends inside a bucket; between consecutive non-empty buckets it ends exactly when the next
    bucket's first second minus this bucket's last second exceeds ``gap``. The window functions
    (``lag`` for that gap, a running sum of "new session" flags for the session number) therefore
    run over the buckets — at most one row per channel and ``gap`` of data, instead of one per
    message — and each message reaches its session through a join on (channel, bucket).

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
    t = epoch_seconds(msgs.created_at)
    m = msgs.select(
        "channel_id",
        "member_id",
        "created_at",
        t=t,
        bucket=(t / gap_s).floor().cast("int64"),  # floor, also before 1970
    )
    b = m.group_by(["channel_id", "bucket"]).aggregate(first_t=m.t.min(), last_t=m.t.max())
    w = ibis.window(group_by="channel_id", order_by=["bucket"])
    cw = ibis.cumulative_window(group_by="channel_id", order_by=["bucket"])
    b = b.mutate(prev_t=b.last_t.lag().over(w))
    b = b.mutate(
        new=ibis.ifelse(b.prev_t.isnull() | ((b.first_t - b.prev_t) > gap_s), 1, 0).cast("int64")
    )
    b = b.mutate(session=b.new.sum().over(cw))
    spans = b.select(s_channel=b.channel_id, s_bucket=b.bucket, session=b.session)
    j = m.inner_join(spans, (m.channel_id == spans.s_channel) & (m.bucket == spans.s_bucket))
    s = j.group_by(["channel_id", "session"]).aggregate(
        created_at=j.created_at.min(),
        last_at=j.created_at.max(),
        n_messages=j.count(),
        participants=j.member_id.nunique(),
        first_t=j.t.min(),
        last_t=j.t.max(),
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
