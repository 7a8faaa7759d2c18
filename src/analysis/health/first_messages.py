"""Every member's first message and the replies to it, stored once and shared.

Two metrics read a member's first message and who replied to it: the newcomer table
(:mod:`analysis.health.newcomer_table`: time to the first reply, staff newcomers switched in or
out) and the member ladder (:mod:`analysis.health.ladder_counts`: the member who gave the *first
response to a newcomer*). :func:`first_messages` and :func:`first_replies` compute the two tables
once per community (and ``include_bots``) for every member (staff included; bots only with
``include_bots``) and store them on the engine (:func:`analysis.health.member_days.store`,
memoised with :func:`analysis.health.engine_cache.memo`).

Source
    The messages the thread metrics read (:func:`analysis.health.included.shared_included_messages`
    with staff; from the messages stored once per community,
    :func:`analysis.health.included.message_store`, rather than from the raw messages). With
    ``include_bots=False`` (the newcomer default, and the ladder, which counts neither bot
    newcomers nor bot replies) that is every non-service message of a non-bot member, and the
    tables have no bot rows (no bot newcomer, no bot responder); with ``include_bots=True``
    every non-service message. A newcomer metric or the ladder run before any thread metric
    stores the messages itself (one pass over the raw messages; the table then serves the thread
    metrics too).

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
    listed twice). Responders of every kind are kept (staff; bots with ``include_bots``).
"""

from __future__ import annotations

from typing import Any

import ibis

from analysis.data import Community
from analysis.health.engine_cache import memo
from analysis.health.included import shared_included_messages
from analysis.health.member_days import member_totals, store
from analysis.health.periods import epoch_seconds

__all__ = [
    "first_messages",
    "first_messages_expr",
    "first_replies",
    "first_replies_expr",
    "source_messages",
]


def source_messages(community: Community, *, include_bots: bool) -> Any:
    """The non-service messages the tables are built from (see *Source* in the module doc)."""
    return shared_included_messages(community, include_staff=True, include_bots=include_bots)


def first_messages_expr(community: Community, *, include_bots: bool = False) -> Any:
    """One row per member with a non-service message: their first message (ibis expression).

    Columns: ``member_id``, ``channel_id``, ``first_message_id``, ``first_message_key`` (its
    join key, :mod:`analysis.health.included`), ``first_at``, ``first_is_root`` (no
    ``reply_to_id``), ``first_s`` (whole seconds of ``first_at``,
    :func:`analysis.health.periods.epoch_seconds`). Definition and source in the module
    docstring: a join of the messages with each member's first second, then the first of the
    (rarely several) candidates in ``(created_at, message_id)`` order.
    """
    totals = member_totals(community, include_staff=True, include_bots=True)
    firsts = totals.select(f_member=totals.member_id, f_s=totals.msg_first_s)
    msgs = source_messages(community, include_bots=include_bots)
    msgs = msgs.select(
        "member_id",
        "channel_id",
        "message_id",
        "message_key",
        "created_at",
        "reply_to_key",
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
        first_message_key=first.message_key,
        first_at=first.created_at,
        first_is_root=first.reply_to_key.isnull(),
        first_s=first.s,
    )


def first_messages(community: Community, *, include_bots: bool = False) -> Any:
    """:func:`first_messages_expr` stored on the engine, once per community and ``include_bots``
    (ibis table)."""
    return memo(
        community,
        ("first_messages", bool(include_bots)),
        lambda: store(community, first_messages_expr(community, include_bots=include_bots)),
    )


def first_replies_expr(
    community: Community, first: Any | None = None, *, include_bots: bool = False
) -> Any:
    """Every reply to a member's first message (ibis expression; definitions in the module doc).

    Columns: ``member_id`` (the member whose first message it answers), ``first_message_id``,
    ``a_member`` (who replied), ``a_at`` (when), ``a_id`` (the reply's ``message_id``; null for
    thread messages that are not direct replies), ``direct`` (``reply_to_id`` is the first
    message). ``first`` defaults to :func:`first_messages`.

    How: direct replies by a join of the replies (``reply_to_id`` set) with the first messages
    on ``reply_to_id``; thread messages by a join on ``thread_id`` with the first messages that
    start a thread, probing only the messages that can be such a thread message: a message
    whose ``thread_id`` is its own id is the root itself (by ``N``), and one whose
    ``reply_to_id`` equals its ``thread_id`` replies to the root directly (listed above).
    """
    if first is None:
        first = first_messages(community, include_bots=include_bots)
    first = first.select("member_id", "first_message_id", "first_message_key", "first_is_root")
    msgs = source_messages(community, include_bots=include_bots)

    replies = msgs.filter(msgs.reply_to_key.notnull())
    replies = replies.select(
        a_member=replies.member_id,
        a_at=replies.created_at,
        a_id=replies.message_id,
        a_reply_to=replies.reply_to_key,
    )
    direct = first.inner_join(
        replies,
        (first.first_message_key == replies.a_reply_to) & (first.member_id != replies.a_member),
    )
    direct = direct.select(
        "member_id", "first_message_id", "a_member", "a_at", "a_id", direct=ibis.literal(True)
    )

    roots = first.filter(first.first_is_root)
    thread = msgs.filter(
        (msgs.message_key != msgs.thread_key)
        & (msgs.reply_to_key.isnull() | (msgs.reply_to_key != msgs.thread_key))
    )
    thread = thread.select(
        a_member=thread.member_id, a_at=thread.created_at, a_thread=thread.thread_key
    )
    threaded = roots.inner_join(
        thread,
        (roots.first_message_key == thread.a_thread) & (roots.member_id != thread.a_member),
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


def first_replies(community: Community, *, include_bots: bool = False) -> Any:
    """:func:`first_replies_expr` stored on the engine, once per community (ibis table)."""
    return memo(
        community,
        ("first_replies", bool(include_bots)),
        lambda: store(community, first_replies_expr(community, include_bots=include_bots)),
    )
