"""Cox proportional-hazards model of time to first purchase with time-varying engagement.

``h_i(t) = h_0(t) · exp(β · x_i(t))`` on counting-process episodes ``(start, stop]`` per
member-week (see :func:`~analysis.conversion.survival_data.purchase_episodes`), fitted by
statsmodels ``PHReg`` with the episode start as entry time and Efron's tie correction (Cox 1972;
Efron 1977; Therneau & Grambsch 2000, ch. 3). A row is at risk at ``t`` when
``start < t <= stop`` (R ``survival`` and lifelines' convention). ``x_i(t)`` is
``log2(1 + messages)`` (``scale="log2"``, hazard ratio per doubling of 1 + messages), the raw count
(``"count"``) or ``1[messages > 0]`` (``"any"``), where ``messages`` is known at the start of
the week (``cumulative`` since joining, or the ``previous_week``'s). Hazard ratios are ``exp(β)``
with Wald intervals from the model-based (inverse information) variance, as lifelines'
``CoxTimeVaryingFitter`` reports them. Proportional hazards are checked by the correlation
between Schoenfeld residuals and the rank of event time (Grambsch & Therneau 1994; the idea of R
``cox.zph(transform="rank")``, here as a Pearson correlation test).

Definitions of members, clock, event, censoring and delayed entry:
:mod:`analysis.conversion.survival_data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from analysis.conversion.survival_data import (
    SurvivalInputError,
    purchase_episodes,
    purchase_times,
    weekly_messages_expr,
)
from analysis.data import Community
from analysis.results import Result

SCALES = ("log2", "count", "any")


@dataclass(frozen=True)
class CoxResult(Result):
    """Cox proportional-hazards model of first purchase with time-varying engagement.

    Attributes
    ----------
    covariate, scale : str
        Engagement definition (``cumulative`` / ``previous_week``) and its transform
        (``log2``: per doubling of 1 + messages; ``count``: per message; ``any``: some vs none).
    coef, se : float
        Log hazard ratio β and its model-based standard error.
    hazard_ratio, hr_ci_lower, hr_ci_upper, p_value : float
        ``exp(β)``, its Wald ``1 - alpha`` interval and the Wald test of β = 0.
    ph_rho, ph_p : float
        Correlation of Schoenfeld residuals with the rank of event time, and its p-value
        (small p: the hazard ratio changes over time, proportional hazards doubtful).
    n_members, n_episodes, n_events : int
        Members, member-week episodes and first purchases in the fit.
    """

    covariate: str
    scale: str
    coef: float
    se: float
    hazard_ratio: float
    hr_ci_lower: float
    hr_ci_upper: float
    p_value: float
    ph_rho: float
    ph_p: float
    n_members: int
    n_episodes: int
    n_events: int
    alpha: float = 0.05
    title: str = "Cox model: engagement and the hazard of a first purchase"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "term": [f"{self.scale}({self.covariate} messages)"],
                "coef": [self.coef],
                "se": [self.se],
                "hazard_ratio": [self.hazard_ratio],
                "hr_ci_lower": [self.hr_ci_lower],
                "hr_ci_upper": [self.hr_ci_upper],
                "p_value": [self.p_value],
                "ph_rho": [self.ph_rho],
                "ph_p": [self.ph_p],
            }
        )

    def summary(self) -> str:
        unit = {
            "log2": "each doubling of (1 + messages)",
            "count": "each additional message",
            "any": "having posted at all (vs not)",
        }[self.scale]
        when = "so far" if self.covariate == "cumulative" else "in the previous week"
        text = (
            f"Over {self.n_members} linked members ({self.n_events} first purchases), "
            f"{unit} {when} goes with a {self.hazard_ratio:.2f}× hazard of a first purchase "
            f"({1 - self.alpha:.0%} CI {self.hr_ci_lower:.2f}–{self.hr_ci_upper:.2f}, "
            f"p={self.p_value:.3g})."
        )
        if np.isfinite(self.ph_p) and self.ph_p < self.alpha:
            text += (
                f" The ratio drifts over time (Schoenfeld ρ={self.ph_rho:.2f}, p={self.ph_p:.3g}),"
                f" so read it as an average."
            )
        return text + " This is an association: engaged members may have bought anyway."

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 2.5))
        frame = self.to_frame()
        sns.pointplot(data=frame, x="hazard_ratio", y="term", linestyle="none", ax=ax)
        ax.errorbar(
            [self.hazard_ratio],
            [0],
            xerr=[[self.hazard_ratio - self.hr_ci_lower], [self.hr_ci_upper - self.hazard_ratio]],
            fmt="none",
            capsize=4,
            color="black",
        )
        ax.axvline(1.0, color="grey", linestyle="--")
        ax.set_xscale("log")
        ax.set_xlabel("hazard ratio (log scale)")
        ax.set_ylabel("")
        ax.set_title("Engagement and first purchase (Cox, time-varying)")
        return ax


def collapse_episodes(
    episodes: pd.DataFrame, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge a member's consecutive episodes with the same covariate value.

    The partial likelihood only changes at events, so splitting an interval at a time where the
    covariate does not change leaves it (and every estimate) unchanged; merging makes the fit
    faster. Returns ``start``, ``stop``, ``event``, ``x`` of the merged rows.
    """
    member = episodes["member_id"].to_numpy()
    start = episodes["start"].to_numpy(float)
    stop = episodes["stop"].to_numpy(float)
    event = episodes["event"].to_numpy(int)
    new_run = np.ones(len(x), dtype=bool)
    new_run[1:] = (member[1:] != member[:-1]) | (x[1:] != x[:-1]) | (start[1:] != stop[:-1])
    first = np.flatnonzero(new_run)
    last = np.r_[first[1:] - 1, len(x) - 1]
    return start[first], stop[last], np.maximum.reduceat(event, first), x[first]


