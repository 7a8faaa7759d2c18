"""Collected Telegram messages → canonical frames: messages, members, channels, reactions.

Part of :mod:`analysis.ingest.telegram` (whose docstring states the field mapping and the
provenance keys). :func:`build_tables` turns the lists of an
:class:`~analysis.ingest._telegram_json.ExportCollector` into frames in one vectorised pass:
timestamps, the reply structure (:mod:`analysis.ingest._telegram_threads`), reactions (with the
exporting computer's UTC offset inferred per file, :func:`exporter_clocks`), members with their
join dates and roster fields, and finally one pseudonym mapping for every platform id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.ingest._telegram_json import (
    OFFSET_RE,
    PLATFORM,
    ExportCollector,
    TelegramExportError,
)
from analysis.ingest._telegram_mentions import mentions_frame
from analysis.ingest._telegram_threads import resolve_conversations
from analysis.pseudonym import Pseudonymizer
from analysis.schema import UTC_DTYPE, Tables

__all__ = ["MIN_DST_RUN_S", "ExporterClock", "build_tables", "exporter_clocks"]

#: Two offsets one hour apart are read as a zone with daylight saving time only if every stretch
#: of one offset between two switches lasts at least this long (seconds); real DST periods last
#: months, while a file merged from machines in two zones flips back and forth.
MIN_DST_RUN_S = 7 * 86_400
_NS = 1_000_000_000


@dataclass(frozen=True)
class ExporterClock:
    """The UTC offset of the computer that wrote one export file, as inferred from its messages.

    ``label`` is ``"+03:00"`` (one offset), ``"+01:00/+02:00"`` (two offsets one hour apart
    switching like daylight saving time), ``"variable"`` (inconsistent offsets) or ``"unknown"``
    (no message with both ``date`` and ``date_unixtime``). For the first two, ``local_ns`` holds the
    local times of the messages with both fields (naive nanoseconds, sorted) and ``offset_ns`` the
    offset of each; otherwise both are empty and local times cannot be converted.
    """

    label: str
    local_ns: np.ndarray
    offset_ns: np.ndarray

    @property
    def usable(self) -> bool:
        """Whether local times of this file can be converted to UTC."""
        return len(self.local_ns) > 0

    def to_utc_ns(self, local_ns: np.ndarray) -> np.ndarray:
        """UTC nanoseconds of local times: minus the offset of the message nearest in time."""
        if len(self.local_ns) == 1:
            return local_ns - self.offset_ns[0]
        right = np.searchsorted(self.local_ns, local_ns).clip(1, len(self.local_ns) - 1)
        left = right - 1
        closer_left = (local_ns - self.local_ns[left]) <= (self.local_ns[right] - local_ns)
        return local_ns - self.offset_ns[np.where(closer_left, left, right)]


def build_tables(
    rows: ExportCollector,
    *,
    pseudonymizer: Pseudonymizer,
    roster: pd.DataFrame | None,
    source: str,
    usernames: Mapping[str, str] | None = None,
) -> Tables:
    """The canonical tables of everything collected, with provenance (not yet validated).

    Parameters
    ----------
    rows : ExportCollector
        The collected chats.
    pseudonymizer : Pseudonymizer
        Turns platform user ids into member ids.
    roster : pandas.DataFrame, optional
        As returned by :func:`analysis.ingest.crm.read_roster` (columns already checked).
    source : str
        The export file(s), for error messages.
    usernames : mapping, optional
        ``{username: platform user id}`` resolving ``@username`` mentions.

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels``, ``reactions`` and ``mentions``.

    Raises
    ------
    TelegramExportError
        A local ``date`` is not ISO 8601, or the reply links form a cycle.
    """
    provenance: dict[str, str] = {}
    mids = np.array(rows.mid, dtype=object)
    created_ns = _created_ns(rows, provenance)
    created = pd.to_datetime(created_ns, utc=True)
    conversations = resolve_conversations(rows, mids, source)
    reply_to = conversations.reply_to_id

    text = pd.Series(rows.text, dtype=object)
    messages = pd.DataFrame(
        {
            "message_id": mids,
            "platform": PLATFORM,
            "channel_id": conversations.channel_id,
            "thread_id": conversations.thread_id,
            "member_id": rows.sender,  # platform ids, pseudonymised below
            "created_at": created,
            "reply_to_id": pd.Series(reply_to, dtype=object).where(pd.notna(reply_to), None),
            "reply_source": np.where(pd.notna(reply_to), "explicit", "none").astype(object),
            "kind": conversations.kind,
            "text": text,
            "text_len": text.str.len().astype("int64"),
            "n_reactions": np.array(rows.n_reactions, dtype=np.int64),
        }
    )
    provenance.update(
        {
            "messages.reply_to_id": "observed",
            "messages.reply_to_id.explicit_n": str(int(pd.notna(reply_to).sum())),
            "messages.reply_to_id.dangling_n": str(int(conversations.dangling.sum())),
            "messages.thread_id": "observed",
            "messages.channel_id": "observed",
            "messages.kind": "observed",
            "messages.text": "observed",
            "messages.member_id": "observed",
            "messages.skipped_unsupported_n": str(rows.skipped_unsupported),
            "messages.skipped_no_sender_n": str(rows.skipped_no_sender),
            "messages.duplicates_dropped_n": str(rows.duplicates),
            "channels.kind": "observed",
        }
    )

    clocks = exporter_clocks(rows)
    provenance["messages.created_at.exporter_utc_offset"] = _offset_summary(rows, clocks)
    reactions, reaction_ns = _reactions_frame(rows, mids, created_ns, clocks, provenance)
    members = _members_frame(rows, created_ns, reactions, reaction_ns, roster, provenance)
    mentions = mentions_frame(rows.mentions, mids, usernames, provenance)
    outside = ~mentions["member_id"].isin(set(members["member_id"]))
    provenance["mentions.not_in_members_n"] = str(int(outside.sum()))
    mentions = mentions[~outside].reset_index(drop=True)
    _pseudonymise(members, messages, reactions, pseudonymizer, mentions)
    reactions = reactions.drop(columns=["reactor_name"])  # only needed for display names

    channels = pd.DataFrame(
        [(cid, PLATFORM, name, kind, par) for cid, (name, kind, par) in rows.channels.items()],
        columns=["channel_id", "platform", "name", "kind", "parent_id"],
    ).astype(object)
    return Tables(
        members=members,
        messages=messages,
        channels=channels,
        reactions=reactions,
        mentions=mentions,
        provenance=provenance,
    )


def _pseudonymise(
    members: pd.DataFrame,
    messages: pd.DataFrame,
    reactions: pd.DataFrame,
    pseudonymizer: Pseudonymizer,
    mentions: pd.DataFrame,
) -> None:
    """Replace every platform id in the four frames (in place) by its member id."""
    # one mapping for all tables, computed from the members (everyone appears there)
    ids = pd.Series(members["member_id"].to_numpy(), dtype=object)
    mapping = dict(zip(ids, pseudonymizer.member_ids(PLATFORM, ids), strict=True))
    members["member_id"] = ids.map(mapping).to_numpy()
    members["referred_by"] = pseudonymizer.member_ids(PLATFORM, members["referred_by"]).to_numpy()
    messages["member_id"] = messages["member_id"].map(mapping).astype(object)
    reactions["member_id"] = reactions["member_id"].map(mapping).astype(object)
    reactions["member_id"] = reactions["member_id"].where(reactions["member_id"].notna(), None)
    mentions["member_id"] = mentions["member_id"].map(mapping).astype(object)


def _created_ns(rows: ExportCollector, provenance: dict[str, str]) -> np.ndarray:
    """UTC nanoseconds per message: ``date_unixtime``, else ``date`` in the assumed zone."""
    created_ns = np.array(rows.unix, dtype=np.int64) * 1_000_000_000
    n_local = len(rows.local_date)
    if n_local:
        positions = np.fromiter(rows.local_date, dtype=np.int64, count=n_local)
        texts = pd.Series([rows.local_date[int(i)][0] for i in positions], dtype=object)
        has_offset = texts.str.contains(OFFSET_RE).to_numpy(dtype=bool)
        ns = np.zeros(n_local, dtype=np.int64)
        ok = np.ones(n_local, dtype=bool)
        if has_offset.any():
            aware = pd.to_datetime(texts[has_offset], format="ISO8601", utc=True, errors="coerce")
            ok[has_offset] = aware.notna().to_numpy()
            ns[has_offset & ok] = _utc_ns(aware[aware.notna()])
        if (~has_offset).any():
            naive = pd.to_datetime(texts[~has_offset], format="ISO8601", errors="coerce")
            good = naive.notna().to_numpy()
            ok[~has_offset] = good
            local = naive[good].dt.tz_localize(
                rows.assume_timezone,
                ambiguous=np.ones(int(good.sum()), dtype=bool),
                nonexistent="shift_forward",
            )
            ns[~has_offset & ok] = _utc_ns(local)
        if not ok.all():
            first = int(positions[np.flatnonzero(~ok)[0]])
            raise TelegramExportError(
                f"{rows.local_date[first][1]}: message {rows.mid[first]}: field 'date' is not "
                f"an ISO 8601 date-time: {rows.local_date[first][0]!r}."
            )
        created_ns[positions] = ns
    n = len(rows.mid)
    provenance["messages.created_at"] = (
        "observed" if n_local == 0 else ("inferred" if n_local == n else "mixed")
    )
    provenance["messages.created_at.from_local_date_n"] = str(n_local)
    if n_local:
        provenance["messages.created_at.assumed_timezone"] = str(rows.assume_timezone)
    return created_ns


def exporter_clocks(rows: ExportCollector) -> list[ExporterClock]:
    """The exporting computer's UTC offset of each export file (in ``rows.files`` order).

    A message with both a local ``date`` (no offset) and ``date_unixtime`` shows the offset
    ``date − date_unixtime``. A file's offsets are usable when they take one value, or two values
    one hour apart that are piecewise constant in time (sorted by ``date_unixtime``, every stretch
    between two switches lasts at least :data:`MIN_DST_RUN_S`): a zone with daylight saving time.
    Anything else is ``"variable"``; a file without such messages is ``"unknown"``.
    """
    n_files = len(rows.files)
    empty = np.array([], dtype=np.int64)
    texts = pd.Series(rows.msg_local, dtype=object)
    local = pd.to_datetime(texts, format="ISO8601", errors="coerce")
    ok = local.notna().to_numpy(dtype=bool)
    local_ns = np.zeros(len(texts), dtype=np.int64)
    if ok.any():
        local_ns[ok] = local[ok].to_numpy("datetime64[ns]").view(np.int64)
    unix_ns = np.array(rows.unix, dtype=np.int64) * _NS
    offset_ns = local_ns - unix_ns
    file_of = np.array(rows.msg_file, dtype=np.int64)
    clocks = []
    for f in range(n_files):
        sel = ok & (file_of == f)
        if not sel.any():
            clocks.append(ExporterClock("unknown", empty, empty))
            continue
        off, t = offset_ns[sel], unix_ns[sel]
        values = np.unique(off)
        one_hour_apart = len(values) == 2 and values[1] - values[0] == 3600 * _NS
        if len(values) == 1:
            label = _format_offset(int(values[0]))
        elif one_hour_apart and _switches_like_dst(t, off):
            label = f"{_format_offset(int(values[0]))}/{_format_offset(int(values[1]))}"
        else:
            clocks.append(ExporterClock("variable", empty, empty))
            continue
        order = np.argsort(local_ns[sel], kind="stable")
        clocks.append(ExporterClock(label, local_ns[sel][order], off[order]))
    return clocks


def _switches_like_dst(unix_ns: np.ndarray, offset_ns: np.ndarray) -> bool:
    """Whether the offsets, in time order, change only between long stretches (DST switches)."""
    order = np.argsort(unix_ns, kind="stable")
    t, off = unix_ns[order], offset_ns[order]
    starts = t[np.flatnonzero(off[1:] != off[:-1]) + 1]  # first message after each switch
    return bool(len(starts) < 2 or np.diff(starts).min() >= MIN_DST_RUN_S * _NS)


def _format_offset(offset_ns: int) -> str:
    """``+03:00``, ``-05:30``, ``+00:00`` (seconds appended if any: ``+00:20:05``)."""
    sign = "-" if offset_ns < 0 else "+"
    minutes, seconds = divmod(abs(offset_ns) // _NS, 60)
    text = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def _offset_summary(rows: ExportCollector, clocks: list[ExporterClock]) -> str:
    """One label if every file that gave messages agrees, else the files' labels joined by ``;``."""
    used = set(rows.msg_file)
    labels = [clock.label for f, clock in enumerate(clocks) if f in used]
    if not labels:
        return "unknown"
    return labels[0] if len(set(labels)) == 1 else "; ".join(labels)


