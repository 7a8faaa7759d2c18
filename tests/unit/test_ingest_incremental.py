"""Re-ingesting a newer export of the same chat appends only new messages, never duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import config
from analysis.cli import ingest_folder
from analysis.data import read_manifest, read_tables
from analysis.ingest import ingest_raw_dir
from analysis.ingest.incremental import (
    IncrementalIngestError,
    append_tables,
    combine_sources,
    merge_provenance,
)
from analysis.pseudonym import Pseudonymizer

pytestmark = pytest.mark.usefixtures("_key_env")
T0 = 1_704_888_000


def msg(mid: int, t: int, user: str, reply: int | None = None, likes: int = 0) -> dict:
    m = {
        "id": mid,
        "type": "message",
        "date": "2024-01-10T12:00:00",
        "date_unixtime": str(T0 + t),
        "from": user.capitalize(),
        "from_id": user,
        "text": f"m{mid}",
    }
    if reply is not None:
        m["reply_to_message_id"] = reply
    if likes:
        m["reactions"] = [{"type": "emoji", "emoji": "👍", "count": likes, "recent": []}]
    return m


def export(path: Path, messages: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"name": "C", "type": "private_supergroup", "id": 555, "messages": messages}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def processed(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(config, "DATA_PROCESSED", tmp_path / "processed")
    return tmp_path / "processed"


def test_newer_export_appends_only_new_messages(tmp_path, processed):
    may = export(tmp_path / "may" / "result.json", [msg(1, 0, "user1"), msg(2, 60, "user2", 1)])
    first = ingest_folder(may.parent, "chat", incremental=True)
    # August: the full history again (message 2 now has 3 reactions) plus two new messages
    august = export(
        tmp_path / "aug" / "result.json",
        [
            msg(1, 0, "user1"),
            msg(2, 60, "user2", 1, likes=3),
            msg(3, 9000, "user3", 2),
            msg(4, 9600, "user1"),
        ],
    )
    second = ingest_folder(august.parent, "chat", incremental=True)
    t = read_tables(processed / "chat")
    assert t.messages["message_id"].tolist() == [f"tg:555:{i}" for i in (1, 2, 3, 4)]
    assert t.messages["message_id"].is_unique and len(t.members) == 3
    m = t.messages.set_index("message_id")
    assert m.loc["tg:555:3", "thread_id"] == "tg:555:1"
    assert m.loc["tg:555:2", "n_reactions"] == 3  # the later snapshot of reactions
    assert t.reactions["count"].sum() == 3
    prov = second["provenance"]
    assert prov["messages.incremental.appended_n"] == "2"
    assert prov["messages.incremental.already_present_n"] == "2"
    assert prov["messages.reply_to_id.explicit_n"] == "2"
    paths = [s["path"] for s in second["sources"]]
    assert paths == [str(may.resolve()), str(august.resolve())]
    assert first["sources"][0] == second["sources"][0]
    # the same export once more changes nothing
    third = ingest_folder(august.parent, "chat", incremental=True)
    assert third["content_hash"] == second["content_hash"]
    assert third["provenance"]["messages.incremental.appended_n"] == "0"
    assert len(third["sources"]) == 2


def test_date_range_export_joins_threads_of_the_old_one(tmp_path, processed):
    old = export(tmp_path / "a" / "result.json", [msg(1, 0, "user1"), msg(2, 60, "user2", 1)])
    ingest_folder(old.parent, "chat", incremental=True)
    # a later export of only the last days: message 3 replies to message 2, which it lacks
    new = export(tmp_path / "b" / "result.json", [msg(3, 9000, "user3", 2), msg(4, 9100, "user3")])
    manifest = ingest_folder(new.parent, "chat", incremental=True)
    t = read_tables(processed / "chat")
    m = t.messages.set_index("message_id")
    assert m.loc["tg:555:3", "thread_id"] == "tg:555:1"  # not the missing id 'tg:555:2'
    assert manifest["provenance"]["messages.reply_to_id.dangling_n"] == "0"
    assert len(t.messages) == 4


def test_replace_rebuilds_and_other_key_is_refused(tmp_path, processed, monkeypatch):
    a = export(tmp_path / "a" / "result.json", [msg(1, 0, "user1"), msg(2, 60, "user2", 1)])
    b = export(tmp_path / "b" / "result.json", [msg(7, 0, "user1")])
    ingest_folder(a.parent, "chat", incremental=True)
    ingest_folder(b.parent, "chat", incremental=False)
    assert read_tables(processed / "chat").messages["message_id"].tolist() == ["tg:555:7"]
    assert len(read_manifest(processed / "chat")["sources"]) == 1
    monkeypatch.setenv(config.PSEUDONYM_KEY_ENV, "another-key")
    with pytest.raises(IncrementalIngestError, match="another key"):
        ingest_folder(a.parent, "chat", incremental=True)


def test_append_tables_keeps_old_rows_and_unions_crm_tables(tmp_path, pseudo):
    raw = tmp_path / "raw"
    export(raw / "telegram" / "result.json", [msg(1, 0, "user1")])
    (raw / "customers.csv").write_text(
        "customer_id,telegram_user_id,signed_up_at\nc1,user1,2024-01-01T00:00:00Z\n"
    )
    old = ingest_raw_dir(raw, pseudonymizer=pseudo)
    (raw / "customers.csv").write_text(
        "customer_id,telegram_user_id,signed_up_at\nc2,,2024-02-01T00:00:00Z\n"
    )
    new = ingest_raw_dir(raw, pseudonymizer=pseudo)
    both = append_tables(old, new).validated()
    assert sorted(both.customers["customer_id"]) == ["c1", "c2"]
    assert len(both.messages) == 1


def test_merge_provenance_rules():
    merged = merge_provenance(
        [
            {"a.x": "observed", "a.y_n": "2", "a.z": "absent", "a.w": "observed"},
            {"a.x": "observed", "a.y_n": "5", "a.w": "inferred"},
        ]
    )
    assert merged == {"a.x": "observed", "a.y_n": "7", "a.z": "partial", "a.w": "mixed"}


def test_combine_sources_keeps_one_row_per_message_and_member(tmp_path):
    pseudo = Pseudonymizer(key="k")
    raw = tmp_path / "raw"
    path = export(raw / "result.json", [msg(1, 0, "user1"), msg(2, 60, "user2", 1)])
    one = ingest_raw_dir(path, pseudonymizer=pseudo)
    both = combine_sources([("telegram", one), ("telegram", one)]).validated()
    assert len(both.messages) == 2 and len(both.members) == 2
    assert both.provenance["messages.cross_source_duplicates_n"] == "2"
    assert isinstance(both.members["joined_at"].dtype, pd.DatetimeTZDtype)


def test_two_snapshots_in_one_dataset_folder(tmp_path, pseudo):
    raw = tmp_path / "raw"
    # the newer snapshot sorts first by path: the order of reading must not matter
    export(
        raw / "telegram" / "A_august" / "result.json",
        [msg(1, 0, "user1", likes=2), msg(3, 900, "user3", 1)],
    )
    export(raw / "telegram" / "B_may" / "result.json", [msg(1, 0, "user1"), msg(2, 60, "user2", 1)])
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    m = t.messages.set_index("message_id")
    assert list(m.index) == ["tg:555:1", "tg:555:2", "tg:555:3"]
    assert m.loc["tg:555:1", "n_reactions"] == 2  # from the newer snapshot
    assert t.provenance["messages.snapshots_n"] == "2"
    assert t.provenance["messages.incremental.appended_n"] == "1"
    # one file with the same message twice, differently, is still an error
    export(raw / "telegram" / "A_august" / "result.json", [msg(1, 0, "user1"), msg(1, 0, "user2")])
    with pytest.raises(ValueError, match="appears twice with different content"):
        ingest_raw_dir(raw, pseudonymizer=pseudo)
