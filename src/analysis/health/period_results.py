"""Building blocks of per-period results: one row per unit in, per-period rows and words out.

Used by the thread metrics (:mod:`analysis.health.responsiveness`,
:mod:`analysis.health.discussion`, :mod:`analysis.health.shares`) and by
:mod:`analysis.health.newcomers`.

Periods
    A unit (thread, session, newcomer) belongs to the UTC calendar period
    (:mod:`analysis.health.periods`) of its start. Every period from the first to the last message
    of the data is reported (:func:`~analysis.health.periods.data_periods`), empty ones included
    (counts 0, rates and quantiles NaN). Optionally also per channel (Telegram forum topics are
    channels): the index is then every period × every channel seen.
Quantiles
    Medians and 90th percentiles are exact (linear interpolation between order statistics,
    Hyndman & Fan type 7, as ``pandas.Series.quantile``), computed in pandas on per-unit values
    brought back from the engine: one small row per unit. Spark's quantiles are approximate, so
    this choice makes DuckDB and Spark results identical, not merely close.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "channel_ids",
    "format_or_na",
    "period_channel_index",
    "period_keys",
    "period_lineplot",
    "period_positions",
    "plain_value",
    "quantile_summary",
    "rows_per_period",
    "rows_per_period_positions",
    "who_counted",
]


def period_channel_index(
    index: pd.DatetimeIndex, channels: Sequence[str] | None
) -> pd.MultiIndex | pd.DatetimeIndex:
    """``index`` itself, or its product with the sorted ``channels`` (``period_start``,
    ``channel_id``) when channels are given."""
    if channels is None:
        return index
    return pd.MultiIndex.from_product(
        [index, sorted(channels)], names=["period_start", "channel_id"]
    )


def period_keys(by_channel: bool) -> list[str]:
    """The grouping columns: ``["period_start"]``, plus ``"channel_id"`` when ``by_channel``."""
    return ["period_start", "channel_id"] if by_channel else ["period_start"]


def channel_ids(frame: pd.DataFrame, by_channel: bool) -> list[str] | None:
    """Sorted distinct ``channel_id`` of ``frame`` when ``by_channel``, else ``None``."""
    return sorted(frame["channel_id"].dropna().unique()) if by_channel else None


def rows_per_period(
    frame: pd.DataFrame,
    index: Any,
    by_channel: bool,
    fn: Callable[[pd.DataFrame], list[dict[str, Any]]],
) -> pd.DataFrame:
    """Apply ``fn`` to the rows of every key of ``index`` (empty rows for keys without data).

    ``frame`` has one row per unit with the :func:`period_keys` columns; ``fn`` returns a list of
    records for one group. The result has one row per key and record, keys first.
    """
    keys = period_keys(by_channel)
    rows = []
    groups = dict(iter(frame.groupby(keys, sort=True))) if len(frame) else {}
    empty = frame.iloc[0:0]
    for key in index:
        key_t = tuple(key) if by_channel else (key,)
        g = groups.get(key_t)
        record = dict(zip(keys, key_t, strict=True))
        for extra in fn(empty if g is None else g):
            rows.append({**record, **extra})
    return pd.DataFrame(rows)


def period_positions(frame: pd.DataFrame, by_channel: bool) -> dict[tuple, np.ndarray]:
    """Row positions of ``frame`` for every :func:`period_keys` key (a tuple), in row order.

    One pandas group-by pass (``GroupBy.indices``); with :func:`rows_per_period_positions` the
    per-period statistics are computed on numpy slices, without a DataFrame per period.
    """
    if not len(frame):
        return {}
    groups = frame.groupby(period_keys(by_channel), sort=False).indices
    return {(k if isinstance(k, tuple) else (k,)): v for k, v in groups.items()}


def rows_per_period_positions(
    index: Any,
    by_channel: bool,
    positions: dict[tuple, np.ndarray],
    fn: Callable[[np.ndarray], list[dict[str, Any]]],
) -> pd.DataFrame:
    """:func:`rows_per_period` for ``fn`` of row positions (:func:`period_positions`): every key
    of ``index`` in order, an empty position array for keys without data."""
    keys = period_keys(by_channel)
    empty = np.empty(0, dtype=np.intp)
    rows = []
    for key in index:
        key_t = tuple(key) if by_channel else (key,)
        record = dict(zip(keys, key_t, strict=True))
        for extra in fn(positions.get(key_t, empty)):
            rows.append({**record, **extra})
    return pd.DataFrame(rows)


def quantile_summary(values: pd.Series | np.ndarray) -> tuple[int, float, float, float]:
    """``(n, median, 90th percentile, mean)`` of the non-missing values (exact, type 7).

    NaN statistics (and ``n`` 0) when there is no value. Computed with numpy on the values in
    their row order: ``numpy.percentile`` at 50 and 90 (linear interpolation, what
    ``pandas.Series.quantile`` calls) and the sum divided by the count (what
    ``pandas.Series.mean`` computes), so the same bits as those pandas methods, without their
    per-call overhead.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return 0, float("nan"), float("nan"), float("nan")
    med, p90 = np.percentile(v, np.array([0.5, 0.9]) * 100.0)
    return int(v.size), float(med), float(p90), float(v.sum() / v.size)


def who_counted(include_staff: bool, include_bots: bool) -> str:
    """The staff/bot switches in words, e.g. ``"including staff, excluding bots"``."""
    staff = "including staff" if include_staff else "excluding staff"
    bots = "including bots" if include_bots else "excluding bots"
    return f"{staff}, {bots}"


def format_or_na(value: float, spec: str = ".1%") -> str:
    """``value`` formatted with ``spec`` (default a percentage), or ``"n/a"`` when missing."""
    return "n/a" if value is None or pd.isna(value) else format(value, spec)


def period_lineplot(frame: pd.DataFrame, y: str, hue: str | None, ax: Any, title: str, ylabel: str):
    """Line plot of ``y`` against ``period_start`` (one line per ``hue``) in the house style."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    sns.lineplot(data=frame, x="period_start", y=y, hue=hue, marker="o", ax=ax)
    ax.set_xlabel("period start (UTC)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def plain_value(value: Any) -> Any:
    """A JSON-ready scalar: numpy integers → ``int``, floats → ``float`` (NaN → ``None``)."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    return value
