"""The community-to-customer study in one call: does the community make customers?

:func:`conversion_study` runs every analysis of :mod:`analysis.conversion` on one community and
:class:`ConversionStudy` leads with the answer a budget holder needs: how much more members buy
than *comparable* non-members, and how much of the raw gap is only who joins.

Headline (the first finding)
----------------------------
From the adjusted member effect (:func:`analysis.conversion.att_study.member_effect`, doubly
robust ATT with aligned index dates): the members' purchase rate within ``horizon_days`` of
joining ``m``, the effect ``ATT`` with its interval, the rate comparable non-members would have
had ``m − ATT`` (the counterfactual mean of the treated), their ratio ``m / (m − ATT)``, and the
share of the raw gap explained by selection ``1 − ATT / raw gap``. When the placebo (spend before
joining) is not zero, the finding says selection may remain.

Fallbacks
---------
Every part needs different data (customers linked to members, orders before and after joining,
repeat buyers, ...). A part whose data cannot support it (a :class:`ValueError` from that part,
e.g. no repeat buyers for BG/NBD, nobody joining inside the order data for the event study) is
left out, and :attr:`ConversionStudy.notes` says which and why; the study itself fails only when
the community has no customers or orders at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.conversion.att_study import MemberEffect, member_effect
from analysis.conversion.event_study import EventStudyResult, spend_event_study
from analysis.conversion.funnel import FunnelResult, funnel
from analysis.conversion.ltv import LtvResult, lifetime_value
from analysis.conversion.naive import MembershipPurchaseComparison, purchase_rate_by_membership
from analysis.conversion.survival import (
    CoxResult,
    SurvivalResult,
    cox_time_varying,
    km_by_engagement,
)
from analysis.data import Community
from analysis.results import Result

__all__ = ["ConversionStudy", "conversion_study"]

HEADLINE_METHOD = "doubly_robust"


def _first_sentence(text: str) -> str:
    head, sep, _ = text.partition(". ")
    return head + ("." if sep else "")


@dataclass(frozen=True)
class ConversionStudy(Result):
    """All conversion results for one community; parts that could not run are ``None``.

    Attributes
    ----------
    naive : MembershipPurchaseComparison or None
        Raw purchase rates of member vs non-member customers (associational); None when no
        customer is a member.
    effect : MemberEffect or None
        Adjusted member effect on purchasing within ``horizon_days`` (three estimators).
    funnel : FunnelResult or None
    survival : SurvivalResult or None
        Kaplan–Meier time to first purchase by early engagement.
    cox : CoxResult or None
        Cox model with time-varying engagement.
    event_study : EventStudyResult or None
        Monthly spend before and after joining.
    ltv : LtvResult or None
        BG/NBD + Gamma–Gamma lifetime value by group (associational).
    notes : tuple of str
        Parts left out and why.
    """

    naive: MembershipPurchaseComparison | None
    effect: MemberEffect | None
    funnel: FunnelResult | None
    survival: SurvivalResult | None
    cox: CoxResult | None
    event_study: EventStudyResult | None
    ltv: LtvResult | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    title: str = "Community to customers"

    # ---- the headline -----------------------------------------------------------------------
    def headline(self) -> dict[str, float] | None:
        """The adjusted answer as numbers (see the module docstring), or None without it."""
        if self.effect is None:
            return None
        att = self.effect.comparison.result(HEADLINE_METHOD)
        frame = self.effect.design.frame
        member_rate = float(frame.loc[frame["member"] == 1, "purchased"].mean())
        counterfactual = member_rate - att.estimate
        return {
            "member_rate": member_rate,
            "comparable_rate": counterfactual,
            "ratio": member_rate / counterfactual if counterfactual > 0 else float("nan"),
            "att": att.estimate,
            "att_ci_low": att.ci_low,
            "att_ci_high": att.ci_high,
            "raw_gap": att.naive_gap,
            "share_from_selection": att.share_from_selection,
            "horizon_days": float(self.effect.design.horizon_days),
        }

    def _headline_sentence(self) -> str:
        h = self.headline()
        if h is None and self.naive is None:
            return (
                "No customer in the CRM is linked to a community member, so members and "
                "non-members cannot be compared; check the customer ↔ member link."
            )
        if h is None:
            return (
                _first_sentence(self.naive.summary())
                + " There is not enough data for an adjusted comparison, so this raw gap is an "
                "upper bound on the community's effect."
            )
        level = f"{1 - self.effect.comparison.results[0].alpha:.0%}"
        ratio = f"{h['ratio']:.1f}×" if pd.notna(h["ratio"]) else "more often than"
        text = (
            f"Within {h['horizon_days']:.0f} days of joining, members buy {ratio} as often as "
            f"comparable non-members ({h['member_rate']:.0%} vs {h['comparable_rate']:.0%}): "
            f"adjusted effect {100 * h['att']:+.1f} pp ({level} CI {100 * h['att_ci_low']:+.1f} "
            f"to {100 * h['att_ci_high']:+.1f})"
        )
        share = h["share_from_selection"]
        if pd.notna(share) and h["raw_gap"] > 0:
            text += (
                f"; about {max(share, 0):.0%} of the raw gap ({100 * h['raw_gap']:+.1f} pp) is "
                f"explained by who joins."
            )
        else:
            text += "."
        placebo = self.effect.comparison.placebo
        if placebo and not placebo[0].ci_low <= 0 <= placebo[0].ci_high:
            text += (
                " Caution: members already spent differently before joining than the comparison "
                "predicts, so some selection may remain."
            )
        return text

    def findings(self) -> list[str]:
        """3–5 plain-language statements, the adjusted answer first."""
        lines = [self._headline_sentence()]
        if self.funnel is not None:
            lines.append(_first_sentence(self.funnel.summary()))
        if self.event_study is not None:
            e = self.event_study
            text = _first_sentence(e.summary())
            if e.pretrend_p < 0.05:
                text += (
                    f" Before joining, their spend was already drifting away from the comparison "
                    f"group (pre-trend test p = {e.pretrend_p:.2g}), so this is not a clean effect."
                )
            lines.append(text)
        if self.ltv is not None and len(self.ltv.groups) == 2:
            members, others = self.ltv.groups
            lines.append(
                f"Over the next {self.ltv.horizon} weeks, a member customer is expected to spend "
                f"{members.clv:,.0f} and a non-member customer {others.clv:,.0f} (lifetime-value "
                f"model; an association, not an effect)."
            )
        if self.survival is not None and len(lines) < 5 and pd.notna(self.survival.logrank_p):
            s = self.survival
            verdict = (
                "bought no sooner or later than quieter ones"
                if s.logrank_p >= 0.05
                else "differed in how soon they bought"
            )
            lines.append(
                f"Members who wrote more in their first {s.engagement_days} days {verdict} "
                f"(log-rank p = {s.logrank_p:.2g}, {s.n_members:,} members)."
            )
        if len(lines) < 3 and self.naive is not None and self.effect is not None:
            lines.append(_first_sentence(self.naive.summary()))
        if self.notes and len(lines) < 5:
            parts = ", ".join(note.split(":", 1)[0] for note in self.notes)
            lines.append(f"Left out for lack of data: {parts} (the reasons are under Details).")
        return lines[:5]

    # ---- sections of the report (each degrades to a note when its part is missing) ----------
    def _missing(self, part: str) -> str:
        for note in self.notes:
            if note.startswith(part):
                return note
        return f"{part}: not available"

    def _plot_or_note(self, part: str, value: Any, draw: Callable[[Any], Any], ax: Any) -> Any:
        import matplotlib.pyplot as plt

        if value is not None:
            return draw(ax)
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 1.2))
        ax.text(0, 0.5, self._missing(part), va="center", wrap=True)
        ax.axis("off")
        return ax

    def estimators(self) -> pd.DataFrame:
        """Matching, weighting and doubly robust ATT side by side, for reading.

        One row per method: the effect on members in percentage points with its interval, the
        p-value, members compared, the effective number of comparison customers (Kish), the
        share of the raw gap explained by selection and how the standard error was computed.
        The full table, with the placebo rows, is ``study.effect.to_frame()``. Empty without
        the design.
        """
        if self.effect is None:
            return pd.DataFrame()
        frame = self.effect.to_frame()
        frame = frame.loc[[m for m in frame.index if not str(m).startswith("placebo")]]
        out = pd.DataFrame(
            {
                "effect (pp)": 100 * frame["att"],
                "effect_ci_low": 100 * frame["ci_low"],
                "effect_ci_high": 100 * frame["ci_high"],
                "p_value": frame["p_value"],
                "members": frame["n_treated"],
                "comparison (effective)": frame["ess_control"].round(0),
                "share of raw gap from selection": frame["share_of_gap_from_selection"],
                "standard error": frame["se_method"],
            }
        )
        out.index = [str(m).replace("_", " ") for m in out.index]
        out.index.name = "method"
        return out

    def balance(self) -> pd.DataFrame:
        """Standardised differences of the pre-join covariates before and after adjustment."""
        if self.effect is None:
            return pd.DataFrame()
        return self.effect.comparison.balance

    def plot_overlap(self, ax: Any = None) -> Any:
        """Propensity scores of members and comparison customers (overlap)."""
        return self._plot_or_note(
            "adjusted member effect", self.effect, lambda a: self.effect.plot(ax=a), ax
        )

    def plot_balance(self, ax: Any = None) -> Any:
        """Standardised differences before and after each adjustment."""
        return self._plot_or_note(
            "adjusted member effect", self.effect, lambda a: self.effect.plot_balance(ax=a), ax
        )

    def plot_funnel(self, ax: Any = None) -> Any:
        return self._plot_or_note("funnel", self.funnel, lambda a: self.funnel.plot(ax=a), ax)

    def plot_survival(self, ax: Any = None) -> Any:
        return self._plot_or_note(
            "time to first purchase", self.survival, lambda a: self.survival.plot(ax=a), ax
        )

    def plot_event_study(self, ax: Any = None) -> Any:
        return self._plot_or_note(
            "event study", self.event_study, lambda a: self.event_study.plot(ax=a), ax
        )

    def plot_ltv(self, ax: Any = None) -> Any:
        return self._plot_or_note("lifetime value", self.ltv, lambda a: self.ltv.plot(ax=a), ax)

    def details(self) -> Any:
        """Every part's full plain-language summary, and what was left out (a bullet list)."""
        from analysis.report import bullets

        parts = [self.naive, self.effect, self.funnel, self.survival, self.cox]
        parts += [self.event_study, self.ltv]
        lines = [p.summary() for p in parts if p is not None]
        return bullets("What the data show, part by part", [*lines, *self.notes])

    # ---- Result protocol --------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        if self.effect is not None:
            return self.effect.to_frame()
        return self.naive.to_frame() if self.naive is not None else pd.DataFrame()

    def summary(self) -> str:
        return " ".join(self.findings())

    def plot(self, ax: Any = None) -> Any:
        return self.plot_overlap(ax=ax)

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        out: dict[str, Any] = {"notes": list(self.notes)}
        if self.naive is not None:
            out["naive"] = self.naive.to_dict()
        headline = self.headline()
        if headline is not None:
            out["headline"] = headline
            out["estimators"] = self.effect.to_frame().reset_index().to_dict(orient="records")
        if self.ltv is not None:
            out["ltv_clv_difference"] = self.ltv.clv_diff
            out["ltv_clv_difference_ci"] = list(self.ltv.clv_diff_ci)
        return to_jsonable(out)


