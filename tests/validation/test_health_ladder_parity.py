"""The member ladder gives identical results on DuckDB and on Spark (ibis PySpark, local[2]).

:func:`analysis.health.member_levels` reads three things from the engine — messages per member
and UTC day (the member-day table), the first response to every newcomer's first message (the
shared first-message and reply tables, ``message_id`` as tie-breaker) and referrals — and does
the rest in numpy, so the levels,
the transitions and the promotion candidates must agree row for row and value for value. A
mismatch points at the engine part: day truncation of UTC timestamps, or the window ordering.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import health
from analysis.health import LadderRules

pytestmark = [pytest.mark.spark, pytest.mark.slow]

#: Default rules, the rule window = the period itself, and a small core with a low mentor bar
#: (more members near the core cutoff and more mentors, so ties and first responses matter).
RULES = {
    "default": LadderRules(),
    "period-window": LadderRules(window_days=None),
    "tight": LadderRules(window_days=14, core_top_k=5, mentor_min_first_responses=1),
}


@pytest.fixture(scope="module")
def levels(engines):
    """``member_levels`` on both engines, memoised per (period, rules, include_staff)."""
    cache: dict[tuple, tuple] = {}

    def get(period: str, rules: str, include_staff: bool):
        key = (period, rules, include_staff)
        if key not in cache:
            cache[key] = tuple(
                health.member_levels(
                    c, period=period, rules=RULES[rules], include_staff=include_staff
                )
                for c in engines
            )
        return cache[key]

    return get


@pytest.mark.parametrize("rules", list(RULES))
@pytest.mark.parametrize("include_staff", [False, True])
@pytest.mark.parametrize("period", ["month", "week"])
def test_member_levels_identical(levels, period, rules, include_staff):
    duck, spark = levels(period, rules, include_staff)
    a, b = duck.to_frame(), spark.to_frame()
    # the comparison is not vacuous: every rung is reached and first responses are counted
    assert set(a["level"]) >= {"newcomer", "inactive", "active", "core", "mentor"}
    assert a["first_responses"].sum() > 50 and a["referrals"].max() >= 1
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(duck.counts(), spark.counts())


@pytest.mark.parametrize("rules", list(RULES))
@pytest.mark.parametrize("period", ["month", "week"])
def test_ladder_transitions_identical(levels, period, rules):
    duck, spark = levels(period, rules, False)
    a, b = (health.ladder_transitions(levels=lv) for lv in (duck, spark))
    assert a.counts.to_numpy().sum() > 1000 and a.n_periods == b.n_periods
    pd.testing.assert_frame_equal(a.counts, b.counts)
    pd.testing.assert_frame_equal(a.shares, b.shares)
    assert a.summary() == b.summary()


@pytest.mark.parametrize("at", [None, "2024-03-15", "2024-08-15"])
@pytest.mark.parametrize("rules", list(RULES))
def test_promotion_candidates_identical(levels, rules, at):
    duck, spark = levels("month", rules, False)
    a, b = (health.promotion_candidates(levels=lv, at=at, near=0.5) for lv in (duck, spark))
    assert a.period_start == b.period_start
    assert len(a.frame) > 0
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert a.summary() == b.summary()


def test_ladder_from_community_identical(engines):
    """The community entry points (which compute the levels themselves) agree too."""
    duck, spark = engines
    a, b = (health.ladder_transitions(c, period="month") for c in engines)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    a, b = (health.promotion_candidates(c, period="month") for c in engines)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


# ------------------------------------------------------------------ ties and day boundaries


def _tied_tables():
    """A hand-made community whose ladder depends on every tie-break and on UTC day boundaries.

    * newcomer ``n`` writes ``n2`` and ``n1`` in the same second: the first message is ``n1``
      (smaller ``message_id``), although ``n2`` comes first in the table;
    * ``a`` (``r2``) and ``b`` (``r1``) answer ``n1`` in the same second: ``b`` takes the first
      response; a bot answered earlier (ignored), ``n`` answered itself (not a response), and
      ``a``'s earlier reply ``r0`` goes to ``n2`` (not the first message);
    * newcomer ``k`` is answered first by staff ``s``, then by ``a``: nobody on the ladder (staff
      excluded) is credited;
    * newcomer ``m`` writes at 23:59:59 on 31 January and ``c`` answers at 00:00:00 on
      1 February: the message is January's, the first response February's.
    """
    from analysis.schema import Tables
    from tests.conftest import make_members, make_messages

    members = make_members(
        [
            ("a", "2023-12-01", False, False),
            ("b", "2023-12-01", False, False),
            ("c", "2023-12-01", False, False),
            ("s", "2023-11-01", True, False),
            ("bot", "2023-11-01", False, True),
            ("n", "2024-01-10", False, False),
            ("k", "2024-01-12", False, False),
            ("m", "2024-01-31", False, False),
        ]
    )
    members.loc[members["member_id"].isin(["n", "k"]), "referred_by"] = "a"
    messages = make_messages(
        [
            ("n2", "n", "2024-01-10 12:00:00", None),
            ("n1", "n", "2024-01-10 12:00:00", None),
            ("x1", "bot", "2024-01-10 12:00:00", "n1"),
            ("r0", "a", "2024-01-10 12:01:00", "n2"),
            ("n3", "n", "2024-01-10 12:02:00", "n1"),
            ("r2", "a", "2024-01-10 12:05:00", "n1"),
            ("r1", "b", "2024-01-10 12:05:00", "n1"),
            ("k1", "k", "2024-01-12 09:00:00", None),
            ("s1", "s", "2024-01-12 09:10:00", "k1"),
            ("a1", "a", "2024-01-12 09:20:00", "k1"),
            ("b1", "b", "2024-01-20 10:00:00", None),
            ("c1", "c", "2024-01-20 10:00:00", "b1"),
            ("c2", "c", "2024-01-21 10:00:00", None),
            ("m1", "m", "2024-01-31 23:59:59", None),
            ("q1", "c", "2024-02-01 00:00:00", "m1"),
            ("q2", "c", "2024-02-02 00:00:00", "m1"),
            ("a2", "a", "2024-02-03 00:00:00", None),
            ("a3", "a", "2024-02-04 00:00:00", "a2"),
            ("b2", "b", "2024-02-29 23:59:59", None),
        ]
    )
    return Tables(members=members, messages=messages)


TIE_RULES = LadderRules(
    window_days=None,
    active_min_messages=2,
    core_top_k=1,
    mentor_min_first_responses=1,
    ambassador_min_referrals=2,
)


@pytest.mark.parametrize("include_staff", [False, True])
@pytest.mark.parametrize("period", ["month", "week", "day"])
def test_ladder_tie_breaks_and_day_boundaries_identical(engines, tmp_path, period, include_staff):
    from analysis.data import Community, write_dataset

    # through parquet: Community.from_tables needs temporary tables, which ibis's PySpark
    # backend does not support
    write_dataset(_tied_tables(), tmp_path / "ties")
    duck = Community.load(tmp_path / "ties")
    spark = Community.load(tmp_path / "ties", backend=engines[1].backend)
    a, b = (
        health.member_levels(c, period=period, rules=TIE_RULES, include_staff=include_staff)
        for c in (duck, spark)
    )
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    if period == "month":
        f = a.to_frame().set_index(["period_start", "member_id"])
        jan, feb = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
        responses = f["first_responses"]
        assert responses[jan].to_dict() == {
            "a": 0,
            "b": 1,
            "c": 0,
            "k": 0,
            "m": 0,
            "n": 0,
            **({"s": 1} if include_staff else {}),
        }
        assert responses[(feb, "c")] == 1 and f.loc[(feb, "c"), "level"] == "mentor"
        assert f.loc[(jan, "b"), "level"] == "mentor"
        # a has 3 messages in January (r0, r2, a1) and 2 referrals: ambassador
        assert (f.loc[(jan, "a"), "messages"], f.loc[(jan, "a"), "level"]) == (3, "ambassador")
        assert f.loc[(jan, "m"), "messages"] == 1 and f.loc[(feb, "m"), "messages"] == 0
    ta, tb = (health.ladder_transitions(levels=lv, complete_only=False) for lv in (a, b))
    pd.testing.assert_frame_equal(ta.counts, tb.counts)
    ca, cb = (health.promotion_candidates(levels=lv, at="2024-01-15", near=0.5) for lv in (a, b))
    pd.testing.assert_frame_equal(ca.to_frame(), cb.to_frame())


def test_ladder_fractional_seconds_before_midnight_identical(engines, tmp_path):
    """Times with fractions of a second just before UTC midnight stay on their day on both
    engines (DuckDB floors ``epoch``; rounding it would move them to the next day)."""
    from analysis.data import Community, write_dataset
    from analysis.schema import Tables
    from tests.conftest import make_members, make_messages

    members = make_members([("a", "2023-12-01", False, False), ("b", "2023-12-01", False, False)])
    messages = make_messages(
        [
            ("a1", "a", "2024-01-31 23:59:59", None),
            ("a2", "a", "2024-01-31 23:59:59", None),
            ("b1", "b", "2024-01-31 23:59:59", "a1"),
            ("a3", "a", "2024-02-10 12:00:00", None),
        ]
    )
    late = pd.Timedelta(milliseconds=900)
    messages.loc[messages["message_id"].isin(["a2", "b1"]), "created_at"] += late
    write_dataset(Tables(members=members, messages=messages), tmp_path / "late")
    rules = LadderRules(window_days=None, active_min_messages=1, mentor_min_first_responses=1)
    duck = Community.load(tmp_path / "late")
    spark = Community.load(tmp_path / "late", backend=engines[1].backend)
    a, b = (health.member_levels(c, period="month", rules=rules) for c in (duck, spark))
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    f = a.to_frame().set_index(["period_start", "member_id"])
    jan, feb = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
    assert f.loc[(jan, "a"), "messages"] == 2 and f.loc[(feb, "a"), "messages"] == 1
    assert (f.loc[(jan, "b"), "first_responses"], f.loc[(jan, "b"), "level"]) == (1, "mentor")
    assert f.loc[(feb, "b"), "messages"] == 0


def test_levels_identical_with_fractional_seconds(engines):
    """Messages at x.6 s and 23:59:59.6: day numbers and first-response ties agree on both."""
    from analysis.data import Community
    from tests.unit.test_health_first_messages import _tables

    tables = _tables(3)
    # every 5th message moved to 23:59:59.6 of its day: the last instant a rounding engine
    # would put on the next day
    msgs = tables.messages.copy()
    late = msgs["created_at"].dt.floor("D") + pd.Timedelta(seconds=86_399.6)
    msgs.loc[msgs.index % 5 == 0, "created_at"] = late[msgs.index % 5 == 0]
    msgs = msgs.sort_values("created_at", kind="stable", ignore_index=True)
    tables = type(tables)(members=tables.members, messages=msgs, reactions=None)
    small = [Community.from_tables(tables, backend=c.backend) for c in engines]
    for period in ("week", "month"):
        rules = LadderRules(window_days=7, active_min_messages=2, mentor_min_first_responses=1)
        a, b = (
            health.member_levels(c, period=period, rules=rules, include_staff=True) for c in small
        )
        fa, fb = a.to_frame(), b.to_frame()
        assert fa["first_responses"].sum() > 3 and "mentor" in set(fa["level"])
        pd.testing.assert_frame_equal(fa, fb)
