"""BG/NBD model of repeat purchasing ("buy till you die"), fitted by maximum likelihood.

Model (Fader, Hardie & Lee 2005)
--------------------------------
While alive, a customer buys as a Poisson process with rate :math:`\\lambda`; after every
purchase the customer drops out ("dies") with probability :math:`p`. Across customers
:math:`\\lambda \\sim \\text{Gamma}(r, \\alpha)` (shape ``r``, rate ``alpha``) and
:math:`p \\sim \\text{Beta}(a, b)`. Time is measured in periods (e.g. weeks) from the customer's
first purchase. Per customer the data are

``x`` (frequency)
    Number of repeat purchases (periods with a purchase after the first one) in ``(0, T]``.
``t_x`` (recency)
    Time of the last repeat purchase (0 when ``x = 0``).
``T`` (age)
    Length of the observation window since the first purchase.

The likelihood of one customer is equation (6) of the paper,

.. math::

    L = \\frac{B(a, b + x)}{B(a, b)}
        \\frac{\\Gamma(r + x)\\, \\alpha^r}{\\Gamma(r)(\\alpha + T)^{r+x}}
      + \\delta_{x>0} \\frac{B(a + 1, b + x - 1)}{B(a, b)}
        \\frac{\\Gamma(r + x)\\, \\alpha^r}{\\Gamma(r)(\\alpha + t_x)^{r+x}},

evaluated on the log scale with ``gammaln`` and ``logaddexp``. Parameters are estimated on the
log scale (all four are positive) with BFGS (a Nelder–Mead polish when it stops early); the
fit fails with :class:`ModelFitError` unless the gradient of the mean log-likelihood at the
optimum is below 1e-4 and the Hessian there is positive definite.
Standard errors come from the observed information (the numerical Hessian of the negative
log-likelihood in log-parameters, ``statsmodels.tools.numdiff.approx_hess3``), mapped to the
natural scale by the delta method (``se(θ) = θ · se(log θ)``). With case weights the weighted
log-likelihood is maximised and the covariance is the robust sandwich
:math:`H^{-1} (\\sum_i w_i^2 s_i s_i^\\top) H^{-1}` (Huber 1967; scores ``s_i`` by central
differences), which is the right variance for survey-style or ATT weights.

When the data show no heterogeneity in drop-out, ``a`` and ``b`` run off to infinity together
(``a / (a + b)`` stays fixed, the Beta collapses to a point); the fit then stops far out on a
flat ridge, where predictions are fine but the standard errors of ``a`` and ``b`` mean little.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
   way: an alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing P(alive) using the BG/NBD
   model. http://brucehardie.com/notes/021/
.. [3] Huber, P. J. (1967). The behavior of maximum likelihood estimates under nonstandard
   conditions. *Proc. Fifth Berkeley Symposium* 1, 221-233.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special
from statsmodels.tools.numdiff import approx_fprime, approx_hess3

__all__ = [
    "BgNbdFit",
    "ModelFitError",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases_new",
    "bgnbd_loglik",
    "bgnbd_p_alive",
    "fit_bgnbd",
    "simulate_bgnbd",
]

BGNBD_PARAMS = ("r", "alpha", "a", "b")


class ModelFitError(ValueError):
    """The maximum-likelihood fit did not converge or the data cannot identify the model."""


def _arrays(x: Any, t_x: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return x, t_x, T


def check_rft(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, source: str = "<summary>") -> None:
    """Raise a clear ``ValueError`` when frequency/recency/age are not a valid BTYD summary."""
    checks = (
        ("frequency", x, ~np.isfinite(x) | (x < 0) | (x != np.round(x)), "a whole number >= 0"),
        ("recency", t_x, ~np.isfinite(t_x) | (t_x < 0) | (t_x > T + 1e-9), "0 <= recency <= T"),
        ("T", T, ~np.isfinite(T) | (T < 0), "a non-negative age"),
        ("recency", t_x, (x > 0) & (t_x <= 0), "positive when frequency > 0"),
    )
    for field, values, bad, expected in checks:
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{source}: row {i}, field '{field}': got {float(values[i])!r} (frequency="
                f"{float(x[i])!r}, recency={float(t_x[i])!r}, T={float(T[i])!r}); "
                f"expected {expected}"
            )


def bgnbd_loglik(params: Any, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, equation (6) of Fader, Hardie & Lee (2005).

    Parameters
    ----------
    params : sequence of 4 floats
        ``(r, alpha, a, b)`` on the natural (positive) scale.
    x, t_x, T : array-like
        Frequency, recency and age of each customer (periods since the first purchase).

    Returns
    -------
    numpy.ndarray
        ``log L_i`` per customer.
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t_x, T = _arrays(x, t_x, T)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    xr = x[repeat]
    a4[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    return a1 + a2 + np.logaddexp(a3, a4)


def _log_odds_dead(params: Any, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``log[a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)]`` for x > 0, ``-inf`` for x = 0."""
    r, alpha, a, b = (float(v) for v in params)
    out = np.full_like(x, -np.inf)
    rep = x > 0
    out[rep] = (
        np.log(a)
        - np.log(b + x[rep] - 1)
        + (r + x[rep]) * (np.log(alpha + T[rep]) - np.log(alpha + t_x[rep]))
    )
    return out


