"""Reply depth on the engine: the position of every reply in the reply forest, by pointer jumping.

Definition (as in :mod:`analysis.health.thread_table`)
    The reply forest has one edge ``message_id → reply_to_id`` per non-service message with a
    ``reply_to_id`` (every reply link of the data, whoever wrote it, whatever its
    ``reply_source``). A reply whose parent is not itself such a reply (the parent is a root, a
    service message, or absent from the export) has depth 1; any other reply has its parent's
    depth plus one.

Method
    Depth needs a walk up reply chains of unbounded length. SQL engines do that with recursive
    queries, which ibis does not express and which Spark 4.0 does not run, so the walk is done
    with pointer jumping (Wyllie's list ranking; JáJá, *An Introduction to Parallel Algorithms*,
    1992, §3.1): every still-unresolved reply keeps a pointer ``jump`` to an ancestor and the
    number of links ``dist`` to it; one round joins the unresolved replies with the table of all
    replies on ``jump`` and replaces ``(jump, dist)`` by ``(jump's jump, dist + jump's dist)``.
    A reply is resolved when its pointer reaches a depth-1 reply. A chain of length ``d`` is
    resolved in ``⌈log2 d⌉ + 1`` rounds, and the set of unresolved replies shrinks every round,
    so the work is O(n log depth). Each round is one join executed by the engine and stored
    there (:func:`analysis.health.engine_cache.materialise`); nothing per reply comes back to
    Python. More than 64 rounds (depth above 2^63) can only mean a cycle of reply links, which
    ingest rejects; it raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import ibis

from analysis.data import Community
from analysis.health.engine_cache import materialise

__all__ = ["MAX_ROUNDS", "ReplyCycleError", "reply_depth_table"]

MAX_ROUNDS = 64


class ReplyCycleError(ValueError):
    """Reply links form a cycle (no reply chain can be followed to its top)."""


def _count(community: Community, table: Any) -> int:
    return int(community.execute(table.count()))


def _compute(community: Community) -> Any:
    m = community.messages
    edges = m.filter((m.kind != "service") & m.reply_to_id.notnull()).select(
        e_id=m.message_id, e_parent=m.reply_to_id
    )
    ids = edges.select(p_id=edges.e_id)
    # one join tells whether each parent is itself a reply (message ids are unique, so the left
    # join keeps one row per edge): depth 1 when it is not (a root, a service message, or not in
    # the data); the others start the walk one step up
    marked = edges.left_join(ids, edges.e_parent == ids.p_id)
    marked = materialise(
        community,
        marked.select(m_id=marked.e_id, m_parent=marked.e_parent, nested=marked.p_id.notnull()),
    )
    top = marked.filter(~marked.nested)
    # filters of the stored table: cheap scans, nothing more to store
    resolved = [top.select(message_id=top.m_id, depth=ibis.literal(1, "int64"))]
    nested = marked.filter(marked.nested)
    active = nested.select(
        a_id=nested.m_id, a_jump=nested.m_parent, a_dist=ibis.literal(1, "int64")
    )
    for _ in range(MAX_ROUNDS):
        if _count(community, active) == 0:
            break
        done = ibis.union(*resolved, distinct=False) if len(resolved) > 1 else resolved[0]
        look = done.select(
            l_id=done.message_id, l_dist=done.depth, l_jump=ibis.null("string")
        ).union(active.select(l_id=active.a_id, l_dist=active.a_dist, l_jump=active.a_jump))
        j = active.inner_join(look, active.a_jump == look.l_id)
        j = materialise(
            community,
            j.select(a_id=j.a_id, a_jump=j.l_jump, a_dist=(j.a_dist + j.l_dist).cast("int64")),
        )
        finished = j.filter(j.a_jump.isnull())
        resolved.append(finished.select(message_id=finished.a_id, depth=finished.a_dist))
        active = j.filter(j.a_jump.notnull())
    else:
        raise ReplyCycleError(
            "messages.reply_to_id: reply links form a cycle (a chain of replies that never "
            "reaches a message without reply_to_id); ingest should have rejected this export"
        )
    return ibis.union(*resolved, distinct=False) if len(resolved) > 1 else resolved[0]


def reply_depth_table(community: Community) -> Any:
    """Depth of every reply (``message_id``, ``depth`` int64) as an ibis table on the engine.

    See the module docstring for the definition and the method. The rounds run when this is
    called and their tables live on the engine as long as the returned expression does (not
    memoised: callers keep only what they aggregate from it, e.g.
    :func:`analysis.health.thread_depth.thread_depth_table`, so the reply-level tables are
    freed). Raises :class:`ReplyCycleError` (a ``ValueError``) when reply links form a cycle.
    """
    return _compute(community)
