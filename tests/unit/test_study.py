"""The experiment study: each metric goes to the right test with the right numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.experiments import (
    SufficientStats,
    analyse_unit_table,
    cuped_test,
    ratio_test,
    read_unit_table,
    two_proportion_test,
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 3000
    variant = rng.choice(["control", "treatment", "bold"], n)
    pre = rng.gamma(2.0, 2.0, n)
    effect = np.select([variant == "treatment", variant == "bold"], [0.8, 0.0], 0.0)
    messages = rng.poisson(1 + 0.6 * pre + effect)
    visits = rng.poisson(3, n) + 1
    converted = (rng.random(n) < np.where(variant == "treatment", 0.33, 0.30)).astype(int)
    return pd.DataFrame(
        {
            "user": [f"u{i}" for i in range(n)],
            "arm": variant,
            "converted": converted,
            "messages": messages.astype(float),
            "replies": rng.poisson(0.5 * visits).astype(float),
            "visits": visits.astype(float),
            "pre_messages": pre,
            "country": rng.choice(["DE", "FR"], n),
            "chat": rng.integers(0, 60, n).astype(str),
        }
    )


def _stats(frame, arm, y, x=None):
    part = frame[frame["variant"] == arm]
    return SufficientStats.from_values(part[y], None if x is None else part[x])


@pytest.fixture(scope="module")
def table(frame):
    return read_unit_table(
        frame,
        metrics=["converted", "messages", "replies/visits"],
        unit="user",
        variant="arm",
        covariate="pre_messages",
        segments=["country"],
    )


@pytest.fixture(scope="module")
def result(table):
    return analyse_unit_table(table, primary=["converted"], guardrails={"messages": 0.5})


def test_each_metric_uses_its_test_with_identical_numbers(result, table):
    f = table.frame
    binary = result.comparison("converted", "treatment")
    c, t = _stats(f, "control", "converted"), _stats(f, "treatment", "converted")
    direct = two_proportion_test(round(c.sum_y), c.n, round(t.sum_y), t.n)
    assert binary.p_value == pytest.approx(direct.p_value, rel=1e-12)
    assert binary.diff_ci == pytest.approx(direct.diff_ci, rel=1e-12)

    mean = result.comparison("messages", "treatment")
    direct = cuped_test(
        _stats(f, "control", "messages", "pre_messages"),
        _stats(f, "treatment", "messages", "pre_messages"),
    )
    assert "CUPED" in mean.method and mean.diff == pytest.approx(direct.diff, rel=1e-10)
    assert mean.extra["variance_reduction"] > 0.3  # messages depend on the pre-period

    ratio = result.comparison("replies/visits", "bold")
    direct = ratio_test(
        _stats(f, "control", "replies", "visits"), _stats(f, "bold", "replies", "visits")
    )
    assert ratio.p_value == pytest.approx(direct.p_value, rel=1e-10)


def test_planted_effects_and_decisions(result):
    assert result.comparison("messages", "treatment").significant
    assert not result.comparison("messages", "bold").significant
    d = result.decisions.set_index(["metric", "arm"])
    assert d.loc[("converted", "treatment"), "role"] == "primary"
    assert d.loc[("messages", "treatment"), "role"] == "guardrail"
    assert d.loc[("replies/visits", "bold"), "role"] == "secondary"
    # Holm across the two arms of the primary metric: adjusted p = min(1, 2 × smaller p) ...
    primary = d.xs("converted", level="metric")
    assert primary["adjusted_p"].max() <= 1 and (primary["adjusted_p"] >= primary["p_value"]).all()
    assert result.srm.ok


def test_segments_with_bh_adjustment(result):
    seg = result.segments
    assert set(seg["value"]) == {"DE", "FR"} and set(seg["segment"]) == {"country"}
    for _, part in seg.groupby("metric"):
        assert (part["adjusted_p"] >= part["p_value"] - 1e-12).all()


def test_sequential_mode_is_wider_and_named(table, result):
    seq = analyse_unit_table(table, mode="sequential", tuning_n=3000)
    for name in ("converted", "messages", "replies/visits"):
        fixed_c, seq_c = result.comparison(name, "treatment"), seq.comparison(name, "treatment")
        assert "confidence sequence" in seq_c.method
        fixed_width = fixed_c.diff_ci[1] - fixed_c.diff_ci[0]
        assert seq_c.diff_ci[1] - seq_c.diff_ci[0] > fixed_width
    assert any("always-valid" in n for n in seq.notes)


def test_clustered_units_get_cluster_robust_errors(frame):
    table = read_unit_table(frame, metrics=["messages"], unit="user", variant="arm", cluster="chat")
    result = analyse_unit_table(table)
    c = result.comparison("messages", "treatment")
    assert "cluster-robust" in c.method and c.extra["design_effect"] > 0


def test_outputs_are_serialisable_and_plottable(result):
    payload = json.dumps(result.to_dict(), allow_nan=False)
    assert "converted" in payload
    lines = result.verdicts()
    assert any(line.startswith("treatment raised messages") for line in lines)
    assert any("Sample ratio OK" in line for line in lines)
    assert result.plot().get_xlabel().startswith("relative effect")
    assert "<table" in result._repr_html_()


def test_clear_errors(table):
    with pytest.raises(ValueError, match="no variant 'ctrl'"):
        analyse_unit_table(table, control="ctrl")
    with pytest.raises(ValueError, match="mode must be one of"):
        analyse_unit_table(table, mode="bayesian")
    one_arm = read_unit_table(
        pd.DataFrame({"unit_id": ["a", "b"], "variant": "control", "y": [1.0, 2.0]}), metrics=["y"]
    )
    with pytest.raises(ValueError, match="only the variant 'control'"):
        analyse_unit_table(one_arm)


def test_zero_variance_arms_do_not_crash():
    frame = pd.DataFrame(
        {"unit_id": list("abcdef"), "variant": ["control"] * 3 + ["treatment"] * 3, "y": 1.0}
    )
    result = analyse_unit_table(read_unit_table(frame, metrics=["y"]))
    c = result.comparison("y", "treatment")
    assert c.diff == 0 and (math.isnan(c.p_value) or c.p_value == 1.0)


def test_bayes_rank_and_omnibus_checks(result, table):
    f = table.frame
    bayes = result.bayes[("converted", "treatment")]
    c, t = _stats(f, "control", "converted"), _stats(f, "treatment", "converted")
    from analysis.experiments import bayes_binomial

    direct = bayes_binomial(round(c.sum_y), c.n, round(t.sum_y), t.n)
    assert bayes.chance_to_win == pytest.approx(direct.chance_to_win, rel=1e-12)
    assert ("replies/visits", "treatment") not in result.bayes  # no Bayesian model for ratios
    table_view = result.results_table().set_index(["metric", "arm"])
    assert table_view.loc[("converted", "treatment"), "P(beat control)"].endswith("%")
    checks = " ".join(result.checks())
    assert "All arms together on converted: χ²(2)" in checks  # three arms → omnibus test
    assert "Rank check for messages (treatment): Mann–Whitney p =" in checks
    assert "agrees with the test on means" in checks  # a real shift in messages


def test_percentage_points_never_print_minus_zero():
    from analysis.experiments.study_result import _interval, _pp

    assert _pp(-0.0004) == "0.0" and _pp(0.028) == "+2.8" and _pp(-0.031) == "-3.1"
    assert _interval((-0.0004, 0.051), True) == "0.0 to +5.1"
