"""The community health study in one call: every series, the checks, and the headline findings.

:func:`health_overview` runs the health metrics of this package on one community (optionally a
date window and extra staff ids) and returns :class:`HealthOverview`, whose
:meth:`~HealthOverview.findings` are the 3–5 plain-language statements a report opens with.
Every number in them comes from a result object whose docstring defines it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.health.activity import ActivitySeries, activity
from analysis.health.channels import activity_by_channel
from analysis.health.concentration import Concentration, concentration
from analysis.health.concurrent import run_concurrently
from analysis.health.ladder import DEFAULT_RULES, LadderRules, member_levels
from analysis.health.ladder_moves import ladder_transitions, promotion_candidates
from analysis.health.newcomers import newcomer_return, newcomer_welcome
from analysis.health.periods import Period
from analysis.health.responsiveness import response_rate, time_to_first_response
from analysis.health.retention import cohort_retention
from analysis.health.shares import member_to_member_share, support_deflection
from analysis.health.warnings import early_warnings
from analysis.results import Result, available_or_reason


def _minutes(value: float) -> str:
    """``57 min`` / ``2 h 10 min`` / ``1 d 3 h``."""
    if value is None or math.isnan(value):
        return "n/a"
    minutes = round(value)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class HealthOverview(Result):
    """Everything the health study computed, and the findings drawn from it.

    Attributes
    ----------
    period : str
        Period of the series (``week`` by default; newcomer welcome is monthly).
    activity, channels, response, first_response, welcome, newcomer_return, deflection,
    member_to_member, concentration, cohorts : result objects
        See their modules (``activity``, ``responsiveness``, ``newcomers``, ``shares``,
        ``concentration``, ``retention``).
    activity_warnings, response_warnings : EarlyWarnings
        Early warnings on weekly active members and on the weekly median time to first response.
    levels, transitions, candidates : ladder results
        Member ladder (monthly), transitions between months, promotion candidates.
    reply_links : dict
        ``explicit`` and ``inferred`` reply links among the messages, and ``uses_inferred``:
        whether the reply metrics (response rate, time to first response, deflection,
        member-to-member share) counted the inferred ones.
    """

    period: str
    include_staff: bool
    activity: ActivitySeries
    channels: Any
    response: Any
    first_response: Any
    welcome: Any
    newcomer_return: Any
    deflection: Any
    member_to_member: Any
    concentration: Concentration
    cohorts: Any
    activity_warnings: Any
    response_warnings: Any
    levels: Any
    transitions: Any
    candidates: Any
    notes: tuple[str, ...] = field(default_factory=tuple)
    reply_links: dict[str, Any] = field(default_factory=dict)
    title: str = "Community health"

    def findings(self) -> list[str]:
        """3–5 plain-language statements, each with its numbers."""
        lines = [self.activity.summary()]
        lines.append(self._welcome_statement())
        rate = self.response.overall.get("24h", {})
        ttfr = self.first_response.overall
        if rate.get("exposed"):
            lines.append(
                f"{rate['rate']:.0%} of threads got a reply within 24 hours "
                f"({rate['responded']:,} of {rate['exposed']:,}); the first answer came after a "
                f"median of {_minutes(ttfr['all']['median_minutes'])} (staff "
                f"{_minutes(ttfr['staff']['median_minutes'])}, members "
                f"{_minutes(ttfr['member']['median_minutes'])})."
            )
        if self.deflection.denominator:
            lines.append(
                f"Members, not staff, gave the first answer in {self.deflection.share:.0%} of "
                f"answered threads, and {self.member_to_member.share:.0%} of all replies were "
                f"between members."
            )
        c = self.concentration
        if c.messages:
            lines.append(
                f"The 5 most active members wrote {c.top5_share:.0%} of messages; "
                f"{c.absence_factor:,} members together wrote half of them (CHAOSS contributor "
                f"absence factor)."
            )
        warnings = self._warning_statement()
        if warnings:
            lines.append(warnings)
        lines.append(self._reply_links_statement())
        return [line for line in lines if line]

    def _reply_links_statement(self) -> str:
        """Say whether reply metrics rest on inferred links (only when there are any)."""
        links = self.reply_links
        inferred = int(links.get("inferred", 0))
        if not inferred:
            return ""
        if links.get("uses_inferred"):
            return (
                f"Reply figures include {inferred:,} reply links inferred from timing, turns and "
                f"names (the export has {int(links.get('explicit', 0)):,} explicit ones); "
                f"inferred links are estimates, so treat reply figures as approximate."
            )
        return (
            f"Reply figures use the {int(links.get('explicit', 0)):,} explicit reply links only; "
            f"{inferred:,} inferred links are left out (run with include_inferred_replies=True "
            f"to count them)."
        )

    def _welcome_statement(self) -> str:
        frame = self.welcome.frame
        if frame.empty:
            return ""
        complete = frame[frame["complete"]] if "complete" in frame.columns else frame
        complete = complete[complete["answered"] > 0]
        if complete.empty:
            return self.welcome.summary()
        last = complete.iloc[-1]
        month = pd.Timestamp(last["period_start"]).strftime("%B %Y")
        text = (
            f"Half of new members' answered first messages got their answer within "
            f"{_minutes(last['median_minutes'])} in {month}"
        )
        if len(complete) >= 2:
            before = complete.iloc[-2]
            text += f" (the month before: {_minutes(before['median_minutes'])})"
        share = last["share_answered_24h"]
        if not math.isnan(share):
            text += f"; {share:.0%} were answered within 24 hours"
        return text + "."

    def _warning_statement(self) -> str:
        flags = []
        for result in (self.activity_warnings, self.response_warnings):
            if result is not None and len(result.flags):
                flags.append(result.flags)
        if not flags:
            return (
                "No early-warning week: activity and answer times stayed within their usual range."
            )
        all_flags = pd.concat(flags)
        recent = all_flags.sort_values("week").tail(3)
        described = "; ".join(
            f"{pd.Timestamp(r.week):%d %b %Y}: {r.label} ({r.reason})" for r in recent.itertuples()
        )
        return f"Early warnings in {len(all_flags)} weeks; the latest: {described}."

    def to_frame(self) -> pd.DataFrame:
        return self.activity.to_frame()

    def summary(self) -> str:
        return " ".join(self.findings())

    def plot(self, ax: Any = None) -> Any:
        """Weekly active members with the early-warning weeks marked."""
        return (
            self.activity_warnings.plot(ax=ax) if self.activity_warnings else self.activity.plot(ax)
        )

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        rate = self.response.overall.get("24h", {})
        return to_jsonable(
            {
                "activity": self.activity.to_dict(),
                "response_rate_24h": rate.get("rate"),
                "median_first_response_minutes": self.first_response.overall["all"][
                    "median_minutes"
                ],
                "newcomers_answered_24h": self.welcome.share_answered_24h,
                "support_deflection": self.deflection.share,
                "member_to_member_share": self.member_to_member.share,
                "top5_share": self.concentration.top5_share,
                "absence_factor": self.concentration.absence_factor,
                "gini_authors": self.concentration.gini_authors,
                "reply_links": self.reply_links,
                "warning_weeks": int(
                    sum(len(w.flags) for w in (self.activity_warnings, self.response_warnings) if w)
                ),
            }
        )


def health_overview(
    community: Community,
    *,
    period: Period = "week",
    start: Any = None,
    end: Any = None,
    staff_ids: tuple[str, ...] | list[str] = (),
    include_staff: bool = True,
    ladder_rules: LadderRules = DEFAULT_RULES,
    include_inferred_replies: bool = False,
) -> HealthOverview:
    """Run the health study.

    The independent metrics run two at a time on two connections to the community's DuckDB
    database (:func:`analysis.health.concurrent.run_concurrently`; one after another on other
    engines); the results are the same as calling them one by one.

    Parameters
    ----------
    community : Community
    period : {"day", "week", "month"}
        Period of the activity and responsiveness series.
    start, end : date-like, optional
        Limit messages to ``[start, end)`` (UTC); see :meth:`Community.window`.
    staff_ids : sequence of str
        Member ids (pseudonyms) to treat as staff in addition to the roster's staff.
    include_staff : bool
        Count staff among members and authors in activity, response and concentration
        metrics (shares of member vs staff answers always distinguish them).
    ladder_rules : LadderRules
        Thresholds of the member ladder.
    include_inferred_replies : bool
        Count reply links inferred at ingest (``reply_source = "inferred"``, chats without reply
        links) in the reply metrics; by default only explicit links count. Either way the
        findings say how many inferred links there are and whether they were used.
    """
    community = community.window(start, end).with_staff(staff_ids)
    _require_messages(community, start, end)
    kw = {"period": period, "include_staff": include_staff}
    sources = ("explicit", "inferred") if include_inferred_replies else ("explicit",)
    replies = {"reply_sources": sources}
    weekly_kw = {"period": "week", "include_staff": include_staff}
    # independent metrics on two connections at once (analysis.health.concurrent), in the order
    # that keeps both busy: the response rate heads the longest chain of shared tables (included
    # messages, thread table); then the calls that do not wait for it, longest first; the thread
    # table's other readers last
    calls: dict[str, Callable[[], Any]] = {
        "response": lambda: response_rate(community, **kw, **replies),
        "activity": lambda: activity(community, **kw),
        "welcome": lambda: newcomer_welcome(community, period="month"),
        "levels": lambda: member_levels(community, period="month", rules=ladder_rules),
        "member_to_member": lambda: member_to_member_share(community, period=period, **replies),
        "cohorts": lambda: cohort_retention(community, cohort="month", include_staff=include_staff),
        "channels": lambda: activity_by_channel(community, **kw),
        "concentration": lambda: concentration(community, include_staff=include_staff),
        "first": lambda: time_to_first_response(community, **kw, **replies),
        "deflection": lambda: support_deflection(community, period=period, **replies),
        "newcomer_return": lambda: available_or_reason(
            "Return of answered vs unanswered newcomers", lambda: newcomer_return(community)
        ),
        "reply_links": lambda: _reply_links(community, include_inferred_replies),
    }
    if period != "week":
        calls["weekly_first"] = lambda: time_to_first_response(community, **weekly_kw, **replies)
        calls["weekly"] = lambda: activity(community, **weekly_kw)
    r = dict(zip(calls, run_concurrently(community, list(calls.values())), strict=True))
    weekly_first = r.get("weekly_first", r["first"])
    all_weekly = weekly_first.frame[weekly_first.frame["responder"] == "all"]
    response_series = all_weekly.set_index("period_start")["median_minutes"].dropna()
    levels = r["levels"]
    return HealthOverview(
        period=period,
        include_staff=include_staff,
        activity=r["activity"],
        channels=r["channels"],
        response=r["response"],
        first_response=r["first"],
        welcome=r["welcome"],
        newcomer_return=r["newcomer_return"],
        deflection=r["deflection"],
        member_to_member=r["member_to_member"],
        concentration=r["concentration"],
        cohorts=r["cohorts"],
        activity_warnings=_warnings(r.get("weekly", r["activity"]), kind="activity"),
        response_warnings=_warnings(response_series, kind="response_time"),
        levels=levels,
        transitions=available_or_reason(
            "Moves between ladder levels", lambda: ladder_transitions(levels=levels)
        ),
        reply_links=r["reply_links"],
        candidates=available_or_reason(
            "Promotion candidates",
            lambda: promotion_candidates(community, rules=ladder_rules, levels=levels),
        ),
    )


def _reply_links(community: Community, uses_inferred: bool) -> dict[str, Any]:
    msgs = community.messages
    counts = community.execute(
        msgs.aggregate(
            explicit=(msgs.reply_source == "explicit").sum().fill_null(0),
            inferred=(msgs.reply_source == "inferred").sum().fill_null(0),
        )
    )
    return {
        "explicit": int(counts["explicit"].iloc[0]),
        "inferred": int(counts["inferred"].iloc[0]),
        "uses_inferred": bool(uses_inferred),
    }


def _require_messages(community: Community, start: Any, end: Any) -> None:
    """A community without a single regular message has nothing to measure: say so plainly."""
    msgs = community.messages
    counts = community.execute(
        msgs.aggregate(
            regular=(msgs.kind != "service").sum().fill_null(0),
            service=(msgs.kind == "service").sum().fill_null(0),
        )
    )
    if int(counts["regular"].iloc[0]) == 0:
        span = "" if start is None and end is None else f" between {start} and {end}"
        raise ValueError(
            f"dataset '{community.name}' has no messages{span} (only "
            f"{int(counts['service'].iloc[0]):,} service events such as joins); there is no "
            f"activity to measure"
        )


def _warnings(series: Any, *, kind: str) -> Any:
    try:
        return early_warnings(series, kind=kind)
    except ValueError:
        return None  # too short a series to judge (fewer weeks than the trailing window)
