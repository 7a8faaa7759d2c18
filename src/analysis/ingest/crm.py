"""The sidecar CSV files a company keeps next to a community export.

All files are UTF-8 CSV with a header row. Column names must match exactly (surrounding spaces
are ignored); extra columns are ignored; empty cells are missing values. Every timestamp is ISO
8601 **with** a UTC offset or ``Z`` (``2024-03-01T09:30:00+03:00``, ``2024-03-01 06:30:00Z``); a
naive timestamp is an error naming the file, the column and the first bad row, never silently
assumed to be UTC. Rows are numbered from 1 after the header (row 1 is line 2 of the file).

``members.csv`` (roster)
    ``user_id``: the platform's user id (Telegram: ``user123``; a bare positive number ``123`` is
    read as ``user123``, the Bot API form); ``source``: acquisition source (free text, may be
    empty); ``referred_by``: platform id of the member who referred them (may be empty);
    ``role``: ``member`` | ``staff`` | ``bot`` (empty means ``member``); ``username``
    (optional column): the member's public ``@username``, which resolves Telegram ``@mentions``.
``customers.csv``
    ``customer_id``; ``<platform>_user_id`` (e.g. ``telegram_user_id``; empty for customers who
    are not community members); ``signed_up_at``.
``orders.csv``
    ``order_id``, ``customer_id``, ``ordered_at``, ``amount`` (a number, refunds may be
    negative), ``currency`` (ISO 4217 code, e.g. ``RUB``; case-insensitive).
``assignments.csv``
    ``experiment_id``, ``unit_id`` (platform user id, pseudonymised to the member id so
    experiments join to messages), ``variant``, ``assigned_at``, ``cluster_id`` (optional column;
    may be empty).

The readers of ``customers``, ``orders`` and ``assignments`` also take other files (any CRM dump):
``columns`` maps each canonical column to the file's column (``{"order_id": "Id", "ordered_at":
"Created"}``), a ``.parquet`` file is read like a CSV (values as text), and ``timezone`` (an IANA
zone) reads timestamps without an offset in that zone; :mod:`analysis.ingest.generic` uses this for
its ``[orders]``, ``[customers]`` and ``[assignments]`` mapping sections.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.ingest._csv_io import (
    CsvFormatError,
    check_timezone,
    normalize_user_id,
    normalize_username,
    parse_timestamps,
    read_columns,
    read_text_table,
    require_unique,
    require_values,
    row_refs,
)
from analysis.pseudonym import Pseudonymizer
from analysis.schema import validate

__all__ = [
    "ASSIGNMENTS_COLUMNS",
    "CUSTOMERS_COLUMNS",
    "CsvFormatError",
    "ORDERS_COLUMNS",
    "ROSTER_COLUMNS",
    "ROSTER_OPTIONAL",
    "ROSTER_ROLES",
    "check_timezone",
    "normalize_user_id",
    "normalize_username",
    "read_text_table",
    "read_assignments",
    "read_customers",
    "read_orders",
    "read_roster",
]

ROSTER_COLUMNS = ("user_id", "source", "referred_by", "role")
#: Optional roster column: the member's public @username (resolves Telegram @mentions).
ROSTER_OPTIONAL = ("username",)
ROSTER_ROLES = ("member", "staff", "bot")
#: ``{platform}`` is replaced by the platform name, e.g. ``telegram_user_id``.
CUSTOMERS_COLUMNS = ("customer_id", "{platform}_user_id", "signed_up_at")
ORDERS_COLUMNS = ("order_id", "customer_id", "ordered_at", "amount", "currency")
ASSIGNMENTS_COLUMNS = ("experiment_id", "unit_id", "variant", "assigned_at", "cluster_id")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# Users meet (and catch) it as part of this public module, so tracebacks name it here.
CsvFormatError.__module__ = "analysis.ingest.crm"


def read_roster(path: str | os.PathLike, *, platform: str = "telegram") -> pd.DataFrame:
    """Read ``members.csv``, the roster a company keeps of its community members.

    Parameters
    ----------
    path : path-like
        The CSV file (columns ``user_id, source, referred_by, role``).
    platform : str
        Platform of the ids, for :func:`normalize_user_id`.

    Returns
    -------
    pandas.DataFrame
        Columns ``user_id`` (normalised platform id), ``source``, ``referred_by`` (normalised
        platform id or None), ``role`` (``member`` | ``staff`` | ``bot``) and, when the file
        has that column, ``username`` (lower case without ``@``, or None). Platform ids are
        *not* pseudonymised here: the platform reader matches them to the export first.

    Raises
    ------
    CsvFormatError
        Missing column, empty or duplicate ``user_id``, or an unknown role.
    """
    path = Path(path)
    has_username = "username" in read_text_table(path).columns
    df = read_columns(path, ROSTER_COLUMNS, optional=ROSTER_OPTIONAL)
    df["user_id"] = [normalize_user_id(platform, v) for v in df["user_id"]]
    df["username"] = [normalize_username(v) for v in df["username"]]
    df["referred_by"] = [normalize_user_id(platform, v) for v in df["referred_by"]]
    require_values(df, "user_id", path)
    require_unique(df, ["user_id"], path)
    role = df["role"].fillna("member").str.lower()
    bad = np.flatnonzero(~role.isin(ROSTER_ROLES).to_numpy())
    if len(bad):
        raise CsvFormatError(
            f"{path}: column 'role' has unknown value {df['role'].iloc[bad[0]]!r} in row "
            f"{row_refs(bad.tolist(), limit=1)}; expected one of {list(ROSTER_ROLES)} "
            f"(empty means 'member')."
        )
    df["role"] = role.astype(object)
    return df[[*ROSTER_COLUMNS, *ROSTER_OPTIONAL]] if has_username else df[list(ROSTER_COLUMNS)]


def read_customers(
    path: str | os.PathLike,
    *,
    pseudonymizer: Pseudonymizer,
    platform: str = "telegram",
    columns: Mapping[str, str] | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Read ``customers.csv`` into the canonical ``customers`` table.

    Parameters
    ----------
    path : path-like
        The CSV file (columns ``customer_id, <platform>_user_id, signed_up_at``).
    pseudonymizer : Pseudonymizer
        Turns the platform user id into the member id used in the community tables.
    platform : str
        Names the user-id column (``telegram`` → ``telegram_user_id``).
    columns : mapping, optional
        Canonical column → the file's column (``customer_id``, ``<platform>_user_id``,
        ``signed_up_at``), for files that name them differently.
    timezone : str, optional
        IANA zone for ``signed_up_at`` values without an offset (else they are an error).

    Returns
    -------
    pandas.DataFrame
        Validated canonical ``customers``: ``customer_id``, ``member_id`` (pseudonym, None for
        customers who are not members), ``first_seen_at`` (= ``signed_up_at``, UTC).
    """
    path = Path(path)
    user_col = f"{platform}_user_id"
    timezone = check_timezone(timezone)
    df = read_columns(path, ("customer_id", user_col, "signed_up_at"), columns=columns)
    require_values(df, "customer_id", path)
    require_unique(df, ["customer_id"], path)
    users = pd.Series([normalize_user_id(platform, v) for v in df[user_col]], dtype=object)
    out = pd.DataFrame(
        {
            "customer_id": df["customer_id"],
            "member_id": pseudonymizer.member_ids(platform, users),
            "first_seen_at": parse_timestamps(df, "signed_up_at", path, timezone),
        }
    )
    return validate("customers", out, source=str(path))


