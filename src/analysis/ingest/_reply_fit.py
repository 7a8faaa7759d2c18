"""Fitting the reply-linking model: conditional logit, one-hidden-layer scorer, seed ensemble.

Part of :mod:`analysis.ingest.reply_inference` (the model is described in
:mod:`._reply_model`). Both fitters maximise the penalised log-probability of the annotated
parents (when a message has several, their total probability) under a softmax over each
message's candidates, with scipy's L-BFGS-B and analytic gradients (back-propagation for the
hidden layer); :func:`stack_members` turns several fitted scorers into the one stacked layer
of a seed ensemble (Kummerfeld et al. 2019, ACL, section 5, average an ensemble of
feed-forward link scorers). Training driver: ``scripts/train_reply_model.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

from analysis.ingest._reply_features import iter_blocks

__all__ = ["fit_conditional_logit", "fit_mlp", "mlp_loss", "split_mlp", "stack_members"]


def _training_features(x: np.ndarray, gold: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``x`` as contiguous float32, after checking every row has a valid gold candidate."""
    ok = (gold & valid).any(axis=1)
    if not ok.all():
        raise ValueError(
            f"{int((~ok).sum())} training rows have no valid gold candidate; drop them first."
        )
    return np.ascontiguousarray(x, dtype=np.float32)


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
    x = _training_features(x, gold, valid)
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
    x = _training_features(x, gold, valid)
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


def stack_members(members: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """``ReplyModel`` keyword arguments of the seed ensemble whose score is the members' mean.

    Parameters
    ----------
    members : sequence of dict
        Each member's ``coefficients``, ``hidden_weights``, ``hidden_bias``, ``output_weights``
        (as from :func:`split_mlp`), all with the same number of hidden units ``H``.

    Returns
    -------
    dict
        ``coefficients`` = mean of the members' ``w``; ``hidden_weights`` / ``hidden_bias`` =
        the members' ``W_m`` / ``c_m`` side by side (block ``m`` = units ``m H .. (m+1) H - 1``);
        ``output_weights`` = the members' ``v_m / M``; ``n_members`` = ``M``. Then
        ``w . x + v . tanh(x W + c) = (1/M) sum_m [w_m . x + v_m . tanh(x W_m + c_m)]``.
        A single member is returned unchanged (``n_members`` 1).
    """
    if not members:
        raise ValueError("stack_members: no members.")
    m = len(members)
    sizes = {len(p["hidden_bias"]) for p in members}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"stack_members: members have hidden layers of sizes {sorted(sizes)}.")
    w = np.mean([np.asarray(p["coefficients"], dtype=np.float64) for p in members], axis=0)
    hw = np.concatenate([np.asarray(p["hidden_weights"], dtype=np.float64) for p in members], 1)
    hb = np.concatenate([np.asarray(p["hidden_bias"], dtype=np.float64) for p in members])
    ov = np.concatenate([np.asarray(p["output_weights"], dtype=np.float64) for p in members]) / m
    return {
        "coefficients": tuple(float(v) for v in w),
        "hidden_weights": tuple(tuple(float(v) for v in r) for r in hw),
        "hidden_bias": tuple(float(v) for v in hb),
        "output_weights": tuple(float(v) for v in ov),
        "n_members": m,
    }
