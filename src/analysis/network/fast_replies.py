"""One engine query for the reply graph, the newcomers' contact graph and the monthly networks.

The reply graph (:func:`analysis.network.reply.reply_edges_expr`), the first contacts of
:mod:`analysis.network.integration` (:func:`~analysis.network.integration.first_contact_expr`)
and the monthly edges of :mod:`analysis.network.evolution`
(:func:`~analysis.network.evolution.monthly_reply_edges_expr`) are three aggregations of the
same reply pairs (non-service replies with an explicit link, replier ≠ author replied to). At a
million members each query scans 10M messages and joins them to their parents. Here the engine
does it once:

* the members, numbered by ``dense_rank()`` of ``member_id`` (0-based; every reply's author is a
  member, the schema's referential check), with ``joined_at`` and the staff/bot flags;
* the replies grouped by ``(replier number, author number, UTC month)`` with ``weight`` = replies
  and ``first_at`` = the earliest reply.

numpy derives the three from these arrays: the reply graph sums the weights over months
(:func:`graph_from_pairs`, equal to :func:`~analysis.network.fast_graph.fast_reply_graph`),
the contacts take each unordered pair's earliest ``first_at`` (:func:`contacts_from_pairs`,
equal to :func:`~analysis.network.integration_contacts.contact_arrays`), the evolution reads the
monthly rows (``fast_network_evolution(pairs=...)``). Tested equal in
``tests/unit/test_network_fast_replies.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.data import Community, naive_utc
from analysis.network.fast_graph import FastGraph, _from_indices
from analysis.network.integration_contacts import Contacts, unordered_first

__all__ = ["ReplyPairs", "contacts_from_pairs", "graph_from_pairs", "reply_pairs"]


@dataclass(frozen=True)
class ReplyPairs:
    """Reply pairs per month as member numbers (module docstring).

    Attributes
    ----------
    people : pandas.DataFrame
        The members table's ``member_id``, ``joined_at``, ``is_staff``, ``is_bot`` and ``node``
        (the member's number), in ``node`` order.
    names : numpy.ndarray of object
        Member id of each number, in the order Python sorts the ids.
    is_staff, is_bot : numpy.ndarray of bool
        Flags per number (null counts as false).
    src, dst : numpy.ndarray of int64
        Replier and author replied to, as numbers.
    month : numpy.ndarray of datetime64[ns]
        First instant of the reply's UTC month (naive UTC).
    weight : numpy.ndarray of float64
        Replies of the row.
    first_at : numpy.ndarray of datetime64[ns]
        Earliest reply of the row (naive UTC).
    """

    people: pd.DataFrame
    names: np.ndarray
    is_staff: np.ndarray
    is_bot: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    month: np.ndarray
    weight: np.ndarray
    first_at: np.ndarray


def reply_pairs(community: Community) -> ReplyPairs:
    """The members and the monthly reply pairs of ``community`` in two engine queries
    (explicit reply links only, as the study's graphs use them)."""
    import ibis

    members = community.members.select("member_id", "joined_at", "is_staff", "is_bot")
    numbered = members.mutate(node=ibis.dense_rank().over(order_by=members.member_id))
    msgs = community.messages
    replies = msgs.filter(
        msgs.reply_to_id.notnull() & (msgs.kind != "service") & (msgs.reply_source == "explicit")
    )
    parents = msgs.select(parent_id=msgs.message_id, target=msgs.member_id)
    pairs = replies.join(parents, replies.reply_to_id == parents.parent_id).select(
        source=replies.member_id,
        target=parents.target,
        at=replies.created_at,
        month=replies.created_at.truncate("M"),
    )
    pairs = pairs.filter(pairs.source != pairs.target)
    s_nodes = numbered.select(s_id=numbered.member_id, src=numbered.node)
    t_nodes = numbered.select(t_id=numbered.member_id, dst=numbered.node)
    joined = (
        pairs.join(s_nodes, pairs.source == s_nodes.s_id)
        .join(t_nodes, pairs.target == t_nodes.t_id)
        .select("src", "dst", "month", "at")
    )
    indexed = joined.group_by(["src", "dst", "month"]).aggregate(
        weight=joined.count(), first_at=joined.at.min()
    )
    people = community.execute(numbered).sort_values("node", kind="stable")
    people = people.reset_index(drop=True)
    rows = community.execute(indexed)
    node = people["node"].to_numpy(dtype=np.int64)
    n = int(node.max()) + 1 if len(node) else 0
    first = np.r_[True, node[1:] != node[:-1]] if len(node) else np.zeros(0, dtype=bool)
    names = people["member_id"].to_numpy(dtype=object)[first]
    staff = people["is_staff"].astype("boolean").fillna(False).to_numpy(dtype=bool)[first]
    bot = people["is_bot"].astype("boolean").fillna(False).to_numpy(dtype=bool)[first]
    src = rows["src"].to_numpy(dtype=np.int64)
    dst = rows["dst"].to_numpy(dtype=np.int64)
    if len(names) != n or (len(names) and not (names[1:] > names[:-1]).all()):
        # the engine's order is not Python's (a collation): renumber in Python's order
        order = np.argsort(names, kind="stable")
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        lookup = np.full(n, -1, dtype=np.int64)
        lookup[node[first]] = rank
        src, dst = lookup[src], lookup[dst]
        people["node"] = lookup[node]
        names, staff, bot = names[order], staff[order], bot[order]
    return ReplyPairs(
        people=people,
        names=names,
        is_staff=staff,
        is_bot=bot,
        src=src,
        dst=dst,
        month=naive_utc(rows["month"]).to_numpy(),
        weight=pd.to_numeric(rows["weight"]).to_numpy(dtype=float),
        first_at=naive_utc(rows["first_at"]).to_numpy(),
    )


def graph_from_pairs(pairs: ReplyPairs) -> FastGraph:
    """The reply graph (:func:`~analysis.network.fast_graph.fast_reply_graph`): the members on
    at least one reply pair, in id order, with the weights summed over months."""
    n = len(pairs.names)
    mark = np.zeros(n, dtype=bool)
    mark[pairs.src] = True
    mark[pairs.dst] = True
    ends = np.flatnonzero(mark)
    local = np.full(n, -1, dtype=np.int64)
    local[ends] = np.arange(len(ends))
    return _from_indices(
        pairs.names[ends],
        local[pairs.src],
        local[pairs.dst],
        pairs.weight,
        True,
        pairs.is_staff[ends],
        pairs.is_bot[ends],
    )


def contacts_from_pairs(pairs: ReplyPairs) -> Contacts:
    """The newcomers' contact graph
    (:func:`~analysis.network.integration_contacts.contact_arrays`, explicit replies)."""
    edges, times = unordered_first(pairs.src, pairs.dst, pairs.first_at, pairs.is_bot)
    return Contacts(
        people=pairs.people,
        n_nodes=len(pairs.names),
        edges=edges,
        times=times,
        member_mask=~pairs.is_staff,
    )
