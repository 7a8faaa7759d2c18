"""Posterior arithmetic behind bayes.py: Beta integrals by quadrature and normal approximations.

Array helpers (one element per comparison) for the exact two-arm Beta posterior by
``QUADRATURE_NODES``-point Gauss–Hermite quadrature, the scalar :class:`_TwoBeta` whose
interval limits come from root-finding, and the normal-approximation moments of
:func:`~analysis.experiments.bayes.bayes_binomial` (``method="normal"``) and
:func:`~analysis.experiments.bayes.bayes_means`. The formulas are documented in
:mod:`analysis.experiments.bayes`.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
from scipy import integrate, optimize, special

#: Gauss–Hermite nodes used for the exact Beta posterior integrals.
QUADRATURE_NODES = 64


# --------------------------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------------------------


@cache
def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and weights normalised to sum to 1 (E over N(0, 1))."""
    z, w = special.roots_hermitenorm(n)
    return z, w / w.sum()


def _beta_quantile_of_z(a: Any, b: Any, z: Any) -> np.ndarray:
    """``F^{-1}(Φ(z))`` for Beta(a, b), using the upper tail for z > 0 (no loss of precision)."""
    z = np.asarray(z, dtype=float)
    lower = special.betaincinv(a, b, special.ndtr(np.minimum(z, 0.0)))
    upper = special.betainccinv(a, b, special.ndtr(-np.maximum(z, 0.0)))
    return np.where(z <= 0, lower, upper)


def _beta_var(a: Any, b: Any) -> np.ndarray:
    return a * b / ((a + b) ** 2 * (a + b + 1.0))


