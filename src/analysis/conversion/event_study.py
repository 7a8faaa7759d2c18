"""Before/after joining: a staggered-adoption event study of monthly spend.

Estimator (Callaway & Sant'Anna 2021, "Difference-in-Differences with multiple time periods",
J. Econometrics 225(2); unconditional, outcome-mean version)
    Units are customers in the panel of :mod:`analysis.conversion.event_study_panel`; cohort
    ``g`` is the month their member joined. For every cohort ``g`` and month ``t ≠ g − 1`` the
    group-time effect is the 2×2 difference in differences against the *universal* reference
    month ``g − 1``::

        ATT(g, t) = mean_{i ∈ g}(Y_it − Y_i,g−1) − mean_{i ∈ C(g,t)}(Y_it − Y_i,g−1)

    over units observed in both months, with controls ``C(g, t)`` = customers not yet joined at
    ``max(t, g − 1)`` (cohort > max(t, g − 1), other than ``g``) plus never-joined customers
    (the "not-yet-treated" comparison group of CS 2021, eq. 2.6). For ``t < g − 1`` these are
    placebo (pre-trend) effects. Event-time effects aggregate them with cohort-size weights
    (CS 2021, eq. 3.5, "dynamic" aggregation)::

        θ(e) = Σ_g n_g · ATT(g, g + e) / Σ_g n_g   over cohorts with ATT(g, g + e) defined,

    so θ(−1) = 0 by construction (the reference period).
Uncertainty
    Nonparametric bootstrap over customers (``n_boot`` multinomial resamples, ``seed``), which
    re-estimates the cohort weights as well; standard errors are bootstrap standard deviations,
    intervals ``θ ± z·se`` (pointwise). Resampling customers makes the errors robust to any
    correlation of a customer's spend over months (clustering by unit).
Pre-trend test
    Wald test that all pre-period effects θ(e), e ≤ −2 in the event window, are zero:
    ``W = θ'V⁻¹θ`` with the bootstrap covariance ``V``, referred to χ²(k) (as in the joint
    pre-test of CS 2021, §4.1; Roth 2022 on what passing it does and does not guarantee).
Assumptions
    Parallel trends in spend between joiners and not-yet/never joiners, no anticipation before
    the join month, and stable cohort composition. Joining is self-selected: the estimate is the
    change in joiners' spend relative to comparable customers, not a randomised effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.conversion.event_study_panel import (
    EventStudyInputError,
    SpendPanel,
    monthly_spend_panel,
)
from analysis.data import Community
from analysis.results import Result

#: Bootstrap weights are drawn in chunks of about this many numbers (replicates × customers).
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class EventStudyResult(Result):
    """Event-time effects of joining on monthly spend with a pre-trend check.

    Attributes
    ----------
    estimates : pandas.DataFrame
        Per event time ``e`` (months since the join month; −1 is the reference, fixed at 0):
        ``event_time``, ``estimate`` θ(e), ``se``, ``ci_lower``, ``ci_upper``, ``n_cohorts``,
        ``n_treated`` (joining customers contributing).
    att_gt : pandas.DataFrame
        Group-time effects: ``cohort``, ``period``, ``event_time``, ``att``, ``n_treated``,
        ``n_control``.
    post_average, post_average_se : float
        Mean of θ(e) over post-join event times ``0..window_end`` in the window, and its
        bootstrap standard error.
    pretrend_chi2, pretrend_p : float; pretrend_df : int
        Joint Wald test that pre-join effects (e ≤ −2) are zero (NaN/0 without pre-periods).
    n_units, n_treated, n_never : int
        Customers in the panel; of them joining inside the panel, and never-joined.
    dropped_no_pre : int
        Joining customers without an observed month before joining (left out).
    n_boot, seed : int
        Bootstrap resamples and seed.
    """

    estimates: pd.DataFrame
    att_gt: pd.DataFrame
    post_average: float
    post_average_se: float
    pretrend_chi2: float
    pretrend_df: int
    pretrend_p: float
    n_units: int
    n_treated: int
    n_never: int
    dropped_no_pre: int
    n_boot: int
    seed: int
    alpha: float = 0.05
    title: str = "Monthly spend before and after joining (event study)"

    def to_frame(self) -> pd.DataFrame:
        return self.estimates.copy()

    def summary(self) -> str:
        z = stats.norm.ppf(1 - self.alpha / 2)
        lo = self.post_average - z * self.post_average_se
        hi = self.post_average + z * self.post_average_se
        text = (
            f"After joining, {self.n_treated} customers' monthly spend changed by "
            f"{self.post_average:+.2f} on average relative to customers who had not joined yet "
            f"({1 - self.alpha:.0%} CI {lo:+.2f} to {hi:+.2f})."
        )
        if self.pretrend_df > 0:
            if self.pretrend_p < self.alpha:
                text += (
                    f" Warning: before joining, joiners' spend already drifted from the "
                    f"comparison group (pre-trend test p={self.pretrend_p:.3g}), so the "
                    f"after-joining change is not a clean effect."
                )
            else:
                text += (
                    f" Before joining, their spend moved like the comparison group's (pre-trend "
                    f"test p={self.pretrend_p:.3g}), which supports, but does not prove, the "
                    f"comparison."
                )
        return text + " Members chose to join, so this is not a randomised effect."

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 3.5))
        est = self.estimates.assign(phase=np.where(self.estimates["event_time"] < 0, "pre", "post"))
        sns.scatterplot(data=est, x="event_time", y="estimate", hue="phase", ax=ax, zorder=3)
        ax.errorbar(
            est["event_time"],
            est["estimate"],
            yerr=[est["estimate"] - est["ci_lower"], est["ci_upper"] - est["estimate"]],
            fmt="none",
            ecolor="grey",
            capsize=3,
        )
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.axvline(-0.5, color="grey", linestyle="--")
        ax.set_xlabel("months since joining (−1 = reference)")
        ax.set_ylabel("change in monthly spend")
        ax.set_title("Spend before and after joining, vs not-yet-joined customers")
        return ax


def _wide(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Units sorted by cohort (never last): ``Y`` (n × T, NaN missing), observed mask, cohort."""
    wide = frame.pivot(index="unit", columns="period", values="spend")
    n_t = int(frame["period"].max()) + 1
    wide = wide.reindex(columns=range(n_t))
    cohort = frame.groupby("unit")["cohort"].first().reindex(wide.index).to_numpy(float)
    cohort = np.where(np.isnan(cohort), np.inf, cohort)
    order = np.argsort(cohort, kind="stable")
    y = wide.to_numpy(float)[order]
    return y, ~np.isnan(y), cohort[order], wide.index.to_numpy()[order]


