"""Repeat contribution: do newcomers write again within k days?

:func:`repeat_contribution` on the newcomer table of :mod:`analysis.health.newcomer_table`, whose
module docstring defines newcomers, first messages and repeat contribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.health.newcomer_table import fill_periods, newcomer_flags, newcomers_counted
from analysis.health.period_results import format_or_na, period_lineplot, plain_value
from analysis.health.periods import Period, check_period, data_periods, period_floor
from analysis.results import Result

__all__ = ["RepeatContribution", "repeat_contribution"]


@dataclass(frozen=True)
class RepeatContribution(Result):
    """Share of newcomers who write again within k days; see :func:`repeat_contribution`.

    Attributes
    ----------
    period : str
    include_staff, include_bots : bool
    days : tuple of int
    overall : dict
        Per ``k``: ``{"exposed", "repeated", "share"}``.
    frame : pandas.DataFrame
        Per period × ``days``: ``exposed``, ``repeated``, ``share``.
    """

    period: str
    include_staff: bool
    include_bots: bool
    days: tuple[int, ...]
    overall: dict[int, dict[str, Any]]
    frame: pd.DataFrame = field(repr=False)
    title: str = "Repeat contribution"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        parts = [
            f"{format_or_na(o['share'])} wrote again within {k} days ({o['repeated']:,} of "
            f"{o['exposed']:,})"
            for k, o in self.overall.items()
        ]
        return (
            "After their first message, "
            + "; ".join(parts)
            + f" ({newcomers_counted(self.include_staff, self.include_bots)})."
        )

    def plot(self, ax: Any = None) -> Any:
        f = self.frame.assign(within=self.frame["days"].astype(str) + " days")
        return period_lineplot(
            f, "share", "within", ax, f"Newcomers writing again, per {self.period}", "share"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "days": list(self.days),
            "overall": {
                str(k): {kk: plain_value(vv) for kk, vv in o.items()}
                for k, o in self.overall.items()
            },
        }


def repeat_contribution(
    community: Community,
    *,
    days: Sequence[int] = (7, 30),
    period: Period = "week",
    include_staff: bool = False,
    include_bots: bool = False,
) -> RepeatContribution:
    """Share of newcomers whose first message is followed by another within ``k`` days.

    For each ``k`` in ``days``: ``exposed`` = newcomers whose first message is ≥ ``k`` days
    before the data end; ``repeated`` = those of them with another non-service message in
    ``(first, first + k d]``; ``share`` = repeated ÷ exposed. Per period of the first message
    and overall.

    Reference: the domain spec's *repeat contribution*; CHAOSS *Contributor* retention.
    """
    check_period(period)
    days = tuple(int(k) for k in days)
    t = newcomer_flags(
        community, include_staff=include_staff, include_bots=include_bots, repeat_days=days
    )
    t["period_start"] = period_floor(t["first_at"], period)
    index = data_periods(community, period)
    parts = []
    overall = {}
    for k in days:
        exp, rep = t[f"exposed_{k}d"], t[f"repeat_{k}d"]

        def stats(g: pd.DataFrame, exp_col=f"exposed_{k}d", rep_col=f"repeat_{k}d") -> dict:
            e = int(g[exp_col].sum())
            r = int((g[exp_col] & g[rep_col]).sum())
            return {"exposed": e, "repeated": r}

        part = fill_periods(t, index, stats)
        part.insert(1, "days", k)
        parts.append(part)
        e, r = int(exp.sum()), int((exp & rep).sum())
        overall[k] = {"exposed": e, "repeated": r, "share": r / e if e else float("nan")}
    frame = pd.concat(parts, ignore_index=True)
    for col in ("exposed", "repeated"):
        frame[col] = frame[col].astype("int64")
    frame["share"] = frame["repeated"] / frame["exposed"].where(frame["exposed"] > 0)
    frame = frame.sort_values(["period_start", "days"], kind="stable").reset_index(drop=True)
    return RepeatContribution(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        days=days,
        overall=overall,
        frame=frame,
    )
