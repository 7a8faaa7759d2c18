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

Reference: the ladder follows the recognition-programme levels of the domain spec
(``shared/spec/domain.md``); "active in the last 28 days" follows the common 28-day activity
window of product analytics (a monthly active user seen in the last four full weeks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.activity import members_included
from analysis.health.periods import Period, check_period, period_end, period_index
from analysis.results import Result

__all__ = [
    "DEFAULT_RULES",
    "LADDER",
    "LEVELS",
    "LadderLevels",
    "LadderRules",
    "member_levels",
]

#: Every level, lowest first (``inactive`` and ``newcomer`` share the bottom rung).
LEVELS = ("inactive", "newcomer", "active", "core", "mentor", "ambassador")
#: The rung of each level (0 = bottom).
LADDER = {"inactive": 0, "newcomer": 0, "active": 1, "core": 2, "mentor": 3, "ambassador": 4}


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


# ------------------------------------------------------------------------- engine aggregates


def _daily_messages(community: Community, members: Any) -> pd.DataFrame:
    msgs = community.messages.filter(community.messages.kind != "service")
    msgs = msgs.semi_join(members, msgs.member_id == members.member_id)
    per_day = msgs.select(member_id=msgs.member_id, day=msgs.created_at.truncate("D"))
    expr = per_day.group_by(["member_id", "day"]).aggregate(n=per_day.count())
    return community.execute(expr)


def _first_responses(community: Community) -> pd.DataFrame:
    """``responder``, ``at`` and ``newcomer`` of every first response to a first message."""
    members = community.members
    msgs = community.messages.filter(community.messages.kind != "service")
    humans = members.filter(~members.is_bot)
    msgs = msgs.semi_join(humans, msgs.member_id == humans.member_id)
    ranked = msgs.mutate(
        _rn=ibis.row_number().over(
            group_by=msgs.member_id, order_by=[msgs.created_at, msgs.message_id]
        )
    )
    firsts = ranked.filter(ranked._rn == 0).select(
        first_id=ranked.message_id, newcomer=ranked.member_id
    )
    replies = msgs.select(
        reply_id=msgs.message_id,
        reply_to_id=msgs.reply_to_id,
        responder=msgs.member_id,
        at=msgs.created_at,
    )
    joined = replies.join(
        firsts,
        (replies.reply_to_id == firsts.first_id) & (replies.responder != firsts.newcomer),
    )
    ranked = joined.mutate(
        _rn=ibis.row_number().over(group_by=joined.first_id, order_by=[joined.at, joined.reply_id])
    )
    first = ranked.filter(ranked._rn == 0).select("responder", "at", "newcomer")
    out = community.execute(first)
    out["at"] = pd.to_datetime(out["at"], utc=True).dt.tz_convert(None)
    return out


def _referrals(community: Community) -> pd.DataFrame:
    m = community.members
    expr = m.filter(m.referred_by.notnull()).select(referrer=m.referred_by, at=m.joined_at)
    out = community.execute(expr)
    out["at"] = pd.to_datetime(out["at"], utc=True).dt.tz_convert(None)
    return out


def _window_counts(
    codes: np.ndarray,
    times: np.ndarray,
    weights: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    n: int,
) -> np.ndarray:
    """``out[p, m]`` = Σ weights of member code ``m`` with ``starts[p] ≤ time < ends[p]``."""
    order = np.argsort(times, kind="stable")
    codes, times, weights = codes[order], times[order], weights[order]
    lo = np.searchsorted(times, starts, side="left")
    hi = np.searchsorted(times, ends, side="left")
    out = np.zeros((len(starts), n), dtype=np.int64)
    for p, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if b > a:
            out[p] = np.bincount(codes[a:b], weights=weights[a:b], minlength=n).astype(np.int64)
    return out


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
        One row per period and member who had joined by the period's end: ``period_start``
        (naive UTC), ``window_end`` (the period's end, exclusive), ``member_id`` (pseudonym),
        ``level``, ``messages`` and ``first_responses`` (in the rule window), ``referrals``
        (cumulative), ``core_cutoff`` (fewest messages among the period's core; NaN without
        active members) and ``complete`` (False for the period the data ends inside).
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
        done = self.frame[self.frame["complete"]]
        if done.empty:
            return "No complete period, so no ladder levels to describe yet."
        last = done["period_start"].max()
        counts = done.loc[done["period_start"] == last, "level"].value_counts()
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
    members_expr = members_included(community, include_staff=include_staff, include_bots=False)
    members = community.execute(members_expr.select("member_id", "joined_at"))
    daily = _daily_messages(community, members_expr)
    columns = [
        "period_start",
        "window_end",
        "member_id",
        "level",
        "messages",
        "first_responses",
        "referrals",
        "core_cutoff",
        "complete",
    ]
    if daily.empty or members.empty:
        return LadderLevels(period, rules, include_staff, pd.DataFrame(columns=columns))
    responses = _first_responses(community)
    referrals = _referrals(community)

    ids = members["member_id"].astype(str).to_numpy()
    code = pd.Index(ids)
    joined = pd.to_datetime(members["joined_at"], utc=True).dt.tz_convert(None).to_numpy()
    daily["day"] = pd.to_datetime(daily["day"], utc=True).dt.tz_convert(None)
    starts = period_index(daily["day"].min(), daily["day"].max(), period)
    ends = pd.DatetimeIndex(period_end(pd.Series(starts), period))
    if rules.window_days is None:
        win_starts = starts
    else:
        win_starts = ends - pd.Timedelta(days=rules.window_days)

    def counts(who: pd.Series, at: pd.Series, weights: Any, lower: Any) -> np.ndarray:
        pos = code.get_indexer(who.astype(str))
        keep = pos >= 0
        w = np.ones(len(pos)) if weights is None else np.asarray(weights, dtype=float)
        return _window_counts(
            pos[keep],
            at.to_numpy(dtype="datetime64[ns]")[keep],
            w[keep],
            np.asarray(lower, dtype="datetime64[ns]"),
            ends.to_numpy(),
            len(ids),
        )

    n_msgs = counts(daily["member_id"], daily["day"], daily["n"], win_starts)
    n_resp = counts(responses["responder"], responses["at"], None, win_starts)
    far_past = np.full(len(ends), np.datetime64("1677-09-22", "ns"))
    n_refs = counts(referrals["referrer"], referrals["at"], None, far_past)

    last = community.last_message_at().tz_convert(None)
    frames = []
    for p, (start, end) in enumerate(zip(starts, ends, strict=True)):
        present = joined < end.to_datetime64()
        msgs, resp, refs = n_msgs[p][present], n_resp[p][present], n_refs[p][present]
        active = msgs >= rules.active_min_messages
        if active.any():
            ordered = np.sort(msgs[active])[::-1]
            cutoff = float(ordered[min(rules.core_top_k, len(ordered)) - 1])
        else:
            cutoff = np.nan
        core = active & (msgs >= cutoff)
        mentor = active & (resp >= rules.mentor_min_first_responses)
        ambassador = active & (refs >= rules.ambassador_min_referrals)
        age_days = (end.to_datetime64() - joined[present]) / np.timedelta64(1, "D")
        level = np.where(age_days <= rules.newcomer_days, "newcomer", "inactive").astype(object)
        level[active] = "active"
        level[core] = "core"
        level[mentor] = "mentor"
        level[ambassador] = "ambassador"
        frames.append(
            pd.DataFrame(
                {
                    "period_start": start,
                    "window_end": end,
                    "member_id": ids[present],
                    "level": level,
                    "messages": msgs,
                    "first_responses": resp,
                    "referrals": refs,
                    "core_cutoff": cutoff,
                    "complete": end <= last,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(["period_start", "member_id"], ignore_index=True)
    return LadderLevels(period, rules, include_staff, frame[columns])
