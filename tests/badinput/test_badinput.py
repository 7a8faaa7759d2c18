"""Every bad input in the corpus gets its expected clear error or its documented fallback.

Each case is a folder ``cases/<name>/`` with the input files and a ``case.toml``:

``target``
    What reads the input: an adapter (``telegram``, ``orders``, ``customers``, ``assignments``,
    ``roster``, ``generic`` through the case's ``mapping.toml``), the ingest of a raw dataset
    folder (``raw_dir``; ``shared_truncated``: a real dump from ``../shared/data`` with one file
    cut short, never copied into the project), a per-unit experiment table (``unit_table``),
    the run configuration (``run_config``), or a whole raw dataset folder run through a study
    (``health``, ``experiment``).
``raises`` + ``match``
    The error expected: exception class names separated by ``|`` and a regular expression its
    message must match. Every message must also name what was read (the file or the case
    folder's files) unless the input is not a file.
``fallback``
    Instead of an error, a documented fallback; the check for each is in :data:`FALLBACKS`.
``about``
    The situation in words.

Add a case by adding a folder; nothing else needs to change unless it needs a new target or
fallback.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analysis import config
from analysis.data import Community
from analysis.experiments.study import analyse_experiment, analyse_unit_table
from analysis.experiments.unit_table import read_unit_table
from analysis.health.overview import health_overview
from analysis.ingest import ingest_raw_dir
from analysis.ingest.crm import read_assignments, read_customers, read_orders, read_roster
from analysis.ingest.telegram import read_telegram_export
from analysis.pseudonym import Pseudonymizer
from analysis.runner import load_run_config, validate_parameters

CASES = Path(__file__).parent / "cases"
PSEUDO = Pseudonymizer("badinput-corpus-key")


def _cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "case.toml").is_file())


def _spec(case: Path) -> dict[str, Any]:
    return tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))


def _only(case: Path, pattern: str) -> Path:
    (path,) = [p for p in case.rglob(pattern) if p.name != "case.toml"]
    return path


def _run_config(case: Path, tmp_path: Path) -> Any:
    shutil.copy(case / "workbench.toml", tmp_path / "workbench.toml")
    (tmp_path / "notebooks").symlink_to(config.PROJ_ROOT / "notebooks")
    entries = load_run_config(tmp_path / "workbench.toml")
    return [validate_parameters(entry) for entry in entries]


def _unit_table(case: Path, spec: dict[str, Any]) -> Any:
    table = read_unit_table(_only(case, "*.csv"), metrics=spec["metrics"])
    return analyse_unit_table(table)


def _raw(case: Path, tmp_path: Path) -> Community:
    raw = tmp_path / "raw"
    shutil.copytree(case, raw, ignore=shutil.ignore_patterns("case.toml"))
    return Community.from_tables(ingest_raw_dir(raw, pseudonymizer=PSEUDO))


def _shared_truncated(case: Path, spec: dict[str, Any], tmp_path: Path) -> Community:
    """A real dump from ../shared/data copied into a dataset folder with one file cut short."""
    source = config.SHARED_DIR / "data" / spec["shared"]
    if not source.is_dir():
        pytest.skip(f"shared data {source} not available")
    folder = tmp_path / "raw" / spec["folder"]
    folder.mkdir(parents=True)
    for file in source.iterdir():
        if file.suffix == ".xml" or file.suffix == ".json":
            data = file.read_bytes()
            if file.name == spec["truncate"]:
                data = data[: spec["keep_bytes"]]
            (folder / file.name).write_bytes(data)
    return Community.from_tables(ingest_raw_dir(tmp_path / "raw", pseudonymizer=PSEUDO))


TARGETS: dict[str, Callable[[Path, dict[str, Any], Path], Any]] = {
    "telegram": lambda c, s, t: read_telegram_export(_only(c, "*.json"), pseudonymizer=PSEUDO),
    "orders": lambda c, s, t: read_orders(_only(c, "*.csv")),
    "customers": lambda c, s, t: read_customers(_only(c, "*.csv"), pseudonymizer=PSEUDO),
    "assignments": lambda c, s, t: read_assignments(_only(c, "*.csv"), pseudonymizer=PSEUDO),
    "roster": lambda c, s, t: read_roster(_only(c, "*.csv")),
    "unit_table": lambda c, s, t: _unit_table(c, s),
    "run_config": lambda c, s, t: _run_config(c, t),
    "raw_dir": lambda c, s, t: _raw(c, t),
    "shared_truncated": _shared_truncated,
    "generic": lambda c, s, t: ingest_raw_dir(c / "mapping.toml", pseudonymizer=PSEUDO),
    "health": lambda c, s, t: health_overview(_raw(c, t)),
    "experiment": lambda c, s, t: analyse_experiment(_raw(c, t), "e"),
}


# ---- documented fallbacks ---------------------------------------------------------------------
def _dangling_reply_kept(result: Any) -> None:
    """A reply to a message outside the export keeps its reference and is counted."""
    messages = result.messages
    assert messages["reply_to_id"].str.endswith(":999").sum() == 1
    assert result.provenance["messages.reply_to_id.dangling_n"] == "1"


def _no_sender_skipped(result: Any) -> None:
    """A message with no author cannot be attributed: left out, and the count says so."""
    assert list(result.messages["message_id"]) == ["tg:777:1"]
    assert result.provenance["messages.skipped_no_sender_n"] == "1"


def _mixed_zones_to_utc(result: Any) -> None:
    """Each row's own offset is honoured and the column is UTC."""
    assert list(result["ordered_at"]) == [
        pd.Timestamp("2024-01-02T07:00:00Z"),
        pd.Timestamp("2024-01-02T10:00:00Z"),
    ]


