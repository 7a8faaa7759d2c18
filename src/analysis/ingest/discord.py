"""DiscordChatExporter exports (JSON or CSV, one file per channel) → canonical tables.

DiscordChatExporter (https://github.com/Tyrrrz/DiscordChatExporter) writes one file per channel
or thread: JSON ``{"guild": {...}, "channel": {...}, "dateRange", "exportedAt", "messages": [...],
"messageCount"}`` or CSV. :func:`read_discord_exports` reads several files of one server together
(channels, their threads, overlapping exports) into one dataset. JSON files are streamed with
``ijson`` (:mod:`analysis.ingest._discord_json`): a 1 GB export is never loaded whole.

How the export's fields become canonical columns
------------------------------------------------
Ids
    ``message_id = "dc:<message id>"`` (Discord ids are snowflakes unique across the platform, so
    no channel prefix is needed and replies across channels link); ``channel_id =
    "dc:<channel id>"``. Author ids are pseudonymised (``platform="discord"``).
Channels
    ``GuildTextChat`` and direct messages → kind ``group``; ``GuildNews``/``GuildAnnouncement`` →
    ``channel`` (its messages are ``post``); ``GuildForum`` → ``forum``; threads
    (``GuildPublicThread``, ``GuildPrivateThread``, ``GuildNewsThread``), exported as channels of
    their own, → ``thread`` with ``parent_id = "dc:<channel.categoryId>"`` (the exporter writes a
    thread's parent channel there).
Time
    ``timestamp`` (ISO 8601 with offset) → ``created_at`` in UTC. A timestamp without offset is an
    error, never assumed to be UTC.
Replies and threads
    ``reference.messageId`` → ``reply_to_id`` (``explicit``); a reply to a message not in the
    files is kept (dangling) and counted. ``thread_id`` is the root of the reply chain; for a
    message in a thread channel whose chain has no explicit root elsewhere, the thread's id,
    which Discord gives the message the thread was started from (so the thread and its starter
    message form one conversation; when the starter is not exported, ``thread_id`` is its missing
    id). ``messages.thread_id.thread_channel_n`` counts messages in thread channels.
Kinds
    ``Default``, ``Reply``, ``ChatInputCommand``, ``ContextMenuCommand``,
    ``ThreadStarterMessage`` are messages (``post`` in announcement channels); every other type
    (``GuildMemberJoin``, ``ThreadCreated``, ``ChannelPinnedMessage``, ``RecipientAdd``, boosts,
    ...) is ``service`` with ``text`` = its content, else the type name. Service events never
    reply.
Members
    Authors, named reactors and mentioned users (``mentions``). ``display_name`` = ``nickname``,
    else ``name`` (the last one read). ``is_bot`` = ``isBot``. ``joined_at`` is observed from the
    member's ``GuildMemberJoin`` message when not after their first activity, else inferred
    (first message, reacted message, or first message mentioning them). ``is_staff`` is False:
    exports list role names but not permissions (provenance ``absent``); ``source`` and
    ``referred_by`` are absent.
Reactions
    ``reactions[].users`` (where the exporter fetched them) → one row per named reactor, plus one
    unnamed row for the rest of ``count``. ``emoji`` = the emoji's ``name`` for standard emoji,
    ``"custom:<emoji id>"`` for custom ones. ``reacted_at`` is null (not exported).
Mentions
    ``mentions[]`` (users) → the ``mentions`` table.
CSV exports
    See :mod:`analysis.ingest._discord_csv`: no message or reply ids. Replies are unobserved:
    every CSV message has ``reply_source="none"``, and provenance says
    ``messages.reply_to_id = "absent"`` (all CSV) or ``"partial"`` (JSON and CSV mixed), with
    ``messages.reply_to_id.unobserved_n`` = the number of CSV messages. Mentions and reactors are
    absent in CSV too.
Duplicates
    The same message id in two files (overlapping exports) is dropped and counted when identical,
    an error when different.

Errors (:class:`DiscordExportError`, a :class:`ValueError`) name the file, the message (id, or
position in ``messages``) and the field: invalid or truncated JSON (with the last good message),
not UTF-8, a missing ``channel``/``messages``, a message without ``id``/``type``/``timestamp``/
``author``, ids that are not snowflakes, a timestamp without offset, wrongly typed
``content``/``reference``/``mentions``/``reactions``, conflicting duplicates, a reply cycle, an
export without messages.

Provenance keys (``Tables.provenance``; counts are decimal strings)
-------------------------------------------------------------------
``messages.created_at`` (observed), ``messages.reply_to_id`` (observed | partial | absent),
``messages.reply_to_id.explicit_n``, ``messages.reply_to_id.dangling_n``,
``messages.reply_to_id.unobserved_n``, ``messages.thread_id`` (observed),
``messages.thread_id.thread_channel_n``, ``messages.kind``, ``messages.text``,
``messages.member_id`` (observed), ``messages.duplicates_dropped_n``, ``messages.json_n``,
``messages.csv_n``, ``members.joined_at`` (observed | inferred | mixed),
``members.joined_at.observed_n``, ``members.joined_at.inferred_n``, ``members.mentioned_only_n``,
``members.display_name``, ``members.is_bot`` (observed), ``members.is_staff``, ``members.source``,
``members.referred_by`` (absent), ``channels.kind`` (observed), ``reactions.count`` (observed),
``reactions.member_id`` (observed | partial | absent), ``reactions.member_id.named_n``,
``reactions.member_id.unnamed_n``, ``reactions.reacted_at`` (absent), ``mentions.member_id``
(observed | partial | absent), ``mentions_n``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from analysis.ingest._discord_csv import CSV_COLUMNS, read_csv_export
from analysis.ingest._discord_json import DiscordExportError, read_json_export
from analysis.ingest._threads import ChatCollector, build_tables, export_files
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = ["PLATFORM", "DiscordExportError", "is_discord_export", "read_discord_exports"]

PLATFORM = "discord"
_SNIFF_BYTES = 1024


def is_discord_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a DiscordChatExporter JSON or CSV file (reads the first KB).

    JSON: an object whose first KB names ``"guild"`` and ``"channel"``. CSV: a header starting
    with ``AuthorID,Author,Date``. Never raises for unreadable or missing files (False).
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
    if text.startswith("{"):
        return '"guild"' in text and '"channel"' in text
    first = text.splitlines()[0] if text else ""
    cells = [c.strip().strip('"') for c in first.split(",")]
    return cells[:3] == list(CSV_COLUMNS[:3])


def read_discord_exports(paths: Sequence[os.PathLike], *, pseudonymizer: Pseudonymizer) -> Tables:
    """Read DiscordChatExporter files (JSON or CSV; several merged) into validated tables.

    Parameters
    ----------
    paths : sequence of path-like
        Export files, one per channel or thread; JSON and CSV may be mixed (a file is CSV when its
        name ends in ``.csv``).
    pseudonymizer : Pseudonymizer
        Turns Discord user ids into member ids.

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels``, ``reactions``, ``mentions``, validated, with
        provenance (keys in the module docstring).

    Raises
    ------
    DiscordExportError
        A file is malformed (the message names the file, the message and the field) or the
        files contain no messages.
    FileNotFoundError
        A path does not exist.
    analysis.schema.SchemaValidationError
        The result breaks the data contract (a bug in this reader or a very unusual export).
    """
    files = export_files(paths, "read_discord_exports", "Discord export")
    rows = ChatCollector(PLATFORM, DiscordExportError)
    n_json = n_csv = 0
    for file in files:
        if file.suffix.lower() == ".csv":
            n_csv += read_csv_export(file, rows)
        else:
            n_json += read_json_export(file, rows)
    source = str(files[0]) if len(files) == 1 else "; ".join(str(f) for f in files)
    tables, provenance = build_tables(rows, pseudonymizer=pseudonymizer, source=source)
    thread_channels = {c for c, (_, kind, _) in rows.channels.items() if kind == "thread"}
    in_thread = tables.messages["channel_id"].isin(thread_channels).to_numpy()
    provenance.update(
        {
            "messages.reply_to_id": "absent"
            if n_json == 0
            else ("partial" if n_csv else "observed"),
            "messages.reply_to_id.unobserved_n": str(n_csv),
            "messages.thread_id": "observed",
            "messages.thread_id.thread_channel_n": str(int(in_thread.sum())),
            "messages.json_n": str(n_json),
            "messages.csv_n": str(n_csv),
            "members.display_name": "observed",
            "members.is_bot": "observed" if n_json else "absent",
            "members.is_staff": "absent",
            "members.source": "absent",
            "members.referred_by": "absent",
        }
    )
    if n_json == 0:
        provenance["mentions.member_id"] = "absent"
    elif n_csv:
        provenance["mentions.member_id"] = "partial"
    tables.provenance = provenance
    return tables.validated(source=source)
