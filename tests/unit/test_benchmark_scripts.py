"""The benchmark scripts still start: each parses its options (``--help``), which imports the
``analysis`` modules it times, so a rename in the package cannot leave a benchmark broken
unnoticed; the health benchmark refuses a bad ``--repeat`` with exit code 2; and its probe of
the cost of fresh memory writes to every page it measures.

The benchmarks themselves are not run here (performance goals are never timed tests).
"""

from __future__ import annotations

import importlib.util
import mmap
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py"))


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCHMARKS.parent,
    )


def test_every_benchmark_script_is_listed():
    assert {"health.py", "network.py", "experiments.py", "pipeline.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_starts(script):
    done = _run(script, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "--repeat must be at least 1, got 0"), ("two", "must be a whole number, got 'two'")],
)
def test_health_benchmark_refuses_a_bad_repeat(value, message):
    done = _run("health.py", "--repeat", value)
    assert done.returncode == 2
    assert message in done.stderr


def _health_benchmark():
    spec = importlib.util.spec_from_file_location("health_benchmark", BENCHMARKS / "health.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(sys.platform != "linux", reason="minor page faults are counted on Linux")
def test_fresh_memory_cost_touches_every_page_twice(monkeypatch):
    # the script sets a pseudonym key for its own runs: keep it out of the other tests
    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY", "benchmark-key")
    gib = 1 / 32  # 32 MB: 8,192 pages of 4 KB
    passes = _health_benchmark().fresh_memory_cost(gib)
    pages = int(gib * 2**30) // mmap.PAGESIZE
    assert len(passes) == 2
    for one in passes:
        # one minor fault per page written (a few more for the interpreter's own allocations);
        # a probe that wrote only some pages would fault far fewer
        assert pages <= one["faults"] <= pages * 1.25
        assert set(one) == {"sys_per_gb", "wall_per_gb", "faults"}
