"""Shared assembly for the Discord, Slack and VK adapters: collected records → canonical tables.

Each adapter (:mod:`analysis.ingest.discord`, :mod:`analysis.ingest.slack`,
:mod:`analysis.ingest.vk`) checks its platform's records and hands one message at a time to a
:class:`ChatCollector`, which keeps plain column lists (raw platform user ids; nothing is
pseudonymised yet). :func:`build_tables` then makes the canonical frames in one vectorised pass,
following the Telegram adapter's conventions (:mod:`analysis.ingest.telegram`):

Replies and threads
    ``reply_to_id`` is the explicit reply target (``reply_source="explicit"``). A reply whose
    target is not in the data (deleted, before the export range, another channel not exported)
    keeps ``reply_to_id`` = the missing id and is counted (``messages.reply_to_id.dangling_n``).
    ``thread_id`` is the topmost ancestor of the reply chain — for a chain that ends in a missing
    message, the missing id — unless the root carries a *thread hint* (a Discord thread channel:
    its root messages belong to the thread started by the message whose id the thread has).
    Chains are resolved by vectorised pointer jumping (:func:`resolve_roots`, no recursion); a
    reply cycle is an error naming the messages.
Duplicates
    The same message id twice (overlapping exports, a day file repeated) is dropped and counted
    (``messages.duplicates_dropped_n``) when the repeat is identical in everything kept (sender,
    time, text, reply target, kind, reactions, mentions); otherwise it is an error naming the
    message id and the file and record of the repeat.
Members
    Everyone who posts, acts (service events), reacts by name or is mentioned. ``first_seen`` is the
    earliest of: the member's messages and service events, the reacted messages' times for their
    reactions (exports carry no reaction times), and the messages that mention them.
    ``joined_at`` is the member's earliest observed join event (Discord ``GuildMemberJoin``,
    Slack ``channel_join``) when it is not after ``first_seen`` (``observed``), else
    ``first_seen`` (``inferred``). ``display_name`` is the last non-empty name read (files
    in the order given, records in file order).
    ``is_bot`` / ``is_staff`` come from the adapter (platform flags); a member flagged once keeps
    the flag.
Reactions and mentions
    Reactions named per reactor get one row each (``count`` 1); the unnamed remainder of a count
    is one row with ``member_id`` null. ``reacted_at`` is null (no export of these platforms
    records reaction times). Mentions are one row per (message, mentioned member).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from analysis.pseudonym import Pseudonymizer
from analysis.schema import UTC_DTYPE, Tables

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The collector's per-message lists, emptied by :func:`build_tables` once the frames exist.
_PER_MESSAGE = (
    "mid",
    "channel",
    "sender",
    "created",
    "reply_target",
    "thread_hint",
    "kind",
    "text",
    "n_reactions",
    "reactions",
    "mentions",
    "joins",
)
_MICROSECOND = timedelta(microseconds=1)

__all__ = [
    "ChatCollector",
    "export_files",
    "Conversations",
    "build_tables",
    "iso_to_ns",
    "open_json_bytes",
    "resolve_conversations",
    "resolve_roots",
]


@dataclass
class ChatCollector:
    """Column lists filled message by message; :func:`build_tables` turns them into frames.

    Parameters
    ----------
    platform : str
        Platform name (``"discord"``, ``"slack"``, ``"vk"``), used for ``platform`` columns and
        pseudonyms.
    error : type of ValueError
        The adapter's error class (raised for conflicting duplicates and reply cycles).
    """

    platform: str
    error: type[ValueError]
    mid: list[str] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    sender: list[str] = field(default_factory=list)
    #: UTC nanoseconds, packed (8 bytes per message rather than a list of int objects)
    created: array = field(default_factory=lambda: array("q"))
    reply_target: list[str | None] = field(default_factory=list)
    thread_hint: list[str | None] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    text: list[str | None] = field(default_factory=list)
    n_reactions: list[int] = field(default_factory=list)
    #: message id -> fingerprint of what was kept of it (to tell identical repeats)
    seen: dict[str, int] = field(default_factory=dict)
    #: one string object per distinct sender id (ids parsed from JSON are new objects each time)
    interned: dict[str, str] = field(default_factory=dict)
    #: platform id -> display name (the last non-empty one read wins)
    names: dict[str, str] = field(default_factory=dict)
    bots: set[str] = field(default_factory=set)
    staff: set[str] = field(default_factory=set)
    #: (platform id, index of the join event message)
    joins: list[tuple[str, int]] = field(default_factory=list)
    #: (message index, reactor id or None, emoji, count)
    reactions: list[tuple[int, str | None, str, int]] = field(default_factory=list)
    #: (message index, mentioned platform id)
    mentions: list[tuple[int, str]] = field(default_factory=list)
    #: channel id -> (name, kind, parent id)
    channels: dict[str, tuple[str | None, str, str | None]] = field(default_factory=dict)
    duplicates: int = 0

    def add_member(
        self, pid: str, name: str | None, *, is_bot: bool = False, is_staff: bool = False
    ) -> None:
        """Record a platform user's name and flags (without making them a member by itself)."""
        if name:
            self.names[pid] = name
        if is_bot:
            self.bots.add(pid)
        if is_staff:
            self.staff.add(pid)

    def add_message(
        self,
        *,
        mid: str,
        channel: str,
        sender: str,
        created: int,
        reply_target: str | None,
        kind: str,
        text: str | None,
        where: str,
        reactions: list[tuple[str | None, str, int]] = (),  # type: ignore[assignment]
        mentions: list[str] = (),  # type: ignore[assignment]
        thread_hint: str | None = None,
        is_join: bool = False,
    ) -> bool:
        """Collect one message; returns False if it was an identical duplicate (dropped).

        ``created`` is UTC nanoseconds (see :func:`iso_to_ns`). ``reactions`` are ``(reactor id
        or None, emoji, count)``; ``where`` names the file and record for error messages.

        Raises
        ------
        ValueError
            (the collector's ``error`` class) the id was seen before with different content.
        """
        reactions = list(reactions)
        mentions = sorted(set(mentions))
        fingerprint = hash(
            (sender, created, reply_target, kind, text, tuple(reactions), tuple(mentions))
        )
        first = self.seen.get(mid)
        if first is not None:
            if first == fingerprint:
                self.duplicates += 1
                return False
            raise self.error(
                f"{where}: message id {mid!r} appears twice with different content (it was read "
                f"before); if two exports taken at different times overlap, read only the newer "
                f"one."
            )
        self.seen[mid] = fingerprint
        sender = self.interned.setdefault(sender, sender)
        index = len(self.mid)
        self.mid.append(mid)
        self.channel.append(channel)
        self.sender.append(sender)
        self.created.append(created)
        self.reply_target.append(reply_target)
        self.thread_hint.append(thread_hint)
        self.kind.append(kind)
        self.text.append(text)
        total = 0
        for reactor, emoji, count in reactions:
            self.reactions.append((index, reactor, emoji, count))
            total += count
        self.n_reactions.append(total)
        for pid in mentions:
            self.mentions.append((index, pid))
        if is_join:
            self.joins.append((sender, index))
        return True


