"""Customer summaries, BG/NBD and Gamma–Gamma formulas, and the lifetime-value study."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.conversion.bgnbd import (
    ModelFitError,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases_new,
    bgnbd_loglik,
    bgnbd_p_alive,
    fit_bgnbd,
    simulate_bgnbd,
)
from analysis.conversion.btyd_summary import community_customer_summary, customer_summary
from analysis.conversion.gamma_gamma import (
    fit_gamma_gamma,
    gamma_gamma_conditional_spend,
    simulate_gamma_gamma,
)
from analysis.conversion.ltv import LtvResult, lifetime_value, predict_clv
from analysis.data import Community
from analysis.schema import Tables
from tests.conftest import make_members, make_messages, ts

# ------------------------------------------------------------------------------------------
# customer summary
# ------------------------------------------------------------------------------------------


def _transactions() -> pd.DataFrame:
    rows = [
        ("c1", "2024-01-01 10:00", 10.0),
        ("c1", "2024-01-01 15:00", 5.0),  # same day: one purchase worth 15
        ("c1", "2024-01-08 09:00", 20.0),
        ("c1", "2024-01-22 12:00", 40.0),
        ("c1", "2024-02-20 12:00", 99.0),  # after the calibration end: ignored
        ("c2", "2024-01-15 08:00", 7.0),
        ("c3", "2024-02-01 08:00", 3.0),  # first purchase after the end: not a customer yet
    ]
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "ordered_at": [ts(r[1]) for r in rows],
            "amount": [r[2] for r in rows],
        }
    )


def test_summary_by_hand_in_weeks_and_days():
    weeks = customer_summary(_transactions(), calibration_end="2024-01-29")
    assert list(weeks.index) == ["c1", "c2"]
    c1, c2 = weeks.loc["c1"], weeks.loc["c2"]
    assert (c1.frequency, c1.recency, c1["T"], c1.monetary_value) == (2, 3.0, 4.0, 30.0)
    assert (c2.frequency, c2.recency, c2["T"]) == (0, 0.0, 2.0)
    assert math.isnan(c2.monetary_value)
    days = customer_summary(_transactions(), calibration_end="2024-01-29", unit="D")
    assert (days.loc["c1", "recency"], days.loc["c1", "T"]) == (21.0, 28.0)


def test_summary_uses_utc_days_and_includes_the_end_day():
    tx = pd.DataFrame(
        {
            "id": ["a", "a", "a"],
            "when": [
                pd.Timestamp("2024-01-01 12:00", tz="UTC"),
                pd.Timestamp("2024-01-28 23:30", tz="America/New_York"),  # 01-29 04:30 UTC
                pd.Timestamp("2024-01-29 23:30", tz="America/New_York"),  # 01-30 UTC: outside
            ],
            "value": [1.0, 2.0, 4.0],
        }
    )
    out = customer_summary(
        tx,
        calibration_end="2024-01-29",
        customer_col="id",
        datetime_col="when",
        monetary_col="value",
        unit="D",
    )
    assert (out.loc["a", "frequency"], out.loc["a", "recency"]) == (1, 28.0)
    assert out.loc["a", "monetary_value"] == 2.0


def test_summary_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"lack column\(s\) \['amount'\]"):
        customer_summary(_transactions().drop(columns="amount"), calibration_end="2024-01-29")
    bad = _transactions()
    bad["amount"] = bad["amount"].astype(object)
    bad.loc[1, "amount"] = "ten"
    with pytest.raises(ValueError, match=r"row 1, field 'amount': got 'ten'"):
        customer_summary(bad, calibration_end="2024-01-29")
    with pytest.raises(ValueError, match="at least a day"):
        customer_summary(_transactions(), calibration_end="2024-01-29", unit="h")


# ------------------------------------------------------------------------------------------
# model formulas
# ------------------------------------------------------------------------------------------

PARAMS = (0.5, 6.0, 0.8, 3.0)


def test_bgnbd_formulas_at_known_points():
    r, alpha, a, b = PARAMS
    # no repeat purchase: the customer is alive with probability 1 and L = (α/(α+T))^r
    got = bgnbd_loglik(PARAMS, [0], [0.0], [10.0])[0]
    assert got == pytest.approx(r * math.log(alpha / (alpha + 10.0)), rel=1e-12)
    assert bgnbd_p_alive(PARAMS, [0], [0.0], [10.0])[0] == 1.0
    # the longer since the last purchase, the less likely alive
    alive = bgnbd_p_alive(PARAMS, [3, 3], [9.0, 2.0], [10.0, 10.0])
    assert 0 < alive[1] < alive[0] < 1
    assert bgnbd_expected_purchases_new(PARAMS, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert bgnbd_conditional_expected_purchases(PARAMS, 0.0, [3], [9.0], [10.0])[0] == 0.0
    more = bgnbd_conditional_expected_purchases(PARAMS, 10.0, [1, 5], [9.0, 9.0], [10.0, 10.0])
    assert more[1] > more[0] > 0  # more past purchases, more expected


def test_gamma_gamma_conditional_spend_by_hand():
    # p(γ + x z̄)/(px + q − 1) with p=6, q=4, γ=15, x=2, z̄=10 → 6·35/15 = 14
    assert gamma_gamma_conditional_spend((6, 4, 15), [2], [10.0])[0] == pytest.approx(14.0)
    # no repeat purchase → the population mean pγ/(q−1) = 30
    assert gamma_gamma_conditional_spend((6, 4, 15), [0], [np.nan])[0] == pytest.approx(30.0)
    with pytest.raises(ValueError, match="q > 1"):
        gamma_gamma_conditional_spend((6, 0.9, 15), [2], [10.0])


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(42)
    T = rng.uniform(20, 52, size=600)
    freq, rec = simulate_bgnbd(PARAMS, T, seed=rng)
    return freq, rec, T


def test_integer_weights_equal_repeated_rows(simulated):
    freq, rec, T = simulated
    w = np.where(np.arange(freq.size) % 3 == 0, 2.0, 1.0)
    weighted = fit_bgnbd(freq, rec, T, weights=w)
    rows = np.repeat(np.arange(freq.size), w.astype(int))
    repeated = fit_bgnbd(freq[rows], rec[rows], T[rows])
    np.testing.assert_allclose(weighted.params, repeated.params, rtol=1e-4)
    assert weighted.weighted and not repeated.weighted
    assert weighted.loglik == pytest.approx(repeated.loglik, rel=1e-8)
    rep = freq > 0
    spend = simulate_gamma_gamma((6, 4, 15), freq[rep], seed=1)
    gw = fit_gamma_gamma(freq[rep], spend, weights=w[rep])
    rows = np.repeat(np.arange(rep.sum()), w[rep].astype(int))
    gr = fit_gamma_gamma(freq[rep][rows], spend[rows])
    np.testing.assert_allclose(gw.params, gr.params, rtol=1e-4)


def test_fit_errors_are_clear(simulated):
    freq, rec, T = simulated
    with pytest.raises(ModelFitError, match="none repeat"):
        fit_bgnbd(np.zeros(5), np.zeros(5), np.full(5, 10.0))
    with pytest.raises(ValueError, match=r"row 1, field 'frequency': got -1.0"):
        fit_bgnbd([1, -1], [1.0, 0.0], [5.0, 5.0])
    with pytest.raises(ValueError, match=r"row 0, field 'recency'"):
        fit_bgnbd([1], [6.0], [5.0])
    with pytest.raises(ValueError, match="weights must be 600"):
        fit_bgnbd(freq, rec, T, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"row 0, field 'monetary_value'"):
        fit_gamma_gamma([1, 2, 3], [0.0, 1.0, 2.0])


def test_predict_clv_discounting(simulated):
    freq, rec, T = simulated
    summary = pd.DataFrame(
        {
            "frequency": freq,
            "recency": rec,
            "T": T,
            "monetary_value": np.where(freq > 0, 20.0, np.nan),
        }
    )
    flat = predict_clv(PARAMS, (6, 4, 15), summary, horizon=26)
    np.testing.assert_allclose(flat.clv, flat.expected_purchases * flat.expected_spend)
    disc = predict_clv(PARAMS, (6, 4, 15), summary, horizon=26, discount_rate=0.01)
    assert (disc.clv < flat.clv).all() and (disc.clv > flat.clv / 1.01**26).all()
    one = predict_clv(PARAMS, (6, 4, 15), summary, horizon=1, discount_rate=0.05)
    np.testing.assert_allclose(one.clv, one.expected_purchases * one.expected_spend / 1.05)


# ------------------------------------------------------------------------------------------
# the study on a community
# ------------------------------------------------------------------------------------------


def _orders_for(prefix: str, params, n: int, rng: np.random.Generator, start: pd.Timestamp):
    """Simulated order log: first purchase on a random day, then BG/NBD repeat purchases."""
    r, alpha, a, b = params
    rows = []
    end_day = 365
    for i in range(n):
        first = int(rng.integers(0, 200))
        lam, p = rng.gamma(r, 1 / alpha) / 7, rng.beta(a, b)  # rate per day
        t = float(first)
        days = [first]
        while True:
            t += rng.exponential(1 / lam)
            if t > end_day:
                break
            days.append(int(t))
            if rng.random() < p:
                break
        nu = rng.gamma(4.0, 1 / 15.0)
        for j, d in enumerate(days):
            rows.append(
                (
                    f"{prefix}{i}-{j}",
                    f"{prefix}{i}",
                    start + pd.Timedelta(days=d, hours=12),
                    float(rng.gamma(6.0, 1 / nu)),
                )
            )
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "amount"])


@pytest.fixture(scope="module")
def shop() -> Tables:
    rng = np.random.default_rng(7)
    start = ts("2024-01-01")
    member_orders = _orders_for("m", (0.8, 4.0, 0.8, 3.0), 250, rng, start)
    other_orders = _orders_for("n", (0.4, 6.0, 0.8, 3.0), 250, rng, start)
    orders = pd.concat([member_orders, other_orders], ignore_index=True).assign(currency="EUR")
    members = make_members(
        [(f"u{i}", "2023-12-01", i == 0, False) for i in range(251)]  # u0 is staff
    )
    messages = make_messages([("1", "u1", "2024-01-02 10:00", None)])
    ids = sorted(orders.customer_id.unique())
    link = {f"m{i}": f"u{i + 1}" for i in range(250)}
    link["n0"] = "u0"  # a customer linked to staff is not a member
    customers = pd.DataFrame(
        {"customer_id": ids, "member_id": [link.get(c) for c in ids], "first_seen_at": start}
    )
    return Tables(members=members, messages=messages, customers=customers, orders=orders)


@pytest.fixture(scope="module")
def ltv(shop) -> LtvResult:
    return lifetime_value(Community.from_tables(shop), horizon=26, n_draws=60, seed=3)


def test_community_summary_labels_members(shop):
    summary = community_customer_summary(Community.from_tables(shop))
    assert summary.set_index("customer_id").loc["n0", "is_member"] == False  # noqa: E712
    assert summary.is_member.sum() == 250
    direct = customer_summary(shop.orders, calibration_end=shop.orders.ordered_at.max())
    pd.testing.assert_frame_equal(
        summary.set_index("customer_id")[direct.columns].sort_index(),
        direct,
        check_names=False,
    )


def test_lifetime_value_study(ltv):
    members, others = ltv.group("members"), ltv.group("non-members")
    assert members.n_customers == 250 and others.n_customers == 250
    # members were simulated with twice the purchase rate
    assert members.expected_purchases > others.expected_purchases
    assert members.new_customer_purchases > others.new_customer_purchases > 0
    assert members.new_customer_purchases == pytest.approx(
        float(members.bgnbd.expected_purchases_new(26))
    )
    for g in (members, others):
        assert g.expected_purchases_ci[0] <= g.expected_purchases <= g.expected_purchases_ci[1]
        assert g.clv_ci[0] <= g.clv <= g.clv_ci[1]
        assert g.clv > 0 and 0 < g.p_alive <= 1
    assert ltv.clv_diff == pytest.approx(members.clv - others.clv)
    frame = ltv.to_frame()
    assert {"r", "r_se", "p", "gamma_se", "clv_low", "clv_high"} <= set(frame.columns)
    assert "associational" in ltv.summary()
    assert "<table" in ltv._repr_html_()
    import matplotlib

    matplotlib.use("Agg")
    assert ltv.plot().get_ylabel().startswith("expected value")


def test_lifetime_value_is_reproducible_and_weights_are_labelled(shop, ltv):
    community = Community.from_tables(shop)
    again = lifetime_value(community, horizon=26, n_draws=60, seed=3)
    assert again.group("members").clv_ci == ltv.group("members").clv_ci
    ids = community_customer_summary(community).customer_id
    weighted = lifetime_value(
        community, horizon=26, n_draws=60, seed=3, weights=pd.Series(1.0, index=ids)
    )
    assert weighted.weighted and "weighted" in weighted.summary()
    np.testing.assert_allclose(
        weighted.group("members").bgnbd.params, ltv.group("members").bgnbd.params, rtol=1e-4
    )
    with pytest.raises(ValueError, match="no weight for customer_id"):
        lifetime_value(community, weights=pd.Series(1.0, index=ids[:10]), n_draws=10)


def test_lifetime_value_errors(shop):
    mixed = Tables(**{k: v for k, v in shop.items()})
    mixed.orders = shop.orders.assign(
        currency=["EUR", "USD"] * (len(shop.orders) // 2) + ["EUR"] * (len(shop.orders) % 2)
    )
    with pytest.raises(ValueError, match=r"field 'currency': found \['EUR', 'USD'\]"):
        lifetime_value(Community.from_tables(mixed), n_draws=10)
    with pytest.raises(ValueError, match="horizon >= 1"):
        lifetime_value(Community.from_tables(shop), horizon=0)


def test_dropout_ridge_is_flagged_and_bootstrap_holds_it_fixed():
    """Homogeneous drop-out (Beta concentrated at p = 0.2): a and b are not identified, the fit
    is flagged, and the conditional draws give a finite, narrow interval."""
    from analysis.conversion.bgnbd import fit_bgnbd, simulate_bgnbd
    from analysis.conversion.gamma_gamma import fit_gamma_gamma
    from analysis.conversion.ltv import _bootstrap_means, dropout_on_ridge

    age = np.full(3000, 52.0)
    freq, rec = simulate_bgnbd((1.0, 4.0, 2e5, 8e5), age, seed=7)
    ridge = fit_bgnbd(freq, rec, age)
    assert dropout_on_ridge(ridge)
    identified = fit_bgnbd(*simulate_bgnbd((0.5, 5.0, 0.8, 2.5), age, seed=7), age)
    assert not dropout_on_ridge(identified)
    rep = freq > 0
    rng = np.random.default_rng(0)
    spend = rng.gamma(4.0, 10.0, size=int(rep.sum()))
    gg = fit_gamma_gamma(freq[rep], spend)
    summary = pd.DataFrame({"frequency": freq, "recency": rec, "T": age, "monetary_value": np.nan})
    summary.loc[rep, "monetary_value"] = spend
    draws = _bootstrap_means(
        ridge,
        gg,
        summary,
        np.ones(len(summary)),
        horizon=26,
        discount_rate=0.0,
        n_draws=200,
        rng=np.random.default_rng(1),
    )
    purchases = draws[:, 0]
    assert np.all(np.isfinite(purchases))
    lo, hi = np.quantile(purchases, [0.025, 0.975])
    assert hi - lo < 0.2 * np.median(purchases)
