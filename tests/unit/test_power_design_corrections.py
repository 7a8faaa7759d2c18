"""Fast unit tests of analysis.experiments.power, .design and .corrections.

Reference numbers, comparisons with statsmodels and simulations live in
tests/validation/test_power_design_corrections_validation.py.
"""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from analysis.experiments.clusters import CR1_METHOD, cluster_robust_difference, cluster_robust_ols
from analysis.experiments.corrections import (
    MetricFamily,
    adjust_pvalues,
    decide,
    non_inferiority_from_comparison,
    non_inferiority_from_stats,
    non_inferiority_test,
)
from analysis.experiments.effects import Comparison
from analysis.experiments.interference import NO_SPILLOVER, spillover_check, treated_neighbour_share
from analysis.experiments.power import (
    PowerPlan,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
    time_to_run,
)
from analysis.experiments.proportions import two_proportion_test
from analysis.experiments.srm import sample_ratio_mismatch
from analysis.experiments.sufficient import SufficientStats


def _result_protocol(result) -> None:
    """Every Result: table, summary, HTML, JSON-able dict and a plot."""
    import matplotlib.pyplot as plt

    assert isinstance(result.to_frame(), pd.DataFrame)
    assert isinstance(result.summary(), str) and result.summary()
    assert result.title in result._repr_html_()
    json.dumps(result.to_dict())
    ax = result.plot()
    assert ax is not None
    plt.close("all")


# --------------------------------------------------------------------------------------------
# power
# --------------------------------------------------------------------------------------------


def test_power_increases_with_n_and_effect() -> None:
    assert power_proportions(100, 0.1, 0.15) < power_proportions(400, 0.1, 0.15)
    assert power_proportions(400, 0.1, 0.12) < power_proportions(400, 0.1, 0.15)
    assert power_means(10, 0.5) < power_means(40, 0.5) < power_means(40, 1.0)


def test_power_is_symmetric_in_direction_two_sided() -> None:
    # With equal arms the two-sided power of p1 -> p2 equals that of p2 -> p1.
    assert power_proportions(200, 0.3, 0.4) == pytest.approx(power_proportions(200, 0.4, 0.3))
    assert power_means(15, -0.7) == pytest.approx(power_means(15, 0.7))


def test_strict_adds_only_the_other_tail() -> None:
    loose = power_proportions(50, 0.5, 0.75)
    strict = power_proportions(50, 0.5, 0.75, strict=True)
    assert 0 < strict - loose < 1e-5
    # Without an effect the loose power is alpha/2 and the strict one alpha.
    assert power_means(30, 0.0) == pytest.approx(0.025, rel=1e-9)
    assert power_means(30, 0.0, strict=True) == pytest.approx(0.05, rel=1e-9)


def test_one_sided_power() -> None:
    larger = power_proportions(300, 0.2, 0.26, alternative="larger")
    two = power_proportions(300, 0.2, 0.26)
    assert larger > two
    assert power_proportions(300, 0.2, 0.26, alternative="smaller") < 0.05
    assert power_means(20, 1.0, alternative="greater") > power_means(20, 1.0)


@pytest.mark.parametrize("power", [0.5, 0.8, 0.95])
def test_sample_size_inverts_power(power: float) -> None:
    n = sample_size_proportions(0.10, 0.12, power=power)
    assert power_proportions(n, 0.10, 0.12) == pytest.approx(power, abs=1e-9)
    m = sample_size_means(0.3, 2.0, power=power, alpha=0.01)
    assert power_means(m, 0.3, 2.0, alpha=0.01) == pytest.approx(power, abs=1e-9)