def _zero_conversions(result: Any) -> None:
    """No conversions anywhere: difference 0 with a finite, symmetric interval (Newcombe's, from
    Wilson intervals, which stay informative at 0%), p = 1, decision "no effect"."""
    row = result.to_frame().iloc[0]
    assert row["diff"] == 0 and row["p_value"] == 1.0 and row["decision"] == "no effect"
    assert 0 < row["ci_high"] < 0.5 and row["ci_low"] == -row["ci_high"]
    assert "from 0.0% to 0.0%" in result.summary()


def _zero_variance(result: Any) -> None:
    """All-equal values: difference 0 with a zero-width interval, p = 1, "no effect", no NaN."""
    row = result.to_frame().iloc[0]
    assert row["diff"] == 0 and row["ci_low"] == 0 and row["ci_high"] == 0
    assert row["p_value"] == 1.0 and row["decision"] == "no effect"
    assert "nan" not in result.summary().lower()


def _health_runs(result: Any) -> None:
    """The study runs and says something; no number in its findings is NaN."""
    findings = result.findings()
    assert findings
    assert not any(re.search(r"\bnan\b", line, re.IGNORECASE) for line in findings)


def _health_century(result: Any) -> None:
    """A century of weekly data: every week is a period and the findings hold no NaN.

    The case's 1,200 threads are 30 days apart from 1925: 35,970 days, 5,139 whole weeks."""
    _health_runs(result)
    assert result.to_dict()["activity"]["complete_periods"] == 5139
    assert result.activity_warnings is not None  # change points searched in the latest weeks


FALLBACKS: dict[str, Callable[[Any], None]] = {
    "dangling_reply_kept": _dangling_reply_kept,
    "mixed_zones_to_utc": _mixed_zones_to_utc,
    "no_sender_skipped": _no_sender_skipped,
    "zero_conversions": _zero_conversions,
    "zero_variance": _zero_variance,
    "health_runs": _health_runs,
    "health_century": _health_century,
}


def test_the_corpus_is_big_enough_and_every_case_is_well_formed():
    cases = _cases()
    assert len(cases) >= 30
    for case in cases:
        spec = _spec(case)
        assert spec["target"] in TARGETS, case.name
        assert spec.get("about"), case.name
        assert ("raises" in spec) != ("fallback" in spec), case.name
        if "fallback" in spec:
            assert spec["fallback"] in FALLBACKS, case.name


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_bad_input(case: Path, tmp_path: Path, monkeypatch) -> None:
    spec = _spec(case)
    run = TARGETS[spec["target"]]
    before = {p: p.read_bytes() for p in case.rglob("*") if p.is_file()}
    if "fallback" in spec:
        FALLBACKS[spec["fallback"]](run(case, spec, tmp_path))
    else:
        names = tuple(spec["raises"].split("|"))
        with pytest.raises(Exception) as info:
            run(case, spec, tmp_path)
        assert type(info.value).__name__ in names or any(
            cls.__name__ in names for cls in type(info.value).__mro__
        ), f"{type(info.value).__name__}: {info.value}"
        message = str(info.value)
        assert re.search(spec["match"], message), message
        assert "Traceback" not in message
    # the input is never written to
    assert {p: p.read_bytes() for p in case.rglob("*") if p.is_file()} == before
