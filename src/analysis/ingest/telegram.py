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
    *exporting computer's local time without an offset* and is never used when
    ``date_unixtime`` exists. Old exports without ``date_unixtime`` are an error unless the caller
    passes ``assume_timezone`` (e.g. ``"Europe/Moscow"``), the zone of the computer that made the
    export; ``date`` is then read in that zone (ambiguous times in a DST fall-back hour are read as
    the first occurrence) and provenance says so.
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
    reactions. A reactor's ``date`` is local time without an offset in real exports, so
    ``reacted_at`` is null unless the value carries an offset (or the entry has
    ``date_unixtime``); provenance says how many are known. ``n_reactions`` = the sum of counts.
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
``messages.created_at.from_local_date_n``, ``messages.reply_to_id`` (observed),
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
``reactions.member_id.unnamed_n``, ``reactions.reacted_at`` (observed | partial | absent).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from analysis.ingest.crm import ROSTER_COLUMNS
from analysis.pseudonym import Pseudonymizer
from analysis.schema import UTC_DTYPE, Tables

__all__ = [
    "PLATFORM",
    "TelegramExportError",
    "find_export_file",
    "read_telegram_export",
    "read_telegram_exports",
]

PLATFORM = "telegram"
CHANNEL_TYPES = frozenset({"private_channel", "public_channel"})
JOIN_ACTIONS = frozenset({"join_group_by_link", "join_group_by_request"})
CREATOR_ACTIONS = frozenset({"create_group", "create_channel"})
NAMED_MEMBER_ACTIONS = frozenset({"invite_members", "create_group"})
_PEER_RE = re.compile(r"^(?:user|channel|chat)(\d+)$")
_OFFSET_RE = re.compile(r"(?:[zZ]|[+-]\d{2}:?\d{2})$")


class TelegramExportError(ValueError):
    """A Telegram export cannot be read as documented (names the file, field and message)."""


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

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels`` and ``reactions``, validated, with provenance
        (see the module docstring for the keys).

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
    )


def read_telegram_exports(
    paths: Iterable[str | os.PathLike],
    *,
    pseudonymizer: Pseudonymizer,
    roster: pd.DataFrame | None = None,
    assume_timezone: str | None = None,
    chat_ids: Collection[int] | None = None,
) -> Tables:
    """Read several exports of one community (e.g. a channel and its discussion group) together.

    Replies across the files (``reply_to_peer_id``) are linked, members are merged by platform
    id, and the same chat in two files is merged (a message present in both must be identical).

    Parameters
    ----------
    paths : iterable of path-like
        ``result.json`` files or folders containing one.
    pseudonymizer, roster, assume_timezone, chat_ids
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
    collector = _Collector(assume_timezone=zone)
    for file in files:
        doc = _load_json(file)
        for chat, where in _iter_chats(doc, file):
            collector.add_chat(chat, file, where, keep)
    source = str(files[0]) if len(files) == 1 else "; ".join(str(f) for f in files)
    tables = collector.build(pseudonymizer=pseudonymizer, roster=roster, source=source)
    return tables.validated(source=source)


# --------------------------------------------------------------------------------------------
# reading and walking the JSON


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


def _load_json(path: Path) -> object:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise TelegramExportError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
            f"Is the export complete? Telegram Desktop writes result.json last; re-export if it "
            f"was interrupted."
        ) from None
    except UnicodeDecodeError as exc:
        raise TelegramExportError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); is this a Telegram "
            f"JSON export (not the HTML one)?"
        ) from None


def _iter_chats(doc: object, path: Path) -> list[tuple[dict, str]]:
    if isinstance(doc, dict) and "messages" in doc:
        return [(doc, "the chat")]
    if isinstance(doc, dict) and "chats" in doc:
        out = []
        for section in ("chats", "left_chats"):
            block = doc.get(section)
            if block is None:
                continue
            chats = block.get("list") if isinstance(block, dict) else None
            if not isinstance(chats, list):
                raise TelegramExportError(
                    f"{path}: field '{section}.list' is missing or not a list; expected the chats "
                    f"of a full-account export."
                )
            for i, chat in enumerate(chats):
                if not isinstance(chat, dict) or "messages" not in chat:
                    raise TelegramExportError(
                        f"{path}: {section}.list[{i}] has no field 'messages'; expected a chat "
                        f"object with name, type, id and messages."
                    )
                out.append((chat, f"{section}.list[{i}]"))
        return out
    found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
    raise TelegramExportError(
        f"{path}: missing field 'messages' (found {found}); expected a Telegram Desktop chat "
        f"export (name, type, id, messages) or a full-account export (chats.list)."
    )


def _plain_text(value: object) -> str:
    """``text`` as a string or a list of strings and entity objects → plain text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                parts.append(str(part.get("text", "")))
        return "".join(parts)
    return str(value)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return None


