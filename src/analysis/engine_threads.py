"""Several threads querying one DuckDB database at once, each on its own connection.

A DuckDB connection runs one statement at a time (a second thread calling it gets "connection
is busy"), but one database serves any number of connections at once: ``cursor()`` opens
another connection to the same database (https://duckdb.org/docs/stable/guides/python/multiple_threads).
Statements running on two connections share the database's worker threads, so while one of
them is in a phase that keeps a single core busy (a final sort, a table being written, Python
turning its result into pandas), the other one's work runs on the idle core.

:func:`worker_engine` gives the calling thread such a connection for one backend: inside it,
:meth:`analysis.data.Community.engine` (what ``Community.execute`` and the stored tables of
:mod:`analysis.health.engine_cache` use) returns an ibis backend on that connection instead of
the community's own. Everything those connections need must be visible to all of them, so the
views and stored tables of a community on DuckDB are ordinary (not ``TEMP``) objects of its
in-memory database (:meth:`analysis.data.Community.load`,
:meth:`~analysis.data.Community.from_tables`, :func:`analysis.health.engine_cache.materialise`);
they are named with a random suffix and live as long as the database, like temporary objects.
Session settings (the ``TimeZone``) are set on every new connection.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import ibis

__all__ = ["current_engine", "supports_worker_engines", "worker_engine"]

_LOCAL = threading.local()


def supports_worker_engines(backend: Any) -> bool:
    """Whether :func:`worker_engine` can open connections to ``backend``'s database (DuckDB)."""
    return getattr(backend, "name", "") == "duckdb" and hasattr(
        getattr(backend, "con", None), "cursor"
    )


def current_engine(backend: Any) -> Any:
    """The backend this thread runs ``backend``'s expressions on: its worker connection inside
    :func:`worker_engine`, else ``backend`` itself."""
    overrides = getattr(_LOCAL, "overrides", None)
    if not overrides:
        return backend
    return overrides.get(id(backend), backend)


@contextlib.contextmanager
def worker_engine(backend: Any) -> Iterator[Any]:
    """In this thread, run ``backend``'s expressions on a new connection to its database.

    Yields the ibis backend on that connection (``ibis.duckdb.from_connection``), with the
    session time zone set to UTC as :func:`analysis.engines.duckdb_backend` sets it. On engines
    other than DuckDB it yields ``backend`` and changes nothing.
    """
    if not supports_worker_engines(backend):
        yield backend
        return
    cursor = backend.con.cursor()
    cursor.execute("SET TimeZone = 'UTC'")
    worker = ibis.duckdb.from_connection(cursor)
    overrides = getattr(_LOCAL, "overrides", None)
    if overrides is None:
        overrides = _LOCAL.overrides = {}
    previous = overrides.get(id(backend))
    overrides[id(backend)] = worker
    try:
        yield worker
    finally:
        if previous is None:
            overrides.pop(id(backend), None)
        else:
            overrides[id(backend)] = previous
