"""Order statistics of the pairwise differences t_i − c_j without the n × m array.

The Hodges–Lehmann shift and the limits of its distribution-free interval
(:func:`~analysis.experiments.rank.mann_whitney`) are order statistics of the ``n × m``
pairwise differences. Small problems read them off the full array; large ones use a
randomised selection algorithm in the spirit of Johnson & Mizoguchi (1978) with O(n + m)
memory.

References
----------
.. [1] Johnson, D. B. and Mizoguchi, T. (1978). Selecting the Kth element in X + Y and
   X1 + X2 + ... + Xm. *SIAM Journal on Computing* 7(2), 147-153.
"""

from __future__ import annotations

import math

import numpy as np

#: Up to this many pairwise differences the Hodges–Lehmann quantities are read off the full
#: ``n × m`` array; above it a selection algorithm with O(n + m) memory is used.
_BRUTE_FORCE_PAIRS = 1 << 21


def _count_below(
    rows: np.ndarray, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray, p: float, strict: bool
) -> np.ndarray:
    """Per row r, the number of s with ``rows[r] + cols[s] < p`` (``<= p`` if not strict).

    ``rows`` and ``cols`` are sorted ascending, so each row of the (never built) matrix
    ``rows[:, None] + cols[None, :]`` is sorted. The caller guarantees the answer of row r lies
    in ``[lo[r], hi[r]]``. A guess from ``searchsorted(cols, p - rows)`` is accepted where the
    neighbouring sums confirm it; other rows (rounding in ``p - rows`` can shift the guess) are
    settled by a vectorised bisection of their window. Only the very floating-point sums the
    full matrix would hold are compared with ``p``, so the counts are exact.
    """
    count = lo.copy()
    active = np.flatnonzero(lo < hi)
    if not active.size:
        return count
    r_lo, r_hi, r_val = lo[active], hi[active], rows[active]
    guess = np.searchsorted(cols, p - r_val, side="left" if strict else "right")
    guess = np.clip(guess, r_lo, r_hi)
    before = r_val + cols[np.maximum(guess - 1, 0)]
    after = r_val + cols[np.minimum(guess, cols.size - 1)]
    if strict:
        ok = ((guess == r_lo) | (before < p)) & ((guess == r_hi) | (after >= p))
    else:
        ok = ((guess == r_lo) | (before <= p)) & ((guess == r_hi) | (after > p))
    count[active[ok]] = guess[ok]
    active = active[~ok]
    left = lo.copy()
    right = hi.copy()
    while active.size:
        mid = (left[active] + right[active]) >> 1
        values = rows[active] + cols[mid]
        go_right = values < p if strict else values <= p
        left[active[go_right]] = mid[go_right] + 1
        right[active[~go_right]] = mid[~go_right]
        done = left[active] >= right[active]
        count[active[done]] = left[active[done]]
        active = active[~done]
    return count


def _kth_sum(rows: np.ndarray, cols: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """The k-th smallest (0-based) of all ``rows[r] + cols[s]``, exactly, in O(len) memory.

    Selection in X + Y (Johnson & Mizoguchi 1978) by sample-based pivots (Floyd–Rivest style):
    each row keeps a window ``[lo, hi)`` of candidate columns; a few thousand candidates are
    sampled, two pivots bracketing the target rank are taken from the sample, and counting the
    sums below each pivot (:func:`_count_below`) shrinks every window. Once at most
    ``_BRUTE_FORCE_PAIRS`` candidates remain they are gathered and partitioned. The random
    pivots only affect the running time; the answer is exact.
    """
    n_rows = rows.size
    lo = np.zeros(n_rows, dtype=np.int64)
    hi = np.full(n_rows, cols.size, dtype=np.int64)
    sample_size = 1 << 14
    while True:
        sizes = hi - lo
        total = int(sizes.sum())
        rank = k - int(lo.sum())  # rank of the answer among the remaining candidates
        ends = np.cumsum(sizes)
        if total <= _BRUTE_FORCE_PAIRS:
            row_idx = np.repeat(np.arange(n_rows), sizes)
            col_idx = lo[row_idx] + (np.arange(total) - (ends - sizes)[row_idx])
            candidates = rows[row_idx] + cols[col_idx]
            return float(np.partition(candidates, rank)[rank])
        draws = rng.integers(0, total, size=sample_size)
        r = np.searchsorted(ends, draws, side="right")
        sample = np.sort(rows[r] + cols[lo[r] + draws - (ends[r] - sizes[r])])
        frac = (rank + 0.5) / total
        spread = 3.0 * math.sqrt(sample_size * frac * (1.0 - frac)) + 2.0
        i_low = math.floor(frac * sample_size - spread)
        i_high = math.ceil(frac * sample_size + spread)
        pivots = []
        if i_low >= 0:
            pivots.append(float(sample[i_low]))
        if i_high < sample_size:
            pivots.append(float(sample[i_high]))
        if not pivots:  # pragma: no cover - needs sample_size tiny relative to the spread
            pivots.append(float(sample[sample_size // 2]))
        lower_bound = -math.inf
        for i, p in enumerate(pivots):
            if p <= lower_bound:
                continue  # already excluded by the previous pivot
            # The answer is expected above the lower pivot and below the upper one: test that
            # side first, so most pivots need one count.
            if i == 0 and len(pivots) == 2:
                at_most = _count_below(rows, cols, lo, hi, p, strict=False)
                if int(at_most.sum()) <= k:  # the answer is > p
                    lo = at_most
                    lower_bound = p
                    continue
                below = _count_below(rows, cols, lo, at_most, p, strict=True)
                if int(below.sum()) > k:  # the answer is < p
                    hi = below
                    break
                return p
            below = _count_below(rows, cols, lo, hi, p, strict=True)
            if int(below.sum()) > k:  # the answer is < p
                hi = below
                break
            at_most = _count_below(rows, cols, below, hi, p, strict=False)
            if int(at_most.sum()) > k:  # the answer is p
                return p
            lo = at_most  # the answer is > p
            lower_bound = p


def _pairwise_difference_order_stats(
    treatment: np.ndarray, control: np.ndarray, ks: list[int], *, force_selection: bool = False
) -> tuple[list[float], str]:
    """The order statistics (0-based ranks ``ks``) of all differences ``t_i - c_j``.

    Returns the values and the name of the algorithm used. Small problems sort (partition) the
    full array of differences; large ones use :func:`_kth_sum` on ``t + (-c)`` (identical
    floating-point values, as IEEE subtraction is addition of the negation).
    """
    n_pairs = treatment.size * control.size
    if n_pairs <= _BRUTE_FORCE_PAIRS and not force_selection:
        diffs = np.subtract.outer(treatment, control).ravel()
        part = np.partition(diffs, sorted(set(ks)))
        return [float(part[k]) for k in ks], "all pairwise differences"
    x = np.sort(treatment)
    y = np.sort(-control)
    rows, cols = (x, y) if x.size <= y.size else (y, x)
    rng = np.random.default_rng(20_240_601)  # pivot sampling only; the result is exact
    values = [_kth_sum(rows, cols, k, rng) for k in ks]
    return values, "exact selection in X + Y (Johnson & Mizoguchi 1978), O(n + m) memory"


def _hodges_lehmann_ranks(n_pairs: int) -> list[int]:
    """0-based ranks whose mean is the median of ``n_pairs`` values."""
    half = n_pairs // 2
    return [half] if n_pairs % 2 else [half - 1, half]
