"""Run the study notebooks: papermill → executed notebook → self-contained HTML report.

The runner knows notebooks and parameters, not statistics. For each entry of ``workbench.toml``
it

1. checks every requested parameter against the notebook's cell tagged ``parameters`` (unknown
   name or wrong type → :class:`RunConfigError`, and nothing runs);
2. executes the notebook with papermill on the project's own kernel
   (:data:`analysis.config.KERNEL_NAME`), with absolute paths, into a staging folder;
3. on success exports HTML with nbconvert (no code cells, images inline, no script from a CDN,
   a footer with parameters, dataset manifest hash, package version and run time), extracts the
   notebook's findings into ``<name>.json``, and renames both into ``reports/<run>/``;
4. on failure keeps the executed notebook with its error as ``reports/<run>/_failed/<name>.ipynb``
   and leaves the previous good report untouched.

``reports/<run>/index.html`` lists the run's reports with their headline findings.
See https://papermill.readthedocs.io and https://nbconvert.readthedocs.io.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis import config
from analysis.data import atomic_write_text, package_version, read_manifest
from analysis.report import HOUSE_CSS, extract_findings, footer_html, index_html

#: Python types accepted for each type papermill infers from a parameter's default value.
_ACCEPTED_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}

RESERVED_PARAMETERS = ("dataset",)


class RunConfigError(ValueError):
    """``workbench.toml`` or a run's parameters are wrong; nothing was executed."""


@dataclass(frozen=True)
class RunEntry:
    """One notebook execution: ``reports/<run>/<name>.html`` from ``notebook`` on ``dataset``."""

    run: str
    name: str
    notebook: Path
    dataset: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()


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


@dataclass
class RunOutcome:
    """All entries of one ``run_entries`` call; ``ok`` only if every entry succeeded."""

    outcomes: list[EntryOutcome]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[EntryOutcome]:
        return [o for o in self.outcomes if not o.ok]


