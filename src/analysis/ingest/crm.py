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
from collections.abc import Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

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

_OFFSET_RE = re.compile(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_TIME_RE = re.compile(r"\d{2}:\d{2}")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class CsvFormatError(ValueError):
    """A sidecar CSV file does not follow its documented format (names file, column, rows)."""


def normalize_user_id(platform: str, value: str | None) -> str | None:
    """Bring a platform user id to the form the export uses; empty → ``None``.

    For Telegram, exports name users ``user<digits>`` (and channels ``channel<digits>``); CRMs
    and bots often store the bare number. A bare positive number becomes ``user<digits>``, so
    ``"123"`` and ``"user123"`` get the same pseudonym. Other values are only stripped.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if platform == "telegram" and text.isdigit():
        return f"user{text}"
    return text


def normalize_username(value: str | None) -> str | None:
    """A public username as mentions write it: stripped, without a leading ``@``, lower case.

    Telegram usernames are case-insensitive (https://core.telegram.org/method/account.checkUsername
    and the ``@username`` rules), so ``@Alice`` and ``alice`` are the same user; empty → None.
    """
    if value is None:
        return None
    text = str(value).strip().lstrip("@").strip().lower()
    return text or None


def _row_refs(positions: Sequence[int], limit: int = 5) -> str:
    shown = [f"{p + 1} (line {p + 2})" for p in positions[:limit]]
    more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
    return ", ".join(shown) + more


def read_text_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV (UTF-8, header row) or parquet file as a frame of strings (missing → ``""``).

    Raises
    ------
    CsvFormatError
        The file is empty, not UTF-8 CSV, or not readable parquet.
    """
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            raw = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise CsvFormatError(f"{path}: not a readable parquet file ({exc}).") from None
        df = raw.astype(object).where(raw.notna(), "").astype(str)
        df.columns = [str(c).strip() for c in df.columns]
        return df
    try:
        df = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise CsvFormatError(f"{path}: the file is empty; expected a header row.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CsvFormatError(f"{path}: not a readable UTF-8 CSV file ({exc}).") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _read_csv(
    path: str | os.PathLike,
    required: Sequence[str],
    optional: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read ``path`` as strings (stripped; empty → None) with the columns it must have.

    ``columns`` maps canonical names to the file's names (a missing mapped column is reported
    under the file's name).
    """
    path = Path(path)
    try:
        df = read_text_table(path)
    except CsvFormatError as exc:
        if "the file is empty" in str(exc):
            raise CsvFormatError(
                f"{path}: the file is empty; expected a header row with columns {list(required)}."
            ) from None
        raise
    columns = dict(columns or {})
    source_name = {c: columns.get(c, c) for c in (*required, *optional)}
    expected = [source_name[c] for c in required] + [
        f"{source_name[c]} (optional)" for c in optional
    ]
    for column in required:
        if source_name[column] not in df.columns:
            mapped = f" (mapped to '{column}')" if source_name[column] != column else ""
            raise CsvFormatError(
                f"{path}: missing column '{source_name[column]}'{mapped}; expected columns "
                f"{expected}, found {list(df.columns)}."
            )
    df = df.rename(columns={src: canon for canon, src in source_name.items() if src in df.columns})
    keep = [c for c in (*required, *optional) if c in df.columns]
    df = df[keep].copy()
    for column in optional:
        if column not in df.columns:
            df[column] = ""
    for column in df.columns:
        values = df[column].str.strip()
        df[column] = values.where(values != "", None).astype(object)
    return df.reset_index(drop=True)


def _require_values(df: pd.DataFrame, column: str, path: Path) -> None:
    missing = np.flatnonzero(df[column].isna().to_numpy())
    if len(missing):
        raise CsvFormatError(
            f"{path}: column '{column}' is empty in row(s) {_row_refs(missing.tolist())}; "
            f"every row needs a {column}."
        )


def _require_unique(df: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    dup = df.duplicated(subset=list(columns), keep=False).to_numpy()
    if not dup.any():
        return
    first = np.flatnonzero(dup)[0]
    key = tuple(df.iloc[first][list(columns)])
    same = np.flatnonzero((df[list(columns)] == pd.Series(key, index=list(columns))).all(axis=1))
    label = " + ".join(columns)
    value = key[0] if len(key) == 1 else key
    n_keys = df.loc[dup, list(columns)].drop_duplicates().shape[0]
    raise CsvFormatError(
        f"{path}: duplicate {label} {value!r} in rows {_row_refs(same.tolist())}"
        f"{f' ({n_keys} duplicated keys in all)' if n_keys > 1 else ''}; each {label} must "
        f"appear once."
    )


def check_timezone(zone: str | None, where: str = "timezone") -> str | None:
    """``zone`` if it is an IANA zone name (or None); else a :class:`ValueError` naming it."""
    if zone is None:
        return None
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{where}={zone!r} is not an IANA time zone name (e.g. 'Europe/Moscow', 'UTC')."
        ) from None
    return str(zone)


def _parse_timestamps(
    df: pd.DataFrame, column: str, path: Path, timezone: str | None = None
) -> pd.Series:
    """ISO 8601 with an offset → UTC; naive or unparseable values are errors naming the row.

    With ``timezone``, values without an offset are read as local times of that IANA zone (an
    ambiguous time in a DST fall-back hour as its first occurrence, a skipped one shifted
    forward); values with an offset keep it.
    """
    values = df[column]
    _require_values(df, column, path)
    texts = values.astype(str)
    if timezone is not None:
        has_offset = texts.str.contains(_OFFSET_RE) & texts.str.contains(_TIME_RE)
        out = pd.Series(pd.NaT, index=texts.index, dtype=pd.DatetimeTZDtype("ns", "UTC"))
        if has_offset.any():
            out[has_offset] = pd.to_datetime(
                texts[has_offset], format="ISO8601", utc=True, errors="coerce"
            )
        if (~has_offset).any():
            naive = pd.to_datetime(texts[~has_offset], format="ISO8601", errors="coerce")
            good = naive.notna()
            local = naive[good].dt.tz_localize(
                timezone,
                ambiguous=np.ones(int(good.sum()), dtype=bool),
                nonexistent="shift_forward",
            )
            out[local.index] = local.dt.tz_convert("UTC")
        bad = np.flatnonzero(out.isna().to_numpy())
        if len(bad):
            raise CsvFormatError(
                f"{path}: column '{column}' has a value that is not an ISO 8601 timestamp in row "
                f"{_row_refs(bad.tolist(), limit=1)}: {texts.iloc[bad[0]]!r}."
            )
        return out
    naive = ~texts.str.contains(_OFFSET_RE) | ~texts.str.contains(_TIME_RE)
    if naive.any():
        pos = np.flatnonzero(naive.to_numpy())
        raise CsvFormatError(
            f"{path}: column '{column}' has timestamps without a UTC offset, first in row "
            f"{_row_refs(pos.tolist(), limit=1)}: {texts.iloc[pos[0]]!r} ({len(pos)} such rows); "
            f"expected ISO 8601 with an offset, e.g. '2024-03-01T09:30:00+03:00' or "
            f"'2024-03-01T06:30:00Z'. Naive times are never assumed to be UTC."
        )
    parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise CsvFormatError(
            f"{path}: column '{column}' has a value that is not an ISO 8601 timestamp in row "
            f"{_row_refs(bad.tolist(), limit=1)}: {texts.iloc[bad[0]]!r}."
        )
    return parsed.astype(pd.DatetimeTZDtype("ns", "UTC"))


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
    df = _read_csv(path, ROSTER_COLUMNS, optional=ROSTER_OPTIONAL)
    df["user_id"] = [normalize_user_id(platform, v) for v in df["user_id"]]
    df["username"] = [normalize_username(v) for v in df["username"]]
    df["referred_by"] = [normalize_user_id(platform, v) for v in df["referred_by"]]
    _require_values(df, "user_id", path)
    _require_unique(df, ["user_id"], path)
    role = df["role"].fillna("member").str.lower()
    bad = np.flatnonzero(~role.isin(ROSTER_ROLES).to_numpy())
    if len(bad):
        raise CsvFormatError(
            f"{path}: column 'role' has unknown value {df['role'].iloc[bad[0]]!r} in row "
            f"{_row_refs(bad.tolist(), limit=1)}; expected one of {list(ROSTER_ROLES)} "
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
    df = _read_csv(path, ("customer_id", user_col, "signed_up_at"), columns=columns)
    _require_values(df, "customer_id", path)
    _require_unique(df, ["customer_id"], path)
    users = pd.Series([normalize_user_id(platform, v) for v in df[user_col]], dtype=object)
    out = pd.DataFrame(
        {
            "customer_id": df["customer_id"],
            "member_id": pseudonymizer.member_ids(platform, users),
            "first_seen_at": _parse_timestamps(df, "signed_up_at", path, timezone),
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
    df = _read_csv(path, ORDERS_COLUMNS, columns=columns)
    for column in ("order_id", "customer_id", "amount", "currency"):
        _require_values(df, column, path)
    _require_unique(df, ["order_id"], path)
    amount = pd.to_numeric(df["amount"], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(amount.to_numpy(dtype=float)))
    if len(bad):
        raise CsvFormatError(
            f"{path}: column 'amount' has a value that is not a finite number in row "
            f"{_row_refs(bad.tolist(), limit=1)}: {df['amount'].iloc[bad[0]]!r}; expected a "
            f"plain number with '.' as decimal separator, e.g. 1990.50."
        )
    currency = df["currency"].str.upper()
    bad = np.flatnonzero(~currency.str.match(_CURRENCY_RE).to_numpy(dtype=bool))
    if len(bad):
        raise CsvFormatError(
            f"{path}: column 'currency' has {df['currency'].iloc[bad[0]]!r} in row "
            f"{_row_refs(bad.tolist(), limit=1)}; expected a three-letter ISO 4217 code like "
            f"'RUB' or 'USD'."
        )
    out = pd.DataFrame(
        {
            "order_id": df["order_id"],
            "customer_id": df["customer_id"],
            "ordered_at": _parse_timestamps(df, "ordered_at", path, timezone),
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
    df = _read_csv(path, ASSIGNMENTS_COLUMNS[:4], optional=("cluster_id",), columns=columns)
    for column in ("experiment_id", "unit_id", "variant"):
        _require_values(df, column, path)
    df["unit_id"] = [normalize_user_id(platform, v) for v in df["unit_id"]]
    _require_unique(df, ["experiment_id", "unit_id"], path)
    out = pd.DataFrame(
        {
            "experiment_id": df["experiment_id"],
            "unit_id": pseudonymizer.member_ids(platform, df["unit_id"]),
            "variant": df["variant"],
            "assigned_at": _parse_timestamps(df, "assigned_at", path, timezone),
            "cluster_id": df["cluster_id"],
        }
    )
    return validate("assignments", out, source=str(path))
