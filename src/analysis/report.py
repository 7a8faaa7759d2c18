"""Findings blocks and safe HTML for reports.

A study notebook ends its computation with :func:`findings`: a plain-language box at the top of
the report *and* a machine-readable bundle (MIME type :data:`FINDINGS_MIME`) that the runner
extracts into ``reports/<run>/<name>.json`` for schedulers. Notebooks therefore never write
files. Every piece of text that reaches HTML goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: MIME type of the machine-readable findings bundle inside executed notebooks.
FINDINGS_MIME = "application/vnd.community-workbench.findings+json"

HOUSE_CSS = """
:root { --wb-ink: #1f2933; --wb-accent: #3366aa; --wb-soft: #eef3fa; }
body.jp-Notebook { max-width: 1000px; margin: 0 auto; color: var(--wb-ink);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.wb-findings { border-left: 5px solid var(--wb-accent); background: var(--wb-soft);
  padding: 0.8em 1.2em; margin: 1em 0; border-radius: 4px; }
.wb-findings h3 { margin-top: 0.2em; }
.wb-findings li { margin: 0.3em 0; line-height: 1.45; }
.wb-result table, .jp-RenderedHTMLCommon table { font-variant-numeric: tabular-nums; }
.wb-footer { margin-top: 3em; padding-top: 1em; border-top: 1px solid #ccd; font-size: 0.8em;
  color: #555; }
.wb-footer dt { font-weight: 600; } .wb-footer dd { margin: 0 0 0.4em 1em; word-break: break-all; }
.wb-index td, .wb-index th { padding: 0.3em 0.8em; text-align: left; vertical-align: top; }
.wb-failed { color: #a33; font-weight: 600; }
"""


def to_jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars and containers to plain JSON types (NaN → None)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int)):
        return value
    if value is pd.NaT:
        return None
    return str(value)


@dataclass
class Findings:
    """The headline findings of one study, shown first in its report.

    Attributes
    ----------
    study : str
        Study name (``community_health``, ``interaction_network``, ...).
    statements : list of str
        3–5 plain-language sentences, each with its numbers and their uncertainty.
    figures : dict
        Key figures for machines (JSON-serialisable after :func:`to_jsonable`).
    """

    study: str
    statements: Sequence[str]
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "statements": [str(s) for s in self.statements],
            "figures": to_jsonable(dict(self.figures)),
        }

    def to_html(self) -> str:
        items = "".join(f"<li>{html.escape(str(s))}</li>" for s in self.statements)
        return f'<div class="wb-findings"><h3>Findings</h3><ul>{items}</ul></div>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/html": self.to_html(),
            "text/plain": "\n".join(f"- {s}" for s in self.statements),
            FINDINGS_MIME: self.to_dict(),
        }


@dataclass
class Bullets:
    """A titled list of plain-language lines (escaped) for notebooks and reports."""

    title: str
    lines: Sequence[str]

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(str(s))}</li>" for s in self.lines)
        return f"<div class='wb-bullets'><h4>{html.escape(self.title)}</h4><ul>{items}</ul></div>"

    def __repr__(self) -> str:
        return "\n".join([self.title, *(f"- {s}" for s in self.lines)])


def bullets(title: str, lines: Sequence[str]) -> Bullets:
    """Show ``lines`` as a titled bullet list (every line escaped)."""
    return Bullets(title, list(lines))


def findings(study: str, statements: Sequence[str], **figures: Any) -> Findings:
    """Build a :class:`Findings` block; display it as the last expression of a notebook cell."""
    return Findings(study=study, statements=list(statements), figures=figures)


def extract_findings(notebook: Any) -> dict[str, Any] | None:
    """The last findings bundle in an executed notebook (nbformat node or dict), if any."""
    found = None
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if FINDINGS_MIME in data:
                payload = data[FINDINGS_MIME]
                found = json.loads(payload) if isinstance(payload, str) else dict(payload)
    return found


def footer_html(
    *,
    run: str,
    name: str,
    parameters: Mapping[str, Any],
    manifest: Mapping[str, Any],
    package_version: str,
    started_at: datetime,
    duration_s: float,
) -> str:
    """Report footer: parameters, dataset manifest summary, package version and run time."""
    esc = html.escape
    params = ", ".join(f"{esc(str(k))} = {esc(repr(v))}" for k, v in parameters.items())
    tables = ", ".join(
        f"{esc(str(t))}: {int(e.get('rows', 0)):,} rows"
        for t, e in manifest.get("tables", {}).items()
    )
    sources = "; ".join(
        f"{esc(Path(str(s.get('path', ''))).name)} (sha256 {esc(str(s.get('sha256', ''))[:12])})"
        for s in manifest.get("sources", [])
    )
    rows = [
        ("Run", f"{esc(run)} / {esc(name)}"),
        ("Parameters", params or "defaults"),
        (
            "Dataset",
            f"{esc(str(manifest.get('dataset', '?')))}, content hash "
            f"{esc(str(manifest.get('content_hash', '?'))[:16])}, schema "
            f"v{esc(str(manifest.get('schema_version', '?')))}",
        ),
        ("Tables", tables or "none"),
        ("Sources", sources or "none recorded"),
        ("Package", f"community-workbench {esc(package_version)}"),
        ("Run time", f"{esc(started_at.isoformat(timespec='seconds'))}, {duration_s:.1f} s"),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<footer class="wb-footer"><dl>{body}</dl></footer>'


def index_html(run: str, entries: Sequence[Mapping[str, Any]], generated_at: datetime) -> str:
    """The run's index page listing its reports with their headline findings.

    Each entry has ``name``, ``title``, ``html`` (file name or None), ``statements`` and
    optionally ``failed_at`` (the last attempt failed; the previous report is still shown).
    """
    esc = html.escape
    rows = []
    for entry in entries:
        link = (
            f'<a href="{esc(entry["html"], quote=True)}">{esc(entry["title"])}</a>'
            if entry.get("html")
            else esc(entry["title"])
        )
        status = ""
        if entry.get("failed_at"):
            status = (
                f'<div class="wb-failed">Last run failed at {esc(entry["failed_at"])}; '
                f"showing the last good report.</div>"
            )
        items = "".join(f"<li>{esc(str(s))}</li>" for s in entry.get("statements", [])[:5])
        rows.append(f"<tr><td>{link}{status}</td><td><ul>{items}</ul></td></tr>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(run)} — Community Workbench reports</title>"
        f"<style>{HOUSE_CSS}</style></head><body class='jp-Notebook'><main>"
        f"<h1>Reports: {esc(run)}</h1>"
        f"<p>Generated {esc(generated_at.isoformat(timespec='seconds'))}.</p>"
        "<table class='wb-index'><thead><tr><th>Report</th><th>Headline findings</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></main></body></html>"
    )
