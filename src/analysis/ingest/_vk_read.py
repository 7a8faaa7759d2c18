"""Reading saved VK API responses (``wall.get``, ``wall.getComments``) into collected columns.

Part of :mod:`analysis.ingest.vk` (whose docstring states the field mapping). Each file holds one
response as saved from the API — ``{"response": {"count", "items", "profiles", "groups"}}`` — or
just the inner object. Files are streamed with ``ijson``: ``items`` one object at a time, and the
small ``profiles``/``groups`` lists (names, present with ``extended=1``) in passes of their own,
so memory grows with what is kept, not with the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import ijson

from analysis.ingest._threads import ChatCollector, open_json_bytes

__all__ = ["VkExportError", "read_vk_file"]

#: ``[id123|Name]`` (a user) and ``[club123|Name]`` / ``[public123|Name]`` (a community).
MENTION_RE = re.compile(r"\[(id|club|public|event)(\d+)\|[^\]]*\]")


class VkExportError(ValueError):
    """A VK export cannot be read as documented (names the file, item and field)."""


VkExportError.__module__ = "analysis.ingest.vk"


def _int(item: dict, name: str, where: str, *, required: bool = True) -> int | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None:
        raise VkExportError(f"{where}: missing field '{name}'.")
    hint = (
        " (a date text without UTC offset? VK gives 'date' as unix seconds)"
        if name == "date" and isinstance(value, str)
        else ""
    )
    raise VkExportError(
        f"{where}: field '{name}' is {value!r} ({type(value).__name__}); expected an integer{hint}."
    )


def _prefix(path: Path) -> str:
    """``"response."`` when the file is a raw API response, else ``""``."""
    try:
        with open_json_bytes(path) as fh:
            for prefix, event, value in ijson.parse(fh):
                if prefix == "" and event == "map_key":
                    if value == "error":
                        raise VkExportError(
                            f"{path}: the saved response is an API error, not data; re-run the "
                            f"request (see its 'error.error_msg')."
                        )
                    if value == "response":
                        return "response."
                    if value in ("items", "count", "profiles", "groups"):
                        return ""
                elif prefix == "" and event not in ("start_map", "map_key", "end_map"):
                    break
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise _json_error(path, exc, "at the start") from None
    raise VkExportError(
        f"{path}: not a saved VK API response; expected {{'response': {{'items': [...]}}}} from "
        f"wall.get or wall.getComments."
    )


def _json_error(path: Path, exc: Exception, after: str) -> VkExportError:
    text = str(exc).strip()
    detail = text.splitlines()[0] if text else type(exc).__name__
    hint = "not UTF-8 text" if "UTF8" in text else "truncated or malformed file?"
    return VkExportError(f"{path}: not valid JSON {after}: {detail} ({hint}).")


def read_vk_file(path: Path, rows: ChatCollector, counts: dict[str, int]) -> int:
    """Collect the posts and comments of one saved response, then its names; returns the count.

    Raises
    ------
    VkExportError
        Invalid or truncated JSON, an API error response, a missing or mistyped field.
    """
    prefix = _prefix(path)
    n = 0
    last = "the start of 'items'"
    try:
        with open_json_bytes(path) as fh:
            for pos, item in enumerate(ijson.items(fh, f"{prefix}items.item")):
                _add_item(rows, item, f"{path}: items[{pos}]", None, counts)
                n += 1
                last = f"items[{pos}]"
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise _json_error(path, exc, f"after {last}") from None
    for section, is_group in (("profiles", False), ("groups", True)):
        try:
            with open_json_bytes(path) as fh:
                for i, entry in enumerate(ijson.items(fh, f"{prefix}{section}.item")):
                    where = f"{path}: {section}[{i}]"
                    if not isinstance(entry, dict):
                        raise VkExportError(f"{where}: expected an object.")
                    pid = _int(entry, "id", where)
                    if is_group:
                        name = entry.get("name")
                        rows.add_member(str(-pid), name or None)
                    else:
                        parts = [entry.get("first_name"), entry.get("last_name")]
                        rows.add_member(str(pid), " ".join(p for p in parts if p) or None)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise _json_error(path, exc, f"in '{section}'") from None
    return n


def _add_item(
    rows: ChatCollector,
    item: object,
    where: str,
    parent: tuple[int, int, int] | None,
    counts: dict[str, int],
) -> None:
    """One post or comment (with its ``thread.items``); ``parent`` = (owner, post, comment)."""
    if not isinstance(item, dict):
        raise VkExportError(f"{where}: is a {type(item).__name__}, expected an object.")
    item_id = _int(item, "id", where)
    is_comment = parent is not None or "post_id" in item
    where = f"{where} ({'comment' if is_comment else 'post'} id {item_id})"
    owner = _int(item, "owner_id", where, required=parent is None)
    if owner is None:
        owner = parent[0]  # type: ignore[index]
    post_id = None
    if is_comment:
        post_id = _int(item, "post_id", where, required=parent is None)
        if post_id is None:
            post_id = parent[1]  # type: ignore[index]
    if item.get("deleted"):
        counts["deleted"] += 1
        _add_thread(rows, item, where, owner, post_id, item_id, counts)
        return
    created = _int(item, "date", where)
    sender = _int(item, "from_id", where)
    if sender == 0:
        sender = owner  # posts signed by the wall itself
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        raise VkExportError(f"{where}: field 'text' is {text!r}; expected text.")
    channel = f"vk:wall{owner}"
    rows.channels.setdefault(channel, (None, "channel", None))
    if sender < 0 and sender == owner:
        rows.add_member(str(sender), None, is_staff=True)  # the community's own wall
    target = None
    if is_comment:
        reply_comment = _int(item, "reply_to_comment", where, required=False)
        if reply_comment:
            target = f"vk:{owner}:c{reply_comment}"
        elif parent is not None:
            target = f"vk:{owner}:c{parent[2]}"
        else:
            target = f"vk:{owner}:p{post_id}"
    likes = item.get("likes")
    reactions = []
    if likes is not None:
        count = likes.get("count") if isinstance(likes, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise VkExportError(
                f"{where}: field 'likes.count' is {count!r}; expected a non-negative integer."
            )
        if count:
            reactions.append((None, "like", count))
    mentions = []
    for kind, number in MENTION_RE.findall(text or ""):
        pid = number if kind == "id" else f"-{number}"
        if pid != str(sender):
            mentions.append(pid)
    added = rows.add_message(
        mid=f"vk:{owner}:{'c' if is_comment else 'p'}{item_id}",
        channel=channel,
        sender=str(sender),
        created=created * 1_000_000_000,
        reply_target=target,
        kind="comment" if is_comment else "post",
        text=text,
        where=where,
        reactions=reactions,
        mentions=mentions,
        thread_hint=f"vk:{owner}:p{post_id}" if is_comment else None,
    )
    counts["comments" if is_comment else "posts"] += int(added)
    if is_comment:
        _add_thread(rows, item, where, owner, post_id, item_id, counts)


def _add_thread(
    rows: ChatCollector,
    item: dict,
    where: str,
    owner: int,
    post_id: int | None,
    comment_id: int,
    counts: dict[str, int],
) -> None:
    thread = item.get("thread")
    if thread is None:
        return
    items = thread.get("items") if isinstance(thread, dict) else None
    if items is None:
        return
    if not isinstance(items, list):
        raise VkExportError(f"{where}: field 'thread.items' is {items!r}; expected a list.")
    for k, sub in enumerate(items):
        _add_item(
            rows, sub, f"{where}: thread.items[{k}]", (owner, post_id or 0, comment_id), counts
        )
