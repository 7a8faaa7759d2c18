"""Reply depth per thread: the deepest counted reply of every thread, on the engine.

A reply's depth is its position in the full reply forest of the export (direct reply to a root
= 1, a reply to it = 2, ...; see :mod:`analysis.health.thread_table` for the definitions and
:mod:`analysis.health.reply_depth` for the pointer-jumping walk that computes it). A thread's
``max_depth`` is the largest depth among its counted replies (0 without replies); the discussion
metrics (:mod:`analysis.health.discussion`) read it through :func:`threads_with_depth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.health.engine_cache import materialise, memo
from analysis.health.included import option_key, roots_and_replies, thread_options
from analysis.health.reply_depth import reply_depth_table

__all__ = ["reply_depths", "thread_depth_table", "threads_with_depth"]


def thread_depth_table(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """``d_thread_id``, ``max_depth``: the deepest counted reply of every ``thread_id`` with a
    counted reply, materialised on the engine once per community and options. Depths:
    :func:`analysis.health.reply_depth.reply_depth_table`, joined with the counted replies (not
    with the thread table: threads whose root is missing appear here too, and
    :func:`threads_with_depth` keeps the thread table's rows).
    """
    kw = thread_options(include_staff, include_bots, reply_sources)

    def build() -> Any:
        _, replies = roots_and_replies(community, **kw)
        replies = replies.select("message_id", "thread_id")
        depths = reply_depth_table(community)
        d = depths.select(d_id=depths.message_id, depth=depths.depth)
        j = replies.inner_join(d, replies.message_id == d.d_id)
        return materialise(
            community, j.group_by(d_thread_id=j.thread_id).aggregate(max_depth=j.depth.max())
        )

    return memo(community, option_key("depth", kw), build)


def threads_with_depth(community: Community, **kw: Any) -> Any:
    """:func:`shared_thread_table` with a ``max_depth`` column (0 for threads without replies)."""
    from analysis.health.thread_table import shared_thread_table  # (it re-exports this module)

    t = shared_thread_table(community, **kw)
    d = thread_depth_table(community, **kw)
    j = t.left_join(d, t.thread_id == d.d_thread_id)
    return j.drop("d_thread_id").mutate(max_depth=j.max_depth.fill_null(0).cast("int64"))


def reply_depths(community: Community) -> pd.DataFrame:
    """Depth of every reply in the full reply forest (``message_id``, ``depth``), as pandas.

    A direct reply to a root has depth 1, a reply to it depth 2, and so on. A reply whose parent
    is not in the export counts from that missing parent (depth 1). Computed on the engine
    (:mod:`analysis.health.reply_depth`); this brings one row per reply back, for inspection.
    """
    frame = community.execute(reply_depth_table(community))
    frame["depth"] = frame["depth"].astype("int64")
    return frame.sort_values("message_id", kind="stable").reset_index(drop=True)
