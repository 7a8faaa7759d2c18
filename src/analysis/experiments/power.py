"""Power, sample size, minimum detectable effect and "how much longer to run".

Two designs, both with two arms of equal size ``n`` (units per arm):

* **Proportions** (conversion rates ``p1`` in control, ``p2`` in treatment), tested with the
  two-proportion z test. The power is R's ``power.prop.test``: the null variance uses the pooled
  rate and the alternative variance the two separate rates (Fleiss, Levin & Paik 2003, §4.2),
  not Cohen's arcsine effect size h. The numbers come from statsmodels'
  ``power_proportions_2indep``, which implements this very formula.
* **Means** (difference ``delta`` between arm means, common standard deviation ``sd``), tested
  with the two-sample Student t test; the power is the noncentral t formula of R's
  ``power.t.test``, computed by statsmodels' ``TTestIndPower``.

Two-sided power, the R convention
---------------------------------
R (``strict = FALSE``, its default) counts only rejections in the direction of the true effect;
the "wrong-sign" rejections in the other tail (at most ``alpha / 2``, usually ~1e-6) are left
out. That is what the reference values 0.7401659 (``power.prop.test``) and 0.8689528
(``power.t.test``) are, so it is the default here too. ``strict=True`` adds the other tail, which
is what statsmodels' two-sided ``NormalIndPower``/``TTestIndPower``/``power_proportions_2indep``
report (0.7401672 and 0.8689530 for the same two examples). Sample sizes are solved with
:func:`scipy.optimize.brentq` on the same power function (R uses ``uniroot``).

References
----------
.. [1] R Core Team, ``?power.prop.test`` and ``?power.t.test`` (package stats).
.. [2] Fleiss, J. L., Levin, B. & Paik, M. C. (2003). *Statistical Methods for Rates and
   Proportions*, 3rd ed., Wiley, §4.2 (sample size for comparing two proportions).
.. [3] Cohen, J. (1988). *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed.,
   ch. 2 (power of the t test via the noncentral t distribution).
.. [4] statsmodels, ``statsmodels.stats.power`` and
   ``statsmodels.stats.proportion.power_proportions_2indep``,
   https://www.statsmodels.org/stable/stats.html#power-and-sample-size-calculations
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from scipy import optimize
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from analysis.results import Result

__all__ = [
    "PowerPlan",
    "mde_means",
    "mde_proportions",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
    "time_to_run",
]

_ALTERNATIVES = {
    "two-sided": "two-sided",
    "larger": "larger",
    "smaller": "smaller",
    "greater": "larger",
    "less": "smaller",
}

#: Largest sample size per arm the solvers search (as R's ``uniroot`` interval c(2, 1e7), wider).
_N_MAX = 1e12


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return alpha


def _check_power(power: float, alpha: float) -> float:
    power = float(power)
    if not alpha < power < 1.0:
        raise ValueError(
            f"power must lie strictly between alpha ({alpha:g}) and 1, got {power}: a test "
            "rejects at rate alpha even without an effect"
        )
    return power


def _check_rate(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {p}")
    return p


def _check_positive(name: str, value: float, minimum: float = 0.0) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > minimum):
        raise ValueError(f"{name} must be a finite number above {minimum:g}, got {value}")
    return value


def _check_alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'larger' or 'smaller', got {alternative!r}"
        )
    return _ALTERNATIVES[alternative]


# --------------------------------------------------------------------------------------------
# Power
# --------------------------------------------------------------------------------------------


def _power_proportions(
    n: float, p1: float, p2: float, alpha: float, alternative: str, strict: bool
) -> float:
    diff = p2 - p1

    def sm(alt: str, level: float) -> float:
        # statsmodels: p1' = prop2 + diff is the first (treatment) arm, prop2 the control.
        return float(
            power_proportions_2indep(
                diff, p1, n, ratio=1.0, alpha=level, alternative=alt, return_results=False
            )
        )

    if alternative == "two-sided" and not strict:
        return sm("larger" if diff >= 0 else "smaller", alpha / 2.0)
    return sm(alternative, alpha)


def power_proportions(
    n: float,
    p1: float,
    p2: float,
    alpha: float = 0.05,
    *,
    alternative: str = "two-sided",
    strict: bool = False,
) -> float:
    r"""Power of the two-proportion z test with ``n`` units per arm (R ``power.prop.test``).

    With :math:`q_i = 1 - p_i`, :math:`\Delta = |p_2 - p_1|` and
    :math:`z = \Phi^{-1}(1 - \alpha/2)`, the two-sided power is

    .. math::
        \Phi\!\left(\frac{\sqrt{n}\,\Delta - z\sqrt{(p_1 + p_2)(q_1 + q_2)/2}}
        {\sqrt{p_1 q_1 + p_2 q_2}}\right)

    — the pooled rate :math:`\bar p = (p_1 + p_2)/2` gives the null standard deviation
    :math:`\sqrt{2 \bar p \bar q}` and the separate rates the alternative one. ``strict=True``
    adds the probability of rejecting in the wrong direction,
    :math:`\Phi\big((-\sqrt{n}\Delta - z\sqrt{\cdot})/\sqrt{p_1 q_1 + p_2 q_2}\big)`.
    One-sided alternatives use :math:`z = \Phi^{-1}(1 - \alpha)` and the signed difference.
    Computed by ``statsmodels.stats.proportion.power_proportions_2indep``.

    Parameters
    ----------
    n : float
        Units per arm (may be fractional, as in R).
    p1, p2 : float
        Conversion rate of the control and of the treatment arm, each in (0, 1).
    alpha : float, default 0.05
        Significance level of the test.
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        ``"larger"``: the test looks for :math:`p_2 > p_1`; ``"smaller"`` for :math:`p_2 < p_1`.
    strict : bool, default False
        Two-sided only: include the other tail (R's ``strict = TRUE``; statsmodels' two-sided
        convention). The default leaves it out, as R does by default.

    Returns
    -------
    float
        Probability of rejecting the null hypothesis :math:`p_1 = p_2` when the rates are
        ``p1`` and ``p2``.

    References
    ----------
    .. [1] R, ``?power.prop.test``; Fleiss, Levin & Paik (2003), §4.2.

    Examples
    --------
    >>> round(power_proportions(50, 0.50, 0.75), 7)
    0.7401659
    """
    n = _check_positive("n", n)
    p1, p2 = _check_rate("p1", p1), _check_rate("p2", p2)
    return _power_proportions(
        n, p1, p2, _check_alpha(alpha), _check_alternative(alternative), bool(strict)
    )


def _power_means(
    n: float, effect_size: float, alpha: float, alternative: str, strict: bool
) -> float:
    analysis = TTestIndPower()
    if alternative == "two-sided" and not strict:
        alt = "larger" if effect_size >= 0 else "smaller"
        return float(analysis.power(effect_size, n, alpha / 2.0, ratio=1.0, alternative=alt))
    return float(analysis.power(effect_size, n, alpha, ratio=1.0, alternative=alternative))


def power_means(
    n: float,
    delta: float,
    sd: float = 1.0,
    alpha: float = 0.05,
    *,
    alternative: str = "two-sided",
    strict: bool = False,
) -> float:
    r"""Power of the two-sample t test with ``n`` units per arm (R ``power.t.test``).

    With :math:`\nu = 2(n - 1)` degrees of freedom, noncentrality
    :math:`\lambda = \sqrt{n/2}\,|\delta| / \sigma` and :math:`t^* = t_{\nu}^{-1}(1 - \alpha/2)`,
    the two-sided power is :math:`P(T_{\nu,\lambda} > t^*)`, where :math:`T_{\nu,\lambda}` is
    noncentral t. ``strict=True`` adds :math:`P(T_{\nu,\lambda} < -t^*)`. One-sided
    alternatives use :math:`t_{\nu}^{-1}(1 - \alpha)` and the signed :math:`\delta`. Computed by
    ``statsmodels.stats.power.TTestIndPower`` with effect size :math:`\delta / \sigma`.

    Parameters
    ----------
    n : float
        Units per arm (> 1; may be fractional).
    delta : float
        True difference of means, treatment minus control.
    sd : float, default 1.0
        Common standard deviation of the outcome within an arm.
    alpha : float, default 0.05
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
    strict : bool, default False
        Two-sided only: include the wrong-direction tail (see the module notes).

    Returns
    -------
    float

    References
    ----------
    .. [1] R, ``?power.t.test``; Cohen (1988), ch. 2.

    Examples
    --------
    >>> round(power_means(20, 1.0, 1.0), 7)
    0.8689528
    """
    n = _check_positive("n", n, minimum=1.0)
    sd = _check_positive("sd", sd)
    delta = float(delta)
    if not math.isfinite(delta):
        raise ValueError(f"delta must be finite, got {delta}")
    return _power_means(
        n, delta / sd, _check_alpha(alpha), _check_alternative(alternative), bool(strict)
    )


# --------------------------------------------------------------------------------------------
# Sample size and minimum detectable effect
# --------------------------------------------------------------------------------------------


def _solve_increasing(f: Callable[[float], float], low: float, high: float) -> float:
    """Root of an increasing ``f`` on [low, high], doubling ``high`` up to ``_N_MAX``."""
    while f(high) < 0:
        if high >= _N_MAX:
            raise ValueError("no sample size up to 1e12 per arm reaches the requested power")
        high = min(high * 4.0, _N_MAX)
    return float(optimize.brentq(f, low, high, xtol=1e-10, rtol=1e-13, maxiter=500))


def sample_size_proportions(
    p1: float,
    p2: float,
    power: float = 0.8,
    alpha: float = 0.05,
    *,
    alternative: str = "two-sided",
    strict: bool = False,
) -> float:
    """Units per arm at which :func:`power_proportions` equals ``power`` (R ``power.prop.test``).

    Solved with :func:`scipy.optimize.brentq` (tolerance 1e-10) on the power function, so it is
    fractional like R's; round up (``math.ceil``) to plan.

    Parameters
    ----------
    p1, p2 : float
        Control and treatment conversion rates, in (0, 1), not equal.
    power : float, default 0.8
        Target power, in (alpha, 1).
    alpha, alternative, strict
        As in :func:`power_proportions`.

    Returns
    -------
    float
        Units per arm (at least 1e-6; a tiny value means almost any sample suffices).

    Examples
    --------
    >>> round(sample_size_proportions(0.50, 0.75, power=0.90), 5)
    76.70693
    """
    p1, p2 = _check_rate("p1", p1), _check_rate("p2", p2)
    if p1 == p2:
        raise ValueError("p1 equals p2: there is no effect to detect, so no sample size suffices")
    alpha = _check_alpha(alpha)
    power = _check_power(power, alpha)
    alternative = _check_alternative(alternative)
    if (alternative == "larger" and p2 < p1) or (alternative == "smaller" and p2 > p1):
        raise ValueError(
            f"a one-sided test for '{alternative}' cannot detect a change from {p1:g} to {p2:g}"
        )

    def f(n: float) -> float:
        return _power_proportions(n, p1, p2, alpha, alternative, strict) - power

    low = 1e-6
    if f(low) >= 0:
        return low
    return _solve_increasing(f, low, 100.0)


def sample_size_means(
    delta: float,
    sd: float = 1.0,
    power: float = 0.8,
    alpha: float = 0.05,
    *,
    alternative: str = "two-sided",
    strict: bool = False,
) -> float:
    """Units per arm at which :func:`power_means` equals ``power`` (R ``power.t.test``).

    Solved with :func:`scipy.optimize.brentq` (tolerance 1e-10) on n in [2, ∞); returns 2 when
    even 2 units per arm reach the power (the t test needs at least 2 per arm).

    Parameters
    ----------
    delta : float
        Difference of means to detect (non-zero).
    sd : float, default 1.0
        Common within-arm standard deviation.
    power, alpha, alternative, strict
        As in :func:`power_means` and :func:`sample_size_proportions`.

    Returns
    -------
    float
        Units per arm (fractional).

    Examples
    --------
    >>> round(sample_size_means(1.0, 1.0, power=0.90), 5)
    22.0211
    """
    sd = _check_positive("sd", sd)
    delta = float(delta)
    if delta == 0 or not math.isfinite(delta):
        raise ValueError(f"delta must be finite and non-zero, got {delta}")
    alpha = _check_alpha(alpha)
    power = _check_power(power, alpha)
    alternative = _check_alternative(alternative)
    if (alternative == "larger" and delta < 0) or (alternative == "smaller" and delta > 0):
        raise ValueError(f"a one-sided test for '{alternative}' cannot detect delta = {delta:g}")
    es = delta / sd

    def f(n: float) -> float:
        return _power_means(n, es, alpha, alternative, strict) - power

    if f(2.0) >= 0:
        return 2.0
    return _solve_increasing(f, 2.0, 100.0)


def mde_proportions(
    n: float,
    p1: float,
    power: float = 0.8,
    alpha: float = 0.05,
    *,
    direction: str = "increase",
    alternative: str = "two-sided",
    strict: bool = False,
) -> float:
    """Minimum detectable effect on a conversion rate with ``n`` units per arm.

    The smallest absolute change ``d = p2 - p1`` in the given direction for which
    :func:`power_proportions` ``(n, p1, p1 + d)`` equals ``power`` (brentq on ``p2``). Because the
    variance of a rate depends on the rate, increases and decreases from the same baseline have
    different MDEs.

    Parameters
    ----------
    n : float
        Units per arm.
    p1 : float
        Baseline (control) conversion rate, in (0, 1).
    power : float, default 0.8
    alpha : float, default 0.05
    direction : {"increase", "decrease"}, default "increase"
    alternative, strict
        As in :func:`power_proportions`.

    Returns
    -------
    float
        ``p2 - p1``: positive for an increase, negative for a decrease (a proportion; x100 for
        percentage points). Divide by ``p1`` for the relative MDE.

    Raises
    ------
    ValueError
        If no rate between ``p1`` and 1 (or 0) reaches the power with ``n`` per arm.
    """
    n = _check_positive("n", n)
    p1 = _check_rate("p1", p1)
    alpha = _check_alpha(alpha)
    power = _check_power(power, alpha)
    alternative = _check_alternative(alternative)
    if direction not in ("increase", "decrease"):
        raise ValueError(f"direction must be 'increase' or 'decrease', got {direction!r}")
    sign = 1.0 if direction == "increase" else -1.0
    limit = (1.0 - p1) if sign > 0 else p1
    eps = 1e-12

    def f(d: float) -> float:
        return _power_proportions(n, p1, p1 + sign * d, alpha, alternative, strict) - power

    if f(limit - eps) < 0:
        raise ValueError(
            f"with {n:g} units per arm no {direction} from {p1:g} reaches power {power:g}"
        )
    d = optimize.brentq(f, eps, limit - eps, xtol=1e-13, rtol=1e-13, maxiter=500)
    return sign * float(d)


def mde_means(
    n: float,
    sd: float = 1.0,
    power: float = 0.8,
    alpha: float = 0.05,
    *,
    alternative: str = "two-sided",
    strict: bool = False,
) -> float:
    """Minimum detectable difference of means with ``n`` units per arm (R ``power.t.test``).

    The ``delta > 0`` for which :func:`power_means` ``(n, delta, sd)`` equals ``power``; it is
    ``sd`` times the solved standardised effect (brentq). For ``alternative="smaller"`` the
    returned value is negative.

    Parameters
    ----------
    n : float
        Units per arm (> 1).
    sd : float, default 1.0
        Common within-arm standard deviation.
    power, alpha, alternative, strict
        As in :func:`power_means`.

    Returns
    -------
    float
        The minimum detectable difference, in the outcome's units.
    """
    n = _check_positive("n", n, minimum=1.0)
    sd = _check_positive("sd", sd)
    alpha = _check_alpha(alpha)
    power = _check_power(power, alpha)
    alternative = _check_alternative(alternative)
    sign = -1.0 if alternative == "smaller" else 1.0

    def f(es: float) -> float:
        return _power_means(n, sign * es, alpha, alternative, strict) - power

    es = _solve_increasing(f, 1e-12, 10.0)
    return sign * es * sd


# --------------------------------------------------------------------------------------------
# How much longer to run
# --------------------------------------------------------------------------------------------


def _fmt_days(days: float, more: bool = False) -> str:
    """Whole days, rounded up: ``"10 days"`` (``"10 more days"`` with ``more``)."""
    if math.isinf(days):
        return "never"
    whole = math.ceil(days - 1e-9)
    return f"{whole:,} {'more ' if more else ''}day" + ("" if whole == 1 else "s")


@dataclass(frozen=True)
class PowerPlan(Result):
    """How far an experiment is from its planned sample size; see :func:`time_to_run`.

    Attributes
    ----------
    arms : tuple of str
        Arm names (``("each arm",)`` when the inputs were single numbers for every arm).
    required_n_per_arm : float
        Planned units per arm (e.g. from :func:`sample_size_proportions`; may be fractional).
    units_needed_per_arm : int
        ``ceil(required_n_per_arm)``: whole units each arm must reach.
    units_so_far : tuple of float
        Units each arm has had so far.
    units_per_day : tuple of float
        Recent rate of new units per day, per arm.
    units_remaining : tuple of int
        ``max(units_needed_per_arm - units_so_far, 0)`` per arm (rounded up).
    days_remaining_by_arm : tuple of float
        ``units_remaining / units_per_day`` per arm (0 when done; inf when the rate is 0).
    days_remaining : float
        The longest of ``days_remaining_by_arm``: the experiment stops when every arm is done.
    limiting_arm : str
        The arm that takes longest.
    design : str
        Optional plain description of what the sample size is for (shown in the summary).
    """

    arms: tuple[str, ...]
    required_n_per_arm: float
    units_needed_per_arm: int
    units_so_far: tuple[float, ...]
    units_per_day: tuple[float, ...]
    units_remaining: tuple[int, ...]
    days_remaining_by_arm: tuple[float, ...]
    days_remaining: float
    limiting_arm: str
    design: str = ""

    title = "How much longer to run"

    @property
    def done(self) -> bool:
        """Whether every arm has reached the planned size."""
        return self.days_remaining == 0.0

    @property
    def fraction_complete(self) -> float:
        """Smallest ``units_so_far / units_needed_per_arm`` over arms, capped at 1."""
        return min(1.0, min(self.units_so_far) / self.units_needed_per_arm)

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: units so far, needed, remaining, rate and days remaining."""
        return pd.DataFrame(
            {
                "arm": list(self.arms),
                "units_so_far": list(self.units_so_far),
                "units_needed": self.units_needed_per_arm,
                "units_remaining": list(self.units_remaining),
                "units_per_day": list(self.units_per_day),
                "days_remaining": list(self.days_remaining_by_arm),
            }
        )

    def summary(self) -> str:
        """Plain words: how many units each arm needs, has, and how many days remain."""
        need = f"{self.units_needed_per_arm:,}"
        lead = f"To {self.design}, each" if self.design else "Each"
        single = len(self.arms) == 1
        so_far = f"{min(self.units_so_far):,.0f}"
        if self.done:
            return (
                f"{lead} arm needs {need} units and every arm has reached it (smallest arm: "
                f"{so_far}): the planned sample is complete and the experiment can be analysed."
            )
        i = self.arms.index(self.limiting_arm)
        who = "it" if single else f"the slowest arm, {self.limiting_arm},"
        progress = f"{100 * self.fraction_complete:.0f}% of the way"
        if math.isinf(self.days_remaining):
            return (
                f"{lead} arm needs {need} units; {who} has {self.units_so_far[i]:,.0f} and is "
                f"gaining no new units, so at the current rate it will never reach the planned "
                f"size ({progress})."
            )
        return (
            f"{lead} arm needs {need} units; {who} has {self.units_so_far[i]:,.0f} and gains "
            f"about {self.units_per_day[i]:,.3g} a day, so run for about "
            f"{_fmt_days(self.days_remaining, more=True)} ({self.units_remaining[i]:,} more units; "
            f"{progress})."
        )

    def plot(self, ax: Any = None) -> Any:
        """Horizontal bars of units so far per arm against the planned size; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.6 + 0.5 * len(self.arms)))
        ax.barh(list(self.arms), list(self.units_so_far), color="tab:blue")
        ax.axvline(self.units_needed_per_arm, color="black", ls="--", lw=1, label="planned")
        ax.set_xlabel("units")
        ax.set_title(f"{_fmt_days(self.days_remaining)} remaining", fontsize="medium")
        ax.legend(loc="lower right")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-serialisable values (inf as None), plus ``done``."""
        from analysis.report import to_jsonable

        return to_jsonable(
            asdict(self) | {"done": self.done, "fraction_complete": self.fraction_complete}
        )


