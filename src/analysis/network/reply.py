"""Interaction networks: who replies to whom, and who holds the conversation together.

The engine aggregates messages into a weighted edge list (one row per ordered pair of members);
only that edge list comes back to Python, where networkx computes the graph metrics
(https://networkx.org, the oracle for every graph number in this package).

Reply graph
    Directed graph with an edge *u → v* when member *u* replied to a message written by member
    *v*; weight = number of such replies. Self-replies (a member answering their own message) are
    dropped. Only explicit replies are used unless ``include_inferred=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.results import Result


def reply_edges_expr(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    include_inferred: bool = False,
) -> Any:
    """Reply edges as an ibis expression: ``source``, ``target``, ``weight``.

    ``source`` is the replier's member id and ``target`` the author of the message replied to.
    ``start`` (inclusive) and ``end`` (exclusive) bound the reply's ``created_at`` (UTC).
    """
    msgs = community.messages
    replies = msgs.filter(msgs.reply_to_id.notnull() & (msgs.kind != "service"))
    sources = ["explicit", "inferred"] if include_inferred else ["explicit"]
    replies = replies.filter(replies.reply_source.isin(sources))
    if start is not None:
        replies = replies.filter(replies.created_at >= utc_timestamp(start))
    if end is not None:
        replies = replies.filter(replies.created_at < utc_timestamp(end))
    parents = msgs.select(parent_id=msgs.message_id, target=msgs.member_id)
    pairs = replies.join(parents, replies.reply_to_id == parents.parent_id).select(
        source=replies.member_id, target=parents.target
    )
    pairs = pairs.filter(pairs.source != pairs.target)
    return pairs.group_by(["source", "target"]).aggregate(weight=pairs.count())


def reply_graph(community: Community, **kwargs: Any) -> nx.DiGraph:
    """The reply graph as a weighted :class:`networkx.DiGraph` with staff/bot node flags.

    Keyword arguments are passed to :func:`reply_edges_expr`. Nodes carry ``is_staff`` and
    ``is_bot``; members who never replied nor were replied to are not nodes.
    """
    # engines return rows in no fixed order; sorting makes node order, and so every seeded
    # algorithm downstream (Louvain, Leiden, layouts), reproducible bit for bit
    edges = community.execute(reply_edges_expr(community, **kwargs))
    edges = edges.sort_values(["source", "target"], kind="stable").reset_index(drop=True)
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(
        zip(edges["source"], edges["target"], edges["weight"].astype(int), strict=True)
    )
    if graph.number_of_nodes():
        members = community.members
        flags = community.execute(
            members.filter(members.member_id.isin(list(graph.nodes))).select(
                "member_id", "is_staff", "is_bot"
            )
        ).set_index("member_id")
        nx.set_node_attributes(graph, flags["is_staff"].astype(bool).to_dict(), "is_staff")
        nx.set_node_attributes(graph, flags["is_bot"].astype(bool).to_dict(), "is_bot")
    return graph


@dataclass(frozen=True)
class NetworkOverview(Result):
    """Size, cohesion and most central members of the reply graph.

    Attributes
    ----------
    n_nodes, n_edges : int
        Members in the graph and distinct ordered (replier, author) pairs.
    n_replies : int
        Sum of edge weights (replies between different members).
    density : float
        ``n_edges / (n_nodes (n_nodes - 1))`` for a directed graph (networkx ``density``).
    reciprocity : float
        Share of edges whose reverse edge also exists (networkx ``overall_reciprocity``).
    giant_share : float
        Share of nodes in the largest weakly connected component.
    staff_edge_share : float
        Share of reply weight on edges with staff at either end.
    top : pandas.DataFrame
        The ``top_n`` members by weighted PageRank (damping 0.85; Page et al. 1999, networkx
        ``pagerank`` with ``weight="weight"``), with in/out strength and the staff flag.
    """

    n_nodes: int
    n_edges: int
    n_replies: int
    density: float
    reciprocity: float
    giant_share: float
    staff_edge_share: float
    top: pd.DataFrame = field(repr=False)
    title: str = "Reply network"

    def to_frame(self) -> pd.DataFrame:
        return self.top.copy()

    def summary(self) -> str:
        if self.n_nodes == 0:
            return "No replies between different members, so there is no reply network."
        return (
            f"{self.n_nodes:,} members are connected by {self.n_replies:,} replies "
            f"({self.n_edges:,} distinct who-replied-to-whom pairs; density {self.density:.4f}). "
            f"{self.reciprocity:.0%} of the pairs reply in both directions, and "
            f"{self.giant_share:.0%} of members sit in the largest connected group. "
            f"{self.staff_edge_share:.0%} of replies involve staff."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * max(len(self.top), 4) + 1))
        data = self.top.assign(role=self.top["is_staff"].map({True: "staff", False: "member"}))
        sns.barplot(data=data, y="member_id", x="pagerank", hue="role", dodge=False, ax=ax)
        ax.set_xlabel("PageRank (weighted reply graph)")
        ax.set_ylabel("member (pseudonym)")
        ax.set_title("Most central members")
        return ax

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "n_replies": self.n_replies,
            "density": self.density,
            "reciprocity": self.reciprocity,
            "giant_share": self.giant_share,
            "staff_edge_share": self.staff_edge_share,
            "top_members": self.top["member_id"].tolist(),
        }


def network_overview(community: Community, *, top_n: int = 10, **kwargs: Any) -> NetworkOverview:
    """Size, density, reciprocity, giant component and the top members by PageRank.

    Parameters
    ----------
    community : Community
    top_n : int
        How many members to list, ranked by weighted PageRank.
    **kwargs
        Date range and reply options for :func:`reply_edges_expr`.
    """
    graph = reply_graph(community, **kwargs)
    n = graph.number_of_nodes()
    columns = ["member_id", "pagerank", "in_strength", "out_strength", "is_staff"]
    if n == 0:
        empty = pd.DataFrame({c: [] for c in columns})
        return NetworkOverview(0, 0, 0, 0.0, 0.0, 0.0, 0.0, empty)
    pagerank = nx.pagerank(graph, alpha=0.85, weight="weight")
    top = (
        pd.DataFrame(
            {
                "member_id": list(pagerank),
                "pagerank": list(pagerank.values()),
                "in_strength": [graph.in_degree(v, weight="weight") for v in pagerank],
                "out_strength": [graph.out_degree(v, weight="weight") for v in pagerank],
                "is_staff": [bool(graph.nodes[v].get("is_staff", False)) for v in pagerank],
            }
        )
        .sort_values(["pagerank", "member_id"], ascending=[False, True])
        .head(top_n)
        .reset_index(drop=True)
    )
    total = sum(w for _, _, w in graph.edges(data="weight"))
    staff_weight = sum(
        w
        for u, v, w in graph.edges(data="weight")
        if graph.nodes[u].get("is_staff") or graph.nodes[v].get("is_staff")
    )
    giant = max((len(c) for c in nx.weakly_connected_components(graph)), default=0)
    return NetworkOverview(
        n_nodes=n,
        n_edges=graph.number_of_edges(),
        n_replies=int(total),
        density=float(nx.density(graph)),
        reciprocity=float(nx.overall_reciprocity(graph)) if graph.number_of_edges() else 0.0,
        giant_share=giant / n,
        staff_edge_share=staff_weight / total if total else 0.0,
        top=top,
    )
