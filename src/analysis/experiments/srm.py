"""Sample ratio mismatch: were units split between arms as planned?

:func:`sample_ratio_mismatch` is a chi-square goodness-of-fit test of the arm counts against the
planned weights; a mismatch (default p < 0.001, the GrowthBook and Eppo threshold) means
assignment or logging is broken and the comparison cannot be trusted.

References
----------
.. [1] Fabijan, A., Gupchup, J., Gupta, S., Omhover, J., Qin, W., Vermeer, L. & Dmitriev, P.
   (2019). Diagnosing sample ratio mismatch in online controlled experiments. *KDD '19*,
   2156-2164.
.. [2] GrowthBook, "Experimentation Problems: Sample Ratio Mismatch",
   https://docs.growthbook.io/kb/experiments/troubleshooting-experiments; Eppo, "Sample ratio
   mismatch", https://docs.geteppo.com/statistics/sample-ratio-mismatch (threshold p < 0.001).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.experiments._design_common import _check_alpha, _fmt_p
from analysis.results import Result

__all__ = ["SRM_THRESHOLD", "SampleRatioCheck", "sample_ratio_mismatch"]


#: Default SRM threshold (GrowthBook and Eppo).
SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SampleRatioCheck(Result):
    """Chi-square goodness-of-fit test of arm counts; see :func:`sample_ratio_mismatch`.

    Attributes
    ----------
    arms : tuple of str
        Arm names, in the order given.
    observed : tuple of int
        Units counted in each arm.
    planned_weights : tuple of float
        Planned share of units per arm (normalised to sum to 1).
    expected : tuple of float
        ``total * planned_weight`` per arm.
    statistic : float
        Pearson chi-square :math:`\\sum (O - E)^2 / E`.
    df : int
        Number of arms minus 1.
    p_value : float
        Upper tail of the chi-square distribution with ``df`` degrees of freedom.
    threshold : float
        A mismatch is flagged when ``p_value < threshold``.
    ok : bool
        ``p_value >= threshold``.
    """

    arms: tuple[str, ...]
    observed: tuple[int, ...]
    planned_weights: tuple[float, ...]
    expected: tuple[float, ...]
    statistic: float
    df: int
    p_value: float
    threshold: float
    ok: bool

    title = "Sample ratio check"

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: observed and expected units, observed and planned share."""
        total = sum(self.observed)
        return pd.DataFrame(
            {
                "arm": list(self.arms),
                "observed": list(self.observed),
                "expected": list(self.expected),
                "observed_share": [o / total for o in self.observed],
                "planned_share": list(self.planned_weights),
            }
        ).assign(statistic=self.statistic, df=self.df, p_value=self.p_value, ok=self.ok)

    def summary(self) -> str:
        """One sentence: OK with its p-value, or the mismatch with counts, plan and a warning."""
        p = _fmt_p(self.p_value)
        small = min(self.expected) < 5
        caveat = " (few units: the chi-square approximation is rough)" if small else ""
        if self.ok:
            return f"Sample ratio OK ({p}){caveat}."
        counts = " vs ".join(f"{o:,}" for o in self.observed)
        plan = "/".join(f"{100 * w:.3g}" for w in self.planned_weights)
        return (
            f"Sample ratio mismatch: {counts} units where {plan} was planned ({p}){caveat}; "
            "results are not trustworthy until the cause is found."
        )

    def plot(self, ax: Any = None) -> Any:
        """Observed vs planned share per arm; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(1.6 + 1.2 * len(self.arms), 3.2))
        total = sum(self.observed)
        x = np.arange(len(self.arms))
        ax.bar(x - 0.2, [o / total for o in self.observed], width=0.4, label="observed")
        ax.bar(x + 0.2, list(self.planned_weights), width=0.4, label="planned")
        ax.set_xticks(x, list(self.arms))
        ax.set_ylabel("share of units")
        ax.set_title(self.summary().split(";")[0], fontsize="small")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        from analysis.report import to_jsonable

        return to_jsonable(asdict(self))


def sample_ratio_mismatch(
    counts: Mapping[str, int],
    planned_weights: Mapping[str, float] | None = None,
    threshold: float = SRM_THRESHOLD,
) -> SampleRatioCheck:
    r"""Test whether units were split between arms as planned (sample ratio mismatch, SRM).

    With :math:`O_k` units observed in arm :math:`k`, planned weights :math:`w_k` (normalised to
    sum to 1) and :math:`E_k = w_k \sum_j O_j`, the statistic is Pearson's
    :math:`X^2 = \sum_k (O_k - E_k)^2 / E_k`, referred to a chi-square distribution with
    :math:`K - 1` degrees of freedom (``scipy.stats.chisquare``). A p-value below ``threshold``
    is a mismatch: randomisation, triggering or logging dropped or duplicated units in one arm
    more than another, so the arms are no longer comparable (Fabijan et al. 2019).

    The threshold is strict (0.001, GrowthBook's and Eppo's default) because the check runs on
    every experiment and on large counts, where a 0.05 threshold would raise false alarms on
    one experiment in twenty.

    Parameters
    ----------
    counts : mapping of str to int
        Units per arm, e.g. ``{"control": 5300, "treatment": 4700}``; at least two arms.
    planned_weights : mapping of str to float, optional
        Planned allocation per arm, same keys as ``counts``; any positive scale (``{"a": 1,
        "b": 1}`` and ``{"a": 0.5, "b": 0.5}`` are the same). Default: equal weights.
    threshold : float, default 0.001
        Flag a mismatch when ``p_value < threshold``.

    Returns
    -------
    SampleRatioCheck

    Raises
    ------
    ValueError
        If fewer than two arms, a count is negative or not an integer, all counts are 0, a
        weight is not positive, or the keys of ``planned_weights`` differ from ``counts``.

    Examples
    --------
    >>> sample_ratio_mismatch({"control": 5300, "treatment": 4700}).summary()[:22]
    'Sample ratio mismatch:'
    """
    threshold = _check_alpha(threshold, "threshold")
    if len(counts) < 2:
        raise ValueError(f"need counts for at least two arms, got {dict(counts)}")
    arms = tuple(str(a) for a in counts)
    observed = []
    for arm, c in counts.items():
        if (
            isinstance(c, bool)
            or not isinstance(c, numbers.Real)
            or not float(c).is_integer()
            or c < 0
        ):
            raise ValueError(f"count for {arm!r} must be a non-negative integer, got {c!r}")
        observed.append(int(c))
    total = sum(observed)
    if total == 0:
        raise ValueError("all counts are 0: there are no units to check")
    if planned_weights is None:
        weights = np.full(len(arms), 1.0 / len(arms))
    else:
        if set(map(str, planned_weights)) != set(arms):
            raise ValueError(
                f"planned_weights has arms {sorted(map(str, planned_weights))} but counts has "
                f"{sorted(arms)}"
            )
        by_name = {str(k): float(v) for k, v in planned_weights.items()}
        weights = np.array([by_name[a] for a in arms])
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError(f"planned weights must be positive, got {by_name}")
        weights = weights / weights.sum()
    expected = total * weights
    statistic, p_value = stats.chisquare(np.asarray(observed, dtype=float), expected)
    p_value = float(p_value)
    return SampleRatioCheck(
        arms=arms,
        observed=tuple(observed),
        planned_weights=tuple(float(w) for w in weights),
        expected=tuple(float(e) for e in expected),
        statistic=float(statistic),
        df=len(arms) - 1,
        p_value=p_value,
        threshold=threshold,
        ok=bool(p_value >= threshold),
    )