@dataclass(frozen=True)
class Conversations:
    """Where each collected message sits in the conversation (arrays in collection order)."""

    #: The message replied to (present or missing), or None.
    reply_to_id: np.ndarray
    #: True for a reply whose target is not in the data (or is the message itself).
    dangling: np.ndarray
    #: Id of the thread: the root's hint, else the root, else the missing id of a dangling chain.
    thread_id: np.ndarray


def resolve_conversations(rows: ChatCollector, source: str) -> Conversations:
    """Resolve reply links into ``reply_to_id``, dangling flags and ``thread_id``.

    Raises
    ------
    ValueError
        (``rows.error``) the reply links form a cycle.
    """
    n = len(rows.mid)
    mids = np.array(rows.mid, dtype=object)
    targets = np.array(rows.reply_target, dtype=object)
    # parent index of each reply (-1: none or not in the data); a C hash table, not a dict
    parent = pd.Index(mids).get_indexer(targets) if n else np.array([], dtype=np.int64)
    parent = parent.astype(np.int64)
    has_target = pd.notna(targets)
    self_reply = parent == np.arange(n)
    dangling = has_target & ((parent < 0) | self_reply)
    parent[self_reply] = -1
    root = resolve_roots(parent, mids, source, rows.error)
    hints = np.array(rows.thread_hint, dtype=object)
    thread = np.where(
        pd.notna(hints[root]), hints[root], np.where(dangling[root], targets[root], mids[root])
    )
    reply_to = np.where(parent >= 0, mids[np.maximum(parent, 0)], targets)
    return Conversations(reply_to_id=reply_to, dangling=dangling, thread_id=thread.astype(object))


