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

from analysis.formats import fmt_int, fmt_interval, fmt_number, fmt_pct, format_frame

__all__ = [
    "FINDINGS_MIME",
    "HOUSE_CSS",
    "Bullets",
    "Findings",
    "bullets",
    "extract_findings",
    "findings",
    "fmt_int",
    "fmt_interval",
    "fmt_number",
    "fmt_pct",
    "footer_html",
    "format_frame",
    "index_html",
    "runs_index_html",
    "title_block_html",
    "to_jsonable",
]

#: MIME type of the machine-readable findings bundle inside executed notebooks.
FINDINGS_MIME = "application/vnd.community-workbench.findings+json"

#: The house palette (seaborn's colour-blind-safe "colorblind", as :mod:`analysis.viz` uses).
ACCENT, INK, SOFT = "#0173b2", "#1f2933", "#eef5fb"

HOUSE_CSS = """
:root { --wb-ink: #1f2933; --wb-accent: #0173b2; --wb-soft: #eef5fb; --wb-rule: #d5dbe3; }
body.jp-Notebook, body.wb-page { max-width: 1000px; margin: 0 auto; padding: 0 1em;
  color: var(--wb-ink); line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
img { max-width: 100%; height: auto; }
.wb-title { border-bottom: 3px solid var(--wb-accent); margin: 1.2em 0 1em; padding-bottom: 0.6em; }
.wb-title h1 { margin: 0 0 0.2em; font-size: 1.9em; overflow-wrap: anywhere; }
.wb-title dl { display: flex; flex-wrap: wrap; gap: 0.2em 1.6em; margin: 0; color: #52606d; }
.wb-title dt { font-weight: 600; } .wb-title dt::after { content: ":"; }
.wb-title dd { margin: 0 0 0 0.3em; overflow-wrap: anywhere; }
.wb-title div { display: flex; }
.wb-findings { border-left: 5px solid var(--wb-accent); background: var(--wb-soft);
  padding: 0.8em 1.2em; margin: 1em 0; border-radius: 4px; }
.wb-findings h3 { margin-top: 0.2em; }
.wb-findings li { margin: 0.3em 0; line-height: 1.45; }
.jp-RenderedHTMLCommon table, .wb-result table, .wb-index { border-collapse: collapse;
  font-variant-numeric: tabular-nums; font-size: 0.92em; margin: 0.6em 0; }
.jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td { padding: 0.25em 0.7em;
  border-bottom: 1px solid var(--wb-rule); }
.jp-RenderedHTMLCommon tbody tr:nth-child(even) { background: #f7f9fb; }
.wb-table .wb-num { text-align: right; white-space: nowrap; }
.wb-table .wb-text { text-align: left; overflow-wrap: anywhere; }
.jp-OutputArea-output { overflow-x: auto; overflow-wrap: anywhere; }
.wb-footer { margin-top: 3em; padding-top: 1em; border-top: 1px solid #ccd; font-size: 0.8em;
  color: #555; }
.wb-footer dt { font-weight: 600; } .wb-footer dd { margin: 0 0 0.4em 1em; word-break: break-all; }
.wb-index td, .wb-index th { padding: 0.3em 0.8em; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--wb-rule); }
.wb-failed { color: #a33; font-weight: 600; }
.wb-ok { color: #1a7f37; font-weight: 600; }
@media print { body.jp-Notebook, body.wb-page { max-width: none; } }
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
        ("Privacy", _privacy_note(parameters)),
        ("Package", f"community-workbench {esc(package_version)}"),
        ("Run time", f"{esc(started_at.isoformat(timespec='seconds'))}, {duration_s:.1f} s"),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<footer class="wb-footer"><dl>{body}</dl></footer>'


def _privacy_note(parameters: Mapping[str, Any]) -> str:
    names = "display names shown" if parameters.get("show_names") else "members as pseudonyms"
    text = "message text quoted" if parameters.get("show_text") else "no message text"
    return f"{names}; {text}"


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
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(run)} — Community Workbench reports</title>"
        f"<style>{HOUSE_CSS}</style></head><body class='wb-page'><main>"
        f"<header class='wb-title'><h1>Reports: {esc(run)}</h1><dl><div><dt>Generated</dt>"
        f"<dd>{esc(generated_at.isoformat(timespec='seconds'))}</dd></div></dl></header>"
        "<p><a href='../index.html'>All runs</a></p>"
        "<table class='wb-index'><thead><tr><th>Report</th><th>Headline findings</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></main></body></html>"
    )


# ---- page parts ------------------------------------------------------------------------------
def _fmt_day(value: Any) -> str:
    try:
        return pd.Timestamp(value).strftime("%-d %b %Y")
    except (ValueError, TypeError):
        return str(value)


def title_block_html(
    *,
    title: str,
    manifest: Mapping[str, Any],
    parameters: Mapping[str, Any],
    run_at: datetime,
    community: str | None = None,
) -> str:
    """The report's title block: title, community, period covered and run date (all escaped).

    The period is the notebook's ``start``/``end`` parameters where set (``end`` exclusive, so
    the last day shown is the day before), otherwise the dataset's ``time_range`` from its
    manifest. ``community`` defaults to the dataset's name.
    """
    esc = html.escape
    span = manifest.get("time_range", {}) or {}
    start = parameters.get("start") or span.get("start")
    end = span.get("end")
    if parameters.get("end"):
        end = pd.Timestamp(parameters["end"]) - pd.Timedelta(days=1)
    period = f"{_fmt_day(start)} – {_fmt_day(end)}" if start and end else "whole dataset"
    name = community or str(manifest.get("dataset", "?"))
    items = [
        ("Community", name),
        ("Period", period),
        ("Run date", run_at.strftime("%-d %b %Y %H:%M UTC")),
    ]
    body = "".join(f"<div><dt>{k}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
    return f'<header class="wb-title"><h1>{esc(title)}</h1><dl>{body}</dl></header>'


def runs_index_html(
    runs: Sequence[Mapping[str, Any]],
    executions: Sequence[Mapping[str, Any]],
    generated_at: datetime,
) -> str:
    """The top-level ``reports/index.html``: every run and its executions over time.

    ``runs`` items: ``run``, ``index`` (relative link or None), ``reports`` (count) and
    ``latest`` (the newest history record). ``executions`` items: history records (see
    :func:`analysis.run_index.record_run`) with their ``run``, newest first.
    """
    esc = html.escape

    def status(record: Mapping[str, Any]) -> str:
        if not record:
            return "—"
        entries = record.get("entries", [])
        failed = [e.get("name", "?") for e in entries if not e.get("ok")]
        if not failed:
            return f'<span class="wb-ok">ok</span> ({len(entries)} reports)'
        return f'<span class="wb-failed">failed</span>: {esc(", ".join(map(str, failed)))}'

    run_rows = []
    for r in runs:
        link = esc(r["run"])
        if r.get("index"):
            link = f'<a href="{esc(r["index"], quote=True)}">{link}</a>'
        latest = r.get("latest") or {}
        run_rows.append(
            f"<tr><td>{link}</td><td>{fmt_int(r.get('reports', 0))}</td>"
            f"<td>{esc(str(latest.get('finished_at', '—')))}</td><td>{status(latest)}</td></tr>"
        )
    exec_rows = [
        f"<tr><td>{esc(str(h.get('started_at', '?')))}</td><td>{esc(str(h.get('run', '?')))}</td>"
        f"<td>{status(h)}</td><td>{esc(str(h.get('package_version', '?')))}</td>"
        f"<td>{esc(', '.join(str(x)[:12] for x in h.get('dataset_hashes', [])))}</td></tr>"
        for h in executions
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Community Workbench — all runs</title>"
        f"<style>{HOUSE_CSS}</style></head><body class='wb-page'><main>"
        "<header class='wb-title'><h1>Community Workbench reports</h1>"
        f"<dl><div><dt>Updated</dt><dd>{esc(generated_at.isoformat(timespec='seconds'))}</dd>"
        "</div></dl></header>"
        "<h2>Runs</h2><table class='wb-index'><thead><tr><th>Run</th><th>Reports</th>"
        f"<th>Last finished</th><th>Last outcome</th></tr></thead><tbody>{''.join(run_rows)}"
        "</tbody></table><h2>Executions over time</h2><table class='wb-index'><thead><tr>"
        "<th>Started (UTC)</th><th>Run</th><th>Outcome</th><th>Package</th><th>Dataset</th>"
        f"</tr></thead><tbody>{''.join(exec_rows)}</tbody></table></main></body></html>"
    )


def member_labels(
    frame: pd.DataFrame, community: Any, *, show_names: bool, columns: Sequence[str] = ("member",)
) -> pd.DataFrame:
    """``frame`` with member pseudonyms replaced by display names when ``show_names`` is set.

    Reports show pseudonyms unless a run sets ``show_names = true`` (``workbench.toml``); with
    it, each pseudonym in ``columns`` that has a ``members.display_name`` is replaced by that
    name (others keep the pseudonym). Names are user text: HTML output escapes them like any
    other cell. With ``show_names`` false the frame is returned unchanged.
    """
    if not show_names or frame.empty:
        return frame
    members = community.members
    ids = sorted({str(v) for c in columns if c in frame.columns for v in frame[c].dropna()})
    table = community.execute(
        members.filter(members.member_id.isin(ids) & members.display_name.notnull()).select(
            "member_id", "display_name"
        )
    )
    names = dict(zip(table["member_id"], table["display_name"], strict=True))
    out = frame.copy()
    for column in columns:
        if column in out.columns:
            out[column] = [names.get(v, v) for v in out[column]]
    return out
