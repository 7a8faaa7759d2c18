"""A fast seeded customers/orders/members panel with planted self-selection and member effect.

No messages are simulated (numpy only), so hundreds of replicates run in seconds: this is the
oracle for the ATT estimators (:mod:`analysis.conversion.att`) and the design builder
(:mod:`analysis.conversion.design`).

The planted model (time in days from ``start``; data cover ``[0, days)``)
-----------------------------------------------------------------------
* Customer ``i`` is first seen at ``f_i ~ U[0, first_seen_span)`` and buys as a Poisson process
  with a latent rate ``λ_i ~ Gamma(shape=rate_shape, mean=rate_mean)`` orders a day.
* Each customer has one joining opportunity at ``τ_i ~ U[f_i, days − horizon_days)``.
* Self-selection on **observed** purchase history: the customer joins at ``τ_i`` with
  probability ``sigmoid(join_intercept + selection_strength · log(1 + n_i))``, where ``n_i`` is
  the number of the customer's orders in ``[τ_i − 365 − lag_days, τ_i − lag_days)`` (the
  *early* window of :mod:`analysis.conversion.design`; ``lag_days`` = its ``placebo_days``).
  Joining depends on nothing else, so given the early order count membership is independent of
  ``λ_i`` and of the untreated outcomes (unconfoundedness holds by construction); the most
  recent ``lag_days`` before joining are left out of the selection so the placebo check (spend
  in that window) has a true effect of exactly 0.
* Planted member effect: after joining, the member's rate is ``λ_i · member_rate_ratio``.
* Amounts are lognormal (median ``amount_median``, log-sd ``amount_sigma``), independent of all
  else.

Ground truth for a set of members ``S`` and horizon ``H`` (exact given the latent rates)
------------------------------------------------------------------------------------------
``att_purchase = mean_{i∈S} [exp(−λ_i H) − exp(−λ_i r H)]`` with ``r = member_rate_ratio``
(the effect of membership on P(≥1 order in ``[τ_i, τ_i + H)``)); ``att_spend = mean_{i∈S} λ_i
(r − 1) H · E[amount]``. The expected naive gap of the purchase outcome is
``att + mean_{i∈S} p0_i − mean_{j∈C} p0_j`` with ``p0 = 1 − exp(−λ H)``: the second part is the
planted selection bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.schema import Tables, empty_table

__all__ = ["ConversionPanel", "generate_conversion_panel"]


@dataclass(frozen=True, eq=False)
class ConversionPanel:
    """The generated panel: canonical tables, per-customer latent truth and a design frame.

    Attributes
    ----------
    tables : Tables
        ``members`` (the joiners; ``joined_at = τ``), ``customers``, ``orders`` and an empty
        ``messages`` table, in the canonical schema.
    start : pd.Timestamp
        Day 0 (UTC).
    days, horizon_days, lag_days : int
        Data length, outcome horizon and the placebo lag used by the generator.
    rate, first_seen, opportunity : ndarray
        Per customer: latent daily order rate ``λ``, first-seen day ``f`` and opportunity
        day ``τ``.
    member : ndarray of bool
        Per customer: joined at ``τ``.
    member_rate_ratio, amount_mean : float
        The planted multiplier of the rate after joining; ``E[amount]``.
    order_customer, order_day, order_amount : ndarray
        The orders (customer index, day, amount).
    """

    tables: Tables
    start: pd.Timestamp
    days: int
    horizon_days: int
    lag_days: int
    rate: np.ndarray
    first_seen: np.ndarray
    opportunity: np.ndarray
    member: np.ndarray
    member_rate_ratio: float
    amount_mean: float
    order_customer: np.ndarray
    order_day: np.ndarray
    order_amount: np.ndarray

    def truth(self, treated: np.ndarray, controls: np.ndarray | None = None) -> dict[str, float]:
        """Planted ``att_purchase``, ``att_spend`` for the customers ``treated`` (indices), and
        with ``controls`` the expected ``selection_bias`` of the naive purchase gap."""
        h, r = self.horizon_days, self.member_rate_ratio
        lam = self.rate[treated]
        out = {
            "att_purchase": float(np.mean(np.exp(-lam * h) - np.exp(-lam * r * h))),
            "att_spend": float(np.mean(lam * (r - 1) * h) * self.amount_mean),
        }
        if controls is not None:
            p0 = 1 - np.exp(-self.rate * h)
            out["selection_bias"] = float(p0[treated].mean() - p0[controls].mean())
        return out

    def design_frame(self, history_days: int = 365) -> pd.DataFrame:
        """The design at index ``τ`` for every customer (members and never-joiners alike), with
        the columns and definitions of :func:`analysis.conversion.design.build_design`, computed
        directly in numpy (an independent implementation). Customers whose horizon runs past
        the data are dropped (none by construction)."""
        n = self.rate.size
        idx = self.opportunity
        day, cust, amt = self.order_day, self.order_customer, self.order_amount
        rel = day - idx[cust]

        def window(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
            inside = (rel >= lo) & (rel < hi)
            cnt = np.bincount(cust[inside], minlength=n).astype(float)
            spend = np.bincount(cust[inside], weights=amt[inside], minlength=n)
            return cnt, spend

        lag = self.lag_days
        n_early, s_early = window(-history_days - lag, -lag)
        n_recent, s_recent = window(-lag, 0)
        n_post, s_post = window(0, self.horizon_days)
        before = rel < 0
        last = np.full(n, -np.inf)
        np.maximum.at(last, cust[before], day[before])
        tenure = idx - self.first_seen
        since_last = np.where(np.isfinite(last), idx - last, tenure)
        frame = pd.DataFrame(
            {
                "customer_id": [f"c{i:06d}" for i in range(n)],
                "member": self.member.astype(int),
                "index_at": self.start + pd.to_timedelta(np.round(idx * 86_400), unit="s"),
                "purchased": (n_post > 0).astype(int),
                "spend": s_post,
                "placebo_spend": s_recent,
                "orders_early": n_early,
                "spend_early": s_early,
                "orders_recent": n_recent,
                "spend_recent": s_recent,
                "days_since_first_seen": tenure,
                "days_since_last_order": since_last,
                "ever_ordered": np.isfinite(last).astype(int),
            }
        )
        return frame


def generate_conversion_panel(
    n_customers: int = 3000,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    days: int = 730,
    first_seen_span: int = 365,
    horizon_days: int = 90,
    lag_days: int = 90,
    rate_mean: float = 1 / 60,
    rate_shape: float = 1.0,
    join_intercept: float = -2.5,
    selection_strength: float = 0.9,
    member_rate_ratio: float = 1.5,
    amount_median: float = 2500.0,
    amount_sigma: float = 0.8,
) -> ConversionPanel:
    """Draw one panel from ``numpy.random.default_rng(seed)``; see the module docstring.

    Every parameter is a quantity of the planted model (module docstring). Runs in about 10 ms
    for 3,000 customers.
    """
    if n_customers < 10 or days <= first_seen_span or days - horizon_days <= 0:
        raise ValueError(
            f"need n_customers >= 10 and 0 < first_seen_span < days - horizon_days; got "
            f"n_customers={n_customers}, first_seen_span={first_seen_span}, days={days}, "
            f"horizon_days={horizon_days}"
        )
    if member_rate_ratio <= 0 or rate_mean <= 0 or rate_shape <= 0:
        raise ValueError("member_rate_ratio, rate_mean and rate_shape must be positive")
    rng = np.random.default_rng(seed)
    n = n_customers
    first = rng.random(n) * first_seen_span
    lam = rng.gamma(rate_shape, rate_mean / rate_shape, n)
    tau = first + rng.random(n) * (days - horizon_days - first)
    # orders before the opportunity: Poisson process at rate λ on [f, τ)
    pre_n = rng.poisson(lam * (tau - first))
    pre_c = np.repeat(np.arange(n), pre_n)
    pre_t = first[pre_c] + rng.random(pre_c.size) * (tau - first)[pre_c]
    rel = pre_t - tau[pre_c]
    early = (rel >= -365 - lag_days) & (rel < -lag_days)
    n_early = np.bincount(pre_c[early], minlength=n)
    p_join = 1 / (1 + np.exp(-(join_intercept + selection_strength * np.log1p(n_early))))
    member = rng.random(n) < p_join
    post_rate = lam * np.where(member, member_rate_ratio, 1.0)
    post_n = rng.poisson(post_rate * (days - tau))
    post_c = np.repeat(np.arange(n), post_n)
    post_t = tau[post_c] + rng.random(post_c.size) * (days - tau)[post_c]
    o_c = np.r_[pre_c, post_c]
    o_t = np.r_[pre_t, post_t]
    order = np.lexsort((o_c, o_t))
    o_c, o_t = o_c[order], o_t[order]
    amount = np.round(amount_median * np.exp(amount_sigma * rng.standard_normal(o_c.size)), 2)
    t0 = pd.Timestamp(start, tz="UTC")

    def at(day: np.ndarray) -> pd.Series:
        # whole seconds, as exports have them
        return pd.Series(t0 + pd.to_timedelta(np.floor(day * 86_400), unit="s"))

    ids = np.array([f"c{i:06d}" for i in range(n)])
    mids = np.array([f"m{i:06d}" for i in range(n)])
    joined = np.flatnonzero(member)
    members = empty_table("members").reindex(range(joined.size))
    members = members.assign(
        member_id=mids[joined],
        platform="synthetic",
        joined_at=at(tau[joined]).to_numpy(),
        source="organic",
        is_staff=False,
        is_bot=False,
        display_name=None,
        referred_by=None,
    )
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "member_id": np.where(member, mids, None),
            "first_seen_at": at(first),
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i:07d}" for i in range(o_c.size)],
            "customer_id": ids[o_c],
            "ordered_at": at(o_t),
            "amount": amount,
            "currency": "RUB",
        }
    )
    tables = Tables(
        members=members, messages=empty_table("messages"), customers=customers, orders=orders
    )
    # the tables hold whole seconds: use the same rounded days in the truth and design frame
    return ConversionPanel(
        tables=tables,
        start=t0,
        days=days,
        horizon_days=horizon_days,
        lag_days=lag_days,
        rate=lam,
        first_seen=np.floor(first * 86_400) / 86_400,
        opportunity=np.floor(tau * 86_400) / 86_400,
        member=member,
        member_rate_ratio=member_rate_ratio,
        amount_mean=float(amount_median * np.exp(amount_sigma**2 / 2)),
        order_customer=o_c,
        order_day=np.floor(o_t * 86_400) / 86_400,
        order_amount=amount,
    )
