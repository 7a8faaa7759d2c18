"""The aligned-index-date design for the member effect: one row per customer, covariates before,
outcomes after.

Why index dates
---------------
Comparing members with non-members from their first appearance counts the time before a member
joined as "member time" (immortal time: a member cannot have left before joining, and any
purchase before joining is credited to membership; Suissa 2008, Am. J. Epidemiol. 167(4)).
Here every customer gets one index date and everything is measured relative to it: covariates
strictly before, outcomes in ``[index, index + horizon_days)``.

* **Members** (customers linked to a community member who is neither staff nor a bot): index =
  the member's ``joined_at``. Only customers already known at joining (``first_seen_at <=
  joined_at``) are analysed: the estimand is the effect of joining on existing customers.
* **Non-members** (customers never linked to such a member): index drawn at random (seeded)
  from the index dates of the *exposed* members (whose horizon ends within the order data) that
  are on or after the customer's ``first_seen_at``, so the comparison group has the analysed
  members' calendar distribution (season, campaigns) and, like the members, is already a
  customer at its index. Customers first seen after every such date are excluded (counted).

Members' index is the event itself and non-members are placed at the same calendar times, so no
follow-up is counted before the index for either group: no immortal time. With
``controls="never_joined"`` (the default) controls are customers who never joined during the
data; a customer who joins later is a member (index = join), never a control.

The price of never-joiner controls: never joining is decided over the whole data, so when
joining depends on recent buying, non-members are also selected on their history *after* their
index date. On the planted panel (:mod:`analysis.synth.conversion_panel`, one decision per
customer) this biases the ATT by about +0.01 (an eighth of the planted effect); in the demo CRM
with ``history_selection`` (members take accounts one after another all year) the placebo flags
it. The placebo check is where it shows.

``controls="not_yet_joined"`` is the sequential (risk-set) alternative (Hernán & Robins 2016,
target-trial emulation): for each member, ``controls_per_member`` customers are drawn with
replacement from its risk set — customers first seen by its join date who are not members at
that date, later joiners included — with index = that join date. A customer can then appear
several times (rows are treated as independent, so intervals are somewhat too narrow), and a
control who joins within the horizon counts as a control (biasing the effect towards 0).

Columns of the design frame (times in days; amounts in the orders' currency)
------------------------------------------------------------------------------
``customer_id``, ``member`` (1/0), ``index_at``
``purchased``, ``spend``
    ≥1 order / total amount in ``[index, index + horizon_days)`` (the outcomes).
``orders_early``, ``spend_early``
    Orders and amount in ``[index − placebo_days − history_days, index − placebo_days)``.
``orders_recent``, ``spend_recent``
    Orders and amount in ``[index − placebo_days, index)``.
``placebo_spend``
    ``= spend_recent``: the placebo outcome (before the index, so membership cannot cause it),
    analysed with the covariates of :data:`PLACEBO_COVARIATES`, measured before its window.
``days_since_first_seen``
    ``index − first_seen_at``.
``days_since_last_order``, ``ever_ordered``
    Days from the last order before the index (``days_since_first_seen`` when there is none) and
    whether there was one.

Exposure: customers whose horizon ends after the last order in the data are excluded and
counted (they had less time to buy). Per-customer window sums are ibis expressions run by the
engine; only the one-row-per-customer design comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community, utc_timestamp
from analysis.results import Result

__all__ = [
    "CONTROL_DESIGNS",
    "COVARIATES",
    "PLACEBO_COVARIATES",
    "MemberDesign",
    "build_design",
]

#: Pre-index covariates of the design frame (module docstring).
COVARIATES = (
    "orders_early",
    "spend_early",
    "orders_recent",
    "spend_recent",
    "days_since_first_seen",
    "days_since_last_order",
    "ever_ordered",
)
#: Comparison designs of :func:`build_design` (module docstring).
CONTROL_DESIGNS = ("never_joined", "not_yet_joined")
_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
#: Covariates measured before the placebo window (the placebo analysis adjusts for these only).
PLACEBO_COVARIATES = ("orders_early", "spend_early", "days_since_first_seen")


@dataclass(frozen=True, eq=False)
class MemberDesign(Result):
    """The design frame and what was left out.

    Attributes
    ----------
    frame : DataFrame
        One row per analysed customer (columns in the module docstring).
    horizon_days, history_days, placebo_days : int
    orders_end : pd.Timestamp
        Time of the last order (end of the outcome data).
    excluded : dict
        Customers left out, by reason: ``members_customer_after_joining``,
        ``non_members_no_eligible_date``, ``members_unexposed``, ``non_members_unexposed``.
    seed : int
        Seed of the non-members' index-date draw.
    """

    frame: pd.DataFrame
    horizon_days: int
    history_days: int
    placebo_days: int
    orders_end: pd.Timestamp
    excluded: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    title: str = "Member effect design (aligned index dates)"

    def to_frame(self) -> pd.DataFrame:
        g = self.frame.groupby("member")
        out = g[["purchased", "spend", *COVARIATES]].mean()
        out.insert(0, "customers", g.size())
        return out.rename(index={1: "members", 0: "non-members"})

    def summary(self) -> str:
        n1 = int(self.frame["member"].sum())
        n0 = len(self.frame) - n1
        return (
            f"{n1:,} members (index = join date) and {n0:,} non-members (index drawn from the "
            f"members' join dates) are compared over {self.horizon_days} days after the index; "
            f"{sum(self.excluded.values()):,} customers were left out "
            f"({', '.join(f'{k}: {v:,}' for k, v in self.excluded.items())})."
        )


def _customer_index(community: Community) -> pd.DataFrame:
    """Per customer: id, first_seen_at and the linked community member's joined_at (or NaT)."""
    customers = community.table("customers")
    members = community.members
    eligible = members.filter(~members.is_staff & ~members.is_bot).select(
        linked_member=members.member_id, joined_at=members.joined_at
    )
    expr = customers.left_join(eligible, customers.member_id == eligible.linked_member).select(
        customer_id=customers.customer_id,
        first_seen_at=customers.first_seen_at,
        joined_at=eligible.joined_at,
    )
    out = community.execute(expr)
    for col in ("first_seen_at", "joined_at"):
        out[col] = pd.to_datetime(out[col], utc=True)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _assign_index(
    people: pd.DataFrame, rng: np.random.Generator, last_index: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Members at their join date; non-members at a date drawn from the exposed members' join
    dates (``<= last_index``) on or after their first appearance."""
    is_member = people["joined_at"].notna()
    members = people[is_member & (people["first_seen_at"] <= people["joined_at"])]
    late = int((is_member & (people["first_seen_at"] > people["joined_at"])).sum())
    pool = members.loc[members["joined_at"] <= last_index, "joined_at"]
    dates = np.sort(pool.to_numpy(dtype="datetime64[ns]"))
    others = people[~is_member]
    first = others["first_seen_at"].to_numpy(dtype="datetime64[ns]")
    k = np.searchsorted(dates, first, side="left")
    n_eligible = dates.size - k
    ok = n_eligible > 0
    pick = k[ok] + np.floor(rng.random(int(ok.sum())) * n_eligible[ok]).astype(int)
    controls = others[ok].assign(index_at=pd.to_datetime(dates[pick], utc=True), member=0)
    treated = members.assign(index_at=members["joined_at"], member=1)
    frame = pd.concat([treated, controls], ignore_index=True)
    excluded = {
        "members_customer_after_joining": late,
        "non_members_no_eligible_date": int((~ok).sum()),
    }
    return frame[["customer_id", "member", "index_at", "first_seen_at"]], excluded


def _risk_set_controls(
    people: pd.DataFrame,
    treated: pd.DataFrame,
    rng: np.random.Generator,
    per_member: int,
) -> tuple[pd.DataFrame, int]:
    """``per_member`` controls for each member, drawn with replacement from its risk set: the
    customers first seen on or before its join date ``J`` who are not members at ``J`` (never
    joined, or joined later). Returns the control rows (index = ``J``) and the number of draws
    that found nobody at risk."""
    first = people["first_seen_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    joined = people["joined_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    joined = np.where(people["joined_at"].isna().to_numpy(), np.iinfo(np.int64).max, joined)
    order = np.argsort(first, kind="stable")
    first_sorted = first[order]
    at = treated["index_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    n_prefix = np.searchsorted(first_sorted, at, side="right")
    member_of = np.repeat(np.arange(at.size), per_member)
    chosen = np.full(member_of.size, -1)
    pending = np.flatnonzero(n_prefix[member_of] > 0)
    for _ in range(200):  # rejection sampling; members are a minority of any risk set
        if pending.size == 0:
            break
        m = member_of[pending]
        cand = order[np.floor(rng.random(pending.size) * n_prefix[m]).astype(int)]
        ok = joined[cand] > at[m]
        chosen[pending[ok]] = cand[ok]
        pending = pending[~ok]
    found = chosen >= 0
    rows = people.iloc[chosen[found]].reset_index(drop=True)
    controls = rows.assign(
        index_at=treated["index_at"].to_numpy()[member_of[found]],
        member=0,
    )
    return controls, int((~found).sum())


def _window_sums_expr(
    index: Any, orders: Any, *, horizon_days: int, history_days: int, placebo_days: int
) -> Any:
    """Per (customer, index date) (ibis): order counts and amounts in the design's windows and
    the last order before the index."""
    joined = index.left_join(orders, index.customer_id == orders.customer_id)
    t, at = joined.ordered_at, joined.index_at
    early_lo = at - ibis.interval(days=placebo_days + history_days)
    recent_lo = at - ibis.interval(days=placebo_days)
    post_hi = at + ibis.interval(days=horizon_days)
    early = (t >= early_lo) & (t < recent_lo)
    recent = (t >= recent_lo) & (t < at)
    post = (t >= at) & (t < post_hi)
    amount = joined.amount
    return joined.group_by([joined.customer_id, joined.index_at]).aggregate(
        orders_early=amount.count(where=early),
        spend_early=amount.sum(where=early),
        orders_recent=amount.count(where=recent),
        spend_recent=amount.sum(where=recent),
        orders_post=amount.count(where=post),
        spend=amount.sum(where=post),
        last_before=t.max(where=t < at),
    )


def build_design(
    community: Community,
    *,
    horizon_days: int = 90,
    history_days: int = 365,
    placebo_days: int = 90,
    controls: str = "never_joined",
    controls_per_member: int = 4,
    seed: int = 0,
) -> MemberDesign:
    """Build the aligned-index-date design frame (module docstring) from a community.

    Parameters
    ----------
    community : Community
        Needs ``customers``, ``orders`` and ``members``.
    horizon_days : int
        Outcome window after the index.
    history_days, placebo_days : int
        Lengths of the early covariate window and of the placebo (recent) window before the index.
    controls : {"never_joined", "not_yet_joined"}
        Who the comparison units are (module docstring): never-joiners at calendar-matched
        dates, or ``controls_per_member`` customers drawn per member from its risk set.
    seed : int
        Seed of the controls' draw (reproducible bit for bit).
    """
    if controls not in CONTROL_DESIGNS:
        raise ValueError(f"controls must be one of {CONTROL_DESIGNS}, got {controls!r}")
    if controls_per_member < 1:
        raise ValueError(f"controls_per_member must be >= 1, got {controls_per_member}")
    for name, value in (
        ("horizon_days", horizon_days),
        ("history_days", history_days),
        ("placebo_days", placebo_days),
    ):
        if int(value) != value or value <= 0:
            raise ValueError(f"{name} must be a positive whole number of days, got {value!r}")
    orders = community.table("orders")
    orders_end = community.execute(orders.ordered_at.max())
    if orders_end is None or pd.isna(orders_end):
        raise ValueError(f"dataset '{community.name}' has no orders, so no purchase is observed")
    orders_end = utc_timestamp(orders_end)
    people = _customer_index(community)
    last_index = orders_end - pd.Timedelta(days=horizon_days)
    rng = np.random.default_rng(seed)
    frame, excluded = _assign_index(people, rng, last_index)
    if controls == "not_yet_joined":
        treated = frame[(frame["member"] == 1) & (frame["index_at"] <= last_index)]
        risk_set, missing = _risk_set_controls(people, treated, rng, controls_per_member)
        frame = pd.concat([frame[frame["member"] == 1], risk_set[frame.columns]], ignore_index=True)
        excluded["non_members_no_eligible_date"] = 0
        excluded["control_draws_without_risk_set"] = missing
    exposed = frame["index_at"] + pd.Timedelta(days=horizon_days) <= orders_end
    excluded["members_unexposed"] = int((~exposed & (frame["member"] == 1)).sum())
    excluded["non_members_unexposed"] = int((~exposed & (frame["member"] == 0)).sum())
    frame = frame[exposed].reset_index(drop=True)
    if frame.empty:
        raise ValueError(
            f"dataset '{community.name}': no customer has a full {horizon_days}-day horizon "
            f"before the last order ({orders_end}); shorten horizon_days"
        )
    index = ibis.memtable(
        frame[["customer_id", "index_at"]],
        schema={"customer_id": "string", "index_at": "timestamp('UTC')"},
    )
    sums = community.execute(
        _window_sums_expr(
            index,
            orders.select("customer_id", "ordered_at", "amount"),
            horizon_days=horizon_days,
            history_days=history_days,
            placebo_days=placebo_days,
        )
    )
    for part in (frame, sums):
        part["index_at"] = pd.to_datetime(part["index_at"], utc=True).astype(_UTC_NS)
    out = frame.merge(sums, on=["customer_id", "index_at"], how="left", validate="many_to_one")
    for col in ("orders_early", "orders_recent", "orders_post"):
        out[col] = out[col].fillna(0).astype(float)
    for col in ("spend_early", "spend_recent", "spend"):
        out[col] = out[col].fillna(0.0).astype(float)
    day = pd.Timedelta(days=1)
    last = pd.to_datetime(out["last_before"], utc=True)
    out["days_since_first_seen"] = (out["index_at"] - out["first_seen_at"]) / day
    out["ever_ordered"] = last.notna().astype(int)
    out["days_since_last_order"] = ((out["index_at"] - last) / day).fillna(
        out["days_since_first_seen"]
    )
    out["purchased"] = (out["orders_post"] > 0).astype(int)
    out["placebo_spend"] = out["spend_recent"]
    columns = ["customer_id", "member", "index_at", "purchased", "spend", "placebo_spend"]
    out = out[[*columns, *COVARIATES]].sort_values(
        ["member", "customer_id", "index_at"], ascending=[False, True, True], kind="stable"
    )
    return MemberDesign(
        frame=out.reset_index(drop=True),
        horizon_days=horizon_days,
        history_days=history_days,
        placebo_days=placebo_days,
        orders_end=orders_end,
        excluded=excluded,
        seed=seed,
    )
