"""Usage: DAU / WAU / MAU, stickiness and the share of active authors (:func:`usage`).

Active members and periods as in :mod:`analysis.health.active_periods`; counts are ibis
expressions executed by the engine, only per-period aggregates come back as pandas.

References
----------
* CHAOSS, "Active Users" / "Activity Dates and Times" metrics (https://chaoss.community/kb/).
* DAU/MAU "stickiness": A. Chen, "DAU/MAU is an important metric to measure engagement, but
  here's where it fails" (2018), https://andrewchen.com/dau-mau-is-an-important-metric-but-heres-where-it-fails/
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.active_periods import (
    attributed_reactions,
    members_counted,
)
from analysis.health.activity import activity
from analysis.health.period_results import format_or_na
from analysis.health.periods import Period, check_period
from analysis.results import Result

__all__ = ["UsageSeries", "usage"]


# --------------------------------------------------------------------------------------------
# usage: DAU / WAU / MAU, stickiness, share of active authors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageSeries(Result):
    """DAU/WAU/MAU, stickiness and the share of active authors per period.

    Attributes
    ----------
    period : str
        ``day``, ``week`` or ``month``.
    include_staff, include_bots : bool
        Whether staff and bot accounts were counted (as members, actives and authors).
    attributed_reactions : int
        Reactions with known reactor and time; 0 means active members are authors only.
    frame : pandas.DataFrame
        One row per period: ``period_start``; ``active_members`` (DAU, WAU or MAU for day, week,
        month); ``authors``; ``members`` (joined by the period's end); ``mean_dau`` (mean of the
        daily active members over the period's observed days, empty days counting as 0);
        ``days_observed`` (days of the period between the first and last day with activity)
        and ``days_in_period``; ``stickiness`` = ``mean_dau / active_members`` (DAU/WAU for
        weeks, DAU/MAU for months, NaN for days or when nobody was active);
        ``authors_per_member`` = authors ÷ members; ``authors_per_active`` = authors ÷ active
        members; ``complete`` (the period ended before the last message).
    daily : pandas.DataFrame
        The DAU series: ``day``, ``active_members``, ``authors`` (empty days included).
    """

    period: str
    include_staff: bool
    include_bots: bool
    attributed_reactions: int
    frame: pd.DataFrame = field(repr=False)
    daily: pd.DataFrame = field(repr=False)
    title: str = "Usage: DAU, WAU, MAU and stickiness"

    @property
    def full_periods(self) -> pd.DataFrame:
        """Rows of periods observed from their first to their last day."""
        f = self.frame
        return f[f["complete"] & (f["days_observed"] == f["days_in_period"])].copy()

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        f = self.full_periods
        if f.empty:
            return f"No fully observed {self.period} in this dataset, so no usage to describe."
        last = f.iloc[-1]
        label = {"day": "DAU", "week": "WAU", "month": "MAU"}[self.period]
        who = members_counted(self.include_staff, self.include_bots)
        per_member = format_or_na(last["authors_per_member"])
        text = (
            f"In the {self.period} starting {last['period_start']:%Y-%m-%d} "
            f"({who}), {int(last['active_members']):,} "
            f"members were active ({label}) and {int(last['authors']):,} wrote, out of "
            f"{int(last['members']):,} members: {per_member} of members "
            f"and {format_or_na(last['authors_per_active'])} of active members were authors."
        )
        if self.period != "day" and pd.notna(last["stickiness"]):
            text += (
                f" On an average day {last['mean_dau']:,.1f} members were active, a stickiness "
                f"(DAU/{label}) of {last['stickiness']:.1%}."
            )
        if self.attributed_reactions == 0:
            text += " The data names no reactors, so active members are the authors."
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        long = self.frame.melt(
            id_vars="period_start",
            value_vars=["active_members", "authors", "mean_dau"],
            var_name="series",
            value_name="count",
        )
        sns.lineplot(data=long, x="period_start", y="count", hue="series", marker="o", ax=ax)
        ax.set_xlabel(f"{self.period} (UTC)")
        ax.set_ylabel("members")
        ax.set_title(f"Active members per {self.period} and mean DAU")
        return ax

    def to_dict(self) -> dict[str, Any]:
        f = self.full_periods
        last = f.iloc[-1] if len(f) else None

        def num(col: str) -> float | None:
            return None if last is None or pd.isna(last[col]) else float(last[col])

        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "attributed_reactions": self.attributed_reactions,
            "full_periods": int(len(f)),
            "latest_period_start": None if last is None else str(last["period_start"].date()),
            "latest_active_members": None if last is None else int(last["active_members"]),
            "latest_authors": None if last is None else int(last["authors"]),
            "latest_members": None if last is None else int(last["members"]),
            "latest_mean_dau": num("mean_dau"),
            "latest_stickiness": num("stickiness"),
            "latest_authors_per_member": num("authors_per_member"),
            "latest_authors_per_active": num("authors_per_active"),
            "mean_stickiness": None
            if f.empty or f["stickiness"].isna().all()
            else float(f["stickiness"].mean()),
        }


def _bucket(days: pd.Series, period: str) -> pd.Series:
    if period == "week":
        return days - pd.to_timedelta(days.dt.weekday, unit="D")
    if period == "month":
        return days.dt.to_period("M").dt.start_time
    return days


def _days_in_period(starts: pd.Series, period: str) -> pd.Series:
    if period == "month":
        return starts.dt.days_in_month.astype("int64")
    return pd.Series(7 if period == "week" else 1, index=starts.index, dtype="int64")


def usage(
    community: Community,
    *,
    period: Period = "month",
    include_staff: bool = True,
    include_bots: bool = False,
) -> UsageSeries:
    """DAU, WAU, MAU, stickiness and the share of active authors per period.

    Definitions (periods, *active*, *author*, *member* as in :mod:`analysis.health.activity`):

    * **DAU / WAU / MAU** = distinct active members in a UTC day / ISO week / calendar month
      (``active_members`` of :func:`~analysis.health.activity.activity` with that period).
    * **mean DAU** of a period = Σ DAU over its observed days ÷ number of observed days, where
      the observed days are the days of the period between the first and the last day with
      activity in the data (days without activity count as 0).
    * **stickiness** = mean DAU ÷ MAU for months (mean DAU ÷ WAU for weeks): the average share of
      the period's active members who are active on a given day. 1 means everybody active in the
      month is active every day; 1/30 means each is active on one day.
    * **share of active authors** = authors ÷ members (``authors_per_member``) and authors ÷
      active members (``authors_per_active``, meaningful where attributed reactions exist).

    Parameters
    ----------
    community : Community
    period : {"day", "week", "month"}
        Rows of the result; stickiness needs ``week`` or ``month``.
    include_staff, include_bots : bool
        Count staff / bot accounts (default: staff yes, bots no).

    Returns
    -------
    UsageSeries

    References
    ----------
    CHAOSS "Active Users"; Chen (2018) on DAU/MAU stickiness (see the module docstring).
    """
    check_period(period)
    kw = {"include_staff": include_staff, "include_bots": include_bots}
    day = activity(community, period="day", **kw).frame
    per = activity(community, period=period, **kw).frame
    daily = day[["period_start", "active_members", "authors"]].rename(
        columns={"period_start": "day"}
    )
    frame = per[["period_start", "active_members", "authors", "members", "complete"]].copy()
    if frame.empty:
        for col in ("mean_dau", "stickiness", "authors_per_member", "authors_per_active"):
            frame[col] = pd.Series(dtype=float)
        frame["days_observed"] = pd.Series(dtype="int64")
        frame["days_in_period"] = pd.Series(dtype="int64")
    else:
        by = daily.assign(bucket=_bucket(daily["day"], period)).groupby("bucket")["active_members"]
        frame["mean_dau"] = frame["period_start"].map(by.mean()).astype(float)
        frame["days_observed"] = frame["period_start"].map(by.size()).astype("int64")
        frame["days_in_period"] = _days_in_period(frame["period_start"], period)
        active = frame["active_members"].where(frame["active_members"] > 0)
        members = frame["members"].where(frame["members"] > 0)
        frame["stickiness"] = (
            np.nan if period == "day" else (frame["mean_dau"] / active).astype(float)
        )
        frame["authors_per_member"] = (frame["authors"] / members).astype(float)
        frame["authors_per_active"] = (frame["authors"] / active).astype(float)
    columns = [
        "period_start",
        "active_members",
        "authors",
        "members",
        "mean_dau",
        "days_observed",
        "days_in_period",
        "stickiness",
        "authors_per_member",
        "authors_per_active",
        "complete",
    ]
    return UsageSeries(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        attributed_reactions=attributed_reactions(community),
        frame=frame[columns].reset_index(drop=True),
        daily=daily.reset_index(drop=True),
    )
