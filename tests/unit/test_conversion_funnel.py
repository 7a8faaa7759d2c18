"""Funnel counts on a tiny community checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.conversion.funnel import STAGES, FunnelResult, funnel, wilson_rates
from analysis.data import Community
from analysis.schema import Tables
from tests.conftest import make_members, make_messages, ts

# window 30 days, engaged = 2 messages in the first 10 days
OPTIONS = {"engaged_messages": 2, "engaged_days": 10, "window_days": 30}


def _tables(extra_messages: list[tuple] = ()) -> Tables:
    """Members (joined, source, referrer) and what each did:

    a 2024-01-01 ads        posts 01-02 and 01-05 (engaged), buys 01-20        → full funnel
    b 2024-01-10 organic    referred by a; posts 01-25 only (not engaged); buys 01-15
    c 2024-02-01 ads        posted 01-25, *before* joining; only a service event after → not posted
    e 2024-02-10 (none)     posts 02-11, 02-12, 02-13 (engaged); buys 03-20, day 39 → too late
    d 2024-04-15 ads        posts 04-16; joined + 30 days is after the last message → unexposed
    s staff, t bot          excluded (s posts the last message, 04-30)
    """
    members = make_members(
        [
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-10", False, False),
            ("c", "2024-02-01", False, False),
            ("e", "2024-02-10", False, False),
            ("d", "2024-04-15", False, False),
            ("s", "2023-12-01", True, False),
            ("t", "2023-12-01", False, True),
        ]
    )
    members["source"] = ["ads", "organic", "ads", None, "ads", None, None]
    members["referred_by"] = [None, "a", None, None, None, None, None]
    messages = make_messages(
        [
            ("1", "a", "2024-01-02 10:00", None),
            ("2", "a", "2024-01-05 10:00", None),
            ("3", "b", "2024-01-25 10:00", None),
            ("4", "c", "2024-01-25 11:00", None),
            ("5", "c", "2024-02-01 09:00", None, "service"),
            ("6", "e", "2024-02-11 10:00", None),
            ("7", "e", "2024-02-12 10:00", None),
            ("8", "e", "2024-02-13 10:00", None),
            ("9", "d", "2024-04-16 10:00", None),
            ("10", "t", "2024-03-01 10:00", None),
            ("11", "s", "2024-04-30 10:00", None),
            *extra_messages,
        ]
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["ca", "cb", "ce", "cx"],
            "member_id": ["a", "b", "e", None],
            "first_seen_at": [ts("2024-01-01")] * 4,
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4"],
            "customer_id": ["ca", "cb", "ce", "cx"],
            "ordered_at": [
                ts("2024-01-20"),
                ts("2024-01-15"),
                ts("2024-03-20"),
                ts("2024-04-30 12:00"),
            ],
            "amount": [10.0, 20.0, 30.0, 40.0],
            "currency": "EUR",
        }
    )
    return Tables(members=members, messages=messages, customers=customers, orders=orders)


@pytest.fixture(scope="module")
def result() -> FunnelResult:
    return funnel(Community.from_tables(_tables(), name="tiny"), **OPTIONS)


def _row(res: FunnelResult, stage: str, cohort: str = "all", source: str = "all") -> pd.Series:
    t = res.to_frame()
    hit = t[(t.cohort == cohort) & (t.source == source) & (t.stage == stage)]
    assert len(hit) == 1, (cohort, source, stage)
    return hit.iloc[0]


def test_overall_counts_by_hand(result):
    want = {  # stage: (exposed, entered, reached, met)
        "joined": (5, 5, 5, 5),
        "posted": (4, 4, 3, 3),  # a, b, e posted; d is not exposed
        "engaged": (4, 3, 2, 2),  # a, e
        "purchased": (4, 2, 1, 2),  # a bought after engaging; b bought without engaging
    }
    for stage, counts in want.items():
        row = _row(result, stage)
        assert tuple(int(row[k]) for k in ("exposed", "entered", "reached", "met")) == counts
    assert _row(result, "posted")["rate"] == pytest.approx(3 / 4)
    assert _row(result, "engaged")["rate"] == pytest.approx(2 / 3)
    assert _row(result, "purchased")["rate"] == pytest.approx(1 / 2)
    assert _row(result, "purchased")["overall"] == pytest.approx(1 / 4)
    assert result.excluded == 2
    assert result.messages_end == ts("2024-04-30 10:00")
    assert result.orders_end == ts("2024-04-30 12:00")


def test_counts_by_source_and_cohort(result):
    ads = [(int(_row(result, s, source="ads")["reached"])) for s in STAGES]
    assert ads == [3, 1, 1, 1]  # a, c, d joined; only a goes through
    assert int(_row(result, "posted", source="ads")["exposed"]) == 2
    assert int(_row(result, "joined", source="unknown")["reached"]) == 1  # e has no source
    jan = [int(_row(result, s, cohort="2024-01")["reached"]) for s in STAGES]
    assert jan == [2, 2, 1, 1]
    feb = [int(_row(result, s, cohort="2024-02", source="all")["reached"]) for s in STAGES]
    assert feb == [2, 1, 1, 0]
    assert set(result.to_frame().cohort) == {"2024-01", "2024-02", "2024-04", "all"}


def test_unexposed_group_gives_documented_nan(result):
    row = _row(result, "posted", cohort="2024-04")
    assert int(row["exposed"]) == 0
    assert math.isnan(row["rate"]) and math.isnan(row["rate_low"]) and math.isnan(row["overall"])
    assert _row(result, "joined", cohort="2024-04")["overall"] == 1.0


def test_purchase_exposure_follows_the_order_data():
    # a later staff message extends the message data to 05-20: d (joined 04-15) is now observed
    # for 30 days of messages, but orders end 04-30, so d is exposed for posting, not purchase
    later = [("12", "s", "2024-05-20 10:00", None)]
    res = funnel(Community.from_tables(_tables(later)), **OPTIONS)
    assert int(_row(res, "posted")["exposed"]) == 5
    assert int(_row(res, "posted")["reached"]) == 4
    assert int(_row(res, "purchased")["exposed"]) == 4


def test_wilson_intervals_match_statsmodels(result):
    t = result.to_frame()
    live = t[t.entered > 0]
    low, high = proportion_confint(live.reached, live.entered, alpha=0.05, method="wilson")
    np.testing.assert_allclose(live.rate_low, low, rtol=1e-12)
    np.testing.assert_allclose(live.rate_high, high, rtol=1e-12)
    rate, lo, hi = wilson_rates([3, 0], [4, 0], alpha=0.1)
    want = proportion_confint(3, 4, alpha=0.1, method="wilson")
    assert (lo[0], hi[0]) == pytest.approx(want) and rate[0] == 0.75
    assert np.isnan([rate[1], lo[1], hi[1]]).all()


def test_referral_conversion(result):
    ref = result.referral
    assert ref is not None
    # exposed for purchase: referred b (bought) vs a, c, e (a bought)
    assert (ref.successes_treatment, ref.n_treatment) == (1, 1)
    assert (ref.successes_control, ref.n_control) == (1, 3)
    assert ref.diff == pytest.approx(1 - 1 / 3)
    assert ref.diff_ci[0] < ref.diff < ref.diff_ci[1]


def test_no_referrals_means_no_referral_comparison():
    tables = _tables()
    tables.members["referred_by"] = None
    res = funnel(Community.from_tables(tables), **OPTIONS)
    assert res.referral is None
    assert "Referred" not in res.summary()


def test_result_surface(result):
    text = result.summary()
    assert "Of 4 members" in text and "75% posted" in text and "associational" in text
    html = result._repr_html_()
    assert "<table" in html
    import matplotlib

    matplotlib.use("Agg")
    ax = result.plot()
    assert ax.get_ylabel() == "share of exposed joiners"


def test_errors_are_clear():
    community = Community.from_tables(_tables())
    with pytest.raises(ValueError, match="engaged_days <= window_days"):
        funnel(community, engaged_days=40, window_days=30)
    only_staff = _tables()
    only_staff.members["is_staff"] = True
    with pytest.raises(ValueError, match="no members other than staff and bots"):
        funnel(Community.from_tables(only_staff), **OPTIONS)
    no_orders = _tables()
    with pytest.raises(KeyError, match="no 'orders' table"):
        funnel(
            Community.from_tables(Tables(members=no_orders.members, messages=no_orders.messages))
        )
