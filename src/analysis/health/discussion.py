"""Discussion: how deep threads go and how long conversations last.

:func:`discussion_depth` (replies, participants and reply-chain depth per thread) on the thread
table of :mod:`analysis.health.thread_table`, whose module docstring defines threads, replies and
reply depth; :func:`conversation_duration` (first to last message of conversations with two or
more people) on reply threads or, for chats without reply links, on time-gap sessions
(:func:`analysis.health.sessions.sessions_expr`, importable from here too). Periods, empty
periods and exact quantiles are as in :mod:`analysis.health.period_results`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.included import thread_options
from analysis.health.period_results import (
    channel_ids,
    period_channel_index,
    period_lineplot,
    plain_value,
    quantile_summary,
    rows_per_period,
    who_counted,
)
from analysis.health.periods import (
    Period,
    check_period,
    data_periods,
    period_floor,
    period_start_expr,
)
from analysis.health.sessions import sessions_expr
from analysis.health.thread_queries import (
    ThreadDataNotes,
    thread_channels,
    thread_notes,
    thread_values,
)
from analysis.health.thread_table import threads_with_depth
from analysis.results import Result

__all__ = [
    "ConversationDuration",
    "DiscussionDepth",
    "conversation_duration",
    "discussion_depth",
    "sessions_expr",
]


@dataclass(frozen=True)
class DiscussionDepth(Result):
    """Replies, participants and reply-chain depth per thread; see :func:`discussion_depth`.

    Attributes
    ----------
    period : str
    include_staff, include_bots, by_channel : bool
    overall : dict
        ``threads`` and, for ``replies``, ``participants``, ``max_depth``: ``{"mean",
        "median"}`` over all threads.
    frame : pandas.DataFrame
        Per period (× channel): ``threads`` and ``mean_replies``, ``median_replies``,
        ``mean_participants``, ``median_participants``, ``mean_depth``, ``median_depth``.
    notes : ThreadDataNotes
    """

    period: str
    include_staff: bool
    include_bots: bool
    by_channel: bool
    overall: dict[str, Any]
    frame: pd.DataFrame = field(repr=False)
    notes: ThreadDataNotes = field(repr=False)
    title: str = "Discussion depth"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        o = self.overall
        if not o["threads"]:
            return "There are no threads, so there is no discussion depth to describe."
        return (
            f"The {o['threads']:,} threads had on average {o['replies']['mean']:.1f} replies "
            f"(median {o['replies']['median']:.0f}) from {o['participants']['mean']:.1f} "
            f"people, and their longest reply chain was {o['max_depth']['mean']:.1f} replies "
            f"deep on average ({who_counted(self.include_staff, self.include_bots)})."
            + self.notes.sentence()
        )

    def plot(self, ax: Any = None) -> Any:
        long = self.frame.melt(
            id_vars="period_start",
            value_vars=["mean_replies", "mean_participants", "mean_depth"],
            var_name="series",
        )
        return period_lineplot(
            long, "value", "series", ax, f"Discussion depth per {self.period}", "per thread"
        )

    def to_dict(self) -> dict[str, Any]:
        o = {
            k: (
                {kk: plain_value(vv) for kk, vv in v.items()}
                if isinstance(v, dict)
                else plain_value(v)
            )
            for k, v in self.overall.items()
        }
        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "overall": o,
            **self.notes.as_dict(),
        }


_DEPTH_COLUMNS = (
    ("n_replies", "replies"),
    ("participants", "participants"),
    ("max_depth", "depth"),
)


def _weighted_mean_median(values: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean and median of whole numbers given as distinct ``values`` (ascending) with ``counts``.

    The same floats as ``Series.mean()`` / ``Series.median()`` of the values listed one by one:
    their sum is a whole number below 2**53, exact in any order, divided by the count; the
    median is the middle value, or half the sum of the two middle values (type 7).
    """
    n = int(counts.sum())
    if n == 0:
        return float("nan"), float("nan")
    total = sum(int(v) * int(c) for v, c in zip(values, counts, strict=True))
    ends = np.cumsum(counts)
    lo = values[int(np.searchsorted(ends, (n - 1) // 2, side="right"))]
    hi = values[int(np.searchsorted(ends, n // 2, side="right"))]
    return float(total) / n, (float(lo) + float(hi)) / 2


def _depth_stats(g: pd.DataFrame) -> list[dict[str, Any]]:
    """Per-thread statistics of one period from its rows of value counts (:func:`_depth_counts`)."""
    out: dict[str, Any] = {"threads": int(g["n"].sum())}
    for col, name in _DEPTH_COLUMNS:
        h = g.groupby(col, sort=True)["n"].sum()
        mean, median = _weighted_mean_median(h.index.to_numpy(), h.to_numpy())
        out[f"mean_{name}"], out[f"median_{name}"] = mean, median
    return [out]


def _depth_counts(
    community: Community, kw: dict[str, Any], period: Period, by_channel: bool
) -> pd.DataFrame:
    """Number of threads ``n`` per period [× channel] and (``n_replies``, ``participants``,
    ``max_depth``) value, aggregated on the engine (a few thousand rows instead of one per
    thread; exact means and medians follow from the counts)."""
    check_period(period)
    t = threads_with_depth(community, **thread_options(**kw))
    keys: dict[str, Any] = {"period_start": period_start_expr(t.created_at, period)}
    if by_channel:
        keys["channel_id"] = t.channel_id
    keys.update({col: t[col] for col, _ in _DEPTH_COLUMNS})
    frame = community.execute(t.group_by(**keys).aggregate(n=t.count()))
    frame["period_start"] = pd.to_datetime(frame["period_start"]).astype("datetime64[ns]")
    for col in [*(c for c, _ in _DEPTH_COLUMNS), "n"]:
        frame[col] = frame[col].astype("int64")
    return frame


def discussion_depth(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> DiscussionDepth:
    """Replies per thread, distinct participants per thread and maximum reply-chain depth.

    Per thread root (see :mod:`analysis.health.thread_table`): ``n_replies`` (counted replies at
    any depth, self-replies included), ``participants`` (distinct authors including the root's)
    and ``max_depth`` (1 = only direct replies to the root, 0 = no reply); the mean and median of
    each over the threads whose root falls in the period. Threads without replies are included
    (they are the shallow end of the distribution).

    How: the engine counts the threads per period (× channel) and value of the three columns
    (a few thousand rows instead of one per thread); the means and medians follow exactly from
    those counts (the same floats as ``Series.mean`` / ``Series.median`` over one row per
    thread: the values are whole numbers, see :func:`_weighted_mean_median`).

    Reference: the domain spec's *discussion depth*; reply-tree depth as in conversation-tree
    studies of online discussions (Gómez, Kaltenbrunner & López, "Statistical analysis of the
    social network and discussion threads in Slashdot", WWW 2008).

    Returns
    -------
    DiscussionDepth
    """
    kw = {
        "include_staff": include_staff,
        "include_bots": include_bots,
        "reply_sources": reply_sources,
    }
    counts = _depth_counts(community, kw, period, by_channel)
    notes = thread_notes(community, kw=kw)
    index = period_channel_index(
        data_periods(community, period), thread_channels(community, kw, by_channel)
    )
    frame = rows_per_period(counts, index, by_channel, _depth_stats)
    frame["threads"] = frame["threads"].astype("int64")
    every = _depth_stats(counts)[0]
    overall: dict[str, Any] = {"threads": every["threads"]}
    for _, name in _DEPTH_COLUMNS:
        key = "max_depth" if name == "depth" else name
        overall[key] = {"mean": every[f"mean_{name}"], "median": every[f"median_{name}"]}
    return DiscussionDepth(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        overall=overall,
        frame=frame,
        notes=notes,
    )


@dataclass(frozen=True)
class ConversationDuration(Result):
    """How long conversations with ≥ 2 participants last; see :func:`conversation_duration`.

    Attributes
    ----------
    period : str
    mode : str
        ``"threads"`` (reply trees) or ``"sessions"`` (time-gap sessions per channel).
    gap : str or None
        The session gap (``mode == "sessions"``).
    include_staff, include_bots, by_channel : bool
    overall : dict
        ``conversations`` (all), ``multi`` (≥ 2 participants) and ``median_minutes``,
        ``p90_minutes``, ``mean_minutes`` of the multi-participant ones.
    frame : pandas.DataFrame
        Per period (× channel): ``conversations``, ``multi`` and the duration statistics.
    """

    period: str
    mode: str
    gap: str | None
    include_staff: bool
    include_bots: bool
    by_channel: bool
    overall: dict[str, Any]
    frame: pd.DataFrame = field(repr=False)
    title: str = "Conversation duration"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        o = self.overall
        kind = "reply threads" if self.mode == "threads" else f"chat sessions (gap {self.gap})"
        if not o["multi"]:
            return f"No {kind} had two or more participants, so no conversation to time."
        return (
            f"Of {o['conversations']:,} {kind}, {o['multi']:,} had two or more people; those "
            f"lasted a median {o['median_minutes']:,.0f} minutes from first to last message "
            f"(90% within {o['p90_minutes']:,.0f} minutes; "
            f"{who_counted(self.include_staff, self.include_bots)})."
        )

    def plot(self, ax: Any = None) -> Any:
        return period_lineplot(
            self.frame,
            "median_minutes",
            None,
            ax,
            f"Median conversation duration per {self.period} ({self.mode})",
            "minutes",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "mode": self.mode,
            "gap": self.gap,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "overall": {k: plain_value(v) for k, v in self.overall.items()},
        }


def _duration_stats(g: pd.DataFrame) -> list[dict[str, Any]]:
    multi = g[g["participants"] >= 2]
    n, med, p90, mean = quantile_summary(multi["duration_seconds"] / 60.0)
    return [
        {
            "conversations": int(len(g)),
            "multi": n,
            "median_minutes": med,
            "p90_minutes": p90,
            "mean_minutes": mean,
        }
    ]


def conversation_duration(
    community: Community,
    *,
    period: Period = "week",
    mode: Literal["auto", "threads", "sessions"] = "auto",
    gap: str = "30min",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ConversationDuration:
    """Duration (last − first message) of conversations with at least two participants.

    Conversations are either

    * ``"threads"``: reply trees (:mod:`analysis.health.thread_table`); duration = latest −
      earliest message of the thread, for threads with ≥ 2 distinct participants; or
    * ``"sessions"``: for chats without reply links, time-gap sessions per channel
      (:func:`sessions_expr`, default gap 30 minutes); duration = last − first message of
      sessions with ≥ 2 distinct participants.

    ``mode="auto"`` uses threads when the dataset's provenance says ``messages.reply_to_id`` is
    ``observed`` and sessions otherwise. Each conversation belongs to the period of its first
    message; the median, 90th percentile and mean are in minutes.

    Reference: the domain spec's *conversation duration*; the 30-minute inactivity gap is the
    usual session timeout of web analytics (e.g. Google Analytics sessions) applied to chat
    streams.

    Returns
    -------
    ConversationDuration
    """
    check_period(period)
    if mode == "auto":
        mode = (
            "threads"
            if community.provenance("messages.reply_to_id") == "observed"
            else ("sessions")
        )
    if mode == "threads":
        kw = {
            "include_staff": include_staff,
            "include_bots": include_bots,
            "reply_sources": reply_sources,
        }
        convs = thread_values(
            community,
            kw,
            period,
            by_channel,
            {
                "participants": lambda t: t.participants,
                "duration_seconds": lambda t: t.duration_seconds,
            },
        )
        channels = thread_channels(community, kw, by_channel)
        used_gap = None
    elif mode == "sessions":
        convs = community.execute(
            # only "participants >= 2" is read (_duration_stats): the count capped at 2 is enough
            sessions_expr(
                community,
                gap=gap,
                include_staff=include_staff,
                include_bots=include_bots,
                count_participants=False,
            )
        )
        convs["period_start"] = period_floor(convs["created_at"], period)
        channels = channel_ids(convs, by_channel)
        used_gap = gap
    else:
        raise ValueError(f"mode must be 'auto', 'threads' or 'sessions', got {mode!r}")
    index = period_channel_index(data_periods(community, period), channels)
    frame = rows_per_period(convs, index, by_channel, _duration_stats)
    for col in ("conversations", "multi"):
        frame[col] = frame[col].astype("int64")
    overall = _duration_stats(convs)[0]
    return ConversationDuration(
        period=period,
        mode=mode,
        gap=used_gap,
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        overall=overall,
        frame=frame,
    )
