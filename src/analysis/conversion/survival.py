"""Time from joining to first purchase: Kaplan–Meier by early engagement, Cox with time-varying
engagement.

Who, when and what counts are defined in :mod:`analysis.conversion.survival_data` (linked
members, clock from ``joined_at``, first order after joining, censoring at the end of the order
data, delayed entry when the order data start after joining).

Kaplan–Meier by engagement (landmark)
    Engagement is measured in a fixed early window: non-service messages in the first
    ``engagement_days`` days after joining, grouped into levels (default none = 0, low = 1–4,
    high ≥ 5). Using a level that is only known at day 14 from day 0 would give the engaged an
    *immortal* head start (they cannot have been censored before showing engagement), so the
    curves are landmarked at ``engagement_days`` (Anderson, Cain & Gelber 1983; Dafni 2011):
    only members still purchase-free and under follow-up at the landmark are included, and the
    curves are ``S(t | T > landmark)`` for ``t`` in days since joining. Members who bought (or
    were censored) before the landmark are counted in ``n_before_landmark``.
    Estimates are statsmodels ``SurvfuncRight`` (product-limit, Greenwood variance); pointwise
    ``1 - alpha`` intervals use the log(−log) transform ``exp(−exp(log(−log S) ± z·√V / log S))``
    with Greenwood's ``V = Σ d/(n(n−d))`` (Kalbfleisch & Prentice 2002, §1.4; the default of
    lifelines and R ``survival``'s ``conf.type="log-log"``). Median time with the
    Brookmeyer–Crowley interval (``quantile_ci``, cloglog). Levels are compared with the
    log-rank test (statsmodels ``survdiff``; Mantel 1966).

Cox model with time-varying engagement
    In :mod:`analysis.conversion.survival_cox` (re-exported here): ``cox_time_varying``,
    ``fit_time_varying_cox``, ``CoxResult``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from analysis.conversion.survival_cox import CoxResult, cox_time_varying, fit_time_varying_cox
from analysis.conversion.survival_data import SurvivalInputError, purchase_times
from analysis.data import Community
from analysis.results import Result


def loglog_interval(
    surv: np.ndarray, greenwood: np.ndarray, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise log(−log) interval for a survival curve (NaN where ``S`` is 0 or 1)."""
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(surv)
        inner = np.log(-log_s)
        half = z * np.sqrt(greenwood) / log_s
        a = np.exp(-np.exp(inner + half))
        b = np.exp(-np.exp(inner - half))
    bad = (surv <= 0) | (surv >= 1) | ~np.isfinite(greenwood)
    lower = np.where(bad, np.nan, np.minimum(a, b))
    upper = np.where(bad, np.nan, np.maximum(a, b))
    return lower, upper


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, entry: np.ndarray | None = None, *, alpha: float = 0.05
) -> tuple[pd.DataFrame, tuple[float, float, float]]:
    """Product-limit table at the event times and the median with its interval.

    Returns ``(table, (median, lower, upper))``; ``table`` has ``time``, ``at_risk``,
    ``events``, ``survival``, ``se`` (Greenwood), ``ci_lower``, ``ci_upper``. A median that the
    curve never reaches is ``inf``.
    """
    sf = SurvfuncRight(np.asarray(time, float), np.asarray(event, int), entry=entry)
    n, d = sf.n_risk.astype(float), sf.n_events.astype(float)
    with np.errstate(divide="ignore"):
        greenwood = np.cumsum(np.where(n > d, d / (n * (n - d)), np.inf))
    lower, upper = loglog_interval(sf.surv_prob, greenwood, alpha)
    table = pd.DataFrame(
        {
            "time": sf.surv_times,
            "at_risk": sf.n_risk.astype(int),
            "events": sf.n_events.astype(int),
            "survival": sf.surv_prob,
            "se": sf.surv_prob_se,
            "ci_lower": lower,
            "ci_upper": upper,
        }
    )
    reached = len(table) > 0 and table["survival"].min() <= 0.5
    median = float(sf.quantile(0.5)) if reached else np.inf
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            lo, hi = sf.quantile_ci(0.5, alpha=alpha, method="cloglog")
    except (ValueError, IndexError):  # pragma: no cover - defensive: too few events
        lo, hi = np.nan, np.nan
    lo = np.nan if lo is None else float(lo)
    hi = np.inf if hi is None or (isinstance(hi, float) and np.isnan(hi)) else float(hi)
    return table, (median, lo, hi)


