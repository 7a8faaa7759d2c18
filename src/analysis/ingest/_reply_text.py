"""Words, names and word bits of chat messages (part of :mod:`.reply_inference`).

Used by :mod:`._reply_features`. *Words* are lower-cased runs of characters other than white
space and ``:,;.!?()[]{}"'`<>*@`` (so ``@Bob,`` and ``bob:`` are the word ``bob``). A message
*addresses* the member whose one- or several-word name its words start with (the IRC and chat
convention ``nick: ...``, Kummerfeld et al. 2019); it *mentions* every member whose one-word
name is one of its words. Content words (3+ letters, outside a small stop list and the names)
are numbered by first appearance and set bit ``number mod 128`` of their message, so shared
content words between two messages are counted by one AND and a popcount.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["N_BITS", "NameTable", "scan_texts", "split_words"]

_TOKEN = re.compile(r"[^\s:,;.!?()\[\]{}\"'`<>*@]+")
_OPENERS = frozenset(
    {"hi", "hello", "hey", "anyone", "anybody", "someone", "somebody", "help", "hiya", "howdy"}
)
_STOP = frozenset(
    """the and for you that this with have are not but can was what how does any get just use
    your there then they when from will all about like has had one its it's i'm don't can't
    yes yeah okay sure thanks thank try also out some into more then than which would could
    should them now here why who where know see need want did doing done make well way too
    think only very much still been being were our his her him she their it's that's lol
    ubuntu""".split()  # noqa: SIM905
)
N_BITS = 128


def split_words(text: str) -> list[str]:
    """Lower-cased words: runs of characters other than space and ``:,;.!?()[]{}"'`<>*@``."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class NameTable:
    """Addressable names split into words (:func:`split_words`): one-word names for O(1) lookup,
    longer names indexed by their first word. Build once with :meth:`build` and reuse."""

    single: Mapping[str, int]
    multi: Mapping[str, list[tuple[list[str], int]]]
    max_code: int

    @classmethod
    def build(cls, names: Mapping[str, int] | NameTable) -> NameTable:
        if isinstance(names, NameTable):
            return names
        single: dict[str, int] = {}
        multi: dict[str, list[tuple[list[str], int]]] = {}
        for name, code in names.items():
            words = split_words(str(name))
            if len(words) == 1:
                single.setdefault(words[0], int(code))
            elif words:
                multi.setdefault(words[0], []).append((words, int(code)))
        return cls(single, multi, max((int(c) for c in names.values()), default=-1))


_TEXT_CHUNK = 131_072


def scan_texts(
    texts: Sequence[Any], is_system: np.ndarray, table: NameTable
) -> tuple[np.ndarray, ...]:
    """Addressee, mentions, question, opener, length and word bits of every text.

    Works through the texts in chunks (bounded memory); words are numbered by first
    appearance over all texts, so the result does not depend on the chunk size.
    """
    vocab: dict[str, int] = {}
    parts = [
        _scan_chunk(texts[a : a + _TEXT_CHUNK], is_system[a : a + _TEXT_CHUNK], table, vocab)
        for a in range(0, len(texts), _TEXT_CHUNK)
    ]
    if not parts:
        parts = [_scan_chunk([], is_system[:0], table, vocab)]
    offsets = np.cumsum([0] + [len(p[0]) for p in parts])
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] + o for p, o in zip(parts, offsets, strict=False)]),
        np.concatenate([p[2] for p in parts]),
        *(np.concatenate([p[k] for p in parts]) for k in range(3, 7)),
    )


def _scan_chunk(
    texts: Sequence[Any], is_system: np.ndarray, table: NameTable, vocab: dict[str, int]
) -> tuple[np.ndarray, ...]:
    """:func:`scan_texts` on one chunk: one regular-expression pass per text; everything per
    word is decided once per distinct word (``pandas.factorize``) and spread back with numpy.
    ``vocab`` (word -> number by first appearance) carries over between chunks."""
    n = len(texts)
    single, multi = table.single, table.multi
    chat = [t if isinstance(t, str) and not is_system[i] else "" for i, t in enumerate(texts)]
    length = np.fromiter(map(len, chat), np.float64, n)
    question = np.fromiter(("?" in t for t in chat), bool, n)
    tokens = [split_words(t) for t in chat]
    counts = np.fromiter(map(len, tokens), np.int64, n)
    msg = np.repeat(np.arange(n, dtype=np.int64), counts)
    flat = list(chain.from_iterable(tokens))
    codes, uniques = (
        pd.factorize(np.array(flat, dtype=object))
        if flat
        else (
            np.zeros(0, np.int64),
            np.array([], dtype=object),
        )
    )
    del flat
    number = np.fromiter((vocab.setdefault(w, len(vocab)) for w in uniques), np.int64, len(uniques))
    u_name = np.fromiter((single.get(w, -1) for w in uniques), np.int64, len(uniques))
    u_open = np.fromiter((w in _OPENERS for w in uniques), bool, len(uniques))
    u_content = np.fromiter(
        (len(w) >= 3 and w not in _STOP for w in uniques), bool, len(uniques)
    ) & (u_name < 0)

    starts = np.cumsum(counts) - counts
    has_words = counts > 0
    addr = np.full(n, -1, dtype=np.int64)
    addr[has_words] = u_name[codes[starts[has_words]]]
    if multi:
        for i in np.flatnonzero(has_words & (addr < 0)):
            for words, c in multi.get(tokens[i][0], ()):
                if tokens[i][: len(words)] == words:
                    addr[i] = c
                    break

    named = u_name[codes]
    m_msg = np.concatenate([msg[named >= 0], np.flatnonzero(addr >= 0)])
    m_code = np.concatenate([named[named >= 0], addr[addr >= 0]])
    opener = np.zeros(n, dtype=bool)
    opener[msg[u_open[codes]]] = True
    content = u_content[codes]
    bit = (number[codes[content]] % N_BITS).astype(np.uint64)
    owner = msg[content]
    bits = np.zeros((n, N_BITS // 64), dtype=np.uint64)
    for half in range(N_BITS // 64):
        sel = (bit // np.uint64(64)) == half
        column = np.zeros(n, dtype=np.uint64)
        np.bitwise_or.at(column, owner[sel], np.left_shift(np.uint64(1), bit[sel] % np.uint64(64)))
        bits[:, half] = column
    return addr, m_msg, m_code, question, opener, np.log1p(length), bits
