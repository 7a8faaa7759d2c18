"""The benchmark scripts still start: each parses its options (``--help``), which imports the
``analysis`` modules it times, so a rename in the package cannot leave a benchmark broken
unnoticed; and the health benchmark refuses a bad ``--repeat`` with exit code 2.

The benchmarks themselves are not run here (performance goals are never timed tests).
"""

from __future__ import annotations

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
