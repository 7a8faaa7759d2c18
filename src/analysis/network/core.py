"""The community's core: k-cores, the 5–10 members at the centre, and its turnover.

All metrics use the undirected view of the graph (:func:`analysis.network.graphs.undirected_view`:
weights of *u → v* and *v → u* summed, self-loops dropped), because cores are defined for
undirected graphs. networkx is the oracle (https://networkx.org); igraph's ``coreness`` gives the
same numbers (checked in the validation tests). The rich club is in
:mod:`analysis.network.rich_club`.
"""

from __future__ import annotations

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
    "core_members",
    "core_stability",
    "innermost_core",
    "k_core_numbers",
]
