"""The `workbench` command: its commands and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from analysis.cli import app

runner = CliRunner()


def test_help_lists_the_four_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "ingest", "run", "report"):
        assert command in result.output


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("workbench")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "ingest" in out.stdout


def test_ingest_of_a_missing_folder_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not a folder" in result.output


def test_run_with_unknown_name_fails_before_running(tmp_path):
    result = runner.invoke(app, ["run", "no-such-run"])
    assert result.exit_code == 2
    assert "no run called" in result.output
