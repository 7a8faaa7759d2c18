"""Random draws the simulation is built from: times with a rhythm, delays, picks of people."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from analysis.synth.clock import DAY, HOUR, MSK

__all__ = ["DIURNAL", "WEEKLY", "PosterPool", "lognormal_truncated", "sample_times"]

#: Relative chance to post at each Moscow local hour (0..23) and weekday (Monday first),
#: applied to roots and joins by rejection sampling.
DIURNAL = np.array(
    [0.2, 0.1, 0.06, 0.04, 0.04, 0.06, 0.15, 0.35, 0.6, 0.8, 0.9, 0.95]
    + [1.0, 1.0, 0.95, 0.95, 0.95, 0.95, 1.0, 1.0, 0.95, 0.85, 0.6, 0.35]
)
WEEKLY = np.array([1.0, 1.0, 1.0, 0.95, 0.9, 0.65, 0.6])


def sample_times(rng, a1, l1, a2=None, l2=None, power: float = 1.0, rounds: int = 30) -> np.ndarray:
    """Integer times in ``[a1, a1 + l1) ∪ [a2, a2 + l2)``, one per row.

    Density ∝ (that of ``U**power`` stretched over the union) × DIURNAL(hour) × WEEKLY(day).
    """
    a1, l1 = np.broadcast_arrays(np.asarray(a1, np.int64), np.asarray(l1, np.int64))
    a2 = np.zeros_like(a1) if a2 is None else np.asarray(a2, np.int64)
    l2 = np.zeros_like(l1) if l2 is None else np.asarray(l2, np.int64)
    total = l1 + l2
    out = np.empty(a1.size, np.int64)
    todo = np.arange(a1.size)
    for round_ in range(rounds):
        off = np.floor(rng.random(todo.size) ** power * total[todo]).astype(np.int64)
        t = np.where(off < l1[todo], a1[todo] + off, a2[todo] + off - l1[todo])
        local = t + MSK
        weight = DIURNAL[(local // HOUR) % 24] * WEEKLY[(local // DAY + 3) % 7]
        keep = rng.random(todo.size) < weight
        if round_ == rounds - 1:
            keep[:] = True
        out[todo[keep]] = t[keep]
        todo = todo[~keep]
        if not todo.size:
            break
    return out


def lognormal_truncated(rng, median_s: np.ndarray, sigma: np.ndarray, cap_s: float) -> np.ndarray:
    """Lognormal(log median, sigma) conditioned on ≤ ``cap_s``, by inverse CDF."""
    top = ndtr(np.log(cap_s / median_s) / sigma)
    u = np.clip(rng.random(median_s.size) * top, 1e-12, None)
    return median_s * np.exp(sigma * ndtri(u))


class PosterPool:
    """Weighted draws among people who posted their first message before a given time."""

    def __init__(self, who: np.ndarray, first: np.ndarray, weight: np.ndarray):
        order = np.argsort(first[who], kind="stable")
        self.who, self.first = who[order], first[who[order]]
        self.cumw = np.cumsum(weight[self.who])

    def draw(self, rng, t: np.ndarray) -> np.ndarray:
        """One person per time in ``t`` (-1 where nobody had posted yet)."""
        k = np.searchsorted(self.first, t, side="left")  # candidates with first < t
        u = rng.random(t.size) * self.cumw[np.maximum(k, 1) - 1]
        j = np.minimum(np.searchsorted(self.cumw, u, side="right"), np.maximum(k, 1) - 1)
        return np.where(k > 0, self.who[np.minimum(j, self.who.size - 1)], -1)
