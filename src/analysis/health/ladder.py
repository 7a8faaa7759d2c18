"""The member ladder: newcomer → active → core → mentor → ambassador, by documented rules.

Recognition programmes give members transparent levels (the domain spec, "Member ladder"):
newcomers, active participants, the core (the 5–10 most active, with early access and closed
chats), mentors (who help newcomers) and ambassadors (who bring others). This module assigns every
member a level per period by configurable rules (:class:`LadderRules`, :func:`member_levels`);
:mod:`analysis.health.ladder_moves` counts the moves between consecutive periods and lists members
who nearly qualify for the next level.

Definitions
-----------
Periods
    UTC calendar periods as in :mod:`analysis.health.periods` (``week`` = ISO week starting
    Monday, ``month`` = calendar month), from the period of the first message to the period of
    the last. A period's *end* ``E`` is the start of the next period (exclusive).
Rule window
    The counts the rules use are taken over the ``window_days`` days before the period's end,
    ``[E − window_days, E)`` (default 28 days, the usual "active in the last 4 weeks"); with
    ``window_days=None`` the window is the period itself.
Messages
    Non-``service`` rows of ``messages``.
Members considered
    Members who joined before the period's end (``joined_at < E``); bots never, staff only with
    ``include_staff=True`` (a recognition ladder is for the community, not the brand's team).
Newcomer's first message and first responses to it
    A member's first message is their earliest message in the data (ties broken by
    ``message_id``). Its first response is the earliest message by a *different* non-bot member
    (staff included) whose ``reply_to_id`` is that first message (ties broken by ``message_id``).
    The member who wrote it is credited with one *first response to a newcomer* at its time.
    Bots' replies are ignored; a staff reply does take the first response (a later reply by a
    member is then not a first response).
Referrals
    Members whose ``referred_by`` is the member and who joined before ``E`` (cumulative, not
    windowed: a referral counts from the referred member's join on).

Levels (the highest rule a member meets; every level above newcomer needs the activity rule)
    * ``active``: at least ``active_min_messages`` messages in the rule window;
    * ``core``: active, and among the ``core_top_k`` active members with the most messages in the
      window (ties at the k-th place are all core, so the core can exceed k when members tie);
      the fewest messages a core member has is the period's *core cutoff*;
    * ``mentor``: active, and at least ``mentor_min_first_responses`` first responses to newcomers
      in the window;
    * ``ambassador``: active, and at least ``ambassador_min_referrals`` referrals;
    * members who are not active are ``newcomer`` while ``E − joined_at ≤ newcomer_days``
      (default 31, so a member who joined on the first day of a month is a newcomer at its end),
      and ``inactive`` after that. ``inactive`` is not on the recognition ladder; it keeps lapsed
      members apart from people who just arrived, so that transitions show churn.

The order used for "one step below" is ``newcomer``/``inactive`` → ``active`` → ``core`` →
``mentor`` → ``ambassador``.

Computation: the per-member counts are aggregated on the engine
(:mod:`analysis.health.ladder_counts`: only integer rows per member and period window come back)
and the levels are assigned in numpy on ``periods × members`` matrices
(:class:`analysis.health.ladder_grid.LadderGrid`). The transitions and promotion candidates read
those matrices; the long frame (one row per period and member) is built from them in its final
order, without sorting strings, the first time ``LadderLevels.frame`` is read.

Reference: the ladder follows the recognition-programme levels of the domain spec
(``shared/spec/domain.md``); "active in the last 28 days" follows the common 28-day activity
window of product analytics (a monthly active user seen in the last four full weeks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.ladder_counts import LadderCounts, ladder_counts
from analysis.health.ladder_grid import LEVELS, LadderGrid, LazyFrame, stored_grid
from analysis.health.periods import Period, check_period
from analysis.results import Result

__all__ = [
    "DEFAULT_RULES",
    "LADDER",
    "LEVELS",
    "LadderLevels",
    "LadderRules",
    "member_levels",
]

#: The rung of each level (0 = bottom).
LADDER = {"inactive": 0, "newcomer": 0, "active": 1, "core": 2, "mentor": 3, "ambassador": 4}
_CODE = {level: i for i, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class LadderRules:
    """Thresholds of the member ladder (see the module docstring for the exact rules).

    Attributes
    ----------
    window_days : int or None
        Length of the rule window ending at the period's end; ``None`` = the period itself.
    active_min_messages : int
        Messages in the window needed to be ``active`` (default 4, about one a week).
    core_top_k : int
        Size of the core: the k active members with the most messages (ties included).
    mentor_min_first_responses : int
        First responses to newcomers' first messages in the window needed for ``mentor``.
    ambassador_min_referrals : int
        Referred members (cumulative) needed for ``ambassador``.
    newcomer_days : int
        A non-active member is a ``newcomer`` while the period's end is at most this many days
        after their join, ``inactive`` afterwards.
    """

    window_days: int | None = 28
    active_min_messages: int = 4
    core_top_k: int = 10
    mentor_min_first_responses: int = 3
    ambassador_min_referrals: int = 3
    newcomer_days: int = 31

    def __post_init__(self) -> None:
        for name in (
            "active_min_messages",
            "core_top_k",
            "mentor_min_first_responses",
            "ambassador_min_referrals",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"LadderRules.{name} must be at least 1, got {getattr(self, name)}"
                )
        if self.window_days is not None and self.window_days < 1:
            raise ValueError(f"LadderRules.window_days must be ≥ 1 or None, got {self.window_days}")
        if self.newcomer_days < 0:
            raise ValueError(f"LadderRules.newcomer_days must be ≥ 0, got {self.newcomer_days}")


#: The default thresholds (:class:`LadderRules` with no arguments), the default of every ladder
#: function.
DEFAULT_RULES = LadderRules()


# --------------------------------------------------------------------------------- the levels


@dataclass(frozen=True)
class LadderLevels(Result):
    """Each member's ladder level in each period.

    Attributes
    ----------
    period : str
        ``week`` or ``month`` (or ``day``).
    rules : LadderRules
        The thresholds used.
    include_staff : bool
        Whether staff accounts were placed on the ladder.
    frame : pandas.DataFrame
        One row per period and member who had joined by the period's end, ordered by
        ``(period_start, member_id)``: ``period_start`` (naive UTC), ``window_end`` (the period's
        end, exclusive), ``member_id`` (pseudonym; a ``pandas.Categorical`` whose categories are
        the members on the ladder in sorted order), ``level`` (a ``pandas.Categorical`` with the
        categories :data:`LEVELS` in that order, unordered), ``messages`` and
        ``first_responses`` (in the rule window), ``referrals`` (cumulative; these three
        ``int64``), ``core_cutoff`` (fewest messages among the period's core; NaN without
        active members) and ``complete`` (False for the period the data ends inside). Compare
        or merge ``member_id``/``level`` as strings with ``.astype(str)`` if needed. Built
        from the level matrices on first read when the levels come from :func:`member_levels`
        (:class:`analysis.health.ladder_grid.LazyFrame`; the transitions and promotion
        candidates read the matrices and never need it).
    """

    period: str
    rules: LadderRules
    include_staff: bool
    frame: pd.DataFrame = field(repr=False)
    title: str = "Member ladder"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def counts(self) -> pd.DataFrame:
        """Members per level (columns, in :data:`LEVELS` order) per period (rows)."""
        table = pd.crosstab(self.frame["period_start"], self.frame["level"])
        return table.reindex(columns=list(LEVELS), fill_value=0)

    def summary(self) -> str:
        # from the level matrices when the frame has not been built (same counts)
        grid = stored_grid(self)
        if grid is not None:
            done = np.flatnonzero(grid.has_rows & grid.complete)
            if not len(done):
                return "No complete period, so no ladder levels to describe yet."
            p = done[-1]
            last = grid.starts[p]
            row = grid.level[p]
            tally = np.bincount(row[row >= 0], minlength=len(LEVELS))
            counts = pd.Series(tally, index=list(LEVELS))
        else:
            done_rows = self.frame[self.frame["complete"]]
            if done_rows.empty:
                return "No complete period, so no ladder levels to describe yet."
            last = done_rows["period_start"].max()
            counts = done_rows.loc[done_rows["period_start"] == last, "level"].value_counts()
        parts = [f"{int(counts.get(lv, 0)):,} {lv}" for lv in LEVELS[1:]]
        return (
            f"In the {self.period} starting {last.date()}, the ladder had "
            + ", ".join(parts)
            + f" ({int(counts.get('inactive', 0)):,} earlier members were inactive). Active = "
            f"≥{self.rules.active_min_messages} messages in {_window_words(self.rules)}; core = "
            f"the {self.rules.core_top_k} most active; mentor = "
            f"≥{self.rules.mentor_min_first_responses} first responses to newcomers; ambassador "
            f"= ≥{self.rules.ambassador_min_referrals} referrals."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        counts = self.counts()[list(LEVELS[2:])].reset_index()
        long = counts.melt(id_vars="period_start", var_name="level", value_name="members")
        sns.lineplot(data=long, x="period_start", y="members", hue="level", ax=ax)
        ax.set_xlabel(f"{self.period} (UTC)")
        ax.set_ylabel("members")
        ax.set_title("Members per ladder level")
        return ax


# ``frame`` is read through a descriptor: a DataFrame, or the level grid turned into one on read
_LAZY_FRAME = LazyFrame()
_LAZY_FRAME.__set_name__(LadderLevels, "frame")
LadderLevels.frame = _LAZY_FRAME  # type: ignore[assignment]


def _window_words(rules: LadderRules) -> str:
    return "the period" if rules.window_days is None else f"the last {rules.window_days} days"


def member_levels(
    community: Community,
    *,
    period: Period = "month",
    rules: LadderRules = DEFAULT_RULES,
    include_staff: bool = False,
) -> LadderLevels:
    """Assign every member a ladder level in every period.

    Parameters
    ----------
    community : Community
    period : {"week", "month", "day"}
        UTC calendar periods (ISO weeks start Monday).
    rules : LadderRules
        Thresholds (defaults: 28-day window, active ≥ 4 messages, core = top 10, mentor ≥ 3
        first responses to newcomers, ambassador ≥ 3 referrals, newcomer for 31 days).
    include_staff : bool
        Place staff accounts on the ladder too (default no). Bots never are.

    Returns
    -------
    LadderLevels
        Per period and member: level and the counts behind it (definitions in the module
        docstring).
    """
    check_period(period)
    counts = ladder_counts(
        community, period=period, window_days=rules.window_days, include_staff=include_staff
    )
    if counts is None:
        return LadderLevels(period, rules, include_staff, _empty_frame())
    last = community.last_message_at().tz_convert(None)
    grid = _levels_grid(counts, rules, last)
    return LadderLevels(period, rules, include_staff, grid)  # type: ignore[arg-type]


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period_start": pd.Series(dtype="datetime64[ns]"),
            "window_end": pd.Series(dtype="datetime64[ns]"),
            "member_id": pd.Categorical([], categories=pd.Index([], dtype=object)),
            "level": pd.Categorical([], categories=list(LEVELS)),
            **{c: pd.Series(dtype="int64") for c in ("messages", "first_responses", "referrals")},
            "core_cutoff": pd.Series(dtype="float64"),
            "complete": pd.Series(dtype="bool"),
        }
    )


def _level_codes(
    counts: LadderCounts, rules: LadderRules, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Level (index into :data:`LEVELS`) per period and member, and each period's core cutoff."""
    msgs = counts.messages
    active = present & (msgs >= rules.active_min_messages)
    cutoff = np.full(len(msgs), np.nan)
    for p in range(len(msgs)):
        values = msgs[p][active[p]]
        if len(values):
            k = min(rules.core_top_k, len(values))
            cutoff[p] = float(np.partition(values, len(values) - k)[len(values) - k])
    with np.errstate(invalid="ignore"):
        core = active & (msgs >= cutoff[:, None])
    mentor = active & (counts.first_responses >= rules.mentor_min_first_responses)
    ambassador = active & (counts.referrals >= rules.ambassador_min_referrals)
    # newcomer while E − joined_at ≤ newcomer_days (integer nanoseconds, exact)
    limit = counts.ends.to_numpy() - np.timedelta64(rules.newcomer_days, "D")
    newcomer = counts.joined[None, :] >= limit[:, None]
    level = np.full(msgs.shape, _CODE["inactive"], dtype=np.int8)
    level[newcomer] = _CODE["newcomer"]
    for name, mask in (("active", active), ("core", core), ("mentor", mentor)):
        level[mask] = _CODE[name]
    level[ambassador] = _CODE["ambassador"]
    return level, cutoff


def _levels_grid(counts: LadderCounts, rules: LadderRules, last: pd.Timestamp) -> LadderGrid:
    """Levels and counts per period and member (-1 = not joined by the period's end)."""
    ends = counts.ends.to_numpy()
    present = counts.joined[None, :] < ends[:, None]  # NaT joins are never present
    level, cutoff = _level_codes(counts, rules, present)
    level[~present] = -1
    return LadderGrid(
        member_ids=counts.member_ids,
        starts=counts.starts,
        ends=counts.ends,
        level=level,
        messages=counts.messages,
        first_responses=counts.first_responses,
        referrals=counts.referrals,
        core_cutoff=cutoff,
        complete=ends <= last.to_datetime64(),
    )
