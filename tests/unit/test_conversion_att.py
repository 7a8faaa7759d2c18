"""Unit tests of the ATT study: estimators against independent implementations, balance, errors,
the aligned-index-date design on a hand-built community, and the conversion panel generator."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

from analysis.conversion.att import DesignError, compare_att
from analysis.conversion.att_estimators import doubly_robust_att, matching_att, weighting_att
from analysis.conversion.att_study import default_terms, member_effect
from analysis.conversion.balance import balance_table
from analysis.conversion.design import COVARIATES, build_design
from analysis.conversion.propensity import effective_sample_size, fit_propensity
from analysis.data import Community
from analysis.schema import Tables, empty_table
from analysis.synth.conversion_panel import generate_conversion_panel


def _frame(n: int = 600, seed: int = 0, effect: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 3, n).astype(float)  # discrete: ties in the score
    t = (rng.random(n) < expit(-1.2 + 0.8 * x1 + 0.3 * x2)).astype(int)
    y = 1.0 + 1.5 * x1 - 0.5 * x2 + effect * t + rng.normal(size=n)
    return pd.DataFrame({"t": t, "y": y, "x1": x1, "x2": x2})


def _brute_force_matching(t: np.ndarray, y: np.ndarray, s: np.ndarray) -> float:
    """Every treated unit against every control: the mean outcome of the nearest (ties kept)."""
    st, sc, yc = s[t == 1], s[t == 0], y[t == 0]
    dist = np.abs(st[:, None] - sc[None, :])
    nearest = dist <= dist.min(axis=1, keepdims=True) + 1e-9
    y0 = (nearest * yc).sum(axis=1) / nearest.sum(axis=1)
    return float(np.mean(y[t == 1] - y0))


def test_matching_equals_brute_force_nearest_neighbour_with_ties():
    df = _frame()
    fit = fit_propensity(df, "t", ["x1", "x2"])
    t, y = df["t"].to_numpy(float), df["y"].to_numpy(float)
    # rounded scores create many exact ties, which both implementations must average
    for score in (fit.logit, np.round(fit.logit, 1)):
        est = matching_att(t, y, score)
        assert est.estimate == pytest.approx(_brute_force_matching(t, y, score), abs=1e-10)
        # control weights: times used, summing to the number of treated
        assert est.control_weights.sum() == pytest.approx(t.sum())


def test_weighting_equals_weighted_least_squares_and_dr_equals_statsmodels_recipe():
    df = _frame(seed=1)
    fit = fit_propensity(df, "t", ["x1", "x2"])
    t, y = df["t"].to_numpy(float), df["y"].to_numpy(float)
    # independent: statsmodels' logit on the raw columns gives the same scores
    X = sm.add_constant(df[["x1", "x2"]].to_numpy())
    e = sm.Logit(t, X).fit(disp=False).predict(X)
    np.testing.assert_allclose(fit.score, e, rtol=1e-8)
    w = np.where(t == 1, 1.0, e / (1 - e))
    wls = sm.WLS(y, sm.add_constant(t), weights=w).fit()
    assert weighting_att(t, y, fit.X, fit.beta).estimate == pytest.approx(wls.params[1], rel=1e-9)
    ols = sm.OLS(y[t == 0], X[t == 0]).fit()
    r = y - ols.predict(X)
    dr = r[t == 1].mean() - np.sum(w[t == 0] * r[t == 0]) / w[t == 0].sum()
    assert doubly_robust_att(t, y, fit.X, fit.beta, fit.X).estimate == pytest.approx(dr, rel=1e-9)


def test_compare_att_recovers_a_planted_effect_and_reports_balance():
    df = _frame(n=4000, seed=2, effect=2.0)
    res = compare_att(df, treatment="t", outcome="y", covariates=["x1", "x2"])
    assert res.naive_gap > 2.5  # selection on x1 inflates the raw gap
    for r in res.results:
        assert r.ci_low < 2.0 < r.ci_high, r
        assert 0 < r.share_from_selection < 1
    smd = res.max_abs_smd_after()
    assert smd["before"] > 0.5 and smd["weighting"] < 0.05 and smd["matching"] < 0.1
    assert res.n_treated + res.n_control == 4000
    frame = res.to_frame()
    assert list(frame.index) == ["matching", "weighting", "doubly_robust"]
    assert "of the raw gap is explained by who joins" in res.summary()
    assert res.plot().get_xlabel().startswith("propensity score")
    assert res.plot_balance() is not None and res.result("weighting").plot() is not None
    assert "<table" in res._repr_html_()


def test_balance_table_matches_hand_computation():
    df = pd.DataFrame({"t": [1, 1, 0, 0, 0], "x": [2.0, 4.0, 1.0, 2.0, 3.0]})
    tab = balance_table(df, "t", ["x"], {"w": np.array([0.0, 1.0, 1.0])})
    sd = np.sqrt((np.var([2, 4], ddof=1) + np.var([1, 2, 3], ddof=1)) / 2)
    assert tab.loc["x", "smd_before"] == pytest.approx((3 - 2) / sd)
    assert tab.loc["x", "smd_w"] == pytest.approx((3 - 2.5) / sd)


def test_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.array([1.0, 0, 0, 0])) == pytest.approx(1)


def test_scores_are_not_clipped_and_overlap_is_reported():
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=n)
    t = (rng.random(n) < expit(-4 + 1.5 * x)).astype(int)  # treated a small minority
    df = pd.DataFrame({"t": t, "x": x, "y": x + t + rng.normal(size=n)})
    res = compare_att(df, treatment="t", outcome="y", covariates=["x"])
    assert res.score_control_range[0] < 0.001  # far below any clipping bound
    assert res.max_control_weight_share > 0
    assert res.result("weighting").ess_control < res.n_control / 2


def test_placebo_runs_on_its_own_covariates():
    df = _frame(n=2000, seed=4)
    df["pre"] = df["x1"] * 2 + np.random.default_rng(0).normal(size=len(df))
    res = compare_att(
        df,
        treatment="t",
        outcome="y",
        covariates=["x1", "x2", "pre"],
        placebo_outcome="pre",
    )
    assert [r.method for r in res.placebo] == ["matching", "weighting", "doubly_robust"]
    assert all(r.outcome == "pre" for r in res.placebo)
    assert res.result("doubly_robust").ci_low < 2 < res.result("doubly_robust").ci_high
    p = next(r for r in res.placebo if r.method == "doubly_robust")
    assert p.ci_low < 0 < p.ci_high
    assert "placebo_doubly_robust" in res.to_frame().index


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="x2"), "no column(s) ['x2']"),
        (lambda d: d.assign(x1=d["x1"].where(d.index != 7)), "column 'x1', row 7"),
        (lambda d: d.assign(t=d["t"].where(d.index != 3, 2)), "column 't', row 3: value 2"),
        (lambda d: d.assign(t=0).assign(t=lambda f: (f.index == 0).astype(int)), "at least 2"),
    ],
)
def test_bad_design_frames_are_named(change, message):
    with pytest.raises(DesignError, match=re.escape(message)):
        compare_att(change(_frame()), treatment="t", outcome="y", covariates=["x1", "x2"])


def test_constant_covariate_is_a_clear_error_and_default_terms_drop_it():
    df = _frame().assign(c=1.0)
    with pytest.raises(ValueError, match="constant"):
        compare_att(df, treatment="t", outcome="y", covariates=["x1", "c"])
    terms, dropped = default_terms(df.assign(orders_early=df["x2"]), ["orders_early", "c"])
    assert terms == "np.log1p(orders_early)" and dropped == ["c"]


# ---- the design on a hand-built community -------------------------------------------------


def _ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def _community() -> Community:
    members = empty_table("members").reindex(range(3))
    members = members.assign(
        member_id=["m1", "m2", "staff"],
        platform="telegram",
        joined_at=[_ts("2024-03-01"), _ts("2024-05-01"), _ts("2024-01-01")],
        source=None,
        is_staff=[False, False, True],
        is_bot=False,
        display_name=None,
        referred_by=None,
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            # a: member m1 known before joining; b: m2 became a customer after joining;
            # c, d: non-members; e: linked to staff (a non-member); f: first seen after all joins
            "member_id": ["m1", "m2", None, None, "staff", None],
            "first_seen_at": [
                _ts("2023-06-01"),
                _ts("2024-06-01"),
                _ts("2023-01-01"),
                _ts("2024-04-01"),
                _ts("2023-01-01"),
                _ts("2024-07-01"),
            ],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(8)],
            "customer_id": ["a", "a", "a", "a", "c", "c", "d", "f"],
            "ordered_at": [
                _ts("2023-07-01"),  # a: early window [2022-12-02, 2023-12-02)
                _ts("2024-01-15"),  # a: recent window [2023-12-02, 2024-03-01)
                _ts("2024-03-01"),  # a: at the index -> outcome
                _ts("2024-05-30"),  # a: index + 90 d = 2024-05-30 -> outside the horizon
                _ts("2023-02-01"),
                _ts("2024-02-01"),
                _ts("2024-04-02"),
                _ts("2024-12-31"),  # end of the order data
            ],
            "amount": [10.0, 20.0, 30.0, 40.0, 5.0, 6.0, 7.0, 8.0],
            "currency": "RUB",
        }
    )
    tables = Tables(
        members=members, messages=empty_table("messages"), customers=customers, orders=orders
    )
    return Community.from_tables(tables, name="hand-built")


def test_design_aligns_index_dates_and_measures_windows():
    design = build_design(_community(), horizon_days=90, seed=1)
    f = design.frame.set_index("customer_id")
    assert design.excluded == {
        "members_customer_after_joining": 1,
        "non_members_no_eligible_date": 2,
        "members_unexposed": 0,
        "non_members_unexposed": 0,
    }
    assert sorted(f.index) == ["a", "c", "e"]
    a = f.loc["a"]
    assert a["member"] == 1 and a["index_at"] == _ts("2024-03-01")
    assert (a["orders_early"], a["spend_early"]) == (1, 10.0)
    assert (a["orders_recent"], a["spend_recent"], a["placebo_spend"]) == (1, 20.0, 20.0)
    assert (a["purchased"], a["spend"]) == (1, 30.0)
    assert a["days_since_last_order"] == pytest.approx((_ts("2024-03-01") - _ts("2024-01-15")).days)
    assert a["days_since_first_seen"] == (_ts("2024-03-01") - _ts("2023-06-01")).days
    # the only member index date is 2024-03-01: non-members first seen before it get it;
    # d (first seen 2024-04-01) and f (2024-07-01) have no eligible date and are excluded
    assert (f.loc[["c", "e"], "index_at"] == _ts("2024-03-01")).all()
    c = f.loc["c"]
    assert (c["orders_early"], c["orders_recent"], c["purchased"]) == (1, 1, 0)
    assert c["ever_ordered"] == 1 and c["days_since_last_order"] == 29
    e = f.loc["e"]
    assert e["ever_ordered"] == 0 and e["days_since_last_order"] == e["days_since_first_seen"]
    assert set(COVARIATES) <= set(design.frame.columns)
    assert "members" in design.summary() and len(design.to_frame()) == 2


def test_design_exposure_and_bad_parameters():
    # every index is 2024-03-01; + 320 d is after the last order (2024-12-31)
    with pytest.raises(ValueError, match="no customer has a full 320-day horizon"):
        build_design(_community(), horizon_days=320)
    panel = generate_conversion_panel(400, seed=6, days=500, first_seen_span=300)
    design = build_design(Community.from_tables(panel.tables), horizon_days=120)
    end = panel.tables.orders["ordered_at"].max()
    index = design.frame["index_at"]
    assert (index + pd.Timedelta(days=120) <= end).all()
    assert design.excluded["members_unexposed"] + design.excluded["non_members_unexposed"] > 0
    with pytest.raises(ValueError, match="horizon_days must be a positive whole number"):
        build_design(_community(), horizon_days=0)


def test_design_index_draw_is_seeded():
    panel = generate_conversion_panel(400, seed=5)
    c = Community.from_tables(panel.tables)
    a, b = build_design(c, seed=3).frame, build_design(c, seed=3).frame
    pd.testing.assert_frame_equal(a, b)
    assert not build_design(c, seed=4).frame["index_at"].equals(a["index_at"])


# ---- the conversion panel generator -------------------------------------------------------


def test_conversion_panel_is_seeded_canonical_and_consistent():
    p1, p2 = generate_conversion_panel(500, seed=7), generate_conversion_panel(500, seed=7)
    pd.testing.assert_frame_equal(p1.tables.orders, p2.tables.orders)
    tables = p1.tables.validated()  # canonical schema and links
    assert len(tables.customers) == 500 and tables.members["member_id"].is_unique
    assert tables.customers["member_id"].notna().sum() == p1.member.sum() == len(tables.members)
    frame = p1.design_frame()
    assert frame["member"].sum() == p1.member.sum()
    truth = p1.truth(np.flatnonzero(p1.member), np.flatnonzero(~p1.member))
    assert 0 < truth["att_purchase"] < 1 and truth["att_spend"] > 0
    assert truth["selection_bias"] > 0  # joiners buy more anyway
    null = generate_conversion_panel(500, seed=7, member_rate_ratio=1.0)
    assert null.truth(np.flatnonzero(null.member))["att_purchase"] == 0


def test_member_effect_runs_end_to_end_on_duckdb():
    panel = generate_conversion_panel(1500, seed=8)
    result = member_effect(Community.from_tables(panel.tables))
    assert result.design.frame["member"].sum() > 100
    assert {"matching", "weighting", "doubly_robust"} <= set(result.to_frame().index)
    assert "of the raw gap" in result.summary() and "Placebo" in result.summary()
    assert result.plot() is not None
    with pytest.raises(ValueError, match="outcome must be one of"):
        member_effect(Community.from_tables(panel.tables), outcome="ltv")


def test_not_yet_joined_controls_come_from_each_members_risk_set():
    design = build_design(_community(), controls="not_yet_joined", controls_per_member=4, seed=2)
    f = design.frame
    members, controls = f[f["member"] == 1], f[f["member"] == 0]
    assert list(members["customer_id"]) == ["a"] and len(controls) == 4
    # at a's join (2024-03-01) only c and e are customers and not members (b, d, f come later)
    assert set(controls["customer_id"]) <= {"c", "e"}
    assert (controls["index_at"] == _ts("2024-03-01")).all()
    assert design.excluded["control_draws_without_risk_set"] == 0
    # later joiners serve as controls before they join, never after
    panel = generate_conversion_panel(1500, seed=9)
    rs = build_design(Community.from_tables(panel.tables), controls="not_yet_joined").frame
    joined = panel.tables.members.set_index("member_id")["joined_at"]
    link = panel.tables.customers.set_index("customer_id")["member_id"]
    ctl = rs[rs["member"] == 0]
    later = ctl[ctl["customer_id"].map(link).notna()]
    assert len(later) > 0
    assert (later["index_at"] < later["customer_id"].map(link).map(joined)).all()
    assert len(ctl) == 4 * (rs["member"] == 1).sum()
    with pytest.raises(ValueError, match="controls must be one of"):
        build_design(_community(), controls="everyone")


def test_history_selection_parameters_are_checked():
    from analysis.synth import SynthConfig

    with pytest.raises(ValueError, match="history_selection >= 0"):
        SynthConfig(history_selection=-1.0)
    assert SynthConfig().history_selection == 0.0  # the default community is unchanged


def test_separation_is_a_clear_error_not_nan():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    df = pd.DataFrame({"t": (x > 1).astype(int), "x": x, "y": x + rng.normal(size=200)})
    with pytest.raises(ValueError, match="no overlap"):
        compare_att(df, treatment="t", outcome="y", covariates=["x"])
