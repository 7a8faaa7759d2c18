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

``reports/<run>/index.html`` lists the run's reports with their headline findings and
``reports/index.html`` every run over time (:mod:`analysis.run_index`).

Scheduled runs (cron)
---------------------
* One run at a time per output folder: :func:`run_entries` holds ``reports/<run>/.lock``
  (:mod:`analysis.run_lock`; a second run fails with the holder's pid, host and start time; the
  lock of a process that died is taken over automatically).
* Every line printed is also appended to ``reports/<run>/run.log`` with a UTC time stamp.
* A failing cell, a kernel that dies and a cell running longer than the timeout
  (``[settings] cell_timeout`` in ``workbench.toml``, an entry's ``timeout``, or
  ``workbench run --timeout``) are all failures: exit code 1, the executed notebook with the
  error kept in ``_failed/``, the last good report left in place.
* Killed at any point (even ``kill -9``): reports, findings and index pages are only ever
  replaced by a rename of a complete file, so each is either the old or the new complete one;
  the leftover staging folders are removed by the next run, which completes the work.

See https://papermill.readthedocs.io and https://nbconvert.readthedocs.io.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis import config
from analysis.data import package_version, read_manifest
from analysis.run_index import record_run, write_index, write_top_index
from analysis.run_lock import RunLockedError, pause_point, run_lock, run_logger
from analysis.run_notebook import (
    EntryOutcome,
    clean_staging,
    ensure_kernel,
    export_html,
    run_entry,
)

__all__ = [
    "RESERVED_PARAMETERS",
    "EntryOutcome",
    "RunConfigError",
    "RunEntry",
    "RunLockedError",
    "RunOutcome",
    "RunSettings",
    "export_html",
    "load_run_config",
    "load_run_settings",
    "run_entries",
    "run_entry",
    "select_entries",
    "validate_parameters",
    "write_index",
    "write_top_index",
]

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
#: Privacy switches: entry fields (default false) passed to notebooks declaring them.
PRIVACY_PARAMETERS = ("show_names", "show_text")
#: Default seconds allowed per notebook cell.
DEFAULT_CELL_TIMEOUT = 1800
_ENTRY_FIELDS = {"run", "name", "notebook", "dataset", "title", "parameters", "timeout"}


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
    show_names: bool = False
    show_text: bool = False
    timeout: int | None = None

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class RunSettings:
    """The ``[settings]`` table of ``workbench.toml``.

    Attributes
    ----------
    cell_timeout : int
        Seconds one notebook cell may run before the run counts as failed (papermill's
        ``execution_timeout``); a hung or dead kernel is therefore always a failure.
    """

    cell_timeout: int = DEFAULT_CELL_TIMEOUT


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
        show_names = false                # optional: display names instead of pseudonyms
        show_text = false                 # optional: quote message text in the report
        timeout = 600                     # optional: seconds per cell (else [settings])

    ``show_names`` / ``show_text`` are privacy switches, off unless set: they are passed to the
    notebook's parameters of the same name, and setting one for a notebook that does not
    declare it is an error (it could not honour it).
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
        unknown = set(raw) - _ENTRY_FIELDS - set(PRIVACY_PARAMETERS)
        if unknown:
            raise RunConfigError(f"{where}: unknown fields {sorted(unknown)}")
        params = raw.get("parameters", {})
        if not isinstance(params, dict):
            raise RunConfigError(f"{where}: 'parameters' must be a table")
        for key in PRIVACY_PARAMETERS:
            if not isinstance(raw.get(key, False), bool):
                raise RunConfigError(f"{where}: '{key}' must be true or false, got {raw[key]!r}")
        timeout = raw.get("timeout")
        if timeout is not None and (
            not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0
        ):
            raise RunConfigError(
                f"{where}: 'timeout' must be a positive number of seconds, got {timeout!r}"
            )
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
                show_names=raw.get("show_names", False),
                show_text=raw.get("show_text", False),
                timeout=timeout,
            )
        )
    seen: set[tuple[str, str]] = set()
    for e in entries:
        if (e.run, e.name) in seen:
            raise RunConfigError(f"{path}: run '{e.run}' lists the name '{e.name}' twice")
        seen.add((e.run, e.name))
    return entries