def test_sample_size_means_floor_and_errors() -> None:
    assert sample_size_means(50.0, 1.0, power=0.8) == 2.0
    with pytest.raises(ValueError, match="non-zero"):
        sample_size_means(0.0)
    with pytest.raises(ValueError, match="no effect"):
        sample_size_proportions(0.2, 0.2)
    with pytest.raises(ValueError, match="one-sided"):
        sample_size_proportions(0.2, 0.1, alternative="larger")
    with pytest.raises(ValueError, match="power"):
        sample_size_proportions(0.1, 0.2, power=0.01)
    with pytest.raises(ValueError, match="p2"):
        power_proportions(10, 0.1, 1.0)
    with pytest.raises(ValueError, match="alternative"):
        power_means(10, 1.0, alternative="sideways")


def test_mde_round_trips() -> None:
    d = mde_proportions(2000, 0.10, power=0.8)
    assert d > 0
    assert power_proportions(2000, 0.10, 0.10 + d) == pytest.approx(0.8, abs=1e-9)
    down = mde_proportions(2000, 0.10, power=0.8, direction="decrease")
    assert down < 0 and abs(down) < d  # a rate's variance shrinks towards 0
    assert power_proportions(2000, 0.10, 0.10 + down) == pytest.approx(0.8, abs=1e-9)
    delta = mde_means(50, sd=3.0, power=0.9)
    assert power_means(50, delta, 3.0) == pytest.approx(0.9, abs=1e-9)
    assert mde_means(50, sd=3.0, power=0.9, alternative="smaller") < 0
    with pytest.raises(ValueError, match="no increase"):
        mde_proportions(3, 0.9, power=0.99)


def test_time_to_run_single_rate() -> None:
    plan = time_to_run(250, 3840.85, 1500, design="detect a rise from 10% to 12%")
    assert isinstance(plan, PowerPlan)
    assert plan.units_needed_per_arm == 3841
    assert plan.units_remaining == (2341,)
    assert plan.days_remaining == pytest.approx(2341 / 250)
    assert not plan.done
    text = plan.summary()
    assert text.startswith("To detect a rise from 10% to 12%, each arm needs 3,841 units")
    assert "10 more days" in text
    _result_protocol(plan)


def test_time_to_run_per_arm_done_and_stalled() -> None:
    plan = time_to_run({"A": 100, "B": 50}, 1000, {"A": 500, "B": 600})
    assert plan.limiting_arm == "B"
    assert plan.days_remaining == pytest.approx(8.0)
    assert "slowest arm, B" in plan.summary()
    assert time_to_run(10, 100, 100).done
    assert time_to_run(10, 100, 100).days_remaining == 0.0
    stalled = time_to_run(0, 100, 10)
    assert math.isinf(stalled.days_remaining)
    assert "never" in stalled.summary()
    assert stalled.to_dict()["days_remaining"] is None
    with pytest.raises(ValueError, match="arm names differ"):
        time_to_run({"A": 1, "B": 1}, 10, {"A": 1, "C": 1})
    with pytest.raises(ValueError, match="non-negative"):
        time_to_run(-1, 10)


# --------------------------------------------------------------------------------------------
# sample ratio mismatch
# --------------------------------------------------------------------------------------------


def test_srm_summaries() -> None:
    bad = sample_ratio_mismatch({"control": 5300, "treatment": 4700})
    assert not bad.ok
    assert bad.statistic == pytest.approx(2 * 300**2 / 5000)
    assert bad.summary() == (
        "Sample ratio mismatch: 5,300 vs 4,700 units where 50/50 was planned (p < 0.001); "
        "results are not trustworthy until the cause is found."
    )
    good = sample_ratio_mismatch({"control": 5041, "treatment": 4959})
    assert good.ok and good.summary() == "Sample ratio OK (p = 0.41)."
    _result_protocol(bad)


def test_srm_planned_weights_any_scale() -> None:
    a = sample_ratio_mismatch({"a": 900, "b": 2100}, {"a": 3, "b": 7})
    b = sample_ratio_mismatch({"a": 900, "b": 2100}, {"b": 0.7, "a": 0.3})
    assert a.p_value == pytest.approx(b.p_value) and a.statistic == pytest.approx(0.0)
    assert a.expected == pytest.approx((900.0, 2100.0))
    assert sample_ratio_mismatch({"a": 1, "b": 1, "c": 10}).df == 2
    tiny = sample_ratio_mismatch({"a": 3, "b": 5})
    assert "approximation is rough" in tiny.summary()


