"""The reply-linking model: a softmax over each message's candidates, linear or one hidden layer.

Part of :mod:`analysis.ingest.reply_inference`. Message ``i`` picks one candidate ``c`` of its
``K + 1`` (itself = new conversation, or one of the ``K`` previous messages within the horizon;
:mod:`._reply_features`) with probability

    P(c | i) = exp(f(x_ic) + b [c = self]) / sum_c' exp(f(x_ic') + b [c' = self])

where ``x_ic`` are the candidate's features and the score ``f`` is either

* ``kind = "conditional_logit"``: ``f(x) = w . x`` (McFadden's conditional logit, the linear
  "link scoring" model of Kummerfeld et al., 2019, section 5, trained as a softmax over
  candidates), or
* ``kind = "mlp"``: ``f(x) = w . x + v . tanh(x W + c)``, the linear score plus one small
  hidden layer of ``H`` tanh units (a one-layer, one-member version of the feed-forward model
  of the same paper, which reaches link F1 0.74 on the development logs with more features,
  two layers and an ensemble). The hidden layer lets features interact (e.g. an addressee
  match matters more at long distances).

The parameters are fitted on hand-annotated links by maximising the log-probability of the
annotated parents (when a message has several, their total probability) with an L2 penalty,
using scipy's L-BFGS with analytic gradients (back-propagation for the MLP); ``b``
(``self_offset``) is a threshold tuned afterwards on the development logs, and the MLP is
early-stopped there (``scripts/train_reply_model.py``). The prediction is the most probable
candidate (ties go to the nearest candidate, the self slot first).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

from analysis.ingest._reply_features import (
    FEATURE_NAMES,
    NameTable,
    candidate_features,
    candidate_scores,
    iter_blocks,
    prepare_records,
    stack_features,
)

__all__ = [
    "DEFAULT_MODEL_FILE",
    "ReplyModel",
    "ReplyModelError",
    "fit_conditional_logit",
    "fit_mlp",
    "link_records",
    "mlp_loss",
    "mlp_scores",
    "split_mlp",
]

DEFAULT_MODEL_FILE = "reply_model.json"
_BLOCK = 8192


class ReplyModelError(ValueError):
    """A reply-model file is missing fields or does not match the feature set of this code."""


@dataclass(frozen=True)
class ReplyModel:
    """Fitted parameters of the reply-linking model (shipped as ``ingest/reply_model.json``).

    Attributes
    ----------
    feature_names : tuple of str
        Names of the features, in the order of ``coefficients`` (``_reply_features``).
    coefficients : tuple of float
        The conditional-logit weights ``w``.
    k_max : int
        Candidates per message: the ``k_max`` previous messages (plus itself).
    horizon_minutes : float
        A candidate more than this many minutes older than the message is not considered.
    self_offset : float
        Added to the self (new-conversation) score before the argmax; > 0 starts more
        conversations, < 0 links more.
    metadata : dict
        Provenance: training data, tuning grid, development-set precision / recall / F1.
    hidden_weights, hidden_bias, output_weights : tuple
        Empty for the conditional logit (``kind == "conditional_logit"``). For the one-hidden-
        layer scorer (``kind == "mlp"``): ``W`` (one row of ``H`` floats per feature), ``c``
        (``H``) and ``v`` (``H``), the score of a candidate being
        ``w . x + v . tanh(x W + c)`` (:func:`mlp_scores`).
    """

    feature_names: tuple[str, ...]
    coefficients: tuple[float, ...]
    k_max: int = 50
    horizon_minutes: float = 120.0
    self_offset: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)
    hidden_weights: tuple[tuple[float, ...], ...] = ()
    hidden_bias: tuple[float, ...] = ()
    output_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if tuple(self.feature_names) != FEATURE_NAMES:
            raise ReplyModelError(
                f"reply model features {list(self.feature_names)} do not match this version's "
                f"features {list(FEATURE_NAMES)}; retrain with scripts/train_reply_model.py."
            )
        if len(self.coefficients) != len(self.feature_names):
            raise ReplyModelError(
                f"reply model has {len(self.coefficients)} coefficients for "
                f"{len(self.feature_names)} features."
            )
        h = len(self.hidden_bias)
        if len(self.output_weights) != h or len(self.hidden_weights) not in (0, len(FEATURE_NAMES)):
            raise ReplyModelError(
                f"reply model hidden layer: {len(self.hidden_weights)} weight rows, {h} biases, "
                f"{len(self.output_weights)} output weights; expected {len(FEATURE_NAMES)} rows "
                f"of H floats, H biases and H output weights (or all empty)."
            )
        if h and any(len(r) != h for r in self.hidden_weights):
            raise ReplyModelError(f"reply model hidden weight rows must have {h} floats each.")
        if bool(h) != bool(self.hidden_weights):
            raise ReplyModelError("reply model hidden layer is incomplete.")
        if int(self.k_max) < 1 or not float(self.horizon_minutes) > 0:
            raise ReplyModelError(
                f"reply model k_max={self.k_max!r}, horizon_minutes={self.horizon_minutes!r}; "
                f"expected k_max >= 1 and a positive horizon."
            )

    @property
    def weights(self) -> np.ndarray:
        """``coefficients`` as a float64 array."""
        return np.asarray(self.coefficients, dtype=np.float64)

    @property
    def kind(self) -> str:
        """``"mlp"`` when the model has a hidden layer, else ``"conditional_logit"``."""
        return "mlp" if self.hidden_bias else "conditional_logit"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "mlp":
            out["hidden_weights"] = [[float(v) for v in r] for r in self.hidden_weights]
            out["hidden_bias"] = [float(v) for v in self.hidden_bias]
            out["output_weights"] = [float(v) for v in self.output_weights]
        return out | {
            "feature_names": list(self.feature_names),
            "coefficients": [float(c) for c in self.coefficients],
            "k_max": int(self.k_max),
            "horizon_minutes": float(self.horizon_minutes),
            "self_offset": float(self.self_offset),
            "metadata": dict(self.metadata),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "reply model") -> ReplyModel:
        required = ("feature_names", "coefficients", "k_max", "horizon_minutes", "self_offset")
        kind = data.get("kind", "conditional_logit")
        if kind not in ("conditional_logit", "mlp"):
            raise ReplyModelError(
                f"{source}: kind {kind!r}; expected 'conditional_logit' or 'mlp'."
            )
        if kind == "mlp":
            required += ("hidden_weights", "hidden_bias", "output_weights")
        missing = [k for k in required if k not in data]
        if missing:
            raise ReplyModelError(f"{source}: missing field(s) {missing}; expected {required}.")
        hidden = {}
        if kind == "mlp":
            hidden = {
                "hidden_weights": tuple(tuple(float(v) for v in r) for r in data["hidden_weights"]),
                "hidden_bias": tuple(float(v) for v in data["hidden_bias"]),
                "output_weights": tuple(float(v) for v in data["output_weights"]),
            }
            if not hidden["hidden_bias"]:
                raise ReplyModelError(f"{source}: kind 'mlp' needs at least one hidden unit.")
        try:
            return cls(
                feature_names=tuple(str(x) for x in data["feature_names"]),
                coefficients=tuple(float(x) for x in data["coefficients"]),
                k_max=int(data["k_max"]),
                horizon_minutes=float(data["horizon_minutes"]),
                self_offset=float(data["self_offset"]),
                metadata=dict(data.get("metadata", {})),
                **hidden,
            )
        except ReplyModelError as err:
            raise ReplyModelError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> ReplyModel:
        """Read a model file; by default the one shipped in the package."""
        if path is None:
            ref = resources.files("analysis.ingest").joinpath(DEFAULT_MODEL_FILE)
            text, source = ref.read_text(encoding="utf-8"), f"analysis/ingest/{DEFAULT_MODEL_FILE}"
        else:
            text, source = Path(path).read_text(encoding="utf-8"), str(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ReplyModelError(f"{source}: not valid JSON ({err}).") from None
        return cls.from_dict(data, source)


def link_records(
    minutes: np.ndarray,
    speaker: np.ndarray,
    texts: Any,
    names: Mapping[str, int] | NameTable,
    model: ReplyModel,
    *,
    rows: np.ndarray | None = None,
    channel: np.ndarray | None = None,
) -> np.ndarray:
    """The most likely parent of every message of one chat (the model's argmax).

    Parameters
    ----------
    minutes : numpy.ndarray
        Times in minutes, non-decreasing (ties keep the given order).
    speaker : numpy.ndarray
        Author codes >= 0; -1 for system/service lines (never linked, never targets).
    texts : sequence
        Message texts (None allowed).
    names : mapping or NameTable
        Addressable name -> author code (case-insensitive, matched word by word).
    model : ReplyModel
    rows : numpy.ndarray, optional
        Only predict these positions (others get themselves).
    channel : numpy.ndarray, optional
        Integer chat codes to process several chats in one call (each chat contiguous and in
        time order); candidates never cross chats.

    Returns
    -------
    numpy.ndarray
        int64 parent position per message; a message that is its own parent starts a
        conversation.
    """
    rec = prepare_records(minutes, speaker, texts, names, channel)
    n = len(rec)
    parent = np.arange(n, dtype=np.int64)
    todo = np.flatnonzero(~rec.is_system) if rows is None else np.asarray(rows, dtype=np.int64)
    todo = todo[~rec.is_system[todo]]
    weights = dict(zip(model.feature_names, model.coefficients, strict=True))
    mlp = model.kind == "mlp"
    if mlp:
        params = tuple(
            np.asarray(a, dtype=np.float32)
            for a in (model.coefficients, model.hidden_weights, model.hidden_bias)
        ) + (np.asarray(model.output_weights, dtype=np.float32),)
    for start in range(0, len(todo), _BLOCK):
        block = todo[start : start + _BLOCK]
        self_feats, pair, valid = candidate_features(rec, block, model.k_max, model.horizon_minutes)
        if mlp:
            x, ok = stack_features(self_feats, pair, valid)
            s = np.where(ok, mlp_scores(x, *params), -np.inf)
            s[:, 0] += np.float32(model.self_offset)
        else:
            s = candidate_scores(self_feats, pair, valid, weights, model.self_offset)
        best = np.argmax(s, axis=1)  # first maximum: self slot, then the nearest candidate
        parent[block] = block - best
    return parent


def fit_conditional_logit(
    x: np.ndarray, valid: np.ndarray, gold: np.ndarray, *, l2: float = 1.0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Maximum penalised likelihood of a conditional logit with possibly several gold choices.

    Minimises ``-(1/n) sum_i log sum_{c in gold_i} P(c | i) + l2 / 2 * ||w||^2`` with
    ``P(c | i) = softmax_c(x_ic . w)`` over the valid candidates (scipy L-BFGS-B, analytic
    gradient).

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, slots, features)`` candidate features.
    valid, gold : numpy.ndarray
        ``(n, slots)`` bool; every row needs at least one valid gold candidate.
    l2 : float
        Ridge penalty on all weights.

    Returns
    -------
    w : numpy.ndarray
    info : dict
        ``loss`` (penalised negative log-likelihood per message), ``iterations``, ``converged``.
    """
    n, _, f = x.shape
    ok = (gold & valid).any(axis=1)
    if not ok.all():
        raise ValueError(
            f"{int((~ok).sum())} training rows have no valid gold candidate; drop them first."
        )
    x = np.ascontiguousarray(x, dtype=np.float32)
    neg = np.where(valid, 0.0, -np.inf)
    gneg = np.where(gold & valid, 0.0, -np.inf)
    chunks = list(iter_blocks(n, 4096))

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        loss = 0.0
        grad = np.zeros_like(w)
        w32 = w.astype(np.float32)
        for rows in chunks:
            xs = x[rows]
            s = (xs @ w32).astype(np.float64)
            sv = s + neg[rows]
            sg = s + gneg[rows]
            lz = logsumexp(sv, axis=1)
            lg = logsumexp(sg, axis=1)
            loss -= float((lg - lz).sum())
            diff = np.exp(sv - lz[:, None]) - np.exp(sg - lg[:, None])
            grad = grad + np.einsum("nc,ncf->f", diff.astype(np.float32), xs).astype(np.float64)
        return loss / n + 0.5 * l2 * float(w @ w), grad / n + l2 * w

    res = optimize.minimize(
        fun, np.zeros(f), jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-7}
    )
    return res.x, {
        "loss": float(res.fun),
        "iterations": int(res.nit),
        "converged": bool(res.success),
    }


