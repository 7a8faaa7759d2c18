"""One run at a time per output folder: an advisory lock safe under cron, plus the run log.

The lock is ``reports/<run>/.lock``. A run opens it and takes an exclusive ``flock`` (POSIX
advisory lock, https://man7.org/linux/man-pages/man2/flock.2.html) without waiting; it then
writes its holder record (pid, host, start time) into the file. A second run on the same output
fails the non-blocking ``flock`` and raises :class:`RunLockedError` naming the holder.

Stale locks
-----------
The kernel releases a ``flock`` when its holder dies, however it dies (``kill -9`` included), so
a lock left by a dead process is never in force: the next run acquires it at once, finds the old
holder record, reports that it takes over from that (dead) pid and overwrites the record. No
pid-liveness guessing is needed and two runs cannot both take over. The file itself is never
deleted (deleting a locked file lets a third process lock a fresh inode); on release its record
is emptied. ``flock`` is reliable on local file systems; on NFS use one host per output folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "LOCK_NAME",
    "LOG_NAME",
    "PAUSE_ENV",
    "RunLockedError",
    "pause_point",
    "run_lock",
    "run_logger",
]

LOCK_NAME = ".lock"
LOG_NAME = "run.log"


class RunLockedError(RuntimeError):
    """Another live process holds the output folder's lock; nothing was done."""


def _holder(fh: TextIO) -> dict[str, Any]:
    fh.seek(0)
    text = fh.read().strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"raw": text[:200]}
    return value if isinstance(value, dict) else {"raw": text[:200]}


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host h since 2026-01-01T00:00:00+00:00`` (or what the record holds)."""
    if not holder:
        return "an unknown process (empty lock record)"
    return (
        f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
        f"since {holder.get('started_at', '?')}"
        + (f" ({holder['command']})" if holder.get("command") else "")
    )


@contextlib.contextmanager
def run_lock(
    out_dir: Path,
    *,
    command: str = "",
    echo: Callable[[str], None] = print,
    name: str = LOCK_NAME,
) -> Iterator[dict[str, Any]]:
    """Hold the exclusive lock ``out_dir/name`` for the ``with`` block.

    Parameters
    ----------
    out_dir : Path
        The run's output folder (``reports/<run>``); created if missing.
    name : str
        File name of the lock inside ``out_dir`` (default ``.lock``).
    command : str
        What holds the lock (shown to a second run).
    echo : callable
        Receives one line when a stale lock of a dead process is taken over.

    Yields
    ------
    dict
        The holder record written into the lock file: ``pid``, ``host``, ``started_at``.

    Raises
    ------
    RunLockedError
        The lock is held by a live process; the message names its pid, host and start time.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fh)
            raise RunLockedError(
                f"{path}: another run is writing {out_dir} — held by {describe_holder(holder)}. "
                f"Wait for it to finish (a lock of a process that died is taken over "
                f"automatically)."
            ) from None
        stale = _holder(fh)
        if stale:
            echo(f"taking over the lock left by {describe_holder(stale)}: that process is gone")
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
        }
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(record))
        fh.flush()
        os.fsync(fh.fileno())
        try:
            yield record
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


@contextlib.contextmanager
def run_logger(out_dir: Path, echo: Callable[[str], None] = print) -> Iterator[Callable[..., None]]:
    """An ``echo`` that also appends each line, time-stamped (UTC), to ``out_dir/run.log``.

    The log is appended to and flushed line by line, so a run killed at any point leaves every
    line written so far; a cron job's history is the file's content. ``quiet=True`` writes a
    line to the log only.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOG_NAME, "a", encoding="utf-8") as log:

        def both(message: str, *, quiet: bool = False) -> None:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            for line in str(message).splitlines() or [""]:
                log.write(f"{stamp} {line}\n")
            log.flush()  # before echoing: whoever reads the echo finds the line in the log
            if not quiet:
                echo(message)

        yield both


#: Environment variable of the test-only pause hook (see :func:`pause_point`).
PAUSE_ENV = "WORKBENCH_TEST_PAUSE_AT"


def pause_point(stage: str, echo: Callable[[str], None] = print) -> None:
    """TEST-ONLY hook: block forever at ``stage`` when ``WORKBENCH_TEST_PAUSE_AT=<stage>``.

    The kill-and-resume tests set the variable, wait for the line ``PAUSED at <stage>`` and
    ``kill -9`` the run, which makes "killed between two stages" deterministic. Stages, in order:
    ``generate`` (demo: raw export written to its staging folder, not yet renamed), ``ingest``
    (demo: tables read, processed dataset not yet written), ``start`` (run lock held, nothing
    written), ``execute`` (a notebook executed into its staging folder, no report written),
    ``publish`` (its findings JSON replaced, its HTML not yet) and ``index`` (all reports
    written, index pages not yet). Never set it outside tests.
    """
    if os.environ.get(PAUSE_ENV) != stage:
        return
    import time

    echo(f"PAUSED at {stage} (pid {os.getpid()})")
    while True:  # pragma: no cover - ended by the test's kill -9
        time.sleep(3600)
