"""Reply inference for chats without reply links: hand cases (issue 7)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.ingest.reply_inference import (
    FEATURE_NAMES,
    IrcLogError,
    ReplyInferenceError,
    ReplyModel,
    ReplyModelError,
    describe_reply_sources,
    infer_replies,
    link_records,
    mlp_loss,
    read_irc_log,
    score_links,
)
from analysis.schema import validate

T0 = pd.Timestamp("2024-03-01 12:00", tz="UTC")


def chat(rows: list[tuple], channel: str = "c1") -> pd.DataFrame:
    """rows: (message_id, member_id, minute, text[, kind[, reply_to_id]])."""
    reply = [r[5] if len(r) > 5 else None for r in rows]
    texts = [r[3] for r in rows]
    return pd.DataFrame(
        {
            "message_id": [r[0] for r in rows],
            "platform": "telegram",
            "channel_id": channel,
            "thread_id": [r[0] if t is None else t for r, t in zip(rows, reply, strict=True)],
            "member_id": [r[1] for r in rows],
            "created_at": [T0 + pd.Timedelta(minutes=r[2]) for r in rows],
            "reply_to_id": reply,
            "reply_source": ["explicit" if t else "none" for t in reply],
            "kind": [r[4] if len(r) > 4 else "message" for r in rows],
            "text": texts,
            "text_len": [len(t or "") for t in texts],
            "n_reactions": 0,
        }
    )


def members(names: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "member_id": list(names),
            "platform": "telegram",
            "joined_at": T0,
            "source": None,
            "is_staff": False,
            "is_bot": False,
            "display_name": list(names.values()),
            "referred_by": None,
        }
    )


ROSTER = members({"a": "alice", "b": "bob", "c": "carol", "d": "dave"})


def test_addressee_at_start_links_to_that_nicks_last_message():
    msgs = chat(
        [
            ("1", "a", 0, "how do I mount a usb stick?"),
            ("2", "a", 1, "it does not show up in nautilus"),
            ("3", "b", 2, "anyone here using kde plasma with wayland?"),
            ("4", "c", 3, "good morning"),
            ("5", "d", 4, "alice: check dmesg after plugging it in"),
        ]
    )
    out = infer_replies(msgs, ROSTER).set_index("message_id")
    # one of alice's messages (the shipped MLP prefers her question to her follow-up), never
    # the unrelated bob / carol lines, and in alice's conversation
    assert out.loc["5", "reply_to_id"] in ("1", "2")
    assert out.loc["5", "reply_source"] == "inferred"
    assert out.loc["5", "thread_id"] == out.loc["2", "thread_id"] == out.loc["1", "thread_id"]
    # the addressee's answer back goes to the message that addressed her
    msgs2 = pd.concat(
        [msgs, chat([("6", "a", 5, "dave: thanks, dmesg shows sdb1 now")])], ignore_index=True
    )
    out2 = infer_replies(msgs2, ROSTER).set_index("message_id")
    assert out2.loc["6", "reply_to_id"] == "5"
    assert out2.loc["6", "thread_id"] == out2.loc["5", "thread_id"]


def test_first_message_is_a_root_and_one_message_stays_root():
    one = chat([("1", "a", 0, "hello, anyone around?")])
    out = infer_replies(one, ROSTER)
    assert out["reply_to_id"].isna().all()
    assert out["reply_source"].tolist() == ["none"]
    assert out["thread_id"].tolist() == ["1"]


def test_empty_input_returns_empty_frame():
    empty = chat([("1", "a", 0, "x")]).iloc[:0]
    out = infer_replies(empty, ROSTER)
    assert out.empty
    assert list(out.columns) == list(empty.columns)


def test_service_messages_are_never_linked_nor_targets():
    msgs = chat(
        [
            ("1", "a", 0, "my wifi drops every few minutes on 22.04"),
            ("j", "e", 0, "e joined the group", "service"),
            ("2", "b", 1, "alice: which chipset?"),
            ("k", "f", 1, "f joined the group", "service"),
            ("3", "a", 2, "bob: intel ax200"),
            ("4", "b", 3, "try disabling power saving"),
        ]
    )
    out = infer_replies(msgs, ROSTER).set_index("message_id")
    for sid in ("j", "k"):
        assert pd.isna(out.loc[sid, "reply_to_id"])
        assert out.loc[sid, "reply_source"] == "none"
        assert out.loc[sid, "thread_id"] == sid
    assert not out["reply_to_id"].isin(["j", "k"]).any()
    assert out.loc["2", "reply_to_id"] == "1"
    assert out.loc["3", "reply_to_id"] == "2"


def test_channels_with_explicit_replies_are_untouched_by_default():
    explicit = chat(
        [
            ("1", "a", 0, "question about grub"),
            ("2", "b", 1, "alice: which version?", "message", "1"),
            ("3", "a", 2, "bob: 2.06"),
        ],
        channel="with-replies",
    )
    plain = chat(
        [("4", "c", 0, "is the mirror down?"), ("5", "d", 1, "carol: works for me")],
        channel="plain",
    )
    msgs = pd.concat([explicit, plain], ignore_index=True)
    out = infer_replies(msgs, ROSTER)
    pd.testing.assert_frame_equal(out.iloc[:3], msgs.iloc[:3])
    assert out.set_index("message_id").loc["5", "reply_to_id"] == "4"
    # opting in infers the unlinked message and keeps the explicit link
    opted = infer_replies(msgs, ROSTER, channels_with_replies=True).set_index("message_id")
    assert opted.loc["2", ["reply_to_id", "reply_source"]].tolist() == ["1", "explicit"]
    assert opted.loc["3", ["reply_to_id", "reply_source"]].tolist() == ["2", "inferred"]
    assert opted.loc["3", "thread_id"] == "1"


def test_result_is_deterministic_and_independent_of_row_order():
    rng = np.random.default_rng(3)
    n = 300
    speakers = rng.choice(list("abcd"), n)
    words = ["disk", "grub", "wifi", "kernel", "driver", "boot", "sound", "mount"]
    names = {"a": "alice", "b": "bob", "c": "carol", "d": "dave"}
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(words, 4))
        if rng.random() < 0.3:
            text = f"{names[rng.choice(list('abcd'))]}: {text}"
        rows.append((f"m{i}", str(speakers[i]), int(i // 3), text))
    msgs = chat(rows)
    first = infer_replies(msgs, ROSTER)
    again = infer_replies(msgs, ROSTER)
    pd.testing.assert_frame_equal(first, again)
    shuffled = infer_replies(msgs.sample(frac=1.0, random_state=1), ROSTER)
    pd.testing.assert_frame_equal(shuffled.loc[first.index], first)
    assert (first["reply_source"] == "inferred").mean() > 0.5
    note = describe_reply_sources(first)
    assert note.startswith(
        f"Reply links: 0 explicit, {(first['reply_source'] == 'inferred').sum()}"
    )
    assert "link F1 0." in note
    assert describe_reply_sources(msgs) == "Reply links: 0 explicit, none inferred."
    validate("messages", first, source="test")
    # every inferred target is earlier in the same channel
    ids = first.set_index("message_id")
    linked = ids[ids["reply_source"] == "inferred"]
    assert (ids.loc[linked["reply_to_id"], "created_at"].to_numpy() <= linked["created_at"]).all()


def test_bad_input_is_named():
    msgs = chat([("1", "a", 0, "x")])
    with pytest.raises(ReplyInferenceError, match="created_at"):
        infer_replies(msgs.assign(created_at=msgs["created_at"].dt.tz_localize(None)))
    with pytest.raises(ReplyInferenceError, match="channel_id"):
        infer_replies(msgs.drop(columns="channel_id"))
    with pytest.raises(ReplyInferenceError, match="'maybe'"):
        infer_replies(msgs.assign(reply_source="maybe"))


def test_link_records_without_texts_uses_turns_and_time():
    model = ReplyModel.load()
    minutes = np.array([0.0, 1.0, 2.0, 500.0])
    speaker = np.array([0, 1, -1, 1])
    parent = link_records(minutes, speaker, [None] * 4, {}, model)
    assert parent[0] == 0  # nothing before it
    assert parent[2] == 2  # system line
    assert parent[3] == 3  # beyond the horizon: a new conversation
    assert parent[1] in (0, 1)


def test_read_irc_log_parses_lines_times_and_links(tmp_path):
    raw = tmp_path / "x.raw.txt"
    raw.write_text(
        "=== bob has joined #ubuntu\n"
        "[23:58] <alice> anyone?\n"
        "[23:59]  * bob waves\n"
        "=== carol is now known as caz\n"
        "[00:01] <bob> alice: yes\n",
        encoding="utf-8",
    )
    ann = tmp_path / "x.annotation.txt"
    ann.write_text("1 1 -\n1 4 -\n", encoding="utf-8")
    log = read_irc_log(raw, ann)
    assert log.is_system.tolist() == [True, False, False, True, False]
    assert log.speakers.tolist() == [None, "alice", "bob", None, "bob"]
    assert log.texts[4] == "alice: yes"
    # minutes: leading system line takes the first stamp; 00:01 is the next day
    np.testing.assert_allclose(log.times / 60, [1438, 1438, 1439, 1439, 1441])
    assert log.links.to_dict("list") == {"parent": [1, 1], "child": [1, 4]}

    ann.write_text("4 1 -\n", encoding="utf-8")
    with pytest.raises(IrcLogError, match=r"x.annotation.txt, line 1.*parent <= child"):
        read_irc_log(raw, ann)
    raw.write_text("[12:00] <a> hi\nrandom text\n", encoding="utf-8")
    with pytest.raises(IrcLogError, match=r"x.raw.txt, line 1 .*'random text'"):
        read_irc_log(raw)


def test_score_links_by_hand():
    gold = pd.DataFrame({"parent": [1000, 1000, 1001, 999], "child": [1000, 1001, 1002, 1002]})
    pred = pd.DataFrame({"parent": [1000, 1000, 1000, 5], "child": [1000, 1001, 1002, 6]})
    s = score_links(pred, gold)
    # predicted (from 1000 on): 3 links, 2 correct; gold: 4 links
    assert (s.n_predicted, s.n_gold, s.n_correct) == (3, 4, 2)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert "precision 0.667" in s.summary()
    assert score_links(pred.iloc[:0], gold).f1 == 0.0


def test_shipped_model_loads_and_bad_files_are_named(tmp_path):
    model = ReplyModel.load()
    assert model.feature_names == FEATURE_NAMES
    assert model.k_max >= 10
    assert model.metadata["dev"]["f1"] > 0.6
    data = model.to_dict()
    data["feature_names"] = data["feature_names"][:-1]
    data["coefficients"] = data["coefficients"][:-1]
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReplyModelError, match=r"m.json.*retrain"):
        ReplyModel.load(bad)
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ReplyModelError, match="m.json: not valid JSON"):
        ReplyModel.load(bad)
    assert ReplyModel.from_dict(model.to_dict()) == model


def test_links_never_cross_channels():
    msgs = pd.concat(
        [
            chat([("1", "a", 0, "how do I mount a usb stick?")], channel="A"),
            chat([("2", "b", 1, "alice: check dmesg"), ("3", "c", 2, "bob: thanks")], "B"),
            chat([("4", "a", 3, "bob: it does not show up")], channel="A"),
        ],
        ignore_index=True,
    )
    out = infer_replies(msgs, ROSTER).set_index("message_id")
    assert pd.isna(out.loc["2", "reply_to_id"])  # alice never spoke in B
    assert out.loc["3", "reply_to_id"] == "2"
    assert out.loc["4", "reply_to_id"] == "1"  # bob never spoke in A: her own question
    assert out.loc["3", "thread_id"] == "2"
    assert out.loc["4", "thread_id"] == "1"


def test_text_chunking_does_not_change_the_result(monkeypatch):
    from analysis.ingest import _reply_text

    rng = np.random.default_rng(5)
    words = ["disk", "grub", "wifi", "kernel", "driver", "boot", "alice:", "bob,", "carol"]
    rows = [
        (f"m{i}", str(rng.choice(list("abcd"))), i, " ".join(rng.choice(words, 5)))
        for i in range(200)
    ]
    msgs = chat(rows)
    whole = infer_replies(msgs, ROSTER)
    monkeypatch.setattr(_reply_text, "_TEXT_CHUNK", 7)
    pd.testing.assert_frame_equal(infer_replies(msgs, ROSTER), whole)


# ------------------------------------------------------------- the one-hidden-layer scorer


def linear_part(model: ReplyModel) -> ReplyModel:
    """The shipped conditional logit (stage 1 of the training script, kept in the metadata)."""
    lin = model.metadata["linear"]
    return ReplyModel(
        FEATURE_NAMES,
        tuple(lin["coefficients"]),
        model.k_max,
        model.horizon_minutes,
        lin["self_offset"],
        {"dev": lin["dev"]},
    )


def test_mlp_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    n, slots, f, h = 60, 5, 4, 3
    x = rng.normal(size=(n, slots, f))
    valid = rng.random((n, slots)) < 0.8
    valid[:, 0] = True
    gold = np.zeros((n, slots), dtype=bool)
    gold[np.arange(n), rng.integers(0, slots, n)] = True
    gold[:, 1] |= rng.random(n) < 0.2  # some messages have two annotated parents
    gold[:, 0] |= ~(gold & valid).any(axis=1)
    theta = rng.normal(size=f + f * h + 2 * h)
    loss, grad = mlp_loss(theta, x, valid, gold, h, 0.1, chunk=17)
    eps = 1e-6
    numeric = np.array(
        [
            (
                mlp_loss(theta + e, x, valid, gold, h, 0.1)[0]
                - mlp_loss(theta - e, x, valid, gold, h, 0.1)[0]
            )
            / (2 * eps)
            for e in np.eye(len(theta)) * eps
        ]
    )
    np.testing.assert_allclose(grad, numeric, atol=1e-7, rtol=1e-6)
    assert loss > 0
    # the gradient check can fail: a wrong sign on the hidden biases is caught
    bad = grad.copy()
    bad[f + f * h : f + f * h + h] *= -1
    assert not np.allclose(bad, numeric, atol=1e-7, rtol=1e-6)


def test_mlp_without_output_weights_links_like_its_linear_part():
    model = ReplyModel.load()
    assert model.kind == "mlp"
    lin = linear_part(model)
    assert lin.kind == "conditional_logit"
    silent = ReplyModel(
        FEATURE_NAMES,
        lin.coefficients,
        lin.k_max,
        lin.horizon_minutes,
        lin.self_offset,
        hidden_weights=model.hidden_weights,
        hidden_bias=model.hidden_bias,
        output_weights=(0.0,) * len(model.hidden_bias),
    )
    rng = np.random.default_rng(3)
    words = ["disk", "grub", "wifi", "kernel", "alice:", "bob,", "carol", "?", "hi"]
    n = 300
    minutes = np.sort(rng.uniform(0, 600, n))
    speaker = rng.integers(-1, 4, n)
    texts = [" ".join(rng.choice(words, 4)) for _ in range(n)]
    names = {"alice": 0, "bob": 1, "carol": 2, "dave": 3}
    expected = link_records(minutes, speaker, texts, names, lin)
    same = link_records(minutes, speaker, texts, names, silent) == expected
    assert same.mean() > 0.99  # float32 sums in another order may split an exact tie
    # the shipped MLP is a different function of the same features
    assert (link_records(minutes, speaker, texts, names, model) != expected).any()


def test_model_kinds_round_trip_and_bad_hidden_layers_are_named(tmp_path):
    model = ReplyModel.load()
    data = model.to_dict()
    assert data["kind"] == "mlp"
    assert ReplyModel.from_dict(data) == model
    lin = linear_part(model).to_dict()
    assert lin["kind"] == "conditional_logit" and "hidden_bias" not in lin
    del lin["kind"]  # files written before the MLP have no "kind": still a linear model
    assert ReplyModel.from_dict(lin).kind == "conditional_logit"
    bad = tmp_path / "m.json"
    for change, match in (
        ({"kind": "forest"}, "kind 'forest'"),
        ({"output_weights": data["output_weights"][:-1]}, "hidden layer"),
        ({"hidden_bias": []}, "at least one hidden unit"),
    ):
        bad.write_text(json.dumps(data | change), encoding="utf-8")
        with pytest.raises(ReplyModelError, match=f"m.json.*{match}"):
            ReplyModel.load(bad)
    missing = {k: v for k, v in data.items() if k != "hidden_weights"}
    bad.write_text(json.dumps(missing), encoding="utf-8")
    with pytest.raises(ReplyModelError, match="m.json: missing.*hidden_weights"):
        ReplyModel.load(bad)