@pytest.mark.parametrize(
    ("counts", "weights", "match"),
    [
        ({"a": 10}, None, "two arms"),
        ({"a": 10, "b": -1}, None, "non-negative"),
        ({"a": 1.5, "b": 1}, None, "non-negative integer"),
        ({"a": 0, "b": 0}, None, "no units"),
        ({"a": 1, "b": 1}, {"a": 1, "c": 1}, "planned_weights has arms"),
        ({"a": 1, "b": 1}, {"a": 1, "b": 0}, "positive"),
    ],
)
def test_srm_errors(counts, weights, match) -> None:
    with pytest.raises(ValueError, match=match):
        sample_ratio_mismatch(counts, weights)


# --------------------------------------------------------------------------------------------
# cluster-robust inference
# --------------------------------------------------------------------------------------------


def _cluster_frame(seed: int = 0, n_clusters: int = 40, size: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), size)
    arm = np.repeat(rng.permutation(np.arange(n_clusters) % 2), size)
    y = (
        2.0
        + 0.5 * arm
        + np.repeat(rng.normal(0, 1, n_clusters), size)
        + rng.normal(0, 1, cluster.size)
    )
    return pd.DataFrame({"y": y, "arm": arm, "channel": [f"c{c}" for c in cluster]})


def test_cluster_robust_difference_is_the_ols_slope() -> None:
    frame = _cluster_frame()
    res = cluster_robust_difference(frame, "y", "arm", "channel")
    assert isinstance(res, Comparison)
    assert res.method == CR1_METHOD
    means = frame.groupby("arm")["y"].mean()
    assert res.diff == pytest.approx(means[1] - means[0], rel=1e-10)
    assert res.estimate_control == pytest.approx(means[0], rel=1e-10)
    assert (res.control_name, res.treatment_name) == ("0", "1")
    assert res.df == 39
    assert res.extra["n_clusters"] == 40 and res.extra["mixed_clusters"] == 0
    assert res.extra["n_clusters_control"] == 20 == res.extra["n_clusters_treatment"]
    # strong clustering: the clustered variance is several times the iid one
    assert res.extra["design_effect"] > 2
    assert res.extra["design_effect_icc"] == pytest.approx(
        1 + (res.extra["mean_cluster_size"] - 1) * res.extra["icc"]
    )
    half = res.diff_ci[1] - res.diff
    assert half == pytest.approx(res.extra["se_cluster"] * 2.0226909, rel=1e-6)  # t(39)
    _result_protocol(res)
    ols = cluster_robust_ols(frame.assign(d=frame["arm"]), "y", "d", "channel")
    assert ols.coef("d") == pytest.approx(res.diff)
    _result_protocol(ols)


def test_cluster_robust_difference_labels_and_notes() -> None:
    frame = _cluster_frame(n_clusters=12)
    frame["variant"] = np.where(frame["arm"] == 1, "new", "old")
    res = cluster_robust_difference(frame, "y", "variant", "channel", control="old")
    assert (res.control_name, res.treatment_name) == ("old", "new")
    assert any("Only 12 clusters" in note for note in res.notes)
    with pytest.raises(ValueError, match="say which arm"):
        cluster_robust_difference(frame, "y", "variant", "channel")
    frame.loc[0, "variant"] = "old" if frame.loc[0, "variant"] == "new" else "new"  # mixed
    mixed = cluster_robust_difference(frame, "y", "variant", "channel", control="old")
    assert mixed.extra["mixed_clusters"] == 1
    with pytest.raises(ValueError, match="missing values"):
        cluster_robust_ols(frame.assign(y=np.nan), "y", "arm", "channel")


