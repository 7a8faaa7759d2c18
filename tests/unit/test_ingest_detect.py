"""Format detection, the format registry and dataset folders with several sources."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from analysis.ingest import detect, ingest_raw_dir, source_files
from analysis.ingest.detect import (
    ExportFormat,
    FormatUnavailableError,
    UnknownFormatError,
    dataset_sources,
    detect_format,
    format_module,
    is_telegram_export,
)

pytestmark = pytest.mark.usefixtures("_key_env")
T0 = 1_704_888_000  # 2024-01-10 12:00:00 UTC


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def telegram_doc(n: int = 2) -> dict:
    messages = [
        {
            "id": i,
            "type": "message",
            "date": "2024-01-10T12:00:00",
            "date_unixtime": str(T0 + 60 * i),
            "from": f"U{i}",
            "from_id": f"user{i}",
            "text": "hi",
        }
        for i in range(1, n + 1)
    ]
    return {"name": "C", "type": "private_supergroup", "id": 555, "messages": messages}


def telegram_file(path: Path, doc: dict | None = None) -> Path:
    return write(path, json.dumps(doc or telegram_doc()))


SE_POSTS = """<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" CreationDate="2020-01-01T10:00:00.000" OwnerUserId="5" Title="Q"
       Body="&lt;p&gt;q&lt;/p&gt;" />
  <row Id="2" PostTypeId="2" ParentId="1" CreationDate="2020-01-01T11:00:00.000" OwnerUserId="6"
       Body="&lt;p&gt;a&lt;/p&gt;" />
</posts>
"""
SE_COMMENTS = '<?xml version="1.0" encoding="utf-8"?>\n<comments>\n</comments>\n'
SE_USERS = """<?xml version="1.0" encoding="utf-8"?>
<users>
  <row Id="5" CreationDate="2019-01-01T00:00:00.000" DisplayName="A" />
  <row Id="6" CreationDate="2019-01-01T00:00:00.000" DisplayName="B" />
