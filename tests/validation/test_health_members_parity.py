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
from analysis.health.newcomer_table import newcomer_flags

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
