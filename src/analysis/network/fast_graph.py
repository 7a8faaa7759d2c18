"""Interaction graphs as igraph graphs built straight from the engine's edge list (no networkx).

The networkx path (:func:`analysis.network.graphs.build_graph`) adds edges one by one in Python;
at a million members that alone takes minutes. :class:`FastGraph` holds the same graph as numpy
arrays plus an :class:`igraph.Graph` (C; https://igraph.org) built from them in one call, so the
metrics of :mod:`analysis.network.fast_metrics` can run on graphs of millions of nodes. networkx
stays the oracle: every number computed here is tested equal to the networkx path's on the same
graph (``tests/unit/test_network_fast.py``, ``tests/validation/test_network_fast_validation.py``).

Conventions (identical to the networkx path)
--------------------------------------------
* Nodes are the members on at least one edge, **sorted by member id** (vertex ``i`` is
  ``names[i]``), so results never depend on the order the engine returned the rows in; edges are
  sorted by (source, target) index. ``is_staff``/``is_bot`` are vertex attributes (``False``
  for members missing from the members table).
* :meth:`FastGraph.undirected` is the undirected view of
  :func:`analysis.network.graphs.undirected_view`: *u–v* weight = w(u→v) + w(v→u), self-loops
  dropped, every node kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community

__all__ = [
    "FastGraph",
    "fast_graph",
    "fast_interaction_graph",
    "fast_reply_graph",
    "from_networkx",
]


class EdgeListError(ValueError):
    """An edge list that cannot be a graph (missing column, null id, negative weight)."""


@dataclass(frozen=True, eq=False)
class FastGraph:
    """A weighted graph as sorted numpy arrays and an igraph graph over the same vertices.

    Attributes
    ----------
    names : numpy.ndarray of object
        Member id of each vertex, sorted ascending.
    src, dst : numpy.ndarray of int64
        Edge endpoints as vertex indices, sorted by ``(src, dst)``; one row per distinct pair
        (ordered if ``directed``; ``src ≤ dst`` if not).
    weight : numpy.ndarray of float64
        Edge weights (e.g. number of replies).
    directed : bool
    is_staff, is_bot : numpy.ndarray of bool
        Vertex flags.
    """

    names: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    directed: bool
    is_staff: np.ndarray
    is_bot: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        return int(len(self.names))

    @property
    def n_edges(self) -> int:
        return int(len(self.src))

    def number_of_nodes(self) -> int:
        """Nodes (the networkx spelling, so code written for both graph kinds works)."""
        return self.n_nodes

    def number_of_edges(self) -> int:
        return self.n_edges

    def is_directed(self) -> bool:
        return self.directed

    @cached_property
    def igraph(self) -> Any:
        """The graph as :class:`igraph.Graph`: vertex ``name``/``is_staff``/``is_bot``, edge
        ``weight``; vertices and edges in the order of the arrays."""
        import igraph as ig

        # a list of int tuples is igraph's fastest input (2.5x faster than a 2-D array)
        edges = list(zip(self.src.tolist(), self.dst.tolist(), strict=True))
        g = ig.Graph(n=self.n_nodes, edges=edges, directed=self.directed)
        g.vs["name"] = self.names.tolist()
        g.vs["is_staff"] = self.is_staff.tolist()
        g.vs["is_bot"] = self.is_bot.tolist()
        g.es["weight"] = self.weight.tolist()
        return g

    def undirected(self) -> FastGraph:
        """The undirected simple view: weights of both directions summed, self-loops dropped.

        Same nodes (and order); equals :func:`analysis.network.graphs.undirected_view`.
        """
        cached = self._cache.get("undirected")
        if cached is not None:
            return cached
        keep = self.src != self.dst
        a, b, w = self.src[keep], self.dst[keep], self.weight[keep]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        n = max(self.n_nodes, 1)
        key = lo * n + hi
        uniq, inverse = np.unique(key, return_inverse=True)
        summed = np.bincount(inverse, weights=w, minlength=len(uniq)).astype(float)
        out = FastGraph(
            self.names,
            (uniq // n).astype(np.int64),
            (uniq % n).astype(np.int64),
            summed,
            False,
            self.is_staff,
            self.is_bot,
        )
        self._cache["undirected"] = out
        return out

    def subgraph(self, keep: np.ndarray) -> FastGraph:
        """The induced subgraph on the vertices where boolean mask ``keep`` is true (order kept)."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        edge_keep = keep[self.src] & keep[self.dst]
        return FastGraph(
            self.names[keep],
            new_index[self.src[edge_keep]].astype(np.int64),
            new_index[self.dst[edge_keep]].astype(np.int64),
            self.weight[edge_keep],
            self.directed,
            self.is_staff[keep],
            self.is_bot[keep],
        )

    def without_bots(self) -> FastGraph:
        """The graph without the vertices flagged ``is_bot``
        (:func:`analysis.network.brokers.without_bots`)."""
        return self.subgraph(~self.is_bot) if self.is_bot.any() else self

    def degree(self) -> np.ndarray:
        """Edges at each vertex (a self-loop counts twice, as networkx counts it)."""
        return np.bincount(self.src, minlength=self.n_nodes) + np.bincount(
            self.dst, minlength=self.n_nodes
        )

    def strength(self) -> np.ndarray:
        """Sum of the weights of the edges at each vertex (self-loops twice)."""
        return np.bincount(self.src, self.weight, self.n_nodes) + np.bincount(
            self.dst, self.weight, self.n_nodes
        )

    def edge_frame(self) -> pd.DataFrame:
        """``source``, ``target``, ``weight`` with member ids (the engine edge-list format)."""
        return pd.DataFrame(
            {"source": self.names[self.src], "target": self.names[self.dst], "weight": self.weight}
        )

    def to_networkx(self) -> Any:
        """The same graph in networkx (nodes in sorted order, flags as node attributes).

        For the oracle tests and for drawing small subgraphs; not for large graphs.
        """
        import networkx as nx

        graph: Any = nx.DiGraph() if self.directed else nx.Graph()
        for name, staff, bot in zip(self.names, self.is_staff, self.is_bot, strict=True):
            graph.add_node(name, is_staff=bool(staff), is_bot=bool(bot))
        weights = [float(w) if float(w) != int(w) else int(w) for w in self.weight]
        graph.add_weighted_edges_from(
            zip(self.names[self.src], self.names[self.dst], weights, strict=True)
        )
        return graph