def test_anova_icc_matches_the_balanced_formula() -> None:
    from analysis.experiments.clusters import _anova_icc

    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(30), 6)
    y = np.repeat(rng.normal(size=30), 6) + rng.normal(size=180)
    frame = pd.DataFrame({"y": y, "g": groups})
    msb = 6 * frame.groupby("g")["y"].mean().var(ddof=1)
    msw = frame.groupby("g")["y"].var(ddof=1).mean()
    assert _anova_icc(y, groups) == pytest.approx((msb - msw) / (msb + 5 * msw), rel=1e-10)


# --------------------------------------------------------------------------------------------
# spillover
# --------------------------------------------------------------------------------------------


def test_treated_neighbour_share_by_hand() -> None:
    units = pd.DataFrame(
        {
            "unit_id": ["a", "b", "c", "d", "e"],
            "variant": ["control", "control", "t", "t", "control"],
        }
    )
    edges = pd.DataFrame(
        {
            "source": ["a", "c", "a", "a", "b", "b", "zz"],
            "target": ["c", "a", "b", "a", "d", "c", "a"],  # c->a repeats a-c; a-a loop; zz unknown
            "weight": [1.0, 2.0, 1.0, 5.0, 1.0, 3.0, 9.0],
        }
    )
    share, counts = treated_neighbour_share(units, edges)
    # a: neighbours c (weight 3, treated), b (1, control) -> 3/4; b: a (1), d (1, t), c (3, t)
    assert share["a"] == pytest.approx(3 / 4)
    assert share["b"] == pytest.approx(4 / 5)
    assert math.isnan(share["e"])  # no neighbours
    assert counts == {"n_edges": 4, "n_edges_dropped": 2}
    unweighted, _ = treated_neighbour_share(units, edges, weighted=False)
    assert unweighted["a"] == pytest.approx(1 / 2) and unweighted["b"] == pytest.approx(2 / 3)


def test_spillover_check_verdicts() -> None:
    rng = np.random.default_rng(11)
    n = 400
    ids = np.arange(n)
    src = rng.integers(0, n, 2000)
    dst = rng.integers(0, n, 2000)
    edges = pd.DataFrame({"source": src, "target": dst})
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    units = pd.DataFrame({"unit_id": ids, "variant": variant, "outcome": rng.normal(size=n)})
    share, _ = treated_neighbour_share(units, edges)
    none = spillover_check(units, edges)
    assert none.verdict == NO_SPILLOVER and not none.detected
    assert none.summary().startswith("No detectable spillover")
    planted = units.copy()
    control = planted["variant"] == "control"
    planted.loc[control, "outcome"] -= (
        3.0 * share.reindex(planted.loc[control, "unit_id"]).fillna(0).to_numpy()
    )
    worse = spillover_check(planted, edges)
    assert worse.detected and worse.slope < 0
    assert worse.verdict.endswith("did worse: possible interference")
    flipped = spillover_check(planted, edges, higher_is_better=False)
    assert "did better" in flipped.verdict
    _result_protocol(worse)


def test_spillover_errors() -> None:
    units = pd.DataFrame({"unit_id": [1, 2, 3], "variant": ["t", "t", "t"], "outcome": 0.0})
    edges = pd.DataFrame({"source": [1], "target": [2]})
    with pytest.raises(ValueError, match="control arm"):
        spillover_check(units, edges)
    units["variant"] = ["control", "t", "t"]
    with pytest.raises(ValueError, match="only 1 control"):
        spillover_check(units, edges)
    with pytest.raises(ValueError, match="no column"):
        spillover_check(units.drop(columns="outcome"), edges)


# --------------------------------------------------------------------------------------------
# corrections
# --------------------------------------------------------------------------------------------


def test_adjust_pvalues_shapes_and_nan() -> None:
    series = pd.Series([0.01, np.nan, 0.04], index=["x", "y", "z"], name="p")
    out = adjust_pvalues(series, "bonferroni")
    assert list(out.index) == ["x", "y", "z"] and out.name == "p"
    assert out["x"] == pytest.approx(0.02) and math.isnan(out["y"])  # m = 2, NaN left out
    assert adjust_pvalues([], "holm").size == 0
    with pytest.raises(ValueError, match="method"):
        adjust_pvalues([0.1], "hochberg-ish")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_pvalues([1.2])


