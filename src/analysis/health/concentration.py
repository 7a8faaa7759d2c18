"""Concentration of contributions: does the community depend on a few people?

Messages per member, summarised four ways: the Gini coefficient over authors and over all
members, the share of messages written by the top 5 and top 10 authors, and the CHAOSS
Contributor Absence Factor. The per-member counts, the ranks and the running sums are computed
on the engine (DuckDB or Spark) in exact integer arithmetic
(:mod:`analysis.health.concentration_sums`); only a handful of integers per period come back,
from which the ratios are formed once.

References
----------
* C. Gini (1912), *Variabilità e mutabilità*; the rank formula used here is the standard
  ``G = Σᵢ (2i − n − 1) x₍ᵢ₎ / (n Σᵢ xᵢ)`` over values sorted ascending, equal to the mean
  absolute difference ``Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄)`` (no small-sample correction); see
  P. M. Dixon, J. Weiner, T. Mitchell-Olds, R. Woodley (1987), "Bootstrapping the Gini
  coefficient of inequality", *Ecology* 68(5), 1548-1551, eq. 2, and Damgaard & Weiner (2000),
  *Ecology* 81(4), 1139-1142.
* CHAOSS, "Contributor Absence Factor" (formerly "Bus Factor"): "the smallest number of
  contributors that account for 50% of contributions",
  https://chaoss.community/kb/metric-contributor-absence-factor/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.health.activity import joins_expr, members_included
from analysis.health.concentration_sums import _EMPTY, _measures, _window_sums_expr
from analysis.health.member_days import ordinal_starts
from analysis.health.periods import check_period, period_index
from analysis.results import Result

__all__ = ["Concentration", "concentration", "gini"]

_TOP = (5, 10)


def gini(values: Any) -> float:
    """Gini coefficient of non-negative values by the rank formula (NaN if their sum is 0).

    ``G = Σᵢ (2i − n − 1) x₍ᵢ₎ / (n Σ x)`` with ``x₍₁₎ ≤ … ≤ x₍ₙ₎`` (Dixon et al. 1987):
    0 when everybody contributes the same, ``1 − 1/n`` when one of ``n`` contributes everything.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


@dataclass(frozen=True)
class Concentration(Result):
    """Concentration of messages among members, overall and optionally per period.

    Attributes
    ----------
    period : str or None
        ``None``: one window, the whole data; else ``day``/``week``/``month`` windows.
    include_staff, include_bots : bool
        Whether staff and bot accounts were counted (as authors and as members).
    messages, authors, members : int
        Over the whole data: non-service messages, authors (members with ≥ 1 message) and
        members (joined by the last message, plus any author whose join is recorded later).
    gini_authors : float
        Gini coefficient of messages per author (members with ≥ 1 message only).
    gini_members : float
        Gini coefficient of messages per member, members without messages counted as 0.
    top5_share, top10_share : float
        Share of messages written by the 5 / 10 most active authors (1.0 if fewer authors).
    absence_factor : int
        CHAOSS Contributor Absence Factor at 50%: the smallest number of authors whose messages
        add up to at least half of all messages.
    frame : pandas.DataFrame
        One row per window: ``period_start`` (NaT for the whole data), ``messages``,
        ``authors``, ``members``, ``gini_authors``, ``gini_members``, ``top5_share``,
        ``top10_share``, ``absence_factor`` (0 and NaNs for a window without messages).
    """

    period: str | None
    include_staff: bool
    include_bots: bool
    messages: int
    authors: int
    members: int
    gini_authors: float
    gini_members: float
    top5_share: float
    top10_share: float
    absence_factor: int
    frame: pd.DataFrame = field(repr=False)
    title: str = "Concentration of contributions"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        if self.messages == 0:
            return "No messages, so no concentration to describe."
        who = ("including" if self.include_staff else "excluding") + " staff"
        text = (
            f"Over the whole data ({who}), {self.authors:,} of {self.members:,} members wrote "
            f"{self.messages:,} messages. Half of them came from the {self.absence_factor:,} "
            f"most active authors (CHAOSS contributor absence factor), the top 5 wrote "
            f"{self.top5_share:.1%} and the top 10 {self.top10_share:.1%}. The Gini "
            f"coefficient of messages per author is {self.gini_authors:.2f} (0 = everyone "
            f"writes the same, 1 = one person writes everything), and "
            f"{self.gini_members:.2f} over all members, counting those who never wrote."
        )
        if self.period is not None:
            f = self.frame.dropna(subset=["gini_authors"])
            if len(f) >= 2:
                text += (
                    f" Per {self.period}, the absence factor ranged from "
                    f"{int(f['absence_factor'].min())} to {int(f['absence_factor'].max())} "
                    f"(latest {int(f['absence_factor'].iloc[-1])})."
                )
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        if self.period is None:
            data = pd.DataFrame(
                {
                    "measure": [
                        "Gini (authors)",
                        "Gini (all members)",
                        "top-5 share",
                        "top-10 share",
                    ],
                    "value": [
                        self.gini_authors,
                        self.gini_members,
                        self.top5_share,
                        self.top10_share,
                    ],
                }
            )
            sns.barplot(data=data, x="measure", y="value", ax=ax, color="tab:blue")
            ax.set_xlabel("")
            ax.set_title(f"Concentration of messages (absence factor {self.absence_factor})")
        else:
            long = self.frame.melt(
                id_vars="period_start",
                value_vars=["gini_authors", "gini_members", "top5_share", "top10_share"],
                var_name="measure",
            )
            sns.lineplot(data=long, x="period_start", y="value", hue="measure", marker="o", ax=ax)
            ax.set_xlabel(f"{self.period} (UTC)")
            ax.set_title(f"Concentration of messages per {self.period}")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share / coefficient")
        return ax

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if pd.isna(v) else float(v)

        out: dict[str, Any] = {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "messages": self.messages,
            "authors": self.authors,
            "members": self.members,
            "gini_authors": num(self.gini_authors),
            "gini_members": num(self.gini_members),
            "top5_share": num(self.top5_share),
            "top10_share": num(self.top10_share),
            "absence_factor": self.absence_factor,
        }
        if self.period is not None:
            out["per_period"] = [
                {
                    "period_start": str(row.period_start.date()),
                    "messages": int(row.messages),
                    "authors": int(row.authors),
                    "members": int(row.members),
                    "gini_authors": num(row.gini_authors),
                    "gini_members": num(row.gini_members),
                    "top5_share": num(row.top5_share),
                    "top10_share": num(row.top10_share),
                    "absence_factor": int(row.absence_factor),
                }
                for row in self.frame.itertuples()
            ]
        return out


