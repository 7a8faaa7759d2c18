"""The ``workbench`` command: demo, ingest, run, report (https://typer.tiangolo.com)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from analysis import config

app = typer.Typer(
    help="Community Workbench: from platform exports to honest, self-contained reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _echo(message: str) -> None:
    typer.echo(message)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def ingest_folder(
    raw_dir: Path,
    name: str,
    *,
    assume_timezone: str | None = None,
    format: str | None = None,
    infer_replies: bool | None = None,
    incremental: bool = False,
    mapping: dict | None = None,
) -> dict:
    """Ingest ``raw_dir`` into ``data/processed/<name>`` and return the manifest.

    ``raw_dir`` is a dataset folder or a single export (see :mod:`analysis.ingest`); ``mapping``
    (from :func:`analysis.ingest.generic.mapping_from_columns`) reads ``raw_dir`` as a mapped CSV.
    With ``incremental`` and an existing dataset of that name, the new tables are appended to it
    (:func:`analysis.ingest.incremental.append_tables`) and the manifest lists the old sources
    and the new ones; otherwise the dataset is replaced.
    """
    from analysis.data import MANIFEST, read_manifest, read_tables, write_dataset
    from analysis.ingest import ingest_raw_dir, source_files
    from analysis.ingest.incremental import append_tables

    tables = ingest_raw_dir(
        raw_dir,
        assume_timezone=assume_timezone,
        format=format,
        infer_replies=infer_replies,
        mapping=mapping,
    )
    out = config.DATA_PROCESSED / name
    previous: list[dict] = []
    if incremental and (out / MANIFEST).is_file():
        tables = append_tables(read_tables(out), tables, where=str(out))
        previous = read_manifest(out).get("sources", [])
    sources = source_files(raw_dir, format=format, mapping=mapping)
    return write_dataset(tables, out, sources=sources, previous_sources=previous)


def describe_manifest(manifest: dict) -> list[str]:
    """Human-readable lines: rows per table, date range, sources, observed vs inferred fields."""
    lines = [f"dataset '{manifest['dataset']}' (content hash {manifest['content_hash'][:12]})"]
    for table, entry in manifest["tables"].items():
        lines.append(f"  {table:<12} {entry['rows']:>10,} rows")
    span = manifest.get("time_range", {})
    lines.append(f"  messages from {span.get('start')} to {span.get('end')}")
    prov = manifest.get("provenance", {})
    formats = prov.get("sources.formats")
    n_files = len(manifest.get("sources", []))
    lines.append(f"  sources: {n_files} file(s)" + (f" ({formats})" if formats else ""))
    if "messages.incremental.appended_n" in prov:
        lines.append(
            f"  appended {int(prov['messages.incremental.appended_n']):,} new messages; "
            f"{int(prov['messages.incremental.already_present_n']):,} were already there"
        )
    statuses = ("observed", "inferred", "mixed", "partial", "absent")
    by_status: dict[str, list[str]] = {}
    for field, value in prov.items():
        status = value.split(" ", 1)[0]  # e.g. "observed (UTC per the dump's documentation)"
        if not field.endswith("_n") and "." in field and status in statuses:
            by_status.setdefault(status, []).append(field)
    for status in statuses:
        if by_status.get(status):
            lines.append(f"  {status + ':':<10} " + ", ".join(sorted(by_status[status])))
    return lines


def _column_map(pairs: list[str]) -> dict[str, str]:
    """``["message_id=post_id", ...]`` → ``{"message_id": "post_id", ...}``."""
    out = {}
    for pair in pairs:
        canonical, sep, column = pair.partition("=")
        if not sep or not canonical.strip() or not column.strip():
            raise _fail(f"--map {pair!r}: expected CANONICAL=COLUMN, e.g. --map message_id=post_id")
        out[canonical.strip()] = column.strip()
    return out


@app.command()
def ingest(
    path: Annotated[
        Path,
        typer.Argument(
            help="Raw dataset folder (data/raw/<name>), or one export: a file, zip or folder."
        ),
    ],
    name: Annotated[
        str | None, typer.Option(help="Dataset name (default: the folder's or file's name).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="telegram, discord, slack, vk, stackexchange or generic (default: detected).",
        ),
    ] = None,
    assume_timezone: Annotated[
        str | None,
        typer.Option(help="Zone of the local `date` field for old Telegram exports only."),
    ] = None,
    infer_replies: Annotated[
        bool | None,
        typer.Option(
            "--infer-replies/--no-infer-replies",
            help="Infer missing reply links (default: only for sources without reply links).",
        ),
    ] = None,
    append: Annotated[
        bool,
        typer.Option(
            "--append/--replace",
            help="Append new messages to an existing dataset of this name, or rebuild it.",
        ),
    ] = True,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="For a CSV/parquet PATH: CANONICAL=COLUMN (repeat), e.g. created_at=date.",
        ),
    ] = None,
    platform: Annotated[
        str | None, typer.Option(help="Platform name of a CSV/parquet PATH read with --map.")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="IANA zone of timestamps without an offset in a --map CSV."),
    ] = None,
) -> None:
    """Read an export into canonical tables under data/processed/<name> and say what was read."""
    from analysis.schema import SchemaValidationError

    path = path.resolve()
    if not path.exists():
        raise _fail(f"{path}: no such file or folder (not a folder or an export file)")
    mapping = None
    try:
        if map_:
            from analysis.ingest.generic import mapping_from_columns

            if not path.is_file() or platform is None:
                raise _fail("--map reads one CSV/parquet file and needs --platform NAME")
            mapping = mapping_from_columns(
                path, _column_map(map_), platform=platform, timezone=timezone
            )
            format = "generic"
        # a Telegram result.json is named after its folder (ChatExport_2024-05-01/result.json)
        default = path.parent.name if path.name == "result.json" else path.stem
        dataset = name or (default if path.is_file() else path.name)
        manifest = ingest_folder(
            path,
            dataset,
            assume_timezone=assume_timezone,
            format=format,
            infer_replies=infer_replies,
            incremental=append,
            mapping=mapping,
        )
    except (SchemaValidationError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    for line in describe_manifest(manifest):
        _echo(line)
    _echo(f"written: {config.DATA_PROCESSED / manifest['dataset']}")


@app.command()
def run(
    names: Annotated[
        list[str] | None, typer.Argument(help="Runs or run/name entries (default: all).")
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="Run configuration (workbench.toml).")
    ] = None,
    timeout: Annotated[
        int | None,
        typer.Option(
            help="Seconds allowed per notebook cell (default: [settings] cell_timeout in "
            "workbench.toml, else 1800)."
        ),
    ] = None,
) -> None:
    """Execute the notebooks listed in workbench.toml and export their reports.

    Safe under cron: one run at a time per reports/<run> (exit code 3 names the lock holder),
    progress appended to reports/<run>/run.log, exit code 1 if a notebook failed, timed out or
    its kernel died (its executed notebook is kept under reports/<run>/_failed/ and the last good
    report stays in place), exit code 2 for a configuration error (nothing runs).
    """
    from analysis.runner import (
        RunConfigError,
        RunLockedError,
        load_run_config,
        load_run_settings,
        run_entries,
        select_entries,
    )

    if timeout is not None and timeout <= 0:
        raise _fail(f"--timeout must be a positive number of seconds, got {timeout}")
    try:
        entries = load_run_config(config_file)
        settings = load_run_settings(config_file)
        chosen = select_entries(entries, names or [])
        outcome = run_entries(
            chosen, timeout=timeout, echo=_echo, index_entries=entries, settings=settings
        )
    except RunConfigError as exc:
        raise _fail(str(exc)) from None
    except RunLockedError as exc:
        raise _fail(str(exc), code=3) from None
    if not outcome.ok:
        names_failed = ", ".join(f"{o.entry.run}/{o.entry.name}" for o in outcome.failed)
        raise _fail(f"{len(outcome.failed)} notebook(s) failed: {names_failed}", code=1)


@app.command()
def demo(
    members: Annotated[int, typer.Option(help="Size of the demo community.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed of the simulator.")] = 0,
    dataset: Annotated[
        str, typer.Option(help="Dataset name under data/raw and data/processed.")
    ] = "demo",
    run_name: Annotated[
        str, typer.Option("--run", help="Run in workbench.toml to execute.")
    ] = "demo",
    force: Annotated[
        bool, typer.Option(help="Regenerate the raw demo export even if one exists.")
    ] = False,
    config_file: Annotated[Path | None, typer.Option("--config")] = None,
    hostile: Annotated[
        bool,
        typer.Option(
            help="Seed member, community and topic names and some messages with hostile text "
            "(<script>, onerror=, javascript: links, right-to-left overrides, a 10,000-character "
            "name) so the reports prove they escape it."
        ),
    ] = True,
) -> None:
    """Generate the demo community, ingest it and produce its reports.

    The demo community carries hostile user text by default (``--no-hostile`` to leave it out);
    reports must show it as inert text. Two demos on one dataset cannot overlap: the second
    exits with code 3 naming the first (lock ``data/processed/.<dataset>.lock``).
    """
    from dataclasses import replace

    from analysis.run_lock import RunLockedError, pause_point, run_lock
    from analysis.runner import (
        RunConfigError,
        load_run_config,
        load_run_settings,
        run_entries,
        select_entries,
    )

    t0 = time.perf_counter()
    raw = config.DATA_RAW / dataset
    try:
        with run_lock(
            config.DATA_PROCESSED, command="workbench demo", echo=_echo, name=f".{dataset}.lock"
        ):
            _echo(f"[1/3] demo community ({members:,} members, seed {seed}) -> {raw}")
            generate_demo(raw, members=members, seed=seed, force=force, hostile=hostile)
            pause_point("ingest", _echo)
            _echo(f"[2/3] ingest -> {config.DATA_PROCESSED / dataset}")
            manifest = ingest_folder(raw, dataset)
            for line in describe_manifest(manifest):
                _echo(line)
        _echo("[3/3] notebooks -> reports")
        entries = [replace(e, dataset=dataset) for e in load_run_config(config_file)]
        chosen = select_entries(entries, [run_name])
        outcome = run_entries(
            chosen,
            echo=_echo,
            index_entries=entries,
            settings=load_run_settings(config_file),
        )
    except RunConfigError as exc:
        raise _fail(str(exc)) from None
    except RunLockedError as exc:
        raise _fail(str(exc), code=3) from None
    if not outcome.ok:
        raise _fail(f"{len(outcome.failed)} notebook(s) failed; see the lines above", code=1)
    index = config.REPORTS_DIR / run_name / "index.html"
    _echo(f"done in {time.perf_counter() - t0:.0f} s. Open {index}")


#: The demo's CRM plants self-selection on observed purchase history (customers who bought more
#: in the year before are likelier to join), so the conversion report shows an adjusted effect
#: below the raw gap: see :func:`analysis.synth.crm.draw_crm_history`.
DEMO_CRM = {"history_selection": 1.0, "order_rate_per_year": 1.5}


def _export_is_hostile(raw: Path) -> bool:
    """Whether the demo export in ``raw`` was written with hostile strings (its name says so)."""
    from analysis.synth.texts import HOSTILE_COMMUNITY_SUFFIX

    try:
        with open(raw / "telegram" / "result.json", encoding="utf-8") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        return False
    return json.dumps(HOSTILE_COMMUNITY_SUFFIX, ensure_ascii=False)[1:-1] in head


def generate_demo(raw: Path, *, members: int, seed: int, force: bool, hostile: bool = True) -> None:
    """Write the simulated export into ``raw`` unless an identical one is already there.

    Raw folders are immutable: an existing demo made with other settings is an error unless
    ``force`` is given, in which case the whole folder is replaced atomically (the export is
    written to a hidden staging folder first and renamed, so a killed demo never leaves half a
    raw folder; the next demo removes the staging folder and starts again).
    """
    from analysis.run_lock import pause_point

    truth_file = raw / "ground_truth.json"
    if raw.exists() and not force:
        if truth_file.exists():
            truth = json.loads(truth_file.read_text(encoding="utf-8"))
            same = truth.get("seed") == seed and truth.get("n_members") == members
            planted = truth.get("purchase", {}).get("history_selection", 0.0)
            same = same and planted == DEMO_CRM["history_selection"]
            if same and _export_is_hostile(raw) == hostile:
                _echo("      already generated with these settings; reusing it")
                return
        raise _fail(
            f"{raw} already holds a raw export made with other settings (or not by the demo); "
            f"pass --force to replace it, or --dataset NAME for a new one"
        )
    from analysis.data import replace_dir
    from analysis.synth import generate_community

    raw.parent.mkdir(parents=True, exist_ok=True)
    staging = raw.with_name(f".{raw.name}.staging")
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    generate_community(staging, n_members=members, seed=seed, hostile_strings=hostile, **DEMO_CRM)
    pause_point("generate", _echo)
    replace_dir(staging, raw)


@app.command()
def report(
    run_name: Annotated[str, typer.Argument(help="Run whose index page to rebuild.")],
    config_file: Annotated[Path | None, typer.Option("--config")] = None,
) -> None:
    """Rebuild reports/<run>/index.html from the reports on disk and list them."""
    from analysis.runner import RunConfigError, load_run_config, write_index

    try:
        entries = load_run_config(config_file)
    except RunConfigError as exc:
        raise _fail(str(exc)) from None
    if not any(e.run == run_name for e in entries):
        raise _fail(f"no run called {run_name!r} in the configuration")
    index = write_index(run_name, entries)
    for html in sorted(index.parent.glob("*.html")):
        _echo(str(html))


if __name__ == "__main__":  # pragma: no cover
    app()