def _per_arm(name: str, value: float | Mapping[str, float]) -> dict[str, float]:
    items = value.items() if isinstance(value, Mapping) else [("each arm", value)]
    out = {}
    for arm, v in items:
        v = float(v)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and non-negative, got {v} for {arm!r}")
        out[str(arm)] = v
    if not out:
        raise ValueError(f"{name} is empty")
    return out


def time_to_run(
    observed_units_per_day_per_arm: float | Mapping[str, float],
    required_n_per_arm: float,
    units_so_far_per_arm: float | Mapping[str, float] = 0.0,
    *,
    design: str = "",
) -> PowerPlan:
    """How many more days the experiment must run to reach its planned sample size.

    For each arm, ``units_remaining = max(ceil(required_n_per_arm) - units_so_far, 0)`` and
    ``days = units_remaining / units_per_day``; the experiment needs the longest of these. The
    projection assumes new units keep arriving at the observed rate (use a rate measured over
    whole weeks: weekday/weekend traffic differs) and that the planned size was computed for the
    effect you care about.

    Parameters
    ----------
    observed_units_per_day_per_arm : float or mapping of str to float
        New units per day entering each arm (one number for all arms, or one per arm).
    required_n_per_arm : float
        Planned units per arm, e.g. from :func:`sample_size_proportions`.
    units_so_far_per_arm : float or mapping of str to float, default 0
        Units already in each arm. When both arguments are mappings they must have the same
        arm names; a single number is used for every arm.
    design : str, optional
        What the sample size is for, in words completing "To ..., each arm needs ..." (e.g.
        ``"detect a rise from 10% to 12% with 80% power"``).

    Returns
    -------
    PowerPlan
        ``days_remaining`` is a float (0 when done, ``inf`` when no units are arriving).
    """
    required = _check_positive("required_n_per_arm", required_n_per_arm)
    rates = _per_arm("observed_units_per_day_per_arm", observed_units_per_day_per_arm)
    so_far = _per_arm("units_so_far_per_arm", units_so_far_per_arm)
    if list(rates) == ["each arm"] and list(so_far) != ["each arm"]:
        rates = dict.fromkeys(so_far, rates["each arm"])
    elif list(so_far) == ["each arm"] and list(rates) != ["each arm"]:
        so_far = dict.fromkeys(rates, so_far["each arm"])
    if set(rates) != set(so_far):
        raise ValueError(
            f"arm names differ: rates for {sorted(rates)} but units so far for {sorted(so_far)}"
        )
    arms = tuple(rates)
    needed = math.ceil(required - 1e-9)
    remaining = tuple(max(math.ceil(needed - so_far[a]), 0) for a in arms)
    days = tuple(
        0.0 if r == 0 else (math.inf if rates[a] == 0 else r / rates[a])
        for a, r in zip(arms, remaining, strict=True)
    )
    worst = max(range(len(arms)), key=lambda i: days[i])
    return PowerPlan(
        arms=arms,
        required_n_per_arm=required,
        units_needed_per_arm=needed,
        units_so_far=tuple(so_far[a] for a in arms),
        units_per_day=tuple(rates[a] for a in arms),
        units_remaining=remaining,
        days_remaining_by_arm=days,
        days_remaining=days[worst],
        limiting_arm=arms[worst],
        design=str(design),
    )
