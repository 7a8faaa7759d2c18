"""The simulator writes real export formats and its planted truth is recoverable from the files.

Every check reads the raw files with plain ``json``/pandas (not the ingest adapters), so these
tests pin the file formats the adapters rely on and the oracle the studies are validated against.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.synth import GroundTruth, SynthConfig, generate_community

N_MEMBERS = 1500
DAY = 86_400


@pytest.fixture(scope="module")
def community(tmp_path_factory) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("synth") / "community"
    return out, generate_community(out, n_members=N_MEMBERS, seed=7)


@pytest.fixture(scope="module")
def export(community) -> dict:
    out, _ = community
    with open(out / "telegram" / "result.json", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def messages(export) -> pd.DataFrame:
    """Regular messages: id, t (unix s), author, reply_to (0 = none)."""
    rows = [m for m in export["messages"] if m["type"] == "message"]
    return pd.DataFrame(
        {
            "id": [m["id"] for m in rows],
            "t": [int(m["date_unixtime"]) for m in rows],
            "author": [m["from_id"] for m in rows],
            "reply_to": [m.get("reply_to_message_id", 0) for m in rows],
        }
    )


@pytest.fixture(scope="module")
def roster(community) -> pd.DataFrame:
    return pd.read_csv(community[0] / "members.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def joins(export) -> pd.Series:
    """Join time (unix s) per user id, from the join service messages."""
    rows = [m for m in export["messages"] if m.get("action") == "join_group_by_link"]
    return pd.Series({m["actor_id"]: int(m["date_unixtime"]) for m in rows})


@pytest.fixture(scope="module")
def first_answers(export, messages, roster) -> pd.DataFrame:
    """Per answered thread root: root time, author, first answer time and whether staff wrote it."""
    topic_ids = {m["id"] for m in export["messages"] if m.get("action") == "topic_created"}
    staff = set(roster.loc[roster["role"] == "staff", "user_id"])
    bots = set(roster.loc[roster["role"] == "bot", "user_id"])
    is_root = (messages["reply_to"] == 0) | messages["reply_to"].isin(topic_ids)
    roots = messages[is_root & ~messages["author"].isin(bots)].set_index("id")
    replies = messages[messages["reply_to"].isin(roots.index)]
    first = replies.sort_values(["t", "id"]).groupby("reply_to").first()
    out = roots[["t", "author"]].join(first[["t", "author"]], rsuffix="_answer", how="inner")
    out["delay_min"] = (out["t_answer"] - out["t"]) / 60
    out["by_staff"] = out["author_answer"].isin(staff)
    return out


def within(observed: float, expected: float, se: float, k: float = 3.0) -> bool:
    return abs(observed - expected) <= k * se


def proportion_se(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n))


# ---- formats ------------------------------------------------------------------------------------
def test_files_exist_with_exact_columns(community):
    out, _ = community
    expected = {
        "members.csv": ["user_id", "source", "referred_by", "role"],
        "customers.csv": ["customer_id", "telegram_user_id", "signed_up_at"],
        "orders.csv": ["order_id", "customer_id", "ordered_at", "amount", "currency"],
        "assignments.csv": ["experiment_id", "unit_id", "variant", "assigned_at", "cluster_id"],
    }
    for name, columns in expected.items():
        assert list(pd.read_csv(out / name, nrows=1).columns) == columns, name
    truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    assert truth == community[1].to_dict()


def test_export_shape_and_dates(export, community):
    _, gt = community
    assert export["type"] == "public_supergroup"
    assert export["name"] == gt.community_name and isinstance(export["id"], int)
    msgs = export["messages"]
    ids = [m["id"] for m in msgs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    times = [int(m["date_unixtime"]) for m in msgs]
    assert times == sorted(times)
    assert all(isinstance(m["date_unixtime"], str) for m in msgs)
    local = pd.to_datetime([m["date"] for m in msgs], format="%Y-%m-%dT%H:%M:%S")
    utc = pd.to_datetime(np.array(times), unit="s")
    assert (local - utc == pd.Timedelta(hours=3)).all()
    for m in msgs:
        assert isinstance(m["text"], str | list)
        if isinstance(m["text"], list):
            assert [e["text"] if isinstance(e, dict) else e for e in m["text"]] == [
                e["text"] for e in m["text_entities"]
            ]
        for r in m.get("reactions", []):
            assert r["type"] == "emoji" and len(r["recent"]) <= min(r["count"], 3)
            assert m["from_id"] not in {x["from_id"] for x in r["recent"]}
    assert sum(isinstance(m["text"], list) for m in msgs) > 0.05 * len(msgs)
    assert gt.n_messages == sum(m["type"] == "message" for m in msgs)


def test_topics_replies_and_general_area(export, messages, community):
    _, gt = community
    created = [m for m in export["messages"] if m.get("action") == "topic_created"]
    assert [m["title"] for m in created] == ["Questions", "Showcase", "Events", "Off-topic"]
    assert {m["actor_id"] for m in created} == {gt.staff_ids[0]}
    assert gt.topics == {m["title"]: m["id"] for m in created}
    by_id = messages.set_index("id")
    replies = messages[(messages["reply_to"] > 0) & ~messages["reply_to"].isin(gt.topics.values())]
    assert replies["reply_to"].isin(by_id.index).all()
    assert (by_id.loc[replies["reply_to"], "t"].to_numpy() < replies["t"].to_numpy()).all()
    deep = replies[replies["reply_to"].isin(replies["id"])]
    assert len(deep) > 0.1 * len(replies)  # replies to replies
    no_reply = (messages["reply_to"] == 0).mean()
    assert 0.005 < no_reply < 0.05  # General area: a few percent


def test_people_and_roster(export, messages, roster, joins, community):
    _, gt = community
    assert roster["user_id"].is_unique
    assert roster["user_id"].str.fullmatch(r"user\d{9,10}").all()
    assert set(roster["role"]) == {"member", "staff", "bot"}
    assert 3 <= (roster["role"] == "staff").sum() <= 5 and (roster["role"] == "bot").sum() == 1
    assert set(roster.loc[roster["role"] == "staff", "user_id"]) == set(gt.staff_ids)
    assert list(roster.loc[roster["role"] == "bot", "user_id"]) == gt.bot_ids
    members = roster[roster["role"] == "member"]
    assert len(members) == N_MEMBERS and set(members["source"]) <= set(gt.source_probs)
    referral = members["source"] == "referral"
    assert (members.loc[~referral, "referred_by"] == "").all()
    referrers = members.loc[referral, "referred_by"]
    assert referrers.isin(members["user_id"]).all()
    assert (joins[referrers].to_numpy() < joins[members.loc[referral, "user_id"]].to_numpy()).all()
    assert set(messages["author"]) <= set(roster["user_id"])
    assert set(joins.index) == set(roster["user_id"])
    first_post = messages.groupby("author")["t"].min()
    assert (first_post >= joins[first_post.index]).all()
    assert messages["author"].isin(gt.bot_ids).sum() >= 300  # daily digest
    counts = messages[~messages["author"].isin(gt.staff_ids + gt.bot_ids)]["author"].value_counts()
    top = counts.iloc[: max(1, len(members) // 10)].sum() / counts.sum()
    assert top > 0.5  # heavy tail: the top 10% of members write most messages


def test_same_seed_same_bytes_other_seed_differs(community, tmp_path):
    out, _ = community
    generate_community(tmp_path / "again", n_members=N_MEMBERS, seed=7)
    generate_community(tmp_path / "other", n_members=N_MEMBERS, seed=8)
    original = (out / "telegram" / "result.json").read_bytes()
    assert (tmp_path / "again" / "telegram" / "result.json").read_bytes() == original
    assert (tmp_path / "other" / "telegram" / "result.json").read_bytes() != original
    for name in ("members.csv", "customers.csv", "orders.csv", "assignments.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes()


def test_config_validation():
    with pytest.raises(TypeError):
        SynthConfig(no_such_parameter=1)
    with pytest.raises(ValueError, match="source_probs"):
        SynthConfig(source_probs={"organic": 1.0})
    with pytest.raises(ValueError, match="retained_week4"):
        SynthConfig(retained_week4=(0.4, 0.5))


# ---- planted truth ------------------------------------------------------------------------------
def test_experiment_metrics_match_planted_rates(community, messages):
    out, gt = community
    units = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
    assert (units["experiment_id"] == "onboarding-v2").all() and (units["cluster_id"] == "").all()
    assert (
        units["unit_id"].is_unique and not units["unit_id"].isin(gt.core_ids + gt.staff_ids).any()
    )
    assigned = pd.to_datetime(units["assigned_at"], utc=True).astype("int64") // 10**9
    lo, hi = (pd.Timestamp(x).timestamp() for x in gt.experiment["window"])
    assert ((assigned >= lo) & (assigned < hi)).all()
    assert assigned.max() + 28 * DAY < pd.Timestamp(gt.end).timestamp()
    posts = messages.merge(units.assign(assigned=assigned), left_on="author", right_on="unit_id")
    age = posts["t"] - posts["assigned"]
    units["first_post_7d"] = units["unit_id"].isin(
        posts.loc[(age >= 0) & (age < 7 * DAY), "author"]
    )
    week4 = (age >= 21 * DAY) & (age < 28 * DAY)
    units["retained_week4"] = units["unit_id"].isin(posts.loc[week4, "author"])
    rates = units.groupby("variant")[["first_post_7d", "retained_week4"]].agg(["mean", "size"])
    for metric in ("first_post_7d", "retained_week4"):
        for arm in ("control", "treatment"):
            planted = gt.experiment["metrics"][metric][arm]
            n = int(rates.loc[arm, (metric, "size")])
            assert n == gt.experiment["n_units"][arm] and n > 300
            observed = rates.loc[arm, (metric, "mean")]
            assert within(observed, planted, proportion_se(planted, n)), (metric, arm, observed)


def test_first_response_delays_and_staff_share(first_answers, community):
    _, gt = community
    assert (first_answers["delay_min"] > 0).all() and (first_answers["delay_min"] <= 24 * 60).all()
    assert (first_answers["author"] != first_answers["author_answer"]).all()
    for who, by_staff in (("staff", True), ("member", False)):
        median = first_answers.loc[first_answers["by_staff"] == by_staff, "delay_min"].median()
        planted = gt.response_median_minutes[who]
        assert 0.75 * planted <= median <= 1.25 * planted, (who, median)
    share = first_answers["by_staff"].mean()
    assert within(share, gt.staff_answer_share, proportion_se(share, len(first_answers)))


def test_response_probability(export, messages, first_answers, community):
    _, gt = community
    topic_ids = set(gt.topics.values())
    roots = messages[(messages["reply_to"] == 0) | messages["reply_to"].isin(topic_ids)]
    roots = roots[~roots["author"].isin(gt.bot_ids)]
    roots = roots[roots["t"] < pd.Timestamp(gt.end).timestamp() - DAY]
    answered = roots["id"].isin(first_answers.index).mean()
    assert within(answered, gt.response_prob, proportion_se(gt.response_prob, len(roots)))


def test_newcomers_who_are_answered_return_more(messages, first_answers, roster, community):
    _, gt = community
    ordinary = roster.loc[(roster["role"] == "member") & ~roster["user_id"].isin(gt.core_ids)]
    posts = messages[messages["author"].isin(ordinary["user_id"])].sort_values(["t", "id"])
    first = posts.groupby("author").first()
    first = first[first["t"] < pd.Timestamp(gt.end).timestamp() - 35 * DAY]
    topic_ids = set(gt.topics.values())
    assert (first["reply_to"].eq(0) | first["reply_to"].isin(topic_ids)).all()  # first post = root
    answer_t = first_answers["t_answer"].reindex(first["id"]).to_numpy()
    first["answered"] = answer_t - first["t"].to_numpy() <= DAY
    merged = posts.merge(
        first[["t"]].rename(columns={"t": "t0"}), left_on="author", right_index=True
    )
    age = merged["t"] - merged["t0"]
    first["returned"] = first.index.isin(merged.loc[(age >= 7 * DAY) & (age < 35 * DAY), "author"])
    assert within(first["answered"].mean(), gt.newcomer_answer_prob, proportion_se(0.8, len(first)))
    rates = {}
    for label, flag in (("answered", True), ("unanswered", False)):
        group = first.loc[first["answered"] == flag, "returned"]
        planted = gt.newcomer_return_prob[label]
        rates[label] = group.mean()
        assert within(group.mean(), planted, proportion_se(planted, len(group))), label
    assert rates["answered"] > rates["unanswered"] + 0.1


def test_core_members_reply_mostly_to_each_other(messages, community):
    _, gt = community
    assert len(gt.core_ids) == 8
    by_id = messages.set_index("id")["author"]
    replies = messages[messages["reply_to"].isin(by_id.index)]
    core_replies = replies[replies["author"].isin(gt.core_ids)]
    share = by_id.loc[core_replies["reply_to"]].isin(gt.core_ids).mean()
    assert len(core_replies) > 500 and share >= gt.core_reply_to_core_min
    assert share == pytest.approx(gt.realised["core_reply_to_core_share"])
    per_core = messages["author"].value_counts().reindex(gt.core_ids)
    assert per_core.min() > messages["author"].value_counts().quantile(0.95)


def test_purchase_naive_difference_matches_expectation(community, roster, joins):
    out, gt = community
    customers = pd.read_csv(out / "customers.csv", dtype=str, keep_default_na=False)
    orders = pd.read_csv(out / "orders.csv", dtype={"customer_id": str, "currency": str})
    assert customers["customer_id"].is_unique and orders["order_id"].is_unique
    assert customers["signed_up_at"].str.endswith("Z").all()
    assert orders["ordered_at"].str.endswith("+03:00").all() and (orders["currency"] == "RUB").all()
    assert (orders["amount"] > 0).all() and (orders["amount"].round(2) == orders["amount"]).all()
    assert len(customers) == pytest.approx(3 * N_MEMBERS, rel=0.01) == gt.n_customers
    linked = customers.loc[customers["telegram_user_id"] != "", "telegram_user_id"]
    assert linked.is_unique and linked.isin(roster.loc[roster["role"] == "member", "user_id"]).all()
    assert len(linked) / N_MEMBERS == pytest.approx(0.8, abs=0.04)
    signed = pd.to_datetime(customers.set_index("customer_id")["signed_up_at"], utc=True)
    ordered = pd.to_datetime(orders["ordered_at"], utc=True)
    assert (ordered.to_numpy() >= signed.loc[orders["customer_id"]].to_numpy()).all()
    member_cid = customers.loc[customers["telegram_user_id"] != ""].set_index("customer_id")
    member_orders = orders[orders["customer_id"].isin(member_cid.index)]
    joined = joins[member_cid.loc[member_orders["customer_id"], "telegram_user_id"]].to_numpy()
    assert (ordered[member_orders.index].astype("int64") // 10**9 >= joined).all()
    bought = customers["customer_id"].isin(orders["customer_id"])
    is_member = customers["telegram_user_id"] != ""
    p1, p0 = bought[is_member].mean(), bought[~is_member].mean()
    se = np.sqrt(p1 * (1 - p1) / is_member.sum() + p0 * (1 - p0) / (~is_member).sum())
    assert within(p1 - p0, gt.purchase["naive_diff_expected"], se)
    assert 0 < gt.purchase["att"] < gt.purchase["naive_diff_expected"]  # self-selection inflates


def test_ground_truth_is_complete_and_serialisable(community):
    _, gt = community
    d = gt.to_dict()
    json.dumps(d)
    for key in (
        "seed", "n_members", "start", "end", "community_name", "staff_ids", "bot_ids", "core_ids",
        "source_probs", "response_prob", "staff_answer_share", "response_median_minutes",
        "newcomer_return_prob", "experiment", "purchase", "n_messages",
    ):  # fmt: skip
        assert key in d, key
    assert set(d["experiment"]["metrics"]) == {"first_post_7d", "retained_week4"}
    assert set(d["purchase"]["coefficients"]) == {"intercept", "interest", "member"}
    assert d["start"] == "2024-01-01T00:00:00Z" and d["end"] == "2025-01-01T00:00:00Z"


# ---- hostile strings (SynthConfig.hostile_strings) -----------------------------------------------
def test_hostile_strings_change_only_text(tmp_path):
    from analysis.synth.texts import (
        HOSTILE_COMMUNITY_SUFFIX,
        HOSTILE_NAMES,
        HOSTILE_TEXTS,
        HOSTILE_TOPIC_SUFFIXES,
    )

    plain = generate_community(tmp_path / "plain", n_members=200, seed=5)
    hostile = generate_community(tmp_path / "hostile", n_members=200, seed=5, hostile_strings=True)
    for name in ("members.csv", "customers.csv", "orders.csv", "assignments.csv"):
        assert (tmp_path / "plain" / name).read_bytes() == (
            tmp_path / "hostile" / name
        ).read_bytes()
    load = lambda d: json.loads((tmp_path / d / "telegram" / "result.json").read_text("utf-8"))  # noqa: E731
    a, b = load("plain"), load("hostile")
    assert b["name"] == a["name"] + HOSTILE_COMMUNITY_SUFFIX
    keys = ("id", "type", "date_unixtime", "from_id", "actor_id", "reply_to_message_id")
    assert [[m.get(k) for k in keys] for m in a["messages"]] == [
        [m.get(k) for k in keys] for m in b["messages"]
    ]
    titles = [m["title"] for m in b["messages"] if m.get("action") == "topic_created"]
    assert all(t.endswith(s) for t, s in zip(titles, HOSTILE_TOPIC_SUFFIXES, strict=True))
    assert list(hostile.topics) == titles and list(plain.topics.values()) == list(
        hostile.topics.values()
    )
    names = {m.get("from") for m in b["messages"]} | {m.get("actor") for m in b["messages"]}
    posting = [h for h in HOSTILE_NAMES if h in names]
    assert len(posting) == len(HOSTILE_NAMES), "every hostile name appears in the export"
    assert max(len(n) for n in names if n) >= 10_000
    assert any("\u202e" in n for n in names if n)
    texts = json.dumps([m.get("text") for m in b["messages"]], ensure_ascii=False)
    assert json.dumps(HOSTILE_TEXTS[0], ensure_ascii=False)[1:-1] in texts
    assert "javascript:" in texts
