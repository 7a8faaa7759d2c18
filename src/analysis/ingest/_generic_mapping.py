"""Mapping files of :mod:`analysis.ingest.generic`: finding, reading and checking them.

The format (TOML, or YAML with the same keys) is documented with an example in
:mod:`analysis.ingest.generic`. Checking is strict: an unknown key is an error naming it (a typo
must not silently drop a column), and so is a missing required key, a value that is not text, a
platform name that is not lower-case letters, digits, ``_`` or ``-`` (or is ``person``, reserved
for identity pseudonyms) and a time zone that is not an IANA name.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analysis.ingest._csv_io import check_timezone

__all__ = [
    "GenericFormatError",
    "MAPPING_FILES",
    "SECTIONS",
    "check_mapping",
    "find_mapping",
    "load_mapping",
    "mapping_files",
    "mapping_from_columns",
]


class GenericFormatError(ValueError):
    """A mapping or a mapped file does not follow :mod:`analysis.ingest.generic`."""


GenericFormatError.__module__ = "analysis.ingest.generic"

#: Names :func:`find_mapping` looks for in a folder, in this order.
MAPPING_FILES = ("mapping.toml", "mapping.yaml", "mapping.yml")
#: Canonical keys each section accepts (besides ``file``); the first ones are required.
SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "messages": (
        ("message_id", "member_id", "created_at"),
        ("reply_to_id", "thread_id", "channel_id", "text", "kind", "display_name", "n_reactions"),
    ),
    "members": (
        ("member_id",),
        ("joined_at", "display_name", "source", "referred_by", "role"),
    ),
    "customers": (("customer_id", "member_id", "signed_up_at"), ()),
    "orders": (("order_id", "customer_id", "ordered_at", "amount", "currency"), ()),
    "assignments": (("experiment_id", "unit_id", "variant", "assigned_at"), ("cluster_id",)),
}
_TOP_KEYS = ("platform", "timezone", *SECTIONS)
_PLATFORM_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


def find_mapping(folder: str | os.PathLike) -> Path | None:
    """The mapping file of a folder (:data:`MAPPING_FILES`), or None."""
    for name in MAPPING_FILES:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def load_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a mapping file (TOML, or YAML by extension).

    Returns
    -------
    dict
        The mapping with every section's ``file`` resolved against the mapping's folder.

    Raises
    ------
    GenericFormatError
        Unreadable file, unknown key (typos are errors, not ignored), missing required key, a
        value that is not text, a bad platform name or time zone.
    """
    path = Path(path)
    if path.is_dir():
        found = find_mapping(path)
        if found is None:
            raise GenericFormatError(
                f"{path}: no mapping file; expected one of {list(MAPPING_FILES)} "
                f"(format: analysis.ingest.generic)."
            )
        path = found
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # a dependency of papermill; only needed for YAML mappings

            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except Exception as exc:  # tomllib / yaml syntax errors carry line and column
        raise GenericFormatError(f"{path}: not a readable mapping file ({exc}).") from None
    return check_mapping(doc, path)


def check_mapping(doc: object, path: Path) -> dict[str, Any]:
    """Check a parsed mapping (see :func:`load_mapping`); ``path`` names it in errors."""
    if not isinstance(doc, dict):
        raise GenericFormatError(f"{path}: expected a table of keys, got {type(doc).__name__}.")
    unknown = [k for k in doc if k not in _TOP_KEYS]
    if unknown:
        raise GenericFormatError(f"{path}: unknown key(s) {unknown}; expected {list(_TOP_KEYS)}.")
    platform = doc.get("platform")
    if not isinstance(platform, str) or not _PLATFORM_RE.match(platform) or platform == "person":
        raise GenericFormatError(
            f"{path}: key 'platform' = {platform!r}; expected a lower-case name such as "
            f"'forum' (letters, digits, '_' or '-'; not 'person')."
        )
    try:
        zone = check_timezone(doc.get("timezone"))
    except ValueError as exc:
        raise GenericFormatError(f"{path}: {exc}") from None
    if "messages" not in doc:
        raise GenericFormatError(f"{path}: missing section [messages].")
    out: dict[str, Any] = {"platform": platform, "timezone": zone, "path": path}
    for section, (required, optional) in SECTIONS.items():
        if section not in doc:
            continue
        spec = doc[section]
        if not isinstance(spec, dict):
            raise GenericFormatError(f"{path}: [{section}] is not a table of keys.")
        allowed = ("file", *required, *optional)
        bad = [k for k in spec if k not in allowed]
        if bad:
            raise GenericFormatError(
                f"{path}: [{section}] has unknown key(s) {bad}; expected {list(allowed)}."
            )
        for key, value in spec.items():
            if not isinstance(value, str) or not value.strip():
                raise GenericFormatError(
                    f"{path}: [{section}] key '{key}' = {value!r}; expected a non-empty text."
                )
        if "file" not in spec:
            raise GenericFormatError(f"{path}: [{section}] has no key 'file'.")
        columns = {k: spec.get(k, k).strip() for k in (*required, *optional) if k in spec}
        for key in required:
            columns.setdefault(key, key)
        out[section] = {"file": (path.parent / spec["file"]).resolve(), "columns": columns}
    return out


def mapping_from_columns(
    data_file: str | os.PathLike,
    columns: Mapping[str, str],
    *,
    platform: str,
    timezone: str | None = None,
) -> dict[str, Any]:
    """A checked mapping with only a ``[messages]`` section, from ``CANONICAL=SOURCE`` pairs."""
    data_file = Path(data_file).resolve()
    doc: dict[str, Any] = {"platform": platform, "messages": {"file": str(data_file), **columns}}
    if timezone is not None:
        doc["timezone"] = timezone
    return check_mapping(doc, data_file)


def mapping_files(mapping: Mapping[str, Any]) -> list[Path]:
    """The mapping file (when there is one) and every data file it names (for the manifest)."""
    files = (
        [mapping["path"]] if mapping["path"].suffix.lower() in (".toml", ".yaml", ".yml") else []
    )
    return files + [mapping[s]["file"] for s in SECTIONS if s in mapping]
