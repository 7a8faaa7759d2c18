"""The member effect on purchasing, adjusted for who joins: ATT by matching, weighting and DR.

The estimand is the average effect on the treated (members),
``ATT = E[Y(1) − Y(0) | member]``: how much more members buy than the same people would have
bought had they not joined. It is identified when joining depends only on the pre-join
covariates (unconfoundedness) and every member has comparable non-members (overlap) (Imbens
2004, REStat 86(1)). :func:`compare_att` works on a plain *design frame* (one row per unit:
treatment 0/1, outcome, pre-treatment covariates); :mod:`analysis.conversion.design` builds that
frame from a community with aligned index dates.

Three estimators side by side (definitions and standard errors in
:mod:`analysis.conversion.att_estimators`): nearest-neighbour propensity matching, odds
weighting (IPW for the ATT) and doubly robust (AIPW-ATT). The propensity model is a logit on
``propensity_terms`` (:mod:`analysis.conversion.propensity`); scores are never clipped; overlap,
Kish's effective sample size of the weighted controls and the covariate balance table
(standardised differences before/after, :mod:`analysis.conversion.balance`) are reported.

Naive gap
    ``mean(Y | T=1) − mean(Y | T=0)``, Welch standard error.
Share of the raw gap explained by selection
    ``(naive − ATT) / naive`` per estimator: the part of the raw member/non-member difference that
    the adjustment attributes to who joins rather than to joining. Above 1 when the adjusted
    effect has the opposite sign (LaLonde's CPS comparison); undefined when the naive gap is 0.
Placebo
    The same estimators with a pre-treatment quantity as the outcome (e.g. spend in the window
    before the index date) and covariates measured before that window; an interval far from 0
    means the adjustment does not remove the selection (Imbens & Rubin 2015, ch. 21, "pseudo
    outcomes").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.conversion.att_estimators import (
    Estimate,
    doubly_robust_att,
    matching_att,
    weighting_att,
)
from analysis.conversion.att_results import METHODS, SE_METHODS, AttComparison, AttResult
from analysis.conversion.balance import balance_table
from analysis.conversion.propensity import (
    PropensityFit,
    effective_sample_size,
    fit_propensity,
    propensity_matrix,
)

__all__ = ["METHODS", "AttComparison", "AttResult", "DesignError", "compare_att"]


class DesignError(ValueError):
    """The design frame cannot be analysed (missing column, bad value, empty group)."""


def _plain(value: object) -> object:
    """numpy scalars as Python values, so messages read ``row 3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _check_frame(frame: pd.DataFrame, columns: Sequence[str], treatment: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DesignError(f"design frame has no column(s) {missing}; it has {list(frame.columns)}")
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            row = _plain(frame.index[bad.to_numpy()][0])
            value = _plain(frame.loc[row, col])
            raise DesignError(
                f"design frame column '{col}', row {row!r}: value {value!r} is not "
                f"a finite number ({int(bad.sum())} such rows)"
            )
    t = frame[treatment]
    bad = ~t.isin([0, 1])
    if bad.any():
        row = _plain(frame.index[bad.to_numpy()][0])
        raise DesignError(
            f"design frame column '{treatment}', row {row!r}: value {_plain(t.loc[row])!r}; "
            f"expected 0 or 1"
        )
    counts = t.astype(int).value_counts()
    if counts.get(1, 0) < 2 or counts.get(0, 0) < 2:
        raise DesignError(
            f"need at least 2 treated and 2 control rows in column '{treatment}'; got "
            f"{counts.get(1, 0)} treated and {counts.get(0, 0)} controls"
        )


def _result(
    method: str, est: Estimate, outcome: str, alpha: float, naive: float, n1: int, n0: int
) -> AttResult:
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(est.estimate / est.se))) if est.se > 0 else float("nan")
    share = (naive - est.estimate) / naive if naive != 0 else float("nan")
    return AttResult(
        method=method,
        outcome=outcome,
        estimate=est.estimate,
        se=est.se,
        ci_low=est.estimate - z * est.se,
        ci_high=est.estimate + z * est.se,
        p_value=p,
        alpha=alpha,
        n_treated=n1,
        n_control=n0,
        ess_control=effective_sample_size(est.control_weights),
        naive_gap=naive,
        share_from_selection=float(share),
        se_method=SE_METHODS[method],
    )


