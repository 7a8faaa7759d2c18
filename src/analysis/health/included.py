"""The messages the thread metrics count: non-service messages of included members.

:func:`included_messages` defines them (bots left out unless ``include_bots``, staff unless
``include_staff``; every message flagged with its author's ``is_staff``).
:func:`shared_included_messages` gives the same rows from :func:`message_store`, every message
of the export stored on the engine once per community with its author's ``is_staff`` and
``is_bot`` and its own ``is_service`` flag: the thread table (:mod:`analysis.health.thread_table`),
engagement, sessions and the member-to-member share read the included messages from it under
any options, and the thread metrics that need the other messages too (a parent written by a
bot, a root that is a service message, every reply link for the reply depths) read those from
the same table instead of the raw messages. See :mod:`analysis.health.thread_table` for the
definitions.

Join keys
---------
The stored table links messages by *keys* instead of the id strings: ``message_key``,
``thread_key`` and ``reply_to_key`` stand for ``message_id``, ``thread_id`` and ``reply_to_id``
(null where the id is null). On DuckDB a key is the 64-bit ``hash`` of the id (``UBIGINT``,
https://duckdb.org/docs/stable/sql/functions/utility#hashvalue): joins and groups on 8-byte
integers instead of strings, which is where the thread metrics spend their time on large
exports. ``member_key`` stands for ``member_id`` the same way. A key stands for its id exactly
as long as no two ids share a hash, so the store is checked once when built (no two messages
with one ``message_key``, as many distinct member hashes as members; both ids are unique by the
data contract) and, should two ids collide, is built again with the ids themselves as keys
(:func:`message_store`). An id that names no message of the export (a missing root or parent)
is hashed too; it could take the key of a message of the export, or of another such id, with
probability about ``(messages + dangling ids) × dangling ids / 2**64`` (below 1e-7 for 10M
messages and 100k dangling ids), which is not checked. On other engines (Spark, whose ``hash``
is 32-bit) the keys are the id strings themselves. The metrics never show a key: ``message_id``
and ``member_id`` stay in the table for every id they report and for ties broken by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from analysis.data import Community
from analysis.health.engine_cache import materialise, memo
from analysis.health.periods import on_duckdb

__all__ = [
    "MESSAGE_COLUMNS",
    "STORE_COLUMNS",
    "excluded_ids",
    "id_key",
    "included_flag",
    "included_messages",
    "message_store",
    "option_key",
    "roots_and_replies",
    "shared_included_messages",
    "staff_ids",
    "thread_options",
]


#: The columns of ``messages`` the thread metrics read, in the order the stored tables keep them.
MESSAGE_COLUMNS = (
    "message_id",
    "channel_id",
    "thread_id",
    "member_id",
    "created_at",
    "reply_to_id",
    "reply_source",
)


#: The columns of :func:`message_store` (and of :func:`shared_included_messages`, which adds no
#: flag but ``is_staff``) that are not flags: ``thread_id`` and ``reply_to_id`` replaced by their
#: join keys, ``message_id`` and ``member_id`` kept beside theirs (see *Join keys* in the module
#: docstring).
STORE_COLUMNS = (
    "message_id",
    "message_key",
    "channel_id",
    "thread_key",
    "member_id",
    "member_key",
    "created_at",
    "reply_to_key",
    "reply_source",
)


@ibis.udf.scalar.builtin(name="hash")
def _duckdb_hash(value: str) -> dt.uint64:  # type: ignore[empty-body]
    """DuckDB's ``hash(value)``: a 64-bit hash (``UBIGINT``); of NULL it is a number, not NULL."""


def id_key(column: Any, *, hashed: bool) -> Any:
    """The join key of an id column (see *Join keys* in the module docstring).

    ``hashed``: the 64-bit DuckDB ``hash`` of the id, null where the id is null; otherwise the id
    itself.
    """
    if not hashed:
        return column
    key = _duckdb_hash(column)
    return ibis.ifelse(column.isnull(), ibis.null(key.type()), key)


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


def staff_ids(community: Community) -> Any:
    """``st_id``: the staff accounts' member ids (ibis table). They are few, so a left join with
    them flags staff rows more cheaply than a join with every member."""
    members = community.members
    return members.filter(members.is_staff).select(st_id=members.member_id)


def included_messages(
    community: Community, *, include_staff: bool = True, include_bots: bool = False
) -> Any:
    """Non-service messages of included members, with the author's ``is_staff`` flag (ibis).

    The excluded accounts (bots, and staff when ``include_staff=False``) and the staff accounts
    are few, so messages are filtered by an anti-join with the excluded ids and flagged by a
    left join with the staff ids, both small tables (rather than a join of every message with
    the whole ``members`` table; the data contract guarantees every author is a member).
    """
    msgs = community.messages.filter(community.messages.kind != "service")
    out = excluded_ids(community, include_staff=include_staff, include_bots=include_bots)
    kept = msgs if out is None else msgs.anti_join(out, msgs.member_id == out.x_id)
    staff = staff_ids(community)
    flagged = kept.left_join(staff, kept.member_id == staff.st_id)
    return flagged.select(*MESSAGE_COLUMNS, is_staff=flagged.st_id.notnull())


