"""Queries on the shared thread table: engine aggregates, numeric values, data-quality notes.

The thread metrics (:mod:`analysis.health.responsiveness`, :mod:`analysis.health.discussion`,
:mod:`analysis.health.shares`) read the per-thread table of :mod:`analysis.health.thread_table`
(whose module docstring defines threads, replies, responses, reply depth and periods) only
through these functions: counts per period are aggregated on the engine (:func:`thread_counts`);
for exact quantiles only the numeric columns needed come back (:func:`thread_values`); the
data-quality counts (:class:`ThreadDataNotes`) are aggregated once per community and options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.engine_cache import memo
from analysis.health.included import option_key, thread_options
from analysis.health.periods import Period, check_period, period_floor, period_start_expr
from analysis.health.thread_table import (
    missing_root_threads_expr,
    shared_thread_table,
    thread_table,
    threads_with_depth,
)

__all__ = [
    "ThreadDataNotes",
    "thread_channels",
    "thread_counts",
    "thread_notes",
    "thread_values",
    "threads_by_period",
]


def thread_values(
    community: Community,
    kw: dict[str, Any],
    period: Period,
    by_channel: bool,
    columns: dict[str, Any],
    *,
    where: Any = None,
    with_depth: bool = False,
) -> pd.DataFrame:
    """Per-thread numeric values for exact quantiles: ``period_start`` (naive UTC), [``channel_id``]
    and ``columns`` (name → function of the shared thread table giving an ibis column).

    Only these columns come back (no ids); ``where`` (a function of the table giving a boolean
    column) keeps some threads. Rows are sorted by every column so that sums over them (means)
    are the same bit for bit on every run and engine.
    """
    check_period(period)
    kw = thread_options(**kw)
    t = threads_with_depth(community, **kw) if with_depth else shared_thread_table(community, **kw)
    if where is not None:
        t = t.filter(where(t))
    cols: dict[str, Any] = {"period_start": period_start_expr(t.created_at, period)}
    if by_channel:
        cols["channel_id"] = t.channel_id
    cols.update({name: fn(t) for name, fn in columns.items()})
    frame = community.execute(t.select(**cols))
    frame["period_start"] = pd.to_datetime(frame["period_start"]).astype("datetime64[ns]")
    if _integral(frame[list(columns)]):
        # sums of whole numbers below 2**53 are exact in float64 in any order: no sort needed
        return frame
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def _integral(values: pd.DataFrame) -> bool:
    """Every non-missing value is a whole number and the column's absolute sum is below 2**53,
    so means over them do not depend on the row order (float64 represents every partial sum)."""
    for _, col in values.items():
        v = col.to_numpy(dtype=float, na_value=np.nan)
        v = v[~np.isnan(v)]
        if len(v) and (not np.all(np.floor(v) == v) or np.abs(v).sum() >= 2.0**53):
            return False
    return True


def thread_counts(
    community: Community,
    kw: dict[str, Any],
    period: Period,
    by_channel: bool,
    metrics: dict[str, Any],
) -> pd.DataFrame:
    """Engine aggregate of the shared thread table per ``period_start`` [× ``channel_id``]:
    ``metrics`` maps a column name to a function of the table giving an ibis aggregate. The
    result is indexed by the period (× channel) keys present in the data (naive UTC starts)."""
    check_period(period)
    kw = thread_options(**kw)
    t = shared_thread_table(community, **kw)
    keys: dict[str, Any] = {"period_start": period_start_expr(t.created_at, period)}
    if by_channel:
        keys["channel_id"] = t.channel_id
    agg = community.execute(
        t.group_by(**keys).aggregate(**{name: fn(t) for name, fn in metrics.items()})
    )
    agg["period_start"] = pd.to_datetime(agg["period_start"]).astype("datetime64[ns]")
    return agg.set_index(list(keys))


def thread_channels(community: Community, kw: dict[str, Any], by_channel: bool) -> list[str] | None:
    """Sorted distinct ``channel_id`` of the threads when ``by_channel`` (else ``None``)."""
    if not by_channel:
        return None
    t = shared_thread_table(community, **thread_options(**kw))
    channels = community.execute(t.select("channel_id").distinct())["channel_id"]
    return sorted(channels.dropna().unique())


@dataclass(frozen=True)
class ThreadDataNotes:
    """Data-quality counts of thread results (defined in :mod:`analysis.health.thread_table`)."""

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
    community: Community, threads: pd.DataFrame | None = None, kw: dict[str, Any] | None = None
) -> ThreadDataNotes:
    """The data-quality counts of the thread table built with ``kw`` (the ``include_staff``,
    ``include_bots`` and ``reply_sources`` options), aggregated on the engine once per community
    and options. ``threads`` is accepted for backward compatibility and ignored."""
    kw = thread_options(**(kw or {}))

    def build() -> ThreadDataNotes:
        t = shared_thread_table(community, **kw)
        agg = community.execute(
            t.aggregate(
                n=t.count(),
                skewed=t.n_skewed_replies.sum(),
                clipped=t.response_clipped.cast("int64").sum(),
            )
        ).iloc[0]
        missing = community.execute(missing_root_threads_expr(community, **kw))

        def whole(value: Any) -> int:
            return 0 if value is None or pd.isna(value) else int(value)

        return ThreadDataNotes(
            n_threads=whole(agg["n"]),
            n_missing_root_threads=whole(missing),
            n_skewed_replies=whole(agg["skewed"]),
            n_clipped_responses=whole(agg["clipped"]),
        )

    return memo(community, option_key("notes", kw), build)


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
    return threads, thread_notes(community, kw=kw)