def concentration(
    community: Community,
    *,
    period: str | None = None,
    include_staff: bool = True,
    include_bots: bool = False,
) -> Concentration:
    """Gini coefficient, top-5/10 share and Contributor Absence Factor of messages per member.

    Definitions (messages = non-service messages, as in :mod:`analysis.health.activity`; the
    window is the whole data, or each UTC period when ``period`` is given):

    * x = messages written in the window, per member.
    * **authors** = members with x ≥ 1 in the window. **members** = members who had joined by
      the window's end (the last message for the whole data, the period's end otherwise), plus
      any author whose recorded ``joined_at`` is later (so every author is a member).
    * **gini_authors** = Gini coefficient of x over authors only; **gini_members** = over all
      members, those with x = 0 included. Gini is ``Σᵢ (2i − n − 1) x₍ᵢ₎ / (n Σ x)`` with x sorted
      ascending (no small-sample correction): 0 for equal counts, ``1 − 1/n`` when one of n
      writes everything; e.g. [1, 1, 1, 1] → 0, [0, 0, 0, 10] → 0.75 over 4 members (and 0 over
      its single author).
    * **top5_share / top10_share** = messages of the 5 / 10 authors with most messages ÷ all
      messages (ties do not change the sum).
    * **absence_factor** (CHAOSS *Contributor Absence Factor* at 50%) = the smallest k such that
      the k most active authors wrote at least 50% of the messages, e.g. [50, 30, 20] → 1,
      [40, 30, 30] → 2.

    Parameters
    ----------
    community : Community
    period : {None, "day", "week", "month"}
        ``None`` for the whole data (default); else also one row per period (empty periods
        included, with NaN measures).
    include_staff, include_bots : bool
        Count staff / bot accounts (default: staff yes, bots no). Staff usually write a large
        share, so ``include_staff=False`` shows how concentrated the *members'* talk is.

    Returns
    -------
    Concentration

    References
    ----------
    Gini (1912); Dixon et al. (1987); CHAOSS "Contributor Absence Factor" (module docstring).
    """
    if period is not None:
        check_period(period)
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)

    last_value = community.execute(community.messages.created_at.max())
    last = None if last_value is None or pd.isna(last_value) else utc_timestamp(last_value)
    if last is None:
        row, members_n = pd.Series(_EMPTY), int(community.execute(members.count()))
    else:
        # one round trip: the window sums beside the number of members joined by the end
        joined = members.filter(members.joined_at <= last.to_pydatetime())
        sums = _window_sums_expr(
            community,
            members,
            None,
            last,
            include_staff=include_staff,
            include_bots=include_bots,
        ).cross_join(joined.aggregate(members_n=joined.count()))
        overall = community.execute(sums)
        row = overall.iloc[0] if len(overall) else pd.Series(_EMPTY)
        members_n = int(overall["members_n"].iloc[0]) if len(overall) else 0
    whole = _measures(row, members_n)

    if period is None:
        frame = pd.DataFrame([{"period_start": pd.NaT, **whole}])
    else:
        frame = _per_period(community, members, period, include_staff, include_bots)
    frame["period_start"] = pd.to_datetime(frame["period_start"]).astype("datetime64[ns]")
    return Concentration(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        frame=frame,
        **whole,
    )


def _per_period(
    community: Community, members: Any, period: str, include_staff: bool, include_bots: bool
) -> pd.DataFrame:
    sums = community.execute(
        _window_sums_expr(
            community, members, period, include_staff=include_staff, include_bots=include_bots
        )
    )
    columns = [
        "period_start",
        "messages",
        "authors",
        "members",
        "gini_authors",
        "gini_members",
        "top5_share",
        "top10_share",
        "absence_factor",
    ]
    if sums.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    sums["window_key"] = ordinal_starts(sums["window_key"], period)
    index = period_index(sums["window_key"].min(), sums["window_key"].max(), period)
    # members joined by each period's end (the `members` column of the activity series)
    joins = community.execute(
        joins_expr(community, period=period, include_staff=include_staff, include_bots=include_bots)
    )
    new = joins.set_index(pd.to_datetime(joins["period_start"]).astype("datetime64[ns]"))
    new = new["new_members"].astype("int64")
    joined = pd.Series(
        [int(new[new.index <= start].sum()) for start in index], index=index, dtype="int64"
    )
    sums = sums.set_index("window_key")
    rows = []
    for start in index:
        row = sums.loc[start] if start in sums.index else pd.Series(_EMPTY)
        members_n = int(joined.get(start, 0))
        rows.append({"period_start": start, **_measures(row, members_n)})
    return pd.DataFrame(rows)[columns]