def resolve_roots(
    parent: np.ndarray, mids: np.ndarray, source: str, error: type[ValueError] = ValueError
) -> np.ndarray:
    """Root of every node of a forest given as parent indices (-1 = root), by pointer jumping.

    Each round halves the remaining distance to the root (O(n log depth) vectorised work, no
    recursion), as in :func:`analysis.ingest._telegram_threads.resolve_roots`; a reply cycle never
    converges and is reported with ``error``.
    """
    n = len(parent)
    idx = np.arange(n, dtype=np.int64)
    has_parent = parent >= 0
    jump = np.where(has_parent, parent, idx)
    for _ in range(64):
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            break
        jump = nxt
    cyclic = np.flatnonzero((jump[jump] != jump) | has_parent[jump]) if n else []
    if not len(cyclic):
        return jump
    raise error(
        f"{source}: reply links form a cycle (impossible in a real export) through messages "
        f"{mids[cyclic[:5]].tolist()}."
    )


def build_tables(
    rows: ChatCollector, *, pseudonymizer: Pseudonymizer, source: str
) -> tuple[Tables, dict[str, str]]:
    """The canonical tables of everything collected (not yet validated) and base provenance.

    The collector is consumed: its per-message lists are emptied once the frames are built (the
    channels, names and flags stay), so the lists and the frames are not both held while the
    adapter validates.

    Returns
    -------
    (Tables, dict)
        ``members``, ``messages``, ``channels``, ``reactions``, ``mentions``; the provenance
        entries common to the three adapters (the adapter adds its own and stores them).

    Raises
    ------
    ValueError
        (``rows.error``) nothing was collected or the reply links form a cycle.
    """
    platform = rows.platform
    if not rows.mid:
        raise rows.error(
            f"{source}: the export contains no messages; expected at least one message (is this "
            f"the right file, and was the export complete?)."
        )
    created_ns = np.frombuffer(rows.created, dtype=np.int64).copy()
    # the duplicate check is done: free its per-message entries before the frames are built
    rows.seen.clear()
    rows.interned.clear()
    conv = resolve_conversations(rows, source)
    reply_to = conv.reply_to_id
    has_reply = pd.notna(reply_to)
    text = pd.Series(rows.text, dtype=object)
    messages = pd.DataFrame(
        {
            "message_id": np.array(rows.mid, dtype=object),
            "platform": platform,
            "channel_id": np.array(rows.channel, dtype=object),
            "thread_id": conv.thread_id,
            "member_id": np.array(rows.sender, dtype=object),  # pseudonymised below
            "created_at": pd.to_datetime(created_ns, utc=True),
            "reply_to_id": pd.Series(reply_to, dtype=object).where(has_reply, None),
            "reply_source": np.where(has_reply, "explicit", "none").astype(object),
            "kind": np.array(rows.kind, dtype=object),
            "text": text.where(text.notna(), None),
            "text_len": text.fillna("").str.len().astype("int64"),
            "n_reactions": np.array(rows.n_reactions, dtype=np.int64),
        }
    )
    mids = messages["message_id"].to_numpy()
    rx = pd.DataFrame(rows.reactions, columns=["msg", "pid", "emoji", "count"])
    rx = rx[rx["count"] >= 1].reset_index(drop=True)
    msg_idx = rx["msg"].to_numpy(dtype=np.int64)
    reactions = pd.DataFrame(
        {
            "message_id": mids[msg_idx] if len(rx) else np.array([], dtype=object),
            "member_id": rx["pid"].astype(object),
            "emoji": rx["emoji"].astype(object),
            "count": rx["count"].astype("int64"),
            "reacted_at": pd.Series(pd.NaT, index=rx.index, dtype=UTC_DTYPE),
        }
    )
    mn = pd.DataFrame(rows.mentions, columns=["msg", "pid"]).drop_duplicates()
    mention_idx = mn["msg"].to_numpy(dtype=np.int64)
    mentions = pd.DataFrame(
        {
            "message_id": mids[mention_idx] if len(mn) else np.array([], dtype=object),
            "member_id": mn["pid"].astype(object).to_numpy(),
        }
    )
    provenance: dict[str, str] = {
        "messages.created_at": "observed",
        "messages.reply_to_id.explicit_n": str(int(has_reply.sum())),
        "messages.reply_to_id.dangling_n": str(int(conv.dangling.sum())),
        "messages.kind": "observed",
        "messages.text": "observed",
        "messages.member_id": "observed",
        "messages.duplicates_dropped_n": str(rows.duplicates),
        "channels.kind": "observed",
        "reactions.count": "observed",
        "reactions.reacted_at": "absent",
        "mentions.member_id": "observed",
        "mentions_n": str(len(mentions)),
    }
    named = reactions["member_id"].notna()
    named_n = int(reactions.loc[named, "count"].sum())
    unnamed_n = int(reactions.loc[~named, "count"].sum())
    provenance["reactions.member_id"] = _share_label(named_n, named_n + unnamed_n)
    provenance["reactions.member_id.named_n"] = str(named_n)
    provenance["reactions.member_id.unnamed_n"] = str(unnamed_n)

    members = _members_frame(
        rows, created_ns, msg_idx, reactions, mention_idx, mentions, provenance
    )
    ids = pd.Series(members["member_id"].to_numpy(), dtype=object)
    mapping = dict(zip(ids, pseudonymizer.member_ids(platform, ids), strict=True))
    members["member_id"] = ids.map(mapping).to_numpy()
    messages["member_id"] = messages["member_id"].map(mapping).astype(object)
    reactions["member_id"] = reactions["member_id"].map(mapping).astype(object)
    reactions["member_id"] = reactions["member_id"].where(reactions["member_id"].notna(), None)
    mentions["member_id"] = mentions["member_id"].map(mapping).astype(object)

    channels = pd.DataFrame(
        [(cid, platform, name, kind, par) for cid, (name, kind, par) in rows.channels.items()],
        columns=["channel_id", "platform", "name", "kind", "parent_id"],
    ).astype(object)
    tables = Tables(
        members=members,
        messages=messages,
        channels=channels,
        reactions=reactions,
        mentions=mentions,
    )
    for name in _PER_MESSAGE:  # the frames hold everything now: free the lists (peak memory)
        del getattr(rows, name)[:]
    return tables, provenance


