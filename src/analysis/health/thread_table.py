"""The per-thread table: one row per conversation, computed on the engine, and its definitions.

Every per-thread quantity is computed on the community's engine (DuckDB or Spark) by
:func:`thread_table_expr`; what comes back as pandas is one row per thread, from which the thread
metrics take their medians and 90th percentiles exactly (see :mod:`analysis.health.period_results`).
The metrics built on this table: :mod:`analysis.health.responsiveness` (response rate, time to
first response), :mod:`analysis.health.discussion` (depth, conversation duration) and
:mod:`analysis.health.shares` (member-initiated threads, member-to-member replies, support
deflection).

Definitions shared by all thread metrics
----------------------------------------
Messages
    Rows of ``messages`` whose ``kind`` is not ``service``, written by *included* members: bots
    are dropped unless ``include_bots``; staff are dropped when ``include_staff=False`` (their
    roots are then not threads and their replies are not responses, i.e. the metrics describe
    the community without its staff). Messages of excluded accounts are removed first.
Thread root
    A message with no ``reply_to_id``. Its thread is every counted reply whose ``thread_id`` is
    the root's ``message_id`` (the ingest resolves ``thread_id`` by following reply links to the
    top). Threads whose root is absent from the export (deleted, or older than the export:
    ``thread_id`` names no message) are excluded and counted (``n_missing_root_threads``).
Reply
    A message with a ``reply_to_id`` whose ``reply_source`` is in ``reply_sources`` (default
    ``("explicit",)``: links the platform recorded; add ``"inferred"`` to use replies inferred
    from timing at ingest).
Response
    A reply in the thread by a member other than the root's author, at any depth (CHAOSS
    *Time to First Response*: "the first activity by someone other than the author"). Self-replies
    are never responses. The *first response* is the earliest such reply (ties broken by
    ``message_id``); its time minus the root's time, in whole seconds, is the *response time*.
Clock skew
    A reply stamped earlier than the message it answers (exporting clients with wrong clocks,
    merged exports). A first response earlier than its root gets response time 0 (clipped);
    ``n_clipped_responses`` counts them and ``n_skewed_replies`` counts every reply earlier than
    its parent.
Reply depth
    Direct reply to the root = 1, a reply to that reply = 2, ... The depth of a reply is its
    position in the full reply forest of the export (every non-service reply link, whoever wrote
    it); a thread's ``max_depth`` is the largest depth among its counted replies (0 without
    replies). Depth needs a walk up the reply chains of unbounded length, which SQL engines do
    only with recursive queries that ibis does not portably express; it is therefore computed in
    pandas on the reply edge list (``message_id → reply_to_id``, one small row per reply) by
    vectorised pointer jumping (O(n log depth), no recursion).
Periods
    A thread belongs to the UTC calendar period (day / ISO week from Monday / month) of its root's
    ``created_at`` (:func:`threads_by_period`; periods as in :mod:`analysis.health.periods`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.activity import members_included
from analysis.health.periods import Period, check_period, epoch_seconds, period_floor

__all__ = [
    "ThreadDataNotes",
    "included_messages",
    "missing_root_threads_expr",
    "reply_depths",
    "thread_notes",
    "thread_table",
    "thread_table_expr",
    "threads_by_period",
]


def included_messages(
    community: Community, *, include_staff: bool = True, include_bots: bool = False
) -> Any:
    """Non-service messages of included members, with the author's ``is_staff`` flag (ibis)."""
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    members = members.select(m_id=members.member_id, is_staff=members.is_staff)
    msgs = community.messages.filter(community.messages.kind != "service")
    joined = msgs.inner_join(members, msgs.member_id == members.m_id)
    return joined.select(
        "message_id",
        "channel_id",
        "thread_id",
        "member_id",
        "created_at",
        "reply_to_id",
        "reply_source",
        "is_staff",
    )


def _roots_and_replies(
    community: Community, include_staff: bool, include_bots: bool, reply_sources: Sequence[str]
) -> tuple[Any, Any]:
    msgs = included_messages(community, include_staff=include_staff, include_bots=include_bots)
    roots = msgs.filter(msgs.reply_to_id.isnull())
    replies = msgs.filter(msgs.reply_to_id.notnull() & msgs.reply_source.isin(list(reply_sources)))
    return roots, replies


def _thread_replies(roots: Any, replies: Any) -> Any:
    """Counted replies of threads whose root is present, with the root's author and time."""
    r = roots.select(
        r_id=roots.message_id, root_member_id=roots.member_id, root_at=roots.created_at
    )
    joined = replies.inner_join(r, replies.thread_id == r.r_id)
    return joined.select(
        "message_id",
        "thread_id",
        "member_id",
        "created_at",
        "reply_to_id",
        "is_staff",
        "root_member_id",
        "root_at",
    )


