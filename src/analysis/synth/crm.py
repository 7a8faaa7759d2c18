"""The company's CRM beside the community: accounts, which belong to members, and their orders.

The planted purchase model (parameters in :class:`~analysis.synth.config.SynthConfig`): every
account has latent interest ``u ~ N(0, 1)``; members' accounts are self-selected on it (successive
sampling with weights ``exp(selection_strength · u)``); P(buy) = ``sigmoid(b0 + b_u · u + b_m ·
member)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from analysis.synth.clock import DAY

if TYPE_CHECKING:
    from analysis.synth.model import Simulation

__all__ = ["Crm", "draw_crm"]


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
