"""Seeded simulator of an online community with planted ground truth (demo data + test oracle).

:func:`generate_community` writes one Telegram forum supergroup in the real Telegram Desktop export
format plus the CSV files a company keeps beside it, and returns :class:`GroundTruth`: the planted
parameters the studies must recover. Everything is drawn from one
``numpy.random.default_rng(seed)``: the same configuration gives byte-identical files.

Files written into ``out_dir``
------------------------------
``telegram/result.json``
    ``{"name", "type": "public_supergroup", "id", "messages": [...]}``, one message per line,
    sorted by ``id`` (ids increase with time). ``date`` is Moscow local time (UTC+3) without an
    offset and ``date_unixtime`` the unix seconds as a string, as Telegram Desktop writes them.
    Service messages: ``join_group_by_link`` (``actor``, ``actor_id``, ``inviter``) for every
    person at their join time, and ``topic_created`` (``title``) for Questions, Showcase, Events
    and Off-topic by the founder at the start. Regular messages: ``from``, ``from_id``
    (``user<9-10 digits>``), ``text`` (a string or an entity list), ``text_entities``, optional
    ``reactions`` (``recent`` names at most three reactors, never the author) and
    ``reply_to_message_id``: a thread root in a topic points at the topic's ``topic_created``
    message; a reply points at the message it answers (same topic); roots in the General area and
    the bot's daily digest have none.
``members.csv``
    ``user_id, source, referred_by, role``: everyone in the export. ``role`` is member, staff or
    bot; ``source`` is one of organic, ads, referral, partner, event (empty for staff and the
    bot); ``referred_by`` is the referrer's ``user_id`` (an earlier member) for referrals only.
``customers.csv``
    ``customer_id`` (``c0000001``... in signup order), ``telegram_user_id`` (empty for
    non-members), ``signed_up_at`` (UTC, ``Z``).
``orders.csv``
    ``order_id``, ``customer_id``, ``ordered_at`` (Moscow time with ``+03:00``), ``amount``
    (2 dp), ``currency`` (``RUB``).
``assignments.csv``
    ``experiment_id``, ``unit_id`` (Telegram user id), ``variant`` (control | treatment),
    ``assigned_at`` (UTC, ``Z``; the unit's join time), ``cluster_id`` (empty).
``ground_truth.json``
    :meth:`GroundTruth.to_dict`.

How the planted outcomes are kept exact
---------------------------------------
Per member the simulator first draws the outcomes the studies measure (see :class:`SynthConfig`):
``first_post_7d``, whether the first message is answered, whether the member returns in days
7-35 after it, and ``retained_week4``. It derives from them when the member may post (first-post
time, churn time, a silent week 4) and then generates messages: roots from each member's schedule
(forced posts where an outcome needs one) and replies only by people allowed to post at that
moment. So every measured outcome equals its draw, and the planted probabilities are the exact
per-unit Bernoulli probabilities.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr, ndtri

__all__ = ["GroundTruth", "SynthConfig", "generate_community", "generate_from_config"]

MINUTE, HOUR, DAY = 60, 3_600, 86_400
MSK = 3 * HOUR  # Europe/Moscow has been UTC+3 all year since 2014
NEVER = np.int64(2**62)
SOURCES = ("organic", "ads", "referral", "partner", "event")
TOPICS = ("Questions", "Showcase", "Events", "Off-topic")
STAFF_ROLES = ("founder", "community_manager", "support", "moderator", "events_manager")
STAFF_ANSWER_WEIGHTS = np.array([0.1, 0.35, 0.45, 0.1, 0.1])
#: Relative chance to post at each Moscow local hour (0..23) and weekday (Monday first),
#: applied to roots and joins by rejection sampling.
DIURNAL = np.array(
    [0.2, 0.1, 0.06, 0.04, 0.04, 0.06, 0.15, 0.35, 0.6, 0.8, 0.9, 0.95]
    + [1.0, 1.0, 0.95, 0.95, 0.95, 0.95, 1.0, 1.0, 0.95, 0.85, 0.6, 0.35]
)
WEEKLY = np.array([1.0, 1.0, 1.0, 0.95, 0.9, 0.65, 0.6])
EMOJI = ("👍", "❤", "🔥", "😁", "🙏", "👏", "🤔", "🎉")
EMOJI_P = np.array([0.35, 0.15, 0.15, 0.1, 0.08, 0.08, 0.05, 0.04])
# message kinds (internal)
JOIN, TOPIC, INTRO, ROOT, STAFF_ANSWER, ANSWER, FOLLOWUP, THANKS, BOT = range(9)


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
    accounts_per_member, link_prob : float
        CRM accounts = ``accounts_per_member · n_members``; P(a member has a linked account).
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
    accounts_per_member: float = 3.0
    link_prob: float = 0.8
    selection_strength: float = 0.8
    purchase_intercept: float = -2.0
    purchase_interest_coef: float = 0.8
    purchase_member_coef: float = 0.7
    extra_orders_mean: float = 0.6
    amount_median: float = 2500.0
    amount_sigma: float = 0.8

    def __post_init__(self) -> None:
        if self.n_members < 50 or not 3 <= self.n_staff <= 5 or not 2 <= self.n_core <= 50:
            raise ValueError("need n_members >= 50, 3 <= n_staff <= 5, 2 <= n_core <= 50")
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
        ``{"intercept", "interest", "member"}``; ``selection_strength``.
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (plain Python numbers, lists and dicts)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=_plain))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else list(value)


def generate_community(
    out_dir: str | Path,
    *,
    n_members: int = 5000,
    seed: int = 0,
    start: str = "2024-01-01",
    months: int = 12,
    **overrides: Any,
) -> GroundTruth:
    """Simulate a community and write its files into ``out_dir``; return the planted truth.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing; files are overwritten (see the module docstring for their formats).
    n_members, seed, start, months
        Size, random seed, first day (UTC midnight, ``YYYY-MM-DD``) and length of the data.
    **overrides
        Any other :class:`SynthConfig` field, e.g. ``response_prob=0.7``.

    Returns
    -------
    GroundTruth
        The planted parameters and ids (also written to ``out_dir/ground_truth.json``).

    Raises
    ------
    TypeError
        An unknown override.
    ValueError
        Inconsistent parameters (see :class:`SynthConfig`).
    """
    cfg = SynthConfig(n_members=n_members, seed=seed, start=start, months=months, **overrides)
    return generate_from_config(out_dir, cfg)


def generate_from_config(out_dir: str | Path, cfg: SynthConfig) -> GroundTruth:
    """:func:`generate_community` for a ready :class:`SynthConfig`; returns :class:`GroundTruth`."""
    out = Path(out_dir)
    (out / "telegram").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    t0 = int(pd.Timestamp(cfg.start, tz="UTC").timestamp())
    t_end = _add_months(cfg.start, cfg.months)
    sim = _Sim(cfg, rng, t0, t_end)
    sim.roster()
    sim.plan()
    sim.roots()
    sim.threads()
    events = sim.events()
    chat_id = int(rng.integers(1_100_000_000, 1_900_000_000))
    reactions = sim.reactions(events)
    topics = _write_telegram(out / "telegram" / "result.json", sim, events, reactions, chat_id)
    crm = sim.write_csvs(out)
    kinds = events["kind"]
    gt = sim.ground_truth(
        chat_id, topics, crm, int((kinds >= INTRO).sum()), int((kinds < INTRO).sum())
    )
    with open(out / "ground_truth.json", "w", encoding="utf-8") as fh:
        json.dump(gt.to_dict(), fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    return gt


def _add_months(start: str, months: int) -> int:
    return int((pd.Timestamp(start, tz="UTC") + pd.DateOffset(months=months)).timestamp())


def _iso(t: np.ndarray, offset: int = 0, suffix: str = "") -> np.ndarray:
    """Unix seconds → ``YYYY-MM-DDTHH:MM:SS`` (shifted by ``offset`` seconds) + ``suffix``."""
    text = np.datetime_as_string((np.asarray(t, np.int64) + offset).astype("datetime64[s]"), "s")
    return np.char.add(text, suffix) if suffix else text


def _sample_in(rng, a1, l1, a2=None, l2=None, power: float = 1.0, rounds: int = 30) -> np.ndarray:
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


def _lognormal_truncated(rng, median_s: np.ndarray, sigma: np.ndarray, cap_s: float) -> np.ndarray:
    """Lognormal(log median, sigma) conditioned on ≤ ``cap_s``, by inverse CDF."""
    top = ndtr(np.log(cap_s / median_s) / sigma)
    u = np.clip(rng.random(median_s.size) * top, 1e-12, None)
    return median_s * np.exp(sigma * ndtri(u))


class _Pool:
    """Weighted draws among people who posted their first message before a given time."""

    def __init__(self, who: np.ndarray, first: np.ndarray, weight: np.ndarray):
        order = np.argsort(first[who], kind="stable")
        self.who, self.first = who[order], first[who[order]]
        self.cumw = np.cumsum(weight[self.who])

    def draw(self, rng, t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.first, t, side="left")  # candidates with first < t
        u = rng.random(t.size) * self.cumw[np.maximum(k, 1) - 1]
        j = np.minimum(np.searchsorted(self.cumw, u, side="right"), np.maximum(k, 1) - 1)
        return np.where(k > 0, self.who[np.minimum(j, self.who.size - 1)], -1)


class _Sim:
    """The simulation state: people (staff, bot, members) as arrays indexed by person."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator, t0: int, t_end: int):
        self.cfg, self.rng, self.t0, self.t_end = cfg, rng, t0, t_end
        m0, m1 = cfg.window_months
        self.window = (_add_months(cfg.start, m0), _add_months(cfg.start, m1))
        self.n_staff = cfg.n_staff
        self.bot = cfg.n_staff
        self.n_people = cfg.n_staff + 1 + cfg.n_members

    # ---- people -------------------------------------------------------------------------------
    def roster(self) -> None:
        """Ids, names, roles, join times, activity rates, sources, referrers, experiment arms."""
        cfg, rng, n, s = self.cfg, self.rng, self.n_people, self.n_staff
        self.uid = _user_ids(rng, n)
        self.name, self.first_name = _names(rng, n)
        for i in range(s):
            self.name[i] += f" | {STAFF_ROLES[i].replace('_', ' ').title()}"
        self.name[self.bot] = "Club Digest Bot"
        self.role = np.array(["staff"] * s + ["bot"] + ["member"] * cfg.n_members, dtype=object)
        members = np.arange(s + 1, n)
        self.core = np.zeros(n, bool)
        self.core[members[: cfg.n_core]] = True
        join = np.empty(n, np.int64)
        join[: s + 1] = self.t0 + MINUTE * np.arange(s + 1)
        join[members[: cfg.n_core]] = np.sort(
            _sample_in(rng, self.t0 + HOUR, np.full(cfg.n_core, DAY))
        )
        # linearly rising join rate: inverse CDF of density ∝ 1 + g·x on [0, 1)
        g, rest = cfg.join_growth, members[cfg.n_core :]
        lo, span = self.t0 + 2 * DAY, self.t_end - self.t0 - 2 * DAY
        u = rng.random(rest.size)
        x = u if g == 0 else (np.sqrt(1 + g * (2 + g) * u) - 1) / g
        join[rest] = np.sort(
            _sample_in(rng, lo + (x * (span - DAY)).astype(np.int64), np.full(rest.size, DAY))
        )
        self.join = join
        self.rate = np.exp(
            np.log(cfg.root_rate_median) + cfg.root_rate_sigma * rng.standard_normal(n)
        )
        self.rate[self.core] = cfg.core_root_rate
        probs = np.array([cfg.source_probs[k] for k in SOURCES])
        src = np.array(SOURCES, dtype=object)[rng.choice(len(SOURCES), size=n, p=probs)]
        src[self.core] = "organic"
        src[: s + 1] = ""
        referred = np.full(n, "", dtype=object)
        ref = np.flatnonzero(src == "referral")
        cumw = np.cumsum(self.rate[members])  # earlier joiners refer, weighted by activity
        k = ref - (s + 1)
        pick = np.searchsorted(cumw, rng.random(ref.size) * cumw[k - 1], side="right")
        referred[ref] = self.uid[members[np.minimum(pick, k - 1)]]
        self.source, self.referred_by = src, referred
        self.unit = (
            (self.role == "member")
            & ~self.core
            & (join >= self.window[0])
            & (join < self.window[1])
        )
        self.arm = np.where(self.unit & (rng.random(n) < 0.5), 1, 0)

    def plan(self) -> None:
        """Draw A, N, Ret, R per member and derive first-post time, churn and a forbidden window."""
        cfg, rng, n, j = self.cfg, self.rng, self.n_people, self.join
        member = (self.role == "member") & ~self.core
        a = np.asarray(cfg.first_post_7d)[self.arm]
        r1, r0 = np.array([cfg.retention_split(0), cfg.retention_split(1)]).T[:, self.arm]
        c = cfg.response_prob * cfg.return_prob_answered
        c += (1 - cfg.response_prob) * cfg.return_prob_unanswered
        u = rng.random((6, n))
        first_7d = member & (u[0] < a)
        answered = u[1] < cfg.response_prob
        ret = u[2] < np.where(answered, cfg.return_prob_answered, cfg.return_prob_unanswered)
        week4 = member & np.where(first_7d, ret & (u[3] < r1 / c), u[4] < r0)
        late = member & ~first_7d & ~week4 & (u[5] < cfg.late_start_prob)
        first = np.full(n, NEVER)
        idx = np.flatnonzero(first_7d)
        first[idx] = _sample_in(
            rng, j[idx] + MINUTE, np.full(idx.size, 7 * DAY - MINUTE), power=2.0
        )
        idx = np.flatnonzero(week4 & ~first_7d)
        first[idx] = _sample_in(rng, j[idx] + 21 * DAY, np.full(idx.size, 7 * DAY))
        idx = np.flatnonzero(late)
        delay = (rng.exponential(cfg.late_start_mean_days * DAY, idx.size)).astype(np.int64)
        first[idx] = _sample_in(rng, j[idx] + 28 * DAY + delay, np.full(idx.size, DAY))
        idx = np.flatnonzero(self.core)
        first[idx] = _sample_in(rng, j[idx] + 30 * MINUTE, np.full(idx.size, 12 * HOUR))
        first[: self.n_staff] = self.t0 - 1
        ret |= self.core
        life = 35 * DAY + rng.exponential(cfg.lifetime_mean_days * DAY, n).astype(np.int64)
        end = np.where(ret, first + life, first + 7 * DAY)
        end[self.core | (self.role == "staff")] = NEVER
        self.end = np.minimum(end, np.where(self.role == "staff", NEVER, self.t_end))
        self.forbid = np.where(first_7d & ~week4, j + 21 * DAY, NEVER)  # no posts in week 4
        self.first, self.answered, self.ret = first, answered, ret
        self.first_7d, self.week4 = first_7d, week4
        self.poster = (self.role == "member") & (first < self.t_end)

    def allowed(self, who: np.ndarray, t: np.ndarray) -> np.ndarray:
        """May person ``who`` post at ``t`` without breaking their planted outcomes?"""
        w = np.maximum(who, 0)
        lo = self.forbid[w]
        in_forbidden = (t >= lo) & (t < lo + 7 * DAY)
        return (who >= 0) & (t > self.first[w]) & (t < self.end[w]) & ~in_forbidden

    # ---- messages -----------------------------------------------------------------------------
    def roots(self) -> None:
        """Thread roots: first message, first-week burst, Poisson stream, forced posts."""
        cfg, rng = self.cfg, self.rng
        p = np.flatnonzero(self.poster)
        f, end, forbid = self.first[p], self.end[p], self.forbid[p]
        parts = [(p, f)]
        n = rng.poisson(cfg.burst_roots_mean, p.size) * ~self.core[p]
        ib = np.repeat(np.arange(p.size), n)
        length = np.minimum(7 * DAY, end[ib] - f[ib]) - MINUTE
        parts.append((p[ib], _sample_in(rng, f[ib] + MINUTE, np.maximum(length, 1))))
        s = np.where(self.core[p], f + MINUTE, f + 7 * DAY)
        has = self.ret[p]
        l1 = np.clip(np.minimum(end, forbid) - s, 0, None) * has
        a2 = np.maximum(s, forbid + 7 * DAY)
        l2 = np.clip(end - a2, 0, None) * has
        n = rng.poisson(np.where(self.core[p], cfg.core_root_rate, self.rate[p]) * (l1 + l2) / DAY)
        ir = np.repeat(np.arange(p.size), n)
        parts.append((p[ir], _sample_in(rng, s[ir], l1[ir], a2[ir], l2[ir])))
        # forced post in week 4 for first_7d & week4 members without one
        t_all = np.concatenate([x[1] for x in parts])
        i_all = np.concatenate([np.searchsorted(p, x[0]) for x in parts])
        jp = self.join[p]
        in_week4 = (t_all >= jp[i_all] + 21 * DAY) & (t_all < jp[i_all] + 28 * DAY)
        hit = np.bincount(i_all, in_week4, p.size)
        need = np.flatnonzero(self.first_7d[p] & self.week4[p] & (hit == 0))
        t_new = _sample_in(rng, jp[need] + 21 * DAY, np.full(need.size, 7 * DAY))
        parts.append((p[need], t_new))
        t_all, i_all = np.concatenate([t_all, t_new]), np.concatenate([i_all, need])
        # forced return post in [first + 7 d, first + 35 d) outside the forbidden week
        hit = np.bincount(
            i_all, (t_all >= f[i_all] + 7 * DAY) & (t_all < f[i_all] + 35 * DAY), p.size
        )
        need = np.flatnonzero(has & ~self.core[p] & (hit == 0))
        lo, hi, fb = f[need] + 7 * DAY, f[need] + 35 * DAY, forbid[need]
        l1 = np.clip(np.minimum(hi, fb) - lo, 0, None)
        a2 = np.maximum(lo, fb + 7 * DAY)
        parts.append((p[need], _sample_in(rng, lo, l1, a2, np.clip(hi - a2, 0, None))))
        author = np.concatenate([x[0] for x in parts]).astype(np.int32)
        t = np.concatenate([x[1] for x in parts])
        keep = t < self.t_end
        self.r_author, self.r_t = author[keep], t[keep]
        self.r_first = np.zeros(author.size, bool)
        self.r_first[: p.size] = True
        self.r_first = self.r_first[keep]
        topic = rng.choice(len(TOPICS), size=self.r_t.size, p=cfg.topic_probs)
        self.r_topic = np.where(rng.random(self.r_t.size) < cfg.general_share, -1, topic)

    def _pick(
        self, pool: _Pool, t: np.ndarray, exclude: np.ndarray, rounds: int = 60
    ) -> np.ndarray:
        out = np.full(t.size, -1)
        todo = np.arange(t.size)
        for _ in range(rounds):
            c = pool.draw(self.rng, t[todo])
            good = self.allowed(c, t[todo]) & (c != exclude[todo])
            out[todo[good]] = c[good]
            todo = todo[~good]
            if not todo.size:
                break
        return out

    def _pick_member(self, t, exclude, core_thread) -> np.ndarray:
        """Core members (in core threads, w.p. core_inner_prob) or anyone active, by activity."""
        out = np.full(t.size, -1)
        inner = core_thread & (self.rng.random(t.size) < self.cfg.core_inner_prob)
        out[inner] = self._pick(self.core_pool, t[inner], exclude[inner], rounds=10)
        rest = out < 0
        out[rest] = self._pick(self.pool, t[rest], exclude[rest])
        return out

    def threads(self) -> None:
        """First answers and follow-up replies for every root."""
        cfg, rng = self.cfg, self.rng
        weight = self.rate * np.where(self.core, cfg.core_outside_weight, 1.0)
        self.pool = _Pool(np.flatnonzero(self.poster), self.first, weight)
        self.core_pool = _Pool(np.flatnonzero(self.core), self.first, np.ones(self.n_people))
        n_r = self.r_t.size
        answered = rng.random(n_r) < cfg.response_prob
        answered[self.r_first] = self.answered[self.r_author[self.r_first]]
        by_staff = rng.random(n_r) < cfg.staff_answer_share
        median = np.where(by_staff, cfg.staff_response_median_min, cfg.member_response_median_min)
        sigma = np.where(by_staff, cfg.staff_response_sigma, cfg.member_response_sigma)
        delay = _lognormal_truncated(rng, median * MINUTE, sigma, 24 * HOUR)
        t1 = self.r_t + np.maximum(delay, 30).astype(np.int64)
        core_thread = self.core[self.r_author]
        w = STAFF_ANSWER_WEIGHTS[: self.n_staff]
        who = rng.choice(self.n_staff, size=n_r, p=w / w.sum())
        mem = np.flatnonzero(~by_staff & answered & (t1 < self.t_end))
        who[mem] = self._pick_member(t1[mem], self.r_author[mem], core_thread[mem])
        lost = np.zeros(n_r, bool)
        lost[mem] = who[mem] < 0  # no member may answer (first hours): staff answers instead
        self.answer_fallbacks = int((answered & lost).sum())
        who[lost] = rng.choice(self.n_staff, size=int(lost.sum()), p=w / w.sum())
        by_staff |= lost
        roots = np.flatnonzero(answered & (t1 < self.t_end))
        ts, authors, parents, kinds = [self.r_t], [self.r_author], [np.full(n_r, -1)], []
        kinds.append(np.where(self.r_first, INTRO, ROOT))
        ts.append(t1[roots])
        authors.append(who[roots])
        parents.append(roots)
        kinds.append(np.where(by_staff[roots], STAFF_ANSWER, ANSWER))
        n_msg = n_r + roots.size
        first_msg = np.arange(n_r, n_msg)
        k = rng.poisson(np.where(core_thread[roots], cfg.core_followups_mean, cfg.followups_mean))
        prev_msg, prev_author, prev_t = first_msg.copy(), who[roots].copy(), t1[roots].copy()
        alive = k > 0
        gap_median = cfg.followup_gap_median_min * MINUTE
        for step in range(int(k.max(initial=0))):
            th = np.flatnonzero(alive & (k > step))
            if not th.size:
                break
            r = roots[th]
            t = prev_t[th] + np.maximum(gap_median * np.exp(1.2 * rng.standard_normal(th.size)), 20)
            t = t.astype(np.int64)
            by_author = rng.random(th.size) < cfg.author_followup_prob
            to_root = (rng.random(th.size) < cfg.reply_to_root_prob) & ~by_author
            parent = np.where(to_root, r, prev_msg[th])
            parent_author = np.where(to_root, self.r_author[r], prev_author[th])
            again = by_author & (prev_author[th] == self.r_author[r])
            parent = np.where(again, first_msg[th], parent)
            parent_author = np.where(again, who[r], parent_author)
            responder = np.where(
                by_author & self.allowed(self.r_author[r], t), self.r_author[r], -1
            )
            need = np.flatnonzero((responder < 0) & (t < self.t_end))
            responder[need] = self._pick_member(t[need], parent_author[need], core_thread[r[need]])
            good = (responder >= 0) & (t < self.t_end)
            alive[th[~good]] = False
            th, t, parent, responder = th[good], t[good], parent[good], responder[good]
            ids = n_msg + np.arange(th.size)
            ts.append(t)
            authors.append(responder)
            parents.append(parent)
            kinds.append(np.where(responder == self.r_author[roots[th]], THANKS, FOLLOWUP))
            prev_msg[th], prev_author[th], prev_t[th] = ids, responder, t
            n_msg += th.size
        self.m_t = np.concatenate(ts)
        self.m_author = np.concatenate(authors).astype(np.int32)
        self.m_parent = np.concatenate(parents).astype(np.int64)
        self.m_kind = np.concatenate(kinds).astype(np.int8)
        root_of = np.arange(n_msg)
        root_of[n_r:] = -1
        for _ in range(64):  # pointer jumping to each thread's root
            todo = root_of < 0
            if not todo.any():
                break
            par = self.m_parent[todo]
            root_of[todo] = np.where(par < n_r, par, root_of[par])
        self.m_topic = self.r_topic[root_of]
        by_core = np.flatnonzero(self.core[self.m_author] & (self.m_parent >= 0))
        self.core_share = float(self.core[self.m_author[self.m_parent[by_core]]].mean())

    def events(self) -> dict[str, np.ndarray]:
        """All messages (service first, then regular, then bot digests) sorted by time."""
        n_people = self.n_people
        day0 = (self.t0 + MSK) // DAY + 1
        days = np.arange(day0, (self.t_end + MSK - 9 * HOUR - 1) // DAY + 1)
        bot_t = days * DAY + 9 * HOUR - MSK
        topic_t = self.t0 + 10 * MINUTE + MINUTE * np.arange(len(TOPICS))
        n_service = n_people + len(TOPICS)
        t = np.concatenate([self.join, topic_t, self.m_t, bot_t])
        order = np.argsort(t, kind="stable")  # ties keep service, then message, order

        def column(people, topics, messages, bots, dtype):
            return np.concatenate([people, topics, messages, bots]).astype(dtype)

        n_topics, n_bot = len(TOPICS), bot_t.size
        kind = column([JOIN] * n_people, [TOPIC] * n_topics, self.m_kind, [BOT] * n_bot, np.int8)
        author = column(
            np.arange(n_people), [0] * n_topics, self.m_author, [self.bot] * n_bot, np.int32
        )
        topic = column([-1] * n_people, np.arange(n_topics), self.m_topic, [-1] * n_bot, np.int8)
        ids = np.empty(t.size, np.int32)
        ids[order] = np.arange(1, t.size + 1, dtype=np.int32)
        topic_ids = ids[n_people:n_service]
        m_ids = ids[n_service : n_service + self.m_t.size]
        reply = np.where(self.m_parent >= 0, m_ids[np.maximum(self.m_parent, 0)], 0)
        is_root = (self.m_kind == INTRO) | (self.m_kind == ROOT)
        in_topic = is_root & (self.m_topic >= 0)
        reply = np.where(in_topic, topic_ids[np.maximum(self.m_topic, 0)], reply)
        reply_to = np.zeros(t.size, np.int32)
        reply_to[n_service : n_service + self.m_t.size] = reply
        del ids, m_ids, reply, is_root, in_topic
        local_day = (self.m_t + MSK) // DAY
        self.digest_msgs = np.bincount(local_day - day0 + 1, minlength=days.size + 1)[: days.size]
        join_day = (self.join[n_people - self.cfg.n_members :] + MSK) // DAY
        self.digest_joins = np.bincount(join_day - day0 + 1, minlength=days.size + 1)[: days.size]
        self.digest_day0 = day0
        del self.m_t, self.m_kind, self.m_author, self.m_parent, self.m_topic
        ev = {"t": t, "kind": kind, "author": author, "reply_to": reply_to, "topic": topic}
        ev = {key: value[order] for key, value in ev.items()}
        ev["variant"] = self.rng.integers(0, 16 * len(THINGS), t.size, dtype=np.int32)
        ev["topic_ids"] = topic_ids
        return ev

    def reactions(self, ev: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Reaction entries (emoji, count) and up to three named reactors each."""
        rng, cfg = self.rng, self.cfg
        regular = np.flatnonzero(ev["kind"] >= INTRO)
        is_root = np.isin(ev["kind"][regular], (INTRO, ROOT, BOT))
        has = rng.random(regular.size) < cfg.reaction_prob * np.where(is_root, 1.5, 0.8)
        msg = regular[has]
        n_entries = 1 + (rng.random(msg.size) < 0.2)
        e_msg = np.repeat(msg, n_entries)
        first_of = np.r_[True, e_msg[1:] != e_msg[:-1]]
        emoji = rng.choice(len(EMOJI), size=e_msg.size, p=EMOJI_P)
        emoji = np.where(first_of, emoji, (np.roll(emoji, 1) + 1 + emoji % 3) % len(EMOJI))
        count = rng.geometric(0.45, e_msg.size)
        members = np.flatnonzero(self.role == "member")
        k = np.searchsorted(self.join[members], ev["t"][e_msg])  # joined before the message
        who = members[np.minimum((rng.random((3, e_msg.size)) * k).astype(np.int64), k - 1)]
        valid = (np.arange(3)[:, None] < np.minimum(count, 3)) & (k > 0)
        valid &= who != ev["author"][e_msg]  # nobody is listed reacting to their own message
        valid[1] &= who[1] != who[0]
        valid[2] &= (who[2] != who[0]) & (who[2] != who[1])
        lag = np.sort(rng.exponential(2 * HOUR, (3, e_msg.size)), axis=0)[::-1].astype(np.int64)
        when = np.minimum(ev["t"][e_msg] + 5 + lag, self.t_end - 1)
        rx = {"msg": e_msg, "emoji": emoji, "count": count}
        return rx | {"who": who.T, "valid": valid.T, "when": when.T}

    # ---- CRM and CSVs -------------------------------------------------------------------------
    def write_csvs(self, out: Path) -> dict[str, Any]:
        """Write the roster, assignments and CRM files; return the CRM's planted quantities."""
        cfg, rng = self.cfg, self.rng
        roster = {"user_id": self.uid, "source": self.source, "referred_by": self.referred_by}
        pd.DataFrame(roster | {"role": self.role}).to_csv(out / "members.csv", index=False)
        units = np.flatnonzero(self.unit)
        pd.DataFrame(
            {
                "experiment_id": cfg.experiment_id,
                "unit_id": self.uid[units],
                "variant": np.where(self.arm[units] == 1, "treatment", "control"),
                "assigned_at": _iso(self.join[units], suffix="Z"),
                "cluster_id": "",
            }
        ).to_csv(out / "assignments.csv", index=False)
        members = np.flatnonzero(self.role == "member")
        linked = members[rng.random(members.size) < cfg.link_prob]
        linked = rng.permutation(linked)
        n_acc = max(int(round(cfg.accounts_per_member * cfg.n_members)), linked.size)
        interest = rng.standard_normal(n_acc)
        key = cfg.selection_strength * interest + rng.gumbel(size=n_acc)
        chosen = np.argsort(-key, kind="stable")[: linked.size]  # successive sampling ∝ exp(s·u)
        person = np.full(n_acc, -1)
        person[chosen] = linked
        is_member = person >= 0
        lo = self.t0 - 365 * DAY
        signup = lo + (rng.random(n_acc) * (self.t_end - DAY - lo)).astype(np.int64)
        jm = self.join[person[is_member]]
        near = jm + rng.normal(-20 * DAY, 40 * DAY, jm.size).astype(np.int64)
        signup[is_member] = np.clip(near, lo, self.t_end - DAY)
        eta = cfg.purchase_intercept + cfg.purchase_interest_coef * interest
        p1, p0 = expit(eta + cfg.purchase_member_coef), expit(eta)
        p = np.where(is_member, p1, p0)
        buys = np.flatnonzero(rng.random(n_acc) < p)
        anchor = signup.copy()
        anchor[is_member] = np.maximum(signup[is_member], jm)
        n_orders = 1 + rng.poisson(cfg.extra_orders_mean, buys.size)
        window = (self.t_end - anchor[buys]).astype(float)
        scale = 45.0 * DAY
        first = anchor[buys] - scale * np.log1p(-rng.random(buys.size) * -np.expm1(-window / scale))
        o_acc = np.repeat(buys, n_orders)
        o_first = np.repeat(first, n_orders)
        is_first = np.r_[True, o_acc[1:] != o_acc[:-1]]
        later = o_first + rng.random(o_acc.size) * (self.t_end - o_first)
        o_t = np.where(is_first, o_first, later).astype(np.int64)
        amount = cfg.amount_median * np.exp(cfg.amount_sigma * rng.standard_normal(o_acc.size))
        order = np.lexsort((o_acc, o_t))
        acc_order = np.lexsort((np.arange(n_acc), signup))
        cid = np.empty(n_acc, dtype=object)
        cid[acc_order] = _numbered("c", n_acc, 7)
        tg = np.where(is_member, self.uid[np.maximum(person, 0)], "")
        customers = {"customer_id": cid[acc_order], "telegram_user_id": tg[acc_order]}
        customers["signed_up_at"] = _iso(signup[acc_order], suffix="Z")
        pd.DataFrame(customers).to_csv(out / "customers.csv", index=False)
        orders = {"order_id": _numbered("o", o_acc.size, 8), "customer_id": cid[o_acc[order]]}
        orders["ordered_at"] = _iso(o_t[order], offset=MSK, suffix="+03:00")
        orders |= {"amount": np.round(amount[order], 2), "currency": "RUB"}
        pd.DataFrame(orders).to_csv(out / "orders.csv", index=False, float_format="%.2f")
        return {
            "n_accounts": n_acc,
            "n_member_accounts": int(is_member.sum()),
            "n_orders": int(o_acc.size),
            "att": float((p1 - p0)[is_member].mean()),
            "naive_diff_expected": float(p[is_member].mean() - p[~is_member].mean()),
            "member_rate_expected": float(p[is_member].mean()),
            "non_member_rate_expected": float(p[~is_member].mean()),
        }

    def ground_truth(
        self, chat_id: int, topics: dict[str, int], crm: dict, n_msg: int, n_srv: int
    ) -> GroundTruth:
        cfg = self.cfg
        staff = list(self.uid[: self.n_staff])
        arms = {"control": 0, "treatment": 1}
        metrics = {
            name: {arm: float(values[i]) for arm, i in arms.items()}
            for name, values in (
                ("first_post_7d", cfg.first_post_7d),
                ("retained_week4", cfg.retained_week4),
            )
        }
        return GroundTruth(
            seed=cfg.seed,
            n_members=cfg.n_members,
            start=str(_iso(np.array([self.t0]), suffix="Z")[0]),
            end=str(_iso(np.array([self.t_end]), suffix="Z")[0]),
            community_name=cfg.community_name,
            chat_id=chat_id,
            staff_ids=staff,
            staff_roles={uid: STAFF_ROLES[i] for i, uid in enumerate(staff)},
            bot_ids=[str(self.uid[self.bot])],
            core_ids=list(self.uid[self.core]),
            topics=topics,
            source_probs=dict(cfg.source_probs),
            response_prob=cfg.response_prob,
            response_max_hours=24.0,
            staff_answer_share=cfg.staff_answer_share,
            response_median_minutes={
                "staff": cfg.staff_response_median_min,
                "member": cfg.member_response_median_min,
            },
            response_sigma={"staff": cfg.staff_response_sigma, "member": cfg.member_response_sigma},
            newcomer_answer_prob=cfg.response_prob,
            newcomer_return_prob={
                "answered": cfg.return_prob_answered,
                "unanswered": cfg.return_prob_unanswered,
            },
            newcomer_return_window_days=[7, 35],
            core_inner_prob=cfg.core_inner_prob,
            core_reply_to_core_min=cfg.core_reply_to_core_min,
            experiment={
                "id": cfg.experiment_id,
                "window": [str(x) for x in _iso(np.array(self.window), suffix="Z")],
                "unit": "non-core members joining inside the window; assigned_at = join time",
                "metrics": metrics,
                "n_units": {
                    arm: int((self.unit & (self.arm == i)).sum()) for arm, i in arms.items()
                },
            },
            purchase={
                "att": crm["att"],
                "naive_diff_expected": crm["naive_diff_expected"],
                "member_rate_expected": crm["member_rate_expected"],
                "non_member_rate_expected": crm["non_member_rate_expected"],
                "coefficients": {
                    "intercept": cfg.purchase_intercept,
                    "interest": cfg.purchase_interest_coef,
                    "member": cfg.purchase_member_coef,
                },
                "selection_strength": cfg.selection_strength,
                "outcome": "≥1 order between signed_up_at and the end of the data",
            },
            n_messages=n_msg,
            n_service_messages=n_srv,
            n_customers=crm["n_accounts"],
            n_orders=crm["n_orders"],
            realised={
                "n_roots": int(self.r_t.size),
                "n_posters": int(self.poster.sum()),
                "core_reply_to_core_share": self.core_share,
                "answer_fallbacks": self.answer_fallbacks,
            },
        )


# ---- people's ids and names ---------------------------------------------------------------------
def _numbered(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def _user_ids(rng, n: int) -> np.ndarray:
    values = np.empty(0, np.int64)
    while values.size < n:
        draw = np.concatenate([values, rng.integers(100_000_000, 7_999_999_999, n - values.size)])
        _, first = np.unique(draw, return_index=True)
        values = draw[np.sort(first)]
    return np.char.add("user", values.astype(str)).astype(object)


_RU_M = "Александр Дмитрий Максим Сергей Андрей Алексей Иван Михаил Никита Егор Артём Павел"
_RU_F = "Анна Мария Елена Ольга Наталья Екатерина Татьяна Юлия Дарья Алина Ксения Полина Софья"
_RU_LAST = "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов"
_RU_LAST += " Волков Лебедев Козлов Егоров Орлов Зайцев Белов"
_EN_M = "Alex Dmitry Max Sergey Ivan Nikita Mike John Daniel Artem Kirill Tim"
_EN_F = "Kate Maria Anna Olga Julia Daria Alina Sarah Emily Nastya Lena Sofia"
_EN_LAST = "Ivanov Petrov Smirnov Volkov Orlov Sokolov Kim Smith Lee Brown Novak Popov"


def _names(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    lists = [(s.split(), t.split()) for s, t in ((_RU_M, _RU_LAST), (_RU_F, _RU_LAST))]
    lists += [(s.split(), _EN_LAST.split()) for s in (_EN_M, _EN_F)]
    kind = rng.choice(4, size=n, p=[0.33, 0.32, 0.18, 0.17])
    u_first, u_last, style = rng.random(n), rng.random(n), rng.random(n)
    names, firsts = np.empty(n, dtype=object), np.empty(n, dtype=object)
    for i in range(n):
        first_names, last_names = lists[kind[i]]
        first = first_names[int(u_first[i] * len(first_names))]
        last = last_names[int(u_last[i] * len(last_names))]
        if kind[i] % 2 and last[-1] in "вн":
            last += "а"  # Смирнова, Ivanova
        elif kind[i] % 2 and last.endswith(("ov", "ev", "in")):
            last += "a"
        firsts[i] = first
        names[i] = f"{first} {last}" if style[i] >= 0.3 else f"{first} {last[0]}."
        if style[i] < 0.2:
            names[i] = first
    return names, firsts


# ---- text ---------------------------------------------------------------------------------------
THINGS = ("pandas", "SQL", "A/B-тесты", "дашборды", "Airflow", "ClickHouse", "dbt", "Docker")
THINGS += ("retention", "Jupyter", "feature store", "юнит-экономика", "ML-пайплайны", "Power BI")
_B, _L, _M = "bold", "link", "mention"
TEMPLATES: dict[int, tuple] = {
    INTRO: (
        "Всем привет! Я {first}, занимаюсь аналитикой, интересна тема «{thing}» 👋",
        "Hi everyone! New here, mostly interested in {thing} 🙂",
        ("Привет! Меня зовут ", (_B, "{first}"), ". Подскажите, с чего начать?"),
        "Добрый день! Пришёл по совету друга, хочу разобраться с темой «{thing}»",
    ),
    ROOT: (
        "Подскажите по теме «{thing}»: с чего лучше начать?",
        "How do you handle {thing} in production?",
        ("Вопрос по теме ", (_B, "{thing}"), ": у кого-нибудь получалось? 🤔"),
        "Кто-нибудь сталкивался с такой ошибкой? Тема «{thing}», второй день мучаюсь 😅",
        "Is there a good guide for {thing}? Thanks in advance 🙏",
        "Сделал небольшой проект на тему «{thing}», буду рад фидбеку 🚀",
        ("Check ", (_B, "this"), " out: ", (_L, "https://github.com/example/{slug}")),
        "Кто идёт на митап в субботу? Можно собраться вместе 🙌",
        ("Завтра стрим: ", (_B, "{thing}"), ", подключайтесь! ", (_M, "@dac_events")),
        "Кто чем занимается на выходных? Делитесь планами 😄",
        "Anyone else working from a café today? ☕",
    ),
    STAFF_ANSWER: (
        "Привет! Это поддержка. Напишите, пожалуйста, версию и шаги — разберёмся 🙌",
        ("Hi! Please see our ", ("text_link", "FAQ", "https://docs.example.com/faq"), " first"),
        "Спасибо за вопрос! Передали команде, вернёмся с ответом сегодня",
        (
            "Добро пожаловать! Правила и полезные ссылки в закрепе, ",
            (_M, "@dac_support"),
            " на связи",
        ),
    ),
    ANSWER: (
        "Попробуй обновить до последней версии, у меня помогло",
        ("У нас был гайд: ", (_L, "https://docs.example.com/{slug}")),
        "Great question! I usually start with the docs, then ask here 👍",
        "Да, было такое. Нужно поменять настройки в конфиге",
        "Добро пожаловать! 🙂 Посмотри закреплённое сообщение, там всё есть",
    ),
    FOLLOWUP: (
        "+1, тоже интересно",
        "А если посмотреть в сторону «{thing}»?",
        "Agree 💯",
        ("Вот тут подробнее: ", (_L, "https://example.com/{slug}")),
        "Не совсем так, лучше сначала проверить логи",
        "Same here, following 👀",
    ),
    THANKS: (
        "Спасибо, помогло! 🙏",
        "Thanks, that worked!",
        ("Спасибо ", (_B, "огромное"), "! Разобрался 🙂"),
    ),
}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _body(text: Any, entities: list[dict[str, str]]) -> str:
    return f'"text": {_dumps(text)}, "text_entities": {_dumps(entities)}'


@lru_cache(maxsize=16384)
def _text_json(kind: int, variant: int, first: str) -> str:
    """``"text": ..., "text_entities": ...`` of a message, serialised; ``variant`` picks wording."""
    template = TEMPLATES[kind][variant % len(TEMPLATES[kind])]
    thing = THINGS[(variant // 16) % len(THINGS)]
    fill = {
        "thing": thing,
        "first": first,
        "slug": thing.lower().replace(" ", "-").replace("/", ""),
    }
    if isinstance(template, str):
        text = template.format(**fill)
        return _body(text, [{"type": "plain", "text": text}])
    parts: list[Any] = []
    entities = []
    for part in template:
        if isinstance(part, str):
            parts.append(part.format(**fill))
            entities.append({"type": "plain", "text": parts[-1]})
        else:
            entity = {"type": part[0], "text": part[1].format(**fill)}
            if len(part) > 2:
                entity["href"] = part[2]
            parts.append(entity)
            entities.append(entity)
    return _body(parts, entities)


_JOINED = '"action": "join_group_by_link", "inviter": "Group", "text": "", "text_entities": []}'


def _write_telegram(path: Path, sim: _Sim, ev: dict, rx: dict, chat_id: int) -> dict[str, int]:
    """Stream the export one line per message; repeated pieces (names, texts) are serialised once.

    Memory stays proportional to the numpy arrays, never to a list of all message dicts.
    """
    names, uid = [_dumps(x) for x in sim.name], sim.uid
    e_start = np.searchsorted(rx["msg"], np.arange(ev["t"].size + 1))
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(f'{{\n "name": {_dumps(sim.cfg.community_name)},\n "type": "public_supergroup",\n')
        fh.write(f' "id": {chat_id},\n "messages": [\n')
        for lo in range(0, ev["t"].size, 50_000):
            hi = min(lo + 50_000, ev["t"].size)
            dates = _iso(ev["t"][lo:hi], offset=MSK).tolist()
            t, kind, author, reply_to, topic, variant = (
                ev[k][lo:hi].tolist()
                for k in ("t", "kind", "author", "reply_to", "topic", "variant")
            )
            e_lo = int(e_start[lo])
            starts = (e_start[lo : hi + 1] - e_lo).tolist()
            reactions = _reactions_json(rx, slice(e_lo, int(e_start[hi])), names, uid)
            lines = []
            for j in range(hi - lo):
                k, who = kind[j], author[j]
                line = f'{{"id": {lo + j + 1}, "type": "{"service" if k < INTRO else "message"}", '
                line += f'"date": "{dates[j]}", "date_unixtime": "{t[j]}", '
                if k == JOIN:
                    line += f'"actor": {names[who]}, "actor_id": "{uid[who]}", {_JOINED}'
                elif k == TOPIC:
                    line += (
                        f'"actor": {names[0]}, "actor_id": "{uid[0]}", "action": "topic_created", '
                    )
                    line += (
                        f'"title": {_dumps(TOPICS[topic[j]])}, "text": "", "text_entities": []}}'
                    )
                else:
                    line += f'"from": {names[who]}, "from_id": "{uid[who]}", '
                    if reply_to[j]:
                        line += f'"reply_to_message_id": {reply_to[j]}, '
                    if k == BOT:
                        text = _digest(sim, (t[j] + MSK) // DAY)
                        line += _body(text, [{"type": "plain", "text": text}])
                    else:
                        line += _text_json(k, variant[j], sim.first_name[who] if k == INTRO else "")
                    if starts[j + 1] > starts[j]:
                        line += (
                            f', "reactions": [{", ".join(reactions[starts[j] : starts[j + 1]])}]'
                        )
                    line += "}"
                lines.append(line)
            fh.write(("  " if lo == 0 else ",\n  ") + ",\n  ".join(lines))
        fh.write("\n ]\n}\n")
    return {title: int(ev["topic_ids"][i]) for i, title in enumerate(TOPICS)}


def _reactions_json(rx: dict, rows: slice, names: list[str], uid: np.ndarray) -> list[str]:
    """Serialised reaction entries ``rows`` (recent reactors: most recent first)."""
    dates = _iso(rx["when"][rows], offset=MSK).tolist()
    who, valid = rx["who"][rows].tolist(), rx["valid"][rows].tolist()
    out = []
    counts, emoji = rx["count"][rows].tolist(), rx["emoji"][rows].tolist()
    for e, count in enumerate(counts):
        recent = ", ".join(
            f'{{"from": {names[p]}, "from_id": "{uid[p]}", "date": "{d}"}}'
            for p, ok, d in zip(who[e], valid[e], dates[e], strict=True)
            if ok
        )
        out.append(
            f'{{"type": "emoji", "count": {count}, "emoji": "{EMOJI[emoji[e]]}", '
            f'"recent": [{recent}]}}'
        )
    return out


def _digest(sim: _Sim, local_day: int) -> str:
    i = local_day - sim.digest_day0
    msgs, joins = int(sim.digest_msgs[i]), int(sim.digest_joins[i])
    return (
        f"☀️ Доброе утро! За вчера: {msgs} сообщений, {joins} новых участников. "
        f"Welcome to everyone who joined! 👋"
    )
