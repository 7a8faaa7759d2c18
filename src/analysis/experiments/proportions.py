"""Tests of conversion rates from sufficient statistics (counts of successes and of units).

Everything here takes *counts*, never unit-level rows, so an experiment with any number of units
costs the same to analyse. Two entry points:

* :func:`two_proportion_test` compares a treatment arm with a control arm: pooled two-proportion
  z test, Newcombe hybrid score interval for the absolute difference, delta-method interval for
  the relative lift and Wilson intervals for each arm's rate.
* :func:`proportions_chi2_test` tests whether k >= 2 arms share one rate (Pearson chi-square,
  no continuity correction).

The arithmetic lives in small NumPy helpers that accept arrays (one element per experiment), so
simulation studies in the validation tests run the very code path behind the public functions.

References
----------
.. [1] Newcombe, R. G. (1998). Interval estimation for the difference between independent
   proportions: comparison of eleven methods. *Statistics in Medicine* 17(8), 873-890.
.. [2] Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
   inference. *Journal of the American Statistical Association* 22(158), 209-212.
.. [3] statsmodels: ``statsmodels.stats.proportion.proportions_ztest``,
   ``confint_proportions_2indep`` and ``proportion_confint``,
   https://www.statsmodels.org/stable/stats.html#proportion
.. [4] GrowthBook, "Statistical Details" (relative effects by the delta method, control mean
   treated as random), https://docs.growthbook.io/statistics/details
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis.results import Result

__all__ = [
    "DIFF_CI_METHOD",
    "RELATIVE_CI_METHOD",
    "RATE_CI_METHOD",
    "ProportionComparison",
    "ProportionsChi2Test",
    "proportions_chi2_test",
    "two_proportion_test",
]

#: Name of the interval for the absolute difference (Newcombe 1998, method 10).
DIFF_CI_METHOD = "Newcombe hybrid score (method 10)"
#: Name of the interval for the relative lift.
RELATIVE_CI_METHOD = "delta method (control mean random)"
#: Name of the interval for each arm's rate.
RATE_CI_METHOD = "Wilson score"

_ALTERNATIVES = {
    "two-sided": "two-sided",
    "larger": "larger",
    "smaller": "smaller",
    # scipy / R spellings
    "greater": "larger",
    "less": "smaller",
}


# --------------------------------------------------------------------------------------------
# Array helpers: every argument may be a scalar or an array (broadcast), results are arrays.
# --------------------------------------------------------------------------------------------


def _critical_value(alpha: float, alternative: str) -> float:
    """Standard normal quantile for a two-sided (1 - alpha) interval or a one-sided bound."""
    return float(stats.norm.isf(alpha / 2 if alternative == "two-sided" else alpha))


def _wilson_interval(successes: Any, n: Any, crit: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval with critical value ``crit``, clipped to [0, 1].

    Same formula as ``proportion_confint(method="wilson")`` in statsmodels.
    """
    s = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    p = s / n
    c2 = crit * crit
    denom = 1.0 + c2 / n
    center = (p + c2 / (2.0 * n)) / denom
    half = crit * np.sqrt(p * (1.0 - p) / n + c2 / (4.0 * n * n)) / denom
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


def _pooled_z(
    successes_control: Any, n_control: Any, successes_treatment: Any, n_treatment: Any
) -> np.ndarray:
    """Pooled z statistic for p_t - p_c; 0 where the pooled variance is 0 (see module docs)."""
    sc = np.asarray(successes_control, dtype=float)
    nc = np.asarray(n_control, dtype=float)
    st = np.asarray(successes_treatment, dtype=float)
    nt = np.asarray(n_treatment, dtype=float)
    diff = st / nt - sc / nc
    pooled = (sc + st) / (nc + nt)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), 0.0)
    return z


def _p_value(z: Any, alternative: str) -> np.ndarray:
    """Normal p-value of ``z`` for ``alternative`` in {"two-sided", "larger", "smaller"}."""
    z = np.asarray(z, dtype=float)
    if alternative == "two-sided":
        return 2.0 * special.ndtr(-np.abs(z))
    if alternative == "larger":
        return special.ndtr(-z)
    return special.ndtr(z)


