"""Reading Telegram Desktop JSON exports: files, chats and messages → column lists.

Part of :mod:`analysis.ingest.telegram`, which is the public entry point and documents how the
export's fields map to canonical columns. Here :func:`load_json` and :func:`iter_chats` read and
walk one export file, and :class:`ExportCollector` checks every chat and message and keeps one
entry per message (plus channels, reactions and join events) in plain lists, which
:mod:`analysis.ingest._telegram_tables` turns into frames in one go. Every error is a
:class:`TelegramExportError` naming the file, the field and the message. The local ``date`` texts
of messages (with the file they came from) and of reactors are kept for inferring the exporting
computer's UTC offset (see :mod:`analysis.ingest.telegram`, "Reactions").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from analysis.ingest._telegram_mentions import message_mentions

__all__ = [
    "CHANNEL_TYPES",
    "CREATOR_ACTIONS",
    "DuplicateMessageError",
    "JOIN_ACTIONS",
    "LOCAL_DATE_RE",
    "NAMED_MEMBER_ACTIONS",
    "OFFSET_RE",
    "PLATFORM",
    "ExportCollector",
    "TelegramExportError",
    "as_int",
    "iter_chats",
    "load_json",
    "str_or_none",
]

PLATFORM = "telegram"
CHANNEL_TYPES = frozenset({"private_channel", "public_channel"})
JOIN_ACTIONS = frozenset({"join_group_by_link", "join_group_by_request"})
CREATOR_ACTIONS = frozenset({"create_group", "create_channel"})
NAMED_MEMBER_ACTIONS = frozenset({"invite_members", "create_group"})
#: A timestamp text that ends in a UTC offset (``Z``, ``+03:00``, ``-0500``).
OFFSET_RE = re.compile(r"(?:[zZ]|[+-]\d{2}:?\d{2})$")
#: A local date-time without offset as Telegram Desktop writes it (``2024-01-10T15:00:00``).
LOCAL_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
_PEER_RE = re.compile(r"^(?:user|channel|chat)(\d+)$")


class TelegramExportError(ValueError):
    """A Telegram export cannot be read as documented (names the file, field and message)."""


class DuplicateMessageError(TelegramExportError):
    """One message id twice with different content (e.g. two snapshots of one chat)."""


# Users meet (and catch) them as part of the public module, so tracebacks name it there.
TelegramExportError.__module__ = "analysis.ingest.telegram"
DuplicateMessageError.__module__ = "analysis.ingest.telegram"


def load_json(path: Path) -> object:
    """The parsed JSON document of an export file (a UTF-8 byte-order mark is allowed).

    Raises
    ------
    TelegramExportError
        The file is not valid JSON (line and column given) or not UTF-8 text.
    """
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


def iter_chats(doc: object, path: Path) -> list[tuple[dict, str]]:
    """The chats of an export document, each with where it is in the file (for messages).

    A single-chat export is one chat (``"the chat"``); a full-account export yields the chats of
    ``chats.list`` and ``left_chats.list`` (``"chats.list[3]"``).

    Raises
    ------
    TelegramExportError
        The document is neither kind of export.
    """
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


def as_int(value: object) -> int | None:
    """An int or a decimal string (``"-12"``) as int; anything else (booleans too) → None."""
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
    """The chat id of a peer id like ``channel123``, or None."""
    match = _PEER_RE.match(str(peer)) if peer is not None else None
    return int(match.group(1)) if match else None


def str_or_none(value: object) -> str | None:
    """``str(value)``, with None and the empty string → None."""
    if value is None:
        return None
    text = str(value)
    return text if text else None


@dataclass
class ExportCollector:
    """Column lists filled message by message, turned into frames once by ``build_tables``.

    Holds raw platform ids (``user123``); pseudonymisation happens when the tables are built.
    """

    assume_timezone: str | None = None
    # messages (one entry per kept message)
    mid: list[str] = field(default_factory=list)
    chat_code: list[int] = field(default_factory=list)
    chat_channel: list[str] = field(default_factory=list)
    sender: list[str] = field(default_factory=list)
    sender_name: list[str | None] = field(default_factory=list)
    unix: list[int] = field(default_factory=list)
    local_date: dict[int, tuple[str, Path]] = field(default_factory=dict)
    #: number of the export file (order of first use) and, for a message with ``date_unixtime``,
    #: its local ``date`` text when that has no offset (else None): for the exporter's offset
    msg_file: list[int] = field(default_factory=list)
    msg_local: list[str | None] = field(default_factory=list)
    files: dict[Path, int] = field(default_factory=dict)
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
    #: (message index, reactor id, reactor name, emoji, count, time: unix seconds | text with an
    #: offset | None, local ``date`` text without offset | None)
    reactions: list[tuple[int, str | None, str | None, str, int, object, str | None]] = field(
        default_factory=list
    )
    joins: list[tuple[str, int]] = field(default_factory=list)
    #: (message index, "id" | "username", platform user id or username) per mention entity
    mentions: list[tuple[int, str, str]] = field(default_factory=list)
    named_joins: list[tuple[str | None, int]] = field(default_factory=list)
    skipped_unsupported: int = 0
    skipped_no_sender: int = 0
    duplicates: int = 0

    def add_chat(self, chat: dict, file: Path, where: str, keep: set[int] | None) -> None:
        """Check one chat of ``file`` and collect its messages (unless ``keep`` excludes it)."""
        chat_id = as_int(chat.get("id"))
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
        file_code = self.files.setdefault(file, len(self.files))
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
            mid = as_int(m["id"])
            if mid is None:
                raise TelegramExportError(
                    f"{file}: chat {chat_id}: messages[{pos}] has a non-numeric field 'id': "
                    f"{m['id']!r}."
                )
            ids.append(mid)
            if m["type"] == "service" and m.get("action") == "topic_created":
                topics[mid] = f"{chat_channel}:topic:{mid}"
                self.channels.setdefault(
                    topics[mid], (str_or_none(m.get("title")), "topic", chat_channel)
                )
        kind = "channel" if is_channel else ("forum" if topics else "group")
        previous = self.channels.get(chat_channel)
        if previous is None or (previous[1] == "group" and kind == "forum"):
            self.channels[chat_channel] = (str_or_none(chat.get("name")), kind, None)

        # second pass: one row per message
        for m, local_id in zip(messages, ids, strict=True):
            message_id = f"{chat_channel}:{local_id}"
            first = self.seen.get(message_id)
            if first is not None:
                if first == m:
                    self.duplicates += 1
                    continue
                raise DuplicateMessageError(
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
            local_text = None
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
                seconds = as_int(unix)
                if seconds is None:
                    raise TelegramExportError(
                        f"{file}: chat {chat_id}: message id {local_id}: field 'date_unixtime' "
                        f"is not a number of seconds: {unix!r}."
                    )
                date = m.get("date")
                if isinstance(date, str) and LOCAL_DATE_RE.match(date):
                    local_text = date

            target = None
            topic = None
            reply = m.get("reply_to_message_id") if not service else None
            if service and m.get("action") == "topic_created":
                topic = topics.get(local_id)
            elif reply is not None:
                reply_id = as_int(reply)
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
                        self.named_joins.append((str_or_none(invited), index))
            else:
                text = _plain_text(m.get("text"))
                self.mentions.extend((index, k, v) for k, v in message_mentions(m))

            total = 0
            for reaction in m.get("reactions") or []:
                total += self._add_reaction(reaction, index, file, chat_id, local_id)

            self.mid.append(message_id)
            self.chat_code.append(code)
            self.chat_channel.append(chat_channel)
            self.sender.append(sender)
            self.sender_name.append(str_or_none(name))
            self.unix.append(seconds)
            self.msg_file.append(file_code)
            self.msg_local.append(local_text)
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
        """Collect one ``reactions`` entry of message ``index``; returns its count."""
        if not isinstance(reaction, dict):
            raise TelegramExportError(
                f"{file}: chat {chat_id}: message id {local_id}: a 'reactions' entry is not an "
                f"object: {reaction!r}."
            )
        count = as_int(reaction.get("count", 1))
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
            local = None
            date = recent.get("date")
            if recent.get("date_unixtime") is not None:
                when = as_int(recent["date_unixtime"])
            elif isinstance(date, str) and OFFSET_RE.search(date):
                when = date
            elif isinstance(date, str) and LOCAL_DATE_RE.match(date):
                local = date  # exporter's local time: converted if its offset can be inferred
            self.reactions.append(
                (
                    index,
                    str(recent["from_id"]),
                    str_or_none(recent.get("from")),
                    emoji,
                    1,
                    when,
                    local,
                )
            )
            named += 1
        if count - named > 0:
            self.reactions.append((index, None, None, emoji, count - named, None, None))
        return count
