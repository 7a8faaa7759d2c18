"""Candidate replies and their features, vectorised (part of :mod:`.reply_inference`).

Every chat message ``i`` chooses one of ``K + 1`` candidates: slot 0 is the message itself (it
starts a new conversation), slot ``k`` (1..K) is message ``i - k``. A candidate is *valid* when
neither message is a system/service line and the time gap is within the horizon. The features
follow the linear model of Kummerfeld et al. (2019, ACL, "A Large-Scale Corpus for Conversation
Disentanglement", section 5: distance and time between the messages, whether a message names
the other's author, same author, questions, word overlap, how recently authors spoke) and are
all computed with numpy over blocks of messages (no per-pair Python code).

Definitions (``s(m)`` = author of m; *words* = lower-cased runs of characters other than
white space and ``:,;.!?()[]{}"'`<>*@``, so ``@Bob,`` and ``bob:`` are the word ``bob``;
``addr(m)`` = the member whose (one- or several-word) name the words of m start with;
``mentions(m)`` = members whose one-word name is any word of m, plus addr(m); "latest" = no
later message of the same kind before ``i``)

Self slot (conversation start), zero for every other slot:
    ``self`` 1; ``self_log_gap`` log(1 + minutes since the previous chat message);
    ``self_log_own_gap`` log(1 + minutes since the author's previous message, capped at the
    horizon); ``self_new_speaker`` the author has not spoken within the horizon;
    ``self_addresses`` addr(i) exists; ``self_mentions`` mentions(i) non-empty;
    ``self_question`` "?" in i; ``self_opener`` i contains a greeting / request word
    (hi, hello, hey, anyone, anybody, someone, somebody, help); ``self_addressed_recently``
    someone addressed s(i) within the horizon; ``self_log_len`` log(1 + characters).
Candidate ``j = i - k``, zero in slot 0:
    ``dist_2``, ``dist_3_4``, ``dist_5_8``, ``dist_9_16``, ``dist_17_32``, ``dist_33_`` distance
    bins (distance 1 is the reference); ``log_gap`` log(1 + minutes between j and i);
    ``gap_0`` same minute; ``same_speaker`` s(j) = s(i); ``addr_tgt`` addr(i) = s(j);
    ``addr_tgt_latest`` addr(i) = s(j) and j is s(j)'s latest message; ``addr_other`` addr(i)
    exists and is not s(j); ``mention_tgt`` s(j) in mentions(i), s(j) != s(i);
    ``tgt_addr_src`` addr(j) = s(i) != s(j); ``tgt_addr_src_latest`` ... and j is the latest
    message addressing s(i);
    ``tgt_mention_src`` s(i) in mentions(j); ``tgt_addr_other`` addr(j) exists, is not s(i);
    ``tgt_latest`` j is s(j)'s latest message (s(j) != s(i)); ``same_latest`` j is s(i)'s own
    previous message; ``tgt_prev_other`` j is the latest message by anyone but s(i);
    ``partner_src`` s(j) is the member s(i) last addressed before i; ``partner_tgt`` s(i) is
    the member s(j) last addressed up to j; ``src_spoke_between`` s(i) spoke after j;
    ``tgt_question`` "?" in j and s(j) != s(i); ``src_question`` "?" in i;
    ``overlap_1``, ``overlap_2``, ``overlap_3_`` shared content words (words of 3+ letters
    outside a stop list and the names; each distinct word is numbered by first appearance and
    sets bit ``number mod 128`` of its message, so two words sharing a bit can add one);
    ``src_log_len``, ``src_opener``, ``src_new_speaker`` the source's ``self_log_len``,
    ``self_opener``, ``self_new_speaker`` repeated on every candidate (the same for all of a
    message's candidates, so only the hidden layer can use them: they let it weigh the other
    features by what the message is, e.g. a short "thanks" answers the latest helper, a
    newcomer's long question starts a conversation; Kummerfeld et al.'s feed-forward model
    likewise sees both messages' properties in every pair); ``tgt_log_len`` log(1 + characters
    of j); ``tgt_opener`` j contains a greeting / request word (as ``self_opener``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.ingest._reply_text import NameTable, scan_texts

__all__ = [
    "FEATURE_NAMES",
    "ChatRecords",
    "NameTable",
    "candidate_features",
    "PAIR_FEATURES",
    "SELF_FEATURES",
    "candidate_scores",
    "prepare_records",
    "stack_features",
]

FEATURE_NAMES: tuple[str, ...] = (
    "self",
    "self_log_gap",
    "self_log_own_gap",
    "self_new_speaker",
    "self_addresses",
    "self_mentions",
    "self_question",
    "self_opener",
    "self_addressed_recently",
    "self_log_len",
    "dist_2",
    "dist_3_4",
    "dist_5_8",
    "dist_9_16",
    "dist_17_32",
    "dist_33_",
    "log_gap",
    "gap_0",
    "same_speaker",
    "addr_tgt",
    "addr_tgt_latest",
    "addr_other",
    "mention_tgt",
    "tgt_addr_src",
    "tgt_addr_src_latest",
    "tgt_mention_src",
    "tgt_addr_other",
    "tgt_latest",
    "same_latest",
    "tgt_prev_other",
    "partner_src",
    "partner_tgt",
    "src_spoke_between",
    "tgt_question",
    "src_question",
    "overlap_1",
    "overlap_2",
    "overlap_3_",
    "src_log_len",
    "src_opener",
    "src_new_speaker",
    "tgt_log_len",
    "tgt_opener",
)


@dataclass(frozen=True)
class ChatRecords:
    """Per-message arrays of one chat (a channel), in time order, ready for featurisation.

    ``speaker`` codes are >= 0 for chat messages and -1 for system/service lines; ``addr`` is the
    code of the member addressed at the start of the message (-1 none). The remaining arrays
    are the derived per-message facts the features need (see the module docstring).
    """

    minutes: np.ndarray
    channel: np.ndarray
    speaker: np.ndarray
    is_system: np.ndarray
    addr: np.ndarray
    mention_keys: np.ndarray
    n_codes: int
    question: np.ndarray
    opener: np.ndarray
    has_mention: np.ndarray
    log_len: np.ndarray
    words: np.ndarray
    prev_same: np.ndarray
    next_same: np.ndarray
    next_addr_same: np.ndarray
    last_addressed: np.ndarray
    partner_prev: np.ndarray
    partner_incl: np.ndarray
    prev_other: np.ndarray
    prev_chat: np.ndarray

    def __len__(self) -> int:
        return len(self.minutes)


def _prev_next_by_key(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position with ``key >= 0``: previous / next position with the same key."""
    n = len(key)
    prev = np.full(n, -1, dtype=np.int64)
    nxt = np.full(n, n, dtype=np.int64)
    pos = np.flatnonzero(key >= 0)
    if len(pos) == 0:
        return prev, nxt
    order = pos[np.argsort(key[pos], kind="stable")]
    same = key[order[1:]] == key[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    nxt[order[:-1][same]] = order[1:][same]
    return prev, nxt


def prepare_records(
    minutes: np.ndarray,
    speaker: np.ndarray,
    texts: Sequence[Any],
    names: Mapping[str, int] | NameTable,
    channel: np.ndarray | None = None,
) -> ChatRecords:
    """Derive the per-message facts of one chat, or of several chats laid end to end.

    Parameters
    ----------
    minutes : numpy.ndarray
        Message times in minutes (float64, non-decreasing).
    speaker : numpy.ndarray
        Integer author codes (>= 0); -1 marks system/service lines.
    texts : sequence
        Message texts (None allowed).
    names : mapping or NameTable
        Addressable name -> author code (nicks, display names); matched word by word,
        case-insensitively (:func:`._reply_text.split_words`).
    channel : numpy.ndarray, optional
        Integer chat codes when several chats are processed at once; each chat's messages must
        be contiguous (and in time order). Nothing links or counts across chats.
    """
    minutes = np.asarray(minutes, dtype=np.float64)
    speaker = np.asarray(speaker, dtype=np.int64)
    n = len(minutes)
    chan = np.zeros(n, dtype=np.int64) if channel is None else np.asarray(channel, np.int64)
    is_system = speaker < 0
    table = NameTable.build(names)
    addr, m_msg, m_code, question, opener, log_len, words = scan_texts(texts, is_system, table)
    n_codes = int(max(speaker.max(initial=-1), table.max_code) + 1)
    mention_keys = np.unique(m_msg * max(n_codes, 1) + m_code)
    has_mention = np.zeros(n, dtype=bool)
    has_mention[m_msg] = True

    # (chat, member) keys, densely numbered, so that nothing is shared across chats
    span = max(n_codes, 1)
    spk_wide = np.where(speaker >= 0, chan * span + speaker, -1)
    addr_wide = np.where(addr >= 0, chan * span + addr, -1)
    uniq = np.unique(np.concatenate([spk_wide[spk_wide >= 0], addr_wide[addr_wide >= 0]]))
    spk_key = np.where(spk_wide >= 0, np.searchsorted(uniq, spk_wide), -1)
    addr_key = np.where(addr_wide >= 0, np.searchsorted(uniq, addr_wide), -1)

    prev_same, next_same = _prev_next_by_key(spk_key)
    _, next_addr_same = _prev_next_by_key(addr_key)

    # most recent message before i (same chat) that addressed s(i)
    stride = n + 1
    addressing = np.flatnonzero(addr_key >= 0)
    keys = np.sort(addr_key[addressing] * stride + addressing)
    query = spk_key * stride + np.arange(n)
    at = np.searchsorted(keys, query) - 1
    found = (at >= 0) & (spk_key >= 0)
    hit = keys[np.maximum(at, 0)] if len(keys) else np.zeros(n, dtype=np.int64)
    found &= (hit // stride) == spk_key if len(keys) else False
    last_addressed = np.where(found, hit % stride, -1).astype(np.int64)

    # the member each author last addressed (carried forward over the author's messages)
    frame = pd.DataFrame({"s": spk_key, "a": np.where(addr >= 0, addr, np.nan)})
    carried = frame.groupby("s", sort=False)["a"].ffill().to_numpy()
    partner_incl = np.where(np.isnan(carried), -1, carried).astype(np.int64)
    partner_incl[is_system] = -1
    partner_prev = np.where(prev_same >= 0, partner_incl[np.maximum(prev_same, 0)], -1)

    # latest chat message before i, and the latest one by someone other than s(i)
    chat = np.flatnonzero(~is_system)
    prev_chat = np.full(n, -1, dtype=np.int64)
    prev_other = np.full(n, -1, dtype=np.int64)
    if len(chat):
        idx = np.full(n, -1, dtype=np.int64)
        idx[chat] = chat
        last_chat = np.maximum.accumulate(idx)
        prev_chat[1:] = last_chat[:-1]
        prev_chat[(prev_chat >= 0) & (chan[np.maximum(prev_chat, 0)] != chan)] = -1
        spk = speaker[chat]
        new_run = np.concatenate(
            [[True], (spk[1:] != spk[:-1]) | (chan[chat][1:] != chan[chat][:-1])]
        )
        run = np.cumsum(new_run) - 1
        run_last = np.zeros(run[-1] + 1, dtype=np.int64)
        run_last[run] = chat  # later positions overwrite: last index of each run
        before = np.where(run > 0, run_last[np.maximum(run - 1, 0)], -1)
        before[(before >= 0) & (chan[np.maximum(before, 0)] != chan[chat])] = -1
        prev_other[chat] = before
        # a system line's "previous other" is unused
    return ChatRecords(
        minutes=minutes,
        channel=chan,
        speaker=speaker,
        is_system=is_system,
        addr=addr,
        mention_keys=mention_keys,
        n_codes=max(n_codes, 1),
        question=question,
        opener=opener,
        has_mention=has_mention,
        log_len=log_len,
        words=words,
        prev_same=prev_same,
        next_same=next_same,
        next_addr_same=next_addr_same,
        last_addressed=last_addressed,
        partner_prev=partner_prev,
        partner_incl=partner_incl,
        prev_other=prev_other,
        prev_chat=prev_chat,
    )


SELF_FEATURES = FEATURE_NAMES[:10]
PAIR_FEATURES = FEATURE_NAMES[10:]


def candidate_features(
    rec: ChatRecords, rows: np.ndarray, k_max: int, horizon_minutes: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Features of the candidates of each message in ``rows``.

    Returns
    -------
    self_features : dict
        ``SELF_FEATURES`` name -> float32 array ``(len(rows),)`` (zero for system lines).
    pair_features : dict
        ``PAIR_FEATURES`` name -> array broadcastable to ``(len(rows), k_max)``; column
        ``k - 1`` describes the candidate ``row - k``. Values on invalid candidates are
        meaningless (mask them with ``valid``).
    valid : numpy.ndarray
        bool ``(len(rows), k_max)``: the candidate exists, neither message is a system line,
        and the gap is at most ``horizon_minutes``.
    """
    i = np.asarray(rows, dtype=np.int64)
    k = np.arange(1, k_max + 1, dtype=np.int64)
    j = i[:, None] - k[None, :]
    jc = np.maximum(j, 0)
    ic = i[:, None]
    si = rec.speaker[i][:, None]
    sj = rec.speaker[jc]
    t_i = rec.minutes[i]
    gap = t_i[:, None] - rec.minutes[jc]
    chat_i = ~rec.is_system[i]
    valid = (j >= 0) & ~rec.is_system[jc] & chat_i[:, None] & (gap <= horizon_minutes)
    valid &= rec.channel[jc] == rec.channel[i][:, None]

    # self slot
    pc = rec.prev_chat[i]
    gap_prev = np.where(pc >= 0, t_i - rec.minutes[np.maximum(pc, 0)], horizon_minutes)
    ps = rec.prev_same[i]
    own_gap = np.where(ps >= 0, t_i - rec.minutes[np.maximum(ps, 0)], np.inf)
    la = rec.last_addressed[i]
    addressed_gap = np.where(la >= 0, t_i - rec.minutes[np.maximum(la, 0)], np.inf)
    raw_self = {
        "self": np.ones(len(i)),
        "self_log_gap": np.log1p(np.minimum(gap_prev, horizon_minutes)),
        "self_log_own_gap": np.log1p(np.minimum(own_gap, horizon_minutes)),
        "self_new_speaker": own_gap > horizon_minutes,
        "self_addresses": rec.addr[i] >= 0,
        "self_mentions": rec.has_mention[i],
        "self_question": rec.question[i],
        "self_opener": rec.opener[i],
        "self_addressed_recently": addressed_gap <= horizon_minutes,
        "self_log_len": rec.log_len[i],
    }
    self_feats = {
        name: np.where(chat_i, np.asarray(v, dtype=np.float32), np.float32(0))
        for name, v in raw_self.items()
    }

    # candidate slots
    same = si == sj
    other = ~same
    tgt_latest_own = rec.next_same[jc] >= ic
    addr_i = rec.addr[i][:, None]
    addr_j = rec.addr[jc]
    addr_tgt = addr_i == sj
    tgt_addr_src = (addr_j == si) & other
    n_codes = rec.n_codes
    keys = rec.mention_keys

    def mentioned(msg: np.ndarray, code: np.ndarray, where: np.ndarray) -> np.ndarray:
        """``code`` is among the names in message ``msg``, checked only where ``where``."""
        out = np.zeros(where.shape, dtype=bool)
        if len(keys) == 0 or not where.any():
            return out
        m = np.broadcast_to(msg, where.shape)[where]
        c = np.broadcast_to(code, where.shape)[where]
        q = m * n_codes + np.maximum(c, 0)
        at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        out[where] = (keys[at] == q) & (c >= 0)
        return out

    words_i = rec.words[i]
    words_j = rec.words[jc]
    overlap = np.bitwise_count(words_i[:, None, 0] & words_j[:, :, 0]).astype(np.int8)
    overlap += np.bitwise_count(words_i[:, None, 1] & words_j[:, :, 1]).astype(np.int8)
    pair = {
        "dist_2": (k == 2)[None, :],
        "dist_3_4": ((k >= 3) & (k <= 4))[None, :],
        "dist_5_8": ((k >= 5) & (k <= 8))[None, :],
        "dist_9_16": ((k >= 9) & (k <= 16))[None, :],
        "dist_17_32": ((k >= 17) & (k <= 32))[None, :],
        "dist_33_": (k >= 33)[None, :],
        "log_gap": np.log1p(np.maximum(gap, 0)).astype(np.float32),
        "gap_0": gap < 1,
        "same_speaker": same,
        "addr_tgt": addr_tgt,
        "addr_tgt_latest": addr_tgt & tgt_latest_own,
        "addr_other": (addr_i >= 0) & ~addr_tgt,
        "mention_tgt": mentioned(ic, sj, rec.has_mention[i][:, None] & valid & other),
        "tgt_addr_src": tgt_addr_src,
        "tgt_addr_src_latest": tgt_addr_src & (rec.next_addr_same[jc] >= ic),
        "tgt_mention_src": mentioned(jc, si, rec.has_mention[jc] & valid & other),
        "tgt_addr_other": (addr_j >= 0) & (addr_j != si),
        "tgt_latest": tgt_latest_own & other,
        "same_latest": same & tgt_latest_own,
        "tgt_prev_other": jc == rec.prev_other[i][:, None],
        "partner_src": (rec.partner_prev[i][:, None] == sj) & other,
        "partner_tgt": (rec.partner_incl[jc] == si) & other,
        "src_spoke_between": rec.prev_same[i][:, None] > j,
        "tgt_question": rec.question[jc] & other,
        "src_question": rec.question[i][:, None],
        "overlap_1": overlap == 1,
        "overlap_2": overlap == 2,
        "overlap_3_": overlap >= 3,
        # the source's own facts, repeated on every candidate so that the hidden layer can
        # weigh candidates by them (constant across candidates: the linear part ignores them)
        "src_log_len": rec.log_len[i][:, None],
        "src_opener": rec.opener[i][:, None],
        "src_new_speaker": (own_gap > horizon_minutes)[:, None],
        "tgt_log_len": rec.log_len[jc],
        "tgt_opener": rec.opener[jc],
    }
    return self_feats, pair, valid


def stack_features(
    self_feats: Mapping[str, np.ndarray], pair: Mapping[str, np.ndarray], valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``(rows, k_max + 1, n_features)`` float32 design (slot 0 = self) and its validity.

    Features of invalid candidates are zero; self features are zero outside slot 0 and pair
    features zero in slot 0.
    """
    b, k_max = valid.shape
    x = np.zeros((b, k_max + 1, len(FEATURE_NAMES)), dtype=np.float32)
    for f, name in enumerate(SELF_FEATURES):
        x[:, 0, f] = self_feats[name]
    offset = len(SELF_FEATURES)
    for f, name in enumerate(PAIR_FEATURES):
        x[:, 1:, offset + f] = np.where(valid, np.broadcast_to(pair[name], valid.shape), 0)
    return x, np.concatenate([np.ones((b, 1), dtype=bool), valid], axis=1)


def candidate_scores(
    self_feats: Mapping[str, np.ndarray],
    pair: Mapping[str, np.ndarray],
    valid: np.ndarray,
    weights: Mapping[str, float],
    self_offset: float = 0.0,
) -> np.ndarray:
    """Linear scores ``(rows, k_max + 1)``; invalid candidates score ``-inf``."""
    b, k_max = valid.shape
    s = np.zeros((b, k_max + 1), dtype=np.float32)
    s[:, 0] = self_offset
    for name in SELF_FEATURES:
        s[:, 0] += np.float32(weights[name]) * self_feats[name]
    body = s[:, 1:]
    for name in PAIR_FEATURES:
        w = np.float32(weights[name])
        if w == 0:
            continue
        v = pair[name]
        if v.dtype == bool:
            body += np.where(v, w, np.float32(0))
        else:
            body += w * v
    body[~valid] = -np.inf
    return s


def iter_blocks(n: int, size: int) -> Iterable[np.ndarray]:
    """Consecutive row blocks ``[0, size), [size, 2 size), ...`` covering ``range(n)``."""
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n), dtype=np.int64)
