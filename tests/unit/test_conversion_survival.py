"""Time to first purchase: hand-checked tables, Kaplan–Meier numbers and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.conversion.survival import (
    CoxResult,
    SurvivalResult,
    cox_time_varying,
    fit_time_varying_cox,
    kaplan_meier,
    km_by_engagement,
    loglog_interval,
)
from analysis.conversion.survival_data import (
    SurvivalInputError,
    engagement_levels,
    purchase_episodes,
    purchase_times,
    weekly_messages_expr,
)
from analysis.data import Community
from analysis.schema import Tables
from tests.conftest import make_members, make_messages, ts


def _customers(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "member_id": [r[1] for r in rows],
            "first_seen_at": [ts(r[2]) for r in rows],
        }
    )


def _orders(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ordered_at": [ts(r[1]) for r in rows],
            "amount": [10.0] * len(rows),
            "currency": "RUB",
        }
    )


def _community(customers=None, orders=None) -> Community:
    """a (high: 5 early messages) buys on day 30; b (low: 1 early) never buys (censored day
    60); c (none; a service message does not count) buys on day 30; e buys on day 5 (before the
    landmark); d has no customer; s is staff with a customer."""
    members = make_members(
        [
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-01", False, False),
            ("c", "2024-01-11", False, False),
            ("d", "2024-01-01", False, False),
            ("e", "2024-01-01", False, False),
            ("s", "2023-01-01", True, False),
        ]
    )
    messages = make_messages(
        [
            ("1", "a", "2024-01-01 10:00", None),
            ("2", "a", "2024-01-02 10:00", None),
            ("3", "a", "2024-01-03 10:00", None),
            ("4", "a", "2024-01-09 10:00", None),
            ("5", "a", "2024-01-10 10:00", None),
            ("6", "b", "2024-01-03 10:00", None),
            ("7", "b", "2024-01-21 10:00", None),
            ("8", "c", "2024-01-11 10:00", None, "service"),
            ("9", "s", "2024-01-05 10:00", None),
        ]
    )
    if customers is None:
        customers = _customers(
            [
                ("ca", "a", "2023-12-01"),
                ("cb", "b", "2023-12-01"),
                ("cc", "c", "2024-01-11"),
                ("ce", "e", "2024-01-01"),
                ("cs", "s", "2023-01-01"),
                ("cx", None, "2023-12-01"),
            ]
        )
    if orders is None:
        orders = _orders(
            [
                ("ca", "2023-12-20"),  # before a joined: ignored (and sets the data start)
                ("ca", "2024-01-31"),
                ("ca", "2024-02-15"),  # not the first
                ("cc", "2024-02-10"),
                ("ce", "2024-01-06"),
                ("cs", "2024-01-02"),
                ("cx", "2024-03-01"),  # sets the end of the order data
            ]
        )
    tables = Tables(members=members, messages=messages, customers=customers, orders=orders)
    return Community.from_tables(tables, name="hand")


def test_purchase_times_by_hand():
    times = purchase_times(_community()).set_index("member_id")
    assert sorted(times.index) == ["a", "b", "c", "e"]  # d has no customer, s is staff
    assert times.loc["a", "time"] == pytest.approx(30.0)
    assert times.loc["b", "time"] == pytest.approx(60.0)
    assert times.loc["c", "time"] == pytest.approx(30.0)
    assert times.loc["e", "time"] == pytest.approx(5.0)
    assert times["event"].to_dict() == {"a": 1, "b": 0, "c": 1, "e": 1}
    assert times["early_messages"].to_dict() == {"a": 5, "b": 1, "c": 0, "e": 0}
    assert times["engagement"].astype(str).to_dict() == {
        "a": "high",
        "b": "low",
        "c": "none",
        "e": "none",
    }
    assert (times["entry"] == 0).all()


def test_entry_when_orders_start_after_joining():
    times = purchase_times(_community(), orders_start="2024-01-06").set_index("member_id")
    assert times.loc["a", "entry"] == pytest.approx(5.0)
    assert times.loc["c", "entry"] == 0.0


def test_engagement_levels_boundaries():
    levels = engagement_levels(pd.Series([0, 1, 4, 5, 99]), (1, 5), ("none", "low", "high"))
    assert list(levels.astype(str)) == ["none", "low", "low", "high", "high"]
    with pytest.raises(ValueError, match="one more than cutoffs"):
        engagement_levels(pd.Series([0]), (1, 5), ("none", "high"))
    with pytest.raises(ValueError, match="increasing"):
        engagement_levels(pd.Series([0]), (5, 1), ("a", "b", "c"))


def test_kaplan_meier_by_hand():
    # t = 1, 2, 2+, 3, 4+: S = 4/5, then ·3/4, then ·1/2 (2 at risk at t = 3)
    table, (median, lo, hi) = kaplan_meier(np.array([1, 2, 2, 3, 4]), np.array([1, 1, 0, 1, 0]))
    assert table["time"].tolist() == [1, 2, 3]
    assert table["at_risk"].tolist() == [5, 4, 2]
    np.testing.assert_allclose(table["survival"], [0.8, 0.6, 0.3], atol=1e-12)
    greenwood = np.cumsum([1 / 20, 1 / 12, 1 / 2])
    np.testing.assert_allclose(table["se"], [0.8, 0.6, 0.3] * np.sqrt(greenwood), atol=1e-12)
    s, v = 0.3, greenwood[-1]
    z = 1.959963984540054
    bounds = sorted(
        np.exp(-np.exp(np.log(-np.log(s)) + k * z * np.sqrt(v) / np.log(s))) for k in (1, -1)
    )
    assert table["ci_lower"].iloc[-1] == pytest.approx(bounds[0], abs=1e-12)
    assert table["ci_upper"].iloc[-1] == pytest.approx(bounds[1], abs=1e-12)
    assert median == 3.0


def test_loglog_interval_undefined_at_0_and_1():
    lower, upper = loglog_interval(np.array([1.0, 0.5, 0.0]), np.array([0.0, 0.1, np.inf]))
    assert np.isnan(lower[0]) and np.isnan(upper[2])
    assert 0 < lower[1] < 0.5 < upper[1] < 1


def test_km_by_engagement_landmark():
    result = km_by_engagement(_community(), engagement_days=14)
    assert isinstance(result, SurvivalResult)
    assert result.n_members == 3 and result.n_before_landmark == 1  # e bought on day 5
    med = result.medians.set_index("level")
    assert med.loc["high", "median_days"] == pytest.approx(30.0)
    assert med.loc["none", "median_days"] == pytest.approx(30.0)
    assert np.isinf(med.loc["low", "median_days"])
    assert med["members"].to_dict() == {"none": 1, "low": 1, "high": 1}
    curves = result.curves
    assert curves["time"].min() > 14  # the clock is days since joining, curves start after it
    assert result.logrank_df == 2 and 0 <= result.logrank_p <= 1
    assert "log-rank" in result.summary()
    assert "<h4>" in result._repr_html_()
    ax = result.plot()
    assert ax.get_xlabel() == "days since joining"


def test_weekly_messages_and_episodes_by_hand():
    community = _community()
    weekly = community.execute(weekly_messages_expr(community))
    a = weekly[weekly["member_id"] == "a"].set_index("week")["messages"].to_dict()
    assert a == {0: 3, 1: 2}
    times = purchase_times(community)
    ep = purchase_episodes(times, weekly, covariate="cumulative")
    ea = ep[ep["member_id"] == "a"]
    assert ea["start"].tolist() == [0, 7, 14, 21, 28]
    assert ea["stop"].tolist() == [7, 14, 21, 28, 30]
    assert ea["messages"].tolist() == [0, 3, 5, 5, 5]
    assert ea["event"].tolist() == [0, 0, 0, 0, 1]
    prev = purchase_episodes(times, weekly, covariate="previous_week")
    assert prev[prev["member_id"] == "a"]["messages"].tolist() == [0, 3, 2, 0, 0]
    eb = ep[ep["member_id"] == "b"]
    assert eb["stop"].iloc[-1] == pytest.approx(60.0) and eb["event"].sum() == 0
    with pytest.raises(ValueError, match="covariate must be"):
        purchase_episodes(times, weekly, covariate="current")


def test_episodes_respect_entry():
    community = _community()
    times = purchase_times(community, orders_start="2024-01-10")
    weekly = community.execute(weekly_messages_expr(community))
    ea = purchase_episodes(times, weekly)
    ea = ea[ea["member_id"] == "a"]
    assert ea["start"].iloc[0] == pytest.approx(9.0) and ea["messages"].iloc[0] == 3


def test_cox_runs_and_reports():
    result = cox_time_varying(_community(), scale="any")
    assert isinstance(result, CoxResult)
    assert result.n_members == 4 and result.n_events == 3
    assert result.hr_ci_lower < result.hazard_ratio < result.hr_ci_upper
    assert list(result.to_frame()["term"]) == ["any(cumulative messages)"]
    assert "hazard" in result.summary()
    result.plot()


def test_members_without_customers():
    customers = _customers([("cx", None, "2023-12-01"), ("cs", "s", "2023-01-01")])
    orders = _orders([("cx", "2024-03-01")])
    with pytest.raises(SurvivalInputError, match="customers', field 'member_id'"):
        purchase_times(_community(customers=customers, orders=orders))


def test_no_orders_table():
    community = _community()
    tables = dict(community.tables)
    del tables["orders"]
    from dataclasses import replace

    with pytest.raises(SurvivalInputError, match="no 'orders' table"):
        purchase_times(replace(community, tables=tables))


def test_no_events():
    episodes = pd.DataFrame(
        {
            "member_id": ["a", "b"],
            "start": [0.0, 0.0],
            "stop": [7.0, 7.0],
            "event": [0, 0],
            "messages": [0, 3],
        }
    )
    with pytest.raises(SurvivalInputError, match="no first purchase"):
        fit_time_varying_cox(episodes)


def test_zero_variance_covariate():
    episodes = pd.DataFrame(
        {
            "member_id": ["a", "b"],
            "start": [0.0, 0.0],
            "stop": [3.0, 7.0],
            "event": [1, 0],
            "messages": [2, 2],
        }
    )
    with pytest.raises(SurvivalInputError, match="constant"):
        fit_time_varying_cox(episodes)
    with pytest.raises(ValueError, match="scale must be"):
        fit_time_varying_cox(episodes, scale="sqrt")


def test_single_level_has_no_logrank():
    result = km_by_engagement(
        _community(), engagement_days=14, cutoffs=(100,), labels=("few", "many")
    )
    assert result.logrank_df == 0 and np.isnan(result.logrank_p)
    assert "log-rank" not in result.summary()


def test_landmark_with_nobody_left():
    with pytest.raises(SurvivalInputError, match="landmark"):
        km_by_engagement(_community(), engagement_days=90)


def test_weekly_messages_floor_fractional_seconds():
    # b joined 2024-01-01 00:00; a message 0.6 s before the end of week 0 stays in week 0
    # (604,799 whole seconds; rounding would give 604,800 = week 1, as Spark never does)
    base = _community()
    msgs = base.execute(base.messages)
    extra = msgs.iloc[[0]].assign(
        message_id="x", member_id="b", created_at=pd.Timestamp("2024-01-07 23:59:59.6", tz="UTC")
    )
    tables = {name: base.execute(t) for name, t in base.tables.items()}
    tables["messages"] = pd.concat([msgs, extra], ignore_index=True)
    community = Community.from_tables(Tables(**tables))
    weekly = community.execute(weekly_messages_expr(community))
    b = weekly[weekly["member_id"] == "b"].set_index("week")["messages"].to_dict()
    assert b == {0: 2, 2: 1}
