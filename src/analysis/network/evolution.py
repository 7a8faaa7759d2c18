"""How the reply network changes month to month.

For each calendar month (UTC) from the first to the last month with a message, the reply graph of
that month's replies (the definition of :mod:`analysis.network.reply`; bots dropped) is built
from one engine aggregation (:func:`monthly_reply_edges_expr`) and measured:

* ``n_nodes``, ``n_edges``, ``n_replies``: members in the graph, distinct ordered pairs, replies.
* ``density`` = ``n_edges / (n_nodes (n_nodes − 1))`` (networkx ``density``, directed).
* ``reciprocity`` = share of edges whose reverse edge exists (networkx ``overall_reciprocity``).
* ``giant_share`` = nodes in the largest weakly connected component ÷ nodes.
* ``staff_dependency`` = the headline of :mod:`analysis.network.dependency` for that month: share
  of the non-staff members of the giant component who fall out of the main component when staff
  are removed.
* ``core_size`` and ``core_jaccard``: the core is the innermost k-core among non-staff members of
  the month's undirected graph (:func:`analysis.network.integration.innermost_core`);
  ``core_jaccard`` = |C_t ∩ C_{t−1}| / |C_t ∪ C_{t−1}| with the previous month's core (NaN in the
  first month or when both are empty); ``core_turnover`` = 1 − ``core_jaccard``. Month-to-month
  Jaccard overlap of the core is the stability measure used for core–periphery structure over
  time (e.g. Kossinets & Watts 2006, *Science* 311:88, for network evolution by snapshots).

Empty months are kept, with zero counts and NaN ratios.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.network.brokers import without_bots
from analysis.network.dependency import graph_dependency
from analysis.network.integration import innermost_core
from analysis.results import Result

__all__ = ["NetworkEvolution", "monthly_reply_edges_expr", "network_evolution"]


def monthly_reply_edges_expr(community: Community, *, include_inferred: bool = False) -> Any:
    """Reply edges per calendar month (UTC) as an ibis expression.

    Columns ``month`` (timestamp of the month's first instant), ``source`` (replier), ``target``
    (author replied to), ``weight`` (replies). Same rules as
    :func:`analysis.network.reply.reply_edges_expr`.
    """
    msgs = community.messages
    replies = msgs.filter(msgs.reply_to_id.notnull() & (msgs.kind != "service"))
    sources = ["explicit", "inferred"] if include_inferred else ["explicit"]
    replies = replies.filter(replies.reply_source.isin(sources))
    parents = msgs.select(parent_id=msgs.message_id, target=msgs.member_id)
    pairs = replies.join(parents, replies.reply_to_id == parents.parent_id).select(
        month=replies.created_at.truncate("M"), source=replies.member_id, target=parents.target
    )
    pairs = pairs.filter(pairs.source != pairs.target)
    return pairs.group_by(["month", "source", "target"]).aggregate(weight=pairs.count())


def _utc(values: pd.Series) -> pd.Series:
    values = pd.to_datetime(values)
    if values.dt.tz is None:
        return values.dt.tz_localize("UTC")
    return values.dt.tz_convert("UTC")


@dataclass(frozen=True)
class NetworkEvolution(Result):
    """Monthly reply-network figures (definitions: module docstring).

    Attributes
    ----------
    months : pandas.DataFrame
        One row per month: ``month``, ``n_nodes``, ``n_edges``, ``n_replies``, ``density``,
        ``reciprocity``, ``giant_share``, ``staff_dependency``, ``core_size``, ``core_jaccard``,
        ``core_turnover``.
    cores : dict
        Month (ISO date) → sorted core member ids.
    """

    months: pd.DataFrame = field(repr=False)
    cores: dict[str, list[str]] = field(repr=False)
    title: str = "Network month by month"

    def to_frame(self) -> pd.DataFrame:
        return self.months.copy()

    def summary(self) -> str:
        m = self.months[self.months["n_nodes"] > 0]
        if m.empty:
            return "No replies between members in any month."
        first, last = m.iloc[0], m.iloc[-1]
        text = (
            f"From {first['month']:%b %Y} to {last['month']:%b %Y} the monthly reply network "
            f"went from {int(first['n_nodes']):,} to {int(last['n_nodes']):,} members; "
            f"reciprocity moved from {first['reciprocity']:.0%} to {last['reciprocity']:.0%} and "
            f"staff dependency from {first['staff_dependency']:.0%} to "
            f"{last['staff_dependency']:.0%}."
        )
        jac = m["core_jaccard"].dropna()
        if len(jac):
            text += (
                f" On average {jac.mean():.0%} of the core (Jaccard overlap) carries over from one "
                f"month to the next."
            )
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        m = self.months
        for col, label in (
            ("reciprocity", "reciprocity"),
            ("giant_share", "giant component share"),
            ("staff_dependency", "staff dependency"),
            ("core_jaccard", "core overlap with previous month"),
        ):
            ax.plot(m["month"], m[col], marker=".", label=label)
        ax.set_ylim(0, 1)
        ax.set_xlabel("month")
        ax.legend(fontsize="small")
        ax.set_title("Reply network month by month")
        return ax

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r in self.months.to_dict("records"):
            row = {}
            for key, value in r.items():
                if key == "month":
                    row[key] = value.isoformat()
                elif isinstance(value, float | np.floating):
                    row[key] = None if np.isnan(value) else float(value)
                else:
                    row[key] = int(value)
            rows.append(row)
        return {"months": rows, "cores": {k: list(v) for k, v in self.cores.items()}}


def calendar_months(community: Community) -> pd.DatetimeIndex:
    """First instants (UTC) of every calendar month from the first to the last message's."""
    msgs = community.messages
    span = community.execute(msgs.aggregate(lo=msgs.created_at.min(), hi=msgs.created_at.max()))
    if span["lo"].isna().all():
        return pd.DatetimeIndex([], tz="UTC")
    lo, hi = _utc(span["lo"]).iloc[0], _utc(span["hi"]).iloc[0]
    return pd.date_range(
        lo.tz_localize(None).to_period("M").to_timestamp(),
        hi.tz_localize(None).to_period("M").to_timestamp(),
        freq="MS",
        tz="UTC",
    )


#: Columns of :attr:`NetworkEvolution.months`, in order.
MONTH_COLUMNS = [
    "month",
    "n_nodes",
    "n_edges",
    "n_replies",
    "density",
    "reciprocity",
    "giant_share",
    "staff_dependency",
    "core_size",
    "core_jaccard",
    "core_turnover",
]


def _jaccard(a: set[Any], b: set[Any]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else float("nan")


def network_evolution(community: Community, *, include_inferred: bool = False) -> NetworkEvolution:
    """Monthly size, density, reciprocity, giant share, staff dependency and core turnover.

    Parameters
    ----------
    community : Community
    include_inferred : bool
        Count inferred replies too (default: explicit reply links only).
    """
    edges = community.execute(
        monthly_reply_edges_expr(community, include_inferred=include_inferred)
    )
    flags = community.execute(community.members.select("member_id", "is_staff", "is_bot"))
    staff = dict(zip(flags["member_id"], flags["is_staff"].astype(bool), strict=True))
    bots = dict(zip(flags["member_id"], flags["is_bot"].astype(bool), strict=True))
    months = calendar_months(community)
    edges["month"] = _utc(edges["month"]) if len(edges) else pd.Series([], dtype="M8[ns, UTC]")
    by_month = {m: g for m, g in edges.groupby("month")}
    rows, cores, previous = [], {}, None
    for month in months:
        graph = nx.DiGraph()
        group = by_month.get(month)
        if group is not None:
            graph.add_weighted_edges_from(
                zip(group["source"], group["target"], group["weight"].astype(int), strict=True)
            )
        for v in graph.nodes:
            graph.nodes[v]["is_staff"] = bool(staff.get(v, False))
            graph.nodes[v]["is_bot"] = bool(bots.get(v, False))
        graph = without_bots(graph)
        n, m_edges = graph.number_of_nodes(), graph.number_of_edges()
        dep = graph_dependency(graph)
        core = innermost_core(graph, exclude={v for v in graph if staff.get(v, False)})
        giant = max((len(c) for c in nx.weakly_connected_components(graph)), default=0)
        jaccard = _jaccard(core, previous) if previous is not None else float("nan")
        rows.append(
            {
                "month": month,
                "n_nodes": n,
                "n_edges": m_edges,
                "n_replies": int(sum(w for *_, w in graph.edges(data="weight"))),
                "density": float(nx.density(graph)) if n > 1 else float("nan"),
                "reciprocity": float(nx.overall_reciprocity(graph)) if m_edges else float("nan"),
                "giant_share": giant / n if n else float("nan"),
                "staff_dependency": float(dep["cut_off_share"]),
                "core_size": len(core),
                "core_jaccard": jaccard,
                "core_turnover": 1 - jaccard,
            }
        )
        cores[month.date().isoformat()] = sorted(core)
        previous = core
    frame = pd.DataFrame(rows, columns=MONTH_COLUMNS)
    return NetworkEvolution(months=frame, cores=cores)
