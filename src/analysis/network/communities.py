"""Groups within the community: Leiden partitions, their stability across seeds, a Louvain check.

Partitions are found on the undirected weighted view of the graph
(:func:`analysis.network.graphs.undirected_view`) by the Leiden algorithm (Traag, Waltman & van
Eck 2019, "From Louvain to Leiden: guaranteeing well-connected communities", Scientific Reports
9, 5233; leidenalg + igraph). Their modularity is always recomputed by networkx
(``networkx.community.modularity``, the oracle) on the same graph:

    Q = 1/(2m) Σ_ij [A_ij − γ k_i k_j / (2m)] δ(c_i, c_j)

with A the weight matrix, k_i the strength of node i, m the total weight and γ the resolution
(Newman & Girvan 2004, PRE 69, 026113; Reichardt & Bornholdt 2006 for γ).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.special import comb

from analysis.network.graphs import to_igraph, undirected_view
from analysis.results import Result


def adjusted_rand_index(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float:
    """Adjusted Rand index between two labelings of the same items (Hubert & Arabie 1985).

    With contingency counts n_ij, row sums a_i, column sums b_j and n items:

        ARI = (Σ C(n_ij,2) − E) / (½[Σ C(a_i,2) + Σ C(b_j,2)] − E),
        E = Σ C(a_i,2) · Σ C(b_j,2) / C(n,2).

    1 for identical partitions (up to relabelling), about 0 for independent ones, and can be
    negative. When the denominator is 0 (both labelings put every item in one cluster, or every
    item alone) the partitions are identical and the index is 1, as in scikit-learn's
    ``adjusted_rand_score``. Reference: L. Hubert and P. Arabie (1985), "Comparing partitions",
    Journal of Classification 2, 193–218.
    """
    a = list(labels_a)
    b = list(labels_b)
    if len(a) != len(b):
        raise ValueError(f"labelings have different lengths: {len(a)} and {len(b)}")
    n = len(a)
    if n < 2:
        return 1.0
    _, ia = np.unique(np.array(a, dtype=object).astype(str), return_inverse=True)
    _, ib = np.unique(np.array(b, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    sum_ij = float(comb(table, 2).sum())
    sum_a = float(comb(table.sum(axis=1), 2).sum())
    sum_b = float(comb(table.sum(axis=0), 2).sum())
    expected = sum_a * sum_b / float(comb(n, 2))
    maximum = (sum_a + sum_b) / 2
    if maximum == expected:
        return 1.0
    return float((sum_ij - expected) / (maximum - expected))


def _labels(partition: dict[Any, int], nodes: Iterable[Any]) -> list[int]:
    return [partition[n] for n in nodes]


def _canonical(groups: Iterable[Iterable[Any]]) -> dict[Any, int]:
    """Node → community id, ids ordered by size (largest 0), ties by smallest member."""
    groups = [sorted(g, key=str) for g in groups if g]
    groups.sort(key=lambda g: (-len(g), str(g[0])))
    return {n: i for i, g in enumerate(groups) for n in g}


def _weighted_view(graph: nx.Graph, weight: str | None) -> nx.Graph:
    return undirected_view(graph, weight=weight)


def _modularity(und: nx.Graph, partition: dict[Any, int], resolution: float) -> float:
    if und.number_of_edges() == 0:
        return float("nan")
    groups: dict[int, set[Any]] = {}
    for node, c in partition.items():
        groups.setdefault(c, set()).add(node)
    return float(
        nx.community.modularity(und, list(groups.values()), weight="weight", resolution=resolution)
    )


def _leiden(und: nx.Graph, seed: int, resolution: float) -> dict[Any, int]:
    import leidenalg

    ig_graph = to_igraph(und)
    if resolution == 1.0:
        part = leidenalg.find_partition(
            ig_graph,
            leidenalg.ModularityVertexPartition,
            weights="weight",
            n_iterations=-1,
            seed=seed,
        )
    else:
        part = leidenalg.find_partition(
            ig_graph,
            leidenalg.RBConfigurationVertexPartition,
            weights="weight",
            resolution_parameter=resolution,
            n_iterations=-1,
            seed=seed,
        )
    names = ig_graph.vs["name"]
    return _canonical([[names[i] for i in members] for members in part])


@dataclass(frozen=True)
class Communities(Result):
    """A partition of the members into communities, with its modularity.

    Attributes
    ----------
    partition : dict
        Member → community id (0 = largest community).
    modularity : float
        Newman–Girvan modularity of the partition on the undirected weighted view at
        ``resolution``, computed by networkx ``community.modularity``.
    resolution : float
    seed : int
    method : str
        ``"leiden"`` or ``"louvain"``.
    sizes : tuple of int
        Community sizes, largest first.
    """

    partition: dict[Any, int] = field(repr=False)
    modularity: float
    resolution: float
    seed: int
    method: str
    sizes: tuple[int, ...]
    title: str = "Communities"

    @property
    def n_communities(self) -> int:
        return len(self.sizes)

    def groups(self) -> list[list[Any]]:
        """The communities as lists of members, community 0 first."""
        out: list[list[Any]] = [[] for _ in self.sizes]
        for node, c in self.partition.items():
            out[c].append(node)
        return [sorted(g, key=str) for g in out]

    def to_frame(self) -> pd.DataFrame:
        """``member_id``, ``community``; by community, then member."""
        frame = pd.DataFrame(
            {"member_id": list(self.partition), "community": list(self.partition.values())}
        )
        order = sorted(
            range(len(frame)),
            key=lambda i: (frame["community"].iat[i], str(frame["member_id"].iat[i])),
        )
        return frame.iloc[order].reset_index(drop=True)

    def summary(self) -> str:
        if not self.sizes:
            return "The graph has no edges, so it has no communities."
        big = sum(s for s in self.sizes if s >= 5)
        return (
            f"{self.method.capitalize()} splits the {sum(self.sizes):,} members into "
            f"{self.n_communities} groups (the largest has {self.sizes[0]:,}; {big:,} members are "
            f"in groups of 5 or more), with modularity {self.modularity:.3f}: links fall inside "
            f"groups {'clearly ' if self.modularity >= 0.3 else ''}more often than chance."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        shown = self.sizes[:30]
        ax.bar(range(len(shown)), shown)
        ax.set_xlabel("community (largest first)")
        ax.set_ylabel("members")
        ax.set_title(f"Community sizes (modularity {self.modularity:.3f})")
        return ax

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "modularity": self.modularity,
            "resolution": self.resolution,
            "seed": self.seed,
            "n_communities": self.n_communities,
            "sizes": list(self.sizes),
            "partition": {str(k): int(v) for k, v in self.partition.items()},
        }


def _result(und: nx.Graph, partition: dict[Any, int], *, resolution, seed, method) -> Communities:
    sizes = np.bincount(list(partition.values())) if partition else np.array([], dtype=int)
    return Communities(
        partition=partition,
        modularity=_modularity(und, partition, resolution),
        resolution=float(resolution),
        seed=int(seed),
        method=method,
        sizes=tuple(int(s) for s in sizes),
    )


def leiden_communities(
    graph: nx.Graph, *, seed: int = 0, resolution: float = 1.0, weight: str | None = "weight"
) -> Communities:
    """Leiden communities of the undirected weighted view, modularity checked by networkx.

    Parameters
    ----------
    graph : networkx.Graph or DiGraph
        Directed graphs are symmetrised (weights of both directions summed).
    seed : int
        leidenalg's random seed; same graph and seed give the same partition.
    resolution : float
        γ. At 1.0 leidenalg's ``ModularityVertexPartition`` is optimised; otherwise
        ``RBConfigurationVertexPartition`` with ``resolution_parameter=γ`` (the same quality
        function with γ). Iterated until the partition no longer improves (``n_iterations=-1``).
    weight : str or None
        Edge attribute used as weight; ``None`` treats every edge as weight 1.
    """
    und = _weighted_view(graph, weight)
    if und.number_of_edges() == 0:
        partition = _canonical([[n] for n in und.nodes])
    else:
        partition = _leiden(und, seed, resolution)
    return _result(und, partition, resolution=resolution, seed=seed, method="leiden")


def louvain(
    graph: nx.Graph, *, seed: int = 0, resolution: float = 1.0, weight: str | None = "weight"
) -> Communities:
    """Louvain communities (networkx ``louvain_communities``; Blondel et al. 2008, J. Stat.
    Mech. P10008) of the undirected weighted view, with networkx modularity."""
    und = _weighted_view(graph, weight)
    if und.number_of_edges() == 0:
        groups: list[Any] = [[n] for n in und.nodes]
    else:
        groups = nx.community.louvain_communities(
            und, weight="weight", resolution=resolution, seed=seed
        )
    return _result(und, _canonical(groups), resolution=resolution, seed=seed, method="louvain")


@dataclass(frozen=True)
class CommunityStability(Result):
    """How much Leiden partitions agree across random seeds.

    Attributes
    ----------
    seeds : tuple of int
    modularity : tuple of float
        Modularity of each seed's partition (networkx).
    ari_mean, ari_min : float
        Mean and minimum adjusted Rand index over all pairs of seeds (1 = the same partition
        every time). NaN with fewer than two seeds.
    best_seed : int
        The seed with the highest modularity (smallest seed on ties).
    method : str
        How the runs were made when the caller departs from the defaults (the study's igraph
        path at scale runs fewer seeds and says so here, :func:`analysis.network.fast.
        stability_seeds`); empty otherwise. Appended to :meth:`summary`.
    """

    seeds: tuple[int, ...]
    modularity: tuple[float, ...]
    ari_mean: float
    ari_min: float
    best_seed: int
    method: str = ""
    title: str = "Community stability"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"seed": self.seeds, "modularity": self.modularity})

    def summary(self) -> str:
        if np.isnan(self.ari_mean):
            return "Run at least two seeds to measure how stable the communities are."
        verdict = (
            "stable"
            if self.ari_min >= 0.9
            else "fairly stable"
            if self.ari_mean >= 0.7
            else "unstable: read single groups with caution"
        )
        text = (
            f"Across {len(self.seeds)} random seeds the partitions agree with adjusted Rand index "
            f"{self.ari_mean:.2f} on average (lowest {self.ari_min:.2f}); the grouping is "
            f"{verdict}. Modularity ranges {min(self.modularity):.3f}–{max(self.modularity):.3f}."
        )
        return f"{text} {self.method}" if self.method else text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.seeds, self.modularity, marker="o", linestyle="none")
        ax.set_xlabel("seed")
        ax.set_ylabel("modularity")
        ax.set_title(f"Leiden across seeds (mean ARI {self.ari_mean:.2f})")
        return ax

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if np.isnan(x) else float(x)

        out = {
            "seeds": list(self.seeds),
            "modularity": [float(m) for m in self.modularity],
            "ari_mean": num(self.ari_mean),
            "ari_min": num(self.ari_min),
            "best_seed": self.best_seed,
        }
        if self.method:
            out["method"] = self.method
        return out


def community_stability(
    graph: nx.Graph,
    seeds: Iterable[int] = range(10),
    *,
    resolution: float = 1.0,
    weight: str | None = "weight",
) -> CommunityStability:
    """Leiden with each seed; mean and minimum pairwise adjusted Rand index between the runs.

    ARI by :func:`adjusted_rand_index` over all nodes; modularity by networkx.
    """
    seeds = tuple(int(s) for s in seeds)
    runs = [leiden_communities(graph, seed=s, resolution=resolution, weight=weight) for s in seeds]
    nodes = list(graph.nodes)
    aris = [
        adjusted_rand_index(_labels(a.partition, nodes), _labels(b.partition, nodes))
        for a, b in itertools.combinations(runs, 2)
    ]
    return stability_result(seeds, tuple(r.modularity for r in runs), aris)


def stability_result(
    seeds: tuple[int, ...], modularity: tuple[float, ...], aris: list[float], method: str = ""
) -> CommunityStability:
    """:class:`CommunityStability` from the seeds' modularities and the pairwise ARIs
    (``method``: :attr:`CommunityStability.method`)."""
    best = seeds[int(np.argmax(modularity))] if seeds else 0
    return CommunityStability(
        seeds=seeds,
        modularity=modularity,
        ari_mean=float(np.mean(aris)) if aris else float("nan"),
        ari_min=float(np.min(aris)) if aris else float("nan"),
        best_seed=best,
        method=method,
    )


@dataclass(frozen=True)
class LouvainCheck(Result):
    """Leiden against networkx's Louvain on the same graph and seed.

    Attributes
    ----------
    leiden_modularity, louvain_modularity : float
        networkx modularity of each partition.
    ari : float
        Adjusted Rand index between the two partitions.
    n_leiden, n_louvain : int
        Number of communities each finds.
    """

    leiden_modularity: float
    louvain_modularity: float
    ari: float
    n_leiden: int
    n_louvain: int
    seed: int
    title: str = "Leiden vs Louvain"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "method": ["leiden", "louvain"],
                "modularity": [self.leiden_modularity, self.louvain_modularity],
                "communities": [self.n_leiden, self.n_louvain],
            }
        )

    def summary(self) -> str:
        return (
            f"Leiden (modularity {self.leiden_modularity:.3f}, {self.n_leiden} groups) and "
            f"networkx's Louvain (modularity {self.louvain_modularity:.3f}, {self.n_louvain} "
            f"groups) agree with adjusted Rand index {self.ari:.2f}."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3.5))
        frame = self.to_frame()
        ax.bar(frame["method"], frame["modularity"])
        ax.set_ylabel("modularity")
        ax.set_title(f"Leiden vs Louvain (ARI {self.ari:.2f})")
        return ax

    def to_dict(self) -> dict[str, Any]:
        return {
            "leiden_modularity": self.leiden_modularity,
            "louvain_modularity": self.louvain_modularity,
            "ari": self.ari,
            "n_leiden": self.n_leiden,
            "n_louvain": self.n_louvain,
            "seed": self.seed,
        }


def louvain_cross_check(
    graph: nx.Graph, seed: int = 0, *, resolution: float = 1.0, weight: str | None = "weight"
) -> LouvainCheck:
    """Leiden and networkx ``louvain_communities`` with the same seed: modularities and ARI."""
    lei = leiden_communities(graph, seed=seed, resolution=resolution, weight=weight)
    lou = louvain(graph, seed=seed, resolution=resolution, weight=weight)
    nodes = list(graph.nodes)
    return LouvainCheck(
        leiden_modularity=lei.modularity,
        louvain_modularity=lou.modularity,
        ari=adjusted_rand_index(_labels(lei.partition, nodes), _labels(lou.partition, nodes)),
        n_leiden=lei.n_communities,
        n_louvain=lou.n_communities,
        seed=int(seed),
    )


__all__ = [
    "Communities",
    "CommunityStability",
    "LouvainCheck",
    "adjusted_rand_index",
    "community_stability",
    "leiden_communities",
    "louvain",
    "louvain_cross_check",
]