def _reactions_frame(
    rows: ExportCollector,
    mids: np.ndarray,
    created_ns: np.ndarray,
    clocks: list[ExporterClock],
    provenance: dict[str, str],
) -> tuple[pd.DataFrame, np.ndarray]:
    """The reactions (raw reactor ids, with ``reactor_name``) and when each was at the latest."""
    cols = ["msg", "member_id", "reactor_name", "emoji", "count", "when", "local"]
    df = pd.DataFrame(rows.reactions, columns=cols)
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
    inferred_n = _infer_reacted_at(rows, df["local"], msg, clocks, reacted)
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
    provenance["reactions.reacted_at"] = (
        "inferred"
        if inferred_n
        else _share_label(int(out["reacted_at"].notna().sum()), named_n + unnamed_n)
    )
    provenance["reactions.reacted_at.inferred_n"] = str(inferred_n)
    return out, reaction_ns


def _infer_reacted_at(
    rows: ExportCollector,
    local: pd.Series,
    msg: np.ndarray,
    clocks: list[ExporterClock],
    reacted: pd.Series,
) -> int:
    """Fill ``reacted`` (in place) from reactors' local dates where the file's offset is known.

    Returns how many reaction times were inferred.
    """
    if not any(clock.usable for clock in clocks):
        return 0
    parsed = pd.to_datetime(local, format="ISO8601", errors="coerce")
    has_local = (parsed.notna() & reacted.isna()).to_numpy(dtype=bool)
    if not has_local.any():
        return 0
    local_ns = np.zeros(len(local), dtype=np.int64)
    local_ns[has_local] = parsed[has_local].to_numpy("datetime64[ns]").view(np.int64)
    file_of = np.array(rows.msg_file, dtype=np.int64)[msg] if len(msg) else msg
    utc_ns = np.zeros(len(local), dtype=np.int64)
    done = np.zeros(len(local), dtype=bool)
    for f, clock in enumerate(clocks):
        sel = has_local & (file_of == f)
        if clock.usable and sel.any():
            utc_ns[sel] = clock.to_utc_ns(local_ns[sel])
            done |= sel
    if done.any():
        reacted[done] = pd.Series(pd.to_datetime(utc_ns[done], utc=True), index=reacted.index[done])
    return int(done.sum())


