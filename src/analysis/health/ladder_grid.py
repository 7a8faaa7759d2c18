"""The member ladder as ``periods × members`` matrices, and its conversion to and from the frame.

:func:`analysis.health.ladder.member_levels` assigns levels on matrices (one row per period, one
column per member in ``member_id`` order). :class:`LadderGrid` keeps them, so the transitions and
promotion candidates of :mod:`analysis.health.ladder_moves` are computed on integer arrays, and
the long frame of :class:`~analysis.health.ladder.LadderLevels` (one row per period and member who
had joined by its end: 7.6M rows for the 1M-member benchmark community) is built only when
someone reads it (:meth:`LadderGrid.to_frame`, through :class:`LazyFrame`). A ``LadderLevels``
made from a frame elsewhere converts back with :meth:`LadderGrid.from_frame`. Every column is
defined in :mod:`analysis.health.ladder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LEVELS", "LadderGrid", "LazyFrame", "grid_of", "level_codes", "stored_grid"]

#: Every level, lowest first (``inactive`` and ``newcomer`` share the bottom rung); the
#: categories of the frame's ``level``.
LEVELS = ("inactive", "newcomer", "active", "core", "mentor", "ambassador")
#: dtype of the frame's ``level``: categories in :data:`LEVELS` order (unordered, since
#: ``inactive`` and ``newcomer`` share a rung).
LEVEL_DTYPE = pd.CategoricalDtype(list(LEVELS), ordered=False)


def level_codes(levels: pd.Series) -> np.ndarray:
    """Index into :data:`LEVELS` of every ``level``; a ``ValueError`` names other values."""
    if isinstance(levels.dtype, pd.CategoricalDtype) and list(levels.cat.categories) == list(
        LEVELS
    ):
        codes = levels.cat.codes.to_numpy()
    else:
        codes = pd.Categorical(levels, categories=list(LEVELS)).codes
    if (codes < 0).any():
        bad = pd.unique(np.asarray(levels, dtype=object)[codes < 0])[:5].tolist()
        raise ValueError(
            f"LadderLevels.frame column 'level': values {bad} are not ladder levels; expected "
            f"one of {list(LEVELS)}"
        )
    return codes.astype(np.int8)


@dataclass(frozen=True)
class LadderGrid:
    """Levels and counts per period (rows) and member (columns).

    Attributes
    ----------
    member_ids : numpy.ndarray
        The members (object array of ``str``), in ``member_id`` order when built by
        ``member_levels``.
    starts, ends : pandas.DatetimeIndex
        Period starts and ends (exclusive), naive UTC.
    level : numpy.ndarray
        ``int8`` ``(periods, members)``: index into :data:`LEVELS`; ``-1`` where the member had
        not joined by the period's end (no row in the frame).
    messages, first_responses, referrals : numpy.ndarray
        Integer ``(periods, members)``: the counts behind the levels.
    core_cutoff : numpy.ndarray
        ``float64`` per period (NaN without active members).
    complete : numpy.ndarray
        ``bool`` per period: the data runs past its end.
    """

    member_ids: np.ndarray
    starts: pd.DatetimeIndex
    ends: pd.DatetimeIndex
    level: np.ndarray
    messages: np.ndarray
    first_responses: np.ndarray
    referrals: np.ndarray
    core_cutoff: np.ndarray
    complete: np.ndarray

    @property
    def has_rows(self) -> np.ndarray:
        """``bool`` per period: some member had joined by its end (it has rows in the frame)."""
        return (self.level >= 0).any(axis=1)

    def to_frame(self) -> pd.DataFrame:
        """The documented long frame, in ``(period_start, member_id)`` order."""
        present = self.level >= 0
        flat = present.ravel()
        period = np.repeat(np.arange(len(self.starts)), present.sum(axis=1))
        member = np.flatnonzero(flat) % max(present.shape[1], 1)
        members = pd.CategoricalDtype(pd.Index(self.member_ids, dtype=object))

        def column(matrix: np.ndarray) -> np.ndarray:
            return np.compress(flat, matrix.ravel()).astype(np.int64)

        return pd.DataFrame(
            {
                "period_start": self.starts.to_numpy()[period],
                "window_end": self.ends.to_numpy()[period],
                "member_id": pd.Categorical.from_codes(member, dtype=members, validate=False),
                "level": pd.Categorical.from_codes(
                    np.compress(flat, self.level.ravel()), dtype=LEVEL_DTYPE, validate=False
                ),
                "messages": column(self.messages),
                "first_responses": column(self.first_responses),
                "referrals": column(self.referrals),
                "core_cutoff": self.core_cutoff[period],
                "complete": self.complete[period],
            },
            copy=False,
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> LadderGrid:
        """The grid of a ladder frame (columns as documented in :mod:`analysis.health.ladder`).

        Periods are the distinct ``period_start`` values of the frame; members its distinct
        ``member_id`` (the categories when it is a categorical without missing values).
        """
        periods, period = np.unique(frame["period_start"].to_numpy(), return_inverse=True)
        members = frame["member_id"]
        if isinstance(members.dtype, pd.CategoricalDtype) and not members.isna().any():
            member = members.cat.codes.to_numpy(dtype=np.int64)
            ids = np.asarray(members.cat.categories, dtype=object)
        else:
            member, uniques = pd.factorize(members)
            ids = np.asarray(uniques, dtype=object)
        shape = (len(periods), len(ids))

        def matrix(values: np.ndarray, fill: int, dtype: Any) -> np.ndarray:
            out = np.full(shape, fill, dtype=dtype)
            out[period, member] = values
            return out

        def per_period(column: str) -> np.ndarray:
            values = frame[column].to_numpy()
            out = np.empty(len(periods), dtype=values.dtype)
            out[period] = values
            return out

        return cls(
            member_ids=ids,
            starts=pd.DatetimeIndex(periods),
            ends=pd.DatetimeIndex(per_period("window_end")),
            level=matrix(level_codes(frame["level"]), -1, np.int8),
            messages=matrix(frame["messages"].to_numpy(), 0, np.int64),
            first_responses=matrix(frame["first_responses"].to_numpy(), 0, np.int64),
            referrals=matrix(frame["referrals"].to_numpy(), 0, np.int64),
            core_cutoff=per_period("core_cutoff").astype(np.float64),
            complete=per_period("complete").astype(bool),
        )


class LazyFrame:
    """Data descriptor for ``LadderLevels.frame``: a DataFrame, or a grid built into one on read.

    ``member_levels`` stores a :class:`LadderGrid`; the first read of ``frame`` builds the frame
    (:meth:`LadderGrid.to_frame`) and keeps it. A ``LadderLevels`` constructed with a DataFrame
    holds that frame as before. :func:`grid_of` returns the grid without building the frame.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_value"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self._slot]
        if isinstance(value, LadderGrid):
            obj.__dict__["_grid"] = value
            value = value.to_frame()
            obj.__dict__[self._slot] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self._slot] = value


def stored_grid(levels: Any) -> LadderGrid | None:
    """The :class:`LadderGrid` a ``LadderLevels`` was built from; ``None`` if made from a frame."""
    value = levels.__dict__.get("_frame_value")
    if isinstance(value, LadderGrid):
        return value
    return levels.__dict__.get("_grid")


def grid_of(levels: Any) -> LadderGrid:
    """The :class:`LadderGrid` of a ``LadderLevels``: the one it was built from, if any, else
    converted from its frame (:meth:`LadderGrid.from_frame`, every call: the frame may have been
    edited)."""
    grid = stored_grid(levels)
    return grid if grid is not None else LadderGrid.from_frame(levels.frame)
