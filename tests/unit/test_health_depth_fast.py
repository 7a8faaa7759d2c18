"""The fast reply-depth path: only nested replies are walked, per-thread depth from the walk's own
rows, per-period statistics from value counts.

Every expected number is computed independently here: a plain Python walk up the reply chains
over every non-service reply, the counted replies filtered in pandas, and the per-period means
and medians from one row per thread with ``pandas.Series.mean`` / ``median``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health.discussion import _weighted_mean_median, discussion_depth
from analysis.health.periods import period_floor
from analysis.health.reply_depth import ReplyCycleError, nested_depth_table
from analysis.health.thread_table import reply_depths, thread_table
from analysis.schema import Tables
from tests.conftest import make_members, make_messages
from tests.unit.test_health_scale import _random_forest, _walk_depths

# u0 staff, u1 and u2 bots, the rest ordinary members
MEMBERS = [(f"u{i}", "2023-12-01", i == 0, i in (1, 2)) for i in range(7)]


def _forest(n: int, seed: int) -> pd.DataFrame:
    """``n`` messages in a few channels: roots, replies to one of the previous few messages
    (chains several levels deep, often through a bot's or the staff's reply), replies to a
    missing message, service messages, and some replies inferred rather than explicit."""
    rng = np.random.default_rng(seed)
    rows = _random_forest(
        n, seed, step_minutes=37, n_authors=7, p_missing=0.04, p_next=0.45, rng=rng
    )
    msgs = make_messages(rows)
    inferred = msgs["reply_to_id"].notna() & (rng.random(n) < 0.15)
    msgs.loc[inferred, "reply_source"] = "inferred"
    msgs["channel_id"] = [f"c{k}" for k in rng.integers(0, 3, n)]
    return msgs


def _community(msgs: pd.DataFrame) -> Community:
    return Community.from_tables(Tables(members=make_members(MEMBERS), messages=msgs))


def _walk(msgs: pd.DataFrame) -> dict[str, int]:
    """Depth of every non-service reply by walking up its chain (test_health_scale's walk)."""
    parents = msgs["reply_to_id"].astype(object).where(msgs["reply_to_id"].notna(), None)
    rows = [
        (mid, None, None, parent, kind)
        for mid, parent, kind in zip(msgs["message_id"], parents, msgs["kind"], strict=True)
    ]
    return _walk_depths(rows)


def _expected_max_depth(
    msgs: pd.DataFrame, include_staff: bool, include_bots: bool, sources: tuple[str, ...]
) -> pd.Series:
    members = pd.DataFrame(MEMBERS, columns=["member_id", "joined", "is_staff", "is_bot"])
    out = set(members.loc[members["is_bot"] & (not include_bots), "member_id"])
    if not include_staff:
        out |= set(members.loc[members["is_staff"], "member_id"])
    inc = msgs[(msgs["kind"] != "service") & ~msgs["member_id"].isin(out)]
    roots = inc[inc["reply_to_id"].isna()]["message_id"]
    counted = inc[inc["reply_to_id"].notna() & inc["reply_source"].isin(sources)]
    depth = _walk(msgs)
    per_thread = counted.assign(d=counted["message_id"].map(depth)).groupby("thread_id")["d"].max()
    return per_thread.reindex(roots, fill_value=0).rename_axis("thread_id")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("include_staff", "include_bots", "sources"),
    [
        (True, False, ("explicit",)),
        (False, False, ("explicit", "inferred")),
        (True, True, ("explicit",)),
        (False, True, ("inferred",)),
    ],
)
def test_thread_max_depth_counts_chains_through_excluded_accounts(
    seed, include_staff, include_bots, sources
):
    msgs = _forest(500, seed)
    expected = _expected_max_depth(msgs, include_staff, include_bots, sources)
    # the case that needs the excluded accounts' replies: a counted nested reply whose parent
    # is a bot's reply (a walk over the included messages alone would give it depth 1)
    bots = set(msgs.loc[msgs["member_id"].isin(["u1", "u2"]), "message_id"])
    edges = msgs[(msgs["kind"] != "service") & msgs["reply_to_id"].notna()]
    assert edges["reply_to_id"].isin(bots & set(edges["message_id"])).sum() > 10
    assert expected.max() >= 6
    got = thread_table(
        _community(msgs),
        include_staff=include_staff,
        include_bots=include_bots,
        reply_sources=sources,
    ).set_index("thread_id")["max_depth"]
    pd.testing.assert_series_equal(
        got.sort_index(), expected.sort_index(), check_names=False, check_dtype=False
    )


def test_reply_depths_every_reply_and_only_replies():
    msgs = _forest(400, 3)
    got = reply_depths(_community(msgs)).set_index("message_id")["depth"].to_dict()
    assert got == _walk(msgs)