@dataclass(frozen=True)
class SurvivalResult(Result):
    """Kaplan–Meier time to first purchase by early engagement (landmark design).

    Attributes
    ----------
    engagement_days : int
        Early window (days after joining) in which messages are counted; also the landmark.
    cutoffs, levels : tuple
        Level boundaries and names (``levels[k]`` covers ``cutoffs[k-1] <= messages <
        cutoffs[k]``).
    curves : pandas.DataFrame
        One row per level and event time: ``level``, ``time`` (days since joining),
        ``at_risk``, ``events``, ``survival`` (probability of not having bought yet, given no
        purchase by the landmark), ``se``, ``ci_lower``, ``ci_upper``.
    medians : pandas.DataFrame
        Per level: ``members``, ``buyers``, ``median_days`` (since joining; ``inf`` when fewer
        than half buy during follow-up) with ``median_ci_lower``/``median_ci_upper``.
    logrank_chi2, logrank_df, logrank_p : float
        Log-rank test of equal curves across the levels present (NaN with a single level).
    n_members : int
        Linked members in the curves; ``n_before_landmark`` bought or left follow-up earlier.
    alpha : float
        1 − interval confidence.
    """

    engagement_days: int
    cutoffs: tuple[int, ...]
    levels: tuple[str, ...]
    curves: pd.DataFrame
    medians: pd.DataFrame
    logrank_chi2: float
    logrank_df: int
    logrank_p: float
    n_members: int
    n_before_landmark: int
    alpha: float = 0.05
    title: str = "Time to first purchase by early engagement"

    def to_frame(self) -> pd.DataFrame:
        return self.medians.copy()

    def summary(self) -> str:
        parts = []
        for row in self.medians.itertuples():
            share = row.buyers / row.members if row.members else float("nan")
            med = "not reached" if not np.isfinite(row.median_days) else f"{row.median_days:.0f}d"
            parts.append(f"{row.level}: {row.members} members, {share:.0%} bought, median {med}")
        text = (
            f"Among linked members still without a purchase {self.engagement_days} days after "
            f"joining, grouped by their messages in those days — " + "; ".join(parts) + "."
        )
        if np.isfinite(self.logrank_p):
            verdict = "differ" if self.logrank_p < self.alpha else "do not clearly differ"
            text += (
                f" The curves {verdict} (log-rank χ²={self.logrank_chi2:.1f}, df="
                f"{self.logrank_df}, p={self.logrank_p:.3g})."
            )
        text += " Engagement is associated with, not proven to cause, earlier purchases."
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        start = pd.DataFrame(
            {"level": list(self.levels), "time": float(self.engagement_days), "survival": 1.0}
        )
        start = start[start["level"].isin(self.curves["level"].unique())]
        data = pd.concat([start, self.curves], ignore_index=True).sort_values(["level", "time"])
        sns.lineplot(
            data=data,
            x="time",
            y="survival",
            hue="level",
            hue_order=[lv for lv in self.levels if lv in set(data["level"])],
            drawstyle="steps-post",
            errorbar=None,
            ax=ax,
        )
        colors = {line.get_label(): line.get_color() for line in ax.get_lines()}
        for level, part in self.curves.groupby("level", observed=True, sort=False):
            ax.fill_between(
                part["time"],
                part["ci_lower"],
                part["ci_upper"],
                step="post",
                alpha=0.2,
                color=colors.get(str(level)),
            )
        ax.set_xlabel("days since joining")
        ax.set_ylabel("share not yet purchased")
        ax.set_title(f"Time to first purchase by messages in the first {self.engagement_days} days")
        ax.set_ylim(0, 1.02)
        return ax