def _estimate_all(
    frame: pd.DataFrame,
    treatment: str,
    outcome: str,
    fit: PropensityFit,
    outcome_terms: str,
    covariates: Sequence[str],
    alpha: float,
) -> tuple[tuple[AttResult, ...], dict[str, np.ndarray], float, float]:
    t = frame[treatment].to_numpy(dtype=float)
    y = frame[outcome].to_numpy(dtype=float)
    n1, n0 = int(t.sum()), int((1 - t).sum())
    y1, y0 = y[t == 1], y[t == 0]
    naive = float(y1.mean() - y0.mean())
    naive_se = float(np.sqrt(y1.var(ddof=1) / n1 + y0.var(ddof=1) / n0))
    if outcome_terms == fit.formula:
        Z = fit.X  # same terms (standardised columns give the same least-squares fit)
    else:
        Z, _, _ = propensity_matrix(frame, covariates, outcome_terms)
    estimates = {
        "matching": matching_att(t, y, fit.logit),
        "weighting": weighting_att(t, y, fit.X, fit.beta),
        "doubly_robust": doubly_robust_att(t, y, fit.X, fit.beta, Z),
    }
    results = tuple(_result(m, estimates[m], outcome, alpha, naive, n1, n0) for m in METHODS)
    weights = {m: estimates[m].control_weights for m in ("matching", "weighting")}
    return results, weights, naive, naive_se


def compare_att(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    propensity_terms: str | None = None,
    outcome_terms: str | None = None,
    placebo_outcome: str | None = None,
    placebo_covariates: Sequence[str] | None = None,
    placebo_terms: str | None = None,
    alpha: float = 0.05,
) -> AttComparison:
    """Estimate the effect on the treated three ways, with balance, overlap and a placebo.

    Parameters
    ----------
    frame : DataFrame
        One row per unit.
    treatment : str
        0/1 column (1 = member / treated).
    outcome : str
        Numeric outcome column (0/1 purchase, spend, ...).
    covariates : sequence of str
        Pre-treatment covariates; checked for balance, and entered linearly in both models when
        no terms are given.
    propensity_terms, outcome_terms : str, optional
        patsy right-hand sides for the propensity logit and the doubly robust outcome regression
        (``outcome_terms`` defaults to ``propensity_terms``).
    placebo_outcome, placebo_covariates, placebo_terms : optional
        A pre-treatment outcome and the covariates (and propensity terms) measured before it;
        the placebo re-fits the propensity model on them. ``placebo_covariates`` defaults to
        ``covariates`` without the placebo outcome.
    alpha : float
        1 − confidence level of the intervals.

    Returns
    -------
    AttComparison
        See the module docstring for every number.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    covariates = list(covariates)
    _check_frame(frame, [treatment, outcome, *covariates], treatment)
    fit = fit_propensity(frame, treatment, covariates, propensity_terms)
    out_terms = outcome_terms if outcome_terms is not None else fit.formula
    results, weights, naive, naive_se = _estimate_all(
        frame, treatment, outcome, fit, out_terms, covariates, alpha
    )
    t = frame[treatment].to_numpy(dtype=float) == 1
    balance = balance_table(frame, treatment, covariates, weights)
    s1, s0 = fit.score[t], fit.score[~t]
    odds0 = fit.odds[~t]
    placebo: tuple[AttResult, ...] = ()
    if placebo_outcome is not None:
        p_cov = (
            list(placebo_covariates)
            if placebo_covariates is not None
            else [c for c in covariates if c != placebo_outcome]
        )
        _check_frame(frame, [placebo_outcome, *p_cov], treatment)
        p_fit = fit_propensity(frame, treatment, p_cov, placebo_terms)
        placebo, *_ = _estimate_all(
            frame, treatment, placebo_outcome, p_fit, p_fit.formula, p_cov, alpha
        )
    return AttComparison(
        outcome=outcome,
        results=results,
        naive_gap=naive,
        naive_se=naive_se,
        propensity_formula=fit.formula,
        balance=balance,
        n_treated=int(t.sum()),
        n_control=int((~t).sum()),
        score_treated_range=(float(s1.min()), float(s1.max())),
        score_control_range=(float(s0.min()), float(s0.max())),
        treated_above_controls=int(np.sum(s1 > s0.max())),
        max_control_weight_share=float(odds0.max() / odds0.sum()),
        placebo=placebo,
        scores=pd.DataFrame({"treated": t, "score": fit.score}),
    )