def _check_panel(frame: pd.DataFrame) -> None:
    missing = {"unit", "period", "spend", "cohort"} - set(frame.columns)
    if missing:
        raise EventStudyInputError(f"panel lacks columns {sorted(missing)}")
    if frame.duplicated(["unit", "period"]).any():
        dup = frame.loc[frame.duplicated(["unit", "period"]), ["unit", "period"]].iloc[0]
        raise EventStudyInputError(
            f"panel has more than one row for unit {dup['unit']!r}, period {dup['period']}"
        )
    bad = ~np.isfinite(frame["spend"].to_numpy(float))
    if bad.any():
        row = frame.loc[bad].iloc[0]
        raise EventStudyInputError(
            f"panel field 'spend' must be finite; unit {row['unit']!r}, period {row['period']} "
            f"has {row['spend']!r}"
        )


def _estimate(
    y: np.ndarray, obs: np.ndarray, cohort: np.ndarray, weights: np.ndarray
) -> tuple[dict[tuple[int, int], np.ndarray], dict[int, np.ndarray], dict]:
    """ATT(g, t) for every weight row (row 0 = the data), cohort sizes and cell counts."""
    n_t = y.shape[1]
    groups = [int(g) for g in np.unique(cohort[np.isfinite(cohort)]) if 1 <= g <= n_t - 1]
    values = np.unique(cohort)
    bounds = np.searchsorted(cohort, values, side="left")
    ends = np.r_[bounds[1:], len(cohort)]
    att: dict[tuple[int, int], np.ndarray] = {}
    counts: dict[tuple[int, int], tuple[int, int]] = {}
    sizes = {g: weights[:, cohort == g].sum(axis=1) for g in groups}
    for g in groups:
        base = g - 1
        mask = obs & obs[:, [base]]
        x = np.where(mask, y - np.where(obs[:, [base]], y[:, [base]], 0.0), 0.0)
        m = mask.astype(float)
        sums = np.stack([weights[:, a:b] @ x[a:b] for a, b in zip(bounds, ends, strict=True)])
        cnts = np.stack([weights[:, a:b] @ m[a:b] for a, b in zip(bounds, ends, strict=True)])
        raw = np.stack([m[a:b].sum(axis=0) for a, b in zip(bounds, ends, strict=True)])
        mine = int(np.flatnonzero(values == g)[0])
        for t in range(n_t):
            if t == base:
                continue
            ctrl = (values > max(t, base)) & (values != g)
            n_tr, n_c = raw[mine, t], raw[ctrl, t].sum()
            if n_tr == 0 or n_c == 0:
                continue
            c_sum, c_cnt = sums[ctrl, :, t].sum(axis=0), cnts[ctrl, :, t].sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                att[(g, t)] = sums[mine, :, t] / cnts[mine, :, t] - c_sum / c_cnt
            counts[(g, t)] = (int(n_tr), int(n_c))
    return att, sizes, counts