def fit_time_varying_cox(
    episodes: pd.DataFrame,
    *,
    covariate: str = "cumulative",
    scale: str = "log2",
    alpha: float = 0.05,
) -> CoxResult:
    """Fit the Cox model on counting-process episodes (``member_id``, ``start``, ``stop``,
    ``event``, ``messages``); pure, pandas in. See the module docstring."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    n_events = int(episodes["event"].sum())
    if n_events == 0:
        raise SurvivalInputError(
            f"no first purchase among {episodes['member_id'].nunique()} linked members "
            f"(field 'orders.ordered_at' after 'members.joined_at'); a hazard model needs events."
        )
    m = episodes["messages"].to_numpy(float)
    x = {"log2": np.log2(1 + m), "count": m, "any": (m > 0).astype(float)}[scale]
    if np.ptp(x) == 0:
        raise SurvivalInputError(
            f"engagement covariate '{covariate}' ({scale}) is constant ({x[0]:g}) across all "
            f"{len(x)} member-weeks, so its hazard ratio is not identified."
        )
    start, stop, event, x = collapse_episodes(episodes, x)
    # (start, stop]: a row is at risk at t when start < t <= stop (R, lifelines); statsmodels
    # counts entry == t as at risk, so the entry is moved just past the start.
    model = PHReg(stop, x[:, None], status=event, entry=np.nextafter(start, np.inf), ties="efron")
    fit = model.fit()
    coef, se = float(fit.params[0]), float(fit.bse[0])
    z = stats.norm.ppf(1 - alpha / 2)
    resid = np.asarray(fit.schoenfeld_residuals)[:, 0]
    has = event == 1
    resid_ev = resid[has]
    ok = np.isfinite(resid_ev)
    if ok.sum() > 2 and np.ptp(resid_ev[ok]) > 0:
        ranks = stats.rankdata(stop[has][ok])
        rho, ph_p = stats.pearsonr(resid_ev[ok], ranks)
    else:
        rho, ph_p = np.nan, np.nan
    return CoxResult(
        covariate=covariate,
        scale=scale,
        coef=coef,
        se=se,
        hazard_ratio=float(np.exp(coef)),
        hr_ci_lower=float(np.exp(coef - z * se)),
        hr_ci_upper=float(np.exp(coef + z * se)),
        p_value=float(2 * stats.norm.sf(abs(coef / se))),
        ph_rho=float(rho),
        ph_p=float(ph_p),
        n_members=int(episodes["member_id"].nunique()),
        n_episodes=len(episodes),  # before merging runs of equal covariate
        n_events=n_events,
        alpha=alpha,
    )


def cox_time_varying(
    community: Community,
    *,
    covariate: str = "cumulative",
    scale: str = "log2",
    alpha: float = 0.05,
    orders_start: Any = None,
    orders_end: Any = None,
) -> CoxResult:
    """Cox model of time to first purchase with weekly time-varying engagement.

    Parameters
    ----------
    community : Community
        Needs ``members``, ``messages``, ``customers`` (with ``member_id`` links) and ``orders``.
    covariate : {"cumulative", "previous_week"}
        Messages known at the start of each week: all since joining, or last week's.
    scale : {"log2", "count", "any"}
        Transform of the count (hazard ratio per doubling of 1 + messages, per message, or for
        any vs none).
    alpha : float
        Hazard-ratio intervals are ``1 - alpha``.
    orders_start, orders_end : timestamp, optional
        Observation window of the order data (default: first and last ``ordered_at``).

    Returns
    -------
    CoxResult

    The member-week message counts are an ibis aggregation on the engine
    (:func:`~analysis.conversion.survival_data.weekly_messages_expr`); episodes and the fit
    run on the small per-member tables. See the module docstring for the model.
    """
    times = purchase_times(community, orders_start=orders_start, orders_end=orders_end)
    weekly = community.execute(weekly_messages_expr(community))
    episodes = purchase_episodes(times, weekly, covariate=covariate)
    return fit_time_varying_cox(episodes, covariate=covariate, scale=scale, alpha=alpha)


__all__ = [
    "SCALES",
    "CoxResult",
    "collapse_episodes",
    "cox_time_varying",
    "fit_time_varying_cox",
]
