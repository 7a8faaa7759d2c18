"""Moves on the member ladder: transitions between periods and members close to the next level.

Built on the levels of :func:`analysis.health.ladder.member_levels` (rules, definitions and the
level order are in :mod:`analysis.health.ladder`). :func:`ladder_transitions` counts the moves
between consecutive periods; :func:`promotion_candidates` lists members one rung below a level who
nearly meet its rule, with the reason in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.health.ladder import (
    DEFAULT_RULES,
    LADDER,
    LEVELS,
    LadderLevels,
    LadderRules,
    member_levels,
)
from analysis.health.ladder_grid import grid_of
from analysis.health.periods import Period
from analysis.results import Result

__all__ = [
    "LadderTransitions",
    "PromotionCandidates",
    "ladder_transitions",
    "promotion_candidates",
]

#: The level a member at each level is promoted to (``ambassador`` is the top).
_NEXT = {"inactive": "active", "newcomer": "active", "active": "core", "core": "mentor"}
_NEXT["mentor"] = "ambassador"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------- transitions


@dataclass(frozen=True)
class LadderTransitions(Result):
    """Moves between ladder levels from one period to the next, pooled over periods.

    Attributes
    ----------
    period : str
    counts : pandas.DataFrame
        Rows = level in period t (plus ``joined``: members who joined during period t+1 and so
        had no level in t), columns = level in period t+1; cell = number of (member, t) pairs.
    shares : pandas.DataFrame
        ``counts`` divided by its row sums (rows without members are NaN).
    n_periods : int
        Number of consecutive period pairs pooled.
    """

    period: str
    counts: pd.DataFrame = field(repr=False)
    shares: pd.DataFrame = field(repr=False)
    n_periods: int = 0
    title: str = "Ladder transitions"

    def to_frame(self) -> pd.DataFrame:
        return self.counts.copy()

    def summary(self) -> str:
        c = self.counts
        if c.to_numpy().sum() == 0:
            return "Fewer than two complete periods, so no transitions to count."
        up = sum(
            int(c.loc[a, b])
            for a in c.index
            for b in c.columns
            if a != "joined" and LADDER[b] > LADDER[a]
        )
        down = sum(
            int(c.loc[a, b])
            for a in c.index
            for b in c.columns
            if a != "joined" and LADDER[b] < LADDER[a]
        )
        kept = self.shares.loc["active", "active":].sum() if "active" in self.shares.index else 0
        return (
            f"Over {self.n_periods} {self.period}-to-{self.period} steps, members moved up a "
            f"rung {up:,} times and down {down:,} times; {kept:.0%} of active members stayed "
            f"active or rose the next {self.period}."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 5))
        sns.heatmap(
            self.shares.fillna(0.0),
            annot=self.counts,
            fmt="d",
            cmap="Blues",
            vmin=0,
            vmax=1,
            cbar_kws={"label": "share of the row"},
            ax=ax,
        )
        ax.set_xlabel(f"level in the next {self.period}")
        ax.set_ylabel(f"level in this {self.period}")
        ax.set_title("Ladder transitions (colour: row share; numbers: members)")
        return ax


def ladder_transitions(
    community: Community | None = None,
    *,
    period: Period = "month",
    rules: LadderRules = DEFAULT_RULES,
    include_staff: bool = False,
    levels: LadderLevels | None = None,
    complete_only: bool = True,
) -> LadderTransitions:
    """Count moves between ladder levels from each period to the next.

    Parameters
    ----------
    community : Community, optional
        Needed unless ``levels`` is given.
    period, rules, include_staff
        As in :func:`member_levels` (ignored when ``levels`` is given).
    levels : LadderLevels, optional
        Reuse levels already computed.
    complete_only : bool
        Leave out the period the data ends inside (its counts are partial).

    Returns
    -------
    LadderTransitions
        For every pair of consecutive periods (t, t+1) and every member with a level in t+1:
        one count in row ``level(t)`` (``joined`` if they joined during t+1), column
        ``level(t+1)``; pooled over all pairs, with row shares.
    """
    if levels is None:
        if community is None:
            raise ValueError("give a community or precomputed levels")
        levels = member_levels(community, period=period, rules=rules, include_staff=include_staff)
    grid = grid_of(levels)
    # periods with rows (some member had joined by the end), complete ones if asked
    keep = grid.has_rows & (grid.complete if complete_only else True)
    # level[t, m] = index into LEVELS of member m in period t; -1 = no row (not joined yet)
    level = grid.level[keep]
    n_periods = len(level)
    n_from, n_to = 1 + len(LEVELS), len(LEVELS)
    pooled = np.zeros(n_from * n_to, dtype=np.int64)
    for t in range(n_periods - 1):
        after = level[t + 1]
        there = after >= 0
        pooled += np.bincount((level[t][there] + 1) * n_to + after[there], minlength=n_from * n_to)
    rows = ["joined", *LEVELS]
    counts = pd.DataFrame(
        pooled.reshape(n_from, n_to),
        index=pd.Index(rows, name="from"),
        columns=pd.Index(LEVELS, name="to"),
    )
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0)
    return LadderTransitions(
        period=levels.period, counts=counts, shares=shares, n_periods=max(n_periods - 1, 0)
    )


# ----------------------------------------------------------------------- promotion candidates


@dataclass(frozen=True)
class PromotionCandidates(Result):
    """Members one rung below a level who nearly meet its rule.

    Attributes
    ----------
    period_start : pandas.Timestamp
        The period assessed.
    near : float
        A member is a candidate when ``near × needed ≤ value < needed``.
    frame : pandas.DataFrame
        ``member_id`` (pseudonym), ``level``, ``target``, ``value``, ``needed``, ``progress``
        (value ÷ needed) and ``reason`` (in words), closest to promotion first.
    """

    period_start: pd.Timestamp
    near: float
    frame: pd.DataFrame = field(repr=False)
    title: str = "Promotion candidates"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        if self.frame.empty:
            return (
                f"No member is within {1 - self.near:.0%} of the next level in the period "
                f"starting {self.period_start.date()}."
            )
        by = self.frame["target"].value_counts()
        parts = ", ".join(f"{int(by[t])} for {t}" for t in LEVELS if t in by)
        return (
            f"{len(self.frame)} members nearly qualify for the next level in the period "
            f"starting {self.period_start.date()}: {parts}."
        )


def promotion_candidates(
    community: Community | None = None,
    *,
    period: Period = "month",
    rules: LadderRules = DEFAULT_RULES,
    include_staff: bool = False,
    at: Any = None,
    near: float = 0.75,
    levels: LadderLevels | None = None,
) -> PromotionCandidates:
    """Members one rung below a level who meet at least ``near`` of its rule's threshold.

    Parameters
    ----------
    community : Community, optional
        Needed unless ``levels`` is given.
    period, rules, include_staff
        As in :func:`member_levels` (ignored when ``levels`` is given).
    at : date-like, optional
        Any time inside the period to assess (UTC); default the last complete period.
    near : float
        Fraction of the threshold that counts as "nearly" (default 0.75).
    levels : LadderLevels, optional
        Reuse levels already computed.

    Returns
    -------
    PromotionCandidates
        One row per candidate. The rule checked is the *target* level's own: newcomers and
        inactive members → ``active`` (messages in the window vs ``active_min_messages``);
        active → ``core`` (messages vs the period's core cutoff); core → ``mentor`` (first
        responses to newcomers vs ``mentor_min_first_responses``); mentor → ``ambassador``
        (referrals vs ``ambassador_min_referrals``). Reasons read e.g. "12 first responses to
        newcomers' first messages in the 28 days to 2024-05-31; needs 15 for mentor".
    """
    if not 0 < near <= 1:
        raise ValueError(f"near must be in (0, 1], got {near}")
    if levels is None:
        if community is None:
            raise ValueError("give a community or precomputed levels")
        levels = member_levels(community, period=period, rules=rules, include_staff=include_staff)
    rules = levels.rules
    grid = grid_of(levels)
    with_rows = grid.has_rows
    starts = grid.starts.to_numpy()
    if at is None:
        done = with_rows & grid.complete
        if not done.any():
            raise ValueError("no complete period to assess; pass at=<a date in the period>")
        p = int(np.flatnonzero(done)[np.argmax(starts[done])])
    else:
        when = utc_timestamp(at).tz_convert(None).to_datetime64()
        inside = with_rows & (starts <= when) & (grid.ends.to_numpy() > when)
        if not inside.any():
            raise ValueError(f"no period of the data contains {at!r}")
        p = int(np.argmax(inside))
    start = starts[p]
    end = grid.ends[p]
    last_day = (end - pd.Timedelta(days=1)).date()
    window = (
        f"in the {levels.period} to {last_day}"
        if rules.window_days is None
        else f"in the {rules.window_days} days to {last_day}"
    )
    present = grid.level[p] >= 0
    rows = {
        "member_id": grid.member_ids[present],
        "level": grid.level[p][present],
        "messages": grid.messages[p][present],
        "first_responses": grid.first_responses[p][present],
        "referrals": grid.referrals[p][present],
    }
    cutoff = float(grid.core_cutoff[p])
    result = _candidates(rows, rules, cutoff, near, window, last_day)
    result = result.sort_values(["progress", "member_id"], ascending=[False, True])
    return PromotionCandidates(
        period_start=pd.Timestamp(start), near=near, frame=result.reset_index(drop=True)
    )


#: Target level of each level (index into LEVELS; -1 for the top).
_TARGET = np.array([LEVELS.index(_NEXT[lv]) if lv in _NEXT else -1 for lv in LEVELS])


def _candidates(
    rows: dict[str, np.ndarray],
    rules: LadderRules,
    cutoff: float,
    near: float,
    window: str,
    last_day: Any,
) -> pd.DataFrame:
    """The candidate rows (unsorted) of one period's ladder rows (arrays: ``member_id``,
    ``level`` codes and the three counts); rules in the docstring above."""
    level = rows["level"]
    target = _TARGET[level]
    msgs = rows["messages"].astype(np.int64)
    resp = rows["first_responses"].astype(np.int64)
    refs = rows["referrals"].astype(np.int64)
    rule = {
        "active": (msgs, rules.active_min_messages),
        "core": (msgs, 0 if np.isnan(cutoff) else int(cutoff)),
        "mentor": (resp, rules.mentor_min_first_responses),
        "ambassador": (refs, rules.ambassador_min_referrals),
    }
    value = np.zeros(len(level), dtype=np.int64)
    needed = np.zeros(len(level), dtype=np.int64)
    for name, (values, threshold) in rule.items():
        mine = target == LEVELS.index(name)
        value[mine], needed[mine] = values[mine], threshold
    valid = (target >= 0) & ~((target == LEVELS.index("core")) & np.isnan(cutoff))
    take = np.flatnonzero(valid & (near * needed <= value) & (value < needed))
    value, needed, target, level = value[take], needed[take], target[take], level[take]
    names = np.array(LEVELS, dtype=object)
    reasons = [
        _reason(LEVELS[t], int(v), int(n), rules, window, last_day)
        for t, v, n in zip(target, value, needed, strict=True)
    ]
    return pd.DataFrame(
        {
            "member_id": np.asarray(rows["member_id"][take], dtype=object),
            "level": names[level],
            "target": names[target],
            "value": value,
            "needed": needed,
            "progress": value / np.where(needed > 0, needed, 1),
            "reason": pd.Series(reasons, dtype=object),
        }
    )


def _reason(
    target: str, value: int, needed: int, rules: LadderRules, window: str, last_day: Any
) -> str:
    """The reason of one candidate, in words (examples in :func:`promotion_candidates`)."""
    if target == "active":
        return f"{_plural(value, 'message')} {window}; needs {needed} for active"
    if target == "core":
        return (
            f"{_plural(value, 'message')} {window}; needs {needed} for core (the fewest "
            f"messages among the {rules.core_top_k} most active members)"
        )
    if target == "mentor":
        return (
            f"{_plural(value, 'first response')} to newcomers' first messages {window}; "
            f"needs {needed} for mentor"
        )
    return f"{_plural(value, 'referred member')} by {last_day}; needs {needed} for ambassador"
