"""Reply inference: the seed ensemble of one-hidden-layer scorers (kind ``mlp_ensemble``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.ingest._reply_model import mlp_scores, split_mlp, stack_members
from analysis.ingest.reply_inference import (
    FEATURE_NAMES,
    ReplyModel,
    ReplyModelError,
    link_records,
)

F = len(FEATURE_NAMES)


def member(seed: int, h: int = 4) -> dict:
    """Random one-hidden-layer parameters (``split_mlp`` form) with ``h`` units."""
    rng = np.random.default_rng(seed)
    theta = np.concatenate(
        [
            rng.normal(0, 0.5, F),
            rng.normal(0, 0.3, F * h),
            rng.normal(0, 0.2, h),
            rng.normal(0, 1.0, h),
        ]
    )
    return split_mlp(theta, F, h)


def model_of(parts: dict, offset: float = -0.3) -> ReplyModel:
    return ReplyModel(FEATURE_NAMES, k_max=8, horizon_minutes=60.0, self_offset=offset, **parts)


def chat_inputs(seed: int = 3, n: int = 400):
    rng = np.random.default_rng(seed)
    words = ["disk", "grub", "wifi", "kernel", "alice:", "bob,", "carol", "?", "hi", "thanks"]
    minutes = np.sort(rng.uniform(0, 600, n))
    speaker = rng.integers(-1, 5, n)
    texts = [" ".join(rng.choice(words, 4)) for _ in range(n)]
    names = {"alice": 0, "bob": 1, "carol": 2, "dave": 3, "erin": 4}
    return minutes, speaker, texts, names


def as32(parts: dict) -> tuple[np.ndarray, ...]:
    return tuple(
        np.asarray(parts[k], dtype=np.float32)
        for k in ("coefficients", "hidden_weights", "hidden_bias", "output_weights")
    )


def test_ensemble_score_is_the_members_mean_score():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7, F)).astype(np.float32)
    members = [member(s) for s in (1, 2, 3)]
    stacked = stack_members(members)
    assert stacked["n_members"] == 3 and len(stacked["hidden_bias"]) == 12
    mean = np.mean([mlp_scores(x, *as32(m)) for m in members], axis=0)
    np.testing.assert_allclose(mlp_scores(x, *as32(stacked)), mean, rtol=1e-4, atol=1e-4)
    # and not e.g. their sum (the check can fail)
    assert not np.allclose(mlp_scores(x, *as32(stacked)), 3 * mean, rtol=1e-4, atol=1e-4)


def test_ensemble_of_identical_members_equals_the_single_model():
    one = member(7)
    single = model_of(one)
    triple = model_of(stack_members([one, one, one]))
    assert single.kind == "mlp" and triple.kind == "mlp_ensemble" and triple.n_members == 3
    inputs = chat_inputs()
    expected = link_records(*inputs, single)
    got = link_records(*inputs, triple)
    assert (got == expected).mean() > 0.995  # float32 sums in another order may split a tie
    assert (expected != np.arange(len(expected))).sum() > 50  # it does link messages
    # a different member changes the links
    other = model_of(stack_members([one, member(8)]))
    assert (link_records(*inputs, other) != expected).any()


def test_one_member_stacks_to_itself():
    one = member(5)
    stacked = stack_members([one])
    assert stacked["n_members"] == 1
    assert model_of(stacked) == model_of(one)
    with pytest.raises(ValueError, match="no members"):
        stack_members([])
    with pytest.raises(ValueError, match=r"sizes \[3, 4\]"):
        stack_members([member(1, h=4), member(2, h=3)])


def test_ensemble_round_trips_and_bad_files_are_named(tmp_path):
    model = model_of(stack_members([member(1), member(2)]))
    data = model.to_dict()
    assert data["kind"] == "mlp_ensemble" and data["n_members"] == 2
    path = tmp_path / "e.json"
    path.write_text(model.to_json(), encoding="utf-8")
    loaded = ReplyModel.load(path)
    assert loaded == model and loaded.n_members == 2
    for change, match in (
        ({"n_members": 3}, "n_members=3 with 8 hidden units"),
        ({"n_members": 1}, "at least 2 members"),
    ):
        path.write_text(json.dumps(data | change), encoding="utf-8")
        with pytest.raises(ReplyModelError, match=f"e.json.*{match}"):
            ReplyModel.load(path)
    missing = {k: v for k, v in data.items() if k != "n_members"}
    path.write_text(json.dumps(missing), encoding="utf-8")
    with pytest.raises(ReplyModelError, match="e.json: missing.*n_members"):
        ReplyModel.load(path)
    with pytest.raises(ReplyModelError, match="n_members=2 with 0 hidden units"):
        ReplyModel(FEATURE_NAMES, (0.0,) * F, n_members=2)
