"""Reply inference for chats without reply links (issue 7).

Many chats (Telegram groups where people just type, IRC-like channels, Slack channels without
threads) carry no explicit reply links, so response times, threads and interaction networks
would see only isolated messages. :func:`infer_replies` links each such message to the message
it most likely answers, or marks it as the start of a new conversation, with a small model:

Model
    A softmax over candidates in which every message picks itself (new conversation) or one of
    the ``K`` previous messages of its channel within a time horizon; each candidate's score is
    a linear function of its features plus one small hidden layer of tanh units (``kind =
    "mlp"``, shipped; a seed ensemble of such scorers, ``kind = "mlp_ensemble"``, and a plain
    conditional logit, ``kind = "conditional_logit"``, are also supported).
    Candidate features: distance in messages and minutes, whether the message starts by
    addressing the candidate's author (``nick: ...``) and whether the candidate is that
    author's latest message, whether the candidate addressed or mentioned this author, same
    author, speaker turns (latest message by someone else; whom each author last addressed),
    questions, shared content words, the candidate's length and greeting words, and -- on
    every candidate, for the hidden layer to combine with the rest -- the message's own
    length, greeting words and whether its author is new; the self candidate has its own
    features (gap since the previous message, whether the author is new, whether the message
    addresses anyone, asks, greets). Definitions in :mod:`analysis.ingest._reply_features`,
    the model in :mod:`analysis.ingest._reply_model`. It follows the link-scoring models
    (linear and feed-forward) of Kummerfeld et al. (2019), "A Large-Scale Corpus for
    Conversation Disentanglement", ACL.
Parameters
    Fitted by ``scripts/train_reply_model.py`` on the hand-annotated Ubuntu IRC training logs of
    that corpus (``shared/data/irc-disentanglement-train``; CC BY 4.0), tuned (L2 penalty,
    ``K``, horizon, new-conversation threshold, early stopping of the L-BFGS fit) on its
    development logs, shipped as ``analysis/ingest/reply_model.json`` with the development
    precision / recall / F1 of links in its ``metadata`` (:func:`score_links`, scored as in
    ``shared/data/README.md``).

Inferred links are marked ``reply_source = "inferred"``; metrics that use reply links can then
say whether they include inferred replies (filter on ``reply_source``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.ingest._irc_log import IrcLog, IrcLogError, LinkScores, read_irc_log, score_links
from analysis.ingest._reply_features import FEATURE_NAMES, NameTable
from analysis.ingest._reply_model import (
    ReplyModel,
    ReplyModelError,
    fit_conditional_logit,
    fit_mlp,
    link_records,
    mlp_loss,
)

__all__ = [
    "FEATURE_NAMES",
    "IrcLog",
    "IrcLogError",
    "LinkScores",
    "NameTable",
    "ReplyInferenceError",
    "ReplyModel",
    "ReplyModelError",
    "default_model",
    "describe_reply_sources",
    "fit_conditional_logit",
    "fit_mlp",
    "infer_replies",
    "irc_inputs",
    "link_records",
    "load_irc_logs",
    "mlp_loss",
    "predict_irc_links",
    "read_irc_log",
    "score_irc_logs",
    "score_links",
]


class ReplyInferenceError(ValueError):
    """The messages (or members) given to :func:`infer_replies` break the data contract."""


# --------------------------------------------------------------------------- IRC logs


def irc_inputs(log: IrcLog) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """``(minutes, speaker codes, texts, names)`` of an IRC log for :func:`link_records`.

    Speaker codes number the nicks by first appearance (-1 for system lines); every nick that
    speaks in the log is an addressable name (lower-cased).
    """
    codes: dict[str, int] = {}
    speaker = np.full(len(log), -1, dtype=np.int64)
    for i, nick in enumerate(log.speakers):
        if nick is not None and not log.is_system[i]:
            speaker[i] = codes.setdefault(nick, len(codes))
    names: dict[str, int] = {}
    for nick, code in codes.items():
        names.setdefault(nick.lower(), code)
    return log.times / 60.0, speaker, log.texts, names


def predict_irc_links(log: IrcLog, model: ReplyModel | None = None, start: int = 0) -> pd.DataFrame:
    """Predicted links ``parent``, ``child`` (one per message from ``start`` on) of an IRC log.

    System lines and messages the model starts a conversation with link to themselves.
    """
    model = model if model is not None else default_model()
    minutes, speaker, texts, names = irc_inputs(log)
    rows = np.arange(start, len(log), dtype=np.int64)
    parent = link_records(minutes, speaker, texts, names, model, rows=rows)
    return pd.DataFrame({"parent": parent[rows], "child": rows})


def load_irc_logs(folder: str | os.PathLike) -> list[IrcLog]:
    """Every ``*.raw.txt`` of a folder with its ``*.annotation.txt``, sorted by file name."""
    folder = Path(folder)
    raws = sorted(folder.glob("*.raw.txt"))
    if not raws:
        raise FileNotFoundError(f"{folder}: no *.raw.txt IRC logs.")
    logs = []
    for raw in raws:
        ann = raw.with_name(raw.name[: -len(".raw.txt")] + ".annotation.txt")
        logs.append(read_irc_log(raw, ann if ann.is_file() else None))
    return logs


def score_irc_logs(
    logs: Sequence[IrcLog],
    predict: Any = None,
    *,
    model: ReplyModel | None = None,
    start: int = 1000,
) -> LinkScores:
    """Pooled link precision / recall / F1 over annotated logs (links with child >= ``start``).

    ``predict(log) -> DataFrame[parent, child]`` defaults to :func:`predict_irc_links` with
    ``model``. Links of different logs never match each other (each log is offset).
    """
    predict = predict if predict is not None else (lambda log: predict_irc_links(log, model))
    pred, gold = [], []
    offset = 0
    for log in logs:
        if log.links is None:
            raise IrcLogError(f"{log.source}: no annotation file to score against.")
        p = pd.DataFrame(predict(log))
        p = p[p["child"] >= start]
        g = log.links[log.links["child"] >= start]
        pred.append(p[["parent", "child"]] + offset)
        gold.append(g[["parent", "child"]] + offset)
        offset += len(log) + 1
    return score_links(pd.concat(pred), pd.concat(gold), start=start)


_DEFAULT: list[ReplyModel] = []


def default_model() -> ReplyModel:
    """The shipped model (``analysis/ingest/reply_model.json``), read once."""
    if not _DEFAULT:
        _DEFAULT.append(ReplyModel.load())
    return _DEFAULT[0]


# --------------------------------------------------------------------------- canonical tables

_REQUIRED = ("message_id", "channel_id", "member_id", "created_at", "reply_to_id", "reply_source")


def _check_messages(messages: pd.DataFrame) -> None:
    missing = [c for c in (*_REQUIRED, "thread_id") if c not in messages.columns]
    if missing:
        raise ReplyInferenceError(
            f"messages: missing column(s) {missing}; infer_replies needs the canonical messages "
            f"table (analysis.schema.MESSAGES) with at least {[*_REQUIRED, 'thread_id']}."
        )
    created = messages["created_at"]
    if not isinstance(created.dtype, pd.DatetimeTZDtype):
        raise ReplyInferenceError(
            f"messages.created_at: dtype {created.dtype}; expected timezone-aware UTC timestamps."
        )
    bad = created.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReplyInferenceError(
            f"messages row {row} (message_id {messages['message_id'].iloc[row]!r}): created_at "
            f"is missing; expected a UTC timestamp."
        )
    dup = messages["message_id"].duplicated()
    if dup.any():
        first = messages["message_id"][dup].iloc[0]
        raise ReplyInferenceError(f"messages.message_id: {first!r} occurs more than once.")
    sources = set(messages["reply_source"].dropna().unique()) - {"explicit", "inferred", "none"}
    if sources or messages["reply_source"].isna().any():
        raise ReplyInferenceError(
            f"messages.reply_source: values {sorted(map(str, sources)) or [None]}; expected "
            f"'explicit', 'inferred' or 'none'."
        )


def _names(members: pd.DataFrame | None, codes: Mapping[Any, int]) -> dict[str, int]:
    """Lower-cased display name -> member code; names shared by several members are dropped."""
    if members is None or members.empty or "display_name" not in members.columns:
        return {}
    if "member_id" not in members.columns:
        raise ReplyInferenceError(
            f"members: no member_id column (columns {list(members.columns)}); expected the "
            f"canonical members table."
        )
    named = members[["member_id", "display_name"]].dropna()
    named = named[named["member_id"].isin(list(codes))]
    out: dict[str, int] = {}
    ambiguous: set[str] = set()
    for mid, name in zip(named["member_id"], named["display_name"], strict=True):
        key = " ".join(str(name).lower().split()).lstrip("@")
        if not key:
            continue
        if key in out and out[key] != codes[mid]:
            ambiguous.add(key)
        out.setdefault(key, codes[mid])
    for key in ambiguous:
        del out[key]
    return out


def infer_replies(
    messages: pd.DataFrame,
    members: pd.DataFrame | None = None,
    *,
    model: ReplyModel | None = None,
    channels_with_replies: bool = False,
) -> pd.DataFrame:
    """Link messages without reply links to the message each most likely answers.

    Parameters
    ----------
    messages : pandas.DataFrame
        Canonical ``messages`` (:data:`analysis.schema.MESSAGES`): ``message_id``,
        ``channel_id``, ``member_id``, ``created_at`` (UTC), ``reply_to_id``,
        ``reply_source``, ``thread_id``, optionally ``kind`` and ``text``.
    members : pandas.DataFrame, optional
        Canonical ``members``; a member's ``display_name`` is the name others address them by
        (``name: ...``, ``@name``, or the name anywhere in a message). Names shared by several
        members are ignored. Without it, only timing, turns and word overlap are used.
    model : ReplyModel, optional
        Defaults to the shipped model (``analysis/ingest/reply_model.json``).
    channels_with_replies : bool
        By default channels where any message has an explicit reply link are left alone (their
        unlinked messages are genuine conversation starts). With True, their messages without a
        link are inferred too (explicit links are kept and serve as context).

    Returns
    -------
    pandas.DataFrame
        The same rows, columns and order. In the channels processed, every message with
        ``reply_source == "none"`` that is not a service message (``kind == "service"``) gets
        ``reply_to_id`` = the chosen earlier message and ``reply_source = "inferred"``, or keeps
        no link when the model prefers "new conversation"; ``thread_id`` becomes the root of
        the message's reply chain (for a chain ending in an explicit reply to a message outside
        the data, that message's ``thread_id``). A message already marked ``inferred`` is
        inferred again. Service messages are never linked and never targets; their
        ``thread_id`` is kept. Channels not processed are returned unchanged.

    Notes
    -----
    Candidates are the model's ``k_max`` previous non-service messages of the same channel
    within ``horizon_minutes``; messages are ordered by ``created_at`` then ``message_id``, so
    the result does not depend on row order and is deterministic. Link precision / recall / F1
    on hand-annotated IRC logs are in ``model.metadata["dev"]`` (see the module docstring).

    Raises
    ------
    ReplyInferenceError
        A required column is missing, ``created_at`` is not a UTC timestamp or is missing,
        ``message_id`` repeats, or ``reply_source`` has an unknown value.
    """
    _check_messages(messages)
    out = messages.copy()
    if out.empty:
        return out
    model = model if model is not None else default_model()
    member_codes, member_uniques = pd.factorize(out["member_id"], sort=True)
    codes = {m: c for c, m in enumerate(member_uniques)}
    names = NameTable.build(_names(members, codes))
    id_rank = pd.factorize(out["message_id"].astype(str), sort=True)[0]

    mids = out["message_id"].astype(str).to_numpy(dtype=object)
    source = out["reply_source"].to_numpy(dtype=object)
    reply_to = out["reply_to_id"].to_numpy(dtype=object).copy()
    thread = out["thread_id"].to_numpy(dtype=object).copy()
    is_service = (
        (out["kind"] == "service").to_numpy(dtype=bool)
        if "kind" in out.columns
        else np.zeros(len(out), dtype=bool)
    )
    texts = out["text"].to_numpy(dtype=object) if "text" in out.columns else None
    ns = out["created_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    explicit = source == "explicit"
    new_source = source.copy()

    chan_code, _ = pd.factorize(out["channel_id"].astype(str), sort=True)
    n_chan = int(chan_code.max()) + 1
    has_explicit = np.bincount(chan_code, weights=explicit, minlength=n_chan) > 0
    has_other = np.bincount(chan_code, weights=~explicit, minlength=n_chan) > 0
    process = has_other & (channels_with_replies | ~has_explicit)
    selected = np.flatnonzero(process[chan_code])
    if not len(selected):
        return out
    # all processed channels in one pass, each contiguous and in time order
    order = selected[np.lexsort((id_rank[selected], ns[selected], chan_code[selected]))]
    speaker = np.where(is_service[order], -1, member_codes[order]).astype(np.int64)
    minutes = (ns[order] - ns[order].min()) / 6e10
    chan_texts = texts[order] if texts is not None else np.full(len(order), None, dtype=object)
    predicted = link_records(minutes, speaker, chan_texts, names, model, channel=chan_code[order])
    chan_ids = mids[order]
    chan_explicit = explicit[order]
    chan_service = is_service[order]
    here = np.arange(len(order), dtype=np.int64)
    parent = np.where(chan_service, here, predicted)
    if chan_explicit.any():
        targets = pd.Index(chan_ids).get_indexer(reply_to[order][chan_explicit])
        rows_e = here[chan_explicit]
        parent[rows_e] = np.where((targets >= 0) & (targets != rows_e), targets, rows_e)
    root = parent.copy()
    for _ in range(64):  # pointer jumping; explicit cycles (invalid data) stop here
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    inferred_rows = ~chan_explicit & ~chan_service
    linked = inferred_rows & (parent != here)
    chan_reply = reply_to[order]
    chan_reply[inferred_rows] = None
    chan_reply[linked] = chan_ids[parent[linked]]
    reply_to[order] = chan_reply
    chan_source = new_source[order]
    chan_source[inferred_rows] = "none"
    chan_source[linked] = "inferred"
    new_source[order] = chan_source
    root_rows = order[root]
    chan_thread = np.where(explicit[root_rows], thread[root_rows], mids[root_rows])
    thread[order] = np.where(chan_service, thread[order], chan_thread)
    out["reply_to_id"] = pd.Series(reply_to, index=out.index, dtype=object)
    out["reply_source"] = pd.Series(new_source, index=out.index, dtype=object)
    out["thread_id"] = pd.Series(thread, index=out.index, dtype=object)
    return out


def describe_reply_sources(messages: pd.DataFrame, model: ReplyModel | None = None) -> str:
    """One sentence a metric can print to say whether its reply links include inferred ones.

    Counts ``reply_source`` values of the messages a metric used; when some are ``inferred``
    it adds the reply model's development-set link F1 (``model.metadata["dev"]``, default the
    shipped model), e.g. "Reply links: 120 explicit, 3,400 inferred from timing, turns and
    names (link F1 0.67 on hand-annotated IRC chats)."
    """
    if "reply_source" not in messages.columns:
        raise ReplyInferenceError(
            f"messages: no reply_source column (columns {list(messages.columns)})."
        )
    counts = messages["reply_source"].value_counts()
    explicit = int(counts.get("explicit", 0))
    inferred = int(counts.get("inferred", 0))
    if not inferred:
        return f"Reply links: {explicit:,} explicit, none inferred."
    model = model if model is not None else default_model()
    f1 = model.metadata.get("dev", {}).get("f1")
    quality = f" (link F1 {f1:.2f} on hand-annotated IRC chats)" if f1 is not None else ""
    return (
        f"Reply links: {explicit:,} explicit, {inferred:,} inferred from timing, turns and "
        f"names{quality}."
    )
