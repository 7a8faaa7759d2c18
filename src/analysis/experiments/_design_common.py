"""Argument checks and p-value formatting shared by srm.py, clusters.py and interference.py."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd


def _check_alpha(alpha: float, name: str = "alpha") -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {alpha}")
    return alpha


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


def _need_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} has no column(s) {missing}; it has {list(frame.columns)}")