def test_non_inferiority_test_formulas() -> None:
    ni = non_inferiority_test(-0.5, 1.0, 2.0, alpha=0.05)
    assert ni.statistic == pytest.approx(1.5)
    assert ni.p_value == pytest.approx(0.0668072, rel=1e-6)
    assert not ni.ok and ni.bound == pytest.approx(-0.5 - 1.6448536, rel=1e-6)
    lower = non_inferiority_test(0.5, 1.0, 4.0, higher_is_better=False, df=10)
    assert lower.statistic == pytest.approx(3.5)
    assert lower.ok and lower.bound == pytest.approx(0.5 + 1.8124611, rel=1e-6)
    assert "guardrail ok" in lower.summary() and "failed" in ni.summary()
    with pytest.raises(ValueError, match="margin"):
        non_inferiority_test(0.0, 1.0, 0.0)
    _result_protocol(ni)


def _comparison(metric, arm, diff, p, *, half=0.1, df=math.nan, alpha=0.05):
    return Comparison(
        metric=metric,
        metric_type="mean",
        control_name="control",
        treatment_name=arm,
        n_control=1000,
        n_treatment=1000,
        estimate_control=1.0,
        estimate_treatment=1.0 + diff,
        diff=diff,
        diff_ci=(diff - half, diff + half),
        relative_lift=diff,
        relative_lift_ci=(diff - half, diff + half),
        statistic=0.0,
        df=df,
        p_value=p,
        alpha=alpha,
        alternative="two-sided",
        method="test",
        ci_method="Wald",
        relative_ci_method="delta",
    )


def test_non_inferiority_se_from_ci_width_and_counts() -> None:
    c = _comparison("m", "B", 0.2, 0.01, half=1.959963985 * 0.5)
    ni = non_inferiority_from_comparison(c, 1.0)
    assert ni.se == pytest.approx(0.5, rel=1e-9) and math.isinf(ni.df)
    t = _comparison("m", "B", 0.2, 0.01, half=2.2281389 * 0.5, df=10)
    assert non_inferiority_from_comparison(t, 1.0).se == pytest.approx(0.5, rel=1e-6)
    prop = two_proportion_test(500, 5000, 480, 5000)
    ni = non_inferiority_from_comparison(prop, 0.02)
    assert ni.se == pytest.approx(math.sqrt(0.1 * 0.9 / 5000 + 0.096 * 0.904 / 5000))
    assert ni.se_method.startswith("unpooled Wald")
    one_sided = two_proportion_test(500, 5000, 480, 5000, alternative="larger")
    assert non_inferiority_from_comparison(one_sided, 0.02).ok  # counts, not the interval
    control = SufficientStats.from_values([1.0, 2.0, 3.0, 4.0] * 10)
    treatment = SufficientStats.from_values([1.5, 2.0, 3.0, 5.0] * 12)
    ws = non_inferiority_from_stats(control, treatment, 0.3)
    vc, vt = control.var_y / 40, treatment.var_y / 48
    assert ws.se == pytest.approx(math.sqrt(vc + vt))
    assert ws.df == pytest.approx((vc + vt) ** 2 / (vc**2 / 39 + vt**2 / 47))


