"""Processed datasets on disk and the :class:`Community` handle the studies compute on.

A processed dataset is a folder ``data/processed/<name>/`` holding one parquet file per canonical
table (:mod:`analysis.schema`) and ``manifest.json`` (sources with hashes, row counts, schema
version, which fields were observed or inferred). :func:`write_dataset` writes it atomically: the
whole folder is built beside the target and renamed into place, so a reader never sees half a
dataset and a crash leaves the previous dataset intact.

:class:`Community` holds the tables as ibis tables on an ibis backend — DuckDB in-process by
default, PySpark (or any ibis backend) when given one — so aggregations run on the engine and only
small results come back as pandas (https://ibis-project.org).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from analysis import config
from analysis.engine_threads import current_engine, supports_worker_engines
from analysis.engines import (  # re-exported: the engines a Community runs on
    check_utc,
    duckdb_backend,
    session_timezone,
    spark_backend,
)
from analysis.schema import SCHEMAS, Tables, ibis_schema, validate

MANIFEST = "manifest.json"


def package_version() -> str:
    """Installed version of the ``community-workbench`` distribution."""
    try:
        return _dist_version("community-workbench")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
        return "0+unknown"


def utc_timestamp(value: Any) -> pd.Timestamp:
    """A timestamp in UTC: naive values are read as UTC, aware ones converted.

    For user-given bounds such as ``"2024-03-01"``; data timestamps are always aware already.
    """
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def naive_utc(values: Any) -> pd.Series:
    """Engine timestamps as naive UTC ``datetime64[ns]`` pandas values.

    DuckDB returns aware timestamps (converted to UTC, then the zone dropped), Spark naive UTC
    ones (kept); both become the same values, as the health and network results store them.
    """
    s = pd.to_datetime(pd.Series(values))
    if s.dt.tz is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.astype("datetime64[ns]")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def replace_dir(staging: Path, target: Path) -> None:
    """Move a fully written ``staging`` folder to ``target``, replacing what was there.

    The old folder is renamed aside first and deleted only after the new one is in place, so at
    every instant ``target`` is either the old complete folder or the new complete one (two
    renames on one file system; a crash between them leaves the old folder beside it as
    ``.<name>.old-*``, which the next write removes).
    """
    target = Path(target)
    for stale in target.parent.glob(f".{target.name}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _time_range(tables: Tables) -> dict[str, str | None]:
    created = tables.messages["created_at"]
    if created.empty:
        return {"start": None, "end": None}
    return {"start": created.min().isoformat(), "end": created.max().isoformat()}


def write_dataset(
    tables: Tables,
    out_dir: str | os.PathLike[str],
    *,
    sources: Iterable[str | os.PathLike[str]] = (),
    previous_sources: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Validate ``tables`` and write them as a processed dataset, atomically.

    Parameters
    ----------
    tables : Tables
        Canonical tables (validated again here; invalid tables are never written).
    out_dir : path
        Target folder, usually ``data/processed/<name>``. Replaced as a whole.
    sources : paths
        Raw files the tables were read from; recorded in the manifest with their SHA-256.
    previous_sources : dicts
        Manifest ``sources`` entries of an earlier ingest whose tables ``tables`` extends (an
        incremental ingest, :mod:`analysis.ingest.incremental`); listed first, kept as recorded
        (the files may be gone), with an entry of the same path and hash as a new source listed
        once.

    Returns
    -------
    dict
        The manifest that was written.
    """
    out_dir = Path(out_dir).resolve()
    tables = tables.validated(source=str(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f".{out_dir.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        table_entries = {}
        for name, frame in tables.items():
            path = staging / f"{name}.parquet"
            # microseconds: DuckDB and Spark have no timezone-aware nanosecond type, and no
            # platform exports finer than that; truncation would raise, not round silently.
            frame.reset_index(drop=True).to_parquet(
                path, index=False, coerce_timestamps="us", allow_truncated_timestamps=False
            )
            table_entries[name] = {
                "file": path.name,
                "rows": int(len(frame)),
                "sha256": file_sha256(path),
            }
        source_entries = [dict(entry) for entry in previous_sources]
        for src in sources:
            src = Path(src).resolve()
            source_entries.append(
                {"path": str(src), "bytes": src.stat().st_size, "sha256": file_sha256(src)}
            )
        unique = {(e.get("path"), e.get("sha256")): e for e in source_entries}
        source_entries = list(unique.values())
        content_hash = hashlib.sha256(
            json.dumps({k: v["sha256"] for k, v in sorted(table_entries.items())}).encode()
        ).hexdigest()
        manifest = {
            "dataset": out_dir.name,
            "schema_version": config.SCHEMA_VERSION,
            "package_version": package_version(),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "content_hash": content_hash,
            "time_range": _time_range(tables),
            "tables": table_entries,
            "sources": source_entries,
            "provenance": dict(sorted(tables.provenance.items())),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def read_manifest(dataset: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``manifest.json`` of a processed dataset (a name under data/processed, or a path)."""
    path = config.dataset_dir(dataset) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no processed dataset here (manifest.json missing). Ingest one first, e.g. "
            f"`workbench ingest data/raw/<name>`, or run `workbench demo`."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def read_tables(dataset: str | os.PathLike[str]) -> Tables:
    """Read a processed dataset back as validated pandas :class:`Tables`."""
    root = config.dataset_dir(dataset)
    manifest = read_manifest(root)
    frames = {}
    for name, entry in manifest["tables"].items():
        frame = pd.read_parquet(root / entry["file"])
        frames[name] = validate(name, frame, source=str(root / entry["file"]))
    return Tables(**frames, provenance=manifest.get("provenance", {}))


def _read_parquet(backend: Any, path: Path, table_name: str) -> Any:
    """A parquet file as an ibis table: on DuckDB an ordinary view of the in-memory database
    (visible to every connection to it, :mod:`analysis.engine_threads`; ibis's
    ``read_parquet`` makes a temporary view, which only its own connection sees), elsewhere
    ibis's ``read_parquet``."""
    if not supports_worker_engines(backend):
        return backend.read_parquet(str(path), table_name=table_name)
    literal = "'" + str(path).replace("'", "''") + "'"
    backend.raw_sql(f'CREATE VIEW "{table_name}" AS SELECT * FROM read_parquet({literal})')
    return backend.table(table_name)


def _conform(table: Any, name: str) -> Any:
    """Cast a table read from parquet to the canonical ibis schema (same types on every engine)."""
    schema = ibis_schema(name)
    if table.schema() == schema:
        return table
    return table.select(**{col: table[col].cast(dtype) for col, dtype in schema.items()})


@dataclass
class Community:
    """A community's canonical tables as ibis tables on one engine.

    Build it with :meth:`load` (a processed dataset) or :meth:`from_tables` (pandas tables in
    memory, e.g. in tests). Studies take a ``Community`` and return result objects; they never
    read files.

    Attributes
    ----------
    backend : ibis backend
        Where expressions execute (DuckDB by default).
    tables : dict[str, ibis.Table]
        The canonical tables present in this dataset.
    manifest : dict
        The dataset's manifest (empty for in-memory communities).
    name : str
        Dataset name, used in report titles.
    """

    backend: Any
    tables: dict[str, Any]
    manifest: dict[str, Any]
    name: str = "community"

    @classmethod
    def load(cls, dataset: str | os.PathLike[str], *, backend: Any = None) -> Community:
        """Open a processed dataset (a name under ``data/processed`` or a folder path)."""
        root = config.dataset_dir(dataset)
        manifest = read_manifest(root)
        backend = backend if backend is not None else duckdb_backend()
        check_utc(backend)
        tables = {}
        for name, entry in manifest["tables"].items():
            table_name = f"{name}_{uuid.uuid4().hex[:8]}"
            tables[name] = _conform(_read_parquet(backend, root / entry["file"], table_name), name)
        return cls(backend=backend, tables=tables, manifest=manifest, name=manifest["dataset"])

    @classmethod
    def from_tables(
        cls, tables: Tables, *, backend: Any = None, name: str = "community"
    ) -> Community:
        """Put in-memory canonical tables on an engine (validated first)."""
        tables = tables.validated(source=f"<{name}>")
        backend = backend if backend is not None else duckdb_backend()
        check_utc(backend)
        registered = {}
        for table, frame in tables.items():
            memtable = ibis.memtable(frame.reset_index(drop=True), schema=ibis_schema(table))
            try:
                # DuckDB: an ordinary table of the in-memory database, visible to every
                # connection to it (analysis.engine_threads)
                registered[table] = backend.create_table(
                    f"{table}_{uuid.uuid4().hex[:8]}",
                    memtable,
                    temp=not supports_worker_engines(backend),
                )
            except NotImplementedError:
                # engines without temporary tables (PySpark) register the memtable themselves
                # (as a temporary view) when an expression uses it
                registered[table] = memtable
        manifest = {"dataset": name, "provenance": dict(tables.provenance)}
        return cls(backend=backend, tables=registered, manifest=manifest, name=name)

    def has(self, table: str) -> bool:
        """Whether the dataset has canonical table ``table``."""
        return table in self.tables

    def table(self, table: str) -> Any:
        """The ibis table ``table``; a clear error if this dataset lacks it."""
        if table not in self.tables:
            raise KeyError(
                f"dataset '{self.name}' has no '{table}' table (it has {sorted(self.tables)}); "
                f"add the corresponding file to the raw folder and ingest again."
            )
        return self.tables[table]

    @property
    def members(self) -> Any:
        return self.table("members")

    @property
    def messages(self) -> Any:
        return self.table("messages")

    def engine(self) -> Any:
        """The ibis backend this thread runs the community's expressions on: ``backend``, or,
        inside :func:`analysis.engine_threads.worker_engine`, this thread's own connection to
        the same DuckDB database."""
        return current_engine(self.backend)

    def execute(self, expr: Any) -> pd.DataFrame:
        """Run an ibis expression on this community's engine and return pandas."""
        result = self.engine().execute(expr)
        if isinstance(result, pd.DataFrame):
            return result
        return result

    def window(self, start: Any = None, end: Any = None) -> Community:
        """The same community with messages (and their reactions) limited to ``[start, end)``.

        Bounds are UTC (naive values are read as UTC); ``None`` leaves a side open. Reactions are
        kept when their message is inside the window and, where their time is known, they are
        too. Members,
        customers, orders and assignments are unchanged. Replies inside the window whose parent
        is before it keep their ``reply_to_id`` (a reference to a message outside the window,
        like any dangling reply), so response metrics count only threads that start inside it.
        """
        if start is None and end is None:
            return self
        tables = dict(self.tables)
        msgs = tables["messages"]
        if start is not None:
            msgs = msgs.filter(msgs.created_at >= utc_timestamp(start))
        if end is not None:
            msgs = msgs.filter(msgs.created_at < utc_timestamp(end))
        tables["messages"] = msgs
        if "reactions" in tables:
            reactions = tables["reactions"]
            reactions = reactions.semi_join(msgs, reactions.message_id == msgs.message_id)
            # a reaction with a known time must itself fall inside the window
            if start is not None:
                reactions = reactions.filter(
                    reactions.reacted_at.isnull() | (reactions.reacted_at >= utc_timestamp(start))
                )
            if end is not None:
                reactions = reactions.filter(
                    reactions.reacted_at.isnull() | (reactions.reacted_at < utc_timestamp(end))
                )
            tables["reactions"] = reactions
        if "mentions" in tables:
            mentions = tables["mentions"]
            tables["mentions"] = mentions.semi_join(msgs, mentions.message_id == msgs.message_id)
        return replace(self, tables=tables)

    def with_staff(self, member_ids: Any) -> Community:
        """The same community with these member ids (pseudonyms) also flagged as staff."""
        ids = [str(m) for m in member_ids]
        if not ids:
            return self
        tables = dict(self.tables)
        members = tables["members"]
        tables["members"] = members.mutate(is_staff=members.is_staff | members.member_id.isin(ids))
        return replace(self, tables=tables)

    def last_message_at(self) -> pd.Timestamp:
        """End of observation: the time of the last message (UTC); an error if there is none."""
        value = self.execute(self.messages.created_at.max())
        if value is None or pd.isna(value):
            raise ValueError(f"dataset '{self.name}' has no messages, so nothing is observed")
        return utc_timestamp(value)

    def provenance(self, field: str) -> str:
        """``observed`` / ``inferred`` / ... for a field such as ``messages.reply_to_id``."""
        return self.manifest.get("provenance", {}).get(field, "unknown")

    def content_hash(self) -> str:
        """Hash identifying the dataset's content (from the manifest)."""
        return self.manifest.get("content_hash", "in-memory")


__all__ = [
    "SCHEMAS",
    "Community",
    "atomic_write_text",
    "check_utc",
    "duckdb_backend",
    "file_sha256",
    "naive_utc",
    "package_version",
    "read_manifest",
    "read_tables",
    "replace_dir",
    "session_timezone",
    "spark_backend",
    "utc_timestamp",
    "write_dataset",
]
