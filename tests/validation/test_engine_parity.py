"""The same metric code on DuckDB and on Spark (ibis's PySpark backend, local[2]) agrees exactly.

Every expression here is exact arithmetic (counts, distinct counts, joins), so the two engines
must return identical frames; quantiles, which Spark approximates, are not compared here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import health, network
from analysis.conversion import purchase_rate_by_membership
from analysis.data import Community
from analysis.experiments.outcomes import binary_outcome_counts

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("include_staff", [True, False])
def test_activity_series_identical(engines, period, include_staff):
    duck, spark = engines
    a = health.activity(duck, period=period, include_staff=include_staff).to_frame()
    b = health.activity(spark, period=period, include_staff=include_staff).to_frame()
    assert len(a) > 3 and a["messages"].sum() > 1000
    pd.testing.assert_frame_equal(a, b)


def test_reply_edges_identical(engines):
    frames = [
        c.execute(network.reply_edges_expr(c, start="2024-03-01", end="2024-09-01"))
        .sort_values(["source", "target"])
        .reset_index(drop=True)
        for c in engines
    ]
    assert len(frames[0]) > 100
    pd.testing.assert_frame_equal(frames[0], frames[1])


@pytest.mark.parametrize("metric", ["first_post_7d", "retained_week4"])
def test_experiment_counts_identical(engines, metric):
    a, b = (binary_outcome_counts(c, "onboarding-v2", metric) for c in engines)
    assert a["n"].sum() > 50
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_purchase_comparison_identical(engines):
    a, b = (purchase_rate_by_membership(c, window_days=60).to_dict() for c in engines)
    assert a == b


def test_experiment_unit_metrics_identical(engines):
    from analysis.experiments.unit_metrics import (
        COMMUNITY_METRICS,
        metric_stats,
        unit_outcomes_expr,
    )

    frames = []
    for community in engines:
        per_unit = unit_outcomes_expr(community, "onboarding-v2", community.last_message_at())
        rows = []
        for metric in COMMUNITY_METRICS.values():
            stats = metric_stats(
                per_unit,
                metric,
                execute=community.execute,
                by=("variant", "source"),
                covariate="messages_pre28d" if metric.kind == "mean" else None,
            )
            rows.append(stats.assign(metric=metric.name))
        frames.append(
            pd.concat(rows)
            .sort_values(["metric", "variant", "source"])
            .reset_index(drop=True)[["metric", "variant", "source", "n", "sum_y", "sum_y2"]]
        )
    assert frames[0]["n"].sum() > 1000
    pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False)


def test_activity_by_channel_identical(engines):
    from analysis.health.channels import activity_by_channel

    a, b = (activity_by_channel(c, period="month").to_frame() for c in engines)
    assert a["channel_id"].nunique() >= 4 and a["messages"].sum() > 1000
    pd.testing.assert_frame_equal(a, b)


def test_in_memory_tables_on_spark(engines, tiny_tables):
    """Community.from_tables works on PySpark (no temporary tables there) and gives the same
    numbers as DuckDB."""
    duck, spark = engines
    on_duck = Community.from_tables(tiny_tables)
    on_spark = Community.from_tables(tiny_tables, backend=spark.backend)
    a = health.activity(on_duck).to_frame()
    b = health.activity(on_spark).to_frame()
    pd.testing.assert_frame_equal(a, b)
