"""Reply depth per thread: the deepest counted reply of every thread, on the engine.

A reply's depth is its position in the full reply forest of the export (direct reply to a root
= 1, a reply to it = 2, ...; see :mod:`analysis.health.thread_table` for the definitions and
:mod:`analysis.health.reply_depth` for the pointer-jumping walk that computes it). A thread's
``max_depth`` is the largest depth among its counted replies (0 without replies); the discussion
metrics (:mod:`analysis.health.discussion`) read it through :func:`threads_with_depth`.

How
    Every reply has depth ≥ 1, and a reply has depth ≥ 2 exactly when it is *nested* (its
    parent is itself a reply). So a thread with counted replies (``n_replies > 0`` in the
    thread table) has ``max_depth`` = the deepest of its nested counted replies, or 1 when it
    has none. Only the nested replies are walked (:mod:`analysis.health.reply_depth`; 1.4M of
    6.5M replies in the 10M-message benchmark data); each carries its ``thread_id`` and whether
    it is counted through the walk, so the depths are grouped by thread without joining them
    back to the replies (:func:`thread_depth_table`). The forest's edges are read from the
    included messages the thread table already stored, plus the excluded accounts' replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import pandas as pd

from analysis.data import Community
from analysis.health.engine_cache import memo
from analysis.health.included import (
    included_flag,
    message_store,
    option_key,
    thread_options,
)
from analysis.health.reply_depth import (
    nested_depth_table,
    nested_replies,
    reply_depth_table,
    store,
)

__all__ = ["reply_depths", "thread_depth_table", "threads_with_depth"]


def thread_depth_table(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """``d_thread_key``, ``max_depth``: the deepest *nested* counted reply (depth ≥ 2) of every
    thread that has one (by its ``thread_key``, :mod:`analysis.health.included`), materialised on
    the engine once per community and options.

    Counted replies are those of :func:`analysis.health.included.roots_and_replies`: non-service
    replies by included members (excluded ids: :func:`analysis.health.included.excluded_ids`)
    whose ``reply_source`` is in ``reply_sources``. Threads whose counted replies all answer a
    root directly (depth 1) are not here: :func:`threads_with_depth` gives them 1. Threads whose
    root is missing appear too; :func:`threads_with_depth` keeps the thread table's rows.
    """
    kw = thread_options(include_staff, include_bots, reply_sources)

    def build() -> Any:
        nested = nested_replies(community, _edges(community, kw))
        depths = nested_depth_table(community, nested, keep=("thread_id", "counted"))
        counted = depths.filter(depths.counted)
        return store(
            community,
            counted.group_by(d_thread_key=counted.thread_id).aggregate(
                max_depth=counted.depth.max()
            ),
        )

    return memo(community, option_key("depth", kw), build)


def _edges(community: Community, kw: dict[str, Any]) -> Any:
    """Every edge of the reply forest (``message_id``, ``reply_to_id``, ``thread_id``,
    ``counted``), read from the stored messages: the three id columns hold the join keys
    ``message_key``, ``reply_to_key`` and ``thread_key`` of :mod:`analysis.health.included`
    (the depth walk of :mod:`analysis.health.reply_depth` takes any key that stands for the ids).

    Every non-service message with a ``reply_to_id`` in
    :func:`analysis.health.included.message_store` (the excluded accounts' replies too: they are
    links of the reply chains); ``counted`` when it is an included message
    (:func:`analysis.health.included.included_flag`) whose ``reply_source`` is in
    ``reply_sources``.
    """
    msgs = message_store(community)
    msgs = msgs.filter(~msgs.is_service & msgs.reply_to_key.notnull())
    included = included_flag(
        msgs, include_staff=kw["include_staff"], include_bots=kw["include_bots"]
    )
    return msgs.select(
        message_id=msgs.message_key,
        reply_to_id=msgs.reply_to_key,
        thread_id=msgs.thread_key,
        counted=included & msgs.reply_source.isin(list(kw["reply_sources"])),
    )


def threads_with_depth(community: Community, **kw: Any) -> Any:
    """:func:`shared_thread_table` with a ``max_depth`` column (0 for threads without replies,
    1 for threads whose counted replies all answer the root, else :func:`thread_depth_table`)."""
    from analysis.health.thread_table import shared_thread_table  # (it re-exports this module)

    # the depth table first: it reads only the included messages, so under run_concurrently it
    # is built while another thread is still building the thread table
    d = thread_depth_table(community, **kw)
    t = shared_thread_table(community, **kw)
    j = t.left_join(d, t.thread_key == d.d_thread_key)
    depth = ibis.ifelse(j.n_replies > 0, j.max_depth.fill_null(1), ibis.literal(0, "int64")).cast(
        "int64"
    )
    return j.drop("d_thread_key").mutate(max_depth=depth)


def reply_depths(community: Community) -> pd.DataFrame:
    """Depth of every reply in the full reply forest (``message_id``, ``depth``), as pandas.

    A direct reply to a root has depth 1, a reply to it depth 2, and so on. A reply whose parent
    is not in the export counts from that missing parent (depth 1). Computed on the engine
    (:mod:`analysis.health.reply_depth`); this brings one row per reply back, for inspection.
    """
    frame = community.execute(reply_depth_table(community))
    frame["depth"] = frame["depth"].astype("int64")
    return frame.sort_values("message_id", kind="stable").reset_index(drop=True)
