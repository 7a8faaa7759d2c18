"""Putting canonical tables together: several sources into one dataset, and a newer export on top.

:func:`combine_sources`
    The tables of several sources of one dataset folder (a Telegram chat and a forum dump, two
    Slack zips) become one :class:`~analysis.schema.Tables`: rows are concatenated; a message id,
    channel id or mention seen in two sources is kept once (the first source's row; counted in
    ``messages.cross_source_duplicates_n``); a member id in two sources (the same platform account
    in two exports) becomes one row as in :mod:`analysis.ingest.identity`. Provenance is merged
    key by key: counts (keys ending ``_n``) are summed, a status every source agrees on is kept,
    a status only some sources record is ``partial`` when it is ``absent`` (the field exists in
    the other sources) and otherwise ``mixed``; ``sources.formats`` lists the formats.
:func:`append_tables`
    Re-ingesting a newer export of the same chat into an existing processed dataset appends only
    the messages whose ``message_id`` (the platform's message id, e.g. ``tg:<chat>:<id>``) is not
    there yet; a message already present keeps its row (an export is a snapshot: the first one
    that had the message is kept, so later edits of its text are not applied), except that its
    reactions and ``n_reactions`` are taken from the newer export, the later snapshot of them.
    A new message whose thread root was outside the newer export (a date-range export whose reply
    chain ends in a message only the old one has) gets that old message's ``thread_id``. Members:
    earliest ``joined_at``; ``display_name``, ``source`` and ``referred_by`` from the newer
    export where it has them; ``is_staff``/``is_bot`` if either says so. Channels, customers,
    orders and assignments: union on their keys, the newer row winning. Both exports' pseudonyms
    must come from the same key (``members.member_id.key_fingerprint`` in provenance);
    otherwise :class:`IncrementalIngestError`. Provenance: the newer ingest's, with the reply
    counts recomputed over all messages and ``messages.incremental.appended_n``,
    ``messages.incremental.already_present_n``.
:func:`append_snapshots`
    The same for several snapshots of one chat found together in a dataset folder (e.g.
    ``telegram/ChatExport_2024-05-01/`` and ``telegram/ChatExport_2024-08-01/``), oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.ingest.identity import _merge_members
from analysis.schema import Tables

__all__ = [
    "KEY_FINGERPRINT",
    "IncrementalIngestError",
    "append_snapshots",
    "append_tables",
    "combine_sources",
    "merge_provenance",
]

#: Provenance key holding the pseudonym key's fingerprint (never the key).
KEY_FINGERPRINT = "members.member_id.key_fingerprint"
_TABLE_KEYS = {
    "channels": ["channel_id"],
    "mentions": ["message_id", "member_id"],
    "customers": ["customer_id"],
    "orders": ["order_id"],
    "assignments": ["experiment_id", "unit_id"],
}
_OPTIONAL = ("channels", "reactions", "mentions", "customers", "orders", "assignments")


class IncrementalIngestError(ValueError):
    """A newer export cannot be appended to an existing dataset (names both and the reason)."""


def merge_provenance(parts: Sequence[dict[str, str]]) -> dict[str, str]:
    """Merge the provenance of several sources (rules in the module docstring)."""
    if len(parts) == 1:
        return dict(parts[0])
    out: dict[str, str] = {}
    keys = dict.fromkeys(k for p in parts for k in p)
    for key in keys:
        values = [p[key] for p in parts if key in p]
        if key.endswith("_n") and all(v.lstrip("-").isdigit() for v in values):
            out[key] = str(sum(int(v) for v in values))
        elif len(set(values)) == 1 and len(values) == len(parts):
            out[key] = values[0]
        elif set(values) == {"absent"}:
            out[key] = "partial"
        elif all(v.isalpha() for v in values):
            out[key] = "mixed"
        else:
            out[key] = "; ".join(dict.fromkeys(values))
    return out


def combine_sources(parts: Sequence[tuple[str, Tables]]) -> Tables:
    """One dataset from the tables of several sources ``[(format, tables), ...]``.

    Returns
    -------
    Tables
        Not yet validated; see the module docstring for how duplicates are handled.
    """
    if not parts:
        raise ValueError("combine_sources: no sources given.")
    if len(parts) == 1:
        name, tables = parts[0]
        provenance = {**tables.provenance, "sources.formats": name}
        return Tables(**dict(tables.items()), provenance=provenance)
    frames: dict[str, pd.DataFrame] = {}
    for name in ("members", "messages", *_OPTIONAL):
        present = [getattr(t, name) for _, t in parts if getattr(t, name) is not None]
        if present:
            frames[name] = pd.concat(present, ignore_index=True)
    provenance = merge_provenance([t.provenance for _, t in parts])
    messages = frames["messages"]
    duplicated = messages["message_id"].duplicated()
    frames["messages"] = messages[~duplicated].reset_index(drop=True)
    provenance["messages.cross_source_duplicates_n"] = str(int(duplicated.sum()))
    frames["members"] = _merge_members(frames["members"])
    for name, key in _TABLE_KEYS.items():
        if name in frames:
            frames[name] = frames[name].drop_duplicates(key).reset_index(drop=True)
    provenance["sources.formats"] = ", ".join(dict.fromkeys(name for name, _ in parts))
    return Tables(**frames, provenance=provenance)


def append_tables(old: Tables, new: Tables, *, where: str = "<dataset>") -> Tables:
    """The tables of an existing dataset with a newer export of the same community on top.

    Parameters
    ----------
    old : Tables
        The processed dataset as it is (e.g. :func:`analysis.data.read_tables`).
    new : Tables
        The newer ingest (same pseudonym key).
    where : str
        Names the dataset in errors.

    Returns
    -------
    Tables
        Not yet validated; rules in the module docstring.

    Raises
    ------
    IncrementalIngestError
        The two were pseudonymised with different keys.
    """
    old_key = old.provenance.get(KEY_FINGERPRINT)
    new_key = new.provenance.get(KEY_FINGERPRINT)
    if old_key and new_key and old_key != new_key:
        raise IncrementalIngestError(
            f"{where}: the existing dataset was pseudonymised with another key (fingerprint "
            f"{old_key}, now {new_key}); appending would split every member in two. Ingest with "
            f"the original key, or replace the dataset (--replace)."
        )
    old_msgs, new_msgs = old.messages, new.messages
    present = new_msgs["message_id"].isin(old_msgs["message_id"])
    added = new_msgs[~present].copy()
    old_thread = dict(zip(old_msgs["message_id"], old_msgs["thread_id"], strict=True))
    added["thread_id"] = added["thread_id"].map(lambda t: old_thread.get(t, t)).astype(object)

    kept = old_msgs.copy()
    refreshed = new_msgs.loc[present, ["message_id", "n_reactions"]].set_index("message_id")
    hit = kept["message_id"].isin(refreshed.index)
    kept.loc[hit, "n_reactions"] = (
        kept.loc[hit, "message_id"].map(refreshed["n_reactions"]).astype("int64")
    )
    messages = pd.concat([kept, added], ignore_index=True)

    frames: dict[str, pd.DataFrame] = {
        "messages": messages,
        "members": _newer_members(old.members, new.members),
    }
    if old.reactions is not None or new.reactions is not None:
        old_r = old.reactions if old.reactions is not None else new.reactions.iloc[:0]
        new_r = new.reactions if new.reactions is not None else old.reactions.iloc[:0]
        frames["reactions"] = pd.concat(
            [old_r[~old_r["message_id"].isin(new_msgs["message_id"])], new_r],
            ignore_index=True,
        )
    for name in ("channels", "mentions", "customers", "orders", "assignments"):
        a, b = getattr(old, name), getattr(new, name)
        if name == "mentions" and b is not None:
            b = b[b["message_id"].isin(added["message_id"])]
        if a is None and b is None:
            continue
        parts = [f for f in (b, a) if f is not None]  # newer first: it wins on the key
        frames[name] = (
            pd.concat(parts, ignore_index=True)
            .drop_duplicates(_TABLE_KEYS[name])
            .reset_index(drop=True)
        )
    provenance = dict(new.provenance)
    reply = messages["reply_to_id"]
    provenance["messages.reply_to_id.explicit_n"] = str(
        int((messages["reply_source"] == "explicit").sum())
    )
    provenance["messages.reply_to_id.dangling_n"] = str(
        int((reply.notna() & ~reply.isin(messages["message_id"])).sum())
    )
    provenance["messages.incremental.appended_n"] = str(len(added))
    provenance["messages.incremental.already_present_n"] = str(int(present.sum()))
    return Tables(**frames, provenance=provenance)


def append_snapshots(parts: Sequence[Tables], *, where: str = "<dataset>") -> Tables:
    """Several snapshots of one chat (exports taken at different times) as one set of tables.

    The snapshots are ordered by their last message time and folded with
    :func:`append_tables`, oldest first, so each message appears once and reactions come from
    the newest snapshot that has the message. Provenance adds ``messages.snapshots_n``.
    """
    if not parts:
        raise ValueError("append_snapshots: no tables given.")

    def last(t: Tables) -> pd.Timestamp:
        created = t.messages["created_at"]
        return created.max() if len(created) else pd.Timestamp.min.tz_localize("UTC")

    ordered = sorted(parts, key=last)
    out = ordered[0]
    for newer in ordered[1:]:
        out = append_tables(out, newer, where=where)
    provenance = dict(out.provenance)
    provenance["messages.snapshots_n"] = str(len(parts))
    return Tables(**dict(out.items()), provenance=provenance)


def _newer_members(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    both = pd.concat([new, old], ignore_index=True)  # newer first: its names win
    out = (
        both.groupby("member_id", sort=False)
        .agg(
            platform=("platform", "first"),
            joined_at=("joined_at", "min"),
            source=("source", "first"),
            is_staff=("is_staff", "any"),
            is_bot=("is_bot", "any"),
            display_name=("display_name", "first"),
            referred_by=("referred_by", "first"),
        )
        .reset_index()
    )
    for col in ("source", "display_name", "referred_by"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out[list(old.columns)]