def _peer_chat_id(peer: object) -> int | None:
    match = _PEER_RE.match(str(peer)) if peer is not None else None
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------------------------
# collecting rows


@dataclass
class _Collector:
    """Column lists filled message by message, turned into frames once in :meth:`build`."""

    assume_timezone: str | None = None
    # messages (one entry per kept message)
    mid: list[str] = field(default_factory=list)
    chat_code: list[int] = field(default_factory=list)
    chat_channel: list[str] = field(default_factory=list)
    sender: list[str] = field(default_factory=list)
    sender_name: list[str | None] = field(default_factory=list)
    unix: list[int] = field(default_factory=list)
    local_date: dict[int, tuple[str, Path]] = field(default_factory=dict)
    reply_target: list[str | None] = field(default_factory=list)
    topic: list[str | None] = field(default_factory=list)
    is_service: list[bool] = field(default_factory=list)
    in_channel: list[bool] = field(default_factory=list)
    is_autofwd: list[bool] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    n_reactions: list[int] = field(default_factory=list)
    # other tables and events
    channels: dict[str, tuple[str | None, str, str | None]] = field(default_factory=dict)
    chats: dict[int, int] = field(default_factory=dict)
    seen: dict[str, dict] = field(default_factory=dict)
    brand_senders: set[str] = field(default_factory=set)
    reactions: list[tuple[int, str | None, str | None, str, int, object]] = field(
        default_factory=list
    )
    joins: list[tuple[str, int]] = field(default_factory=list)
    named_joins: list[tuple[str | None, int]] = field(default_factory=list)
    skipped_unsupported: int = 0
    skipped_no_sender: int = 0
    duplicates: int = 0

    def add_chat(self, chat: dict, file: Path, where: str, keep: set[int] | None) -> None:
        chat_id = _as_int(chat.get("id"))
        if chat_id is None:
            raise TelegramExportError(
                f"{file}: {where} has no numeric field 'id' (got {chat.get('id')!r}); expected "
                f"the chat id written by Telegram Desktop."
            )
        if keep is not None and chat_id not in keep:
            return
        messages = chat.get("messages")
        if not isinstance(messages, list):
            raise TelegramExportError(
                f"{file}: {where} (chat {chat_id}): field 'messages' is not a list."
            )
        chat_type = chat.get("type") or ""
        is_channel = chat_type in CHANNEL_TYPES
        code = self.chats.setdefault(chat_id, len(self.chats))
        chat_channel = f"tg:{chat_id}"
        own_peer = f"channel{chat_id}"

        # first pass: validate ids and types, find forum topics
        ids: list[int] = []
        topics: dict[int, str] = {}
        for pos, m in enumerate(messages):
            if not isinstance(m, dict):
                raise TelegramExportError(
                    f"{file}: {where} (chat {chat_id}): messages[{pos}] is not an object."
                )
            for required in ("id", "type"):
                if required not in m:
                    ident = f"message id {m['id']!r}" if "id" in m else f"messages[{pos}]"
                    raise TelegramExportError(
                        f"{file}: chat {chat_id}: {ident} has no field '{required}'."
                    )
            mid = _as_int(m["id"])
            if mid is None:
                raise TelegramExportError(
                    f"{file}: chat {chat_id}: messages[{pos}] has a non-numeric field 'id': "
                    f"{m['id']!r}."
                )
            ids.append(mid)
            if m["type"] == "service" and m.get("action") == "topic_created":
                topics[mid] = f"{chat_channel}:topic:{mid}"
                self.channels.setdefault(
                    topics[mid], (_str_or_none(m.get("title")), "topic", chat_channel)
                )
        kind = "channel" if is_channel else ("forum" if topics else "group")
        previous = self.channels.get(chat_channel)
        if previous is None or (previous[1] == "group" and kind == "forum"):
            self.channels[chat_channel] = (_str_or_none(chat.get("name")), kind, None)

        # second pass: one row per message
        for m, local_id in zip(messages, ids, strict=True):
            message_id = f"{chat_channel}:{local_id}"
            first = self.seen.get(message_id)
            if first is not None:
                if first == m:
                    self.duplicates += 1
                    continue
                raise TelegramExportError(
                    f"{file}: chat {chat_id}: message id {local_id} appears twice with different "
                    f"content; if two exports of the same chat taken at different times are read "
                    f"together, read only the newer one."
                )
            self.seen[message_id] = m
            mtype = m["type"]
            if mtype not in ("message", "service"):
                self.skipped_unsupported += 1
                continue
            service = mtype == "service"
            sender = m.get("actor_id") if service else m.get("from_id")
            name = m.get("actor") if service else m.get("from")
            if sender is None and service:
                sender, name = m.get("from_id"), m.get("from")
            if sender is None and is_channel:
                sender, name = own_peer, chat.get("name")
            if sender is None:
                self.skipped_no_sender += 1
                continue
            sender = str(sender)
            index = len(self.mid)

            unix = m.get("date_unixtime")
            if unix is None:
                if self.assume_timezone is None or not m.get("date"):
                    raise TelegramExportError(
                        f"{file}: chat {chat_id}: message id {local_id} has no field "
                        f"'date_unixtime' (an old export?). Its 'date' is the exporting "
                        f"computer's local time without a zone; pass assume_timezone='<IANA "
                        f"zone of that computer>' (e.g. 'Europe/Moscow') to read it."
                    )
                self.local_date[index] = (str(m["date"]), file)
                seconds = 0
            else:
                seconds = _as_int(unix)
                if seconds is None:
                    raise TelegramExportError(
                        f"{file}: chat {chat_id}: message id {local_id}: field 'date_unixtime' "
                        f"is not a number of seconds: {unix!r}."
                    )

            target = None
            topic = None
            reply = m.get("reply_to_message_id") if not service else None
            if service and m.get("action") == "topic_created":
                topic = topics.get(local_id)
            elif reply is not None:
                reply_id = _as_int(reply)
                peer = m.get("reply_to_peer_id")
                peer_chat = _peer_chat_id(peer) if peer is not None else chat_id
                if reply_id is None:
                    raise TelegramExportError(
                        f"{file}: chat {chat_id}: message id {local_id}: field "
                        f"'reply_to_message_id' is not a number: {reply!r}."
                    )
                if peer_chat is None:
                    raise TelegramExportError(
                        f"{file}: chat {chat_id}: message id {local_id}: field "
                        f"'reply_to_peer_id' is not a peer id like 'channel123': {peer!r}."
                    )
                if peer_chat == chat_id and reply_id in topics:
                    topic = topics[reply_id]
                else:
                    target = f"tg:{peer_chat}:{reply_id}"

            autofwd = (
                not service
                and not is_channel
                and "forwarded_from" in m
                and sender.startswith("channel")
                and sender != own_peer
            )
            if (is_channel and not service) or autofwd or sender == own_peer:
                self.brand_senders.add(sender)

            if service:
                action = m.get("action") or (
                    "custom_action" if "information_text" in m else "service"
                )
                text = str(action)
                if action in JOIN_ACTIONS or action in CREATOR_ACTIONS:
                    self.joins.append((sender, index))
                if action in NAMED_MEMBER_ACTIONS:
                    for invited in m.get("members") or []:
                        self.named_joins.append((_str_or_none(invited), index))
            else:
                text = _plain_text(m.get("text"))

            total = 0
            for reaction in m.get("reactions") or []:
                total += self._add_reaction(reaction, index, file, chat_id, local_id)

            self.mid.append(message_id)
            self.chat_code.append(code)
            self.chat_channel.append(chat_channel)
            self.sender.append(sender)
            self.sender_name.append(_str_or_none(name))
            self.unix.append(seconds)
            self.reply_target.append(target)
            self.topic.append(topic)
            self.is_service.append(service)
            self.in_channel.append(is_channel)
            self.is_autofwd.append(autofwd)
            self.text.append(text)
            self.n_reactions.append(total)

    def _add_reaction(
        self, reaction: object, index: int, file: Path, chat_id: int, local_id: int
    ) -> int:
        if not isinstance(reaction, dict):
            raise TelegramExportError(
                f"{file}: chat {chat_id}: message id {local_id}: a 'reactions' entry is not an "
                f"object: {reaction!r}."
            )
        count = _as_int(reaction.get("count", 1))
        if count is None or count < 0:
            raise TelegramExportError(
                f"{file}: chat {chat_id}: message id {local_id}: reaction field 'count' is not a "
                f"non-negative integer: {reaction.get('count')!r}."
            )
        rtype = reaction.get("type") or ("emoji" if "emoji" in reaction else "unknown")
        if rtype == "emoji":
            emoji = str(reaction.get("emoji", ""))
        elif rtype == "custom_emoji":
            emoji = f"custom:{reaction.get('document_id', '')}"
        elif rtype == "paid":
            emoji = "paid"
        else:
            emoji = str(rtype)
        named = 0
        for recent in reaction.get("recent") or []:
            if not isinstance(recent, dict) or recent.get("from_id") is None:
                continue
            when: object = None
            if recent.get("date_unixtime") is not None:
                when = _as_int(recent["date_unixtime"])
            elif isinstance(recent.get("date"), str) and _OFFSET_RE.search(recent["date"]):
                when = recent["date"]
            self.reactions.append(
                (index, str(recent["from_id"]), _str_or_none(recent.get("from")), emoji, 1, when)
            )
            named += 1
        if count - named > 0:
            self.reactions.append((index, None, None, emoji, count - named, None))
        return count

    # ----------------------------------------------------------------------------------------

    def build(
        self, *, pseudonymizer: Pseudonymizer, roster: pd.DataFrame | None, source: str
    ) -> Tables:
        n = len(self.mid)
        provenance: dict[str, str] = {}
        mids = np.array(self.mid, dtype=object)
        created_ns = self._created_ns(provenance)
        created = pd.to_datetime(created_ns, utc=True)

        # reply graph: parent index, or -1 for roots and dangling replies
        position = {m: i for i, m in enumerate(self.mid)}
        parent = np.full(n, -1, dtype=np.int64)
        dangling = np.zeros(n, dtype=bool)
        for i, target in enumerate(self.reply_target):
            if target is None:
                continue
            j = position.get(target)
            if j is None or j == i:
                dangling[i] = True
            else:
                parent[i] = j
        targets = np.array(self.reply_target, dtype=object)
        is_autofwd = np.array(self.is_autofwd, dtype=bool)
        root, reaches_post = _resolve_roots(parent, is_autofwd, mids, source)
        thread = np.where(dangling[root], targets[root], mids[root])
        has_parent = parent >= 0
        reply_to = np.where(has_parent, mids[np.maximum(parent, 0)], targets)

        chat_code = np.array(self.chat_code, dtype=np.int64)
        same_parent = np.where(
            has_parent & (chat_code[np.maximum(parent, 0)] == chat_code), parent, -1
        )
        same_root, _ = _resolve_roots(same_parent, None, mids, source)
        topic = np.array(self.topic, dtype=object)[same_root]
        channel = np.where(pd.isna(topic), np.array(self.chat_channel, dtype=object), topic)

        is_service = np.array(self.is_service, dtype=bool)
        in_channel = np.array(self.in_channel, dtype=bool)
        kind = np.select(
            [is_service, in_channel | is_autofwd, reaches_post],
            ["service", "post", "comment"],
            "message",
        ).astype(object)

        text = pd.Series(self.text, dtype=object)
        messages = pd.DataFrame(
            {
                "message_id": mids,
                "platform": PLATFORM,
                "channel_id": channel,
                "thread_id": thread,
                "member_id": self.sender,  # platform ids, pseudonymised below
                "created_at": created,
                "reply_to_id": pd.Series(reply_to, dtype=object).where(pd.notna(reply_to), None),
                "reply_source": np.where(pd.notna(reply_to), "explicit", "none").astype(object),
                "kind": kind,
                "text": text,
                "text_len": text.str.len().astype("int64"),
                "n_reactions": np.array(self.n_reactions, dtype=np.int64),
            }
        )
        provenance.update(
            {
                "messages.reply_to_id": "observed",
                "messages.reply_to_id.explicit_n": str(int(pd.notna(reply_to).sum())),
                "messages.reply_to_id.dangling_n": str(int(dangling.sum())),
                "messages.thread_id": "observed",
                "messages.channel_id": "observed",
                "messages.kind": "observed",
                "messages.text": "observed",
                "messages.member_id": "observed",
                "messages.skipped_unsupported_n": str(self.skipped_unsupported),
                "messages.skipped_no_sender_n": str(self.skipped_no_sender),
                "messages.duplicates_dropped_n": str(self.duplicates),
                "channels.kind": "observed",
            }
        )

        reactions, reaction_ns = self._reactions_frame(mids, created_ns, provenance)
        members = self._members_frame(created_ns, reactions, reaction_ns, roster, provenance)

        # pseudonymise every platform id in one mapping
        ids = pd.Series(members["member_id"].to_numpy(), dtype=object)
        mapping = dict(zip(ids, pseudonymizer.member_ids(PLATFORM, ids), strict=True))
        members["member_id"] = ids.map(mapping).to_numpy()
        members["referred_by"] = pseudonymizer.member_ids(
            PLATFORM, members["referred_by"]
        ).to_numpy()
        messages["member_id"] = messages["member_id"].map(mapping).astype(object)
        reactions["member_id"] = reactions["member_id"].map(mapping).astype(object)
        reactions["member_id"] = reactions["member_id"].where(reactions["member_id"].notna(), None)
        reactions = reactions.drop(columns=["reactor_name"])

        channels = pd.DataFrame(
            [(cid, PLATFORM, name, kind, par) for cid, (name, kind, par) in self.channels.items()],
            columns=["channel_id", "platform", "name", "kind", "parent_id"],
        ).astype(object)
        return Tables(
            members=members,
            messages=messages,
            channels=channels,
            reactions=reactions,
            provenance=provenance,
        )

    def _created_ns(self, provenance: dict[str, str]) -> np.ndarray:
        """UTC nanoseconds per message: ``date_unixtime``, else ``date`` in the assumed zone."""
        created_ns = np.array(self.unix, dtype=np.int64) * 1_000_000_000
        n_local = len(self.local_date)
        if n_local:
            rows = np.fromiter(self.local_date, dtype=np.int64, count=n_local)
            texts = pd.Series([self.local_date[int(i)][0] for i in rows], dtype=object)
            has_offset = texts.str.contains(_OFFSET_RE).to_numpy(dtype=bool)
            ns = np.zeros(n_local, dtype=np.int64)
            ok = np.ones(n_local, dtype=bool)
            if has_offset.any():
                aware = pd.to_datetime(
                    texts[has_offset], format="ISO8601", utc=True, errors="coerce"
                )
                ok[has_offset] = aware.notna().to_numpy()
                ns[has_offset & ok] = _utc_ns(aware[aware.notna()])
            if (~has_offset).any():
                naive = pd.to_datetime(texts[~has_offset], format="ISO8601", errors="coerce")
                good = naive.notna().to_numpy()
                ok[~has_offset] = good
                local = naive[good].dt.tz_localize(
                    self.assume_timezone,
                    ambiguous=np.ones(int(good.sum()), dtype=bool),
                    nonexistent="shift_forward",
                )
                ns[~has_offset & ok] = _utc_ns(local)
            if not ok.all():
                first = int(rows[np.flatnonzero(~ok)[0]])
                raise TelegramExportError(
                    f"{self.local_date[first][1]}: message {self.mid[first]}: field 'date' is not "
                    f"an ISO 8601 date-time: {self.local_date[first][0]!r}."
                )
            created_ns[rows] = ns
        n = len(self.mid)
        provenance["messages.created_at"] = (
            "observed" if n_local == 0 else ("inferred" if n_local == n else "mixed")
        )
        provenance["messages.created_at.from_local_date_n"] = str(n_local)
        if n_local:
            provenance["messages.created_at.assumed_timezone"] = str(self.assume_timezone)
        return created_ns

    def _reactions_frame(
        self, mids: np.ndarray, created_ns: np.ndarray, provenance: dict[str, str]
    ) -> tuple[pd.DataFrame, np.ndarray]:
        cols = ["msg", "member_id", "reactor_name", "emoji", "count", "when"]
        df = pd.DataFrame(self.reactions, columns=cols)
        df = df[df["count"] >= 1].reset_index(drop=True)
        when = df["when"]
        reacted = pd.Series(pd.NaT, index=df.index, dtype=UTC_DTYPE)
        is_unix = when.map(lambda v: isinstance(v, int) and not isinstance(v, bool))
        if is_unix.any():
            reacted[is_unix] = pd.to_datetime(when[is_unix].astype("int64"), unit="s", utc=True)
        is_text = when.map(lambda v: isinstance(v, str))
        if is_text.any():
            reacted[is_text] = pd.to_datetime(
                when[is_text], format="ISO8601", utc=True, errors="coerce"
            )
        msg = df["msg"].to_numpy(dtype=np.int64)
        out = pd.DataFrame(
            {
                "message_id": mids[msg] if len(df) else np.array([], dtype=object),
                "member_id": df["member_id"].astype(object),
                "reactor_name": df["reactor_name"].astype(object),
                "emoji": df["emoji"].astype(object),
                "count": df["count"].astype("int64"),
                "reacted_at": reacted,
            }
        )
        # when a reactor was (at the latest) active: the reaction time, else the message's time
        reaction_ns = created_ns[msg] if len(df) else np.array([], dtype=np.int64)
        known = reacted.notna().to_numpy()
        reaction_ns[known] = _utc_ns(reacted[known])
        named = out["member_id"].notna()
        named_n = int(out.loc[named, "count"].sum())
        unnamed_n = int(out.loc[~named, "count"].sum())
        provenance["reactions.count"] = "observed"
        provenance["reactions.member_id"] = _share_label(named_n, named_n + unnamed_n)
        provenance["reactions.member_id.named_n"] = str(named_n)
        provenance["reactions.member_id.unnamed_n"] = str(unnamed_n)
        provenance["reactions.reacted_at"] = _share_label(
            int(out["reacted_at"].notna().sum()), named_n + unnamed_n
        )
        return out, reaction_ns

    def _members_frame(
        self,
        created_ns: np.ndarray,
        reactions: pd.DataFrame,
        reaction_ns: np.ndarray,
        roster: pd.DataFrame | None,
        provenance: dict[str, str],
    ) -> pd.DataFrame:
        named = reactions["member_id"].notna().to_numpy()
        events = pd.DataFrame(
            {
                "pid": np.concatenate(
                    [np.array(self.sender, dtype=object), reactions["member_id"].to_numpy()[named]]
                ),
                "t": np.concatenate([created_ns, reaction_ns[named]]),
                "name": np.concatenate(
                    [
                        np.array(self.sender_name, dtype=object),
                        reactions["reactor_name"].to_numpy()[named],
                    ]
                ),
            }
        )
        first_seen = events.groupby("pid", sort=False)["t"].min()
        names = events.dropna(subset=["name"])
        display = names.sort_values("t", kind="stable").groupby("pid")["name"].last()

        # observed joins: the joiner's own service message, or a uniquely named invitee
        join_pid = [pid for pid, _ in self.joins]
        join_t = [int(created_ns[i]) for _, i in self.joins]
        unique_name: dict[str, str] = {}
        if self.named_joins:
            pairs = names[["name", "pid"]].drop_duplicates()
            single = pairs.drop_duplicates("name", keep=False)  # names held by exactly one id
            unique_name = dict(zip(single["name"], single["pid"], strict=True))
        unmatched = 0
        for name, i in self.named_joins:
            pid = unique_name.get(name) if name is not None else None
            if pid is None:
                unmatched += 1
            else:
                join_pid.append(pid)
                join_t.append(int(created_ns[i]))
        no_join = np.iinfo(np.int64).max
        observed = (
            pd.Series(join_t, index=pd.Index(join_pid, dtype=object), dtype="int64")
            .groupby(level=0)
            .min()
        )
        observed_ns = (
            observed.reindex(first_seen.index, fill_value=no_join).to_numpy(dtype=np.int64)
            if len(observed)
            else np.full(len(first_seen), no_join, dtype=np.int64)
        )
        first_ns = first_seen.to_numpy(dtype=np.int64)
        # a join after the first activity is a re-join: the first activity is the better date
        use_observed = (observed_ns != no_join) & (observed_ns <= first_ns)
        joined_ns = np.where(use_observed, observed_ns, first_ns)
        n_obs = int(use_observed.sum())
        n_inf = len(first_seen) - n_obs
        provenance["members.joined_at"] = (
            "observed" if n_inf == 0 else ("inferred" if n_obs == 0 else "mixed")
        )
        provenance["members.joined_at.observed_n"] = str(n_obs)
        provenance["members.joined_at.inferred_n"] = str(n_inf)
        provenance["members.joined_at.invite_unmatched_n"] = str(unmatched)
        provenance["members.display_name"] = "observed"

        pids = first_seen.index.to_numpy(dtype=object)
        brand = pd.Series(pids).isin(self.brand_senders).to_numpy()
        members = pd.DataFrame(
            {
                "member_id": pids,
                "platform": PLATFORM,
                "joined_at": pd.to_datetime(joined_ns, utc=True),
                "source": None,
                "is_staff": brand,
                "is_bot": False,
                "display_name": display.reindex(first_seen.index).to_numpy(dtype=object),
                "referred_by": None,
            }
        )
        members["display_name"] = members["display_name"].where(
            members["display_name"].notna(), None
        )
        if roster is None:
            for col in ("source", "referred_by", "is_bot"):
                provenance[f"members.{col}"] = "absent"
            provenance["members.is_staff"] = "inferred"
            provenance["members.roster_unmatched_n"] = "0"
            return members
        info = roster.drop_duplicates("user_id").set_index("user_id")
        matched = info.reindex(members["member_id"])
        role = matched["role"].fillna("member").str.lower().to_numpy()
        members["source"] = matched["source"].to_numpy(dtype=object)
        members["referred_by"] = matched["referred_by"].to_numpy(dtype=object)
        for col in ("source", "referred_by"):
            members[col] = members[col].where(members[col].notna(), None)
        members["is_staff"] = brand | (role == "staff")
        members["is_bot"] = role == "bot"
        for col in ("source", "referred_by", "is_bot", "is_staff"):
            provenance[f"members.{col}"] = "observed"
        unmatched_roster = int((~info.index.isin(members["member_id"])).sum())
        provenance["members.roster_unmatched_n"] = str(unmatched_roster)
        return members


