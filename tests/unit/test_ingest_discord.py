"""DiscordChatExporter JSON/CSV → canonical tables: hand-written fixtures, generated bad input."""

from __future__ import annotations

import copy
import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.ingest.discord import DiscordExportError, is_discord_export, read_discord_exports
from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

FIXTURES = Path(__file__).parents[1] / "fixtures" / "discord"
GENERAL = FIXTURES / "general.json"
THREAD = FIXTURES / "setup-thread.json"
CSV = FIXTURES / "Workbench Fans - random [910000000000000002].csv"
ALICE, BOB, CAROL, DAVE, BOT = (f"10000000000000000{i}" for i in (1, 2, 3, 4, 9))


@pytest.fixture
def pseudo() -> Pseudonymizer:
    return Pseudonymizer(key="discord-test-key")


def mid(p: Pseudonymizer, user: str) -> str:
    return p.member_id("discord", user)


def read(paths, pseudo) -> Tables:
    return read_discord_exports([Path(p) for p in paths], pseudonymizer=pseudo)


def base_doc() -> dict:
    return json.loads(GENERAL.read_text(encoding="utf-8"))


def write(tmp_path: Path, doc: object, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_json_fixture_maps_every_field(pseudo):
    t = read([GENERAL, THREAD], pseudo)
    msgs = t.messages.set_index("message_id")
    assert len(msgs) == 8
    # the +02:00 timestamp is converted to UTC
    assert msgs.loc["dc:930000000000000002", "created_at"] == pd.Timestamp("2024-01-10 10:00Z")
    # explicit reply, its thread is the root; a dangling reply keeps the missing id
    assert msgs.loc["dc:930000000000000003", "reply_to_id"] == "dc:930000000000000002"
    assert msgs.loc["dc:930000000000000003", "thread_id"] == "dc:930000000000000002"
    assert msgs.loc["dc:930000000000000004", "reply_to_id"] == "dc:930000000000000000"
    assert msgs.loc["dc:930000000000000004", "thread_id"] == "dc:930000000000000000"
    # thread channel: its messages belong to the conversation of the starter message
    assert set(msgs.loc[["dc:950000000000000001", "dc:950000000000000002"], "thread_id"]) == {
        "dc:930000000000000005"
    }
    assert msgs.loc["dc:950000000000000002", "reply_to_id"] == "dc:950000000000000001"
    assert msgs.loc["dc:930000000000000001", "kind"] == "service"
    assert msgs.loc["dc:930000000000000001", "reply_source"] == "none"
    assert msgs.loc["dc:930000000000000002", "n_reactions"] == 4
    assert msgs.loc["dc:930000000000000002", "member_id"] == mid(pseudo, ALICE)
    assert (msgs["reply_source"] == "explicit").sum() == 3

    ch = t.channels.set_index("channel_id")
    assert ch.loc["dc:930000000000000005", "kind"] == "thread"
    assert ch.loc["dc:930000000000000005", "parent_id"] == "dc:910000000000000001"
    assert ch.loc["dc:910000000000000001", "kind"] == "group"

    members = t.members.set_index("member_id")
    assert len(members) == 5
    assert members.loc[mid(pseudo, BOT), "is_bot"]
    assert members["is_bot"].sum() == 1
    assert members.loc[mid(pseudo, BOB), "display_name"] == "Bobby"  # nickname wins
    # observed join (GuildMemberJoin at 09:00) vs inferred first activity
    assert members.loc[mid(pseudo, BOB), "joined_at"] == pd.Timestamp("2024-01-10 09:00Z")
    assert members.loc[mid(pseudo, CAROL), "joined_at"] == pd.Timestamp("2024-01-10 10:00Z")
    # dave is only mentioned: joined_at is the time of the mentioning message
    assert members.loc[mid(pseudo, DAVE), "joined_at"] == pd.Timestamp("2024-01-10 10:13Z")

    rx = t.reactions
    assert rx["count"].sum() == 4
    named = rx[rx["member_id"].notna()]
    assert set(named["member_id"]) == {mid(pseudo, BOB), mid(pseudo, CAROL)}
    assert set(rx["emoji"]) == {"👍", "custom:940000000000000001"}
    assert rx["reacted_at"].isna().all()
    assert set(map(tuple, t.mentions.to_numpy())) == {
        ("dc:930000000000000002", mid(pseudo, BOB)),
        ("dc:930000000000000003", mid(pseudo, ALICE)),
        ("dc:950000000000000002", mid(pseudo, DAVE)),
    }
    p = t.provenance
    assert p["messages.reply_to_id"] == "observed"
    assert p["messages.reply_to_id.explicit_n"] == "3"
    assert p["messages.reply_to_id.dangling_n"] == "1"
    assert p["messages.thread_id.thread_channel_n"] == "2"
    assert p["members.joined_at.observed_n"] == "1"
    assert p["members.mentioned_only_n"] == "1"
    assert p["reactions.member_id"] == "partial"
    assert p["reactions.member_id.named_n"] == "2"
    assert p["reactions.member_id.unnamed_n"] == "2"


def test_csv_export_replies_unobserved(pseudo):
    t = read([CSV], pseudo)
    assert len(t.messages) == 2
    assert (t.messages["reply_source"] == "none").all()
    assert t.messages["reply_to_id"].isna().all()
    assert t.provenance["messages.reply_to_id"] == "absent"
    assert t.provenance["messages.reply_to_id.unobserved_n"] == "2"
    assert t.provenance["mentions.member_id"] == "absent"
    assert t.channels["channel_id"].tolist() == ["dc:910000000000000002"]
    rx = t.reactions.sort_values("emoji")
    assert rx["count"].tolist() == [1, 2]  # 🎉 (1), 👍 (2)
    assert rx["member_id"].isna().all()
    assert t.messages["n_reactions"].tolist() == [3, 0]


def test_json_and_csv_mixed_is_partial(pseudo):
    t = read([GENERAL, THREAD, CSV], pseudo)
    assert len(t.messages) == 10
    assert t.provenance["messages.reply_to_id"] == "partial"
    assert t.provenance["messages.csv_n"] == "2"
    assert len(t.members) == 5  # the CSV authors are the same Discord ids


def test_identical_duplicates_dropped_conflicts_rejected(tmp_path, pseudo):
    doc = base_doc()
    copy_path = write(tmp_path, doc, "again.json")
    t = read([GENERAL, copy_path], pseudo)
    assert len(t.messages) == 6
    assert t.provenance["messages.duplicates_dropped_n"] == "6"
    doc["messages"][2]["content"] = "edited later"
    changed = write(tmp_path, doc, "changed.json")
    with pytest.raises(DiscordExportError, match=r"930000000000000003.*twice"):
        read([GENERAL, changed], pseudo)


def test_truncated_json_names_file_and_last_message(tmp_path, pseudo):
    text = GENERAL.read_text(encoding="utf-8")
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index('"id": "930000000000000004"')], encoding="utf-8")
    with pytest.raises(DiscordExportError) as err:
        read([path], pseudo)
    assert "cut.json" in str(err.value)
    assert "messages[2]" in str(err.value)
    assert "930000000000000003" in str(err.value)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda m: m.pop("timestamp"), r"930000000000000003: missing field 'timestamp'"),
        (lambda m: m.pop("author"), r"930000000000000003: missing field 'author'"),
        (lambda m: m.pop("id"), r"messages\[2\]: missing field 'id'"),
        (lambda m: m.update(id=3.5), r"messages\[2\]: field 'id' is 3.5"),
        (lambda m: m.update(content=42), r"930000000000000003: field 'content' is 42"),
        (lambda m: m["author"].update(id="bob"), r"field 'author.id' is 'bob'"),
        (lambda m: m["author"].update(isBot="no"), r"field 'author.isBot' is 'no'"),
        (lambda m: m.update(mentions="bob"), r"field 'mentions' is 'bob'"),
        (
            lambda m: m.update(reactions=[{"emoji": {"name": "x"}, "count": "2"}]),
            r"reactions\[0\].count' is '2'",
        ),
        (
            lambda m: m.update(timestamp="2024-01-10T10:05:00"),
            r"930000000000000003: field 'timestamp' '2024-01-10T10:05:00' has no UTC offset",
        ),
        (lambda m: m.update(timestamp="yesterday+00:00"), r"930000000000000003.*ISO 8601"),
    ],
)
def test_bad_message_fields_are_named(tmp_path, pseudo, mutate, pattern):
    doc = base_doc()
    mutate(doc["messages"][2])
    with pytest.raises(DiscordExportError, match=pattern) as err:
        read([write(tmp_path, doc)], pseudo)
    assert "export.json" in str(err.value)


