"""Propensity scores for the effect on the treated: the logit fit, overlap and effective sizes.

Definitions
-----------
Propensity score
    ``e(x) = P(T = 1 | X = x)``, fitted by maximum-likelihood logistic regression
    (``statsmodels.api.Logit``) on an intercept plus the propensity terms. The terms are a
    patsy right-hand side (e.g. Dehejia & Wahba's ``age + I(age**2) + educ + ... + u74``) or, by
    default, the covariates entered linearly. Columns are standardised before fitting (the fitted
    probabilities do not change; the optimiser is better conditioned). Scores are **never
    clipped** (see references.md: clipping to [0.05, 0.95] wrecks the ATT when the treated are a
    small minority); poor overlap is reported instead.
Odds weight
    A control's weight for the ATT is ``e(x) / (1 − e(x))`` (the odds), which reweights the
    controls to the treated's covariate distribution (Hirano, Imbens & Ridder 2003; Imbens 2004,
    REStat 86(1), §III.C). Treated units have weight 1.
Effective sample size (ESS)
    Kish's ``(Σ w)² / Σ w²`` over the weighted controls (Kish 1965): the number of equally
    weighted controls that would give the same precision. Much smaller than the number of controls
    means a few controls carry the comparison.
Overlap
    The treated's and the controls' score ranges; ``treated_above_controls`` = treated units
    whose score is above the largest control score (no comparable control exists);
    ``max_control_weight_share`` = the largest single control's share of the total odds weight.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import statsmodels.api as sm
from scipy.special import expit

__all__ = [
    "PropensityError",
    "PropensityFit",
    "effective_sample_size",
    "fit_propensity",
    "propensity_matrix",
]


class PropensityError(ValueError):
    """The propensity model cannot be fitted (separation, empty group, bad terms)."""


@dataclass(frozen=True, eq=False)
class PropensityFit:
    """A fitted propensity model.

    Attributes
    ----------
    X : ndarray, shape (n, k)
        The standardised design matrix, first column the intercept (all ones).
    beta : ndarray, shape (k,)
        Logit coefficients on ``X``.
    score : ndarray, shape (n,)
        Fitted ``e(x)``, unclipped.
    terms : list of str
        Column names of ``X`` (patsy names).
    formula : str
        The right-hand side that was fitted.
    """

    X: np.ndarray
    beta: np.ndarray
    score: np.ndarray
    terms: list[str]
    formula: str

    @property
    def odds(self) -> np.ndarray:
        """``e / (1 − e)`` computed as ``exp(Xβ)`` (exact even when ``e`` rounds to 1)."""
        return np.exp(self.X @ self.beta)

    @property
    def logit(self) -> np.ndarray:
        """The linear predictor ``Xβ`` (the logit of the score), used for matching."""
        return self.X @ self.beta


def propensity_matrix(
    frame: pd.DataFrame, covariates: Sequence[str], terms: str | None = None
) -> tuple[np.ndarray, list[str], str]:
    """The (unstandardised) propensity design matrix, its column names and the formula used.

    ``terms`` is a patsy right-hand side; ``None`` enters ``covariates`` linearly. An intercept
    is always included.
    """
    formula = terms if terms is not None else " + ".join(f"Q('{c}')" for c in covariates)
    try:
        dm = patsy.dmatrix(formula, frame, return_type="dataframe", NA_action="raise")
    except Exception as exc:  # patsy raises several types; name the formula
        raise PropensityError(f"propensity terms '{formula}' cannot be built: {exc}") from exc
    if "Intercept" not in dm.columns:
        dm.insert(0, "Intercept", 1.0)
    return dm.to_numpy(dtype=float), list(dm.columns), formula


def fit_propensity(
    frame: pd.DataFrame, treatment: str, covariates: Sequence[str], terms: str | None = None
) -> PropensityFit:
    """Fit ``P(treatment = 1 | terms)`` by logistic regression; see the module docstring."""
    t = frame[treatment].to_numpy(dtype=float)
    raw, names, formula = propensity_matrix(frame, covariates, terms)
    scale = raw.std(axis=0)
    center = raw.mean(axis=0)
    constant = scale == 0
    constant[0] = False
    if constant.any():
        dropped = [n for n, c in zip(names, constant, strict=True) if c]
        raise PropensityError(
            f"propensity terms {dropped} are constant in the data; drop them from the model"
        )
    X = raw.copy()
    X[:, 1:] = (raw[:, 1:] - center[1:]) / scale[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # rank is checked through the Newton step (a singular Hessian raises); statsmodels' own
        # QR rank check costs more than the fit
        model = sm.Logit(t, X, check_rank=False)
        try:
            res = model.fit(method="newton", maxiter=100, disp=False)
        except Exception as exc:  # perfect separation and singular matrices
            raise PropensityError(
                f"the propensity model '{formula}' cannot be fitted ({exc}); a covariate may "
                f"separate members from non-members perfectly"
            ) from exc
    beta = np.asarray(res.params, dtype=float)
    converged = bool(res.mle_retvals.get("converged", True))
    with np.errstate(over="ignore"):
        finite = np.all(np.isfinite(beta)) and np.all(np.isfinite(np.exp(X @ beta)))
    if not (converged and finite):
        raise PropensityError(
            f"the propensity model '{formula}' did not converge: the covariates (almost) "
            f"separate treated from controls, so some units have no comparable counterpart "
            f"(no overlap); use fewer or coarser terms, or restrict the sample to common support"
        )
    return PropensityFit(X=X, beta=beta, score=expit(X @ beta), terms=names, formula=formula)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(Σ w)² / Σ w²`` (Kish 1965, *Survey Sampling*)."""
    w = np.asarray(weights, dtype=float)
    denom = float(np.sum(w**2))
    return float(np.sum(w) ** 2 / denom) if denom > 0 else 0.0
