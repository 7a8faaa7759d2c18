"""Any CSV or parquet dump (a forum, a CRM, a help desk) → canonical tables, through a mapping.

A *mapping* says which column of the dump becomes which canonical column (:mod:`analysis.schema`).
It is a TOML file (or YAML with the same keys; ``.yaml``/``.yml``), usually ``mapping.toml``
beside the data files; file names in it are relative to the mapping file. Example::

    platform = "forum"            # required: lower-case name used in ids and pseudonyms
    timezone = "Europe/Berlin"    # optional: IANA zone of timestamps written without an offset

    [messages]                    # required
    file = "posts.csv"            # .csv (UTF-8, header row) or .parquet
    message_id = "post_id"        # required: unique per row
    member_id = "author_id"       # required: the author's user id on the platform
    created_at = "created"        # required: ISO 8601 (with an offset, or see `timezone`)
    reply_to_id = "parent_id"     # optional: id of the message this one answers (empty: none)
    thread_id = "topic_id"        # optional: id of the thread's root message
    channel_id = "board"          # optional: board / room / category of the message
    text = "body"                 # optional
    kind = "type"                 # optional: post | comment | message | service
    display_name = "author_name"  # optional (PII; reports show it only when asked)
    n_reactions = "likes"         # optional: a non-negative integer

    [members]                     # optional: the user list
    file = "users.csv"
    member_id = "user_id"         # required in this section
    joined_at = "registered"      # optional
    display_name = "name"         # optional
    source = "utm_source"         # optional: acquisition source
    referred_by = "invited_by"    # optional: user id of the referrer
    role = "role"                 # optional: member | staff | bot (empty: member)

    [customers]                   # optional; canonical names of analysis.ingest.crm
    file = "crm/customers.csv"
    customer_id = "id"
    member_id = "forum_user"      # the customer's user id on this platform (empty: not a member)
    signed_up_at = "created"

    [orders]                      # optional
    file = "crm/orders.parquet"
    order_id = "id"
    customer_id = "customer"
    ordered_at = "paid_at"
    amount = "total"
    currency = "currency"

    [assignments]                 # optional
    file = "experiments.csv"
    experiment_id = "experiment"
    unit_id = "user"              # the user id on this platform
    variant = "arm"
    assigned_at = "at"
    cluster_id = "cohort"         # optional

Instead of a file, :func:`mapping_from_columns` builds the ``[messages]`` section from
``CANONICAL=SOURCE`` pairs (the CLI's ``--map``); a section's canonical key that is not listed
keeps the canonical name as the source column.

How the columns become canonical tables
---------------------------------------
* Ids are strings prefixed with the platform: ``message_id = "<platform>:<id>"`` (likewise
  ``reply_to_id``, ``thread_id``, ``channel_id``); user ids are pseudonymised with
  :class:`analysis.pseudonym.Pseudonymizer` under ``platform`` (identity maps use the same
  ``platform`` and the raw user id).
* Timestamps: ISO 8601 with an offset are converted to UTC; values without an offset need
  ``timezone`` (read in that zone; the first occurrence in a DST fall-back hour) and are an error
  otherwise, naming the file, the row and the column. Unix times are not guessed: convert them to
  ISO 8601 first.
* ``reply_to_id`` given: ``reply_source="explicit"``; a reply to an id that is not in the file
  keeps the id (dangling, counted). ``thread_id``: the column when mapped, else the topmost
  ancestor of the reply chain (a message without reply is its own thread). A reply cycle is an
  error naming its messages. Without ``reply_to_id`` every message is its own thread and
  ``reply_source="none"`` (provenance ``messages.reply_to_id = absent``; replies can then be
  inferred at ingest, see :mod:`analysis.ingest`).
* ``channel_id`` not mapped: one channel ``"<platform>:main"``. Channels are of kind ``group``.
* ``kind`` not mapped: ``message``. ``text_len`` is the length of ``text`` (0 without it).
* Members: every row of ``[members]`` plus every author; ``joined_at`` is the mapped value unless
  the member's first message is earlier (then, as for every adapter, the first message:
  inferred); authors without a ``[members]`` row or ``joined_at`` get their first message
  (inferred). A listed user with neither a join date nor a message has no date to stand on and
  is left out (counted: ``members.undated_dropped_n``). ``is_staff``/``is_bot`` come from
  ``role``, else False (provenance ``absent``).

Errors are :class:`GenericFormatError` (or :class:`analysis.ingest.crm.CsvFormatError` for the
table files), naming the mapping or data file, the key or column, the row (rows count from 1
after the header) and the bad value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.ingest._csv_io import (
    CsvFormatError,
    parse_timestamps,
    read_columns,
    require_unique,
    require_values,
    row_refs,
)
from analysis.ingest._generic_mapping import (
    MAPPING_FILES,
    SECTIONS,
    GenericFormatError,
    check_mapping,
    find_mapping,
    load_mapping,
    mapping_files,
    mapping_from_columns,
)
from analysis.ingest.crm import ROSTER_ROLES, read_assignments, read_customers, read_orders
from analysis.pseudonym import Pseudonymizer
from analysis.schema import MESSAGE_KINDS, Tables

__all__ = [
    "GenericFormatError",
    "MAPPING_FILES",
    "SECTIONS",
    "check_mapping",
    "find_mapping",
    "load_mapping",
    "mapping_files",
    "mapping_from_columns",
    "read_generic",
]


def read_generic(
    mapping: str | os.PathLike | Mapping[str, Any],
    *,
    pseudonymizer: Pseudonymizer,
) -> Tables:
    """Read a mapped CSV/parquet dump into validated canonical tables.

    Parameters
    ----------
    mapping : path-like or dict
        A mapping file (or a folder holding ``mapping.toml``), or a mapping from
        :func:`load_mapping` / :func:`mapping_from_columns`.
    pseudonymizer : Pseudonymizer
        Turns user ids into member ids (platform = the mapping's ``platform``).

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels`` and the optional ``customers``, ``orders``,
        ``assignments``, validated together, with provenance: ``messages.created_at``
        (observed), ``messages.reply_to_id`` (observed | absent),
        ``messages.reply_to_id.explicit_n``, ``messages.reply_to_id.dangling_n``,
        ``messages.thread_id`` (observed | absent), ``messages.channel_id``, ``messages.kind``,
        ``messages.text``, ``messages.n_reactions`` (observed | absent), ``members.joined_at``
        (observed | inferred | mixed) with ``_n`` counts, ``members.display_name``,
        ``members.source``, ``members.referred_by``, ``members.is_staff``, ``members.is_bot``.

    Raises
    ------
    GenericFormatError, analysis.ingest.crm.CsvFormatError
        Naming the file, the row, the column and the bad value.
    """
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    platform, zone = mapping["platform"], mapping["timezone"]
    spec = mapping["messages"]
    path = spec["file"]
    _, optional = SECTIONS["messages"]
    df = read_columns(path, SECTIONS["messages"][0], optional=optional, columns=spec["columns"])
    has = {k: k in spec["columns"] for k in optional}
    for column in ("message_id", "member_id"):
        require_values(df, column, path)
    require_unique(df, ["message_id"], path)
    created = parse_timestamps(df, "created_at", path, zone).reset_index(drop=True)
    provenance: dict[str, str] = {"messages.created_at": "observed"}

    def pid(values: pd.Series) -> pd.Series:
        return values.map(lambda v: None if v is None else f"{platform}:{v}").astype(object)

    message_id = pid(df["message_id"])
    reply_to = pid(df["reply_to_id"])
    dangling = reply_to.notna() & ~reply_to.isin(set(message_id))
    if has["thread_id"]:
        thread = pid(df["thread_id"]).where(df["thread_id"].notna(), message_id)
    else:
        thread = _thread_roots(message_id, reply_to, path)
    provenance.update(
        {
            "messages.reply_to_id": "observed" if has["reply_to_id"] else "absent",
            "messages.reply_to_id.explicit_n": str(int(reply_to.notna().sum())),
            "messages.reply_to_id.dangling_n": str(int(dangling.sum())),
            "messages.thread_id": (
                "observed" if has["thread_id"] or has["reply_to_id"] else "absent"
            ),
            "messages.channel_id": "observed" if has["channel_id"] else "absent",
            "messages.kind": "observed" if has["kind"] else "absent",
            "messages.text": "observed" if has["text"] else "absent",
            "messages.n_reactions": "observed" if has["n_reactions"] else "absent",
            "messages.member_id": "observed",
        }
    )
    kind = df["kind"].fillna("message").str.lower()
    bad = np.flatnonzero(~kind.isin(MESSAGE_KINDS).to_numpy())
    if len(bad):
        raise GenericFormatError(
            f"{path}: column '{spec['columns']['kind']}' (kind) has {df['kind'].iloc[bad[0]]!r} "
            f"in row {row_refs(bad.tolist(), limit=1)}; expected one of {list(MESSAGE_KINDS)}."
        )
    n_reactions = pd.to_numeric(df["n_reactions"].fillna("0"), errors="coerce")
    bad = np.flatnonzero(~(n_reactions.notna() & (n_reactions >= 0) & (n_reactions % 1 == 0)))
    if len(bad):
        raise GenericFormatError(
            f"{path}: column '{spec['columns']['n_reactions']}' (n_reactions) has "
            f"{df['n_reactions'].iloc[bad[0]]!r} in row {row_refs(bad.tolist(), limit=1)}; "
            f"expected a non-negative integer."
        )
    channel = pid(df["channel_id"]).where(df["channel_id"].notna(), f"{platform}:main")
    text = df["text"].astype(object)
    messages = pd.DataFrame(
        {
            "message_id": message_id,
            "platform": platform,
            "channel_id": channel,
            "thread_id": thread,
            "member_id": df["member_id"],  # raw ids, pseudonymised below
            "created_at": created,
            "reply_to_id": reply_to,
            "reply_source": np.where(reply_to.notna(), "explicit", "none").astype(object),
            "kind": kind.astype(object),
            "text": text,
            "text_len": text.fillna("").str.len().astype("int64"),
            "n_reactions": n_reactions.astype("int64"),
        }
    )
    names = channel.drop_duplicates()
    channels = pd.DataFrame(
        {
            "channel_id": names.to_numpy(),
            "platform": platform,
            "name": [c.split(":", 1)[1] for c in names],
            "kind": "group",
            "parent_id": None,
        }
    ).astype(object)
    members = _members(df, messages, mapping, provenance)
    mapping_ids = dict(
        zip(
            members["member_id"],
            pseudonymizer.member_ids(platform, members["member_id"]),
            strict=True,
        )
    )
    members["member_id"] = members["member_id"].map(mapping_ids)
    members["referred_by"] = pseudonymizer.member_ids(platform, members["referred_by"])
    messages["member_id"] = messages["member_id"].map(mapping_ids).astype(object)

    extra: dict[str, pd.DataFrame] = {}
    if "customers" in mapping:
        cols = dict(mapping["customers"]["columns"])
        cols[f"{platform}_user_id"] = cols.pop("member_id")
        extra["customers"] = read_customers(
            mapping["customers"]["file"],
            pseudonymizer=pseudonymizer,
            platform=platform,
            columns=cols,
            timezone=zone,
        )
    if "orders" in mapping:
        extra["orders"] = read_orders(
            mapping["orders"]["file"], columns=mapping["orders"]["columns"], timezone=zone
        )
    if "assignments" in mapping:
        extra["assignments"] = read_assignments(
            mapping["assignments"]["file"],
            pseudonymizer=pseudonymizer,
            platform=platform,
            columns=mapping["assignments"]["columns"],
            timezone=zone,
        )
    tables = Tables(
        members=members, messages=messages, channels=channels, provenance=provenance, **extra
    )
    return tables.validated(source=str(mapping["path"]))


def _thread_roots(message_id: pd.Series, reply_to: pd.Series, path: Path) -> pd.Series:
    """Topmost ancestor of each message by pointer jumping (a missing target ends a chain)."""
    parent = dict(zip(message_id, reply_to, strict=True))
    current = message_id.copy()
    up = reply_to.copy()
    for _ in range(64):  # pointer jumping halves every chain: 64 rounds cover 2**64 levels
        has_up = up.notna()
        if not has_up.any():
            return current
        current = current.where(~has_up, up)
        up = current.map(parent).where(current.map(lambda c: c in parent), None)
        up = up.astype(object).where(up.notna(), None)
        stuck = up.notna() & (up == message_id)
        if stuck.any():
            raise GenericFormatError(
                f"{path}: replies form a cycle through message(s) "
                f"{message_id[stuck].head(5).tolist()}; a reply chain must end in a message "
                f"without reply."
            )
    raise GenericFormatError(
        f"{path}: replies form a cycle (a chain did not end after 64 levels of pointer jumping)."
    )


def _members(
    df: pd.DataFrame,
    messages: pd.DataFrame,
    mapping: Mapping[str, Any],
    provenance: dict[str, str],
) -> pd.DataFrame:
    """Members with raw user ids: the ``[members]`` rows plus every author."""
    first = messages.groupby("member_id")["created_at"].min()
    authors = pd.DataFrame({"member_id": first.index.astype(object), "first": first.to_numpy()})
    named = df[["member_id", "display_name"]].assign(created_at=messages["created_at"])
    latest_name = (
        named.dropna(subset=["display_name"])
        .sort_values("created_at", kind="stable")
        .groupby("member_id")["display_name"]
        .last()
    )
    spec = mapping.get("members")
    if spec is not None:
        path = spec["file"]
        _, optional = SECTIONS["members"]
        users = read_columns(path, ("member_id",), optional=optional, columns=spec["columns"])
        require_values(users, "member_id", path)
        require_unique(users, ["member_id"], path)
        if "joined_at" in spec["columns"]:
            given = users["joined_at"].notna()
            joined = pd.Series(pd.NaT, index=users.index, dtype="datetime64[ns, UTC]")
            if given.any():
                sub = users[given].reset_index(drop=True)
                parsed = parse_timestamps(sub, "joined_at", path, mapping["timezone"])
                joined[given] = parsed.to_numpy()
            users["joined_at"] = joined
        else:
            users["joined_at"] = pd.Series(pd.NaT, index=users.index, dtype="datetime64[ns, UTC]")
        role = users["role"].fillna("member").str.lower()
        bad = np.flatnonzero(~role.isin(ROSTER_ROLES).to_numpy())
        if len(bad):
            raise CsvFormatError(
                f"{path}: column '{spec['columns']['role']}' (role) has "
                f"{users['role'].iloc[bad[0]]!r} in row {row_refs(bad.tolist(), limit=1)}; "
                f"expected one of {list(ROSTER_ROLES)} (empty means 'member')."
            )
        users["role"] = role
    else:
        optional = SECTIONS["members"][1]
        users = pd.DataFrame(columns=["member_id", *optional])
    out = users.merge(authors, on="member_id", how="outer")
    undated = out["joined_at"].isna() & out["first"].isna()
    provenance["members.undated_dropped_n"] = str(int(undated.sum()))
    out = out[~undated].reset_index(drop=True)
    given = out["joined_at"].notna() & ~(out["first"] < out["joined_at"])
    joined = out["joined_at"].where(given, out["first"])
    display = out["display_name"].where(
        out["display_name"].notna(), out["member_id"].map(latest_name)
    )
    n_obs = int(given.sum())
    n_inf = len(out) - n_obs
    provenance["members.joined_at"] = (
        "observed" if n_inf == 0 else ("inferred" if n_obs == 0 else "mixed")
    )
    provenance["members.joined_at.observed_n"] = str(n_obs)
    provenance["members.joined_at.inferred_n"] = str(n_inf)
    cols = spec["columns"] if spec is not None else {}
    for key in ("source", "referred_by"):
        provenance[f"members.{key}"] = "observed" if key in cols else "absent"
    provenance["members.is_staff"] = provenance["members.is_bot"] = (
        "observed" if "role" in cols else "absent"
    )
    provenance["members.display_name"] = (
        "observed"
        if "display_name" in cols or "display_name" in mapping["messages"]["columns"]
        else "absent"
    )
    role = out["role"].fillna("member")
    members = pd.DataFrame(
        {
            "member_id": out["member_id"].astype(object),
            "platform": mapping["platform"],
            "joined_at": pd.to_datetime(joined, utc=True),
            "source": out["source"].astype(object),
            "is_staff": (role == "staff").to_numpy(dtype=bool),
            "is_bot": (role == "bot").to_numpy(dtype=bool),
            "display_name": display.astype(object),
            "referred_by": out["referred_by"].astype(object),
        }
    )
    for col in ("source", "display_name", "referred_by"):
        members[col] = members[col].where(members[col].notna(), None)
    return members.reset_index(drop=True)
