"""Per-unit experiment metrics from community activity: hand-checked windows and exposure."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data import Community
from analysis.experiments.outcomes import binary_outcome_counts
from analysis.experiments.unit_metrics import (
    community_metric,
    metric_stats,
    retention_curves,
    unit_outcomes_expr,
)
from analysis.schema import Tables
from tests.conftest import make_members, make_messages, ts


@pytest.fixture
def community() -> Community:
    members = make_members(
        [
            ("u1", "2024-01-01", False, False),
            ("u2", "2024-01-01", False, False),
            ("u3", "2024-02-20", False, False),
            ("x", "2023-12-01", False, False),
        ]
    ).assign(source=["ads", "organic", None, "organic"])
    messages = make_messages(
        [
            ("p0", "u1", "2023-12-20 10:00", None),  # 12 days before assignment: pre-period
            ("p1", "u1", "2024-01-01 12:00", None),  # day 0
            ("r1", "x", "2024-01-02 12:00", "p1"),  # reply within 7 days
            ("r2", "x", "2024-01-12 12:00", "p1"),  # reply after 7 days: not counted
            ("s1", "u1", "2024-01-01 13:00", "p1"),  # self-reply: counted as a message only
            ("p2", "u1", "2024-01-23 10:00", None),  # day 22: week 4
            ("q1", "u2", "2024-01-09 10:00", None),  # day 8: week 2, not first_post_7d
            ("z1", "u3", "2024-02-21 10:00", None),  # u3 assigned 20 Feb: day 1
            ("e1", "x", "2024-03-01 00:00", None),  # end of data
        ]
    )
    assignments = pd.DataFrame(
        {
            "experiment_id": "exp",
            "unit_id": ["u1", "u2", "u3"],
            "variant": ["treatment", "control", "control"],
            "assigned_at": [ts("2024-01-01 11:00"), ts("2024-01-01 09:00"), ts("2024-02-20")],
            "cluster_id": None,
        }
    )
    tables = Tables(members=members, messages=messages, assignments=assignments)
    return Community.from_tables(tables)


def test_per_unit_values_hand_checked(community):
    frame = community.execute(
        unit_outcomes_expr(community, "exp", community.last_message_at())
    ).set_index("unit_id")
    u1, u2, u3 = frame.loc["u1"], frame.loc["u2"], frame.loc["u3"]
    assert (u1.first_post_7d, u1.retained_week1, u1.retained_week4) == (1, 1, 1)
    assert (u1.retained_week2, u1.retained_week3) == (0, 0)
    assert u1.messages_28d == 3 and u1.messages_pre28d == 1
    assert u1.replies_received_28d == 1  # r1 only: r2 is late, s1 is the author's own
    assert (u2.first_post_7d, u2.retained_week2, u2.messages_28d) == (0, 1, 1)
    assert u2.replies_received_28d == 0
    assert u3.first_post_7d == 1 and u3.days_observed == pytest.approx(10.0)
    assert (u1.source, u2.source, u3.source) == ("ads", "organic", "unknown")
    assert (u1.cohort, u3.cohort) == ("2024-01", "2024-02")
    assert (u1.activity_level, u2.activity_level) == ("light", "none")


def test_exposure_excludes_units_without_the_whole_window(community):
    expr = unit_outcomes_expr(community, "exp", community.last_message_at())
    week4 = metric_stats(expr, community_metric("retained_week4"), execute=community.execute)
    assert dict(zip(week4["variant"], week4["n"], strict=True)) == {"control": 1, "treatment": 1}
    first = metric_stats(expr, community_metric("first_post_7d"), execute=community.execute)
    assert dict(zip(first["variant"], first["n"], strict=True)) == {"control": 2, "treatment": 1}
    counts = binary_outcome_counts(community, "exp", "retained_week4").set_index("variant")
    assert counts.loc["control", "unexposed"] == 1  # u3: assigned 10 days before the end


def test_ratio_metric_sums(community):
    expr = unit_outcomes_expr(community, "exp", community.last_message_at())
    stats = metric_stats(
        expr, community_metric("replies_per_message_28d"), execute=community.execute
    ).set_index("variant")
    assert stats.loc["treatment", ["n", "sum_y", "sum_x", "sum_xy"]].tolist() == [1, 1, 3, 3]


def test_retention_curves(community):
    frame = community.execute(unit_outcomes_expr(community, "exp", community.last_message_at()))
    curves = retention_curves(frame).set_index(["variant", "week"])
    assert curves.loc[("control", 1), "units"] == 2 and curves.loc[("control", 1), "rate"] == 0.5
    assert curves.loc[("control", 2), "units"] == 1  # u3 not yet observed for week 2
    assert curves.loc[("treatment", 4), "rate"] == 1.0


def test_unknown_metric_and_experiment_are_clear_errors(community):
    with pytest.raises(ValueError, match="known metrics"):
        community_metric("conversion")
    with pytest.raises(ValueError, match="experiments present: \\['exp'\\]"):
        binary_outcome_counts(community, "nope", "first_post_7d")
