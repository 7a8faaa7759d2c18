"""Reading a Slack workspace export (zip or folder) into a collector of canonical columns.

Part of :mod:`analysis.ingest.slack` (whose docstring states the field mapping). A
:class:`SlackArchive` gives uniform access to the export's JSON files whether they sit in a zip
or a folder; :func:`collect_export` checks ``users.json``, the channel lists and every day file
and hands each message to :class:`~analysis.ingest._threads.ChatCollector`. Day files are streamed
with ``ijson`` straight from the zip (:meth:`SlackArchive.iter_list`), so memory grows with what
is kept, not with the size of the archive or of any one file.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import ijson

from analysis.ingest._threads import ChatCollector

__all__ = ["CHANNEL_LISTS", "SERVICE_SUBTYPES", "SlackArchive", "SlackExportError"]

#: Files listing conversations: (file name, folder named by) — DMs' folders carry the id.
CHANNEL_LISTS = (
    ("channels.json", "name"),
    ("groups.json", "name"),
    ("mpims.json", "name"),
    ("dms.json", "id"),
)
#: Subtypes that are events rather than messages (``kind="service"``).
SERVICE_SUBTYPES = frozenset(
    {
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "channel_archive",
        "channel_unarchive",
        "group_join",
        "group_leave",
        "group_topic",
        "group_purpose",
        "group_name",
        "group_archive",
        "group_unarchive",
        "bot_add",
        "bot_remove",
        "pinned_item",
        "unpinned_item",
        "reminder_add",
        "tombstone",
    }
)
JOIN_SUBTYPES = frozenset({"channel_join", "group_join"})
_TS_RE = re.compile(r"^(\d{1,12})(?:\.(\d{1,9}))?$")
_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")


class SlackExportError(ValueError):
    """A Slack export cannot be read as documented (names the file, message and field)."""


SlackExportError.__module__ = "analysis.ingest.slack"


@dataclass
class SlackArchive:
    """The JSON files of an export, from a zip (``path.zip``) or a folder."""

    path: Path
    _zip: zipfile.ZipFile | None = None
    _root: str = ""
    names: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path) -> SlackArchive:
        """Open a zip or folder; the export may sit in one top-level folder of the zip."""
        if path.is_dir():
            names = sorted(
                p.relative_to(path).as_posix() for p in path.rglob("*.json") if p.is_file()
            )
            return cls(path, None, "", names)
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise SlackExportError(
                f"{path}: not a zip file (truncated download?); expected a Slack workspace "
                f"export zip or its unpacked folder."
            ) from None
        names = sorted(n for n in zf.namelist() if n.endswith(".json"))
        root = ""
        if "users.json" not in names:
            tops = {n.split("/", 1)[0] for n in names if n.endswith("/users.json")}
            if len(tops) == 1:
                root = tops.pop() + "/"
        names = [n[len(root) :] for n in names if n.startswith(root)]
        return cls(path, zf, root, names)

    def close(self) -> None:
        """Close the zip (if any)."""
        if self._zip is not None:
            self._zip.close()

    def where(self, name: str) -> str:
        """How to name a member file in messages: ``archive.zip:channel/2016-01-14.json``."""
        return f"{self.path}:{self._root}{name}" if self._zip is not None else str(self.path / name)

    def load(self, name: str) -> object:
        """The parsed JSON of member file ``name`` (clear errors for bad bytes or syntax)."""
        where = self.where(name)
        try:
            if self._zip is not None:
                raw = self._zip.read(self._root + name)
            else:
                raw = (self.path / name).read_bytes()
            return json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise SlackExportError(
                f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})."
            ) from None
        except json.JSONDecodeError as exc:
            raise SlackExportError(
                f"{where}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
                f"(truncated file?)."
            ) from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise SlackExportError(f"{where}: cannot be read from the archive: {exc}.") from None

    def iter_list(self, name: str) -> Iterator[tuple[int, object]]:
        """Stream the items of member file ``name``, a JSON list, as ``(position, item)``.

        Parsed incrementally with ``ijson`` straight from the zip member or file, so a large day
        file is never held whole. Errors name the file and the last item read.
        """
        where = self.where(name)
        pos = -1
        try:
            if self._zip is not None:
                fh: BinaryIO = self._zip.open(self._root + name)
            else:
                fh = open(self.path / name, "rb")  # noqa: SIM115 (closed below)
            with fh:
                head = fh.read(3)
                head = head[3:] if head == b"\xef\xbb\xbf" else head
                while head.strip() == b"" and len(head) < 4096:
                    more = fh.read(64)
                    if not more:
                        break
                    head += more
                first = head.lstrip()[:1]
                if first != b"[":
                    kind = {b"{": "an object", b"": "nothing"}.get(first, f"{first!r}")
                    raise SlackExportError(
                        f"{where}: expected a list of messages, got {kind} (a day file of a "
                        f"Slack export is a JSON list)."
                    )
                for pos, item in enumerate(
                    ijson.items(_Prefixed(head, fh), "item", use_float=True)
                ):
                    yield pos, item
        except ijson.JSONError as exc:
            text = str(exc).strip()
            detail = text.splitlines()[0] if text else type(exc).__name__
            hint = "not UTF-8 text" if "UTF8" in text else "truncated file?"
            after = f"after [{pos}]" if pos >= 0 else "at the start"
            raise SlackExportError(f"{where}: not valid JSON {after}: {detail} ({hint}).") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise SlackExportError(f"{where}: cannot be read from the archive: {exc}.") from None


class _Prefixed:
    """A binary stream that first returns ``prefix`` (bytes already read), then ``rest``."""

    def __init__(self, prefix: bytes, rest: BinaryIO):
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes the stream type with read(0)
            return b""
        if self._prefix:
            out, self._prefix = self._prefix, b""
            return out
        return self._rest.read(size)


def parse_ts(value: object, where: str, name: str = "ts") -> int:
    """A Slack ``ts`` (``"1452837318.000002"``, unix seconds in UTC) → UTC nanoseconds, exactly."""
    match = _TS_RE.match(value) if isinstance(value, str) else None
    if match is None:
        if value is None:
            raise SlackExportError(f"{where}: missing field '{name}'.")
        raise SlackExportError(
            f"{where}: field '{name}' is {value!r}; expected a Slack timestamp like "
            f"'1452837318.000002' (unix seconds, UTC)."
        )
    frac = (match.group(2) or "").ljust(9, "0")
    return int(match.group(1)) * 1_000_000_000 + int(frac)


def collect_export(archive: SlackArchive, rows: ChatCollector) -> tuple[dict[str, int], set[str]]:
    """Check and collect the whole export; returns counters for provenance and the user ids of
    ``users.json``."""
    counts = {"skipped_not_message": 0, "skipped_no_sender": 0, "unlisted_folders": 0, "users": 0}
    if "users.json" not in archive.names:
        raise SlackExportError(
            f"{archive.path}: no users.json; expected a Slack workspace export (users.json, "
            f"channels.json and one folder of day files per channel)."
        )
    users = archive.load("users.json")
    if not isinstance(users, list):
        raise SlackExportError(f"{archive.where('users.json')}: expected a list of users.")
    for i, user in enumerate(users):
        where = f"{archive.where('users.json')}: users[{i}]"
        if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
            raise SlackExportError(f"{where}: missing or non-text field 'id'.")
        profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("name")
        rows.add_member(
            user["id"],
            name or None,
            is_bot=bool(user.get("is_bot")) or user["id"] == "USLACKBOT",
            is_staff=any(bool(user.get(k)) for k in ("is_admin", "is_owner", "is_primary_owner")),
        )
    counts["users"] = len(users)
    user_ids = {user["id"] for user in users}
    # bot users (apps) list the bot id their posts carry: attribute those posts to the user
    bot_users = {
        u["profile"]["bot_id"]: u["id"]
        for u in users
        if isinstance(u.get("profile"), dict) and isinstance(u["profile"].get("bot_id"), str)
    }

    folders: dict[str, str] = {}
    listed = False
    for list_name, folder_key in CHANNEL_LISTS:
        if list_name not in archive.names:
            continue
        listed = True
        channels = archive.load(list_name)
        if not isinstance(channels, list):
            raise SlackExportError(f"{archive.where(list_name)}: expected a list of channels.")
        for i, ch in enumerate(channels):
            where = f"{archive.where(list_name)}: [{i}]"
            if not isinstance(ch, dict) or not isinstance(ch.get("id"), str):
                raise SlackExportError(f"{where}: missing or non-text field 'id'.")
            folder = ch.get(folder_key)
            if not isinstance(folder, str) or not folder:
                raise SlackExportError(
                    f"{where} (channel {ch['id']}): missing or non-text field '{folder_key}'."
                )
            channel_id = f"sl:{ch['id']}"
            folders[folder] = channel_id
            rows.channels.setdefault(channel_id, (ch.get("name") or ch["id"], "group", None))
    if not listed:
        raise SlackExportError(
            f"{archive.path}: no channels.json (nor groups.json, mpims.json, dms.json); expected "
            f"a Slack workspace export."
        )
    day_files: dict[str, list[str]] = {}
    for name in archive.names:
        parts = PurePosixPath(name).parts
        if len(parts) == 2 and _DAY_RE.match(parts[1]):
            day_files.setdefault(parts[0], []).append(name)
    for folder, names in sorted(day_files.items()):
        channel_id = folders.get(folder)
        if channel_id is None:
            counts["unlisted_folders"] += 1
            continue
        for name in sorted(names):
            _collect_day(archive, name, channel_id, rows, counts, bot_users)
    return counts, user_ids


def _collect_day(
    archive: SlackArchive,
    name: str,
    channel_id: str,
    rows: ChatCollector,
    counts: dict[str, int],
    bot_users: dict[str, str],
) -> None:
    file = archive.where(name)
    for pos, m in archive.iter_list(name):
        if not isinstance(m, dict):
            raise SlackExportError(f"{file}: [{pos}] is a {type(m).__name__}, expected an object.")
        ident = f"{file}: message ts {m['ts']!r}" if "ts" in m else f"{file}: [{pos}]"
        created = parse_ts(m.get("ts"), ident)
        if m.get("type", "message") != "message":
            counts["skipped_not_message"] += 1
            continue
        subtype = m.get("subtype")
        if subtype is not None and not isinstance(subtype, str):
            raise SlackExportError(f"{ident}: field 'subtype' is {subtype!r}; expected text.")
        sender = m.get("user")
        comment = m.get("comment")
        if sender is None and subtype == "file_comment" and isinstance(comment, dict):
            sender = comment.get("user")
        is_bot = False
        if sender is None and m.get("bot_id") is not None:
            sender, is_bot = bot_users.get(m["bot_id"], m["bot_id"]), True
        if sender is None:
            counts["skipped_no_sender"] += 1
            continue
        if not isinstance(sender, str) or not sender:
            raise SlackExportError(f"{ident}: field 'user' is {sender!r}; expected a user id.")
        bot_name = m.get("username") or (m.get("bot_profile") or {}).get("name")
        rows.add_member(sender, bot_name if is_bot else None, is_bot=is_bot)
        text = m.get("text")
        if text is not None and not isinstance(text, str):
            raise SlackExportError(f"{ident}: field 'text' is {text!r}; expected text.")
        service = subtype in SERVICE_SUBTYPES
        target = None
        thread_ts = m.get("thread_ts")
        if thread_ts is not None and not service:
            parse_ts(thread_ts, ident, "thread_ts")
            if thread_ts != m["ts"]:
                target = f"{channel_id}:{thread_ts}"
        mentions = []
        if text and not service:
            mentions = [u for u in _MENTION_RE.findall(text) if u != sender]
        rows.add_message(
            mid=f"{channel_id}:{m['ts']}",
            channel=channel_id,
            sender=sender,
            created=created,
            reply_target=target,
            kind="service" if service else "message",
            text=subtype if service and not text else text,
            where=ident,
            reactions=_reactions(m.get("reactions"), ident, rows),
            mentions=mentions,
            is_join=subtype in JOIN_SUBTYPES,
        )


def _reactions(value: object, where: str, rows: ChatCollector) -> list[tuple[str | None, str, int]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SlackExportError(f"{where}: field 'reactions' is {value!r}; expected a list.")
    out: list[tuple[str | None, str, int]] = []
    for i, r in enumerate(value):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            raise SlackExportError(f"{where}: reactions[{i}] has no text field 'name'.")
        users = r.get("users") or []
        if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
            raise SlackExportError(
                f"{where}: field 'reactions[{i}].users' is {users!r}; expected a list of user ids."
            )
        count = r.get("count", len(users))
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SlackExportError(
                f"{where}: field 'reactions[{i}].count' is {count!r}; expected a non-negative "
                f"integer."
            )
        named = list(dict.fromkeys(users))[:count]
        out.extend((u, r["name"], 1) for u in named)
        if count - len(named) > 0:
            out.append((None, r["name"], count - len(named)))
    return out