def load_run_config(path: Path | str | None = None) -> list[RunEntry]:
    """Read the runs listed in ``workbench.toml``.

    Format::

        [[runs]]
        run = "demo"                      # reports/demo/
        name = "community_health"         # reports/demo/community_health.html
        notebook = "notebooks/01_community_health.ipynb"   # relative to the file's folder
        dataset = "demo"                  # data/processed/demo (or a path)
        title = "Community health"        # optional
        parameters = { period = "week" }  # optional
    """
    path = Path(path) if path is not None else config.RUN_CONFIG
    if not path.exists():
        raise RunConfigError(f"{path}: run configuration not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RunConfigError(f"{path}: not valid TOML: {exc}") from None
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs:
        raise RunConfigError(f"{path}: expected a non-empty list of [[runs]] tables")
    entries = []
    for i, raw in enumerate(runs, start=1):
        where = f"{path}: [[runs]] #{i}"
        for key in ("run", "name", "notebook", "dataset"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise RunConfigError(f"{where}: field '{key}' is required and must be a string")
        unknown = set(raw) - {"run", "name", "notebook", "dataset", "title", "parameters"}
        if unknown:
            raise RunConfigError(f"{where}: unknown fields {sorted(unknown)}")
        params = raw.get("parameters", {})
        if not isinstance(params, dict):
            raise RunConfigError(f"{where}: 'parameters' must be a table")
        notebook = Path(raw["notebook"])
        if not notebook.is_absolute():
            notebook = (path.parent / notebook).resolve()
        entries.append(
            RunEntry(
                run=raw["run"],
                name=raw["name"],
                notebook=notebook,
                dataset=raw["dataset"],
                parameters=params,
                title=raw.get("title", ""),
            )
        )
    seen: set[tuple[str, str]] = set()
    for e in entries:
        if (e.run, e.name) in seen:
            raise RunConfigError(f"{path}: run '{e.run}' lists the name '{e.name}' twice")
        seen.add((e.run, e.name))
    return entries


def select_entries(entries: Sequence[RunEntry], names: Iterable[str] = ()) -> list[RunEntry]:
    """Entries whose run or ``run/name`` or name is in ``names`` (all entries when empty)."""
    names = list(names)
    if not names:
        return list(entries)
    chosen = [
        e for e in entries if e.run in names or e.name in names or f"{e.run}/{e.name}" in names
    ]
    known = sorted({e.run for e in entries} | {f"{e.run}/{e.name}" for e in entries})
    missing = [
        n for n in names if not any(n in (e.run, e.name, f"{e.run}/{e.name}") for e in entries)
    ]
    if missing:
        raise RunConfigError(f"no run called {missing}; known runs: {known}")
    return chosen


def notebook_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The notebook's declared parameters (papermill's ``inspect_notebook``)."""
    import papermill

    if not notebook.exists():
        raise RunConfigError(f"{notebook}: notebook not found")
    params = papermill.inspect_notebook(str(notebook))
    if not params:
        raise RunConfigError(
            f"{notebook}: has no cell tagged 'parameters' (or it declares nothing); the runner "
            f"needs one to validate parameters"
        )
    return params


def validate_parameters(entry: RunEntry) -> dict[str, Any]:
    """Check ``entry.parameters`` against the notebook and return the full parameter set.

    The dataset is always passed as the absolute path of the processed dataset.
    """
    declared = notebook_parameters(entry.notebook)
    for reserved in RESERVED_PARAMETERS:
        if reserved not in declared:
            raise RunConfigError(f"{entry.notebook}: the parameters cell must declare '{reserved}'")
        if reserved in entry.parameters:
            raise RunConfigError(
                f"run '{entry.run}/{entry.name}': set '{reserved}' as the entry's own field, "
                f"not in parameters"
            )
    for key, value in entry.parameters.items():
        if key not in declared:
            raise RunConfigError(
                f"run '{entry.run}/{entry.name}': unknown parameter '{key}' for "
                f"{entry.notebook.name}; it declares {sorted(declared)}"
            )
        expected = declared[key].get("inferred_type_name", "None")
        accepted = _ACCEPTED_TYPES.get(expected.split("[")[0].strip().lower())
        if accepted is None:
            continue  # None default or a complex annotation: any value is accepted
        is_bool = isinstance(value, bool)
        ok = isinstance(value, accepted) and (expected == "bool" or not is_bool)
        if not ok:
            raise RunConfigError(
                f"run '{entry.run}/{entry.name}': parameter '{key}' must be {expected} (its "
                f"default in {entry.notebook.name} is {declared[key].get('default')}), got "
                f"{type(value).__name__} {value!r}"
            )
    dataset_path = config.dataset_dir(entry.dataset)
    if not (dataset_path / "manifest.json").exists():
        raise RunConfigError(
            f"run '{entry.run}/{entry.name}': dataset '{entry.dataset}' not found at "
            f"{dataset_path} (no manifest.json); ingest it first"
        )
    return {"dataset": str(dataset_path), **entry.parameters}


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


def export_html(notebook: Any, *, title: str, footer: str) -> str:
    """Executed notebook → HTML without code, with inline images and no external scripts."""
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
        "workbench_css": HOUSE_CSS,
    }
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    return body


def _execute(entry: RunEntry, parameters: dict[str, Any], output: Path, timeout: int) -> None:
    """Execute with papermill; the kernel talks over Unix sockets in a private temp folder.

    IPC transport keeps the kernel off TCP ports entirely (no other local user can connect, and
    ipykernel does not warn about unencrypted TCP); the folder is short-pathed because Unix
    socket paths are limited to ~100 characters, and absolute so cron's working directory does
    not matter.
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


def _describe_error(exc: BaseException) -> str:
    """One line naming the failing cell's exception (papermill keeps it as ename/evalue)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        cell = getattr(exc, "exec_count", None)
        where = f" in cell [{cell}]" if cell is not None else ""
        return f"{ename}{where}: {evalue}"[:2000]
    return f"{type(exc).__name__}: {exc}".strip()[:2000]


def run_entry(
    entry: RunEntry,
    parameters: dict[str, Any],
    *,
    reports_dir: Path | None = None,
    timeout: int = 1800,
) -> EntryOutcome:
    """Execute one validated entry; never raises for a notebook failure (see ``EntryOutcome``)."""
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
            failed_dir = out_dir / "_failed"
            failed_dir.mkdir(exist_ok=True)
            failed = failed_dir / f"{entry.name}.ipynb"
            if executed.exists():
                executed.replace(failed)
            else:
                atomic_write_text(failed, json.dumps({"error": str(exc)}))
            return EntryOutcome(
                entry,
                ok=False,
                failed_notebook=failed,
                error=_describe_error(exc),
                seconds=time.perf_counter() - t0,
            )
        notebook = nbformat.read(executed, as_version=4)
        duration = time.perf_counter() - t0
        manifest = read_manifest(parameters["dataset"])
        footer = footer_html(
            run=entry.run,
            name=entry.name,
            parameters=parameters | {"dataset": manifest.get("dataset", entry.dataset)},
            manifest=manifest,
            package_version=package_version(),
            started_at=started,
            duration_s=duration,
        )
        html_text = export_html(notebook, title=entry.display_title, footer=footer)
        found = extract_findings(notebook) or {"study": entry.name, "statements": [], "figures": {}}
        found |= {
            "run": entry.run,
            "name": entry.name,
            "title": entry.display_title,
            "dataset": manifest.get("dataset"),
            "dataset_hash": manifest.get("content_hash"),
            "parameters": parameters | {"dataset": manifest.get("dataset", entry.dataset)},
            "package_version": package_version(),
            "run_at": started.isoformat(timespec="seconds"),
        }
        html_path = out_dir / f"{entry.name}.html"
        json_path = out_dir / f"{entry.name}.json"
        executed_dir = out_dir / "_executed"
        executed_dir.mkdir(exist_ok=True)
        atomic_write_text(json_path, json.dumps(found, indent=2, ensure_ascii=False))
        atomic_write_text(html_path, html_text)
        executed.replace(executed_dir / f"{entry.name}.ipynb")
        (out_dir / "_failed" / f"{entry.name}.ipynb").unlink(missing_ok=True)
        return EntryOutcome(entry, ok=True, html=html_path, findings=json_path, seconds=duration)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_index(run: str, entries: Sequence[RunEntry], *, reports_dir: Path | None = None) -> Path:
    """Write ``reports/<run>/index.html`` from the reports and findings present on disk."""
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
            statements = json.loads(json_file.read_text(encoding="utf-8")).get("statements", [])
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


def run_entries(
    entries: Sequence[RunEntry],
    *,
    reports_dir: Path | None = None,
    timeout: int = 1800,
    echo: Callable[[str], None] = print,
    index_entries: Sequence[RunEntry] | None = None,
) -> RunOutcome:
    """Validate all entries first (nothing runs if any is wrong), then execute each in turn.

    ``index_entries`` (default: ``entries``) are the entries listed on each run's index page,
    so running one notebook of a run keeps the others on its index.
    """
    validated = [(entry, validate_parameters(entry)) for entry in entries]
    ensure_kernel(echo)
    outcomes = []
    for i, (entry, params) in enumerate(validated, start=1):
        echo(f"[{i}/{len(validated)}] {entry.run}/{entry.name}: running {entry.notebook.name}")
        outcome = run_entry(entry, params, reports_dir=reports_dir, timeout=timeout)
        if outcome.ok:
            echo(f"      ok in {outcome.seconds:.1f} s -> {outcome.html}")
        else:
            echo(f"      FAILED after {outcome.seconds:.1f} s: {outcome.error.splitlines()[0]}")
            echo(f"      executed notebook with the error: {outcome.failed_notebook}")
        outcomes.append(outcome)
    for run in dict.fromkeys(e.run for e in entries):
        index = write_index(run, index_entries or entries, reports_dir=reports_dir)
        echo(f"index: {index}")
    return RunOutcome(outcomes)
