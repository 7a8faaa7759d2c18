"""IRC logs with hand-annotated reply links, and link precision / recall / F1.

Part of :mod:`analysis.ingest.reply_inference`. The format is the one of the Ubuntu IRC
disentanglement corpus (Kummerfeld et al., 2019, "A Large-Scale Corpus for Conversation
Disentanglement", ACL; https://github.com/jkkummerfeld/irc-disentanglement, ``data/README.md``):

``<name>.raw.txt``
    One message per line; the line index (0-based) is the message number. Chat lines are
    ``[HH:MM] <nick> text``; actions are ``[HH:MM]  * nick text``; notices
    ``[HH:MM] (nick/#chan) text`` or ``[HH:MM] -nick:#chan- text``; system lines
    (``=== nick has joined #ubuntu``, nick changes, mode changes) carry no time stamp.
``<name>.annotation.txt``
    One link per line, ``parent child -``: message ``child`` answers message ``parent``
    (``parent <= child``); ``n n -`` marks ``n`` as the start of a new conversation. Only
    messages from number 1,000 on are annotated; a message may have several parents.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.results import Result

__all__ = ["IrcLog", "IrcLogError", "LinkScores", "read_irc_log", "score_links"]

_CHAT = re.compile(r"^\[(\d{1,2}):(\d{2})\] <([^>]*)> ?(.*)$")
_ACTION = re.compile(r"^\[(\d{1,2}):(\d{2})\]\s+\* (\S+) ?(.*)$")
_NOTICE = re.compile(r"^\[(\d{1,2}):(\d{2})\] [(-]([^/:)\s]+)\S*\s?(.*)$")
_SYSTEM = re.compile(r"^(===|\*\*\*|-!-)")
_LINK = re.compile(r"^(\d+)\s+(\d+)\s+-\s*$")


class IrcLogError(ValueError):
    """An IRC log or annotation file does not follow the disentanglement format."""


@dataclass(frozen=True)
class IrcLog:
    """One IRC log as arrays indexed by message number (= 0-based line index of ``raw.txt``).

    Attributes
    ----------
    times : numpy.ndarray
        float64 seconds since the first line's day start. The log stores ``HH:MM`` only; a time
        earlier than the previous line's is taken to be on the next day. System lines, which have
        no stamp, take the previous line's time (the first stamp for leading system lines).
    speakers : numpy.ndarray
        object array of nicks; ``None`` on system lines.
    texts : numpy.ndarray
        object array of message texts (for system lines the whole line).
    is_system : numpy.ndarray
        bool, True for system lines.
    links : pandas.DataFrame or None
        Gold links ``parent``, ``child`` (int64, one row per annotated link) when an annotation
        file was read.
    source : str
        The raw file path, for messages.
    """

    times: np.ndarray
    speakers: np.ndarray
    texts: np.ndarray
    is_system: np.ndarray
    links: pd.DataFrame | None
    source: str

    def __len__(self) -> int:
        return len(self.times)


def read_irc_log(
    raw_path: str | os.PathLike, annotation_path: str | os.PathLike | None = None
) -> IrcLog:
    """Read an IRC log (and optionally its annotated links) in the disentanglement format.

    Parameters
    ----------
    raw_path : path-like
        ``*.raw.txt`` (UTF-8; undecodable bytes are replaced).
    annotation_path : path-like, optional
        ``*.annotation.txt`` with ``parent child -`` lines.

    Returns
    -------
    IrcLog

    Raises
    ------
    FileNotFoundError
        A file does not exist.
    IrcLogError
        A line is neither a chat, action nor system line; an annotation line is not
        ``parent child -``, has ``parent > child`` or names a message beyond the log.
    """
    raw_path = Path(raw_path)
    lines = raw_path.read_text(encoding="utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    n = len(lines)
    minutes = np.full(n, np.nan)
    speakers = np.full(n, None, dtype=object)
    texts = np.empty(n, dtype=object)
    is_system = np.zeros(n, dtype=bool)
    for i, line in enumerate(lines):
        line = line.rstrip("\r")
        match = _CHAT.match(line) or _ACTION.match(line) or _NOTICE.match(line)
        if match:
            hh, mm, nick, text = match.groups()
            minutes[i] = int(hh) * 60 + int(mm)
            speakers[i] = nick
            texts[i] = text
        elif _SYSTEM.match(line) or not line.strip():
            is_system[i] = True
            texts[i] = line
        else:
            raise IrcLogError(
                f"{raw_path}, line {i} (0-based): {line[:80]!r} is not '[HH:MM] <nick> text', "
                f"'[HH:MM]  * nick text' nor a system line starting with '==='."
            )
    times = _day_rollover(minutes) * 60.0
    links = None if annotation_path is None else _read_links(Path(annotation_path), n)
    return IrcLog(
        times=times,
        speakers=speakers,
        texts=texts,
        is_system=is_system,
        links=links,
        source=str(raw_path),
    )


def _day_rollover(minutes: np.ndarray) -> np.ndarray:
    """Minutes since the first day's midnight: fill stamp-less lines, add a day at each wrap."""
    filled = pd.Series(minutes).ffill().bfill().fillna(0.0).to_numpy()
    wraps = np.concatenate([[0], np.cumsum(np.diff(filled) < 0)])
    return filled + 1440.0 * wraps


