"""Telegram Desktop JSON export (``result.json``) → canonical tables.

Telegram Desktop ("Export chat history" → JSON, or "Export Telegram data" for a whole account)
writes one ``result.json``. This module reads single-chat exports of every chat type
(``personal_chat``, ``private_group``, ``private_supergroup``/``public_supergroup`` including
forums with topics, ``private_channel``/``public_channel``) and full-account exports
(``{"chats": {"list": [...]}, "left_chats": {"list": [...]}}``), alone or several files of one
community together (a channel and its discussion group).

How the export's fields become canonical columns
------------------------------------------------
Ids
    ``message_id = "tg:<chat id>:<message id>"``; a chat is channel ``"tg:<chat id>"``, a forum
    topic ``"tg:<chat id>:topic:<id of its topic_created message>"``. Platform user ids
    (``from_id``/``actor_id``, e.g. ``user123``, ``channel456``) are pseudonymised with
    :class:`analysis.pseudonym.Pseudonymizer` (``platform="telegram"``).
Time
    ``created_at`` comes from ``date_unixtime`` (unix seconds, UTC). The ``date`` field is the
    *exporting computer's local time without an offset* and is never used for ``created_at``
    when ``date_unixtime`` exists (only, compared with it, to infer the exporter's UTC offset
    for reaction times: see Reactions). Old exports without ``date_unixtime`` are an error
    unless the caller passes ``assume_timezone`` (e.g. ``"Europe/Moscow"``), the zone of the
    computer that made the export; ``date`` is then read in that zone (ambiguous times in a DST
    fall-back hour are read as the first occurrence) and provenance says so.
Replies and threads
    ``reply_to_message_id`` (with ``reply_to_peer_id`` for replies into another chat) gives
    ``reply_to_id`` (``reply_source="explicit"``). A reply whose target is not in the data
    (deleted, older than the export range, another chat not read) keeps ``reply_to_id`` = the
    missing id and is counted in provenance. ``thread_id`` is the topmost ancestor of the reply
    chain (for a chain that ends in a missing message: the missing id); a message without reply
    is its own thread. Chains are resolved by vectorised pointer jumping (no recursion), and a
    reply cycle (impossible in real exports) is an error naming the messages.
Forum topics
    A message whose ``reply_to_message_id`` is a ``topic_created`` service message is a top-level
    message of that topic: it is *not* a reply (``reply_to_id`` null, ``reply_source="none"``,
    its own thread) and its ``channel_id`` is the topic. A reply inherits the topic of the root
    of its (same-chat) reply chain. Messages without a reply stay in the chat's channel (that is
    where the "General" topic's messages live, since it has no ``topic_created`` message). A
    topic created before the export range is not recognisable: its messages look like dangling
    replies to the missing ``topic_created`` message.
Kinds
    ``post`` for every message in a channel (``*_channel``) and for the auto-forwarded copy of a
    channel post in its discussion group (a message with ``forwarded_from`` sent by a
    ``channel…`` id other than the group itself); ``comment`` for group messages whose reply chain
    reaches such a copy; ``service`` for service messages (``text`` = the action name,
    ``member_id`` = the actor); ``message`` otherwise.
Members
    Everyone who sends a message or service action or is named as a reactor. ``display_name`` is
    the latest non-empty name seen. ``joined_at`` is observed from the member's join service
    message (``join_group_by_link``, ``join_group_by_request``; the actor of ``create_group`` /
    ``create_channel``; and people listed by *name* in ``invite_members`` / ``create_group``
    when that name belongs to exactly one id in the data — other names are counted as
    unmatched), provided it is not after the member's first activity (a re-join); otherwise it
    is inferred as the first activity (first message, or first reaction — the reacted message's
    time when the reaction time is unknown). ``is_staff`` is True for brand accounts that post as
    a channel: the sender of channel posts and of auto-forwarded copies, and the group itself
    (anonymous admins). Other ``channel…`` senders (members posting as their personal channel)
    are not staff. With a roster (:func:`analysis.ingest.crm.read_roster`), ``source``,
    ``referred_by`` (pseudonymised), ``is_staff`` (role ``staff``, or a brand channel) and
    ``is_bot`` (role ``bot``) come from it; without one, source and referred_by are null and
    ``is_bot`` is False (``via_bot`` marks a human using an inline bot, not a bot).
Reactions
    One row per reaction entry and named reactor in ``recent`` (``count`` 1), plus one row with
    ``member_id`` null for the unnamed remainder (``count − len(recent)``) when positive.
    ``emoji`` is the emoji, ``"custom:<document_id>"`` for custom emoji, ``"paid"`` for paid
    reactions. ``n_reactions`` = the sum of counts. ``reacted_at`` is null for the unnamed
    remainder. For a named reactor it comes from the entry's ``date_unixtime`` or from a ``date``
    that carries an offset (``observed``). In real exports a reactor's ``date`` is the exporting
    computer's local time *without* an offset; it is then converted with the exporter's UTC offset
    inferred per export file (``inferred``):

    * every message with both a local ``date`` (no offset) and ``date_unixtime`` shows the offset
      ``date − date_unixtime``;
    * if a file's offsets all take one value, each reactor's ``date`` minus that offset is
      ``reacted_at``;
    * if they take exactly two values one hour apart that are piecewise constant in time — sorted
      by ``date_unixtime`` the offset changes only between stretches of at least 7 days, as in a
      zone with daylight saving time (e.g. Europe/Berlin, ``+01:00/+02:00``) — a reactor's
      ``date`` is converted with the offset of the message nearest to it in local time. Near a
      switch this can be off by one hour: a reaction between the last message before a switch
      and the first message after it gets the offset of the nearer of the two, so in a busy chat
      only reactions within about an hour of the switch (the hour that is skipped or repeated)
      are at risk, in a quiet one more;
    * otherwise (two offsets not one hour apart or flipping back and forth — e.g. a file merged
      from computers in several zones —, three or more offsets, or no message with both fields,
      such as an old export read with ``assume_timezone``) ``reacted_at`` stays null.

    A reaction time makes a reactor count as active (:mod:`analysis.health`) and can be their
    first activity (``joined_at``).
Mentions
    The ``mentions`` table has one row per (message, mentioned member) from the message's text
    entities (``text_entities``, else the entity objects of a list ``text``): ``mention_name``
    entities carry ``user_id`` (the member ``user<user_id>``); ``@username`` (``mention``)
    entities resolve only through a ``username`` column of the roster or the identity map (see
    :mod:`analysis.ingest._telegram_mentions`); unresolved ones are counted, not guessed. A
    mentioned user who never posts, acts or reacts in the export is not a member of the tables
    and the mention is dropped (counted).
Skipped
    ``"type": "unsupported"`` (and other unknown types) and messages without any sender id
    (service actions like ``send_payment``; in channels a missing sender is the channel itself)
    are left out and counted in provenance; replies to them count as dangling.

Errors name the file and the field: invalid or truncated JSON (line and column), a chat without
``messages``, a message without ``id`` or ``type``, a non-numeric ``date_unixtime`` (message id
and value), the same message id twice in a chat with different content (identical repeats are
dropped and counted).

Provenance keys (``Tables.provenance``; counts are decimal strings)
-------------------------------------------------------------------
``messages.created_at`` (observed | inferred | mixed), ``messages.created_at.assumed_timezone``,
``messages.created_at.from_local_date_n``, ``messages.created_at.exporter_utc_offset`` (the
exporting computer's offset inferred as described under Reactions: ``+03:00``, ``+01:00/+02:00``
for a zone with daylight saving time, ``variable`` or ``unknown``; with several files whose labels
differ, each file's label joined by ``"; "`` in file order), ``messages.reply_to_id`` (observed),
``messages.reply_to_id.explicit_n``, ``messages.reply_to_id.dangling_n``, ``messages.thread_id``,
``messages.channel_id``, ``messages.kind``, ``messages.text``, ``messages.member_id`` (observed),
``messages.skipped_unsupported_n``, ``messages.skipped_no_sender_n``,
``messages.duplicates_dropped_n``, ``members.joined_at`` (observed | inferred | mixed),
``members.joined_at.observed_n``, ``members.joined_at.inferred_n``,
``members.joined_at.invite_unmatched_n``, ``members.display_name`` (observed),
``members.source`` / ``members.referred_by`` / ``members.is_bot`` (observed with a roster, else
absent), ``members.is_staff`` (observed with a roster, else inferred),
``members.roster_unmatched_n``, ``channels.kind`` (observed), ``reactions.count`` (observed),
``reactions.member_id`` (observed | partial | absent), ``reactions.member_id.named_n``,
``reactions.member_id.unnamed_n``, ``reactions.reacted_at`` (inferred when any reaction time
came from a local ``date`` and the inferred offset; else observed | partial | absent),
``reactions.reacted_at.inferred_n`` (reaction rows whose time was inferred that way),
``mentions.member_id`` (observed), ``mentions.mention_name_n``, ``mentions.username_resolved_n``,
``mentions.username_unresolved_n`` (mention entities by kind), ``mentions.not_in_members_n``
(mention rows dropped because the mentioned user is not in the export's members).

Implementation
--------------
This module is the entry point; the work is split by concern into
:mod:`analysis.ingest._telegram_json` (loading and walking the JSON, checking and collecting
messages; the errors), :mod:`analysis.ingest._telegram_threads` (reply chains, threads, forum
topics, kinds) and :mod:`analysis.ingest._telegram_tables` (the frames: timestamps, members,
reactions, channels, provenance, pseudonymisation).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from analysis.ingest._telegram_json import (
    CHANNEL_TYPES,  # noqa: F401  (this and the next three: re-exported public names)
    CREATOR_ACTIONS,  # noqa: F401
    JOIN_ACTIONS,  # noqa: F401
    NAMED_MEMBER_ACTIONS,  # noqa: F401
    PLATFORM,
    DuplicateMessageError,
    ExportCollector,
    TelegramExportError,
    iter_chats,
    load_json,
)
from analysis.ingest._telegram_tables import build_tables
from analysis.ingest.crm import ROSTER_COLUMNS
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = [
    "PLATFORM",
    "DuplicateMessageError",
    "TelegramExportError",
    "find_export_file",
    "read_telegram_export",
    "read_telegram_exports",
]


def find_export_file(path: str | os.PathLike) -> Path:
    """``path`` itself if it is a file, else ``path/result.json``.

    Raises
    ------
    FileNotFoundError
        If neither exists.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / "result.json"
        if not candidate.is_file():
            raise FileNotFoundError(
                f"{path}: no result.json in this folder; pass the result.json written by "
                f"Telegram Desktop (Export chat history → JSON) or the folder containing it."
            )
        return candidate
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Telegram export file.")
    return path


