"""Platform exports → canonical tables (:mod:`analysis.schema`).

One adapter per format; each returns validated :class:`analysis.schema.Tables` and never writes
anything (raw data is immutable). :func:`ingest_raw_dir` reads a whole dataset folder::

    data/raw/<name>/
        telegram/*.json              Telegram Desktop exports (or result.json anywhere below)
        members.csv                  optional roster: user_id, source, referred_by, role
        customers.csv                optional: customer_id, telegram_user_id, signed_up_at
        orders.csv                   optional: order_id, customer_id, ordered_at, amount, currency
        assignments.csv              optional: experiment_id, unit_id, variant, assigned_at,
                                     cluster_id

The CSV formats are documented in :mod:`analysis.ingest.crm`, the Telegram mapping in
:mod:`analysis.ingest.telegram`. All ingest errors are :class:`ValueError` subclasses (or
:class:`FileNotFoundError`) whose message names the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.ingest.crm import (
    CsvFormatError,
    normalize_user_id,
    read_assignments,
    read_customers,
    read_orders,
    read_roster,
)
from analysis.ingest.telegram import (
    TelegramExportError,
    find_export_file,
    read_telegram_export,
    read_telegram_exports,
)
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = [
    "source_files",
    "CsvFormatError",
    "TelegramExportError",
    "find_export_file",
    "find_telegram_exports",
    "ingest_raw_dir",
    "normalize_user_id",
    "read_assignments",
    "read_customers",
    "read_orders",
    "read_roster",
    "read_telegram_export",
    "read_telegram_exports",
]

_TELEGRAM_DIR = "telegram"


def find_telegram_exports(raw_dir: str | os.PathLike) -> list[Path]:
    """The Telegram export files of a dataset folder, sorted.

    ``<raw_dir>/telegram/*.json`` plus every ``result.json`` anywhere below ``telegram/`` (the
    folder layout Telegram Desktop writes: ``ChatExport_2024-05-01/result.json``).
    """
    base = Path(raw_dir) / _TELEGRAM_DIR
    if not base.is_dir():
        return []
    found = {p.resolve() for p in base.glob("*.json") if p.is_file()}
    found |= {p.resolve() for p in base.rglob("result.json") if p.is_file()}
    return sorted(found)


SIDECAR_FILES = ("members.csv", "customers.csv", "orders.csv", "assignments.csv")


def source_files(raw_dir: str | os.PathLike) -> list[Path]:
    """The files of a raw dataset folder that :func:`ingest_raw_dir` reads (for the manifest)."""
    raw_dir = Path(raw_dir)
    sidecars = [raw_dir / name for name in SIDECAR_FILES if (raw_dir / name).is_file()]
    return [*find_telegram_exports(raw_dir), *sidecars]


def ingest_raw_dir(
    raw_dir: str | os.PathLike,
    *,
    pseudonymizer: Pseudonymizer | None = None,
    assume_timezone: str | None = None,
) -> Tables:
    """Read a dataset folder ``data/raw/<name>/`` into one validated :class:`Tables`.

    Parameters
    ----------
    raw_dir : path-like
        The dataset folder (layout in the module docstring).
    pseudonymizer : Pseudonymizer, optional
        Defaults to ``Pseudonymizer()``: the key from ``WORKBENCH_PSEUDONYM_KEY`` or the
        project's git-ignored key file (created on first use; the only file this may write, and
        never inside ``raw_dir``).
    assume_timezone : str, optional
        Zone of the computer that made old Telegram exports without ``date_unixtime``; see
        :func:`analysis.ingest.telegram.read_telegram_export`.

    Returns
    -------
    Tables
        ``members``, ``messages``, ``channels``, ``reactions`` and, when their files exist,
        ``customers``, ``orders``, ``assignments``; validated together (links checked). Provenance
        adds ``customers.member_id.not_in_members_n`` and ``assignments.unit_id.not_in_members_n``
        (people in the CRM or an experiment who never appear in the export — expected for
        non-members and for assigned members who never posted).

    Raises
    ------
    FileNotFoundError
        ``raw_dir`` does not exist or holds no Telegram export.
    ValueError
        A file is malformed (:class:`TelegramExportError`, :class:`CsvFormatError`) or the tables
        break the data contract (:class:`analysis.schema.SchemaValidationError`).
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such dataset folder.")
    exports = find_telegram_exports(raw_dir)
    if not exports:
        raise FileNotFoundError(
            f"{raw_dir}: no community export found; looked for "
            f"{raw_dir / _TELEGRAM_DIR}/*.json and result.json files anywhere under "
            f"{raw_dir / _TELEGRAM_DIR}/ (Telegram Desktop: Export chat history → JSON)."
        )
    pseudonymizer = pseudonymizer if pseudonymizer is not None else Pseudonymizer()
    roster_path = raw_dir / "members.csv"
    roster = read_roster(roster_path) if roster_path.is_file() else None
    tables = read_telegram_exports(
        exports, pseudonymizer=pseudonymizer, roster=roster, assume_timezone=assume_timezone
    )
    provenance = dict(tables.provenance)
    known = set(tables.members["member_id"])

    customers = orders = assignments = None
    if (raw_dir / "customers.csv").is_file():
        customers = read_customers(raw_dir / "customers.csv", pseudonymizer=pseudonymizer)
        linked = customers["member_id"].dropna()
        provenance["customers.member_id"] = "observed"
        provenance["customers.member_id.not_in_members_n"] = str(int((~linked.isin(known)).sum()))
    if (raw_dir / "orders.csv").is_file():
        orders = read_orders(raw_dir / "orders.csv")
        provenance["orders.amount"] = "observed"
    if (raw_dir / "assignments.csv").is_file():
        assignments = read_assignments(raw_dir / "assignments.csv", pseudonymizer=pseudonymizer)
        outside = int((~assignments["unit_id"].isin(known)).sum())
        provenance["assignments.unit_id"] = "observed"
        provenance["assignments.unit_id.not_in_members_n"] = str(outside)

    combined = Tables(
        members=tables.members,
        messages=tables.messages,
        channels=tables.channels,
        reactions=tables.reactions,
        customers=customers,
        orders=orders,
        assignments=assignments,
        provenance=provenance,
    )
    return combined.validated(source=str(raw_dir))