def bgnbd_p_alive(params: Any, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """P(customer still alive at ``T`` | x, t_x, T), equation (A.1) of Fader, Hardie & Lee (2008).

    ``1 / (1 + δ_{x>0} · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x))``; a customer with no repeat
    purchase is alive with probability 1 under BG/NBD (death happens only after a purchase).
    """
    x, t_x, T = _arrays(x, t_x, T)
    return special.expit(-_log_odds_dead(params, x, t_x, T))


def bgnbd_conditional_expected_purchases(
    params: Any, t: Any, x: Any, t_x: Any, T: Any
) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected repeat purchases in the next ``t`` periods, eq. (10) of FHL.

    .. math::

        \\frac{a+b+x-1}{a-1}
        \\frac{1 - \\left(\\frac{\\alpha+T}{\\alpha+T+t}\\right)^{r+x}
        {}_2F_1\\!\\left(r+x, b+x; a+b+x-1; \\frac{t}{\\alpha+T+t}\\right)}
        {1 + \\delta_{x>0}\\frac{a}{b+x-1}\\left(\\frac{\\alpha+T}{\\alpha+t_x}\\right)^{r+x}}

    Valid for any ``a > 0`` (for ``a < 1`` both the prefactor and the bracket are negative); the
    Gauss hypergeometric function is ``scipy.special.hyp2f1``.
    """
    r, alpha, a, b = (float(v) for v in params)
    x, t_x, T = _arrays(x, t_x, T)
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp
    return head * body * special.expit(-_log_odds_dead(params, x, t_x, T))


def bgnbd_expected_purchases_new(params: Any, t: Any) -> np.ndarray:
    """E[X(t)] for a customer just acquired: equation (9) of Fader, Hardie & Lee (2005).

    ``(a+b-1)/(a-1) · [1 - (α/(α+t))^r · 2F1(r, b; a+b-1; t/(α+t))]``.
    """
    r, alpha, a, b = (float(v) for v in params)
    t = np.asarray(t, dtype=float)
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


@dataclass(frozen=True)
class BgNbdFit:
    """A fitted BG/NBD model.

    Attributes
    ----------
    r, alpha, a, b : float
        Maximum-likelihood estimates (Gamma shape/rate of the purchase rate; Beta parameters of
        the drop-out probability).
    se : dict[str, float]
        Standard errors on the natural scale (delta method from the log-scale covariance).
    cov_log : numpy.ndarray
        4x4 covariance of ``log(r, alpha, a, b)`` (observed information, or sandwich with weights).
    loglik : float
        Maximised (weighted) log-likelihood.
    n_customers : int
        Customers in the fit.
    weighted : bool
        Whether case weights were used.
    """

    r: float
    alpha: float
    a: float
    b: float
    se: dict[str, float]
    cov_log: np.ndarray
    loglik: float
    n_customers: int
    weighted: bool = False

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)

    def conditional_expected_purchases(self, t: float, x: Any, t_x: Any, T: Any) -> np.ndarray:
        return bgnbd_conditional_expected_purchases(self.params, t, x, t_x, T)

    def p_alive(self, x: Any, t_x: Any, T: Any) -> np.ndarray:
        return bgnbd_p_alive(self.params, x, t_x, T)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        return bgnbd_expected_purchases_new(self.params, t)


def mle_log_params(
    loglik_obs: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    weights: np.ndarray,
    *,
    model: str,
    accept_ridge: Callable[[np.ndarray, np.ndarray], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Maximise ``sum(w_i * loglik_obs(theta)_i)`` over log-parameters ``theta``.

    Returns ``(theta_hat, cov_theta, loglik)``; shared by BG/NBD and Gamma–Gamma. Raises
    :class:`ModelFitError` when the gradient at the optimum is not small,
    or the Hessian is not positive definite (parameters not identified by the data).
    """
    total = float(weights.sum())

    def objective(theta: np.ndarray) -> float:
        value = -float(np.dot(weights, loglik_obs(theta))) / total
        return value if np.isfinite(value) else 1e100

    fit = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-8})
    theta = fit.x
    grad = approx_fprime(theta, objective, centered=True)
    if not np.all(np.isfinite(grad)) or np.max(np.abs(grad)) > 1e-6:
        # BFGS stopped early (flat ridge, precision loss): polish with the simplex
        polish = optimize.minimize(
            objective,
            theta,
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 20_000, "maxfev": 20_000},
        )
        if polish.fun <= fit.fun:
            theta = polish.x
            grad = approx_fprime(theta, objective, centered=True)
    # convergence is judged by the gradient of the mean log-likelihood at the optimum
    converged = np.all(np.isfinite(grad)) and np.max(np.abs(grad)) <= 1e-4
    if not converged and accept_ridge is not None and np.all(np.isfinite(grad)):
        converged = accept_ridge(theta, grad)
    if not converged:
        raise ModelFitError(
            f"{model}: no interior maximum found (gradient {np.round(grad, 6).tolist()} at "
            f"log-parameters {np.round(theta, 4).tolist()}); the data may not identify the model"
        )
    hess = approx_hess3(theta, lambda th: -float(np.dot(weights, loglik_obs(th))))
    try:
        inv = np.linalg.inv(hess)
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError as exc:
        raise ModelFitError(
            f"{model}: Hessian at the optimum is not positive definite; parameters not identified"
        ) from exc
    if np.allclose(weights, 1.0):
        cov = inv
    else:
        scores = approx_fprime(theta, loglik_obs, centered=True)  # (n, k) per-customer scores
        meat = (scores * (weights**2)[:, None]).T @ scores
        cov = inv @ meat @ inv
    loglik = float(np.dot(weights, loglik_obs(theta)))
    return theta, cov, loglik


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"weights must be {n} finite non-negative numbers with a positive sum, got shape "
            f"{w.shape} (min {np.nanmin(w) if w.size else 'n/a'})"
        )
    return w


