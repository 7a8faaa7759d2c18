"""Streaming a DiscordChatExporter JSON file into a collector of canonical columns.

Part of :mod:`analysis.ingest.discord` (whose docstring states the field mapping). The file is
read twice with ``ijson`` (https://github.com/ICRAR/ijson), never whole: a first pass walks the
parse events only until the ``messages`` array starts to pick up the small ``guild`` and
``channel`` objects (DiscordChatExporter writes them first; if they come later the pass goes on
to find them), and a second pass yields ``messages`` one object at a time (``ijson.items``, built
in C by the ``yajl2_c`` backend). Memory therefore grows with what is kept per message, not with
the size of the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import ijson
from ijson.common import ObjectBuilder

from analysis.ingest._threads import ChatCollector, iso_to_ns, open_json_bytes

__all__ = ["DiscordExportError", "MESSAGE_TYPES", "THREAD_TYPES", "read_json_export"]

#: Message types that are ordinary messages; every other type is a service event.
MESSAGE_TYPES = frozenset(
    {"Default", "Reply", "ChatInputCommand", "ContextMenuCommand", "ThreadStarterMessage"}
)
#: Message types that record a member joining (observed ``joined_at``).
JOIN_TYPES = frozenset({"GuildMemberJoin"})
#: Channel types that are threads (exported by DiscordChatExporter as channels of their own).
THREAD_TYPES = frozenset({"GuildPublicThread", "GuildPrivateThread", "GuildNewsThread"})
_CHANNEL_KINDS = {
    "GuildForum": "forum",
    "GuildNews": "channel",
    "GuildAnnouncement": "channel",
}
_SNOWFLAKE_RE = re.compile(r"^\d{1,20}$")


class DiscordExportError(ValueError):
    """A Discord export cannot be read as documented (names the file, record and field)."""


DiscordExportError.__module__ = "analysis.ingest.discord"


def snowflake(value: object, where: str, name: str) -> str:
    """A Discord id (a decimal string, or an int) as a string; anything else is an error."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _SNOWFLAKE_RE.match(value):
        return value
    if value is None:
        raise DiscordExportError(f"{where}: missing field '{name}'; expected a Discord id.")
    raise DiscordExportError(
        f"{where}: field '{name}' is {value!r} ({type(value).__name__}); expected a Discord id "
        f"(a string of digits)."
    )


def _json_error(path: Path, exc: Exception, after: str) -> DiscordExportError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = (
        "the file is not UTF-8 text"
        if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError)
        else "is the export complete (truncated file?)"
    )
    return DiscordExportError(f"{path}: not valid JSON {after}: {detail}; {hint}.")


def _read_header(path: Path) -> tuple[dict | None, dict | None, bool]:
    """``guild`` and ``channel`` objects and whether a ``messages`` array exists."""
    found: dict[str, object] = {}
    builders: dict[str, ObjectBuilder] = {}
    has_messages = False
    try:
        with open_json_bytes(path) as fh:
            for prefix, event, value in ijson.parse(fh, use_float=True):
                if prefix in ("guild", "channel") or prefix.startswith(("guild.", "channel.")):
                    top = prefix.split(".", 1)[0]
                    if top in found:
                        continue
                    builder = builders.setdefault(top, ObjectBuilder())
                    builder.event(event, value)
                    if prefix == top and event in (
                        "end_map",
                        "end_array",
                        "string",
                        "number",
                        "boolean",
                        "null",
                    ):
                        found[top] = builder.value
                elif prefix == "messages" and event == "start_array":
                    has_messages = True
                    if "channel" in found:
                        break
                elif (
                    prefix == ""
                    and event != "start_map"
                    and event != "map_key"
                    and (event != "end_map")
                ):
                    raise DiscordExportError(
                        f"{path}: the top level is a JSON {event.replace('start_', '')}; expected "
                        f"a DiscordChatExporter object with guild, channel and messages."
                    )
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise _json_error(path, exc, "before the messages") from None
    guild = found.get("guild")
    channel = found.get("channel")
    return guild, channel, has_messages  # type: ignore[return-value]


def read_json_export(path: Path, rows: ChatCollector) -> int:
    """Check one DiscordChatExporter JSON file and collect its messages; returns how many.

    Raises
    ------
    DiscordExportError
        Invalid or truncated JSON, a missing or mistyped field, a timestamp without offset.
    """
    guild, channel, has_messages = _read_header(path)
    if not isinstance(channel, dict):
        got = "missing" if channel is None else f"a {type(channel).__name__}"
        raise DiscordExportError(
            f"{path}: field 'channel' is {got}; expected the channel object DiscordChatExporter "
            f"writes (id, type, name, categoryId)."
        )
    if not has_messages:
        raise DiscordExportError(
            f"{path}: missing field 'messages' (or it is not a list); expected a "
            f"DiscordChatExporter JSON export."
        )
    where_channel = f"{path}: channel"
    channel_id = "dc:" + snowflake(channel.get("id"), where_channel, "channel.id")
    ctype = str(channel.get("type") or "")
    parent = channel.get("categoryId")
    is_thread = ctype in THREAD_TYPES
    kind = "thread" if is_thread else _CHANNEL_KINDS.get(ctype, "group")
    parent_id = (
        "dc:" + snowflake(parent, where_channel, "channel.categoryId")
        if (is_thread and parent is not None)
        else None
    )
    name = channel.get("name")
    rows.channels.setdefault(channel_id, (str(name) if name else None, kind, parent_id))
    hint = channel_id if is_thread else None
    is_news = kind == "channel"
    if guild is not None and not isinstance(guild, dict):
        raise DiscordExportError(f"{path}: field 'guild' is not an object: {guild!r}.")

    n = 0
    last = "the start of 'messages'"
    try:
        with open_json_bytes(path) as fh:
            for pos, m in enumerate(ijson.items(fh, "messages.item", use_float=True)):
                _add_message(rows, m, pos, path, channel_id, hint, is_news)
                n += 1
                last = f"messages[{pos}] (id {m.get('id')!r})"
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise _json_error(path, exc, f"after {last}") from None
    return n


