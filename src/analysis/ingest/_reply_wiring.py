"""Calling reply inference at ingest, for sources whose messages carry no reply links.

Part of :mod:`analysis.ingest` (its docstring states the option). The model itself lives in
:mod:`analysis.ingest.reply_inference` (``infer_replies(messages, members=None, *, model=None)``,
which returns the messages with ``reply_to_id`` filled and ``reply_source="inferred"`` where it
found a reply); it is imported only when needed.

The option ``infer_replies`` is ``True`` (always infer; an error if the module is missing),
``False`` (never) or ``None`` (default: infer exactly when the source's messages have no explicit
reply link at all — a chat export without reply metadata — and skip quietly, recording
``messages.reply_to_id.inference = unavailable``, when the module is missing). After inference
each inferred reply's ``thread_id`` is the thread of the first message up its chain that was not
itself an inferred reply (found by pointer doubling), and provenance records
``messages.reply_to_id`` = ``inferred`` (all replies inferred) or ``mixed`` (explicit and inferred),
``messages.reply_to_id.inferred_n``, ``messages.thread_id`` likewise, and
``messages.reply_to_id.inference`` (``on`` | ``off`` | ``unavailable``).
"""

from __future__ import annotations

import importlib

import pandas as pd

from analysis.schema import Tables

__all__ = ["INFERENCE_MODULE", "ReplyInferenceUnavailableError", "apply_reply_inference"]

INFERENCE_MODULE = "analysis.ingest.reply_inference"


class ReplyInferenceUnavailableError(ValueError):
    """Reply inference was asked for but its module is not installed."""


def wants_inference(option: bool | None, messages: pd.DataFrame) -> bool:
    """The option as given, or (``None``) True when no message has an explicit reply link."""
    if option is not None:
        return bool(option)
    return not bool((messages["reply_source"] == "explicit").any())


def apply_reply_inference(tables: Tables, *, option: bool | None, source: str) -> Tables:
    """``tables`` with inferred replies filled in when the option asks for them.

    Parameters
    ----------
    tables : Tables
        One source's tables.
    option : bool or None
        See the module docstring.
    source : str
        Names the source in errors.

    Raises
    ------
    ReplyInferenceUnavailableError
        ``option`` is True and :mod:`analysis.ingest.reply_inference` is missing.
    ValueError
        The inference returned a frame that lost or invented messages.
    """
    provenance = dict(tables.provenance)
    if not wants_inference(option, tables.messages) or tables.messages.empty:
        provenance["messages.reply_to_id.inference"] = "off"
        return _with(tables, provenance=provenance)
    try:
        infer = importlib.import_module(INFERENCE_MODULE).infer_replies
    except (ModuleNotFoundError, AttributeError) as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name != INFERENCE_MODULE:
            raise
        if option:
            raise ReplyInferenceUnavailableError(
                f"{source}: reply inference was asked for (--infer-replies) but "
                f"{INFERENCE_MODULE} is not part of this installation; run with "
                f"--no-infer-replies."
            ) from None
        provenance["messages.reply_to_id.inference"] = "unavailable"
        return _with(tables, provenance=provenance)
    before = tables.messages
    out = infer(before, tables.members).reset_index(drop=True)
    if len(out) != len(before) or set(out["message_id"]) != set(before["message_id"]):
        raise ValueError(
            f"{source}: {INFERENCE_MODULE}.infer_replies returned {len(out)} messages for "
            f"{len(before)} given; it must only fill reply_to_id and reply_source."
        )
    inferred = (out["reply_source"] == "inferred").to_numpy()
    out["thread_id"] = _inferred_threads(out, inferred, source)
    n_inf = int(inferred.sum())
    n_exp = int((out["reply_source"] == "explicit").sum())
    provenance["messages.reply_to_id.inference"] = "on"
    provenance["messages.reply_to_id.inferred_n"] = str(n_inf)
    if n_inf:
        label = "mixed" if n_exp else "inferred"
        provenance["messages.reply_to_id"] = label
        provenance["messages.thread_id"] = label
    return _with(tables, messages=out, provenance=provenance)


def _inferred_threads(messages: pd.DataFrame, inferred, source: str) -> pd.Series:
    """Thread ids with each inferred reply moved into its first non-inferred ancestor's thread."""
    thread = messages["thread_id"].astype(object).copy()
    if not inferred.any():
        return thread
    ids = messages["message_id"].to_numpy()
    up = pd.Series(messages["reply_to_id"].to_numpy()[inferred], index=ids[inferred], dtype=object)
    for _ in range(64):  # pointer doubling: 64 rounds cover chains of 2**64
        nxt = up.map(up)
        has = nxt.notna()
        if not has.any():
            break
        up[has] = nxt[has]
    else:
        raise ValueError(f"{source}: inferred replies form a cycle; the inference is broken.")
    thread_of = pd.Series(thread.to_numpy(), index=ids)
    anchor = up.map(thread_of)
    new = anchor.where(anchor.notna(), up)  # a target outside the data is its own thread
    thread[inferred] = new.to_numpy()
    return thread


def _with(tables: Tables, **changes) -> Tables:
    frames = dict(tables.items())
    frames.update({k: v for k, v in changes.items() if k != "provenance"})
    return Tables(**frames, provenance=changes.get("provenance", dict(tables.provenance)))
