"""Engagement rate: replies each root post gets, relative to the community's size at the time.

The sources' "comments per post ÷ subscribers", made precise: for every thread root, the replies
it receives divided by the number of members the community had when it was posted; reported per
period as the mean and the median over the period's roots. Computed on the engine (DuckDB or
Spark) with exact arithmetic, the median included (the engines' exact median aggregates, no
approximate quantiles).

How (one query): a single window in time order over the members' joins and the roots gives every
root its member count (a running count of joins) and a unique integer position; the replies are
joined to the roots once, counted per root position and joined back on that integer; one
aggregation per period then yields the counts, the mean and the median.

References
----------
* The domain spec (``shared/spec/domain.md``): "engagement rate: for each root post: replies to
  it ÷ members at that time; report the period mean and median".
* The social-media "engagement rate by reach/followers" (interactions ÷ followers per post,
  averaged over posts), e.g. Hootsuite, "How to calculate engagement rate",
  https://blog.hootsuite.com/calculate-engagement-rate/.
* CHAOSS "Conversation Volume" / "Responsiveness" family (https://chaoss.community/kb/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.activity import members_included
from analysis.health.included import shared_included_messages
from analysis.health.periods import (
    Period,
    check_period,
    epoch_seconds,
    period_index,
    period_start_expr,
)
from analysis.results import Result

__all__ = ["EngagementSeries", "engagement_per_root_expr", "engagement_rate"]


def _window_seconds(window: Any) -> int | None:
    if window is None:
        return None
    delta = pd.Timedelta(window)
    if delta <= pd.Timedelta(0):
        raise ValueError(f"window must be a positive duration or None, got {window!r}")
    return int(delta.total_seconds())


def engagement_per_root_expr(
    community: Community,
    *,
    period: Period = "week",
    window: Any = "7D",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """One row per root post (an ibis expression), see :func:`engagement_rate` for definitions.

    Columns: ``root_id``, ``created_at``, ``period_start``, ``replies``, ``members``, ``rate``
    (``replies / members``; null when ``members`` is 0).
    """
    check_period(period)
    seconds = _window_seconds(window)
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    msgs = shared_included_messages(
        community, include_staff=include_staff, include_bots=include_bots
    )
    roots = msgs.filter(msgs.reply_to_key.isnull()).select(
        root_id=msgs.message_id,
        root_key=msgs.message_key,
        created_at=msgs.created_at,
    )
    replies = msgs.filter(msgs.reply_to_key.notnull() & (msgs.thread_key != msgs.message_key))
    replies = replies.select(
        thread_key=replies.thread_key, reply_s=epoch_seconds(replies.created_at)
    )
    # members at the root's time: a running count of joins over joins and roots in time order,
    # joins before roots at equal times (joined_at <= created_at counts as a member); each root
    # keeps its id, join key and time through the window, and its position in the order
    # (unique) is the integer key its reply count is joined back on
    events = members.select(
        t=members.joined_at,
        is_root=ibis.literal(0, "int64"),
        root_id=ibis.null("string"),
        root_key=ibis.null(roots.root_key.type()),
    ).union(
        roots.select(
            t=roots.created_at,
            is_root=ibis.literal(1, "int64"),
            root_id=roots.root_id,
            root_key=roots.root_key,
        ),
        distinct=False,
    )
    # roots add nothing to the count, so the order among roots at one time does not matter
    running = ibis.cumulative_window(order_by=[events.t, events.is_root])
    events = events.mutate(
        members=(1 - events.is_root).sum().over(running), rk=ibis.row_number().over(running)
    )
    at_root = events.filter(events.is_root == 1).select(
        "root_id",
        "root_key",
        "members",
        "rk",
        created_at=events.t,
        root_s=epoch_seconds(events.t),
    )
    pairs = replies.join(at_root, replies.thread_key == at_root.root_key)
    if seconds is not None:
        pairs = pairs.filter(pairs.reply_s - pairs.root_s < seconds)
    counts = pairs.group_by(c_rk=pairs.rk).aggregate(replies=pairs.count())

    per_root = at_root.left_join(counts, at_root.rk == counts.c_rk)
    replies_n = per_root.replies.fill_null(0).cast("int64")
    return per_root.select(
        root_id=per_root.root_id,
        created_at=per_root.created_at,
        period_start=period_start_expr(per_root.created_at, period),
        replies=replies_n,
        members=per_root.members.cast("int64"),
        rate=ibis.ifelse(
            per_root.members > 0, replies_n.cast("float64") / per_root.members, ibis.null()
        ).cast("float64"),
    )


@dataclass(frozen=True)
class EngagementSeries(Result):
    """Engagement rate per period: mean and median over root posts of replies ÷ members.

    Attributes
    ----------
    period : str
        ``day``, ``week`` or ``month`` (of the root's ``created_at``, UTC).
    window : str or None
        Replies counted within this time after the root (``"7D"`` by default); ``None`` counts
        every reply in the data.
    include_staff, include_bots : bool
        Whether staff and bot accounts were counted (as root authors, repliers and members).
    frame : pandas.DataFrame
        One row per period from the first to the last root, empty periods included:
        ``period_start``; ``roots`` (roots whose reply window is fully observed, the ones the
        statistics use); ``roots_censored`` (roots too recent for their window, excluded);
        ``replies`` (Σ replies over ``roots``); ``replies_per_root``; ``mean_rate`` and
        ``median_rate`` (over ``roots`` with at least one member at the time; NaN without
        roots); ``members_at_end`` (members joined by the period's last root).
    """

    period: str
    window: str | None
    include_staff: bool
    include_bots: bool
    frame: pd.DataFrame = field(repr=False)
    title: str = "Engagement rate"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def _with_roots(self) -> pd.DataFrame:
        return self.frame[self.frame["roots"] > 0]

    def summary(self) -> str:
        f = self._with_roots()
        if f.empty:
            return "No root post with a fully observed reply window, so no engagement rate."
        who = ("including" if self.include_staff else "excluding") + " staff"
        window = f"within {self.window}" if self.window else "at any time"
        recent = f.tail(min(4, len(f)))
        n = len(recent)
        return (
            f"Over the last {n} {self.period}s with posts ({who}), a root post got on average "
            f"{recent['replies'].sum() / recent['roots'].sum():.2f} replies {window}; relative "
            f"to the community's size at the time that is a mean of "
            f"{1000 * recent['mean_rate'].mean():.2f} and a median of "
            f"{1000 * recent['median_rate'].mean():.2f} replies per 1,000 members per post "
            f"(averaged over the {n} {self.period}s; {int(recent['roots'].sum()):,} posts)."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        long = self.frame.assign(
            mean=self.frame["mean_rate"] * 1000, median=self.frame["median_rate"] * 1000
        ).melt(id_vars="period_start", value_vars=["mean", "median"], var_name="statistic")
        sns.lineplot(data=long, x="period_start", y="value", hue="statistic", marker="o", ax=ax)
        ax.set_xlabel(f"{self.period} of the root post (UTC)")
        ax.set_ylabel("replies per 1,000 members")
        ax.set_title("Engagement rate per root post")
        return ax

    def to_dict(self) -> dict[str, Any]:
        f = self._with_roots()
        last = f.iloc[-1] if len(f) else None
        return {
            "period": self.period,
            "window": self.window,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "roots": int(self.frame["roots"].sum()),
            "roots_censored": int(self.frame["roots_censored"].sum()),
            "replies": int(self.frame["replies"].sum()),
            "periods_with_roots": int(len(f)),
            "mean_of_period_mean_rates": None if f.empty else float(f["mean_rate"].mean()),
            "mean_of_period_median_rates": None if f.empty else float(f["median_rate"].mean()),
            "latest_period_start": None if last is None else str(last["period_start"].date()),
            "latest_mean_rate": None if last is None else float(last["mean_rate"]),
            "latest_median_rate": None if last is None else float(last["median_rate"]),
        }


def engagement_rate(
    community: Community,
    *,
    period: Period = "week",
    window: Any = "7D",
    include_staff: bool = True,
    include_bots: bool = False,
) -> EngagementSeries:
    """Engagement rate per period: replies per root post ÷ members at the time.

    Definitions:

    * **root post** = a non-service message that replies to nothing (``reply_to_id`` null): it
      starts its own conversation (``thread_id`` = its ``message_id``). Replies whose root is
      missing from the data (dangling threads) belong to no root here.
    * **replies to a root** = non-service messages of its conversation (``thread_id`` = the
      root's id) other than the root itself, direct replies and replies to replies alike (the
      "comments under a post"), written less than ``window`` after the root (all of them when
      ``window=None``).
    * **members at that time** = members whose ``joined_at`` ≤ the root's ``created_at``.
    * **engagement rate of a root** = replies ÷ members at that time.
    * per **period** (of the root's ``created_at``): the **mean** and the **median** (midpoint
      of the two middle values for an even count) of the roots' rates. Roots whose window is not
      over by the last message are *censored* and excluded (counted in ``roots_censored``), so a
      recent period is not biased low.

    Staff and bots are excluded (``include_staff=False`` / ``include_bots=False``) everywhere at
    once: as root authors, as repliers and from the member count.

    Parameters
    ----------
    community : Community
    period : {"day", "week", "month"}
    window : str, pandas.Timedelta or None
        Reply window after the root (default ``"7D"``); ``None`` counts all replies.
    include_staff, include_bots : bool
        Count staff / bot accounts (default: staff yes, bots no).

    Returns
    -------
    EngagementSeries

    References
    ----------
    The domain spec's engagement rate; engagement rate by followers (see the module docstring).
    """
    seconds = _window_seconds(window)
    kw = {"include_staff": include_staff, "include_bots": include_bots}
    per_root = engagement_per_root_expr(community, period=period, window=window, **kw)
    if seconds is not None:
        last_s = int(community.last_message_at().timestamp())
        per_root = per_root.mutate(censored=epoch_seconds(per_root.created_at) + seconds > last_s)
    else:
        per_root = per_root.mutate(censored=ibis.literal(False))
    used = ~per_root.censored
    # one aggregation: counts, sums, and the median as the engine's exact median aggregate
    # (DuckDB ``percentile_cont(0.5)``, Spark ``percentile(0.5)``: the middle value, or for an
    # even count 0.5·a + 0.5·b of the two middle values, i.e. (a + b) / 2 in floating point;
    # checked against (a + b) / 2 bit for bit in the tests) instead of a window sort of the roots
    joined = per_root.group_by("period_start").aggregate(
        roots_all=per_root.count(),
        roots_censored=per_root.censored.cast("int64").sum(),
        roots=used.cast("int64").sum(),
        replies=per_root.replies.sum(where=used),
        members_at_end=per_root.members.max(where=used),
        mean_rate=per_root.rate.mean(where=used),
        # masked by hand: ibis's Spark ``percentile`` puts a ``where`` on the percentage too
        median_rate=ibis.ifelse(used, per_root.rate, ibis.null("float64")).median(),
    )
    joined = joined.mutate(replies=joined.replies.fill_null(0))
    out = community.execute(joined)
    frame = _assemble(out, out, out.dropna(subset=["median_rate"]), period)
    return EngagementSeries(
        period=period,
        window=None if window is None else str(window),
        include_staff=include_staff,
        include_bots=include_bots,
        frame=frame,
    )


def _assemble(
    counts: pd.DataFrame, totals: pd.DataFrame, medians: pd.DataFrame, period: str
) -> pd.DataFrame:
    columns = {
        "period_start": "datetime64[ns]",
        "roots": "int64",
        "roots_censored": "int64",
        "replies": "int64",
        "replies_per_root": float,
        "mean_rate": float,
        "median_rate": float,
        "members_at_end": float,
    }
    if counts.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    counts, totals, medians = counts.copy(), totals.copy(), medians.copy()
    for frame in (counts, totals, medians):
        frame["period_start"] = pd.to_datetime(frame["period_start"]).astype("datetime64[ns]")
    index = period_index(counts["period_start"].min(), counts["period_start"].max(), period)
    out = pd.DataFrame(index=pd.DatetimeIndex(index, name="period_start"))
    c = counts.set_index("period_start")
    t = totals.set_index("period_start")
    out["roots"] = t["roots"].reindex(index).fillna(0).astype("int64").to_numpy()
    out["roots_censored"] = c["roots_censored"].reindex(index).fillna(0).astype("int64").to_numpy()
    out["replies"] = t["replies"].reindex(index).fillna(0).astype("int64").to_numpy()
    roots = out["roots"].where(out["roots"] > 0)
    out["replies_per_root"] = (out["replies"] / roots).astype(float)
    out["mean_rate"] = t["mean_rate"].reindex(index).astype(float).to_numpy()
    median = medians.set_index("period_start")["median_rate"] if len(medians) else pd.Series()
    out["median_rate"] = median.reindex(index).astype(float).to_numpy()
    out["members_at_end"] = t["members_at_end"].reindex(index).astype(float).to_numpy()
    out = out.reset_index()
    out["period_start"] = out["period_start"].astype("datetime64[ns]")
    return out[list(columns)].replace({np.inf: np.nan})