@pytest.mark.parametrize("length", [1, 2, 3, 63, 64, 65, 127, 128, 129])
def test_a_single_chain_needs_every_allowed_round(length):
    # one chain of ``length`` replies under a root: length - 1 nested replies in one chain, the
    # worst case for the round bound (bit_length(n_nested) + 1)
    rows = [("r", "u3", "2024-01-01 00:00", None)]
    rows += [
        (f"m{i}", "u4", str(pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=i + 1)), prev)
        for i, prev in enumerate(["r"] + [f"m{i}" for i in range(length - 1)])
    ]
    c = _community(make_messages(rows))
    depths = reply_depths(c).set_index("message_id")["depth"]
    assert depths.to_dict() == {f"m{i}": i + 1 for i in range(length)}
    assert thread_table(c)["max_depth"].tolist() == [length]


def test_a_cycle_of_reply_links_is_an_error_not_a_wrong_depth():
    rows = [
        ("1", "u3", "2024-01-01 10:00", None),
        ("2", "u4", "2024-01-01 10:01", "1"),
        ("3", "u4", "2024-01-01 10:02", "4"),
        ("4", "u5", "2024-01-01 10:03", "5"),
        ("5", "u5", "2024-01-01 10:04", "3"),
        ("6", "u5", "2024-01-01 10:05", "5"),
    ]
    msgs = make_messages(rows)
    c = _community(msgs)
    with pytest.raises(ReplyCycleError, match="cycle"):
        reply_depths(c)
    with pytest.raises(ValueError, match="cycle"):
        discussion_depth(c)


def test_nested_depths_carry_the_kept_columns():
    msgs = _forest(300, 4)
    c = _community(msgs)
    from analysis.health.reply_depth import nested_replies, reply_edges

    e = reply_edges(c)
    m = c.messages
    edges = m.filter((m.kind != "service") & m.reply_to_id.notnull()).select(
        "message_id", "reply_to_id", "thread_id", "member_id"
    )
    assert c.execute(e.count()) == c.execute(edges.count())
    got = c.execute(nested_depth_table(c, nested_replies(c, edges), keep=("thread_id",)))
    walk = _walk(msgs)
    nested = {k: v for k, v in walk.items() if v >= 2}
    assert dict(zip(got["message_id"], got["depth"], strict=True)) == nested
    threads = msgs.set_index("message_id")["thread_id"]
    assert (got["thread_id"] == got["message_id"].map(threads)).all()


@pytest.mark.parametrize("seed", range(6))
def test_weighted_mean_and_median_are_pandas_floats(seed):
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 4, 7, 50, 51):
        values = pd.Series(rng.geometric(0.3, n) - 1 + (seed * 1000 if seed > 3 else 0))
        h = values.value_counts().sort_index()
        mean, median = _weighted_mean_median(h.index.to_numpy(), h.to_numpy())
        assert mean == values.astype(float).mean()  # exact: the same float
        assert median == values.astype(float).median()
    mean, median = _weighted_mean_median(np.array([], "int64"), np.array([], "int64"))
    assert np.isnan(mean) and np.isnan(median)


def _per_thread_frame(c: Community, period: str, by_channel: bool) -> tuple[pd.DataFrame, dict]:
    """The discussion-depth frame from one row per thread, as the metric computed it before."""
    t = thread_table(c)
    t["period_start"] = period_floor(t["created_at"], period)
    from analysis.health.periods import data_periods

    periods = data_periods(c, period)
    keys = ["period_start", "channel_id"] if by_channel else ["period_start"]
    index = (
        pd.MultiIndex.from_product([periods, sorted(t["channel_id"].unique())], names=keys)
        if by_channel
        else periods
    )
    groups = dict(iter(t.groupby(keys)))
    rows = []
    for key in index:
        key_t = tuple(key) if by_channel else (key,)
        g = groups.get(key_t, t.iloc[0:0])
        row = dict(zip(keys, key_t, strict=True), threads=len(g))
        for col, name in (
            ("n_replies", "replies"),
            ("participants", "participants"),
            ("max_depth", "depth"),
        ):
            v = g[col].astype(float)
            row[f"mean_{name}"] = v.mean() if len(v) else np.nan
            row[f"median_{name}"] = v.median() if len(v) else np.nan
        rows.append(row)
    overall = {"threads": len(t)}
    for col, name in (
        ("n_replies", "replies"),
        ("participants", "participants"),
        ("max_depth", "max_depth"),
    ):
        v = t[col].astype(float)
        overall[name] = {"mean": v.mean(), "median": v.median()}
    return pd.DataFrame(rows), overall


@pytest.mark.parametrize(("period", "by_channel"), [("week", False), ("day", True)])
def test_discussion_depth_from_value_counts_equals_one_row_per_thread(period, by_channel):
    msgs = _forest(600, 7)
    c = _community(msgs)
    r = discussion_depth(c, period=period, by_channel=by_channel)
    frame, overall = _per_thread_frame(c, period, by_channel)
    assert r.overall == overall
    assert (frame["threads"] == 0).any() or period == "week"
    pd.testing.assert_frame_equal(r.frame, frame, check_dtype=False, check_exact=True)
