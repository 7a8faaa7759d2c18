"""Reply inference: the source / target facts repeated on every candidate (hand cases)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.ingest._reply_features import (
    FEATURE_NAMES,
    candidate_features,
    prepare_records,
    stack_features,
)

NAMES = {"alice": 0, "bob": 1, "carol": 2}
# minute, speaker, text
CHAT = [
    (0.0, 0, "hi, anyone know why grub fails?"),  # 0 alice, opener
    (1.0, 1, "alice: which version"),  # 1 bob
    (1.5, -1, "=== carol has joined"),  # 2 system
    (2.0, 0, "thanks"),  # 3 alice
    (300.0, 2, "hello all, my wifi driver does not load after the upgrade"),  # 4 carol, new
]


def features(rows, k_max=4, horizon=180.0):
    minutes, speaker, texts = (np.array([r[i] for r in CHAT]) for i in range(3))
    rec = prepare_records(minutes, speaker.astype(int), list(texts), NAMES)
    self_f, pair, valid = candidate_features(rec, np.asarray(rows), k_max, horizon)
    x, ok = stack_features(self_f, pair, valid)
    return x, ok


def col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_new_features_are_named_after_the_old_ones():
    assert FEATURE_NAMES[-5:] == (
        "src_log_len",
        "src_opener",
        "src_new_speaker",
        "tgt_log_len",
        "tgt_opener",
    )


def test_source_facts_are_repeated_on_every_valid_candidate():
    x, ok = features([3])
    # message 3 ("thanks", alice): slot k is message 3 - k: 2 (system, invalid), 1 (bob),
    # 0 (alice), none
    assert ok[0].tolist() == [True, False, True, True, False]
    src_len = np.log1p(len("thanks"))
    for slot in (2, 3):
        assert x[0, slot, col("src_log_len")] == pytest.approx(src_len, rel=1e-6)
        assert x[0, slot, col("src_opener")] == 0
        assert x[0, slot, col("src_new_speaker")] == 0  # alice spoke 2 minutes earlier
    # the self slot and invalid candidates carry none of the pair features
    for name in FEATURE_NAMES[-5:]:
        assert x[0, 0, col(name)] == 0 and x[0, 1, col(name)] == 0
    assert x[0, 0, col("self_log_len")] == pytest.approx(src_len, rel=1e-6)


def test_target_facts_describe_each_candidate():
    x, _ = features([3])
    assert x[0, 2, col("tgt_log_len")] == pytest.approx(np.log1p(len(CHAT[1][2])), rel=1e-6)
    assert x[0, 3, col("tgt_log_len")] == pytest.approx(np.log1p(len(CHAT[0][2])), rel=1e-6)
    assert x[0, 2, col("tgt_opener")] == 0  # "alice: which version"
    assert x[0, 3, col("tgt_opener")] == 1  # "hi, anyone know ..."


def test_a_newcomer_after_a_long_gap_is_flagged_on_its_candidates():
    # carol's first message, 298 minutes after the last one: with a 400-minute horizon the
    # earlier messages are candidates, and carol has not spoken within it
    x, ok = features([4], horizon=400.0)
    assert ok[0, 1:].tolist() == [True, False, True, True]
    for slot in (1, 3, 4):
        assert x[0, slot, col("src_new_speaker")] == 1
        assert x[0, slot, col("src_opener")] == 1  # "hello all, ..."
    assert x[0, 0, col("self_new_speaker")] == 1
    # alice's "thanks" is not a newcomer's message
    x3, _ = features([3], horizon=400.0)
    assert x3[0, 2, col("src_new_speaker")] == 0
