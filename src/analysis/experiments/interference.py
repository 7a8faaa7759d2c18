"""Interference check: do control units surrounded by treated units behave differently?

:func:`spillover_check` regresses the control outcome on the share of treated neighbours in the
interaction graph (:func:`treated_neighbour_share`); a clear slope signals interference (a
violation of SUTVA).

References
----------
.. [1] Aronow, P. M. & Samii, C. (2017). Estimating average causal effects under general
   interference. *Annals of Applied Statistics* 11(4), 1912-1947; Eckles, D., Karrer, B. &
   Ugander, J. (2017). Design and analysis of experiments in networks: reducing bias from
   interference. *Journal of Causal Inference* 5(1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.experiments._design_common import _check_alpha, _fmt_p, _level, _need_columns
from analysis.results import Result

__all__ = [
    "NO_SPILLOVER",
    "SPILLOVER_BETTER",
    "SPILLOVER_WORSE",
    "SpilloverCheck",
    "spillover_check",
    "treated_neighbour_share",
]


#: Verdicts of :func:`spillover_check`.
NO_SPILLOVER = "no detectable spillover"
SPILLOVER_BETTER = "control units with more treated neighbours did better: possible interference"
SPILLOVER_WORSE = "control units with more treated neighbours did worse: possible interference"


@dataclass(frozen=True)
class SpilloverCheck(Result):
    """Regression of control outcomes on their share of treated neighbours.

    See :func:`spillover_check`.

    Attributes
    ----------
    slope : float
        OLS slope: change in the control outcome when the treated share of a unit's
        neighbourhood goes from 0 to 1.
    slope_ci : tuple of float
        Two-sided ``1 - alpha`` interval of the slope (HC1 SE, t with ``n_used - 2`` df).
    se : float
        HC1 standard error of the slope.
    p_value : float
        Two-sided p-value of slope = 0.
    intercept : float
        Fitted outcome of a control unit with no treated neighbours.
    alpha : float
    n_control : int
        Control units in ``units``.
    n_used : int
        Control units with at least one neighbour (with positive weight) in ``units``.
    n_isolated : int
        Control units left out because they have no such neighbour (share undefined).
    mean_share, sd_share : float
        Mean and standard deviation of the treated share over the units used.
    n_edges : int
        Distinct undirected neighbour pairs used.
    n_edges_dropped : int
        Edge rows dropped: self-loops and edges touching a unit not in ``units``.
    weighted : bool
        Whether shares were weighted by edge weight.
    higher_is_better : bool
        Whether a higher outcome counts as "better" in the verdict.
    detected : bool
        ``p_value < alpha``.
    verdict : str
        ``"no detectable spillover"`` or ``"control units with more treated neighbours did
        better|worse: possible interference"``.
    """

    slope: float
    slope_ci: tuple[float, float]
    se: float
    p_value: float
    intercept: float
    alpha: float
    n_control: int
    n_used: int
    n_isolated: int
    mean_share: float
    sd_share: float
    n_edges: int
    n_edges_dropped: int
    weighted: bool
    higher_is_better: bool
    detected: bool
    verdict: str

    title = "Spillover (interference) check"

    def to_frame(self) -> pd.DataFrame:
        """One row: the slope with its CI and p-value, and the counts behind it."""
        return pd.DataFrame(
            [
                {
                    "term": "share of treated neighbours",
                    "estimate": self.slope,
                    "se": self.se,
                    "ci_low": self.slope_ci[0],
                    "ci_high": self.slope_ci[1],
                    "ci_level": 1 - self.alpha,
                    "p_value": self.p_value,
                    "n_used": self.n_used,
                    "n_isolated": self.n_isolated,
                    "mean_share": self.mean_share,
                    "verdict": self.verdict,
                }
            ]
        )

    def summary(self) -> str:
        level = _level(self.alpha)
        effect = (
            f"among {self.n_used:,} control units (mean share of treated neighbours "
            f"{self.mean_share:.0%}), the outcome changed by {self.slope:+.3g} ({level} CI "
            f"{self.slope_ci[0]:+.3g} to {self.slope_ci[1]:+.3g}) from no treated neighbours to "
            f"all treated; {_fmt_p(self.p_value)}"
        )
        dropped = (
            f" {self.n_isolated:,} control units without neighbours in the experiment were left "
            "out."
            if self.n_isolated
            else ""
        )
        if self.detected:
            how = "better" if (self.slope > 0) == self.higher_is_better else "worse"
            return (
                f"Control units with more treated neighbours did {how}, a sign of possible "
                f"interference: {effect}. The control arm may be affected by the treatment, so "
                "the treatment-control difference can be biased." + dropped
            )
        return (
            f"No detectable spillover: {effect}. This check can only reveal interference "
            "strong enough to show in control outcomes." + dropped
        )

    def plot(self, ax: Any = None) -> Any:
        """The fitted line with its slope interval at share 1; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        xs = np.array([0.0, 1.0])
        ax.plot(xs, self.intercept + self.slope * xs, color="tab:blue")
        ax.fill_between(
            xs,
            self.intercept + self.slope_ci[0] * xs,
            self.intercept + self.slope_ci[1] * xs,
            alpha=0.2,
            color="tab:blue",
        )
        ax.set_xlabel("share of treated neighbours")
        ax.set_ylabel("control outcome (fitted)")
        ax.set_title(f"slope {self.slope:+.3g}, {_fmt_p(self.p_value)}", fontsize="medium")
        return ax

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        return to_jsonable(asdict(self))