def _read_links(path: Path, n: int) -> pd.DataFrame:
    parents: list[int] = []
    children: list[int] = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        match = _LINK.match(line.strip())
        if not match:
            raise IrcLogError(f"{path}, line {k + 1}: {line!r} is not 'parent child -'.")
        a, b = int(match.group(1)), int(match.group(2))
        if a > b or b >= n:
            raise IrcLogError(
                f"{path}, line {k + 1}: link {a} -> {b} expected parent <= child < {n} "
                f"(the number of lines in the log)."
            )
        parents.append(a)
        children.append(b)
    return pd.DataFrame(
        {"parent": np.array(parents, dtype=np.int64), "child": np.array(children, dtype=np.int64)}
    )


@dataclass(frozen=True)
class LinkScores(Result):
    """Precision, recall and F1 of predicted reply links against gold links.

    ``precision = correct / predicted``, ``recall = correct / gold``, ``f1`` their harmonic
    mean, where a link is a (parent, child) pair with ``child >= start``, a self link marks a
    conversation start, and ``correct`` counts predicted links that are also gold links
    (Kummerfeld et al., 2019, link-level evaluation).
    """

    title = "Reply links against hand annotation"

    precision: float
    recall: float
    f1: float
    n_predicted: int
    n_gold: int
    n_correct: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "value": [
                    self.precision,
                    self.recall,
                    self.f1,
                    self.n_predicted,
                    self.n_gold,
                    self.n_correct,
                ]
            },
            index=["precision", "recall", "f1", "n_predicted", "n_gold", "n_correct"],
        )

    def summary(self) -> str:
        return (
            f"Of {self.n_predicted:,} predicted reply links, {self.n_correct:,} match the "
            f"{self.n_gold:,} hand-annotated links: precision {self.precision:.3f}, recall "
            f"{self.recall:.3f}, F1 {self.f1:.3f}."
        )

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3))
        frame = self.to_frame().loc[["precision", "recall", "f1"]].reset_index()
        sns.barplot(data=frame, x="index", y="value", ax=ax, color="#4c72b0")
        ax.set(xlabel="", ylabel="share", ylim=(0, 1))
        return ax


def _pairs(links: Any, start: int) -> set[tuple[int, int]]:
    frame = pd.DataFrame(links)
    if frame.empty:
        return set()
    if not {"parent", "child"} <= set(frame.columns):
        raise ValueError(
            f"links need columns 'parent' and 'child'; got {list(frame.columns)} (one row per "
            f"link, a self link = conversation start)."
        )
    frame = frame[frame["child"] >= start]
    return set(zip(frame["parent"].astype(int), frame["child"].astype(int), strict=True))


def score_links(predicted: Any, gold: Any, start: int = 1000) -> LinkScores:
    """Precision, recall and F1 of reply links, as the disentanglement corpus scores them.

    Parameters
    ----------
    predicted, gold : pandas.DataFrame or mapping
        Links with columns ``parent`` and ``child`` (message numbers; ``parent == child`` marks
        the start of a conversation). Duplicate rows count once.
    start : int
        Only links whose ``child`` is at least ``start`` count (the corpus annotates from
        message 1,000 on; earlier lines are context).

    Returns
    -------
    LinkScores
        Precision = correct / predicted links, recall = correct / gold links, F1 the harmonic
        mean (0 when nothing is correct). Follows the link-level evaluation of Kummerfeld et al.
        (2019) and the baselines in ``shared/data/README.md``.
    """
    pred = _pairs(predicted, start)
    true = _pairs(gold, start)
    correct = len(pred & true)
    precision = correct / len(pred) if pred else 0.0
    recall = correct / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return LinkScores(
        precision=precision,
        recall=recall,
        f1=f1,
        n_predicted=len(pred),
        n_gold=len(true),
        n_correct=correct,
    )
