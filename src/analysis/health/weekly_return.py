"""Return rate per period: active share and retention of the previous period's actives.

:func:`weekly_return`: active members ÷ members (from :func:`~analysis.health.activity.activity`)
and period-over-period retention of the previous period's active members. Active members and
periods as in :mod:`analysis.health.active_periods`; aggregated on the engine.

Reference: CHAOSS, "Active Users" (https://chaoss.community/kb/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.health.active_periods import member_activity_counts, members_counted
from analysis.health.activity import activity
from analysis.health.member_days import member_periods, ordinal_starts
from analysis.health.periods import Period, check_period
from analysis.results import Result

__all__ = ["ReturnSeries", "retained_expr", "weekly_return"]


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
            f"({members_counted(self.include_staff, self.include_bots)}), on average "
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


def retained_expr(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """Members active in both period ``ordinal − 1`` and ``ordinal`` (ibis; ``ordinal``,
    ``retained``), for the periods with any.

    The distinct ``(member, period)`` pairs are read from
    :func:`analysis.health.member_days.member_periods` (derived from the member-day table; a
    period is a union of UTC days, so they are the pairs of
    :func:`analysis.health.active_periods.active_member_periods_expr`) and joined with
    themselves shifted by one period.
    """
    pairs = member_periods(
        community, period, include_staff=include_staff, include_bots=include_bots
    ).select("member_id", "ordinal")
    prev = pairs.select(p_member=pairs.member_id, p_ordinal=pairs.ordinal + 1)
    both = pairs.join(prev, [pairs.member_id == prev.p_member, pairs.ordinal == prev.p_ordinal])
    return both.group_by("ordinal").aggregate(retained=both.count().cast("int64"))


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

    Notes
    -----
    How: for weeks and months |A(w−1) ∩ A(w)| is summed over the members' period bit masks
    (:func:`analysis.health.active_periods.member_activity_counts`, computed once with the
    activity counts); for days, or data spanning more than
    :data:`~analysis.health.active_periods.MAX_MASK_PERIODS` weeks, by joining the
    ``(member, period)`` pairs with themselves (:func:`retained_expr`). The same numbers.
    """
    check_period(period)
    kw = {"include_staff": include_staff, "include_bots": include_bots}
    base = activity(community, period=period, **kw).frame
    counts = member_activity_counts(community, period, **kw) if period != "day" else None
    if counts is None:  # days, or a span too long for period bit masks: the pair self-join
        retained = community.execute(retained_expr(community, period=period, **kw))
    else:
        retained = counts[["ordinal", "retained"]].copy()
    frame = base[["period_start", "active_members", "members", "active_share", "complete"]].copy()
    retained["period_start"] = ordinal_starts(retained.pop("ordinal"), period)
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
