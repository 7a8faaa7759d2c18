"""Reply chains, threads, forum topics and message kinds of collected Telegram messages.

Part of :mod:`analysis.ingest.telegram` (whose docstring states the rules). The reply links form
a forest; :func:`resolve_conversations` finds every message's root by vectorised pointer jumping
(:func:`resolve_roots`, no recursion, so arbitrarily long chains are fine) and derives
``reply_to_id``, ``thread_id``, ``channel_id`` (forum topics) and ``kind`` from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.ingest._telegram_json import ExportCollector, TelegramExportError

__all__ = ["Conversations", "resolve_conversations", "resolve_roots"]


@dataclass(frozen=True)
class Conversations:
    """Where each collected message sits in the conversation (arrays in collection order)."""

    #: The message replied to (present or missing), or None.
    reply_to_id: np.ndarray
    #: True for a reply whose target is not in the data (or is the message itself).
    dangling: np.ndarray
    #: Id of the topmost message of its reply chain; the missing id for a dangling chain.
    thread_id: np.ndarray
    #: Its forum topic, else its chat's channel.
    channel_id: np.ndarray
    #: ``post`` | ``comment`` | ``service`` | ``message``.
    kind: np.ndarray


def resolve_conversations(rows: ExportCollector, mids: np.ndarray, source: str) -> Conversations:
    """Resolve the reply links of everything collected into threads, topics and kinds.

    Parameters
    ----------
    rows : ExportCollector
        The collected messages.
    mids : numpy.ndarray
        Their canonical message ids (object array, collection order).
    source : str
        The export file(s), for error messages.

    Returns
    -------
    Conversations

    Raises
    ------
    TelegramExportError
        The reply links form a cycle.
    """
    n = len(rows.mid)
    # reply graph: parent index, or -1 for roots and dangling replies
    position = {m: i for i, m in enumerate(rows.mid)}
    parent = np.full(n, -1, dtype=np.int64)
    dangling = np.zeros(n, dtype=bool)
    for i, target in enumerate(rows.reply_target):
        if target is None:
            continue
        j = position.get(target)
        if j is None or j == i:
            dangling[i] = True
        else:
            parent[i] = j
    targets = np.array(rows.reply_target, dtype=object)
    is_autofwd = np.array(rows.is_autofwd, dtype=bool)
    root, reaches_post = resolve_roots(parent, is_autofwd, mids, source)
    thread = np.where(dangling[root], targets[root], mids[root])
    has_parent = parent >= 0
    reply_to = np.where(has_parent, mids[np.maximum(parent, 0)], targets)

    # a reply inherits the topic of the root of its same-chat reply chain
    chat_code = np.array(rows.chat_code, dtype=np.int64)
    same_parent = np.where(has_parent & (chat_code[np.maximum(parent, 0)] == chat_code), parent, -1)
    same_root, _ = resolve_roots(same_parent, None, mids, source)
    topic = np.array(rows.topic, dtype=object)[same_root]
    channel = np.where(pd.isna(topic), np.array(rows.chat_channel, dtype=object), topic)

    is_service = np.array(rows.is_service, dtype=bool)
    in_channel = np.array(rows.in_channel, dtype=bool)
    kind = np.select(
        [is_service, in_channel | is_autofwd, reaches_post],
        ["service", "post", "comment"],
        "message",
    ).astype(object)
    return Conversations(
        reply_to_id=reply_to, dangling=dangling, thread_id=thread, channel_id=channel, kind=kind
    )


def resolve_roots(
    parent: np.ndarray, flag: np.ndarray | None, mids: np.ndarray, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Root of every node of a forest given as parent indices (-1 = root), by pointer jumping.

    Also returns, per node, whether ``flag`` is set on any strict ancestor. Each round halves the
    remaining distance to the root (O(n log depth) vectorised work, no recursion); a reply cycle
    never converges and is reported.
    """
    n = len(parent)
    idx = np.arange(n, dtype=np.int64)
    has_parent = parent >= 0
    jump = np.where(has_parent, parent, idx)
    acc = (
        np.zeros(n, dtype=bool)
        if flag is None
        else np.where(has_parent, flag[jump], False).astype(bool)
    )
    for _ in range(64):
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            break
        acc = acc | acc[jump]
        jump = nxt
    # every node must end at a true root; nodes on a cycle end at a non-root fixed point
    cyclic = np.flatnonzero((jump[jump] != jump) | has_parent[jump])
    if not len(cyclic):
        return jump, acc
    raise TelegramExportError(
        f"{source}: reply links form a cycle (impossible in a real export) through messages "
        f"{mids[cyclic[:5]].tolist()}."
    )