def test_bad_documents(tmp_path, pseudo):
    doc = base_doc()
    no_channel = copy.deepcopy(doc)
    del no_channel["channel"]
    with pytest.raises(DiscordExportError, match=r"field 'channel' is missing"):
        read([write(tmp_path, no_channel, "a.json")], pseudo)
    no_messages = copy.deepcopy(doc)
    del no_messages["messages"]
    with pytest.raises(DiscordExportError, match=r"b.json: missing field 'messages'"):
        read([write(tmp_path, no_messages, "b.json")], pseudo)
    empty = copy.deepcopy(doc)
    empty["messages"] = []
    with pytest.raises(DiscordExportError, match=r"c.json: the export contains no messages"):
        read([write(tmp_path, empty, "c.json")], pseudo)
    with pytest.raises(DiscordExportError, match=r"top level is a JSON array"):
        read([write(tmp_path, [doc], "d.json")], pseudo)
    bad_bytes = tmp_path / "e.json"
    bad_bytes.write_bytes(GENERAL.read_bytes().replace(b"Thanks!", b"Thanks\xff\xfe!"))
    with pytest.raises(DiscordExportError, match=r"e.json: .*not UTF-8"):
        read([bad_bytes], pseudo)
    with pytest.raises(FileNotFoundError):
        read([tmp_path / "missing.json"], pseudo)


