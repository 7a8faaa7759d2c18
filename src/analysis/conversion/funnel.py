"""Member funnel: joined → first message → engaged → first purchase, by join cohort and source.

Definitions
-----------
Members
    Rows of ``members`` that are neither staff nor bots (both are excluded everywhere).
Stages (a strict funnel: a stage is reached only when every earlier stage is)
    ``joined``
        Every member.
    ``posted``
        The member's first message that is not a ``service`` event falls in
        ``[joined_at, joined_at + window_days)``.
    ``engaged``
        At least ``engaged_messages`` non-service messages in
        ``[joined_at, joined_at + engaged_days)`` (default: 3 messages in the first 30 days — the
        "activation" threshold style of product analytics, e.g. Amplitude's activation
        milestones; set it to your community's own definition).
    ``purchased``
        An order by a customer linked to the member (``customers.member_id``) in
        ``[joined_at, joined_at + window_days)``.
Exposure (right censoring)
    A member counts in a stage's denominator only when the data cover that stage's whole window
    for them, and every earlier stage's: ``posted`` needs ``joined_at + window_days <=``
    the last message; ``engaged`` additionally ``joined_at + engaged_days <=`` the last message;
    ``purchased`` additionally ``joined_at + window_days <=`` the last order. Recent joiners, who
    have not had the time to convert, therefore do not dilute the rates. The ``joined`` stage
    needs no exposure.
Rates (per cohort × source and for every margin, ``"all"``)
    ``exposed``: members exposed for the stage; ``entered``: of those, members who reached the
    previous stage; ``reached``: of those, members who reached this stage; ``met``: exposed
    members who met this stage's own condition whatever the earlier stages (e.g. bought without
    posting). ``rate = reached / entered`` (conversion from the previous stage) and
    ``overall = reached / exposed`` (from joining), each with a two-sided Wilson score interval
    (Wilson 1927; ``statsmodels.stats.proportion.proportion_confint(method="wilson")``). A rate
    with a zero denominator is NaN, as are its interval ends (documented, not an error).
Cohort
    The UTC calendar month of ``joined_at`` (``"2024-01"``); source: ``members.source``, with
    missing values as ``"unknown"``.
Referral conversion
    Among members exposed for ``purchased``: the share who bought within ``window_days`` of
    joining (the ``met`` condition, any path), referred (``referred_by`` set) vs not, compared
    with the Newcombe interval of the difference (see
    :func:`analysis.experiments.proportions.two_proportion_test`). Associational: referred
    people differ from others in more than the referral.

References
----------
.. [1] Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
   inference. *JASA* 22(158), 209-212.
.. [2] Newcombe, R. G. (1998). Interval estimation for the difference between independent
   proportions. *Statistics in Medicine* 17(8), 873-890.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from analysis.data import Community, utc_timestamp
from analysis.experiments.proportions import ProportionComparison, two_proportion_test
from analysis.results import Result

__all__ = ["STAGES", "FunnelResult", "funnel", "funnel_counts_expr", "wilson_rates"]

STAGES = ("joined", "posted", "engaged", "purchased")
ALL = "all"


def _ts(value: pd.Timestamp) -> Any:
    return ibis.literal(value, type="timestamp('UTC')")


def funnel_counts_expr(
    community: Community,
    *,
    engaged_messages: int,
    engaged_days: int,
    window_days: int,
    messages_end: pd.Timestamp,
    orders_end: pd.Timestamp,
) -> Any:
    """Per (join cohort, source, referred): stage counts (ibis; runs on the engine).

    Columns: ``cohort, source, referred, joined`` and, per stage ``s`` after ``joined``,
    ``exposed_s, entered_s, reached_s, met_s`` (definitions in the module docstring).
    """
    m = community.members
    m = m.filter(~m.is_staff & ~m.is_bot)
    members = m.select(
        member_id=m.member_id,
        joined_at=m.joined_at,
        cohort=m.joined_at.strftime("%Y-%m"),
        source=m.source.fill_null("unknown"),
        referred=m.referred_by.notnull(),
    )
    msgs = community.messages
    msgs = msgs.filter(msgs.kind != "service").select(
        author=msgs.member_id, created_at=msgs.created_at
    )
    in_window = members.join(
        msgs,
        (members.member_id == msgs.author)
        & (msgs.created_at >= members.joined_at)
        & (msgs.created_at < members.joined_at + ibis.interval(days=window_days)),
    )
    early = in_window.created_at < in_window.joined_at + ibis.interval(days=engaged_days)
    activity = in_window.group_by(poster=in_window.member_id).aggregate(
        n_early=ibis.ifelse(early, 1, 0).sum()
    )
    customers = community.table("customers")
    orders = community.table("orders")
    bought = (
        members.join(customers, members.member_id == customers.member_id)
        .join(
            orders,
            (customers.customer_id == orders.customer_id)
            & (orders.ordered_at >= members.joined_at)
            & (orders.ordered_at < members.joined_at + ibis.interval(days=window_days)),
        )
        .select(buyer=members.member_id)
        .distinct()
    )
    flags = members.left_join(activity, members.member_id == activity.poster).left_join(
        bought, members.member_id == bought.buyer
    )
    window_end = flags.joined_at + ibis.interval(days=window_days)
    exp1 = window_end <= _ts(messages_end)
    exp2 = exp1 & (flags.joined_at + ibis.interval(days=engaged_days) <= _ts(messages_end))
    exp3 = exp2 & (window_end <= _ts(orders_end))
    met1 = flags.poster.notnull()
    met2 = flags.n_early.fill_null(0) >= engaged_messages
    met3 = flags.buyer.notnull()
    reach = [ibis.literal(True), met1, met1 & met2, met1 & met2 & met3]
    exposed = [exp1, exp2, exp3]
    met = [met1, met2, met3]

    def count(cond: Any) -> Any:
        return ibis.ifelse(cond, 1, 0).sum()

    aggs: dict[str, Any] = {"joined": flags.count()}
    for i, stage in enumerate(STAGES[1:]):
        aggs[f"exposed_{stage}"] = count(exposed[i])
        aggs[f"entered_{stage}"] = count(exposed[i] & reach[i])
        aggs[f"reached_{stage}"] = count(exposed[i] & reach[i + 1])
        aggs[f"met_{stage}"] = count(exposed[i] & met[i])
    return flags.group_by(["cohort", "source", "referred"]).aggregate(**aggs)


def wilson_rates(
    successes: Any, n: Any, *, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rate, low, high)`` with two-sided Wilson intervals; NaN where ``n == 0``.

    The interval is ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = n > 0
    safe = np.where(ok, n, 1.0)
    low, high = proportion_confint(np.where(ok, k, 0.0), safe, alpha=alpha, method="wilson")
    nan = np.full(k.shape, np.nan)
    return (
        np.where(ok, k / safe, nan),
        np.where(ok, low, nan),
        np.where(ok, high, nan),
    )


def _long_frame(counts: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Stage rows for every cohort × source and the ``"all"`` margins."""
    value_cols = [c for c in counts.columns if c not in ("cohort", "source", "referred")]
    parts = [
        counts.groupby(["cohort", "source"], as_index=False)[value_cols].sum(),
        counts.groupby("cohort", as_index=False)[value_cols].sum().assign(source=ALL),
        counts.groupby("source", as_index=False)[value_cols].sum().assign(cohort=ALL),
        counts[value_cols].sum().to_frame().T.assign(cohort=ALL, source=ALL),
    ]
    wide = pd.concat(parts, ignore_index=True)
    rows = []
    for stage in STAGES:
        if stage == "joined":
            block = pd.DataFrame(
                {"exposed": wide["joined"], "entered": wide["joined"], "reached": wide["joined"]}
            ).assign(met=wide["joined"])
        else:
            block = pd.DataFrame(
                {k: wide[f"{k}_{stage}"] for k in ("exposed", "entered", "reached", "met")}
            )
        block.insert(0, "stage", stage)
        block.insert(0, "source", wide["source"])
        block.insert(0, "cohort", wide["cohort"])
        rows.append(block)
    out = pd.concat(rows, ignore_index=True)
    for col in ("exposed", "entered", "reached", "met"):
        out[col] = out[col].astype("int64")
    out["rate"], out["rate_low"], out["rate_high"] = wilson_rates(
        out["reached"], out["entered"], alpha=alpha
    )
    out["overall"], out["overall_low"], out["overall_high"] = wilson_rates(
        out["reached"], out["exposed"], alpha=alpha
    )
    out["stage"] = pd.Categorical(out["stage"], categories=STAGES, ordered=True)
    return out.sort_values(["cohort", "source", "stage"], key=_all_last).reset_index(drop=True)


