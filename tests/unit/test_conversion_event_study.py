"""Event study of spend around joining: hand-checked group-time effects, engine panel, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.conversion.event_study import (
    EventStudyInputError,
    EventStudyResult,
    event_study_from_panel,
    spend_event_study,
)
from analysis.conversion.event_study_panel import monthly_spend_panel
from analysis.data import Community
from analysis.schema import Tables
from analysis.synth.staggered_panel import make_staggered_panel
from tests.conftest import make_members, make_messages, ts


def _panel(rows: dict[str, tuple[float, list[float]]]) -> pd.DataFrame:
    out = []
    for unit, (cohort, spend) in rows.items():
        for period, y in enumerate(spend):
            if y is not None:
                out.append((unit, period, float(y), cohort))
    return pd.DataFrame(out, columns=["unit", "period", "spend", "cohort"])


HAND = {
    "u1": (2, [10, 10, 15, 17]),
    "u2": (2, [20, 22, 26, 30]),
    "u3": (np.nan, [5, 6, 7, 8]),
    "u4": (3, [0, 1, 1, 3]),
}


def test_group_time_effects_by_hand():
    """Cohort 2 (u1, u2; reference period 1) and cohort 3 (u4; reference 2) against units not yet
    joined at max(t, g − 1) and the never-joined u3 — worked out in the comments."""
    result = event_study_from_panel(_panel(HAND), event_window=(-3, 1), n_boot=50, seed=1)
    att = result.att_gt.set_index(["cohort", "period"])["att"]
    # ATT(2,0): treated (0 + -2)/2 = -1; controls u3, u4: (-1 + -1)/2 = -1 -> 0
    # ATT(2,2): treated (5 + 4)/2 = 4.5; controls u3, u4: (1 + 0)/2 -> 4
    # ATT(2,3): treated (7 + 8)/2 = 7.5; control u3 only (u4 joined at 3): 2 -> 5.5
    # ATT(3,t): u4 minus u3, reference period 2: t=0: -1 - -2 = 1; t=1: 0 - -1 = 1; t=3: 2-1 = 1
    expected = {(2, 0): 0.0, (2, 2): 4.0, (2, 3): 5.5, (3, 0): 1.0, (3, 1): 1.0, (3, 3): 1.0}
    assert att.to_dict() == pytest.approx(expected, abs=1e-12)
    counts = result.att_gt.set_index(["cohort", "period"])
    assert counts.loc[(2, 2), "n_control"] == 2 and counts.loc[(2, 3), "n_control"] == 1
    est = result.estimates.set_index("event_time")["estimate"]
    # cohort-size weights n_2 = 2, n_3 = 1
    assert est.loc[-3] == pytest.approx(1.0)
    assert est.loc[-2] == pytest.approx((2 * 0.0 + 1 * 1.0) / 3)
    assert est.loc[-1] == 0.0
    assert est.loc[0] == pytest.approx((2 * 4.0 + 1 * 1.0) / 3)
    assert est.loc[1] == pytest.approx(5.5)
    assert result.post_average == pytest.approx((3.0 + 5.5) / 2)
    assert result.pretrend_df == 2
    assert (result.n_units, result.n_treated, result.n_never) == (4, 3, 1)


def test_unobserved_reference_month_drops_the_unit_from_the_cell():
    rows = dict(HAND)
    rows["u5"] = (2, [None, None, 100, 100])  # not observed at its reference period 1
    a = event_study_from_panel(_panel(HAND), event_window=(-3, 1), n_boot=20)
    b = event_study_from_panel(_panel(rows), event_window=(-3, 1), n_boot=20)
    pd.testing.assert_series_equal(a.att_gt["att"], b.att_gt["att"])


def test_bootstrap_is_seeded_and_intervals_cover_estimate():
    panel = make_staggered_panel(n_customers=200, n_periods=8, cohorts=(3, 5), seed=4).panel
    a = event_study_from_panel(panel, n_boot=99, seed=7, event_window=(-3, 2))
    b = event_study_from_panel(panel, n_boot=99, seed=7, event_window=(-3, 2))
    c = event_study_from_panel(panel, n_boot=99, seed=8, event_window=(-3, 2))
    pd.testing.assert_frame_equal(a.estimates, b.estimates)
    assert not np.allclose(a.estimates["se"], c.estimates["se"])
    np.testing.assert_allclose(a.estimates["estimate"], c.estimates["estimate"])
    est = a.estimates[a.estimates["event_time"] != -1]
    assert ((est["ci_lower"] < est["estimate"]) & (est["estimate"] < est["ci_upper"])).all()
    assert (est["se"] > 0).all()


def test_result_presentation():
    panel = make_staggered_panel(n_customers=200, n_periods=8, cohorts=(3, 5), seed=4).panel
    result = event_study_from_panel(panel, n_boot=49, event_window=(-3, 2))
    assert isinstance(result, EventStudyResult)
    assert list(result.to_frame()["event_time"]) == [-3, -2, -1, 0, 1, 2]
    assert "not-yet" in result.summary() or "not joined yet" in result.summary()
    assert "pre-trend test" in result.summary()
    assert "<h4>" in result._repr_html_()
    ax = result.plot()
    assert "reference" in ax.get_xlabel()


def test_zero_variance_spend():
    rows = {u: (c, [7.0] * 4) for u, (c, _) in HAND.items()}
    result = event_study_from_panel(_panel(rows), event_window=(-3, 1), n_boot=20)
    assert (result.estimates["estimate"] == 0).all() and (result.estimates["se"] == 0).all()
    assert result.post_average == 0.0


def test_bad_panels():
    with pytest.raises(EventStudyInputError, match="lacks columns"):
        event_study_from_panel(_panel(HAND).drop(columns="cohort"))
    dup = pd.concat([_panel(HAND), _panel(HAND).head(1)])
    with pytest.raises(EventStudyInputError, match="more than one row for unit 'u1', period 0"):
        event_study_from_panel(dup)
    bad = _panel(HAND)
    bad.loc[3, "spend"] = np.inf
    with pytest.raises(EventStudyInputError, match="'spend' must be finite; unit 'u1', period 3"):
        event_study_from_panel(bad)
    with pytest.raises(ValueError, match="event_window"):
        event_study_from_panel(_panel(HAND), event_window=(0, 3))
    # everyone joins in the same month and nobody is left to compare with
    same = {u: (2, s) for u, (_, s) in HAND.items()}
    with pytest.raises(EventStudyInputError, match="comparison"):
        event_study_from_panel(_panel(same))


# ---- the engine panel ---------------------------------------------------------------------------


def _community(customers: list[tuple], orders: list[tuple]) -> Community:
    members = make_members(
        [
            ("a", "2024-03-10", False, False),
            ("b", "2024-01-05", False, False),
            ("c", "2024-05-20", False, False),
            ("s", "2024-03-01", True, False),
        ]
    )
    messages = make_messages([("1", "a", "2024-03-10 10:00", None)])
    cust = pd.DataFrame(
        {
            "customer_id": [r[0] for r in customers],
            "member_id": [r[1] for r in customers],
            "first_seen_at": [ts(r[2]) for r in customers],
        }
    )
    ords = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(orders))],
            "customer_id": [r[0] for r in orders],
            "ordered_at": [ts(r[1]) for r in orders],
            "amount": [float(r[2]) for r in orders],
            "currency": "RUB",
        }
    )
    tables = Tables(members=members, messages=messages, customers=cust, orders=ords)
    return Community.from_tables(tables, name="shop")


CUSTOMERS = [
    ("ca", "a", "2024-01-15"),  # joins 2024-03 -> cohort 2, observed from 0
    ("cb", "b", "2024-02-01"),  # joined 2024-01, customer from 2024-02: no pre month -> dropped
    ("cc", "c", "2024-02-10"),  # joins 2024-05 -> cohort 4, observed from 1
    ("cs", "s", "2024-01-01"),  # staff: left out
    ("cx", None, "2024-01-01"),  # never joined
]
ORDERS = [
    ("ca", "2024-01-20", 10),
    ("ca", "2024-01-25", 5),
    ("ca", "2024-03-31 23:59", 30),
    ("cb", "2024-02-03", 8),
    ("cc", "2024-04-01", 12),
    ("cs", "2024-02-02", 99),
    ("cx", "2024-01-03", 4),
    ("cx", "2024-05-31", 6),
]


def test_monthly_spend_panel_by_hand():
    panel = monthly_spend_panel(_community(CUSTOMERS, ORDERS))
    assert list(panel.months.strftime("%Y-%m")) == [
        "2024-01",
        "2024-02",
        "2024-03",
        "2024-04",
        "2024-05",
    ]
    assert panel.dropped_no_pre == 1
    frame = panel.frame.set_index(["unit", "period"])
    assert set(panel.frame["unit"]) == {"ca", "cc", "cx"}
    assert frame.loc["ca", "spend"].tolist() == [15.0, 0.0, 30.0, 0.0, 0.0]
    assert frame.loc["cc", "spend"].tolist() == [0.0, 0.0, 12.0, 0.0]  # observed from 2024-02
    assert frame.loc["cx", "spend"].tolist() == [4.0, 0.0, 0.0, 0.0, 6.0]
    cohorts = panel.frame.groupby("unit")["cohort"].first()
    assert cohorts["ca"] == 2 and cohorts["cc"] == 4 and np.isnan(cohorts["cx"])
    only = monthly_spend_panel(_community(CUSTOMERS, ORDERS), include_never=False)
    assert set(only.frame["unit"]) == {"ca", "cc"}


def test_engine_study_equals_panel_study():
    community = _community(CUSTOMERS, ORDERS)
    panel = monthly_spend_panel(community)
    a = spend_event_study(community, n_boot=30, event_window=(-2, 1))
    b = event_study_from_panel(panel.frame, n_boot=30, event_window=(-2, 1), dropped_no_pre=1)
    pd.testing.assert_frame_equal(a.estimates, b.estimates)
    assert a.dropped_no_pre == 1


def test_members_without_customers():
    customers = [("cx", None, "2024-01-01"), ("cs", "s", "2024-01-01")]
    orders = [("cx", "2024-01-03", 4), ("cs", "2024-03-03", 4)]
    with pytest.raises(EventStudyInputError, match="customers.member_id"):
        spend_event_study(_community(customers, orders))


def test_no_orders():
    with pytest.raises(EventStudyInputError, match="'orders' is empty"):
        monthly_spend_panel(_community(CUSTOMERS, []))


def test_bootstrap_in_chunks_gives_the_same_draws(monkeypatch):
    import analysis.conversion.event_study as module

    panel = make_staggered_panel(n_customers=200, n_periods=8, cohorts=(3, 5), seed=4).panel
    whole = event_study_from_panel(panel, n_boot=99, event_window=(-3, 2))
    monkeypatch.setattr(module, "CHUNK_CELLS", 200 * 7)  # 7 replicates per chunk
    chunked = event_study_from_panel(panel, n_boot=99, event_window=(-3, 2))
    pd.testing.assert_frame_equal(whole.estimates, chunked.estimates)
    assert whole.pretrend_p == chunked.pretrend_p


def test_nobody_joins_inside_the_panel():
    # a joined before its customer record (no pre-month), c joins after the last order month
    customers = [("cb", "b", "2024-02-01"), ("cx", None, "2024-01-01")]
    orders = [("cb", "2024-02-03", 8), ("cx", "2024-01-03", 4), ("cx", "2024-03-03", 4)]
    with pytest.raises(EventStudyInputError, match=r"joins inside the panel 2024-01\.\.2024-03"):
        spend_event_study(_community(customers, orders))
