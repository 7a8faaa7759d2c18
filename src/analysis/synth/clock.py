"""Time units, the Moscow offset, month arithmetic and ISO formatting (times in unix seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DAY", "HOUR", "MINUTE", "MSK", "NEVER", "add_months", "iso_times"]

MINUTE, HOUR, DAY = 60, 3_600, 86_400
MSK = 3 * HOUR  # Europe/Moscow has been UTC+3 all year since 2014
#: A time after every other: "never" for first posts and churn.
NEVER = np.int64(2**62)


def add_months(start: str, months: int) -> int:
    """Unix seconds of UTC midnight ``start`` (``YYYY-MM-DD``) plus ``months`` calendar months."""
    return int((pd.Timestamp(start, tz="UTC") + pd.DateOffset(months=months)).timestamp())


def iso_times(t: np.ndarray, offset: int = 0, suffix: str = "") -> np.ndarray:
    """Unix seconds → ``YYYY-MM-DDTHH:MM:SS`` (shifted by ``offset`` seconds) + ``suffix``."""
    text = np.datetime_as_string((np.asarray(t, np.int64) + offset).astype("datetime64[s]"), "s")
    return np.char.add(text, suffix) if suffix else text