def _all_last(col: pd.Series) -> pd.Series:
    if col.name == "stage":
        return col
    return col.map(lambda v: (v == ALL, v))


@dataclass(frozen=True)
class FunnelResult(Result):
    """Stage counts and conversion rates; see :func:`funnel` and the module docstring.

    Attributes
    ----------
    table : pandas.DataFrame
        Long table: ``cohort, source, stage, exposed, entered, reached, met, rate, rate_low,
        rate_high, overall, overall_low, overall_high`` (margins labelled ``"all"``).
    engaged_messages, engaged_days, window_days : int
        Stage definitions used.
    messages_end, orders_end : pandas.Timestamp
        Ends of observation used for exposure.
    alpha : float
        Intervals have coverage ``1 - alpha``.
    excluded : int
        Staff and bot accounts left out.
    referral : ProportionComparison or None
        Purchase within the window: referred (treatment) vs not referred (control) among
        members exposed for ``purchased``; None when either group is empty.
    """

    table: pd.DataFrame
    engaged_messages: int
    engaged_days: int
    window_days: int
    messages_end: pd.Timestamp
    orders_end: pd.Timestamp
    alpha: float
    excluded: int
    referral: ProportionComparison | None
    title: str = "Member funnel: joined → posted → engaged → purchased"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def overall(self) -> pd.DataFrame:
        """The stage rows for all cohorts and sources together, indexed by stage."""
        t = self.table
        return t[(t.cohort == ALL) & (t.source == ALL)].set_index("stage")

    def summary(self) -> str:
        o = self.overall()

        def pct(v: float) -> str:
            return "n/a" if v != v else f"{v:.0%}"

        text = (
            f"Of {int(o.loc['posted', 'exposed'])} members observed for {self.window_days} days "
            f"after joining (staff and bots excluded), {pct(o.loc['posted', 'rate'])} posted "
            f"within {self.window_days} days; {pct(o.loc['engaged', 'rate'])} of those were "
            f"engaged ({self.engaged_messages}+ messages in their first {self.engaged_days} "
            f"days) and {pct(o.loc['purchased', 'rate'])} of the engaged bought within "
            f"{self.window_days} days, so {pct(o.loc['purchased', 'overall'])} of joiners went "
            f"all the way ({1 - self.alpha:.0%} CI {pct(o.loc['purchased', 'overall_low'])} to "
            f"{pct(o.loc['purchased', 'overall_high'])})."
        )
        if self.referral is not None:
            r = self.referral
            text += (
                f" Referred members bought {pct(r.rate_treatment)} of the time against "
                f"{pct(r.rate_control)} for others (difference {r.diff * 100:+.1f} points, CI "
                f"{r.diff_ci[0] * 100:+.1f} to {r.diff_ci[1] * 100:+.1f}); this is associational."
            )
        return text

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns
        from matplotlib.ticker import PercentFormatter

        t = self.table
        data = t[(t.cohort == ALL)].astype({"stage": str})
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.8))
        sns.pointplot(data=data, x="stage", y="overall", hue="source", order=list(STAGES), ax=ax)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("")
        ax.set_ylabel("share of exposed joiners")
        ax.set_title(self.title, fontsize="medium")
        return ax


