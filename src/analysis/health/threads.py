"""Threads: do questions get answered, how fast, by whom, and how long people keep talking.

Every per-thread quantity is computed on the community's engine (DuckDB or Spark) by
:func:`thread_table_expr`; what comes back as pandas is one row per thread (or per session), from
which medians and 90th percentiles are computed exactly (see *Quantiles* below).

Definitions shared by all metrics here
--------------------------------------
Messages
    Rows of ``messages`` whose ``kind`` is not ``service``, written by *included* members: bots
    are dropped unless ``include_bots``; staff are dropped when ``include_staff=False`` (their
    roots are then not threads and their replies are not responses, i.e. the metrics describe
    the community without its staff). Messages of excluded accounts are removed first.
Thread root
    A message with no ``reply_to_id``. Its thread is every counted reply whose ``thread_id`` is
    the root's ``message_id`` (the ingest resolves ``thread_id`` by following reply links to the
    top). Threads whose root is absent from the export (deleted, or older than the export:
    ``thread_id`` names no message) are excluded and counted (``n_missing_root_threads``).
Reply
    A message with a ``reply_to_id`` whose ``reply_source`` is in ``reply_sources`` (default
    ``("explicit",)``: links the platform recorded; add ``"inferred"`` to use replies inferred
    from timing at ingest).
Response
    A reply in the thread by a member other than the root's author, at any depth (CHAOSS
    *Time to First Response*: "the first activity by someone other than the author"). Self-replies
    are never responses. The *first response* is the earliest such reply (ties broken by
    ``message_id``); its time minus the root's time, in whole seconds, is the *response time*.
Clock skew
    A reply stamped earlier than the message it answers (exporting clients with wrong clocks,
    merged exports). A first response earlier than its root gets response time 0 (clipped);
    ``n_clipped_responses`` counts them and ``n_skewed_replies`` counts every reply earlier than
    its parent.
Reply depth
    Direct reply to the root = 1, a reply to that reply = 2, ... The depth of a reply is its
    position in the full reply forest of the export (every non-service reply link, whoever wrote
    it); a thread's ``max_depth`` is the largest depth among its counted replies (0 without
    replies). Depth needs a walk up the reply chains of unbounded length, which SQL engines do
    only with recursive queries that ibis does not portably express; it is therefore computed in
    pandas on the reply edge list (``message_id → reply_to_id``, one small row per reply) by
    vectorised pointer jumping (O(n log depth), no recursion).
Periods
    A thread belongs to the UTC calendar period (day / ISO week from Monday / month) of its root's
    ``created_at``. Every period from the first to the last message of the data is reported,
    empty ones included (counts 0, rates and quantiles NaN). Optionally also per channel
    (``by_channel=True``; Telegram forum topics are channels).
Data end
    The time of the last message (:meth:`Community.last_message_at`). A root counts towards a
    rate with window ``w`` only when ``root time + w ≤ data end`` (exposure), so recent threads
    that have not yet had the time to be answered do not pull the rate down.
Quantiles
    Medians and 90th percentiles are exact (linear interpolation between order statistics,
    Hyndman & Fan type 7, as ``pandas.Series.quantile``), computed in pandas on the per-thread
    response times brought back from the engine: one small row per thread. Spark's quantiles are
    approximate, so this choice makes DuckDB and Spark results identical, not merely close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd

from analysis.data import Community
from analysis.health.activity import _period_index, members_included
from analysis.results import Result

Period = Literal["day", "week", "month"]
_TRUNCATE_UNIT = {"day": "D", "week": "W", "month": "M"}

__all__ = [
    "ConversationDuration",
    "DiscussionDepth",
    "ResponseRate",
    "ShareSeries",
    "TimeToFirstResponse",
    "conversation_duration",
    "discussion_depth",
    "member_initiated_share",
    "member_to_member_share",
    "period_floor",
    "reply_depths",
    "response_rate",
    "sessions_expr",
    "support_deflection",
    "thread_table",
    "thread_table_expr",
    "time_to_first_response",
]


# ---- building blocks on the engine ---------------------------------------------------------------
def _seconds(ts: Any) -> Any:
    return ts.epoch_seconds().cast("int64")


def _check_period(period: str) -> None:
    if period not in _TRUNCATE_UNIT:
        raise ValueError(f"period must be one of {list(_TRUNCATE_UNIT)}, got {period!r}")


def included_messages(
    community: Community, *, include_staff: bool = True, include_bots: bool = False
) -> Any:
    """Non-service messages of included members, with the author's ``is_staff`` flag (ibis)."""
    members = members_included(community, include_staff=include_staff, include_bots=include_bots)
    members = members.select(m_id=members.member_id, is_staff=members.is_staff)
    msgs = community.messages.filter(community.messages.kind != "service")
    joined = msgs.inner_join(members, msgs.member_id == members.m_id)
    return joined.select(
        "message_id",
        "channel_id",
        "thread_id",
        "member_id",
        "created_at",
        "reply_to_id",
        "reply_source",
        "is_staff",
    )


def _roots_and_replies(
    community: Community, include_staff: bool, include_bots: bool, reply_sources: Sequence[str]
) -> tuple[Any, Any]:
    msgs = included_messages(community, include_staff=include_staff, include_bots=include_bots)
    roots = msgs.filter(msgs.reply_to_id.isnull())
    replies = msgs.filter(msgs.reply_to_id.notnull() & msgs.reply_source.isin(list(reply_sources)))
    return roots, replies


def _thread_replies(roots: Any, replies: Any) -> Any:
    """Counted replies of threads whose root is present, with the root's author and time."""
    r = roots.select(
        r_id=roots.message_id, root_member_id=roots.member_id, root_at=roots.created_at
    )
    joined = replies.inner_join(r, replies.thread_id == r.r_id)
    return joined.select(
        "message_id",
        "thread_id",
        "member_id",
        "created_at",
        "reply_to_id",
        "is_staff",
        "root_member_id",
        "root_at",
    )


