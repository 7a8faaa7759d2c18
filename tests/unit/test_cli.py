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


# --- ingest: formats, mapping options, append, reply inference ------------------------------


def _processed(tmp_path, monkeypatch):
    from analysis import config

    monkeypatch.setenv(config.PSEUDONYM_KEY_ENV, "test-key-not-secret")
    monkeypatch.setattr(config, "DATA_PROCESSED", tmp_path / "processed")
    return tmp_path / "processed"


def _telegram(path: Path, ids: list[int]) -> Path:
    import json

    messages = [
        {
            "id": i,
            "type": "message",
            "date": "2024-01-10T12:00:00",
            "date_unixtime": str(1_704_888_000 + 60 * i),
            "from": "U",
            "from_id": f"user{i % 2}",
            "text": "hi",
        }
        for i in ids
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"name": "C", "type": "private_supergroup", "id": 5, "messages": messages}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_ingest_csv_with_column_map_prints_what_was_read(tmp_path, monkeypatch):
    processed = _processed(tmp_path, monkeypatch)
    csv = tmp_path / "posts.csv"
    csv.write_text("id,who,at\n1,a,2024-01-01 10:00\n2,b,2024-01-02 11:00\n", encoding="utf-8")
    args = ["ingest", str(csv), "--platform", "forum", "--timezone", "Europe/Moscow"]
    args += ["--map", "message_id=id", "--map", "member_id=who", "--map", "created_at=at"]
    args += ["--no-infer-replies"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "members" in out and "messages" in out and "2 rows" in out
    assert "messages from 2024-01-01T07:00:00+00:00 to 2024-01-02T08:00:00+00:00" in out
    assert "(generic)" in out and "observed:" in out and "absent:" in out
    assert (processed / "posts" / "manifest.json").is_file()


def test_ingest_errors_are_clear(tmp_path, monkeypatch):
    _processed(tmp_path, monkeypatch)
    csv = tmp_path / "posts.csv"
    csv.write_text("id,who,at\n1,a,2024-01-01 10:00\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(csv), "--map", "message_id=id"])
    assert result.exit_code == 2 and "needs --platform" in result.output
    result = runner.invoke(app, ["ingest", str(csv)])
    assert result.exit_code == 2 and "needs a column mapping" in result.output
    result = runner.invoke(app, ["ingest", str(tmp_path), "--format", "myspace"])
    assert result.exit_code == 2 and "unknown format 'myspace'" in result.output
    args = ["ingest", str(csv), "--platform", "forum", "--map", "message_id=id"]
    args += ["--map", "member_id=who", "--map", "created_at=at"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "posts.csv" in result.output and "'created_at'" in result.output
    assert "row 1 (line 2)" in result.output


def test_ingest_newer_export_appends(tmp_path, monkeypatch):
    _processed(tmp_path, monkeypatch)
    old = _telegram(tmp_path / "may" / "result.json", [1, 2])
    new = _telegram(tmp_path / "aug" / "result.json", [1, 2, 3])
    assert runner.invoke(app, ["ingest", str(old), "--name", "chat"]).exit_code == 0
    result = runner.invoke(app, ["ingest", str(new.parent), "--name", "chat"])
    assert result.exit_code == 0, result.output
    assert "appended 1 new messages; 2 were already there" in result.output
    assert "sources: 2 file(s) (telegram)" in result.output
    result = runner.invoke(app, ["ingest", str(new.parent), "--name", "chat", "--replace"])
    assert "sources: 1 file(s)" in result.output and "appended" not in result.output


def test_ingest_infer_replies_flag_calls_the_model(tmp_path, monkeypatch):
    import types

    processed = _processed(tmp_path, monkeypatch)
    seen = []

    def infer_replies(messages, members=None, *, model=None):
        seen.append(len(messages))
        return messages

    stub = types.ModuleType("analysis.ingest.reply_inference")
    stub.infer_replies = infer_replies
    monkeypatch.setitem(sys.modules, "analysis.ingest.reply_inference", stub)
    export = _telegram(tmp_path / "x" / "result.json", [1, 2, 3])
    result = runner.invoke(app, ["ingest", str(export), "--infer-replies"])
    assert result.exit_code == 0, result.output
    assert seen == [3]
    # a result.json is named after its folder
    assert (processed / "x" / "manifest.json").is_file()


def test_describe_manifest_groups_fields_by_status():
    from analysis.cli import describe_manifest

    manifest = {
        "dataset": "d",
        "content_hash": "0" * 64,
        "tables": {"members": {"rows": 3}, "messages": {"rows": 1200}},
        "time_range": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-02-01T00:00:00+00:00"},
        "sources": [{"path": "a"}, {"path": "b"}],
        "provenance": {
            "messages.created_at": "observed (UTC per the dump's documentation)",
            "messages.reply_to_id": "inferred",
            "messages.reply_to_id.inferred_n": "7",
            "members.member_id.key_fingerprint": "deadbeef",
            "sources.formats": "telegram, generic",
            "messages.incremental.appended_n": "1000",
            "messages.incremental.already_present_n": "200",
        },
    }
    lines = describe_manifest(manifest)
    assert "  messages          1,200 rows" in lines
    assert "  sources: 2 file(s) (telegram, generic)" in lines
    assert "  appended 1,000 new messages; 200 were already there" in lines
    assert "  observed:  messages.created_at" in lines
    assert "  inferred:  messages.reply_to_id" in lines
    assert not any("deadbeef" in line or "fingerprint" in line for line in lines)
