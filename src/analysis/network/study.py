"""The interaction network study in one call: who holds the community together.

:func:`network_study` builds the reply graph once on the engine and runs the network metrics of
this package (structure, core, communities, brokers, roles, staff dependency, newcomer
integration, monthly evolution); :class:`NetworkStudy` carries every result and the headline
findings a report opens with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.network.ambassadors import ambassador_candidates
from analysis.network.brokers import brokers
from analysis.network.communities import community_stability, leiden_communities
from analysis.network.core import core_members
from analysis.network.dependency import staff_dependency
from analysis.network.evolution import network_evolution
from analysis.network.fast import (
    STABILITY_SEEDS,
    GraphEngine,
    choose_engine,
    start_network_metrics,
)
from analysis.network.fast_evolution import fast_network_evolution
from analysis.network.fast_graph import FastGraph
from analysis.network.fast_replies import contacts_from_pairs, graph_from_pairs, reply_pairs
from analysis.network.integration import newcomer_integration
from analysis.network.reply import network_overview, reply_graph
from analysis.network.roles import member_roles
from analysis.network.structure import structure
from analysis.results import Result


@dataclass(frozen=True)
class NetworkStudy(Result):
    """All network results for one community (and date range).

    Attributes
    ----------
    overview : NetworkOverview
        Size and the top members by PageRank.
    structure, core, communities, stability, brokers, roles, dependency, integration,
    evolution : result objects
        See the modules of the same names in :mod:`analysis.network`.
    graph : networkx.DiGraph or FastGraph
        The reply graph the graph metrics were computed on: a networkx graph on the networkx
        path, a :class:`~analysis.network.fast_graph.FastGraph` on the igraph path.
    engine : str
        ``"networkx"`` or ``"igraph"``: the path the graph metrics took (see
        :func:`network_study`).
    ambassadors : pandas.DataFrame
        Ambassador candidates with the evidence for each
        (:func:`analysis.network.ambassadors.ambassador_candidates`).
    """

    overview: Any
    structure: Any
    core: Any
    communities: Any
    stability: Any
    brokers: Any
    roles: Any
    dependency: Any
    integration: Any
    evolution: Any
    graph: Any
    ambassadors: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    engine: str = "networkx"
    title: str = "Interaction network"

    def findings(self) -> list[str]:
        """3–5 plain-language statements, staff dependency first."""
        lines = [_first_sentence(self.dependency.summary())]
        lines.append(_first_sentence(self.core.summary()))
        lines.append(
            " ".join(
                [
                    _first_sentence(self.communities.summary()),
                    _first_sentence(self.stability.summary()),
                ]
            )
        )
        lines.append(_first_sentence(self.integration.summary()))
        lines.append(_first_sentence(self.evolution.summary()))
        return [line for line in lines if line]

    def candidates(self, top_n: int = 10) -> pd.DataFrame:
        """Mentor candidates: non-staff members who answer others' threads, ranked by expertise z.

        The expertise z-score (Zhang, Ackerman & Adamic 2007) is ``(a − q) / √(a + q)`` with
        ``a`` threads of others answered and ``q`` threads started; the reason column says why.
        """
        table = self.roles.to_frame()
        if table.empty:
            return table
        staff = table["is_staff"].astype(bool) if "is_staff" in table.columns else False
        members = table[~staff] if isinstance(staff, pd.Series) else table
        members = members.sort_values("z", ascending=False).head(top_n)
        reasons = [
            f"answered {int(r.a)} threads of others, started {int(r.q)}; role: {r.role}"
            for r in members.itertuples()
        ]
        return pd.DataFrame(
            {
                "member": members["member_id"].to_numpy(),
                "expertise z": members["z"].round(1).to_numpy(),
                "role": members["role"].to_numpy(),
                "reason": reasons,
            }
        )

    def ambassador_candidates(self) -> pd.DataFrame:
        """Ambassador candidates: members who welcome newcomers, bring members and reach across
        clusters, with the reason for each (rule in :mod:`analysis.network.ambassadors`)."""
        return self.ambassadors

    def plot_core(self, ax: Any = None, *, top_n: int = 40, seed: int = 0) -> Any:
        """The best-connected members by PageRank, coloured by community; the core ringed."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 7))
        graph = self.graph
        if not isinstance(graph, nx.Graph):  # igraph path: draw only the top members
            graph = _top_subgraph(graph, top_n)
        if graph.number_of_nodes() == 0:
            ax.text(0.5, 0.5, "no replies between members", ha="center", transform=ax.transAxes)
            return ax
        rank = nx.pagerank(graph, weight="weight")
        nodes = sorted(rank, key=lambda v: (-rank[v], v))[:top_n]
        sub = graph.subgraph(nodes).to_undirected()
        partition = self.communities.partition
        colours = [partition.get(v, -1) for v in sub.nodes]
        core = set(self.core.members)
        pos = nx.spring_layout(sub, seed=seed, weight="weight")
        sizes = [1200 * rank[v] / max(rank.values()) + 40 for v in sub.nodes]
        nx.draw_networkx_edges(sub, pos, ax=ax, alpha=0.15)
        nx.draw_networkx_nodes(
            sub,
            pos,
            ax=ax,
            node_size=sizes,
            node_color=colours,
            cmap="tab10",
            edgecolors=["black" if v in core else "white" for v in sub.nodes],
            linewidths=[2.5 if v in core else 0.5 for v in sub.nodes],
        )
        labels = {
            v: str(v)[-6:] + (" (staff)" if graph.nodes[v].get("is_staff") else "")
            for v in nodes[:15]
        }
        nx.draw_networkx_labels(sub, pos, labels=labels, ax=ax, font_size=8)
        ax.set_title(f"Top {len(nodes)} members by PageRank; colour = community, ring = core")
        ax.axis("off")
        return ax

    def to_frame(self) -> pd.DataFrame:
        return self.overview.to_frame()

    def summary(self) -> str:
        return " ".join(self.findings())

    def plot(self, ax: Any = None) -> Any:
        return self.plot_core(ax)

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        return to_jsonable(
            {
                "overview": self.overview.to_dict(),
                "staff_dependency": self.dependency.to_dict(),
                "core_members": list(self.core.members),
                "communities": self.communities.to_dict(),
                "community_stability": self.stability.to_dict(),
                "integration": self.integration.to_dict(),
                "ambassador_candidates": int(len(self.ambassadors)),
            }
        )


