"""Per-community memo of engine-side intermediate tables shared by several health metrics.

The thread metrics (:mod:`analysis.health.responsiveness`, :mod:`analysis.health.discussion`,
:mod:`analysis.health.shares`) all read the same per-thread table; building it is the expensive
part (joins of messages with members and with themselves, a window function). :func:`memo`
computes such a value once per community and key and hands the same object to every later caller:
typically an ibis table materialised on the engine with ``Table.cache()`` (a temporary table on
DuckDB, a cached DataFrame on Spark, see https://ibis-project.org/reference/expression-tables#cache),
or a small scalar result. :func:`materialise` is that ``cache()``, with the temporary table on
DuckDB created and dropped by this module (``CREATE TEMP TABLE`` / ``DROP TABLE``): ibis 12's
own release of a cached DuckDB table renders ``DROP TABLE IF EXISTS`` without the table's name
under sqlglot 30, so it fails and the table would stay in memory until the connection closes.

Lifetime and identity
    Entries live as long as the :class:`~analysis.data.Community` object: they are dropped when it
    is garbage collected (``weakref.finalize``), which releases the engine's cached tables. A key
    also holds the identity of the community's ``messages`` and ``members`` tables, so a community
    whose tables are replaced in place (or a new one from :meth:`Community.window` /
    :meth:`Community.with_staff`, which are new objects) never sees a stale entry.
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from analysis.data import Community

__all__ = ["clear", "materialise", "memo"]

T = TypeVar("T")
_STORE: dict[int, dict[Hashable, Any]] = {}


def _table_ids(community: Community) -> tuple[int, ...]:
    return tuple(id(community.tables.get(name)) for name in ("messages", "members", "reactions"))


def memo(community: Community, key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` computed once per ``(community, key)``; later calls return the same object.

    ``key`` must identify everything ``build`` depends on besides the community's tables (e.g.
    the metric options ``include_staff``, ``include_bots``, ``reply_sources``).
    """
    cid = id(community)
    entry = _STORE.get(cid)
    if entry is None:
        entry = {}
        _STORE[cid] = entry
        weakref.finalize(community, _STORE.pop, cid, None)
    full_key = (key, _table_ids(community))
    if full_key not in entry:
        entry[full_key] = build()
    return entry[full_key]


def clear(community: Community | None = None) -> None:
    """Forget the memo of one community (all communities when ``None``)."""
    if community is None:
        _STORE.clear()
    else:
        _STORE.pop(id(community), None)


def _drop_duckdb_table(backend: Any, name: str) -> None:
    # the connection may already be closed (interpreter exit)
    with contextlib.suppress(Exception):
        backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"')


def _bound_to(expr: Any, backend: Any) -> bool:
    """Whether ibis runs ``expr`` on ``backend`` itself (not on its default engine)."""
    try:
        return expr._find_backend(use_default=False) is backend
    except Exception:  # no table of a backend in the expression (in-memory tables only)
        return False


def materialise(community: Community, expr: Any) -> Any:
    """``expr`` computed now and stored on the engine; the returned ibis table reads the result.

    DuckDB: a temporary table, dropped when the last expression built on it is garbage
    collected. Other engines: ibis ``Table.cache()`` (Spark: a cached DataFrame, unpersisted
    when released) — except for an expression over in-memory tables only
    (:meth:`Community.from_tables` on an engine without temporary tables), which ibis binds to
    no engine, so that ``cache()`` would store it on ibis's default engine instead: such an
    expression is returned as it is and recomputed by each query (small data by construction).
    """
    backend = community.backend
    if getattr(backend, "name", "") != "duckdb":
        return expr.cache() if _bound_to(expr, backend) else expr
    name = f"_wb_cache_{uuid.uuid4().hex}"
    table = backend.create_table(name, expr, temp=True)
    weakref.finalize(table.op(), _drop_duckdb_table, backend, name)
    return table
