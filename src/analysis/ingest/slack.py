"""Slack workspace export (zip or folder) → canonical tables.

A Slack export ("Workspace settings → Import/Export Data → Export";
https://slack.com/help/articles/220556107) holds ``users.json``, ``channels.json`` (and, for
private conversations, ``groups.json``, ``mpims.json``, ``dms.json``), and one folder per
conversation with one JSON file per day (``general/2016-01-14.json``), each a list of messages in
the Slack API message format (https://api.slack.com/events/message). :func:`read_slack_export`
reads the zip as downloaded, or the unpacked folder.

How the export's fields become canonical columns
------------------------------------------------
Ids
    A conversation is channel ``"sl:<channel id>"`` (kind ``group``; the folder of a public or
    private channel is its ``name``, of a DM its ``id``). ``ts`` is unique within a conversation,
    so ``message_id = "sl:<channel id>:<ts>"``. User ids (``U…``/``W…``) and bot ids (``B…``) are
    pseudonymised (``platform="slack"``).
Time
    ``ts`` is unix seconds in UTC with a microsecond suffix (``"1452837318.000002"``); it is
    converted exactly (no float rounding). A ``ts`` that is not of that form is an error.
Replies and threads
    Slack threads are flat: a reply carries ``thread_ts`` = the ``ts`` of the parent, so
    ``reply_to_id = "sl:<channel>:<thread_ts>"`` (``explicit``) and ``thread_id`` = the parent
    (the parent itself has ``thread_ts == ts`` and is its own thread). A reply whose parent is not
    in the export (older than the export range, deleted) is kept, dangling, and counted.
    Messages outside threads are their own thread (Slack has no reply links outside threads).
Kinds
    Subtypes in :data:`analysis.ingest._slack_read.SERVICE_SUBTYPES` (``channel_join``,
    ``channel_leave``, ``channel_topic``, ``bot_add``, ``pinned_item``, …) are ``service``;
    everything else (plain, ``bot_message``, ``file_share``, ``file_comment``, ``thread_broadcast``,
    ``me_message``) is ``message``. Entries whose ``type`` is not ``message`` are skipped and
    counted.
Members
    The sender is ``user``; for ``file_comment`` the comment's ``user``; for bot posts without a
    user (``bot_message``), the bot user whose ``profile.bot_id`` it is in ``users.json``, else
    the ``bot_id`` itself, flagged ``is_bot``. Messages with neither (rare
    integration events) are skipped and counted. Members are everyone who posts, acts, reacts or
    is mentioned; ``users.json`` supplies ``display_name`` (profile ``display_name``, else
    ``real_name``, else ``name``), ``is_bot`` (``is_bot``, and ``USLACKBOT``) and ``is_staff``
    (``is_admin``, ``is_owner`` or ``is_primary_owner``: observed). ``joined_at`` is observed from
    the member's first ``channel_join``/``group_join`` when not after their first activity, else
    inferred. Users listed in ``users.json`` who never appear are not members (counted:
    ``members.users_json_unseen_n``): the export gives no date for them.
Reactions
    ``reactions[]`` = ``{name, users, count}``: one row per listed user (``count`` 1) and one
    unnamed row for ``count`` beyond the listed users. ``emoji`` = the emoji's short name
    (``thumbsup``, custom names as they are). ``reacted_at`` is null (not exported).
Mentions
    ``<@U123>`` and ``<@U123|name>`` in the text of non-service messages, excluding the sender
    (Slack writes ``<@sender>`` into its own texts, e.g. "<@U…> uploaded a file").

Errors (:class:`SlackExportError`, a :class:`ValueError`) name the archive member (``export.zip:
general/2016-01-14.json``), the message (``ts``, or position) and the field: not a zip, no
``users.json`` or channel list, invalid or truncated JSON, not UTF-8, a missing or malformed
``ts``/``thread_ts``, wrongly typed ``user``/``text``/``subtype``/``reactions``, the same ``ts``
twice in a channel with different content (identical repeats are dropped and counted), a reply
cycle, an export without messages.

Provenance keys (counts are decimal strings)
--------------------------------------------
The keys shared with Discord and VK (:mod:`analysis.ingest._threads`: ``messages.created_at``,
``messages.reply_to_id.explicit_n``, ``messages.reply_to_id.dangling_n``,
``messages.duplicates_dropped_n``, ``members.joined_at`` with ``observed_n``/``inferred_n``,
``members.mentioned_only_n``, ``reactions.member_id`` with ``named_n``/``unnamed_n``,
``reactions.reacted_at`` (absent), ``mentions.member_id``, ``mentions_n``) plus
``messages.reply_to_id`` (observed), ``messages.thread_id`` (observed),
``messages.thread_replies_n``, ``messages.skipped_not_message_n``,
``messages.skipped_no_sender_n``, ``channels.unlisted_folders_n`` (day-file folders of
conversations missing from the channel lists, not read), ``members.display_name``,
``members.is_bot``, ``members.is_staff`` (observed), ``members.users_json_n``,
``members.users_json_unseen_n``, ``members.source``, ``members.referred_by`` (absent).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from analysis.ingest._slack_read import SlackArchive, SlackExportError, collect_export
from analysis.ingest._threads import ChatCollector, build_tables
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = ["PLATFORM", "SlackExportError", "is_slack_export", "read_slack_export"]

PLATFORM = "slack"


def is_slack_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Slack export (a folder or zip with users.json and channels.json).

    Cheap: reads a folder listing or the zip's directory, never the messages. Never raises
    (False for missing or unreadable paths).
    """
    path = Path(path)
    try:
        if path.is_dir():
            return (path / "users.json").is_file() and any(
                (path / name).is_file() for name in ("channels.json", "groups.json", "dms.json")
            )
        if path.is_file() and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = {n.rsplit("/", 1)[-1] for n in zf.namelist() if n.count("/") <= 1}
            return "users.json" in names and bool(
                names & {"channels.json", "groups.json", "dms.json"}
            )
    except OSError:
        return False
    return False