def _beta_two_arm_arrays(
    a_c: Any, b_c: Any, a_t: Any, b_t: Any, nodes: int = QUADRATURE_NODES
) -> dict[str, np.ndarray]:
    r"""Chance to win, absolute and relative expected losses for Beta posteriors (quadrature).

    Arguments broadcast (one element per experiment). Integrates over the arm with the smaller
    posterior variance (the *outer* arm, nodes :math:`x_j`), using closed forms for the other
    (*inner*) arm; the control is forced outer when :math:`a_c \le 1` so that no
    :math:`E[1/p_c]` term is needed.

    Returns ``chance_to_win``, ``risk_abs_control`` (:math:`E[(p_t-p_c)^+]`, loss of keeping
    the control), ``risk_abs_treatment`` (:math:`E[(p_c-p_t)^+]`), ``risk_rel_control``
    (:math:`E[(p_t/p_c-1)^+]`, ``inf`` if :math:`a_c \le 1`), ``risk_rel_treatment``
    (:math:`E[(1-p_t/p_c)^+]`) and ``relative_lift_mean`` (:math:`E[p_t/p_c] - 1`).
    """
    a_c, b_c, a_t, b_t = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (a_c, b_c, a_t, b_t))
    )
    m_c = a_c / (a_c + b_c)
    m_t = a_t / (a_t + b_t)
    oc = (_beta_var(a_c, b_c) <= _beta_var(a_t, b_t)) | (a_c <= 1.0)
    a_o, b_o = np.where(oc, a_c, a_t), np.where(oc, b_c, b_t)
    a_i, b_i = np.where(oc, a_t, a_c), np.where(oc, b_t, b_c)
    m_i = np.where(oc, m_t, m_c)

    z, w = _hermite(nodes)
    ex = (..., None)
    x = _beta_quantile_of_z(a_o[ex], b_o[ex], z)
    a_i, b_i, m_i, occ = a_i[ex], b_i[ex], m_i[ex], oc[ex]
    s_cdf = special.betainc(a_i, b_i, x)
    s_sf = special.betaincc(a_i, b_i, x)
    j_cdf = special.betainc(a_i + 1.0, b_i, x)
    j_sf = special.betaincc(a_i + 1.0, b_i, x)
    upper = m_i * j_sf - x * s_sf  # E[(P_inner - x)^+]
    lower = x * s_cdf - m_i * j_cdf  # E[(x - P_inner)^+]

    # Relative losses. Outer control (x = p_c): divide the partial expectations by x.
    # Outer treatment (x = p_t, inner control): E[1/p_c; p_c < x] = k I_x(a_c - 1, b_c).
    a_safe = np.where(a_i > 1.0, a_i - 1.0, 1.0)
    k = (a_i + b_i - 1.0) / a_safe
    k_cdf = special.betainc(a_safe, b_i, x)
    k_sf = special.betaincc(a_safe, b_i, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_plus = np.where(occ, upper / x, x * k * k_cdf - s_cdf)
        rel_minus = np.where(occ, lower / x, s_sf - x * k * k_sf)

    def expect(values: np.ndarray) -> np.ndarray:
        return np.sum(values * w, axis=-1)

    ctw = expect(np.where(occ, s_sf, s_cdf))
    loss_control = expect(np.where(occ, upper, lower))
    loss_treatment = expect(np.where(occ, lower, upper))
    with np.errstate(divide="ignore", invalid="ignore"):
        k_c = (a_c + b_c - 1.0) / np.where(a_c > 1.0, a_c - 1.0, 1.0)
        lift_mean = np.where(a_c > 1.0, m_t * k_c - 1.0, np.inf)
    return {
        "chance_to_win": np.clip(ctw, 0.0, 1.0),
        "risk_abs_control": np.maximum(loss_control, 0.0),
        "risk_abs_treatment": np.maximum(loss_treatment, 0.0),
        "risk_rel_control": np.where(a_c > 1.0, np.maximum(expect(rel_plus), 0.0), np.inf),
        "risk_rel_treatment": np.clip(expect(rel_minus), 0.0, 1.0),
        "relative_lift_mean": lift_mean,
    }


def _normal_effect_arrays(estimate: Any, se: Any) -> dict[str, np.ndarray]:
    r"""For a posterior :math:`N(m, s^2)`: ``P(X > 0)``, ``E[max(X, 0)]`` and ``E[max(-X, 0)]``.

    NaN where ``s`` is not positive (the normal approximation has nothing to work with).
    """
    m = np.asarray(estimate, dtype=float)
    s = np.asarray(se, dtype=float)
    ok = s > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = np.where(ok, m / np.where(ok, s, 1.0), np.nan)
        plus = m * special.ndtr(zz) + s * np.exp(-0.5 * zz * zz) / math.sqrt(2.0 * math.pi)
    return {
        "chance_to_win": np.where(ok, special.ndtr(zz), np.nan),
        "loss_control": np.where(ok, plus, np.nan),
        "loss_treatment": np.where(ok, plus - m, np.nan),
    }


def _normal_moments(
    mean_c: Any, var_c: Any, n_c: Any, mean_t: Any, var_t: Any, n_t: Any
) -> dict[str, np.ndarray]:
    """Absolute difference and delta-method relative lift with their standard errors."""
    mean_c = np.asarray(mean_c, dtype=float)
    mean_t = np.asarray(mean_t, dtype=float)
    vc = np.asarray(var_c, dtype=float) / np.asarray(n_c, dtype=float)
    vt = np.asarray(var_t, dtype=float) / np.asarray(n_t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_c = np.where(mean_c != 0, mean_c, np.nan)
        lift = mean_t / safe_c - 1.0
        se_rel = np.sqrt(vt / safe_c**2 + mean_t**2 * vc / safe_c**4)
    return {"diff": mean_t - mean_c, "se": np.sqrt(vc + vt), "lift": lift, "se_rel": se_rel}


# --------------------------------------------------------------------------------------------
# Exact two-arm Beta posterior: scalar helpers (intervals by root-finding)
# --------------------------------------------------------------------------------------------


class _TwoBeta:
    r"""CDFs of δ = p_t − p_c and of r = p_t / p_c for one pair of Beta posteriors.

    Each CDF is an expectation over the posterior with the smaller variance (the *outer* arm),
    integrated adaptively in probability space, :math:`\int_0^1 g(F_o^{-1}(u))\,du`, with the
    other arm's CDF in closed form inside; the integrand is bounded and monotone, so adaptive
    quadrature copes with its kinks (where a limit is clipped to [0, 1]).
    """

    def __init__(self, a_c: float, b_c: float, a_t: float, b_t: float) -> None:
        self.a_c, self.b_c, self.a_t, self.b_t = a_c, b_c, a_t, b_t
        self.outer_control = bool(_beta_var(a_c, b_c) <= _beta_var(a_t, b_t))
        self.a_o, self.b_o = (a_c, b_c) if self.outer_control else (a_t, b_t)

    def _expect(self, g: Any) -> float:
        def h(u: float) -> float:
            return float(g(special.betaincinv(self.a_o, self.b_o, u)))

        value = integrate.quad(h, 0.0, 1.0, limit=200, epsabs=1e-12, epsrel=1e-10)[0]
        return min(max(value, 0.0), 1.0)

    def cdf_diff(self, d: float) -> float:
        """P(p_t − p_c ≤ d)."""
        if self.outer_control:
            return self._expect(
                lambda x: special.betainc(self.a_t, self.b_t, min(max(x + d, 0), 1))
            )
        return self._expect(lambda y: special.betaincc(self.a_c, self.b_c, min(max(y - d, 0), 1)))

    def cdf_ratio(self, r: float) -> float:
        """P(p_t / p_c ≤ r) for r > 0."""
        if self.outer_control:
            return self._expect(lambda x: special.betainc(self.a_t, self.b_t, min(r * x, 1.0)))
        return self._expect(lambda y: special.betaincc(self.a_c, self.b_c, min(y / r, 1.0)))

    def diff_quantile(self, q: float) -> float:
        return float(optimize.brentq(lambda d: self.cdf_diff(d) - q, -1.0, 1.0, xtol=1e-12))

    def ratio_quantile(self, q: float) -> float:
        """Quantile of p_t / p_c, found on the log scale with an expanding bracket."""

        def f(s: float) -> float:
            return self.cdf_ratio(math.exp(s)) - q

        lo, hi = -1.0, 1.0
        while f(lo) > 0 and lo > -700:
            lo *= 2.0
        while f(hi) < 0 and hi < 700:
            hi *= 2.0
        return math.exp(optimize.brentq(f, lo, hi, xtol=1e-12))
