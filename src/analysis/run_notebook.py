"""Execute one notebook and publish its report: papermill → nbconvert HTML → atomic renames.

Used by :func:`analysis.runner.run_entries`, which validates parameters and holds the run's lock
first. See https://papermill.readthedocs.io and https://nbconvert.readthedocs.io.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis import config
from analysis.data import atomic_write_text, package_version, read_manifest
from analysis.report import HOUSE_CSS, extract_findings, footer_html, title_block_html
from analysis.run_lock import pause_point

if TYPE_CHECKING:
    from analysis.runner import RunEntry

__all__ = ["EntryOutcome", "clean_staging", "ensure_kernel", "export_html", "run_entry"]


@dataclass
class EntryOutcome:
    """What happened to one entry."""

    entry: RunEntry
    ok: bool
    html: Path | None = None
    findings: Path | None = None
    failed_notebook: Path | None = None
    error: str = ""
    seconds: float = 0.0


def ensure_kernel(echo: Callable[[str], None] = print) -> None:
    """Make sure the project's kernel is registered; register it in this environment if not."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(config.KERNEL_NAME)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(
            kernel_name=config.KERNEL_NAME,
            display_name="Community Workbench",
            prefix=sys.prefix,
        )
        echo(f"registered Jupyter kernel '{config.KERNEL_NAME}' in {sys.prefix}")


def export_html(notebook: Any, *, title: str, footer: str, title_block: str = "") -> str:
    """Executed notebook → HTML without code, with inline images and no external scripts.

    ``title_block`` and ``footer`` are trusted HTML built by :mod:`analysis.report` (every piece
    of user text in them escaped); the page title is escaped by the template.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="workbench",
        extra_template_basedirs=[str(config.PACKAGE_DIR / "templates")],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {
        "metadata": {"name": title},
        "workbench_footer": footer,
        "workbench_title_block": title_block,
        "workbench_css": HOUSE_CSS,
    }
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    return body


def _execute(entry: RunEntry, parameters: dict[str, Any], output: Path, timeout: int) -> None:
    """Execute with papermill; the kernel talks over Unix sockets in a private temp folder.

    IPC transport keeps the kernel off TCP ports entirely (no other local user can connect, and
    ipykernel does not warn about unencrypted TCP); the folder is short-pathed because Unix
    socket paths are limited to ~100 characters, and absolute so cron's working directory does
    not matter. ``timeout`` is papermill's ``execution_timeout``: seconds per cell.
    """
    import tempfile

    import papermill
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="wb-kernel-") as sockets:
        kernel_config = Config(
            {"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "k")}}
        )
        papermill.execute_notebook(
            str(entry.notebook),
            str(output),
            parameters=parameters,
            kernel_name=config.KERNEL_NAME,
            cwd=str(entry.notebook.parent),
            progress_bar=False,
            execution_timeout=timeout,
            start_timeout=120,
            config=kernel_config,
        )


def _describe_error(exc: BaseException, timeout: int) -> str:
    """One line naming the failing cell's exception (papermill keeps it as ename/evalue)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        cell = getattr(exc, "exec_count", None)
        where = f" in cell [{cell}]" if cell is not None else ""
        return f"{ename}{where}: {evalue}"[:2000]
    kind = type(exc).__name__
    if kind == "CellTimeoutError":
        return f"CellTimeoutError: a cell ran longer than the timeout of {timeout} s"
    if kind == "DeadKernelError":
        return f"DeadKernelError: the kernel died during execution ({exc})"[:2000]
    return f"{kind}: {exc}".strip()[:2000]


def _keep_failed(executed: Path, failed: Path, error: str) -> None:
    """Move the executed notebook to ``failed``, with the error as a last markdown cell.

    A failing cell's traceback is already in its outputs; a timeout or a dead kernel leaves no
    error output, so the appended cell is where the reader sees what happened.
    """
    import nbformat

    if executed.exists():
        try:
            nb = nbformat.read(executed, as_version=4)
        except Exception:  # an unreadable partial notebook is still kept as it is
            executed.replace(failed)
            return
    else:
        nb = nbformat.v4.new_notebook()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    nb.cells.append(
        nbformat.v4.new_markdown_cell(f"**Run failed** at {stamp}:\n\n```\n{error}\n```")
    )
    atomic_write_text(failed, nbformat.writes(nb))
    executed.unlink(missing_ok=True)


