"""Cohort retention: the join cohort × periods-since-join matrix (:func:`cohort_retention`).

Optionally split by acquisition source. Active members and periods as in
:mod:`analysis.health.active_periods`; aggregated on the engine, only per-cohort counts come back.

Reference: Amplitude, "Retention analysis" (N-day retention from the start event,
https://amplitude.com/docs/analytics/charts/retention-analysis/retention-analysis-interpret).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community, naive_utc, utc_timestamp
from analysis.health.active_periods import MASK_BITS, bit_or, mask_bit, members_counted
from analysis.health.activity import members_included
from analysis.health.member_days import member_days
from analysis.health.periods import epoch_seconds, period_start_expr
from analysis.results import Result

__all__ = ["CohortRetention", "cohort_retention"]


_COHORT_DAYS = {"week": 7, "month": 30}


def _check_cohort(cohort: str) -> None:
    if cohort not in _COHORT_DAYS:
        raise ValueError(f"cohort must be one of {list(_COHORT_DAYS)}, got {cohort!r}")


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
        who = members_counted(self.include_staff, self.include_bots)
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


def _active_cells_expr(
    community: Community,
    m: Any,
    keys: list[str],
    length: int,
    max_periods: int,
) -> Any:
    """Members active per cohort and period: one row per cohort (``keys``) with ``active_<k>``
    for ``k`` = 0 … ``max_periods − 1`` (ibis expression).

    From the member-day table (:func:`analysis.health.member_days.member_days`): an event at
    ``s`` falls in period ``k = (s − joined_s) // length`` when ``s ≥ joined_s``. A UTC day
    lasts less than one period (7 or 30 days), so the events of one member-day fall in at most
    two consecutive periods, those of its first and last event: the periods of the day are
    ``k(last_s)`` and, when ``first_s ≥ joined_s``, ``k(first_s)`` (if ``first_s`` precedes the
    join, the day's events after the join lie within a day of it, in period ``k(last_s) = 0``).
    Exactly the cells of counting every event. Each member's periods are collected as a bit
    mask (``bit_or`` over their days, 63 bits per word, as in
    :mod:`analysis.health.active_periods`) and the bits summed per cohort, so a member active
    on many days of a period counts once without a distinct count.
    """
    # the join with the counted members `m` drops the others
    days = member_days(community)
    j = days.join(m, days.member_id == m.member_id)
    j = j.filter(j.last_s >= j.joined_s)
    lo = ibis.ifelse(j.first_s >= j.joined_s, j.first_s, j.last_s) - j.joined_s
    hi = j.last_s - j.joined_s
    spans = j.select(
        member_id=j.member_id, k_lo=lo // length, k_hi=hi // length, **{k: j[k] for k in keys}
    )
    spans = spans.filter(spans.k_lo < max_periods)
    # the day's periods as bits: k_lo, and k_lo + 1 when the day reaches into it
    reaches = (spans.k_hi > spans.k_lo) & (spans.k_lo + 1 < max_periods)
    words = {
        f"w{w}": bit_or(mask_bit(spans.k_lo, w) | mask_bit(spans.k_lo + 1, w, reaches))
        for w in range(-(-max_periods // MASK_BITS))
    }
    per = spans.group_by("member_id").aggregate(**{k: spans[k].min() for k in keys}, **words)
    return per.group_by(keys).aggregate(
        **{
            f"active_{k}": ((per[f"w{k // MASK_BITS}"] >> (k % MASK_BITS)) & 1).sum().cast("int64")
            for k in range(max_periods)
        }
    )


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
        joined_s=epoch_seconds(members.joined_at),
        cohort_start=period_start_expr(members.joined_at, cohort),
        source=members.source.fill_null("unknown"),
    )
    keys = ["source", "cohort_start"] if by else ["cohort_start"]
    wide = community.execute(_active_cells_expr(community, m, keys, length, max_periods))
    active = wide.melt(id_vars=keys, var_name="period", value_name="active")
    active["period"] = active["period"].str.removeprefix("active_").astype("int64")
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
        frame["cohort_start"] = naive_utc(frame["cohort_start"])
    sizes["first_join"] = naive_utc(sizes["first_join"])
    sizes["last_join"] = naive_utc(sizes["last_join"])
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
