"""Sufficient statistics: what every parametric test here needs, and all it needs.

A metric's per-unit values ``y`` (and, for ratio metrics, a per-unit denominator ``x``; for
CUPED, a pre-period covariate ``x``) are reduced per variant (and segment) to

    n, Σy, Σy², Σx, Σx², Σxy

by the engine (:func:`sufficient_stats_expr`), so an experiment with any number of units costs one
aggregation query. Means, variances, covariances, Welch tests, delta-method ratio tests and CUPED
adjustments all follow from these sums (the approach of GrowthBook's ``gbstats`` and of
spotify-confidence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SufficientStats:
    """Sums of one arm for one metric.

    Attributes
    ----------
    n : int
        Units.
    sum_y, sum_y2 : float
        Σy and Σy² of the metric (the numerator for ratio metrics).
    sum_x, sum_x2, sum_xy : float or None
        Σx, Σx², Σxy of the second per-unit variable: the denominator of a ratio metric, or the
        pre-period covariate for CUPED. ``None`` when the metric has none.
    """

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float | None = None
    sum_x2: float | None = None
    sum_xy: float | None = None

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be non-negative, got {self.n}")
        has_x = [v is not None for v in (self.sum_x, self.sum_x2, self.sum_xy)]
        if any(has_x) and not all(has_x):
            raise ValueError("give all of sum_x, sum_x2 and sum_xy, or none of them")

    @property
    def has_x(self) -> bool:
        return self.sum_x is not None

    @property
    def mean_y(self) -> float:
        """Sample mean of y (NaN when n = 0)."""
        return self.sum_y / self.n if self.n else math.nan

    @property
    def var_y(self) -> float:
        """Unbiased sample variance of y (ddof = 1; NaN when n < 2; never negative)."""
        if self.n < 2:
            return math.nan
        return max((self.sum_y2 - self.sum_y**2 / self.n) / (self.n - 1), 0.0)

    @property
    def mean_x(self) -> float:
        self._need_x()
        return self.sum_x / self.n if self.n else math.nan  # type: ignore[operator]

    @property
    def var_x(self) -> float:
        """Unbiased sample variance of x (ddof = 1)."""
        self._need_x()
        if self.n < 2:
            return math.nan
        return max((self.sum_x2 - self.sum_x**2 / self.n) / (self.n - 1), 0.0)  # type: ignore[operator]

    @property
    def cov_xy(self) -> float:
        """Unbiased sample covariance of x and y (ddof = 1)."""
        self._need_x()
        if self.n < 2:
            return math.nan
        return (self.sum_xy - self.sum_x * self.sum_y / self.n) / (self.n - 1)  # type: ignore[operator]

    def _need_x(self) -> None:
        if not self.has_x:
            raise ValueError("these statistics have no second variable (sum_x is None)")

    def __add__(self, other: SufficientStats) -> SufficientStats:
        """Pool two sets of sums (e.g. segments into a total)."""
        if self.has_x != other.has_x:
            raise ValueError("cannot add statistics with and without a second variable")
        add = (lambda a, b: a + b) if self.has_x else (lambda a, b: None)
        return SufficientStats(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            add(self.sum_x, other.sum_x),
            add(self.sum_x2, other.sum_x2),
            add(self.sum_xy, other.sum_xy),
        )

    @classmethod
    def from_values(cls, y: Sequence[float] | np.ndarray, x: Any = None) -> SufficientStats:
        """Sums of per-unit values (NaN values are an error, not silently dropped)."""
        y = np.asarray(y, dtype=float)
        if np.isnan(y).any():
            raise ValueError(f"{int(np.isnan(y).sum())} missing values in y")
        if x is None:
            return cls(int(y.size), float(y.sum()), float((y * y).sum()))
        x = np.asarray(x, dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"x has shape {x.shape} but y has {y.shape}")
        if np.isnan(x).any():
            raise ValueError(f"{int(np.isnan(x).sum())} missing values in x")
        return cls(
            int(y.size),
            float(y.sum()),
            float((y * y).sum()),
            float(x.sum()),
            float((x * x).sum()),
            float((x * y).sum()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "sum_y": self.sum_y,
            "sum_y2": self.sum_y2,
            "sum_x": self.sum_x,
            "sum_x2": self.sum_x2,
            "sum_xy": self.sum_xy,
        }


def sufficient_stats_expr(
    table: Any, y: str, *, by: Sequence[str] = ("variant",), x: str | None = None
) -> Any:
    """The sums per group as an ibis expression (one aggregation; runs on any engine).

    Columns: the ``by`` columns, ``n``, ``sum_y``, ``sum_y2`` and, with ``x``, ``sum_x``,
    ``sum_x2``, ``sum_xy``. Values are cast to float64 first so integer sums cannot overflow.
    """
    yv = table[y].cast("float64")
    aggs = {"n": table.count(), "sum_y": yv.sum(), "sum_y2": (yv * yv).sum()}
    if x is not None:
        xv = table[x].cast("float64")
        aggs |= {"sum_x": xv.sum(), "sum_x2": (xv * xv).sum(), "sum_xy": (xv * yv).sum()}
    return table.group_by(list(by)).aggregate(**aggs)


def stats_from_frame(frame: pd.DataFrame, *, by: str = "variant") -> dict[Any, SufficientStats]:
    """Turn the result of :func:`sufficient_stats_expr` into ``{group: SufficientStats}``."""
    has_x = "sum_x" in frame.columns
    out = {}
    for row in frame.itertuples(index=False):
        values = row._asdict()
        out[values[by]] = SufficientStats(
            int(values["n"]),
            float(values["sum_y"] or 0.0),
            float(values["sum_y2"] or 0.0),
            float(values["sum_x"] or 0.0) if has_x else None,
            float(values["sum_x2"] or 0.0) if has_x else None,
            float(values["sum_xy"] or 0.0) if has_x else None,
        )
    return out
