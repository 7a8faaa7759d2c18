"""Result objects of the Bayesian comparisons: two arms (BayesResult) and k arms.

:class:`BayesResult` is returned by :func:`~analysis.experiments.bayes.bayes_binomial` and
:func:`~analysis.experiments.bayes.bayes_means`; :class:`MultiArmBayesResult` by
:func:`~analysis.experiments.bayes_multi.bayes_multi_arm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.results import Result

__all__ = ["BayesResult", "MultiArmBayesResult"]


def _pct(x: float, signed: bool = False) -> str:
    if x is None or math.isnan(x):
        return "undefined"
    if math.isinf(x):
        return "unbounded"
    return f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"


def _num(x: float) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "unbounded"
    return f"{x:.3g}"


@dataclass(frozen=True)
class BayesResult(Result):
    """Posterior comparison of a treatment with a control.

    See :func:`~analysis.experiments.bayes.bayes_binomial`.

    Attributes
    ----------
    metric, metric_type : str
        Metric name; ``"binary"`` (rates) or ``"mean"``.
    control_name, treatment_name : str
        Labels.
    n_control, n_treatment : int
        Units per arm.
    estimate_control, estimate_treatment : float
        Observed rate (``s / n``) or mean per arm.
    posterior_control_ci, posterior_treatment_ci : (float, float)
        Equal-tailed ``1 - alpha`` credible interval of each arm's rate or mean.
    diff : float
        Observed absolute difference ``estimate_treatment - estimate_control``.
    diff_ci : (float, float)
        Credible interval of the absolute difference.
    relative_lift : float
        Observed relative lift ``estimate_treatment / estimate_control - 1`` (NaN if the control
        estimate is 0).
    relative_lift_mean : float
        Posterior mean of the relative lift (equals ``relative_lift`` under ``method="normal"``;
        ``inf`` for the Beta model when the control posterior has :math:`a_c \\le 1`).
    relative_lift_ci : (float, float)
        Credible interval of the relative lift.
    chance_to_win : float
        Posterior probability that the treatment beats the control.
    risk : (float, float)
        Expected *relative* loss of choosing the control and of choosing the treatment,
        ``(E[max(λ, 0)], E[max(-λ, 0)])`` with λ the relative lift (a fraction of the control's
        value; GrowthBook's ``risk_type="relative"``).
    risk_absolute : (float, float)
        Same with the absolute difference (units of the metric).
    alpha : float
        Credible intervals have level ``1 - alpha``.
    method : str
        Model and computation, e.g. ``"Beta–Binomial posterior (numerical integration)"``.
    prior : str
        The prior in words.
    ci_method, relative_ci_method : str
        How the intervals were computed.
    draws, seed : int or None
        Monte Carlo draws and seed (None when computed by integration or in closed form).
    notes : tuple of str
        Caveats (degenerate arms, undefined quantities).
    extra : dict
        Posterior parameters (``posterior_family``, ``posterior_control``,
        ``posterior_treatment``) and model settings.
    """

    metric: str
    metric_type: str
    control_name: str
    treatment_name: str
    n_control: int
    n_treatment: int
    estimate_control: float
    estimate_treatment: float
    posterior_control_ci: tuple[float, float]
    posterior_treatment_ci: tuple[float, float]
    diff: float
    diff_ci: tuple[float, float]
    relative_lift: float
    relative_lift_mean: float
    relative_lift_ci: tuple[float, float]
    chance_to_win: float
    risk: tuple[float, float]
    risk_absolute: tuple[float, float]
    alpha: float
    method: str
    prior: str
    ci_method: str
    relative_ci_method: str
    draws: int | None = None
    seed: int | None = None
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    title = "Bayesian A/B comparison"

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: arms, difference, relative lift, chance to win and the four risks.

        Columns: ``term``, ``n``, ``estimate``, ``ci_low``, ``ci_high``, ``ci_level``,
        ``method``. Arm rows hold the observed estimate and the posterior credible interval.
        """
        nan = math.nan
        rows = [
            (self.control_name, self.n_control, self.estimate_control,
             *self.posterior_control_ci, self.method),
            (self.treatment_name, self.n_treatment, self.estimate_treatment,
             *self.posterior_treatment_ci, self.method),
            ("difference", pd.NA, self.diff, *self.diff_ci, self.ci_method),
            ("relative lift", pd.NA, self.relative_lift, *self.relative_lift_ci,
             self.relative_ci_method),
            ("relative lift, posterior mean", pd.NA, self.relative_lift_mean, nan, nan,
             self.method),
            ("chance to win", pd.NA, self.chance_to_win, nan, nan, self.method),
            ("risk of choosing control (relative)", pd.NA, self.risk[0], nan, nan, self.method),
            ("risk of choosing treatment (relative)", pd.NA, self.risk[1], nan, nan,
             self.method),
            ("risk of choosing control (absolute)", pd.NA, self.risk_absolute[0], nan, nan,
             self.method),
            ("risk of choosing treatment (absolute)", pd.NA, self.risk_absolute[1], nan, nan,
             self.method),
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["term", "n", "estimate", "ci_low", "ci_high", "method"])
        frame.insert(5, "ci_level", 1.0 - self.alpha)
        return frame.astype({"n": "Int64"})

    def summary(self) -> str:
        """Plain-language verdict: chance to win, lift with its credible interval, risks."""
        level = f"{1 - self.alpha:.0%}"
        if math.isnan(self.chance_to_win):
            head = (
                f"{self.metric}: the chance that {self.treatment_name} beats "
                f"{self.control_name} is undefined here [{self.method}]."
            )
        else:
            head = (
                f"{self.metric}: {self.treatment_name} beats {self.control_name} with "
                f"probability {self.chance_to_win:.1%} [{self.method}; prior {self.prior}]."
            )
        lift = (
            f" Observed {self.treatment_name} {_num(self.estimate_treatment)} vs "
            f"{self.control_name} {_num(self.estimate_control)}: difference {_num(self.diff)} "
            f"({level} credible interval {_num(self.diff_ci[0])} to {_num(self.diff_ci[1])}), "
            f"relative lift {_pct(self.relative_lift, True)} ({level} credible interval "
            f"{_pct(self.relative_lift_ci[0], True)} to {_pct(self.relative_lift_ci[1], True)})."
        )
        risk = (
            f" Expected loss if {self.treatment_name} is chosen: {_pct(self.risk[1])} of the "
            f"control value ({_num(self.risk_absolute[1])} absolute); if {self.control_name} is "
            f"kept: {_pct(self.risk[0])} ({_num(self.risk_absolute[0])} absolute)."
        )
        text = head + lift + risk
        if self.notes:
            text += " " + " ".join(self.notes)
        return text

    def plot(self, ax: Any = None) -> Any:
        """Posterior densities of the two arms' rates or means; returns the Axes."""
        import matplotlib.pyplot as plt
        from scipy import stats

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        family = self.extra.get("posterior_family")
        params = [self.extra.get("posterior_control"), self.extra.get("posterior_treatment")]
        names = [self.control_name, self.treatment_name]
        dists = []
        for p in params:
            if p is None or any(v is None or not math.isfinite(v) for v in p) or p[1] <= 0:
                dists.append(None)
            elif family == "beta":
                dists.append(stats.beta(p[0], p[1]))
            else:
                dists.append(stats.norm(p[0], p[1]))
        live = [d for d in dists if d is not None]
        if live:
            lo = min(d.ppf(1e-4) for d in live)
            hi = max(d.ppf(1 - 1e-4) for d in live)
            grid = np.linspace(lo, hi, 400)
            for name, d in zip(names, dists, strict=True):
                if d is not None:
                    ax.plot(grid, d.pdf(grid), label=name)
            ax.legend()
        ax.set_xlabel(self.metric)
        ax.set_ylabel("posterior density")
        ctw = "n/a" if math.isnan(self.chance_to_win) else f"{self.chance_to_win:.1%}"
        ax.set_title(f"chance to win {ctw}", fontsize="medium")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-serialisable values (tuples as lists, NaN and ±inf as None)."""
        from analysis.report import to_jsonable

        return to_jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class MultiArmBayesResult(Result):
    """Probability that each arm is best.

    See :func:`~analysis.experiments.bayes_multi.bayes_multi_arm`.

    Attributes
    ----------
    names : tuple of str
        Arm labels.
    successes, totals : tuple of int
        Counts per arm.
    rates : tuple of float
        Observed ``successes / totals``.
    rate_cis : tuple of (float, float)
        Equal-tailed ``1 - alpha`` credible intervals of each rate (Beta posterior quantiles).
    p_best : tuple of float
        Posterior probability that each arm has the highest rate (sums to 1).
    expected_loss : tuple of float
        :math:`E[\\max_j p_j - p_i]`, the expected absolute loss of choosing arm i.
    alpha : float
        Credible level ``1 - alpha``.
    method, prior : str
        Computation and prior in words.
    draws, seed : int or None
        Monte Carlo draws and seed (None under numerical integration).
    """

    names: tuple[str, ...]
    successes: tuple[int, ...]
    totals: tuple[int, ...]
    rates: tuple[float, ...]
    rate_cis: tuple[tuple[float, float], ...]
    p_best: tuple[float, ...]
    expected_loss: tuple[float, ...]
    alpha: float
    method: str
    prior: str
    draws: int | None = None
    seed: int | None = None

    title = "Bayesian multi-arm comparison"

    @property
    def best(self) -> str:
        """Name of the arm with the highest probability of being best."""
        return self.names[int(np.argmax(self.p_best))]

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: counts, rate, credible interval, P(best) and expected loss."""
        return pd.DataFrame(
            {
                "name": list(self.names),
                "successes": list(self.successes),
                "n": list(self.totals),
                "rate": list(self.rates),
                "ci_low": [c[0] for c in self.rate_cis],
                "ci_high": [c[1] for c in self.rate_cis],
                "ci_level": 1.0 - self.alpha,
                "p_best": list(self.p_best),
                "expected_loss": list(self.expected_loss),
            }
        )

    def summary(self) -> str:
        """Which arm is most likely best, how likely, and what choosing it risks."""
        i = int(np.argmax(self.p_best))
        mc = f", {self.draws:,} draws, seed {self.seed}" if self.draws else ""
        return (
            f"{self.names[i]} is most likely the best of {len(self.names)} arms "
            f"(P(best) = {self.p_best[i]:.1%}; rate {self.rates[i]:.2%}); choosing it has an "
            f"expected loss of {self.expected_loss[i]:.3g} in rate. P(best) per arm: "
            + ", ".join(f"{n} {p:.1%}" for n, p in zip(self.names, self.p_best, strict=True))
            + f" [{self.method}{mc}; prior {self.prior}]."
        )

    def plot(self, ax: Any = None) -> Any:
        """Bar chart of P(best) per arm; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(1.6 + 1.2 * len(self.names), 3.2))
        ax.bar(list(self.names), list(self.p_best))
        ax.set_ylim(0, 1)
        ax.set_ylabel("P(best)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-serialisable values."""
        from analysis.report import to_jsonable

        return to_jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})
