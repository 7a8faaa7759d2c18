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
  match matters more at long distances), or
* ``kind = "mlp_ensemble"``: the mean score of ``M`` such scorers fitted from different random
  starts, ``f(x) = (1/M) sum_m [w_m . x + v_m . tanh(x W_m + c_m)]`` -- a seed ensemble (the
  variance reduction of averaging members' scores, as the ensemble of feed-forward models of
  Kummerfeld et al., 2019, section 5). Its ``M`` hidden layers are stored stacked: one
  one-hidden-layer scorer with ``M H`` units whose block ``m`` (units ``m H .. (m + 1) H - 1``)
  is member ``m``'s ``W_m``, ``c_m`` and ``v_m / M``, and whose linear part is the members'
  mean ``w`` -- exactly the averaged score, evaluated in one product (:func:`stack_members`).

The parameters are fitted on hand-annotated links by maximising the log-probability of the
annotated parents (when a message has several, their total probability) with an L2 penalty,
using scipy's L-BFGS with analytic gradients (back-propagation for the MLP; the fitters are
in :mod:`._reply_fit`); ``b`` (``self_offset``) is a threshold tuned afterwards on the
development logs, and the MLP (the ensemble: one iteration count for all members) is
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

from analysis.ingest._reply_features import (
    FEATURE_NAMES,
    NameTable,
    candidate_features,
    candidate_scores,
    prepare_records,
    stack_features,
)
from analysis.ingest._reply_fit import (  # re-exported: the fitters live there
    fit_conditional_logit,
    fit_mlp,
    mlp_loss,
    split_mlp,
    stack_members,
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
    "stack_members",
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
    n_members : int
        1, or ``M > 1`` for a seed ensemble (``kind == "mlp_ensemble"``): the hidden layer is
        then ``M`` stacked blocks of ``H / M`` units, one per member, ``coefficients`` the
        members' mean linear weights and ``output_weights`` the members' ``v`` divided by ``M``
        (:func:`stack_members`), so the score is the members' mean score.
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
    n_members: int = 1

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
        if int(self.n_members) < 1 or (self.n_members > 1 and (not h or h % int(self.n_members))):
            raise ReplyModelError(
                f"reply model n_members={self.n_members!r} with {h} hidden units; expected 1, "
                f"or an ensemble whose hidden units split into n_members equal blocks."
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

    @property
    def kind(self) -> str:
        """``"mlp_ensemble"`` (several members), ``"mlp"`` (a hidden layer), else
        ``"conditional_logit"``."""
        if self.n_members > 1:
            return "mlp_ensemble"
        return "mlp" if self.hidden_bias else "conditional_logit"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "mlp_ensemble":
            out["n_members"] = int(self.n_members)
        if self.hidden_bias:
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
        if kind not in ("conditional_logit", "mlp", "mlp_ensemble"):
            raise ReplyModelError(
                f"{source}: kind {kind!r}; expected 'conditional_logit', 'mlp' or 'mlp_ensemble'."
            )
        if kind in ("mlp", "mlp_ensemble"):
            required += ("hidden_weights", "hidden_bias", "output_weights")
        if kind == "mlp_ensemble":
            required += ("n_members",)
        missing = [k for k in required if k not in data]
        if missing:
            raise ReplyModelError(f"{source}: missing field(s) {missing}; expected {required}.")
        hidden: dict[str, Any] = {}
        if kind in ("mlp", "mlp_ensemble"):
            hidden = {
                "hidden_weights": tuple(tuple(float(v) for v in r) for r in data["hidden_weights"]),
                "hidden_bias": tuple(float(v) for v in data["hidden_bias"]),
                "output_weights": tuple(float(v) for v in data["output_weights"]),
            }
            if not hidden["hidden_bias"]:
                raise ReplyModelError(f"{source}: kind {kind!r} needs at least one hidden unit.")
        if kind == "mlp_ensemble":
            hidden["n_members"] = int(data["n_members"])
            if hidden["n_members"] < 2:
                raise ReplyModelError(
                    f"{source}: kind 'mlp_ensemble' with n_members={data['n_members']!r}; "
                    f"expected at least 2 members."
                )
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
    mlp = bool(model.hidden_bias)  # "mlp" or "mlp_ensemble" (members stacked in one layer)
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