def _on_dropout_ridge(theta: np.ndarray, grad: np.ndarray) -> bool:
    """Accept an optimum far out on the ``a, b → ∞`` ridge (see the module docstring).

    There the likelihood keeps rising, ever more slowly, along ``log a = log b + const``: the
    gradient is zero for ``r`` and ``alpha`` and across the ridge (``∂/∂log a − ∂/∂log b``) but
    not along it. Accepted when ``a`` and ``b`` both exceed ``e^8`` (≈ 3,000), the gradient for
    ``r`` and ``alpha`` is below 1e-4 and across the ridge below 1e-3 (that far out, the log-beta
    differences lose digits, so the across-ridge gradient cannot be driven lower).
    """
    across = abs(grad[2] - grad[3]) / np.sqrt(2)
    return bool(
        theta[2] > 8 and theta[3] > 8 and np.max(np.abs(grad[:2])) <= 1e-4 and across <= 1e-3
    )


def fit_bgnbd(
    frequency: Any,
    recency: Any,
    T: Any,
    *,
    weights: Any = None,
    start: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
) -> BgNbdFit:
    """Fit BG/NBD by maximum likelihood (see the module docstring for the method).

    Parameters
    ----------
    frequency, recency, T : array-like
        Per-customer summary (:func:`analysis.conversion.ltv.customer_summary`).
    weights : array-like, optional
        Non-negative case weights (e.g. ATT weights); the covariance is then the sandwich.
    start : tuple
        Starting values of ``(r, alpha, a, b)``.

    Returns
    -------
    BgNbdFit
    """
    x, t_x, age = _arrays(frequency, recency, T)
    check_rft(x, t_x, age)
    if x.size == 0 or not np.any(x > 0):
        raise ModelFitError(
            f"BG/NBD needs customers with repeat purchases; got {x.size} customers, none repeat"
        )
    w = _weights(weights, x.size)
    theta, cov, ll = mle_log_params(
        lambda th: bgnbd_loglik(np.exp(th), x, t_x, age),
        np.log(start),
        w,
        model="BG/NBD",
        accept_ridge=_on_dropout_ridge,
    )
    est = np.exp(theta)
    se = dict(zip(BGNBD_PARAMS, est * np.sqrt(np.diag(cov)), strict=True))
    return BgNbdFit(
        *est, se=se, cov_log=cov, loglik=ll, n_customers=int(x.size), weighted=weights is not None
    )


def simulate_bgnbd(
    params: Any, T: Any, *, seed: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(frequency, recency)`` for customers observed for ``T`` periods under BG/NBD.

    Each customer gets λ ~ Gamma(r, rate α) and p ~ Beta(a, b); purchases follow a Poisson
    process with rate λ, and after each purchase the customer dies with probability p (FHL 2005,
    section 3). Used by the validation tests to check that :func:`fit_bgnbd` recovers planted
    parameters.
    """
    r, alpha, a, b = (float(v) for v in params)
    rng = np.random.default_rng(seed)
    age = np.asarray(T, dtype=float)
    lam = rng.gamma(r, 1.0 / alpha, size=age.size)
    p = rng.beta(a, b, size=age.size)
    freq = np.zeros(age.size)
    rec = np.zeros(age.size)
    for i in range(age.size):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > age[i]:
                break
            freq[i] += 1
            rec[i] = t
            if rng.random() < p[i]:
                break
    return freq, rec
