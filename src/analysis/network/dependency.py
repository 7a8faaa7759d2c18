"""Staff dependency: what is left of the conversation without the staff accounts.

The graph part works on the reply graph of :func:`analysis.network.reply.reply_graph` with bot
accounts dropped; the newcomer part is one ibis expression executed by the community's engine.

Definitions
-----------
Let *G* be the reply graph without bots, *S* its staff nodes (``is_staff``), *M* the other nodes
(the *active members*: they replied or were replied to in the period) and *H = G − S*.
Components are weakly connected components (a reply in either direction connects).

* ``staff_reply_share`` = reply weight on edges with a staff node at either end ÷ all reply
  weight.
* ``giant_share_before`` = nodes of the largest component of *G* ÷ nodes of *G*;
  ``n_components_before`` = components of *G*.
* ``giant_share_after`` = members in the *main component after* ÷ |M|, where the main component
  after is the largest component of *H* if it has at least two members (a lone member is no
  conversation), else empty; ties go to the component holding the smallest member id.
  ``n_components_after`` = components of *H* (every isolated member counts as one).
* **Staff dependency (the headline)** = share of the non-staff members of *G*'s largest
  component who are not in the main component after staff are removed: the members the staff
  alone were keeping in the main conversation. 0 = members talk to each other enough that the
  conversation holds together without staff; 1 = every member hangs on staff (a star).
* **Newcomer first reply**: a newcomer is a non-staff, non-bot member; their first message is
  their earliest non-service message (ties: smallest ``message_id``). Its first reply is the
  earliest message (ties: smallest ``message_id``) whose ``reply_to_id`` is that message,
  written by a person other than the newcomer who is not a bot (automatic welcomes do not
  count). ``member_first_reply_share`` = newcomers whose first reply came from a non-staff member
  ÷ newcomers whose first message got a reply; ``staff_first_reply_share`` = 1 − that. Only
  explicit replies count unless ``include_inferred=True``; the newcomer's first message must fall
  in ``[start, end)``, while replies to it are counted whenever they come.

The network questions follow the domain spec ("how dependent is the community on staff: what is
left of it without them"); component analysis after node removal is the robustness analysis of
Albert, Jeong & Barabási (2000), *Nature* 406:378, applied to the staff nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import networkx as nx
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.network.brokers import without_bots
from analysis.results import Result

__all__ = [
    "StaffDependency",
    "graph_dependency",
    "newcomer_first_reply_expr",
    "staff_dependency",
]


def _main_component(graph: nx.DiGraph) -> set[Any]:
    """Largest weakly connected component with ≥ 2 nodes (ties: smallest member id), else {}."""
    comps = [c for c in nx.weakly_connected_components(graph) if len(c) >= 2]
    if not comps:
        return set()
    return min(comps, key=lambda c: (-len(c), min(c)))


def graph_dependency(graph: nx.DiGraph) -> dict[str, Any]:
    """The graph part of :func:`staff_dependency` (definitions: module docstring).

    Returns a dict with ``n_staff``, ``n_members``, ``staff_reply_share``,
    ``n_components_before``, ``giant_share_before``, ``n_components_after``,
    ``giant_share_after``, ``n_members_in_giant``, ``n_cut_off`` and ``cut_off_share``
    (NaN when the giant component holds no members).
    """
    g = without_bots(graph)
    staff = {v for v, s in g.nodes(data="is_staff", default=False) if s}
    members = set(g.nodes) - staff
    total = sum(w for *_, w in g.edges(data="weight", default=1))
    staff_w = sum(w for u, v, w in g.edges(data="weight", default=1) if u in staff or v in staff)
    before = _main_component(g)
    after_graph = g.subgraph(members)
    after = _main_component(after_graph)
    in_giant = before & members
    cut = in_giant - after
    return {
        "n_staff": len(staff),
        "n_members": len(members),
        "staff_reply_share": staff_w / total if total else float("nan"),
        "n_components_before": nx.number_weakly_connected_components(g) if len(g) else 0,
        "giant_share_before": len(before) / len(g) if len(g) else float("nan"),
        "n_components_after": (
            nx.number_weakly_connected_components(after_graph) if members else 0
        ),
        "giant_share_after": len(after) / len(members) if members else float("nan"),
        "n_members_in_giant": len(in_giant),
        "n_cut_off": len(cut),
        "cut_off_share": len(cut) / len(in_giant) if in_giant else float("nan"),
    }


def newcomer_first_reply_expr(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    include_inferred: bool = False,
) -> Any:
    """Each newcomer's first message and who replied to it first, as an ibis expression.

    Columns: ``member_id``, ``first_message_id``, ``first_at``, ``responder_id`` (null when
    nobody replied), ``responder_is_staff`` (null when nobody replied), ``first_reply_at``.
    Definitions in the module docstring.
    """
    people = community.members.select("member_id", "is_staff", "is_bot")
    msgs = community.messages.filter(community.messages.kind != "service")
    order = ibis.window(group_by=msgs.member_id, order_by=[msgs.created_at, msgs.message_id])
    ranked = msgs.mutate(_rn=ibis.row_number().over(order))
    first = ranked.filter(ranked._rn == 0).select(
        member_id=ranked.member_id, first_message_id=ranked.message_id, first_at=ranked.created_at
    )
    first = first.join(people, first.member_id == people.member_id).filter(
        lambda t: ~t.is_staff & ~t.is_bot
    )
    first = first.select("member_id", "first_message_id", "first_at")
    if start is not None:
        first = first.filter(first.first_at >= utc_timestamp(start))
    if end is not None:
        first = first.filter(first.first_at < utc_timestamp(end))
    sources = ["explicit", "inferred"] if include_inferred else ["explicit"]
    replies = msgs.filter(msgs.reply_to_id.notnull() & msgs.reply_source.isin(sources))
    replies = replies.select(
        parent_id=replies.reply_to_id,
        responder_id=replies.member_id,
        reply_id=replies.message_id,
        first_reply_at=replies.created_at,
    )
    responders = people.select(
        rid=people.member_id, responder_is_staff=people.is_staff, responder_is_bot=people.is_bot
    )
    replies = replies.join(responders, replies.responder_id == responders.rid)
    replies = replies.filter(~replies.responder_is_bot)
    answers = replies.join(first, replies.parent_id == first.first_message_id)
    answers = answers.filter(answers.responder_id != answers.member_id)
    rank = ibis.window(
        group_by=answers.parent_id, order_by=[answers.first_reply_at, answers.reply_id]
    )
    answers = answers.mutate(_rn=ibis.row_number().over(rank))
    answers = answers.filter(answers._rn == 0).select(
        "parent_id", "responder_id", "responder_is_staff", "first_reply_at"
    )
    out = first.left_join(answers, first.first_message_id == answers.parent_id)
    return out.select(
        "member_id",
        "first_message_id",
        "first_at",
        "responder_id",
        "responder_is_staff",
        "first_reply_at",
    )


@dataclass(frozen=True)
class StaffDependency(Result):
    """How much of the conversation hangs on staff (definitions: module docstring).

    Attributes
    ----------
    cut_off_share : float
        **The headline**: share of the non-staff members of the main conversation (largest
        component of the reply graph) who fall out of it when the staff accounts are removed.
    n_cut_off, n_members_in_giant : int
        Its numerator and denominator.
    n_staff, n_members : int
        Staff nodes and non-staff nodes of the reply graph (bots dropped).
    staff_reply_share : float
        Share of reply weight on edges touching staff.
    n_components_before, n_components_after : int
        Weakly connected components with and without the staff nodes.
    giant_share_before, giant_share_after : float
        Largest component ÷ all nodes before; main component after ÷ non-staff members.
    n_newcomers, n_newcomers_answered, n_first_reply_staff, n_first_reply_member : int
        Newcomers (first message in the period), those whose first message got a reply, and who
        wrote that first reply.
    member_first_reply_share, staff_first_reply_share : float
        ``n_first_reply_member / n_newcomers_answered`` and its complement (NaN if none).
    """

    cut_off_share: float
    n_cut_off: int
    n_members_in_giant: int
    n_staff: int
    n_members: int
    staff_reply_share: float
    n_components_before: int
    n_components_after: int
    giant_share_before: float
    giant_share_after: float
    n_newcomers: int
    n_newcomers_answered: int
    n_first_reply_staff: int
    n_first_reply_member: int
    member_first_reply_share: float
    staff_first_reply_share: float
    title: str = "Staff dependency"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key == "title":
                continue
            if isinstance(value, float):
                out[key] = None if value != value else float(value)
            else:
                out[key] = int(value)
        return out

    def to_frame(self) -> pd.DataFrame:
        data = self.to_dict()
        return pd.DataFrame({"metric": list(data), "value": list(data.values())})

    def summary(self) -> str:
        if self.n_members_in_giant == 0:
            return "There is no conversation between members yet, so staff dependency is undefined."
        accounts = "account" if self.n_staff == 1 else "accounts"
        text = (
            f"Without the {self.n_staff} staff {accounts}, {self.cut_off_share:.0%} of active "
            f"members ({self.n_cut_off:,} of {self.n_members_in_giant:,} in the main "
            f"conversation) would be cut off from the main conversation. Staff take part in "
            f"{self.staff_reply_share:.0%} of replies; removing them splits the reply network "
            f"from {self.n_components_before:,} connected group(s) into "
            f"{self.n_components_after:,}."
        )
        if self.n_newcomers_answered:
            text += (
                f" Of {self.n_newcomers_answered:,} newcomers whose first message got a reply, "
                f"{self.member_first_reply_share:.0%} were first answered by a member rather "
                f"than staff."
            )
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        labels = ["in main conversation\nwith staff", "still connected\nwithout staff"]
        kept = 1 - self.cut_off_share if self.n_members_in_giant else 0.0
        ax.bar(
            labels, [1.0 if self.n_members_in_giant else 0.0, kept], color=["#4c72b0", "#dd8452"]
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of active members")
        ax.set_title(f"Staff dependency: {self.cut_off_share:.0%} cut off without staff")
        return ax


def staff_dependency(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    include_inferred: bool = False,
    graph_part: dict[str, Any] | None = None,
) -> StaffDependency:
    """Staff dependency of the community in ``[start, end)`` (definitions: module docstring).

    Parameters
    ----------
    community : Community
    start, end : timestamp or str, optional
        Replies (for the graph) and newcomers' first messages must fall in ``[start, end)``.
    include_inferred : bool
        Count inferred replies too (default: explicit reply links only).
    graph_part : dict, optional
        The graph part already computed on the same reply graph (:func:`graph_dependency`, or
        :func:`analysis.network.fast_brokers.fast_graph_dependency` on the igraph path); by
        default it is computed here on :func:`~analysis.network.reply.reply_graph`.
    """
    from analysis.network.reply import reply_graph

    if graph_part is None:
        graph = reply_graph(community, start=start, end=end, include_inferred=include_inferred)
        parts = graph_dependency(graph)
    else:
        parts = graph_part
    first = newcomer_first_reply_expr(
        community, start=start, end=end, include_inferred=include_inferred
    )
    # three counts on the engine, not one row per newcomer back to pandas
    answered = first.responder_id.notnull()
    staff_answer = answered & first.responder_is_staff.fill_null(False)
    counts = community.execute(
        first.aggregate(
            n=first.count(),
            n_answered=answered.cast("int64").sum(),
            by_staff=staff_answer.cast("int64").sum(),
        )
    ).iloc[0]
    n_newcomers = int(counts["n"])
    n_answered = int(counts["n_answered"]) if pd.notna(counts["n_answered"]) else 0
    by_staff = int(counts["by_staff"]) if pd.notna(counts["by_staff"]) else 0
    by_member = n_answered - by_staff
    return StaffDependency(
        cut_off_share=float(parts["cut_off_share"]),
        n_cut_off=parts["n_cut_off"],
        n_members_in_giant=parts["n_members_in_giant"],
        n_staff=parts["n_staff"],
        n_members=parts["n_members"],
        staff_reply_share=float(parts["staff_reply_share"]),
        n_components_before=parts["n_components_before"],
        n_components_after=parts["n_components_after"],
        giant_share_before=float(parts["giant_share_before"]),
        giant_share_after=float(parts["giant_share_after"]),
        n_newcomers=n_newcomers,
        n_newcomers_answered=n_answered,
        n_first_reply_staff=by_staff,
        n_first_reply_member=by_member,
        member_first_reply_share=by_member / n_answered if n_answered else float("nan"),
        staff_first_reply_share=by_staff / n_answered if n_answered else float("nan"),
    )
