"""A run killed with SIGKILL at every stage leaves no half-written file; a rerun completes it.

``workbench demo`` (generate → ingest → run) is started with the test-only hook
``WORKBENCH_TEST_PAUSE_AT=<stage>`` (:func:`analysis.run_lock.pause_point`): it prints
``PAUSED at <stage>`` and blocks, and the test ``kill -9``s its whole process group (the command
and its kernel). After each kill the visible files are checked: the raw folder, the processed
dataset, reports, findings and index pages are each absent or complete. While one run holds the
lock a second run is refused with the holder's pid; after the kill the next run takes the stale
lock over. The final rerun completes everything and removes the leftovers. The raw export is
compared file by file (sha256 and mtime) from the moment it is written to the end: nothing ever
writes into ``data/raw``.

A small community (60 members) and a one-cell notebook keep this under a minute.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from .conftest import WORKBENCH, home_env, run_workbench, write_config, write_notebook

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO = ["demo", "--members", "60", "--seed", "1"]


def _start_paused(args: list[str], env: dict[str, str], stage: str) -> subprocess.Popen:
    """Start ``workbench args`` and return once it prints ``PAUSED at <stage>``."""
    proc = subprocess.Popen(
        [WORKBENCH, *args],
        env={**env, "WORKBENCH_TEST_PAUSE_AT": stage},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(180, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if f"PAUSED at {stage}" in line:
                return proc
    finally:
        watchdog.cancel()
    raise AssertionError(f"never paused at {stage}:\n{''.join(seen)}")


def _kill9(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _visible(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if not any(part.startswith(".") for part in p.parts)]


def _assert_complete(home: Path) -> None:
    """Every visible output file is whole: JSON parses, HTML ends with </html>, tables read."""
    run_dir = home / "reports" / "demo"
    for path in _visible(home / "reports"):
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".html":
            text = path.read_text(encoding="utf-8")
            assert text.rstrip().endswith("</html>") and len(text) > 500, path
    if (run_dir / "tiny.html").exists():
        assert "Tiny study" in (run_dir / "tiny.html").read_text(encoding="utf-8")
    processed = home / "data" / "processed" / "demo"
    if processed.exists():
        from analysis.data import read_tables

        assert len(read_tables(processed).members) > 60


def _make_raw_read_only(raw: Path) -> None:
    """chmod -R a-w (stops writes for non-root; CI runs as root, hence the snapshots too)."""
    for path in [raw, *raw.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_killed_at_every_stage_then_rerun_completes(tmp_path):
    home = tmp_path / "home"
    env = home_env(home)
    notebook = write_notebook(tmp_path / "tiny.ipynb")
    config_file = write_config(tmp_path / "workbench.toml", notebook, "demo")
    args = [*DEMO, "--config", str(config_file)]
    run_args = ["run", "--config", str(config_file)]
    raw = home / "data" / "raw" / "demo"
    run_dir = home / "reports" / "demo"

    # generate: the export is complete in a hidden staging folder, not yet renamed
    _kill9(_start_paused(args, env, "generate"))
    assert not raw.exists() and (raw.parent / ".demo.staging").exists()

    # ingest: the raw folder is complete and from now on must never change
    _kill9(_start_paused(args, env, "ingest"))
    assert (raw / "ground_truth.json").exists()
    json.loads((raw / "telegram" / "result.json").read_text(encoding="utf-8"))
    assert not (home / "data" / "processed" / "demo").exists()
    _make_raw_read_only(raw)
    raw_before = _snapshot(raw)

    # start: ingest done, the run holds the lock; a second run is refused and names the holder
    proc = _start_paused(args, env, "start")
    second = run_workbench(run_args, env)
    assert second.returncode == 3, second.stdout + second.stderr
    assert f"pid {proc.pid}" in second.stderr and "since" in second.stderr
    _kill9(proc)
    _assert_complete(home)

    # execute: the notebook ran into its staging folder; no report yet
    _kill9(_start_paused(run_args, env, "execute"))
    assert list(run_dir.glob(".staging-tiny-*"))
    assert not (run_dir / "tiny.html").exists() and not (run_dir / "tiny.json").exists()
    _assert_complete(home)

    # publish: findings replaced, report not yet written
    _kill9(_start_paused(run_args, env, "publish"))
    assert (run_dir / "tiny.json").exists() and not (run_dir / "tiny.html").exists()
    _assert_complete(home)

    # index: report written, index pages not yet
    _kill9(_start_paused(run_args, env, "index"))
    assert (run_dir / "tiny.html").exists() and not (run_dir / "index.html").exists()
    _assert_complete(home)

    # the rerun takes over the stale lock, clears leftovers and completes
    proc = run_workbench(run_args, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "taking over the lock left by pid" in proc.stdout
    _assert_complete(home)
    assert not list(run_dir.glob(".staging-*")) and not list(run_dir.rglob(".*.tmp"))
    assert not list(raw.parent.glob(".demo.staging*"))
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert 'href="tiny.html"' in index and "The community has" in index
    history = json.loads((run_dir / "runs.json").read_text(encoding="utf-8"))
    assert history[-1]["ok"] and history[-1]["entries"][0]["name"] == "tiny"
    top = (home / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'href="demo/index.html"' in top
    log = (run_dir / "run.log").read_text(encoding="utf-8")
    assert log.count("PAUSED at") == 4 and "ok in" in log
    assert "left by an interrupted run" in log  # the staging folder of the "execute" kill
    assert f"refused to start: {run_dir / '.lock'}: another run" in log
    assert _snapshot(raw) == raw_before, "data/raw was written"
