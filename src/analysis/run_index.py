"""Index pages of the reports folder: one per run and one over all runs, from what is on disk.

* ``reports/<run>/index.html``: the run's reports with their headline findings (from the
  ``<name>.json`` beside each report) and a note where the last attempt failed.
* ``reports/<run>/runs.json``: the run's history, one record per ``workbench run`` invocation
  (start, end, outcome per notebook, dataset hash, package version), newest last, at most
  :data:`HISTORY_LIMIT` records.
* ``reports/index.html``: every run present with its latest outcome, and the executions of all
  runs over time, newest first.

Every file is rewritten atomically (temporary file + rename), so a run killed at any moment
leaves the previous complete page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis import config
from analysis.data import atomic_write_text
from analysis.report import index_html, runs_index_html

__all__ = ["HISTORY_LIMIT", "record_run", "write_index", "write_top_index"]

#: Records kept in ``reports/<run>/runs.json``.
HISTORY_LIMIT = 200
HISTORY_NAME = "runs.json"


def write_index(run: str, entries: Sequence[Any], *, reports_dir: Path | None = None) -> Path:
    """Write ``reports/<run>/index.html`` from the reports and findings present on disk.

    ``entries`` are :class:`analysis.runner.RunEntry` objects (``run``, ``name``,
    ``display_title``); those of other runs are ignored.
    """
    reports_dir = Path(reports_dir) if reports_dir is not None else config.REPORTS_DIR
    out_dir = reports_dir / run
    rows = []
    for entry in entries:
        if entry.run != run:
            continue
        html_file = out_dir / f"{entry.name}.html"
        json_file = out_dir / f"{entry.name}.json"
        failed = out_dir / "_failed" / f"{entry.name}.ipynb"
        statements = []
        if json_file.exists():
            statements = _read_json(json_file, {}).get("statements", [])
        failed_at = None
        if failed.exists():
            failed_at = datetime.fromtimestamp(failed.stat().st_mtime, UTC).isoformat(
                timespec="seconds"
            )
        rows.append(
            {
                "name": entry.name,
                "title": entry.display_title,
                "html": html_file.name if html_file.exists() else None,
                "statements": statements,
                "failed_at": failed_at,
            }
        )
    index = out_dir / "index.html"
    atomic_write_text(index, index_html(run, rows, datetime.now(UTC)))
    return index


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return default


def record_run(
    run: str, record: Mapping[str, Any], *, reports_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Append ``record`` to ``reports/<run>/runs.json`` (atomically) and return the history."""
    reports_dir = Path(reports_dir) if reports_dir is not None else config.REPORTS_DIR
    path = reports_dir / run / HISTORY_NAME
    history = _read_json(path, [])
    if not isinstance(history, list):
        history = []
    history = [*history, dict(record)][-HISTORY_LIMIT:]
    atomic_write_text(path, json.dumps(history, indent=1, ensure_ascii=False))
    return history


def write_top_index(*, reports_dir: Path | None = None, limit: int = 100) -> Path:
    """Rebuild ``reports/index.html`` from the run folders present (atomically).

    A run folder is any sub-folder of ``reports/`` not starting with ``_`` or ``.`` that holds an
    ``index.html`` or a ``runs.json``. Executions are listed newest first, at most ``limit``.
    """
    reports_dir = Path(reports_dir) if reports_dir is not None else config.REPORTS_DIR
    runs, executions = [], []
    for folder in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        if folder.name.startswith(("_", ".")):
            continue
        has_index = (folder / "index.html").exists()
        history = _read_json(folder / HISTORY_NAME, [])
        if not has_index and not history:
            continue
        history = [h for h in history if isinstance(h, dict)]
        latest = history[-1] if history else {}
        reports = sorted(p.name for p in folder.glob("*.html") if p.name != "index.html")
        runs.append(
            {
                "run": folder.name,
                "index": f"{folder.name}/index.html" if has_index else None,
                "reports": len(reports),
                "latest": latest,
            }
        )
        executions += [{"run": folder.name, **h} for h in history]
    executions.sort(key=lambda h: str(h.get("started_at", "")), reverse=True)
    index = reports_dir / "index.html"
    atomic_write_text(index, runs_index_html(runs, executions[:limit], datetime.now(UTC)))
    return index
