"""Activity per channel (chat, forum topic, Slack channel, ...) and period.

The definitions are those of :mod:`analysis.health.activity`, counted within each channel:
*messages* and *authors* from the channel's messages, *active members* = authors plus members
whose attributed reaction (known reactor and time) was to one of the channel's messages. Members
and joins are not per channel (platform exports record who joined the community, not each
topic), so they are not repeated here; see :func:`analysis.health.activity` for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.health.activity import activity_expr
from analysis.health.periods import Period, period_end, period_index
from analysis.results import Result


@dataclass(frozen=True)
class ChannelActivity(Result):
    """Messages, authors and active members per channel and period.

    Attributes
    ----------
    period : str
    include_staff, include_bots : bool
    frame : pandas.DataFrame
        ``channel_id``, ``channel`` (name where known), ``period_start``, ``messages``,
        ``authors``, ``active_members`` and ``complete``; every period from the first to the last
        message appears for every channel (zeros where the channel was silent).
    """

    period: str
    include_staff: bool
    include_bots: bool
    frame: pd.DataFrame = field(repr=False)
    title: str = "Activity per channel"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def totals(self) -> pd.DataFrame:
        """Per channel over complete periods: messages, mean authors and active members."""
        done = self.frame[self.frame["complete"]]
        return (
            done.groupby(["channel_id", "channel"], dropna=False)
            .agg(
                messages=("messages", "sum"),
                mean_authors=("authors", "mean"),
                mean_active=("active_members", "mean"),
            )
            .sort_values("messages", ascending=False)
            .reset_index()
        )

    def summary(self) -> str:
        totals = self.totals()
        if totals.empty:
            return "No complete period with messages, so no channel activity to describe."
        top = totals.iloc[0]
        share = top["messages"] / totals["messages"].sum() if totals["messages"].sum() else 0
        who = "including" if self.include_staff else "excluding"
        return (
            f"{len(totals)} channels ({who} staff); the busiest, {top['channel']}, carried "
            f"{share:.0%} of messages with on average {top['mean_active']:.0f} active members "
            f"per {self.period}."
        )

    def plot(self, ax: Any = None, *, top_n: int = 6) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        keep = self.totals()["channel_id"].head(top_n)
        data = self.frame[self.frame["channel_id"].isin(keep)]
        sns.lineplot(data=data, x="period_start", y="active_members", hue="channel", ax=ax)
        ax.set_xlabel(f"{self.period} (UTC)")
        ax.set_ylabel(f"active members per {self.period}")
        ax.set_title(f"Active members in the {len(keep)} busiest channels")
        return ax

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        return to_jsonable(
            {
                "period": self.period,
                "include_staff": self.include_staff,
                "channels": self.totals().to_dict(orient="records"),
            }
        )


def activity_by_channel(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = True,
    include_bots: bool = False,
) -> ChannelActivity:
    """Activity per channel and day / week / month (definitions in the module docstring)."""
    expr = activity_expr(
        community,
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=True,
    )
    acts = community.execute(expr)
    columns = ["channel_id", "channel", "period_start", "messages", "authors", "active_members"]
    if acts.empty:
        empty = pd.DataFrame({c: [] for c in columns}).assign(complete=pd.Series(dtype=bool))
        return ChannelActivity(period, include_staff, include_bots, empty)
    acts["period_start"] = pd.to_datetime(acts["period_start"])
    periods = period_index(acts["period_start"].min(), acts["period_start"].max(), period)
    grid = pd.MultiIndex.from_product(
        [sorted(acts["channel_id"].unique()), periods], names=["channel_id", "period_start"]
    )
    frame = (
        acts.set_index(["channel_id", "period_start"])
        .reindex(grid, fill_value=0)
        .astype("int64")
        .reset_index()
    )
    names = {}
    if community.has("channels"):
        channels = community.execute(community.table("channels").select("channel_id", "name"))
        names = dict(zip(channels["channel_id"], channels["name"], strict=True))
    frame["channel"] = [names.get(c) or c for c in frame["channel_id"]]
    last = community.last_message_at().tz_convert(None)
    frame["complete"] = period_end(frame["period_start"], period) <= last
    return ChannelActivity(period, include_staff, include_bots, frame[[*columns, "complete"]])
