"""The ladder's level matrices (LadderGrid) and the frame built from them only when read.

``member_levels`` keeps the levels as ``periods × members`` matrices; the long frame is built on
first read, and the transitions and promotion candidates read the matrices. These tests check
that the frame is the same whichever way it is made (grid → frame → grid round trip, a frame
given by hand with plain strings), that reading the moves does not build it, and that a bad level
is reported by value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health.engine_cache import clear
from analysis.health.ladder import LEVELS, LadderLevels, LadderRules, member_levels
from analysis.health.ladder_grid import LadderGrid, grid_of
from analysis.health.ladder_moves import ladder_transitions, promotion_candidates
from tests.unit.test_health_ladder_fast import _synthetic_tables


@pytest.fixture(scope="module")
def community() -> Community:
    c = Community.from_tables(_synthetic_tables().validated(source="<synthetic ladder>"))
    yield c
    clear(c)


def _grids_equal(a: LadderGrid, b: LadderGrid) -> None:
    assert a.member_ids.tolist() == b.member_ids.tolist()
    assert (a.starts == b.starts).all() and (a.ends == b.ends).all()
    for name in ("level", "messages", "first_responses", "referrals"):
        x, y = getattr(a, name), getattr(b, name)
        present = a.level >= 0
        assert (x[present] == y[present]).all(), name
    assert (a.level == b.level).all()
    np.testing.assert_array_equal(a.core_cutoff, b.core_cutoff)
    assert a.complete.tolist() == b.complete.tolist()


@pytest.mark.parametrize("period", ["week", "month"])
def test_frame_and_grid_convert_both_ways(community, period):
    levels = member_levels(community, period=period)
    grid = grid_of(levels)
    assert (grid.level == -1).any()  # members who had not joined yet: no rows
    frame = levels.frame
    assert len(frame) == int((grid.level >= 0).sum()) > 100
    _grids_equal(grid, LadderGrid.from_frame(frame))
    # a frame with plain strings (no categoricals): members in order of appearance, same rows
    plain = frame.astype({"member_id": object, "level": object})
    again = LadderGrid.from_frame(plain).to_frame().astype({"member_id": object, "level": object})
    keys = ["period_start", "member_id"]
    pd.testing.assert_frame_equal(
        again.sort_values(keys).reset_index(drop=True), plain.reset_index(drop=True)
    )


def test_the_frame_is_built_once_and_only_when_read(community):
    levels = member_levels(community, period="week", rules=LadderRules(window_days=None))
    assert isinstance(levels.__dict__["_frame_value"], LadderGrid)
    ladder_transitions(levels=levels)
    promotion_candidates(levels=levels, near=0.5)
    text = levels.summary()
    assert isinstance(levels.__dict__["_frame_value"], LadderGrid)  # nothing above built it
    # the summary from the matrices is the one from the frame
    assert text == LadderLevels("week", levels.rules, False, levels.frame.copy()).summary()
    assert "the ladder had" in text
    first = levels.frame
    assert isinstance(first, pd.DataFrame) and levels.frame is first
    assert levels.to_frame() is not first and levels.to_frame().equals(first)
    assert grid_of(levels).level.shape[1] == len(first["member_id"].cat.categories)
    assert sum(levels.counts().sum(axis=1)) == len(first)


def test_moves_from_a_hand_made_frame_equal_the_grid(community):
    levels = member_levels(community, period="week")
    by_hand = LadderLevels("week", levels.rules, False, levels.frame.copy())
    assert "_grid" not in by_hand.__dict__
    a, b = ladder_transitions(levels=levels), ladder_transitions(levels=by_hand)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    assert a.n_periods == b.n_periods > 3
    for at in (None, "2024-02-20"):
        x = promotion_candidates(levels=levels, at=at, near=0.5).to_frame()
        y = promotion_candidates(levels=by_hand, at=at, near=0.5).to_frame()
        pd.testing.assert_frame_equal(x, y)
        assert len(x) > 0


def test_a_frame_with_an_unknown_level_is_reported():
    frame = pd.DataFrame(
        {
            "period_start": pd.to_datetime(["2024-01-01", "2024-01-01"]),
            "window_end": pd.to_datetime(["2024-02-01", "2024-02-01"]),
            "member_id": ["a", "b"],
            "level": ["active", "boss"],
            "messages": [4, 9],
            "first_responses": [0, 0],
            "referrals": [0, 0],
            "core_cutoff": [4.0, 4.0],
            "complete": [True, True],
        }
    )
    with pytest.raises(ValueError, match=r"\['boss'\].*expected one of"):
        ladder_transitions(levels=LadderLevels("month", LadderRules(), False, frame))
    assert set(LEVELS) >= {"active"}


def test_results_come_back_as_arrays_through_arrow():
    """ladder_counts._arrays: strings as str objects, timestamps naive UTC with NaT, ints."""
    import ibis

    from analysis.data import duckdb_backend
    from analysis.health.ladder_counts import _arrays

    frame = pd.DataFrame(
        {
            "c_id": ["u2", "u10", "ü"],
            "joined_at": pd.to_datetime(
                ["2024-01-01 23:59:59.5", None, "1969-12-31 00:00:00.0"], utc=True
            ),
            "n": np.array([3, -1, 2**40], dtype=np.int64),
        }
    )
    backend = duckdb_backend()
    t = backend.create_table("arrays_check", ibis.memtable(frame), temp=True)

    class _Community:  # what _arrays reads: the backend (as an attribute or through engine())
        def engine(self):
            return self.backend

    c = _Community()
    c.backend = backend
    got = _arrays(c, t)
    assert got["c_id"].dtype == object and got["c_id"].tolist() == ["u2", "u10", "ü"]
    want = frame["joined_at"].dt.tz_convert(None).to_numpy()
    assert got["joined_at"].dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(got["joined_at"], want)
    assert got["n"].tolist() == [3, -1, 2**40]
