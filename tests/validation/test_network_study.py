"""The network study: headline findings come from its parts, and the core is the planted one."""

from __future__ import annotations

import json

import pytest

from analysis import network
from analysis.data import Community
from analysis.pseudonym import Pseudonymizer


@pytest.fixture(scope="module")
def study(synthetic_dataset):
    processed, _, truth = synthetic_dataset
    return network.network_study(Community.load(processed), seeds=range(2)), truth


def test_findings_lead_with_staff_dependency(study):
    result, truth = study
    findings = result.findings()
    assert findings[0].startswith(f"Without the {len(truth.staff_ids)} staff accounts")
    assert f"{result.dependency.cut_off_share:.0%}" in findings[0]
    assert 4 <= len(findings) <= 6
    json.dumps(result.to_dict(), allow_nan=False)


def test_core_and_candidates(study):
    result, truth = study
    pseudonyms = Pseudonymizer()
    planted = {pseudonyms.member_id("telegram", uid) for uid in truth.core_ids}
    assert planted <= set(result.core.members)
    staff = {pseudonyms.member_id("telegram", uid) for uid in truth.staff_ids}
    candidates = result.candidates()
    assert len(candidates) > 0 and not set(candidates["member"]) & staff
    assert candidates["expertise z"].is_monotonic_decreasing
    assert result.plot_core().get_title().startswith("Top ")