def read_orders(
    path: str | os.PathLike,
    *,
    columns: Mapping[str, str] | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Read ``orders.csv`` into the canonical ``orders`` table.

    Parameters
    ----------
    path : path-like
        The CSV file (columns ``order_id, customer_id, ordered_at, amount, currency``).
    columns : mapping, optional
        Canonical column → the file's column, for files that name them differently.
    timezone : str, optional
        IANA zone for ``ordered_at`` values without an offset (else they are an error).

    Returns
    -------
    pandas.DataFrame
        Validated canonical ``orders``; ``amount`` as float, ``currency`` upper-cased.
    """
    path = Path(path)
    timezone = check_timezone(timezone)
    df = read_columns(path, ORDERS_COLUMNS, columns=columns)
    for column in ("order_id", "customer_id", "amount", "currency"):
        require_values(df, column, path)
    require_unique(df, ["order_id"], path)
    amount = pd.to_numeric(df["amount"], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(amount.to_numpy(dtype=float)))
    if len(bad):
        raise CsvFormatError(
            f"{path}: column 'amount' has a value that is not a finite number in row "
            f"{row_refs(bad.tolist(), limit=1)}: {df['amount'].iloc[bad[0]]!r}; expected a "
            f"plain number with '.' as decimal separator, e.g. 1990.50."
        )
    currency = df["currency"].str.upper()
    bad = np.flatnonzero(~currency.str.match(_CURRENCY_RE).to_numpy(dtype=bool))
    if len(bad):
        raise CsvFormatError(
            f"{path}: column 'currency' has {df['currency'].iloc[bad[0]]!r} in row "
            f"{row_refs(bad.tolist(), limit=1)}; expected a three-letter ISO 4217 code like "
            f"'RUB' or 'USD'."
        )
    out = pd.DataFrame(
        {
            "order_id": df["order_id"],
            "customer_id": df["customer_id"],
            "ordered_at": parse_timestamps(df, "ordered_at", path, timezone),
            "amount": amount.astype(float),
            "currency": currency.astype(object),
        }
    )
    return validate("orders", out, source=str(path))


def read_assignments(
    path: str | os.PathLike,
    *,
    pseudonymizer: Pseudonymizer,
    platform: str = "telegram",
    columns: Mapping[str, str] | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Read ``assignments.csv`` into the canonical ``assignments`` table.

    Parameters
    ----------
    path : path-like
        The CSV file (columns ``experiment_id, unit_id, variant, assigned_at`` and optionally
        ``cluster_id``).
    pseudonymizer : Pseudonymizer
        Turns ``unit_id`` (a platform user id) into the member id, so that experiment units
        join to messages and members.
    platform : str
        Platform of the unit ids.
    columns : mapping, optional
        Canonical column → the file's column, for files that name them differently.
    timezone : str, optional
        IANA zone for ``assigned_at`` values without an offset (else they are an error).

    Returns
    -------
    pandas.DataFrame
        Validated canonical ``assignments`` with ``unit_id`` pseudonymised.

    Raises
    ------
    CsvFormatError
        Missing column, empty required value, naive timestamp, or a unit assigned twice in one
        experiment (naming the experiment, the unit and the rows).
    """
    path = Path(path)
    timezone = check_timezone(timezone)
    df = read_columns(path, ASSIGNMENTS_COLUMNS[:4], optional=("cluster_id",), columns=columns)
    for column in ("experiment_id", "unit_id", "variant"):
        require_values(df, column, path)
    df["unit_id"] = [normalize_user_id(platform, v) for v in df["unit_id"]]
    require_unique(df, ["experiment_id", "unit_id"], path)
    out = pd.DataFrame(
        {
            "experiment_id": df["experiment_id"],
            "unit_id": pseudonymizer.member_ids(platform, df["unit_id"]),
            "variant": df["variant"],
            "assigned_at": parse_timestamps(df, "assigned_at", path, timezone),
            "cluster_id": df["cluster_id"],
        }
    )
    return validate("assignments", out, source=str(path))