def test_decide_rules() -> None:
    comparisons = [
        _comparison("posts", "B", 0.20, 0.0001),
        _comparison("posts", "C", 0.05, 0.30),
        _comparison("replies", "B", 0.10, 0.02),
        _comparison("replies", "C", -0.10, 0.001),
        _comparison("churn", "B", 0.001, 0.7, half=0.005),
        _comparison("churn", "C", 0.02, 0.001, half=0.01),
    ]
    family = MetricFamily(
        primary=["posts"], secondary=["replies"], guardrails={"churn": 0.01},
        lower_is_better=["churn"],
    )  # fmt: skip
    frame = family.decide(comparisons)
    assert list(frame.columns) == [
        "metric", "arm", "role", "diff", "ci_low", "ci_high", "margin", "test", "p_value",
        "adjusted_p", "decision", "arm_decision",
    ]  # fmt: skip
    got = frame.set_index(["metric", "arm"])
    # Holm within the primary family (2 tests) and, separately, within the secondary family.
    assert got.loc[("posts", "B"), "adjusted_p"] == pytest.approx(0.0002)
    assert got.loc[("posts", "C"), "adjusted_p"] == pytest.approx(0.30)
    assert got.loc[("replies", "C"), "adjusted_p"] == pytest.approx(0.002)
    assert got.loc[("replies", "B"), "adjusted_p"] == pytest.approx(0.02)
    assert got["decision"].to_dict() == {
        ("posts", "B"): "ship",
        ("posts", "C"): "no effect",
        ("replies", "B"): "ship",
        ("replies", "C"): "harm",
        ("churn", "B"): "guardrail ok",
        ("churn", "C"): "guardrail failed",
    }
    assert math.isnan(got.loc[("churn", "B"), "adjusted_p"])
    assert got.loc[("churn", "B"), "margin"] == 0.01
    assert got.xs("B", level="arm")["arm_decision"].unique().tolist() == ["ship"]
    assert got.xs("C", level="arm")["arm_decision"].unique().tolist() == ["do not ship"]
    # Same through the function, with the BH method; a primary-only arm without effect.
    no_effect = decide(
        [_comparison("posts", "B", 0.01, 0.5)], MetricFamily(primary="posts", method="fdr_bh")
    )
    assert no_effect["arm_decision"].tolist() == ["no effect"]


def test_decide_validation() -> None:
    family = MetricFamily(primary=["posts"], guardrails={"churn": 0.01})
    with pytest.raises(ValueError, match="not in the family"):
        decide([_comparison("views", "B", 0.1, 0.1)], family)
    with pytest.raises(ValueError, match="no comparison"):
        decide([_comparison("posts", "B", 0.1, 0.1)], family)
    with pytest.raises(ValueError, match="two comparisons"):
        decide([_comparison("posts", "B", 0.1, 0.1)] * 2, MetricFamily(primary=["posts"]))
    with pytest.raises(ValueError, match="different alpha"):
        decide(
            [_comparison("posts", "B", 0.1, 0.1), _comparison("posts", "C", 0.1, 0.1, alpha=0.1)],
            MetricFamily(primary=["posts"]),
        )
    with pytest.raises(ValueError, match="both primary and guardrail"):
        MetricFamily(primary=["posts"], guardrails={"posts": 0.1})
    with pytest.raises(ValueError, match="margin"):
        MetricFamily(primary=["posts"], guardrails={"churn": -1})


def test_decide_unwraps_binary_metric_results() -> None:
    from types import SimpleNamespace

    prop = two_proportion_test(100, 1000, 150, 1000, treatment_name="B")
    wrapped = SimpleNamespace(metric="activated", comparison=prop)
    frame = decide([wrapped], MetricFamily(primary=["activated"]))
    assert frame.loc[0, "decision"] == "ship"
    assert frame.loc[0, "p_value"] == pytest.approx(prop.p_value)


def test_spillover_input_errors_name_the_column_and_values():
    import pandas as pd

    from analysis.experiments.interference import spillover_check

    units = pd.DataFrame(
        {"unit_id": ["a", "a", "b"], "variant": ["control", "control", "treatment"], "outcome": 1.0}
    )
    edges = pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [1.0]})
    with pytest.raises(ValueError, match=r"'unit_id' has 1 repeated values \(first: \['a'\]\)"):
        spillover_check(units, edges)
    good = units.drop_duplicates("unit_id")
    with pytest.raises(ValueError, match=r"'weight'.*first values: \[-2.0\]"):
        spillover_check(good, edges.assign(weight=[-2.0]))
