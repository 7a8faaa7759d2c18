"""Seeded staggered-adoption panel with planted dynamic effects on monthly spend (test oracle).

Customers are observed for ``n_periods`` calendar months from ``start``. Each customer is linked
to one community member who joins in month ``g`` (the *cohort*; drawn from ``cohorts``), or to
no member (a *never-joined* customer, with probability ``never_share``). Monthly spend is

``y_it = base + a_i + b_t + τ_g(t − g) · 1[t ≥ g] + ε_it``

with unit effects ``a_i ~ N(0, unit_sd²)``, common month effects ``b_t`` (a Gaussian random walk
with step sd ``time_sd``), noise ``ε_it ~ N(0, noise_sd²)`` and no anticipation. The dynamic
effect at event time ``e ≥ 0`` is ``τ_g(e) = effects[min(e, len(effects) − 1)] · (1 + h·z_g)``
where ``z_g`` runs linearly from +1 (earliest cohort) to −1 (latest) and ``h`` is
``heterogeneity``: with ``h = 0`` every cohort has the same path; with ``h > 0`` early joiners
gain more, the pattern under which two-way fixed-effects event studies mix effects across
cohorts and event times (Sun & Abraham 2021; Goodman-Bacon 2021).

The canonical tables carry the panel exactly: one order per customer-month whose ``amount`` is
``y_it`` (2 dp), ordered on a random day of that month; members join on a random day of their
cohort's month and post one message when they join. Everything is drawn from one
``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.schema import Tables

__all__ = ["StaggeredPanel", "make_staggered_panel"]


@dataclass(frozen=True)
class StaggeredPanel:
    """A planted staggered-adoption panel.

    Attributes
    ----------
    tables : Tables
        Canonical ``members``, ``messages``, ``customers`` and ``orders``.
    panel : pandas.DataFrame
        ``unit`` (customer_id), ``period`` (0-based month index), ``month`` (UTC month start),
        ``spend`` (the planted ``y_it`` as written to ``orders``), ``cohort`` (join period,
        NaN for never-joined customers).
    cohort_effects : pandas.DataFrame
        The planted ``τ_g(e)`` for every cohort ``g`` and event time ``e`` inside the panel:
        ``cohort``, ``event_time``, ``effect`` (0 for ``e < 0``), ``n`` (customers in ``g``).
    event_effects : pandas.Series
        Truth by event time: the cohort-size-weighted mean of ``τ_g(e)`` over cohorts whose
        ``g + e`` lies inside the panel (the Callaway–Sant'Anna dynamic aggregation).
    """

    tables: Tables
    panel: pd.DataFrame
    cohort_effects: pd.DataFrame
    event_effects: pd.Series


def make_staggered_panel(
    *,
    n_customers: int = 600,
    n_periods: int = 12,
    cohorts: Sequence[int] = (4, 6, 8),
    never_share: float = 0.25,
    effects: Sequence[float] = (2.0, 4.0, 6.0),
    heterogeneity: float = 0.0,
    base: float = 100.0,
    unit_sd: float = 10.0,
    time_sd: float = 2.0,
    noise_sd: float = 3.0,
    start: str = "2023-01-01",
    seed: int = 0,
) -> StaggeredPanel:
    """Draw a planted panel; see the module docstring for the model.

    Parameters
    ----------
    n_customers, n_periods : int
        Customers and calendar months in the panel.
    cohorts : sequence of int
        Join periods drawn uniformly for joining customers; each in ``1 .. n_periods - 1`` so
        that the month before joining is observed.
    never_share : float
        Probability that a customer never joins (no member link).
    effects : sequence of float
        Dynamic effect on monthly spend at event times ``0, 1, ...``; the last value persists.
    heterogeneity : float
        ``h`` in ``τ_g(e) = effects[e] · (1 + h·z_g)``, ``z_g`` from +1 (earliest cohort) to
        −1 (latest); 0 gives the same effect path to every cohort.
    base, unit_sd, time_sd, noise_sd : float
        Mean spend, sd of unit effects, step sd of the month random walk, sd of the noise.
    start : str
        First month (UTC).
    seed : int
        Seed of the one ``numpy.random.default_rng``.

    Returns
    -------
    StaggeredPanel
    """
    cohorts = sorted(int(g) for g in cohorts)
    if n_customers < 2 or n_periods < 2:
        raise ValueError(
            f"need n_customers >= 2 and n_periods >= 2, got {n_customers}, {n_periods}"
        )
    if not cohorts or cohorts[0] < 1 or cohorts[-1] >= n_periods:
        raise ValueError(f"cohorts must lie in 1..{n_periods - 1} (a pre-period), got {cohorts}")
    if not 0 <= never_share < 1:
        raise ValueError(f"never_share must be in [0, 1), got {never_share}")
    rng = np.random.default_rng(seed)
    never = rng.random(n_customers) < never_share
    cohort = np.where(never, np.nan, rng.choice(cohorts, size=n_customers).astype(float))
    z = np.linspace(1.0, -1.0, len(cohorts)) if len(cohorts) > 1 else np.zeros(1)
    scale = dict(zip(cohorts, 1.0 + heterogeneity * z, strict=True))
    path = np.asarray(effects, float)

    def tau(g: int, e: int) -> float:
        return 0.0 if e < 0 else float(path[min(e, len(path) - 1)] * scale[g])

    unit_fx = rng.normal(0.0, unit_sd, n_customers)
    time_fx = np.cumsum(rng.normal(0.0, time_sd, n_periods))
    noise = rng.normal(0.0, noise_sd, (n_customers, n_periods))
    periods = np.arange(n_periods)
    effect = np.zeros((n_customers, n_periods))
    for g in cohorts:
        rows = cohort == g
        effect[rows] = [tau(g, t - g) for t in periods]
    spend = np.round(base + unit_fx[:, None] + time_fx[None, :] + effect + noise, 2)
    if (spend <= 0).any():
        raise ValueError(
            f"planted spend is not positive in {(spend <= 0).sum()} customer-months; raise base "
            f"(got {base}) or lower the standard deviations"
        )

    months = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n_periods, freq="MS")
    ids = np.array([f"c{i:05d}" for i in range(n_customers)])
    panel = pd.DataFrame(
        {
            "unit": np.repeat(ids, n_periods),
            "period": np.tile(periods, n_customers),
            "month": np.tile(months, n_customers),
            "spend": spend.ravel(),
            "cohort": np.repeat(cohort, n_periods),
        }
    )
    day_s = rng.integers(0, 27 * 86_400, n_customers * n_periods)
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i:07d}" for i in range(len(panel))],
            "customer_id": panel["unit"].to_numpy(),
            "ordered_at": panel["month"] + pd.to_timedelta(day_s, unit="s"),
            "amount": panel["spend"].astype(float),
            "currency": "RUB",
        }
    )
    treated = np.flatnonzero(~never)
    member_ids = np.array([f"m{i:05d}" for i in treated])
    join_s = rng.integers(0, 27 * 86_400, treated.size)
    joined = months[cohort[treated].astype(int)] + pd.to_timedelta(join_s, unit="s")
    members = pd.DataFrame(
        {
            "member_id": member_ids,
            "platform": "telegram",
            "joined_at": joined,
            "source": "organic",
            "is_staff": False,
            "is_bot": False,
            "display_name": None,
            "referred_by": None,
        }
    )
    messages = pd.DataFrame(
        {
            "message_id": [f"msg{i:05d}" for i in range(treated.size)],
            "platform": "telegram",
            "channel_id": "tg:1",
            "thread_id": [f"msg{i:05d}" for i in range(treated.size)],
            "member_id": member_ids,
            "created_at": joined,
            "reply_to_id": None,
            "reply_source": "none",
            "kind": "message",
            "text": None,
            "text_len": 0,
            "n_reactions": 0,
        }
    )
    link = np.full(n_customers, None, dtype=object)
    link[treated] = member_ids
    customers = pd.DataFrame({"customer_id": ids, "member_id": link, "first_seen_at": months[0]})
    tables = Tables(members=members, messages=messages, customers=customers, orders=orders)

    sizes = pd.Series(cohort[~never]).value_counts()
    rows = [
        {"cohort": g, "event_time": t - g, "effect": tau(g, t - g), "n": int(sizes.get(g, 0))}
        for g in cohorts
        for t in periods
    ]
    cohort_effects = pd.DataFrame(rows)
    weighted = cohort_effects.assign(w=cohort_effects["effect"] * cohort_effects["n"])
    by_e = weighted.groupby("event_time")[["w", "n"]].sum()
    event_effects = (by_e["w"] / by_e["n"]).rename("effect")
    return StaggeredPanel(tables, panel, cohort_effects, event_effects)
