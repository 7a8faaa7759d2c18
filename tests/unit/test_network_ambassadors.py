"""Ambassador candidates: the evidence and the rule, checked by hand."""

from __future__ import annotations

import pandas as pd

from analysis.data import Community
from analysis.network.ambassadors import ambassador_candidates, ambassador_evidence_expr
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def _community() -> Community:
    """h answers the first messages of n1, n2, n3 first; s (staff) answers n4 first and h second;
    r referred n1 and n2; q's first message (5) is answered by n1."""
    members = make_members(
        [
            ("h", "2024-01-01", False, False),
            ("r", "2024-01-01", False, False),
            ("s", "2024-01-01", True, False),
            ("n1", "2024-01-02", False, False),
            ("n2", "2024-01-02", False, False),
            ("n3", "2024-01-02", False, False),
            ("n4", "2024-01-02", False, False),
            ("q", "2024-01-02", False, False),
        ]
    )
    members["referred_by"] = [None, None, None, "r", "r", None, None, None]
    messages = make_messages(
        [
            ("0", "h", "2024-01-01 10:00", None),
            ("00", "r", "2024-01-01 11:00", None),
            ("1", "n1", "2024-01-03 10:00", None),
            ("1a", "h", "2024-01-03 10:05", "1"),
            ("2", "n2", "2024-01-03 11:00", None),
            ("2a", "h", "2024-01-03 11:05", "2"),
            ("3", "n3", "2024-01-03 12:00", None),
            ("3a", "h", "2024-01-03 12:05", "3"),
            ("4", "n4", "2024-01-03 13:00", None),
            ("4a", "s", "2024-01-03 13:01", "4"),
            ("4b", "h", "2024-01-03 13:02", "4"),
            ("5", "q", "2024-01-03 14:00", None),
            ("5a", "n1", "2024-01-03 14:05", "5"),
        ]
    )
    return Community.from_tables(Tables(members=members, messages=messages))


def _evidence(c: Community) -> dict[str, tuple[int, int]]:
    frame = c.execute(ambassador_evidence_expr(c))
    return {r.member_id: (int(r.welcomed), int(r.referrals)) for r in frame.itertuples()}


def test_evidence_counts_first_answers_to_newcomers_and_referrals():
    # s answered n4 first (staff: not counted for anyone); h's first messages are h's own
    assert _evidence(_community()) == {"h": (3, 0), "r": (0, 2), "n1": (1, 0)}


def test_rule_thresholds_reasons_and_order():
    c = _community()
    reach = pd.DataFrame(
        {
            "member_id": ["h", "r", "n1"],
            "clusters_reached": [3, 2, 1],
            "participation": [0.61, 0.5, 0.0],
        }
    )
    table = ambassador_candidates(c, reach)
    # h: 3 welcomes → score 3; r: 2 referrals × 2 → score 4; n1 reaches one cluster only
    assert table["member"].tolist() == ["r", "h"]
    assert table["score"].tolist() == [4.0, 3.0]
    assert table["reason"].tolist() == [
        "brought 2 members; replies reach 2 clusters",
        "first to answer 3 newcomers; replies reach 3 clusters",
    ]
    stricter = ambassador_candidates(c, reach, min_welcomed=4, min_clusters=3)
    assert stricter.empty and "reason" in stricter.columns
    assert ambassador_candidates(c, reach, top_n=1)["member"].tolist() == ["r"]


def test_members_missing_from_the_graph_reach_no_cluster():
    c = _community()
    empty = pd.DataFrame({"member_id": [], "clusters_reached": [], "participation": []})
    assert ambassador_candidates(c, empty).empty
    assert len(ambassador_candidates(c, empty, min_clusters=0)) == 2
