"""Community-to-customer conversion: do members buy more than other customers?

This module starts with the plain comparison every stakeholder asks for first. It is
*associational*: members choose to join, and people who would buy anyway join more often
(self-selection), so the raw gap overstates the community's effect. Adjusted estimates (matching,
weighting, doubly robust ATT) answer the causal question.

Definitions
-----------
Customers
    Rows of ``customers`` (accounts in the CRM). A customer is a *member* when its ``member_id``
    links to a community member who is neither staff nor a bot; every other customer is a
    *non-member*.
Purchase within ``window_days``
    At least one order with ``first_seen_at <= ordered_at < first_seen_at + window_days``.
    With ``window_days=None``: at least one order from ``first_seen_at`` to the end of the data
    (every customer counts; customers observed for longer have had more time to buy).
Exposure
    With a window, a customer counts only if the whole window lies before the end of the order
    data (the last ``ordered_at``), so recent sign-ups, who had less time to buy, do not dilute
    the rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.experiments.proportions import ProportionComparison, two_proportion_test
from analysis.results import Result

MEMBERS_LABEL = "members"
NON_MEMBERS_LABEL = "non-members"


def purchase_counts_expr(community: Community, *, window_days: int | None, orders_end: Any) -> Any:
    """Per group (``is_member``): exposed customers ``n`` and buyers ``successes`` (ibis)."""
    customers = community.table("customers")
    orders = community.table("orders")
    members = community.members
    community_members = members.filter(~members.is_staff & ~members.is_bot).select(
        linked_member=members.member_id
    )
    end = ibis.literal(orders_end, type="timestamp('UTC')")
    if window_days is None:
        exposed = customers
    else:
        exposed = customers.filter(customers.first_seen_at + ibis.interval(days=window_days) <= end)
    labelled = exposed.left_join(
        community_members, exposed.member_id == community_members.linked_member
    ).select(
        customer_id=exposed.customer_id,
        first_seen_at=exposed.first_seen_at,
        is_member=community_members.linked_member.notnull(),
    )
    window_end = (
        end + ibis.interval(seconds=1)
        if window_days is None
        else labelled.first_seen_at + ibis.interval(days=window_days)
    )
    buys = labelled.join(
        orders,
        (labelled.customer_id == orders.customer_id)
        & (orders.ordered_at >= labelled.first_seen_at)
        & (orders.ordered_at < window_end),
    ).select(buyer_id=labelled.customer_id)
    buyers = buys.distinct().mutate(bought=ibis.literal(1))
    per_customer = labelled.left_join(buyers, labelled.customer_id == buyers.buyer_id).select(
        is_member=labelled.is_member, bought=buyers.bought.fill_null(0)
    )
    return per_customer.group_by("is_member").aggregate(
        n=per_customer.count(), successes=per_customer.bought.sum()
    )


@dataclass(frozen=True)
class MembershipPurchaseComparison(Result):
    """Purchase rate of members vs non-members among exposed customers (associational).

    Attributes
    ----------
    window_days : int or None
        Purchase window after the customer's first appearance (None: until the end of data).
    comparison : ProportionComparison
        Members (treatment) vs non-members (control): rates with Wilson intervals, the difference
        with Newcombe's interval, the relative lift and the pooled z test.
    unexposed : int
        Customers excluded because their window extends past the last order.
    """

    window_days: int | None
    comparison: ProportionComparison
    unexposed: int
    title: str = "Purchase rate: members vs non-members"

    def to_frame(self) -> pd.DataFrame:
        return self.comparison.to_frame()

    def summary(self) -> str:
        c = self.comparison
        ratio = c.rate_treatment / c.rate_control if c.rate_control > 0 else float("nan")
        when = (
            "By the end of the data"
            if self.window_days is None
            else f"Within {self.window_days} days of first appearing in the CRM"
        )
        text = (
            f"{when}, "
            f"{c.rate_treatment:.1%} of community members bought, against {c.rate_control:.1%} of "
            f"other customers"
        )
        text += f" ({ratio:.2f}× as often)." if ratio == ratio else "."
        text += (
            f" The difference is {c.diff * 100:+.1f} points ({1 - c.alpha:.0%} CI "
            f"{c.diff_ci[0] * 100:+.1f} to {c.diff_ci[1] * 100:+.1f}). This is a raw comparison: "
            f"people who join may have bought anyway, so it is an upper bound on the community's "
            f"effect, not the effect itself."
        )
        return text

    def plot(self, ax: Any = None) -> Any:
        return self.comparison.plot(ax=ax)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "unexposed_customers": self.unexposed,
            "estimand": "associational difference in purchase rate (not causal)",
            **self.comparison.to_dict(),
        }


def purchase_rate_by_membership(
    community: Community, *, window_days: int | None = 90, alpha: float = 0.05
) -> MembershipPurchaseComparison:
    """Compare the share of customers who buy within ``window_days``: members vs non-members.

    See the module docstring for the definitions. The comparison is the pooled two-proportion z
    test with Newcombe's hybrid score interval for the difference (Newcombe 1998) — a
    description of the gap, not an estimate of the community's causal effect.
    """
    if window_days is not None and window_days <= 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    orders = community.table("orders")
    customers = community.table("customers")
    orders_end = community.execute(orders.ordered_at.max())
    if orders_end is None or pd.isna(orders_end):
        raise ValueError(f"dataset '{community.name}' has no orders, so no purchase is observed")
    orders_end = utc_timestamp(orders_end)
    counts = community.execute(
        purchase_counts_expr(community, window_days=window_days, orders_end=orders_end)
    )
    total = int(community.execute(customers.count()))
    by_group = counts.set_index(counts["is_member"].astype(bool))
    for group, label in ((True, MEMBERS_LABEL), (False, NON_MEMBERS_LABEL)):
        if group not in by_group.index or int(by_group.loc[group, "n"]) == 0:
            raise ValueError(
                f"no exposed {label} among the customers of dataset '{community.name}' "
                f"(window_days={window_days}); shorten the window or check the customer ↔ "
                f"member link"
            )
    members, others = by_group.loc[True], by_group.loc[False]
    comparison = two_proportion_test(
        int(others["successes"]),
        int(others["n"]),
        int(members["successes"]),
        int(members["n"]),
        alpha=alpha,
        control_name=NON_MEMBERS_LABEL,
        treatment_name=MEMBERS_LABEL,
    )
    exposed = int(counts["n"].sum())
    return MembershipPurchaseComparison(window_days, comparison, unexposed=total - exposed)
