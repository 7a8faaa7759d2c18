"""Saved VK API responses (``wall.get`` + ``wall.getComments``) → canonical tables.

VK has no export button for community walls; researchers save the API's JSON responses: pages of
``wall.get`` (posts, https://dev.vk.com/method/wall.get) and of ``wall.getComments`` per post
(comments, https://dev.vk.com/method/wall.getComments, with ``thread_items_count`` for replies
inside comment threads, ``need_likes=1`` and ``extended=1`` for names). :func:`read_vk_export`
reads any number of such files (one response per file, ``{"response": {...}}`` as returned or the
inner object) into one dataset; files are streamed with ``ijson``.

How the responses' fields become canonical columns
--------------------------------------------------
Items
    An item with ``post_id`` is a comment, one without is a post (a ``wall.get`` item). Items in a
    comment's ``thread.items`` are comments (they may omit ``owner_id``/``post_id``, which are
    then those of the comment they sit under).
Ids
    A wall is channel ``"vk:wall<owner_id>"`` (kind ``channel``; named after the community in
    ``groups`` when present). Post and comment ids are numbered per wall, so ``message_id =
    "vk:<owner_id>:p<id>"`` for posts and ``"vk:<owner_id>:c<id>"`` for comments. ``from_id`` is
    pseudonymised (``platform="vk"``) as a string; a negative ``from_id`` is a community; the
    community that owns the wall, posting or commenting as itself, is staff (the brand).
    ``from_id`` 0 (old posts signed by the wall) is the wall owner.
Time
    ``date`` is unix seconds (UTC). A ``date`` that is not an integer (e.g. a local date text
    without offset) is an error.
Replies and threads
    Posts are roots (``kind="post"``). A comment replies to ``reply_to_comment`` when set, else,
    inside a ``thread``, to the comment the thread belongs to, else to its post (``post_id``); all
    are ``explicit``. ``thread_id`` is the comment's post (``post_id``), also when the chain is
    broken. A comment whose target is not in the files (post not saved, comment deleted) is
    kept, dangling, and counted.
    ``reply_to_user`` is not used (it names a person, not a message).
Deleted comments
    Items with ``deleted`` set carry no author or text: they are left out and counted
    (``messages.deleted_n``); replies to them count as dangling, and the replies in their
    ``thread`` are still read.
Members
    Authors, plus people and communities mentioned. ``display_name`` comes from ``profiles``
    (``first_name last_name``) and ``groups`` (``name``) when the response has them. ``joined_at``
    is inferred from the first activity (VK responses have no join events). ``is_bot`` is False
    (absent).
Reactions
    ``likes.count`` → one unnamed reaction row (``emoji="like"``, ``member_id`` null);
    ``n_reactions`` = that count.
Mentions
    ``[id123|Name]`` (user ``123``) and ``[club123|Name]``/``[public123|Name]`` (community
    ``-123``) in the text, excluding the author.

Errors (:class:`VkExportError`, a :class:`ValueError`) name the file, the item (position and id,
with the path through ``thread.items``) and the field: invalid or truncated JSON, not UTF-8, an
API error response saved instead of data, a file that is not a response, a missing or non-integer
``id``/``owner_id``/``post_id``/``from_id``/``date``, a text ``date``, a wrongly typed ``text``/
``likes``, conflicting duplicates (identical repeats, e.g. overlapping pages, are dropped and
counted), a reply cycle, no items at all.

Provenance keys (counts are decimal strings)
--------------------------------------------
The shared keys of :mod:`analysis.ingest._threads` (see :mod:`analysis.ingest.slack`) plus
``messages.reply_to_id`` (observed), ``messages.thread_id`` (observed), ``messages.posts_n``,
``messages.comments_n``, ``messages.deleted_n``, ``members.display_name`` (observed, or absent
without ``profiles``/``groups``), ``members.is_staff`` (inferred: the wall-owning community),
``members.is_bot``, ``members.source``, ``members.referred_by`` (absent).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from analysis.ingest._threads import ChatCollector, build_tables, export_files
from analysis.ingest._vk_read import VkExportError, read_vk_file
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = ["PLATFORM", "VkExportError", "is_vk_export", "read_vk_export"]

PLATFORM = "vk"
_SNIFF_BYTES = 1024


def is_vk_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a saved VK ``wall.get``/``wall.getComments`` response.

    Reads the first KB: a JSON object with ``"response"`` or ``"items"`` and VK's ``"from_id"``
    or ``"owner_id"`` fields. Never raises (False for missing or unreadable files).
    """
    path = Path(path)
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff").lstrip()
    return (
        text.startswith("{")
        and ('"response"' in text or '"items"' in text)
        and ('"from_id"' in text or '"owner_id"' in text)
    )


def read_vk_export(paths: Sequence[os.PathLike], *, pseudonymizer: Pseudonymizer) -> Tables:
    """Read saved VK API responses (posts and comments; several files) into validated tables.

    Parameters
    ----------
    paths : sequence of path-like
        JSON files, each one saved ``wall.get`` or ``wall.getComments`` response.
    pseudonymizer : Pseudonymizer
        Turns VK user and community ids into member ids.

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels``, ``reactions``, ``mentions``, validated, with
        provenance (keys in the module docstring).

    Raises
    ------
    VkExportError
        A file is malformed (names the file, the item and the field) or there are no items.
    FileNotFoundError
        A path does not exist.
    analysis.schema.SchemaValidationError
        The result breaks the data contract (a bug in this reader or a very unusual export).
    """
    files = export_files(paths, "read_vk_export", "VK response")
    rows = ChatCollector(PLATFORM, VkExportError)
    counts = {"posts": 0, "comments": 0, "deleted": 0}
    for file in files:
        read_vk_file(file, rows, counts)
    for channel, (_, kind, parent) in list(rows.channels.items()):
        owner = channel.removeprefix("vk:wall")
        rows.channels[channel] = (rows.names.get(owner), kind, parent)
    source = str(files[0]) if len(files) == 1 else "; ".join(str(f) for f in files)
    tables, provenance = build_tables(rows, pseudonymizer=pseudonymizer, source=source)
    provenance.update(
        {
            "messages.reply_to_id": "observed",
            "messages.thread_id": "observed",
            "messages.posts_n": str(counts["posts"]),
            "messages.comments_n": str(counts["comments"]),
            "messages.deleted_n": str(counts["deleted"]),
            "members.display_name": "observed" if rows.names else "absent",
            "members.is_staff": "inferred",
            "members.is_bot": "absent",
            "members.source": "absent",
            "members.referred_by": "absent",
        }
    )
    tables.provenance = provenance
    return tables.validated(source=source)
