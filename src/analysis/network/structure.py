"""Structure of an interaction graph: size, density, reciprocity, clustering, mixing, components.

Every number is computed by networkx (https://networkx.org) on the graph given, directed or not;
metrics defined only for undirected graphs use :func:`analysis.network.graphs.undirected_view`
(edge weights of *u → v* and *v → u* summed, self-loops dropped).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from analysis.network.graphs import undirected_view
from analysis.results import Result


def garlaschelli_loffredo(graph: nx.DiGraph) -> tuple[float, float, float]:
    """Reciprocity ``r``, density ``ā`` and Garlaschelli–Loffredo ``ρ`` of a directed graph.

    ``r = L↔ / L``: the share of directed edges (self-loops excluded) whose reverse edge also
    exists (equal to networkx ``overall_reciprocity`` on a graph without self-loops).
    ``ā = L / (N (N − 1))``: the density, i.e. the reciprocity expected by chance in a random
    graph with the same number of nodes and edges.
    ``ρ = (r − ā) / (1 − ā)``: positive when edges are reciprocated more than chance, negative
    when less, 0 for a random graph, 1 for a fully reciprocal one.

    Reference: D. Garlaschelli and M. I. Loffredo (2004), "Patterns of link reciprocity in
    directed networks", Physical Review Letters 93, 268701.

    Returns ``(nan, nan, nan)`` for a graph with fewer than 2 nodes or no edges.
    """
    n = graph.number_of_nodes()
    edges = [(u, v) for u, v in graph.edges() if u != v]
    if n < 2 or not edges:
        return float("nan"), float("nan"), float("nan")
    edge_set = set(edges)
    mutual = sum((v, u) in edge_set for u, v in edges)
    r = mutual / len(edges)
    a = len(edges) / (n * (n - 1))
    rho = (r - a) / (1 - a) if a < 1 else float("nan")
    return r, a, rho


def _ccdf(values: pd.Series) -> pd.DataFrame:
    """``value``, ``ccdf`` = P(X ≥ value), for the distinct positive values."""
    values = values[values > 0].sort_values()
    n = len(values)
    if n == 0:
        return pd.DataFrame({"value": [], "ccdf": []})
    distinct = np.unique(values.to_numpy())
    ge = n - np.searchsorted(values.to_numpy(), distinct, side="left")
    return pd.DataFrame({"value": distinct, "ccdf": ge / n})


@dataclass(frozen=True)
class GraphStructure(Result):
    """Size, cohesion, reciprocity, clustering and degree mixing of an interaction graph.

    Attributes
    ----------
    directed : bool
        Whether the graph is directed (reciprocity is defined only then).
    n_nodes, n_edges : int
        Nodes, and distinct edges (ordered pairs if directed).
    total_weight : float
        Sum of edge weights (e.g. number of replies).
    density : float
        networkx ``density``: ``L / (N (N − 1))`` directed, ``2L / (N (N − 1))`` undirected.
    reciprocity : float
        networkx ``overall_reciprocity``: share of directed edges whose reverse edge exists
        (self-loops count as unreciprocated edges there). NaN for undirected graphs.
    rho : float
        Garlaschelli–Loffredo ρ = (r − ā)/(1 − ā) with r the reciprocity and ā the density,
        both without self-loops (Garlaschelli & Loffredo 2004, PRL 93, 268701); see
        :func:`garlaschelli_loffredo`. NaN for undirected graphs.
    clustering : float
        Average local clustering coefficient of the *unweighted* undirected view (networkx
        ``average_clustering``; nodes of degree < 2 count as 0; Watts & Strogatz 1998).
    clustering_weighted : float
        The same with weights: networkx's weighted clustering (Onnela et al. 2005, PRE 71,
        065103: geometric mean of the triangle's edge weights, each divided by the largest
        weight in the graph) on the undirected view with summed weights.
    assortativity : float
        Degree assortativity of the unweighted undirected view (Pearson correlation of the
        degrees at either end of an edge; Newman 2002, PRL 89, 208701; networkx
        ``degree_assortativity_coefficient``). NaN when undefined (e.g. all degrees equal).
    giant_share : float
        Share of nodes in the largest weakly connected component (connected for undirected).
    n_components : int
        Number of weakly connected components.
    nodes : pandas.DataFrame
        Per node: ``member_id``, ``degree`` (distinct neighbours in the undirected view),
        ``strength`` (sum of weights in the undirected view) and, when directed, ``in_degree``,
        ``out_degree``, ``in_strength``, ``out_strength``; plus ``is_staff``.
    """

    directed: bool
    n_nodes: int
    n_edges: int
    total_weight: float
    density: float
    reciprocity: float
    rho: float
    clustering: float
    clustering_weighted: float
    assortativity: float
    giant_share: float
    n_components: int
    nodes: pd.DataFrame = field(repr=False)
    title: str = "Network structure"

    def to_frame(self) -> pd.DataFrame:
        """The headline metrics, one row each (``metric``, ``value``)."""
        return pd.DataFrame(
            {"metric": list(self._scalars()), "value": [float(v) for v in self._scalars().values()]}
        )

    def _scalars(self) -> dict[str, Any]:
        return {
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "total_weight": self.total_weight,
            "density": self.density,
            "reciprocity": self.reciprocity,
            "rho": self.rho,
            "clustering": self.clustering,
            "clustering_weighted": self.clustering_weighted,
            "assortativity": self.assortativity,
            "giant_share": self.giant_share,
            "n_components": self.n_components,
        }

    def degree_distribution(self, column: str = "degree") -> pd.DataFrame:
        """Empirical CCDF of a per-node column: ``value``, ``ccdf`` = share of nodes ≥ value.

        Nodes with value 0 are left out (they cannot be drawn on log axes).
        """
        return _ccdf(self.nodes[column])

    def summary(self) -> str:
        if self.n_nodes == 0:
            return "The graph has no edges, so there is no network structure to describe."
        parts = [
            f"{self.n_nodes:,} members and {self.n_edges:,} links (density {self.density:.4f}); "
            f"{self.giant_share:.0%} of members are in the largest connected group."
        ]
        if self.directed and not np.isnan(self.rho):
            lean = "more" if self.rho > 0 else "less"
            parts.append(
                f"{self.reciprocity:.0%} of links are returned, {lean} than chance would give "
                f"(Garlaschelli–Loffredo ρ = {self.rho:.2f})."
            )
        parts.append(
            f"Two contacts of a member are themselves linked with probability "
            f"{self.clustering:.2f} on average (clustering)."
        )
        if not np.isnan(self.assortativity):
            partner = "each other" if self.assortativity > 0 else "less-connected members"
            parts.append(
                f"Well-connected members tend to link to {partner} "
                f"(degree assortativity {self.assortativity:.2f})."
            )
        return " ".join(parts)

    def plot(self, ax: Any = None) -> Any:
        """The degree CCDF on log-log axes (see :meth:`plot_distributions` for all)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4))
        ccdf = self.degree_distribution("degree")
        ax.loglog(ccdf["value"], ccdf["ccdf"], marker=".", linestyle="none")
        ax.set_xlabel("degree (distinct contacts)")
        ax.set_ylabel("share of members with at least this degree")
        ax.set_title("Degree distribution (CCDF)")
        return ax

    def plot_distributions(self, axes: Any = None) -> Any:
        """Log-log CCDFs of degree and strength (in/out too when directed); returns the axes."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        kinds = ["degree", "strength"]
        columns = {
            "degree": ["degree"] + (["in_degree", "out_degree"] if self.directed else []),
            "strength": ["strength"] + (["in_strength", "out_strength"] if self.directed else []),
        }
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 4))
        palette = sns.color_palette(n_colors=3)
        for ax, kind in zip(axes, kinds, strict=True):
            for color, col in zip(palette, columns[kind], strict=False):
                ccdf = self.degree_distribution(col)
                ax.loglog(
                    ccdf["value"],
                    ccdf["ccdf"],
                    marker=".",
                    linestyle="-",
                    color=color,
                    label=col.replace("_", " "),
                )
            ax.set_xlabel(kind)
            ax.set_ylabel("P(X ≥ x)")
            ax.set_title(f"{kind.capitalize()} distribution (CCDF, log-log)")
            ax.legend()
        return axes

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"directed": self.directed}
        for key, value in self._scalars().items():
            value = float(value) if not isinstance(value, int) else value
            out[key] = None if isinstance(value, float) and np.isnan(value) else value
        return out


def structure(graph: nx.Graph) -> GraphStructure:
    """Size, density, reciprocity (plain and Garlaschelli–Loffredo), clustering, assortativity.

    Parameters
    ----------
    graph : networkx.Graph or networkx.DiGraph
        An interaction graph with ``weight`` edge attributes (missing weights count as 1), e.g.
        from :func:`analysis.network.graphs.interaction_graph`.

    Returns
    -------
    GraphStructure
        See its attributes for the exact definition of every number.
    """
    directed = graph.is_directed()
    und = undirected_view(graph)
    n = graph.number_of_nodes()
    columns = ["member_id", "degree", "strength", "is_staff"]
    if directed:
        columns += ["in_degree", "out_degree", "in_strength", "out_strength"]
    if n == 0:
        empty = pd.DataFrame({c: [] for c in columns})
        nan = float("nan")
        return GraphStructure(directed, 0, 0, 0.0, 0.0, nan, nan, nan, nan, nan, 0.0, 0, empty)
    nodes = list(graph.nodes)
    data: dict[str, Any] = {
        "member_id": nodes,
        "degree": [und.degree(v) for v in nodes],
        "strength": [und.degree(v, weight="weight") for v in nodes],
        "is_staff": [bool(graph.nodes[v].get("is_staff", False)) for v in nodes],
    }
    if directed:
        data["in_degree"] = [graph.in_degree(v) for v in nodes]
        data["out_degree"] = [graph.out_degree(v) for v in nodes]
        data["in_strength"] = [graph.in_degree(v, weight="weight") for v in nodes]
        data["out_strength"] = [graph.out_degree(v, weight="weight") for v in nodes]
    frame = pd.DataFrame(data)[columns]
    if directed:
        components = list(nx.weakly_connected_components(graph))
        reciprocity = (
            float(nx.overall_reciprocity(graph)) if graph.number_of_edges() else float("nan")
        )
        _, _, rho = garlaschelli_loffredo(graph)
    else:
        components = list(nx.connected_components(graph))
        reciprocity = rho = float("nan")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            assortativity = float(nx.degree_assortativity_coefficient(nx.Graph(und.edges())))
        except (ValueError, ZeroDivisionError):
            assortativity = float("nan")
    return GraphStructure(
        directed=directed,
        n_nodes=n,
        n_edges=graph.number_of_edges(),
        total_weight=float(sum(w for *_, w in graph.edges(data="weight", default=1))),
        density=float(nx.density(graph)),
        reciprocity=reciprocity,
        rho=float(rho),
        clustering=float(nx.average_clustering(und)),
        clustering_weighted=float(nx.average_clustering(und, weight="weight")),
        assortativity=assortativity,
        giant_share=max(len(c) for c in components) / n,
        n_components=len(components),
        nodes=frame,
    )


__all__ = ["GraphStructure", "garlaschelli_loffredo", "structure"]
