"""The health overview's headline numbers are exactly those of the metric functions it calls."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis import health
from analysis.data import Community


@pytest.fixture(scope="module")
def overview(synthetic_dataset):
    processed, _, _ = synthetic_dataset
    community = Community.load(processed)
    return community, health.health_overview(community)


def test_headline_figures_come_from_the_metrics(overview):
    community, result = overview
    figures = result.to_dict()
    rate = health.response_rate(community).overall["24h"]["rate"]
    assert figures["response_rate_24h"] == pytest.approx(rate, abs=0)
    deflection = health.support_deflection(community).share
    assert figures["support_deflection"] == pytest.approx(deflection, abs=0)
    conc = health.concentration(community)
    assert (figures["top5_share"], figures["absence_factor"]) == (
        conc.top5_share,
        conc.absence_factor,
    )
    json.dumps(figures, allow_nan=False)


def test_findings_are_plain_statements_with_numbers(overview):
    _, result = overview
    findings = result.findings()
    assert 4 <= len(findings) <= 6
    assert all(any(ch.isdigit() for ch in line) for line in findings)
    assert any("within 24 hours" in line for line in findings)
    assert any("absence factor" in line for line in findings)


def test_window_and_staff_parameters(synthetic_dataset):
    processed, _, _ = synthetic_dataset
    community = Community.load(processed)
    first_half = health.health_overview(community, start="2024-01-01", end="2024-07-01")
    assert first_half.activity.to_frame()["period_start"].max() < pd.Timestamp("2024-07-01")
    top = first_half.concentration.top5_share
    # marking the most active author as staff and excluding staff changes the concentration
    authors = community.execute(
        community.messages.group_by("member_id").aggregate(n=community.messages.count())
    ).sort_values("n", ascending=False)
    busiest = authors["member_id"].iloc[0]
    without = health.health_overview(
        community, start="2024-01-01", end="2024-07-01", staff_ids=[busiest], include_staff=False
    )
    assert without.concentration.top5_share != top
