"""Brokers: who connects parts of the conversation that would otherwise not meet.

All metrics are computed on the reply graph of :func:`analysis.network.reply.reply_graph` with bot
accounts dropped (a bot's digests are not conversation). networkx is the oracle for every number
(https://networkx.org); igraph (https://igraph.org) computes the same quantities faster and is
tested to equal networkx within 1e-9.

Undirected view
    Members *u* and *v* are adjacent when either replied to the other at least once; the edge
    weight is the number of replies in both directions. Betweenness, communities, participation
    and bridges use this view (who can reach whom through conversation, whatever the direction of
    the individual replies). Nodes are added in sorted order, so seeded results do not depend on
    the order rows come back from the engine.

Metrics
    * **Betweenness** (Freeman 1977; Brandes 2001): ``b(v) = Σ_{s≠v≠t} σ_st(v) / σ_st`` over
      unordered pairs of the unweighted undirected view, normalised by ``(n − 1)(n − 2) / 2``
      (networkx ``betweenness_centrality(normalized=True)``): the average share of shortest
      paths between two other members that pass through *v*. Exact up to ``exact_max_nodes``
      nodes; above it estimated from ``k`` pivot sources (Brandes & Pich 2007), drawn with
      ``random.Random(seed).sample(sorted nodes, k)`` and rescaled exactly as networkx 3.6 does,
      so the estimate equals ``networkx.betweenness_centrality(G, k=k, seed=seed)`` on the same
      graph.
    * **Burt's constraint** (Burt 1992, *Structural Holes*): ``c_i = Σ_{j ∈ N(i)} (p_ij +
      Σ_{q ≠ i, j} p_iq p_qj)²`` with ``p_ij = (w_ij + w_ji) / Σ_k (w_ik + w_ki)`` on the weighted
      directed reply graph (networkx ``constraint(G, weight="weight")``). Low constraint = the
      member's contacts do not talk to each other (a structural hole the member spans).
    * **Participation coefficient** (Guimerà & Amaral 2005, *Nature* 433:895):
      ``P_i = 1 − Σ_s (k_is / k_i)²`` where ``k_i`` is the member's degree in the undirected view
      (distinct conversation partners) and ``k_is`` the partners in community *s*. 0 = all
      partners in one community; close to 1 = partners spread evenly over many communities.
    * **Cluster bridges**: edges of the undirected view whose endpoints are in different
      communities, ranked by weight; and graph-theoretic bridges (networkx ``bridges``: edges
      whose removal disconnects the undirected view).

Communities come from :func:`_communities` (Louvain, seeded) until
``analysis.network.communities.leiden_communities`` lands; switch there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.results import Result

__all__ = [
    "BetweennessEstimate",
    "BrokerRanking",
    "betweenness",
    "broker_ranking",
    "brokers",
    "burt_constraint",
    "cluster_bridges",
    "participation_coefficients",
    "undirected_view",
]

Engine = Literal["igraph", "networkx"]


# ---- graph helpers ---------------------------------------------------------------------------
def without_bots(graph: nx.DiGraph) -> nx.DiGraph:
    """The graph with nodes flagged ``is_bot`` removed (a copy)."""
    bots = [v for v, bot in graph.nodes(data="is_bot", default=False) if bot]
    out = graph.copy()
    out.remove_nodes_from(bots)
    return out


def undirected_view(graph: nx.Graph) -> nx.Graph:
    """Undirected simple graph: an edge where either member replied to the other.

    Edge ``weight`` = replies in both directions (missing weights count 1); self-loops are
    dropped; node attributes are kept; nodes and edges are inserted in sorted order.
    """
    out = nx.Graph()
    out.add_nodes_from(sorted((v, dict(d)) for v, d in graph.nodes(data=True)))
    weights: dict[tuple[Any, Any], float] = {}
    for u, v, w in graph.edges(data="weight", default=1):
        if u == v:
            continue
        key = (u, v) if u <= v else (v, u)
        weights[key] = weights.get(key, 0) + w
    out.add_weighted_edges_from((u, v, w) for (u, v), w in sorted(weights.items()))
    return out


def _to_igraph(graph: nx.Graph, weight: str | None = None) -> tuple[Any, list[Any]]:
    """igraph copy of ``graph`` (same direction); vertex ``i`` is ``nodes[i]``."""
    import igraph as ig

    nodes = list(graph.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    edges = [(index[u], index[v]) for u, v in graph.edges]
    g = ig.Graph(n=len(nodes), edges=edges, directed=graph.is_directed())
    if weight is not None:
        g.es[weight] = [float(d.get(weight, 1)) for _, _, d in graph.edges(data=True)]
    return g, nodes


def _communities(graph: nx.Graph, seed: int = 0) -> list[set[Any]]:
    """Communities of the undirected view: weighted Louvain (Blondel et al. 2008), seeded.

    Placeholder until ``analysis.network.communities.leiden_communities(graph, seed=seed)``
    exists; then return its partition here. Sorted by size (largest first), then smallest member.
    """
    if graph.number_of_edges() == 0:
        return [{v} for v in sorted(graph.nodes)]
    parts = nx.community.louvain_communities(graph, weight="weight", seed=seed)
    return sorted((set(p) for p in parts), key=lambda p: (-len(p), min(p)))


def _membership(parts: list[set[Any]]) -> dict[Any, int]:
    return {v: i for i, part in enumerate(parts) for v in part}


# ---- metrics ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BetweennessEstimate:
    """Normalised betweenness per node and how it was obtained.

    Attributes
    ----------
    values : pandas.Series
        Node → normalised betweenness (see the module docstring).
    exact : bool
        All sources used (``True``) or ``k`` sampled pivots.
    k : int or None
        Pivots used when sampled.
    seed : int
        Seed of the pivot draw.
    engine : str
        ``igraph`` or ``networkx`` (equal within 1e-9 on the same graph and pivots).
    stderr : pandas.Series or None
        Node → standard error of the sampled value, when the path that computed it measured one
        (the batch-means error of :func:`analysis.network.fast_betweenness.fast_betweenness`);
        ``None`` for exact values and on the networkx path.
    """

    values: pd.Series
    exact: bool
    k: int | None
    seed: int
    engine: str
    stderr: pd.Series | None = None

    def top_relative_error(self, top: int = 20) -> float:
        """Median of ``stderr / value`` over the ``top`` highest positive estimates (NaN when no
        standard error was measured)."""
        if self.stderr is None:
            return float("nan")
        head = self.values[self.values > 0].sort_values(ascending=False).head(top)
        if head.empty:
            return float("nan")
        return float((self.stderr.reindex(head.index) / head).median())

    @property
    def method(self) -> str:
        if self.exact:
            return "exact"
        text = f"sampled from {self.k} pivot sources (seed {self.seed})"
        error = self.top_relative_error()
        if error == error:  # not NaN
            text += f", standard error ±{error:.0%} of the top-20 values"
        return text


def betweenness(
    graph: nx.Graph,
    *,
    exact_max_nodes: int = 5000,
    k: int = 500,
    seed: int = 0,
    engine: Engine = "igraph",
) -> BetweennessEstimate:
    """Normalised shortest-path betweenness, exact for small graphs and sampled above.

    Parameters
    ----------
    graph : networkx.Graph or DiGraph
        Used as given (pass :func:`undirected_view` for the undirected definition); unweighted.
    exact_max_nodes : int
        Exact (all ``n`` sources) when ``n ≤ exact_max_nodes`` or ``k ≥ n``.
    k : int
        Pivot sources for the estimate (Brandes & Pich 2007), drawn as
        ``random.Random(seed).sample(list(graph.nodes), k)`` — the draw networkx makes — and
        rescaled as networkx 3.6 does (pivots by ``1/((k − 1)(n − 2))``, other nodes by
        ``1/(k (n − 2))``, times 2 for undirected graphs).
    seed : int
    engine : {"igraph", "networkx"}
        igraph (C, subset betweenness from the pivots) or networkx itself.
    """
    nodes = list(graph.nodes)
    n = len(nodes)
    exact = n <= exact_max_nodes or k >= n
    pivots = None if exact else random.Random(seed).sample(nodes, k)
    if engine == "networkx":
        values = nx.betweenness_centrality(
            graph, k=None if exact else k, seed=seed, normalized=True
        )
        series = pd.Series(values, dtype=float).reindex(nodes)
    elif n < 3:
        series = pd.Series(0.0, index=nodes, dtype=float)
    else:
        g, order = _to_igraph(graph)
        directed = graph.is_directed()
        factor = 1.0 if directed else 2.0
        if exact:
            raw = np.asarray(g.betweenness(directed=directed), dtype=float)
            values = raw * factor / ((n - 1) * (n - 2))
        else:
            index = {v: i for i, v in enumerate(order)}
            src = [index[p] for p in pivots]
            raw = np.asarray(g.betweenness(directed=directed, sources=src), dtype=float)
            is_pivot = np.zeros(n, dtype=bool)
            is_pivot[src] = True
            scale = np.where(
                is_pivot,
                factor / ((k - 1) * (n - 2)) if k > 1 else np.nan,
                factor / (k * (n - 2)),
            )
            values = raw * scale
        series = pd.Series(values, index=order, dtype=float)
    return BetweennessEstimate(series, exact, None if exact else k, seed, engine)


def burt_constraint(graph: nx.DiGraph, *, engine: Engine = "igraph") -> pd.Series:
    """Burt's constraint per node of the weighted reply graph (definition: module docstring).

    Equals ``networkx.constraint(graph, weight="weight")`` (igraph's ``constraint`` uses the
    same mutual weights; tested within 1e-9). Isolated nodes get NaN.
    """
    nodes = list(graph.nodes)
    if engine == "networkx":
        values = nx.constraint(graph, weight="weight")
        return pd.Series(values, dtype=float).reindex(nodes)
    g, order = _to_igraph(graph, weight="weight")
    values = np.asarray(g.constraint(weights="weight") if len(order) else [], dtype=float)
    isolated = np.asarray(g.degree(), dtype=int) == 0 if len(order) else np.zeros(0, bool)
    values[isolated] = np.nan
    return pd.Series(values, index=order, dtype=float)


def participation_coefficients(
    graph: nx.Graph, communities: list[set[Any]] | dict[Any, int]
) -> pd.Series:
    """Guimerà–Amaral participation ``P_i = 1 − Σ_s (k_is / k_i)²`` on the undirected view.

    ``k_i`` counts distinct neighbours (either direction), ``k_is`` those in community *s*.
    ``communities`` is a partition (list of node sets) or a node → community mapping. Nodes
    without neighbours get NaN.
    """
    member = communities if isinstance(communities, dict) else _membership(communities)
    und = graph.to_undirected(as_view=True) if graph.is_directed() else graph
    nodes = list(graph.nodes)
    pairs = [(u, v) for u, v in und.edges if u != v]
    if not pairs:
        return pd.Series(np.nan, index=nodes, dtype=float)
    a = [u for u, _ in pairs] + [v for _, v in pairs]
    b = [v for _, v in pairs] + [u for u, _ in pairs]
    ends = pd.DataFrame({"node": a, "community": [member[x] for x in b]})
    k_is = ends.groupby(["node", "community"]).size()
    k_i = k_is.groupby(level="node").transform("sum")
    share2 = (k_is / k_i) ** 2
    values = 1.0 - share2.groupby(level="node").sum()
    return values.reindex(nodes).astype(float)


def cluster_bridges(
    graph: nx.Graph,
    communities: list[set[Any]] | dict[Any, int],
    *,
    bridges: list[tuple[Any, Any]] | None = None,
) -> pd.DataFrame:
    """Edges of the undirected view between different communities, heaviest first.

    Columns: ``member_a``, ``member_b`` (``a < b``), ``weight`` (replies both ways),
    ``cluster_a``, ``cluster_b``, ``is_bridge`` (a networkx ``bridges`` edge: removing it
    disconnects the undirected view). ``bridges`` may pass ``list(nx.bridges(graph))`` when
    already computed.
    """
    und = graph if not graph.is_directed() else undirected_view(graph)
    member = communities if isinstance(communities, dict) else _membership(communities)
    if bridges is None:
        bridges = list(nx.bridges(und)) if und.number_of_edges() else []
    cut = {tuple(sorted(e)) for e in bridges}
    rows = []
    for u, v, w in und.edges(data="weight", default=1):
        if member[u] != member[v]:
            a, b = sorted((u, v))
            rows.append((a, b, w, member[a], member[b], (a, b) in cut))
    columns = ["member_a", "member_b", "weight", "cluster_a", "cluster_b", "is_bridge"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(
        ["weight", "member_a", "member_b"], ascending=[False, True, True]
    ).reset_index(drop=True)


# ---- the study -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerRanking(Result):
    """Members ranked as brokers between parts of the conversation, with reasons.

    Attributes
    ----------
    n_nodes, n_edges : int
        Members (bots excluded) and edges of the undirected view.
    n_communities : int
        Communities found (Louvain, seeded; see :func:`_communities`).
    modularity : float
        Weighted modularity of that partition (networkx ``community.modularity``).
    betweenness_method : str
        ``exact`` or how it was sampled (``k`` pivots, ``seed``).
    cross_cluster_weight_share : float
        Share of reply weight on edges between different communities.
    n_bridges, n_nontrivial_bridges : int
        networkx ``bridges`` of the undirected view; non-trivial = both endpoints have degree
        ≥ 2 (removing the edge splits off a group, not a single leaf member).
    members : pandas.DataFrame
        One row per member, ranked by betweenness: ``member_id``, ``rank``, ``betweenness``,
        ``constraint``, ``participation``, ``community``, ``degree``, ``clusters_reached``,
        ``is_staff``, ``reasons`` (non-empty for the top ``top_n``).
    bridges : pandas.DataFrame
        :func:`cluster_bridges`.
    top_n : int
    """

    n_nodes: int
    n_edges: int
    n_communities: int
    modularity: float
    betweenness_method: str
    cross_cluster_weight_share: float
    n_bridges: int
    n_nontrivial_bridges: int
    members: pd.DataFrame = field(repr=False)
    bridges: pd.DataFrame = field(repr=False)
    top_n: int = 10
    title: str = "Brokers between clusters"

    def top(self) -> pd.DataFrame:
        """The ``top_n`` brokers with their reasons."""
        return self.members.head(self.top_n).reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        return self.top()

    def summary(self) -> str:
        if self.n_edges == 0:
            return "No replies between different members, so nobody brokers between clusters."
        top = self.top()
        lead = top.iloc[0]
        n_staff = int(top["is_staff"].sum())
        who = "a staff account" if lead["is_staff"] else "a member"
        return (
            f"The reply network of {self.n_nodes:,} members splits into "
            f"{self.n_communities:,} clusters (modularity {self.modularity:.2f}); "
            f"{self.cross_cluster_weight_share:.0%} of replies cross between clusters. "
            f"The strongest broker, {lead['member_id']} ({who}), lies on "
            f"{lead['betweenness']:.1%} of the shortest paths between other members "
            f"(betweenness, {self.betweenness_method}); {n_staff} of the top {len(top)} brokers "
            f"are staff. {self.n_nontrivial_bridges:,} reply links are the only connection "
            f"between two groups of members."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        top = self.top()
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * max(len(top), 4) + 1))
        data = top.assign(role=top["is_staff"].map({True: "staff", False: "member"}))
        sns.barplot(data=data, y="member_id", x="betweenness", hue="role", dodge=False, ax=ax)
        ax.set_xlabel("betweenness (share of shortest paths through the member)")
        ax.set_ylabel("member (pseudonym)")
        ax.set_title("Top brokers")
        return ax

    def to_dict(self) -> dict[str, Any]:
        top = self.top()
        return {
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "n_communities": self.n_communities,
            "modularity": float(self.modularity),
            "betweenness_method": self.betweenness_method,
            "cross_cluster_weight_share": float(self.cross_cluster_weight_share),
            "n_bridges": self.n_bridges,
            "n_nontrivial_bridges": self.n_nontrivial_bridges,
            "top_brokers": [
                {
                    "member_id": str(r.member_id),
                    "betweenness": float(r.betweenness),
                    "participation": None if pd.isna(r.participation) else float(r.participation),
                    "constraint": None if pd.isna(r.constraint) else float(r.constraint),
                    "is_staff": bool(r.is_staff),
                    "reasons": list(r.reasons),
                }
                for r in top.itertuples()
            ],
            "top_bridges": [
                [str(r.member_a), str(r.member_b), int(r.weight)]
                for r in self.bridges.head(self.top_n).itertuples()
            ],
        }


def _reasons(row: Any, n_top: int, median_constraint: float, bridge_nodes: set[Any]) -> list[str]:
    reasons = [
        f"lies on {row.betweenness:.1%} of shortest paths between other members "
        f"(rank {row.rank} of {n_top:,})"
    ]
    if row.clusters_reached >= 2:
        reasons.append(
            f"talks with members of {row.clusters_reached} clusters "
            f"(participation {row.participation:.2f})"
        )
    if not pd.isna(row.constraint) and row.constraint <= median_constraint:
        reasons.append(
            f"their contacts rarely talk to each other (constraint {row.constraint:.2f}, "
            f"median {median_constraint:.2f})"
        )
    if row.member_id in bridge_nodes:
        reasons.append("holds a reply link that is the only connection to a group of members")
    if row.is_staff:
        reasons.append("staff account")
    return reasons


def broker_ranking(
    graph: nx.DiGraph,
    *,
    top_n: int = 10,
    exact_max_nodes: int = 5000,
    k: int = 500,
    seed: int = 0,
    engine: Engine = "igraph",
) -> BrokerRanking:
    """Rank brokers of a reply graph (see the module docstring for each metric).

    Parameters
    ----------
    graph : networkx.DiGraph
        Weighted reply graph with ``is_staff``/``is_bot`` node flags; bots are dropped.
    top_n : int
        Brokers listed with reasons.
    exact_max_nodes, k, seed, engine
        Betweenness options (:func:`betweenness`); ``seed`` also seeds the communities.
    """
    directed = without_bots(graph)
    und = undirected_view(directed)
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
    if und.number_of_edges() == 0:
        empty = pd.DataFrame({c: [] for c in columns})
        no_bridges = cluster_bridges(und, {v: 0 for v in und})
        return BrokerRanking(
            und.number_of_nodes(), 0, 0, 0.0, "exact", 0.0, 0, 0, empty, no_bridges, top_n
        )
    parts = _communities(und, seed=seed)
    member = _membership(parts)
    between = betweenness(und, exact_max_nodes=exact_max_nodes, k=k, seed=seed, engine=engine)
    constraint = burt_constraint(directed, engine=engine).reindex(list(und.nodes))
    participation = participation_coefficients(und, member)
    nodes = list(und.nodes)
    frame = pd.DataFrame(
        {
            "member_id": nodes,
            "betweenness": between.values.reindex(nodes).to_numpy(),
            "constraint": constraint.to_numpy(),
            "participation": participation.to_numpy(),
            "community": [member[v] for v in nodes],
            "degree": [und.degree(v) for v in nodes],
            "clusters_reached": [len({member[u] for u in und.neighbors(v)}) for v in nodes],
            "is_staff": [bool(und.nodes[v].get("is_staff", False)) for v in nodes],
        }
    )
    frame = frame.sort_values(["betweenness", "member_id"], ascending=[False, True])
    frame = frame.reset_index(drop=True)
    frame.insert(1, "rank", np.arange(1, len(frame) + 1))
    all_bridges = list(nx.bridges(und))
    bridges = cluster_bridges(und, member, bridges=all_bridges)
    nontrivial = [(u, v) for u, v in all_bridges if und.degree(u) >= 2 and und.degree(v) >= 2]
    bridge_nodes = {x for e in nontrivial for x in e}
    median_constraint = float(np.nanmedian(frame["constraint"]))
    reasons = [
        _reasons(row, len(frame), median_constraint, bridge_nodes) if row.rank <= top_n else []
        for row in frame.itertuples()
    ]
    frame["reasons"] = reasons
    total = sum(w for *_, w in und.edges(data="weight"))
    return BrokerRanking(
        n_nodes=und.number_of_nodes(),
        n_edges=und.number_of_edges(),
        n_communities=len(parts),
        modularity=float(nx.community.modularity(und, parts, weight="weight")),
        betweenness_method=between.method,
        cross_cluster_weight_share=float(bridges["weight"].sum() / total) if total else 0.0,
        n_bridges=len(all_bridges),
        n_nontrivial_bridges=len(nontrivial),
        members=frame,
        bridges=bridges,
        top_n=top_n,
    )


def brokers(
    community: Community,
    *,
    top_n: int = 10,
    exact_max_nodes: int = 5000,
    k: int = 500,
    seed: int = 0,
    engine: Engine = "igraph",
    **kwargs: Any,
) -> BrokerRanking:
    """Brokers of the community's reply graph: :func:`broker_ranking` on
    :func:`~analysis.network.reply.reply_graph` (``**kwargs``: its date range and options)."""
    from analysis.network.reply import reply_graph

    graph = reply_graph(community, **kwargs)
    return broker_ranking(
        graph, top_n=top_n, exact_max_nodes=exact_max_nodes, k=k, seed=seed, engine=engine
    )
