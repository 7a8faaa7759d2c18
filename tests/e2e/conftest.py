"""The e2e session: one `workbench demo` on a small hostile community, shared by every e2e test.

The demo runs once per session in a subprocess with its own ``WORKBENCH_HOME`` (data/ and
reports/ in a temporary folder), on the project's kernel exactly as under cron. Tests that
change reports or kill runs work on a copy (:func:`copy_home`), so test order does not matter
except for ``test_demo_run.py``, whose failure tests rewrite ``community_health`` in place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

WORKBENCH = str(Path(sys.executable).with_name("workbench"))
STUDIES = ("community_health", "interaction_network", "ab_experiment", "community_to_customer")
DEMO_ARGS = ["demo", "--members", "400", "--seed", "3"]


def run_workbench(
    args: list[str], env: dict[str, str], timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run the ``workbench`` command and capture its output."""
    return subprocess.run(
        [WORKBENCH, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@dataclass(frozen=True)
class Demo:
    """The session's demo: its home folder, environment, finished process and wall time."""

    home: Path
    env: dict[str, str]
    proc: subprocess.CompletedProcess
    elapsed: float

    # tuple-style access keeps the older tests' ``home, env, proc, elapsed = demo`` working
    def __iter__(self):
        return iter((self.home, self.env, self.proc, self.elapsed))

    def __getitem__(self, i: int):
        return (self.home, self.env, self.proc, self.elapsed)[i]

    @property
    def run_dir(self) -> Path:
        return self.home / "reports" / "demo"


def home_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_PSEUDONYM_KEY": "e2e-key"}
    env.pop("WORKBENCH_TEST_PAUSE_AT", None)
    return env


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    home = tmp_path_factory.mktemp("home")
    env = home_env(home)
    started = time.perf_counter()
    proc = run_workbench(DEMO_ARGS, env)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Demo(home, env, proc, elapsed)


def copy_home(demo: Demo, dest: Path) -> tuple[Path, dict[str, str]]:
    """A private copy of the demo's home (data and reports) and its environment."""
    shutil.copytree(demo.home, dest, symlinks=True)
    return dest, home_env(dest)


def write_notebook(path: Path, body: str = "") -> Path:
    """A small study notebook: a ``parameters`` cell declaring ``dataset``, ``body``, findings.

    Fast to execute (no study), so runner mechanics can be tested in seconds.
    """
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    params = new_code_cell('dataset: str = ""  # processed dataset folder')
    params.metadata["tags"] = ["parameters"]
    cells = [new_markdown_cell("# Tiny study"), params]
    if body:
        cells.append(new_code_cell(body))
    cells.append(
        new_code_cell(
            "from analysis import Community, report\n"
            "community = Community.load(dataset)\n"
            "n = community.execute(community.members.count())\n"
            'report.findings("tiny", [f"The community has {int(n):,} members."], members=n)'
        )
    )
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_config(
    path: Path, notebook: Path, dataset: str, *, run: str = "demo", extra: str = ""
) -> Path:
    """A ``workbench.toml`` with one entry ``<run>/tiny`` of ``notebook`` on ``dataset``."""
    path.write_text(
        f"{extra}\n[[runs]]\nrun = {run!r}\nname = 'tiny'\ntitle = 'Tiny study'\n"
        f"notebook = '{notebook}'\ndataset = '{dataset}'\n",
        encoding="utf-8",
    )
    return path
