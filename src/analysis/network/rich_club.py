"""The rich club: are the best-connected members linked to each other more than chance?

The rich-club coefficient φ(k) on the undirected view of the graph
(:func:`analysis.network.graphs.undirected_view`: weights of *u → v* and *v → u* summed,
self-loops dropped; the rich club is defined for undirected graphs), normalised by its mean over
seeded degree-preserving rewirings (Maslov–Sneppen double-edge swaps), so that the same graph and
seed give the same result. networkx is the oracle (https://networkx.org).
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

__all__ = ["RichClub", "rich_club"]


@dataclass(frozen=True)
class RichClub(Result):
    """Rich-club coefficient against degree-preserving rewiring.

    Attributes
    ----------
    table : pandas.DataFrame
        Per degree threshold ``k``: ``n_rich`` (nodes with degree > k), ``phi`` (the rich-club
        coefficient φ(k) = 2 E>k / (N>k (N>k − 1)), networkx ``rich_club_coefficient`` with
        ``normalized=False``), ``phi_random_mean`` and ``phi_random_sd`` over the rewired graphs,
        and ``phi_norm`` = φ(k) / mean φ_random(k). ``phi_norm > 1`` means the members with more
        than k contacts are linked to each other more than degrees alone explain.
    n_rewirings : int
        Rewired graphs averaged.
    n_swaps : int
        Double-edge swaps performed per rewired graph (``swaps_per_edge × edges``).
    seed : int
    """

    table: pd.DataFrame = field(repr=False)
    n_rewirings: int
    n_swaps: int
    seed: int
    title: str = "Rich club"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def at(self, k: int) -> float:
        """Normalised coefficient φ(k)/φ_random(k) at degree threshold ``k``."""
        return float(self.table.set_index("k").loc[k, "phi_norm"])

    def summary(self) -> str:
        t = self.table.dropna(subset=["phi_norm"])
        t = t[t["n_rich"] >= 5]
        if t.empty:
            return "The graph is too small to measure a rich club."
        top = t.iloc[-1]
        verdict = "more" if top["phi_norm"] > 1 else "not more"
        return (
            f"The {int(top['n_rich'])} best-connected members (more than {int(top['k'])} "
            f"contacts each) are linked to each other {top['phi_norm']:.2f} times as densely as in "
            f"random graphs with the same degrees ({self.n_rewirings} rewirings): {verdict} "
            f"than their number of contacts alone explains."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        t = self.table.dropna(subset=["phi_norm"])
        ax.plot(t["k"], t["phi_norm"], marker=".")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("degree threshold k")
        ax.set_ylabel("φ(k) / φ_random(k)")
        ax.set_title("Normalised rich-club coefficient")
        return ax

    def to_dict(self) -> dict[str, Any]:
        t = self.table.astype(object).where(self.table.notna(), None)
        return {
            "n_rewirings": self.n_rewirings,
            "n_swaps": self.n_swaps,
            "seed": self.seed,
            "table": t.to_dict(orient="list"),
        }


def _phi(edge_array: np.ndarray, degrees: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """φ(k) = 2 E>k / (N>k (N>k − 1)) for every k in ``ks`` (NaN where N>k < 2)."""
    low = np.minimum(degrees[edge_array[:, 0]], degrees[edge_array[:, 1]])
    low_sorted = np.sort(low)
    sorted_deg = np.sort(degrees)
    e_gt = len(low_sorted) - np.searchsorted(low_sorted, ks, side="right")
    n_gt = len(sorted_deg) - np.searchsorted(sorted_deg, ks, side="right")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_gt >= 2, 2 * e_gt / (n_gt * (n_gt - 1.0)), np.nan)


def _rewire(edge_array: np.ndarray, n_swaps: int, rng: np.random.Generator) -> np.ndarray:
    """``n_swaps`` successful Maslov–Sneppen double-edge swaps on a simple undirected graph.

    Two edges (a, b), (c, d) are drawn uniformly (and one of them flipped with probability ½)
    and become (a, d), (c, b) unless that would make a self-loop or a multi-edge. Degrees are
    preserved exactly. Stops after ``100 × n_swaps`` attempts if the graph cannot be rewired.
    """
    edges = [tuple(map(int, e)) for e in edge_array]
    m = len(edges)
    present = {(min(u, v), max(u, v)) for u, v in edges}
    done = attempts = 0
    max_attempts = 100 * n_swaps
    while done < n_swaps and attempts < max_attempts:
        batch = max(1024, 2 * (n_swaps - done))
        first = rng.integers(0, m, batch)
        second = rng.integers(0, m, batch)
        flips = rng.random(batch) < 0.5
        for i, j, flip in zip(first.tolist(), second.tolist(), flips.tolist(), strict=True):
            attempts += 1
            if i == j:
                continue
            a, b = edges[i]
            c, d = edges[j]
            if flip:
                c, d = d, c
            if a == d or c == b:
                continue
            e1, e2 = (min(a, d), max(a, d)), (min(c, b), max(c, b))
            if e1 in present or e2 in present or e1 == e2:
                continue
            present.discard((min(a, b), max(a, b)))
            present.discard((min(c, d), max(c, d)))
            present.add(e1)
            present.add(e2)
            edges[i], edges[j] = (a, d), (c, b)
            done += 1
            if done >= n_swaps or attempts >= max_attempts:
                break
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def rich_club(
    graph: nx.Graph, *, n_rewirings: int = 10, swaps_per_edge: int = 10, seed: int = 0
) -> RichClub:
    """Rich-club coefficient φ(k), normalised by degree-preserving rewired graphs.

    φ(k) = 2 E>k / (N>k (N>k − 1)) on the unweighted undirected view, where N>k nodes have degree
    > k and E>k edges join them (Zhou & Mondragón 2004, IEEE Comm. Letters 8, 180; equal to
    networkx ``rich_club_coefficient(normalized=False)``, checked in the tests). Because φ rises
    with k even in random graphs, it is divided by its mean over ``n_rewirings`` random graphs
    with the same degree sequence (Colizza, Flammini, Serrano & Vespignani 2006, "Detecting
    rich-club ordering in complex networks", Nature Physics 2, 110). Each random graph is made
    by ``swaps_per_edge × E`` successful double-edge swaps (Maslov & Sneppen 2002, Science 296,
    910), drawn from ``numpy.random.default_rng(seed)``. networkx's ``normalized=True`` uses a
    single rewiring with ``Q = 100`` swaps per edge; averaging several rewirings with 10 swaps
    per edge gives a steadier baseline at a tenth of the cost per graph.

    Parameters
    ----------
    graph : networkx.Graph or DiGraph
    n_rewirings : int
        Random graphs averaged (default 10).
    swaps_per_edge : int
        Successful swaps per edge per random graph (default 10).
    seed : int
        Seeds the rewirings; same graph and seed give the same result.
    """
    und = nx.Graph(undirected_view(graph).edges())
    n_edges = und.number_of_edges()
    n_swaps = swaps_per_edge * n_edges
    columns = ["k", "n_rich", "phi", "phi_random_mean", "phi_random_sd", "phi_norm"]
    if und.number_of_nodes() < 4 or n_edges < 2:
        return RichClub(pd.DataFrame({c: [] for c in columns}), n_rewirings, n_swaps, seed)
    index = {n: i for i, n in enumerate(und.nodes)}
    edge_array = np.array([(index[u], index[v]) for u, v in und.edges()], dtype=np.int64)
    degrees = np.bincount(edge_array.ravel(), minlength=len(index))
    ks = np.arange(int(degrees.max()))
    phi = _phi(edge_array, degrees, ks)
    rng = np.random.default_rng(seed)
    rand = np.array(
        [_phi(_rewire(edge_array, n_swaps, rng), degrees, ks) for _ in range(n_rewirings)]
    ).reshape(n_rewirings, len(ks))
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = rand.mean(axis=0) if n_rewirings else np.full(len(ks), np.nan)
        sd = rand.std(axis=0, ddof=1) if n_rewirings > 1 else np.full(len(ks), np.nan)
        norm = np.where(mean > 0, phi / mean, np.nan)
    table = pd.DataFrame(
        {
            "k": ks,
            "n_rich": [int((degrees > k).sum()) for k in ks],
            "phi": phi,
            "phi_random_mean": mean,
            "phi_random_sd": sd,
            "phi_norm": norm,
        }
    )
    return RichClub(table, n_rewirings, n_swaps, seed)
