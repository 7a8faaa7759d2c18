"""The scalable path of the network study: igraph graphs from the engine, metrics in C and numpy.

At a few thousand members the networkx path of this package is fine and stays the reference.
Beyond that, building a networkx graph edge by edge and running pure-Python algorithms on it
dominates (10 s for the reply graph alone at 10k members, minutes at 100k). This path keeps the
*definitions* and the *result objects* of the networkx modules and changes only how they are
computed:

fast_graph     :class:`~analysis.network.fast_graph.FastGraph`: sorted numpy edge arrays and
               an igraph graph, built from the engine's edge list in one call
fast_metrics   structure (triangles, clustering), k-cores, core members
fast_leiden    Leiden communities and their modularity (re-exported by fast_metrics)
fast_betweenness  betweenness from the same pivots as networkx, with its standard error
fast_stability Leiden across seeds (forked), sparse adjusted Rand index
fast_evolution the monthly network (``network_evolution``)
fast_brokers   Burt's constraint, participation, bridges, broker
               ranking, the graph part of staff dependency
fast_replies   one engine query for the reply graph, the newcomers' contacts and the monthly
               networks (member numbers, not id strings)
fast_lanes     the Leiden runs, betweenness pivots and triangle metrics in forked workers
               while the study runs its engine queries
fast (here)    the engine choice (:func:`choose_engine`), the overview with PageRank and the
               study's graph metrics (:func:`start_network_metrics` /
               :func:`fast_network_metrics`)

networkx is the oracle: ``tests/unit/test_network_fast.py`` and
``tests/validation/test_network_fast_validation.py`` check every number against the networkx
path on the same graphs (karate club, a seeded random directed weighted graph, the synthetic
community) within 1e-9, betweenness against the same pivots, Leiden against the same seed.

Engine choice
-------------
``engine="auto"`` (the default of :func:`analysis.network.network_study`) takes the igraph path
when the reply graph has more than :data:`AUTO_MAX_NODES` nodes or :data:`AUTO_MAX_EDGES`
edges, networkx otherwise; ``engine="igraph"`` or ``"networkx"`` forces one.

At scale
--------
From :data:`STABILITY_SCALE_EDGES` (2M) edges on, and unless the caller chooses, the study's
stability check runs seeds 0 and 1 only and every Leiden run makes one iteration
(:data:`LEIDEN_ITERATIONS_AT_SCALE`); the stability result states both in its ``method``.
Measured at 1M members / 10M messages (958k nodes, 6.78M edges): see ``benchmarks/network.py``.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.network.fast_brokers import (
    fast_betweenness,
    fast_bridges,
    fast_broker_ranking,
    fast_cluster_bridges,
    fast_constraint,
    fast_graph_dependency,
    fast_participation,
)
from analysis.network.fast_graph import (
    FastGraph,
    fast_graph,
    fast_interaction_graph,
    fast_reply_graph,
    from_networkx,
)
from analysis.network.fast_metrics import (
    clustering_of,
    components,
    fast_core_members,
    fast_innermost_core,
    fast_k_core_numbers,
    fast_leiden,
    fast_modularity,
    fast_structure,
    triangles,
)
from analysis.network.fast_stability import fast_community_stability
from analysis.network.reply import NetworkOverview

__all__ = [
    "AUTO_MAX_EDGES",
    "STABILITY_SCALE_EDGES",
    "STABILITY_SEEDS",
    "STABILITY_SEEDS_AT_SCALE",
    "PendingNetworkMetrics",
    "start_network_metrics",
    "stability_seeds",
    "LEIDEN_ITERATIONS",
    "LEIDEN_ITERATIONS_AT_SCALE",
    "AUTO_MAX_NODES",
    "PARALLEL_MIN_EDGES",
    "PROCESSES",
    "FastGraph",
    "GraphEngine",
    "choose_engine",
    "components",
    "fast_betweenness",
    "fast_bridges",
    "fast_broker_ranking",
    "fast_cluster_bridges",
    "fast_community_stability",
    "fast_constraint",
    "fast_core_members",
    "fast_graph",
    "fast_graph_dependency",
    "fast_innermost_core",
    "fast_interaction_graph",
    "fast_k_core_numbers",
    "fast_leiden",
    "fast_modularity",
    "fast_network_metrics",
    "fast_overview",
    "fast_pagerank",
    "fast_participation",
    "fast_reply_graph",
    "fast_structure",
    "from_networkx",
    "triangles",
]

GraphEngine = Literal["auto", "igraph", "networkx"]

#: Leiden iterations on the study's igraph path (``fast_leiden(n_iterations=...)``): iterating
#: until nothing changes (``-1``) takes minutes at 100k members and hours at 1M.
LEIDEN_ITERATIONS = 2
#: ... and from :data:`STABILITY_SCALE_EDGES` edges on, when the caller does not choose: one
#: iteration. At 1M members / 6.8M edges a run then takes ≈ 16 instead of ≈ 25 CPU s, for a
#: modularity of 0.1955 instead of 0.2016 (seed 0, 2026-11-21), small beside the disagreement
#: between seeds on such graphs (adjusted Rand index ≈ 0.03).
LEIDEN_ITERATIONS_AT_SCALE = 1

#: ``engine="auto"`` uses igraph above this many nodes ...
AUTO_MAX_NODES = 5_000
#: ... or above this many edges (the networkx path takes seconds per metric beyond).
AUTO_MAX_EDGES = 50_000


def choose_engine(engine: GraphEngine, n_nodes: int, n_edges: int) -> Literal["igraph", "networkx"]:
    """Resolve ``engine``: ``"auto"`` → igraph above :data:`AUTO_MAX_NODES` nodes or
    :data:`AUTO_MAX_EDGES` edges, else networkx; other values are returned as given."""
    if engine not in ("auto", "igraph", "networkx"):
        raise ValueError(f"engine must be 'auto', 'igraph' or 'networkx', got {engine!r}")
    if engine != "auto":
        return engine
    return "igraph" if n_nodes > AUTO_MAX_NODES or n_edges > AUTO_MAX_EDGES else "networkx"


def fast_pagerank(graph: FastGraph) -> np.ndarray:
    """Weighted PageRank of a directed :class:`FastGraph` (damping 0.85; igraph PRPACK), per
    vertex; the ranking of :func:`fast_overview`."""
    if graph.n_nodes == 0:
        return np.zeros(0)
    return np.asarray(
        graph.igraph.pagerank(damping=0.85, weights="weight", directed=True), dtype=float
    )


def fast_overview(
    graph: FastGraph, *, top_n: int = 10, rank: np.ndarray | None = None
) -> NetworkOverview:
    """:func:`analysis.network.reply.network_overview` on a directed :class:`FastGraph`.

    The same fields and definitions; PageRank (damping 0.85, weighted; Page et al. 1999) is
    igraph's PRPACK solver, which solves the linear system exactly where networkx iterates to
    a tolerance of 1e-6 per node, so values agree to about 1e-6, not 1e-9 (tested); dangling
    nodes spread their rank uniformly in both. ``rank``: :func:`fast_pagerank` of ``graph`` if
    already computed.
    """
    n = graph.n_nodes
    columns = ["member_id", "pagerank", "in_strength", "out_strength", "is_staff"]
    if n == 0:
        empty = pd.DataFrame({c: [] for c in columns})
        return NetworkOverview(0, 0, 0, 0.0, 0.0, 0.0, 0.0, empty)
    if rank is None:
        rank = fast_pagerank(graph)
    frame = pd.DataFrame(
        {
            "member_id": graph.names,
            "pagerank": rank,
            "in_strength": np.bincount(graph.dst, graph.weight, n),
            "out_strength": np.bincount(graph.src, graph.weight, n),
            "is_staff": graph.is_staff.astype(bool),
        }
    )
    # by PageRank, ties by member id (= vertex order): an integer sort of the top only
    top = frame.iloc[np.lexsort((np.arange(n), -rank))[:top_n]].reset_index(drop=True)
    total = float(graph.weight.sum())
    staff_weight = float(graph.weight[graph.is_staff[graph.src] | graph.is_staff[graph.dst]].sum())
    m = graph.n_edges
    und_pairs = graph.undirected().n_edges + int((graph.src == graph.dst).sum())
    giant = int(np.bincount(components(graph)).max())
    return NetworkOverview(
        n_nodes=n,
        n_edges=m,
        n_replies=int(total),
        density=float(m / (n * (n - 1))) if n > 1 else 0.0,
        reciprocity=float(2 * (m - und_pairs) / m) if m else 0.0,
        giant_share=giant / n,
        staff_edge_share=staff_weight / total if total else 0.0,
        top=top,
    )


#: Graphs with at least this many edges spread Leiden seeds and betweenness pivots over
#: :data:`PROCESSES` forked processes (below, forking costs more than it saves).
PARALLEL_MIN_EDGES = 200_000
#: Processes for large graphs (the target machine has 2 cores).
PROCESSES = min(2, os.cpu_count() or 1)


#: From this many (directed) edges the study's stability check runs Leiden with
#: :data:`STABILITY_SEEDS_AT_SCALE` only (≈ 25 CPU s per run at 6.8M edges) ...
STABILITY_SCALE_EDGES = 2_000_000
#: ... two runs, so one adjusted Rand index: still "stability across seeds", at half the cost.
STABILITY_SEEDS_AT_SCALE = (0, 1)
#: Below that, the default seeds of the stability check.
STABILITY_SEEDS = (0, 1, 2, 3)


def stability_seeds(n_edges: int) -> tuple[int, ...]:
    """Default Leiden seeds of the study's stability check for a graph of ``n_edges`` edges:
    :data:`STABILITY_SEEDS`, or :data:`STABILITY_SEEDS_AT_SCALE` from
    :data:`STABILITY_SCALE_EDGES` edges on."""
    return STABILITY_SEEDS_AT_SCALE if n_edges >= STABILITY_SCALE_EDGES else STABILITY_SEEDS


def _stability_method(seeds: tuple[int, ...], n_edges: int, n_iterations: int) -> str:
    if n_edges < STABILITY_SCALE_EDGES:
        return ""
    parts = []
    if seeds == STABILITY_SEEDS_AT_SCALE:
        parts.append(
            f"two seeds ({', '.join(map(str, seeds))}) instead of {len(STABILITY_SEEDS)}, so the "
            "agreement is one adjusted Rand index between two runs"
        )
    if n_iterations == LEIDEN_ITERATIONS_AT_SCALE != LEIDEN_ITERATIONS:
        parts.append(
            f"{n_iterations} Leiden iteration per run instead of {LEIDEN_ITERATIONS} (the seed-0 "
            "communities too)"
        )
    if not parts:
        return ""
    return (
        f"On a graph of {n_edges:,} edges (from {STABILITY_SCALE_EDGES:,} on) the study runs "
        + " and ".join(parts)
        + "."
    )


def _triangle_metrics(und: FastGraph, nb_und: FastGraph) -> tuple[Any, np.ndarray | None]:
    """The clustering pair of the structure (on ``und``) and Burt's constraint of the brokers
    (on ``nb_und``, the bot-free view; the same graph, so one triangle listing, without bots)."""
    clustering = clustering_of(und)
    constraint = fast_constraint(nb_und, triangles(nb_und)) if nb_und.n_edges else None
    return clustering, constraint


class PendingNetworkMetrics:
    """The study's graph metrics on one :class:`FastGraph`, with the Leiden runs and the
    betweenness pivots already running in forked workers (:class:`fast_lanes.GraphLanes`).

    Made by :func:`start_network_metrics`; :meth:`finish` computes the rest in this process,
    collects the workers' results and returns the dict of :func:`fast_network_metrics`. Between
    the two the caller is free to run its engine queries.
    """

    def __init__(
        self,
        graph: FastGraph,
        *,
        top_n: int,
        seeds: tuple[int, ...],
        k: int | str,
        n_iterations: int,
        processes: int,
        stability_method: str = "",
        exact_max_nodes: int = 5000,
    ) -> None:
        from analysis.network.fast_betweenness import pivot_plan
        from analysis.network.fast_lanes import CallTask, GraphLanes, LeidenTask, PivotTask

        self.graph, self.top_n, self.seeds = graph, top_n, seeds
        self.n_iterations, self.stability_method = n_iterations, stability_method
        self.und = graph.undirected()
        nb = graph.without_bots()
        self.nb_und = nb.undirected()
        self.plan = pivot_plan(self.nb_und, exact_max_nodes=exact_max_nodes, k=k, seed=0)
        tasks: dict[Any, Any] = {}
        for s in dict.fromkeys((0, *seeds)):
            tasks[("leiden", s)] = LeidenTask(self.und, s, n_iterations)
        if nb is not graph:
            tasks[("leiden_nb", 0)] = LeidenTask(self.nb_und, 0, n_iterations)
        tasks["triangles"] = CallTask(_triangle_metrics, self.und, self.nb_und)
        for b, group in enumerate(self.plan.groups if self.plan.n >= 3 else []):
            tasks[("pivots", b)] = PivotTask(self.nb_und, group)
        self.lanes = GraphLanes(tasks, processes)
        #: the graph part of staff dependency, ready for the engine part of the caller
        self.dependency = fast_graph_dependency(graph)

    def _communities(self, und: FastGraph, key: Any) -> tuple[Any, np.ndarray]:
        from analysis.network.communities import Communities

        labels, modularity = self.lanes.get(key)
        order = np.lexsort((np.arange(len(labels)), labels))
        partition = dict(zip(und.names[order].tolist(), labels[order].tolist(), strict=True))
        sizes = np.bincount(labels) if len(labels) else np.array([], dtype=int)
        communities = Communities(
            partition=partition,
            modularity=float(modularity),
            resolution=1.0,
            seed=int(key[1]),
            method="leiden",
            sizes=tuple(int(x) for x in sizes),
        )
        return communities, labels

    def finish(self) -> dict[str, Any]:
        """Every metric (keys of :func:`fast_network_metrics`); waits for the workers."""
        from analysis.network.communities import stability_result
        from analysis.network.fast_betweenness import betweenness_from_raws
        from analysis.network.fast_stability import ari

        graph = self.graph
        try:
            # PageRank stays here: igraph's PRPACK runs OpenMP, which deadlocks in a forked
            # child once this process has used it (a second study in the same session)
            rank = fast_pagerank(graph)
            clustering, constraint = self.lanes.get("triangles")
            out: dict[str, Any] = {
                "overview": fast_overview(graph, top_n=self.top_n, rank=rank),
                "structure": fast_structure(graph, clustering=clustering),
                "core": fast_core_members(graph),
                "dependency": self.dependency,
            }
            bridge_ids = fast_bridges(self.nb_und)
            communities, labels = self._communities(self.und, ("leiden", 0))
            if ("leiden_nb", 0) in self.lanes._tasks:
                broker_parts, broker_labels = self._communities(self.nb_und, ("leiden_nb", 0))
            else:
                broker_parts, broker_labels = communities, labels
            runs = {0: (labels, communities.modularity)}
            for s in self.seeds:
                if s not in runs:
                    runs[s] = self.lanes.get(("leiden", s))
            seeds = self.seeds
            pairs = [
                ari(runs[a][0], runs[b][0]) for i, a in enumerate(seeds) for b in seeds[i + 1 :]
            ]
            stability = stability_result(
                seeds,
                tuple(float(runs[s][1]) for s in seeds),
                pairs,
                method=self.stability_method,
            )
            plan = self.plan
            raws = [self.lanes.get(("pivots", b)) for b in range(len(plan.groups))]
            between = betweenness_from_raws(self.nb_und, plan, raws)
        finally:
            self.lanes.close()
        out.update(
            communities=communities,
            stability=stability,
            brokers=fast_broker_ranking(
                graph,
                top_n=self.top_n,
                k=plan.k,
                communities=broker_parts,
                labels=broker_labels,
                betweenness=between,
                constraint=constraint,
                bridge_ids=bridge_ids,
            ),
        )
        return out


def start_network_metrics(
    graph: FastGraph,
    *,
    top_n: int = 10,
    seeds: Any = None,
    k: int | str = "auto",
    n_iterations: int | None = None,
    processes: int | None = None,
    exact_max_nodes: int = 5000,
) -> PendingNetworkMetrics:
    """Start :func:`fast_network_metrics`: the Leiden runs (the stability seeds and, with bots,
    the brokers' seed-0 run on the bot-free graph) and the betweenness pivot groups go to
    ``processes`` forked workers now (default :data:`PROCESSES` from
    :data:`PARALLEL_MIN_EDGES` edges on, else 1: in this process, when asked); the rest is
    computed by :meth:`PendingNetworkMetrics.finish`. ``seeds=None``:
    :func:`stability_seeds` of the graph's edges; ``n_iterations=None``:
    :data:`LEIDEN_ITERATIONS`, or :data:`LEIDEN_ITERATIONS_AT_SCALE` from
    :data:`STABILITY_SCALE_EDGES` edges on (what is reduced is then stated in the stability
    result's ``method``). ``exact_max_nodes``: exact betweenness up to this many
    nodes (:func:`~analysis.network.fast_betweenness.fast_betweenness`)."""
    if processes is None:
        processes = PROCESSES if graph.n_edges >= PARALLEL_MIN_EDGES else 1
    default_seeds, default_iterations = seeds is None, n_iterations is None
    if seeds is None:
        seeds = stability_seeds(graph.n_edges)
    if n_iterations is None:
        n_iterations = (
            LEIDEN_ITERATIONS_AT_SCALE
            if graph.n_edges >= STABILITY_SCALE_EDGES
            else LEIDEN_ITERATIONS
        )
    method = _stability_method(
        tuple(seeds) if default_seeds else (),
        graph.n_edges,
        n_iterations if default_iterations else LEIDEN_ITERATIONS,
    )
    return PendingNetworkMetrics(
        graph,
        top_n=top_n,
        seeds=tuple(int(s) for s in seeds),
        k=k,
        n_iterations=n_iterations,
        processes=processes,
        stability_method=method,
        exact_max_nodes=exact_max_nodes,
    )


def fast_network_metrics(
    graph: FastGraph,
    *,
    top_n: int = 10,
    seeds: Any = range(4),
    k: int | str = "auto",
    n_iterations: int = LEIDEN_ITERATIONS,
    processes: int | None = None,
) -> dict[str, Any]:
    """Every graph metric of the study on one :class:`FastGraph` (no engine queries).

    Keys: ``overview``, ``structure``, ``core``, ``communities``, ``stability``, ``brokers``,
    ``dependency`` (the graph part dict of :func:`fast_graph_dependency`). Leiden runs
    ``n_iterations`` iterations (:data:`LEIDEN_ITERATIONS`; ``-1`` = until nothing changes);
    its seed-0 run is made once and reused by the stability check and, when there are no bots
    (the same undirected graph), by the brokers. ``k``: betweenness pivots (``"auto"``:
    :func:`analysis.network.fast_betweenness.auto_pivots`, seed 0). ``seeds``: of the stability
    check (``None``: :func:`stability_seeds`). ``processes``: forked workers for the Leiden runs
    and the pivot groups (:func:`start_network_metrics`); the results do not depend on it.
    """
    return start_network_metrics(
        graph, top_n=top_n, seeds=seeds, k=k, n_iterations=n_iterations, processes=processes
    ).finish()