def _bootstrap(
    y: np.ndarray, obs: np.ndarray, cohort: np.ndarray, n_boot: int, seed: int
) -> tuple[dict[tuple[int, int], np.ndarray], dict[int, np.ndarray], dict]:
    """:func:`_estimate` for the data (row 0) and ``n_boot`` multinomial resamples of units,
    drawn in chunks so that the weight matrix stays near ``CHUNK_CELLS`` numbers."""
    n = len(cohort)
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_CELLS // max(n, 1))
    att: dict[tuple[int, int], list[np.ndarray]] = {}
    sizes: dict[int, list[np.ndarray]] = {}
    counts: dict = {}
    done = 0
    while done < n_boot + 1:
        rows = min(chunk, n_boot + 1 - done)
        n_draw = rows - 1 if done == 0 else rows
        draws = rng.multinomial(n, np.full(n, 1.0 / n), size=n_draw).astype(float)
        weights = np.vstack([np.ones((1, n)), draws]) if done == 0 else draws
        part_att, part_sizes, part_counts = _estimate(y, obs, cohort, weights)
        if done == 0:
            counts = part_counts
            att = {k: [v] for k, v in part_att.items()}
            sizes = {k: [v] for k, v in part_sizes.items()}
        else:
            for k in att:
                att[k].append(part_att[k])
            for k in sizes:
                sizes[k].append(part_sizes[k])
        done += rows
    return (
        {k: np.concatenate(v) for k, v in att.items()},
        {k: np.concatenate(v) for k, v in sizes.items()},
        counts,
    )


