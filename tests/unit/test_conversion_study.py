"""The conversion study in one call: headline arithmetic, findings, fallbacks, JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.conversion.study import ConversionStudy, conversion_study
from analysis.data import Community
from analysis.schema import Tables
from analysis.synth.conversion_panel import generate_conversion_panel


@pytest.fixture(scope="module")
def panel_study():
    panel = generate_conversion_panel(2000, seed=7)
    return panel, conversion_study(Community.from_tables(panel.tables), n_draws=50)


def test_headline_is_the_doubly_robust_effect_and_its_arithmetic(panel_study):
    panel, study = panel_study
    h = study.headline()
    dr = study.effect.comparison.result("doubly_robust")
    frame = study.effect.design.frame
    members = frame[frame["member"] == 1]
    assert h["att"] == dr.estimate and (h["att_ci_low"], h["att_ci_high"]) == (
        dr.ci_low,
        dr.ci_high,
    )
    assert h["member_rate"] == pytest.approx(members["purchased"].mean())
    assert h["comparable_rate"] == pytest.approx(h["member_rate"] - h["att"])
    assert h["ratio"] == pytest.approx(h["member_rate"] / h["comparable_rate"])
    assert h["share_from_selection"] == pytest.approx(1 - h["att"] / h["raw_gap"], abs=1e-9)
    # planted: the interval covers the panel's true effect on these members; the raw gap does not
    truth = panel.truth(members["customer_id"].str[1:].astype(int).to_numpy())["att_purchase"]
    assert h["att_ci_low"] <= truth <= h["att_ci_high"]
    assert h["raw_gap"] - truth > 0.05


def test_findings_lead_with_the_adjusted_answer(panel_study):
    _, study = panel_study
    lines = study.findings()
    assert 3 <= len(lines) <= 5
    h = study.headline()
    first = lines[0]
    assert "comparable non-members" in first
    assert f"{100 * h['att']:+.1f} pp" in first
    assert f"{max(h['share_from_selection'], 0):.0%} of the raw gap" in first
    assert not any("nan" in line.lower() for line in lines)


def test_to_dict_is_json_with_the_headline(panel_study):
    _, study = panel_study
    data = json.loads(json.dumps(study.to_dict()))
    assert set(data["headline"]) >= {"att", "att_ci_low", "att_ci_high", "ratio", "raw_gap"}
    assert {r["method"] for r in data["estimators"]} >= {"matching", "weighting", "doubly_robust"}


def test_sections_draw_and_tables_have_rows(panel_study):
    import matplotlib

    matplotlib.use("Agg")
    _, study = panel_study
    table = study.estimators()
    assert list(table.index) == ["matching", "weighting", "doubly robust"]
    dr = study.effect.comparison.result("doubly_robust")
    assert table.loc["doubly robust", "effect (pp)"] == pytest.approx(100 * dr.estimate)
    assert not study.balance().empty
    for plot in (study.plot_overlap, study.plot_balance, study.plot_ltv):
        assert plot() is not None


def _unlinked_community() -> Community:
    """Customers and orders, but no customer belongs to a member: only the raw view is possible
    (and it has no members)."""
    panel = generate_conversion_panel(300, seed=1)
    t = panel.tables
    customers = t.customers.assign(member_id=None)
    return Community.from_tables(
        Tables(
            members=t.members,
            messages=t.messages,
            channels=t.channels,
            customers=customers,
            orders=t.orders,
        )
    )


def test_parts_that_cannot_run_are_left_out_with_the_reason():
    study = conversion_study(_unlinked_community(), n_draws=20)
    assert isinstance(study, ConversionStudy)
    assert study.effect is None and study.headline() is None
    assert any(note.startswith("adjusted member effect: left out") for note in study.notes)
    assert study.naive is None
    assert "No customer in the CRM is linked to a community member" in study.findings()[0]
    assert study.estimators().empty and study.balance().empty
    import matplotlib

    matplotlib.use("Agg")
    ax = study.plot_overlap()
    assert "adjusted member effect" in ax.texts[0].get_text()


def test_no_crm_tables_is_a_clear_error():
    panel = generate_conversion_panel(100, seed=2)
    t = panel.tables
    c = Community.from_tables(Tables(members=t.members, messages=t.messages))
    with pytest.raises(ValueError, match="no 'customers' table"):
        conversion_study(c)


def test_same_seed_same_numbers():
    panel = generate_conversion_panel(600, seed=3)
    c = Community.from_tables(panel.tables)
    a = conversion_study(c, n_draws=20, seed=5).to_dict()
    b = conversion_study(c, n_draws=20, seed=5).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert np.isfinite(a["headline"]["att"]) and isinstance(a["notes"], list)
    c_other = conversion_study(c, n_draws=20, seed=6).to_dict()
    # another seed draws other index dates for non-members: the design, hence the estimate, moves
    assert c_other["headline"]["att"] != a["headline"]["att"]
    assert len(pd.DataFrame(a["estimators"])) == 6  # three methods + three placebo rows
