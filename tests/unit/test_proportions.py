"""Fast checks of analysis.experiments.proportions: inputs, degenerate arms, result object."""

from __future__ import annotations

import dataclasses
import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.experiments import (
    DIFF_CI_METHOD,
    RELATIVE_CI_METHOD,
    ProportionComparison,
    ProportionsChi2Test,
    proportions_chi2_test,
    two_proportion_test,
)
from analysis.results import Result


@pytest.fixture
def result() -> ProportionComparison:
    return two_proportion_test(302, 1000, 361, 1000)


def test_fields_and_types(result: ProportionComparison) -> None:
    assert isinstance(result, Result)
    assert result.rate_control == pytest.approx(0.302)
    assert result.rate_treatment == pytest.approx(0.361)
    assert result.diff == pytest.approx(0.059)
    assert result.relative_lift == pytest.approx(0.361 / 0.302 - 1)
    assert result.ci_method == DIFF_CI_METHOD
    assert result.relative_ci_method == RELATIVE_CI_METHOD == "delta method (control mean random)"
    assert result.diff_ci[0] < result.diff < result.diff_ci[1]
    assert result.rate_control_ci[0] < result.rate_control < result.rate_control_ci[1]
    assert result.relative_lift_ci[0] < result.relative_lift < result.relative_lift_ci[1]
    assert result.significant is True
    assert type(result.significant) is bool
    assert isinstance(result.z, float) and isinstance(result.p_value, float)
    assert isinstance(result.diff_ci, tuple)


def test_frozen(result: ProportionComparison) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.diff = 0.0  # type: ignore[misc]


def test_sign_convention_is_treatment_minus_control() -> None:
    up = two_proportion_test(10, 100, 20, 100)
    down = two_proportion_test(20, 100, 10, 100)
    assert up.diff > 0 and up.z > 0
    assert down.diff == pytest.approx(-up.diff)
    assert down.z == pytest.approx(-up.z)
    assert down.p_value == pytest.approx(up.p_value)
    assert down.diff_ci == pytest.approx((-up.diff_ci[1], -up.diff_ci[0]))