</users>
"""


def se_dump(folder: Path) -> Path:
    write(folder / "Posts.xml", SE_POSTS)
    write(folder / "Comments.xml", SE_COMMENTS)
    write(folder / "Users.xml", SE_USERS)
    return folder


def generic_dump(folder: Path) -> Path:
    write(folder / "posts.csv", "id,who,at\n1,a,2024-01-01T00:00:00Z\n2,b,2024-01-01T00:05:00Z\n")
    write(
        folder / "mapping.toml",
        'platform = "forum"\n[messages]\nfile = "posts.csv"\nmessage_id = "id"\n'
        'member_id = "who"\ncreated_at = "at"\n',
    )
    return folder


# --- single exports -------------------------------------------------------------------------


def test_telegram_file_folder_and_full_account_export(tmp_path):
    assert detect_format(telegram_file(tmp_path / "a" / "result.json")) == "telegram"
    assert detect_format(tmp_path / "a") == "telegram"
    # a full-account export: 'chats' comes after other large top-level keys
    account = {"about": "x", "contacts": {"list": [{"n": i} for i in range(500)]}, "chats": {}}
    assert detect_format(telegram_file(tmp_path / "b" / "result.json", account)) == "telegram"
    assert not is_telegram_export(write(tmp_path / "other.json", '{"foo": {"messages": 1}}'))
    assert not is_telegram_export(write(tmp_path / "list.json", "[1, 2]"))
    assert not is_telegram_export(write(tmp_path / "broken.json", '{"name": '))


def test_stackexchange_folder_and_posts_file(tmp_path):
    dump = se_dump(tmp_path / "meta")
    assert detect_format(dump) == "stackexchange"
    assert detect_format(dump / "Posts.xml") == "stackexchange"


def test_generic_mapping_file_and_folder(tmp_path):
    dump = generic_dump(tmp_path / "forum")
    assert detect_format(dump) == "generic"
    assert detect_format(dump / "mapping.toml") == "generic"


def test_csv_alone_and_unknown_files_are_clear_errors(tmp_path):
    with pytest.raises(UnknownFormatError, match="needs a column mapping"):
        detect_format(write(tmp_path / "posts.csv", "a,b\n1,2\n"))
    with pytest.raises(UnknownFormatError, match="not a recognised export"):
        detect_format(write(tmp_path / "x.json", '{"hello": 1}'))
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        detect_format(tmp_path / "missing")


def test_plugin_formats_are_detected_when_installed(tmp_path):
    discord = write(
        tmp_path / "d.json",
        json.dumps({"guild": {"id": "1"}, "channel": {"id": "2"}, "messages": []}),
    )
    vk = write(tmp_path / "vk.json", json.dumps({"response": {"items": [{"from_id": 1}]}}))
    slack = tmp_path / "slack.zip"
    with zipfile.ZipFile(slack, "w") as zf:
        zf.writestr("users.json", "[]")
        zf.writestr("channels.json", "[]")
    expected = {discord: "discord", vk: "vk", slack: "slack"}
    for path, name in expected.items():
        try:
            format_module(name)
        except FormatUnavailableError:
            continue  # that adapter is not part of this installation yet
        assert detect_format(path) == name


def test_unknown_and_unavailable_formats(tmp_path, monkeypatch, pseudo):
    with pytest.raises(UnknownFormatError, match="unknown format 'myspace'"):
        format_module("myspace")
    missing = ExportFormat("discord", "analysis.ingest.no_such_adapter", "is_x", "Discord")
    monkeypatch.setitem(detect.FORMATS, "discord", missing)
    with pytest.raises(FormatUnavailableError, match="analysis.ingest.no_such_adapter"):
        format_module("discord")
    telegram_file(tmp_path / "raw" / "result.json")
    with pytest.raises(FormatUnavailableError, match="format 'discord'"):
        ingest_raw_dir(tmp_path / "raw", format="discord", pseudonymizer=pseudo)
    # detection skips an adapter that is not installed
    assert detect_format(tmp_path / "raw") == "telegram"


# --- dataset folders -------------------------------------------------------------------------


def test_dataset_folder_with_telegram_stackexchange_and_generic(tmp_path, pseudo):
    raw = tmp_path / "community"
    telegram_file(raw / "telegram" / "ChatExport_1" / "result.json")
    se_dump(raw / "stackexchange")
    generic_dump(raw / "generic")
    sources = dataset_sources(raw)
    assert list(sources) == ["telegram", "stackexchange", "generic"]
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    assert len(t.messages) == 2 + 2 + 2
    assert set(t.messages["platform"]) == {"telegram", "stackexchange", "forum"}
    # a dump directly in stackexchange/ takes the dataset's name as its site
    assert t.messages["channel_id"].str.startswith("se:community").sum() == 2
    assert t.provenance["sources.formats"] == "telegram, stackexchange, generic"
    assert t.provenance["messages.reply_to_id.explicit_n"] == "1"  # the SE answer
    files = [p.name for p in source_files(raw)]
    assert files == [
        "result.json",
        "Posts.xml",
        "Comments.xml",
        "Users.xml",
        "mapping.toml",
        "posts.csv",
    ]
    only = ingest_raw_dir(raw, pseudonymizer=pseudo, format="stackexchange")
    assert set(only.messages["platform"]) == {"stackexchange"}


def test_single_export_path_with_sidecars_beside_it(tmp_path, pseudo):
    export = telegram_file(tmp_path / "ChatExport" / "result.json")
    write(
        tmp_path / "ChatExport" / "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency\n",
    )
    t = ingest_raw_dir(tmp_path / "ChatExport", pseudonymizer=pseudo)
    assert len(t.messages) == 2 and t.orders is not None and t.orders.empty
    t2 = ingest_raw_dir(export, pseudonymizer=pseudo)
    assert t2.messages.equals(t.messages)
    assert [p.name for p in source_files(export)] == ["result.json", "orders.csv"]
    assert t.provenance["members.member_id.key_fingerprint"] == pseudo.fingerprint


def test_customers_csv_names_its_platform(tmp_path, pseudo):
    raw = generic_dump(tmp_path / "raw" / "generic").parent
    write(raw / "customers.csv", "customer_id,forum_user_id,signed_up_at\nc1,a,2024-01-01T00:00Z\n")
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    assert t.customers["member_id"].tolist() == [pseudo.member_id("forum", "a")]
    write(raw / "customers.csv", "customer_id,signed_up_at\nc1,2024-01-01T00:00Z\n")
    with pytest.raises(ValueError, match="<platform>_user_id"):
        ingest_raw_dir(raw, pseudonymizer=pseudo)


def test_real_samples_are_recognised(shared_data):
    expected = {
        "telegram-export-samples/personal_chat.json": "telegram",
        "telegram-export-samples/supergroup_with_topics.json": "telegram",
        "stackexchange-history-meta": "stackexchange",
        "slack-export-sample/testarchive.zip": "slack",
    }
    for relative, name in expected.items():
        path = Path(shared_data) / relative
        if not path.exists():
            continue
        if name == "slack":
            try:
                format_module("slack")
            except FormatUnavailableError:
                continue
        assert detect_format(path) == name, relative