def test_byte_order_mark_is_accepted(tmp_path, pseudo):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + GENERAL.read_bytes())
    assert len(read([path], pseudo).messages) == 6


def test_channel_after_messages_is_found(tmp_path, pseudo):
    doc = base_doc()
    reordered = {"messages": doc["messages"], "channel": doc["channel"], "guild": doc["guild"]}
    t = read([write(tmp_path, reordered)], pseudo)
    pd.testing.assert_frame_equal(t.messages, read([GENERAL], pseudo).messages)


def test_reply_cycle_is_an_error(tmp_path, pseudo):
    doc = base_doc()
    doc["messages"][1]["reference"] = {"messageId": "930000000000000003"}
    with pytest.raises(DiscordExportError, match=r"cycle.*930000000000000002"):
        read([write(tmp_path, doc)], pseudo)


def test_bad_csv(tmp_path, pseudo):
    head = "AuthorID,Author,Date,Content,Attachments,Reactions\n"
    cases = {
        "naive.csv": (head + '1,a,"2024-01-11 08:00",hi,,\n', r"naive.csv: row 1: field 'Date'"),
        "cols.csv": ("Author,Content\na,hi\n", r"cols.csv: missing CSV columns"),
        "rx.csv": (
            head + "1,a,2024-01-11T08:00:00+00:00,hi,,thumbs\n",
            r"rx.csv: row 1.*Reactions",
        ),
        "id.csv": (head + "x1,a,2024-01-11T08:00:00+00:00,hi,,\n", r"id.csv: row 1.*AuthorID"),
    }
    for name, (text, pattern) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(DiscordExportError, match=pattern):
            read([path], pseudo)
    latin = tmp_path / "latin.csv"
    latin.write_bytes((head + "1,Jos\xe9,2024-01-11T08:00:00+00:00,hi,,\n").encode("latin-1"))
    with pytest.raises(DiscordExportError, match=r"latin.csv: not UTF-8"):
        read([latin], pseudo)


