"""Community-to-customer conversion: does the community make customers, honestly measured.

Modules (one concern each):

``naive``
    The raw member vs non-member purchase rate (associational; what stakeholders ask first).
``funnel``
    Joined → first message → engaged → first purchase, by join cohort and acquisition source,
    with exposure and referral conversion.
``survival_data``, ``survival``, ``survival_cox``
    Time to first purchase after joining: Kaplan–Meier curves by early engagement (landmark),
    log-rank test, Cox model with time-varying engagement.
``design``, ``propensity``, ``balance``, ``att_estimators``, ``att``, ``att_results``, ``att_study``
    The member effect on the treated (ATT) from aligned index dates: propensity matching,
    odds weighting, doubly robust; balance, overlap, effective sample size, placebo.
``event_study_panel``, ``event_study``
    Before/after joining: staggered-adoption event study (Callaway & Sant'Anna 2021) with
    not-yet-joined controls on monthly spend, pre-trend test.
``btyd_summary``, ``bgnbd``, ``gamma_gamma``, ``ltv``
    BG/NBD + Gamma–Gamma lifetime value fitted by maximum likelihood, per group.
``study``
    Everything in one call, with the headline findings (:func:`conversion_study`).
"""

from __future__ import annotations

from analysis.conversion.att import METHODS, DesignError, compare_att
from analysis.conversion.att_results import AttComparison, AttResult
from analysis.conversion.att_study import OUTCOMES, MemberEffect, default_terms, member_effect
from analysis.conversion.balance import balance_table
from analysis.conversion.bgnbd import (
    BgNbdFit,
    ModelFitError,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases_new,
    bgnbd_p_alive,
    fit_bgnbd,
)
from analysis.conversion.btyd_summary import (
    community_customer_summary,
    customer_summary,
    customer_summary_expr,
)
from analysis.conversion.design import (
    CONTROL_DESIGNS,
    COVARIATES,
    PLACEBO_COVARIATES,
    MemberDesign,
    build_design,
)
from analysis.conversion.event_study import (
    EventStudyInputError,
    EventStudyResult,
    event_study_from_panel,
    spend_event_study,
)
from analysis.conversion.event_study_panel import SpendPanel, monthly_spend_panel
from analysis.conversion.funnel import (
    STAGES,
    FunnelResult,
    funnel,
    funnel_counts_expr,
    wilson_rates,
)
from analysis.conversion.gamma_gamma import (
    GammaGammaFit,
    fit_gamma_gamma,
    gamma_gamma_conditional_spend,
)
from analysis.conversion.ltv import GroupLtv, LtvResult, lifetime_value, predict_clv
from analysis.conversion.naive import (
    MembershipPurchaseComparison,
    purchase_counts_expr,
    purchase_rate_by_membership,
)
from analysis.conversion.propensity import (
    PropensityError,
    PropensityFit,
    effective_sample_size,
    fit_propensity,
)
from analysis.conversion.study import ConversionStudy, conversion_study
from analysis.conversion.survival import (
    CoxResult,
    SurvivalResult,
    cox_time_varying,
    fit_time_varying_cox,
    kaplan_meier,
    km_by_engagement,
    km_from_times,
)
from analysis.conversion.survival_data import (
    SurvivalInputError,
    purchase_episodes,
    purchase_times,
)

__all__ = [
    "CONTROL_DESIGNS",
    "ConversionStudy",
    "conversion_study",
    "COVARIATES",
    "METHODS",
    "OUTCOMES",
    "PLACEBO_COVARIATES",
    "AttComparison",
    "AttResult",
    "DesignError",
    "MemberDesign",
    "MemberEffect",
    "PropensityError",
    "PropensityFit",
    "balance_table",
    "build_design",
    "compare_att",
    "default_terms",
    "effective_sample_size",
    "fit_propensity",
    "member_effect",
    "STAGES",
    "BgNbdFit",
    "CoxResult",
    "EventStudyInputError",
    "EventStudyResult",
    "FunnelResult",
    "GammaGammaFit",
    "GroupLtv",
    "LtvResult",
    "MembershipPurchaseComparison",
    "ModelFitError",
    "SpendPanel",
    "SurvivalInputError",
    "SurvivalResult",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases_new",
    "bgnbd_p_alive",
    "community_customer_summary",
    "cox_time_varying",
    "customer_summary",
    "customer_summary_expr",
    "event_study_from_panel",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_time_varying_cox",
    "funnel",
    "funnel_counts_expr",
    "gamma_gamma_conditional_spend",
    "kaplan_meier",
    "km_by_engagement",
    "km_from_times",
    "lifetime_value",
    "monthly_spend_panel",
    "predict_clv",
    "purchase_counts_expr",
    "purchase_episodes",
    "purchase_rate_by_membership",
    "purchase_times",
    "spend_event_study",
    "wilson_rates",
]
