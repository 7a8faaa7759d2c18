"""Newcomer integration: four weeks after joining, how close is a newcomer to the core?

Definitions
-----------
Contact graph at time *t*
    Undirected, unweighted graph on members (bots dropped): *u* — *v* when either replied to the
    other (explicit reply links; inferred too with ``include_inferred=True``) at any time before
    *t*. The engine returns each pair's first reply time (:func:`first_contact_expr`), so every
    snapshot is a prefix of one sorted edge list.
    The pairs come back as engine-numbered integers
    (:func:`analysis.network.integration_contacts.contact_arrays`), not id strings.
Core at time *t*
    The innermost k-core among members: the non-staff nodes whose core number (Seidman 1983;
    networkx ``core_number``, Batagelj & Zaveršnik 2003) equals the largest core number any
    non-staff node has in the contact graph at *t*. Staff stay in the graph (they carry paths)
    but are never core. (Helper :func:`innermost_core`; switch to
    ``analysis.network.core.innermost_core`` once it lands.)
Newcomer outcome
    For every non-staff, non-bot member with ``joined_at`` in ``[start, end)``: the snapshot
    ends at ``ceil_day(joined_at + weeks × 7 days)`` (the first UTC midnight at or after the end
    of the member's fourth week). At that snapshot: ``core_number`` (0 when the member has no
    contact yet), ``distance`` = shortest-path length to the nearest core member (0 for a core
    member; NaN when unreachable or not in the graph) and ``reached`` = the distance is finite.
    A member is ``observed`` when ``joined_at + weeks × 7 days`` is not after the last message in
    the data (later joiners are censored and excluded from the shares).
Per join cohort (calendar month of ``joined_at``, UTC)
    ``n_joined``, ``n_observed``, ``share_in_graph`` (observed members with any contact),
    ``share_reached`` (observed members connected to the core), ``median_distance`` (over the
    reached), ``mean_core_number`` (over the observed, zeros included).

The question comes from the domain spec ("how newcomers get connected"); distance to the core
follows the core–periphery view of Borgatti & Everett (2000), *Social Networks* 21:375.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx
import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.results import Result

__all__ = [
    "NewcomerIntegration",
    "first_contact_expr",
    "innermost_core",
    "newcomer_integration",
]


def innermost_core(graph: nx.Graph, *, exclude: set[Any] = frozenset()) -> set[Any]:
    """Nodes outside ``exclude`` whose core number is the largest among them.

    Core numbers come from ``networkx.core_number`` on the whole (undirected, self-loop free)
    graph. Empty when the graph has no edges. Placeholder for
    ``analysis.network.core.innermost_core``.
    """
    und = graph.to_undirected(as_view=False) if graph.is_directed() else graph.copy()
    und.remove_edges_from(list(nx.selfloop_edges(und)))
    if und.number_of_edges() == 0:
        return set()
    core = nx.core_number(und)
    eligible = {v: k for v, k in core.items() if v not in exclude}
    if not eligible:
        return set()
    top = max(eligible.values())
    return {v for v, k in eligible.items() if k == top and k > 0}


def first_contact_expr(community: Community, *, include_inferred: bool = False) -> Any:
    """Ordered reply pairs with the time of their first reply, as an ibis expression.

    Columns ``source`` (replier), ``target`` (author replied to), ``first_at``. Self-replies and
    service messages are dropped, as in :func:`analysis.network.reply.reply_edges_expr`.
    """
    msgs = community.messages
    replies = msgs.filter(msgs.reply_to_id.notnull() & (msgs.kind != "service"))
    sources = ["explicit", "inferred"] if include_inferred else ["explicit"]
    replies = replies.filter(replies.reply_source.isin(sources))
    parents = msgs.select(parent_id=msgs.message_id, target=msgs.member_id)
    pairs = replies.join(parents, replies.reply_to_id == parents.parent_id).select(
        source=replies.member_id, target=parents.target, at=replies.created_at
    )
    pairs = pairs.filter(pairs.source != pairs.target)
    return pairs.group_by(["source", "target"]).aggregate(first_at=pairs.at.min())


@dataclass(frozen=True)
class NewcomerIntegration(Result):
    """Newcomers' distance to the core and core number ``weeks`` after joining.

    Attributes
    ----------
    cohorts : pandas.DataFrame
        Per join month: ``cohort``, ``n_joined``, ``n_observed``, ``share_in_graph``,
        ``share_reached``, ``median_distance``, ``mean_core_number``.
    members : pandas.DataFrame
        Per newcomer: ``member_id``, ``cohort``, ``joined_at``, ``snapshot_end``, ``observed``,
        ``in_graph``, ``core_number``, ``distance``, ``reached``.
    weeks : int
    n_observed : int
    share_reached, median_distance : float
        Over all observed newcomers (NaN if none).
    """

    cohorts: pd.DataFrame = field(repr=False)
    members: pd.DataFrame = field(repr=False)
    weeks: int
    n_observed: int
    share_reached: float
    median_distance: float
    title: str = "Newcomer integration"

    def to_frame(self) -> pd.DataFrame:
        return self.cohorts.copy()

    def summary(self) -> str:
        if self.n_observed == 0:
            return f"No newcomer has been a member for {self.weeks} weeks yet."
        text = (
            f"{self.weeks} weeks after joining, {self.share_reached:.0%} of "
            f"{self.n_observed:,} newcomers are connected to the core of the community by "
            "replies"
            + (
                f", typically {self.median_distance:.0f} step(s) away."
                if not np.isnan(self.median_distance)
                else "."
            )
        )
        c = self.cohorts[self.cohorts["n_observed"] >= 30]  # months with a usable sample
        if len(c) < 2:
            return text
        best = c.loc[c["share_reached"].idxmax()]
        worst = c.loc[c["share_reached"].idxmin()]
        return text + (
            f" Among join months with at least 30 newcomers this ranges from "
            f"{worst['share_reached']:.0%} ({worst['cohort']:%b %Y}) to "
            f"{best['share_reached']:.0%} ({best['cohort']:%b %Y})."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        c = self.cohorts
        ax.plot(c["cohort"], c["share_reached"], marker="o", label="connected to the core")
        ax.plot(c["cohort"], c["share_in_graph"], marker=".", label="any reply contact")
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"share of newcomers, {self.weeks} weeks after joining")
        ax.set_xlabel("join month")
        ax.legend()
        ax.set_title("Newcomer integration")
        return ax

    def to_dict(self) -> dict[str, Any]:
        def num(x: Any) -> float | None:
            return None if pd.isna(x) else float(x)

        return {
            "weeks": self.weeks,
            "n_observed": self.n_observed,
            "share_reached": num(self.share_reached),
            "median_distance": num(self.median_distance),
            "cohorts": [
                {
                    "cohort": r.cohort.isoformat(),
                    "n_joined": int(r.n_joined),
                    "n_observed": int(r.n_observed),
                    "share_in_graph": num(r.share_in_graph),
                    "share_reached": num(r.share_reached),
                    "median_distance": num(r.median_distance),
                    "mean_core_number": num(r.mean_core_number),
                }
                for r in self.cohorts.itertuples()
            ],
        }


class _IgraphSnapshots:
    """One igraph graph grown edge by edge through the sorted contact list.

    Vertex ``n`` is a virtual hub, isolated except while distances are measured: joined to
    every core member, one breadth-first search from it gives each target's distance to the
    nearest core member plus one (a multi-source search in O(n + m), where a core × targets
    distance matrix would need |core| × |targets| numbers).
    """

    def __init__(self, n: int, edges: np.ndarray) -> None:
        import igraph as ig

        self.n = n
        self.graph = ig.Graph(n=n + 1, directed=False)
        self.edges = edges
        self.done = 0

    def __call__(
        self, upto: int, member_mask: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        g = self.graph
        if upto > self.done:
            chunk = self.edges[self.done : upto]
            g.add_edges(list(zip(chunk[:, 0].tolist(), chunk[:, 1].tolist(), strict=True)))
            self.done = upto
        core = np.asarray(g.coreness(), dtype=int)[: self.n]
        eligible = core[member_mask]
        top = int(eligible.max()) if eligible.size else 0
        if top == 0:
            return core[targets], np.full(targets.size, np.inf)
        sources = np.flatnonzero(member_mask & (core == top)).tolist()
        first = g.ecount()
        g.add_edges([(self.n, s) for s in sources])
        try:
            dist = np.asarray(g.distances(source=[self.n], target=targets.tolist())[0], float)
        finally:
            g.delete_edges(range(first, g.ecount()))
        return core[targets], dist - 1


class _NetworkxSnapshots:
    """The oracle: networkx ``core_number`` and multi-source shortest paths per snapshot."""

    def __init__(self, n: int, edges: np.ndarray) -> None:
        self.graph = nx.Graph()
        self.graph.add_nodes_from(range(n))
        self.edges = edges
        self.done = 0

    def __call__(
        self, upto: int, member_mask: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if upto > self.done:
            self.graph.add_edges_from(map(tuple, self.edges[self.done : upto].tolist()))
            self.done = upto
        return _networkx_snapshot(self.graph, member_mask, targets)


def _networkx_snapshot(
    g: nx.Graph, member_mask: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    core_nodes = innermost_core(g, exclude=set(np.flatnonzero(~member_mask).tolist()))
    core = nx.core_number(g)
    k = np.array([core[t] for t in targets], dtype=int)
    if not core_nodes:
        return k, np.full(targets.size, np.inf)
    lengths = nx.multi_source_dijkstra_path_length(g, core_nodes, weight=lambda *_: 1)
    return k, np.array([lengths.get(t, np.inf) for t in targets], dtype=float)


def newcomer_integration(
    community: Community,
    *,
    weeks: int = 4,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    include_inferred: bool = False,
    engine: Literal["igraph", "networkx"] = "igraph",
    contacts: Any = None,
) -> NewcomerIntegration:
    """Newcomer integration by join month (definitions: module docstring).

    Parameters
    ----------
    community : Community
    weeks : int
        Weeks after joining at which each newcomer is measured.
    start, end : timestamp or str, optional
        Newcomers joining in ``[start, end)``.
    include_inferred : bool
        Count inferred replies too (default: explicit reply links only).
    engine : {"igraph", "networkx"}
        Core numbers and distances by igraph (``coreness``, ``distances``) or networkx (the
        oracle; identical results, slower).
    contacts : Contacts, optional
        The contact graph of this community with these options if already built
        (:func:`analysis.network.fast_replies.contacts_from_pairs`, explicit replies: the
        study's igraph path shares one engine query with the reply graph and the evolution).
    """
    from analysis.network.integration_contacts import contact_arrays

    if contacts is None:
        contacts = contact_arrays(community, include_inferred)
    elif include_inferred:
        raise ValueError("contacts= holds explicit replies only; include_inferred must be False")
    people = contacts.people
    newcomers = people[~people["is_staff"].astype(bool) & ~people["is_bot"].astype(bool)].copy()
    newcomers["joined_at"] = pd.to_datetime(newcomers["joined_at"], utc=True)
    if start is not None:
        newcomers = newcomers[newcomers["joined_at"] >= utc_timestamp(start)]
    if end is not None:
        newcomers = newcomers[newcomers["joined_at"] < utc_timestamp(end)]
    horizon = pd.Timedelta(days=7 * weeks)
    last = community.last_message_at()
    newcomers["cohort"] = (
        newcomers["joined_at"].dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
    ).dt.tz_localize("UTC")
    newcomers["snapshot_end"] = (newcomers["joined_at"] + horizon).dt.ceil("D")
    newcomers["observed"] = (newcomers["joined_at"] + horizon) <= last
    core_number = pd.Series(0, index=newcomers.index, dtype=int)
    distance = pd.Series(np.inf, index=newcomers.index, dtype=float)
    observed = newcomers[newcomers["observed"]]
    snapshots = _IgraphSnapshots if engine == "igraph" else _NetworkxSnapshots
    snapshot = snapshots(contacts.n_nodes, contacts.edges)
    times = contacts.times
    for end_at, group in observed.groupby("snapshot_end", sort=True):
        upto = int(np.searchsorted(times, np.datetime64(end_at.tz_localize(None), "ns")))
        targets = group["node"].to_numpy(np.int64)
        k, d = snapshot(upto, contacts.member_mask, targets)
        core_number.loc[group.index] = k
        distance.loc[group.index] = d
    members = newcomers[["member_id", "cohort", "joined_at", "snapshot_end", "observed"]].copy()
    members["core_number"] = core_number.where(members["observed"], 0).astype(int)
    members["in_graph"] = members["observed"] & (members["core_number"] > 0)
    finite = np.isfinite(distance) & members["observed"]
    members["distance"] = distance.where(finite, np.nan)
    members["reached"] = finite.astype(bool)
    members = members.sort_values(["joined_at", "member_id"]).reset_index(drop=True)
    obs = members[members["observed"]]
    grouped = members.groupby("cohort")
    cohorts = pd.DataFrame(
        {
            "n_joined": grouped.size(),
            "n_observed": grouped["observed"].sum().astype(int),
            "share_in_graph": obs.groupby("cohort")["in_graph"].mean(),
            "share_reached": obs.groupby("cohort")["reached"].mean(),
            "median_distance": obs[obs["reached"]].groupby("cohort")["distance"].median(),
            "mean_core_number": obs.groupby("cohort")["core_number"].mean(),
        }
    )
    cohorts = cohorts.rename_axis("cohort").reset_index()
    return NewcomerIntegration(
        cohorts=cohorts,
        members=members,
        weeks=weeks,
        n_observed=len(obs),
        share_reached=float(obs["reached"].mean()) if len(obs) else float("nan"),
        median_distance=(
            float(obs.loc[obs["reached"], "distance"].median()) if obs["reached"].any() else np.nan
        ),
    )