def _attempt(
    name: str, fn: Callable[[], Any], notes: list[str]
) -> Any:  # a documented fallback: the part is left out and the reason kept
    try:
        return fn()
    except ValueError as exc:
        notes.append(f"{name}: left out — {exc}")
        return None


def conversion_study(
    community: Community,
    *,
    horizon_days: int = 90,
    engagement_days: int = 14,
    ltv_horizon: int = 52,
    n_draws: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> ConversionStudy:
    """Run the community-to-customer study.

    Parameters
    ----------
    community : Community
        Needs ``customers`` and ``orders`` (customers linked to members by ``member_id``).
    horizon_days : int
        Purchase window after joining (index date) for the adjusted member effect.
    engagement_days : int
        Early window that sets a member's engagement level for the survival curves.
    ltv_horizon : int
        Weeks ahead for lifetime value.
    n_draws : int
        Bootstrap draws for the lifetime-value intervals.
    seed : int
        Seeds every random step (index-date draws, bootstraps).
    alpha : float
        Intervals have coverage ``1 − alpha``.

    Raises
    ------
    ValueError
        The community has no ``customers`` or ``orders`` table.
    """
    for table in ("customers", "orders"):
        if not community.has(table):
            raise ValueError(
                f"dataset '{community.name}' has no '{table}' table: the conversion study needs "
                f"the CRM's customers.csv and orders.csv beside the export"
            )
    notes: list[str] = []
    return ConversionStudy(
        naive=_attempt(
            "raw comparison",
            lambda: purchase_rate_by_membership(community, window_days=None),
            notes,
        ),
        effect=_attempt(
            "adjusted member effect",
            lambda: member_effect(community, horizon_days=horizon_days, seed=seed, alpha=alpha),
            notes,
        ),
        funnel=_attempt("funnel", lambda: funnel(community, alpha=alpha), notes),
        survival=_attempt(
            "time to first purchase",
            lambda: km_by_engagement(community, engagement_days=engagement_days, alpha=alpha),
            notes,
        ),
        cox=_attempt(
            "Cox model",
            lambda: cox_time_varying(community, covariate="cumulative", alpha=alpha),
            notes,
        ),
        event_study=_attempt(
            "event study", lambda: spend_event_study(community, seed=seed, alpha=alpha), notes
        ),
        ltv=_attempt(
            "lifetime value",
            lambda: lifetime_value(
                community, horizon=ltv_horizon, n_draws=n_draws, seed=seed, alpha=alpha
            ),
            notes,
        ),
        notes=tuple(notes),
    )