def read_slack_export(path: os.PathLike, *, pseudonymizer: Pseudonymizer) -> Tables:
    """Read a Slack workspace export (zip or unpacked folder) into validated canonical tables.

    Parameters
    ----------
    path : path-like
        The export zip, or the folder it unpacks to.
    pseudonymizer : Pseudonymizer
        Turns Slack user and bot ids into member ids.

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels``, ``reactions``, ``mentions``, validated, with
        provenance (keys in the module docstring).

    Raises
    ------
    SlackExportError
        The export is malformed (names the file in the archive, the message and the field).
    FileNotFoundError
        ``path`` does not exist.
    analysis.schema.SchemaValidationError
        The result breaks the data contract (a bug in this reader or a very unusual export).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such Slack export (zip or folder).")
    rows = ChatCollector(PLATFORM, SlackExportError)
    archive = SlackArchive.open(path)
    try:
        counts, user_ids = collect_export(archive, rows)
    finally:
        archive.close()
    source = str(path)
    tables, provenance = build_tables(rows, pseudonymizer=pseudonymizer, source=source)
    seen = set(tables.members["member_id"])
    listed = {pseudonymizer.member_id(PLATFORM, pid) for pid in user_ids}
    provenance.update(
        {
            "messages.reply_to_id": "observed",
            "messages.thread_id": "observed",
            "messages.thread_replies_n": provenance["messages.reply_to_id.explicit_n"],
            "messages.skipped_not_message_n": str(counts["skipped_not_message"]),
            "messages.skipped_no_sender_n": str(counts["skipped_no_sender"]),
            "channels.unlisted_folders_n": str(counts["unlisted_folders"]),
            "members.display_name": "observed",
            "members.is_bot": "observed",
            "members.is_staff": "observed",
            "members.users_json_n": str(counts["users"]),
            "members.users_json_unseen_n": str(len(listed - seen)),
            "members.source": "absent",
            "members.referred_by": "absent",
        }
    )
    tables.provenance = provenance
    return tables.validated(source=source)
