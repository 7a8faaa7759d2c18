"""Validation of unit-level samples and of alpha, shared by rank.py and bootstrap.py."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def _as_sample(name: str, values: Any, *, min_size: int = 1) -> np.ndarray:
    """``values`` as a finite 1-D float array, or a ValueError that names the argument."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: need at least {min_size} value(s)")
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(
            f"{name} has {n_nan} missing (NaN) value(s) of {arr.size}; drop or impute them "
            "explicitly before testing"
        )
    n_inf = int(np.isinf(arr).sum())
    if n_inf:
        raise ValueError(f"{name} has {n_inf} infinite value(s) of {arr.size}")
    if arr.size < min_size:
        raise ValueError(f"{name} has {arr.size} value(s): need at least {min_size}")
    return arr


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return alpha
