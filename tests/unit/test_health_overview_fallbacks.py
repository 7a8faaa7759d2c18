"""Health overview: inferred reply links are counted only when asked, and the findings say so;
parts a tiny community cannot support become NotAvailable with the reason."""

from __future__ import annotations

import pytest

from analysis.data import Community
from analysis.health.overview import health_overview
from analysis.results import NotAvailable
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def _community(source: str) -> Community:
    """Two threads by a, each answered by b within an hour; the links are ``source``."""
    members = make_members([("a", "2024-01-01", False, False), ("b", "2024-01-01", False, False)])
    messages = make_messages(
        [
            ("1", "a", "2024-01-02 10:00", None),
            ("2", "b", "2024-01-02 10:30", "1"),
            ("3", "a", "2024-01-09 10:00", None),
            ("4", "b", "2024-01-09 10:45", "3"),
            ("5", "a", "2024-02-20 10:00", None),
        ]
    )
    messages.loc[messages["reply_to_id"].notna(), "reply_source"] = source
    return Community.from_tables(Tables(members=members, messages=messages))


def test_inferred_links_count_only_when_asked_and_the_findings_say_so():
    c = _community("inferred")
    plain = health_overview(c)
    assert plain.reply_links == {"explicit": 0, "inferred": 2, "uses_inferred": False}
    assert plain.response.overall["24h"]["responded"] == 0
    assert any("2 inferred links are left out" in line for line in plain.findings())
    counted = health_overview(c, include_inferred_replies=True)
    assert counted.response.overall["24h"]["responded"] == 2
    assert counted.first_response.overall["all"]["median_minutes"] == pytest.approx(37.5)
    assert any("include 2 reply links inferred" in line for line in counted.findings())


def test_explicit_links_need_no_statement():
    overview = health_overview(_community("explicit"))
    assert overview.response.overall["24h"]["responded"] == 2
    assert not any("inferred" in line for line in overview.findings())


def test_tiny_community_parts_are_not_available_with_the_reason():
    """One member who never gets an answer: no answered newcomer to compare with."""
    members = make_members([("a", "2024-01-01", False, False)])
    messages = make_messages(
        [
            ("1", "a", "2024-01-02", None),
            ("2", "a", "2024-01-20", None),
            ("3", "a", "2024-03-01", None),
        ]
    )
    overview = health_overview(Community.from_tables(Tables(members=members, messages=messages)))
    back = overview.newcomer_return
    assert isinstance(back, NotAvailable)
    assert "answered" in back.reason and back.to_frame().empty
    assert back.summary().startswith("Return of answered vs unanswered newcomers: not available")
    assert not any("nan" in line.lower() for line in overview.findings())
