"""Responsiveness: do threads get answered, and how fast?

:func:`response_rate` (share of threads answered within a window) and
:func:`time_to_first_response` (minutes to the first response, by who responded), on the thread
table of :mod:`analysis.health.thread_table`, whose module docstring defines messages, thread
roots, replies, responses and the clock-skew flags. Periods, empty periods and exact quantiles are
as in :mod:`analysis.health.period_results`.

Data end
    The time of the last message (:meth:`Community.last_message_at`). A root counts towards a
    rate with window ``w`` only when ``root time + w ≤ data end`` (exposure), so recent threads
    that have not yet had the time to be answered do not pull the rate down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.period_results import (
    format_or_na,
    period_channel_index,
    period_keys,
    period_lineplot,
    period_positions,
    plain_value,
    quantile_summary,
    rows_per_period_positions,
    who_counted,
)
from analysis.health.periods import (
    Period,
    check_period,
    data_periods,
    epoch_seconds,
    period_start_expr,
)
from analysis.health.thread_queries import (
    ThreadDataNotes,
    thread_channels,
    thread_notes,
    thread_values,
)
from analysis.health.thread_table import shared_thread_table
from analysis.results import Result

__all__ = [
    "ResponseRate",
    "TimeToFirstResponse",
    "response_rate",
    "time_to_first_response",
]


def _window_seconds(within: Sequence[str]) -> dict[str, int]:
    out = {}
    for w in within:
        seconds = pd.Timedelta(w).total_seconds()
        if seconds <= 0:
            raise ValueError(f"window {w!r} must be positive, e.g. '24h' or '7d'")
        out[str(w)] = int(seconds)
    return out


@dataclass(frozen=True)
class ResponseRate(Result):
    """Share of thread roots answered by someone else within each window; see
    :func:`response_rate`.

    Attributes
    ----------
    period : str
    windows : tuple of str
        The windows, e.g. ``("24h", "7d")``.
    include_staff, include_bots, by_channel : bool
    data_end : str
        ISO time of the last message; roots count for window ``w`` only if ``created_at + w ≤
        data_end``.
    overall : dict
        Per window: ``{"roots", "exposed", "responded", "rate"}`` over the whole data.
    frame : pandas.DataFrame
        One row per period (× channel) × window: ``period_start``, [``channel_id``], ``window``,
        ``roots`` (all roots of the period), ``exposed`` (roots old enough), ``responded``
        (exposed roots with a response within the window), ``rate`` = responded ÷ exposed (NaN
        when nothing is exposed).
    notes : ThreadDataNotes
    """

    period: str
    windows: tuple[str, ...]
    include_staff: bool
    include_bots: bool
    by_channel: bool
    data_end: str
    overall: dict[str, dict[str, Any]]
    frame: pd.DataFrame = field(repr=False)
    notes: ThreadDataNotes = field(repr=False)
    title: str = "Response rate"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        parts = []
        for w in self.windows:
            o = self.overall[w]
            parts.append(
                f"{format_or_na(o['rate'])} of threads got a reply from someone other than their "
                f"author within {w} ({o['responded']:,} of {o['exposed']:,} threads old enough to "
                f"tell)"
            )
        return (
            "; ".join(parts)
            + f" ({who_counted(self.include_staff, self.include_bots)})."
            + self.notes.sentence()
        )

    def plot(self, ax: Any = None) -> Any:
        f = self.frame
        if self.by_channel:
            f = f.groupby(["period_start", "window"], as_index=False)[
                ["exposed", "responded"]
            ].sum()
            f["rate"] = f["responded"] / f["exposed"].where(f["exposed"] > 0)
        return period_lineplot(
            f,
            "rate",
            "window",
            ax,
            f"Threads answered within the window, per {self.period}",
            "share of threads",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "windows": list(self.windows),
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "data_end": self.data_end,
            "overall": {
                w: {k: plain_value(v) for k, v in o.items()} for w, o in self.overall.items()
            },
            **self.notes.as_dict(),
        }


def response_rate(
    community: Community,
    *,
    within: Sequence[str] = ("24h", "7d"),
    period: Period = "week",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ResponseRate:
    """Share of thread roots that got a reply from someone other than their author in time.

    For a window ``w`` (default 24 hours and 7 days) and a period, with the thread definitions of
    :mod:`analysis.health.thread_table`:

    * ``exposed`` = roots created in the period with ``created_at + w ≤ data end``;
    * ``responded`` = exposed roots whose response time is ``≤ w``;
    * ``rate`` = ``responded / exposed``.

    Counts are aggregated on the engine. Follows the domain spec's *response rate* and CHAOSS's
    *Time to First Response* notion of a response (activity by someone other than the author,
    https://chaoss.community/kb/metric-time-to-first-response/).

    Parameters
    ----------
    community : Community
    within : sequence of str
        Windows as pandas Timedelta strings (``"24h"``, ``"7d"``, ``"90min"``).
    period : {"day", "week", "month"}
    by_channel : bool
        Also split by ``channel_id`` (forum topic).
    include_staff, include_bots : bool
        Whether staff and bot roots and replies count (default staff yes, bots no).
    reply_sources : sequence of str
        Which reply links count (``"explicit"``, ``"inferred"``).

    Returns
    -------
    ResponseRate
    """
    check_period(period)
    windows = _window_seconds(within)
    kw = dict(include_staff=include_staff, include_bots=include_bots, reply_sources=reply_sources)
    end = community.last_message_at()
    end_s = int(end.timestamp())
    t = shared_thread_table(community, **kw)
    age = ibis.literal(end_s, "int64") - epoch_seconds(t.created_at)
    metrics: dict[str, Any] = {"roots": t.count()}
    for i, (_, sec) in enumerate(windows.items()):
        exposed = age >= sec
        responded = exposed & (t.response_seconds <= sec).fill_null(False)
        metrics[f"exposed_{i}"] = exposed.cast("int64").sum()
        metrics[f"responded_{i}"] = responded.cast("int64").sum()
    keys = {"period_start": period_start_expr(t.created_at, period)}
    if by_channel:
        keys["channel_id"] = t.channel_id
    agg = community.execute(t.group_by(**keys).aggregate(**metrics))
    agg["period_start"] = pd.to_datetime(agg["period_start"])
    notes = thread_notes(community, kw=kw)
    index = period_channel_index(
        data_periods(community, period), thread_channels(community, kw, by_channel)
    )
    agg = agg.set_index(period_keys(by_channel)).reindex(index, fill_value=0)
    rows = []
    for i, w in enumerate(windows):
        part = agg[["roots", f"exposed_{i}", f"responded_{i}"]].rename(
            columns={f"exposed_{i}": "exposed", f"responded_{i}": "responded"}
        )
        part = part.astype("int64").reset_index()
        part.insert(len(period_keys(by_channel)), "window", w)
        rows.append(part)
    frame = pd.concat(rows, ignore_index=True)
    frame["rate"] = frame["responded"] / frame["exposed"].where(frame["exposed"] > 0)
    frame = frame.sort_values([*period_keys(by_channel), "window"], kind="stable").reset_index(
        drop=True
    )
    overall = {}
    for w in windows:
        sub = frame[frame["window"] == w]
        exposed, responded = int(sub["exposed"].sum()), int(sub["responded"].sum())
        overall[w] = {
            "roots": int(sub["roots"].sum()),
            "exposed": exposed,
            "responded": responded,
            "rate": responded / exposed if exposed else float("nan"),
        }
    return ResponseRate(
        period=period,
        windows=tuple(windows),
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        data_end=end.isoformat(),
        overall=overall,
        frame=frame,
        notes=notes,
    )


@dataclass(frozen=True)
class TimeToFirstResponse(Result):
    """Minutes from a thread's root to its first response, by who responded; see
    :func:`time_to_first_response`.

    Attributes
    ----------
    period : str
    include_staff, include_bots, by_channel : bool
    overall : dict
        ``{"all" | "staff" | "member": {"n", "median_minutes", "p90_minutes", "mean_minutes"}}``
        over every responded thread.
    frame : pandas.DataFrame
        One row per period (× channel) × responder (``all``, ``staff``, ``member``): ``n``
        (threads with a first response of that kind), ``median_minutes``, ``p90_minutes``,
        ``mean_minutes`` (NaN when ``n`` is 0).
    notes : ThreadDataNotes
    """

    period: str
    include_staff: bool
    include_bots: bool
    by_channel: bool
    overall: dict[str, dict[str, Any]]
    frame: pd.DataFrame = field(repr=False)
    notes: ThreadDataNotes = field(repr=False)
    title: str = "Time to first response"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        a, s, m = (self.overall[k] for k in ("all", "staff", "member"))
        if not a["n"]:
            return "No thread got a reply from anyone but its author, so there is no response time."
        text = (
            f"Half of the {a['n']:,} answered threads got their first reply within "
            f"{a['median_minutes']:,.0f} minutes and 90% within {a['p90_minutes']:,.0f} minutes "
            f"({who_counted(self.include_staff, self.include_bots)})."
        )
        if s["n"] and m["n"]:
            text += (
                f" When staff answered first ({s['n']:,} threads) the median was "
                f"{s['median_minutes']:,.0f} minutes; when a member did ({m['n']:,} threads), "
                f"{m['median_minutes']:,.0f} minutes."
            )
        return text + self.notes.sentence()

    def plot(self, ax: Any = None) -> Any:
        f = self.frame
        if self.by_channel:
            raise NotImplementedError("plot the overall result (by_channel=False)")
        return period_lineplot(
            f,
            "median_minutes",
            "responder",
            ax,
            f"Median minutes to first response, per {self.period}",
            "minutes",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "overall": {
                k: {kk: plain_value(vv) for kk, vv in v.items()} for k, v in self.overall.items()
            },
            **self.notes.as_dict(),
        }


def _response_arrays(threads: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``response_seconds`` (float, NaN = no response) and ``first_responder_is_staff`` (bool)
    of per-thread rows, as numpy arrays."""
    seconds = threads["response_seconds"].to_numpy(dtype=float, na_value=np.nan)
    staff = threads["first_responder_is_staff"].to_numpy(dtype=bool, na_value=False)
    return seconds, staff


def _stats_at(seconds: np.ndarray, staff: np.ndarray, pos: np.ndarray) -> list[dict[str, Any]]:
    """Per responder (all, staff, member), the :func:`quantile_summary` of the response times
    of the rows at positions ``pos`` (NaN = no response, left out), in minutes.

    Computed on the whole seconds and divided by 60 afterwards: a sum of whole seconds is
    exact in float64 in any order, so the mean does not depend on the order in which the engine
    returns the rows (a sum of minutes would, in its last bits).
    """
    s, st = seconds[pos], staff[pos]
    out = []
    for who, part in (("all", s), ("staff", s[st]), ("member", s[~st])):
        n, med, p90, mean = quantile_summary(part)
        out.append(
            {
                "responder": who,
                "n": n,
                "median_minutes": med / 60.0,
                "p90_minutes": p90 / 60.0,
                "mean_minutes": mean / 60.0,
            }
        )
    return out


def _response_stats(threads: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`_stats_at` of every row of ``threads`` (per-thread rows)."""
    seconds, staff = _response_arrays(threads)
    return _stats_at(seconds, staff, np.arange(len(threads)))


def time_to_first_response(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> TimeToFirstResponse:
    """Median and 90th percentile of minutes to a thread's first response, by who responded.

    Per thread root with a response (see :mod:`analysis.health.thread_table`): response time in
    minutes = ``max(0, first response − root) / 60``. Reported for all threads, for threads whose
    first responder is staff, and for those whose first responder is a member (not staff), per
    period of the root and overall. Threads without a response are not in the quantiles (see
    :func:`response_rate` for how many there are); there is no window, so recent periods may
    lack their slowest responses (right censoring).

    Reference: CHAOSS *Time to First Response*
    (https://chaoss.community/kb/metric-time-to-first-response/).

    Parameters
    ----------
    community : Community
    period : {"day", "week", "month"}
    by_channel : bool
    include_staff, include_bots : bool
        With ``include_staff=False`` staff replies are not responses, so the ``staff`` rows are
        empty and ``all`` = ``member``.
    reply_sources : sequence of str

    Returns
    -------
    TimeToFirstResponse
    """
    kw = dict(include_staff=include_staff, include_bots=include_bots, reply_sources=reply_sources)
    threads = thread_values(
        community,
        kw,
        period,
        by_channel,
        {
            "response_seconds": lambda t: t.response_seconds,
            "first_responder_is_staff": lambda t: t.first_responder_is_staff,
        },
        where=lambda t: t.response_seconds.notnull(),
    )
    notes = thread_notes(community, kw=kw)
    index = period_channel_index(
        data_periods(community, period), thread_channels(community, kw, by_channel)
    )
    seconds, staff = _response_arrays(threads)
    positions = period_positions(threads, by_channel)
    frame = rows_per_period_positions(
        index, by_channel, positions, lambda pos: _stats_at(seconds, staff, pos)
    )
    frame["n"] = frame["n"].astype("int64")
    overall = {
        r["responder"]: {k: v for k, v in r.items() if k != "responder"}
        for r in _response_stats(threads)
    }
    return TimeToFirstResponse(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        overall=overall,
        frame=frame,
        notes=notes,
    )
