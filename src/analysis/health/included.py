"""The messages the thread metrics count: non-service messages of included members.

:func:`included_messages` defines them (bots left out unless ``include_bots``, staff unless
``include_staff``; every message flagged with its author's ``is_staff``) and
:func:`shared_included_messages` stores them on the engine once per community and options, for
the thread table (:mod:`analysis.health.thread_table`), engagement, sessions and the
member-to-member share. See :mod:`analysis.health.thread_table` for the definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis

from analysis.data import Community
from analysis.health.engine_cache import materialise, memo

__all__ = [
    "excluded_ids",
    "included_messages",
    "option_key",
    "roots_and_replies",
    "shared_included_messages",
    "thread_options",
]


def excluded_ids(community: Community, *, include_staff: bool, include_bots: bool) -> Any:
    """``x_id``: the accounts a thread metric leaves out (bots unless ``include_bots``, staff
    unless ``include_staff``), or None when nobody is left out."""
    if include_bots and include_staff:
        return None
    members = community.members
    excluded = ibis.literal(False)
    if not include_bots:
        excluded = excluded | members.is_bot
    if not include_staff:
        excluded = excluded | members.is_staff
    return members.filter(excluded).select(x_id=members.member_id)


def included_messages(
    community: Community, *, include_staff: bool = True, include_bots: bool = False
) -> Any:
    """Non-service messages of included members, with the author's ``is_staff`` flag (ibis).

    The excluded accounts (bots, and staff when ``include_staff=False``) and the staff accounts
    are few, so messages are filtered by an anti-join with the excluded ids and flagged by a
    left join with the staff ids, both small tables (rather than a join of every message with
    the whole ``members`` table; the data contract guarantees every author is a member).
    """
    members = community.members
    msgs = community.messages.filter(community.messages.kind != "service")
    out = excluded_ids(community, include_staff=include_staff, include_bots=include_bots)
    kept = msgs if out is None else msgs.anti_join(out, msgs.member_id == out.x_id)
    staff = members.filter(members.is_staff).select(s_id=members.member_id)
    flagged = kept.left_join(staff, kept.member_id == staff.s_id)
    return flagged.select(
        "message_id",
        "channel_id",
        "thread_id",
        "member_id",
        "created_at",
        "reply_to_id",
        "reply_source",
        is_staff=flagged.s_id.notnull(),
    )


def shared_included_messages(
    community: Community, *, include_staff: bool = True, include_bots: bool = False
) -> Any:
    """:func:`included_messages` materialised on the engine, once per community and options.

    The thread table, engagement, sessions and the member-to-member share all start from the
    included messages; storing them once (as :mod:`analysis.health.engine_cache` stores the
    thread table) saves each of them a scan of the messages, the filter and the two joins with
    the excluded and staff ids. Column types are those of :func:`included_messages` (a stored
    DuckDB table reports its timestamps with an explicit precision; ``created_at`` is cast back
    so unions with other tables' timestamps keep one type).
    """

    def build() -> Any:
        expr = included_messages(community, include_staff=include_staff, include_bots=include_bots)
        stored = materialise(community, expr)
        return stored.mutate(created_at=stored.created_at.cast(expr.created_at.type()))

    return memo(community, ("included", bool(include_staff), bool(include_bots)), build)


def roots_and_replies(
    community: Community, include_staff: bool, include_bots: bool, reply_sources: Sequence[str]
) -> tuple[Any, Any]:
    """The thread roots (no ``reply_to_id``) and the counted replies (``reply_source`` in
    ``reply_sources``) among :func:`shared_included_messages` (two ibis tables)."""
    msgs = shared_included_messages(
        community, include_staff=include_staff, include_bots=include_bots
    )
    roots = msgs.filter(msgs.reply_to_id.isnull())
    replies = msgs.filter(msgs.reply_to_id.notnull() & msgs.reply_source.isin(list(reply_sources)))
    return roots, replies


def thread_options(
    include_staff: bool, include_bots: bool, reply_sources: Sequence[str]
) -> dict[str, Any]:
    """The thread metrics' options, normalised (plain bools and a tuple) for memo keys."""
    return {
        "include_staff": bool(include_staff),
        "include_bots": bool(include_bots),
        "reply_sources": tuple(reply_sources),
    }


def option_key(name: str, kw: dict[str, Any]) -> tuple[Any, ...]:
    """Memo key of the engine table ``name`` built with the options ``kw``
    (:func:`thread_options`)."""
    return (name, kw["include_staff"], kw["include_bots"], tuple(kw["reply_sources"]))
