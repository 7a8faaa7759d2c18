"""DuckDB and Spark give identical counts from the period bit masks.

The weekly/monthly active members and retained members
(:func:`analysis.health.active_periods.member_activity_counts`) and the cohort cells
(:mod:`analysis.health.cohorts`) are summed from 64-bit masks built with ``bit_or`` and shifts
of a BIGINT literal; on Spark a 32-bit literal or a shift taken modulo 32 would lose every week
past the 31st. Weekly cohorts with 70 periods use two mask words.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import health

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_weekly_activity_return_and_long_cohorts_identical(engines):
    calls = (
        lambda c: health.activity(c, period="week"),
        lambda c: health.activity(c, period="month", include_staff=False),
        lambda c: health.weekly_return(c, period="week"),
        lambda c: health.cohort_retention(c, cohort="week", max_periods=70),
        lambda c: health.concentration(c, period="week"),
    )
    for call in calls:
        a, b = (call(c) for c in engines)
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    weeks = health.activity(engines[0], period="week").frame
    assert len(weeks) > 31 and weeks["active_members"].iloc[32:].sum() > 0
