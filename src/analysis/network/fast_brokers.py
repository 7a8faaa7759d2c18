"""Brokers and staff dependency of a :class:`~analysis.network.fast_graph.FastGraph`.

The same definitions and result objects as :mod:`analysis.network.brokers` and the graph part of
:mod:`analysis.network.dependency` (read their docstrings), computed by igraph (C) and
vectorised numpy. Tested equal to networkx on the same graphs (within 1e-9; betweenness from the
same pivots as :func:`analysis.network.brokers.betweenness`).

One deliberate difference: the communities behind participation and cluster bridges are Leiden
(:func:`analysis.network.fast_metrics.fast_leiden`, seeded), not networkx's Louvain, which the
networkx path still uses as a placeholder (``brokers._communities``: "until leiden lands") and
which cannot run on a million members. Given the same partition, every number is the same.

Burt's constraint (Burt 1992) on the weighted undirected view with mutual weights
``w_ij + w_ji`` (networkx ``constraint(G, weight="weight")`` on a graph without self-loops):
``c_i = Σ_{j ∈ N(i)} (p_ij + Σ_q p_iq p_qj)²``, ``p_ij = m_ij / Σ_k m_ik``. The indirect term
is non-zero only when *i, q, j* form a triangle, so it is accumulated over the triangle list of
:func:`analysis.network.fast_metrics.triangles` (each triangle feeds six ordered (i, j, q)
terms). Isolated nodes get NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.network.brokers import BetweennessEstimate, BrokerRanking, _reasons
from analysis.network.fast_betweenness import fast_betweenness
from analysis.network.fast_graph import FastGraph
from analysis.network.fast_metrics import components, fast_leiden, triangles

__all__ = [
    "fast_betweenness",
    "fast_bridges",
    "fast_broker_ranking",
    "fast_cluster_bridges",
    "fast_constraint",
    "fast_graph_dependency",
    "fast_participation",
]


def fast_constraint(und: FastGraph, tri: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Burt's constraint per vertex (module docstring); ``tri`` = :func:`triangles` output.

    Each undirected edge has two directed slots (``2e`` from its ``src``, ``2e + 1`` from its
    ``dst``); every triangle adds its six indirect terms to their slots by ``numpy.bincount``.
    """
    n, m = und.n_nodes, und.n_edges
    s = und.strength()
    a, b, w = und.src, und.dst, und.weight
    with np.errstate(divide="ignore", invalid="ignore"):
        p_ab = w / s[a]  # p from a to b
        p_ba = w / s[b]
    indirect = np.zeros(2 * m)
    nodes, edges = triangles(und) if tri is None else tri
    if len(nodes):
        u, v = nodes[:, 0], nodes[:, 1]
        uv, ux, vx = edges[:, 0], edges[:, 1], edges[:, 2]
        # f_e: edge e is stored from the triangle's first-named endpoint (u for uv and ux, v for vx)
        f_uv, f_ux, f_vx = a[uv] == u, a[ux] == u, a[vx] == v
        del u, v

        def both(e: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ab, ba = p_ab[e], p_ba[e]
            return np.where(f, ab, ba), np.where(f, ba, ab)

        p_uv_u, p_uv_v = both(uv, f_uv)
        p_ux_u, p_ux_x = both(ux, f_ux)
        p_vx_v, p_vx_x = both(vx, f_vx)
        terms = (
            (uv, ~f_uv, p_ux_u * p_vx_x),  # i=u, j=v, q=x
            (ux, ~f_ux, p_uv_u * p_vx_v),  # i=u, j=x, q=v
            (uv, f_uv, p_vx_v * p_ux_x),  # i=v, j=u, q=x
            (vx, ~f_vx, p_uv_v * p_ux_u),  # i=v, j=x, q=u
            (ux, f_ux, p_vx_x * p_uv_v),  # i=x, j=u, q=v
            (vx, f_vx, p_ux_x * p_uv_u),  # i=x, j=v, q=u
        )
        for edge, from_dst, value in terms:
            indirect += np.bincount(2 * edge + from_dst, value, 2 * m)
    ind_ab, ind_ba = indirect[0::2], indirect[1::2]
    c = np.bincount(a, (p_ab + ind_ab) ** 2, n) + np.bincount(b, (p_ba + ind_ba) ** 2, n)
    c[und.degree() == 0] = np.nan
    return c


def _reach(und: FastGraph, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (vertex, neighbour's community) pairs: the vertex of each pair and how many of
    the vertex's edge ends lead into that community."""
    node = np.concatenate([und.src, und.dst])
    other = labels[np.concatenate([und.dst, und.src])]
    n_comm = int(labels.max()) + 1
    pair, counts = np.unique(node * n_comm + other, return_counts=True)
    return pair // n_comm, counts


def fast_participation(
    und: FastGraph, labels: np.ndarray, reach: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Guimerà–Amaral ``P_i = 1 − Σ_s (k_is / k_i)²`` with community labels per vertex
    (:func:`analysis.network.brokers.participation_coefficients`); NaN without neighbours."""
    n = und.n_nodes
    if und.n_edges == 0:
        return np.full(n, np.nan)
    owner, counts = _reach(und, labels) if reach is None else reach
    k_i = und.degree().astype(float)
    share2 = np.bincount(owner, (counts / k_i[owner]) ** 2, n)
    out = 1.0 - share2
    out[k_i == 0] = np.nan
    return out


def fast_bridges(und: FastGraph) -> np.ndarray:
    """Edge ids of the bridges of the undirected view (igraph ``bridges``; equals networkx
    ``bridges``: edges whose removal disconnects their component)."""
    if und.n_edges == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.asarray(und.igraph.bridges(), dtype=np.int64))


def fast_cluster_bridges(
    und: FastGraph, labels: np.ndarray, bridges: np.ndarray | None = None
) -> pd.DataFrame:
    """:func:`analysis.network.brokers.cluster_bridges`: edges between communities, heaviest
    first, with ``is_bridge``."""
    if bridges is None:
        bridges = fast_bridges(und)
    is_bridge = np.zeros(und.n_edges, dtype=bool)
    is_bridge[bridges] = True
    cross = np.flatnonzero(labels[und.src] != labels[und.dst])
    # heaviest first, then by the ids; src < dst as indices, so as member ids too (vertices are
    # in member-id order): an integer sort gives the order of the id strings
    cross = cross[np.lexsort((und.dst[cross], und.src[cross], -und.weight[cross]))]
    a, b = und.src[cross], und.dst[cross]
    return pd.DataFrame(
        {
            "member_a": und.names[a],
            "member_b": und.names[b],
            "weight": und.weight[cross],
            "cluster_a": labels[a],
            "cluster_b": labels[b],
            "is_bridge": is_bridge[cross],
        }
    )


def fast_broker_ranking(
    graph: FastGraph,
    *,
    top_n: int = 10,
    exact_max_nodes: int = 5000,
    k: int | str = 500,
    seed: int = 0,
    communities: Any = None,
    processes: int = 1,
    labels: np.ndarray | None = None,
    betweenness: BetweennessEstimate | None = None,
    constraint: np.ndarray | None = None,
    bridge_ids: np.ndarray | None = None,
) -> BrokerRanking:
    """:func:`analysis.network.brokers.broker_ranking` on a :class:`FastGraph` (bots dropped).

    ``communities``: a :class:`~analysis.network.communities.Communities` of the same graph
    (bots excluded) to reuse; by default Leiden with ``seed`` (see the module docstring).
    ``k``: betweenness pivots, or ``"auto"`` to size them by the number of edges;
    ``processes``: forked processes for the pivots (both :func:`fast_betweenness`).
    ``labels``: ``communities`` as a label per vertex of the bot-free graph, if already known;
    ``betweenness``: the :func:`fast_betweenness` estimate on that graph, if already computed
    ``constraint`` (:func:`fast_constraint`) and ``bridge_ids`` (:func:`fast_bridges`) of that
    graph likewise (the study's igraph path computes all four in forked processes,
    :mod:`analysis.network.fast_lanes`).
    """
    directed = graph.without_bots()
    und = directed.undirected()
    columns = [
        "member_id",
        "rank",
        "betweenness",
        "constraint",
        "participation",
        "community",
        "degree",
        "clusters_reached",
        "is_staff",
        "reasons",
    ]
    if und.n_edges == 0:
        empty = pd.DataFrame({c: [] for c in columns})
        no_bridges = fast_cluster_bridges(und, np.zeros(und.n_nodes, dtype=np.int64))
        return BrokerRanking(und.n_nodes, 0, 0, 0.0, "exact", 0.0, 0, 0, empty, no_bridges, top_n)
    parts = communities if communities is not None else fast_leiden(und, seed=seed)
    if labels is None:
        labels = np.asarray([parts.partition[v] for v in und.names.tolist()], dtype=np.int64)
    between = betweenness
    if between is None:
        between = fast_betweenness(
            und, exact_max_nodes=exact_max_nodes, k=k, seed=seed, processes=processes
        )
    if constraint is None:
        constraint = fast_constraint(und, triangles(und))
    reach = _reach(und, labels)
    participation = fast_participation(und, labels, reach)
    degree = und.degree()
    clusters_reached = np.bincount(reach[0], minlength=und.n_nodes)
    frame = pd.DataFrame(
        {
            "member_id": und.names,
            "betweenness": between.values.to_numpy(),
            "constraint": constraint,
            "participation": participation,
            "community": labels,
            "degree": degree,
            "clusters_reached": clusters_reached,
            "is_staff": und.is_staff.astype(bool),
        }
    )
    # by betweenness, ties by member id (= vertex order): an integer sort, not a string sort
    order = np.lexsort((np.arange(und.n_nodes), -frame["betweenness"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(1, "rank", np.arange(1, len(frame) + 1))
    if bridge_ids is None:
        bridge_ids = fast_bridges(und)
    bridges = fast_cluster_bridges(und, labels, bridge_ids)
    ba, bb = und.src[bridge_ids], und.dst[bridge_ids]
    nontrivial = (degree[ba] >= 2) & (degree[bb] >= 2)
    bridge_nodes = set(und.names[np.concatenate([ba[nontrivial], bb[nontrivial]])].tolist())
    median_constraint = float(np.nanmedian(frame["constraint"]))
    head = frame.head(top_n)
    reasons: list[list[str]] = [
        _reasons(row, len(frame), median_constraint, bridge_nodes) for row in head.itertuples()
    ]
    frame["reasons"] = reasons + [[] for _ in range(len(frame) - len(head))]
    total = float(und.weight.sum())
    return BrokerRanking(
        n_nodes=und.n_nodes,
        n_edges=und.n_edges,
        n_communities=len(parts.sizes),
        modularity=float(parts.modularity),
        betweenness_method=between.method,
        cross_cluster_weight_share=float(bridges["weight"].sum() / total) if total else 0.0,
        n_bridges=int(len(bridge_ids)),
        n_nontrivial_bridges=int(nontrivial.sum()),
        members=frame,
        bridges=bridges,
        top_n=top_n,
    )


def _main_component(graph: FastGraph) -> np.ndarray:
    """Mask of the largest weak component with ≥ 2 nodes (ties: smallest member id), else none
    (``dependency._main_component``; vertices are in member-id order)."""
    mask = np.zeros(graph.n_nodes, dtype=bool)
    if graph.n_nodes == 0:
        return mask
    labels = components(graph)
    sizes = np.bincount(labels)
    first = np.full(len(sizes), graph.n_nodes, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(graph.n_nodes))
    eligible = np.flatnonzero(sizes >= 2)
    if len(eligible) == 0:
        return mask
    best = eligible[np.lexsort((first[eligible], -sizes[eligible]))[0]]
    return labels == best


def fast_graph_dependency(graph: FastGraph) -> dict[str, Any]:
    """:func:`analysis.network.dependency.graph_dependency` on a :class:`FastGraph`: the same
    keys and definitions (components after removing the staff nodes)."""
    g = graph.without_bots()
    staff = g.is_staff.astype(bool)
    members = ~staff
    n, n_members = g.n_nodes, int(members.sum())
    total = float(g.weight.sum())
    staff_w = float(g.weight[staff[g.src] | staff[g.dst]].sum())
    before = _main_component(g)
    after_graph = g.subgraph(members)
    after = np.zeros(n, dtype=bool)
    after[np.flatnonzero(members)] = _main_component(after_graph)
    in_giant = before & members
    cut = in_giant & ~after
    n_in, n_cut = int(in_giant.sum()), int(cut.sum())
    return {
        "n_staff": int(staff.sum()),
        "n_members": n_members,
        "staff_reply_share": staff_w / total if total else float("nan"),
        "n_components_before": int(components(g).max() + 1) if n else 0,
        "giant_share_before": int(before.sum()) / n if n else float("nan"),
        "n_components_after": int(components(after_graph).max() + 1) if n_members else 0,
        "giant_share_after": int(after.sum()) / n_members if n_members else float("nan"),
        "n_members_in_giant": n_in,
        "n_cut_off": n_cut,
        "cut_off_share": n_cut / n_in if n_in else float("nan"),
    }
