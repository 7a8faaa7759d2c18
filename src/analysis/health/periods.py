"""UTC calendar periods shared by the health metrics: day, ISO week (from Monday), month.

A period is named by its start: ``day`` = the UTC calendar day, ``week`` = the ISO week, Monday
00:00 UTC to the next Monday, ``month`` = the calendar month. Its *end* is the start of the next
period (exclusive). The same boundaries are computed on the engine (:func:`period_start_expr`, an
ibis expression) and in pandas (:func:`period_floor`, :func:`period_index`, :func:`period_end`),
so per-period aggregates from the engine line up with indexes built in pandas.

Speed on DuckDB
    Canonical timestamps are ``TIMESTAMP WITH TIME ZONE``. DuckDB computes ``date_trunc`` and
    the ``CAST(... AS TIMESTAMP)`` that ibis puts inside ``epoch_seconds`` on such values through
    ICU calendars, row by row: on 1M messages that is 3–4× the CPU of the whole rest of a weekly
    ``count(DISTINCT member_id)``. When an expression reads DuckDB tables,
    :func:`epoch_seconds` therefore calls DuckDB's ``epoch(timestamptz)`` directly (the same
    value: the session is UTC) and :func:`utc_date_expr` / :func:`period_start_expr` build the
    UTC date as ``1970-01-01 + floor(epoch / 86400)`` days and truncate that (naive) date. Other
    engines (Spark) get the plain ibis expressions. The results are identical either way
    (checked by the engine parity tests).
"""

from __future__ import annotations

from typing import Any, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import pandas as pd

from analysis.data import Community

Period = Literal["day", "week", "month"]
_TRUNCATE_UNIT = {"day": "D", "week": "W", "month": "M"}

__all__ = [
    "Period",
    "check_period",
    "data_periods",
    "on_duckdb",
    "epoch_seconds",
    "period_end",
    "period_floor",
    "period_index",
    "period_start_expr",
    "utc_date_expr",
]


@ibis.udf.scalar.builtin(name="epoch")
def _duckdb_epoch(ts) -> dt.float64:  # type: ignore[empty-body,no-untyped-def]
    """DuckDB's ``epoch(timestamp[tz])``: seconds since 1970-01-01 UTC (with fractions)."""


def on_duckdb(expr: Any) -> bool:
    """Whether ``expr`` reads tables of a DuckDB backend (so DuckDB will execute it)."""
    tables = expr.op().find(ops.DatabaseTable)
    return any(getattr(t.source, "name", "") == "duckdb" for t in tables)


def check_period(period: str) -> None:
    """Raise ``ValueError`` unless ``period`` is ``"day"``, ``"week"`` or ``"month"``."""
    if period not in _TRUNCATE_UNIT:
        raise ValueError(f"period must be one of {list(_TRUNCATE_UNIT)}, got {period!r}")


def period_start_expr(ts: Any, period: Period) -> Any:
    """Start (a ``date``) of the UTC calendar period of an ibis timestamp column, on the engine.

    Weeks are ISO weeks starting Monday; months are calendar months. (On DuckDB computed from
    :func:`utc_date_expr`, see the module docstring; the same dates.)
    """
    if on_duckdb(ts):
        return utc_date_expr(ts).truncate(_TRUNCATE_UNIT[period]).cast("date")
    return ts.truncate(_TRUNCATE_UNIT[period]).cast("date")


def utc_date_expr(ts: Any) -> Any:
    """The UTC calendar date of an ibis timestamp column (a ``date``), on the engine."""
    if on_duckdb(ts):
        days = (_duckdb_epoch(ts) // 86400).cast("int64")
        return (ibis.date(1970, 1, 1) + days.as_interval("D")).cast("date")
    return ts.date()


def period_floor(ts: pd.Series, period: Period) -> pd.Series:
    """Start of the UTC calendar period of each timestamp, as naive ``datetime64[ns]`` (UTC).

    The pandas counterpart of :func:`period_start_expr` (weeks start on Monday).
    """
    check_period(period)
    naive = pd.to_datetime(ts, utc=True).dt.tz_convert(None)
    day = naive.dt.floor("D")
    if period == "day":
        return day
    if period == "week":
        return day - pd.to_timedelta(day.dt.weekday, unit="D")
    return day.dt.to_period("M").dt.start_time


def period_index(first: pd.Timestamp, last: pd.Timestamp, period: Period) -> pd.DatetimeIndex:
    """Every period start from the period of ``first`` to ``last`` (inclusive), in order.

    ``first`` is moved back to its period's start (the Monday of its ISO week, the first of its
    month); periods without data are included, so the index has no gaps.
    """
    if period == "week":
        first = first - pd.Timedelta(days=first.weekday())
        return pd.date_range(first, last, freq="7D")
    if period == "month":
        return pd.date_range(first.replace(day=1), last, freq="MS")
    return pd.date_range(first, last, freq="D")


def period_end(starts: pd.Series, period: Period) -> pd.Series:
    """End (exclusive) of each period, i.e. the start of the next one, for period starts."""
    if period == "month":
        return starts + pd.offsets.MonthBegin(1)
    return starts + pd.Timedelta(days=7 if period == "week" else 1)


def data_periods(community: Community, period: Period) -> pd.DatetimeIndex:
    """Every period (named ``period_start``) from the first to the last non-service message.

    Empty when the community has no non-service message. Computed from the minimum and maximum
    ``created_at`` aggregated on the engine.
    """
    m = community.messages
    m = m.filter(m.kind != "service")
    span = community.execute(m.aggregate(lo=m.created_at.min(), hi=m.created_at.max()))
    lo, hi = span["lo"].iloc[0], span["hi"].iloc[0]
    if lo is None or pd.isna(lo):
        return pd.DatetimeIndex([], name="period_start")
    bounds = period_floor(pd.Series([lo, hi]), period)
    return period_index(bounds.iloc[0], bounds.iloc[1], period).rename("period_start")


def epoch_seconds(ts: Any) -> Any:
    """Whole seconds since 1970-01-01 UTC of an ibis timestamp column (``int64``, on the engine).

    ``ts.epoch_seconds()`` cast to ``int64``; on DuckDB the same value from ``epoch(ts)``
    without ibis's intermediate cast (see the module docstring). Fractional seconds are floored
    on every engine (Spark's ``unix_timestamp`` floors; DuckDB's ``epoch`` keeps the fraction,
    which a plain cast to ``int64`` would round, so it is floored first): 12:00:00.6 is
    second 12:00:00.
    """
    if on_duckdb(ts):
        return _duckdb_epoch(ts).floor().cast("int64")
    return ts.epoch_seconds().cast("int64")
