"""The scalable path of the network study: igraph graphs from the engine, metrics in C and numpy.

At a few thousand members the networkx path of this package is fine and stays the reference.
Beyond that, building a networkx graph edge by edge and running pure-Python algorithms on it
dominates (10 s for the reply graph alone at 10k members, minutes at 100k). This path keeps the
*definitions* and the *result objects* of the networkx modules and changes only how they are
computed:

fast_graph     :class:`~analysis.network.fast_graph.FastGraph`: sorted numpy edge arrays and
               an igraph graph, built from the engine's edge list in one call
fast_metrics   structure, k-cores, core members, Leiden communities
fast_betweenness  betweenness from the same pivots as networkx, with its standard error
fast_stability Leiden across seeds (forked), sparse adjusted Rand index
fast_evolution the monthly network (``network_evolution``)
fast_brokers   Burt's constraint, participation, bridges, broker
               ranking, the graph part of staff dependency
fast (here)    the engine choice (:func:`choose_engine`) and the overview with PageRank

networkx is the oracle: ``tests/unit/test_network_fast.py`` and
``tests/validation/test_network_fast_validation.py`` check every number against the networkx
path on the same graphs (karate club, a seeded random directed weighted graph, the synthetic
community) within 1e-9, betweenness against the same pivots, Leiden against the same seed.

Engine choice
-------------
``engine="auto"`` (the default of :func:`analysis.network.network_study`) takes the igraph path
when the reply graph has more than :data:`AUTO_MAX_NODES` nodes or :data:`AUTO_MAX_EDGES`
edges, networkx otherwise; ``engine="igraph"`` or ``"networkx"`` forces one.
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
    "LEIDEN_ITERATIONS",
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


def fast_overview(graph: FastGraph, *, top_n: int = 10) -> NetworkOverview:
    """:func:`analysis.network.reply.network_overview` on a directed :class:`FastGraph`.

    The same fields and definitions; PageRank (damping 0.85, weighted; Page et al. 1999) is
    igraph's PRPACK solver, which solves the linear system exactly where networkx iterates to
    a tolerance of 1e-6 per node, so values agree to about 1e-6, not 1e-9 (tested); dangling
    nodes spread their rank uniformly in both.
    """
    n = graph.n_nodes
    columns = ["member_id", "pagerank", "in_strength", "out_strength", "is_staff"]
    if n == 0:
        empty = pd.DataFrame({c: [] for c in columns})
        return NetworkOverview(0, 0, 0, 0.0, 0.0, 0.0, 0.0, empty)
    rank = np.asarray(
        graph.igraph.pagerank(damping=0.85, weights="weight", directed=True), dtype=float
    )
    frame = pd.DataFrame(
        {
            "member_id": graph.names,
            "pagerank": rank,
            "in_strength": np.bincount(graph.dst, graph.weight, n),
            "out_strength": np.bincount(graph.src, graph.weight, n),
            "is_staff": graph.is_staff.astype(bool),
        }
    )
    top = (
        frame.sort_values(["pagerank", "member_id"], ascending=[False, True])
        .head(top_n)
        .reset_index(drop=True)
    )
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
    :func:`analysis.network.fast_betweenness.auto_pivots`). ``processes``: forked processes for
    the stability seeds and the pivots (default :data:`PROCESSES` from
    :data:`PARALLEL_MIN_EDGES` edges on, else 1).
    """
    if processes is None:
        processes = PROCESSES if graph.n_edges >= PARALLEL_MIN_EDGES else 1
    communities = fast_leiden(graph, seed=0, n_iterations=n_iterations)
    nb = graph.without_bots()
    if nb is graph:
        broker_parts = communities
    else:
        broker_parts = fast_leiden(nb.undirected(), seed=0, n_iterations=n_iterations)
    stability = fast_community_stability(
        graph,
        seeds=seeds,
        n_iterations=n_iterations,
        known={0: communities},
        processes=processes,
    )
    return {
        "overview": fast_overview(graph, top_n=top_n),
        "structure": fast_structure(graph),
        "core": fast_core_members(graph),
        "communities": communities,
        "stability": stability,
        "brokers": fast_broker_ranking(
            graph, top_n=top_n, k=k, communities=broker_parts, processes=processes
        ),
        "dependency": fast_graph_dependency(graph),
    }
