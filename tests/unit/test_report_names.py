"""Display names reach a report only when the run asks for them."""

from __future__ import annotations

import pandas as pd

from analysis.data import Community
from analysis.formats import format_frame
from analysis.report import member_labels
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def _community() -> Community:
    members = make_members(
        [("m_a", "2024-01-01", False, False), ("m_b", "2024-01-01", False, False)]
    )
    members["display_name"] = ["<script>alert(1)</script>", None]
    messages = make_messages([("1", "m_a", "2024-01-02", None), ("2", "m_b", "2024-01-02", "1")])
    return Community.from_tables(Tables(members=members, messages=messages))


def test_pseudonyms_unless_show_names():
    c = _community()
    frame = pd.DataFrame({"member": ["m_a", "m_b"], "score": [2, 1]})
    assert member_labels(frame, c, show_names=False) is frame
    named = member_labels(frame, c, show_names=True)
    # m_b has no display name: it keeps its pseudonym; the frame passed in is not changed
    assert named["member"].tolist() == ["<script>alert(1)</script>", "m_b"]
    assert frame["member"].tolist() == ["m_a", "m_b"]
    html = format_frame(named)
    assert "<script>" not in html and "&lt;script&gt;" in html