def _two_proportion_arrays(
    successes_control: Any,
    n_control: Any,
    successes_treatment: Any,
    n_treatment: Any,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> dict[str, np.ndarray]:
    """All figures of :func:`two_proportion_test` for arrays of (already validated) counts.

    Returns a dict of arrays: ``rate_control``, ``rate_treatment``, ``rate_control_low``,
    ``rate_control_high``, ``rate_treatment_low``, ``rate_treatment_high`` (two-sided Wilson),
    ``diff``, ``diff_low``, ``diff_high`` (Newcombe), ``relative_lift``, ``relative_lift_low``,
    ``relative_lift_high`` (delta method), ``z`` and ``p_value``.
    """
    alternative = _ALTERNATIVES[alternative]
    sc = np.asarray(successes_control, dtype=float)
    nc = np.asarray(n_control, dtype=float)
    st = np.asarray(successes_treatment, dtype=float)
    nt = np.asarray(n_treatment, dtype=float)
    pc = sc / nc
    pt = st / nt
    diff = pt - pc

    # Descriptive per-arm intervals: always two-sided.
    crit2 = _critical_value(alpha, "two-sided")
    rc_low, rc_high = _wilson_interval(sc, nc, crit2)
    rt_low, rt_high = _wilson_interval(st, nt, crit2)

    # Newcombe hybrid score interval (method 10) for pt - pc, from Wilson limits at the
    # critical value of the requested alternative (one-sided: a (1 - alpha) bound).
    crit = _critical_value(alpha, alternative)
    if alternative == "two-sided":
        c_low, c_high, t_low, t_high = rc_low, rc_high, rt_low, rt_high
    else:
        c_low, c_high = _wilson_interval(sc, nc, crit)
        t_low, t_high = _wilson_interval(st, nt, crit)
    diff_low = diff - np.sqrt((pt - t_low) ** 2 + (c_high - pc) ** 2)
    diff_high = diff + np.sqrt((t_high - pt) ** 2 + (pc - c_low) ** 2)

    # Relative lift pt / pc - 1, delta method with the control mean random (GrowthBook).
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_pc = np.where(pc > 0, pc, np.nan)
        lift = pt / safe_pc - 1.0
        var_lift = (pt * (1.0 - pt) / nt) / safe_pc**2 + pt**2 * (pc * (1.0 - pc) / nc) / safe_pc**4
        se_lift = np.sqrt(var_lift)
    lift_low = lift - crit * se_lift
    lift_high = lift + crit * se_lift

    if alternative == "larger":
        diff_high = np.ones_like(diff)
        lift_high = np.where(np.isnan(lift), np.nan, np.inf)
    elif alternative == "smaller":
        diff_low = -np.ones_like(diff)
        lift_low = np.where(np.isnan(lift), np.nan, -1.0)

    z = _pooled_z(sc, nc, st, nt)
    return {
        "rate_control": pc,
        "rate_treatment": pt,
        "rate_control_low": rc_low,
        "rate_control_high": rc_high,
        "rate_treatment_low": rt_low,
        "rate_treatment_high": rt_high,
        "diff": diff,
        "diff_low": diff_low,
        "diff_high": diff_high,
        "relative_lift": lift,
        "relative_lift_low": lift_low,
        "relative_lift_high": lift_high,
        "z": z,
        "p_value": _p_value(z, alternative),
    }


# --------------------------------------------------------------------------------------------
# Validation and formatting
# --------------------------------------------------------------------------------------------


def _as_count(name: str, value: Any) -> int:
    """``value`` as a non-negative int, or a ValueError naming the argument and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a non-negative integer count, got {value!r}")
    if isinstance(value, numbers.Integral):
        count = int(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float) or not as_float.is_integer():
            raise ValueError(f"{name} must be a non-negative integer count, got {value!r}")
        count = int(as_float)
    if count < 0:
        raise ValueError(f"{name} must be a non-negative integer count, got {count}")
    return count


def _check_arm(succ_name: str, succ: Any, n_name: str, n: Any) -> tuple[int, int]:
    s = _as_count(succ_name, succ)
    size = _as_count(n_name, n)
    if size == 0:
        raise ValueError(f"{n_name} must be at least 1, got 0: an arm without units has no rate")
    if s > size:
        raise ValueError(f"{succ_name} ({s}) cannot exceed {n_name} ({size})")
    return s, size


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return alpha


def _pct(x: float, signed: bool = False) -> str:
    """Percent with one decimal, or two significant digits for values below 1%."""
    if not math.isfinite(x):
        return "undefined"
    v = 100.0 * x
    text = f"{v:.1f}" if v == 0 or abs(v) >= 0.95 else f"{v:.2g}"
    if signed and v >= 0:
        text = "+" + text
    return text


def _fmt_p(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.4f}"
    return f"p = {p:.3f}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plot_rates(
    ax: Any,
    names: Sequence[str],
    rates: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    ylabel: str,
    title: str,
) -> Any:
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import PercentFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.2 * len(names), 3.6))
    colours = sns.color_palette(n_colors=len(names))
    for i, (rate, low, high) in enumerate(zip(rates, lows, highs, strict=True)):
        ax.errorbar(
            i,
            rate,
            yerr=[[rate - low], [high - rate]],
            fmt="o",
            color=colours[i],
            capsize=6,
            markersize=7,
        )
    ax.set_xticks(range(len(names)), list(names))
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.grid(axis="y", alpha=0.3)
    return ax


# --------------------------------------------------------------------------------------------
# Two arms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProportionComparison(Result):
    """Comparison of a treatment rate with a control rate; see :func:`two_proportion_test`.

    Attributes
    ----------
    control_name, treatment_name : str
        Labels of the arms.
    n_control, n_treatment : int
        Units per arm.
    successes_control, successes_treatment : int
        Units with the outcome per arm.
    rate_control, rate_treatment : float
        ``successes / n`` per arm.
    rate_control_ci, rate_treatment_ci : tuple of float
        Two-sided ``1 - alpha`` Wilson score intervals of the rates.
    diff : float
        Absolute effect ``rate_treatment - rate_control`` (a proportion; x100 for points).
    diff_ci : tuple of float
        Interval for ``diff`` by ``ci_method``; one-sided alternatives give a one-sided bound
        with the other end at the logical limit (+1 or -1).
    ci_method : str
        ``"Newcombe hybrid score (method 10)"``.
    relative_lift : float
        ``rate_treatment / rate_control - 1``; NaN when ``rate_control == 0``.
    relative_lift_ci : tuple of float
        Interval for the lift by ``relative_ci_method`` (NaN when the lift is undefined; one-sided
        alternatives use +inf or -1 as the open end).
    relative_ci_method : str
        ``"delta method (control mean random)"``.
    z, p_value : float
        Pooled two-proportion z statistic for ``diff`` and its p-value under ``alternative``.
    alpha : float
        Significance level; intervals have coverage ``1 - alpha``.
    alternative : str
        ``"two-sided"``, ``"larger"`` (treatment above control) or ``"smaller"``.
    significant : bool
        ``p_value < alpha``.
    """

    control_name: str
    treatment_name: str
    n_control: int
    n_treatment: int
    successes_control: int
    successes_treatment: int
    rate_control: float
    rate_treatment: float
    rate_control_ci: tuple[float, float]
    rate_treatment_ci: tuple[float, float]
    diff: float
    diff_ci: tuple[float, float]
    ci_method: str
    relative_lift: float
    relative_lift_ci: tuple[float, float]
    relative_ci_method: str
    z: float
    p_value: float
    alpha: float
    alternative: str
    significant: bool

    title = "Two-proportion comparison"

    @property
    def degenerate(self) -> bool:
        """True when both arms are all-0 or all-1 together, so the pooled variance is 0."""
        pooled = (self.successes_control + self.successes_treatment) / (
            self.n_control + self.n_treatment
        )
        return pooled in (0.0, 1.0)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per arm, then the absolute difference and the relative lift.

        Columns: ``term`` (control / treatment / difference / relative lift), ``name``, ``n``,
        ``successes``, ``estimate``, ``ci_low``, ``ci_high``, ``ci_level``, ``method``,
        ``statistic`` (z, on the difference row) and ``p_value``.
        """
        contrast = f"{self.treatment_name} vs {self.control_name}"
        level = 1.0 - self.alpha
        rows = [
            ("control", self.control_name, self.n_control, self.successes_control,
             self.rate_control, *self.rate_control_ci, RATE_CI_METHOD, np.nan, np.nan),
            ("treatment", self.treatment_name, self.n_treatment, self.successes_treatment,
             self.rate_treatment, *self.rate_treatment_ci, RATE_CI_METHOD, np.nan, np.nan),
            ("difference", contrast, pd.NA, pd.NA, self.diff, *self.diff_ci, self.ci_method,
             self.z, self.p_value),
            ("relative lift", contrast, pd.NA, pd.NA, self.relative_lift,
             *self.relative_lift_ci, self.relative_ci_method, np.nan, np.nan),
        ]  # fmt: skip
        frame = pd.DataFrame(
            rows,
            columns=[
                "term", "name", "n", "successes", "estimate", "ci_low", "ci_high", "method",
                "statistic", "p_value",
            ],
        )  # fmt: skip
        frame.insert(7, "ci_level", level)
        return frame.astype({"n": "Int64", "successes": "Int64"})

    def _interval_text(self, low: float, high: float, pct: bool) -> str:
        level = _level(self.alpha)
        unit = "%" if pct else ""
        if self.alternative == "larger":
            return f"one-sided {level} CI: at least {_pct(low, True)}{unit}"
        if self.alternative == "smaller":
            return f"one-sided {level} CI: at most {_pct(high, True)}{unit}"
        return f"{level} CI {_pct(low, True)}{unit} to {_pct(high, True)}{unit}"

    def summary(self) -> str:
        """One plain-language paragraph with rates, difference, lift, test and their intervals."""
        level = _level(self.alpha)
        (cl, ch), (tl, th) = self.rate_control_ci, self.rate_treatment_ci
        text = (
            f"{_capitalised(self.treatment_name)} converted {_pct(self.rate_treatment)}% "
            f"({level} CI {_pct(tl)}–{_pct(th)}%, {self.successes_treatment:,} of "
            f"{self.n_treatment:,}) vs {_pct(self.rate_control)}% ({level} CI "
            f"{_pct(cl)}–{_pct(ch)}%, {self.successes_control:,} of {self.n_control:,}) for "
            f"{self.control_name}: a difference of {_pct(self.diff, True)} percentage points "
            f"({self._interval_text(*self.diff_ci, pct=False)}; {self.ci_method})"
        )
        if math.isnan(self.relative_lift):
            text += f"; the relative lift is undefined because {self.control_name} converted 0%."
        else:
            text += (
                f" and a relative lift of {_pct(self.relative_lift, True)}% "
                f"({self._interval_text(*self.relative_lift_ci, pct=True)}; "
                f"{self.relative_ci_method})."
            )
        sided = {
            "two-sided": "Two-sided",
            "larger": f"One-sided ({self.treatment_name} larger)",
            "smaller": f"One-sided ({self.treatment_name} smaller)",
        }[self.alternative]
        if self.degenerate:
            text += (
                f" Every unit in both arms had the same outcome, so the z test has no variance "
                f"to work with: z = 0 and p = 1 are reported (no evidence of a difference at "
                f"α = {self.alpha:g})."
            )
        elif self.significant:
            text += (
                f" {sided} pooled z test: z = {self.z:.2f}, {_fmt_p(self.p_value)}; "
                f"unlikely to be chance at α = {self.alpha:g}."
            )
        else:
            text += (
                f" {sided} pooled z test: z = {self.z:.2f}, {_fmt_p(self.p_value)}; "
                f"not statistically significant at α = {self.alpha:g} (a difference this large "
                f"could plausibly arise by chance)."
            )
        return text

    def plot(self, ax: Any = None) -> Any:
        """Point-and-errorbar plot of the two rates with Wilson intervals; returns the Axes."""
        title = (
            f"difference {_pct(self.diff, True)} pts "
            f"({self._interval_text(*self.diff_ci, pct=False)}), {_fmt_p(self.p_value)}"
        )
        return _plot_rates(
            ax,
            [self.control_name, self.treatment_name],
            [self.rate_control, self.rate_treatment],
            [self.rate_control_ci[0], self.rate_treatment_ci[0]],
            [self.rate_control_ci[1], self.rate_treatment_ci[1]],
            ylabel=f"rate ({_level(self.alpha)} Wilson CI)",
            title=title,
        )

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-serialisable values (tuples as lists, NaN and ±inf as None)."""
        return {key: _json_value(value) for key, value in asdict(self).items()}


def two_proportion_test(
    successes_control: int,
    n_control: int,
    successes_treatment: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    control_name: str = "control",
    treatment_name: str = "treatment",
) -> ProportionComparison:
    r"""Compare two conversion rates from counts.

    With :math:`\hat p_c = s_c / n_c` and :math:`\hat p_t = s_t / n_t`:

    * **Effect**: ``diff`` :math:`= \hat p_t - \hat p_c` (treatment minus control).
    * **Test**: pooled two-proportion z test without continuity correction,
      :math:`z = (\hat p_t - \hat p_c) / \sqrt{\bar p (1 - \bar p)(1/n_c + 1/n_t)}` with
      :math:`\bar p = (s_c + s_t) / (n_c + n_t)`. This equals
      ``statsmodels.stats.proportion.proportions_ztest([s_t, s_c], [n_t, n_c])`` (the
      *treatment is the first* element, as statsmodels tests ``count1/n1 - count2/n2``).
      ``alternative="larger"`` tests :math:`p_t > p_c`, ``"smaller"`` :math:`p_t < p_c`.
    * **Interval of diff**: Newcombe's hybrid score interval, method 10 of Newcombe (1998),
      built from the Wilson limits :math:`(l_i, u_i)` of each arm:
      :math:`[\,d - \sqrt{(\hat p_t - l_t)^2 + (u_c - \hat p_c)^2},\;
      d + \sqrt{(u_t - \hat p_t)^2 + (\hat p_c - l_c)^2}\,]`. Identical to
      ``confint_proportions_2indep(s_t, n_t, s_c, n_c, compare="diff", method="newcomb")``.
      It stays inside [-1, 1] and behaves well for rates near 0 or 1 and small arms, where the
      Wald interval under-covers. For a one-sided alternative it is the one-sided
      ``1 - alpha`` bound (the two-sided limit at ``2 * alpha``); the other end is +1 or -1.
    * **Relative lift**: :math:`\hat p_t / \hat p_c - 1` with a delta-method interval that
      treats the control mean as random (GrowthBook):
      :math:`\widehat{Var} = \frac{\hat p_t(1-\hat p_t)/n_t}{\hat p_c^2}
      + \frac{\hat p_t^2\, \hat p_c(1-\hat p_c)/n_c}{\hat p_c^4}`, interval
      ``lift ± z_crit * sqrt(Var)``. The interval is not unique (Fieller and log-ratio intervals
      differ); it is not clipped at -1 and is accurate only when the arms are large.
    * **Rates**: two-sided ``1 - alpha`` Wilson score intervals per arm (as
      ``proportion_confint(method="wilson")``).

    Parameters
    ----------
    successes_control, n_control : int
        Units with the outcome, and all units, in the control arm.
    successes_treatment, n_treatment : int
        Same for the treatment arm.
    alpha : float, default 0.05
        Significance level; ``significant`` is ``p_value < alpha``.
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        Alternative hypothesis about :math:`p_t - p_c`; ``"greater"``/``"less"`` are accepted
        as synonyms of ``"larger"``/``"smaller"``.
    control_name, treatment_name : str
        Labels used in the table, the summary and the plot.

    Returns
    -------
    ProportionComparison

    Raises
    ------
    ValueError
        If a count is negative, not an integer, if ``n_control`` or ``n_treatment`` is 0, if
        successes exceed the arm size, or if ``alpha``/``alternative`` is invalid. The message
        names the argument and its value.

    Notes
    -----
    Degenerate arms never raise:

    * If both arms are all failures (or all successes), the pooled variance is 0 and z is 0/0;
      it is reported as ``z = 0``, ``p_value = 1`` (no evidence of a difference, as Fisher's
      exact test gives), where statsmodels returns NaN.
    * If one arm is at 0% or 100% but the other is not, the test is the ordinary z test. The
      Wilson and Newcombe intervals stay informative; the plug-in delta-method variance of such
      an arm is 0, so the relative-lift interval can be too narrow (zero width if the treatment
      arm is at 0%).
    * If the control rate is 0, the relative lift and its interval are NaN and the summary says
      the lift is undefined.

    References
    ----------
    .. [1] Newcombe, R. G. (1998). Interval estimation for the difference between independent
       proportions: comparison of eleven methods. Statistics in Medicine 17(8), 873-890.
    .. [2] statsmodels, ``proportions_ztest`` and ``confint_proportions_2indep``,
       https://www.statsmodels.org/stable/generated/statsmodels.stats.proportion.proportions_ztest.html
    .. [3] GrowthBook, Statistical Details, https://docs.growthbook.io/statistics/details

    Examples
    --------
    >>> res = two_proportion_test(12, 99, 5, 83)
    >>> round(res.z, 7), round(res.p_value, 7)
    (-1.4078304, 0.1591813)
    """
    sc, nc = _check_arm("successes_control", successes_control, "n_control", n_control)
    st, nt = _check_arm("successes_treatment", successes_treatment, "n_treatment", n_treatment)
    alpha = _check_alpha(alpha)
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'larger' or 'smaller', got {alternative!r}"
        )
    alternative = _ALTERNATIVES[alternative]

    a = {k: float(v) for k, v in _two_proportion_arrays(sc, nc, st, nt, alpha, alternative).items()}
    return ProportionComparison(
        control_name=str(control_name),
        treatment_name=str(treatment_name),
        n_control=nc,
        n_treatment=nt,
        successes_control=sc,
        successes_treatment=st,
        rate_control=a["rate_control"],
        rate_treatment=a["rate_treatment"],
        rate_control_ci=(a["rate_control_low"], a["rate_control_high"]),
        rate_treatment_ci=(a["rate_treatment_low"], a["rate_treatment_high"]),
        diff=a["diff"],
        diff_ci=(a["diff_low"], a["diff_high"]),
        ci_method=DIFF_CI_METHOD,
        relative_lift=a["relative_lift"],
        relative_lift_ci=(a["relative_lift_low"], a["relative_lift_high"]),
        relative_ci_method=RELATIVE_CI_METHOD,
        z=a["z"],
        p_value=a["p_value"],
        alpha=alpha,
        alternative=alternative,
        significant=bool(a["p_value"] < alpha),
    )


# --------------------------------------------------------------------------------------------
# k arms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProportionsChi2Test(Result):
    """Pearson chi-square test that k arms share one rate; see :func:`proportions_chi2_test`.

    Attributes
    ----------
    names : tuple of str
        Arm labels.
    successes, totals : tuple of int
        Counts per arm.
    rates : tuple of float
        ``successes / totals`` per arm.
    rate_cis : tuple of (float, float)
        Two-sided ``1 - alpha`` Wilson intervals per arm (descriptive).
    statistic : float
        Pearson chi-square statistic (no continuity correction).
    df : int
        Degrees of freedom, ``k - 1``.
    p_value : float
        Upper-tail chi-square probability of ``statistic``.
    alpha : float
        Significance level.
    significant : bool
        ``p_value < alpha``.
    """

    names: tuple[str, ...]
    successes: tuple[int, ...]
    totals: tuple[int, ...]
    rates: tuple[float, ...]
    rate_cis: tuple[tuple[float, float], ...]
    statistic: float
    df: int
    p_value: float
    alpha: float
    significant: bool

    title = "Test of equal proportions across arms"

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: name, successes, n, rate, Wilson CI, expected successes under H0."""
        pooled = sum(self.successes) / sum(self.totals)
        return pd.DataFrame(
            {
                "name": list(self.names),
                "successes": list(self.successes),
                "n": list(self.totals),
                "rate": list(self.rates),
                "ci_low": [c[0] for c in self.rate_cis],
                "ci_high": [c[1] for c in self.rate_cis],
                "ci_level": 1.0 - self.alpha,
                "expected_successes": [pooled * n for n in self.totals],
            }
        )

    def summary(self) -> str:
        """Plain-language verdict with the statistic, df, p-value and the range of rates."""
        k = len(self.rates)
        low, high = min(self.rates), max(self.rates)
        head = (
            f"Rates across the {k} arms range from {_pct(low)}% to {_pct(high)}% "
            f"(Pearson χ² = {self.statistic:.2f}, df = {self.df}, {_fmt_p(self.p_value)})"
        )
        if self.statistic == 0 and low == high and low in (0.0, 1.0):
            return head + ": every unit had the same outcome, so there is nothing to test."
        if self.significant:
            return (
                head + f": the arms are unlikely to share one rate at α = {self.alpha:g}. The test "
                "does not say which arms differ; compare pairs with two_proportion_test and "
                "adjust for multiplicity."
            )
        return head + (
            f": no evidence at α = {self.alpha:g} that the rates differ (a spread this large "
            "could plausibly arise by chance)."
        )

    def plot(self, ax: Any = None) -> Any:
        """Point-and-errorbar plot of each arm's rate with its Wilson interval."""
        return _plot_rates(
            ax,
            self.names,
            self.rates,
            [c[0] for c in self.rate_cis],
            [c[1] for c in self.rate_cis],
            ylabel=f"rate ({_level(self.alpha)} Wilson CI)",
            title=f"χ² = {self.statistic:.2f}, df = {self.df}, {_fmt_p(self.p_value)}",
        )

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-serialisable values."""
        return {key: _json_value(value) for key, value in asdict(self).items()}


def proportions_chi2_test(
    successes: Sequence[int],
    totals: Sequence[int],
    *,
    names: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> ProportionsChi2Test:
    r"""Pearson chi-square test that k >= 2 independent arms have the same rate.

    With pooled rate :math:`\bar p = \sum s_i / \sum n_i`,
    :math:`\chi^2 = \sum_i (s_i - n_i \bar p)^2 / (n_i \bar p (1 - \bar p))`, which is the Pearson
    statistic of the 2 x k table of successes and failures, **without** continuity correction;
    ``df = k - 1``. Matches R's ``prop.test`` for k > 2 (R applies Yates' correction only for
    k = 2), ``statsmodels.stats.proportion.proportions_chisquare`` and
    ``scipy.stats.chi2_contingency(table, correction=False)``. For k = 2 the statistic is the
    square of the pooled z of :func:`two_proportion_test`.

    Parameters
    ----------
    successes, totals : sequence of int
        Units with the outcome, and all units, per arm (same length, at least 2).
    names : sequence of str, optional
        Arm labels; default ``"arm 1"``, ``"arm 2"``, ...
    alpha : float, default 0.05
        Significance level; ``significant`` is ``p_value < alpha``.

    Returns
    -------
    ProportionsChi2Test

    Raises
    ------
    ValueError
        For fewer than two arms, sequences of different lengths, negative or non-integer
        counts, an arm with 0 units, or successes above the arm size (the message names the
        offending element, e.g. ``totals[2]``).

    Notes
    -----
    If every unit in every arm has the same outcome (pooled rate 0 or 1) the statistic is 0/0;
    it is reported as ``statistic = 0``, ``p_value = 1``.

    References
    ----------
    .. [1] R Core Team, ``prop.test`` (stats package).
    .. [2] statsmodels, ``proportions_chisquare``,
       https://www.statsmodels.org/stable/generated/statsmodels.stats.proportion.proportions_chisquare.html

    Examples
    --------
    >>> res = proportions_chi2_test([83, 90, 129, 70], [86, 93, 136, 82])
    >>> round(res.statistic, 6), res.df, round(res.p_value, 9)
    (12.600411, 3, 0.005585477)
    """
    successes = list(successes)
    totals = list(totals)
    if len(successes) != len(totals):
        raise ValueError(
            f"successes and totals must have the same length, got {len(successes)} and "
            f"{len(totals)}"
        )
    if len(successes) < 2:
        raise ValueError(f"need at least 2 arms, got {len(successes)}")
    checked = [
        _check_arm(f"successes[{i}]", s, f"totals[{i}]", n)
        for i, (s, n) in enumerate(zip(successes, totals, strict=True))
    ]
    alpha = _check_alpha(alpha)
    k = len(checked)
    if names is None:
        names = [f"arm {i + 1}" for i in range(k)]
    names = tuple(str(name) for name in names)
    if len(names) != k:
        raise ValueError(f"names must have {k} entries, got {len(names)}")

    s = np.array([c[0] for c in checked], dtype=float)
    n = np.array([c[1] for c in checked], dtype=float)
    pooled = s.sum() / n.sum()
    if 0.0 < pooled < 1.0:
        statistic = float(np.sum((s - n * pooled) ** 2 / (n * pooled * (1.0 - pooled))))
        p_value = float(stats.chi2.sf(statistic, k - 1))
    else:
        statistic, p_value = 0.0, 1.0
    low, high = _wilson_interval(s, n, _critical_value(alpha, "two-sided"))
    return ProportionsChi2Test(
        names=names,
        successes=tuple(int(c[0]) for c in checked),
        totals=tuple(int(c[1]) for c in checked),
        rates=tuple(float(v) for v in s / n),
        rate_cis=tuple((float(a), float(b)) for a, b in zip(low, high, strict=True)),
        statistic=statistic,
        df=k - 1,
        p_value=p_value,
        alpha=alpha,
        significant=bool(p_value < alpha),
    )
