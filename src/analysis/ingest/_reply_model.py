"""The reply-linking model: a conditional logit over each message's candidates.

Part of :mod:`analysis.ingest.reply_inference`. Message ``i`` picks one candidate ``c`` of its
``K + 1`` (itself = new conversation, or one of the ``K`` previous messages within the horizon;
:mod:`._reply_features`) with probability

    P(c | i) = exp(w . x_ic + b [c = self]) / sum_c' exp(w . x_ic' + b [c' = self])

(McFadden's conditional logit, the linear "link scoring" model of Kummerfeld et al., 2019,
section 5, trained as a softmax over candidates). ``w`` is fitted on hand-annotated links by
maximising the log-probability of the annotated parents (when a message has several, their
total probability) with an L2 penalty, using scipy's L-BFGS; ``b`` (``self_offset``) is a
threshold tuned afterwards on the development logs. The prediction is the most probable
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
)

__all__ = [
    "DEFAULT_MODEL_FILE",
    "ReplyModel",
    "ReplyModelError",
    "fit_conditional_logit",
    "link_records",
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
    """

    feature_names: tuple[str, ...]
    coefficients: tuple[float, ...]
    k_max: int = 50
    horizon_minutes: float = 120.0
    self_offset: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

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
        if int(self.k_max) < 1 or not float(self.horizon_minutes) > 0:
            raise ReplyModelError(
                f"reply model k_max={self.k_max!r}, horizon_minutes={self.horizon_minutes!r}; "
                f"expected k_max >= 1 and a positive horizon."
            )

    @property
    def weights(self) -> np.ndarray:
        """``coefficients`` as a float64 array."""
        return np.asarray(self.coefficients, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
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
        missing = [k for k in required if k not in data]
        if missing:
            raise ReplyModelError(f"{source}: missing field(s) {missing}; expected {required}.")
        try:
            return cls(
                feature_names=tuple(str(x) for x in data["feature_names"]),
                coefficients=tuple(float(x) for x in data["coefficients"]),
                k_max=int(data["k_max"]),
                horizon_minutes=float(data["horizon_minutes"]),
                self_offset=float(data["self_offset"]),
                metadata=dict(data.get("metadata", {})),
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
    for start in range(0, len(todo), _BLOCK):
        block = todo[start : start + _BLOCK]
        self_feats, pair, valid = candidate_features(rec, block, model.k_max, model.horizon_minutes)
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
