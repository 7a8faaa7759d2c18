"""The contact graph of :mod:`analysis.network.integration` as integer arrays from the engine.

:func:`analysis.network.integration.first_contact_expr` gives each ordered reply pair its first
reply time. Here the engine also numbers the members, so that only integers come back for the
millions of pairs (at 1M members / 10M messages: 6.8M pairs; returning them as two id strings
each and grouping them in pandas took ~45 CPU s, the integer arrays below ~10):

* the members table with each member's vertex number ``node`` = ``dense_rank()`` of
  ``member_id`` (0-based; deterministic, so the same numbers in both queries) and the
  ``is_staff``/``is_bot`` flags (null counts as false). Every message author is a member (the
  schema's referential check, :mod:`analysis.schema`), so every contact has both ends here;
* the pairs as ``(src, dst, first_at)`` in those numbers (the members numbering joined twice);
  numpy then makes them unordered (``a = min``, ``b = max``), keeps each unordered pair's
  earliest time, drops pairs with a bot, and sorts them by time (the snapshots are prefixes).

The numbering is arbitrary (no result depends on it); the contact graph, and so every snapshot,
is the one the module docstring of :mod:`analysis.network.integration` defines (tested equal
to the original string-keyed pandas implementation, ``tests/unit/test_network_integration.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.data import Community

__all__ = ["Contacts", "contact_arrays", "unordered_first"]


@dataclass(frozen=True)
class Contacts:
    """The contact graph's pairs by first contact, and the members with their vertex numbers.

    Attributes
    ----------
    people : pandas.DataFrame
        ``member_id``, ``joined_at``, ``is_staff``, ``is_bot`` (the members table) and ``node``,
        the member's vertex number.
    n_nodes : int
        Vertices (every member, with or without a contact).
    edges : numpy.ndarray, shape (m, 2), int64
        Unordered bot-free pairs ``(a, b)``, ``a < b``, sorted by their first contact time.
    times : numpy.ndarray of datetime64[ns]
        First contact time of each pair (UTC, naive), ascending.
    member_mask : numpy.ndarray of bool
        Per vertex: not staff (may be core).
    """

    people: pd.DataFrame
    n_nodes: int
    edges: np.ndarray
    times: np.ndarray
    member_mask: np.ndarray


def unordered_first(
    src: np.ndarray, dst: np.ndarray, at: np.ndarray, bot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs ``(min, max)`` without a bot end, each once at its earliest ``at``,
    sorted by that time: the edges ``(m, 2)`` and their times."""
    a, b = np.minimum(src, dst), np.maximum(src, dst)
    keep = ~bot[a] & ~bot[b]
    a, b, at = a[keep], b[keep], at[keep]
    n = max(len(bot), 1)
    key = a * n + b
    order = np.argsort(key, kind="stable")
    key, at = key[order], at[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, int)
    key = key[starts]
    at = np.minimum.reduceat(at, starts) if len(starts) else at[:0]
    by_time = np.argsort(at, kind="stable")
    key, at = key[by_time], at[by_time]
    edges = np.column_stack([key // n, key % n]).astype(np.int64).reshape(-1, 2)
    return edges, at


def contact_arrays(community: Community, include_inferred: bool = False) -> Contacts:
    """:class:`Contacts` of ``community`` (module docstring), explicit replies only unless
    ``include_inferred``."""
    import ibis

    from analysis.network.integration import first_contact_expr

    members = community.members.select("member_id", "joined_at", "is_staff", "is_bot")
    numbered = members.mutate(node=ibis.dense_rank().over(order_by=members.member_id))
    people = community.execute(numbered)
    node = people["node"].to_numpy(dtype=np.int64)
    n = int(node.max()) + 1 if len(node) else 0
    staff = np.zeros(n, dtype=bool)
    bot = np.zeros(n, dtype=bool)
    staff[node] = people["is_staff"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    bot[node] = people["is_bot"].astype("boolean").fillna(False).to_numpy(dtype=bool)

    pairs = first_contact_expr(community, include_inferred=include_inferred)
    s_nodes = numbered.select(s_id=numbered.member_id, src=numbered.node)
    t_nodes = numbered.select(t_id=numbered.member_id, dst=numbered.node)
    indexed = (
        pairs.join(s_nodes, pairs.source == s_nodes.s_id)
        .join(t_nodes, pairs.target == t_nodes.t_id)
        .select("src", "dst", "first_at")
    )
    frame = community.execute(indexed)
    src = frame["src"].to_numpy(dtype=np.int64)
    dst = frame["dst"].to_numpy(dtype=np.int64)
    at = pd.to_datetime(frame["first_at"], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    del frame
    edges, at = unordered_first(src, dst, at, bot)
    return Contacts(people=people, n_nodes=n, edges=edges, times=at, member_mask=~staff)