def _add_message(
    rows: ChatCollector,
    m: object,
    pos: int,
    path: Path,
    channel_id: str,
    hint: str | None,
    is_news: bool,
) -> None:
    """Check one message object and hand it to the collector."""
    if not isinstance(m, dict):
        raise DiscordExportError(
            f"{path}: messages[{pos}] is a {type(m).__name__}, expected an object."
        )
    ident = f"messages[{pos}]"
    mid = snowflake(m.get("id"), f"{path}: {ident}", "id")
    where = f"{path}: message id {mid}"
    for required in ("type", "timestamp", "author"):
        if required not in m:
            raise DiscordExportError(f"{where}: missing field '{required}'.")
    mtype = m["type"]
    if not isinstance(mtype, str):
        raise DiscordExportError(f"{where}: field 'type' is {mtype!r}; expected a string.")
    stamp = m["timestamp"]
    if not isinstance(stamp, str):
        raise DiscordExportError(
            f"{where}: field 'timestamp' is {stamp!r}; expected an ISO 8601 text with offset."
        )
    created = iso_to_ns(stamp, where, "timestamp", DiscordExportError)
    author = m["author"]
    if not isinstance(author, dict):
        raise DiscordExportError(f"{where}: field 'author' is {author!r}; expected an object.")
    sender = snowflake(author.get("id"), where, "author.id")
    is_bot = author.get("isBot", False)
    if not isinstance(is_bot, bool):
        raise DiscordExportError(f"{where}: field 'author.isBot' is {is_bot!r}; expected a bool.")
    rows.add_member(sender, author.get("nickname") or author.get("name"), is_bot=is_bot)
    content = m.get("content")
    if content is not None and not isinstance(content, str):
        raise DiscordExportError(
            f"{where}: field 'content' is {content!r} ({type(content).__name__}); expected text."
        )
    target = None
    ref = m.get("reference")
    if ref is not None:
        if not isinstance(ref, dict):
            raise DiscordExportError(f"{where}: field 'reference' is {ref!r}; expected an object.")
        if ref.get("messageId") is not None:
            target = "dc:" + snowflake(ref["messageId"], where, "reference.messageId")
    mentions = []
    for i, user in enumerate(_list(m, "mentions", where)):
        if not isinstance(user, dict):
            raise DiscordExportError(f"{where}: mentions[{i}] is {user!r}; expected an object.")
        pid = snowflake(user.get("id"), where, f"mentions[{i}].id")
        rows.add_member(
            pid, user.get("nickname") or user.get("name"), is_bot=bool(user.get("isBot"))
        )
        mentions.append(pid)
    reactions = []
    for i, r in enumerate(_list(m, "reactions", where)):
        reactions.extend(_reaction(rows, r, i, where))
    service = mtype not in MESSAGE_TYPES
    kind = "service" if service else ("post" if is_news else "message")
    rows.add_message(
        mid="dc:" + mid,
        channel=channel_id,
        sender=sender,
        created=created,
        reply_target=None if service else target,
        kind=kind,
        text=mtype if service and not content else content,
        where=where,
        reactions=reactions,
        mentions=mentions,
        thread_hint=hint,
        is_join=mtype in JOIN_TYPES,
    )


def _list(m: dict, name: str, where: str) -> list:
    value = m.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DiscordExportError(f"{where}: field '{name}' is {value!r}; expected a list.")
    return value


def _reaction(
    rows: ChatCollector, r: object, i: int, where: str
) -> list[tuple[str | None, str, int]]:
    """Rows ``(reactor id or None, emoji, count)`` of one ``reactions`` entry."""
    if not isinstance(r, dict):
        raise DiscordExportError(f"{where}: reactions[{i}] is {r!r}; expected an object.")
    count = r.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise DiscordExportError(
            f"{where}: field 'reactions[{i}].count' is {count!r}; expected a non-negative integer."
        )
    emoji = r.get("emoji")
    if not isinstance(emoji, dict):
        raise DiscordExportError(
            f"{where}: field 'reactions[{i}].emoji' is {emoji!r}; expected an object."
        )
    label = f"custom:{emoji['id']}" if emoji.get("id") else str(emoji.get("name") or "?")
    out: list[tuple[str | None, str, int]] = []
    users = r.get("users") or []
    if not isinstance(users, list):
        raise DiscordExportError(f"{where}: field 'reactions[{i}].users' is not a list.")
    for j, user in enumerate(users[:count]):
        if not isinstance(user, dict):
            raise DiscordExportError(f"{where}: reactions[{i}].users[{j}] is not an object.")
        pid = snowflake(user.get("id"), where, f"reactions[{i}].users[{j}].id")
        rows.add_member(
            pid, user.get("nickname") or user.get("name"), is_bot=bool(user.get("isBot"))
        )
        out.append((pid, label, 1))
    if count - len(out) > 0:
        out.append((None, label, count - len(out)))
    return out