def _members_frame(
    rows: ExportCollector,
    created_ns: np.ndarray,
    reactions: pd.DataFrame,
    reaction_ns: np.ndarray,
    roster: pd.DataFrame | None,
    provenance: dict[str, str],
) -> pd.DataFrame:
    """Everyone who posted, acted or reacted (raw platform ids), with join dates and roster."""
    named = reactions["member_id"].notna().to_numpy()
    events = pd.DataFrame(
        {
            "pid": np.concatenate(
                [np.array(rows.sender, dtype=object), reactions["member_id"].to_numpy()[named]]
            ),
            "t": np.concatenate([created_ns, reaction_ns[named]]),
            "name": np.concatenate(
                [
                    np.array(rows.sender_name, dtype=object),
                    reactions["reactor_name"].to_numpy()[named],
                ]
            ),
        }
    )
    first_seen = events.groupby("pid", sort=False)["t"].min()
    names = events.dropna(subset=["name"])
    display = names.sort_values("t", kind="stable").groupby("pid")["name"].last()

    # observed joins: the joiner's own service message, or a uniquely named invitee
    join_pid = [pid for pid, _ in rows.joins]
    join_t = [int(created_ns[i]) for _, i in rows.joins]
    unique_name: dict[str, str] = {}
    if rows.named_joins:
        pairs = names[["name", "pid"]].drop_duplicates()
        single = pairs.drop_duplicates("name", keep=False)  # names held by exactly one id
        unique_name = dict(zip(single["name"], single["pid"], strict=True))
    unmatched = 0
    for name, i in rows.named_joins:
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
    brand = pd.Series(pids).isin(rows.brand_senders).to_numpy()
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
    members["display_name"] = members["display_name"].where(members["display_name"].notna(), None)
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


def _share_label(part: int, total: int) -> str:
    """``observed`` when all of ``total`` is known, ``partial`` when some, else ``absent``."""
    if total == 0 or part == 0:
        return "absent"
    return "observed" if part == total else "partial"