def event_study_from_panel(
    frame: pd.DataFrame,
    *,
    event_window: tuple[int, int] = (-6, 6),
    n_boot: int = 499,
    seed: int = 0,
    alpha: float = 0.05,
    dropped_no_pre: int = 0,
) -> EventStudyResult:
    """The event study on a long panel; pure (pandas in, result out).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per observed unit-period: ``unit``, ``period`` (0-based integer month),
        ``spend`` (finite), ``cohort`` (period the unit's member joined; NaN never joined).
        Periods a unit is not observed in are absent (not zero).
    event_window : (int, int)
        ``(lo, hi)`` event times reported and tested; ``lo <= -2`` for a pre-trend test.
    n_boot : int
        Bootstrap resamples of units.
    seed : int
        Seed of the bootstrap (results are reproducible bit for bit).
    alpha : float
        Intervals are ``1 - alpha``; the pre-trend summary flags ``p < alpha``.
    dropped_no_pre : int
        Passed through to the result (units left out upstream for lack of a pre-period).

    Returns
    -------
    EventStudyResult

    See the module docstring for the estimator (Callaway & Sant'Anna 2021).
    """
    _check_panel(frame)
    lo, hi = event_window
    if not lo < 0 <= hi:
        raise ValueError(f"event_window must satisfy lo < 0 <= hi, got {event_window}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2, got {n_boot}")
    y, obs, cohort, _ = _wide(frame)
    n = len(cohort)
    att, sizes, counts = _bootstrap(y, obs, cohort, n_boot, seed)
    if not att:
        raise EventStudyInputError(
            "no cohort of joining customers has both a reference month and comparison "
            "customers (not yet joined or never joined); nothing to estimate."
        )
    rows = []
    theta: dict[int, np.ndarray] = {}
    for e in range(lo, hi + 1):
        if e == -1:
            continue
        cells = [(g, g + e) for g in sizes if (g, g + e) in att]
        if not cells:
            continue
        w = np.stack([sizes[g] for g, _ in cells])
        vals = np.stack([att[c] for c in cells])
        # a resample may lack a cohort or its controls: average over the cells it has
        ok = np.isfinite(vals) & (w > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            theta[e] = np.where(ok, w * vals, 0.0).sum(axis=0) / np.where(ok, w, 0.0).sum(axis=0)
        rows.append((e, len(cells), sum(counts[c][0] for c in cells)))
    z = stats.norm.ppf(1 - alpha / 2)
    table = []
    for e, n_cohorts, n_tr in rows:
        est, draws = theta[e][0], theta[e][1:]
        se = float(np.nanstd(draws, ddof=1))
        table.append((e, est, se, est - z * se, est + z * se, n_cohorts, n_tr))
    table.append((-1, 0.0, 0.0, 0.0, 0.0, len(sizes), 0))
    estimates = pd.DataFrame(
        table,
        columns=["event_time", "estimate", "se", "ci_lower", "ci_upper", "n_cohorts", "n_treated"],
    )
    estimates = estimates.sort_values("event_time").reset_index(drop=True)
    post = [e for e in theta if e >= 0]
    if not post:
        raise EventStudyInputError("no post-joining month is observed for any joining cohort")
    post_draws = np.mean([theta[e] for e in post], axis=0)
    pre = [e for e in theta if e <= -2]
    if pre:
        mat = np.stack([theta[e] for e in pre])
        draws = mat[:, 1:][:, np.isfinite(mat[:, 1:]).all(axis=0)]
        if draws.shape[1] > len(pre):
            cov = np.atleast_2d(np.cov(draws))
            chi2 = float(mat[:, 0] @ np.linalg.pinv(cov) @ mat[:, 0])
            pre_p = float(stats.chi2.sf(chi2, len(pre)))
        else:
            chi2, pre_p = float("nan"), float("nan")
    else:
        chi2, pre_p = float("nan"), float("nan")
    att_gt = pd.DataFrame(
        [
            {
                "cohort": g,
                "period": t,
                "event_time": t - g,
                "att": v[0],
                "n_treated": counts[(g, t)][0],
                "n_control": counts[(g, t)][1],
            }
            for (g, t), v in sorted(att.items())
        ]
    )
    treated = np.isfinite(cohort) & (cohort <= y.shape[1] - 1)
    return EventStudyResult(
        estimates=estimates,
        att_gt=att_gt,
        post_average=float(post_draws[0]),
        post_average_se=float(np.nanstd(post_draws[1:], ddof=1)),
        pretrend_chi2=chi2,
        pretrend_df=len(pre),
        pretrend_p=pre_p,
        n_units=n,
        n_treated=int(treated.sum()),
        n_never=int(np.isinf(cohort).sum()),
        dropped_no_pre=dropped_no_pre,
        n_boot=n_boot,
        seed=seed,
        alpha=alpha,
    )


def spend_event_study(
    community: Community,
    *,
    event_window: tuple[int, int] = (-6, 6),
    include_never: bool = True,
    start: Any = None,
    end: Any = None,
    n_boot: int = 499,
    seed: int = 0,
    alpha: float = 0.05,
) -> EventStudyResult:
    """Event study of monthly spend around joining (Callaway–Sant'Anna, not-yet-joined controls).

    Parameters
    ----------
    community : Community
        Needs ``members``, ``customers`` (with ``member_id`` links) and ``orders``.
    event_window : (int, int)
        Months relative to the join month reported and tested (−1 is the reference).
    include_never : bool
        Add never-joined customers (no member link) to the comparison group.
    start, end : timestamp, optional
        First and last panel month (default: months of the first and last order).
    n_boot, seed, alpha
        As in :func:`event_study_from_panel`.

    Returns
    -------
    EventStudyResult

    The panel is built on the engine by
    :func:`~analysis.conversion.event_study_panel.monthly_spend_panel` (definitions there).
    Cost: the bootstrap is ``O(n_boot × customers × months × cohorts)`` arithmetic, in chunks
    of about ``CHUNK_CELLS`` weights.
    """
    panel: SpendPanel = monthly_spend_panel(
        community, start=start, end=end, include_never=include_never
    )
    return event_study_from_panel(
        panel.frame,
        event_window=event_window,
        n_boot=n_boot,
        seed=seed,
        alpha=alpha,
        dropped_no_pre=panel.dropped_no_pre,
    )


__all__ = [
    "EventStudyInputError",
    "EventStudyResult",
    "event_study_from_panel",
    "spend_event_study",
]
