"""Gamma–Gamma model of the average spend per transaction, fitted by maximum likelihood.

Model (Fader & Hardie 2013; Colombo & Jiang 1999)
-------------------------------------------------
The value of each transaction of customer ``i`` is :math:`z_{ij} \\sim \\text{Gamma}(p, \\nu_i)`
(shape ``p``, rate :math:`\\nu_i`), so the customer's mean spend is :math:`p/\\nu_i`; across
customers :math:`\\nu_i \\sim \\text{Gamma}(q, \\gamma)`. Observed per customer: ``x`` repeat
transactions and their mean value :math:`\\bar z`. Then
:math:`\\bar z \\mid \\nu \\sim \\text{Gamma}(px, x\\nu)` and the marginal density (equation 4 of
the note) is

.. math::

    f(\\bar z \\mid p, q, \\gamma, x) = \\frac{\\Gamma(px + q)}{\\Gamma(px)\\Gamma(q)}
    \\frac{\\gamma^q\\, \\bar z^{px-1} x^{px}}{(\\gamma + x \\bar z)^{px+q}}.

Only customers with ``x >= 1`` repeat transactions enter the fit, and their mean spend is over the
*repeat* transactions (the BTYD convention, as in Fader & Hardie's CDNOW analysis: the first
purchase is excluded). The model assumes spend is independent of the transaction process; the
conditional expected average spend of a customer (equation 5) is

.. math::

    E[Z \\mid \\bar z, x] = \\frac{q - 1}{px + q - 1}\\,\\frac{p\\gamma}{q - 1}
    + \\frac{px}{px + q - 1}\\,\\bar z = \\frac{p(\\gamma + x\\bar z)}{px + q - 1},

a weighted average of the population mean :math:`p\\gamma/(q-1)` (finite for ``q > 1``) and the
customer's own mean. Estimation, convergence checks and standard errors are those of
:mod:`analysis.conversion.bgnbd` (log-parameters; observed information, or the sandwich with
weights).

References
----------
.. [1] Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
   http://brucehardie.com/notes/025/
.. [2] Colombo, R. & Jiang, W. (1999). A stochastic RFM model. *Journal of Interactive
   Marketing* 13(3), 2-12.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from analysis.conversion.bgnbd import ModelFitError, _weights, mle_log_params

__all__ = [
    "GammaGammaFit",
    "fit_gamma_gamma",
    "gamma_gamma_conditional_spend",
    "gamma_gamma_loglik",
    "simulate_gamma_gamma",
]

GG_PARAMS = ("p", "q", "gamma")


def _check(x: np.ndarray, m: np.ndarray, source: str = "<summary>") -> None:
    for field, values, bad, expected in (
        ("frequency", x, ~np.isfinite(x) | (x < 1) | (x != np.round(x)), "a whole number >= 1"),
        ("monetary_value", m, ~np.isfinite(m) | (m <= 0), "a positive mean spend"),
    ):
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{source}: row {i}, field '{field}': got {float(values[i])!r}; expected "
                f"{expected} (Gamma–Gamma uses repeat buyers with positive spend only)"
            )


def gamma_gamma_loglik(params: Any, frequency: Any, monetary_value: Any) -> np.ndarray:
    """Per-customer log of equation (4) of Fader & Hardie (2013); ``params = (p, q, gamma)``."""
    p, q, g = (float(v) for v in params)
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + x * m)
    )


def gamma_gamma_conditional_spend(params: Any, frequency: Any, monetary_value: Any) -> np.ndarray:
    """E[Z | z̄, x] = p(γ + x z̄)/(px + q - 1), equation (5) of Fader & Hardie (2013).

    For ``x = 0`` this is the population mean ``pγ/(q - 1)``. Requires ``q > 1``.
    """
    p, q, g = (float(v) for v in params)
    if q <= 1:
        raise ValueError(f"mean spend is infinite unless q > 1, got q={q}")
    x = np.asarray(frequency, dtype=float)
    m = np.nan_to_num(np.asarray(monetary_value, dtype=float))
    return p * (g + x * m) / (p * x + q - 1)


@dataclass(frozen=True)
class GammaGammaFit:
    """A fitted Gamma–Gamma spend model.

    Attributes
    ----------
    p, q, gamma : float
        Maximum-likelihood estimates (transaction-value shape; shape and rate of the mixing
        distribution of the customer's rate ν).
    se : dict[str, float]
        Standard errors on the natural scale (delta method from the log scale).
    cov_log : numpy.ndarray
        3x3 covariance of ``log(p, q, gamma)``.
    loglik : float
        Maximised (weighted) log-likelihood.
    n_customers : int
        Repeat buyers in the fit.
    weighted : bool
        Whether case weights were used.
    """

    p: float
    q: float
    gamma: float
    se: dict[str, float]
    cov_log: np.ndarray
    loglik: float
    n_customers: int
    weighted: bool = False

    @property
    def params(self) -> tuple[float, float, float]:
        return (self.p, self.q, self.gamma)

    @property
    def mean_spend(self) -> float:
        """Population mean spend per transaction, ``pγ/(q - 1)`` (NaN when ``q <= 1``)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("nan")

    def conditional_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        return gamma_gamma_conditional_spend(self.params, frequency, monetary_value)


def fit_gamma_gamma(
    frequency: Any,
    monetary_value: Any,
    *,
    weights: Any = None,
    start: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> GammaGammaFit:
    """Fit the Gamma–Gamma spend model by maximum likelihood on repeat buyers.

    Parameters
    ----------
    frequency : array-like
        Repeat transactions ``x >= 1`` per customer.
    monetary_value : array-like
        Mean value of those repeat transactions (> 0).
    weights : array-like, optional
        Non-negative case weights; the covariance is then the sandwich.
    start : tuple
        Starting values of ``(p, q, gamma)``.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    if x.shape != m.shape:
        raise ValueError(f"frequency {x.shape} and monetary_value {m.shape} differ in length")
    if x.size < 3:
        raise ModelFitError(f"Gamma–Gamma needs at least 3 repeat buyers, got {x.size}")
    _check(x, m)
    w = _weights(weights, x.size)
    # start gamma on the scale of the data so the optimiser begins near the answer
    start_arr = np.log(np.asarray(start, dtype=float) * [1.0, 1.0, float(np.median(m))])
    theta, cov, ll = mle_log_params(
        lambda th: gamma_gamma_loglik(np.exp(th), x, m), start_arr, w, model="Gamma–Gamma"
    )
    est = np.exp(theta)
    se = dict(zip(GG_PARAMS, est * np.sqrt(np.diag(cov)), strict=True))
    return GammaGammaFit(
        *est, se=se, cov_log=cov, loglik=ll, n_customers=int(x.size), weighted=weights is not None
    )


def simulate_gamma_gamma(
    params: Any, frequency: Any, *, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """Draw each customer's mean spend over ``frequency`` transactions under Gamma–Gamma.

    ν_i ~ Gamma(q, rate γ), then z̄_i ~ Gamma(p x_i, rate x_i ν_i) (the mean of x_i
    Gamma(p, ν_i) transaction values).
    """
    p, q, g = (float(v) for v in params)
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / g, size=x.size)
    return rng.gamma(p * x, 1.0 / (x * nu))
