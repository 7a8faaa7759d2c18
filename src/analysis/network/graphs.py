"""Interaction graphs beyond replies: edge lists built by the engine, graphs built in Python.

Every graph here follows the same path as the reply graph (:mod:`analysis.network.reply`): the
engine (ibis: DuckDB, Spark, ...) aggregates the canonical tables into a weighted edge list with
columns ``source``, ``target``, ``weight``; only that edge list comes back as pandas, and
:func:`build_graph` turns it into a networkx graph (https://networkx.org, the oracle for every
graph number in this package). :func:`to_igraph` hands the same graph to igraph/leidenalg when
speed or an algorithm networkx lacks is needed; results must then equal networkx's.

Graphs
------
Reply graph (:func:`analysis.network.reply.reply_edges_expr`)
    Directed *u → v* when member *u* replied to a message by *v*; weight = number of replies.
Reaction graph (:func:`reaction_edges_expr`)
    Directed *u → v* when member *u* reacted to a message written by member *v*; weight = the sum
    of the reaction rows' ``count`` (one per emoji a named reactor left, so a member who put two
    different emoji on one message counts twice). Rows whose reactor is unknown
    (``reactions.member_id`` null: platforms that only export totals) are not edges. Reactions to
    one's own messages are dropped.
Co-participation graph (:func:`coparticipation_edges_expr`)
    Undirected *{u, v}* when members *u* and *v* both wrote at least one (non-service) message in
    the same thread; weight = number of threads they share. This is the one-mode projection of the
    bipartite members × threads graph (Newman 2001, "Scientific collaboration networks", PRE 64,
    016131, unweighted-count variant). A thread with *p* participants contributes *p(p − 1)/2*
    pairs, so threads with more than ``max_participants`` participants (default 200) are skipped
    entirely: in a thread that large, writing in it says little about knowing each other, and the
    projection would grow quadratically. The number of skipped threads is not hidden: run
    :func:`thread_sizes_expr` to see them.
Mention graph (:func:`mention_edges_expr`)
    Directed *u → v* when a message by member *u* mentions member *v* (the optional ``mentions``
    table: mention entities the platform resolved to a user — Telegram ``mention_name``, Discord
    ``mentions``, Slack ``<@U…>``, VK ``[id…|…]``); weight = number of messages of *u* that
    mention *v*. Self-mentions are dropped. Names typed in plain text are never guessed: a dataset
    without a ``mentions`` table has an empty mention graph.

Time bounds
-----------
``start`` (inclusive) and ``end`` (exclusive), naive values read as UTC
(:func:`analysis.data.utc_timestamp`). Replies and co-participation are bounded by the message's
``created_at``; reactions by the ``created_at`` of the message reacted to, because reaction times
(``reactions.reacted_at``) are often unknown. In the co-participation graph the participant cap
counts participants within the bounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import ibis
import networkx as nx
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.network.reply import reply_edges_expr

#: Threads with more participants than this are left out of the co-participation projection.
MAX_THREAD_PARTICIPANTS = 200

GraphKind = Literal["reply", "reaction", "mention", "coparticipation"]
#: Whether each kind of graph is directed.
DIRECTED: dict[str, bool] = {
    "reply": True,
    "reaction": True,
    "mention": True,
    "coparticipation": False,
}


def _bounded(table: Any, column: Any, start: Any, end: Any) -> Any:
    if start is not None:
        table = table.filter(column >= utc_timestamp(start))
    if end is not None:
        table = table.filter(column < utc_timestamp(end))
    return table


def reaction_edges_expr(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> Any:
    """Reaction edges as an ibis expression: ``source``, ``target``, ``weight``.

    ``source`` is the reactor's member id, ``target`` the author of the message reacted to and
    ``weight`` the sum of ``reactions.count`` over those rows. Anonymous reactions (null
    ``member_id``) and reactions to one's own messages are excluded. ``start``/``end`` bound the
    reacted-to message's ``created_at`` (UTC; start inclusive, end exclusive). A dataset without a
    ``reactions`` table has no reaction edges (an empty expression with the same columns).
    """
    msgs = community.messages
    if not community.has("reactions"):
        empty = msgs.filter(ibis.literal(False))
        return empty.select(source=empty.member_id, target=empty.member_id, weight=empty.text_len)
    reactions = community.table("reactions")
    reactions = reactions.filter(reactions.member_id.notnull())
    authors = _bounded(msgs, msgs.created_at, start, end).select(
        msg_id=msgs.message_id, target=msgs.member_id
    )
    pairs = reactions.join(authors, reactions.message_id == authors.msg_id).select(
        source=reactions.member_id, target=authors.target, n=reactions["count"]
    )
    pairs = pairs.filter(pairs.source != pairs.target)
    return pairs.group_by(["source", "target"]).aggregate(weight=pairs.n.sum().cast("int64"))


def mention_edges_expr(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> Any:
    """Mention edges as an ibis expression: ``source``, ``target``, ``weight``.

    ``source`` is the author of a (non-service) message, ``target`` a member the message mentions
    (``mentions`` table) and ``weight`` the number of such messages. Self-mentions are excluded;
    ``start``/``end`` bound the message's ``created_at`` (UTC; start inclusive, end exclusive). A
    dataset without a ``mentions`` table has no mention edges (an empty expression with the same
    columns).
    """
    msgs = community.messages
    if not community.has("mentions"):
        empty = msgs.filter(ibis.literal(False))
        return empty.select(source=empty.member_id, target=empty.member_id, weight=empty.text_len)
    mentions = community.table("mentions")
    authored = _bounded(msgs.filter(msgs.kind != "service"), msgs.created_at, start, end).select(
        msg_id=msgs.message_id, source=msgs.member_id
    )
    pairs = mentions.join(authored, mentions.message_id == authored.msg_id).select(
        source=authored.source, target=mentions.member_id
    )
    pairs = pairs.filter(pairs.source != pairs.target)
    return pairs.group_by(["source", "target"]).aggregate(weight=pairs.count().cast("int64"))


def _participation(
    community: Community, start: Any, end: Any, *, max_participants: int | None
) -> tuple[Any, Any]:
    """Distinct (thread, member) pairs and thread sizes in the window, service events excluded."""
    msgs = community.messages
    msgs = _bounded(msgs.filter(msgs.kind != "service"), msgs.created_at, start, end)
    part = msgs.select("thread_id", "member_id").distinct()
    sizes = part.group_by("thread_id").aggregate(participants=part.count())
    if max_participants is not None:
        keep = sizes.filter(
            (sizes.participants >= 2) & (sizes.participants <= max_participants)
        ).select(kept_thread=sizes.thread_id)
        part = part.join(keep, part.thread_id == keep.kept_thread).select("thread_id", "member_id")
    return part, sizes


def thread_sizes_expr(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> Any:
    """Participants per thread (``thread_id``, ``participants``) within the bounds.

    Participants are distinct authors of non-service messages. Use it to see which threads the
    co-participation cap (:data:`MAX_THREAD_PARTICIPANTS`) leaves out.
    """
    return _participation(community, start, end, max_participants=None)[1]


def coparticipation_edges_expr(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    max_participants: int = MAX_THREAD_PARTICIPANTS,
) -> Any:
    """Co-participation edges as an ibis expression: ``source``, ``target``, ``weight``.

    One row per unordered pair of members (``source < target`` as strings) who both wrote a
    non-service message in at least one common thread (``messages.thread_id``) within the bounds;
    ``weight`` = number of such threads. Threads with more than ``max_participants`` distinct
    authors in the bounds are skipped (the projection of a thread with *p* authors has
    *p(p − 1)/2* pairs). Self-pairs never occur.
    """
    part, _ = _participation(community, start, end, max_participants=max_participants)
    left = part.select(thread_a=part.thread_id, source=part.member_id)
    right = part.select(thread_b=part.thread_id, target=part.member_id)
    pairs = left.join(
        right, (left.thread_a == right.thread_b) & (left.source < right.target)
    ).select("source", "target")
    return pairs.group_by(["source", "target"]).aggregate(weight=pairs.count())


def member_flags(community: Community, member_ids: Iterable[str]) -> pd.DataFrame:
    """``member_id``, ``is_staff``, ``is_bot`` for the given members (queried on the engine)."""
    ids = list(member_ids)
    members = community.members
    if not ids:
        return pd.DataFrame({"member_id": [], "is_staff": [], "is_bot": []})
    return community.execute(
        members.filter(members.member_id.isin(ids)).select("member_id", "is_staff", "is_bot")
    )


def build_graph(
    edges: pd.DataFrame,
    *,
    directed: bool,
    members: pd.DataFrame | Community | None = None,
) -> nx.Graph | nx.DiGraph:
    """A weighted networkx graph from an edge list, with ``is_staff``/``is_bot`` node flags.

    Parameters
    ----------
    edges : pandas.DataFrame
        Columns ``source``, ``target``, ``weight`` (one row per pair, as the ``*_edges_expr``
        functions return). For an undirected graph, rows for *(u, v)* and *(v, u)* are summed.
    directed : bool
        :class:`networkx.DiGraph` if true, else :class:`networkx.Graph`.
    members : pandas.DataFrame or Community, optional
        Where the flags come from: a frame with ``member_id``, ``is_staff``, ``is_bot``, or a
        community to query. Members not found (or ``members=None``) get ``False`` for both.
        Only members on an edge become nodes.
    """
    graph: nx.Graph = nx.DiGraph() if directed else nx.Graph()
    # a fixed node and edge order makes seeded algorithms reproducible whatever order the
    # engine returned the rows in
    edges = edges.sort_values(["source", "target"], kind="stable")
    for u, v, w in zip(edges["source"], edges["target"], edges["weight"], strict=True):
        w = int(w)
        if not directed and graph.has_edge(u, v):
            graph[u][v]["weight"] += w
        else:
            graph.add_edge(u, v, weight=w)
    if isinstance(members, Community):
        members = member_flags(members, graph.nodes)
    flags = (
        members.set_index("member_id")[["is_staff", "is_bot"]]
        if members is not None and len(members)
        else pd.DataFrame(columns=["is_staff", "is_bot"])
    )
    for node in graph.nodes:
        row = flags.loc[node] if node in flags.index else None
        graph.nodes[node]["is_staff"] = bool(row["is_staff"]) if row is not None else False
        graph.nodes[node]["is_bot"] = bool(row["is_bot"]) if row is not None else False
    return graph


def edges_expr(community: Community, kind: GraphKind, **kwargs: Any) -> Any:
    """The edge expression of graph ``kind``: reply, reaction, mention or co-participation."""
    if kind == "reply":
        return reply_edges_expr(community, **kwargs)
    if kind == "reaction":
        return reaction_edges_expr(community, **kwargs)
    if kind == "mention":
        return mention_edges_expr(community, **kwargs)
    if kind == "coparticipation":
        return coparticipation_edges_expr(community, **kwargs)
    raise ValueError(
        f"unknown graph kind {kind!r}; expected one of 'reply', 'reaction', 'mention', "
        "'coparticipation'"
    )


def interaction_graph(
    community: Community, kind: GraphKind = "reply", **kwargs: Any
) -> nx.Graph | nx.DiGraph:
    """Graph ``kind`` of ``community`` with node flags; ``kwargs`` go to the edge expression."""
    edges = community.execute(edges_expr(community, kind, **kwargs))
    return build_graph(edges, directed=DIRECTED[kind], members=community)


def reaction_graph(community: Community, **kwargs: Any) -> nx.DiGraph:
    """The reaction graph (see :func:`reaction_edges_expr`) with node flags."""
    return interaction_graph(community, "reaction", **kwargs)


def mention_graph(community: Community, **kwargs: Any) -> nx.DiGraph:
    """The mention graph (see :func:`mention_edges_expr`) with node flags."""
    return interaction_graph(community, "mention", **kwargs)


def coparticipation_graph(community: Community, **kwargs: Any) -> nx.Graph:
    """The co-participation graph (see :func:`coparticipation_edges_expr`) with node flags."""
    return interaction_graph(community, "coparticipation", **kwargs)


def monthly_snapshots(
    community: Community, kind: GraphKind = "reply", **kwargs: Any
) -> dict[pd.Timestamp, nx.Graph | nx.DiGraph]:
    """One graph per calendar month (UTC), from the first message's month to the last's.

    Keys are the months' first instants (``pd.Timestamp``, UTC, ordered); each value is the
    ``kind`` graph with bounds ``[month start, next month start)``. Months without edges map to
    an empty graph, so the series has no gaps. ``kwargs`` go to the edge expression (e.g.
    ``include_inferred`` for replies, ``max_participants`` for co-participation).
    """
    msgs = community.messages
    bounds = community.execute(
        msgs.aggregate(first=msgs.created_at.min(), last=msgs.created_at.max())
    )
    first, last = bounds["first"].iloc[0], bounds["last"].iloc[0]
    if first is None or pd.isna(first):
        return {}
    first, last = utc_timestamp(first), utc_timestamp(last)
    months = pd.date_range(
        first.tz_localize(None).to_period("M").to_timestamp(),
        last.tz_localize(None).to_period("M").to_timestamp(),
        freq="MS",
        tz="UTC",
    )
    frames = {
        m: community.execute(
            edges_expr(community, kind, start=m, end=m + pd.offsets.MonthBegin(1), **kwargs)
        )
        for m in months
    }
    ids = set().union(*(set(f["source"]) | set(f["target"]) for f in frames.values()))
    flags = member_flags(community, sorted(ids))
    return {m: build_graph(f, directed=DIRECTED[kind], members=flags) for m, f in frames.items()}


def undirected_view(graph: nx.Graph, *, weight: str | None = "weight") -> nx.Graph:
    """A simple undirected graph: *u–v* weight = w(u→v) + w(v→u); self-loops dropped.

    Used wherever a metric is defined for undirected graphs (k-cores, clustering, modularity,
    the rich club). Node attributes are kept. With ``weight=None`` every edge gets weight 1.
    """
    out = nx.Graph()
    out.add_nodes_from(graph.nodes(data=True))
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        w = data.get(weight, 1) if weight is not None else 1
        if out.has_edge(u, v):
            out[u][v]["weight"] += w
        else:
            out.add_edge(u, v, weight=w)
    return out


def to_igraph(graph: nx.Graph) -> Any:
    """The same graph as an :class:`igraph.Graph`, vertices in ``graph.nodes`` order.

    Vertex attribute ``name`` holds the networkx node (the member pseudonym), other node
    attributes (``is_staff``, ``is_bot``) are copied; edge attribute ``weight`` holds the weight
    (1 where an edge has none). Directedness is kept.
    """
    import igraph as ig

    names = list(graph.nodes)
    index = {n: i for i, n in enumerate(names)}
    edges = [(index[u], index[v]) for u, v in graph.edges()]
    out = ig.Graph(n=len(names), edges=edges, directed=graph.is_directed())
    out.vs["name"] = names
    for attr in ("is_staff", "is_bot"):
        out.vs[attr] = [graph.nodes[n].get(attr, False) for n in names]
    out.es["weight"] = [w for *_, w in graph.edges(data="weight", default=1)]
    return out


__all__ = [
    "DIRECTED",
    "MAX_THREAD_PARTICIPANTS",
    "build_graph",
    "coparticipation_edges_expr",
    "coparticipation_graph",
    "edges_expr",
    "interaction_graph",
    "member_flags",
    "monthly_snapshots",
    "reaction_edges_expr",
    "reaction_graph",
    "thread_sizes_expr",
    "to_igraph",
    "undirected_view",
]
