"""Reply depth and discussion depth on the simulated community: against a plain Python walk and
one row per thread in pandas (DuckDB), and DuckDB against Spark (identical numbers)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import health
from analysis.data import Community
from analysis.health.periods import period_floor
from analysis.health.thread_table import reply_depths, thread_table
from tests.unit.test_health_depth_fast import _walk  # the reference walk up the reply chains


def test_depths_on_the_simulated_community_match_a_walk(synthetic_dataset):
    processed, _, _ = synthetic_dataset
    c = Community.load(processed)
    msgs = c.execute(c.messages.select("message_id", "reply_to_id", "kind", "thread_id"))
    expected = _walk(msgs)
    assert sum(d >= 2 for d in expected.values()) > 100  # nested replies to walk
    got = reply_depths(c).set_index("message_id")["depth"].to_dict()
    assert got == expected
    # discussion depth from engine value counts = one row per thread in pandas
    t = thread_table(c, include_bots=True, reply_sources=("explicit", "inferred"))
    r = health.discussion_depth(
        c, period="month", include_bots=True, reply_sources=("explicit", "inferred")
    )
    t["period_start"] = period_floor(t["created_at"], "month")
    for row in r.frame.itertuples():
        g = t[t["period_start"] == row.period_start]
        assert row.threads == len(g)
        if len(g):
            assert row.mean_depth == g["max_depth"].astype(float).mean()
            assert row.median_depth == g["max_depth"].astype(float).median()
            assert row.median_participants == g["participants"].astype(float).median()
    assert r.overall["max_depth"]["mean"] == t["max_depth"].astype(float).mean()
    assert r.overall["threads"] == len(t) > 1000


@pytest.mark.spark
@pytest.mark.slow
def test_depth_duckdb_and_spark_agree(engines):
    duck, spark = engines
    da, db = (reply_depths(c) for c in engines)
    assert (da["depth"] >= 2).sum() > 100
    pd.testing.assert_frame_equal(da, db, check_dtype=False)
    for kw in (
        {"period": "week"},
        {
            "period": "month",
            "by_channel": True,
            "include_staff": False,
            "include_bots": True,
            "reply_sources": ("explicit", "inferred"),
        },
    ):
        a, b = (health.discussion_depth(c, **kw) for c in engines)
        assert a.to_dict() == b.to_dict(), kw
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), check_dtype=False)
