"""Newcomers: is a member's first message answered, fast, and do they come back?

:func:`newcomer_welcome` (time to the first reply to a newcomer's first message) and
:func:`newcomer_return` (do answered newcomers come back more often?), on the newcomer table of
:mod:`analysis.health.newcomer_table` (computed on the engine, one row per newcomer; exact
medians and 90th percentiles as in :mod:`analysis.health.period_results`). Repeat contribution is
in :mod:`analysis.health.repeat`; both are importable from here too.

Definitions
-----------
Newcomer, first message, reply to the first message, answered within 24 h, return, repeat
contribution and periods are defined once, in :mod:`analysis.health.newcomer_table`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.experiments import ProportionComparison, two_proportion_test
from analysis.health.newcomer_table import (
    DAY_S,
    fill_periods,
    newcomer_flags,
    newcomer_table,
    newcomer_table_expr,
    newcomers_counted,
)
from analysis.health.period_results import (
    format_or_na,
    period_lineplot,
    plain_value,
    quantile_summary,
)
from analysis.health.periods import (
    Period,
    check_period,
    data_periods,
    period_floor,
)
from analysis.health.repeat import RepeatContribution, repeat_contribution
from analysis.results import Result

__all__ = [
    "DAY_S",
    "NewcomerReturn",
    "NewcomerWelcome",
    "RepeatContribution",
    "newcomer_return",
    "newcomer_table",
    "newcomer_table_expr",
    "newcomer_welcome",
    "repeat_contribution",
]


@dataclass(frozen=True)
class NewcomerWelcome(Result):
    """How fast newcomers' first messages get a reply; see :func:`newcomer_welcome`.

    Attributes
    ----------
    period : str
    include_staff, include_bots : bool
        Whether staff / bot *newcomers* were counted (staff replies always count as replies).
    newcomers, answered : int
        Newcomers; those whose first message ever got a reply.
    median_minutes, p90_minutes : float
        Of the time to first reply, over answered newcomers.
    exposed_24h, answered_24h : int
        Newcomers whose first message is ≥ 24 h before the data end; of them, answered in 24 h.
    share_answered_24h : float
        ``answered_24h / exposed_24h``.
    frame : pandas.DataFrame
        Per period: ``newcomers``, ``answered``, ``median_minutes``, ``p90_minutes``,
        ``exposed_24h``, ``answered_24h``, ``share_answered_24h``.
    """

    period: str
    include_staff: bool
    include_bots: bool
    newcomers: int
    answered: int
    median_minutes: float
    p90_minutes: float
    exposed_24h: int
    answered_24h: int
    share_answered_24h: float
    frame: pd.DataFrame = field(repr=False)
    title: str = "Newcomer welcome"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        if not self.newcomers:
            return "No newcomer wrote a message, so there is no welcome to measure."
        text = (
            f"{format_or_na(self.share_answered_24h)} of newcomers got a reply to their first "
            f"message within 24 hours ({self.answered_24h:,} of {self.exposed_24h:,})."
        )
        who = newcomers_counted(self.include_staff, self.include_bots)
        if pd.isna(self.median_minutes):
            return text + f" None was answered ({who})."
        return text + (
            f" Half of the answered ones waited at most {self.median_minutes:,.0f} minutes and "
            f"90% at most {self.p90_minutes:,.0f} minutes ({who})."
        )

    def plot(self, ax: Any = None) -> Any:
        return period_lineplot(
            self.frame,
            "share_answered_24h",
            None,
            ax,
            f"Newcomers answered within 24 h, per {self.period}",
            "share of newcomers",
        )

    def to_dict(self) -> dict[str, Any]:
        keys = (
            "period",
            "include_staff",
            "include_bots",
            "newcomers",
            "answered",
            "median_minutes",
            "p90_minutes",
            "exposed_24h",
            "answered_24h",
            "share_answered_24h",
        )
        return {k: plain_value(getattr(self, k)) for k in keys}


def _welcome_stats(g: pd.DataFrame) -> dict[str, Any]:
    n, med, p90, _ = quantile_summary(g["reply_seconds"] / 60.0)
    exposed = int(g["exposed_24h"].sum())
    answered = int((g["answered_24h"] & g["exposed_24h"]).sum())
    return {
        "newcomers": int(len(g)),
        "answered": n,
        "median_minutes": med,
        "p90_minutes": p90,
        "exposed_24h": exposed,
        "answered_24h": answered,
        "share_answered_24h": answered / exposed if exposed else float("nan"),
    }


def newcomer_welcome(
    community: Community,
    *,
    period: Period = "week",
    include_staff: bool = False,
    include_bots: bool = False,
) -> NewcomerWelcome:
    """Time to the first reply to each newcomer's first message, and the share answered in 24 h.

    Definitions in the module docstring. Medians and 90th percentiles (exact, linear
    interpolation) are over the newcomers whose first message got a reply at any time; the 24-h
    share is over newcomers exposed for 24 h. Per period of the first message and overall.

    Reference: the domain spec's *newcomer welcome*; CHAOSS *Newcomer Experience* and *Time to
    First Response* (https://chaoss.community/kb/metric-time-to-first-response/).
    """
    check_period(period)
    t = newcomer_flags(community, include_staff=include_staff, include_bots=include_bots)
    t["period_start"] = period_floor(t["first_at"], period)
    frame = fill_periods(t, data_periods(community, period), _welcome_stats)
    for col in ("newcomers", "answered", "exposed_24h", "answered_24h"):
        frame[col] = frame[col].astype("int64")
    o = _welcome_stats(t)
    return NewcomerWelcome(
        period=period, include_staff=include_staff, include_bots=include_bots, frame=frame, **o
    )


# ---- return after the first message --------------------------------------------------------------
@dataclass(frozen=True)
class NewcomerReturn(Result):
    """Return rate of newcomers answered within 24 h versus not; see :func:`newcomer_return`.

    Attributes
    ----------
    include_staff, include_bots : bool
    window_days : tuple of int
        The return window ``[first + a d, first + b d)``.
    n_answered, returned_answered, rate_answered : int, int, float
        Exposed newcomers answered within 24 h; of them, returned; the rate.
    n_unanswered, returned_unanswered, rate_unanswered
        The same for newcomers not answered within 24 h.
    comparison : ProportionComparison
        :func:`analysis.experiments.two_proportion_test` with ``unanswered`` as control and
        ``answered`` as treatment. **Associational**: who gets answered is not randomised.
    n_excluded : int
        Newcomers left out by ``exclude_members``.
    """

    include_staff: bool
    include_bots: bool
    window_days: tuple[int, int]
    n_answered: int
    returned_answered: int
    rate_answered: float
    n_unanswered: int
    returned_unanswered: int
    rate_unanswered: float
    comparison: ProportionComparison = field(repr=False)
    n_excluded: int = 0
    associational: bool = True
    title: str = "Newcomer return after a reply"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "group": ["answered within 24 h", "not answered within 24 h"],
                "newcomers": [self.n_answered, self.n_unanswered],
                "returned": [self.returned_answered, self.returned_unanswered],
                "rate": [self.rate_answered, self.rate_unanswered],
            }
        )

    def summary(self) -> str:
        c = self.comparison
        a, b = self.window_days
        return (
            f"Newcomers whose first message got a reply within 24 hours came back (wrote again "
            f"between day {a} and day {b}) {format_or_na(self.rate_answered)} of the time "
            f"({self.returned_answered:,} of {self.n_answered:,}), against "
            f"{format_or_na(self.rate_unanswered)} for those not answered "
            f"({self.returned_unanswered:,} of {self.n_unanswered:,}): a difference of "
            f"{c.diff * 100:+.1f} points (95% interval "
            f"{c.diff_ci[0] * 100:+.1f} to {c.diff_ci[1] * 100:+.1f}, p = {c.p_value:.2g}). This "
            f"is an association, not the effect of answering: who gets answered is not random "
            f"({newcomers_counted(self.include_staff, self.include_bots)})."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        sns.barplot(data=self.to_frame(), x="group", y="rate", ax=ax)
        ax.set_ylabel(f"returned in days {self.window_days[0]}-{self.window_days[1]}")
        ax.set_xlabel("")
        ax.set_title("Newcomer return by first-message reply (association)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        keys = (
            "include_staff",
            "include_bots",
            "n_answered",
            "returned_answered",
            "rate_answered",
            "n_unanswered",
            "returned_unanswered",
            "rate_unanswered",
            "n_excluded",
            "associational",
        )
        out = {k: plain_value(getattr(self, k)) for k in keys}
        out["window_days"] = list(self.window_days)
        out["diff"] = float(self.comparison.diff)
        out["diff_ci"] = [float(x) for x in self.comparison.diff_ci]
        out["p_value"] = float(self.comparison.p_value)
        return out


def newcomer_return(
    community: Community,
    *,
    include_staff: bool = False,
    include_bots: bool = False,
    window_days: tuple[int, int] = (7, 35),
    exclude_members: Iterable[str] = (),
    alpha: float = 0.05,
) -> NewcomerReturn:
    """Return rate of newcomers answered within 24 h versus those not, compared.

    Among newcomers exposed for the return window (``first + window_days[1]`` days ≤ data end),
    the share with ≥ 1 message in ``[first + a d, first + b d)`` (default days 7-35, the
    simulator's definition), split by whether their first message was answered within 24 h, and
    compared with a pooled two-proportion z test and Newcombe's interval
    (:func:`analysis.experiments.two_proportion_test`). The comparison is associational.

    Parameters
    ----------
    exclude_members : iterable of str
        Member ids to leave out (e.g. a seeded core team that never churns).

    Raises
    ------
    ValueError
        When either group has no exposed newcomer.
    """
    excluded = set(exclude_members)
    # member ids (strings) come back from the engine only when some are to be left out
    table = newcomer_table if excluded else newcomer_flags
    t = table(
        community,
        include_staff=include_staff,
        include_bots=include_bots,
        return_window_days=window_days,
    )
    keep = ~t["member_id"].isin(excluded) if excluded else pd.Series(True, index=t.index)
    n_excluded = int((~keep).sum())
    t = t[keep & t["exposed_return"]]
    ans = t[t["answered_24h"]]
    una = t[~t["answered_24h"]]
    if ans.empty or una.empty:
        raise ValueError(
            f"newcomer_return needs exposed newcomers both answered within 24 h and not; got "
            f"{len(ans)} answered and {len(una)} unanswered"
        )
    comparison = two_proportion_test(
        int(una["returned"].sum()),
        len(una),
        int(ans["returned"].sum()),
        len(ans),
        alpha=alpha,
        control_name="not answered within 24 h",
        treatment_name="answered within 24 h",
    )
    return NewcomerReturn(
        include_staff=include_staff,
        include_bots=include_bots,
        window_days=tuple(window_days),
        n_answered=len(ans),
        returned_answered=int(ans["returned"].sum()),
        rate_answered=float(ans["returned"].mean()),
        n_unanswered=len(una),
        returned_unanswered=int(una["returned"].sum()),
        rate_unanswered=float(una["returned"].mean()),
        comparison=comparison,
        n_excluded=n_excluded,
    )
