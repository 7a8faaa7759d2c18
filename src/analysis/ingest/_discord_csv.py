"""DiscordChatExporter CSV files → a :class:`~analysis.ingest._threads.ChatCollector`.

Part of :mod:`analysis.ingest.discord`. The CSV export has one row per message with the columns
``AuthorID, Author, Date, Content, Attachments, Reactions`` and nothing else: no message ids, no
reply ids, no mentions, no reactors, no channel object. What can be said is said:

* the channel is named by the file (DiscordChatExporter names files ``<guild> - <channel>
  [<channel id>].csv``; the id in brackets is used when present, else the file name);
* message ids are made up from the channel and the row number (``dc:<channel>:row<n>``, ``n``
  counting data rows from 1), so overlapping CSV exports of one channel cannot be de-duplicated;
* replies are unobserved: ``reply_to_id`` null and ``reply_source="none"`` for every row (a reply
  is indistinguishable from a new message), and the adapter records this in provenance;
* ``Reactions`` (``"👍 (3),🎉 (1)"``) become unnamed reaction rows (``member_id`` null).

The file is read row by row with :mod:`csv` (streaming). ``Date`` must carry a UTC offset (the
exporter's default ISO format does); an export made with a custom date format without offset
is an error rather than a guess.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from analysis.ingest._discord_json import DiscordExportError, snowflake
from analysis.ingest._threads import ChatCollector, iso_to_ns

__all__ = ["CSV_COLUMNS", "read_csv_export"]

CSV_COLUMNS = ("AuthorID", "Author", "Date", "Content", "Attachments", "Reactions")
_CHANNEL_IN_NAME = re.compile(r"\[(\d{1,20})\]")
_REACTION_RE = re.compile(r"\s*(.+?)\s*\((\d+)\)\s*(?:,|$)")


def read_csv_export(path: Path, rows: ChatCollector) -> int:
    """Collect the rows of one DiscordChatExporter CSV file; returns how many.

    Raises
    ------
    DiscordExportError
        Not UTF-8, a missing column, a bad ``AuthorID``, a ``Date`` without offset, an
        unreadable ``Reactions`` cell.
    """
    match = _CHANNEL_IN_NAME.search(path.name)
    channel_key = match.group(1) if match else path.stem
    channel_id = f"dc:{channel_key}"
    rows.channels.setdefault(channel_id, (path.stem, "group", None))
    n = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in ("AuthorID", "Date") if c not in header]
            if missing:
                raise DiscordExportError(
                    f"{path}: missing CSV columns {missing} (found {header}); expected the "
                    f"DiscordChatExporter CSV columns {list(CSV_COLUMNS)}."
                )
            for line, rec in enumerate(reader, start=1):
                where = f"{path}: row {line}"
                if None in rec or any(rec.get(c) is None for c in ("AuthorID", "Date")):
                    raise DiscordExportError(
                        f"{where}: has {len(rec) + len(rec.get(None, [])) - 1} cells; expected "
                        f"{len(header)} (a truncated or mis-quoted file?)."
                    )
                sender = snowflake(rec["AuthorID"].strip(), where, "AuthorID")
                stamp = rec["Date"].strip()
                created = iso_to_ns(stamp, where, "Date", DiscordExportError)
                rows.add_member(sender, rec.get("Author") or None)
                rows.add_message(
                    mid=f"{channel_id}:row{line}",
                    channel=channel_id,
                    sender=sender,
                    created=created,
                    reply_target=None,
                    kind="message",
                    text=rec.get("Content"),
                    where=where,
                    reactions=_reactions(rec.get("Reactions") or "", where),
                )
                n += 1
    except UnicodeDecodeError as exc:
        raise DiscordExportError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected a "
            f"DiscordChatExporter CSV export."
        ) from None
    except csv.Error as exc:
        raise DiscordExportError(f"{path}: not a readable CSV file: {exc}.") from None
    return n


def _reactions(cell: str, where: str) -> list[tuple[str | None, str, int]]:
    """``"👍 (3),🎉 (1)"`` → ``[(None, "👍", 3), (None, "🎉", 1)]``."""
    cell = cell.strip()
    out: list[tuple[str | None, str, int]] = []
    pos = 0
    while pos < len(cell):
        match = _REACTION_RE.match(cell, pos)
        if match is None:
            raise DiscordExportError(
                f"{where}: field 'Reactions' {cell!r} is not a list like '👍 (3),🎉 (1)'."
            )
        out.append((None, match.group(1), int(match.group(2))))
        pos = match.end()
    return out
