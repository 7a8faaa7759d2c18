"""Reading table files (CSV or parquet) as text, with errors that name file, row and column.

Shared by :mod:`analysis.ingest.crm` (the sidecar CSVs), :mod:`analysis.ingest.generic` (mapped
dumps) and :mod:`analysis.ingest.identity`. Every value is read as text, stripped, and an empty
cell is a missing value; rows are numbered from 1 after the header (row 1 is line 2 of a CSV).
Timestamps are ISO 8601 with a UTC offset or ``Z``, or — only when the caller gives an IANA
``timezone`` — local times of that zone; a naive timestamp without a zone is an error, never
silently assumed to be UTC.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

__all__ = [
    "CsvFormatError",
    "check_timezone",
    "normalize_user_id",
    "normalize_username",
    "parse_timestamps",
    "read_columns",
    "read_text_table",
    "require_unique",
    "require_values",
    "row_refs",
]

_OFFSET_RE = re.compile(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_TIME_RE = re.compile(r"\d{2}:\d{2}")


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


def row_refs(positions: Sequence[int], limit: int = 5) -> str:
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


def read_columns(
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


def require_values(df: pd.DataFrame, column: str, path: Path) -> None:
    missing = np.flatnonzero(df[column].isna().to_numpy())
    if len(missing):
        raise CsvFormatError(
            f"{path}: column '{column}' is empty in row(s) {row_refs(missing.tolist())}; "
            f"every row needs a {column}."
        )


def require_unique(df: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
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
        f"{path}: duplicate {label} {value!r} in rows {row_refs(same.tolist())}"
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


def parse_timestamps(
    df: pd.DataFrame, column: str, path: Path, timezone: str | None = None
) -> pd.Series:
    """ISO 8601 with an offset → UTC; naive or unparseable values are errors naming the row.

    With ``timezone``, values without an offset are read as local times of that IANA zone (an
    ambiguous time in a DST fall-back hour as its first occurrence, a skipped one shifted
    forward); values with an offset keep it.
    """
    values = df[column]
    require_values(df, column, path)
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
                f"{row_refs(bad.tolist(), limit=1)}: {texts.iloc[bad[0]]!r}."
            )
        return out
    naive = ~texts.str.contains(_OFFSET_RE) | ~texts.str.contains(_TIME_RE)
    if naive.any():
        pos = np.flatnonzero(naive.to_numpy())
        raise CsvFormatError(
            f"{path}: column '{column}' has timestamps without a UTC offset, first in row "
            f"{row_refs(pos.tolist(), limit=1)}: {texts.iloc[pos[0]]!r} ({len(pos)} such rows); "
            f"expected ISO 8601 with an offset, e.g. '2024-03-01T09:30:00+03:00' or "
            f"'2024-03-01T06:30:00Z'. Naive times are never assumed to be UTC."
        )
    parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise CsvFormatError(
            f"{path}: column '{column}' has a value that is not an ISO 8601 timestamp in row "
            f"{row_refs(bad.tolist(), limit=1)}: {texts.iloc[bad[0]]!r}."
        )
    return parsed.astype(pd.DatetimeTZDtype("ns", "UTC"))