def read_telegram_export(
    path: str | os.PathLike,
    *,
    pseudonymizer: Pseudonymizer,
    roster: pd.DataFrame | None = None,
    assume_timezone: str | None = None,
    chat_ids: Collection[int] | None = None,
    usernames: Mapping[str, str] | None = None,
) -> Tables:
    """Read one Telegram Desktop JSON export into validated canonical tables.

    Parameters
    ----------
    path : path-like
        A ``result.json`` file or a folder containing one.
    pseudonymizer : Pseudonymizer
        Turns platform user ids into member ids.
    roster : pandas.DataFrame, optional
        The company's member roster as returned by :func:`analysis.ingest.crm.read_roster`
        (columns ``user_id, source, referred_by, role``).
    assume_timezone : str, optional
        IANA zone of the computer that made an old export without ``date_unixtime`` (e.g.
        ``"Europe/Moscow"``). Without it such messages are an error.
    chat_ids : collection of int, optional
        Keep only these chats (useful for full-account exports, which include private chats).
    usernames : mapping, optional
        ``{username: platform user id}`` (lower case, no ``@``; e.g. from the roster's or the
        identity map's ``username`` column) to resolve ``@username`` mentions.

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels``, ``reactions`` and ``mentions``, validated, with
        provenance (see the module docstring for the keys).

    Raises
    ------
    TelegramExportError
        The export is malformed (the message names file, field and message id).
    analysis.schema.SchemaValidationError
        The result breaks the data contract (a bug in this reader or a very unusual export).
    """
    return read_telegram_exports(
        [path],
        pseudonymizer=pseudonymizer,
        roster=roster,
        assume_timezone=assume_timezone,
        chat_ids=chat_ids,
        usernames=usernames,
    )


