"""Per-community memo of engine-side intermediate tables shared by several health metrics.

The thread metrics (:mod:`analysis.health.responsiveness`, :mod:`analysis.health.discussion`,
:mod:`analysis.health.shares`) all read the same per-thread table; building it is the expensive
part (joins of messages with members and with themselves, a window function). :func:`memo`
computes such a value once per community and key and hands the same object to every later caller:
typically an ibis table materialised on the engine with ``Table.cache()`` (a table on DuckDB, a
cached DataFrame on Spark, see https://ibis-project.org/reference/expression-tables#cache), or a
small scalar result. :func:`materialise` is that ``cache()``, with the table on DuckDB created
and dropped by this module (``CREATE TABLE`` / ``DROP TABLE``): ibis 12's own release of a
cached DuckDB table renders ``DROP TABLE IF EXISTS`` without the table's name under sqlglot 30,
so it fails and the table would stay in memory until the connection closes. The table is an
ordinary table of the in-memory database rather than a temporary one, so that the connections
of several threads see it (:mod:`analysis.engine_threads`).

Lifetime and identity
    Entries live as long as the :class:`~analysis.data.Community` object: they are dropped when it
    is garbage collected (``weakref.finalize``), which releases the engine's cached tables. A key
    also holds the identity of the community's ``messages`` and ``members`` tables, so a community
    whose tables are replaced in place (or a new one from :meth:`Community.window` /
    :meth:`Community.with_staff`, which are new objects) never sees a stale entry.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from analysis.data import Community

__all__ = ["bound_to", "clear", "materialise", "memo"]

T = TypeVar("T")
_STORE: dict[int, dict[Hashable, Any]] = {}
_BUILDING: dict[tuple[int, Hashable], threading.Lock] = {}
_GUARD = threading.RLock()


def _table_ids(community: Community) -> tuple[int, ...]:
    return tuple(id(community.tables.get(name)) for name in ("messages", "members", "reactions"))


def memo(community: Community, key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` computed once per ``(community, key)``; later calls return the same object.

    ``key`` must identify everything ``build`` depends on besides the community's tables (e.g.
    the metric options ``include_staff``, ``include_bots``, ``reply_sources``).

    Safe to call from several threads (:func:`analysis.health.concurrent.run_concurrently`): a
    thread asking for a value another thread is building waits for it instead of building it
    again (one lock per key; builds call ``memo`` for their inputs only, so the waits never form
    a cycle).
    """
    cid = id(community)
    full_key = (key, _table_ids(community))
    with _GUARD:
        entry = _STORE.get(cid)
        if entry is None:
            entry = {}
            _STORE[cid] = entry
            weakref.finalize(community, _forget, cid)
        if full_key in entry:
            return entry[full_key]
        lock = _BUILDING.setdefault((cid, full_key), threading.Lock())
    with lock:
        with _GUARD:
            if full_key in entry:
                return entry[full_key]
        value = build()
        with _GUARD:
            entry[full_key] = value
            _BUILDING.pop((cid, full_key), None)
        return value


def _forget(cid: int) -> None:
    with _GUARD:
        _STORE.pop(cid, None)
        for k in [k for k in _BUILDING if k[0] == cid]:
            _BUILDING.pop(k, None)


def clear(community: Community | None = None) -> None:
    """Forget the memo of one community (all communities when ``None``)."""
    with _GUARD:
        if community is None:
            _STORE.clear()
        else:
            _STORE.pop(id(community), None)


def _drop_duckdb_table(backend: Any, name: str) -> None:
    # on a connection of its own: the garbage collector may run this in any thread, while
    # another thread uses the backend's connection (analysis.engine_threads); the database
    # may already be closed (interpreter exit)
    with contextlib.suppress(Exception):
        cursor = backend.con.cursor()
        try:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
        finally:
            cursor.close()


def bound_to(expr: Any, backend: Any) -> bool:
    """Whether ibis runs ``expr`` on ``backend`` itself (not on its default engine)."""
    try:
        return expr._find_backend(use_default=False) is backend
    except Exception:  # no table of a backend in the expression (in-memory tables only)
        return False


def materialise(community: Community, expr: Any) -> Any:
    """``expr`` computed now and stored on the engine; the returned ibis table reads the result.

    DuckDB: a table of the community's in-memory database (an ordinary one, so that every
    connection to the database sees it, :mod:`analysis.engine_threads`), written through this
    thread's connection (:meth:`Community.engine`) and dropped when the last expression built
    on it is garbage collected. Other engines: ibis ``Table.cache()`` (Spark: a cached
    DataFrame, unpersisted when released) — except for an expression over in-memory tables only
    (:meth:`Community.from_tables` on an engine without temporary tables), which ibis binds to
    no engine, so that ``cache()`` would store it on ibis's default engine instead: such an
    expression is returned as it is and recomputed by each query (small data by construction).
    """
    backend = community.backend
    if getattr(backend, "name", "") != "duckdb":
        return expr.cache() if bound_to(expr, backend) else expr
    name = f"_wb_cache_{uuid.uuid4().hex}"
    table = community.engine().create_table(name, expr, temp=False)
    weakref.finalize(table.op(), _drop_duckdb_table, backend, name)
    return table