def funnel(
    community: Community,
    *,
    engaged_messages: int = 3,
    engaged_days: int = 30,
    window_days: int = 90,
    alpha: float = 0.05,
) -> FunnelResult:
    """Member funnel by join cohort (month) and acquisition source, with referral conversion.

    Parameters
    ----------
    community : Community
        Needs ``members``, ``messages``, ``customers`` and ``orders``.
    engaged_messages : int, default 3
        Messages needed to count as engaged ...
    engaged_days : int, default 30
        ... within this many days of joining (must not exceed ``window_days``).
    window_days : int, default 90
        Window after joining for the first message and the first purchase.
    alpha : float, default 0.05
        Intervals have coverage ``1 - alpha``.

    Returns
    -------
    FunnelResult
        Definitions (stages, exposure, rates) are in the module docstring.
    """
    if engaged_messages < 1 or engaged_days < 1 or window_days < engaged_days:
        raise ValueError(
            f"need engaged_messages >= 1 and 1 <= engaged_days <= window_days; got "
            f"engaged_messages={engaged_messages}, engaged_days={engaged_days}, "
            f"window_days={window_days}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    messages_end = community.last_message_at()
    last_order = community.execute(community.table("orders").ordered_at.max())
    if last_order is None or pd.isna(last_order):
        raise ValueError(f"dataset '{community.name}', table 'orders': no orders")
    orders_end = utc_timestamp(last_order)
    counts = community.execute(
        funnel_counts_expr(
            community,
            engaged_messages=engaged_messages,
            engaged_days=engaged_days,
            window_days=window_days,
            messages_end=messages_end,
            orders_end=orders_end,
        )
    )
    if counts.empty:
        raise ValueError(
            f"dataset '{community.name}': no members other than staff and bots, so no funnel"
        )
    counts["referred"] = counts["referred"].astype(bool)
    total = int(community.execute(community.members.count()))
    table = _long_frame(counts, alpha)
    by_ref = counts.groupby("referred")[["exposed_purchased", "met_purchased"]].sum()
    referral = None
    if {True, False} <= set(by_ref.index) and (by_ref["exposed_purchased"] > 0).all():
        referral = two_proportion_test(
            int(by_ref.loc[False, "met_purchased"]),
            int(by_ref.loc[False, "exposed_purchased"]),
            int(by_ref.loc[True, "met_purchased"]),
            int(by_ref.loc[True, "exposed_purchased"]),
            alpha=alpha,
            control_name="not referred",
            treatment_name="referred",
        )
    return FunnelResult(
        table=table,
        engaged_messages=engaged_messages,
        engaged_days=engaged_days,
        window_days=window_days,
        messages_end=messages_end,
        orders_end=orders_end,
        alpha=alpha,
        excluded=total - int(counts["joined"].sum()),
        referral=referral,
    )