def thread_table_expr(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """One row per thread root, as an ibis expression executed by the engine.

    Columns
    -------
    thread_id, channel_id, root_member_id, root_is_staff, created_at
        The root: its id, channel, author, whether the author is staff, and its time (UTC).
    n_replies : int
        Counted replies in the thread (by included members, any depth, self-replies included).
    participants : int
        Distinct members among the root's author and the repliers.
    first_response_at : timestamp or null
        Time of the first response (earliest reply by someone other than the root's author).
    first_responder_id : str or null
        Its author. ``first_responder_is_staff`` : bool or null, whether that author is staff.
    response_seconds : int or null
        ``max(0, first_response_at − created_at)`` in whole seconds (null without a response).
    response_clipped : bool
        The first response was stamped before the root (clock skew), so its time was clipped.
    last_at : timestamp
        Latest message of the thread (root or reply). ``duration_seconds`` = ``last_at`` minus
        the earliest message of the thread, in seconds, for threads with ≥ 2 participants
        (null otherwise).
    n_skewed_replies : int
        Counted replies in the thread stamped earlier than the message they answer.

    ``max_depth`` is not here (see the module docstring): :func:`thread_table` adds it.
    See the module docstring for the definitions of roots, replies, responses and the flags.
    """
    roots, replies = _roots_and_replies(community, include_staff, include_bots, reply_sources)
    tr = _thread_replies(roots, replies)

    # size, participants, first and last message: union of roots and their replies
    posts = roots.select(
        thread_id=roots.message_id, member_id=roots.member_id, created_at=roots.created_at
    ).union(tr.select("thread_id", "member_id", "created_at"), distinct=False)
    sizes = posts.group_by("thread_id").aggregate(
        n_messages=posts.count(),
        participants=posts.member_id.nunique(),
        first_at=posts.created_at.min(),
        last_at=posts.created_at.max(),
    )

    # first response: earliest reply by someone other than the root's author
    others = tr.filter(tr.member_id != tr.root_member_id)
    order = ibis.window(group_by="thread_id", order_by=["created_at", "message_id"])
    ranked = others.mutate(rank=ibis.row_number().over(order))
    first = ranked.filter(ranked.rank == 0).select(
        f_thread_id=ranked.thread_id,
        first_response_at=ranked.created_at,
        first_responder_id=ranked.member_id,
        first_responder_is_staff=ranked.is_staff,
    )

    # replies earlier than their parent (the parent may be any message of the export)
    all_msgs = community.messages
    parents = all_msgs.select(p_id=all_msgs.message_id, p_at=all_msgs.created_at)
    skew = tr.inner_join(parents, tr.reply_to_id == parents.p_id)
    skew = skew.filter(skew.created_at < skew.p_at)
    skewed = skew.group_by(s_thread_id=skew.thread_id).aggregate(n_skewed_replies=skew.count())

    t = roots.left_join(sizes, roots.message_id == sizes.thread_id)
    t = t.select(
        thread_id=t.message_id,
        channel_id=t.channel_id,
        root_member_id=t.member_id,
        root_is_staff=t.is_staff,
        created_at=t.created_at,
        n_replies=(t.n_messages - 1).cast("int64"),
        participants=t.participants.cast("int64"),
        first_at=t.first_at,
        last_at=t.last_at,
    )
    t = t.left_join(first, t.thread_id == first.f_thread_id)
    t = t.left_join(skewed, t.thread_id == skewed.s_thread_id)
    delta = epoch_seconds(t.first_response_at) - epoch_seconds(t.created_at)
    duration = epoch_seconds(t.last_at) - epoch_seconds(t.first_at)
    return t.select(
        "thread_id",
        "channel_id",
        "root_member_id",
        "root_is_staff",
        "created_at",
        "n_replies",
        "participants",
        "first_response_at",
        "first_responder_id",
        "first_responder_is_staff",
        response_seconds=ibis.ifelse(delta < 0, ibis.literal(0, "int64"), delta),  # null stays null
        response_clipped=(delta < 0).fill_null(False),
        last_at=t.last_at,
        duration_seconds=ibis.ifelse(t.participants >= 2, duration, ibis.null("int64")),
        n_skewed_replies=t.n_skewed_replies.fill_null(0).cast("int64"),
    )


def missing_root_threads_expr(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """Number of threads (distinct ``thread_id`` of counted replies) whose root is not in the
    export at all (an ibis scalar expression)."""
    _, replies = _roots_and_replies(community, include_staff, include_bots, reply_sources)
    all_ids = community.messages.select(a_id=community.messages.message_id)
    missing = replies.anti_join(all_ids, replies.thread_id == all_ids.a_id)
    return missing.thread_id.nunique()


def reply_depths(community: Community) -> pd.DataFrame:
    """Depth of every reply in the full reply forest (``message_id``, ``depth``), in pandas.

    A direct reply to a root has depth 1, a reply to it depth 2, and so on. A reply whose parent
    is not in the export counts from that missing parent (depth 1). Computed by vectorised
    pointer jumping on the edge list brought back from the engine (see the module docstring).
    """
    m = community.messages
    edges = community.execute(
        m.filter((m.kind != "service") & m.reply_to_id.notnull()).select(
            "message_id", "reply_to_id"
        )
    )
    if edges.empty:
        return pd.DataFrame({"message_id": pd.Series(dtype=object), "depth": []}, dtype="int64")
    ids = edges["message_id"].to_numpy()
    position = pd.Index(ids)
    parent = position.get_indexer(edges["reply_to_id"].to_numpy())  # -1: parent is a root
    n = len(ids)
    jump = np.where(parent >= 0, parent, np.arange(n))
    dist = np.ones(n, dtype=np.int64)
    active = parent >= 0
    for _ in range(64):
        if not active.any():
            break
        dist = np.where(active, dist + dist[jump], dist)
        nxt_active = active & active[jump]
        jump = np.where(active, jump[jump], jump)
        active = nxt_active
    else:  # pragma: no cover - ingest rejects reply cycles
        raise ValueError("reply links form a cycle; ingest should have rejected this export")
    return pd.DataFrame({"message_id": ids, "depth": dist})


def thread_table(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
    with_depth: bool = True,
) -> pd.DataFrame:
    """:func:`thread_table_expr` executed, with ``max_depth`` added (see module docstring).

    Timestamps come back as ``datetime64[ns, UTC]``; one row per thread, sorted by root time.
    """
    kw = {
        "include_staff": include_staff,
        "include_bots": include_bots,
        "reply_sources": reply_sources,
    }
    frame = community.execute(thread_table_expr(community, **kw))
    for col in ("created_at", "first_response_at", "last_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ns, UTC]")
    for col in ("n_replies", "participants", "n_skewed_replies"):
        frame[col] = frame[col].astype("int64")
    frame["response_clipped"] = frame["response_clipped"].astype(bool)
    if with_depth:
        roots, replies = _roots_and_replies(community, include_staff, include_bots, reply_sources)
        tr = _thread_replies(roots, replies).select("message_id", "thread_id")
        counted = community.execute(tr)
        depth = counted.merge(reply_depths(community), on="message_id", how="left")
        max_depth = depth.groupby("thread_id")["depth"].max()
        frame["max_depth"] = frame["thread_id"].map(max_depth).fillna(0).astype("int64")
    return frame.sort_values(["created_at", "thread_id"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class ThreadDataNotes:
    """Data-quality counts shared by the thread results (definitions in the module docstring)."""

    n_threads: int
    n_missing_root_threads: int
    n_skewed_replies: int
    n_clipped_responses: int

    def as_dict(self) -> dict[str, int]:
        return {
            "n_threads": self.n_threads,
            "n_missing_root_threads": self.n_missing_root_threads,
            "n_skewed_replies": self.n_skewed_replies,
            "n_clipped_responses": self.n_clipped_responses,
        }

    def sentence(self) -> str:
        parts = []
        if self.n_missing_root_threads:
            parts.append(
                f"{self.n_missing_root_threads:,} threads whose first message is missing from "
                f"the export were left out"
            )
        if self.n_skewed_replies:
            parts.append(
                f"{self.n_skewed_replies:,} replies are stamped before the message they answer "
                f"(clock skew; {self.n_clipped_responses:,} response times were set to 0)"
            )
        return (" " + "; ".join(parts) + ".") if parts else ""


def thread_notes(
    community: Community, threads: pd.DataFrame, kw: dict[str, Any]
) -> ThreadDataNotes:
    """The data-quality counts of a thread table.

    ``threads`` is a (possibly partial) :func:`thread_table` with ``n_skewed_replies`` and
    ``response_clipped``; ``kw`` are the ``include_staff``, ``include_bots`` and ``reply_sources``
    it was built with (the missing-root count is computed on the engine with them).
    """
    missing = community.execute(missing_root_threads_expr(community, **kw))
    return ThreadDataNotes(
        n_threads=int(len(threads)),
        n_missing_root_threads=int(missing),
        n_skewed_replies=int(threads["n_skewed_replies"].sum()),
        n_clipped_responses=int(threads["response_clipped"].sum()),
    )


def threads_by_period(
    community: Community,
    period: Period,
    include_staff: bool,
    include_bots: bool,
    reply_sources: Sequence[str],
    with_depth: bool = False,
) -> tuple[pd.DataFrame, ThreadDataNotes]:
    """:func:`thread_table` with a ``period_start`` column (the period of the root), and its
    :class:`ThreadDataNotes`. Raises ``ValueError`` for an unknown period."""
    check_period(period)
    kw = {
        "include_staff": include_staff,
        "include_bots": include_bots,
        "reply_sources": reply_sources,
    }
    threads = thread_table(community, with_depth=with_depth, **kw)
    threads["period_start"] = period_floor(threads["created_at"], period)
    return threads, thread_notes(community, threads, kw)
