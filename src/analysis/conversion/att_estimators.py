"""The three ATT estimators on arrays: odds weighting, doubly robust, nearest-neighbour matching.

All three estimate the average effect on the treated, ``ATT = E[Y(1) − Y(0) | T = 1]``, under
unconfoundedness given the covariates and overlap (``e(x) < 1``) (Imbens 2004, REStat 86(1)).

Odds weighting (IPW for the ATT)
    ``ATT = mean(Y | T=1) − Σ_{T=0} o_i Y_i / Σ_{T=0} o_i`` with ``o = e / (1 − e)`` (normalised
    weights; Hirano, Imbens & Ridder 2003; Imbens 2004 §III.C).
Doubly robust (AIPW for the ATT)
    With ``m0(x)`` the least-squares regression of ``Y`` on the outcome terms among controls:
    ``ATT = mean(Y − m0(X) | T=1) − Σ_{T=0} o_i (Y_i − m0(X_i)) / Σ_{T=0} o_i`` — the
    "improved"/standardised DR ATT of Sant'Anna & Zhao (2020), J. Econometrics 219(1), eq. 3.1
    (cross-section case), consistent if either the propensity or the outcome model is right.
Standard errors of both
    M-estimation sandwich over the stacked estimating equations (logit score, least squares among
    controls, the two means), so the uncertainty of the fitted propensity and outcome models is
    included (Stefanski & Boos 2002, Am. Stat. 56(1); Lunceford & Davidian 2004).
Nearest-neighbour matching
    Each treated unit is matched with replacement to the control(s) nearest on the logit of the
    propensity score (one neighbour; exact ties all kept with equal weight; no caliper);
    ``ATT = mean_i (Y_i − Ŷ0_i)`` (Rosenbaum & Rubin 1983; Abadie & Imbens 2006). SE: Abadie &
    Imbens (2006, Econometrica 74(1)) variance for matching with replacement,
    ``V = [Σ_{T=1} (Y_i − Ŷ0_i − ATT)² + Σ_{T=0} (K_j² − Σ_i w_ij²) σ̂²_j] / n1²`` with ``K_j``
    the times control ``j`` is used (weights ``w_ij``) and ``σ̂²_j = ½ (Y_j − Y_l)²``, ``l`` the
    control nearest to ``j``; it treats the score as known (Abadie & Imbens 2016 show the
    correction for an estimated score is small for the ATT; coverage is checked by simulation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

__all__ = ["Estimate", "doubly_robust_att", "matching_att", "weighting_att"]


@dataclass(frozen=True, eq=False)
class Estimate:
    """One ATT estimate on arrays: the point, its SE and the controls' weights."""

    estimate: float
    se: float
    control_weights: np.ndarray  # per control, in the order of the controls in the data


def _sandwich_att(
    t: np.ndarray, y: np.ndarray, X: np.ndarray, beta: np.ndarray, Z: np.ndarray | None
) -> Estimate:
    """Odds-weighted (``Z is None``) or doubly robust (``Z`` = outcome design) ATT with its
    stacked-estimating-equation sandwich SE (see the module docstring)."""
    n, k = X.shape
    c = 1.0 - t
    lin = X @ beta
    e = expit(lin)
    o = np.exp(lin)
    if Z is not None:
        q = Z.shape[1]
        zc = Z[c == 1]
        try:
            gamma = np.linalg.solve(zc.T @ zc, zc.T @ y[c == 1])  # least squares, normal eqs
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                "the outcome regression among controls is singular: an outcome term is "
                "constant or collinear among the controls"
            ) from exc
        r = y - Z @ gamma
    else:
        q = 0
        r = y
    w0 = c * o
    mu1 = float(np.sum(t * r) / np.sum(t))
    mu0 = float(np.sum(w0 * r) / np.sum(w0))
    # per-observation estimating functions, columns (beta, gamma, mu1, mu0)
    psi = np.empty((n, k + q + 2))
    psi[:, :k] = X * (t - e)[:, None]
    if q:
        psi[:, k : k + q] = Z * (c * r)[:, None]
    psi[:, k + q] = t * (r - mu1)
    psi[:, k + q + 1] = w0 * (r - mu0)
    # mean Jacobian of the estimating functions
    J = np.zeros((k + q + 2, k + q + 2))
    J[:k, :k] = -(X * (e * (1 - e))[:, None]).T @ X / n
    if q:
        J[k : k + q, k : k + q] = -(Z * c[:, None]).T @ Z / n
        J[k + q, k : k + q] = -(t[:, None] * Z).mean(axis=0)
        J[k + q + 1, k : k + q] = -(w0[:, None] * Z).mean(axis=0)
    J[k + q, k + q] = -t.mean()
    J[k + q + 1, :k] = ((w0 * (r - mu0))[:, None] * X).mean(axis=0)
    J[k + q + 1, k + q + 1] = -w0.mean()
    B = psi.T @ psi / n
    g = np.zeros(k + q + 2)
    g[k + q], g[k + q + 1] = 1.0, -1.0
    # var(att) = g' J^-1 B J^-T g / n; solve J' a = g once
    a = np.linalg.solve(J.T, g)
    var = float(a @ B @ a) / n
    return Estimate(mu1 - mu0, float(np.sqrt(max(var, 0.0))), o[c == 1])