def treated_neighbour_share(
    units: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    control: Any = "control",
    weighted: bool = True,
) -> tuple[pd.Series, dict[str, int]]:
    """Share of treated neighbours of every control unit (the exposure of :func:`spillover_check`).

    Returns the share per control ``unit_id`` (NaN for units without neighbours) and counts
    ``{"n_edges": distinct undirected pairs used, "n_edges_dropped": rows dropped}``.
    """
    _need_columns(units, ["unit_id", "variant"], "units")
    _need_columns(edges, ["source", "target"], "edges")
    duplicated = units["unit_id"][units["unit_id"].duplicated()]
    if len(duplicated):
        raise ValueError(
            f"units: column 'unit_id' has {len(duplicated)} repeated values "
            f"(first: {duplicated.head(5).tolist()}); each unit must appear once"
        )
    if control not in set(units["variant"]):
        raise ValueError(f"no unit has variant {control!r} (the control arm)")
    treated = pd.Series(
        (units["variant"] != control).to_numpy(dtype=float), index=units["unit_id"].to_numpy()
    )
    if weighted and "weight" in edges.columns:
        w = edges["weight"].astype(float)
        bad = w.isna() | (w < 0) | ~np.isfinite(w.fillna(0))
        if bad.any():
            raise ValueError(
                f"edges: column 'weight' must be finite and non-negative; {int(bad.sum())} rows "
                f"are not (first values: {w[bad].head(5).tolist()})"
            )
    else:
        w = pd.Series(1.0, index=edges.index)
    e = pd.DataFrame({"a": edges["source"], "b": edges["target"], "w": w})
    keep = (e["a"] != e["b"]) & e["a"].isin(treated.index) & e["b"].isin(treated.index)
    dropped = int((~keep).sum())
    e = e[keep]
    both = pd.concat([e, e.rename(columns={"a": "b", "b": "a"})], ignore_index=True)
    pairs = both.groupby(["a", "b"], sort=False)["w"].sum()
    if not weighted:
        pairs = pairs.clip(upper=1.0)  # one per distinct neighbour, however many edge rows
    pairs = pairs[pairs > 0].reset_index()
    pairs["t"] = treated.reindex(pairs["b"]).to_numpy() * pairs["w"].to_numpy()
    sums = pairs.groupby("a", sort=False)[["w", "t"]].sum()
    controls = treated.index[treated.to_numpy() == 0]
    share = (sums["t"] / sums["w"]).reindex(controls)
    return share, {"n_edges": len(pairs) // 2, "n_edges_dropped": dropped}


def spillover_check(
    units: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    control: Any = "control",
    weighted: bool = True,
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> SpilloverCheck:
    r"""Check for interference: do control units with more treated neighbours fare differently?

    For every control unit :math:`i`, the exposure is its share of treated neighbours
    :math:`s_i = \sum_j w_{ij} T_j / \sum_j w_{ij}`, where :math:`T_j = 1` when neighbour
    :math:`j` is in any non-control arm and :math:`w_{ij}` is the total weight of the edges
    between :math:`i` and :math:`j`. The graph is **undirected**: an edge row
    ``source → target`` makes each the other's neighbour, and rows in both directions or
    repeated rows add up. With ``weighted=False`` (or no ``weight`` column) every distinct
    neighbour counts once. Self-loops and edges to units missing from ``units`` (whose arm is
    unknown) are dropped; control units without neighbours are left out.

    The control outcome is regressed on the exposure, :math:`y_i = a + b\,s_i + e_i`, by OLS
    with HC1 heteroskedasticity-robust standard errors (statsmodels) and a t distribution with
    :math:`n - 2` df. Under randomisation without interference the share is independent of
    every unit's own characteristics (its expectation is the treated fraction whatever the
    degree), so :math:`b = 0`; a significant :math:`b` says treatment leaks to control units
    through the graph (Aronow & Samii 2017; Eckles, Karrer & Ugander 2017), which biases the
    plain treatment-control difference (usually towards zero for positive spillover).

    Caveats: the test has power only for spillover large relative to outcome noise; and when
    control outcomes are correlated along edges (homophily, shared threads) the HC1 SE, which
    treats units as independent, can be too small — then permute the assignment instead.

    Parameters
    ----------
    units : pandas.DataFrame
        Columns ``unit_id`` (unique), ``variant`` and ``outcome`` (numeric).
    edges : pandas.DataFrame
        Columns ``source``, ``target`` (unit ids) and optionally ``weight`` (non-negative).
    control : default "control"
        The ``variant`` value of the control arm.
    weighted : bool, default True
        Weight neighbours by edge weight (when a ``weight`` column exists).
    alpha : float, default 0.05
    higher_is_better : bool, default True
        Whether a positive slope means control units "did better".

    Returns
    -------
    SpilloverCheck

    Raises
    ------
    ValueError
        On missing columns, duplicated units, missing outcomes, no control arm, fewer than 3
        control units with neighbours, or no variation in their treated share.
    """
    alpha = _check_alpha(alpha)
    _need_columns(units, ["unit_id", "variant", "outcome"], "units")
    share, counts = treated_neighbour_share(units, edges, control=control, weighted=weighted)
    outcome = pd.Series(units["outcome"].astype(float).to_numpy(), index=units["unit_id"])
    y = outcome.reindex(share.index)
    if y.isna().any():
        raise ValueError(f"{int(y.isna().sum())} control units have a missing outcome")
    used = share.notna()
    n_used = int(used.sum())
    if n_used < 3:
        raise ValueError(f"only {n_used} control units have neighbours in the experiment")
    s = share[used].to_numpy(dtype=float)
    if np.ptp(s) == 0:
        raise ValueError(
            f"every control unit has the same share of treated neighbours ({s[0]:.3g}): "
            "the check needs variation"
        )
    fit = sm.OLS(y[used].to_numpy(), sm.add_constant(s)).fit(cov_type="HC1", use_t=True)
    slope, se, p = float(fit.params[1]), float(fit.bse[1]), float(fit.pvalues[1])
    low, high = (float(v) for v in fit.conf_int(alpha=alpha)[1])
    detected = bool(p < alpha)
    if not detected:
        verdict = NO_SPILLOVER
    else:
        better = (slope > 0) == higher_is_better
        verdict = SPILLOVER_BETTER if better else SPILLOVER_WORSE
    return SpilloverCheck(
        slope=slope,
        slope_ci=(low, high),
        se=se,
        p_value=p,
        intercept=float(fit.params[0]),
        alpha=alpha,
        n_control=int(len(share)),
        n_used=n_used,
        n_isolated=int(len(share) - n_used),
        mean_share=float(s.mean()),
        sd_share=float(s.std(ddof=1)),
        n_edges=counts["n_edges"],
        n_edges_dropped=counts["n_edges_dropped"],
        weighted=bool(weighted and "weight" in edges.columns),
        higher_is_better=bool(higher_is_better),
        detected=detected,
        verdict=verdict,
    )
