"""Event study of spend around joining, checked against planted panels and an independent TWFE
regression (statsmodels OLS): planted dynamic effects recovered with ≈95% coverage; the joint
pre-trend test rejects a no-effect panel about alpha of the time; with homogeneous effects the
estimator agrees with the two-way fixed-effects event-study regression; with effects that differ
by cohort it stays on the truth where that regression is biased (Sun & Abraham 2021)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.conversion.event_study import event_study_from_panel, spend_event_study
from analysis.conversion.event_study_panel import monthly_spend_panel
from analysis.data import Community
from analysis.synth.staggered_panel import make_staggered_panel

GROWING = (1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0)


def matched_truth(result, cohort_effects: pd.DataFrame) -> pd.Series:
    """The planted θ(e) over exactly the (cohort, period) cells the estimator could use."""
    cells = result.att_gt.merge(cohort_effects, on=["cohort", "event_time"])
    w = cells.assign(wy=cells["effect"] * cells["n"]).groupby("event_time")[["wy", "n"]].sum()
    return (w["wy"] / w["n"]).rename("truth")


def twfe_event_study(panel: pd.DataFrame, lo: int, hi: int) -> pd.Series:
    """Fully dynamic two-way fixed-effects regression, statsmodels OLS on a balanced panel:
    ``spend ~ unit FE + month FE + Σ_{e ≠ −1} β_e · 1[t − g = e]`` (never-joined: all zero).
    Unit and month effects are removed by the two-way within transformation, which equals the
    dummy-variable regression on a balanced panel (Frisch–Waugh–Lovell)."""
    d = panel.sort_values(["unit", "period"])
    rel = d["period"] - d["cohort"]
    names = [e for e in range(lo, hi + 1) if e != -1]
    x = pd.DataFrame({e: (rel == e).astype(float) for e in names}, index=d.index)
    cols = pd.concat([d[["spend"]], x], axis=1)

    def within(frame: pd.DataFrame) -> pd.DataFrame:
        unit_mean = frame.groupby(d["unit"]).transform("mean")
        period_mean = frame.groupby(d["period"]).transform("mean")
        return frame - unit_mean - period_mean + frame.mean()

    w = within(cols)
    fit = sm.OLS(w["spend"], w[names]).fit()
    return pd.Series(fit.params.to_numpy(), index=names)


@pytest.mark.slow
def test_planted_effects_recovered_through_the_engine():
    planted = make_staggered_panel(
        n_customers=1500,
        n_periods=14,
        cohorts=(4, 6, 8, 10),
        effects=GROWING,
        heterogeneity=0.5,
        never_share=0.2,
        seed=21,
    )
    community = Community.from_tables(planted.tables, name="planted-panel")
    result = spend_event_study(community, event_window=(-6, 6), n_boot=299, seed=3)
    panel = monthly_spend_panel(community)
    # the engine panel is the planted one
    got = panel.frame.sort_values(["unit", "period"]).reset_index(drop=True)
    want = planted.panel.sort_values(["unit", "period"]).reset_index(drop=True)
    np.testing.assert_allclose(got["spend"], want["spend"], atol=1e-9)
    np.testing.assert_array_equal(got["cohort"].fillna(-1), want["cohort"].fillna(-1))
    est = result.estimates.set_index("event_time").drop(-1)
    truth = matched_truth(result, planted.cohort_effects).reindex(est.index)
    z = (est["estimate"] - truth) / est["se"]
    assert (z.abs() < 3.5).all(), z
    assert est.loc[5, "estimate"] > 10 and result.pretrend_p > 0.001
    assert result.n_treated == int(planted.panel.groupby("unit")["cohort"].first().notna().sum())


@pytest.mark.slow
def test_coverage_of_planted_dynamic_effects():
    """100 seeded panels with cohort-heterogeneous effects: pointwise 95% intervals of θ(e),
    e in −4..4, cover the matched truth in 92–98% of the 800 intervals."""
    hits = []
    for rep in range(100):
        planted = make_staggered_panel(
            n_customers=200,
            n_periods=10,
            cohorts=(3, 5, 7),
            effects=GROWING,
            heterogeneity=0.5,
            never_share=0.2,
            seed=2_000 + rep,
        )
        result = event_study_from_panel(planted.panel, event_window=(-4, 4), n_boot=199, seed=rep)
        est = result.estimates.set_index("event_time").drop(-1)
        truth = matched_truth(result, planted.cohort_effects).reindex(est.index)
        hits.extend(((est["ci_lower"] <= truth) & (truth <= est["ci_upper"])).tolist())
    assert len(hits) == 800
    assert 0.92 <= float(np.mean(hits)) <= 0.98


@pytest.mark.slow
def test_no_effect_false_positive_rate():
    """200 seeded no-effect panels: the joint pre-trend test rejects in 2–10% at alpha = 0.05,
    and the pointwise intervals of pre and post coefficients cover 0 about 95% of the time."""
    rejections, cover = [], []
    for rep in range(200):
        planted = make_staggered_panel(
            n_customers=200,
            n_periods=10,
            cohorts=(3, 5, 7),
            effects=(0.0,),
            never_share=0.2,
            seed=5_000 + rep,
        )
        result = event_study_from_panel(planted.panel, event_window=(-4, 4), n_boot=199, seed=rep)
        rejections.append(result.pretrend_p < 0.05)
        est = result.estimates[result.estimates["event_time"] != -1]
        cover.extend(((est["ci_lower"] <= 0) & (est["ci_upper"] >= 0)).tolist())
    assert result.pretrend_df == 3
    assert 0.02 <= float(np.mean(rejections)) <= 0.10
    assert 0.92 <= float(np.mean(cover)) <= 0.98


def test_homogeneous_effects_agree_with_twfe_regression():
    kwargs = dict(
        n_customers=800,
        n_periods=12,
        cohorts=(3, 5, 7, 9),
        effects=GROWING,
        never_share=0.25,
        seed=8,
    )
    # without idiosyncratic noise both estimators are exact, so they agree to rounding
    exact = make_staggered_panel(noise_sd=0.0, **kwargs)
    lo, hi = -9, 8
    ours = event_study_from_panel(exact.panel, event_window=(lo, hi), n_boot=20)
    est = ours.estimates.set_index("event_time")["estimate"].drop(-1)
    twfe = twfe_event_study(exact.panel, lo, hi).reindex(est.index)
    truth = exact.event_effects.reindex(est.index)
    np.testing.assert_allclose(est, truth, atol=0.02)  # amounts are rounded to cents
    np.testing.assert_allclose(twfe, truth, atol=0.02)
    # with noise they differ only by sampling error (well inside one standard error here)
    noisy = make_staggered_panel(noise_sd=3.0, **kwargs)
    ours = event_study_from_panel(noisy.panel, event_window=(-5, 5), n_boot=199, seed=1)
    est = ours.estimates.set_index("event_time").drop(-1)
    twfe = twfe_event_study(noisy.panel, lo, hi).reindex(est.index)
    gap = (est["estimate"] - twfe).abs()
    assert (gap < 2 * est["se"]).all(), pd.DataFrame({"gap": gap, "se": est["se"]})
    assert float(gap.mean()) < 0.6 * float(est["se"].mean())


def test_heterogeneous_effects_bias_twfe_but_not_ours():
    """Early joiners gain much more than late ones (heterogeneity 1): the dynamic TWFE leads
    pick up later cohorts' effects (Sun & Abraham 2021, Prop. 3) while ours stay at zero."""
    planted = make_staggered_panel(
        n_customers=1000,
        n_periods=12,
        cohorts=(3, 5, 7, 9),
        effects=GROWING,
        heterogeneity=1.0,
        never_share=0.1,
        seed=3,
    )
    lo, hi = -9, 8
    ours = event_study_from_panel(planted.panel, event_window=(lo, hi), n_boot=199, seed=2)
    est = ours.estimates.set_index("event_time").drop(-1)
    truth = matched_truth(ours, planted.cohort_effects).reindex(est.index)
    twfe = twfe_event_study(planted.panel, lo, hi).reindex(est.index)
    ours_err = (est["estimate"] - truth).abs()
    twfe_err = (twfe - truth).abs()
    assert (ours_err < 3.5 * est["se"]).all(), ours_err / est["se"]
    pre = [e for e in est.index if e <= -2]
    # TWFE: pre-join "effects" many standard errors away from zero; ours: consistent with zero
    assert twfe_err.loc[pre].max() > 6 * est.loc[pre, "se"].max()
    assert twfe_err.loc[pre].mean() > 3 * ours_err.loc[pre].mean()
    assert ours.pretrend_p > 0.01


@pytest.mark.spark
@pytest.mark.slow
def test_parity_spend_panel(engines):
    a, b = (monthly_spend_panel(c) for c in engines)
    assert len(a.frame) > 100
    key = ["unit", "period"]
    pd.testing.assert_frame_equal(
        a.frame.sort_values(key).reset_index(drop=True),
        b.frame.sort_values(key).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )
    assert a.dropped_no_pre == b.dropped_no_pre
