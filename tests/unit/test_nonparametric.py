"""Fast checks of analysis.experiments.rank and .bootstrap: conventions, inputs, notes, results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis.experiments.bootstrap import _percentile_inversion_p, bootstrap_difference
from analysis.experiments.effects import Comparison
from analysis.experiments.rank import mann_whitney


@pytest.fixture
def arms() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    control = rng.lognormal(0.0, 1.0, 60)
    treatment = rng.lognormal(0.8, 1.0, 70)
    return control, treatment


def _json_roundtrip(result: Comparison) -> dict:
    payload = result.to_dict()
    return json.loads(json.dumps(payload, allow_nan=False))


# --------------------------------------------------------------------------------------------
# Mann–Whitney
# --------------------------------------------------------------------------------------------


def test_w_is_the_treatment_u_statistic(arms) -> None:
    control, treatment = arms
    res = mann_whitney(control, treatment)
    greater = (treatment[:, None] > control[None, :]).sum()
    equal = (treatment[:, None] == control[None, :]).sum()
    assert res.statistic == greater + 0.5 * equal
    assert res.extra["U_control"] == control.size * treatment.size - res.statistic
    assert res.extra["prob_superiority"] == pytest.approx(res.statistic / (60 * 70))
    assert res.metric_type == "rank"
    assert res.n_control == 60 and res.n_treatment == 70


def test_orientation_treatment_minus_control(arms) -> None:
    control, treatment = arms
    up = mann_whitney(control, treatment)
    down = mann_whitney(treatment, control)
    assert up.diff > 0 and up.extra["prob_superiority"] > 0.5
    assert down.diff == pytest.approx(-up.diff)
    assert down.diff_ci == pytest.approx((-up.diff_ci[1], -up.diff_ci[0]))
    assert down.statistic == 60 * 70 - up.statistic
    assert down.p_value == pytest.approx(up.p_value)
    larger = mann_whitney(control, treatment, alternative="larger")
    smaller = mann_whitney(control, treatment, alternative="smaller")
    assert larger.p_value < 0.05 < smaller.p_value
    assert larger.diff_ci[1] == math.inf and smaller.diff_ci[0] == -math.inf
    assert mann_whitney(control, treatment, alternative="greater").alternative == "larger"


def test_auto_method_follows_r(arms) -> None:
    control, treatment = arms
    assert mann_whitney(control, treatment).extra["method_used"] == "asymptotic"  # n >= 50
    small = mann_whitney(control[:20], treatment[:30])
    assert small.extra["method_used"] == "exact"
    assert small.extra["continuity_correction"] is False
    assert "exact" in small.method
    assert small.notes == ()


def test_exact_with_ties_falls_back_with_a_note() -> None:
    control = [1.0, 2.0, 2.0, 3.0, 5.0]
    treatment = [2.0, 4.0, 5.0, 6.0, 7.0]
    res = mann_whitney(control, treatment, method="exact")
    assert res.extra["method_requested"] == "exact"
    assert res.extra["method_used"] == "asymptotic"
    assert res.extra["ties"] is True
    assert any("method='exact' was requested" in note for note in res.notes)
    assert "normal approximation" in res.method
    auto = mann_whitney(control, treatment)
    assert auto.extra["method_used"] == "asymptotic"
    assert any("Tied values" in note for note in auto.notes)


def test_continuity_flag(arms) -> None:
    control, treatment = arms
    with_cc = mann_whitney(control, treatment, method="asymptotic")
    without = mann_whitney(control, treatment, method="asymptotic", continuity=False)
    assert with_cc.extra["continuity_correction"] is True
    assert without.extra["continuity_correction"] is False
    assert with_cc.p_value > without.p_value
    assert abs(with_cc.extra["z"]) < abs(without.extra["z"])


def test_all_values_tied_is_not_an_error() -> None:
    res = mann_whitney([0.0] * 5, [0.0] * 8)
    assert res.p_value == 1.0
    assert res.statistic == 20.0
    assert res.diff == 0.0 and res.diff_ci == (0.0, 0.0)
    assert any("same" in note for note in res.notes)


def test_mann_whitney_result_is_json_serialisable(arms) -> None:
    control, treatment = arms
    for alternative in ("two-sided", "larger", "smaller"):
        data = _json_roundtrip(mann_whitney(control, treatment, alternative=alternative))
        assert data["statistic"] > 0
        assert data["relative_lift"] is None  # NaN -> null
    data = _json_roundtrip(mann_whitney(control, treatment, alternative="larger"))
    assert data["diff_ci"][1] is None  # +inf -> null
    assert data["extra"]["method_used"] == "asymptotic"


def test_mann_whitney_summary_and_frame(arms) -> None:
    control, treatment = arms
    res = mann_whitney(control, treatment, metric="messages", treatment_name="nudge")
    assert "messages" in res.summary() and "Mann–Whitney" in res.summary()
    frame = res.to_frame()
    assert frame.loc[frame.term == "difference", "estimate"].item() == res.diff


@pytest.mark.parametrize("fn", [mann_whitney, bootstrap_difference])
@pytest.mark.parametrize(
    ("control", "treatment", "name", "fragment"),
    [
        ([], [1.0, 2.0], "control_values", "empty"),
        ([1.0, 2.0], [], "treatment_values", "empty"),
        ([1.0, np.nan, 2.0], [1.0, 2.0], "control_values", "missing (NaN)"),
        ([1.0, 2.0], [np.nan, 2.0, 3.0], "treatment_values", "missing (NaN)"),
        ([1.0, np.inf], [1.0, 2.0], "control_values", "infinite"),
        ([[1.0, 2.0]], [1.0, 2.0], "control_values", "one-dimensional"),
        (["a", "b"], [1.0, 2.0], "control_values", "numbers"),
    ],
)
def test_bad_input_names_the_argument(fn, control, treatment, name, fragment) -> None:
    with pytest.raises(ValueError, match=name) as info:
        fn(control, treatment)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"alternative": "bigger"}, "alternative"),
        ({"method": "permutation"}, "method"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": "0.05"}, "alpha"),
    ],
)
def test_mann_whitney_bad_options(kwargs, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        mann_whitney([1.0, 2.0], [3.0, 4.0], **kwargs)


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


def test_bootstrap_fields(arms) -> None:
    control, treatment = arms
    res = bootstrap_difference(control, treatment, n_resamples=2000)
    assert res.metric_type == "mean"
    assert res.estimate_control == pytest.approx(control.mean())
    assert res.estimate_treatment == pytest.approx(treatment.mean())
    assert res.diff == pytest.approx(treatment.mean() - control.mean())
    assert res.relative_lift == pytest.approx(treatment.mean() / control.mean() - 1)
    assert res.diff_ci[0] < res.diff < res.diff_ci[1]
    assert res.relative_lift_ci[0] < res.relative_lift < res.relative_lift_ci[1]
    assert math.isnan(res.statistic) and math.isnan(res.df)
    assert res.alternative == "two-sided"
    assert res.extra["n_resamples"] == 2000 and res.extra["seed"] == 0
    assert res.extra["bootstrap_se"] > 0


def test_bootstrap_seed_reproducible_bit_for_bit(arms) -> None:
    control, treatment = arms
    a = bootstrap_difference(control, treatment, n_resamples=500, seed=7)
    b = bootstrap_difference(control, treatment, n_resamples=500, seed=7)
    c = bootstrap_difference(control, treatment, n_resamples=500, seed=8)
    assert a.to_dict() == b.to_dict()
    assert a.diff_ci != c.diff_ci
    assert a.diff == c.diff  # the point estimate does not depend on the seed


def test_bootstrap_result_does_not_depend_on_batch_size(arms) -> None:
    control, treatment = arms
    whole = bootstrap_difference(control, treatment, n_resamples=500, seed=3)
    batched = bootstrap_difference(control, treatment, n_resamples=500, seed=3, batch_size=7)
    assert batched.diff_ci == whole.diff_ci
    assert batched.relative_lift_ci == whole.relative_lift_ci
    assert batched.p_value == whole.p_value
    assert batched.extra["bootstrap_se"] == whole.extra["bootstrap_se"]
    assert batched.extra["batch_size"] == 7


def test_bootstrap_median_and_callable(arms) -> None:
    control, treatment = arms
    med = bootstrap_difference(control, treatment, statistic="median", n_resamples=500)
    assert med.metric_type == "median"
    assert med.diff == pytest.approx(np.median(treatment) - np.median(control))

    def trimmed_mean(values, axis):
        ordered = np.sort(values, axis=axis)
        k = ordered.shape[axis] // 10
        return ordered[..., k : ordered.shape[axis] - k].mean(axis=axis)

    custom = bootstrap_difference(control, treatment, statistic=trimmed_mean, n_resamples=500)
    assert custom.metric_type == "trimmed_mean"
    assert custom.diff_ci[0] < custom.diff < custom.diff_ci[1]


def test_bootstrap_bad_callable_is_explained(arms) -> None:
    control, treatment = arms
    with pytest.raises(ValueError, match="axis"):
        bootstrap_difference(control, treatment, statistic=lambda v: float(np.mean(v)))
    with pytest.raises(ValueError, match="shape"):
        bootstrap_difference(control, treatment, statistic=lambda v, axis: v)


def test_bootstrap_max_units_subsamples_with_a_note() -> None:
    rng = np.random.default_rng(0)
    control, treatment = rng.normal(10, 2, 5000), rng.normal(10.2, 2, 4000)
    res = bootstrap_difference(control, treatment, n_resamples=200, max_units=1000)
    assert res.n_control == 1000 and res.n_treatment == 1000
    assert res.extra["n_control_total"] == 5000 and res.extra["n_treatment_total"] == 4000
    assert res.extra["diff_full_data"] == pytest.approx(treatment.mean() - control.mean())
    assert any("subsampled" in note for note in res.notes)
    again = bootstrap_difference(control, treatment, n_resamples=200, max_units=1000)
    assert again.to_dict() == res.to_dict()
    plain = bootstrap_difference(control, treatment, n_resamples=200, max_units=10_000)
    assert not any("subsampled" in note for note in plain.notes)
    assert "n_control_total" not in plain.extra and plain.n_control == 5000


def test_bootstrap_relative_undefined_or_switched_off() -> None:
    zero_mean = bootstrap_difference([-1.0, 1.0, -2.0, 2.0], [1.0, 2.0, 3.0], n_resamples=200)
    assert math.isnan(zero_mean.relative_lift)
    assert any("undefined" in note for note in zero_mean.notes)
    crossing = bootstrap_difference([-1.0, 1.5, -2.0, 2.0], [1.0, 2.0, 3.0], n_resamples=200)
    assert math.isnan(crossing.relative_lift_ci[0])
    assert any("changes sign" in note for note in crossing.notes)
    off = bootstrap_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], n_resamples=200, relative=False)
    assert math.isnan(off.relative_lift)
    assert off.relative_ci_method == "not computed (relative=False)"
    assert any("fewer than 20 units" in note for note in off.notes)


def test_bootstrap_result_is_json_serialisable(arms) -> None:
    control, treatment = arms
    data = _json_roundtrip(bootstrap_difference(control, treatment, n_resamples=300))
    assert data["statistic"] is None and data["df"] is None
    assert isinstance(data["diff_ci"][0], float)
    assert data["extra"]["statistic"] == "mean"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"statistic": "mode"}, "statistic"),
        ({"n_resamples": 50}, "n_resamples"),
        ({"n_resamples": 1000.0}, "n_resamples"),
        ({"seed": -1}, "seed"),
        ({"seed": None}, "seed"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_units": 1}, "max_units"),
        ({"alpha": 0.0}, "alpha"),
    ],
)
def test_bootstrap_bad_options(kwargs, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        bootstrap_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], **kwargs)


def test_bootstrap_needs_two_units_per_arm() -> None:
    with pytest.raises(ValueError, match="treatment_values has 1 value"):
        bootstrap_difference([1.0, 2.0], [3.0])


def test_percentile_inversion_p_value() -> None:
    assert _percentile_inversion_p(np.array([0.5, 1.0, 2.0])) == 0.0
    assert _percentile_inversion_p(np.array([-2.0, -1.0, 1.0, 2.0])) == 1.0
    rng = np.random.default_rng(1)
    boot = rng.normal(0.3, 0.15, 999)
    p = _percentile_inversion_p(boot)
    # the interval at level 1 - p has an end at 0; slightly wider includes 0, narrower excludes
    assert np.quantile(boot, p / 2) == pytest.approx(0.0, abs=1e-12)
    assert np.quantile(boot, p / 2 * 0.99) < 0 < np.quantile(boot, p / 2 * 1.01)


def test_bootstrap_significance_matches_interval() -> None:
    rng = np.random.default_rng(11)
    for shift in (0.0, 0.1, 0.2, 0.3, 0.5):
        control, treatment = rng.exponential(1.0, 150), rng.exponential(1.0, 150) + shift
        res = bootstrap_difference(control, treatment, n_resamples=999, seed=int(shift * 10))
        excludes_zero = res.diff_ci[0] > 0 or res.diff_ci[1] < 0
        assert res.significant == excludes_zero
