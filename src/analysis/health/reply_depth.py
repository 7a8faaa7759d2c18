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
    1992, §3.1), over the *nested* replies only:

    1. One semi-join of the replies with the reply ids finds the nested replies (those whose
       parent is itself a reply), stored on the engine (:func:`nested_replies`, with any
       columns the caller keeps, e.g. ``thread_id``). Every other reply has depth 1 and takes
       no further part: in real exports and in the benchmark data most replies answer a root
       directly (10M benchmark: 1.4M nested of 6.5M replies).
    2. Every unresolved nested reply keeps a pointer ``jump`` to an ancestor that is a reply
       and the number of links ``dist`` to it (first its parent, 1 link). One round left-joins
       the unresolved replies with the previous round's state of the nested replies on
       ``jump``: a pointer to a resolved reply of depth ``d`` resolves to ``dist + d``; a
       pointer to an unresolved one becomes ``(jump's jump, dist + jump's dist)``; a pointer to
       a reply that is not nested (depth 1) resolves to ``dist + 1``.

    A chain of ``L`` nested links is resolved within ``⌈log2 (L + 1)⌉`` rounds and the set of
    unresolved replies shrinks every round, so the work is O(n log depth) over the nested
    replies. Each round is one join executed by the engine and stored there
    (:func:`store`); nothing per reply comes back to Python.
    A chain has at most as many links as there are nested replies, ``n``, so every reply is
    resolved within ``bit_length(n)`` rounds (≥ ``⌈log2 (n + 1)⌉``); replies still unresolved
    then lie on (or below) a cycle of reply links, which ingest rejects:
    :class:`ReplyCycleError` (a ``ValueError``) is raised.
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import ibis

from analysis.data import Community
from analysis.health.engine_cache import bound_to, materialise

__all__ = [
    "MAX_ROUNDS",
    "ReplyCycleError",
    "nested_depth_table",
    "nested_replies",
    "reply_depth_table",
]

MAX_ROUNDS = 64


class ReplyCycleError(ValueError):
    """Reply links form a cycle (no reply chain can be followed to its top)."""


def store(community: Community, expr: Any) -> Any:
    """``expr`` computed now and stored on the engine, without its lineage on Spark.

    DuckDB (and any engine but Spark): :func:`analysis.health.engine_cache.materialise`. Spark:
    a cached DataFrame keeps the query that made it, and every later query over the rounds'
    tables re-plans the whole chain (each round reads the previous one several times, so the
    plan grows geometrically: at 5 rounds Spark spent minutes and ran out of heap printing
    it). The rounds are therefore stored with ``DataFrame.localCheckpoint()``
    (https://spark.apache.org/docs/latest/api/python/reference/pyspark.sql/api/pyspark.sql.DataFrame.localCheckpoint.html),
    which keeps the rows and forgets the lineage.
    """
    backend = community.backend
    if getattr(backend, "name", "") != "pyspark" or not bound_to(expr, backend):
        return materialise(community, expr)
    name = f"_wb_ckpt_{uuid.uuid4().hex}"
    frame = backend._session.sql(backend.compile(expr)).localCheckpoint(eager=True)
    frame.createOrReplaceTempView(name)
    table = backend.table(name)
    weakref.finalize(table.op(), _drop_view, backend, name)
    return table


def _drop_view(backend: Any, name: str) -> None:
    with contextlib.suppress(Exception):  # the session may be gone (interpreter exit)
        backend._session.catalog.dropTempView(name)


def _count(community: Community, table: Any) -> int:
    return int(community.execute(table.count()))


def reply_edges(community: Community) -> Any:
    """The edges of the reply forest: ``message_id``, ``reply_to_id`` of every non-service
    message with a ``reply_to_id`` (read from ``messages``)."""
    m = community.messages
    e = m.filter((m.kind != "service") & m.reply_to_id.notnull())
    return e.select("message_id", "reply_to_id")


