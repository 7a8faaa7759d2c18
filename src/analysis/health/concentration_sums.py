"""Engine-side sums behind :func:`analysis.health.concentration.concentration`.

Per window (the whole data, or each UTC period): messages, authors, ``Σ rank·x`` over authors
sorted ascending, the top-5 and top-10 sums, the number of authors before the one that reaches
half of the messages, and authors whose recorded join is after the window. All in exact integer
arithmetic on the engine, read from the member-day table (:mod:`analysis.health.member_days`);
:func:`_measures` turns one window's sums into the Gini coefficients, shares and the absence
factor defined in :mod:`analysis.health.concentration`.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from analysis.data import Community
from analysis.health.active_periods import _period_ordinal
from analysis.health.member_days import member_days_of, member_totals, period_ordinal

__all__: list[str] = []


def _gini_from_sums(n: int, total: int, rank_sum: int) -> float:
    """Gini from n, Σx and Σ i·x₍ᵢ₎ (ascending ranks): (2·Σ i·x − (n+1)·Σx) / (n·Σx)."""
    if n <= 0 or total <= 0:
        return float("nan")
    return (2 * rank_sum - (n + 1) * total) / (n * total)


def _window_sums_expr(
    community: Community,
    members: Any,
    period: str | None,
    last: pd.Timestamp | None = None,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """Per window: messages, authors, Σ rank·x, top-5/10 sums, absence factor, late authors.

    ``members`` is :func:`~analysis.health.activity.members_included` under the same switches.
    Messages per member and window are summed from the member-day table
    (:func:`analysis.health.member_days.member_days`: a window is a union of UTC days; the
    whole data reads the per-member totals, :func:`~analysis.health.member_days.member_totals`);
    ``window_key`` is 0 for the whole data, else the period's ordinal
    (:func:`analysis.health.member_days.period_ordinal`).
    """
    if period is None:
        totals = member_totals(community, include_staff=include_staff, include_bots=include_bots)
        counts = totals.select(
            window_key=ibis.literal(0, "int64"), member_id=totals.member_id, x=totals.messages
        )
    else:
        days = member_days_of(community, include_staff=include_staff, include_bots=include_bots)
        days = days.filter(days.messages > 0)
        days = days.mutate(window_key=period_ordinal(days.day, period))
        counts = days.group_by(["window_key", "member_id"]).aggregate(
            x=days.messages.sum().cast("int64")
        )
    # One sort (descending x): every sum below is the same for any order of tied authors (the
    # top-i values form the same multiset), so the ascending rank is the descending one
    # reversed, n + 1 − rank_down, and Σ rank_up·x, the top-5/10 sums and the running sums do
    # not depend on how ties are broken (member_id here, for a deterministic plan).
    descending = ibis.window(
        group_by=counts.window_key, order_by=[counts.x.desc(), counts.member_id]
    )
    running = ibis.cumulative_window(
        group_by=counts.window_key, order_by=[counts.x.desc(), counts.member_id]
    )
    ranked = counts.mutate(
        rank_down=ibis.row_number().over(descending) + 1,
        cum_down=counts.x.sum().over(running),
        total=counts.x.sum().over(ibis.window(group_by=counts.window_key)),
        n_authors=counts.count().over(ibis.window(group_by=counts.window_key)),
    )
    ranked = ranked.mutate(rank_up=ranked.n_authors + 1 - ranked.rank_down)
    # authors whose recorded join is after the window's end still count as members
    if period is not None:
        joined = members.select(
            j_member=members.member_id, j_start=_period_ordinal(members.joined_at, period)
        )
        ranked = ranked.left_join(joined, ranked.member_id == joined.j_member)
        late = (ranked.j_start > ranked.window_key).cast("int64")
    elif last is not None:
        joined = members.select(j_member=members.member_id, j_at=members.joined_at)
        ranked = ranked.left_join(joined, ranked.member_id == joined.j_member)
        late = (ranked.j_at > ibis.literal(last.to_pydatetime())).cast("int64")
    else:
        late = ibis.literal(0, "int64")
    ranked = ranked.mutate(late=late)
    zero = ibis.literal(0, "int64")
    return ranked.group_by("window_key").aggregate(
        messages=ranked.x.sum(),
        authors=ranked.count(),
        rank_sum=(ranked.rank_up * ranked.x).sum(),
        top5=ibis.ifelse(ranked.rank_down <= 5, ranked.x, zero).sum(),
        top10=ibis.ifelse(ranked.rank_down <= 10, ranked.x, zero).sum(),
        # authors before the one that reaches half: 2·cumsum < total
        below_half=ibis.ifelse(2 * ranked.cum_down < ranked.total, 1, 0).cast("int64").sum(),
        late_authors=ranked.late.sum(),
    )


def _measures(row: Any, members: int) -> dict[str, Any]:
    n, total = int(row["authors"]), int(row["messages"])
    rank_sum = int(row["rank_sum"])
    everyone = max(members, 0) + int(row["late_authors"])
    zeros = everyone - n
    return {
        "messages": total,
        "authors": n,
        "members": everyone,
        "gini_authors": _gini_from_sums(n, total, rank_sum),
        # members without messages take ranks 1..zeros, shifting each author's rank by `zeros`
        "gini_members": _gini_from_sums(everyone, total, rank_sum + zeros * total),
        "top5_share": int(row["top5"]) / total if total else float("nan"),
        "top10_share": int(row["top10"]) / total if total else float("nan"),
        "absence_factor": int(row["below_half"]) + 1 if total else 0,
    }


_EMPTY = {
    "messages": 0,
    "authors": 0,
    "rank_sum": 0,
    "top5": 0,
    "top10": 0,
    "below_half": 0,
    "late_authors": 0,
}
