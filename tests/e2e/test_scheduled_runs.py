"""Scheduled-run failures beyond a failing cell: a cell that hangs and a kernel that dies.

Both must be treated like a failing notebook: exit code 1, the executed notebook kept under
``_failed/`` with the error written into it, the last good report and findings untouched, the
index page flagging the failure, and ``run.log`` telling the story. The timeout comes from
``[settings] cell_timeout`` in the run configuration; ``--timeout`` overrides it.
"""

from __future__ import annotations

import json

import pytest

from analysis.data import write_dataset

from .conftest import home_env, run_workbench, write_config, write_notebook

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_hung_cell_and_dead_kernel_keep_the_last_good_report(tiny_tables, tmp_path):
    home = tmp_path / "home"
    env = home_env(home)
    dataset = home / "data" / "processed" / "tiny"
    write_dataset(tiny_tables, dataset)
    run_dir = home / "reports" / "nightly"

    good = write_notebook(tmp_path / "good.ipynb")
    config_file = write_config(tmp_path / "good.toml", good, str(dataset), run="nightly")
    proc = run_workbench(["run", "--config", str(config_file)], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, findings = (run_dir / "tiny.html").read_bytes(), (run_dir / "tiny.json").read_bytes()
    assert json.loads(findings)["statements"] == ["The community has 3 members."]

    hung = write_notebook(tmp_path / "hung.ipynb", "import time\ntime.sleep(600)")
    config_file = write_config(
        tmp_path / "hung.toml",
        hung,
        str(dataset),
        run="nightly",
        extra="[settings]\ncell_timeout = 3",
    )
    proc = run_workbench(["run", "--config", str(config_file)], env, timeout=240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "CellTimeoutError: a cell ran longer than the timeout of 3 s" in proc.stdout
    failed = run_dir / "_failed" / "tiny.ipynb"
    assert "Run failed" in failed.read_text() and "time.sleep(600)" in failed.read_text()
    assert (run_dir / "tiny.html").read_bytes() == report
    assert (run_dir / "tiny.json").read_bytes() == findings

    dying = write_notebook(tmp_path / "dying.ipynb", "import os, signal\nos.kill(os.getpid(), 9)")
    config_file = write_config(tmp_path / "dying.toml", dying, str(dataset), run="nightly")
    proc = run_workbench(["run", "--config", str(config_file), "--timeout", "60"], env, 240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DeadKernelError" in proc.stdout, proc.stdout
    assert "DeadKernelError" in failed.read_text()
    assert (run_dir / "tiny.html").read_bytes() == report
    assert (run_dir / "tiny.json").read_bytes() == findings

    index = (run_dir / "index.html").read_text()
    assert "Last run failed" in index and 'href="tiny.html"' in index
    history = json.loads((run_dir / "runs.json").read_text())
    assert [h["ok"] for h in history] == [True, False, False]
    log = (run_dir / "run.log").read_text()
    assert log.count("FAILED after") == 2 and "ok in" in log
    assert not list(run_dir.glob(".staging-*"))
    top = (home / "reports" / "index.html").read_text()
    assert 'href="nightly/index.html"' in top and "failed" in top
