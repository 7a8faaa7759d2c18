"""Run several health metrics of one community at once, on two connections to its database.

Each metric is a chain of engine queries with single-core stretches between them (a query's
last sort or write, Python turning a result into pandas and computing exact quantiles). Run one
after another on a two-core machine, such a stretch leaves a core idle. :func:`run_concurrently`
runs independent metric calls on a small pool of threads, each with its own connection to the
community's DuckDB database (:func:`analysis.engine_threads.worker_engine`), so the calls' queries
run side by side, one per core (see *Engine threads*), and no core waits for the other call's
Python. The results are the same objects, with the same numbers, as calling them one by one:
engine tables that several metrics share are built once (:func:`analysis.health.engine_cache.memo`
makes a thread wait for a table another thread is building).

Engine threads
    While the calls run, the database's thread count is divided among the workers (DuckDB
    ``threads``, default = cores, becomes ``max(1, threads // workers)``; restored afterwards):
    with two workers on two cores, each statement runs on one core and the two statements run
    side by side, instead of each statement splitting into two and the four pieces competing
    for the two cores. Parallel hash aggregates and joins merge per-thread partial tables, work
    a single-threaded statement does not do. Measured on the 10M-message benchmark data, the
    whole health set run one call after another used 3–9 s (6–17%) less CPU with one engine
    thread than with two, in three alternating pairs of runs (wall times on this shared
    virtual machine vary too much to show the difference in a single run). A statement another
    thread sends to the same database meanwhile runs with the divided count too.

Order
    Calls start in the order given, each on the next free worker. Put first the call at the
    head of the longest chain of shared tables, and right after it calls that do not wait for
    that chain (a worker waiting for a table another is building leaves its core idle).

On engines other than DuckDB (Spark schedules its own jobs) and with ``workers=1`` the calls run
one after another in the calling thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from analysis.data import Community
from analysis.engine_threads import supports_worker_engines, worker_engine

__all__ = ["run_concurrently"]

T = TypeVar("T")


def run_concurrently(
    community: Community, calls: Sequence[Callable[[], T]], *, workers: int = 2
) -> list[T]:
    """The results of ``calls`` (functions of no argument that query ``community``), in order.

    The calls start in the given order (put the longest first) on ``workers`` threads, each
    call on its own connection to the community's DuckDB database. The
    calls must not depend on each other's results (they may share engine tables through
    :func:`analysis.health.engine_cache.memo`). If a call raises, the calls not yet started are
    cancelled and its exception is raised here (after the running ones finish).

    Parameters
    ----------
    community : Community
        Whose engine the calls use (every community sharing its backend, such as
        :meth:`Community.window` views of it, runs on the threads' connections too).
    calls : sequence of callables
    workers : int
        Threads (default 2, one per core of the machine the benchmarks target); 1 runs the calls
        one after another in this thread.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    backend = community.backend
    if workers == 1 or len(calls) <= 1 or not supports_worker_engines(backend):
        return [call() for call in calls]

    def run(call: Callable[[], T]) -> T:
        with worker_engine(backend):
            return call()

    with (
        _engine_threads_divided(backend, workers),
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health") as pool,
    ):
        futures = [pool.submit(run, call) for call in calls]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and f.exception() is not None]
        if failed:
            for f in futures:
                f.cancel()
            raise failed[0].exception()  # type: ignore[misc]
        return [f.result() for f in futures]


@contextlib.contextmanager
def _engine_threads_divided(backend: Any, workers: int) -> Iterator[None]:
    """DuckDB's ``threads`` setting divided by ``workers`` (at least 1) inside, restored after."""
    con = backend.con
    before = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    con.execute(f"SET threads = {max(1, before // workers)}")
    try:
        yield
    finally:
        con.execute(f"SET threads = {before}")
