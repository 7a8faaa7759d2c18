"""The simulator's parameters (:class:`SynthConfig`) and planted truth (:class:`GroundTruth`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SOURCES", "STAFF_ROLES", "TOPICS", "GroundTruth", "SynthConfig"]

#: Acquisition sources of members (keys of ``SynthConfig.source_probs``, drawn in this order).
SOURCES = ("organic", "ads", "referral", "partner", "event")
#: Forum topics, created in this order by the founder; ``SynthConfig.topic_probs`` follows it.
TOPICS = ("Questions", "Showcase", "Events", "Off-topic")
#: Roles of the staff accounts, in the order they are created (the first ``n_staff``).
STAFF_ROLES = ("founder", "community_manager", "support", "moderator", "events_manager")


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the simulator; the planted truth is a function of these and ``seed``.

    Attributes
    ----------
    n_members, seed, start, months
        Members (besides staff and the bot), random seed, first day (UTC midnight, ISO date) and
        length of the data in calendar months.
    community_name : str
        The export's ``name``.
    n_staff : int
        Staff accounts, 3-5: founder (creates the topics), community manager, support, moderator,
        events manager. They join at the start and write the staff answers.
    n_core : int
        Core members: join in the first 25 hours, write ``core_root_rate`` threads a day and never
        churn. Their ids are ``GroundTruth.core_ids``.
    join_growth : float
        Members join with a rate rising linearly from 1 to ``1 + join_growth`` (relative).
    source_probs : dict
        P(acquisition source) for non-core members (the core is ``organic``). A referral's
        referrer is an earlier member, picked in proportion to activity.
    root_rate_median, root_rate_sigma : float
        Threads started per day by a member while active: lognormal (median, log-sd). The same
        rate weights how often the member is picked to reply, so activity is heavy-tailed.
    core_root_rate : float
        Threads started per day by each core member.
    burst_roots_mean : float
        Extra threads in the week after a member's first message (Poisson mean).
    lifetime_mean_days : float
        A returning member posts until ``first + 35 d + Exponential(lifetime_mean_days)``.
    late_start_prob, late_start_mean_days : float
        A member without ``first_post_7d`` nor ``retained_week4`` posts first at
        ``joined + 28 d + Exponential(late_start_mean_days)`` with probability ``late_start_prob``
        and never otherwise.
    general_share : float
        P(a thread root is in the General area, i.e. has no ``reply_to_message_id``).
    topic_probs : tuple of float
        P(topic) for the other roots, in the order Questions, Showcase, Events, Off-topic.
    response_prob : float
        P(a thread root by a member is answered). Answers come within 24 h, so for a member's
        first message this is also P(answered within 24 h).
    staff_answer_share : float
        P(the first answer is by staff | answered).
    staff_response_median_min, staff_response_sigma, member_response_median_min, \
member_response_sigma : float
        First-answer delay (from the root): lognormal with this median (minutes) and log-sd,
        conditioned on ≤ 24 h (for members this lowers the median by 1.6 %).
    followups_mean, core_followups_mean : float
        Further replies in an answered thread: Poisson mean (threads started by core members:
        ``core_followups_mean``). Gaps between replies are lognormal, median
        ``followup_gap_median_min`` minutes, log-sd 1.2.
    followup_gap_median_min : float
        See above.
    author_followup_prob, reply_to_root_prob : float
        A further reply is by the root's author (answering the previous reply) with probability
        ``author_followup_prob``; otherwise it answers the root with probability
        ``reply_to_root_prob``, else the previous reply. Nobody answers their own message.
    core_inner_prob, core_outside_weight : float
        In threads started by core members, a member reply is by another core member with
        probability ``core_inner_prob``; elsewhere core members are picked with their rate times
        ``core_outside_weight``.
    core_reply_to_core_min : float
        Planted lower bound on the share of core members' replies that answer a core member's
        message (the mechanism gives about 0.8; ``GroundTruth.realised`` has the value).
    return_prob_answered, return_prob_unanswered : float
        P(a non-core member posts ≥1 message in ``[first + 7 d, first + 35 d)`` after their first
        message ``first``) given that message was answered within 24 h, or not.
    experiment_id : str
        The experiment's id in ``assignments.csv``.
    experiment_months : (int, int) or None
        Window ``(m0, m1)`` in months from ``start``: units are non-core members joining in
        ``[start + m0 months, start + m1 months)``, 50/50 at random. Default
        ``(months // 4, 5 * months // 6)``: April-October for a year from January.
    first_post_7d, retained_week4 : (float, float)
        Planted P(metric = 1) for (control, treatment); non-units use the control values.
        Definitions in :class:`GroundTruth`.
    retention_lift_if_posted : float
        P(retained_week4 | first_post_7d) / P(retained_week4 | no first_post_7d), the same in
        both arms. Must leave P(retained_week4 | first_post_7d) ≤ P(return).
    reaction_prob : float
        P(a message has reactions); ×1.5 for roots, ×0.8 for replies.
    n_interest_groups, interest_affinity : int, float
        Planted topic clusters: every non-core member belongs to one of ``n_interest_groups``
        interest groups (uniformly, from a generator of its own, so the default community is
        unchanged); a member's reply in a non-core thread is drawn, w.p. ``interest_affinity``,
        from the thread author's group (else from everyone, as without groups). ``0.0`` (the
        default) plants no clusters.
    accounts_per_member, link_prob : float
        CRM accounts = ``accounts_per_member · n_members``; P(a member has a linked account).
    lurker_reaction_share : float
        Share of named reactors drawn uniformly from all members who have joined (lurkers who
        react without posting); the others are authors of the ~300 messages before the one
        reacted to, so reactions come mostly from members active at the time.
    selection_strength : float
        Every account has latent interest ``u ~ N(0, 1)``; the linked accounts are drawn by
        successive sampling with weights ``exp(selection_strength · u)`` (self-selection).
    purchase_intercept, purchase_interest_coef, purchase_member_coef : float
        P(buy) = ``sigmoid(b0 + b_u · u + b_m · member)``; buy = ≥1 order between
        ``signed_up_at`` and the end of the data (members' orders also after joining).
    extra_orders_mean, amount_median, amount_sigma : float
        A buyer's orders = 1 + Poisson(extra_orders_mean): the first after
        Exponential(45 d) (truncated to the data), the rest uniform after it; amounts lognormal
        (median RUB, log-sd).
    history_selection, history_lag_days, order_rate_per_year : float, int, float
        Opt-in CRM with self-selection on *observed* pre-join purchase history
        (:func:`analysis.synth.crm.draw_crm_history`): with ``history_selection > 0`` accounts
        buy as Poisson processes (mean ``order_rate_per_year``, log-rate ``purchase_interest_coef
        · u``), each member takes a free account signed up before joining with probability ∝
        ``(1 + orders in [J − history_lag_days − 365 d, J − history_lag_days))^history_selection``
        and joining multiplies the rate by ``exp(purchase_member_coef)``; ``selection_strength``,
        ``purchase_intercept`` and ``extra_orders_mean`` are then unused. Its own generator
        leaves the messages unchanged. ``0.0`` (the default) keeps the latent-selection model.
    hostile_strings : bool
        Seed the export with hostile user text to exercise escaping end to end
        (:data:`analysis.synth.texts.HOSTILE_NAMES` and ``HOSTILE_TEXTS``): a few members'
        display names, the community name, the topic titles and some messages carry markup
        (``<script>``, ``<img onerror=...>``, ``javascript:`` links), right-to-left overrides
        and a 10,000-character name. Only text changes; every id, time and count is the same as
        without it. Off by default; ``workbench demo`` turns it on (``--no-hostile``: off).
    """

    n_members: int = 5000
    seed: int = 0
    start: str = "2024-01-01"
    months: int = 12
    community_name: str = "Data & Analytics Club · Аналитика"
    n_staff: int = 4
    n_core: int = 8
    join_growth: float = 2.0
    source_probs: dict[str, float] = field(
        default_factory=lambda: dict(zip(SOURCES, (0.40, 0.25, 0.15, 0.10, 0.10), strict=True))
    )
    root_rate_median: float = 0.1
    root_rate_sigma: float = 1.3
    core_root_rate: float = 0.8
    burst_roots_mean: float = 0.6
    lifetime_mean_days: float = 150.0
    late_start_prob: float = 0.25
    late_start_mean_days: float = 45.0
    general_share: float = 0.04
    topic_probs: tuple[float, ...] = (0.45, 0.2, 0.1, 0.25)
    response_prob: float = 0.8
    staff_answer_share: float = 0.35
    staff_response_median_min: float = 25.0
    member_response_median_min: float = 90.0
    staff_response_sigma: float = 1.0
    member_response_sigma: float = 1.2
    followups_mean: float = 1.6
    core_followups_mean: float = 3.0
    followup_gap_median_min: float = 45.0
    author_followup_prob: float = 0.3
    reply_to_root_prob: float = 0.4
    core_inner_prob: float = 0.85
    core_outside_weight: float = 0.05
    core_reply_to_core_min: float = 0.6
    return_prob_answered: float = 0.55
    return_prob_unanswered: float = 0.30
    experiment_id: str = "onboarding-v2"
    experiment_months: tuple[int, int] | None = None
    first_post_7d: tuple[float, float] = (0.30, 0.36)
    retained_week4: tuple[float, float] = (0.12, 0.16)
    retention_lift_if_posted: float = 3.0
    reaction_prob: float = 0.2
    n_interest_groups: int = 4
    interest_affinity: float = 0.0
    lurker_reaction_share: float = 0.1
    accounts_per_member: float = 3.0
    link_prob: float = 0.8
    selection_strength: float = 0.8
    purchase_intercept: float = -2.0
    purchase_interest_coef: float = 0.8
    purchase_member_coef: float = 0.7
    extra_orders_mean: float = 0.6
    amount_median: float = 2500.0
    amount_sigma: float = 0.8
    history_selection: float = 0.0
    history_lag_days: int = 90
    order_rate_per_year: float = 4.0
    hostile_strings: bool = False

    def __post_init__(self) -> None:
        if self.history_selection < 0 or self.order_rate_per_year <= 0 or self.history_lag_days < 0:
            raise ValueError(
                f"need history_selection >= 0, order_rate_per_year > 0, history_lag_days >= 0; "
                f"got {self.history_selection}, {self.order_rate_per_year}, "
                f"{self.history_lag_days}"
            )
        if self.n_members < 50 or not 3 <= self.n_staff <= 5 or not 2 <= self.n_core <= 50:
            raise ValueError(
                f"need n_members >= 50, 3 <= n_staff <= 5, 2 <= n_core <= 50; got "
                f"n_members={self.n_members}, n_staff={self.n_staff}, n_core={self.n_core}"
            )
        if (
            set(self.source_probs) != set(SOURCES)
            or abs(sum(self.source_probs.values()) - 1) > 1e-9
        ):
            raise ValueError(f"source_probs must give a probability to each of {SOURCES}")
        if len(self.topic_probs) != len(TOPICS) or abs(sum(self.topic_probs) - 1) > 1e-9:
            raise ValueError(f"topic_probs must be {len(TOPICS)} probabilities summing to 1")
        m0, m1 = self.window_months
        if not 0 <= m0 < m1 < self.months:  # ≥ 28 days after the window for week 4
            raise ValueError(
                f"experiment window {self.window_months} must end before month {self.months}"
            )
        c = self.return_prob_answered * self.response_prob
        c += self.return_prob_unanswered * (1 - self.response_prob)
        for arm in (0, 1):
            r1, _ = self.retention_split(arm)
            if r1 > c:
                raise ValueError("retained_week4 too high for first_post_7d and P(return)")

    @property
    def window_months(self) -> tuple[int, int]:
        """Experiment window as month offsets from ``start``."""
        return self.experiment_months or (self.months // 4, 5 * self.months // 6)

    def retention_split(self, arm: int) -> tuple[float, float]:
        """``(r1, r0)`` = P(retained_week4 | first_post_7d = 1 / 0) for ``arm`` (0 control)."""
        a, lift = self.first_post_7d[arm], self.retention_lift_if_posted
        r1 = self.retained_week4[arm] * lift / (a * lift + 1 - a)
        return r1, r1 / lift


@dataclass(frozen=True)
class GroundTruth:
    """The planted truth of one generated community (all ids are Telegram user ids).

    Attributes
    ----------
    seed, n_members, community_name, chat_id
        As generated; ``chat_id`` is the export's ``id``.
    start, end : str
        The data covers ``[start, end)`` (UTC, ISO 8601 with ``Z``).
    staff_ids, staff_roles, bot_ids, core_ids
        Staff (first: the founder), their roles, the bot, the core members.
    topics : dict
        Topic title → id of its ``topic_created`` message.
    source_probs, response_prob, staff_answer_share, core_inner_prob, core_reply_to_core_min
        As in :class:`SynthConfig`.
    response_max_hours : float
        Every first answer comes within this many hours (24).
    response_median_minutes, response_sigma : dict
        ``{"staff", "member"}``: median (minutes) and log-sd of the untruncated lognormal
        first-answer delay, by who answers first.
    newcomer_answer_prob : float
        P(a member's first message, always a thread root, is answered within 24 h).
    newcomer_return_prob : dict
        ``{"answered", "unanswered"}``: P(≥1 message in ``[first + 7 d, first + 35 d)``),
        ``newcomer_return_window_days = [7, 35]``, for non-core members.
    experiment : dict
        ``id``, ``window`` ``[from, to)``, ``n_units`` per arm, and ``metrics``: per arm the
        planted probability of ``first_post_7d`` = the unit posts ≥1 regular message (type
        ``message``) in ``[assigned_at, assigned_at + 7 × 24 h)``, and of ``retained_week4`` =
        ≥1 regular message in ``[assigned_at + 21 d, assigned_at + 28 d)``. Every unit's windows
        end before the data does.
    purchase : dict
        ``att`` = mean over member accounts of ``p(member=1) − p(member=0)`` (the effect of
        membership on P(buy) among members); ``naive_diff_expected`` = mean P(buy) of member
        accounts − that of non-member accounts (both rates also given); ``coefficients``
        ``{"intercept", "interest", "member"}``; ``selection_strength``. With
        ``history_selection > 0`` the same keys are defined given each account's pre-selection
        orders, plus ``att_90d`` (the effect on P(≥1 order within 90 days of joining), the
        estimand of :func:`analysis.conversion.att_study.member_effect`) and
        ``n_members_att_90d``; see :func:`analysis.synth.crm.draw_crm_history`.
    interest_groups : dict
        User id → planted interest group of each non-core member (empty when
        ``interest_affinity`` is 0); ``interest_affinity`` as configured.
    n_messages, n_service_messages, n_customers, n_orders : int
        Counts written (``n_messages`` = regular messages, bot digests included).
    realised : dict
        Realised values for orientation: thread roots, members who posted, the core-to-core
        reply share, and first answers that fell back to staff because no member could answer.
    """

    seed: int
    n_members: int
    start: str
    end: str
    community_name: str
    chat_id: int
    staff_ids: list[str]
    staff_roles: dict[str, str]
    bot_ids: list[str]
    core_ids: list[str]
    topics: dict[str, int]
    source_probs: dict[str, float]
    response_prob: float
    response_max_hours: float
    staff_answer_share: float
    response_median_minutes: dict[str, float]
    response_sigma: dict[str, float]
    newcomer_answer_prob: float
    newcomer_return_prob: dict[str, float]
    newcomer_return_window_days: list[int]
    core_inner_prob: float
    core_reply_to_core_min: float
    experiment: dict[str, Any]
    purchase: dict[str, Any]
    n_messages: int
    n_service_messages: int
    n_customers: int
    n_orders: int
    realised: dict[str, Any]
    interest_groups: dict[str, int] = field(default_factory=dict)
    interest_affinity: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (plain Python numbers, lists and dicts)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=_plain))


def _plain(value: Any) -> Any:
    """numpy scalar → Python number; any other iterable (arrays, tuples) → list."""
    return value.item() if isinstance(value, np.generic) else list(value)