def load_run_settings(path: Path | str | None = None) -> RunSettings:
    """Read the optional ``[settings]`` table of ``workbench.toml`` (defaults if absent).

    Format::

        [settings]
        cell_timeout = 1800   # seconds per notebook cell
    """
    path = Path(path) if path is not None else config.RUN_CONFIG
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunConfigError(f"{path}: run configuration not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunConfigError(f"{path}: not valid TOML: {exc}") from None
    raw = data.get("settings", {})
    if not isinstance(raw, dict):
        raise RunConfigError(f"{path}: [settings] must be a table")
    unknown = set(raw) - {"cell_timeout"}
    if unknown:
        raise RunConfigError(f"{path}: [settings] has unknown fields {sorted(unknown)}")
    timeout = raw.get("cell_timeout", DEFAULT_CELL_TIMEOUT)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise RunConfigError(
            f"{path}: [settings] cell_timeout must be a positive number of seconds, got {timeout!r}"
        )
    return RunSettings(cell_timeout=timeout)


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
    try:
        params = papermill.inspect_notebook(str(notebook))
    except ValueError as exc:  # not a notebook, or no kernel language to parse the cell with
        raise RunConfigError(f"{notebook}: cannot read its parameters: {exc}") from None
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
    privacy = {}
    for key in PRIVACY_PARAMETERS:
        wanted = bool(getattr(entry, key))
        if key in declared:
            privacy[key] = wanted
        elif wanted:
            raise RunConfigError(
                f"run '{entry.run}/{entry.name}': {key} = true, but {entry.notebook.name} has no "
                f"'{key}' parameter, so it cannot honour it (it shows pseudonyms and no message "
                f"text); add the parameter to the notebook or remove the switch"
            )
        if key in entry.parameters:
            raise RunConfigError(
                f"run '{entry.run}/{entry.name}': set '{key}' as the entry's own field, not in "
                f"parameters"
            )
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
    return {"dataset": str(dataset_path), **entry.parameters, **privacy}


def run_entries(
    entries: Sequence[RunEntry],
    *,
    reports_dir: Path | None = None,
    timeout: int | None = None,
    echo: Callable[[str], None] = print,
    index_entries: Sequence[RunEntry] | None = None,
    settings: RunSettings | None = None,
) -> RunOutcome:
    """Validate all entries first (nothing runs if any is wrong), then execute each run in turn.

    Parameters
    ----------
    entries : sequence of RunEntry
        What to execute, grouped by ``run`` (the output folder ``reports/<run>``).
    reports_dir : Path, optional
        Default :data:`analysis.config.REPORTS_DIR`.
    timeout : int, optional
        Seconds per cell for every entry (the CLI's ``--timeout``); otherwise an entry's own
        ``timeout``, else ``settings.cell_timeout``.
    echo : callable
        Receives progress lines (also appended to ``reports/<run>/run.log``).
    index_entries : sequence of RunEntry, optional
        Entries listed on each run's index page (default ``entries``), so running one notebook
        of a run keeps the others on its index.
    settings : RunSettings, optional
        Defaults of ``workbench.toml``'s ``[settings]``.

    Raises
    ------
    RunConfigError
        Bad parameters; nothing ran.
    RunLockedError
        Another live process is running one of these runs; nothing ran for that run or after.
    """
    settings = settings or RunSettings()
    reports_dir = Path(reports_dir) if reports_dir is not None else config.REPORTS_DIR
    validated = [(entry, validate_parameters(entry)) for entry in entries]
    ensure_kernel(echo)
    outcomes: list[EntryOutcome] = []
    runs = list(dict.fromkeys(e.run for e in entries))
    for run in runs:
        chosen = [(e, p) for e, p in validated if e.run == run]
        out_dir = reports_dir / run
        with run_logger(out_dir, echo) as log, contextlib.ExitStack() as held:
            try:
                held.enter_context(run_lock(out_dir, command="workbench run", echo=log))
            except RunLockedError as exc:
                log(f"refused to start: {exc}", quiet=True)  # the caller reports it
                raise
            outcomes += _run_locked(run, chosen, out_dir, reports_dir, timeout, settings, log)
            pause_point("index", log)
            index = write_index(run, index_entries or entries, reports_dir=reports_dir)
            log(f"index: {index}")
            top = write_top_index(reports_dir=reports_dir)
            log(f"all runs: {top}")
    return RunOutcome(outcomes)


def _run_locked(
    run: str,
    chosen: Sequence[tuple[RunEntry, dict[str, Any]]],
    out_dir: Path,
    reports_dir: Path,
    timeout: int | None,
    settings: RunSettings,
    log: Callable[[str], None],
) -> list[EntryOutcome]:
    """Execute one run's entries while holding its lock; record the run in its history."""
    started = datetime.now(UTC)
    for leftover in clean_staging(out_dir):
        log(f"removed {leftover.name}, left by an interrupted run")
    pause_point("start", log)
    outcomes = []
    for i, (entry, params) in enumerate(chosen, start=1):
        seconds = timeout or entry.timeout or settings.cell_timeout
        log(f"[{i}/{len(chosen)}] {entry.run}/{entry.name}: running {entry.notebook.name}")
        outcome = run_entry(entry, params, reports_dir=reports_dir, timeout=seconds, echo=log)
        if outcome.ok:
            log(f"      ok in {outcome.seconds:.1f} s -> {outcome.html}")
        else:
            log(f"      FAILED after {outcome.seconds:.1f} s: {outcome.error.splitlines()[0]}")
            log(f"      executed notebook with the error: {outcome.failed_notebook}")
        outcomes.append(outcome)
    manifest_hashes = sorted({_dataset_hash(p["dataset"]) for _, p in chosen})
    record_run(
        run,
        {
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "ok": all(o.ok for o in outcomes),
            "entries": [
                {
                    "name": o.entry.name,
                    "title": o.entry.display_title,
                    "ok": o.ok,
                    "seconds": round(o.seconds, 1),
                    "error": o.error.splitlines()[0] if o.error else "",
                }
                for o in outcomes
            ],
            "dataset_hashes": manifest_hashes,
            "package_version": package_version(),
        },
        reports_dir=reports_dir,
    )
    return outcomes


def _dataset_hash(dataset: str) -> str:
    try:
        return str(read_manifest(dataset).get("content_hash", "?"))
    except FileNotFoundError:
        return "?"
