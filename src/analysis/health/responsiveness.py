"""Responsiveness: do threads get answered, and how fast?

:func:`response_rate` (share of threads answered within a window) and
:func:`time_to_first_response` (minutes to the first response, by who responded; in
:mod:`analysis.health.first_response`, re-exported here), on the thread table of
:mod:`analysis.health.thread_table`, whose module docstring defines messages, thread roots,
replies, responses and the clock-skew flags. Periods, empty periods and exact quantiles are as
in :mod:`analysis.health.period_results`.

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
import pandas as pd

from analysis.data import Community
from analysis.health.first_response import (  # re-exported (its own module)
    TimeToFirstResponse,
    time_to_first_response,
)
from analysis.health.period_results import (
    format_or_na,
    period_channel_index,
    period_keys,
    period_lineplot,
    plain_value,
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
