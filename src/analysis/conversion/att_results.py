"""Result objects of the ATT study: one estimator (:class:`AttResult`) and the comparison of all
three with balance, overlap and placebo (:class:`AttComparison`). Definitions of every number are
in :mod:`analysis.conversion.att`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.conversion.balance import BALANCE_THRESHOLD
from analysis.results import Result

__all__ = ["METHODS", "SE_METHODS", "AttComparison", "AttResult"]

#: Estimator names, in the order they are reported.
METHODS = ("matching", "weighting", "doubly_robust")
_LABELS = {
    "matching": "propensity matching (1 nearest neighbour, with replacement)",
    "weighting": "odds weighting (IPW for the ATT)",
    "doubly_robust": "doubly robust (AIPW-ATT)",
}
SE_METHODS = {
    "matching": "Abadie-Imbens (2006) matching variance",
    "weighting": "M-estimation sandwich incl. propensity fit",
    "doubly_robust": "M-estimation sandwich incl. propensity and outcome fits",
}


@dataclass(frozen=True)
class AttResult(Result):
    """One estimator's effect on the treated.

    Attributes
    ----------
    method : str
        ``matching``, ``weighting`` or ``doubly_robust``.
    outcome : str
        The outcome column.
    estimate, se : float
        ATT and its standard error (``se_method`` says how).
    ci_low, ci_high, p_value : float
        Normal-approximation ``1 − alpha`` interval and two-sided p value of ATT = 0.
    alpha : float
    n_treated, n_control : int
    ess_control : float
        Kish's effective number of controls under this estimator's control weights.
    naive_gap : float
        ``mean(Y | T=1) − mean(Y | T=0)`` on the same frame.
    share_from_selection : float
        ``(naive_gap − estimate) / naive_gap`` (NaN if the naive gap is 0).
    se_method : str
    """

    method: str
    outcome: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    n_treated: int
    n_control: int
    ess_control: float
    naive_gap: float
    share_from_selection: float
    se_method: str
    title: str = "Effect on the treated"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()]).set_index("method")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "outcome": self.outcome,
            "att": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "ess_control": self.ess_control,
            "naive_gap": self.naive_gap,
            "share_of_gap_from_selection": self.share_from_selection,
            "se_method": self.se_method,
        }

    def selection_sentence(self) -> str:
        """How much of the raw gap this estimate attributes to who joins, in words."""
        s = self.share_from_selection
        if not np.isfinite(s):
            return "There is no raw gap to explain."
        if s > 1:
            return (
                f"Who joins explains more than the whole raw gap ({s:.0%}): after adjustment the "
                f"effect has the opposite sign to the raw difference."
            )
        if s < 0:
            return (
                f"The adjusted effect is larger than the raw gap (by {-s:.0%} of it): the people "
                f"who join would otherwise have bought less than others."
            )
        return f"About {s:.0%} of the raw gap is explained by who joins."

    def summary(self) -> str:
        return (
            f"{_LABELS[self.method].capitalize()}: effect on {self.outcome} of the treated "
            f"{self.estimate:+,.4g} ({1 - self.alpha:.0%} CI {self.ci_low:+,.4g} to "
            f"{self.ci_high:+,.4g}; raw gap {self.naive_gap:+,.4g}). {self.selection_sentence()}"
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 1.6))
        ax.errorbar(
            [self.estimate],
            [0],
            xerr=[[self.estimate - self.ci_low], [self.ci_high - self.estimate]],
            fmt="o",
        )
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.axvline(self.naive_gap, color="tab:red", lw=1, ls=":")
        ax.set_yticks([0], [self.method])
        ax.set_xlabel(f"effect on {self.outcome} ({1 - self.alpha:.0%} CI); dotted: raw gap")
        return ax


@dataclass(frozen=True, eq=False)
class AttComparison(Result):
    """The three ATT estimators side by side, with the raw gap, balance, overlap and placebo.

    Attributes
    ----------
    outcome : str
    results : tuple of AttResult
        In the order of :data:`METHODS`.
    naive_gap, naive_se : float
        Raw difference in means and its Welch SE.
    propensity_formula : str
        The logit's right-hand side.
    balance : DataFrame
        :func:`analysis.conversion.balance.balance_table` (before, after each method).
    n_treated, n_control : int
    score_treated_range, score_control_range : (float, float)
        Min and max propensity score per group (unclipped).
    treated_above_controls : int
        Treated with a score above every control's (no comparable control).
    max_control_weight_share : float
        Largest single control's share of the total odds weight.
    placebo : tuple of AttResult
        The estimators on the placebo outcome (empty when none was given).
    scores : DataFrame
        ``treated`` and ``score`` per unit, for the overlap plot.
    """

    outcome: str
    results: tuple[AttResult, ...]
    naive_gap: float
    naive_se: float
    propensity_formula: str
    balance: pd.DataFrame
    n_treated: int
    n_control: int
    score_treated_range: tuple[float, float]
    score_control_range: tuple[float, float]
    treated_above_controls: int
    max_control_weight_share: float
    placebo: tuple[AttResult, ...] = ()
    scores: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    title: str = "Member effect on the treated: matching, weighting, doubly robust"

    def result(self, method: str) -> AttResult:
        """The estimate of one method (``matching``, ``weighting``, ``doubly_robust``)."""
        for r in self.results:
            if r.method == method:
                return r
        have = [r.method for r in self.results]
        raise KeyError(f"no estimate for method {method!r}; have {have}")

    def to_frame(self) -> pd.DataFrame:
        rows = [r.to_dict() for r in self.results]
        rows += [{**r.to_dict(), "method": f"placebo_{r.method}"} for r in self.placebo]
        return pd.DataFrame(rows).set_index("method")

    def max_abs_smd_after(self) -> dict[str, float]:
        """Largest |standardised difference| per method after adjustment (and ``before``)."""
        cols = [c for c in self.balance.columns if c.startswith("smd_")]
        return {c[4:]: float(self.balance[c].abs().max()) for c in cols}

    def summary(self) -> str:
        dr = self.result("doubly_robust")
        low, high = min(r.estimate for r in self.results), max(r.estimate for r in self.results)
        text = (
            f"The raw gap in {self.outcome} between the {self.n_treated:,} treated and "
            f"{self.n_control:,} comparison units is {self.naive_gap:+,.4g}. Compared with "
            f"similar non-members, the effect on those who joined is {dr.estimate:+,.4g} "
            f"(doubly robust, {1 - dr.alpha:.0%} CI {dr.ci_low:+,.4g} to {dr.ci_high:+,.4g}); "
            f"matching and weighting give {low:+,.4g} to {high:+,.4g}. "
            f"{dr.selection_sentence()}"
        )
        worst = max(v for k, v in self.max_abs_smd_after().items() if k != "before")
        if worst >= BALANCE_THRESHOLD:
            text += (
                f" Balance is imperfect (largest standardised difference after adjustment "
                f"{worst:.2f})."
            )
        w = self.result("weighting")
        text += (
            f" The weighted comparison rests on the equivalent of {w.ess_control:,.0f} "
            f"non-members (effective sample size)"
        )
        text += (
            f"; {self.treated_above_controls} treated have no comparable control."
            if self.treated_above_controls
            else "."
        )
        if self.placebo:
            p = next(r for r in self.placebo if r.method == "doubly_robust")
            ok = p.ci_low <= 0 <= p.ci_high
            text += (
                f" Placebo ({p.outcome}, before the index date): {p.estimate:+,.4g} "
                f"(CI {p.ci_low:+,.4g} to {p.ci_high:+,.4g}), "
                + ("consistent with no effect." if ok else "not zero: selection may remain.")
            )
        text += (
            " This assumes joining depends only on the covariates measured before the index date."
        )
        return text

    def plot(self, ax: Any = None) -> Any:
        """Overlap: the propensity score distributions of treated and controls (density)."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3))
        data = self.scores.assign(group=np.where(self.scores["treated"], "treated", "controls"))
        sns.histplot(
            data=data,
            x="score",
            hue="group",
            stat="density",
            common_norm=False,
            bins=40,
            element="step",
            ax=ax,
        )
        ax.set_xlabel("propensity score (unclipped)")
        ax.set_title("Overlap of treated and comparison units")
        return ax

    def plot_balance(self, ax: Any = None) -> Any:
        """Standardised differences before and after each adjustment (a "love plot")."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.4 * len(self.balance) + 1))
        cols = [c for c in self.balance.columns if c.startswith("smd_")]
        long = self.balance[cols].abs().reset_index().melt("covariate", var_name="adjustment")
        long["adjustment"] = long["adjustment"].str[4:]
        sns.pointplot(
            data=long, x="value", y="covariate", hue="adjustment", linestyles="none", ax=ax
        )
        ax.axvline(BALANCE_THRESHOLD, color="grey", lw=1, ls="--")
        ax.set_xlabel("|standardised difference|")
        return ax
