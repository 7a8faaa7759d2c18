"""Engagement, member-to-member share and capped sessions: the same numbers on Spark as on DuckDB.

The unit tests (``tests/unit/test_health_engagement_fast.py``) check these metrics against plain
pandas on DuckDB; here the same small communities run on both engines. The engagement median
comes from each engine's median aggregate (DuckDB ``percentile_cont``, Spark ``percentile``), so
the midpoint case whose naive interpolation is off by one bit is checked on Spark too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.health.engagement import engagement_rate
from analysis.health.sessions import sessions_expr
from analysis.health.shares import member_to_member_share
from tests.unit.test_health_engagement_fast import (
    _random_posts,
    _random_replies,
    midpoint_community,
    session_community,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_parity_engagement_small(engines):
    spark = engines[1].backend
    a, b = (
        engagement_rate(midpoint_community(be), period="week").to_frame() for be in (None, spark)
    )
    assert b.loc[0, "median_rate"] == (1 / 3 + 1.0) / 2  # bit for bit, as on DuckDB
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for period, window in (("week", "7D"), ("day", "1h"), ("month", None)):
        a, b = (
            engagement_rate(_random_posts(3, be)[0], period=period, window=window).to_frame()
            for be in (None, spark)
        )
        assert a["roots"].sum() > 50
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-13)
        for col in ("roots", "roots_censored", "replies", "members_at_end", "median_rate"):
            np.testing.assert_array_equal(a[col], b[col], err_msg=f"{period} {col}")


def test_parity_member_to_member_small(engines):
    spark = engines[1].backend
    for period in ("day", "week", "month"):
        a, b = (
            member_to_member_share(_random_replies(11, be)[0], period=period, by_channel=True)
            for be in (None, spark)
        )
        assert a.denominator > 200
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_parity_sessions_capped_small(engines):
    keys = ["channel_id", "session"]
    a, b = (
        c.execute(sessions_expr(c, count_participants=False)).sort_values(keys, ignore_index=True)
        for c in (session_community(), session_community(engines[1].backend))
    )
    assert len(a) > 60 and set(a["participants"]) == {1, 2}
    for col in ("created_at", "last_at"):
        a[col], b[col] = (pd.to_datetime(f[col], utc=True) for f in (a, b))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
