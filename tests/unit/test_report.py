"""House formats, page parts and the run lock: no kernel, no browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
import pytest

from analysis.report import (
    fmt_int,
    fmt_interval,
    fmt_number,
    fmt_pct,
    footer_html,
    format_frame,
    runs_index_html,
    title_block_html,
)
from analysis.run_index import record_run, write_top_index
from analysis.run_lock import RunLockedError, run_lock, run_logger
from analysis.run_notebook import clean_staging

HOSTILE = '<script>alert("x")</script>\u202e<img src=x onerror=alert(1)>'


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12345, "12,345"), (1234567.6, "1,234,568"), (0, "0"), (None, "—"), (float("nan"), "—")],
)
def test_fmt_int(value, expected):
    assert fmt_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234.4, "1,234"),
        (-98765.4, "-98,765"),
        (12.345, "12.3"),
        (0.012345, "0.0123"),
        (2.0, "2"),
        (-0.0, "0"),
        (float("nan"), "—"),
        (float("inf"), "∞"),
    ],
)
def test_fmt_number(value, expected):
    assert fmt_number(value) == expected


def test_fmt_pct_and_interval():
    assert fmt_pct(0.2345) == "23.4%" or fmt_pct(0.2345) == "23.5%"  # binary rounding
    assert fmt_pct(0.5) == "50.0%" and fmt_pct(1) == "100.0%" and fmt_pct(-0.00001) == "0.0%"
    assert fmt_interval(2.1, 4.5) == "2.1–4.5"
    assert fmt_interval(0.021, 0.045, percent=True) == "2.1–4.5%"
    assert fmt_interval(1200, 15300) == "1,200–15,300"


def test_format_frame_formats_and_escapes():
    frame = pd.DataFrame(
        {
            "channel": [HOSTILE, "General"],
            "messages": [12345, 7],
            "response_rate": [0.8123, 0.5],
            "effect_low": [0.021, -1.0],
            "effect_high": [0.045, 2.5],
            "mean": [1234.56, 0.5],
        }
    )
    html = format_frame(frame)
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert ">12,345<" in html and ">81.2%<" in html and ">50.0%<" in html
    assert ">0.021–0.045<" in html and ">-1–2.5<" in html and ">1,235<" in html
    assert "effect_low" not in html and ">effect interval<" in html
    assert '<td class="wb-num">12,345</td>' in html and '<td class="wb-text">General</td>' in html
    long = pd.DataFrame({"n": range(100)})
    assert "First 30 of 100 rows" in format_frame(long)


def test_title_block_escapes_and_uses_parameters_for_the_period():
    manifest = {
        "dataset": "demo",
        "time_range": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-12-31T23:00:00+00:00"},
    }
    run_at = datetime(2026, 3, 2, 6, 5, tzinfo=UTC)
    block = title_block_html(
        title="Health <b>", manifest=manifest, parameters={}, run_at=run_at, community=HOSTILE
    )
    assert "<script>" not in block and "&lt;script&gt;" in block and "Health &lt;b&gt;" in block
    assert "1 Jan 2024 – 31 Dec 2024" in block and "2 Mar 2026 06:05 UTC" in block
    block = title_block_html(
        title="T",
        manifest=manifest,
        parameters={"start": "2024-03-01", "end": "2024-04-01"},
        run_at=run_at,
    )
    assert "1 Mar 2024 – 31 Mar 2024" in block and ">demo<" in block


def test_footer_lists_manifest_and_privacy():
    manifest = {
        "dataset": "demo",
        "content_hash": "ab" * 32,
        "schema_version": "1",
        "tables": {"messages": {"rows": 19195}},
        "sources": [{"path": "/x/raw/<evil>.json", "sha256": "cd" * 32}],
    }
    footer = footer_html(
        run="r",
        name="n",
        parameters={"q": HOSTILE},
        manifest=manifest,
        package_version="1.2",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration_s=3.21,
    )
    assert "messages: 19,195 rows" in footer and "&lt;evil&gt;.json" in footer
    assert "members as pseudonyms; no message text" in footer and "3.2 s" in footer
    assert "<script>" not in footer and "community-workbench 1.2" in footer


def test_runs_index_lists_runs_and_history(tmp_path):
    for run, ok in (("nightly", True), ("<weekly>", False)):
        (tmp_path / run).mkdir()
        (tmp_path / run / "index.html").write_text("<html></html>")
        (tmp_path / run / "a.html").write_text("<html></html>")
        for day in (1, 2):
            record_run(
                run,
                {
                    "started_at": f"2026-01-0{day}T00:00:00+00:00",
                    "finished_at": f"2026-01-0{day}T00:05:00+00:00",
                    "ok": ok,
                    "entries": [{"name": "a", "ok": ok}],
                    "dataset_hashes": ["f" * 64],
                    "package_version": "9.9",
                },
                reports_dir=tmp_path,
            )
    (tmp_path / "_artefacts").mkdir()
    page = write_top_index(reports_dir=tmp_path).read_text()
    assert 'href="nightly/index.html"' in page and "&lt;weekly&gt;" in page
    assert "<weekly>" not in page and "_artefacts" not in page
    assert page.count("2026-01-0") >= 4 and "failed" in page and "ok" in page
    rows = page.split("Executions over time")[1]
    assert rows.index("2026-01-02") < rows.index("2026-01-01")  # newest first
    assert runs_index_html([], [], datetime.now(UTC)).startswith("<!DOCTYPE html>")


def test_history_is_bounded_and_survives_a_corrupt_file(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "runs.json").write_text('[{"ok": tr')  # torn by hand, not by the runner
    for i in range(205):
        history = record_run("r", {"i": i}, reports_dir=tmp_path)
    assert len(history) == 200 and history[-1] == {"i": 204}
    assert json.loads((tmp_path / "r" / "runs.json").read_text())[0] == {"i": 5}


def test_lock_refuses_a_second_holder_naming_the_first(tmp_path):
    with run_lock(tmp_path, command="workbench run") as record:
        assert record["pid"] == os.getpid()
        second = run_lock(tmp_path)
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()} on host .* since 20"):
            second.__enter__()
        code = (
            "import sys; from analysis.run_lock import run_lock, RunLockedError\n"
            "try:\n    run_lock(sys.argv[1]).__enter__()\nexcept RunLockedError as e:\n"
            "    print(e); sys.exit(3)\n"
        )
        other = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True
        )
        assert other.returncode == 3 and f"pid {os.getpid()}" in other.stdout
    assert (tmp_path / ".lock").read_text() == ""  # released: record emptied
    with run_lock(tmp_path):
        pass


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys\nfrom analysis.run_lock import run_lock\n"
            "held = run_lock(sys.argv[1])\nheld.__enter__()\nos._exit(9)  # dies holding it\n",
            str(tmp_path),
        ]
    )
    assert proc.returncode == 9
    holder = json.loads((tmp_path / ".lock").read_text())
    lines: list[str] = []
    with run_lock(tmp_path, echo=lines.append) as record:
        assert record["pid"] == os.getpid()
    assert lines == [
        f"taking over the lock left by pid {holder['pid']} on host {holder['host']} since "
        f"{holder['started_at']}: that process is gone"
    ]


def test_run_log_appends_time_stamped_lines(tmp_path):
    seen: list[str] = []
    with run_logger(tmp_path, seen.append) as log:
        log("first")
        log("two\nlines")
    with run_logger(tmp_path, seen.append) as log:
        log("next run")
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["first", "two", "lines", "next run"]
    assert all(line[:4].isdigit() and "+00:00 " in line for line in lines)
    assert seen == ["first", "two\nlines", "next run"]


def test_clean_staging_removes_only_leftovers(tmp_path):
    (tmp_path / ".staging-a-123").mkdir()
    (tmp_path / ".staging-a-123" / "a.ipynb").write_text("{}")
    (tmp_path / ".a.html.abc.tmp").write_text("half")
    (tmp_path / "a.html").write_text("<html></html>")
    removed = clean_staging(tmp_path)
    assert len(removed) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html"]


def test_house_style_registers_the_table_formatter():
    import matplotlib as mpl
    from IPython.core.interactiveshell import InteractiveShell

    from analysis.viz import use_house_style

    shell = InteractiveShell.instance()
    use_house_style()
    html = shell.display_formatter.formatters["text/html"](
        pd.DataFrame({"n": [12345], "share": [0.5], "name": [HOSTILE]})
    )
    assert ">12,345<" in html and ">50.0%<" in html and "<script>" not in html
    assert tuple(mpl.rcParams["figure.figsize"]) == (9.0, 3.5)
