"""The simulation: people (staff, bot, members), their planted outcomes, messages and reactions.

:class:`Simulation` keeps everything as numpy arrays indexed by person (``0 .. n_staff - 1`` staff,
the founder first; ``n_staff`` the bot; then the members, the core first) or by message. Its steps
run in this order, each drawing from the one generator: :meth:`~Simulation.roster`,
:meth:`~Simulation.plan`, :meth:`~Simulation.roots`, :meth:`~Simulation.threads`,
:meth:`~Simulation.events`, :meth:`~Simulation.reactions`.
"""

from __future__ import annotations

import numpy as np

from analysis.synth.clock import DAY, HOUR, MINUTE, MSK, NEVER, add_months
from analysis.synth.config import SOURCES, STAFF_ROLES, TOPICS, SynthConfig
from analysis.synth.kinds import (
    ANSWER,
    BOT,
    FOLLOWUP,
    INTRO,
    JOIN,
    ROOT,
    STAFF_ANSWER,
    THANKS,
    TOPIC,
)
from analysis.synth.sampling import PosterPool, lognormal_truncated, sample_times
from analysis.synth.texts import BOT_NAME, EMOJI, EMOJI_P, THINGS, draw_names, draw_user_ids

__all__ = ["Simulation"]

#: Relative chance of each staff role (``STAFF_ROLES`` order) to write a staff answer.
STAFF_ANSWER_WEIGHTS = np.array([0.1, 0.35, 0.45, 0.1, 0.1])


