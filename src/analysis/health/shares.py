"""Shares: how much of the community's talk is members' own, without staff.

:func:`member_initiated_share` (threads started by members), :func:`support_deflection`
(answered threads whose first answer came from a member) and :func:`member_to_member_share`
(replies with no staff on either side), each a :class:`ShareSeries` per period and overall.
Threads, replies and responses are defined in :mod:`analysis.health.thread_table`; periods and
empty periods as in :mod:`analysis.health.period_results`. Staff are always included: these
shares are about staff versus members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.data import Community
from analysis.health.included import shared_included_messages
from analysis.health.period_results import (
    channel_ids,
    format_or_na,
    period_channel_index,
    period_keys,
    period_lineplot,
    plain_value,
)
from analysis.health.periods import (
    Period,
    check_period,
    data_periods,
    epoch_seconds,
    period_start_expr,
)
from analysis.health.thread_queries import thread_channels, thread_counts
from analysis.results import Result

__all__ = [
    "ShareSeries",
    "member_initiated_share",
    "member_to_member_expr",
    "member_to_member_share",
    "support_deflection",
]


@dataclass(frozen=True)
class ShareSeries(Result):
    """A share (numerator ÷ denominator) per period and overall.

    Attributes
    ----------
    metric : str
        ``member_initiated_share``, ``member_to_member_share`` or ``support_deflection``.
    definition : str
        What is counted, in words.
    period : str
    include_bots, by_channel : bool
        (Staff are always included: these shares are about staff versus members.)
    numerator, denominator : int
        Overall counts; ``share`` = numerator ÷ denominator (NaN if 0).
    frame : pandas.DataFrame
        Per period (× channel): ``numerator``, ``denominator``, ``share``.
    """

    metric: str
    definition: str
    period: str
    include_bots: bool
    by_channel: bool
    numerator: int
    denominator: int
    share: float
    frame: pd.DataFrame = field(repr=False)
    include_staff: bool = True
    title: str = "Share"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        if not self.denominator:
            return f"Nothing to count for {self.metric.replace('_', ' ')}."
        bots = "including bots" if self.include_bots else "excluding bots"
        return (
            f"{format_or_na(self.share)} {self.definition} ({self.numerator:,} of "
            f"{self.denominator:,}; {bots})."
        )

    def plot(self, ax: Any = None) -> Any:
        f = self.frame
        if self.by_channel:
            f = f.groupby("period_start", as_index=False)[["numerator", "denominator"]].sum()
            f["share"] = f["numerator"] / f["denominator"].where(f["denominator"] > 0)
        return period_lineplot(
            f, "share", None, ax, f"{self.metric.replace('_', ' ')} per {self.period}", "share"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "share": plain_value(self.share),
        }


def _share_result(
    metric: str,
    definition: str,
    agg: pd.DataFrame,
    index: Any,
    period: str,
    include_bots: bool,
    by_channel: bool,
    title: str,
) -> ShareSeries:
    """``agg``: ``numerator`` and ``denominator`` per period (× channel) present in the data,
    indexed by :func:`period_keys`; every key of ``index`` is reported (0 when absent)."""
    agg = agg[["numerator", "denominator"]].reindex(index, fill_value=0).fillna(0)
    agg = agg.astype("int64").reset_index()
    agg["share"] = agg["numerator"] / agg["denominator"].where(agg["denominator"] > 0)
    num, den = int(agg["numerator"].sum()), int(agg["denominator"].sum())
    return ShareSeries(
        metric=metric,
        definition=definition,
        period=period,
        include_bots=include_bots,
        by_channel=by_channel,
        numerator=num,
        denominator=den,
        share=num / den if den else float("nan"),
        frame=agg,
        title=title,
    )


def member_initiated_share(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
) -> ShareSeries:
    """Share of thread roots started by members who are not staff.

    ``numerator`` = roots (:mod:`analysis.health.thread_table`) whose author is not staff;
    ``denominator`` = all roots, per period of the root. Staff are always included (the share is
    about them).

    Reference: the domain spec's *member-initiated activity*; CHAOSS *Conversations*/
    *Contributors* separate community from maintainer-initiated work.
    """
    kw = {"include_staff": True, "include_bots": include_bots, "reply_sources": ("explicit",)}
    agg = thread_counts(
        community,
        kw,
        period,
        by_channel,
        {
            "numerator": lambda t: (~t.root_is_staff.fill_null(False)).cast("int64").sum(),
            "denominator": lambda t: t.count(),
        },
    )
    index = period_channel_index(
        data_periods(community, period), thread_channels(community, kw, by_channel)
    )
    return _share_result(
        "member_initiated_share",
        "of threads were started by members rather than staff",
        agg,
        index,
        period,
        include_bots,
        by_channel,
        "Member-initiated threads",
    )


def support_deflection(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ShareSeries:
    """Among thread roots that got a response, the share whose first response came from a member.

    ``denominator`` = roots with a response (:mod:`analysis.health.thread_table`: a reply by
    someone other than the root's author, any time); ``numerator`` = those whose first responder
    is not staff. Per period of the root. A root may be written by staff (announcements answered
    by members count).

    Reference: the domain spec's *support deflection*: questions the community answered so the
    support team did not have to (the "case deflection" notion of customer-support analytics).
    """
    kw = {"include_staff": True, "include_bots": include_bots, "reply_sources": reply_sources}
    answered = lambda t: t.response_seconds.notnull()  # noqa: E731
    agg = thread_counts(
        community,
        kw,
        period,
        by_channel,
        {
            "numerator": lambda t: (
                (answered(t) & ~t.first_responder_is_staff.fill_null(False)).cast("int64").sum()
            ),
            "denominator": lambda t: answered(t).cast("int64").sum(),
        },
    )
    index = period_channel_index(
        data_periods(community, period), thread_channels(community, kw, by_channel)
    )
    return _share_result(
        "support_deflection",
        "of answered threads got their first answer from a member rather than staff",
        agg,
        index,
        period,
        include_bots,
        by_channel,
        "Support deflection",
    )


def member_to_member_expr(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """Per period (× channel): ``numerator`` and ``denominator`` of
    :func:`member_to_member_share`, aggregated on the engine.

    How: one join of the counted replies with their parent messages (on the join key of
    ``reply_to_id``, :mod:`analysis.health.included`), then
    the counts per UTC day (``⌊epoch seconds / 86400⌋``, plain integer arithmetic on every
    reply) and only then per period over those few day rows (a day lies in exactly one day,
    week or month), instead of the calendar truncation of every reply's timestamp.
    """
    msgs = shared_included_messages(community, include_staff=True, include_bots=include_bots)
    replies = msgs.filter(msgs.reply_to_key.notnull() & msgs.reply_source.isin(list(reply_sources)))
    parents = msgs.select(p_key=msgs.message_key, p_member=msgs.member_key, p_staff=msgs.is_staff)
    j = replies.inner_join(parents, replies.reply_to_key == parents.p_key)
    j = j.filter(j.member_key != j.p_member)
    # counted per UTC day first (whole-second arithmetic), then per period over those few rows:
    # a day lies in one period, so the sums are the same as per period of every reply
    days = {"day": epoch_seconds(j.created_at) // 86400}
    if by_channel:
        days["channel_id"] = j.channel_id
    both_members = (~j.is_staff & ~j.p_staff).cast("int64")
    d = j.group_by(**days).aggregate(numerator=both_members.sum(), denominator=j.count())
    keys = {"period_start": period_start_expr((d.day * 86400).as_timestamp("s"), period)}
    if by_channel:
        keys["channel_id"] = d.channel_id
    return d.group_by(**keys).aggregate(
        numerator=d.numerator.sum(), denominator=d.denominator.sum()
    )


def member_to_member_share(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ShareSeries:
    """Share of replies in which neither the replier nor the author replied to is staff.

    ``denominator`` = counted replies (:mod:`analysis.health.thread_table`) whose parent message
    is in the data and written by an included account other than the replier (self-replies are
    not talk between people); ``numerator`` = those where neither side is staff. Per period of
    the reply, aggregated on the engine.

    Reference: the domain spec's *member-to-member talk*; the share of member–member edges in
    the reply network (see :mod:`analysis.network`).
    """
    check_period(period)
    agg = community.execute(
        member_to_member_expr(
            community,
            period=period,
            by_channel=by_channel,
            include_bots=include_bots,
            reply_sources=reply_sources,
        )
    )
    agg["period_start"] = pd.to_datetime(agg["period_start"])
    channels = channel_ids(agg, by_channel)
    index = period_channel_index(data_periods(community, period), channels)
    keys = period_keys(by_channel)
    agg = agg.set_index(keys).reindex(index, fill_value=0).astype("int64").reset_index()
    agg["share"] = agg["numerator"] / agg["denominator"].where(agg["denominator"] > 0)
    num, den = int(agg["numerator"].sum()), int(agg["denominator"].sum())
    return ShareSeries(
        metric="member_to_member_share",
        definition="of replies were between two members, with no staff on either side",
        period=period,
        include_bots=include_bots,
        by_channel=by_channel,
        numerator=num,
        denominator=den,
        share=num / den if den else float("nan"),
        frame=agg,
        title="Member-to-member replies",
    )
