"""Usage (DAU/WAU/MAU, stickiness), return rates and cohort retention.

Every count is an ibis expression executed by the community's engine (DuckDB or Spark); only
per-period or per-cohort aggregates come back as pandas. The words *active*, *author*, *member*,
*period* and the staff/bot switches mean exactly what :mod:`analysis.health.activity` says:

Active member
    A member with at least one non-service message or one attributed reaction (reactor and time
    known) in the period. Where the platform exports no reactor names, active members equal
    authors.
Period
    UTC calendar day, ISO week (Monday 00:00 UTC) or calendar month; every period between the
    first and the last activity appears, empty ones as zeros.

Functions
---------
:func:`usage`
    DAU / WAU / MAU, stickiness (mean DAU ÷ WAU or MAU) and the share of active authors.
:func:`weekly_return`
    Active members ÷ members (from :func:`~analysis.health.activity.activity`) and
    period-over-period retention of the previous period's active members.
:func:`cohort_retention`
    The retention matrix: join cohort × periods since join, optionally split by acquisition
    source.

References
----------
* CHAOSS, "Active Users" / "Activity Dates and Times" metrics (https://chaoss.community/kb/).
* DAU/MAU "stickiness": A. Chen, "DAU/MAU is an important metric to measure engagement, but
  here's where it fails" (2018), https://andrewchen.com/dau-mau-is-an-important-metric-but-heres-where-it-fails/
* Cohort retention tables: Amplitude, "Retention analysis" (N-day retention from the start event,
  https://amplitude.com/docs/analytics/charts/retention-analysis/retention-analysis-interpret).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.health.activity import activity, activity_events_expr, members_included
from analysis.health.periods import Period, check_period, period_start_expr
from analysis.results import Result

__all__ = [
    "CohortRetention",
    "ReturnSeries",
    "UsageSeries",
    "active_member_periods_expr",
    "cohort_retention",
    "usage",
    "weekly_return",
]

_COHORT_DAYS = {"week": 7, "month": 30}


def _check_cohort(cohort: str) -> None:
    if cohort not in _COHORT_DAYS:
        raise ValueError(f"cohort must be one of {list(_COHORT_DAYS)}, got {cohort!r}")


def _pct(value: float) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1%}"


def _who(include_staff: bool, include_bots: bool) -> str:
    staff = "including staff" if include_staff else "excluding staff"
    bots = "including bots" if include_bots else "excluding bots"
    return f"{staff}, {bots}"


def _naive_utc(values: Any) -> pd.Series:
    """Engine timestamps (aware on DuckDB, naive UTC on Spark) as naive UTC pandas values."""
    s = pd.to_datetime(pd.Series(values))
    if s.dt.tz is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.astype("datetime64[ns]")


def _period_ordinal(ts: Any, period: str) -> Any:
    """Consecutive integers for consecutive UTC periods (days since 1970, ISO weeks, months)."""
    if period == "month":
        return ts.year().cast("int64") * 12 + ts.month().cast("int64") - 1
    day = ts.epoch_seconds().cast("int64") // 86400
    # 1970-01-01 was a Thursday: +3 puts Monday 1969-12-29 at the start of week 0
    return (day + 3) // 7 if period == "week" else day


def active_member_periods_expr(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """Distinct ``(period_start, ordinal, member_id)`` of active members (an ibis expression).

    ``ordinal`` numbers the periods so that consecutive periods differ by exactly 1.
    """
    check_period(period)
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    events = activity_events_expr(community, members)
    return events.select(
        period_start=period_start_expr(events.at, period),
        ordinal=_period_ordinal(events.at, period),
        member_id=events.member_id,
    ).distinct()


def attributed_reactions(community: Community) -> int:
    """Number of reaction rows whose reactor and time are known (0 without a reactions table)."""
    if not community.has("reactions"):
        return 0
    r = community.table("reactions")
    n = community.execute(r.filter(r.member_id.notnull() & r.reacted_at.notnull()).count())
    return int(n)


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
        text = (
            f"In the {self.period} starting {last['period_start']:%Y-%m-%d} "
            f"({_who(self.include_staff, self.include_bots)}), {int(last['active_members']):,} "
            f"members were active ({label}) and {int(last['authors']):,} wrote, out of "
            f"{int(last['members']):,} members: {_pct(last['authors_per_member'])} of members "
            f"and {_pct(last['authors_per_active'])} of active members were authors."
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


# --------------------------------------------------------------------------------------------
# weekly return: active share and period-over-period retention of actives
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnSeries(Result):
    """Return rate per period: active share and retention of the previous period's actives.

    Attributes
    ----------
    period : str
        ``week`` by default (``day`` and ``month`` also allowed).
    include_staff, include_bots : bool
        Whether staff and bot accounts were counted.
    frame : pandas.DataFrame
        One row per period: ``period_start``, ``active_members``, ``members`` and
        ``active_share`` (= active ÷ members joined by the period's end, taken from
        :func:`~analysis.health.activity.activity`); ``active_previous`` (active members of the
        previous period, NaN for the first); ``retained`` (members active in both the previous
        period and this one); ``return_rate`` = ``retained / active_previous`` (NaN for the first
        period and after a period without active members); ``complete``.
    """

    period: str
    include_staff: bool
    include_bots: bool
    frame: pd.DataFrame = field(repr=False)
    title: str = "Return rate"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def _complete(self) -> pd.DataFrame:
        return self.frame[self.frame["complete"]]

    def summary(self) -> str:
        f = self._complete().dropna(subset=["return_rate"])
        if f.empty:
            return f"Fewer than two complete {self.period}s with activity: no return rate yet."
        window = min(4, len(f))
        recent = f.tail(window)
        return (
            f"Over the last {window} complete {self.period}s "
            f"({_who(self.include_staff, self.include_bots)}), on average "
            f"{recent['active_share'].mean():.1%} of members were active each {self.period}, and "
            f"{recent['return_rate'].mean():.1%} of the members active in one {self.period} were "
            f"active again in the next (latest: {int(recent['retained'].iloc[-1]):,} of "
            f"{int(recent['active_previous'].iloc[-1]):,})."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        long = self.frame.melt(
            id_vars="period_start",
            value_vars=["active_share", "return_rate"],
            var_name="series",
            value_name="share",
        )
        sns.lineplot(data=long, x="period_start", y="share", hue="series", marker="o", ax=ax)
        ax.yaxis.set_major_formatter(_percent_formatter())
        ax.set_xlabel(f"{self.period} (UTC)")
        ax.set_ylabel("share")
        ax.set_title(f"Active share and {self.period}-over-{self.period} return")
        return ax

    def to_dict(self) -> dict[str, Any]:
        f = self._complete().dropna(subset=["return_rate"])
        last = f.iloc[-1] if len(f) else None
        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "periods_with_return_rate": int(len(f)),
            "mean_return_rate": None if f.empty else float(f["return_rate"].mean()),
            "mean_active_share": None if f.empty else float(f["active_share"].mean()),
            "latest_period_start": None if last is None else str(last["period_start"].date()),
            "latest_return_rate": None if last is None else float(last["return_rate"]),
            "latest_retained": None if last is None else int(last["retained"]),
            "latest_active_previous": None if last is None else int(last["active_previous"]),
        }


def _percent_formatter() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0)


def weekly_return(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> ReturnSeries:
    """Weekly return rate: active share and week-over-week retention of active members.

    Definitions (periods, *active*, *member* as in :mod:`analysis.health.activity`):

    * **active share** (the domain spec's *weekly return rate*) = active members in week *w* ÷
      members who had joined by the end of week *w*; this is ``active_share`` of
      :func:`~analysis.health.activity.activity`, reused, not recomputed.
    * **week-over-week retention** ``return_rate`` = |A(w−1) ∩ A(w)| ÷ |A(w−1)|, where A(w) is
      the set of members active in week *w*: the share of the previous week's active members
      who are active again this week. Undefined (NaN) for the first week and after an empty
      week.

    Parameters
    ----------
    community : Community
    period : {"week", "day", "month"}
        ``week`` by default; the same definitions apply to days and months.
    include_staff, include_bots : bool
        Count staff / bot accounts (default: staff yes, bots no).

    Returns
    -------
    ReturnSeries

    References
    ----------
    CHAOSS "Active Users" (https://chaoss.community/kb/); the domain spec's weekly return rate.
    """
    check_period(period)
    kw = {"include_staff": include_staff, "include_bots": include_bots}
    base = activity(community, period=period, **kw).frame
    pairs = active_member_periods_expr(community, period=period, **kw)
    prev = pairs.select(p_member=pairs.member_id, p_ordinal=pairs.ordinal)
    both = pairs.join(prev, [pairs.member_id == prev.p_member, pairs.ordinal == prev.p_ordinal + 1])
    retained = community.execute(
        both.group_by("period_start").aggregate(retained=both.member_id.nunique())
    )
    frame = base[["period_start", "active_members", "members", "active_share", "complete"]].copy()
    retained["period_start"] = _naive_utc(retained["period_start"])
    frame["retained"] = (
        frame["period_start"].map(retained.set_index("period_start")["retained"]).fillna(0)
    ).astype("int64")
    # previous calendar period's active members (the series has every period, empty ones too)
    frame["active_previous"] = frame["active_members"].shift(1).astype(float)
    prev_active = frame["active_previous"].where(frame["active_previous"] > 0)
    frame["return_rate"] = (frame["retained"] / prev_active).astype(float)
    columns = [
        "period_start",
        "active_members",
        "members",
        "active_share",
        "active_previous",
        "retained",
        "return_rate",
        "complete",
    ]
    return ReturnSeries(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        frame=frame[columns].reset_index(drop=True),
    )


# --------------------------------------------------------------------------------------------
# cohort retention matrix
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRetention(Result):
    """Retention matrix: join cohort × periods since join.

    Attributes
    ----------
    cohort : str
        ``week`` (ISO week of ``joined_at``) or ``month`` (calendar month of ``joined_at``).
    period_days : int
        Length of one period since join: 7 days for weekly cohorts, 30 for monthly.
    by : str or None
        ``"source"`` when rows are split by acquisition source (``members.source``; missing
        sources are ``"unknown"``).
    max_periods : int
        Columns are periods 0 … ``max_periods - 1``.
    include_staff, include_bots : bool
        Whether staff and bot accounts were counted.
    observed_from, observed_until : str
        Observation window (first and last message, ISO 8601 UTC).
    frame : pandas.DataFrame
        Tidy: one row per cohort (and source) and period ``k`` with ``cohort_start``,
        [``source``], ``cohort_size``, ``period``, ``active`` (cohort members active in period
        ``k``), ``retention`` (= active ÷ cohort_size, NaN when not observed) and ``observed``.
    matrix : pandas.DataFrame
        Wide: index ``cohort_start`` (or ``(source, cohort_start)``), columns ``0 …
        max_periods-1``, values ``retention``; NaN where the cell is not fully observed.
    """

    cohort: str
    period_days: int
    by: str | None
    max_periods: int
    include_staff: bool
    include_bots: bool
    observed_from: str | None
    observed_until: str | None
    frame: pd.DataFrame = field(repr=False)
    matrix: pd.DataFrame = field(repr=False)
    title: str = "Cohort retention"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    @property
    def sizes(self) -> pd.Series:
        """Members per cohort (and source)."""
        keys = ["source", "cohort_start"] if self.by else ["cohort_start"]
        return self.frame.drop_duplicates(keys).set_index(keys)["cohort_size"]

    def pooled(self) -> pd.DataFrame:
        """Retention per period since join, pooled over the cohorts where the cell is observed.

        ``retention`` = Σ active ÷ Σ cohort_size over observed cells (a member-weighted mean),
        with ``cohorts`` and ``members`` the number of cohorts and members that enter it; split
        by source when ``by="source"``.
        """
        f = self.frame[self.frame["observed"]]
        keys = ["source", "period"] if self.by else ["period"]
        out = (
            f.groupby(keys)
            .agg(
                cohorts=("cohort_start", "size"),
                members=("cohort_size", "sum"),
                active=("active", "sum"),
            )
            .reset_index()
        )
        out["retention"] = (out["active"] / out["members"]).astype(float)
        return out

    def summary(self) -> str:
        pooled = self.pooled()
        unit = "week" if self.cohort == "week" else "30-day month"
        who = _who(self.include_staff, self.include_bots)
        if self.by:
            pooled = pooled.groupby("period", as_index=False)[["members", "active"]].sum()
            pooled["retention"] = pooled["active"] / pooled["members"]
        if pooled.empty:
            return "No cohort has an observed period yet, so there is no retention to report."
        p = pooled.set_index("period")["retention"]
        shown = [k for k in dict.fromkeys((0, 1, 4, self.max_periods - 1)) if k in p.index]
        parts = [
            f"{p[k]:.1%} in their first {unit} after joining"
            if k == 0
            else f"{p[k]:.1%} in {unit} {k}"
            for k in shown
        ]
        text = (
            f"Members grouped by join {self.cohort} ({who}; {int(self.sizes.sum()):,} members "
            f"in {len(self.sizes):,} cohorts) were active: {', '.join(parts)} "
            f"(member-weighted over the cohorts observed that long; {unit} 0 is the first "
            f"{self.period_days} days)."
        )
        if self.by:
            per_source = self.pooled()
            one = per_source[per_source["period"] == 1].set_index("source")["retention"]
            if len(one) > 1:
                text += (
                    f" By source, {unit} 1 retention ranges from {one.min():.1%} "
                    f"({one.idxmin()}) to {one.max():.1%} ({one.idxmax()})."
                )
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if self.by:
            pooled = self.pooled()
            data = pooled.pivot(index="source", columns="period", values="retention")
            ylabel = "acquisition source (cohorts pooled)"
        else:
            data = self.matrix.copy()
            data.index = [f"{d:%Y-%m-%d} (n={n})" for d, n in self.sizes.items()]
            ylabel = f"join {self.cohort} (UTC)"
        if ax is None:
            height = min(14, 1.5 + 0.35 * max(len(data), 1))
            _, ax = plt.subplots(figsize=(1.2 + 0.7 * self.max_periods, height))
        sns.heatmap(
            data.astype(float),
            annot=True,
            fmt=".0%",
            cmap="Blues",
            vmin=0,
            vmax=1,
            cbar=False,
            ax=ax,
            annot_kws={"fontsize": 7},
        )
        unit = "weeks" if self.cohort == "week" else "30-day months"
        ax.set_xlabel(f"{unit} since joining")
        ax.set_ylabel(ylabel)
        ax.set_title("Share of each cohort active, by time since joining")
        return ax

    def to_dict(self) -> dict[str, Any]:
        pooled = self.pooled()
        records = [
            {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in pooled.to_dict(orient="records")
        ]
        return {
            "cohort": self.cohort,
            "period_days": self.period_days,
            "by": self.by,
            "max_periods": self.max_periods,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "observed_from": self.observed_from,
            "observed_until": self.observed_until,
            "cohorts": int(len(self.sizes)),
            "members": int(self.sizes.sum()),
            "pooled": records,
        }


def cohort_retention(
    community: Community,
    *,
    cohort: Literal["week", "month"] = "week",
    by: Literal["source"] | None = None,
    max_periods: int = 12,
    include_staff: bool = True,
    include_bots: bool = False,
) -> CohortRetention:
    """Retention matrix: share of each join cohort active in each period since joining.

    Definitions:

    * **cohort** of a member = the UTC ISO week (``cohort="week"``) or calendar month
      (``"month"``) containing ``joined_at``; optionally also its acquisition source.
    * **period k since join** of a member = ``[joined_at + k·L, joined_at + (k+1)·L)`` with
      ``L`` = 7 days (weekly cohorts) or 30 days (monthly): periods are counted from each
      member's own join time, so every member's period 0 is a full period (a calendar-aligned
      table would give a Sunday joiner a one-day week 0). An event at time ``t`` falls in
      ``k = ⌊(t − joined_at) / L⌋`` computed on whole seconds; events before ``joined_at`` are
      ignored.
    * **retention(c, k)** = (members of cohort ``c`` active, as in
      :mod:`analysis.health.activity`, at least once in their period ``k``) ÷ (members of
      ``c``).
    * A cell is **observed** when every member's period ``k`` lies inside the data:
      ``min(joined_at) + k·L ≥`` first message and ``max(joined_at) + (k+1)·L ≤`` last
      message. Unobserved cells are NaN in :attr:`CohortRetention.matrix` (never a misleading
      0). Cohorts with no members do not appear.

    Where ``joined_at`` is inferred from the first activity (see ``members.joined_at``
    provenance), period 0 retention is 100% for those members by construction.

    Parameters
    ----------
    community : Community
    cohort : {"week", "month"}
        Cohort granularity and period length (7 or 30 days).
    by : {None, "source"}
        Split the rows by ``members.source``.
    max_periods : int
        Number of periods since join to show (columns 0 … max_periods − 1).
    include_staff, include_bots : bool
        Count staff / bot accounts (default: staff yes, bots no).

    Returns
    -------
    CohortRetention

    References
    ----------
    Amplitude, "Retention analysis" (N-day retention counted from each user's start event);
    CHAOSS "Activity Dates and Times" (https://chaoss.community/kb/).
    """
    _check_cohort(cohort)
    if by not in (None, "source"):
        raise ValueError(f"by must be None or 'source', got {by!r}")
    if int(max_periods) < 1:
        raise ValueError(f"max_periods must be at least 1, got {max_periods!r}")
    max_periods = int(max_periods)
    length = _COHORT_DAYS[cohort] * 86400
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    m = members.select(
        member_id=members.member_id,
        joined_at=members.joined_at,
        joined_s=members.joined_at.epoch_seconds().cast("int64"),
        cohort_start=period_start_expr(members.joined_at, cohort),
        source=members.source.fill_null("unknown"),
    )
    keys = ["source", "cohort_start"] if by else ["cohort_start"]
    events = activity_events_expr(community, members)
    joined = events.join(m, events.member_id == m.member_id)
    offset = joined.at.epoch_seconds().cast("int64") - joined.joined_s
    cells = joined.select(
        *[joined[k] for k in keys],
        member_id=joined.member_id,
        period=offset // length,
        offset=offset,
    )
    cells = cells.filter((cells["offset"] >= 0) & (cells["period"] < max_periods))
    active = community.execute(
        cells.group_by([*keys, "period"]).aggregate(active=cells.member_id.nunique())
    )
    sizes = community.execute(
        m.group_by(keys).aggregate(
            cohort_size=m.count(), first_join=m.joined_at.min(), last_join=m.joined_at.max()
        )
    )
    msgs = community.messages
    bounds = community.execute(msgs.aggregate(lo=msgs.created_at.min(), hi=msgs.created_at.max()))
    lo, hi = bounds["lo"].iloc[0], bounds["hi"].iloc[0]
    observed_from = None if pd.isna(lo) else utc_timestamp(lo)
    observed_until = None if pd.isna(hi) else utc_timestamp(hi)

    for frame in (active, sizes):
        frame["cohort_start"] = _naive_utc(frame["cohort_start"])
    sizes["first_join"] = _naive_utc(sizes["first_join"])
    sizes["last_join"] = _naive_utc(sizes["last_join"])
    grid = sizes.merge(pd.DataFrame({"period": np.arange(max_periods, dtype="int64")}), how="cross")
    active["period"] = active["period"].astype("int64")
    grid = grid.merge(active, on=[*keys, "period"], how="left")
    grid["active"] = grid["active"].fillna(0).astype("int64")
    grid["cohort_size"] = grid["cohort_size"].astype("int64")
    if observed_from is None:
        grid["observed"] = False
    else:
        step = pd.to_timedelta(grid["period"] * _COHORT_DAYS[cohort], unit="D")
        span = pd.Timedelta(days=_COHORT_DAYS[cohort])
        grid["observed"] = (grid["first_join"] + step >= observed_from.tz_convert(None)) & (
            grid["last_join"] + step + span <= observed_until.tz_convert(None)
        )
    grid["retention"] = (grid["active"] / grid["cohort_size"]).where(grid["observed"])
    grid = grid.sort_values([*keys, "period"]).reset_index(drop=True)
    frame = grid[[*keys, "cohort_size", "period", "active", "retention", "observed"]]
    matrix = frame.pivot(index=keys, columns="period", values="retention").reindex(
        columns=range(max_periods)
    )
    matrix.columns.name = "period"
    return CohortRetention(
        cohort=cohort,
        period_days=_COHORT_DAYS[cohort],
        by=by,
        max_periods=max_periods,
        include_staff=include_staff,
        include_bots=include_bots,
        observed_from=None if observed_from is None else observed_from.isoformat(),
        observed_until=None if observed_until is None else observed_until.isoformat(),
        frame=frame,
        matrix=matrix,
    )
