"""The engine-side ladder equals a plain-pandas ladder written from the module docstring's rules.

:func:`analysis.health.member_levels` counts windows on the engine (day table, difference arrays,
integer member codes; :mod:`analysis.health.ladder_counts`). Here an independent implementation
in plain pandas — one period and one member at a time, straight from the definitions in
:mod:`analysis.health.ladder` — is run on a seeded synthetic community with everything the rules
depend on: staff and bots, service messages, referrals, self-replies, bot replies, several replies
to the same first message, messages at the same second (ties broken by ``message_id``) and times
with fractions of a second just before midnight. Levels, counts and cutoffs must agree exactly for
months and weeks, the default 28-day window, a 10-day window and ``window_days=None``; the
transitions and promotion candidates must agree with loops over the reference frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health.ladder import LEVELS, LadderLevels, LadderRules, member_levels
from analysis.health.ladder_counts import _window_matrix
from analysis.health.ladder_moves import ladder_transitions, promotion_candidates
from analysis.health.periods import period_end, period_floor, period_index
from analysis.schema import Tables

END = pd.Timestamp("2024-06-20", tz="UTC")


def _synthetic_tables(seed: int = 7) -> Tables:
    rng = np.random.default_rng(seed)
    n = 90
    ids = [f"u{i}" for i in range(n)]  # string order differs from numeric order
    joined = pd.Timestamp("2023-12-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 170 * 86_400, n), unit="s"
    )
    members = pd.DataFrame(
        {
            "member_id": ids,
            "platform": "telegram",
            "joined_at": joined,
            "source": None,
            "is_staff": [i in (3, 4) for i in range(n)],
            "is_bot": [i in (5, 6) for i in range(n)],
            "display_name": None,
            "referred_by": None,
        }
    )
    # a few referrers bring several members each (referrals before and after the data start)
    referrers = rng.choice(ids[:20], size=30)
    referred = rng.choice(np.arange(20, n), size=30, replace=False)
    members.loc[referred, "referred_by"] = referrers
    rows = []
    weights = rng.lognormal(0, 1.2, n)
    authors = rng.choice(n, size=2_500, p=weights / weights.sum())
    for k, a in enumerate(authors):
        start = joined[a]
        span = (END - start).total_seconds()
        at = start + pd.Timedelta(seconds=float(rng.uniform(0, span)))
        if k % 40 == 0:  # just before midnight, with a fraction of a second
            at = at.floor("D") + pd.Timedelta(hours=23, minutes=59, seconds=59.7)
        rows.append((f"m{k}", ids[a], at.floor("s") if k % 3 else at.floor("ms"), None, "message"))
    msgs = pd.DataFrame(
        rows, columns=["message_id", "member_id", "created_at", "reply_to_id", "kind"]
    )
    # ties: copies of some members' earliest messages at the same time (other message_id)
    first = msgs.sort_values(["created_at", "message_id"]).groupby("member_id").head(1)
    ties = first.sample(frac=0.3, random_state=seed).copy()
    ties["message_id"] = ["m" + str(10_000 + i) for i in range(len(ties))]
    ties.loc[ties.index[::2], "message_id"] = ["a" + str(i) for i in range(len(ties.index[::2]))]
    msgs = pd.concat([msgs, ties], ignore_index=True)
    # replies: often to first messages (by anyone: members, staff, bots, the author itself)
    first = msgs.sort_values(["created_at", "message_id"]).groupby("member_id").head(1)
    replies = []
    for k in range(1_500):
        target = first.iloc[rng.integers(len(first))] if k % 2 else msgs.iloc[rng.integers(2_500)]
        at = target["created_at"] + pd.Timedelta(minutes=int(rng.integers(0, 3 * 1440)))
        if at >= END:
            continue
        who = ids[int(rng.integers(n))] if k % 7 else target["member_id"]
        if joined[ids.index(who)] > at:
            continue
        if k % 11 == 0:  # same second as another reply
            at = target["created_at"] + pd.Timedelta(minutes=5)
        replies.append((f"r{k}", who, at, target["message_id"], "message"))
    msgs = pd.concat([msgs, pd.DataFrame(replies, columns=msgs.columns)], ignore_index=True)
    service = msgs.sample(frac=0.03, random_state=seed + 1).copy()
    service["message_id"] = "s" + service["message_id"]
    service["kind"] = "service"
    service["reply_to_id"] = None
    msgs = pd.concat([msgs, service], ignore_index=True)
    msgs["created_at"] = pd.to_datetime(msgs["created_at"], utc=True)
    msgs["platform"] = "telegram"
    msgs["channel_id"] = "tg:1"
    msgs["thread_id"] = msgs["reply_to_id"].fillna(msgs["message_id"])
    msgs["reply_source"] = np.where(msgs["reply_to_id"].notna(), "explicit", "none")
    msgs["text"] = None
    msgs["text_len"] = 0
    msgs["n_reactions"] = 0
    return Tables(members=members, messages=msgs)


@pytest.fixture(scope="module")
def tables() -> Tables:
    return _synthetic_tables().validated(source="<synthetic ladder>")


@pytest.fixture(scope="module")
def community(tables) -> Community:
    return Community.from_tables(tables)


# ------------------------------------------------------------ the reference, one row at a time


def _naive(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.tz_convert(None)


def reference_levels(
    tables: Tables, period: str, rules: LadderRules, include_staff: bool
) -> pd.DataFrame:
    """The ladder frame computed member by member from the definitions (plain pandas)."""
    members = tables.members.copy()
    members["joined_at"] = _naive(members["joined_at"])
    msgs = tables.messages[tables.messages["kind"] != "service"].copy()
    msgs["created_at"] = _naive(msgs["created_at"])
    humans = set(members.loc[~members["is_bot"], "member_id"])
    ladder = members[~members["is_bot"] & (include_staff | ~members["is_staff"])]
    own = msgs[msgs["member_id"].isin(set(ladder["member_id"]))]

    # first message of every non-bot member, and the first response to it
    human_msgs = msgs[msgs["member_id"].isin(humans)].sort_values(["created_at", "message_id"])
    first_of = human_msgs.groupby("member_id").head(1).set_index("message_id")["member_id"]
    responses = []
    for first_id, newcomer in first_of.items():
        answers = human_msgs[
            (human_msgs["reply_to_id"] == first_id) & (human_msgs["member_id"] != newcomer)
        ]
        if len(answers):
            top = answers.iloc[0]  # already ordered by (created_at, message_id)
            responses.append((top["member_id"], top["created_at"]))
    responses = pd.DataFrame(responses, columns=["responder", "at"])
    refs = members[members["referred_by"].notna()]

    lo, hi = period_floor(own["created_at"].agg(["min", "max"]), period)
    rows = []
    for start in period_index(lo, hi, period):
        end = period_end(pd.Series([start]), period).iloc[0]
        low = start if rules.window_days is None else end - pd.Timedelta(days=rules.window_days)
        present = ladder[ladder["joined_at"] < end]
        counts = {}
        for m in present.itertuples():
            mine = own[own["member_id"] == m.member_id]["created_at"]
            resp = responses[responses["responder"] == m.member_id]["at"]
            counts[m.member_id] = (
                int(((mine >= low) & (mine < end)).sum()),
                int(((resp >= low) & (resp < end)).sum()),
                int(((refs["referred_by"] == m.member_id) & (refs["joined_at"] < end)).sum()),
                m.joined_at,
            )
        active = {k: v[0] for k, v in counts.items() if v[0] >= rules.active_min_messages}
        top = sorted(active.values(), reverse=True)[: rules.core_top_k]
        cutoff = float(top[-1]) if top else np.nan
        for member_id in sorted(counts):
            n_msgs, n_resp, n_refs, joined_at = counts[member_id]
            if member_id not in active:
                young = (end - joined_at) <= pd.Timedelta(days=rules.newcomer_days)
                level = "newcomer" if young else "inactive"
            elif n_refs >= rules.ambassador_min_referrals:
                level = "ambassador"
            elif n_resp >= rules.mentor_min_first_responses:
                level = "mentor"
            elif n_msgs >= cutoff:
                level = "core"
            else:
                level = "active"
            rows.append((start, end, member_id, level, n_msgs, n_resp, n_refs, cutoff))
    frame = pd.DataFrame(
        rows,
        columns=[
            "period_start",
            "window_end",
            "member_id",
            "level",
            "messages",
            "first_responses",
            "referrals",
            "core_cutoff",
        ],
    )
    last = _naive(tables.messages["created_at"]).max()
    frame["complete"] = frame["window_end"] <= last
    return frame


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"member_id": object, "level": object}).reset_index(drop=True)


RULE_SETS = {
    "default": LadderRules(),
    "period": LadderRules(window_days=None, active_min_messages=3, core_top_k=3),
    "ten-days": LadderRules(
        window_days=10, active_min_messages=2, mentor_min_first_responses=2, newcomer_days=10
    ),
}


@pytest.mark.parametrize("include_staff", [False, True])
@pytest.mark.parametrize("rules", list(RULE_SETS))
@pytest.mark.parametrize("period", ["month", "week"])
def test_levels_equal_the_plain_pandas_reference(tables, community, period, rules, include_staff):
    r = RULE_SETS[rules]
    expected = reference_levels(tables, period, r, include_staff)
    result = member_levels(community, period=period, rules=r, include_staff=include_staff)
    got = result.to_frame()
    # the documented dtypes: categoricals for member_id and level, in (period, member) order
    assert isinstance(got["member_id"].dtype, pd.CategoricalDtype)
    assert list(got["level"].cat.categories) == list(LEVELS)
    for col in ("messages", "first_responses", "referrals"):
        assert got[col].dtype == np.int64
    pd.testing.assert_frame_equal(_plain(got), expected)
    # the comparison is not vacuous
    assert {"newcomer", "inactive", "active"} <= set(expected["level"])
    if (period, rules) != ("week", "period"):  # 3 first responses in one week: nobody
        assert "mentor" in set(expected["level"])
    assert expected["first_responses"].sum() > 10 and expected["referrals"].max() >= 3


@pytest.mark.parametrize("rules", ["default", "period"])
def test_moves_equal_loops_over_the_reference(tables, community, rules):
    r = RULE_SETS[rules]
    levels = member_levels(community, period="week", rules=r)
    reference = LadderLevels("week", r, False, reference_levels(tables, "week", r, False))
    frame = reference.frame[reference.frame["complete"]]
    expected = pd.DataFrame(0, index=["joined", *LEVELS], columns=list(LEVELS))
    periods = sorted(frame["period_start"].unique())
    for before, after in zip(periods[:-1], periods[1:], strict=True):
        prev = frame[frame["period_start"] == before].set_index("member_id")["level"]
        for row in frame[frame["period_start"] == after].itertuples():
            expected.loc[prev.get(row.member_id, "joined"), row.level] += 1
    got = ladder_transitions(levels=levels)
    assert (got.counts.to_numpy() == expected.to_numpy()).all()
    assert got.counts.to_numpy().sum() > 100
    # the same result from a LadderLevels that only has the frame
    from_frame = ladder_transitions(levels=reference)
    pd.testing.assert_frame_equal(got.counts, from_frame.counts)
    for at in (None, "2024-03-06"):
        a = promotion_candidates(levels=levels, at=at, near=0.5).to_frame()
        b = promotion_candidates(levels=reference, at=at, near=0.5).to_frame()
        pd.testing.assert_frame_equal(a, b)


def test_window_matrix_is_a_difference_array():
    # rows: member 0 in periods [0, 2), member 1 in [1, 3) twice, member 0 from 5 (clipped)
    out = _window_matrix(
        np.array([0, 1, 1, 5]),
        np.array([2, 3, 3, 9]),
        np.array([0, 1, 1, 0]),
        np.array([2, 1, 4, 7]),
        (4, 2),
    )
    assert out.tolist() == [[2, 0], [2, 5], [0, 5], [0, 0]]
