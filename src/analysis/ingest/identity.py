"""One person on several platforms: an identity map merges their member ids.

``identity.csv`` (UTF-8 CSV, header row; optional, beside the exports in the dataset folder)::

    platform,platform_user_id,person_id,username
    telegram,user123,alice,alice_tg
    discord,80351110224678912,alice,
    forum,u1,alice,

``platform``
    The platform name the adapter pseudonymises under: ``telegram``, ``discord``, ``slack``,
    ``vk``, ``stackexchange`` or a generic mapping's ``platform``.
``platform_user_id``
    The user id *as that adapter pseudonymises it*: Telegram ``user123`` (a bare ``123`` is read
    as ``user123``, see :func:`analysis.ingest.crm.normalize_user_id`), Stack Exchange
    ``<site>:<Id>``, a generic dump's raw id.
``person_id``
    Any stable id of the person (a CRM contact id, an e-mail hash); never written to the tables.
``username`` (optional)
    The person's public ``@username`` on that platform; resolves Telegram ``@mentions``.

Every member id of a mapped account becomes the person's pseudonym
(:meth:`analysis.pseudonym.Pseudonymizer.person_member_id` of the person id), the same keyed
pseudonym in every table (members, messages, reactions, mentions, customers, assignments,
``referred_by``), so a person's orders join their messages on every platform. Members who end up
with the same id are merged into one row: ``joined_at`` the earliest, ``platform`` of that
earliest row, ``is_staff``/``is_bot`` true if any account is, ``display_name``/``source``/
``referred_by`` the first non-null in join order. Provenance: ``members.identity_mapped_n``
(member rows whose account is in the map) and ``members.identity_merged_n`` (member rows removed
by merging).

Errors are :class:`analysis.ingest.crm.CsvFormatError` naming the file, the row and the column:
a missing column, an empty value, the same account mapped to two persons.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.ingest._csv_io import (
    CsvFormatError,
    normalize_user_id,
    normalize_username,
    read_columns,
    require_unique,
    require_values,
    row_refs,
)
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = ["IDENTITY_COLUMNS", "apply_identity", "read_identity", "usernames_for"]

IDENTITY_COLUMNS = ("platform", "platform_user_id", "person_id")

#: (table, column) pairs that hold member ids.
MEMBER_ID_COLUMNS = (
    ("members", "member_id"),
    ("members", "referred_by"),
    ("messages", "member_id"),
    ("reactions", "member_id"),
    ("mentions", "member_id"),
    ("customers", "member_id"),
    ("assignments", "unit_id"),
)


def read_identity(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``identity.csv``.

    Returns
    -------
    pandas.DataFrame
        ``platform`` (lower case), ``platform_user_id`` (normalised), ``person_id``,
        ``username`` (lower case without ``@``, or None).

    Raises
    ------
    CsvFormatError
        Missing column, empty value, or one account listed twice.
    """
    path = Path(path)
    df = read_columns(path, IDENTITY_COLUMNS, optional=("username",))
    for column in IDENTITY_COLUMNS:
        require_values(df, column, path)
    df["platform"] = df["platform"].str.lower()
    df["platform_user_id"] = [
        normalize_user_id(p, u) for p, u in zip(df["platform"], df["platform_user_id"], strict=True)
    ]
    bad = np.flatnonzero(df["platform"].eq("person").to_numpy())
    if len(bad):
        raise CsvFormatError(
            f"{path}: column 'platform' has 'person' in row {row_refs(bad.tolist(), limit=1)}; "
            f"expected the platform of the account (telegram, discord, ...)."
        )
    require_unique(df, ["platform", "platform_user_id"], path)
    df["username"] = [normalize_username(v) for v in df["username"]]
    return df.reset_index(drop=True)


def usernames_for(identity: pd.DataFrame | None, platform: str) -> dict[str, str]:
    """``{username: platform_user_id}`` of one platform from an identity map (may be empty)."""
    if identity is None:
        return {}
    rows = identity[(identity["platform"] == platform) & identity["username"].notna()]
    return dict(zip(rows["username"], rows["platform_user_id"], strict=True))


def apply_identity(tables: Tables, identity: pd.DataFrame, pseudonymizer: Pseudonymizer) -> Tables:
    """Replace mapped accounts' member ids by their person's and merge duplicate members.

    Parameters
    ----------
    tables : Tables
        Canonical tables pseudonymised with ``pseudonymizer`` (any number of platforms).
    identity : pandas.DataFrame
        As returned by :func:`read_identity`.
    pseudonymizer : Pseudonymizer
        The one used at ingest (same key), to find each mapped account's member id.

    Returns
    -------
    Tables
        New tables (not yet validated) with the merged members and the provenance keys listed
        in the module docstring.
    """
    old = [
        pseudonymizer.member_id(p, u)
        for p, u in zip(identity["platform"], identity["platform_user_id"], strict=True)
    ]
    new = [pseudonymizer.person_member_id(p) for p in identity["person_id"]]
    remap = dict(zip(old, new, strict=True))
    frames = {name: df.copy() for name, df in tables.items()}
    for table, column in MEMBER_ID_COLUMNS:
        if table in frames:
            values = frames[table][column]
            frames[table][column] = values.map(lambda v: remap.get(v, v)).astype(object)
    members = frames["members"]
    mapped_n = int(tables.members["member_id"].isin(remap.keys()).sum())
    merged = _merge_members(members)
    provenance = dict(tables.provenance)
    provenance["members.identity_mapped_n"] = str(mapped_n)
    provenance["members.identity_merged_n"] = str(len(members) - len(merged))
    frames["members"] = merged
    if "mentions" in frames:
        frames["mentions"] = frames["mentions"].drop_duplicates(["message_id", "member_id"])
    return Tables(**frames, provenance=provenance)


def _merge_members(members: pd.DataFrame) -> pd.DataFrame:
    """One row per member id: earliest join (and its platform), any staff/bot, first non-null."""
    if not members["member_id"].duplicated().any():
        return members.reset_index(drop=True)
    ordered = members.sort_values("joined_at", kind="stable")
    grouped = ordered.groupby("member_id", sort=False)
    out = grouped.agg(
        platform=("platform", "first"),
        joined_at=("joined_at", "min"),
        source=("source", "first"),
        is_staff=("is_staff", "any"),
        is_bot=("is_bot", "any"),
        display_name=("display_name", "first"),
        referred_by=("referred_by", "first"),
    ).reset_index()
    for col in ("source", "display_name", "referred_by"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    # a member must not refer themselves after merging two of their own accounts
    out.loc[out["referred_by"] == out["member_id"], "referred_by"] = None
    return out[list(members.columns)]
