"""Many metrics, many arms: multiplicity corrections, guardrails and ship decisions.

* :func:`adjust_pvalues` — Holm (family-wise error rate) or Benjamini–Hochberg (false discovery
  rate) adjusted p-values, via ``statsmodels.stats.multitest.multipletests`` (same numbers as
  R's ``p.adjust``).
* Non-inferiority tests for guardrail metrics (:func:`non_inferiority_test`,
  :func:`non_inferiority_from_comparison`, :func:`non_inferiority_from_stats`): is the
  treatment *not worse* than the control by more than a margin?
* :class:`MetricFamily` and :func:`decide` — one tidy table with the role, (adjusted) p-value
  and decision of every metric in every treatment arm, following the rules written out in
  :func:`decide`.

References
----------
.. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
   *Scandinavian Journal of Statistics* 6(2), 65-70.
.. [2] Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a practical
   and powerful approach to multiple testing. *JRSS B* 57(1), 289-300.
.. [3] Schumi, J. & Wittes, J. T. (2011). Through the looking glass: understanding
   non-inferiority. *Trials* 12, 106.
.. [4] Kohavi, R., Tang, D. & Xu, Y. (2020). *Trustworthy Online Controlled Experiments*,
   Cambridge University Press, ch. 7 and 21 (guardrail metrics; multiple testing).
.. [5] statsmodels, ``multipletests``,
   https://www.statsmodels.org/stable/generated/statsmodels.stats.multitest.multipletests.html
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.experiments.sufficient import SufficientStats
from analysis.results import Result

__all__ = [
    "DECISIONS",
    "METHODS",
    "MetricFamily",
    "NonInferiorityTest",
    "adjust_pvalues",
    "decide",
    "non_inferiority_from_comparison",
    "non_inferiority_from_stats",
    "non_inferiority_test",
]

#: Correction methods accepted by :func:`adjust_pvalues` (statsmodels names).
METHODS = ("holm", "fdr_bh", "bonferroni")

#: Row decisions of :func:`decide`.
DECISIONS = ("ship", "no effect", "harm", "guardrail ok", "guardrail failed")


def _check_alpha(alpha: float, name: str = "alpha") -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {alpha}")
    return alpha


# --------------------------------------------------------------------------------------------
# Adjusted p-values
# --------------------------------------------------------------------------------------------


def adjust_pvalues(pvalues: Any, method: str = "holm") -> Any:
    r"""Adjust p-values for multiple testing (Holm or Benjamini–Hochberg).

    With the :math:`m` p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`:

    * ``"holm"`` (Holm 1979; controls the family-wise error rate):
      :math:`\tilde p_{(i)} = \max_{j \le i} \min\{1, (m - j + 1)\, p_{(j)}\}`.
    * ``"fdr_bh"`` (Benjamini & Hochberg 1995; controls the false discovery rate under
      independence or positive dependence):
      :math:`\tilde p_{(i)} = \min_{j \ge i} \min\{1, m\, p_{(j)} / j\}`.
    * ``"bonferroni"``: :math:`\min\{1, m\, p_i\}`.

    Reject hypothesis :math:`i` at level :math:`\alpha` when :math:`\tilde p_i < \alpha`
    (statsmodels rejects at :math:`\le`; the two differ only on exact ties). Computed by
    ``statsmodels.stats.multitest.multipletests``, identical to R's ``p.adjust``.

    Parameters
    ----------
    pvalues : array-like or pandas.Series
        Raw p-values in [0, 1]. NaN entries stay NaN and do not count towards :math:`m`.
    method : {"holm", "fdr_bh", "bonferroni"}, default "holm"

    Returns
    -------
    numpy.ndarray or pandas.Series
        Adjusted p-values in the input order (a Series keeps its index and name).

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03, 0.005, 0.55, 0.6]).round(6).tolist()
    [0.05, 0.12, 0.12, 0.03, 1.0, 1.0]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    series = pvalues if isinstance(pvalues, pd.Series) else None
    p = np.asarray(pvalues, dtype=float).ravel()
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[finite].min()}..{p[finite].max()}")
    out = np.full(p.shape, np.nan)
    if finite.any():
        out[finite] = multipletests(p[finite], method=method)[1]
    if series is not None:
        return pd.Series(out, index=series.index, name=series.name)
    return out


# --------------------------------------------------------------------------------------------
# Non-inferiority (guardrails)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NonInferiorityTest(Result):
    """One-sided test that the treatment is not worse than the control by ``margin`` or more.

    See :func:`non_inferiority_test`.

    Attributes
    ----------
    metric : str
    diff : float
        Estimated effect, treatment − control, in the metric's units.
    se : float
        Standard error of ``diff``.
    se_method : str
        Where ``se`` came from.
    margin : float
        Non-inferiority margin (> 0, same units as ``diff``): a loss smaller than this is
        acceptable.
    higher_is_better : bool
        ``True``: worse means lower, H0 is ``diff <= -margin``; ``False``: H0 is
        ``diff >= margin``.
    statistic : float
        ``(diff + margin) / se`` (higher is better) or ``(margin - diff) / se``.
    df : float
        Degrees of freedom of the t reference distribution (inf: normal).
    p_value : float
        One-sided p-value of H0 (the treatment is worse by at least the margin).
    alpha : float
        One-sided level.
    bound : float
        One-sided ``1 - alpha`` confidence bound of ``diff`` on the harmful side (lower bound
        when higher is better, upper bound otherwise).
    ok : bool
        ``p_value < alpha``, i.e. ``bound`` lies on the safe side of the margin.
    """

    metric: str
    diff: float
    se: float
    se_method: str
    margin: float
    higher_is_better: bool
    statistic: float
    df: float
    p_value: float
    alpha: float
    bound: float
    ok: bool

    title = "Non-inferiority (guardrail) test"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)])

    def summary(self) -> str:
        side = "lower" if self.higher_is_better else "upper"
        limit = -self.margin if self.higher_is_better else self.margin
        level = f"{100 * (1 - self.alpha):g}%"
        head = f"{self.metric}: " if self.metric else ""
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3g}"
        if self.ok:
            return (
                f"{head}guardrail ok: the change {self.diff:+.4g} has a one-sided {level} "
                f"{side} bound of {self.bound:+.4g}, inside the margin {limit:+.4g} "
                f"(non-inferiority {p})."
            )
        return (
            f"{head}guardrail failed: the change {self.diff:+.4g} has a one-sided {level} "
            f"{side} bound of {self.bound:+.4g}, so a loss beyond the margin {limit:+.4g} "
            f"cannot be ruled out (non-inferiority {p})."
        )

    def plot(self, ax: Any = None) -> Any:
        """The estimate, its one-sided bound and the margin; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 1.6))
        limit = -self.margin if self.higher_is_better else self.margin
        ax.plot([self.bound, self.diff], [0, 0], color="tab:blue")
        ax.plot([self.diff], [0], "o", color="tab:blue")
        ax.axvline(limit, color="tab:red", ls="--", lw=1, label="margin")
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks([0], [self.metric or "effect"])
        ax.legend(loc="best")
        return ax

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        return to_jsonable(asdict(self))


def non_inferiority_test(
    diff: float,
    se: float,
    margin: float,
    *,
    alpha: float = 0.05,
    df: float = math.inf,
    higher_is_better: bool = True,
    metric: str = "",
    se_method: str = "given",
) -> NonInferiorityTest:
    r"""Non-inferiority test from an estimate and its standard error.

    With :math:`\delta > 0` the margin, higher-is-better metrics test
    :math:`H_0: \Delta \le -\delta` against :math:`H_1: \Delta > -\delta` with
    :math:`T = (\hat\Delta + \delta) / SE`; lower-is-better metrics test
    :math:`H_0: \Delta \ge \delta` with :math:`T = (\delta - \hat\Delta) / SE`. The one-sided
    p-value is :math:`P(T_{df} \ge T)` (normal when ``df`` is infinite). Equivalently the
    guardrail holds when the one-sided :math:`1 - \alpha` bound
    :math:`\hat\Delta - t_{1-\alpha} SE` (resp. :math:`\hat\Delta + t_{1-\alpha} SE`) is on the
    safe side of the margin — i.e. the two-sided :math:`1 - 2\alpha` interval excludes it
    (Schumi & Wittes 2011).

    Parameters
    ----------
    diff : float
        Effect estimate, treatment − control.
    se : float
        Its standard error (> 0).
    margin : float
        Largest acceptable loss, in the units of ``diff`` (> 0).
    alpha : float, default 0.05
        One-sided significance level.
    df : float, default inf
        Degrees of freedom for a t reference distribution.
    higher_is_better : bool, default True
    metric : str, optional
    se_method : str, optional
        Provenance of ``se``, recorded on the result.

    Returns
    -------
    NonInferiorityTest
    """
    alpha = _check_alpha(alpha)
    diff, se, margin, df = float(diff), float(se), float(margin), float(df)
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number, got {margin}")
    if not (math.isfinite(se) and se > 0):
        raise ValueError(f"se must be a positive number, got {se}")
    if not math.isfinite(diff):
        raise ValueError(f"diff must be finite, got {diff}")
    dist = stats.norm if math.isinf(df) else stats.t(df)
    crit = float(dist.isf(alpha))
    if higher_is_better:
        statistic = (diff + margin) / se
        bound = diff - crit * se
    else:
        statistic = (margin - diff) / se
        bound = diff + crit * se
    p_value = float(dist.sf(statistic))
    return NonInferiorityTest(
        metric=str(metric),
        diff=diff,
        se=se,
        se_method=se_method,
        margin=margin,
        higher_is_better=bool(higher_is_better),
        statistic=float(statistic),
        df=df,
        p_value=p_value,
        alpha=alpha,
        bound=float(bound),
        ok=bool(p_value < alpha),
    )


def _se_of(comparison: Any) -> tuple[float, float, str]:
    """(SE, df, provenance) of ``comparison.diff``; see :func:`non_inferiority_from_comparison`."""
    if all(
        hasattr(comparison, a)
        for a in ("successes_control", "n_control", "successes_treatment", "n_treatment")
    ):
        nc, nt = comparison.n_control, comparison.n_treatment
        pc, pt = comparison.successes_control / nc, comparison.successes_treatment / nt
        se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
        return se, math.inf, "unpooled Wald SE from the counts"
    low, high = comparison.diff_ci
    alternative = getattr(comparison, "alternative", "two-sided")
    if alternative != "two-sided" or not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(
            "the standard error is derived from a two-sided interval; this comparison has "
            f"alternative={alternative!r} and interval ({low}, {high})"
        )
    df = float(getattr(comparison, "df", math.nan))
    use_t = math.isfinite(df) and df > 0
    a = comparison.alpha
    q = float(stats.t.isf(a / 2, df) if use_t else stats.norm.isf(a / 2))
    ref = f"t quantile, {df:.4g} df" if use_t else "normal quantile"
    method = getattr(comparison, "ci_method", "interval")
    return (
        (high - low) / (2 * q),
        df if use_t else math.inf,
        f"width of the {100 * (1 - a):g}% CI ({method}) / (2 × {ref})",
    )


def non_inferiority_from_comparison(
    comparison: Any,
    margin: float,
    *,
    alpha: float | None = None,
    higher_is_better: bool = True,
) -> NonInferiorityTest:
    r"""Non-inferiority test of a guardrail from a finished comparison.

    The standard error of ``comparison.diff`` is recovered as follows:

    * a proportion comparison (it has ``successes_control``, ``n_control``,
      ``successes_treatment``, ``n_treatment``): the unpooled Wald SE
      :math:`\sqrt{\hat p_c(1-\hat p_c)/n_c + \hat p_t(1-\hat p_t)/n_t}` (its Newcombe interval is
      asymmetric, so its width would not give an SE);
    * otherwise from the two-sided interval: :math:`SE = (u - l) / (2 q)`, with
      :math:`q = t_{df, 1-\alpha/2}` when the comparison has finite degrees of freedom (Welch,
      CR1) and :math:`z_{1-\alpha/2}` otherwise. This is exact for symmetric estimate ± q·SE
      intervals (Welch, delta method, CUPED, CR1) and approximate otherwise. The same ``df``
      is then used for the test.

    Parameters
    ----------
    comparison : Comparison or ProportionComparison
        Anything with ``diff``, ``diff_ci``, ``alpha`` and optionally ``df``, ``alternative``,
        ``metric``.
    margin : float
        Largest acceptable loss, in the units of ``diff`` (> 0).
    alpha : float, optional
        One-sided level (default: ``comparison.alpha``).
    higher_is_better : bool, default True

    Returns
    -------
    NonInferiorityTest
    """
    se, df, provenance = _se_of(comparison)
    return non_inferiority_test(
        comparison.diff,
        se,
        margin,
        alpha=comparison.alpha if alpha is None else alpha,
        df=df,
        higher_is_better=higher_is_better,
        metric=str(getattr(comparison, "metric", "")),
        se_method=provenance,
    )


def non_inferiority_from_stats(
    control: SufficientStats,
    treatment: SufficientStats,
    margin: float,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    metric: str = "",
) -> NonInferiorityTest:
    r"""Non-inferiority test of a mean metric from each arm's sufficient statistics.

    :math:`\hat\Delta = \bar y_t - \bar y_c`, Welch standard error
    :math:`SE = \sqrt{s_t^2/n_t + s_c^2/n_c}` and Welch–Satterthwaite degrees of freedom
    :math:`\nu = SE^4 / \big((s_t^2/n_t)^2/(n_t-1) + (s_c^2/n_c)^2/(n_c-1)\big)`; then
    :func:`non_inferiority_test`.

    Parameters
    ----------
    control, treatment : SufficientStats
        Sums of each arm (n ≥ 2).
    margin, alpha, higher_is_better, metric
        As in :func:`non_inferiority_test`.
    """
    if control.n < 2 or treatment.n < 2:
        raise ValueError(
            f"each arm needs at least two units; got control n = {control.n}, "
            f"treatment n = {treatment.n}"
        )
    vc, vt = control.var_y / control.n, treatment.var_y / treatment.n
    se = math.sqrt(vc + vt)
    df = (vc + vt) ** 2 / (vc**2 / (control.n - 1) + vt**2 / (treatment.n - 1)) if se else math.inf
    return non_inferiority_test(
        treatment.mean_y - control.mean_y,
        se,
        margin,
        alpha=alpha,
        df=df,
        higher_is_better=higher_is_better,
        metric=metric,
        se_method="Welch SE from sufficient statistics",
    )


# --------------------------------------------------------------------------------------------
# Metric families and decisions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricFamily:
    """Which metrics decide an experiment, and how; see :func:`decide`.

    Attributes
    ----------
    primary : tuple of str
        Metrics the experiment is meant to move; a significant improvement in one (after
        correction) is what can justify shipping.
    secondary : tuple of str
        Supporting metrics, corrected as their own family.
    guardrails : mapping of str to float
        Metrics that must not get worse, each with its non-inferiority margin (> 0, in the units
        of the comparison's ``diff``: an absolute difference, e.g. 0.01 = one percentage point
        for a rate).
    lower_is_better : tuple of str
        Metrics for which a decrease is an improvement (churn, time to first response, ...).
    method : {"holm", "fdr_bh", "bonferroni"}, default "holm"
        Correction within the primary family and within the secondary family.
    alpha : float, optional
        Significance level; default: the (common) ``alpha`` of the comparisons.
    guardrail_alpha : float, optional
        One-sided level of the non-inferiority tests; default: ``alpha``.
    """

    primary: Sequence[str]
    secondary: Sequence[str] = ()
    guardrails: Mapping[str, float] = field(default_factory=dict)
    lower_is_better: Iterable[str] = ()
    method: str = "holm"
    alpha: float | None = None
    guardrail_alpha: float | None = None

    def __post_init__(self) -> None:
        def norm(v: Any) -> tuple[str, ...]:
            return (str(v),) if isinstance(v, str) else tuple(str(x) for x in v)

        object.__setattr__(self, "primary", norm(self.primary))
        object.__setattr__(self, "secondary", norm(self.secondary))
        object.__setattr__(self, "lower_is_better", frozenset(norm(self.lower_is_better)))
        margins = {str(k): float(v) for k, v in dict(self.guardrails).items()}
        object.__setattr__(self, "guardrails", margins)
        for name, margin in margins.items():
            if not (math.isfinite(margin) and margin > 0):
                raise ValueError(f"guardrail margin of {name!r} must be positive, got {margin}")
        seen: dict[str, str] = {}
        for role, names in (
            ("primary", self.primary),
            ("secondary", self.secondary),
            ("guardrail", tuple(margins)),
        ):
            for name in names:
                if name in seen:
                    raise ValueError(f"metric {name!r} is both {seen[name]} and {role}")
                seen[name] = role
        if not self.primary:
            raise ValueError("a metric family needs at least one primary metric")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.alpha is not None:
            _check_alpha(self.alpha)
        if self.guardrail_alpha is not None:
            _check_alpha(self.guardrail_alpha, "guardrail_alpha")

    def role(self, metric: str) -> str:
        """``"primary"``, ``"secondary"`` or ``"guardrail"``; ValueError for other metrics."""
        if metric in self.primary:
            return "primary"
        if metric in self.secondary:
            return "secondary"
        if metric in self.guardrails:
            return "guardrail"
        raise ValueError(
            f"metric {metric!r} is not in the family; declare it primary, secondary or guardrail"
        )

    @property
    def metrics(self) -> tuple[str, ...]:
        return (*self.primary, *self.secondary, *self.guardrails)

    def decide(self, comparisons: Iterable[Any]) -> pd.DataFrame:
        """Same as :func:`decide` with this family."""
        return decide(comparisons, self)


_COLUMNS = [
    "metric", "arm", "role", "diff", "ci_low", "ci_high", "margin", "test", "p_value",
    "adjusted_p", "decision", "arm_decision",
]  # fmt: skip


def decide(comparisons: Iterable[Any], family: MetricFamily) -> pd.DataFrame:
    """Role, adjusted p-value and decision for every metric in every treatment arm.

    Rules:

    1. **Inputs.** Each comparison has ``metric``, ``treatment_name``, ``p_value``, ``diff``,
       ``diff_ci`` and ``alpha``. The arms are the distinct ``treatment_name`` values; every
       metric of the family must have exactly one comparison per arm, and every comparison's
       metric must belong to the family (otherwise ValueError).
    2. **Level.** ``alpha`` is ``family.alpha`` or, if unset, the comparisons' common ``alpha``
       (ValueError if they differ). Guardrails use ``family.guardrail_alpha`` or ``alpha``.
    3. **Correction families.** All primary comparisons (every primary metric × every arm) are
       adjusted together with ``family.method``; all secondary comparisons are adjusted
       together as a second, separate family. Guardrails are *not* in any family: a correction
       would make "no harm" easier to conclude, the wrong direction for a safety check.
    4. **Primary and secondary rows** use the comparison's p-value (two-sided unless the
       comparison says otherwise): ``"ship"`` if ``adjusted_p < alpha`` and the effect is an
       improvement (``diff > 0``, or ``diff < 0`` for ``lower_is_better`` metrics); ``"harm"``
       if ``adjusted_p < alpha`` and the effect is a deterioration; else ``"no effect"``. On a
       secondary row ``"ship"`` means a significant improvement that supports the launch; it
       cannot justify one alone.
    5. **Guardrail rows** run :func:`non_inferiority_from_comparison` with the metric's margin:
       ``p_value`` is the one-sided non-inferiority p-value and ``adjusted_p`` is NaN;
       ``"guardrail ok"`` if ``p_value < guardrail alpha`` (a loss as large as the margin is
       ruled out), else ``"guardrail failed"`` — which covers both a clear loss and too little
       data to rule one out.
    6. **Arm decision** (same on every row of an arm): ``"ship"`` if at least one primary row is
       ``"ship"``, no row is ``"harm"`` and every guardrail is ``"guardrail ok"``; otherwise
       ``"do not ship"`` if some row is ``"harm"`` or some guardrail failed; otherwise
       ``"no effect"``.

    Parameters
    ----------
    comparisons : iterable
        :class:`~analysis.experiments.effects.Comparison` objects, or any objects with the
        attributes of rule 1. An object with ``metric`` and a ``comparison`` attribute but no
        ``diff`` (e.g. a wrapper object holding a
        :class:`~analysis.experiments.proportions.ProportionComparison`) is unwrapped.
    family : MetricFamily

    Returns
    -------
    pandas.DataFrame
        One row per (metric, arm), primary then secondary then guardrail metrics in the
        family's order, arms in order of first appearance. Columns: ``metric``, ``arm``,
        ``role``, ``diff``, ``ci_low``, ``ci_high``, ``margin`` (guardrails), ``test``,
        ``p_value``, ``adjusted_p``, ``decision``, ``arm_decision``.
    """
    comparisons = list(comparisons)
    if not comparisons:
        raise ValueError("no comparisons to decide on")
    by_key: dict[tuple[str, str], Any] = {}
    arms: list[str] = []
    for item in comparisons:
        # A wrapper object carries the metric and a ``comparison``.
        c = item.comparison if hasattr(item, "comparison") and not hasattr(item, "diff") else item
        metric, arm = str(item.metric), str(c.treatment_name)
        family.role(metric)
        if (metric, arm) in by_key:
            raise ValueError(f"two comparisons for metric {metric!r} in arm {arm!r}")
        by_key[metric, arm] = c
        if arm not in arms:
            arms.append(arm)
    missing = [(m, a) for m in family.metrics for a in arms if (m, a) not in by_key]
    if missing:
        raise ValueError(f"no comparison for (metric, arm): {missing}")

    if family.alpha is not None:
        alpha = float(family.alpha)
    else:
        alphas = {float(c.alpha) for c in by_key.values()}
        if len(alphas) != 1:
            raise ValueError(f"comparisons use different alpha values {sorted(alphas)}; set one")
        alpha = _check_alpha(alphas.pop())
    g_alpha = float(family.guardrail_alpha) if family.guardrail_alpha is not None else alpha

    rows = []
    for role, names in (("primary", family.primary), ("secondary", family.secondary)):
        keys = [(m, a) for m in names for a in arms]
        if not keys:
            continue
        raw = np.array([float(by_key[k].p_value) for k in keys])
        adjusted = adjust_pvalues(raw, family.method)
        for (m, a), p, q in zip(keys, raw, adjusted, strict=True):
            c = by_key[m, a]
            better = (c.diff < 0) if m in family.lower_is_better else (c.diff > 0)
            decision = ("ship" if better else "harm") if q < alpha else "no effect"
            rows.append(
                {
                    "metric": m, "arm": a, "role": role, "diff": float(c.diff),
                    "ci_low": float(c.diff_ci[0]), "ci_high": float(c.diff_ci[1]),
                    "margin": math.nan, "test": f"{_alt(c)} test, {family.method} within {role}",
                    "p_value": float(p), "adjusted_p": float(q), "decision": decision,
                }
            )  # fmt: skip
    for m, margin in family.guardrails.items():
        for a in arms:
            c = by_key[m, a]
            ni = non_inferiority_from_comparison(
                c, margin, alpha=g_alpha, higher_is_better=m not in family.lower_is_better
            )
            rows.append(
                {
                    "metric": m, "arm": a, "role": "guardrail", "diff": float(c.diff),
                    "ci_low": float(c.diff_ci[0]), "ci_high": float(c.diff_ci[1]),
                    "margin": margin, "test": f"one-sided non-inferiority at {g_alpha:g}",
                    "p_value": ni.p_value, "adjusted_p": math.nan,
                    "decision": "guardrail ok" if ni.ok else "guardrail failed",
                }
            )  # fmt: skip

    frame = pd.DataFrame(rows)
    verdicts = {}
    for a in arms:
        d = frame.loc[frame["arm"] == a]
        primary_ship = ((d["role"] == "primary") & (d["decision"] == "ship")).any()
        harm = (d["decision"] == "harm").any()
        failed = (d["decision"] == "guardrail failed").any()
        if primary_ship and not harm and not failed:
            verdicts[a] = "ship"
        elif harm or failed:
            verdicts[a] = "do not ship"
        else:
            verdicts[a] = "no effect"
    frame["arm_decision"] = frame["arm"].map(verdicts)
    return frame[_COLUMNS]


def _alt(comparison: Any) -> str:
    alternative = getattr(comparison, "alternative", "two-sided")
    return "two-sided" if alternative == "two-sided" else f"one-sided ({alternative})"