def nested_replies(community: Community, edges: Any | None = None) -> Any:
    """The nested replies (parent is itself a reply), stored on the engine.

    ``edges`` holds every edge of the reply forest (``message_id``, ``reply_to_id``, and any
    further columns to keep with the nested rows, e.g. ``thread_id``); by default
    :func:`reply_edges`. The two id columns may hold any key that stands for the ids (e.g. the
    join keys of :mod:`analysis.health.included`), of one type. The result has the columns of
    ``edges``, one row per nested reply.
    """
    if edges is None:
        edges = reply_edges(community)
    ids = edges.select(p_id=edges.message_id)
    return store(community, edges.semi_join(ids, edges.reply_to_id == ids.p_id))


def nested_depth_table(
    community: Community, nested: Any | None = None, keep: Sequence[str] = ()
) -> Any:
    """Depth (``message_id``, ``depth`` int64, always ≥ 2) of every nested reply, on the engine.

    ``nested`` is :func:`nested_replies` of ``community`` (computed when not given); its columns
    named in ``keep`` (e.g. ``thread_id``) are carried through the rounds into the result, so
    that callers group the depths without joining them back to the replies. See the module
    docstring for the method; raises :class:`ReplyCycleError` on a cycle of reply links.
    """
    if nested is None:
        nested = nested_replies(community)
    n_nested = _count(community, nested)
    resolved: list[Any] = []
    keep = list(keep)
    active = nested.select(
        *keep,
        a_id=nested.message_id,
        a_jump=nested.reply_to_id,
        a_dist=ibis.literal(1, "int64"),
    )
    n_active = n_nested
    for _ in range(min(MAX_ROUNDS, n_nested.bit_length())):
        if n_active == 0:
            break
        look = active.select(l_id=active.a_id, l_dist=active.a_dist, l_jump=active.a_jump)
        if resolved:
            done = ibis.union(*resolved, distinct=False) if len(resolved) > 1 else resolved[0]
            look = done.select(
                l_id=done.message_id, l_dist=done.depth, l_jump=ibis.null(active.a_jump.type())
            ).union(look, distinct=False)
        j = active.left_join(look, active.a_jump == look.l_id)
        # no match: the pointer reached a reply that is not nested, of depth 1
        j = store(
            community,
            j.select(
                *keep,
                a_id=j.a_id,
                a_jump=j.l_jump,
                a_dist=(j.a_dist + j.l_dist.fill_null(1)).cast("int64"),
            ),
        )
        # the engine may store the sum as a 32-bit integer (Spark types the literal 1 so, and
        # ibis drops a cast to the type it already assumes); read it back as int64 every round
        j = j.mutate(a_dist=j.a_dist.cast("int64"))
        finished = j.filter(j.a_jump.isnull())
        resolved.append(finished.select(*keep, message_id=finished.a_id, depth=finished.a_dist))
        active = j.filter(j.a_jump.notnull())
        n_active = _count(community, active)
    if n_active:
        raise ReplyCycleError(
            "messages.reply_to_id: reply links form a cycle (a chain of replies that never "
            "reaches a message without reply_to_id); ingest should have rejected this export"
        )
    if not resolved:
        return nested.select(*keep, "message_id", depth=ibis.literal(2, "int64")).limit(0)
    return ibis.union(*resolved, distinct=False) if len(resolved) > 1 else resolved[0]


def reply_depth_table(community: Community) -> Any:
    """Depth of every reply (``message_id``, ``depth`` int64) as an ibis table on the engine.

    The replies that are not nested have depth 1; the nested ones are walked
    (:func:`nested_depth_table`). See the module docstring for the definition and the method.
    The rounds run when this is called and their tables live on the engine as long as the
    returned expression does (not memoised). Raises :class:`ReplyCycleError` (a
    ``ValueError``) when reply links form a cycle.
    """
    nested = nested_replies(community)
    deep = nested_depth_table(community, nested)
    edges = reply_edges(community)
    ids = nested.select(n_id=nested.message_id)
    top = edges.anti_join(ids, edges.message_id == ids.n_id)
    ones = top.select(message_id=top.message_id, depth=ibis.literal(1, "int64"))
    return ones.union(deep, distinct=False)
