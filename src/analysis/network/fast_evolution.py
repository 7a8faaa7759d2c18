"""The monthly reply network (:func:`analysis.network.evolution.network_evolution`) in numpy and
igraph, for communities where a networkx graph per month is too slow.

Same definitions, same :class:`~analysis.network.evolution.NetworkEvolution` result (read the
docstring of :mod:`analysis.network.evolution` for what each column means); what changes is how
they are computed:

* the engine returns the month's edges as integer member numbers (the members table numbered by
  ``dense_rank()`` of ``member_id``, joined to the monthly edges; every reply's author is a
  member by the schema's referential check), not two id strings per edge; the vertices are in
  member-id order as Python sorts them (renumbered if the engine's collation differs);
* each month's vertices are found by marking a boolean array, its edges renumbered through a
  lookup array (no sort or search over the ends);
* each month is a :class:`~analysis.network.fast_graph.FastGraph`: weak components and the
  staff-removal components by igraph (:func:`~analysis.network.fast_brokers.fast_graph_dependency`),
  the innermost non-staff core by igraph ``coreness`` (Batagelj & Zaveršnik 2003, equal to
  networkx ``core_number``), reciprocity as ``2 (m − m_u) / m`` with ``m_u`` the distinct
  unordered pairs (networkx ``overall_reciprocity``; the month graphs have no self-loops).

At 100k members / 1M messages the networkx version took 81 s (47 CPU s) on a loaded 2-core
machine; this one takes a few seconds. Tested equal to :func:`network_evolution` month by month
(``tests/unit/test_network_fast_evolution.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.network.evolution import (
    MONTH_COLUMNS,
    NetworkEvolution,
    _jaccard,
    _utc,
    calendar_months,
    monthly_reply_edges_expr,
)
from analysis.network.fast_brokers import fast_graph_dependency
from analysis.network.fast_graph import FastGraph, _from_indices
from analysis.network.fast_metrics import components

__all__ = ["fast_network_evolution"]


def _month_row(
    names: np.ndarray,
    staff: np.ndarray,
    bot: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
) -> tuple[dict[str, Any], set[str]]:
    """The figures of one month from its edges (global member numbers) and the core.

    The month's vertices are its edge ends without bots, in global (member-id) order, found by
    marking a boolean array (no sort of the ends); edges are renumbered through a lookup array.
    """
    mark = np.zeros(len(names), dtype=bool)
    mark[src] = True
    mark[dst] = True
    mark &= ~bot  # bots dropped; members whose only partner was a bot stay
    ends = np.flatnonzero(mark)
    keep = ~bot[src] & ~bot[dst]
    src, dst, weight = src[keep], dst[keep], weight[keep]
    n, m = len(ends), len(src)
    row: dict[str, Any] = {"n_nodes": n, "n_edges": m, "n_replies": int(weight.sum())}
    if n == 0:
        nan = float("nan")
        row.update(density=nan, reciprocity=nan, giant_share=nan, staff_dependency=nan)
        return row, set()
    local = np.full(len(names), -1, dtype=np.int64)
    local[ends] = np.arange(n)
    graph = _from_indices(
        names[ends],
        local[src],
        local[dst],
        weight.astype(float),
        True,
        staff[ends],
        np.zeros(n, dtype=bool),
    )
    und = graph.undirected()
    row["density"] = m / (n * (n - 1)) if n > 1 else float("nan")
    row["reciprocity"] = 2 * (m - und.n_edges) / m if m else float("nan")
    row["giant_share"] = int(np.bincount(components(graph)).max()) / n
    row["staff_dependency"] = float(fast_graph_dependency(graph)["cut_off_share"])
    return row, _core(und)


def _core(und: FastGraph) -> set[str]:
    """:func:`analysis.network.integration.innermost_core` with staff excluded."""
    if und.n_edges == 0:
        return set()
    import igraph as ig

    # the structure alone (no names, flags or weights): coreness needs nothing else
    edges = list(zip(und.src.tolist(), und.dst.tolist(), strict=True))
    core = np.asarray(ig.Graph(n=und.n_nodes, edges=edges).coreness(), dtype=np.int64)
    eligible = ~und.is_staff
    if not eligible.any():
        return set()
    top = int(core[eligible].max())
    if top == 0:
        return set()
    return set(und.names[eligible & (core == top)].tolist())


def fast_network_evolution(
    community: Community, *, include_inferred: bool = False, pairs: Any = None
) -> NetworkEvolution:
    """Monthly size, density, reciprocity, giant share, staff dependency and core turnover
    (definitions: :mod:`analysis.network.evolution`), computed with numpy and igraph.

    Parameters
    ----------
    community : Community
    include_inferred : bool
        Count inferred replies too (default: explicit reply links only).
    pairs : ReplyPairs, optional
        The monthly reply pairs of this community if already queried
        (:func:`analysis.network.fast_replies.reply_pairs`, explicit replies).
    """
    if pairs is not None:
        if include_inferred:
            raise ValueError("pairs= holds explicit replies only; include_inferred must be False")
        by = np.argsort(pairs.month, kind="stable")
        return _evolution(
            community,
            pairs.names,
            pairs.is_staff,
            pairs.is_bot,
            pairs.src[by],
            pairs.dst[by],
            pairs.weight[by],
            pairs.month[by],
        )
    import ibis

    expr = monthly_reply_edges_expr(community, include_inferred=include_inferred)
    people = community.members.select("member_id", "is_staff", "is_bot")
    numbered = people.mutate(idx=ibis.dense_rank().over(order_by=people.member_id))
    s_nodes = numbered.select(s_id=numbered.member_id, src=numbered.idx)
    t_nodes = numbered.select(t_id=numbered.member_id, dst=numbered.idx)
    indexed = (
        expr.join(s_nodes, expr.source == s_nodes.s_id)
        .join(t_nodes, expr.target == t_nodes.t_id)
        .select("src", "dst", "weight", "month")
    )
    nodes = community.execute(numbered.order_by("idx")).drop_duplicates("idx")
    edges = community.execute(indexed)
    names = nodes["member_id"].to_numpy(dtype=object)
    position = nodes["idx"].to_numpy(dtype=np.int64)
    lookup = np.full(int(position.max()) + 1 if len(position) else 0, -1, dtype=np.int64)
    if len(names) and (names[1:] > names[:-1]).all():
        lookup[position] = np.arange(len(names))  # the engine sorted as Python sorts
        order = np.arange(len(names))
    else:
        # vertex numbers in member-id order as Python sorts (whatever the engine's collation)
        order = np.argsort(names, kind="stable")
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        lookup[position] = rank
    names = names[order]
    staff = nodes["is_staff"].astype("boolean").fillna(False).to_numpy(dtype=bool)[order]
    bot = nodes["is_bot"].astype("boolean").fillna(False).to_numpy(dtype=bool)[order]
    src = lookup[edges["src"].to_numpy(dtype=np.int64)]
    dst = lookup[edges["dst"].to_numpy(dtype=np.int64)]
    weight = edges["weight"].to_numpy(dtype=float)
    month_of = (
        _utc(edges["month"]).to_numpy("datetime64[ns]")
        if len(edges)
        else np.zeros(0, "datetime64[ns]")
    )
    by = np.argsort(month_of, kind="stable")
    src, dst, weight, month_of = src[by], dst[by], weight[by], month_of[by]
    return _evolution(community, names, staff, bot, src, dst, weight, month_of)


def _evolution(
    community: Community,
    names: np.ndarray,
    staff: np.ndarray,
    bot: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    month_of: np.ndarray,
) -> NetworkEvolution:
    """The result from the monthly edges (member numbers in id order, rows sorted by month)."""
    rows, cores, previous = [], {}, None
    for month in calendar_months(community):
        key = np.datetime64(month.tz_localize(None), "ns")
        lo, hi = np.searchsorted(month_of, key, "left"), np.searchsorted(month_of, key, "right")
        row, core = _month_row(names, staff, bot, src[lo:hi], dst[lo:hi], weight[lo:hi])
        jaccard = _jaccard(core, previous) if previous is not None else float("nan")
        row.update(
            month=month, core_size=len(core), core_jaccard=jaccard, core_turnover=1 - jaccard
        )
        rows.append(row)
        cores[month.date().isoformat()] = sorted(core)
        previous = core
    frame = pd.DataFrame(rows, columns=MONTH_COLUMNS)
    return NetworkEvolution(months=frame, cores=cores)
