"""The heavy graph runs of the study's igraph path in forked worker processes, started at once.

igraph's Leiden and betweenness are single-threaded C. At a million members the Leiden runs
(≈ 25 CPU s each), the betweenness pivots (≈ 0.7 CPU s each) and the triangle metrics
(clustering, Burt's constraint; ≈ 18 CPU s) are most of the graph work, and none of them needs
anything but the graph (nor do the core members and the bridges). :class:`GraphLanes` forks
``processes`` workers
(POSIX ``fork``: the graph arrays and the igraph objects built before are shared copy-on-write,
nothing is pickled on the way in), hands them every run as a task — the longest first, the
pivot groups one per task so that the workers finish together — and returns immediately; the
caller (the study) meanwhile runs its engine queries and the cheaper graph metrics, and asks
for each result when it needs it (:meth:`GraphLanes.get`). The wall time is then about the
larger of the two lanes instead of their sum.

Each task is a pure function of the graph and its arguments (Leiden draws from its own
``random.Random(seed)``; a pivot group's raw dependency sums from igraph), so a worker returns
exactly what the same call returns in the parent: with ``processes=1`` the tasks run in the
parent, lazily, and the study's results are identical either way (tested,
``tests/unit/test_network_fast_lanes.py``). Results come back as numpy arrays (labels, raw
dependency sums) and floats.

Not in a worker: anything that runs OpenMP (igraph's PageRank, PRPACK). GNU OpenMP cannot run
in a forked child once the parent has used it — the child waits forever — so such calls stay
in the parent (a test runs the workers after the parent has computed PageRank).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from analysis.network.fast_betweenness import group_raw
from analysis.network.fast_graph import FastGraph
from analysis.network.fast_leiden import _leiden_labels, fast_modularity

__all__ = ["CallTask", "GraphLanes", "LeidenTask", "PivotTask"]

_FORKED: dict[str, Any] = {}


class LeidenTask:
    """Leiden (``fast_leiden._leiden_labels``, igraph, modularity, resolution 1) on an
    undirected weighted :class:`FastGraph`; the result is ``(labels, modularity)``."""

    def __init__(self, und: FastGraph, seed: int, n_iterations: int) -> None:
        self.und, self.seed, self.n_iterations = und, int(seed), int(n_iterations)

    def __call__(self) -> tuple[np.ndarray, float]:
        und = self.und
        if und.n_edges == 0:
            labels = np.arange(und.n_nodes, dtype=np.int64)
        else:
            labels = _leiden_labels(und, self.seed, 1.0, "igraph", self.n_iterations)
        return labels, fast_modularity(und, labels, 1.0)

    def prepare(self) -> None:
        if self.und.n_edges:
            _ = self.und.igraph


class PivotTask:
    """The raw dependency sums of one group of betweenness sources (``None`` = all) on an
    undirected :class:`FastGraph` (:func:`~analysis.network.fast_betweenness.group_raw`)."""

    def __init__(self, und: FastGraph, group: list[int] | None) -> None:
        self.und, self.group = und, group

    def __call__(self) -> np.ndarray:
        return group_raw(self.und.igraph, self.und.directed, self.group)

    def prepare(self) -> None:
        _ = self.und.igraph


class CallTask:
    """Any pure function of the graph: ``fn(*args)`` (e.g. the triangle metrics, the core
    members, the bridges; nothing that runs OpenMP, module docstring); nothing is built before
    the fork."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __call__(self) -> Any:
        return self.fn(*self.args)

    def prepare(self) -> None:
        pass


def _run(key: Hashable) -> Any:
    return _FORKED["tasks"][key]()


class GraphLanes:
    """Tasks started in ``processes`` forked workers (module docstring); results by key.

    Parameters
    ----------
    tasks : mapping of key to task
        :class:`LeidenTask` / :class:`PivotTask` objects (any object with ``__call__()`` and
        ``prepare()``), submitted in the mapping's order: put the longest first.
    processes : int
        Worker processes; ``≤ 1`` runs each task in this process when its result is asked for.
    """

    def __init__(self, tasks: Mapping[Hashable, Any], processes: int) -> None:
        self._tasks = dict(tasks)
        self._results: dict[Hashable, Any] = {}
        self._pending: dict[Hashable, Any] = {}
        self._pool: Any = None
        if processes > 1 and len(self._tasks) > 1:
            for task in self._tasks.values():
                task.prepare()  # igraph objects built once, before the fork, shared by all
            _FORKED["tasks"] = self._tasks
            try:
                self._pool = mp.get_context("fork").Pool(min(processes, len(self._tasks)))
            finally:
                _FORKED.clear()
            self._pending = {key: self._pool.apply_async(_run, (key,)) for key in self._tasks}
            self._pool.close()

    def get(self, key: Hashable) -> Any:
        """The result of task ``key`` (waits for its worker, or runs it here)."""
        if key not in self._results:
            if key in self._pending:
                self._results[key] = self._pending.pop(key).get()
            else:
                self._results[key] = self._tasks[key]()
        return self._results[key]

    def close(self) -> None:
        """Wait for the workers to exit (every result must have been fetched or is dropped)."""
        if self._pool is not None:
            if self._pending:
                self._pool.terminate()
            self._pool.join()
            self._pool = None
        self._pending.clear()

    def __enter__(self) -> GraphLanes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