def mlp_scores(
    x: np.ndarray, w: np.ndarray, hidden_w: np.ndarray, hidden_b: np.ndarray, out_w: np.ndarray
) -> np.ndarray:
    """Scores ``x . w + tanh(x W + c) . v`` of ``(rows, slots, features)`` candidates (float32)."""
    b, c, f = x.shape
    h = len(hidden_b)
    z = x.reshape(b * c, f) @ np.concatenate([hidden_w, w[:, None]], axis=1)  # one product
    hid = z[:, :h]
    hid += hidden_b
    np.tanh(hid, out=hid)
    return (z[:, h] + hid @ out_w).reshape(b, c)


def _unpack(theta: np.ndarray, f: int, h: int) -> tuple[np.ndarray, ...]:
    w = theta[:f]
    hw = theta[f : f + f * h].reshape(f, h)
    hb = theta[f + f * h : f + f * h + h]
    ov = theta[f + f * h + h :]
    return w, hw, hb, ov


def mlp_loss(
    theta: np.ndarray,
    x: np.ndarray,
    valid: np.ndarray,
    gold: np.ndarray,
    n_hidden: int,
    l2: float,
    chunk: int = 2048,
) -> tuple[float, np.ndarray]:
    """Penalised negative log-likelihood per message of the one-hidden-layer scorer, with gradient.

    ``theta`` = ``(w, W, c, v)`` flattened (``w``: F, ``W``: F x H row-major, ``c``: H, ``v``:
    H); the score of candidate ``c`` of message ``i`` is ``x_ic . w + v . tanh(x_ic W + c)``,
    ``P(c | i)`` its softmax over the valid candidates, and the loss
    ``-(1/n) sum_i log sum_{c in gold_i} P(c | i) + l2 / 2 (||w||^2 + ||W||^2 + ||v||^2)``
    (the hidden biases are not penalised). Gradient by back-propagation (float32 products,
    float64 sums).
    """
    n, slots, f = x.shape
    w, hw, hb, ov = (a.astype(x.dtype) for a in _unpack(theta, f, n_hidden))
    g_w = np.zeros(f)
    g_hw = np.zeros((f, n_hidden))
    g_hb = np.zeros(n_hidden)
    g_ov = np.zeros(n_hidden)
    loss = 0.0
    for rows in iter_blocks(n, chunk):
        xs = x[rows].reshape(len(rows) * slots, f)
        a = xs @ hw
        a += hb
        np.tanh(a, out=a)
        s = (xs @ w + a @ ov).reshape(len(rows), slots).astype(np.float64)
        sv = np.where(valid[rows], s, -np.inf)
        sg = np.where(gold[rows] & valid[rows], s, -np.inf)
        lz = logsumexp(sv, axis=1)
        lg = logsumexp(sg, axis=1)
        loss -= float((lg - lz).sum())
        ds = (np.exp(sv - lz[:, None]) - np.exp(sg - lg[:, None])).astype(x.dtype).ravel()
        g_w += ds @ xs
        g_ov += ds @ a
        dz = (1 - a * a) * (ds[:, None] * ov)
        g_hw += xs.T @ dz
        g_hb += dz.sum(axis=0)
    full = np.concatenate([theta[:f], theta[f : f + f * n_hidden], theta[-n_hidden:]])
    penalty = 0.5 * l2 * float(full @ full)
    grad = np.concatenate([g_w, g_hw.ravel(), g_hb, g_ov]) / n
    grad[: f + f * n_hidden] += l2 * theta[: f + f * n_hidden]
    grad[-n_hidden:] += l2 * theta[-n_hidden:]
    return loss / n + penalty, grad