def test_sniffing(tmp_path):
    assert is_discord_export(GENERAL) and is_discord_export(THREAD) and is_discord_export(CSV)
    assert not is_discord_export(tmp_path / "missing.json")
    other = write(tmp_path, {"name": "chat", "type": "private_group", "messages": []}, "tg.json")
    assert not is_discord_export(other)
    assert not is_discord_export(FIXTURES.parent)


def _big_export(path: Path, n_messages: int) -> None:
    """A DiscordChatExporter-like file with the usual bulky fields (avatars, roles, embeds)."""
    header = base_doc()
    header.pop("messageCount")
    header["messages"] = []  # last key, so the text ends in "[]}"
    head = json.dumps(header)[: -len("[]}")]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + "[")
        for i in range(n_messages):
            user = str(100 + i % 500)
            m = {
                "id": str(10**17 + i),
                "type": "Reply" if i % 3 else "Default",
                "timestamp": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00.000+00:00",
                "timestampEdited": None,
                "isPinned": False,
                "content": f"message number {i} " + "lorem ipsum " * 4,
                "author": {
                    "id": user,
                    "name": f"user{user}",
                    "discriminator": "0000",
                    "nickname": None,
                    "color": "#FFFFFF",
                    "isBot": False,
                    "roles": [{"id": "1", "name": "Member", "color": "#FFF", "position": 1}],
                    "avatarUrl": "https://cdn.discordapp.com/avatars/" + "a" * 200 + ".png",
                },
                "attachments": [],
                "embeds": [{"title": "link preview", "description": "d" * 1500, "fields": []}],
                "stickers": [],
                "reactions": [],
                "mentions": [],
            }
            if i % 3:
                m["reference"] = {"messageId": str(10**17 + i - 1), "channelId": "1"}
            fh.write(("," if i else "") + json.dumps(m))
        fh.write("]}")


@pytest.mark.slow
def test_streams_large_json_without_loading_it(tmp_path, pseudo):
    path = tmp_path / "big.json"
    _big_export(path, 15_000)
    size = path.stat().st_size
    assert size > 30e6
    tracemalloc.start()
    try:
        t = read([path], pseudo)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(t.messages) == 15_000
    assert t.provenance["messages.reply_to_id.dangling_n"] == "0"
    # a json.load of the file alone would hold several times its size in Python objects
    assert peak < 0.5 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_threads_equal_a_walk_up_the_reply_chain(tmp_path, pseudo):
    """Thread ids from pointer jumping equal a plain walk up each reply chain (1,500 messages:
    replies to earlier messages and to ids missing from the export)."""
    rng = np.random.default_rng(7)
    doc = base_doc()
    template = doc["messages"][1]
    n = 1_500
    parent: dict[str, str | None] = {}
    messages = []
    for i in range(n):
        m = copy.deepcopy(template)
        m["id"] = str(10**17 + i)
        m["timestamp"] = "2024-02-01T00:00:00.000+00:00"
        m["reactions"], m["mentions"] = [], []
        r = rng.random()
        target = None
        if i and r < 0.6:
            target = str(10**17 + int(rng.integers(0, i)))
        elif r < 0.7:
            target = str(10**16 + i)  # not in the export
        if target is not None:
            m["reference"] = {"messageId": target}
        else:
            m.pop("reference", None)
        parent[m["id"]] = target
        messages.append(m)
    doc["messages"] = messages
    t = read([write(tmp_path, doc)], pseudo)

    def walk(mid: str) -> str:
        while parent.get(mid) is not None and mid in parent:
            mid = parent[mid]
        return mid

    expected = {f"dc:{mid}": f"dc:{walk(mid)}" for mid in parent}
    got = dict(zip(t.messages["message_id"], t.messages["thread_id"], strict=True))
    assert got == expected
    dangling = sum(1 for mid in parent if parent[mid] is not None and parent[mid] not in parent)
    assert t.provenance["messages.reply_to_id.dangling_n"] == str(dangling)
    assert dangling > 50