def community_name(dataset: str) -> str | None:
    """Name of the dataset's top-level channel (the chat or server), if it has one.

    The channels table holds one row per channel; the community itself is the channel without
    a parent. ``None`` when there is no channels table or several top-level channels.
    """
    from analysis.data import Community

    try:
        community = Community.load(dataset)
        if not community.has("channels"):
            return None
        channels = community.table("channels")
        top = community.execute(channels.filter(channels.parent_id.isnull()).select("name"))
    except (FileNotFoundError, KeyError, AttributeError):
        return None
    names = [str(n) for n in top["name"].dropna().unique()]
    return names[0] if len(names) == 1 else None


def clean_staging(out_dir: Path) -> list[Path]:
    """Remove staging folders and temporary files a killed run left in ``out_dir``.

    Call only while holding the run's lock: then no other run can be writing them.
    """
    removed = []
    for leftover in [*out_dir.glob(".staging-*"), *out_dir.rglob(".*.tmp")]:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def run_entry(
    entry: RunEntry,
    parameters: dict[str, Any],
    *,
    reports_dir: Path | None = None,
    timeout: int = 1800,
    echo: Callable[[str], None] = print,
) -> EntryOutcome:
    """Execute one validated entry; never raises for a notebook failure (see ``EntryOutcome``).

    The findings JSON, then the HTML report, then the executed notebook are each published by
    an atomic rename; until then everything lives in a hidden staging folder.
    """
    import nbformat

    reports_dir = Path(reports_dir) if reports_dir is not None else config.REPORTS_DIR
    out_dir = reports_dir / entry.run
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / f".staging-{entry.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    executed = staging / f"{entry.name}.ipynb"
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        try:
            _execute(entry, parameters, executed, timeout)
        except Exception as exc:  # papermill raises PapermillExecutionError and kernel errors
            error = _describe_error(exc, timeout)
            failed_dir = out_dir / "_failed"
            failed_dir.mkdir(exist_ok=True)
            failed = failed_dir / f"{entry.name}.ipynb"
            _keep_failed(executed, failed, error)
            return EntryOutcome(
                entry,
                ok=False,
                failed_notebook=failed,
                error=error,
                seconds=time.perf_counter() - t0,
            )
        pause_point("execute", echo)
        notebook = nbformat.read(executed, as_version=4)
        duration = time.perf_counter() - t0
        manifest = read_manifest(parameters["dataset"])
        shown = parameters | {"dataset": manifest.get("dataset", entry.dataset)}
        footer = footer_html(
            run=entry.run,
            name=entry.name,
            parameters=shown,
            manifest=manifest,
            package_version=package_version(),
            started_at=started,
            duration_s=duration,
        )
        block = title_block_html(
            title=entry.display_title,
            manifest=manifest,
            parameters=shown,
            run_at=started,
            community=community_name(parameters["dataset"]),
        )
        html_text = export_html(
            notebook, title=entry.display_title, footer=footer, title_block=block
        )
        found = extract_findings(notebook) or {"study": entry.name, "statements": [], "figures": {}}
        found |= {
            "run": entry.run,
            "name": entry.name,
            "title": entry.display_title,
            "dataset": manifest.get("dataset"),
            "dataset_hash": manifest.get("content_hash"),
            "parameters": shown,
            "package_version": package_version(),
            "run_at": started.isoformat(timespec="seconds"),
        }
        html_path = out_dir / f"{entry.name}.html"
        json_path = out_dir / f"{entry.name}.json"
        executed_dir = out_dir / "_executed"
        executed_dir.mkdir(exist_ok=True)
        atomic_write_text(json_path, json.dumps(found, indent=2, ensure_ascii=False))
        pause_point("publish", echo)
        atomic_write_text(html_path, html_text)
        executed.replace(executed_dir / f"{entry.name}.ipynb")
        (out_dir / "_failed" / f"{entry.name}.ipynb").unlink(missing_ok=True)
        return EntryOutcome(entry, ok=True, html=html_path, findings=json_path, seconds=duration)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