def _check_edges(edges: pd.DataFrame, origin: str) -> None:
    missing = [c for c in ("source", "target", "weight") if c not in edges.columns]
    if missing:
        raise EdgeListError(
            f"{origin}: edge list lacks column(s) {missing}; expected source, target, weight "
            f"(got {list(edges.columns)})"
        )
    for column in ("source", "target"):
        nulls = edges[column].isna().to_numpy()
        if nulls.any():
            row = int(np.flatnonzero(nulls)[0])
            raise EdgeListError(
                f"{origin}: row {row}: field {column!r} is null; expected a member id"
            )
    weights = pd.to_numeric(edges["weight"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = edges["weight"].iloc[row]
        value = value.item() if hasattr(value, "item") else value
        raise EdgeListError(
            f"{origin}: row {row}: field 'weight' is {value!r}; expected a finite number ≥ 0"
        )


def fast_graph(
    edges: pd.DataFrame,
    *,
    directed: bool,
    members: pd.DataFrame | None = None,
    origin: str = "edge list",
) -> FastGraph:
    """A :class:`FastGraph` from an edge list, with ``is_staff``/``is_bot`` flags.

    Parameters
    ----------
    edges : pandas.DataFrame
        Columns ``source``, ``target``, ``weight`` (member ids and a count), as the
        ``*_edges_expr`` functions of :mod:`analysis.network.graphs` return. Rows for the same
        pair are summed (for undirected graphs *(u, v)* and *(v, u)* are the same pair).
    directed : bool
    members : pandas.DataFrame, optional
        ``member_id``, ``is_staff``, ``is_bot``; members not found get ``False`` for both.
    origin : str
        Named in error messages (e.g. the dataset path).

    Raises
    ------
    EdgeListError
        A missing column, a null member id or a negative / non-finite weight (with the row).
    """
    _check_edges(edges, origin)
    source = edges["source"].to_numpy(dtype=object)
    target = edges["target"].to_numpy(dtype=object)
    weight = edges["weight"].to_numpy(dtype=float)
    names = pd.Index(np.concatenate([source, target])).unique().sort_values()
    names_arr = np.asarray(names, dtype=object)
    src = names.get_indexer(source).astype(np.int64)
    dst = names.get_indexer(target).astype(np.int64)
    is_staff = np.zeros(len(names_arr), dtype=bool)
    is_bot = np.zeros(len(names_arr), dtype=bool)
    if members is not None and len(members):
        at = names.get_indexer(members["member_id"].to_numpy(dtype=object))
        found = at >= 0
        is_staff[at[found]] = (
            members["is_staff"].astype("boolean").fillna(False).to_numpy(dtype=bool)[found]
        )
        is_bot[at[found]] = (
            members["is_bot"].astype("boolean").fillna(False).to_numpy(dtype=bool)[found]
        )
    return _from_indices(names_arr, src, dst, weight, bool(directed), is_staff, is_bot)


def _from_indices(
    names: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    directed: bool,
    is_staff: np.ndarray,
    is_bot: np.ndarray,
) -> FastGraph:
    """A :class:`FastGraph` from vertex-index edges: rows of the same pair summed (``(u, v)``
    and ``(v, u)`` are one pair when undirected), edges sorted by ``(src, dst)``."""
    if not directed:
        src, dst = np.minimum(src, dst), np.maximum(src, dst)
    n = max(len(names), 1)
    key = src * n + dst
    uniq, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weights=weight, minlength=len(uniq)).astype(float)
    return FastGraph(
        names,
        (uniq // n).astype(np.int64),
        (uniq % n).astype(np.int64),
        summed,
        bool(directed),
        is_staff,
        is_bot,
    )


def _indexed_exprs(community: Community, edges: Any, keep: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """The nodes of an edge expression numbered on the engine, and the edges as those numbers.

    ``nodes``: ``member_id``, ``is_staff``, ``is_bot`` (null for ids missing from ``members``)
    and ``idx`` = 0-based rank of ``member_id`` (``row_number`` ordered by id); ``indexed``:
    ``src``, ``dst``, ``weight`` and the columns named in ``keep``. Only integers and one copy
    of each id come back to Python, not two strings per edge.
    """
    import ibis

    ends = edges.select(node=edges.source).union(edges.select(node=edges.target), distinct=True)
    people = community.members.select("member_id", "is_staff", "is_bot")
    joined = ends.left_join(people, ends.node == people.member_id).select(
        member_id=ends.node, is_staff=people.is_staff, is_bot=people.is_bot
    )
    nodes = joined.mutate(idx=ibis.row_number().over(order_by=joined.member_id))
    s_nodes = nodes.select(s_id=nodes.member_id, src=nodes.idx)
    t_nodes = nodes.select(t_id=nodes.member_id, dst=nodes.idx)
    indexed = (
        edges.join(s_nodes, edges.source == s_nodes.s_id)
        .join(t_nodes, edges.target == t_nodes.t_id)
        .select("src", "dst", "weight", *keep)
    )
    return nodes, indexed


def fast_interaction_graph(community: Community, kind: str = "reply", **kwargs: Any) -> FastGraph:
    """Graph ``kind`` (reply, reaction, mention, coparticipation) of ``community`` as a
    :class:`FastGraph`; ``kwargs`` go to the edge expression
    (:func:`analysis.network.graphs.edges_expr`).

    The engine numbers the members (:func:`_indexed_exprs`), so only integer edge arrays, the
    sorted member ids and their flags come back: at 1M members and 6.8M edges this avoids
    hashing 13.6M id strings in pandas. Same graph as :func:`fast_graph` on the engine's edge
    list (tested).
    """
    from analysis.network.graphs import DIRECTED, edges_expr

    origin = f"{kind} edges"
    expr = edges_expr(community, kind, **kwargs)  # type: ignore[arg-type]
    nodes_expr, indexed_expr = _indexed_exprs(community, expr)
    nodes = community.execute(nodes_expr.order_by("idx"))
    ids = nodes["member_id"]
    if ids.isna().any():
        raise EdgeListError(f"{origin}: field 'source' or 'target' is null; expected a member id")
    edges = community.execute(indexed_expr)
    weight = pd.to_numeric(edges["weight"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(weight) | (weight < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EdgeListError(
            f"{origin}: row {row}: field 'weight' is {edges['weight'].iloc[row]!r}; "
            "expected a finite number ≥ 0"
        )
    names = ids.to_numpy(dtype=object)
    src = edges["src"].to_numpy(dtype=np.int64)
    dst = edges["dst"].to_numpy(dtype=np.int64)
    position = nodes["idx"].to_numpy(dtype=np.int64)
    if len(names) and (
        not np.array_equal(position, np.arange(len(names))) or not (names[1:] > names[:-1]).all()
    ):
        # the engine's order is not Python's (a collation) or its numbering has gaps: renumber
        order = np.argsort(names, kind="stable")
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        lookup = np.full(int(position.max()) + 1, -1, dtype=np.int64)
        lookup[position] = rank
        src, dst = lookup[src], lookup[dst]
        nodes = nodes.iloc[order].reset_index(drop=True)
        names = names[order]
    flags = [
        nodes[c].astype("boolean").fillna(False).to_numpy(dtype=bool)
        for c in ("is_staff", "is_bot")
    ]
    return _from_indices(names, src, dst, weight, bool(DIRECTED[kind]), *flags)


def fast_reply_graph(community: Community, **kwargs: Any) -> FastGraph:
    """The reply graph (:func:`analysis.network.reply.reply_graph`) as a :class:`FastGraph`."""
    return fast_interaction_graph(community, "reply", **kwargs)


def from_networkx(graph: Any) -> FastGraph:
    """A networkx graph as a :class:`FastGraph` (missing weights count 1; flags copied)."""
    edges = pd.DataFrame(
        list(graph.edges(data="weight", default=1)), columns=["source", "target", "weight"]
    )
    nodes = list(graph.nodes)
    flags = pd.DataFrame(
        {
            "member_id": pd.Series(nodes, dtype=object),
            "is_staff": [bool(graph.nodes[v].get("is_staff", False)) for v in nodes],
            "is_bot": [bool(graph.nodes[v].get("is_bot", False)) for v in nodes],
        }
    )
    fg = fast_graph(edges, directed=graph.is_directed(), members=flags, origin="networkx graph")
    isolated = sorted(set(nodes) - set(fg.names.tolist()), key=str)
    if not isolated:
        return fg
    # nodes without edges are nodes too: rebuild with them in the sorted name order
    names = pd.Index(np.concatenate([fg.names, np.asarray(isolated, dtype=object)])).sort_values()
    at = names.get_indexer(fg.names)
    staff = np.zeros(len(names), dtype=bool)
    bot = np.zeros(len(names), dtype=bool)
    fa = names.get_indexer(flags["member_id"].to_numpy(dtype=object))
    staff[fa] = flags["is_staff"].to_numpy(dtype=bool)
    bot[fa] = flags["is_bot"].to_numpy(dtype=bool)
    src, dst = at[fg.src], at[fg.dst]
    order = np.lexsort((dst, src))
    return FastGraph(
        np.asarray(names, dtype=object),
        src[order].astype(np.int64),
        dst[order].astype(np.int64),
        fg.weight[order],
        fg.directed,
        staff,
        bot,
    )
