"""The customer × month spend panel for the before/after-joining event study.

Built by the engine (ibis): monthly spend per customer (``orders`` summed by calendar month of
``ordered_at``, UTC) and one row per customer with the join time of its linked member. Only those
two aggregated tables come back to pandas, where months without orders are filled with zero
spend.

Definitions
-----------
Panel months
    Calendar months (UTC) from ``start`` (default: the month of the first order) to ``end``
    (default: the month of the last order), indexed ``period = 0, 1, ...``. A last month that is
    only partly observed lowers every unit's spend alike (a month effect, absorbed by the
    differences).
Units
    Customers. A customer is observed from the later of ``start`` and the month of
    ``first_seen_at`` (or of its first order, if earlier) to ``end``; spend in an observed month
    is the sum of its order amounts (0 without orders); earlier months are missing, not zero.
Cohort (treatment timing)
    For a customer linked (``customers.member_id``) to a community member who is neither staff
    nor a bot: the period of the member's ``joined_at`` month. Customers linked to staff, bots or
    unknown members are left out. Customers without a link are *never-joined* (cohort NaN).
Observed pre-join period
    A joining customer enters the study only if it is observed in the month before its join
    month (the reference period −1); others (joined before the panel or before their customer
    record) are counted in ``dropped_no_pre``. Members joining after ``end`` stay in the panel as
    not-yet-joined controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp


class EventStudyInputError(ValueError):
    """The data cannot support the event study (names dataset, table, field and value)."""


@dataclass(frozen=True)
class SpendPanel:
    """A long customer × month panel ready for :func:`~analysis.conversion.event_study`.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``unit``, ``period``, ``spend``, ``cohort`` (join period; NaN never-joined).
    months : pandas.DatetimeIndex
        The calendar month (UTC) of each period.
    dropped_no_pre : int
        Joining customers left out for lack of an observed month before joining.
    """

    frame: pd.DataFrame
    months: pd.DatetimeIndex
    dropped_no_pre: int


def _customers_expr(community: Community) -> Any:
    customers = community.table("customers")
    members = community.members
    eligible = members.filter(~members.is_staff & ~members.is_bot).select(
        m_id=members.member_id, joined_at=members.joined_at
    )
    joined = customers.left_join(eligible, customers.member_id == eligible.m_id)
    return joined.select(
        customer_id=joined.customer_id,
        first_seen_at=joined.first_seen_at,
        linked=joined.member_id.notnull(),
        joined_at=joined.joined_at,
    )


def monthly_spend_expr(community: Community) -> Any:
    """Sum of ``orders.amount`` per customer and calendar month (UTC) of ``ordered_at``."""
    orders = community.table("orders")
    by_month = orders.select(
        customer_id=orders.customer_id,
        month=orders.ordered_at.truncate("M"),
        amount=orders.amount,
    )
    return by_month.group_by(["customer_id", "month"]).aggregate(spend=by_month.amount.sum())


def _month_start(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_localize(None).dt.to_period("M").dt.to_timestamp().dt.tz_localize("UTC")


def monthly_spend_panel(
    community: Community, *, start: Any = None, end: Any = None, include_never: bool = True
) -> SpendPanel:
    """Build the customer × month spend panel (see the module docstring)."""
    for name in ("customers", "orders"):
        if not community.has(name):
            raise EventStudyInputError(
                f"dataset '{community.name}' has no '{name}' table; the event study needs "
                f"customers linked to members and their orders."
            )
    spend = community.execute(monthly_spend_expr(community))
    if spend.empty:
        raise EventStudyInputError(
            f"dataset '{community.name}': table 'orders' is empty; expected orders to measure "
            f"monthly spend."
        )
    people = community.execute(_customers_expr(community))
    spend["month"] = _month_start(spend["month"])
    first = _month_start(pd.Series([utc_timestamp(start)])).iloc[0] if start is not None else None
    last = _month_start(pd.Series([utc_timestamp(end)])).iloc[0] if end is not None else None
    first = spend["month"].min() if first is None else first
    last = spend["month"].max() if last is None else last
    if last < first:
        raise EventStudyInputError(f"panel end {last:%Y-%m} is before its start {first:%Y-%m}")
    months = pd.date_range(first, last, freq="MS")
    index = {m: i for i, m in enumerate(months)}
    n_t = len(months)

    def period_of(stamps: pd.Series) -> np.ndarray:
        m = _month_start(stamps)
        years = m.dt.year - first.year
        return (years * 12 + m.dt.month - first.month).to_numpy(float)

    people = people[~(people["linked"].astype(bool) & people["joined_at"].isna())]
    first_order = spend.groupby("customer_id")["month"].min()
    seen = pd.to_datetime(people["first_seen_at"], utc=True)
    fo = people["customer_id"].map(first_order)
    seen = seen.where(fo.isna() | (seen <= fo), fo)
    entry = np.maximum(period_of(seen), 0.0)
    cohort = np.where(
        people["linked"].astype(bool), period_of(people["joined_at"].astype(object)), np.nan
    )
    keep = entry <= n_t - 1
    treated = ~np.isnan(cohort)
    no_pre = treated & (cohort - 1 < entry)
    dropped = int((no_pre & keep).sum())
    keep &= ~no_pre
    if not include_never:
        keep &= treated
    people = people.assign(entry=entry, cohort=cohort)[keep]
    if not (~np.isnan(people["cohort"].to_numpy()) & (people["cohort"] <= n_t - 1)).any():
        raise EventStudyInputError(
            f"dataset '{community.name}': no customer linked to a member (field "
            f"'customers.member_id') joins inside the panel {first:%Y-%m}..{last:%Y-%m} with an "
            f"observed month before joining ({dropped} joined without one); nothing to compare."
        )
    n_obs = (n_t - people["entry"].to_numpy()).astype(int)
    rows = np.repeat(np.arange(len(people)), n_obs)
    periods = np.concatenate([np.arange(int(e), n_t) for e in people["entry"]])
    frame = pd.DataFrame(
        {
            "unit": people["customer_id"].to_numpy()[rows],
            "period": periods,
            "cohort": people["cohort"].to_numpy()[rows],
        }
    )
    spend = spend[spend["month"].isin(index)]
    spend = spend.assign(period=spend["month"].map(index).astype(int))
    frame = frame.merge(
        spend[["customer_id", "period", "spend"]].rename(columns={"customer_id": "unit"}),
        on=["unit", "period"],
        how="left",
    )
    frame["spend"] = frame["spend"].fillna(0.0).astype(float)
    return SpendPanel(frame[["unit", "period", "spend", "cohort"]], months, dropped)