def _utc_ns(values: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch of timezone-aware timestamps (no NaT allowed)."""
    return (
        values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").view(np.int64)
    )


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text else None


def _share_label(part: int, total: int) -> str:
    if total == 0 or part == 0:
        return "absent"
    return "observed" if part == total else "partial"


def _resolve_roots(
    parent: np.ndarray, flag: np.ndarray | None, mids: np.ndarray, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Root of every node of a forest given as parent indices (-1 = root), by pointer jumping.

    Also returns, per node, whether ``flag`` is set on any strict ancestor. Each round halves the
    remaining distance to the root (O(n log depth) vectorised work, no recursion); a reply cycle
    never converges and is reported.
    """
    n = len(parent)
    idx = np.arange(n, dtype=np.int64)
    has_parent = parent >= 0
    jump = np.where(has_parent, parent, idx)
    acc = (
        np.zeros(n, dtype=bool)
        if flag is None
        else np.where(has_parent, flag[jump], False).astype(bool)
    )
    for _ in range(64):
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            break
        acc = acc | acc[jump]
        jump = nxt
    # every node must end at a true root; nodes on a cycle end at a non-root fixed point
    cyclic = np.flatnonzero((jump[jump] != jump) | has_parent[jump])
    if not len(cyclic):
        return jump, acc
    raise TelegramExportError(
        f"{source}: reply links form a cycle (impossible in a real export) through messages "
        f"{mids[cyclic[:5]].tolist()}."
    )
