"""Platform exports → canonical tables (:mod:`analysis.schema`).

One adapter per format; each returns validated :class:`analysis.schema.Tables` and never writes
anything (raw data is immutable). :func:`ingest_raw_dir` reads a dataset folder or a single
export; :func:`source_files` lists the files it reads (for the manifest).

Formats (``--format``; recognised automatically otherwise, see :mod:`analysis.ingest.detect`)
------------------------------------------------------------------------------------------------
``telegram``       Telegram Desktop JSON export (:mod:`analysis.ingest.telegram`)
``discord``        Discord exports (``analysis.ingest.discord``, when installed)
``slack``          Slack workspace export zip (``analysis.ingest.slack``, when installed)
``vk``             VK community export (``analysis.ingest.vk``, when installed)
``stackexchange``  Stack Exchange data dump (:mod:`analysis.ingest.stackexchange`)
``generic``        any CSV/parquet dump with a column mapping (:mod:`analysis.ingest.generic`,
                   which documents the ``mapping.toml`` format with an example)

Dataset folder layout
---------------------
::

    data/raw/<name>/
        telegram/*.json         Telegram exports (or result.json anywhere below telegram/)
        discord/**/*.json       Discord channel exports
        slack/*.zip             Slack exports (or slack/ is itself an unpacked export)
        vk/**/*.json            VK exports
        stackexchange/          Posts.xml, Comments.xml, Users.xml (site = <name>), or one
                                sub-folder per site (site = the sub-folder's name)
        generic/mapping.toml    a mapped CSV/parquet dump (or one sub-folder per dump)
        members.csv             optional roster of the Telegram members: user_id, source,
                                referred_by, role[, username]
        customers.csv           optional: customer_id, <platform>_user_id, signed_up_at
        orders.csv              optional: order_id, customer_id, ordered_at, amount, currency
        assignments.csv         optional: experiment_id, unit_id, variant, assigned_at,
                                cluster_id
        identity.csv            optional: platform, platform_user_id, person_id[, username]

Every source present is read and the tables are combined
(:func:`analysis.ingest.incremental.combine_sources`). A folder without any of these
sub-folders is read as one export of the detected format (e.g. ``ChatExport_2024-05-01/`` holding
``result.json``), still with the CSVs beside it; ``ingest_raw_dir`` also accepts a single export
file (``result.json``, ``mapping.toml``, a Slack zip). The CSV formats are documented in
:mod:`analysis.ingest.crm`, the identity map in :mod:`analysis.ingest.identity`. The platform of
``customers.csv`` is named by its ``<platform>_user_id`` column; ``assignments.csv`` unit ids are
user ids of the dataset's first platform in the order of the table above.

Identity
    With ``identity.csv``, one person's accounts on several platforms (and in the CRM) share one
    pseudonym, so orders and messages join (:mod:`analysis.ingest.identity`). Its ``username``
    column, like the roster's, resolves Telegram ``@username`` mentions.
Incremental ingest
    ``workbench ingest`` appends a newer export of the same chat to an existing processed dataset
    (new messages only, deduplicated on the platform message id; both exports' files listed in
    the manifest): :func:`analysis.ingest.incremental.append_tables`. Two Telegram exports of one
    chat taken at different times in the same ``telegram/`` folder (the same message with
    different content, e.g. new reactions) are read as snapshots the same way
    (:func:`analysis.ingest.incremental.append_snapshots`).
Reply inference
    ``infer_replies`` (CLI ``--infer-replies/--no-infer-replies``) fills missing reply links
    from timing and text with ``analysis.ingest.reply_inference``. Default (``None``): on for a
    source none of whose messages has an explicit reply link (a generic dump without a
    ``reply_to_id`` column; a chat platform export without reply metadata), off otherwise;
    explicit links are never replaced. Details in :mod:`analysis.ingest._reply_wiring`.

All ingest errors are :class:`ValueError` subclasses (or :class:`FileNotFoundError`) whose
message names the file, the record and the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.ingest._reply_wiring import ReplyInferenceUnavailableError, apply_reply_inference
from analysis.ingest.crm import (
    CsvFormatError,
    normalize_user_id,
    read_assignments,
    read_customers,
    read_orders,
    read_roster,
    read_text_table,
)
from analysis.ingest.detect import (
    FORMATS,
    FormatUnavailableError,
    UnknownFormatError,
    dataset_sources,
    detect_format,
    format_module,
    source_inputs,
)
from analysis.ingest.identity import apply_identity, read_identity, usernames_for
from analysis.ingest.incremental import KEY_FINGERPRINT, append_snapshots, combine_sources
from analysis.ingest.telegram import (
    TelegramExportError,
    find_export_file,
    read_telegram_export,
    read_telegram_exports,
)
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = [
    "FORMATS",
    "CsvFormatError",
    "EmptyDatasetError",
    "FormatUnavailableError",
    "ReplyInferenceUnavailableError",
    "SIDECAR_FILES",
    "TelegramExportError",
    "UnknownFormatError",
    "detect_format",
    "find_export_file",
    "find_telegram_exports",
    "ingest_raw_dir",
    "normalize_user_id",
    "read_assignments",
    "read_customers",
    "read_orders",
    "read_roster",
    "read_source",
    "read_telegram_export",
    "read_telegram_exports",
    "source_files",
]

_TELEGRAM_DIR = "telegram"
SIDECAR_FILES = ("members.csv", "customers.csv", "orders.csv", "assignments.csv", "identity.csv")


def find_telegram_exports(raw_dir: str | os.PathLike) -> list[Path]:
    """The Telegram export files of a dataset folder, sorted.

    ``<raw_dir>/telegram/*.json`` plus every ``result.json`` anywhere below ``telegram/`` (the
    folder layout Telegram Desktop writes: ``ChatExport_2024-05-01/result.json``).
    """
    return source_inputs("telegram", Path(raw_dir) / _TELEGRAM_DIR)


def _sources(path: Path, format: str | None, mapping: Mapping | None = None) -> dict[str, list]:
    """``{format: inputs}`` of a dataset folder or a single export (see the module docstring)."""
    if mapping is not None:
        return {"generic": [mapping]}
    if path.is_file():
        return {format or detect_format(path): [path]}
    found = dataset_sources(path)
    if format is not None:
        return {format: found[format]} if format in found else {format: [path]}
    if found:
        return found
    try:
        return {detect_format(path): [path]}
    except UnknownFormatError as exc:
        raise FileNotFoundError(
            f"{path}: no community export found; looked for the sub-folders "
            f"{', '.join(f'{n}/' for n in FORMATS)} (e.g. {path / _TELEGRAM_DIR}/*.json or "
            f"result.json files anywhere under {path / _TELEGRAM_DIR}/, from Telegram Desktop: "
            f"Export chat history → JSON) and for a single export in the folder itself ({exc})."
        ) from None


def _files_of(format: str, inputs: list[Path]) -> list[Path]:
    """The files a format's reader reads from ``inputs``."""
    out: list[Path] = []
    for item in inputs:
        if format == "telegram":
            out.append(find_export_file(item).resolve())
        elif format == "stackexchange":
            folder = item if item.is_dir() else item.parent
            names = ("Posts.xml", "Comments.xml", "Users.xml")
            out += [(folder / n).resolve() for n in names if (folder / n).is_file()]
        elif format == "generic":
            from analysis.ingest.generic import load_mapping, mapping_files

            out += mapping_files(item if isinstance(item, Mapping) else load_mapping(item))
        elif item.is_dir():
            out += sorted(p.resolve() for p in item.rglob("*") if p.is_file())
        else:
            out.append(item.resolve())
    return out


def source_files(
    raw_dir: str | os.PathLike,
    *,
    format: str | None = None,
    mapping: Mapping[str, Any] | None = None,
) -> list[Path]:
    """The files :func:`ingest_raw_dir` reads from ``raw_dir`` (for the manifest), by source.

    Returns an empty list when ``raw_dir`` holds no export (``ingest_raw_dir`` then raises).
    """
    raw_dir = Path(raw_dir)
    try:
        sources = _sources(raw_dir, format, mapping)
    except (FileNotFoundError, UnknownFormatError):
        return []
    files = [f for name, inputs in sources.items() for f in _files_of(name, inputs)]
    folder = raw_dir if raw_dir.is_dir() else raw_dir.parent
    sidecars = [folder / n for n in SIDECAR_FILES if (folder / n).is_file()]
    return list(dict.fromkeys([*files, *sidecars]))


def read_source(
    format: str,
    inputs: list,
    *,
    pseudonymizer: Pseudonymizer,
    roster: pd.DataFrame | None = None,
    usernames: dict[str, str] | None = None,
    assume_timezone: str | None = None,
    site: str | None = None,
) -> Tables:
    """Call format ``format``'s adapter on ``inputs`` (one format, one or several exports).

    ``roster``, ``usernames`` and ``assume_timezone`` are used by Telegram, ``site`` by Stack
    Exchange (for a single dump folder); the plugin adapters get ``pseudonymizer`` only.

    Raises
    ------
    FormatUnavailableError
        The format's module is not installed.
    """
    module = format_module(format)
    if format == "telegram":
        options = dict(roster=roster, assume_timezone=assume_timezone, usernames=usernames)
        try:
            return module.read_telegram_exports(inputs, pseudonymizer=pseudonymizer, **options)
        except module.DuplicateMessageError:
            if len(inputs) < 2:
                raise
        # snapshots of one chat taken at different times: read each, keep every message once
        snapshots = [
            module.read_telegram_exports([p], pseudonymizer=pseudonymizer, **options)
            for p in inputs
        ]
        return append_snapshots(snapshots, where=", ".join(map(str, inputs)))
    if format == "discord":
        return module.read_discord_exports(inputs, pseudonymizer=pseudonymizer)
    if format == "vk":
        return module.read_vk_export(inputs, pseudonymizer=pseudonymizer)
    parts = []
    for item in inputs:
        if format == "stackexchange":
            folder = item if item.is_dir() else item.parent
            one_site = site if len(inputs) == 1 else None
            parts.append(
                module.read_stackexchange(folder, pseudonymizer=pseudonymizer, site=one_site)
            )
        elif format == "generic":
            parts.append(module.read_generic(item, pseudonymizer=pseudonymizer))
        else:  # slack: one export per zip or folder
            parts.append(module.read_slack_export(item, pseudonymizer=pseudonymizer))
    return combine_sources([(format, p) for p in parts]) if len(parts) > 1 else parts[0]


def ingest_raw_dir(
    raw_dir: str | os.PathLike,
    *,
    pseudonymizer: Pseudonymizer | None = None,
    assume_timezone: str | None = None,
    format: str | None = None,
    infer_replies: bool | None = None,
    mapping: Mapping[str, Any] | None = None,
) -> Tables:
    """Read a dataset folder ``data/raw/<name>/`` (or one export) into validated :class:`Tables`.

    Parameters
    ----------
    raw_dir : path-like
        The dataset folder (layout in the module docstring), or a single export file or folder.
    pseudonymizer : Pseudonymizer, optional
        Defaults to ``Pseudonymizer()``: the key from ``WORKBENCH_PSEUDONYM_KEY`` or the
        project's git-ignored key file (created on first use; the only file this may write, and
        never inside ``raw_dir``).
    assume_timezone : str, optional
        Zone of the computer that made old Telegram exports without ``date_unixtime``; see
        :func:`analysis.ingest.telegram.read_telegram_export`.
    format : str, optional
        Read only this format (default: every source found, each format detected).
    infer_replies : bool, optional
        Reply inference (module docstring); ``None``: per source, on when it has no reply links.
    mapping : dict, optional
        A generic mapping (:func:`analysis.ingest.generic.mapping_from_columns`): ``raw_dir`` is
        then the mapped data file, read as the only source (CSVs beside it still apply).

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels``, ``reactions``/``mentions`` where the platform
        has them and, when their files exist, ``customers``, ``orders``, ``assignments``;
        validated together (links checked). Provenance adds ``sources.formats``,
        ``members.member_id.key_fingerprint`` (the key's fingerprint, never the key),
        ``customers.member_id.not_in_members_n`` and ``assignments.unit_id.not_in_members_n``
        (people in the CRM or an experiment who never appear in the export — expected for
        non-members and for assigned members who never posted) and, with ``identity.csv``, the
        keys of :func:`analysis.ingest.identity.apply_identity`.

    Raises
    ------
    FileNotFoundError
        ``raw_dir`` does not exist or holds no export.
    ValueError
        A file is malformed (:class:`TelegramExportError`, :class:`CsvFormatError`, ...), the
        format is unknown or its adapter is not installed, or the tables break the data contract
        (:class:`analysis.schema.SchemaValidationError`).
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.exists():
        raise FileNotFoundError(f"{raw_dir}: no such dataset folder or export file.")
    if format is not None:
        format_module(format)  # unknown or unavailable format: a clear error before any work
    sources = _sources(raw_dir, format, mapping)
    folder = raw_dir if raw_dir.is_dir() else raw_dir.parent
    pseudonymizer = pseudonymizer if pseudonymizer is not None else Pseudonymizer()
    identity = (
        read_identity(folder / "identity.csv") if (folder / "identity.csv").is_file() else None
    )
    roster_path = folder / "members.csv"
    roster = read_roster(roster_path) if roster_path.is_file() else None
    usernames = usernames_for(identity, "telegram")
    if roster is not None and "username" in roster.columns:
        named = roster.dropna(subset=["username"])
        usernames = {**dict(zip(named["username"], named["user_id"], strict=True)), **usernames}

    parts = []
    for name, inputs in sources.items():
        own_folder = name == "stackexchange" and inputs == [raw_dir / "stackexchange"]
        tables = read_source(
            name,
            inputs,
            pseudonymizer=pseudonymizer,
            roster=roster,
            usernames=usernames,
            assume_timezone=assume_timezone,
            site=raw_dir.name if own_folder else None,
        )
        parts.append((name, apply_reply_inference(tables, option=infer_replies, source=name)))
    combined = combine_sources(parts)
    primary = next(iter(sources))
    combined = _with_sidecars(combined, folder, pseudonymizer, primary)
    if identity is not None:
        combined = apply_identity(combined, identity, pseudonymizer)
    combined.provenance[KEY_FINGERPRINT] = pseudonymizer.fingerprint
    if combined.messages.empty:
        read = ", ".join(f"{name}: {len(inputs)} file(s)" for name, inputs in sources.items())
        raise EmptyDatasetError(
            f"{raw_dir}: the exports hold no messages ({read}); there is nothing to analyse. "
            f"Export the chat history again with the date range that holds the conversation."
        )
    _count_outsiders(combined)
    return combined.validated(source=str(raw_dir))


class EmptyDatasetError(ValueError):
    """A dataset's exports were read correctly but hold no message at all."""


def _customers_platform(path: Path, default: str) -> str:
    """The platform named by ``customers.csv``'s ``<platform>_user_id`` column."""
    columns = list(read_text_table(path).columns)
    if f"{default}_user_id" in columns:
        return default
    named = [c[: -len("_user_id")] for c in columns if c.endswith("_user_id") and c != "_user_id"]
    if len(named) == 1:
        return named[0]
    raise CsvFormatError(
        f"{path}: expected exactly one column '<platform>_user_id' (e.g. '{default}_user_id'), "
        f"found {columns}."
    )


def _with_sidecars(tables: Tables, folder: Path, pseudonymizer: Pseudonymizer, platform: str):
    """``tables`` plus ``customers``, ``orders`` and ``assignments`` from the CSVs beside them."""
    frames = dict(tables.items())
    provenance = dict(tables.provenance)
    if (folder / "customers.csv").is_file():
        path = folder / "customers.csv"
        frames["customers"] = read_customers(
            path, pseudonymizer=pseudonymizer, platform=_customers_platform(path, platform)
        )
        provenance["customers.member_id"] = "observed"
    if (folder / "orders.csv").is_file():
        frames["orders"] = read_orders(folder / "orders.csv")
        provenance["orders.amount"] = "observed"
    if (folder / "assignments.csv").is_file():
        frames["assignments"] = read_assignments(
            folder / "assignments.csv", pseudonymizer=pseudonymizer, platform=platform
        )
        provenance["assignments.unit_id"] = "observed"
    return Tables(**frames, provenance=provenance)


def _count_outsiders(tables: Tables) -> None:
    """Provenance counts of customers and assigned units who are not community members."""
    known = set(tables.members["member_id"])
    if tables.customers is not None:
        linked = tables.customers["member_id"].dropna()
        tables.provenance["customers.member_id.not_in_members_n"] = str(
            int((~linked.isin(known)).sum())
        )
    if tables.assignments is not None:
        outside = int((~tables.assignments["unit_id"].isin(known)).sum())
        tables.provenance["assignments.unit_id.not_in_members_n"] = str(outside)
