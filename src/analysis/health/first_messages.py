"""Every member's first message and the replies to it, stored once and shared.

Two metrics read a member's first message and who replied to it: the newcomer table
(:mod:`analysis.health.newcomer_table`: time to the first reply, staff and bot newcomers
switched in or out) and the member ladder (:mod:`analysis.health.ladder_counts`: the member who
gave the *first response to a newcomer*). Both used to find the first messages and probe every
message against them on their own. :func:`first_messages` and :func:`first_replies` compute the
two tables once per community for **every** member (staff and bots included; each metric drops
the few staff or bot rows it does not count afterwards, an anti join against a handful of
accounts) and store them on the engine (:func:`analysis.health.member_days.store`, memoised with
:func:`analysis.health.engine_cache.memo`).

Definitions
-----------
First message
    A member's earliest non-service message, ties broken by the smallest ``message_id`` (string
    order). Found among the messages of the member's first whole second ``msg_first_s``
    (:func:`analysis.health.member_days.member_totals`): those are the only candidates, ordered
    by ``(created_at, message_id)``.
Replies to a first message ``F`` of member ``N``
    Non-service messages by a member other than ``N`` with ``reply_to_id = F`` (*direct*
    replies) and, when ``F`` starts a thread (no ``reply_to_id``), the other messages of that
    thread (``thread_id = F``) that do not reply to ``F`` directly (the same message is never
    listed twice). Responders of every kind are kept (staff, bots).
"""

from __future__ import annotations

from typing import Any

import ibis

from analysis.data import Community
from analysis.health.engine_cache import memo
from analysis.health.member_days import member_totals, store
from analysis.health.periods import epoch_seconds

__all__ = ["first_messages", "first_messages_expr", "first_replies", "first_replies_expr"]


def first_messages_expr(community: Community) -> Any:
    """One row per member with a non-service message: their first message (ibis expression).

    Columns: ``member_id``, ``channel_id``, ``first_message_id``, ``first_at``,
    ``first_is_root`` (no ``reply_to_id``), ``first_s`` (whole seconds of ``first_at``,
    :func:`analysis.health.periods.epoch_seconds`). Definition in the module docstring.
    """
    totals = member_totals(community, include_staff=True, include_bots=True)
    firsts = totals.select(f_member=totals.member_id, f_s=totals.msg_first_s)
    msgs = community.messages.filter(community.messages.kind != "service")
    msgs = msgs.select(
        "member_id",
        "channel_id",
        "message_id",
        "created_at",
        "reply_to_id",
        s=epoch_seconds(msgs.created_at),
    )
    cand = msgs.join(firsts, [msgs.member_id == firsts.f_member, msgs.s == firsts.f_s])
    order = ibis.window(group_by="member_id", order_by=["created_at", "message_id"])
    cand = cand.mutate(rank=ibis.row_number().over(order))
    first = cand.filter(cand.rank == 0)
    return first.select(
        member_id=first.member_id,
        channel_id=first.channel_id,
        first_message_id=first.message_id,
        first_at=first.created_at,
        first_is_root=first.reply_to_id.isnull(),
        first_s=first.s,
    )


def first_messages(community: Community) -> Any:
    """:func:`first_messages_expr` stored on the engine, once per community (ibis table)."""
    return memo(
        community, ("first_messages",), lambda: store(community, first_messages_expr(community))
    )


def first_replies_expr(community: Community, first: Any | None = None) -> Any:
    """Every reply to a member's first message (ibis expression; definitions in the module doc).

    Columns: ``member_id`` (the member whose first message it answers), ``first_message_id``,
    ``a_member`` (who replied), ``a_at`` (when), ``a_id`` (the reply's ``message_id``; null for
    thread messages that are not direct replies), ``direct`` (``reply_to_id`` is the first
    message). ``first`` defaults to :func:`first_messages`.
    """
    if first is None:
        first = first_messages(community)
    first = first.select("member_id", "first_message_id", "first_is_root")
    msgs = community.messages.filter(community.messages.kind != "service")

    replies = msgs.filter(msgs.reply_to_id.notnull())
    replies = replies.select(
        a_member=replies.member_id,
        a_at=replies.created_at,
        a_id=replies.message_id,
        a_reply_to=replies.reply_to_id,
    )
    direct = first.inner_join(
        replies,
        (first.first_message_id == replies.a_reply_to) & (first.member_id != replies.a_member),
    )
    direct = direct.select(
        "member_id", "first_message_id", "a_member", "a_at", "a_id", direct=ibis.literal(True)
    )

    roots = first.filter(first.first_is_root)
    thread = msgs.select(
        a_member=msgs.member_id,
        a_at=msgs.created_at,
        a_reply_to=msgs.reply_to_id,
        a_thread=msgs.thread_id,
    )
    threaded = roots.inner_join(
        thread,
        (roots.first_message_id == thread.a_thread) & (roots.member_id != thread.a_member),
    )
    # direct replies inside the thread are already listed above
    threaded = threaded.filter(
        threaded.a_reply_to.isnull() | (threaded.a_reply_to != threaded.first_message_id)
    )
    threaded = threaded.select(
        "member_id",
        "first_message_id",
        "a_member",
        "a_at",
        a_id=ibis.null("string"),
        direct=ibis.literal(False),
    )
    return direct.union(threaded, distinct=False)


def first_replies(community: Community) -> Any:
    """:func:`first_replies_expr` stored on the engine, once per community (ibis table)."""
    return memo(
        community, ("first_replies",), lambda: store(community, first_replies_expr(community))
    )
