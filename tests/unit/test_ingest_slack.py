"""Slack workspace export (folder or zip) → canonical tables, on small exports built per test."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest.slack import SlackExportError, is_slack_export, read_slack_export
from analysis.pseudonym import Pseudonymizer

T0 = 1_704_880_800  # 2024-01-10 10:00:00 UTC


@pytest.fixture
def pseudo() -> Pseudonymizer:
    return Pseudonymizer(key="slack-test-key")


def ts(seconds: int, micro: int = 1) -> str:
    return f"{T0 + seconds}.{micro:06d}"


USERS = [
    {
        "id": "U1",
        "name": "ann",
        "is_admin": True,
        "profile": {"display_name": "Ann", "real_name": "A"},
    },
    {"id": "U2", "name": "ben", "profile": {"display_name": "", "real_name": "Ben B"}},
    {"id": "U3", "name": "cat", "profile": {}},
    {"id": "U4", "name": "dormant", "profile": {}},
    {"id": "UB", "name": "helper", "is_bot": True, "profile": {"bot_id": "B7"}},
]
CHANNELS = [{"id": "C1", "name": "general"}, {"id": "C2", "name": "help"}]


def day_general() -> list[dict]:
    return [
        {
            "type": "message",
            "subtype": "channel_join",
            "user": "U2",
            "text": "<@U2> has joined",
            "ts": ts(0),
        },
        {
            "type": "message",
            "user": "U1",
            "text": "Question for <@U2> and <@U3|cat>, cc <@U1>",
            "ts": ts(60),
            "thread_ts": ts(60),
            "reply_count": 2,
            "reactions": [{"name": "thumbsup", "users": ["U2", "U3"], "count": 5}],
        },
        {
            "type": "message",
            "user": "U2",
            "text": "answer",
            "ts": ts(120),
            "thread_ts": ts(60),
            "parent_user_id": "U1",
        },
        {
            "type": "message",
            "user": "U3",
            "text": "another answer",
            "ts": ts(180, 123456),
            "thread_ts": ts(60),
        },
        {
            "type": "message",
            "user": "U3",
            "text": "late reply",
            "ts": ts(240),
            "thread_ts": ts(-86400),
        },
        {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B9",
            "username": "ci",
            "text": "build ok",
            "ts": ts(300),
        },
    ]


def day_help() -> list[dict]:
    return [
        {"type": "message", "user": "UB", "text": "I am a bot user", "ts": ts(400)},
        {"type": "message", "user": "U2", "text": "hi", "ts": ts(500)},
        {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B7",
            "text": "app post",
            "ts": ts(600),
        },
    ]


def make_export(root: Path, days: dict[str, object] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "users.json").write_text(json.dumps(USERS), encoding="utf-8")
    (root / "channels.json").write_text(json.dumps(CHANNELS), encoding="utf-8")
    days = days or {"general/2024-01-10.json": day_general(), "help/2024-01-10.json": day_help()}
    for name, content in days.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
    return root


def zip_folder(folder: Path, target: Path, top: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, top + path.relative_to(folder).as_posix())
    return target


def test_folder_export_maps_every_field(tmp_path, pseudo):
    t = read_slack_export(make_export(tmp_path / "exp"), pseudonymizer=pseudo)
    msgs = t.messages.set_index("message_id")
    assert len(msgs) == 9
    parent = f"sl:C1:{ts(60)}"
    assert msgs.loc[f"sl:C1:{ts(120)}", "reply_to_id"] == parent
    assert msgs.loc[f"sl:C1:{ts(180, 123456)}", "thread_id"] == parent
    assert msgs.loc[parent, "reply_source"] == "none"  # the parent is its own thread
    dangling = f"sl:C1:{ts(-86400)}"
    assert msgs.loc[f"sl:C1:{ts(240)}", "reply_to_id"] == dangling
    assert msgs.loc[f"sl:C1:{ts(240)}", "thread_id"] == dangling
    # ts is converted exactly, to the microsecond
    assert msgs.loc[f"sl:C1:{ts(180, 123456)}", "created_at"] == pd.Timestamp(
        T0 + 180, unit="s", tz="UTC"
    ) + pd.Timedelta(microseconds=123456)
    assert msgs.loc[f"sl:C1:{ts(0)}", "kind"] == "service"
    assert (msgs["kind"] == "message").sum() == 8
    assert msgs.loc[f"sl:C2:{ts(600)}", "member_id"] == pseudo.member_id("slack", "UB")
    assert msgs.loc[parent, "n_reactions"] == 5

    members = t.members.set_index("member_id")
    ids = {u: pseudo.member_id("slack", u) for u in ("U1", "U2", "U3", "U4", "UB", "B9")}
    assert set(members.index) == {ids[u] for u in ("U1", "U2", "U3", "UB", "B9")}
    assert members.loc[ids["U1"], "is_staff"] and members["is_staff"].sum() == 1
    assert set(members.index[members["is_bot"]]) == {ids["UB"], ids["B9"]}
    assert members.loc[ids["U1"], "display_name"] == "Ann"
    assert members.loc[ids["U2"], "display_name"] == "Ben B"
    assert members.loc[ids["B9"], "display_name"] == "ci"
    assert members.loc[ids["U2"], "joined_at"] == pd.Timestamp(
        T0, unit="s", tz="UTC"
    ) + pd.Timedelta(microseconds=1)

    rx = t.reactions
    assert rx["count"].sum() == 5
    assert set(rx.loc[rx["member_id"].notna(), "member_id"]) == {ids["U2"], ids["U3"]}
    assert rx.loc[rx["member_id"].isna(), "count"].tolist() == [3]
    assert set(t.mentions["member_id"]) == {ids["U2"], ids["U3"]}  # self-mention left out
    assert set(t.mentions["message_id"]) == {parent}
    assert set(t.channels["channel_id"]) == {"sl:C1", "sl:C2"}

    p = t.provenance
    assert p["messages.reply_to_id.explicit_n"] == "3"
    assert p["messages.thread_replies_n"] == "3"
    assert p["messages.reply_to_id.dangling_n"] == "1"
    assert p["members.joined_at.observed_n"] == "1"
    assert p["members.users_json_unseen_n"] == "1"
    assert p["reactions.member_id"] == "partial"


def test_zip_with_top_folder_equals_folder(tmp_path, pseudo):
    folder = make_export(tmp_path / "exp")
    archive = zip_folder(folder, tmp_path / "export.zip", top="Workspace Slack export/")
    assert is_slack_export(archive) and is_slack_export(folder)
    a = read_slack_export(folder, pseudonymizer=pseudo)
    b = read_slack_export(archive, pseudonymizer=pseudo)
    pd.testing.assert_frame_equal(a.messages, b.messages)
    pd.testing.assert_frame_equal(a.members, b.members)


def test_duplicates(tmp_path, pseudo):
    days = {
        "general/2024-01-10.json": day_general(),
        "general/2024-01-11.json": day_general()[1:2],
        "help/2024-01-10.json": day_help(),
    }
    t = read_slack_export(make_export(tmp_path / "a", days), pseudonymizer=pseudo)
    assert t.provenance["messages.duplicates_dropped_n"] == "1"
    changed = day_general()[1:2]
    changed[0]["text"] = "edited"
    days["general/2024-01-11.json"] = changed
    with pytest.raises(SlackExportError, match=r"general/2024-01-11.json: message ts .*twice"):
        read_slack_export(make_export(tmp_path / "b", days), pseudonymizer=pseudo)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b'[{"type": "message", "user": "U1", "ts": "1', r"help/2024-01-10.json: not valid JSON"),
        (b'[{"type": "message", "user": "U1", "text": "caf\xe9", "ts": "1.1"}]', r"not UTF-8"),
        ([{"type": "message", "user": "U1", "text": "x"}], r"\[0\]: missing field 'ts'"),
        ([{"type": "message", "user": "U1", "ts": 1704880800.5}], r"field 'ts' is 1704880800.5"),
        (
            [{"type": "message", "user": "U1", "ts": "2024-01-10 10:00"}],
            r"field 'ts' is '2024-01-10 10:00'; expected a Slack timestamp",
        ),
        ([{"type": "message", "user": 7, "ts": "1.1"}], r"ts '1.1': field 'user' is 7"),
        ([{"type": "message", "user": "U1", "ts": "1.1", "text": ["x"]}], r"field 'text'"),
        ([{"type": "message", "user": "U1", "ts": "1.1", "subtype": 3}], r"field 'subtype'"),
        (
            [
                {
                    "type": "message",
                    "user": "U1",
                    "ts": "1.1",
                    "reactions": [{"name": "x", "count": -1}],
                }
            ],
            r"reactions\[0\].count' is -1",
        ),
        ([{"type": "message", "user": "U1", "ts": "1.1", "thread_ts": "x"}], r"'thread_ts' is 'x'"),
        ({"messages": []}, r"help/2024-01-10.json: expected a list of messages"),
    ],
)
def test_bad_day_files_are_named(tmp_path, pseudo, content, pattern):
    days = {"general/2024-01-10.json": day_general(), "help/2024-01-10.json": content}
    with pytest.raises(SlackExportError, match=pattern):
        read_slack_export(make_export(tmp_path / "exp", days), pseudonymizer=pseudo)


def test_bad_exports(tmp_path, pseudo):
    empty = make_export(tmp_path / "empty", {"general/2024-01-10.json": []})
    with pytest.raises(SlackExportError, match=r"empty: the export contains no messages"):
        read_slack_export(empty, pseudonymizer=pseudo)
    no_users = make_export(tmp_path / "nousers")
    (no_users / "users.json").unlink()
    with pytest.raises(SlackExportError, match=r"no users.json"):
        read_slack_export(no_users, pseudonymizer=pseudo)
    no_channels = make_export(tmp_path / "nochannels")
    (no_channels / "channels.json").unlink()
    with pytest.raises(SlackExportError, match=r"no channels.json"):
        read_slack_export(no_channels, pseudonymizer=pseudo)
    bad_zip = tmp_path / "cut.zip"
    zip_folder(make_export(tmp_path / "z"), bad_zip)
    bad_zip.write_bytes(bad_zip.read_bytes()[:200])
    with pytest.raises(SlackExportError, match=r"cut.zip: not a zip file"):
        read_slack_export(bad_zip, pseudonymizer=pseudo)
    bad_users = make_export(tmp_path / "badusers")
    (bad_users / "users.json").write_text(json.dumps([{"name": "x"}]), encoding="utf-8")
    with pytest.raises(SlackExportError, match=r"users.json: users\[0\]: missing"):
        read_slack_export(bad_users, pseudonymizer=pseudo)
    with pytest.raises(FileNotFoundError):
        read_slack_export(tmp_path / "missing.zip", pseudonymizer=pseudo)
    assert not is_slack_export(tmp_path / "missing.zip")
    assert not is_slack_export(bad_zip)


def test_reply_cycle_and_unlisted_folder(tmp_path, pseudo):
    a, b = ts(10), ts(20)
    days = {
        "general/2024-01-10.json": [
            {"type": "message", "user": "U1", "text": "a", "ts": a, "thread_ts": b},
            {"type": "message", "user": "U2", "text": "b", "ts": b, "thread_ts": a},
        ]
    }
    with pytest.raises(SlackExportError, match=r"cycle"):
        read_slack_export(make_export(tmp_path / "cyc", days), pseudonymizer=pseudo)
    days = {"general/2024-01-10.json": day_general(), "secret/2024-01-10.json": day_help()}
    t = read_slack_export(make_export(tmp_path / "unl", days), pseudonymizer=pseudo)
    assert t.provenance["channels.unlisted_folders_n"] == "1"
    assert len(t.messages) == 6  # the 3 messages of the unlisted folder are not read


@pytest.mark.slow
def test_streams_a_large_day_file(tmp_path, pseudo):
    """A 20 MB day file in a zip is parsed incrementally, never held whole (reading it whole
    would hold its bytes and their decoded text: at least twice its size)."""
    folder = make_export(tmp_path / "exp", {"help/2024-01-10.json": day_help()})
    big = folder / "general" / "2024-01-10.json"
    big.parent.mkdir()
    with open(big, "w", encoding="utf-8") as fh:
        fh.write("[")
        for i in range(8_000):
            m = {
                "type": "message",
                "user": f"U{i % 50}",
                "text": f"message {i}",
                "ts": ts(i),
                "attachments": [{"fallback": "x" * 2000, "text": "y" * 400}],
            }
            fh.write(("," if i else "") + json.dumps(m))
        fh.write("]")
    archive = zip_folder(folder, tmp_path / "big.zip")
    size = big.stat().st_size
    assert size > 19e6
    tracemalloc.start()
    try:
        t = read_slack_export(archive, pseudonymizer=pseudo)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(t.messages) == 8_003
    assert peak < 0.5 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB day file"