def weighting_att(t: np.ndarray, y: np.ndarray, X: np.ndarray, beta: np.ndarray) -> Estimate:
    """Odds-weighted ATT (normalised weights) with its sandwich SE; module docstring."""
    return _sandwich_att(t, y, X, beta, None)


def doubly_robust_att(
    t: np.ndarray, y: np.ndarray, X: np.ndarray, beta: np.ndarray, Z: np.ndarray
) -> Estimate:
    """Doubly robust ATT (Sant'Anna & Zhao 2020) with its sandwich SE; module docstring.

    ``Z`` is the outcome-regression design including an intercept column.
    """
    return _sandwich_att(t, y, X, beta, Z)


def _range_add(n: int, lo: np.ndarray, hi: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Array of length ``n`` with ``value[i]`` added on ``[lo[i], hi[i])`` for every ``i``."""
    diff = np.zeros(n + 1)
    np.add.at(diff, lo, value)
    np.add.at(diff, hi, -value)
    return np.cumsum(diff[:-1])


def matching_att(t: np.ndarray, y: np.ndarray, score: np.ndarray) -> Estimate:
    """One-to-one nearest-neighbour matching with replacement on ``score`` (the propensity
    logit), exact ties kept, with the Abadie–Imbens (2006) SE; see the module docstring."""
    treated = t == 1
    lt, yt = score[treated], y[treated]
    controls = np.flatnonzero(~treated)
    order = np.argsort(score[controls], kind="stable")
    lc, yc = score[controls][order], y[controls][order]
    n0 = lc.size
    pos = np.searchsorted(lc, lt)
    left = np.where(pos > 0, lt - lc[np.maximum(pos - 1, 0)], np.inf)
    right = np.where(pos < n0, lc[np.minimum(pos, n0 - 1)] - lt, np.inf)
    d = np.minimum(left, right)
    tol = 1e-12 * (1.0 + np.abs(lt))
    lo = np.searchsorted(lc, lt - d - tol, side="left")
    hi = np.searchsorted(lc, lt + d + tol, side="right")
    size = hi - lo
    csum = np.r_[0.0, np.cumsum(yc)]
    y0_hat = (csum[hi] - csum[lo]) / size
    diff = yt - y0_hat
    att = float(diff.mean())
    n1 = lt.size
    k = _range_add(n0, lo, hi, 1.0 / size)
    k2 = _range_add(n0, lo, hi, 1.0 / size**2)
    # sigma^2 of each control from its nearest other control on the score
    gap_prev = np.r_[np.inf, np.diff(lc)]
    gap_next = np.r_[np.diff(lc), np.inf]
    nb = np.where(gap_prev <= gap_next, np.arange(n0) - 1, np.arange(n0) + 1)
    sigma2 = 0.5 * (yc - yc[nb]) ** 2 if n0 > 1 else np.zeros(n0)
    var = (np.sum((diff - att) ** 2) + np.sum((k**2 - k2) * sigma2)) / n1**2
    weights = np.empty(n0)
    weights[order] = k
    return Estimate(att, float(np.sqrt(var)), weights)
