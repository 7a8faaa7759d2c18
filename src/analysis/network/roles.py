"""Helpers and experts: who answers, who asks, and who discusses.

Every count is one ibis expression executed by the community's engine
(:func:`member_roles_expr`); only the per-member table comes back, where the z-score and the
role labels are computed and ranked.

Threads
    A *thread* is a conversation whose root message is present in ``messages``: a non-service
    message with ``reply_to_id`` null and ``message_id == thread_id``. Its *asker* is the root's
    author. A *reply* is a non-service message with a ``reply_to_id`` (explicit reply links only
    unless ``include_inferred=True``); it belongs to the thread named by its ``thread_id``.
    Replies in threads whose root is missing (deleted, before the export) have no known asker and
    count for nothing here except the reply graph.

Expertise z-score (Zhang, Ackerman & Adamic 2007, "Expertise networks in online communities",
WWW '07, §4)
    ``a`` = distinct threads started by *someone else* in which the member wrote at least one
    reply in ``[start, end)``; ``q`` = threads the member started in ``[start, end)``;
    ``z = (a − q) / √(a + q)`` (undefined when ``a + q = 0``). Under the null that a member
    answers and asks equally often, ``a`` is Binomial(a + q, ½) and ``z`` its standardised value:
    z > 2 marks a member who answers far more than they ask. Threads, not messages, are counted
    so that a long exchange in one thread counts once.

Answer person vs discussion person (Welser, Gleave, Fisher & Smith 2007, "Visualizing the
signatures of social roles in online discussion groups", J. Social Structure 8(2))
    Answer people reply to many distinct others, who are mostly low-degree (they ask and leave),
    and rarely post in threads of their own; discussion people exchange many replies with the same
    well-connected members and in their own threads. Measured per member:

    * ``asker_diversity`` = distinct askers of the others' threads the member replied in ÷ the
      member's replies in others' threads (1 = every reply goes to a different asker);
    * ``neighbour_out_degree`` = mean out-degree, in the reply graph of the same period, of the
      members this member replied to (out-degree = distinct members one replied to), compared
      with ``reference_out_degree`` = the median of ``neighbour_out_degree`` over the members
      with at least ``min_replies`` replies in others' threads (the typical busy replier);
    * ``own_thread_share`` = the member's replies in threads they started ÷ all their replies in
      threads with a known root.

    Rule (defaults configurable): a non-bot member with at least ``min_replies`` replies in
    others' threads is an **answer person** when ``asker_diversity ≥ 0.2`` (at most five replies
    per asker on average: weak ties), ``own_thread_share ≤ 0.1`` and
    ``neighbour_out_degree ≤ reference_out_degree`` (partners less connected than a typical busy
    replier's; ``max_neighbour_degree_ratio`` scales this bound); otherwise a **discussion
    person**. Members below ``min_replies`` are **askers** when ``q > a`` and **occasional**
    otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.results import Result

__all__ = ["MemberRoles", "expertise_z", "member_roles", "member_roles_expr"]

ROLES = ("answer person", "discussion person", "asker", "occasional")


def expertise_z(a: Any, q: Any) -> Any:
    """Zhang–Ackerman–Adamic z-score ``(a − q) / √(a + q)``; NaN where ``a + q = 0``."""
    a = np.asarray(a, dtype=float)
    q = np.asarray(q, dtype=float)
    total = a + q
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(total > 0, (a - q) / np.sqrt(total), np.nan)
    return z if z.ndim else float(z)


def member_roles_expr(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    include_inferred: bool = False,
) -> Any:
    """Per-member counts for the roles study, one ibis expression (definitions: module docstring).

    Columns: ``member_id``, ``is_staff``, ``is_bot``, ``a`` (threads of others answered),
    ``q`` (threads started), ``replies_others`` (replies in others' threads),
    ``distinct_askers``, ``replies_own`` (replies in own threads), ``out_degree`` (distinct
    members replied to), ``neighbour_out_degree_sum`` (sum of those members' out-degrees; divide
    by ``out_degree`` for the mean). One row per member of ``members``; zeros where none.
    """
    from analysis.network.reply import reply_edges_expr

    msgs = community.messages.filter(community.messages.kind != "service")
    roots = msgs.filter(msgs.reply_to_id.isnull() & (msgs.message_id == msgs.thread_id))
    askers = roots.select(root_id=roots.message_id, asker=roots.member_id)
    in_window = roots
    sources = ["explicit", "inferred"] if include_inferred else ["explicit"]
    replies = msgs.filter(msgs.reply_to_id.notnull() & msgs.reply_source.isin(sources))
    if start is not None:
        in_window = in_window.filter(in_window.created_at >= utc_timestamp(start))
        replies = replies.filter(replies.created_at >= utc_timestamp(start))
    if end is not None:
        in_window = in_window.filter(in_window.created_at < utc_timestamp(end))
        replies = replies.filter(replies.created_at < utc_timestamp(end))
    q = in_window.group_by(qid=in_window.member_id).aggregate(q=in_window.count())

    r = replies.join(askers, replies.thread_id == askers.root_id).select(
        rid=replies.member_id, thread=replies.thread_id, asker=askers.asker
    )
    others = r.filter(r.rid != r.asker)
    own = r.filter(r.rid == r.asker)
    answer = others.group_by("rid").aggregate(
        a=others.thread.nunique(),
        replies_others=others.count(),
        distinct_askers=others.asker.nunique(),
    )
    own_n = own.group_by(oid=own.rid).aggregate(replies_own=own.count())

    edges = reply_edges_expr(community, start=start, end=end, include_inferred=include_inferred)
    outdeg = edges.group_by(did=edges.source).aggregate(out_degree=edges.count())
    nb = edges.left_join(outdeg, edges.target == outdeg.did).select(
        nid=edges.source, deg=outdeg.out_degree.fill_null(0)
    )
    neighbour = nb.group_by("nid").aggregate(neighbour_out_degree_sum=nb.deg.sum())

    people = community.members.select("member_id", "is_staff", "is_bot")
    out = (
        people.left_join(q, people.member_id == q.qid)
        .left_join(answer, people.member_id == answer.rid)
        .left_join(own_n, people.member_id == own_n.oid)
        .left_join(outdeg, people.member_id == outdeg.did)
        .left_join(neighbour, people.member_id == neighbour.nid)
    )
    counts = ["a", "q", "replies_others", "distinct_askers", "replies_own", "out_degree"]
    return out.select(
        "member_id",
        "is_staff",
        "is_bot",
        **{c: out[c].fill_null(0).cast("int64") for c in counts},
        neighbour_out_degree_sum=out.neighbour_out_degree_sum.fill_null(0).cast("int64"),
    )


@dataclass(frozen=True)
class MemberRoles(Result):
    """Expertise z-scores and answer/discussion roles, one row per member who took part.

    Attributes
    ----------
    members : pandas.DataFrame
        Members with ``a + q + replies > 0`` (bots excluded), ranked by ``z`` (then ``a``):
        ``member_id``, ``is_staff``, ``a``, ``q``, ``z``, ``replies_others``, ``replies_own``,
        ``distinct_askers``, ``asker_diversity``, ``own_thread_share``, ``out_degree``,
        ``neighbour_out_degree``, ``role``.
    reference_out_degree : float
        Median ``neighbour_out_degree`` of members with ≥ ``min_replies`` replies in others'
        threads.
    min_replies : int
        Replies in others' threads needed for the answer/discussion distinction.
    role_counts : dict
        Role → number of members.
    top_n : int
        Rows shown by :meth:`to_frame`.
    """

    members: pd.DataFrame = field(repr=False)
    reference_out_degree: float
    min_replies: int
    role_counts: dict[str, int]
    top_n: int = 10
    title: str = "Helpers and experts"

    def to_frame(self) -> pd.DataFrame:
        return self.members.head(self.top_n).reset_index(drop=True)

    def experts(self) -> pd.DataFrame:
        """Answer people, highest z first."""
        return self.members[self.members["role"] == "answer person"].reset_index(drop=True)

    def summary(self) -> str:
        if self.members.empty:
            return "Nobody has started or answered a thread yet."
        top = self.members.iloc[0]
        answer = self.members[self.members["role"] == "answer person"]
        n_staff = int(answer["is_staff"].sum())
        who = "staff" if top["is_staff"] else "a member"
        return (
            f"{len(self.members):,} members started or answered threads. "
            f"{self.role_counts.get('answer person', 0):,} are answer people "
            f"({n_staff} of them staff) and {self.role_counts.get('discussion person', 0):,} "
            f"discussion people; {self.role_counts.get('asker', 0):,} mostly ask. The top expert "
            f"by z-score, {top['member_id']} ({who}), answered {int(top['a']):,} threads of "
            f"others and started {int(top['q']):,} (z = {top['z']:.1f})."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4.5))
        data = self.members[self.members["role"].isin(ROLES[:2])]
        sns.scatterplot(
            data=data, x="asker_diversity", y="own_thread_share", hue="role", size="a", ax=ax
        )
        ax.set_xlabel("distinct askers per reply in others' threads")
        ax.set_ylabel("share of replies in own threads")
        ax.set_title("Answer people vs discussion people")
        return ax

    def to_dict(self) -> dict[str, Any]:
        top = self.to_frame()
        return {
            "reference_out_degree": float(self.reference_out_degree),
            "min_replies": int(self.min_replies),
            "role_counts": {k: int(v) for k, v in self.role_counts.items()},
            "top_experts": [
                {
                    "member_id": str(r.member_id),
                    "a": int(r.a),
                    "q": int(r.q),
                    "z": None if pd.isna(r.z) else float(r.z),
                    "role": str(r.role),
                    "is_staff": bool(r.is_staff),
                }
                for r in top.itertuples()
            ],
        }


def assign_roles(
    frame: pd.DataFrame,
    *,
    min_replies: int = 10,
    min_asker_diversity: float = 0.2,
    max_own_thread_share: float = 0.1,
    max_neighbour_degree_ratio: float = 1.0,
) -> tuple[pd.DataFrame, float]:
    """Add the features, ``z`` and ``role`` to :func:`member_roles_expr`'s frame (rule: module
    docstring). Returns the ranked frame (bots and members without activity dropped) and
    ``reference_out_degree``."""
    f = frame[~frame["is_bot"].astype(bool)].copy()
    f = f[(f["a"] + f["q"] + f["replies_others"] + f["replies_own"]) > 0]
    f["z"] = expertise_z(f["a"], f["q"])
    with np.errstate(invalid="ignore", divide="ignore"):
        f["asker_diversity"] = np.where(
            f["replies_others"] > 0, f["distinct_askers"] / f["replies_others"], np.nan
        )
        known = f["replies_others"] + f["replies_own"]
        f["own_thread_share"] = np.where(known > 0, f["replies_own"] / known, np.nan)
        f["neighbour_out_degree"] = np.where(
            f["out_degree"] > 0, f["neighbour_out_degree_sum"] / f["out_degree"], np.nan
        )
    busy = f["replies_others"] >= min_replies
    reference = float(f.loc[busy, "neighbour_out_degree"].median()) if busy.any() else np.nan
    answer = (
        busy
        & (f["asker_diversity"] >= min_asker_diversity)
        & (f["own_thread_share"].fillna(0) <= max_own_thread_share)
        & (f["neighbour_out_degree"].fillna(0) <= max_neighbour_degree_ratio * reference)
    )
    f["role"] = np.select([answer, busy, f["q"] > f["a"]], list(ROLES[:3]), default=ROLES[3])
    f["is_staff"] = f["is_staff"].astype(bool)
    columns = [
        "member_id",
        "is_staff",
        "a",
        "q",
        "z",
        "replies_others",
        "replies_own",
        "distinct_askers",
        "asker_diversity",
        "own_thread_share",
        "out_degree",
        "neighbour_out_degree",
        "role",
    ]
    f = f.sort_values(["z", "a", "member_id"], ascending=[False, False, True], na_position="last")
    return f[columns].reset_index(drop=True), reference


def member_roles(
    community: Community,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    include_inferred: bool = False,
    min_replies: int = 10,
    min_asker_diversity: float = 0.2,
    max_own_thread_share: float = 0.1,
    max_neighbour_degree_ratio: float = 1.0,
    top_n: int = 10,
) -> MemberRoles:
    """Expertise z-scores and answer/discussion roles (definitions: module docstring).

    Parameters
    ----------
    community : Community
    start, end : timestamp or str, optional
        Period ``[start, end)`` for threads started and replies written.
    include_inferred : bool
        Count inferred replies too (default: explicit reply links only).
    min_replies, min_asker_diversity, max_own_thread_share, max_neighbour_degree_ratio
        The role rule's thresholds.
    top_n : int
        Rows shown by ``to_frame``.
    """
    frame = community.execute(
        member_roles_expr(community, start=start, end=end, include_inferred=include_inferred)
    )
    ranked, reference = assign_roles(
        frame,
        min_replies=min_replies,
        min_asker_diversity=min_asker_diversity,
        max_own_thread_share=max_own_thread_share,
        max_neighbour_degree_ratio=max_neighbour_degree_ratio,
    )
    counts = {role: int((ranked["role"] == role).sum()) for role in ROLES}
    return MemberRoles(ranked, reference, min_replies, counts, top_n)
