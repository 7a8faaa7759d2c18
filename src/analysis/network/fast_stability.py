"""Leiden stability across seeds on a :class:`~analysis.network.fast_graph.FastGraph`.

:func:`analysis.network.communities.community_stability` defines it: Leiden (the partition of
:func:`~analysis.network.fast_metrics.fast_leiden`) once per seed, the modularity of each run,
and the adjusted Rand index (Hubert & Arabie 1985) between every pair of runs. Here

* the runs are spread over forked processes (igraph's Leiden is single-threaded; each seed
  draws from its own ``random.Random(seed)``, so a run gives the same partition in any process);
* a run already made (e.g. seed-0 communities) is passed in ``known`` and not repeated;
* the ARI is computed from the sparse contingency table (the distinct label pairs and their
  counts): at a million members Leiden returns tens of thousands of communities (every small
  component is one), and the dense table of
  :func:`~analysis.network.communities.adjusted_rand_index` would need gigabytes.

Tested equal to the sequential runs and to ``adjusted_rand_index`` (``tests/unit``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from analysis.network.communities import Communities, CommunityStability, stability_result
from analysis.network.fast_graph import FastGraph
from analysis.network.fast_leiden import _leiden_labels, _view, fast_modularity

__all__ = ["ari", "fast_community_stability"]

_FORKED: dict[str, Any] = {}


def _pairs2(x: np.ndarray) -> float:
    x = x.astype(float)
    return float((x * (x - 1) / 2).sum())


def ari(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Adjusted Rand index of two integer labelings (the formula and the conventions of
    :func:`analysis.network.communities.adjusted_rand_index`), from the sparse contingency
    table: ``n_ij`` = counts of the distinct ``(a, b)`` label pairs."""
    a = np.asarray(labels_a)
    b = np.asarray(labels_b)
    if len(a) != len(b):
        raise ValueError(f"labelings have different lengths: {len(a)} and {len(b)}")
    n = len(a)
    if n < 2:
        return 1.0
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    _, n_ij = np.unique(ia.astype(np.int64) * (int(ib.max()) + 1) + ib, return_counts=True)
    sum_ij = _pairs2(n_ij)
    sum_a = _pairs2(np.bincount(ia))
    sum_b = _pairs2(np.bincount(ib))
    expected = sum_a * sum_b / (n * (n - 1) / 2)
    top = (sum_a + sum_b) / 2 - expected
    if top == 0:
        return 1.0
    return float((sum_ij - expected) / top)


def _run(seed: int) -> tuple[np.ndarray, float]:
    und, resolution, implementation, n_iterations = (
        _FORKED["und"],
        _FORKED["resolution"],
        _FORKED["implementation"],
        _FORKED["n_iterations"],
    )
    if und.n_edges == 0:
        labels = np.arange(und.n_nodes, dtype=np.int64)
    else:
        labels = _leiden_labels(und, seed, resolution, implementation, n_iterations)
    return labels, fast_modularity(und, labels, resolution)


def fast_community_stability(
    graph: FastGraph,
    seeds: Iterable[int] = range(10),
    *,
    resolution: float = 1.0,
    weight: str | None = "weight",
    implementation: str = "igraph",
    n_iterations: int = -1,
    known: Mapping[int, Communities] | None = None,
    processes: int = 1,
) -> CommunityStability:
    """:func:`analysis.network.communities.community_stability` on a :class:`FastGraph`.

    Parameters
    ----------
    graph : FastGraph
    seeds : iterable of int
        One Leiden run per seed (:func:`~analysis.network.fast_metrics.fast_leiden` with
        ``resolution``, ``weight``, ``implementation``, ``n_iterations``).
    known : mapping of seed to Communities, optional
        Runs already made with these very options on this graph (not repeated).
    processes : int
        Forked processes (POSIX) the remaining runs are spread over.

    Returns
    -------
    CommunityStability
        Modularity per seed, mean and minimum pairwise ARI, the seed of the best modularity.
    """
    seeds = tuple(int(s) for s in seeds)
    known = dict(known or {})
    und = _view(graph, weight)
    names = und.names.tolist()
    results: dict[int, tuple[np.ndarray, float]] = {}
    for s in seeds:
        if s in known:
            part = known[s].partition
            results[s] = (
                np.fromiter((part[v] for v in names), np.int64, len(names)),
                known[s].modularity,
            )
    todo = [s for s in dict.fromkeys(seeds) if s not in results]
    _FORKED.update(
        und=und, resolution=resolution, implementation=implementation, n_iterations=n_iterations
    )
    try:
        if processes > 1 and len(todo) > 1:
            import multiprocessing as mp

            if und.n_edges:
                _ = und.igraph  # built once, before the fork, and shared by the children
            with mp.get_context("fork").Pool(min(processes, len(todo))) as pool:
                runs = pool.map(_run, todo, chunksize=1)
        else:
            runs = [_run(s) for s in todo]
    finally:
        _FORKED.clear()
    results.update(zip(todo, runs, strict=True))
    labels = [results[s][0] for s in seeds]
    aris = [ari(a, b) for a, b in itertools.combinations(labels, 2)]
    return stability_result(seeds, tuple(float(results[s][1]) for s in seeds), aris)