def km_by_engagement(
    community: Community,
    *,
    engagement_days: int = 14,
    cutoffs: Sequence[int] = (1, 5),
    labels: Sequence[str] = ("none", "low", "high"),
    alpha: float = 0.05,
    orders_start: Any = None,
    orders_end: Any = None,
) -> SurvivalResult:
    """Kaplan–Meier curves of time to first purchase by early engagement (landmark design).

    Parameters
    ----------
    community : Community
        Needs ``members``, ``messages``, ``customers`` (with ``member_id`` links) and ``orders``.
    engagement_days : int
        Early window in days after joining in which messages are counted; also the landmark
        (curves describe members still purchase-free at that point).
    cutoffs, labels : sequence
        Engagement levels: ``labels[k]`` for ``cutoffs[k-1] <= messages < cutoffs[k]``.
    alpha : float
        Pointwise intervals and the median interval are ``1 - alpha``.
    orders_start, orders_end : timestamp, optional
        Observation window of the order data (default: first and last ``ordered_at``).

    Returns
    -------
    SurvivalResult

    See the module docstring for the estimator (Kaplan & Meier 1958 via statsmodels
    ``SurvfuncRight``; log-rank by ``survdiff``) and :mod:`analysis.conversion.survival_data`
    for the definitions.
    """
    times = purchase_times(
        community,
        engagement_days=engagement_days,
        cutoffs=cutoffs,
        labels=labels,
        orders_start=orders_start,
        orders_end=orders_end,
    )
    return km_from_times(times, engagement_days=engagement_days, cutoffs=cutoffs, alpha=alpha)


def km_from_times(
    times: pd.DataFrame,
    *,
    engagement_days: int,
    cutoffs: Sequence[int] = (1, 5),
    alpha: float = 0.05,
) -> SurvivalResult:
    """:func:`km_by_engagement` on a :func:`purchase_times` table (pure, pandas in and out)."""
    landmark = float(engagement_days)
    levels = tuple(str(c) for c in times["engagement"].cat.categories)
    at_landmark = times[times["time"] > landmark]
    if at_landmark.empty:
        raise SurvivalInputError(
            f"no linked member is still purchase-free and followed {engagement_days} days after "
            f"joining (landmark); shorten engagement_days (got {engagement_days})."
        )
    t = at_landmark["time"].to_numpy() - landmark
    entry = np.maximum(at_landmark["entry"].to_numpy() - landmark, 0.0)
    status = at_landmark["event"].to_numpy()
    group = at_landmark["engagement"].astype(str).to_numpy()
    curves, medians = [], []
    for level in levels:
        mask = group == level
        if not mask.any():
            continue
        table, (med, lo, hi) = kaplan_meier(
            t[mask], status[mask], entry[mask] if entry.any() else None, alpha=alpha
        )
        table["time"] += landmark
        table.insert(0, "level", level)
        curves.append(table)
        medians.append(
            {
                "level": level,
                "members": int(mask.sum()),
                "buyers": int(status[mask].sum()),
                "median_days": med + landmark,
                "median_ci_lower": lo + landmark,
                "median_ci_upper": hi + landmark,
            }
        )
    present = len(medians)
    if present > 1:
        chi2, _ = survdiff(t, status, group, entry=entry if entry.any() else None)
        # statsmodels returns 1 - cdf, which loses small p-values; the upper tail keeps them
        chi2, df = float(chi2), present - 1
        p = float(stats.chi2.sf(chi2, df))
    else:
        chi2, p, df = float("nan"), float("nan"), 0
    return SurvivalResult(
        engagement_days=int(engagement_days),
        cutoffs=tuple(int(c) for c in cutoffs),
        levels=levels,
        curves=pd.concat(curves, ignore_index=True),
        medians=pd.DataFrame(medians),
        logrank_chi2=chi2,
        logrank_df=df,
        logrank_p=p,
        n_members=len(at_landmark),
        n_before_landmark=len(times) - len(at_landmark),
        alpha=alpha,
    )


__all__ = [
    "CoxResult",  # re-exported from survival_cox
    "SurvivalInputError",
    "SurvivalResult",
    "cox_time_varying",
    "fit_time_varying_cox",
    "kaplan_meier",
    "km_by_engagement",
    "km_from_times",
    "loglog_interval",
]