def message_store(community: Community) -> Any:
    """Every message of the export with its author's flags and its join keys, stored on the
    engine once per community (ibis table).

    Columns: ``message_id``, ``message_key``, ``channel_id``, ``thread_key``, ``member_id``,
    ``member_key``, ``created_at``, ``reply_to_key``, ``reply_source`` (:data:`STORE_COLUMNS`; the
    keys stand for ``message_id``, ``thread_id``, ``member_id`` and ``reply_to_id``, see *Join
    keys* in the module docstring);
    ``is_staff`` and ``is_bot`` (the author's flags, False for an author who is neither),
    ``is_service`` (``kind == "service"``). The flags come from one left join with the staff and
    bot accounts, which are few (not a join with every member; the data contract guarantees every
    author is a member). Column types are those of the messages (a stored DuckDB table reports its
    timestamps with an explicit precision; ``created_at`` is cast back so unions with other
    tables' timestamps keep one type).

    On DuckDB the keys are hashes, checked once for collisions among the message ids and among
    the member ids (:func:`_keys_unique`); when two ids share a hash the table is stored
    again with the ids as keys, so results never depend on the hash.
    """

    def stored(hashed: bool) -> Any:
        msgs = community.messages
        members = community.members
        flagged = members.filter(members.is_staff | members.is_bot).select(
            f_id=members.member_id, f_staff=members.is_staff, f_bot=members.is_bot
        )
        j = msgs.left_join(flagged, msgs.member_id == flagged.f_id)
        expr = j.select(
            message_id=j.message_id,
            message_key=id_key(j.message_id, hashed=hashed),
            channel_id=j.channel_id,
            thread_key=id_key(j.thread_id, hashed=hashed),
            member_id=j.member_id,
            member_key=id_key(j.member_id, hashed=hashed),
            created_at=j.created_at,
            reply_to_key=id_key(j.reply_to_id, hashed=hashed),
            reply_source=j.reply_source,
            is_staff=j.f_staff.fill_null(False),
            is_bot=j.f_bot.fill_null(False),
            is_service=j.kind == "service",
        )
        table = materialise(community, expr)
        return table.mutate(created_at=table.created_at.cast(expr.created_at.type()))

    def build() -> Any:
        if not on_duckdb(community.messages.message_id):
            return stored(hashed=False)
        table = stored(hashed=True)
        if _keys_unique(community, table):
            return table
        return stored(hashed=False)  # two ids share a hash: the ids are the keys

    return memo(community, ("message_store",), build)


def _keys_unique(community: Community, table: Any) -> bool:
    """Whether the hashed keys of ``table`` (:func:`message_store`) stand for their ids one to
    one: no two messages share a ``message_key`` (``message_id`` is unique), and as many
    distinct hashes of ``member_id`` among the members as members (every author is a member,
    ``member_id`` is unique there: both by the data contract).

    The messages are checked in key order: a key equal to the one before it is shared. On
    10M messages DuckDB sorts the keys in 1.1 s of CPU against 1.3-1.7 s for a distinct count
    (a hash table of every key).
    """
    key = table.message_key
    previous = key.lag().over(ibis.window(order_by=key))
    same = table.select(same=(key == previous).cast("int64")).same
    shared = int(community.execute(same.sum().fill_null(0)))
    members = community.members
    member_keys = id_key(members.member_id, hashed=True)
    people = community.execute(members.aggregate(n=members.count(), keys=member_keys.nunique()))
    distinct_members = int(people["n"].iloc[0]) == int(people["keys"].iloc[0])
    return distinct_members and shared == 0


def included_flag(store: Any, *, include_staff: bool, include_bots: bool) -> Any:
    """Whether a row of :func:`message_store` is an included message: not a service message,
    not by a bot unless ``include_bots``, not by staff unless ``include_staff`` (ibis boolean)."""
    keep = ~store.is_service
    if not include_bots:
        keep = keep & ~store.is_bot
    if not include_staff:
        keep = keep & ~store.is_staff
    return keep


def shared_included_messages(
    community: Community, *, include_staff: bool = True, include_bots: bool = False
) -> Any:
    """The rows of :func:`included_messages`, read from the stored :func:`message_store`.

    The thread table, engagement, sessions and the member-to-member share all start from the
    included messages; the stored table saves each of them a scan of the raw messages and the
    joins with the member flags. One stored table serves every option: the included messages
    under ``include_staff`` / ``include_bots`` are a filter on its flags (the same expression
    object is returned for the same options). Columns: :data:`STORE_COLUMNS` and ``is_staff``
    (the rows of :func:`included_messages` with the join keys: ``thread_id`` and ``reply_to_id``
    replaced by theirs, ``message_id`` and ``member_id`` kept beside theirs).
    """

    def build() -> Any:
        store = message_store(community)
        kept = store.filter(
            included_flag(store, include_staff=include_staff, include_bots=include_bots)
        )
        return kept.select(*STORE_COLUMNS, "is_staff")

    return memo(community, ("included", bool(include_staff), bool(include_bots)), build)


def roots_and_replies(
    community: Community, include_staff: bool, include_bots: bool, reply_sources: Sequence[str]
) -> tuple[Any, Any]:
    """The thread roots (no ``reply_to_id``) and the counted replies (``reply_source`` in
    ``reply_sources``) among :func:`shared_included_messages` (two ibis tables, with join keys)."""
    msgs = shared_included_messages(
        community, include_staff=include_staff, include_bots=include_bots
    )
    roots = msgs.filter(msgs.reply_to_key.isnull())
    replies = msgs.filter(msgs.reply_to_key.notnull() & msgs.reply_source.isin(list(reply_sources)))
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