def fit_mlp(
    x: np.ndarray,
    valid: np.ndarray,
    gold: np.ndarray,
    *,
    n_hidden: int = 16,
    l2: float = 1e-4,
    init: np.ndarray | None = None,
    seed: int = 0,
    maxiter: int = 300,
    snapshot_every: int = 0,
) -> tuple[np.ndarray, dict[str, Any], list[tuple[int, np.ndarray]]]:
    """Fit the one-hidden-layer scorer of :func:`mlp_loss` by L-BFGS (scipy, analytic gradient).

    Parameters
    ----------
    x, valid, gold : numpy.ndarray
        As for :func:`fit_conditional_logit`.
    n_hidden : int
        Hidden units ``H``.
    l2 : float
        Ridge penalty on ``w``, ``W`` and ``v``.
    init : numpy.ndarray, optional
        Starting linear weights ``w`` (e.g. the fitted conditional logit); zeros by default.
    seed : int
        Seed of the deterministic start of ``W`` (normal, sd 0.1) and ``v`` (normal, sd 0.01);
        ``c`` starts at zero.
    maxiter : int
        L-BFGS iterations (early stopping is done by the caller on held-out data).
    snapshot_every : int
        When > 0, also return the parameters every so many iterations (for early stopping).

    Returns
    -------
    theta : numpy.ndarray
        Flattened ``(w, W, c, v)``; :func:`split_mlp` gives the parts.
    info : dict
        ``loss``, ``iterations``, ``converged``, ``n_hidden``, ``seed``.
    snapshots : list of (iteration, theta)
    """
    n, _, f = x.shape
    ok = (gold & valid).any(axis=1)
    if not ok.all():
        raise ValueError(
            f"{int((~ok).sum())} training rows have no valid gold candidate; drop them first."
        )
    x = np.ascontiguousarray(x, dtype=np.float32)
    rng = np.random.default_rng(seed)
    theta0 = np.concatenate(
        [
            np.zeros(f) if init is None else np.asarray(init, dtype=np.float64),
            rng.normal(0.0, 0.1, f * n_hidden),
            np.zeros(n_hidden),
            rng.normal(0.0, 0.01, n_hidden),
        ]
    )
    snapshots: list[tuple[int, np.ndarray]] = []
    count = [0]

    def callback(theta: np.ndarray) -> None:
        count[0] += 1
        if snapshot_every and count[0] % snapshot_every == 0:
            snapshots.append((count[0], theta.copy()))

    res = optimize.minimize(
        mlp_loss,
        theta0,
        args=(x, valid, gold, n_hidden, l2),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": maxiter, "gtol": 1e-7},
    )
    return (
        res.x,
        {
            "loss": float(res.fun),
            "iterations": int(res.nit),
            "converged": bool(res.success),
            "n_hidden": n_hidden,
            "seed": seed,
        },
        snapshots,
    )


def split_mlp(theta: np.ndarray, n_features: int, n_hidden: int) -> dict[str, Any]:
    """``ReplyModel`` keyword arguments (coefficients and hidden layer) from a flat ``theta``."""
    w, hw, hb, ov = _unpack(np.asarray(theta, dtype=np.float64), n_features, n_hidden)
    return {
        "coefficients": tuple(float(v) for v in w),
        "hidden_weights": tuple(tuple(float(v) for v in r) for r in hw),
        "hidden_bias": tuple(float(v) for v in hb),
        "output_weights": tuple(float(v) for v in ov),
    }