class Simulation:
    """The simulation state: people (staff, bot, members) as arrays indexed by person.

    Attributes
    ----------
    cfg, rng, t0, t_end
        The configuration, the one generator, and the data's ``[t0, t_end)`` (unix seconds).
    window : (int, int)
        The experiment's join window ``[from, to)`` (unix seconds).
    uid, name, first_name, role : ndarray of object
        Per person: Telegram user id, display name, first name, ``staff`` | ``bot`` | ``member``.
    join, core, source, referred_by, unit, arm : ndarray
        Per person, from :meth:`roster`: join time, is a core member, acquisition source,
        referrer's user id, is an experiment unit, arm (1 treatment, 0 control or not a unit).
    poster : ndarray of bool
        Per person, from :meth:`plan`: a member whose first message falls inside the data.
    r_t, core_share, answer_fallbacks
        From :meth:`roots` and :meth:`threads`: thread root times, the realised share of core
        members' replies that answer a core member, first answers given by staff because no
        member could answer.
    digest_day0, digest_msgs, digest_joins
        From :meth:`events`: the Moscow day number of the first digest and, per digest, the
        previous day's regular messages (digests excluded) and member joins.
    """

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator, t0: int, t_end: int):
        self.cfg, self.rng, self.t0, self.t_end = cfg, rng, t0, t_end
        m0, m1 = cfg.window_months
        self.window = (add_months(cfg.start, m0), add_months(cfg.start, m1))
        self.n_staff = cfg.n_staff
        self.bot = cfg.n_staff
        self.n_people = cfg.n_staff + 1 + cfg.n_members

    # ---- people -------------------------------------------------------------------------------
    def roster(self) -> None:
        """Ids, names, roles, join times, activity rates, sources, referrers, experiment arms."""
        cfg, rng, n, s = self.cfg, self.rng, self.n_people, self.n_staff
        self.uid = draw_user_ids(rng, n)
        self.name, self.first_name = draw_names(rng, n)
        for i in range(s):
            self.name[i] += f" | {STAFF_ROLES[i].replace('_', ' ').title()}"
        self.name[self.bot] = BOT_NAME
        self.role = np.array(["staff"] * s + ["bot"] + ["member"] * cfg.n_members, dtype=object)
        members = np.arange(s + 1, n)
        self.core = np.zeros(n, bool)
        self.core[members[: cfg.n_core]] = True
        join = np.empty(n, np.int64)
        join[: s + 1] = self.t0 + MINUTE * np.arange(s + 1)
        join[members[: cfg.n_core]] = np.sort(
            sample_times(rng, self.t0 + HOUR, np.full(cfg.n_core, DAY))
        )
        # linearly rising join rate: inverse CDF of density ∝ 1 + g·x on [0, 1)
        g, rest = cfg.join_growth, members[cfg.n_core :]
        lo, span = self.t0 + 2 * DAY, self.t_end - self.t0 - 2 * DAY
        u = rng.random(rest.size)
        x = u if g == 0 else (np.sqrt(1 + g * (2 + g) * u) - 1) / g
        join[rest] = np.sort(
            sample_times(rng, lo + (x * (span - DAY)).astype(np.int64), np.full(rest.size, DAY))
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
        # planted interest groups come from a generator of their own: the default community
        # (no affinity) is bit-for-bit the one generated before groups existed
        self.group = np.full(n, -1)
        if cfg.interest_affinity > 0:
            own = np.random.default_rng([cfg.seed, 0x6A0B])
            plain = (self.role == "member") & ~self.core
            self.group[plain] = own.integers(cfg.n_interest_groups, size=int(plain.sum()))

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
        first[idx] = sample_times(
            rng, j[idx] + MINUTE, np.full(idx.size, 7 * DAY - MINUTE), power=2.0
        )
        idx = np.flatnonzero(week4 & ~first_7d)
        first[idx] = sample_times(rng, j[idx] + 21 * DAY, np.full(idx.size, 7 * DAY))
        idx = np.flatnonzero(late)
        delay = (rng.exponential(cfg.late_start_mean_days * DAY, idx.size)).astype(np.int64)
        first[idx] = sample_times(rng, j[idx] + 28 * DAY + delay, np.full(idx.size, DAY))
        idx = np.flatnonzero(self.core)
        first[idx] = sample_times(rng, j[idx] + 30 * MINUTE, np.full(idx.size, 12 * HOUR))
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
        parts.append((p[ib], sample_times(rng, f[ib] + MINUTE, np.maximum(length, 1))))
        s = np.where(self.core[p], f + MINUTE, f + 7 * DAY)
        has = self.ret[p]
        l1 = np.clip(np.minimum(end, forbid) - s, 0, None) * has
        a2 = np.maximum(s, forbid + 7 * DAY)
        l2 = np.clip(end - a2, 0, None) * has
        n = rng.poisson(np.where(self.core[p], cfg.core_root_rate, self.rate[p]) * (l1 + l2) / DAY)
        ir = np.repeat(np.arange(p.size), n)
        parts.append((p[ir], sample_times(rng, s[ir], l1[ir], a2[ir], l2[ir])))
        # forced post in week 4 for first_7d & week4 members without one
        t_all = np.concatenate([x[1] for x in parts])
        i_all = np.concatenate([np.searchsorted(p, x[0]) for x in parts])
        jp = self.join[p]
        in_week4 = (t_all >= jp[i_all] + 21 * DAY) & (t_all < jp[i_all] + 28 * DAY)
        hit = np.bincount(i_all, in_week4, p.size)
        need = np.flatnonzero(self.first_7d[p] & self.week4[p] & (hit == 0))
        t_new = sample_times(rng, jp[need] + 21 * DAY, np.full(need.size, 7 * DAY))
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
        parts.append((p[need], sample_times(rng, lo, l1, a2, np.clip(hi - a2, 0, None))))
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
        self, pool: PosterPool, t: np.ndarray, exclude: np.ndarray, rounds: int = 60
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

    def _pick_member(self, t, exclude, core_thread, group=None) -> np.ndarray:
        """Core members (in core threads, w.p. core_inner_prob), the thread author's interest
        group (w.p. interest_affinity, when groups are planted) or anyone active, by activity."""
        out = np.full(t.size, -1)
        inner = core_thread & (self.rng.random(t.size) < self.cfg.core_inner_prob)
        out[inner] = self._pick(self.core_pool, t[inner], exclude[inner], rounds=10)
        if group is not None and self.group_pools:
            aff = self.group_rng.random(t.size) < self.cfg.interest_affinity
            for g, pool in enumerate(self.group_pools):
                idx = np.flatnonzero((out < 0) & ~core_thread & aff & (group == g))
                out[idx] = self._pick(pool, t[idx], exclude[idx], rounds=10)
        rest = out < 0
        out[rest] = self._pick(self.pool, t[rest], exclude[rest])
        return out

    def threads(self) -> None:
        """First answers and follow-up replies for every root."""
        cfg, rng = self.cfg, self.rng
        weight = self.rate * np.where(self.core, cfg.core_outside_weight, 1.0)
        self.pool = PosterPool(np.flatnonzero(self.poster), self.first, weight)
        self.core_pool = PosterPool(np.flatnonzero(self.core), self.first, np.ones(self.n_people))
        self.group_pools = [
            PosterPool(np.flatnonzero(self.poster & (self.group == g)), self.first, weight)
            for g in range(cfg.n_interest_groups if cfg.interest_affinity > 0 else 0)
        ]
        self.group_rng = np.random.default_rng([cfg.seed, 0x6A0C])
        n_r = self.r_t.size
        answered = rng.random(n_r) < cfg.response_prob
        answered[self.r_first] = self.answered[self.r_author[self.r_first]]
        by_staff = rng.random(n_r) < cfg.staff_answer_share
        median = np.where(by_staff, cfg.staff_response_median_min, cfg.member_response_median_min)
        sigma = np.where(by_staff, cfg.staff_response_sigma, cfg.member_response_sigma)
        delay = lognormal_truncated(rng, median * MINUTE, sigma, 24 * HOUR)
        t1 = self.r_t + np.maximum(delay, 30).astype(np.int64)
        core_thread = self.core[self.r_author]
        w = STAFF_ANSWER_WEIGHTS[: self.n_staff]
        who = rng.choice(self.n_staff, size=n_r, p=w / w.sum())
        mem = np.flatnonzero(~by_staff & answered & (t1 < self.t_end))
        who[mem] = self._pick_member(
            t1[mem], self.r_author[mem], core_thread[mem], self.group[self.r_author[mem]]
        )
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
            responder[need] = self._pick_member(
                t[need],
                parent_author[need],
                core_thread[r[need]],
                self.group[self.r_author[r[need]]],
            )
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
        lurker = members[np.minimum((rng.random((3, e_msg.size)) * k).astype(np.int64), k - 1)]
        # most reactors were active around then: authors of the ~300 regular messages before
        pos = np.searchsorted(regular, e_msg)
        back = rng.integers(1, 300, size=(3, e_msg.size))
        recent = ev["author"][regular[np.maximum(pos - back, 0)]]
        recent_ok = (self.role[recent] != "bot") & (pos - back >= 0)
        use_lurker = (rng.random((3, e_msg.size)) < cfg.lurker_reaction_share) | ~recent_ok
        who = np.where(use_lurker, lurker, recent)
        valid = (np.arange(3)[:, None] < np.minimum(count, 3)) & (k > 0)
        valid &= who != ev["author"][e_msg]  # nobody is listed reacting to their own message
        valid[1] &= who[1] != who[0]
        valid[2] &= (who[2] != who[0]) & (who[2] != who[1])
        lag = np.sort(rng.exponential(2 * HOUR, (3, e_msg.size)), axis=0)[::-1].astype(np.int64)
        when = np.minimum(ev["t"][e_msg] + 5 + lag, self.t_end - 1)
        rx = {"msg": e_msg, "emoji": emoji, "count": count}
        return rx | {"who": who.T, "valid": valid.T, "when": when.T}
