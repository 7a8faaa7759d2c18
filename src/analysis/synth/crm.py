"""The company's CRM beside the community: accounts, which belong to members, and their orders.

Two planted purchase models (parameters in :class:`~analysis.synth.config.SynthConfig`):

Latent selection (the default, ``history_selection == 0``)
    Every account has latent interest ``u ~ N(0, 1)``; members' accounts are self-selected on it
    (successive sampling with weights ``exp(selection_strength · u)``); P(buy) = ``sigmoid(b0 +
    b_u · u + b_m · member)``. Selection is on an unobserved quantity: no adjustment for observed
    covariates can recover the effect; the naive gap is an upper bound.
Selection on observed purchase history (opt-in, ``history_selection > 0``; :func:`draw_crm_history`)
    Accounts buy as Poisson processes; members pick their account on its *observed* orders before
    joining, and joining multiplies the rate. Adjusting for the pre-join purchase history
    (:mod:`analysis.conversion.design`) recovers the planted effect. Drawn from a generator of its
    own (``default_rng([seed, 0xC4A3])``), so the messages are the same as without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from analysis.synth.clock import DAY

if TYPE_CHECKING:
    from analysis.synth.model import Simulation

__all__ = ["Crm", "draw_crm", "draw_crm_history"]


@dataclass(frozen=True, eq=False)
class Crm:
    """CRM accounts and orders (unix seconds), with the planted purchase quantities.

    Attributes
    ----------
    person : ndarray of int
        Per account: the linked member (person index), -1 for an account of a non-member.
    signed_up_at : ndarray of int64
        Per account: signup time.
    order_account, ordered_at, order_amount : ndarray
        Per order, grouped by account: the account, the time, the amount (RUB, unrounded).
    purchase : dict
        ``att``, ``naive_diff_expected``, ``member_rate_expected``, ``non_member_rate_expected``
        as defined in :class:`~analysis.synth.config.GroundTruth` ``.purchase``.
    """

    person: np.ndarray
    signed_up_at: np.ndarray
    order_account: np.ndarray
    ordered_at: np.ndarray
    order_amount: np.ndarray
    purchase: dict[str, float]


def draw_crm(sim: Simulation) -> Crm:
    """Draw accounts, membership links, purchases and orders (after the community is simulated).

    Members' accounts sign up around their join time (normal, mean 20 days earlier, sd 40 days),
    other accounts uniformly from a year before the start to the last day of the data. A buyer's
    first order comes Exponential(45 d) after signup (for members, after the later of signup and
    joining), truncated to the data, and the other orders uniformly after it.
    """
    if sim.cfg.history_selection > 0:
        return draw_crm_history(sim)
    cfg, rng = sim.cfg, sim.rng
    members = np.flatnonzero(sim.role == "member")
    linked = members[rng.random(members.size) < cfg.link_prob]
    linked = rng.permutation(linked)
    n_acc = max(int(round(cfg.accounts_per_member * cfg.n_members)), linked.size)
    interest = rng.standard_normal(n_acc)
    key = cfg.selection_strength * interest + rng.gumbel(size=n_acc)
    chosen = np.argsort(-key, kind="stable")[: linked.size]  # successive sampling ∝ exp(s·u)
    person = np.full(n_acc, -1)
    person[chosen] = linked
    is_member = person >= 0
    lo = sim.t0 - 365 * DAY
    signup = lo + (rng.random(n_acc) * (sim.t_end - DAY - lo)).astype(np.int64)
    jm = sim.join[person[is_member]]
    near = jm + rng.normal(-20 * DAY, 40 * DAY, jm.size).astype(np.int64)
    signup[is_member] = np.clip(near, lo, sim.t_end - DAY)
    eta = cfg.purchase_intercept + cfg.purchase_interest_coef * interest
    p1, p0 = expit(eta + cfg.purchase_member_coef), expit(eta)
    p = np.where(is_member, p1, p0)
    buys = np.flatnonzero(rng.random(n_acc) < p)
    anchor = signup.copy()
    anchor[is_member] = np.maximum(signup[is_member], jm)
    n_orders = 1 + rng.poisson(cfg.extra_orders_mean, buys.size)
    window = (sim.t_end - anchor[buys]).astype(float)
    scale = 45.0 * DAY
    first = anchor[buys] - scale * np.log1p(-rng.random(buys.size) * -np.expm1(-window / scale))
    o_acc = np.repeat(buys, n_orders)
    o_first = np.repeat(first, n_orders)
    is_first = np.r_[True, o_acc[1:] != o_acc[:-1]]
    later = o_first + rng.random(o_acc.size) * (sim.t_end - o_first)
    o_t = np.where(is_first, o_first, later).astype(np.int64)
    amount = cfg.amount_median * np.exp(cfg.amount_sigma * rng.standard_normal(o_acc.size))
    purchase = {
        "att": float((p1 - p0)[is_member].mean()),
        "naive_diff_expected": float(p[is_member].mean() - p[~is_member].mean()),
        "member_rate_expected": float(p[is_member].mean()),
        "non_member_rate_expected": float(p[~is_member].mean()),
    }
    return Crm(person, signup, o_acc, o_t, amount, purchase)


def _window_counts(keys: np.ndarray, n_acc: int, lo: int, hi: int, span: int) -> np.ndarray:
    """Per account: orders with time in ``[lo, hi)``; ``keys`` = sorted ``account · span + t``."""
    base = np.arange(n_acc, dtype=np.int64) * span
    return np.searchsorted(keys, base + hi) - np.searchsorted(keys, base + lo)


def draw_crm_history(sim: Simulation) -> Crm:
    """The opt-in CRM with self-selection on observed pre-join purchase history.

    The planted model (seconds; ``lo = start − 365 d``, data end ``T``)
    ---------------------------------------------------------------------
    * ``accounts_per_member · n_members`` accounts sign up uniformly in ``[lo, T − 1 d)``; account
      ``i`` orders as a Poisson process with rate ``λ_i = order_rate_per_year / 365 ·
      exp(b_u · u_i − b_u² / 2)`` a day, ``u_i ~ N(0, 1)`` latent, ``b_u =
      purchase_interest_coef`` (the rate's mean is ``order_rate_per_year``).
    * Each member is linked with probability ``link_prob``. In order of joining, member ``k``
      (joined at ``J``) takes one still-free account that signed up before ``J``, picked with
      probability ∝ ``(1 + n_i)^history_selection``, ``n_i`` = the account's orders in
      ``[J − history_lag_days − 365 d, J − history_lag_days)`` (the design's *early* window:
      observed, pre-join; the last ``history_lag_days`` are left out so the placebo has a true
      effect of 0). If no account signed up before ``J`` is free, any free account is taken
      (a customer after joining).
    * Joining multiplies the rate by ``r = exp(purchase_member_coef)`` from ``max(J, signup)``
      on (superposed extra orders when ``r > 1``, thinning when ``r < 1``).

    Ground truth (``purchase``; exact given the latent rates)
    ---------------------------------------------------------
    Selection looks at realised orders, so expectations are taken given each account's orders
    before ``c_i`` (members: ``max(J_i, signup_i)``; others: ``T − history_lag_days``, after
    which no selection window looks): P(buy) = 1 if it ordered in ``[signup_i, c_i)``, else
    ``1 − exp(−λ_i r_i (T − c_i))`` (``r_i = r`` for members, 1 otherwise). ``att`` = mean over
    member accounts of P(buy | joined) − P(buy | not joined) (0 for those who had already
    bought: the effect on P(≥1 order between signup and the end of the data), as in the default
    model); ``member_rate_expected`` / ``non_member_rate_expected`` the mean P(buy) per group
    and ``naive_diff_expected`` their difference. ``att_90d`` = mean of
    ``exp(−90 λ) − exp(−90 λ r)`` over member accounts signed up before joining whose 90 days
    after joining end before ``T``: the estimand of :func:`analysis.conversion.member_effect`
    with ``horizon_days=90``; ``n_members_att_90d`` counts them.
    """
    cfg = sim.cfg
    rng = np.random.default_rng([cfg.seed, 0xC4A3])
    members = np.flatnonzero(sim.role == "member")
    linked = members[rng.random(members.size) < cfg.link_prob]
    linked = linked[np.argsort(sim.join[linked], kind="stable")]
    n_acc = max(int(round(cfg.accounts_per_member * cfg.n_members)), linked.size)
    interest = rng.standard_normal(n_acc)
    b_u = cfg.purchase_interest_coef
    lam = cfg.order_rate_per_year / 365 / DAY * np.exp(b_u * interest - b_u**2 / 2)  # per second
    lo, t_end = sim.t0 - 365 * DAY, sim.t_end
    signup = lo + (rng.random(n_acc) * (t_end - DAY - lo)).astype(np.int64)
    n_base = rng.poisson(lam * (t_end - signup))
    acc = np.repeat(np.arange(n_acc), n_base)
    t = signup[acc] + (rng.random(acc.size) * (t_end - signup)[acc]).astype(np.int64)
    span = np.int64(t_end - lo + 1)
    keys = np.sort(acc.astype(np.int64) * span + (t - lo))
    person = np.full(n_acc, -1)
    free = np.ones(n_acc, dtype=bool)
    lag = cfg.history_lag_days * DAY
    for k in linked:
        join = int(sim.join[k])
        counts = _window_counts(keys, n_acc, join - lag - 365 * DAY - lo, join - lag - lo, span)
        eligible = free & (signup <= join)
        if not eligible.any():
            eligible = free
        w = np.where(eligible, (1.0 + counts) ** cfg.history_selection, 0.0)
        pick = int(rng.choice(n_acc, p=w / w.sum()))
        person[pick] = k
        free[pick] = False
    is_member = person >= 0
    ratio = float(np.exp(cfg.purchase_member_coef))
    joined_at = np.where(is_member, sim.join[np.maximum(person, 0)], t_end)
    start_eff = np.maximum(joined_at, signup)
    keep = np.ones(acc.size, dtype=bool)
    if ratio < 1:  # thinning after joining
        after = is_member[acc] & (t >= start_eff[acc])
        keep = ~after | (rng.random(acc.size) < ratio)
    extra_n = rng.poisson(np.where(is_member, lam * max(ratio - 1, 0) * (t_end - start_eff), 0))
    extra_acc = np.repeat(np.arange(n_acc), extra_n)
    extra_t = start_eff[extra_acc] + (
        rng.random(extra_acc.size) * (t_end - start_eff)[extra_acc]
    ).astype(np.int64)
    o_acc = np.r_[acc[keep], extra_acc]
    o_t = np.r_[t[keep], extra_t]
    order = np.lexsort((o_t, o_acc))
    o_acc, o_t = o_acc[order], o_t[order]
    amount = cfg.amount_median * np.exp(cfg.amount_sigma * rng.standard_normal(o_acc.size))
    # expectations given each account's orders before its last selection-relevant time
    cut = np.where(is_member, start_eff, np.maximum(t_end - lag, signup))
    base = np.arange(n_acc, dtype=np.int64) * span
    bought_before = np.searchsorted(keys, base + (cut - lo)) > np.searchsorted(
        keys, base + (signup - lo)
    )
    rest0 = lam * (t_end - cut)
    rest1 = rest0 * np.where(is_member, ratio, 1.0)
    p = np.where(bought_before, 1.0, 1 - np.exp(-rest1))
    effect = np.where(bought_before, 0.0, np.exp(-rest0) - np.exp(-rest1))
    h = 90 * DAY
    in_design = is_member & (signup <= joined_at) & (joined_at + h <= t_end)
    purchase = {
        "att": float(effect[is_member].mean()),
        "naive_diff_expected": float(p[is_member].mean() - p[~is_member].mean()),
        "member_rate_expected": float(p[is_member].mean()),
        "non_member_rate_expected": float(p[~is_member].mean()),
        "att_90d": float((np.exp(-lam * h) - np.exp(-lam * h * ratio))[in_design].mean()),
        "n_members_att_90d": int(in_design.sum()),
        "history_selection": float(cfg.history_selection),
    }
    return Crm(person, signup, o_acc, o_t, amount, purchase)