def export_files(paths: object, reader: str, kind: str) -> list[Path]:
    """The files an adapter was given, as paths; a clear error for none or a missing one."""
    import os

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files = [Path(p) for p in paths]  # type: ignore[union-attr]
    if not files:
        raise ValueError(f"{reader}: no files given.")
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such {kind} file.")
    return files


def open_json_bytes(path: Path) -> BinaryIO:
    """``path`` opened for ``ijson`` (binary), past a UTF-8 byte-order mark if there is one."""
    fh = open(path, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
    if fh.read(3) != b"\xef\xbb\xbf":
        fh.seek(0)
    return fh


def iso_to_ns(stamp: str, where: str, field_name: str, error: type[ValueError]) -> int:
    """UTC nanoseconds of an ISO 8601 text with a UTC offset (microsecond precision).

    Parsed with :meth:`datetime.datetime.fromisoformat` (Python 3.11 reads ``Z``, ``+02:00``,
    ``+0200`` and 1–7 fraction digits; a 7th digit is dropped). A text without offset is an error:
    naive times are never assumed to be UTC.
    """
    try:
        parsed = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        raise error(
            f"{where}: field '{field_name}' is {stamp!r}; expected an ISO 8601 date-time with a "
            f"UTC offset, e.g. '2024-01-10T12:00:00.000+00:00'."
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise error(
            f"{where}: field '{field_name}' {stamp!r} has no UTC offset; expected e.g. "
            f"'2024-01-10T12:00:00.000+00:00' (naive times are never assumed to be UTC)."
        )
    return (parsed - _EPOCH) // _MICROSECOND * 1000


def _members_frame(
    rows: ChatCollector,
    created_ns: np.ndarray,
    reaction_msg: np.ndarray,
    reactions: pd.DataFrame,
    mention_msg: np.ndarray,
    mentions: pd.DataFrame,
    provenance: dict[str, str],
) -> pd.DataFrame:
    """Everyone who posted, acted, reacted by name or was mentioned (raw platform ids)."""
    named = reactions["member_id"].notna().to_numpy()
    n_msg = len(rows.sender)
    events = pd.DataFrame(
        {
            "pid": np.concatenate(
                [
                    np.array(rows.sender, dtype=object),
                    reactions["member_id"].to_numpy()[named],
                    mentions["member_id"].to_numpy(),
                ]
            ),
            "t": np.concatenate(
                [created_ns, created_ns[reaction_msg[named]], created_ns[mention_msg]]
            ),
            "active": np.concatenate(
                [
                    np.ones(n_msg + int(named.sum()), dtype=bool),
                    np.zeros(len(mentions), dtype=bool),
                ]
            ),
        }
    )
    first_seen = events.groupby("pid", sort=True)["t"].min()
    ever_active = events.groupby("pid", sort=True)["active"].any()
    no_join = np.iinfo(np.int64).max
    if rows.joins:
        observed = (
            pd.Series(
                [int(created_ns[i]) for _, i in rows.joins],
                index=pd.Index([p for p, _ in rows.joins], dtype=object),
                dtype="int64",
            )
            .groupby(level=0)
            .min()
            .reindex(first_seen.index, fill_value=no_join)
            .to_numpy(dtype=np.int64)
        )
    else:
        observed = np.full(len(first_seen), no_join, dtype=np.int64)
    first_ns = first_seen.to_numpy(dtype=np.int64)
    use_observed = (observed != no_join) & (observed <= first_ns)
    joined_ns = np.where(use_observed, observed, first_ns)
    n_obs = int(use_observed.sum())
    n_inf = len(first_seen) - n_obs
    provenance["members.joined_at"] = (
        "observed" if n_inf == 0 else ("inferred" if n_obs == 0 else "mixed")
    )
    provenance["members.joined_at.observed_n"] = str(n_obs)
    provenance["members.joined_at.inferred_n"] = str(n_inf)
    provenance["members.mentioned_only_n"] = str(int((~ever_active).sum()))
    pids = pd.Series(first_seen.index.to_numpy(dtype=object), dtype=object)
    display = pids.map(rows.names)
    return pd.DataFrame(
        {
            "member_id": pids.to_numpy(),
            "platform": rows.platform,
            "joined_at": pd.to_datetime(joined_ns, utc=True),
            "source": None,
            "is_staff": pids.isin(rows.staff).to_numpy(),
            "is_bot": pids.isin(rows.bots).to_numpy(),
            "display_name": display.where(display.notna(), None).to_numpy(dtype=object),
            "referred_by": None,
        }
    )


def _share_label(part: int, total: int) -> str:
    """``observed`` when all of ``total`` is known, ``partial`` when some, else ``absent``."""
    if total == 0 or part == 0:
        return "absent"
    return "observed" if part == total else "partial"
