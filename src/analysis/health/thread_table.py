"""The per-thread table: one row per conversation, computed on the engine, and its definitions.

Every per-thread quantity is computed on the community's engine (DuckDB or Spark) by
:func:`thread_table_expr`. The thread metrics share one materialised copy per community and
options (:func:`shared_thread_table`, memoised by :mod:`analysis.health.engine_cache`): counts
and shares are aggregated on the engine; for the exact medians and 90th percentiles (see
:mod:`analysis.health.period_results`) only the numeric columns they need come back
(:mod:`analysis.health.thread_queries`), never the ids. :func:`thread_table` returns the whole
table as pandas for callers that want one row per thread.
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
    replies). Depth needs a walk up the reply chains of unbounded length; it is computed on the
    engine by pointer jumping (:mod:`analysis.health.reply_depth`: O(n log depth), one join per
    round, no recursive SQL, which ibis does not express portably).
Periods
    A thread belongs to the UTC calendar period (day / ISO week from Monday / month) of its root's
    ``created_at`` (:func:`threads_by_period`; periods as in :mod:`analysis.health.periods`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from analysis.data import Community
from analysis.health.engine_cache import materialise, memo
from analysis.health.included import (  # re-exported: the thread metrics' message filter
    included_messages,
    message_store,
    option_key,
    roots_and_replies,
    shared_included_messages,
    staff_ids,
    thread_options,
)
from analysis.health.periods import (
    epoch_seconds,
)
from analysis.health.thread_depth import (  # re-exported: the per-thread depth
    reply_depths,
    thread_depth_table,
    threads_with_depth,
)

__all__ = [
    "included_messages",
    "shared_included_messages",
    "missing_root_threads_expr",
    "reply_depths",
    "shared_thread_table",
    "thread_depth_table",
    "thread_table",
    "thread_table_expr",
    "threads_with_depth",
]


#: The order of replies for the first response: time, then ``message_id`` (unique).
_REPLY_ORDER = dt.Struct({"at": dt.Timestamp(timezone="UTC"), "id": dt.string})


@ibis.udf.agg.builtin(name="min_by")
def _first_by_time_then_id(arg: str, key: _REPLY_ORDER) -> str:
    """The ``arg`` of the row with the smallest ``key`` = (``created_at``, ``message_id``)
    (DuckDB ``min_by`` = ``arg_min``, Spark ``min_by``; structs compare field by field).

    ibis's own ``argmin`` compiles to ``FIRST(arg ORDER BY key)`` on DuckDB, an ordered
    aggregate that sorts every group; ``min_by`` is a plain aggregate. Keys are unique (they
    contain the message id), so every engine picks the same row.
    """


def _thread_replies(roots: Any, replies: Any) -> Any:
    """Counted replies of threads whose root is present, with the root's author and time
    (joined on the keys of :mod:`analysis.health.included`)."""
    r = roots.select(
        r_key=roots.message_key, root_member_key=roots.member_key, root_at=roots.created_at
    )
    joined = replies.inner_join(r, replies.thread_key == r.r_key)
    return joined.select(
        "message_id",
        "thread_key",
        "member_id",
        "member_key",
        "created_at",
        "reply_to_key",
        "root_member_key",
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
    thread_key
        The root's join key (:mod:`analysis.health.included`, *Join keys*); :func:`thread_table`
        leaves it out.
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
    roots, replies = roots_and_replies(community, include_staff, include_bots, reply_sources)
    tr = _thread_replies(roots, replies)

    # size, participants, first and last message: the replies grouped by (thread, replier),
    # then by thread (two passes instead of a distinct count beside the other aggregates; the
    # root is added back: participants = root author + distinct repliers other than the author)
    per_replier = tr.group_by(["thread_key", "member_key"]).aggregate(
        n=tr.count(),
        is_author=(tr.member_key == tr.root_member_key).cast("int64").max(),
        first_at=tr.created_at.min(),
        last_at=tr.created_at.max(),
    )
    pr = per_replier
    sizes = pr.group_by("thread_key").aggregate(
        n_replies=pr.n.sum(),
        repliers=pr.count(),
        author_replied=pr.is_author.max(),
        first_reply_at=pr.first_at.min(),
        last_reply_at=pr.last_at.max(),
        first_response_at=pr.first_at.min(where=pr.is_author == 0),
    )
    # first response: the reply by someone other than the root's author with the smallest
    # (created_at, message_id), one aggregate per thread (its time is ``first_response_at`` of
    # ``sizes``; whether its author is staff comes from the few staff ids at the end)
    others = tr.filter(tr.member_key != tr.root_member_key)
    first = others.group_by(f_thread_key=others.thread_key).aggregate(
        first_responder_id=_first_by_time_then_id(
            others.member_id, ibis.struct({"at": others.created_at, "id": others.message_id})
        )
    )

    # replies earlier than their parent, counted per thread: a direct reply's parent is the
    # root (its time is in ``tr``); only deeper replies look their parent up among all messages
    # of the export (the parent may be any message, also an excluded one)
    direct = tr.filter((tr.reply_to_key == tr.thread_key) & (tr.created_at < tr.root_at))
    deeper = replies.filter(replies.reply_to_key != replies.thread_key)
    all_msgs = message_store(community)  # every message of the export, stored
    parents = all_msgs.select(p_key=all_msgs.message_key, p_at=all_msgs.created_at)
    skew = deeper.inner_join(parents, deeper.reply_to_key == parents.p_key)
    skew = skew.filter(skew.created_at < skew.p_at)
    early = direct.select(s_thread_key=direct.thread_key).union(
        skew.select(s_thread_key=skew.thread_key), distinct=False
    )
    skewed = early.group_by("s_thread_key").aggregate(n_skewed_replies=early.count())

    t = roots.left_join(sizes, roots.message_key == sizes.thread_key)
    has = t.n_replies.notnull()
    t = t.select(
        thread_id=t.message_id,
        thread_key=t.message_key,
        channel_id=t.channel_id,
        root_member_id=t.member_id,
        root_is_staff=t.is_staff,
        created_at=t.created_at,
        n_replies=t.n_replies.fill_null(0).cast("int64"),
        participants=(1 + t.repliers.fill_null(0) - t.author_replied.fill_null(0)).cast("int64"),
        first_at=ibis.ifelse(
            has & (t.first_reply_at < t.created_at), t.first_reply_at, t.created_at
        ),
        last_at=ibis.ifelse(has & (t.last_reply_at > t.created_at), t.last_reply_at, t.created_at),
        first_response_at=t.first_response_at,
    )
    t = t.left_join(first, t.thread_key == first.f_thread_key)
    staff = staff_ids(community)
    t = t.left_join(staff, t.first_responder_id == staff.st_id)
    t = t.left_join(skewed, t.thread_key == skewed.s_thread_key)
    delta = epoch_seconds(t.first_response_at) - epoch_seconds(t.created_at)
    duration = epoch_seconds(t.last_at) - epoch_seconds(t.first_at)
    return t.select(
        "thread_id",
        "thread_key",
        "channel_id",
        "root_member_id",
        "root_is_staff",
        "created_at",
        "n_replies",
        "participants",
        "first_response_at",
        "first_responder_id",
        first_responder_is_staff=ibis.ifelse(
            t.first_responder_id.isnull(), ibis.null("boolean"), t.st_id.notnull()
        ),
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
    _, replies = roots_and_replies(community, include_staff, include_bots, reply_sources)
    all_msgs = message_store(community)  # every message of the export, stored
    # first without the threads whose root is any message that replies to nothing (about a
    # third of the messages: a smaller hash table than every id), then, for the few replies
    # left, without the threads whose root is any other message of the export
    starts = all_msgs.filter(all_msgs.reply_to_key.isnull()).select(o_key=all_msgs.message_key)
    left = replies.anti_join(starts, replies.thread_key == starts.o_key)
    all_keys = all_msgs.select(a_key=all_msgs.message_key)
    missing = left.anti_join(all_keys, left.thread_key == all_keys.a_key)
    return missing.thread_key.nunique()


def shared_thread_table(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """:func:`thread_table_expr` materialised on the engine, once per community and options.

    The same cached ibis table is returned to every thread metric that asks with the same
    options (:mod:`analysis.health.engine_cache`), so the per-thread joins run once.
    """
    kw = thread_options(include_staff, include_bots, reply_sources)
    return memo(
        community,
        option_key("threads", kw),
        lambda: materialise(community, thread_table_expr(community, **kw)),
    )


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
    The metrics of this package do not call it (they aggregate on the engine); it is for callers
    that need every thread.
    """
    kw = thread_options(include_staff, include_bots, reply_sources)
    t = threads_with_depth(community, **kw) if with_depth else shared_thread_table(community, **kw)
    frame = community.execute(t.drop("thread_key"))
    for col in ("created_at", "first_response_at", "last_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ns, UTC]")
    for col in ("n_replies", "participants", "n_skewed_replies"):
        frame[col] = frame[col].astype("int64")
    frame["response_clipped"] = frame["response_clipped"].astype(bool)
    if with_depth:
        frame["max_depth"] = frame["max_depth"].astype("int64")
    return frame.sort_values(["created_at", "thread_id"], kind="stable").reset_index(drop=True)
