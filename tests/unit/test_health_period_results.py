"""Per-period result helpers: numpy quantile summaries equal pandas', positions equal groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.health import first_response
from analysis.health.period_results import (
    period_positions,
    quantile_summary,
    rows_per_period,
    rows_per_period_positions,
)


def _pandas_summary(values: pd.Series) -> tuple[int, float, float, float]:
    v = values.dropna().astype(float)
    if v.empty:
        return 0, float("nan"), float("nan"), float("nan")
    return len(v), float(v.quantile(0.5)), float(v.quantile(0.9)), float(v.mean())


def test_quantile_summary_has_the_bits_of_pandas_quantile_and_mean() -> None:
    rng = np.random.default_rng(7)
    for i in range(400):
        n = int(rng.integers(1, 300))
        raw = rng.lognormal(3, 2, n) if i % 2 else rng.integers(0, 10**6, n) / 60.0
        values = pd.Series(raw)
        values[rng.random(n) < 0.1] = np.nan
        got = quantile_summary(values)
        want = _pandas_summary(values)
        if want[0] == 0:
            assert got[0] == 0 and all(np.isnan(x) for x in got[1:])
        else:
            assert got == want  # exact, not approximately


def test_quantile_summary_by_hand() -> None:
    # type 7: median of 1..4 is 2.5; p90 = 1 + 0.9 * 3 = 3.7
    n, med, p90, mean = quantile_summary(np.array([4.0, 1.0, np.nan, 3.0, 2.0]))
    assert (n, med, mean) == (4, 2.5, 2.5)
    assert p90 == pytest.approx(3.7, abs=1e-12)


def _frame(by_channel: bool) -> tuple[pd.DataFrame, object]:
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2024-01-01", periods=6, freq="7D")
    rows = 500
    frame = pd.DataFrame(
        {
            "period_start": rng.choice(weeks[:5], rows),  # the last week has no data
            "channel_id": rng.choice(["a", "b"], rows),
            "response_seconds": rng.integers(0, 90_000, rows).astype(float),
            "first_responder_is_staff": rng.random(rows) < 0.3,
        }
    )
    index = (
        pd.MultiIndex.from_product([weeks, ["a", "b"]], names=["period_start", "channel_id"])
        if by_channel
        else weeks
    )
    return frame, index


@pytest.mark.parametrize("by_channel", [False, True])
def test_rows_per_period_positions_equal_rows_per_period(by_channel: bool) -> None:
    frame, index = _frame(by_channel)
    col = frame["response_seconds"].to_numpy()

    def by_frame(g: pd.DataFrame) -> list[dict]:
        return [{"n": len(g), "total": float(g["response_seconds"].sum())}]

    def by_pos(pos: np.ndarray) -> list[dict]:
        return [{"n": len(pos), "total": float(col[pos].sum())}]

    want = rows_per_period(frame, index, by_channel, by_frame)
    got = rows_per_period_positions(index, by_channel, period_positions(frame, by_channel), by_pos)
    pd.testing.assert_frame_equal(got, want)
    assert len(got) == len(index)
    assert got["n"].iloc[-1] == 0  # the empty last key is reported


def test_response_minutes_do_not_depend_on_the_row_order() -> None:
    """Means of whole seconds are exact in any order; means of minutes would not be."""
    frame, _ = _frame(False)
    frame["response_seconds"] = np.random.default_rng(5).integers(0, 10**7, len(frame))
    shuffled = frame.sample(frac=1.0, random_state=1)
    a = first_response._response_stats(frame)
    b = first_response._response_stats(shuffled)
    assert a == b
    minutes = frame["response_seconds"] / 60.0
    assert a[0]["mean_minutes"] == pytest.approx(minutes.mean(), rel=1e-13)
    assert a[0]["median_minutes"] == pytest.approx(minutes.median(), rel=1e-13)
    staff = frame["first_responder_is_staff"]
    assert a[1]["n"] == int(staff.sum()) and a[2]["n"] == int((~staff).sum())
