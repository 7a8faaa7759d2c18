"""Time to first response: minutes from a thread's root to its first response, by who responded.

:func:`time_to_first_response` on the thread table of :mod:`analysis.health.thread_table`, whose
module docstring defines thread roots, replies and responses; the share of threads answered
within a window is :func:`analysis.health.responsiveness.response_rate`. Periods, empty periods
and exact quantiles are as in :mod:`analysis.health.period_results`; the quantiles are computed
on numpy slices of the per-thread response times
(:func:`~analysis.health.period_results.period_positions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.period_results import (
    period_channel_index,
    period_lineplot,
    period_positions,
    plain_value,
    quantile_summary,
    rows_per_period_positions,
    who_counted,
)
from analysis.health.periods import Period, data_periods
from analysis.health.thread_queries import (
    ThreadDataNotes,
    thread_channels,
    thread_notes,
    thread_values,
)
from analysis.results import Result

__all__ = ["TimeToFirstResponse", "time_to_first_response"]


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
