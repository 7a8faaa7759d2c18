"""The member effect study: one call from a community to the adjusted effect on members.

:func:`member_effect` builds the aligned-index-date design (:mod:`analysis.conversion.design`)
and runs the three ATT estimators side by side with balance, overlap and the placebo
(:func:`analysis.conversion.att.compare_att`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.conversion.att import compare_att
from analysis.conversion.att_results import AttComparison
from analysis.conversion.design import COVARIATES, PLACEBO_COVARIATES, MemberDesign, build_design
from analysis.data import Community
from analysis.results import Result

__all__ = ["OUTCOMES", "MemberEffect", "default_terms", "member_effect"]

#: Outcomes of the design frame the study can analyse.
OUTCOMES = ("purchased", "spend")
#: Covariates entered as log(1 + x) in the default terms (heavy-tailed counts, amounts, gaps).
_LOG_COVARIATES = {
    "orders_early",
    "spend_early",
    "orders_recent",
    "spend_recent",
    "days_since_last_order",
}


def default_terms(frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[str, list[str]]:
    """The default propensity/outcome terms and the covariates dropped for being constant.

    Counts, amounts and the days since the last order enter as ``np.log1p(x)``, the others
    linearly; a covariate with a single value in ``frame`` carries no information and would make
    the logit singular, so it is left out (and reported).
    """
    kept = [c for c in covariates if frame[c].nunique() > 1]
    dropped = [c for c in covariates if c not in kept]
    terms = " + ".join(f"np.log1p({c})" if c in _LOG_COVARIATES else c for c in kept)
    return terms, dropped


@dataclass(frozen=True, eq=False)
class MemberEffect(Result):
    """The adjusted member effect on purchasing, with its design.

    Attributes
    ----------
    design : MemberDesign
        The aligned-index-date design frame and the customers left out.
    comparison : AttComparison
        Matching, weighting and doubly robust ATT side by side, with the raw gap, balance,
        overlap, effective sample size and placebo.
    dropped_covariates : tuple of str
        Covariates left out of the models because they are constant in this data.
    """

    design: MemberDesign
    comparison: AttComparison
    dropped_covariates: tuple[str, ...] = ()
    title: str = "Member effect on purchasing (effect on members, adjusted)"

    def to_frame(self) -> pd.DataFrame:
        return self.comparison.to_frame()

    def summary(self) -> str:
        d = self.design
        text = (
            f"Outcome: {self.comparison.outcome} within {d.horizon_days} days of joining "
            f"(non-members: of a comparable date). " + self.comparison.summary()
        )
        left_out = sum(d.excluded.values())
        if left_out:
            text += f" {left_out:,} customers were left out of the design ({d.summary()})"
        return text

    def plot(self, ax: Any = None) -> Any:
        return self.comparison.plot(ax=ax)

    def plot_balance(self, ax: Any = None) -> Any:
        return self.comparison.plot_balance(ax=ax)


def member_effect(
    community: Community,
    *,
    outcome: str = "purchased",
    horizon_days: int = 90,
    history_days: int = 365,
    placebo_days: int = 90,
    controls: str = "never_joined",
    controls_per_member: int = 4,
    propensity_terms: str | None = None,
    seed: int = 0,
    alpha: float = 0.05,
) -> MemberEffect:
    """Effect of joining the community on members' purchasing (ATT), adjusted three ways.

    Parameters
    ----------
    community : Community
        Needs ``customers``, ``orders`` and ``members``.
    outcome : {"purchased", "spend"}
        ≥1 order, or total spend, within ``horizon_days`` of the index date.
    horizon_days, history_days, placebo_days, controls, controls_per_member, seed
        The design (:func:`analysis.conversion.design.build_design`): ``controls`` =
        ``"never_joined"`` (never-joiners at calendar-matched dates) or ``"not_yet_joined"``
        (risk-set controls drawn at each member's join date).
    propensity_terms : str, optional
        patsy right-hand side over :data:`analysis.conversion.design.COVARIATES`; default
        :func:`default_terms`. Also used for the doubly robust outcome regression.
    alpha : float
        1 − confidence level.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    design = build_design(
        community,
        horizon_days=horizon_days,
        history_days=history_days,
        placebo_days=placebo_days,
        controls=controls,
        controls_per_member=controls_per_member,
        seed=seed,
    )
    frame = design.frame
    terms, dropped = default_terms(frame, COVARIATES)
    placebo_terms, _ = default_terms(frame, PLACEBO_COVARIATES)
    kept = [c for c in COVARIATES if c not in dropped]
    comparison = compare_att(
        frame,
        treatment="member",
        outcome=outcome,
        covariates=kept,
        propensity_terms=propensity_terms if propensity_terms is not None else terms,
        placebo_outcome="placebo_spend",
        placebo_covariates=[c for c in PLACEBO_COVARIATES if c not in dropped],
        placebo_terms=placebo_terms,
        alpha=alpha,
    )
    return MemberEffect(design=design, comparison=comparison, dropped_covariates=tuple(dropped))
