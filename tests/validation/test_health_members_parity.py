"""DuckDB and Spark give identical member metrics from the shared member-day table.

The member-day table (:mod:`analysis.health.member_days`) and the metrics read from it are ibis
only; these checks cover what the other parity tests do not: the table itself, usage, monthly
and daily return, monthly cohorts, and the newcomer metrics' numeric path.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import health
from analysis.health import member_days as md
from analysis.health.newcomer_table import newcomer_flags, newcomer_table

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_member_days_identical(engines):
    a, b = (
        c.execute(md.member_days(c)).sort_values(["member_id", "day"], ignore_index=True)
        for c in engines
    )
    assert len(a) > 5_000
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_usage_return_and_monthly_cohorts_identical(engines):
    calls = (
        lambda c: health.usage(c, period="month"),
        lambda c: health.weekly_return(c, period="month"),
        lambda c: health.weekly_return(c, period="day", include_staff=False),
        lambda c: health.cohort_retention(c, cohort="month", include_staff=False),
    )
    for call in calls:
        a, b = (call(c) for c in engines)
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
        assert a.to_dict() == b.to_dict()


def test_newcomer_metrics_identical(engines):
    fa, fb = (newcomer_flags(c) for c in engines)
    fa, fb = (f.sort_values(list(f.columns), ignore_index=True) for f in (fa, fb))
    assert len(fa) > 500 and fa["returned"].any()
    pd.testing.assert_frame_equal(fa, fb, check_dtype=False)
    for call in (
        lambda c: health.newcomer_welcome(c, period="month"),
        lambda c: health.newcomer_return(c),
        lambda c: health.repeat_contribution(c, days=(1, 7, 30)),
    ):
        a, b = (call(c) for c in engines)
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
        assert a.to_dict() == b.to_dict()


def _first_tables(c) -> tuple[pd.DataFrame, pd.DataFrame]:
    from analysis.health.first_messages import first_messages, first_replies

    # (without the join key: a hash on DuckDB, the id itself on Spark; never reported)
    firsts = c.execute(first_messages(c).drop("first_message_key"))
    firsts = firsts.sort_values("member_id", ignore_index=True)
    replies = c.execute(first_replies(c))
    keys = ["member_id", "first_message_id", "a_member", "a_at", "direct"]
    replies["a_at"] = pd.to_datetime(replies["a_at"], utc=True)
    return firsts, replies.sort_values(keys, ignore_index=True)


def test_first_message_and_reply_tables_identical(engines):
    """The tables shared by the newcomer metrics and the ladder, and the full newcomer table."""
    (fa, ra), (fb, rb) = (_first_tables(c) for c in engines)
    assert len(fa) > 500 and ra["direct"].any() and (~ra["direct"]).any()
    for frame in (fa, fb):
        frame["first_at"] = pd.to_datetime(frame["first_at"], utc=True)
    pd.testing.assert_frame_equal(fa, fb, check_dtype=False)
    pd.testing.assert_frame_equal(ra, rb, check_dtype=False)
    ta, tb = (newcomer_table(c, include_bots=True) for c in engines)
    pd.testing.assert_frame_equal(ta, tb, check_dtype=False)


def test_fractional_seconds_identical(engines):
    """Messages at fractions of a second (x.6 s, 23:59:59.6): whole seconds are floored on both
    engines, so member-days, first messages and newcomer replies agree exactly."""
    from analysis.data import Community
    from tests.unit.test_health_first_messages import _tables

    tables = _tables(5)
    assert (tables.messages["created_at"].dt.microsecond >= 500_000).any()
    small = [Community.from_tables(tables, backend=c.backend) for c in engines]
    a, b = (
        c.execute(md.member_days(c)).sort_values(["member_id", "day"], ignore_index=True)
        for c in small
    )
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    (fa, ra), (fb, rb) = (_first_tables(c) for c in small)
    for frame in (fa, fb):
        frame["first_at"] = pd.to_datetime(frame["first_at"], utc=True)
    pd.testing.assert_frame_equal(fa, fb, check_dtype=False)
    pd.testing.assert_frame_equal(ra, rb, check_dtype=False)
    ta, tb = (newcomer_table(c, include_staff=True) for c in small)
    pd.testing.assert_frame_equal(ta, tb, check_dtype=False)
    want = tables.messages["created_at"].astype("int64") // 10**9
    assert set(fa["first_s"]) <= set(want)
