"""Community-to-customer conversion: does the community make customers, honestly measured.

Modules (one concern each):

``naive``
    The raw member vs non-member purchase rate (associational; what stakeholders ask first).
``funnel``
    Joined → first message → engaged → first purchase, by join cohort and acquisition source.
``survival``
    Time to first purchase after joining: Kaplan–Meier curves, Cox model with time-varying
    engagement.
``att``
    The member effect on the treated (ATT) from aligned index dates: propensity matching,
    odds weighting, doubly robust; balance, overlap, effective sample size, placebo.
``event_study``
    Before/after joining: staggered-adoption event study with not-yet-joined controls.
``ltv``
    BG/NBD + Gamma–Gamma lifetime value fitted by maximum likelihood.
"""

from __future__ import annotations

from analysis.conversion.naive import (
    MembershipPurchaseComparison,
    purchase_counts_expr,
    purchase_rate_by_membership,
)

__all__ = [
    "MembershipPurchaseComparison",
    "purchase_counts_expr",
    "purchase_rate_by_membership",
]
