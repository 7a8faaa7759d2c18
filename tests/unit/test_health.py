"""Activity series: hand-checked numbers, staff handling, empty periods, a pandas oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health import activity
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def test_weekly_activity_hand_checked(tiny_tables):
    result = activity(Community.from_tables(tiny_tables), period="week")
    f = result.to_frame()
    assert f["period_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-01",
        "2024-01-08",
        "2024-01-15",
        "2024-01-22",
    ]
    # Sunday 23:30 UTC belongs to the week of Monday 1 January, not the next one.
    assert f["messages"].tolist() == [1, 2, 0, 2]
    assert f["authors"].tolist() == [1, 2, 0, 2]
    # b's attributed reaction makes b active in week 1 without writing.
    assert f["active_members"].tolist() == [2, 2, 0, 2]
    assert f["new_members"].tolist() == [2, 0, 0, 0]
    assert f["members"].tolist() == [3, 3, 3, 3]
    assert f["active_share"].round(6).tolist() == [0.666667, 0.666667, 0.0, 0.666667]


def test_excluding_staff_drops_staff_messages_and_members(tiny_tables):
    f = activity(Community.from_tables(tiny_tables), include_staff=False).to_frame()
    assert f["messages"].tolist() == [1, 1, 0, 2]
    assert f["members"].tolist() == [2, 2, 2, 2]


def test_monthly_and_daily_periods(tiny_tables):
    community = Community.from_tables(tiny_tables)
    month = activity(community, period="month").to_frame()
    assert len(month) == 1 and month.loc[0, "messages"] == 5 and month.loc[0, "authors"] == 3
    day = activity(community, period="day").to_frame()
    assert len(day) == 18  # 7 to 24 January inclusive, empty days included
    assert day["messages"].sum() == 5


def test_unknown_period_is_a_clear_error(tiny_tables):
    with pytest.raises(ValueError, match="period must be one of"):
        activity(Community.from_tables(tiny_tables), period="fortnight")


def test_matches_independent_pandas_computation():
    rng = np.random.default_rng(7)
    n_members, n_messages = 60, 2000
    members = make_members(
        [
            (f"m{i}", str(pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))), i < 3, False)
            for i, d in enumerate(rng.integers(0, 120, n_members))
        ]
    )
    times = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 150 * 86400, n_messages), "s"
    )
    authors = rng.choice(members["member_id"], n_messages, p=rng.dirichlet(np.ones(n_members)))
    messages = make_messages(
        [(f"x{i}", a, str(t), None) for i, (a, t) in enumerate(zip(authors, times, strict=True))]
    )
    community = Community.from_tables(Tables(members=members, messages=messages))
    got = activity(community, period="week", include_staff=False).to_frame()

    staff = set(members.loc[members["is_staff"], "member_id"])
    m = messages[~messages["member_id"].isin(staff)].copy()
    week = m["created_at"].dt.tz_convert(None).dt.to_period("W-SUN").dt.start_time
    expected = (
        m.assign(week=week)
        .groupby("week")
        .agg(messages=("message_id", "size"), authors=("member_id", "nunique"))
    )
    got = got.set_index("period_start")
    assert (got.loc[expected.index, "messages"] == expected["messages"]).all()
    assert (got.loc[expected.index, "authors"] == expected["authors"]).all()
    assert (got["active_members"] == got["authors"]).all()  # no reactions in this dataset
    non_staff = members[~members["is_staff"]]
    for start in got.index[::5]:
        end = start + pd.Timedelta(days=7)
        joined = (non_staff["joined_at"].dt.tz_convert(None) < end).sum()
        assert got.loc[start, "members"] == joined


def test_result_object_surface(tiny_tables):
    result = activity(Community.from_tables(tiny_tables))
    # the week of 22 January is cut by the end of the data (24 January): partial, not summarised
    assert result.to_frame()["complete"].tolist() == [True, True, True, False]
    assert result.summary().startswith(
        "In the last 3 complete weeks (including staff), on average 1 members were active"
    )
    assert "(44.4% active)" in result.summary()
    html = result._repr_html_()
    assert "<table" in html and "Activity" in html
    d = result.to_dict()
    assert d["messages_total"] == 5 and d["complete_periods"] == 3
    assert d["latest_active_members"] == 0  # the last complete week is the empty one
    ax = result.plot()
    assert ax.get_ylabel() == "members per week"


def test_activity_by_channel_hand_checked():
    from analysis.health.channels import activity_by_channel

    members = make_members([("a", "2024-01-01", False, False), ("b", "2024-01-01", False, False)])
    messages = make_messages(
        [
            ("1", "a", "2024-01-02", None),
            ("2", "b", "2024-01-03", "1"),
            ("3", "b", "2024-01-10", None),
            ("4", "a", "2024-01-17", None),
        ]
    ).assign(channel_id=["tg:1:topic:q", "tg:1:topic:q", "tg:1:topic:x", "tg:1:topic:q"])
    channels = pd.DataFrame(
        {
            "channel_id": ["tg:1:topic:q", "tg:1:topic:x"],
            "platform": "telegram",
            "name": ["Questions", "<Off-topic>"],
            "kind": "topic",
            "parent_id": None,
        }
    )
    reactions = pd.DataFrame(
        {  # a reacts in week 2 to message 3, which lives in the off-topic channel
            "message_id": ["3"],
            "member_id": ["a"],
            "emoji": ["👍"],
            "count": [1],
            "reacted_at": [pd.Timestamp("2024-01-11", tz="UTC")],
        }
    )
    tables = Tables(members=members, messages=messages, channels=channels, reactions=reactions)
    result = activity_by_channel(Community.from_tables(tables))
    f = result.to_frame().set_index(["channel", "period_start"])
    weeks = [pd.Timestamp(d) for d in ("2024-01-01", "2024-01-08", "2024-01-15")]
    assert f.loc["Questions", "messages"].tolist() == [2, 0, 1]
    assert f.loc["Questions", "authors"].tolist() == [2, 0, 1]
    assert f.loc["<Off-topic>", "messages"].tolist() == [0, 1, 0]
    assert f.loc[("<Off-topic>", weeks[1]), "active_members"] == 2  # author b + reactor a
    assert result.totals()["channel"].iloc[0] == "Questions"
    # the per-channel counts add up to the community's messages
    assert (
        f["messages"].sum() == activity(Community.from_tables(tables)).to_frame()["messages"].sum()
    )
    assert "<Off-topic>" not in result._repr_html_()  # names are escaped in HTML
