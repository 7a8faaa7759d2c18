"""The community's core: k-cores, the rich club, the 5–10 members at the centre, and its turnover.

All metrics use the undirected view of the graph (:func:`analysis.network.graphs.undirected_view`:
weights of *u → v* and *v → u* summed, self-loops dropped), because cores and the rich club are
defined for undirected graphs. networkx is the oracle (https://networkx.org); igraph's
``coreness`` gives the same numbers (checked in the validation tests).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from analysis.network.graphs import undirected_view
from analysis.results import Result


def k_core_numbers(graph: nx.Graph) -> dict[Any, int]:
    """Core number of every node: the largest *k* such that the node is in the *k*-core.

    The *k*-core is the maximal subgraph in which every node has degree ≥ *k* (Seidman 1983,
    "Network structure and minimum degree", Social Networks 5; Batagelj & Zaversnik 2003
    algorithm, networkx ``core_number``). Computed on the unweighted undirected view.
    """
    return {n: int(k) for n, k in nx.core_number(undirected_view(graph)).items()}


def _innermost(und: nx.Graph) -> tuple[int, set[Any], dict[Any, int]]:
    if und.number_of_edges() == 0:
        return 0, set(), {n: 0 for n in und}
    numbers = nx.core_number(und)
    k = max(numbers.values())
    return int(k), {n for n, c in numbers.items() if c == k}, numbers


@dataclass(frozen=True)
class InnermostCore(Result):
    """The innermost (maximum-*k*) core of a graph.

    Attributes
    ----------
    k : int
        The largest *k* with a non-empty *k*-core (the graph's degeneracy).
    members : tuple of str
        Nodes with core number ``k``, sorted.
    n_nodes : int
        Nodes in the whole graph.
    core_numbers : pandas.DataFrame
        ``member_id``, ``core_number``, ``is_staff`` for every node.
    """

    k: int
    members: tuple[str, ...]
    n_nodes: int
    core_numbers: pd.DataFrame = field(repr=False)
    title: str = "Innermost k-core"

    def to_frame(self) -> pd.DataFrame:
        return self.core_numbers.sort_values(
            ["core_number", "member_id"], ascending=[False, True]
        ).reset_index(drop=True)

    def summary(self) -> str:
        if not self.members:
            return "The graph has no edges, so it has no core."
        staff = int(
            self.core_numbers.set_index("member_id").loc[list(self.members), "is_staff"].sum()
        )
        return (
            f"The innermost core has {len(self.members)} of {self.n_nodes:,} members, each linked "
            f"to at least {self.k} others inside it ({staff} of them staff)."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        counts = self.core_numbers["core_number"].value_counts().sort_index()
        ax.bar(counts.index, counts.to_numpy())
        ax.set_xlabel("core number k")
        ax.set_ylabel("members")
        ax.set_title("Members by core number")
        return ax

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "members": list(self.members), "n_nodes": self.n_nodes}


def innermost_core(graph: nx.Graph) -> InnermostCore:
    """The innermost *k*-core (nodes with the maximum core number) of the undirected view."""
    und = undirected_view(graph)
    k, members, numbers = _innermost(und)
    frame = pd.DataFrame(
        {
            "member_id": list(numbers),
            "core_number": [int(numbers[n]) for n in numbers],
            "is_staff": [bool(und.nodes[n].get("is_staff", False)) for n in numbers],
        }
    )
    return InnermostCore(k, tuple(sorted(members)), und.number_of_nodes(), frame)


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


@dataclass(frozen=True)
class CoreMembers(Result):
    """The handful of members at the centre of the graph, found by the rule in :func:`core_members`.

    Attributes
    ----------
    members : tuple of str
        The core members (pseudonyms), sorted.
    weight_threshold : float
        Minimum tie weight of the backbone whose innermost core was taken.
    k : int
        Core number of that innermost core in the backbone.
    rule : str
        ``"innermost"`` (taken as is), ``"expanded"`` (too small, grown) or ``"trimmed"`` (too
        large at every threshold, cut by strength).
    size : tuple of int
        The requested ``(min, max)`` size.
    table : pandas.DataFrame
        ``member_id``, ``strength`` (summed tie weight in the undirected view), ``inner_weight``
        (weight of ties to the other core members), ``is_staff``, for the core members.
    """

    members: tuple[str, ...]
    weight_threshold: float
    k: int
    rule: str
    size: tuple[int, int]
    table: pd.DataFrame = field(repr=False)
    title: str = "Core members"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        if not self.members:
            return "No core: the graph has no ties between eligible members."
        how = {
            "innermost": "",
            "expanded": " (grown to the minimum size by their ties to the core)",
            "trimmed": " (cut to the maximum size by tie strength)",
        }[self.rule]
        return (
            f"{len(self.members)} members form the core{how}: each has at least {self.k} "
            f"ties of weight {self.weight_threshold:g} or more to the others."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.35 * max(len(self.table), 4) + 1))
        sns.barplot(data=self.table, y="member_id", x="inner_weight", ax=ax)
        ax.set_xlabel("weight of ties to other core members")
        ax.set_ylabel("member (pseudonym)")
        ax.set_title("Core members")
        return ax

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": list(self.members),
            "weight_threshold": float(self.weight_threshold),
            "k": self.k,
            "rule": self.rule,
            "size": list(self.size),
        }


def core_members(
    graph: nx.Graph,
    *,
    size: tuple[int, int] = (5, 10),
    include_staff: bool = False,
    include_bots: bool = False,
) -> CoreMembers:
    """The 5–10 members forming the core: the innermost k-core of the strong-tie backbone.

    Rule (on the undirected view, weights of both directions summed; staff and bots removed
    unless included, because staff are central by job, not by choice):

    1. For each distinct tie weight *w*, ascending, form the backbone of ties with weight ≥ *w*
       and take its innermost k-core *C(w)* (nodes with the maximum core number).
    2. The core is the first *C(w)* with at most ``size[1]`` members.
    3. If that *C(w)* has fewer than ``size[0]`` members, it is expanded with members of the
       previous (larger) innermost core, ranked by the weight of their ties to the core, then
       by strength, then by id, until it has ``size[0]`` (``rule="expanded"``).
    4. If even the strongest backbone's innermost core has more than ``size[1]`` members, the
       members with the largest strength are kept (``rule="trimmed"``; ties by id).

    A weighted generalisation of the k-core in the spirit of Garas, Schweitzer & Havlin (2012),
    "A k-shell decomposition method for weighted networks", New J. Phys. 14, 083030, but by
    thresholding weights (the backbone) rather than mixing them into the degree.
    """
    lo, hi = size
    if not 1 <= lo <= hi:
        raise ValueError(f"size must be (min, max) with 1 <= min <= max, got {size!r}")
    und = undirected_view(graph)
    drop = [
        n
        for n, d in und.nodes(data=True)
        if (not include_staff and d.get("is_staff")) or (not include_bots and d.get("is_bot"))
    ]
    und.remove_nodes_from(drop)
    strength = dict(und.degree(weight="weight"))
    weights = sorted({float(w) for *_, w in und.edges(data="weight")})
    chosen: set[Any] = set()
    threshold, k, rule = 0.0, 0, "innermost"
    previous: set[Any] = set()
    for w in weights:
        backbone = nx.Graph([(u, v) for u, v, x in und.edges(data="weight") if x >= w])
        k_w, inner, _ = _innermost(backbone)
        if len(inner) <= hi:
            chosen, threshold, k = inner, w, k_w
            break
        previous, threshold, k = inner, w, k_w
    else:
        if previous:
            ranked = sorted(previous, key=lambda n: (-strength[n], str(n)))
            chosen, rule = set(ranked[:hi]), "trimmed"

    def tie_weight(n: Any, group: set[Any]) -> float:
        return float(sum(und[n][m]["weight"] for m in und[n] if m in group))

    if chosen and len(chosen) < lo and rule == "innermost":
        extra = sorted(
            previous - chosen, key=lambda n: (-tie_weight(n, chosen), -strength[n], str(n))
        )
        if extra:
            chosen = chosen | set(extra[: lo - len(chosen)])
            rule = "expanded"
    members = tuple(sorted(chosen, key=str))
    table = pd.DataFrame(
        {
            "member_id": list(members),
            "strength": [float(strength[n]) for n in members],
            "inner_weight": [tie_weight(n, chosen) for n in members],
            "is_staff": [bool(und.nodes[n].get("is_staff", False)) for n in members],
        }
    )
    return CoreMembers(members, threshold, int(k), rule, (lo, hi), table)


@dataclass(frozen=True)
class CoreStability(Result):
    """Month-to-month stability of the core (:func:`core_members` per snapshot).

    Attributes
    ----------
    table : pandas.DataFrame
        Per period: ``period``, ``n_core``, ``jaccard`` = |C_t ∩ C_t−1| / |C_t ∪ C_t−1| (NaN for
        the first period or when both are empty), ``entered`` = |C_t \\ C_t−1|, ``left`` =
        |C_t−1 \\ C_t|, ``turnover`` = left / |C_t−1| (share of last period's core gone).
    cores : dict
        Period → tuple of core members.
    """

    table: pd.DataFrame = field(repr=False)
    cores: Mapping[Any, tuple[str, ...]] = field(repr=False)
    title: str = "Core stability"

    @property
    def mean_jaccard(self) -> float:
        values = self.table["jaccard"].dropna()
        return float(values.mean()) if len(values) else float("nan")

    @property
    def always_core(self) -> tuple[str, ...]:
        """Members in the core in every period that has a core."""
        sets = [set(c) for c in self.cores.values() if c]
        return tuple(sorted(set.intersection(*sets))) if sets else ()

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        if np.isnan(self.mean_jaccard):
            return "Too few periods with a core to measure its stability."
        return (
            f"From one month to the next the core overlaps by {self.mean_jaccard:.0%} on average "
            f"(Jaccard); {len(self.always_core)} members are in the core every month, and on "
            f"average {self.table['turnover'].mean():.0%} of a month's core is gone the next."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(self.table["period"], self.table["jaccard"], marker="o", label="Jaccard")
        ax.plot(self.table["period"], self.table["turnover"], marker="s", label="turnover")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share")
        ax.set_title("Core stability month to month")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        t = self.table.assign(period=self.table["period"].astype(str))
        t = t.astype(object).where(t.notna(), None)
        return {
            "mean_jaccard": None if np.isnan(self.mean_jaccard) else self.mean_jaccard,
            "always_core": list(self.always_core),
            "table": t.to_dict(orient="records"),
            "cores": {str(k): list(v) for k, v in self.cores.items()},
        }


def core_stability(snapshots: Mapping[Any, nx.Graph], **core_kwargs: Any) -> CoreStability:
    """Jaccard overlap and turnover of :func:`core_members` between consecutive snapshots.

    ``snapshots`` maps ordered periods to graphs (e.g. :func:`~analysis.network.graphs.
    monthly_snapshots`); ``core_kwargs`` go to :func:`core_members`. Definitions in
    :class:`CoreStability`. Jaccard index: Jaccard (1912), New Phytologist 11.
    """
    cores: dict[Any, tuple[str, ...]] = {}
    rows = []
    prev: set[Any] | None = None
    for period in sorted(snapshots):
        cur = set(core_members(snapshots[period], **core_kwargs).members)
        cores[period] = tuple(sorted(cur, key=str))
        if prev is None:
            jac, entered, left, turnover = float("nan"), len(cur), 0, float("nan")
        else:
            union = prev | cur
            jac = len(prev & cur) / len(union) if union else float("nan")
            entered, left = len(cur - prev), len(prev - cur)
            turnover = left / len(prev) if prev else float("nan")
        rows.append(
            {
                "period": period,
                "n_core": len(cur),
                "jaccard": jac,
                "entered": entered,
                "left": left,
                "turnover": turnover,
            }
        )
        prev = cur
    columns = ["period", "n_core", "jaccard", "entered", "left", "turnover"]
    return CoreStability(pd.DataFrame(rows, columns=columns), cores)


__all__ = [
    "CoreMembers",
    "CoreStability",
    "InnermostCore",
    "RichClub",
    "core_members",
    "core_stability",
    "innermost_core",
    "k_core_numbers",
    "rich_club",
]