def _top_subgraph(graph: FastGraph, top_n: int) -> nx.DiGraph:
    """The ``top_n`` members by weighted PageRank (igraph) and the replies among them, as a
    networkx graph small enough to draw."""
    if graph.n_nodes == 0:
        return nx.DiGraph()
    rank = np.asarray(graph.igraph.pagerank(damping=0.85, weights="weight"), dtype=float)
    keep = np.zeros(graph.n_nodes, dtype=bool)
    keep[np.lexsort((np.arange(graph.n_nodes), -rank))[:top_n]] = True
    return graph.subgraph(keep).to_networkx()


def _first_sentence(text: str) -> str:
    head, sep, _ = text.partition(". ")
    return head + ("." if sep else "")


def network_study(
    community: Community,
    *,
    start: Any = None,
    end: Any = None,
    top_n: int = 10,
    seeds: Iterable[int] | None = None,
    engine: GraphEngine = "auto",
) -> NetworkStudy:
    """Run the interaction network study on the reply graph of ``[start, end)``.

    Parameters
    ----------
    community : Community
    start, end : date-like, optional
        UTC bounds of the messages considered (:meth:`Community.window`).
    top_n : int
        Members listed in rankings.
    seeds : iterable of int, optional
        Seeds for the Leiden stability check (adjusted Rand index between runs). Default: 0–3;
        on the igraph path from ``fast.STABILITY_SCALE_EDGES`` edges on, 0 and 1 only (each
        Leiden run costs ≈ 25 CPU s at a million members), stated in the stability result's
        ``method`` and summary (:func:`analysis.network.fast.stability_seeds`).
    engine : {"auto", "igraph", "networkx"}
        How the graph metrics (overview, structure, core, communities, stability, brokers, the
        graph part of staff dependency) are computed: ``"networkx"`` — the modules of this
        package on a networkx graph (the oracle); ``"igraph"`` — :mod:`analysis.network.fast`
        on a :class:`~analysis.network.fast_graph.FastGraph` built straight from the engine's
        edge list (same definitions and result objects, tested equal; differences: PageRank
        solved exactly by PRPACK where networkx stops at its 1e-6 tolerance; Leiden is igraph's
        C implementation with ``fast.LEIDEN_ITERATIONS`` = 2 iterations (1 from
        ``fast.STABILITY_SCALE_EDGES`` edges on, ``fast.LEIDEN_ITERATIONS_AT_SCALE``, stated in
        the stability result) instead of leidenalg iterated to convergence; the broker
        communities are that Leiden instead of networkx's Louvain placeholder; betweenness
        pivots sized by the number of edges, :func:`analysis.network.fast_betweenness.
        auto_pivots`, with the measured standard error stated in the method; the monthly
        evolution by
        :func:`analysis.network.fast_evolution.fast_network_evolution`); ``"auto"`` — igraph when
        the reply graph has more than ``fast.AUTO_MAX_NODES`` nodes or ``fast.AUTO_MAX_EDGES``
        edges (:func:`analysis.network.fast.choose_engine`). Roles, newcomer integration,
        evolution and ambassadors are engine queries plus their own code on either path; on the
        igraph path the reply graph, the newcomers' contacts and the monthly networks come from
        one engine query (:mod:`analysis.network.fast_replies`), and the Leiden runs, the
        betweenness pivots, the triangle metrics, the core members and the bridges run in
        forked worker processes
        while roles, staff dependency, integration and evolution query the engine
        (:mod:`analysis.network.fast_lanes`; the same results as one process, tested).
    """
    community = community.window(start, end)
    # the reply graph, the newcomers' contacts and the monthly networks from one engine query
    pairs = reply_pairs(community) if engine != "networkx" else None
    fg = graph_from_pairs(pairs) if pairs is not None else None
    chosen = choose_engine(engine, fg.n_nodes, fg.n_edges) if fg is not None else "networkx"
    if chosen == "igraph":
        assert fg is not None and pairs is not None
        # Leiden runs and betweenness pivots start in forked workers; the engine stages run
        # here meanwhile (analysis.network.fast_lanes)
        pending = start_network_metrics(
            fg, top_n=top_n, seeds=None if seeds is None else tuple(seeds)
        )
        try:
            roles = member_roles(community, top_n=top_n)
            dependency = staff_dependency(community, graph_part=pending.dependency)
            integration = newcomer_integration(community, contacts=contacts_from_pairs(pairs))
            evolution = fast_network_evolution(community, pairs=pairs)
            del pairs
            metrics = pending.finish()
        finally:
            pending.lanes.close()
        broker_ranking = metrics["brokers"]
        return NetworkStudy(
            overview=metrics["overview"],
            structure=metrics["structure"],
            core=metrics["core"],
            communities=metrics["communities"],
            stability=metrics["stability"],
            brokers=broker_ranking,
            roles=roles,
            dependency=dependency,
            integration=integration,
            evolution=evolution,
            graph=fg,
            ambassadors=ambassador_candidates(community, broker_ranking.members, top_n=top_n),
            engine="igraph",
        )
    seeds = tuple(seeds) if seeds is not None else STABILITY_SEEDS
    graph = reply_graph(community)
    broker_ranking = brokers(community, top_n=top_n)
    return NetworkStudy(
        overview=network_overview(community, top_n=top_n),
        structure=structure(graph),
        core=core_members(graph),
        communities=leiden_communities(graph, seed=0),
        stability=community_stability(graph, seeds=seeds),
        brokers=broker_ranking,
        roles=member_roles(community, top_n=top_n),
        dependency=staff_dependency(community),
        integration=newcomer_integration(community),
        evolution=network_evolution(community),
        graph=graph,
        ambassadors=ambassador_candidates(community, broker_ranking.members, top_n=top_n),
    )