def test_one_sided_alternatives() -> None:
    two = two_proportion_test(100, 1000, 130, 1000)
    larger = two_proportion_test(100, 1000, 130, 1000, alternative="larger")
    smaller = two_proportion_test(100, 1000, 130, 1000, alternative="smaller")
    assert larger.p_value == pytest.approx(two.p_value / 2)
    assert smaller.p_value == pytest.approx(1 - two.p_value / 2)
    assert larger.diff_ci[1] == 1.0 and smaller.diff_ci[0] == -1.0
    # one-sided 95% bound is tighter than the two-sided 95% limit
    assert two.diff_ci[0] < larger.diff_ci[0] < larger.diff
    assert smaller.diff < smaller.diff_ci[1] < two.diff_ci[1]
    assert larger.relative_lift_ci[1] == math.inf and smaller.relative_lift_ci[0] == -1.0
    # synonyms
    assert two_proportion_test(100, 1000, 130, 1000, alternative="greater") == larger
    assert two_proportion_test(100, 1000, 130, 1000, alternative="less") == smaller
    assert "at least" in larger.summary() and "at most" in smaller.summary()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 0, 1, 10), "n_control must be at least 1, got 0"),
        ((1, 10, 0, 0), "n_treatment must be at least 1, got 0"),
        ((11, 10, 1, 10), r"successes_control \(11\) cannot exceed n_control \(10\)"),
        ((1, 10, 12, 10), r"successes_treatment \(12\) cannot exceed n_treatment \(10\)"),
        ((-1, 10, 1, 10), "successes_control must be a non-negative integer count, got -1"),
        ((1, -10, 1, 10), "n_control must be a non-negative integer count, got -10"),
        ((1, 10, 1.5, 10), "successes_treatment must be a non-negative integer count, got 1.5"),
        ((1, 10, 1, float("nan")), "n_treatment must be a non-negative integer count, got nan"),
        ((1, 10, "3", 10), "successes_treatment must be a non-negative integer count, got '3'"),
    ],
)
def test_invalid_counts_raise_clear_errors(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        two_proportion_test(*args)


def test_invalid_alpha_and_alternative() -> None:
    with pytest.raises(ValueError, match="alpha must lie strictly between 0 and 1, got 1.5"):
        two_proportion_test(1, 10, 2, 10, alpha=1.5)
    with pytest.raises(ValueError, match="alternative must be .* got 'bigger'"):
        two_proportion_test(1, 10, 2, 10, alternative="bigger")


def test_integer_valued_floats_and_numpy_ints_accepted() -> None:
    a = two_proportion_test(np.int64(5), np.int64(83), 12.0, 99.0)
    b = two_proportion_test(5, 83, 12, 99)
    assert a == b
    assert type(a.n_control) is int and type(a.successes_treatment) is int


@pytest.mark.parametrize(("sc", "st"), [(0, 0), (100, 50)])
def test_degenerate_both_arms_identical(sc: int, st: int) -> None:
    res = two_proportion_test(sc, 100, st, 50)
    assert res.diff == 0.0
    assert res.z == 0.0 and res.p_value == 1.0 and res.significant is False
    assert res.degenerate
    lo, hi = res.diff_ci
    assert -1 <= lo <= 0 <= hi <= 1 and hi - lo > 0
    assert "same outcome" in res.summary()
    json.dumps(res.to_dict(), allow_nan=False)


def test_control_zero_gives_undefined_lift() -> None:
    res = two_proportion_test(0, 200, 7, 200)
    assert math.isnan(res.relative_lift)
    assert all(math.isnan(v) for v in res.relative_lift_ci)
    assert "relative lift is undefined" in res.summary()
    assert np.isfinite(res.z) and res.p_value < 0.05
    assert res.to_dict()["relative_lift"] is None
    assert res.rate_control_ci[0] == 0.0


def test_treatment_zero_and_extreme_arms() -> None:
    res = two_proportion_test(20, 100, 0, 100)
    assert res.relative_lift == -1.0
    assert res.relative_lift_ci == (-1.0, -1.0)  # documented delta-method limitation
    res = two_proportion_test(100, 100, 90, 100)
    assert res.rate_control_ci[1] == 1.0
    assert -1.0 <= res.diff_ci[0] < res.diff < res.diff_ci[1] <= 1.0


def test_to_frame_shape(result: ProportionComparison) -> None:
    frame = result.to_frame()
    assert frame.shape == (4, 11)
    assert list(frame["term"]) == ["control", "treatment", "difference", "relative lift"]
    assert list(frame.columns) == [
        "term", "name", "n", "successes", "estimate", "ci_low", "ci_high", "ci_level",
        "method", "statistic", "p_value",
    ]  # fmt: skip
    assert frame.loc[2, "statistic"] == pytest.approx(result.z)
    assert frame.loc[2, "p_value"] == pytest.approx(result.p_value)
    assert frame.loc[0, "n"] == 1000 and frame.loc[1, "successes"] == 361
    assert frame["n"].isna().tolist() == [False, False, True, True]
    assert frame.loc[3, "method"] == RELATIVE_CI_METHOD


def test_summary_mentions_the_numbers(result: ProportionComparison) -> None:
    text = result.summary()
    for fragment in [
        "Treatment converted 36.1%",
        "30.2%",
        "+5.9 percentage points",
        "95% CI +1.8 to +10.0",
        "Newcombe",
        "+19.5%",
        "delta method",
        "z = 2.80",
        "p = 0.0051",
        "unlikely to be chance at α = 0.05",
    ]:
        assert fragment in text, fragment
    not_sig = two_proportion_test(12, 99, 5, 83).summary()
    assert "p = 0.159" in not_sig and "not statistically significant" in not_sig


def test_repr_html_escapes_names() -> None:
    res = two_proportion_test(10, 100, 20, 100, control_name="<script>alert(1)</script>")
    html = res._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "Two-proportion comparison" in html


def test_to_dict_is_json_serialisable(result: ProportionComparison) -> None:
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["diff"] == pytest.approx(0.059)
    assert back["diff_ci"] == pytest.approx(list(result.diff_ci))
    assert back["significant"] is True
    one_sided = two_proportion_test(10, 100, 20, 100, alternative="larger").to_dict()
    assert one_sided["relative_lift_ci"][1] is None  # +inf
    json.dumps(one_sided, allow_nan=False)


def test_plot_returns_axes(result: ProportionComparison) -> None:
    ax = result.plot()
    assert ax.get_ylabel().startswith("rate")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["control", "treatment"]
    fig, given = plt.subplots()
    assert result.plot(ax=given) is given
    plt.close("all")


def test_str_contains_title_and_summary(result: ProportionComparison) -> None:
    text = str(result)
    assert text.startswith("Two-proportion comparison")
    assert "Newcombe" in text


# k-sample chi-square ----------------------------------------------------------------------


def test_chi2_result_object() -> None:
    res = proportions_chi2_test([83, 90, 129, 70], [86, 93, 136, 82], names=list("ABCD"))
    assert isinstance(res, ProportionsChi2Test) and isinstance(res, Result)
    assert res.df == 3
    assert res.rates[3] == pytest.approx(70 / 82)
    frame = res.to_frame()
    assert frame.shape == (4, 8)
    assert frame["expected_successes"].sum() == pytest.approx(83 + 90 + 129 + 70)
    assert "χ² = 12.60" in res.summary() and "df = 3" in res.summary()
    json.dumps(res.to_dict(), allow_nan=False)
    ax = res.plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == list("ABCD")
    plt.close("all")


def test_chi2_two_arms_is_z_squared() -> None:
    chi = proportions_chi2_test([12, 5], [99, 83])
    z = two_proportion_test(12, 99, 5, 83).z
    assert chi.statistic == pytest.approx(z**2, rel=1e-12)


def test_chi2_degenerate_and_errors() -> None:
    res = proportions_chi2_test([0, 0, 0], [10, 20, 30])
    assert res.statistic == 0.0 and res.p_value == 1.0 and not res.significant
    assert "nothing to test" in res.summary()
    with pytest.raises(ValueError, match="at least 2 arms"):
        proportions_chi2_test([1], [10])
    with pytest.raises(ValueError, match="same length"):
        proportions_chi2_test([1, 2], [10])
    with pytest.raises(ValueError, match=r"totals\[1\] must be at least 1, got 0"):
        proportions_chi2_test([1, 0], [10, 0])
    with pytest.raises(ValueError, match=r"successes\[0\] \(11\) cannot exceed totals\[0\]"):
        proportions_chi2_test([11, 0], [10, 10])
    with pytest.raises(ValueError, match="names must have 2 entries"):
        proportions_chi2_test([1, 2], [10, 10], names=["a"])


def test_chi2_repr_html_escapes() -> None:
    html = proportions_chi2_test([1, 2], [10, 10], names=["<script>", "b"])._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