def thread_table_expr(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """One row per thread root, as an ibis expression executed by the engine.

    Columns
    -------
    thread_id, channel_id, root_member_id, root_is_staff, created_at
        The root: its id, channel, author, whether the author is staff, and its time (UTC).
    n_replies : int
        Counted replies in the thread (by included members, any depth, self-replies included).
    participants : int
        Distinct members among the root's author and the repliers.
    first_response_at : timestamp or null
        Time of the first response (earliest reply by someone other than the root's author).
    first_responder_id : str or null
        Its author. ``first_responder_is_staff`` : bool or null, whether that author is staff.
    response_seconds : int or null
        ``max(0, first_response_at − created_at)`` in whole seconds (null without a response).
    response_clipped : bool
        The first response was stamped before the root (clock skew), so its time was clipped.
    last_at : timestamp
        Latest message of the thread (root or reply). ``duration_seconds`` = ``last_at`` minus
        the earliest message of the thread, in seconds, for threads with ≥ 2 participants
        (null otherwise).
    n_skewed_replies : int
        Counted replies in the thread stamped earlier than the message they answer.

    ``max_depth`` is not here (see the module docstring): :func:`thread_table` adds it.
    See the module docstring for the definitions of roots, replies, responses and the flags.
    """
    roots, replies = _roots_and_replies(community, include_staff, include_bots, reply_sources)
    tr = _thread_replies(roots, replies)

    # size, participants, first and last message: union of roots and their replies
    posts = roots.select(
        thread_id=roots.message_id, member_id=roots.member_id, created_at=roots.created_at
    ).union(tr.select("thread_id", "member_id", "created_at"), distinct=False)
    sizes = posts.group_by("thread_id").aggregate(
        n_messages=posts.count(),
        participants=posts.member_id.nunique(),
        first_at=posts.created_at.min(),
        last_at=posts.created_at.max(),
    )

    # first response: earliest reply by someone other than the root's author
    others = tr.filter(tr.member_id != tr.root_member_id)
    order = ibis.window(group_by="thread_id", order_by=["created_at", "message_id"])
    ranked = others.mutate(rank=ibis.row_number().over(order))
    first = ranked.filter(ranked.rank == 0).select(
        f_thread_id=ranked.thread_id,
        first_response_at=ranked.created_at,
        first_responder_id=ranked.member_id,
        first_responder_is_staff=ranked.is_staff,
    )

    # replies earlier than their parent (the parent may be any message of the export)
    all_msgs = community.messages
    parents = all_msgs.select(p_id=all_msgs.message_id, p_at=all_msgs.created_at)
    skew = tr.inner_join(parents, tr.reply_to_id == parents.p_id)
    skew = skew.filter(skew.created_at < skew.p_at)
    skewed = skew.group_by(s_thread_id=skew.thread_id).aggregate(n_skewed_replies=skew.count())

    t = roots.left_join(sizes, roots.message_id == sizes.thread_id)
    t = t.select(
        thread_id=t.message_id,
        channel_id=t.channel_id,
        root_member_id=t.member_id,
        root_is_staff=t.is_staff,
        created_at=t.created_at,
        n_replies=(t.n_messages - 1).cast("int64"),
        participants=t.participants.cast("int64"),
        first_at=t.first_at,
        last_at=t.last_at,
    )
    t = t.left_join(first, t.thread_id == first.f_thread_id)
    t = t.left_join(skewed, t.thread_id == skewed.s_thread_id)
    delta = _seconds(t.first_response_at) - _seconds(t.created_at)
    duration = _seconds(t.last_at) - _seconds(t.first_at)
    return t.select(
        "thread_id",
        "channel_id",
        "root_member_id",
        "root_is_staff",
        "created_at",
        "n_replies",
        "participants",
        "first_response_at",
        "first_responder_id",
        "first_responder_is_staff",
        response_seconds=ibis.ifelse(delta < 0, ibis.literal(0, "int64"), delta),  # null stays null
        response_clipped=(delta < 0).fill_null(False),
        last_at=t.last_at,
        duration_seconds=ibis.ifelse(t.participants >= 2, duration, ibis.null("int64")),
        n_skewed_replies=t.n_skewed_replies.fill_null(0).cast("int64"),
    )


def missing_root_threads_expr(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """Number of threads (distinct ``thread_id`` of counted replies) whose root is not in the
    export at all (an ibis scalar expression)."""
    _, replies = _roots_and_replies(community, include_staff, include_bots, reply_sources)
    all_ids = community.messages.select(a_id=community.messages.message_id)
    missing = replies.anti_join(all_ids, replies.thread_id == all_ids.a_id)
    return missing.thread_id.nunique()


def reply_depths(community: Community) -> pd.DataFrame:
    """Depth of every reply in the full reply forest (``message_id``, ``depth``), in pandas.

    A direct reply to a root has depth 1, a reply to it depth 2, and so on. A reply whose parent
    is not in the export counts from that missing parent (depth 1). Computed by vectorised
    pointer jumping on the edge list brought back from the engine (see the module docstring).
    """
    m = community.messages
    edges = community.execute(
        m.filter((m.kind != "service") & m.reply_to_id.notnull()).select(
            "message_id", "reply_to_id"
        )
    )
    if edges.empty:
        return pd.DataFrame({"message_id": pd.Series(dtype=object), "depth": []}, dtype="int64")
    ids = edges["message_id"].to_numpy()
    position = pd.Index(ids)
    parent = position.get_indexer(edges["reply_to_id"].to_numpy())  # -1: parent is a root
    n = len(ids)
    jump = np.where(parent >= 0, parent, np.arange(n))
    dist = np.ones(n, dtype=np.int64)
    active = parent >= 0
    for _ in range(64):
        if not active.any():
            break
        dist = np.where(active, dist + dist[jump], dist)
        nxt_active = active & active[jump]
        jump = np.where(active, jump[jump], jump)
        active = nxt_active
    else:  # pragma: no cover - ingest rejects reply cycles
        raise ValueError("reply links form a cycle; ingest should have rejected this export")
    return pd.DataFrame({"message_id": ids, "depth": dist})


def thread_table(
    community: Community,
    *,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
    with_depth: bool = True,
) -> pd.DataFrame:
    """:func:`thread_table_expr` executed, with ``max_depth`` added (see module docstring).

    Timestamps come back as ``datetime64[ns, UTC]``; one row per thread, sorted by root time.
    """
    kw = {
        "include_staff": include_staff,
        "include_bots": include_bots,
        "reply_sources": reply_sources,
    }
    frame = community.execute(thread_table_expr(community, **kw))
    for col in ("created_at", "first_response_at", "last_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ns, UTC]")
    for col in ("n_replies", "participants", "n_skewed_replies"):
        frame[col] = frame[col].astype("int64")
    frame["response_clipped"] = frame["response_clipped"].astype(bool)
    if with_depth:
        roots, replies = _roots_and_replies(community, include_staff, include_bots, reply_sources)
        tr = _thread_replies(roots, replies).select("message_id", "thread_id")
        counted = community.execute(tr)
        depth = counted.merge(reply_depths(community), on="message_id", how="left")
        max_depth = depth.groupby("thread_id")["depth"].max()
        frame["max_depth"] = frame["thread_id"].map(max_depth).fillna(0).astype("int64")
    return frame.sort_values(["created_at", "thread_id"], kind="stable").reset_index(drop=True)


# ---- periods -------------------------------------------------------------------------------------
def period_floor(ts: pd.Series, period: Period) -> pd.Series:
    """Start of the UTC calendar period of each timestamp, as naive ``datetime64[ns]`` (UTC)."""
    _check_period(period)
    naive = pd.to_datetime(ts, utc=True).dt.tz_convert(None)
    day = naive.dt.floor("D")
    if period == "day":
        return day
    if period == "week":
        return day - pd.to_timedelta(day.dt.weekday, unit="D")
    return day.dt.to_period("M").dt.start_time


def _data_span(community: Community, period: Period) -> pd.DatetimeIndex:
    m = community.messages
    m = m.filter(m.kind != "service")
    span = community.execute(m.aggregate(lo=m.created_at.min(), hi=m.created_at.max()))
    lo, hi = span["lo"].iloc[0], span["hi"].iloc[0]
    if lo is None or pd.isna(lo):
        return pd.DatetimeIndex([], name="period_start")
    bounds = period_floor(pd.Series([lo, hi]), period)
    return _period_index(bounds.iloc[0], bounds.iloc[1], period).rename("period_start")


def _frame_index(
    index: pd.DatetimeIndex, channels: Sequence[str] | None
) -> pd.MultiIndex | pd.DatetimeIndex:
    if channels is None:
        return index
    return pd.MultiIndex.from_product(
        [index, sorted(channels)], names=["period_start", "channel_id"]
    )


def _keys(by_channel: bool) -> list[str]:
    return ["period_start", "channel_id"] if by_channel else ["period_start"]


def _channels(frame: pd.DataFrame, by_channel: bool) -> list[str] | None:
    return sorted(frame["channel_id"].dropna().unique()) if by_channel else None


def _quantiles(values: pd.Series) -> tuple[int, float, float, float]:
    values = values.dropna().astype(float)
    if values.empty:
        return 0, float("nan"), float("nan"), float("nan")
    return (
        int(len(values)),
        float(values.quantile(0.5)),
        float(values.quantile(0.9)),
        float(values.mean()),
    )


def _who(include_staff: bool, include_bots: bool) -> str:
    staff = "including staff" if include_staff else "excluding staff"
    bots = "including bots" if include_bots else "excluding bots"
    return f"{staff}, {bots}"


def _fmt(value: float, spec: str = ".1%") -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, spec)


def _lineplot(frame: pd.DataFrame, y: str, hue: str | None, ax: Any, title: str, ylabel: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    sns.lineplot(data=frame, x="period_start", y=y, hue=hue, marker="o", ax=ax)
    ax.set_xlabel("period start (UTC)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    return value


@dataclass(frozen=True)
class ThreadDataNotes:
    """Data-quality counts shared by the thread results (see the module docstring)."""

    n_threads: int
    n_missing_root_threads: int
    n_skewed_replies: int
    n_clipped_responses: int

    def as_dict(self) -> dict[str, int]:
        return {
            "n_threads": self.n_threads,
            "n_missing_root_threads": self.n_missing_root_threads,
            "n_skewed_replies": self.n_skewed_replies,
            "n_clipped_responses": self.n_clipped_responses,
        }

    def sentence(self) -> str:
        parts = []
        if self.n_missing_root_threads:
            parts.append(
                f"{self.n_missing_root_threads:,} threads whose first message is missing from "
                f"the export were left out"
            )
        if self.n_skewed_replies:
            parts.append(
                f"{self.n_skewed_replies:,} replies are stamped before the message they answer "
                f"(clock skew; {self.n_clipped_responses:,} response times were set to 0)"
            )
        return (" " + "; ".join(parts) + ".") if parts else ""


def _notes(community: Community, threads: pd.DataFrame, kw: dict[str, Any]) -> ThreadDataNotes:
    missing = community.execute(missing_root_threads_expr(community, **kw))
    return ThreadDataNotes(
        n_threads=int(len(threads)),
        n_missing_root_threads=int(missing),
        n_skewed_replies=int(threads["n_skewed_replies"].sum()),
        n_clipped_responses=int(threads["response_clipped"].sum()),
    )


# ---- response rate (aggregated on the engine) ----------------------------------------------------
def _window_seconds(within: Sequence[str]) -> dict[str, int]:
    out = {}
    for w in within:
        seconds = pd.Timedelta(w).total_seconds()
        if seconds <= 0:
            raise ValueError(f"window {w!r} must be positive, e.g. '24h' or '7d'")
        out[str(w)] = int(seconds)
    return out


@dataclass(frozen=True)
class ResponseRate(Result):
    """Share of thread roots answered by someone else within each window; see
    :func:`response_rate`.

    Attributes
    ----------
    period : str
    windows : tuple of str
        The windows, e.g. ``("24h", "7d")``.
    include_staff, include_bots, by_channel : bool
    data_end : str
        ISO time of the last message; roots count for window ``w`` only if ``created_at + w ≤
        data_end``.
    overall : dict
        Per window: ``{"roots", "exposed", "responded", "rate"}`` over the whole data.
    frame : pandas.DataFrame
        One row per period (× channel) × window: ``period_start``, [``channel_id``], ``window``,
        ``roots`` (all roots of the period), ``exposed`` (roots old enough), ``responded``
        (exposed roots with a response within the window), ``rate`` = responded ÷ exposed (NaN
        when nothing is exposed).
    notes : ThreadDataNotes
    """

    period: str
    windows: tuple[str, ...]
    include_staff: bool
    include_bots: bool
    by_channel: bool
    data_end: str
    overall: dict[str, dict[str, Any]]
    frame: pd.DataFrame = field(repr=False)
    notes: ThreadDataNotes = field(repr=False)
    title: str = "Response rate"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        parts = []
        for w in self.windows:
            o = self.overall[w]
            parts.append(
                f"{_fmt(o['rate'])} of threads got a reply from someone other than their author "
                f"within {w} ({o['responded']:,} of {o['exposed']:,} threads old enough to tell)"
            )
        return (
            "; ".join(parts)
            + f" ({_who(self.include_staff, self.include_bots)})."
            + self.notes.sentence()
        )

    def plot(self, ax: Any = None) -> Any:
        f = self.frame
        if self.by_channel:
            f = f.groupby(["period_start", "window"], as_index=False)[
                ["exposed", "responded"]
            ].sum()
            f["rate"] = f["responded"] / f["exposed"].where(f["exposed"] > 0)
        return _lineplot(
            f,
            "rate",
            "window",
            ax,
            f"Threads answered within the window, per {self.period}",
            "share of threads",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "windows": list(self.windows),
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "data_end": self.data_end,
            "overall": {w: {k: _plain(v) for k, v in o.items()} for w, o in self.overall.items()},
            **self.notes.as_dict(),
        }


def response_rate(
    community: Community,
    *,
    within: Sequence[str] = ("24h", "7d"),
    period: Period = "week",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ResponseRate:
    """Share of thread roots that got a reply from someone other than their author in time.

    For a window ``w`` (default 24 hours and 7 days) and a period, with the thread definitions of
    the module docstring:

    * ``exposed`` = roots created in the period with ``created_at + w ≤ data end``;
    * ``responded`` = exposed roots whose response time is ``≤ w``;
    * ``rate`` = ``responded / exposed``.

    Counts are aggregated on the engine. Follows the domain spec's *response rate* and CHAOSS's
    *Time to First Response* notion of a response (activity by someone other than the author,
    https://chaoss.community/kb/metric-time-to-first-response/).

    Parameters
    ----------
    community : Community
    within : sequence of str
        Windows as pandas Timedelta strings (``"24h"``, ``"7d"``, ``"90min"``).
    period : {"day", "week", "month"}
    by_channel : bool
        Also split by ``channel_id`` (forum topic).
    include_staff, include_bots : bool
        Whether staff and bot roots and replies count (default staff yes, bots no).
    reply_sources : sequence of str
        Which reply links count (``"explicit"``, ``"inferred"``).

    Returns
    -------
    ResponseRate
    """
    _check_period(period)
    windows = _window_seconds(within)
    kw = {
        "include_staff": include_staff,
        "include_bots": include_bots,
        "reply_sources": reply_sources,
    }
    end = community.last_message_at()
    end_s = int(end.timestamp())
    t = thread_table_expr(community, **kw)
    age = ibis.literal(end_s, "int64") - _seconds(t.created_at)
    metrics: dict[str, Any] = {"roots": t.count()}
    for i, (_, sec) in enumerate(windows.items()):
        exposed = age >= sec
        responded = exposed & (t.response_seconds <= sec).fill_null(False)
        metrics[f"exposed_{i}"] = exposed.cast("int64").sum()
        metrics[f"responded_{i}"] = responded.cast("int64").sum()
    keys = {"period_start": t.created_at.truncate(_TRUNCATE_UNIT[period]).cast("date")}
    if by_channel:
        keys["channel_id"] = t.channel_id
    agg = community.execute(t.group_by(**keys).aggregate(**metrics))
    agg["period_start"] = pd.to_datetime(agg["period_start"])
    threads = community.execute(t.select("n_skewed_replies", "response_clipped", "channel_id"))
    notes = _notes(community, threads, kw)
    index = _frame_index(_data_span(community, period), _channels(threads, by_channel))
    agg = agg.set_index(_keys(by_channel)).reindex(index, fill_value=0)
    rows = []
    for i, w in enumerate(windows):
        part = agg[["roots", f"exposed_{i}", f"responded_{i}"]].rename(
            columns={f"exposed_{i}": "exposed", f"responded_{i}": "responded"}
        )
        part = part.astype("int64").reset_index()
        part.insert(len(_keys(by_channel)), "window", w)
        rows.append(part)
    frame = pd.concat(rows, ignore_index=True)
    frame["rate"] = frame["responded"] / frame["exposed"].where(frame["exposed"] > 0)
    frame = frame.sort_values([*_keys(by_channel), "window"], kind="stable").reset_index(drop=True)
    overall = {}
    for w in windows:
        sub = frame[frame["window"] == w]
        exposed, responded = int(sub["exposed"].sum()), int(sub["responded"].sum())
        overall[w] = {
            "roots": int(sub["roots"].sum()),
            "exposed": exposed,
            "responded": responded,
            "rate": responded / exposed if exposed else float("nan"),
        }
    return ResponseRate(
        period=period,
        windows=tuple(windows),
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        data_end=end.isoformat(),
        overall=overall,
        frame=frame,
        notes=notes,
    )


# ---- per-thread summaries (pandas on the per-thread table) ---------------------------------------
def _per_period(
    frame: pd.DataFrame,
    index: Any,
    by_channel: bool,
    fn: Any,
) -> pd.DataFrame:
    keys = _keys(by_channel)
    rows = []
    groups = dict(iter(frame.groupby(keys, sort=True))) if len(frame) else {}
    empty = frame.iloc[0:0]
    for key in index:
        key_t = tuple(key) if by_channel else (key,)
        g = groups.get(key_t)
        record = dict(zip(keys, key_t, strict=True))
        for extra in fn(empty if g is None else g):
            rows.append({**record, **extra})
    return pd.DataFrame(rows)


def _threads_for(
    community: Community,
    period: Period,
    include_staff: bool,
    include_bots: bool,
    reply_sources: Sequence[str],
    with_depth: bool = False,
) -> tuple[pd.DataFrame, ThreadDataNotes]:
    _check_period(period)
    kw = {
        "include_staff": include_staff,
        "include_bots": include_bots,
        "reply_sources": reply_sources,
    }
    threads = thread_table(community, with_depth=with_depth, **kw)
    threads["period_start"] = period_floor(threads["created_at"], period)
    return threads, _notes(community, threads, kw)


@dataclass(frozen=True)
class TimeToFirstResponse(Result):
    """Minutes from a thread's root to its first response, by who responded; see
    :func:`time_to_first_response`.

    Attributes
    ----------
    period : str
    include_staff, include_bots, by_channel : bool
    overall : dict
        ``{"all" | "staff" | "member": {"n", "median_minutes", "p90_minutes", "mean_minutes"}}``
        over every responded thread.
    frame : pandas.DataFrame
        One row per period (× channel) × responder (``all``, ``staff``, ``member``): ``n``
        (threads with a first response of that kind), ``median_minutes``, ``p90_minutes``,
        ``mean_minutes`` (NaN when ``n`` is 0).
    notes : ThreadDataNotes
    """

    period: str
    include_staff: bool
    include_bots: bool
    by_channel: bool
    overall: dict[str, dict[str, Any]]
    frame: pd.DataFrame = field(repr=False)
    notes: ThreadDataNotes = field(repr=False)
    title: str = "Time to first response"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        a, s, m = (self.overall[k] for k in ("all", "staff", "member"))
        if not a["n"]:
            return "No thread got a reply from anyone but its author, so there is no response time."
        text = (
            f"Half of the {a['n']:,} answered threads got their first reply within "
            f"{a['median_minutes']:,.0f} minutes and 90% within {a['p90_minutes']:,.0f} minutes "
            f"({_who(self.include_staff, self.include_bots)})."
        )
        if s["n"] and m["n"]:
            text += (
                f" When staff answered first ({s['n']:,} threads) the median was "
                f"{s['median_minutes']:,.0f} minutes; when a member did ({m['n']:,} threads), "
                f"{m['median_minutes']:,.0f} minutes."
            )
        return text + self.notes.sentence()

    def plot(self, ax: Any = None) -> Any:
        f = self.frame
        if self.by_channel:
            raise NotImplementedError("plot the overall result (by_channel=False)")
        return _lineplot(
            f,
            "median_minutes",
            "responder",
            ax,
            f"Median minutes to first response, per {self.period}",
            "minutes",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "overall": {
                k: {kk: _plain(vv) for kk, vv in v.items()} for k, v in self.overall.items()
            },
            **self.notes.as_dict(),
        }


def _response_stats(g: pd.DataFrame) -> list[dict[str, Any]]:
    answered = g[g["response_seconds"].notna()]
    staff = answered["first_responder_is_staff"].astype(bool)
    out = []
    for who, part in (("all", answered), ("staff", answered[staff]), ("member", answered[~staff])):
        n, med, p90, mean = _quantiles(part["response_seconds"] / 60.0)
        out.append(
            {
                "responder": who,
                "n": n,
                "median_minutes": med,
                "p90_minutes": p90,
                "mean_minutes": mean,
            }
        )
    return out


def time_to_first_response(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> TimeToFirstResponse:
    """Median and 90th percentile of minutes to a thread's first response, by who responded.

    Per thread root with a response (see the module docstring): response time in minutes =
    ``max(0, first response − root) / 60``. Reported for all threads, for threads whose first
    responder is staff, and for those whose first responder is a member (not staff), per period
    of the root and overall. Threads without a response are not in the quantiles (see
    :func:`response_rate` for how many there are); there is no window, so recent periods may
    lack their slowest responses (right censoring).

    Reference: CHAOSS *Time to First Response*
    (https://chaoss.community/kb/metric-time-to-first-response/).

    Parameters
    ----------
    community : Community
    period : {"day", "week", "month"}
    by_channel : bool
    include_staff, include_bots : bool
        With ``include_staff=False`` staff replies are not responses, so the ``staff`` rows are
        empty and ``all`` = ``member``.
    reply_sources : sequence of str

    Returns
    -------
    TimeToFirstResponse
    """
    threads, notes = _threads_for(community, period, include_staff, include_bots, reply_sources)
    index = _frame_index(_data_span(community, period), _channels(threads, by_channel))
    frame = _per_period(threads, index, by_channel, _response_stats)
    frame["n"] = frame["n"].astype("int64")
    overall = {
        r["responder"]: {k: v for k, v in r.items() if k != "responder"}
        for r in _response_stats(threads)
    }
    return TimeToFirstResponse(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        overall=overall,
        frame=frame,
        notes=notes,
    )


@dataclass(frozen=True)
class DiscussionDepth(Result):
    """Replies, participants and reply-chain depth per thread; see :func:`discussion_depth`.

    Attributes
    ----------
    period : str
    include_staff, include_bots, by_channel : bool
    overall : dict
        ``threads`` and, for ``replies``, ``participants``, ``max_depth``: ``{"mean",
        "median"}`` over all threads.
    frame : pandas.DataFrame
        Per period (× channel): ``threads`` and ``mean_replies``, ``median_replies``,
        ``mean_participants``, ``median_participants``, ``mean_depth``, ``median_depth``.
    notes : ThreadDataNotes
    """

    period: str
    include_staff: bool
    include_bots: bool
    by_channel: bool
    overall: dict[str, Any]
    frame: pd.DataFrame = field(repr=False)
    notes: ThreadDataNotes = field(repr=False)
    title: str = "Discussion depth"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        o = self.overall
        if not o["threads"]:
            return "There are no threads, so there is no discussion depth to describe."
        return (
            f"The {o['threads']:,} threads had on average {o['replies']['mean']:.1f} replies "
            f"(median {o['replies']['median']:.0f}) from {o['participants']['mean']:.1f} "
            f"people, and their longest reply chain was {o['max_depth']['mean']:.1f} replies "
            f"deep on average ({_who(self.include_staff, self.include_bots)})."
            + self.notes.sentence()
        )

    def plot(self, ax: Any = None) -> Any:
        long = self.frame.melt(
            id_vars="period_start",
            value_vars=["mean_replies", "mean_participants", "mean_depth"],
            var_name="series",
        )
        return _lineplot(
            long, "value", "series", ax, f"Discussion depth per {self.period}", "per thread"
        )

    def to_dict(self) -> dict[str, Any]:
        o = {
            k: ({kk: _plain(vv) for kk, vv in v.items()} if isinstance(v, dict) else _plain(v))
            for k, v in self.overall.items()
        }
        return {
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "overall": o,
            **self.notes.as_dict(),
        }


def _depth_stats(g: pd.DataFrame) -> list[dict[str, Any]]:
    out: dict[str, Any] = {"threads": int(len(g))}
    for col, name in (
        ("n_replies", "replies"),
        ("participants", "participants"),
        ("max_depth", "depth"),
    ):
        values = g[col].astype(float)
        out[f"mean_{name}"] = float(values.mean()) if len(values) else float("nan")
        out[f"median_{name}"] = float(values.median()) if len(values) else float("nan")
    return [out]


def discussion_depth(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> DiscussionDepth:
    """Replies per thread, distinct participants per thread and maximum reply-chain depth.

    Per thread root (see the module docstring): ``n_replies`` (counted replies at any depth,
    self-replies included), ``participants`` (distinct authors including the root's) and
    ``max_depth`` (1 = only direct replies to the root, 0 = no reply); the mean and median of
    each over the threads whose root falls in the period. Threads without replies are included
    (they are the shallow end of the distribution).

    Reference: the domain spec's *discussion depth*; reply-tree depth as in conversation-tree
    studies of online discussions (Gómez, Kaltenbrunner & López, "Statistical analysis of the
    social network and discussion threads in Slashdot", WWW 2008).

    Returns
    -------
    DiscussionDepth
    """
    threads, notes = _threads_for(
        community, period, include_staff, include_bots, reply_sources, with_depth=True
    )
    index = _frame_index(_data_span(community, period), _channels(threads, by_channel))
    frame = _per_period(threads, index, by_channel, _depth_stats)
    frame["threads"] = frame["threads"].astype("int64")
    overall: dict[str, Any] = {"threads": int(len(threads))}
    for col, name in (
        ("n_replies", "replies"),
        ("participants", "participants"),
        ("max_depth", "max_depth"),
    ):
        values = threads[col].astype(float)
        overall[name] = {
            "mean": float(values.mean()) if len(values) else float("nan"),
            "median": float(values.median()) if len(values) else float("nan"),
        }
    return DiscussionDepth(
        period=period,
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        overall=overall,
        frame=frame,
        notes=notes,
    )


# ---- conversation duration -----------------------------------------------------------------------
def sessions_expr(
    community: Community,
    *,
    gap: str = "30min",
    include_staff: bool = True,
    include_bots: bool = False,
) -> Any:
    """Time-gap sessions per channel, one row per session (an ibis expression).

    Within each channel, the included non-service messages ordered by ``(created_at,
    message_id)`` are cut wherever the gap to the previous message exceeds ``gap``: a session is
    a maximal run of consecutive messages with gaps ``≤ gap``. Computed with window functions
    (``lag`` for the gap, a running sum of "new session" flags for the session number).

    Columns: ``channel_id``, ``session`` (1, 2, ... per channel), ``created_at`` (first
    message), ``last_at``, ``n_messages``, ``participants``, ``duration_seconds`` (last − first,
    whole seconds).
    """
    gap_s = int(pd.Timedelta(gap).total_seconds())
    if gap_s <= 0:
        raise ValueError(f"gap {gap!r} must be positive, e.g. '30min'")
    msgs = included_messages(community, include_staff=include_staff, include_bots=include_bots)
    order = ["created_at", "message_id"]
    w = ibis.window(group_by="channel_id", order_by=order)
    cw = ibis.cumulative_window(group_by="channel_id", order_by=order)
    m = msgs.mutate(t=_seconds(msgs.created_at))
    m = m.mutate(prev_t=m.t.lag().over(w))
    m = m.mutate(
        new=ibis.ifelse(m.prev_t.isnull() | ((m.t - m.prev_t) > gap_s), 1, 0).cast("int64")
    )
    m = m.mutate(session=m.new.sum().over(cw))
    s = m.group_by(["channel_id", "session"]).aggregate(
        created_at=m.created_at.min(),
        last_at=m.created_at.max(),
        n_messages=m.count(),
        participants=m.member_id.nunique(),
        first_t=m.t.min(),
        last_t=m.t.max(),
    )
    return s.select(
        "channel_id",
        "session",
        "created_at",
        "last_at",
        "n_messages",
        "participants",
        duration_seconds=s.last_t - s.first_t,
    )


@dataclass(frozen=True)
class ConversationDuration(Result):
    """How long conversations with ≥ 2 participants last; see :func:`conversation_duration`.

    Attributes
    ----------
    period : str
    mode : str
        ``"threads"`` (reply trees) or ``"sessions"`` (time-gap sessions per channel).
    gap : str or None
        The session gap (``mode == "sessions"``).
    include_staff, include_bots, by_channel : bool
    overall : dict
        ``conversations`` (all), ``multi`` (≥ 2 participants) and ``median_minutes``,
        ``p90_minutes``, ``mean_minutes`` of the multi-participant ones.
    frame : pandas.DataFrame
        Per period (× channel): ``conversations``, ``multi`` and the duration statistics.
    """

    period: str
    mode: str
    gap: str | None
    include_staff: bool
    include_bots: bool
    by_channel: bool
    overall: dict[str, Any]
    frame: pd.DataFrame = field(repr=False)
    title: str = "Conversation duration"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        o = self.overall
        kind = "reply threads" if self.mode == "threads" else f"chat sessions (gap {self.gap})"
        if not o["multi"]:
            return f"No {kind} had two or more participants, so no conversation to time."
        return (
            f"Of {o['conversations']:,} {kind}, {o['multi']:,} had two or more people; those "
            f"lasted a median {o['median_minutes']:,.0f} minutes from first to last message "
            f"(90% within {o['p90_minutes']:,.0f} minutes; "
            f"{_who(self.include_staff, self.include_bots)})."
        )

    def plot(self, ax: Any = None) -> Any:
        return _lineplot(
            self.frame,
            "median_minutes",
            None,
            ax,
            f"Median conversation duration per {self.period} ({self.mode})",
            "minutes",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "mode": self.mode,
            "gap": self.gap,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "overall": {k: _plain(v) for k, v in self.overall.items()},
        }


def _duration_stats(g: pd.DataFrame) -> list[dict[str, Any]]:
    multi = g[g["participants"] >= 2]
    n, med, p90, mean = _quantiles(multi["duration_seconds"] / 60.0)
    return [
        {
            "conversations": int(len(g)),
            "multi": n,
            "median_minutes": med,
            "p90_minutes": p90,
            "mean_minutes": mean,
        }
    ]


def conversation_duration(
    community: Community,
    *,
    period: Period = "week",
    mode: Literal["auto", "threads", "sessions"] = "auto",
    gap: str = "30min",
    by_channel: bool = False,
    include_staff: bool = True,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ConversationDuration:
    """Duration (last − first message) of conversations with at least two participants.

    Conversations are either

    * ``"threads"``: reply trees (module docstring); duration = latest − earliest message of
      the thread, for threads with ≥ 2 distinct participants; or
    * ``"sessions"``: for chats without reply links, time-gap sessions per channel
      (:func:`sessions_expr`, default gap 30 minutes); duration = last − first message of
      sessions with ≥ 2 distinct participants.

    ``mode="auto"`` uses threads when the dataset's provenance says ``messages.reply_to_id`` is
    ``observed`` and sessions otherwise. Each conversation belongs to the period of its first
    message; the median, 90th percentile and mean are in minutes.

    Reference: the domain spec's *conversation duration*; the 30-minute inactivity gap is the
    usual session timeout of web analytics (e.g. Google Analytics sessions) applied to chat
    streams.

    Returns
    -------
    ConversationDuration
    """
    _check_period(period)
    if mode == "auto":
        mode = (
            "threads"
            if community.provenance("messages.reply_to_id") == "observed"
            else ("sessions")
        )
    if mode == "threads":
        convs, _ = _threads_for(community, period, include_staff, include_bots, reply_sources)
        used_gap = None
    elif mode == "sessions":
        convs = community.execute(
            sessions_expr(
                community, gap=gap, include_staff=include_staff, include_bots=include_bots
            )
        )
        convs["period_start"] = period_floor(convs["created_at"], period)
        used_gap = gap
    else:
        raise ValueError(f"mode must be 'auto', 'threads' or 'sessions', got {mode!r}")
    index = _frame_index(_data_span(community, period), _channels(convs, by_channel))
    frame = _per_period(convs, index, by_channel, _duration_stats)
    for col in ("conversations", "multi"):
        frame[col] = frame[col].astype("int64")
    overall = _duration_stats(convs)[0]
    return ConversationDuration(
        period=period,
        mode=mode,
        gap=used_gap,
        include_staff=include_staff,
        include_bots=include_bots,
        by_channel=by_channel,
        overall=overall,
        frame=frame,
    )


# ---- shares --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShareSeries(Result):
    """A share (numerator ÷ denominator) per period and overall.

    Attributes
    ----------
    metric : str
        ``member_initiated_share``, ``member_to_member_share`` or ``support_deflection``.
    definition : str
        What is counted, in words.
    period : str
    include_bots, by_channel : bool
        (Staff are always included: these shares are about staff versus members.)
    numerator, denominator : int
        Overall counts; ``share`` = numerator ÷ denominator (NaN if 0).
    frame : pandas.DataFrame
        Per period (× channel): ``numerator``, ``denominator``, ``share``.
    """

    metric: str
    definition: str
    period: str
    include_bots: bool
    by_channel: bool
    numerator: int
    denominator: int
    share: float
    frame: pd.DataFrame = field(repr=False)
    include_staff: bool = True
    title: str = "Share"

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        if not self.denominator:
            return f"Nothing to count for {self.metric.replace('_', ' ')}."
        bots = "including bots" if self.include_bots else "excluding bots"
        return (
            f"{_fmt(self.share)} {self.definition} ({self.numerator:,} of "
            f"{self.denominator:,}; {bots})."
        )

    def plot(self, ax: Any = None) -> Any:
        f = self.frame
        if self.by_channel:
            f = f.groupby("period_start", as_index=False)[["numerator", "denominator"]].sum()
            f["share"] = f["numerator"] / f["denominator"].where(f["denominator"] > 0)
        return _lineplot(
            f, "share", None, ax, f"{self.metric.replace('_', ' ')} per {self.period}", "share"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "period": self.period,
            "include_staff": self.include_staff,
            "include_bots": self.include_bots,
            "by_channel": self.by_channel,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "share": _plain(self.share),
        }


def _share_result(
    metric: str,
    definition: str,
    flags: pd.DataFrame,
    index: Any,
    period: str,
    include_bots: bool,
    by_channel: bool,
    title: str,
) -> ShareSeries:
    """``flags``: one row per unit with ``period_start``, [``channel_id``], ``num`` (0/1)."""
    keys = _keys(by_channel)
    if len(flags):
        agg = flags.groupby(keys).agg(numerator=("num", "sum"), denominator=("num", "size"))
    else:
        agg = pd.DataFrame(columns=["numerator", "denominator"])
    agg = agg.reindex(index, fill_value=0).astype("int64").reset_index()
    agg["share"] = agg["numerator"] / agg["denominator"].where(agg["denominator"] > 0)
    num, den = int(agg["numerator"].sum()), int(agg["denominator"].sum())
    return ShareSeries(
        metric=metric,
        definition=definition,
        period=period,
        include_bots=include_bots,
        by_channel=by_channel,
        numerator=num,
        denominator=den,
        share=num / den if den else float("nan"),
        frame=agg,
        title=title,
    )


def member_initiated_share(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
) -> ShareSeries:
    """Share of thread roots started by members who are not staff.

    ``numerator`` = roots (module docstring) whose author is not staff; ``denominator`` = all
    roots, per period of the root. Staff are always included (the share is about them).

    Reference: the domain spec's *member-initiated activity*; CHAOSS *Conversations*/
    *Contributors* separate community from maintainer-initiated work.
    """
    threads, _ = _threads_for(community, period, True, include_bots, ("explicit",))
    flags = threads.assign(num=(~threads["root_is_staff"].astype(bool)).astype("int64"))
    index = _frame_index(_data_span(community, period), _channels(threads, by_channel))
    return _share_result(
        "member_initiated_share",
        "of threads were started by members rather than staff",
        flags,
        index,
        period,
        include_bots,
        by_channel,
        "Member-initiated threads",
    )


def support_deflection(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ShareSeries:
    """Among thread roots that got a response, the share whose first response came from a member.

    ``denominator`` = roots with a response (module docstring: a reply by someone other than the
    root's author, any time); ``numerator`` = those whose first responder is not staff. Per
    period of the root. A root may be written by staff (announcements answered by members count).

    Reference: the domain spec's *support deflection*: questions the community answered so the
    support team did not have to (the "case deflection" notion of customer-support analytics).
    """
    threads, _ = _threads_for(community, period, True, include_bots, reply_sources)
    answered = threads[threads["response_seconds"].notna()]
    flags = answered.assign(
        num=(~answered["first_responder_is_staff"].astype(bool)).astype("int64")
    )
    index = _frame_index(_data_span(community, period), _channels(threads, by_channel))
    return _share_result(
        "support_deflection",
        "of answered threads got their first answer from a member rather than staff",
        flags,
        index,
        period,
        include_bots,
        by_channel,
        "Support deflection",
    )


def member_to_member_expr(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> Any:
    """Per period (× channel): ``numerator`` and ``denominator`` of
    :func:`member_to_member_share`, aggregated on the engine."""
    msgs = included_messages(community, include_staff=True, include_bots=include_bots)
    replies = msgs.filter(msgs.reply_to_id.notnull() & msgs.reply_source.isin(list(reply_sources)))
    parents = msgs.select(p_id=msgs.message_id, p_member=msgs.member_id, p_staff=msgs.is_staff)
    j = replies.inner_join(parents, replies.reply_to_id == parents.p_id)
    j = j.filter(j.member_id != j.p_member)
    keys = {"period_start": j.created_at.truncate(_TRUNCATE_UNIT[period]).cast("date")}
    if by_channel:
        keys["channel_id"] = j.channel_id
    both_members = (~j.is_staff & ~j.p_staff).cast("int64")
    return j.group_by(**keys).aggregate(numerator=both_members.sum(), denominator=j.count())


def member_to_member_share(
    community: Community,
    *,
    period: Period = "week",
    by_channel: bool = False,
    include_bots: bool = False,
    reply_sources: Sequence[str] = ("explicit",),
) -> ShareSeries:
    """Share of replies in which neither the replier nor the author replied to is staff.

    ``denominator`` = counted replies (module docstring) whose parent message is in the data and
    written by an included account other than the replier (self-replies are not talk between
    people); ``numerator`` = those where neither side is staff. Per period of the reply,
    aggregated on the engine.

    Reference: the domain spec's *member-to-member talk*; the share of member–member edges in
    the reply network (see :mod:`analysis.network`).
    """
    _check_period(period)
    agg = community.execute(
        member_to_member_expr(
            community,
            period=period,
            by_channel=by_channel,
            include_bots=include_bots,
            reply_sources=reply_sources,
        )
    )
    agg["period_start"] = pd.to_datetime(agg["period_start"])
    channels = _channels(agg, by_channel)
    index = _frame_index(_data_span(community, period), channels)
    keys = _keys(by_channel)
    agg = agg.set_index(keys).reindex(index, fill_value=0).astype("int64").reset_index()
    agg["share"] = agg["numerator"] / agg["denominator"].where(agg["denominator"] > 0)
    num, den = int(agg["numerator"].sum()), int(agg["denominator"].sum())
    return ShareSeries(
        metric="member_to_member_share",
        definition="of replies were between two members, with no staff on either side",
        period=period,
        include_bots=include_bots,
        by_channel=by_channel,
        numerator=num,
        denominator=den,
        share=num / den if den else float("nan"),
        frame=agg,
        title="Member-to-member replies",
    )
