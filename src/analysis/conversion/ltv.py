"""Customer lifetime value: BTYD summaries, BG/NBD + Gamma–Gamma per group, CLV with intervals.

Definitions
-----------
Customer summary
    ``frequency, recency, T, monetary_value`` per customer as in
    :mod:`analysis.conversion.btyd_summary` (purchases collapsed by UTC day, repeat mean spend).

Lifetime value over a horizon of ``H`` periods (Fader, Hardie & Lee 2005b, "RFM and CLV")
    ``CLV_i = Σ_{k=1..H} (E[Y(k)|·] − E[Y(k−1)|·]) · E[Z|·] / (1 + d)^k``: BG/NBD expected
    purchases in period ``k`` times Gamma–Gamma expected spend, discounted at rate ``d`` per
    period (``d = 0``: ``E[Y(H)|·] · E[Z|·]``). Customers with no repeat purchase get the
    population mean spend ``pγ/(q−1)``. Revenue, not margin.
Groups
    A customer is a *member* when ``customers.member_id`` links to a community member who is
    neither staff nor a bot; otherwise a *non-member*. Each group gets its own BG/NBD and
    Gamma–Gamma fit. Comparisons between the groups are **associational** (members select
    themselves); with ``weights`` (e.g. ATT weights from a propensity model) the fits and group
    means are weighted and the comparison is as causal as the weights make it.
Intervals
    Parametric bootstrap over parameter uncertainty (Krinsky & Robb 1986): log-parameters are
    drawn from their estimated normal sampling distribution (observed information, or the
    sandwich with weights), the group means are recomputed for each draw, and the interval is
    the percentile interval. The target is the group's mean *expected* value given these
    customers' histories: the interval covers parameter uncertainty (checked by simulation in
    ``tests/validation/test_conversion_ltv_validation.py``), not the Poisson noise of the
    purchases to come, nor the sampling of the customers themselves — as an interval for a wider
    population of customers it is too narrow.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
   way. *Marketing Science* 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005b). RFM and CLV: using iso-value curves
   for customer base analysis. *Journal of Marketing Research* 42(4), 415-430.
.. [3] Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
.. [4] Krinsky, I. & Robb, A. L. (1986). On approximating the statistical properties of
   elasticities. *Review of Economics and Statistics* 68(4), 715-719.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.conversion.bgnbd import (
    BgNbdFit,
    ModelFitError,
    bgnbd_conditional_expected_purchases,
    bgnbd_p_alive,
    fit_bgnbd,
)
from analysis.conversion.btyd_summary import community_customer_summary
from analysis.conversion.gamma_gamma import (
    GammaGammaFit,
    fit_gamma_gamma,
    gamma_gamma_conditional_spend,
)
from analysis.data import Community, utc_timestamp
from analysis.results import Result

__all__ = [
    "GroupLtv",
    "LtvResult",
    "lifetime_value",
    "predict_clv",
]


def predict_clv(
    bg_params: Any,
    gg_params: Any,
    summary: pd.DataFrame,
    *,
    horizon: int,
    discount_rate: float = 0.0,
) -> pd.DataFrame:
    """Per-customer expected purchases, P(alive), expected spend and CLV over ``horizon`` periods.

    Columns: ``expected_purchases`` (E[Y(horizon) | x, t_x, T], FHL 2005 eq. 10), ``p_alive``,
    ``expected_spend`` (Gamma–Gamma eq. 5; the population mean for x = 0) and ``clv`` (module
    docstring). ``summary`` has ``frequency, recency, T, monetary_value``.
    """
    x = summary["frequency"].to_numpy(float)
    t_x = summary["recency"].to_numpy(float)
    T = summary["T"].to_numpy(float)
    spend = gamma_gamma_conditional_spend(gg_params, x, summary["monetary_value"].to_numpy(float))
    cum = bgnbd_conditional_expected_purchases(bg_params, horizon, x, t_x, T)
    if discount_rate == 0:
        clv = cum * spend
    else:
        # expected purchases in each period k = 1..horizon, once per distinct (x, t_x, T)
        keys, inverse = np.unique(np.column_stack([x, t_x, T]), axis=0, return_inverse=True)
        k = np.arange(1, horizon + 1, dtype=float)[:, None]
        cum_k = bgnbd_conditional_expected_purchases(bg_params, k, *keys.T)  # (horizon, n_keys)
        per_period = np.diff(cum_k, axis=0, prepend=0.0)
        discounted = (1 + discount_rate) ** -k.ravel() @ per_period
        clv = discounted[inverse.ravel()] * spend
    return pd.DataFrame(
        {
            "expected_purchases": cum,
            "p_alive": bgnbd_p_alive(bg_params, x, t_x, T),
            "expected_spend": spend,
            "clv": clv,
        },
        index=summary.index,
    )


@dataclass(frozen=True)
class GroupLtv:
    """Lifetime value of one group of customers.

    Attributes
    ----------
    label : str
        ``"members"`` or ``"non-members"``.
    n_customers, n_repeat : int
        Customers in the BG/NBD fit, and repeat buyers in the Gamma–Gamma fit.
    bgnbd : BgNbdFit
        Purchase-process fit (parameters with standard errors).
    gamma_gamma : GammaGammaFit
        Spend fit.
    expected_purchases, expected_spend, clv, p_alive : float
        (Weighted) means over the group's customers of the per-customer predictions of
        :func:`predict_clv` over the result's horizon.
    expected_purchases_ci, expected_spend_ci, clv_ci : tuple of float
        Percentile intervals from the parametric bootstrap (module docstring).
    new_customer_purchases : float
        Expected repeat purchases over the horizon of a customer acquired today (E[X(t)], FHL
        2005 eq. 9) — what the group's model expects of its next recruit.
    """

    label: str
    n_customers: int
    n_repeat: int
    bgnbd: BgNbdFit
    gamma_gamma: GammaGammaFit
    expected_purchases: float
    expected_purchases_ci: tuple[float, float]
    expected_spend: float
    expected_spend_ci: tuple[float, float]
    clv: float
    clv_ci: tuple[float, float]
    p_alive: float
    new_customer_purchases: float


@dataclass(frozen=True)
class LtvResult(Result):
    """Lifetime value by group (members vs non-members); see :func:`lifetime_value`.

    Attributes
    ----------
    groups : tuple of GroupLtv
        One entry per group.
    horizon : int
        Periods ahead of the calibration end.
    unit : str
        Length of a period (``"W"`` weeks).
    discount_rate : float
        Discount rate per period.
    calibration_end : pandas.Timestamp
        Last day of data used.
    weighted : bool
        Whether case weights were used (otherwise the comparison is associational).
    alpha : float
        Intervals have coverage ``1 - alpha``.
    interval_method : str
        How the intervals were computed.
    n_draws, seed : int
        Bootstrap draws and seed.
    clv_diff : float
        Mean CLV of members minus non-members (associational unless ``weighted``).
    clv_diff_ci : tuple of float
        Percentile interval of the difference (the groups' draws are independent).
    """

    groups: tuple[GroupLtv, ...]
    horizon: int
    unit: str
    discount_rate: float
    calibration_end: pd.Timestamp
    weighted: bool
    alpha: float
    interval_method: str
    n_draws: int
    seed: int
    clv_diff: float
    clv_diff_ci: tuple[float, float]
    title: str = "Customer lifetime value (BG/NBD + Gamma–Gamma)"

    def group(self, label: str) -> GroupLtv:
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(f"no group {label!r}; groups are {[g.label for g in self.groups]}")

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for g in self.groups:
            row: dict[str, Any] = {"group": g.label, "customers": g.n_customers}
            row["repeat_buyers"] = g.n_repeat
            for name, value in zip(("r", "alpha", "a", "b"), g.bgnbd.params, strict=True):
                row[name], row[f"{name}_se"] = value, g.bgnbd.se[name]
            for name, value in zip(("p", "q", "gamma"), g.gamma_gamma.params, strict=True):
                row[name], row[f"{name}_se"] = value, g.gamma_gamma.se[name]
            for field in ("expected_purchases", "expected_spend", "clv"):
                row[field] = getattr(g, field)
                row[f"{field}_low"], row[f"{field}_high"] = getattr(g, f"{field}_ci")
            row["p_alive"] = g.p_alive
            row["new_customer_purchases"] = g.new_customer_purchases
            rows.append(row)
        return pd.DataFrame(rows).set_index("group")

    def summary(self) -> str:
        level = f"{1 - self.alpha:.0%}"
        parts = [
            f"Over the next {self.horizon} periods ({self.unit}), an average {g.label[:-1]} "
            f"customer is expected to make {g.expected_purchases:.2f} purchases worth "
            f"{g.clv:,.2f} in total ({level} interval {g.clv_ci[0]:,.2f} to {g.clv_ci[1]:,.2f})."
            for g in self.groups
        ]
        if len(self.groups) == 2:
            parts.append(
                f"The difference is {self.clv_diff:+,.2f} ({level} interval "
                f"{self.clv_diff_ci[0]:+,.2f} to {self.clv_diff_ci[1]:+,.2f})."
            )
        ridge = [g.label for g in self.groups if dropout_on_ridge(g.bgnbd)]
        if ridge:
            parts.append(
                f"For {' and '.join(ridge)}, the data do not tell how drop-out varies between "
                f"customers; the interval holds that part of the model at its estimate."
            )
        if self.weighted:
            parts.append("Customers are weighted, so the gap is as causal as the weights allow.")
        else:
            parts.append(
                "This comparison is associational: people who join the community may have spent "
                "more anyway."
            )
        return " ".join(parts)

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        frame = self.to_frame().reset_index()
        if ax is None:
            _, ax = plt.subplots(figsize=(2 + 1.4 * len(frame), 3.6))
        sns.barplot(data=frame, x="group", y="clv", hue="group", ax=ax, legend=False)
        ax.errorbar(
            range(len(frame)),
            frame["clv"],
            yerr=[frame["clv"] - frame["clv_low"], frame["clv_high"] - frame["clv"]],
            fmt="none",
            color="black",
            capsize=6,
        )
        ax.set_xlabel("")
        ax.set_ylabel(f"expected value, next {self.horizon} {self.unit}")
        ax.set_title(self.title, fontsize="medium")
        return ax


#: Standard error of log a or log b above which drop-out heterogeneity counts as unidentified
#: (a factor of e³ ≈ 20 at one standard error).
RIDGE_LOG_SE = 3.0
#: ``a + b`` above which the Beta of drop-out probabilities is a point mass for all purposes.
RIDGE_CONCENTRATION = float(np.exp(8))


def dropout_on_ridge(bg: BgNbdFit) -> bool:
    """Whether the BG/NBD fit lies on the ridge where ``a`` and ``b`` are not identified.

    With no heterogeneity in drop-out in the data, ``a`` and ``b`` run off together (the Beta
    collapses to a point ``p = a / (a + b)``); predictions stay stable but ``a`` and ``b`` mean
    little. Flagged when ``a + b`` exceeds :data:`RIDGE_CONCENTRATION` or the standard error of
    ``log a`` or ``log b`` exceeds :data:`RIDGE_LOG_SE`.
    """
    se_log = np.sqrt(np.clip(np.diag(bg.cov_log)[2:], 0, None))
    return bool(
        bg.a + bg.b > RIDGE_CONCENTRATION
        or np.any(~np.isfinite(se_log))
        or np.any(se_log > RIDGE_LOG_SE)
    )


def _bootstrap_means(
    bg: BgNbdFit,
    gg: GammaGammaFit,
    summary: pd.DataFrame,
    weights: np.ndarray,
    *,
    horizon: int,
    discount_rate: float,
    n_draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(n_draws, 3)`` weighted means of expected purchases, spend and CLV over draws.

    When drop-out heterogeneity is not identified (:func:`dropout_on_ridge`), ``a`` and ``b``
    are held at their estimates and ``(r, alpha)`` are drawn from their normal distribution
    conditional on them: draws along the flat ridge would otherwise produce absurd predictions.
    """
    mean, cov = np.log(bg.params), bg.cov_log
    if dropout_on_ridge(bg):
        cond = cov[:2, :2] - cov[:2, 2:] @ np.linalg.solve(cov[2:, 2:], cov[2:, :2])
        head = rng.multivariate_normal(mean[:2], (cond + cond.T) / 2, size=n_draws)
        bg_draws = np.exp(np.column_stack([head, np.tile(mean[2:], (n_draws, 1))]))
    else:
        bg_draws = np.exp(rng.multivariate_normal(mean, cov, size=n_draws))
    gg_draws = np.exp(rng.multivariate_normal(np.log(gg.params), gg.cov_log, size=n_draws))
    out = np.full((n_draws, 3), np.nan)
    for i in range(n_draws):
        if gg_draws[i, 1] <= 1:
            continue  # infinite mean spend in this draw
        pred = predict_clv(
            bg_draws[i], gg_draws[i], summary, horizon=horizon, discount_rate=discount_rate
        )
        cols = pred[["expected_purchases", "expected_spend", "clv"]].to_numpy()
        out[i] = weights @ cols / weights.sum()
    return out


def lifetime_value(
    community: Community,
    *,
    horizon: int = 52,
    unit: str = "W",
    calibration_end: Any = None,
    discount_rate: float = 0.0,
    weights: pd.Series | None = None,
    alpha: float = 0.05,
    n_draws: int = 500,
    seed: int = 0,
) -> LtvResult:
    """Fit BG/NBD + Gamma–Gamma separately for member and non-member customers; CLV by group.

    Parameters
    ----------
    community : Community
        Needs ``members``, ``customers`` and ``orders``.
    horizon : int, default 52
        Periods ahead of ``calibration_end`` (52 weeks = one year).
    unit : str, default "W"
        Period length.
    calibration_end : date-like, optional
        Last day of data to use (default: the day of the last order).
    discount_rate : float, default 0
        Discount rate per period (e.g. ``0.10 / 52`` for 10 % a year in weeks).
    weights : pandas.Series, optional
        Case weights indexed by ``customer_id`` (e.g. ATT weights); every customer in the
        summary needs one.
    alpha : float, default 0.05
        Intervals have coverage ``1 - alpha``.
    n_draws : int, default 500
        Parametric bootstrap draws.
    seed : int, default 0
        Seed of the draws (results are reproducible).

    Returns
    -------
    LtvResult
        Definitions, model references and the interval method are in the module docstring.
    """
    if horizon < 1 or discount_rate < 0 or not 0 < alpha < 1 or n_draws < 10:
        raise ValueError(
            f"need horizon >= 1, discount_rate >= 0, 0 < alpha < 1, n_draws >= 10; got "
            f"{horizon}, {discount_rate}, {alpha}, {n_draws}"
        )
    if calibration_end is None:
        last = community.execute(community.table("orders").ordered_at.max())
        if last is None or pd.isna(last):
            raise ValueError(f"dataset '{community.name}' has no orders")
        calibration_end = last
    end = utc_timestamp(calibration_end).floor("D")
    summary = community_customer_summary(community, calibration_end=end, unit=unit)
    w_all = np.ones(len(summary))
    if weights is not None:
        aligned = weights.reindex(summary["customer_id"])
        if aligned.isna().any():
            missing = aligned.index[aligned.isna()][:5].tolist()
            raise ValueError(f"weights: no weight for customer_id {missing} (and maybe more)")
        w_all = aligned.to_numpy(float)
    rng = np.random.default_rng(seed)
    groups, clv_draws = [], []
    for is_member, label in ((True, "members"), (False, "non-members")):
        mask = (summary["is_member"] == is_member).to_numpy()
        part, w = summary.loc[mask].reset_index(drop=True), w_all[mask]
        if len(part) == 0:
            raise ValueError(f"dataset '{community.name}': no {label} customers with orders")
        try:
            bg = fit_bgnbd(
                part["frequency"],
                part["recency"],
                part["T"],
                weights=w if weights is not None else None,
            )
            rep = (part["frequency"] > 0).to_numpy()
            gg = fit_gamma_gamma(
                part.loc[rep, "frequency"],
                part.loc[rep, "monetary_value"],
                weights=w[rep] if weights is not None else None,
            )
        except ModelFitError as exc:
            raise ModelFitError(f"dataset '{community.name}', {label}: {exc}") from exc
        pred = predict_clv(bg.params, gg.params, part, horizon=horizon, discount_rate=discount_rate)
        means = w @ pred.to_numpy() / w.sum()
        draws = _bootstrap_means(
            bg, gg, part, w, horizon=horizon, discount_rate=discount_rate, n_draws=n_draws, rng=rng
        )
        lo, hi = np.nanquantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
        clv_draws.append(draws[:, 2])
        point = dict(zip(pred.columns, means, strict=True))
        groups.append(
            GroupLtv(
                label,
                len(part),
                int(rep.sum()),
                bg,
                gg,
                float(point["expected_purchases"]),
                (float(lo[0]), float(hi[0])),
                float(point["expected_spend"]),
                (float(lo[1]), float(hi[1])),
                float(point["clv"]),
                (float(lo[2]), float(hi[2])),
                float(point["p_alive"]),
                float(bg.expected_purchases_new(horizon)),
            )
        )
    diff_lo, diff_hi = np.nanquantile(clv_draws[0] - clv_draws[1], [alpha / 2, 1 - alpha / 2])
    return LtvResult(
        tuple(groups),
        horizon,
        unit,
        discount_rate,
        end,
        weights is not None,
        alpha,
        "parametric bootstrap over parameter uncertainty (Krinsky–Robb), percentile interval",
        n_draws,
        seed,
        groups[0].clv - groups[1].clv,
        (float(diff_lo), float(diff_hi)),
    )
