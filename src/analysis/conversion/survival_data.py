"""Time from joining to first purchase: the per-member tables the survival studies fit.

The engine (ibis) does every aggregation over the community tables; only one row per linked
member (and one per member-week with messages) comes back to pandas.

Definitions
-----------
Linked member
    A community member who is neither staff nor a bot and whose ``member_id`` appears in
    ``customers.member_id`` (one or more CRM accounts). Members without a customer account are
    outside this study: their purchases cannot be observed.
Clock
    Starts at ``members.joined_at``. ``time`` is in days (float).
Event
    The first order (``orders.ordered_at``) of any of the member's linked customers with
    ``ordered_at >= joined_at``. Orders before joining are ignored.
Censoring
    Members without such an order are censored at the end of the order data (the last
    ``ordered_at`` in ``orders``, or ``orders_end``).
Entry (left truncation)
    The order data begin at ``orders_start`` (default: the first ``ordered_at``). A member who
    joined before that is observed from ``entry = orders_start - joined_at`` days on; the fits
    condition on being purchase-free at entry (delayed entry, Klein & Moeschberger 2003, §4.6).
    This assumes that such members' first observed order is their first order after joining.
Early engagement
    Non-service messages in ``[joined_at, joined_at + engagement_days)`` (the definition of a
    message event in :func:`analysis.health.activity.activity_events_expr`, messages only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.health.periods import epoch_seconds

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S


class SurvivalInputError(ValueError):
    """The community cannot support a time-to-purchase analysis (names dataset, table, field)."""


def _linked_members_expr(community: Community) -> Any:
    """``member_id``, ``joined_at`` of non-staff, non-bot members with at least one customer."""
    members = community.members
    members = members.filter(~members.is_staff & ~members.is_bot)
    customers = community.table("customers")
    linked_ids = (
        customers.filter(customers.member_id.notnull())
        .select(linked_id=customers.member_id)
        .distinct()
    )
    return members.semi_join(linked_ids, members.member_id == linked_ids.linked_id).select(
        "member_id", "joined_at"
    )


def purchase_times_expr(community: Community, *, engagement_days: int) -> Any:
    """Per linked member: ``joined_at``, ``first_order_at`` (null if none), ``early_messages``."""
    linked = _linked_members_expr(community)
    customers = community.table("customers")
    orders = community.table("orders")
    cust = customers.filter(customers.member_id.notnull()).select(
        c_id=customers.customer_id, c_member=customers.member_id
    )
    owned = orders.join(cust, orders.customer_id == cust.c_id).select(
        o_member=cust.c_member, ordered_at=orders.ordered_at
    )
    after = owned.join(
        linked, (owned.o_member == linked.member_id) & (owned.ordered_at >= linked.joined_at)
    )
    first = after.group_by(f_member=after.o_member).aggregate(first_order_at=after.ordered_at.min())
    msgs = community.messages.filter(community.messages.kind != "service")
    early = msgs.join(
        linked,
        (msgs.member_id == linked.member_id)
        & (msgs.created_at >= linked.joined_at)
        & (msgs.created_at < linked.joined_at + ibis.interval(days=engagement_days)),
    )
    counts = early.group_by(e_member=early.member_id).aggregate(early_messages=early.count())
    out = linked.left_join(first, linked.member_id == first.f_member).select(
        "member_id", "joined_at", "first_order_at"
    )
    out = out.left_join(counts, out.member_id == counts.e_member).select(
        member_id=out.member_id,
        joined_at=out.joined_at,
        first_order_at=out.first_order_at,
        early_messages=counts.early_messages.fill_null(0),
    )
    return out.order_by("member_id")


def weekly_messages_expr(community: Community) -> Any:
    """Non-service messages per (linked member, week since joining); weeks with none are absent.

    ``week = floor((created_at - joined_at) / 7 days)`` for messages at or after joining.
    """
    linked = _linked_members_expr(community).select(l_member="member_id", l_joined="joined_at")
    msgs = community.messages.filter(community.messages.kind != "service")
    own = msgs.join(
        linked, (msgs.member_id == linked.l_member) & (msgs.created_at >= linked.l_joined)
    )
    # whole seconds floored on every engine (a plain cast rounds fractions on DuckDB)
    gap = epoch_seconds(own.created_at) - epoch_seconds(own.l_joined)
    weeks = own.select(member_id=own.member_id, week=(gap // int(WEEK_S)).cast("int64"))
    return weeks.group_by(["member_id", "week"]).aggregate(messages=weeks.count())


def _order_bounds(community: Community) -> tuple[pd.Timestamp, pd.Timestamp]:
    orders = community.table("orders")
    bounds = community.execute(
        orders.aggregate(start=orders.ordered_at.min(), end=orders.ordered_at.max())
    )
    start, end = bounds["start"].iloc[0], bounds["end"].iloc[0]
    if start is None or pd.isna(start):
        raise SurvivalInputError(
            f"dataset '{community.name}': table 'orders' is empty, so no purchase and no end of "
            f"follow-up is observed; expected at least one order."
        )
    return utc_timestamp(start), utc_timestamp(end)


def engagement_levels(
    counts: pd.Series, cutoffs: Sequence[int], labels: Sequence[str]
) -> pd.Categorical:
    """Level of each count: ``labels[k]`` for ``cutoffs[k-1] <= count < cutoffs[k]``.

    With ``cutoffs=(1, 5)`` and ``labels=("none", "low", "high")``: none = 0, low = 1–4,
    high = 5 or more messages.
    """
    cuts = list(cutoffs)
    if len(labels) != len(cuts) + 1:
        raise ValueError(
            f"engagement labels {list(labels)} must number one more than cutoffs {cuts}"
        )
    if cuts != sorted(set(cuts)) or (cuts and cuts[0] < 1):
        raise ValueError(f"engagement cutoffs must be increasing positive integers, got {cuts}")
    codes = np.searchsorted(np.asarray(cuts), counts.to_numpy(), side="right")
    return pd.Categorical.from_codes(codes, categories=list(labels), ordered=True)


def purchase_times(
    community: Community,
    *,
    engagement_days: int = 14,
    cutoffs: Sequence[int] = (1, 5),
    labels: Sequence[str] = ("none", "low", "high"),
    orders_start: Any = None,
    orders_end: Any = None,
) -> pd.DataFrame:
    """One row per linked member: the time to first purchase and early engagement.

    Parameters
    ----------
    community : Community
        Needs ``members``, ``messages``, ``customers`` and ``orders``.
    engagement_days : int
        Early window (days after joining) for ``early_messages``.
    cutoffs, labels : sequence
        Engagement levels, see :func:`engagement_levels`.
    orders_start, orders_end : timestamp, optional
        Observation window of the order data (default: first and last ``ordered_at``).

    Returns
    -------
    pandas.DataFrame
        Columns: ``member_id``, ``joined_at``, ``first_order_at``, ``entry`` (days),
        ``time`` (days to the first order, or to the end of the order data), ``event``
        (1 bought, 0 censored), ``early_messages`` and ``engagement`` (level, see
        :func:`engagement_levels`). Members who joined after the end of the order data (no
        follow-up), or whose first order came before their entry, are dropped.

    See the module docstring for every definition.
    """
    if engagement_days <= 0:
        raise ValueError(
            f"engagement_days must be a positive number of days, got {engagement_days}"
        )
    for name in ("customers", "orders"):
        if not community.has(name):
            raise SurvivalInputError(
                f"dataset '{community.name}' has no '{name}' table; time to first purchase needs "
                f"customers (with member_id links) and their orders."
            )
    start, end = _order_bounds(community)
    start = utc_timestamp(orders_start) if orders_start is not None else start
    end = utc_timestamp(orders_end) if orders_end is not None else end
    frame = community.execute(purchase_times_expr(community, engagement_days=engagement_days))
    if frame.empty:
        raise SurvivalInputError(
            f"dataset '{community.name}': no member (excluding staff and bots) is linked to a "
            f"customer; table 'customers', field 'member_id' must hold community member ids."
        )
    # one resolution whatever the engine returns (DuckDB: us, Spark: ns)
    joined = pd.to_datetime(frame["joined_at"], utc=True).dt.as_unit("us")
    first = pd.to_datetime(frame["first_order_at"], utc=True).dt.as_unit("us")
    first = first.where(first <= end)
    event = first.notna()
    stop = first.where(event, end)
    out = pd.DataFrame(
        {
            "member_id": frame["member_id"].astype(str),
            "joined_at": joined,
            "first_order_at": first,
            "entry": ((start - joined).dt.total_seconds() / DAY_S).clip(lower=0.0),
            "time": (stop - joined).dt.total_seconds() / DAY_S,
            "event": event.astype(int),
            "early_messages": frame["early_messages"].astype(int),
        }
    )
    out = out[out["time"] > out["entry"]].reset_index(drop=True)
    if out.empty:
        raise SurvivalInputError(
            f"dataset '{community.name}': every linked member joined after the order data end "
            f"({end.isoformat()}), so no one has follow-up time."
        )
    out["engagement"] = engagement_levels(out["early_messages"], cutoffs, labels)
    return out


def purchase_episodes(
    times: pd.DataFrame,
    weekly: pd.DataFrame,
    *,
    covariate: str = "cumulative",
    week_days: float = 7.0,
) -> pd.DataFrame:
    """Counting-process episodes ``(start, stop]`` per member and week since joining.

    Week ``k`` covers ``(k·7, (k+1)·7]`` days after joining, cut to ``(entry, time]``; the last
    episode carries ``event`` = 1 when the member bought. ``messages`` is the engagement known at
    the start of the week (so the covariate is *predictable*, never measured after the hazard
    it explains):

    ``cumulative``
        messages in weeks ``0 .. k-1`` (all messages since joining before this week);
    ``previous_week``
        messages in week ``k-1`` (0 in week 0).

    Counting-process form as in Andersen & Gill (1982) and Therneau & Grambsch (2000), §3.7.
    """
    if covariate not in ("cumulative", "previous_week"):
        raise ValueError(f"covariate must be 'cumulative' or 'previous_week', got {covariate!r}")
    n_weeks = np.ceil(times["time"].to_numpy() / week_days).astype(int)
    n_weeks = np.maximum(n_weeks, 1)
    idx = np.repeat(np.arange(len(times)), n_weeks)
    week = np.concatenate([np.arange(n) for n in n_weeks])
    ep = pd.DataFrame(
        {
            "member_id": times["member_id"].to_numpy()[idx],
            "week": week,
            "start": np.maximum(week * week_days, times["entry"].to_numpy()[idx]),
            "stop": np.minimum((week + 1) * week_days, times["time"].to_numpy()[idx]),
        }
    )
    counts = weekly.set_index(["member_id", "week"])["messages"]
    ep["in_week"] = (
        counts.reindex(pd.MultiIndex.from_arrays([ep["member_id"], ep["week"]]))
        .fillna(0)
        .to_numpy()
    )
    by_member = ep.groupby("member_id", sort=False)["in_week"]
    if covariate == "cumulative":
        ep["messages"] = by_member.cumsum() - ep["in_week"]
    else:
        ep["messages"] = by_member.shift(1).fillna(0)
    last = np.r_[idx[1:] != idx[:-1], True]
    ep["event"] = np.where(last, times["event"].to_numpy()[idx], 0)
    ep = ep[ep["stop"] > ep["start"]].drop(columns="in_week")
    return ep.reset_index(drop=True)
