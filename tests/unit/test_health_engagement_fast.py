"""Engagement rate, member-to-member share and capped-participant sessions against plain pandas.

The engine versions of these metrics take shortcuts (a running member count carrying each root
through one window, the engine's median aggregate, replies counted per day before per period,
sessions' participants from the least and greatest author); each test recomputes the metric the
obvious way, one row at a time, on random data with the awkward cases (ties, period edges,
dates before 1970) and asserts the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health.engagement import engagement_rate
from analysis.health.sessions import sessions_expr
from analysis.health.shares import member_to_member_share
from analysis.schema import Tables
from tests.conftest import make_members, make_messages

START = pd.Timestamp("2024-01-01", tz="UTC")


def _community(
    members: list[tuple],
    rows: list[tuple],
    channels: dict[str, str] | None = None,
    backend: Any = None,
) -> Community:
    msgs = make_messages(rows)
    for mid, channel in (channels or {}).items():
        msgs.loc[msgs["message_id"] == mid, "channel_id"] = channel
    tables = Tables(members=make_members(members), messages=msgs)
    return Community.from_tables(tables, backend=backend)


def _random_posts(seed: int, backend: Any = None) -> tuple[Community, list[tuple], list[tuple]]:
    """40 members joining over 60 days (some at exactly a root's time), 150 roots, replies at
    depth 1-3 from minutes to 12 days later, one reply to a missing message; staff and a bot."""
    rng = np.random.default_rng(seed)
    root_times = START + pd.to_timedelta(np.sort(rng.integers(0, 60 * 86400, 150)), unit="s")
    members = []
    for i in range(40):
        if i % 7 == 0:  # joined exactly when a root was posted: a member at that root
            joined = root_times[rng.integers(len(root_times))]
        else:
            joined = START + pd.Timedelta(seconds=int(rng.integers(-5 * 86400, 60 * 86400)))
        members.append((f"u{i}", joined.isoformat(), i == 3, i == 5))
    authors = [m[0] for m in members]
    rows: list[tuple] = []
    for k, t in enumerate(root_times):
        rows.append((f"r{k}", authors[rng.integers(40)], t.isoformat(), None))
        parent, at = f"r{k}", t
        for j in range(int(rng.poisson(1.5))):
            at = at + pd.Timedelta(seconds=int(rng.choice([60, 3600, 2 * 86400, 6 * 86400])))
            rid = f"p{k}_{j}"
            rows.append((rid, authors[rng.integers(40)], at.isoformat(), parent))
            if rng.random() < 0.4:
                parent = rid
    rows.append(("x", "u1", (START + pd.Timedelta(days=3)).isoformat(), "gone"))
    return _community(members, rows, backend=backend), members, rows


def _reference(
    members: list[tuple], rows: list[tuple], period: str, window: str | None, staff: bool
) -> pd.DataFrame:
    """Engagement per period computed root by root (bots never count)."""
    mem = make_members(members)
    mem = mem[~mem["is_bot"] & (staff | ~mem["is_staff"])]
    msgs = make_messages(rows)
    msgs = msgs[msgs["member_id"].isin(set(mem["member_id"]))]
    roots = msgs[msgs["reply_to_id"].isna()]
    replies = msgs[msgs["reply_to_id"].notna() & (msgs["thread_id"] != msgs["message_id"])]
    end = make_messages(rows)["created_at"].max()
    span = None if window is None else pd.Timedelta(window)
    freq = {"day": "D", "week": "W-SUN", "month": "M"}[period]
    out = []
    for _, r in roots.iterrows():
        mine = replies[replies["thread_id"] == r["message_id"]]
        if span is not None:
            mine = mine[mine["created_at"] - r["created_at"] < span]
        n_members = int((mem["joined_at"] <= r["created_at"]).sum())
        out.append(
            {
                "period_start": r["created_at"].tz_convert(None).to_period(freq).start_time,
                "replies": len(mine),
                "members": n_members,
                "rate": len(mine) / n_members if n_members else np.nan,
                "censored": span is not None and r["created_at"] + span > end,
            }
        )
    per_root = pd.DataFrame(out)
    used = per_root[~per_root["censored"]]
    return used.groupby("period_start").agg(
        roots=("rate", "size"),
        replies=("replies", "sum"),
        members_at_end=("members", "max"),
        mean_rate=("rate", "mean"),
        median_rate=("rate", "median"),
    )


@pytest.mark.parametrize(
    ("period", "window", "staff"),
    [("week", "7D", True), ("day", "7D", False), ("month", None, True), ("week", "1h", True)],
)
def test_engagement_equals_root_by_root(period, window, staff):
    c, members, rows = _random_posts(3)
    got = engagement_rate(c, period=period, window=window, include_staff=staff).to_frame()
    got = got[got["roots"] > 0].set_index("period_start")
    want = _reference(members, rows, period, window, staff)
    assert len(want) >= 2 and want["roots"].sum() > 100
    assert got.index.tolist() == want.index.tolist()
    for col in ("roots", "replies", "members_at_end"):
        assert got[col].astype("int64").tolist() == want[col].astype("int64").tolist(), col
    np.testing.assert_allclose(got["mean_rate"], want["mean_rate"], rtol=1e-13)
    # the median bit for bit: (a + b) / 2 of the two middle rates, as pandas computes it
    assert got["median_rate"].tolist() == want["median_rate"].tolist()


def midpoint_community(backend: Any = None) -> Community:
    """One week with two roots of rates 1/3 and 1 (see the test below), then a later root."""
    members = [("a", "2024-01-01", False, False), ("b", "2024-01-01", False, False)]
    members.append(("c", "2024-01-01", False, False))
    rows = [
        ("r1", "a", "2024-01-02 10:00", None),
        ("q1", "b", "2024-01-02 11:00", "r1"),
        ("r2", "b", "2024-01-03 10:00", None),
        ("q2", "a", "2024-01-03 11:00", "r2"),
        ("q3", "c", "2024-01-03 12:00", "r2"),
        ("q4", "a", "2024-01-03 13:00", "q3"),
        ("r3", "c", "2024-01-20 10:00", None),
    ]
    return _community(members, rows, backend=backend)


def test_engagement_median_is_the_midpoint_bit_for_bit():
    # one week, two roots: 1 reply / 3 members and 3 replies / 3 members. The median is
    # (1/3 + 1) / 2 = 0.6666666666666666; the interpolation 1/3 + (1 - 1/3) / 2 (a common way
    # to compute a percentile) gives 0.6666666666666667, and so would averaging in another
    # order; a last root a week later closes the windows.
    f = engagement_rate(midpoint_community(), period="week").to_frame()
    a, b = 1 / 3, 1.0
    assert a + (b - a) / 2 != (a + b) / 2  # the case is a real test
    assert f.loc[0, "median_rate"] == (a + b) / 2
    assert f.loc[0, "mean_rate"] == pytest.approx((a + b) / 2, rel=1e-15)


def test_engagement_members_counted_at_equal_times():
    # a member joining at the very second of a root counts; one joining a second later not
    members = [("a", "2024-01-01", False, False), ("b", "2024-01-02 10:00", False, False)]
    members.append(("c", "2024-01-02 10:00:01", False, False))
    rows = [
        ("r1", "a", "2024-01-02 10:00", None),
        ("q1", "b", "2024-01-02 11:00", "r1"),
        ("r2", "c", "2024-01-20 10:00", None),
    ]
    f = engagement_rate(_community(members, rows), period="week").to_frame()
    assert (f.loc[0, "roots"], f.loc[0, "members_at_end"], f.loc[0, "mean_rate"]) == (1, 2, 0.5)


def _random_replies(
    seed: int, backend: Any = None
) -> tuple[Community, list[tuple], dict[str, str]]:
    """Replies around midnights, Mondays and month ends (some before 1970), staff, self-replies,
    three channels."""
    rng = np.random.default_rng(seed)
    members = [(f"u{i}", "1960-01-01", i < 2, False) for i in range(6)]
    edges = pd.to_datetime(["1969-12-31 23:59:30", "2024-01-31 23:59:00", "2024-03-03 23:59:50"])
    rows: list[tuple] = []
    for k in range(400):
        base = edges[k % 3].tz_localize("UTC")
        t = base + pd.Timedelta(seconds=int(rng.integers(-2 * 86400, 2 * 86400)))
        parent = None if k < 30 or rng.random() < 0.2 else f"m{rng.integers(k)}"
        rows.append((f"m{k}", f"u{rng.integers(6)}", t.isoformat(), parent))
    channels = {r[0]: f"tg:{rng.integers(3)}" for r in rows}
    return _community(members, rows, channels, backend), rows, channels


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("by_channel", [False, True])
def test_member_to_member_equals_reply_by_reply(period, by_channel):
    c, rows, channels = _random_replies(11)
    got = member_to_member_share(c, period=period, by_channel=by_channel).to_frame()
    msgs = make_messages(rows).set_index("message_id")
    staff = {"u0", "u1"}
    freq = {"day": "D", "week": "W-SUN", "month": "M"}[period]
    counts: dict[tuple, list[int]] = {}
    for mid, m in msgs[msgs["reply_to_id"].notna()].iterrows():
        p = msgs.loc[m["reply_to_id"]]
        if p["member_id"] == m["member_id"]:
            continue
        key = (m["created_at"].tz_convert(None).to_period(freq).start_time,)
        key += (channels[mid],) if by_channel else ()
        n = counts.setdefault(key, [0, 0])
        n[0] += int(m["member_id"] not in staff and p["member_id"] not in staff)
        n[1] += 1
    keys = ["period_start", "channel_id"] if by_channel else ["period_start"]
    got = got[got["denominator"] > 0]
    got_counts = {
        tuple(k if isinstance(k, tuple) else (k,)): [int(r["numerator"]), int(r["denominator"])]
        for k, r in got.set_index(keys).iterrows()
    }
    assert len(counts) >= 4 and sum(n[1] for n in counts.values()) > 200
    assert got_counts == counts


def session_community(backend: Any = None) -> Community:
    """500 messages in many sessions, often of one author; three channels; seconds before
    1970 and ties."""
    rng = np.random.default_rng(8)
    seconds = -50 * 1800 + np.cumsum(
        rng.choice([0, 1, 60, 1799, 1800, 1801, 4000], size=500, p=[0.1, 0.1, 0.5] + [0.075] * 4)
    )
    authors = rng.choice(["a", "b", "c"], size=500, p=[0.8, 0.1, 0.1])
    members = [(m, "1960-01-01", False, False) for m in ("a", "b", "c")]
    stamps = pd.to_datetime(seconds, unit="s", utc=True)
    rows = [(f"m{i}", str(authors[i]), t.isoformat(), None) for i, t in enumerate(stamps)]
    return _community(
        members, rows, {f"m{i}": f"tg:{rng.integers(3)}" for i in range(500)}, backend
    )


def test_sessions_capped_participants_are_the_count_capped_at_two():
    c = session_community()
    keys = ["channel_id", "session"]
    exact = c.execute(sessions_expr(c)).sort_values(keys, ignore_index=True)
    capped = c.execute(sessions_expr(c, count_participants=False))
    capped = capped.sort_values(keys, ignore_index=True)
    assert len(exact) > 60 and set(exact["participants"]) >= {1, 2, 3}
    want = exact.assign(participants=exact["participants"].clip(upper=2))
    pd.testing.assert_frame_equal(capped, want)