def read_telegram_exports(
    paths: Iterable[str | os.PathLike],
    *,
    pseudonymizer: Pseudonymizer,
    roster: pd.DataFrame | None = None,
    assume_timezone: str | None = None,
    chat_ids: Collection[int] | None = None,
    usernames: Mapping[str, str] | None = None,
) -> Tables:
    """Read several exports of one community (e.g. a channel and its discussion group) together.

    Replies across the files (``reply_to_peer_id``) are linked, members are merged by platform
    id, and the same chat in two files is merged (a message present in both must be identical).

    Parameters
    ----------
    paths : iterable of path-like
        ``result.json`` files or folders containing one.
    pseudonymizer, roster, assume_timezone, chat_ids, usernames
        As in :func:`read_telegram_export`.

    Returns
    -------
    Tables
        Validated canonical tables of all chats in all files.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files = [find_export_file(p) for p in paths]
    if not files:
        raise ValueError("read_telegram_exports: no export files given.")
    zone = _check_zone(assume_timezone)
    if roster is not None:
        missing = [c for c in ROSTER_COLUMNS if c not in roster.columns]
        if missing:
            raise ValueError(
                f"roster is missing columns {missing}; expected {list(ROSTER_COLUMNS)} "
                f"(read it with analysis.ingest.crm.read_roster)."
            )
    keep = None if chat_ids is None else {int(c) for c in chat_ids}
    collector = ExportCollector(assume_timezone=zone)
    for file in files:
        doc = load_json(file)
        for chat, where in iter_chats(doc, file):
            collector.add_chat(chat, file, where, keep)
    source = str(files[0]) if len(files) == 1 else "; ".join(str(f) for f in files)
    if roster is not None and "username" in roster.columns:
        named = roster.dropna(subset=["username"])
        usernames = {
            **dict(zip(named["username"], named["user_id"], strict=True)),
            **(usernames or {}),
        }
    tables = build_tables(
        collector, pseudonymizer=pseudonymizer, roster=roster, source=source, usernames=usernames
    )
    return tables.validated(source=source)


def _check_zone(zone: str | None) -> str | None:
    if zone is None:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"assume_timezone={zone!r} is not an IANA time zone name (e.g. 'Europe/Moscow')."
        ) from None
    return zone
