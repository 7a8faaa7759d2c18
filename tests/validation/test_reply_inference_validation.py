"""Reply inference against hand-annotated IRC links (Kummerfeld et al. 2019, dev split).

Checked three ways: (1) the shipped model's (a one-hidden-layer scorer) link
precision / recall / F1 on the development logs, recomputed here from the shipped parameters
(goal of issue 7: F1 >= 0.70), against the two baselines recomputed here from the raw files by an
independent parser and scorer (their published numbers, shared/data/README.md, reproduced
within 0.01), and against its own linear part (the conditional logit of stage 1, kept in the
metadata); (2) the conditional-logit fitter against statsmodels' ConditionalLogit on the same
simulated data; (3) simulation: planted weights are recovered, and the MLP fitter recovers a
planted interaction the linear model cannot express. The training script runs end to end on a
subset.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import config
from analysis.ingest.reply_inference import (
    FEATURE_NAMES,
    ReplyModel,
    fit_conditional_logit,
    fit_mlp,
    infer_replies,
    load_irc_logs,
    predict_irc_links,
    score_irc_logs,
)

DEV = "irc-disentanglement-dev"
START = 1000
# published baselines (shared/data/README.md): precision, recall, F1
PUBLISHED = {"previous": (0.237, 0.229, 0.233), "addressee": (0.512, 0.493, 0.502)}
# measured with the shipped model (scripts/train_reply_model.py): precision, recall, F1
MEASURED = (0.7284, 0.6985, 0.7131)
# its linear part (stage 1 of the training script, the conditional logit, kept in the metadata)
MEASURED_LINEAR_F1 = 0.671


# --------------------------------------------------------------- independent implementation


def _read(raw: Path) -> list[tuple[str | None, str]]:
    """(nick or None for system lines, text) per line, parsed without the package."""
    out = []
    for line in raw.read_text(encoding="utf-8", errors="replace").split("\n")[:-1]:
        chat = re.match(r"\[\d\d:\d\d\] <([^>]*)> ?(.*)", line)
        action = re.match(r"\[\d\d:\d\d\]\s+\* (\S+) ?(.*)", line)
        m = chat or action
        out.append((m.group(1), m.group(2)) if m else (None, line))
    return out


def _gold(ann: Path) -> set[tuple[int, int]]:
    pairs = set()
    for line in ann.read_text(encoding="utf-8").splitlines():
        a, b, _ = line.split()
        if int(b) >= START:
            pairs.add((int(a), int(b)))
    return pairs


def _previous_other(lines):
    links = set()
    for i in range(START, len(lines)):
        parent = i
        if lines[i][0] is not None:
            for j in range(i - 1, -1, -1):
                if lines[j][0] is not None and lines[j][0] != lines[i][0]:
                    parent = j
                    break
        links.add((parent, i))
    return links


def _addressee(lines):
    nicks = {n.lower() for n, _ in lines if n}
    last: dict[str, int] = {}
    addressed_me: dict[str, int] = {}
    links = set()
    for i, (nick, text) in enumerate(lines):
        parent = i
        if nick is not None:
            me = nick.lower()
            words = [w.strip(":,;.!?").lower() for w in text.split()]
            first = words[0] if words else ""
            if first in nicks and first in last:
                parent = last[first]
            elif me in addressed_me:
                parent = addressed_me[me]
            last[me] = i
            for w in words:
                if w in nicks and w != me:
                    addressed_me[w] = i
        if i >= START:
            links.add((parent, i))
    return links


def _prf(pred: set, gold: set) -> tuple[float, float, float]:
    correct = len(pred & gold)
    p, r = correct / len(pred), correct / len(gold)
    return p, r, 2 * p * r / (p + r)


@pytest.fixture(scope="module")
def dev_dir():
    # the shared_data fixture (tests/conftest.py) is function-scoped; same location
    path = config.SHARED_DIR / "data" / DEV
    if not path.exists():
        pytest.skip(f"shared reference data not found at {path}")
    return path


@pytest.fixture(scope="module")
def dev_files(dev_dir):
    raws = sorted(dev_dir.glob("*.raw.txt"))
    assert len(raws) == 10
    return [(r, r.with_name(r.name.replace(".raw.", ".annotation."))) for r in raws]


@pytest.fixture(scope="module")
def baselines(dev_files):
    pooled = {"previous": [set(), set()], "addressee": [set(), set()]}
    for k, (raw, ann) in enumerate(dev_files):
        lines = _read(raw)
        gold = {(a + k * 100_000, b + k * 100_000) for a, b in _gold(ann)}
        for name, fn in (("previous", _previous_other), ("addressee", _addressee)):
            pooled[name][0] |= {(a + k * 100_000, b + k * 100_000) for a, b in fn(lines)}
            pooled[name][1] |= gold
    return {name: _prf(pred, gold) for name, (pred, gold) in pooled.items()}


@pytest.fixture(scope="module")
def dev_logs(dev_dir):
    return load_irc_logs(dev_dir)


# --------------------------------------------------------------------------------- tests


def test_baselines_reproduce_published_numbers(baselines):
    for name, (p, r, f1) in baselines.items():
        pub_p, pub_r, pub_f1 = PUBLISHED[name]
        assert f1 == pytest.approx(pub_f1, abs=0.01), name
        assert p == pytest.approx(pub_p, abs=0.015), name
        assert r == pytest.approx(pub_r, abs=0.015), name


def test_package_scorer_agrees_with_independent_scorer(dev_logs, dev_files):
    """score_irc_logs on the 'previous other speaker' links equals the scorer written here."""

    def previous(log):
        lines = [(s, t) for s, t in zip(log.speakers, log.texts, strict=True)]
        links = sorted(_previous_other(lines))
        return pd.DataFrame(links, columns=["parent", "child"])

    ours = score_irc_logs(dev_logs, previous)
    pred, gold = set(), set()
    for k, ((raw, ann), log) in enumerate(zip(dev_files, dev_logs, strict=True)):
        pred |= {(a + k * 10**6, b + k * 10**6) for a, b in _previous_other(_read(raw))}
        gold |= {(a + k * 10**6, b + k * 10**6) for a, b in _gold(ann)}
        assert len(log) == len(_read(raw))
    p, r, f1 = _prf(pred, gold)
    assert (ours.precision, ours.recall, ours.f1) == pytest.approx((p, r, f1), abs=1e-12)
    assert ours.n_gold == len(gold) == 2607


def test_shipped_model_reaches_the_goal_and_beats_baselines_on_dev(dev_logs, dev_files, baselines):
    model = ReplyModel.load()
    scores = score_irc_logs(dev_logs, model=model)  # recomputed from the shipped parameters
    measured = (scores.precision, scores.recall, scores.f1)
    # the same figures from the independent gold parser and scorer of this file
    pred, gold = set(), set()
    for k, ((_, ann), log) in enumerate(zip(dev_files, dev_logs, strict=True)):
        links = predict_irc_links(log, model, start=START)
        pairs = zip(links.parent, links.child, strict=True)
        pred |= {(a + k * 10**6, b + k * 10**6) for a, b in pairs}
        gold |= {(a + k * 10**6, b + k * 10**6) for a, b in _gold(ann)}
    assert measured == pytest.approx(_prf(pred, gold), abs=1e-12)
    # the figures recorded in the shipped file are what the model scores
    recorded = tuple(model.metadata["dev"][k] for k in ("precision", "recall", "f1"))
    assert measured == pytest.approx(recorded, abs=0.005)
    assert scores.f1 == pytest.approx(recorded[2], abs=1e-12)  # in fact bit for bit
    assert measured == pytest.approx(MEASURED, abs=0.005)
    assert scores.f1 >= 0.70  # the goal of issue 7 (Kummerfeld et al. 2019 feed-forward: 0.74)
    assert scores.f1 > baselines["addressee"][2] + 0.1
    assert scores.f1 > baselines["previous"][2] + 0.3
    assert scores.precision > 0.6 and scores.recall > 0.6
    assert model.kind == "mlp"


def test_linear_part_scores_as_recorded_and_below_the_mlp(dev_logs):
    model = ReplyModel.load()
    lin = model.metadata["linear"]
    linear = ReplyModel(
        FEATURE_NAMES,
        tuple(lin["coefficients"]),
        model.k_max,
        model.horizon_minutes,
        lin["self_offset"],
    )
    assert linear.kind == "conditional_logit"
    scores = score_irc_logs(dev_logs, model=linear)
    assert scores.f1 == pytest.approx(lin["dev"]["f1"], abs=1e-12)
    assert scores.f1 == pytest.approx(MEASURED_LINEAR_F1, abs=0.005)
    assert model.metadata["dev"]["f1"] > scores.f1 + 0.01


def test_infer_replies_on_canonical_tables_matches_the_irc_path(dev_logs):
    """The public table API gives the same links as the IRC evaluator (one dev log)."""
    log = dev_logs[0]
    model = ReplyModel.load()
    n = len(log)
    ids = np.array([f"{i:05d}" for i in range(n)], dtype=object)
    nick = np.array([s if s is not None else "system" for s in log.speakers], dtype=object)
    messages = pd.DataFrame(
        {
            "message_id": ids,
            "channel_id": "irc",
            "thread_id": ids,
            "member_id": nick,
            "created_at": pd.Timestamp("2020-01-01", tz="UTC")
            + pd.to_timedelta(log.times, unit="s"),
            "reply_to_id": None,
            "reply_source": "none",
            "kind": np.where(log.is_system, "service", "message"),
            "text": log.texts,
        }
    )
    members = pd.DataFrame({"member_id": np.unique(nick), "display_name": np.unique(nick)})
    out = infer_replies(messages, members, model=model)
    parent = out["reply_to_id"].fillna(out["message_id"]).astype(int).to_numpy()
    expected = predict_irc_links(log, model)["parent"].to_numpy()
    assert (parent == expected).mean() == 1.0
    assert (out["reply_source"] == "inferred").sum() == (expected != np.arange(n)).sum()


def _simulate(rng, n=3000, slots=6, w=(1.0, -0.7, 0.4)):
    x = rng.normal(size=(n, slots, len(w))).astype(np.float32)
    x[:, :, 2] = rng.random((n, slots)) < 0.3  # a binary feature
    valid = np.ones((n, slots), dtype=bool)
    valid[:, -1] = rng.random(n) < 0.5  # ragged choice sets
    s = x @ np.asarray(w, dtype=np.float32)
    s[~valid] = -np.inf
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    choice = (rng.random((n, 1)) < p.cumsum(axis=1)).argmax(axis=1)
    gold = np.zeros_like(valid)
    gold[np.arange(n), choice] = True
    return x, valid, gold


def test_fitter_matches_statsmodels_conditional_logit_and_recovers_planted_weights():
    from statsmodels.discrete.conditional_models import ConditionalLogit

    planted = np.array([1.0, -0.7, 0.4])
    x, valid, gold = _simulate(np.random.default_rng(7), w=tuple(planted))
    w, info = fit_conditional_logit(x, valid, gold, l2=0.0)
    assert info["converged"]
    rows, slots = np.nonzero(valid)
    sm = ConditionalLogit(
        gold[rows, slots].astype(float), x[rows, slots].astype(float), groups=rows
    ).fit(disp=0)
    # same optimum up to optimiser tolerance and float32 features (SEs are ~0.03)
    np.testing.assert_allclose(w, sm.params, atol=1e-3)
    # planted weights within 4 standard errors
    assert np.all(np.abs(w - planted) < 4 * sm.bse)


def test_planted_weights_are_recovered_on_average():
    """Over 20 simulated data sets the estimates centre on the planted weights (no bias)."""
    planted = np.array([1.0, -0.7, 0.4])
    estimates = np.array(
        [
            fit_conditional_logit(
                *_simulate(np.random.default_rng(seed), n=800, w=tuple(planted)), l2=0.0
            )[0]
            for seed in range(20)
        ]
    )
    se_mean = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - planted) < 4 * se_mean + 0.02)


def test_mlp_fitter_learns_a_planted_interaction():
    """Choice driven by x0 * x1 (an interaction): the MLP fits it, the linear logit cannot."""
    rng = np.random.default_rng(11)
    n, slots = 3000, 5
    x = rng.normal(size=(n, slots, 3)).astype(np.float32)
    x[:, :, 2] = 1.0
    utility = 2.0 * x[:, :, 0] * x[:, :, 1]
    p = np.exp(utility - utility.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    choice = (rng.random((n, 1)) < p.cumsum(axis=1)).argmax(axis=1)
    valid = np.ones((n, slots), dtype=bool)
    gold = np.zeros_like(valid)
    gold[np.arange(n), choice] = True
    train, test = slice(0, 2000), slice(2000, n)
    w, _ = fit_conditional_logit(x[train], valid[train], gold[train], l2=0.0)
    theta, info, _ = fit_mlp(x[train], valid[train], gold[train], n_hidden=8, l2=1e-4, seed=0)
    assert info["iterations"] > 10
    f = x.shape[2]
    hw = theta[f : f + f * 8].reshape(f, 8)
    hb, ov = theta[f + f * 8 : f + f * 8 + 8], theta[-8:]

    def accuracy(scores):
        return float((scores.argmax(axis=1) == choice[test]).mean())

    xt = x[test].astype(np.float64)
    acc_mlp = accuracy(xt @ theta[:f] + np.tanh(xt @ hw + hb) @ ov)
    acc_lin = accuracy(xt @ w)
    truth = accuracy(utility[test])
    assert acc_lin < 0.3  # chance is 0.2: the linear score cannot see the interaction
    assert acc_mlp > truth - 0.05  # the MLP is about as good as the true utility


@pytest.mark.slow
def test_training_script_runs_on_a_subset_deterministically(tmp_path):
    path = Path(__file__).resolve().parents[2] / "scripts" / "train_reply_model.py"
    spec = importlib.util.spec_from_file_location("train_reply_model", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    outs = []
    for k in range(2):
        out = tmp_path / f"m{k}.json"
        argv = ["--out", str(out), "--max-train-logs", "4", "--quick", "--members", "2"]
        assert script.main(argv) == 0
        outs.append(out.read_text(encoding="utf-8"))
    assert outs[0] == outs[1]
    model = ReplyModel.load(tmp_path / "m0.json")
    meta = json.loads(outs[0])["metadata"]
    assert meta["training_data"]["logs"] == 4
    assert meta["mlp"]["members"] == 2 and meta["mlp"]["seeds"] == [0, 1]
    assert len(meta["mlp"]["dev_diagnostics"]["members_alone"]) == 2
    # even four training logs beat the addressee baseline on dev
    assert meta["dev"]["f1"] > 0.55
    assert model.k_max in script.K_GRID
