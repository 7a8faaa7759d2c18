"""Telegram Desktop JSON export → canonical tables, on real samples and tiny inline exports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import config
from analysis.ingest.telegram import (
    TelegramExportError,
    read_telegram_export,
    read_telegram_exports,
)
from analysis.pseudonym import Pseudonymizer

SAMPLES = config.SHARED_DIR / "data" / "telegram-export-samples"
T0 = 1_704_888_000  # 2024-01-10 12:00:00 UTC


pytestmark = pytest.mark.usefixtures("_key_env")


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"real Telegram export sample {path} is not available (shared data folder)")
    return path


def msg(mid: int, t: int, sender: str, text="", **extra) -> dict:
    """A message ``t`` seconds after T0; ``date`` deliberately in a different (local) zone."""
    local = pd.Timestamp(T0 + t, unit="s", tz="UTC").tz_convert("Asia/Tokyo")
    return {
        "id": mid,
        "type": "message",
        "date": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_unixtime": str(T0 + t),
        "from": sender.capitalize(),
        "from_id": sender,
        "text": text,
        **extra,
    }


def service(mid: int, t: int, actor: str, action: str, **extra) -> dict:
    return {
        "id": mid,
        "type": "service",
        "date": "2024-01-10T21:00:00",
        "date_unixtime": str(T0 + t),
        "actor": actor.capitalize(),
        "actor_id": actor,
        "action": action,
        "text": "",
        **extra,
    }


def chat(messages: list[dict], *, chat_id: int = 555, chat_type="private_supergroup", name="C"):
    return {"name": name, "type": chat_type, "id": chat_id, "messages": messages}


def write(tmp_path: Path, doc: object, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def read(tmp_path: Path, doc: object, pseudo: Pseudonymizer, **kwargs):
    return read_telegram_export(write(tmp_path, doc), pseudonymizer=pseudo, **kwargs)


def row(tables, local_id: int, chat_id: int = 555) -> pd.Series:
    m = tables.messages.set_index("message_id")
    return m.loc[f"tg:{chat_id}:{local_id}"]


# --- real samples --------------------------------------------------------------------------


def test_supergroup_with_topics_sample(pseudo):
    t = read_telegram_export(sample("supergroup_with_topics.json"), pseudonymizer=pseudo)
    m = t.messages.set_index("message_id")
    assert len(m) == 7
    m3 = m.loc["tg:987654321:3"]
    assert m3["channel_id"] == "tg:987654321:topic:2"
    assert m3["reply_to_id"] is None and m3["reply_source"] == "none"
    assert m3["thread_id"] == "tg:987654321:3"
    assert m3["created_at"] == pd.Timestamp("2024-01-10 12:05:00", tz="UTC")  # date_unixtime
    assert m3["text"] == "Hello in General topic!" and m3["text_len"] == 23
    m6 = m.loc["tg:987654321:6"]
    assert m6["n_reactions"] == 3
    assert m6["channel_id"] == "tg:987654321:topic:4"
    assert m.loc["tg:987654321:5", "channel_id"] == "tg:987654321:topic:4"
    assert m.loc["tg:987654321:7", "channel_id"] == "tg:987654321"
    assert m.loc["tg:987654321:2", "channel_id"] == "tg:987654321:topic:2"
    assert m["kind"].value_counts().to_dict() == {"service": 3, "message": 4}
    assert m.loc["tg:987654321:2", "text"] == "topic_created"
    assert m["reply_to_id"].isna().all()

    expected_members = {pseudo.member_id("telegram", f"user{u}") for u in (100, 200, 300, 400)}
    assert set(t.members["member_id"]) == expected_members
    assert m.loc["tg:987654321:3", "member_id"] == pseudo.member_id("telegram", "user200")

    ch = t.channels.set_index("channel_id")
    assert ch.loc["tg:987654321", "kind"] == "forum"
    assert ch.loc["tg:987654321:topic:2", ["name", "kind", "parent_id"]].tolist() == [
        "General",
        "topic",
        "tg:987654321",
    ]
    assert ch.loc["tg:987654321:topic:4", "name"] == "Finances"

    r = t.reactions
    assert r[["message_id", "emoji", "count"]].values.tolist() == [["tg:987654321:6", "👍", 3]]
    assert r["member_id"].isna().all()
    assert t.provenance["reactions.member_id"] == "absent"

    admin = t.members.set_index("member_id").loc[pseudo.member_id("telegram", "user100")]
    assert admin["joined_at"] == pd.Timestamp("2024-01-10 12:00:00", tz="UTC")  # create_group
    assert t.provenance["members.joined_at"] == "mixed"
    assert t.provenance["members.joined_at.observed_n"] == "1"
    assert t.provenance["members.joined_at.inferred_n"] == "3"


def test_personal_chat_sample(pseudo):
    t = read_telegram_export(sample("personal_chat.json"), pseudonymizer=pseudo)
    m = t.messages.set_index("message_id")
    assert m.loc["tg:123456789:3", "text"] == "Check this important message"
    assert m.loc["tg:123456789:3", "text_len"] == len("Check this important message")
    assert m.loc["tg:123456789:4", "reply_to_id"] == "tg:123456789:3"
    assert m.loc["tg:123456789:4", "reply_source"] == "explicit"
    assert m.loc["tg:123456789:4", "thread_id"] == "tg:123456789:3"
    # date_unixtime 1705315800 is 10:50 UTC; the sample's local `date` says 10:30 and is ignored
    assert m.loc["tg:123456789:1", "created_at"] == pd.Timestamp("2024-01-15 10:50", tz="UTC")
    assert m.loc["tg:123456789:5", ["kind", "text"]].tolist() == ["service", "phone_call"]
    assert t.channels["kind"].tolist() == ["group"]
    assert len(t.members) == 2


# --- structure -----------------------------------------------------------------------------


def test_channel_and_discussion_group_comments(tmp_path, pseudo):
    channel = chat(
        [
            msg(1, 0, "channel111", "New release!"),
            msg(2, 60, "channel111", "Second post"),
        ],
        chat_id=111,
        chat_type="public_channel",
        name="Brand",
    )
    group = chat(
        [
            msg(10, 1, "channel111", "New release!", forwarded_from="Brand"),
            msg(11, 100, "user1", "Congrats", reply_to_message_id=10),
            msg(12, 200, "user2", "Agreed", reply_to_message_id=11),
            msg(13, 300, "user2", "Unrelated chat"),
            msg(14, 400, "user3", "fwd from elsewhere", forwarded_from="Someone"),
            msg(15, 500, "channel222", "Anonymous admin says hi"),
        ],
        chat_id=222,
        chat_type="public_supergroup",
        name="Brand chat",
    )
    t = read_telegram_exports(
        [write(tmp_path, channel, "c.json"), write(tmp_path, group, "g.json")],
        pseudonymizer=pseudo,
    )
    m = t.messages.set_index("message_id")
    kinds = m["kind"].to_dict()
    assert kinds == {
        "tg:111:1": "post",
        "tg:111:2": "post",
        "tg:222:10": "post",
        "tg:222:11": "comment",
        "tg:222:12": "comment",
        "tg:222:13": "message",
        "tg:222:14": "message",
        "tg:222:15": "message",
    }
    assert m.loc["tg:222:12", "thread_id"] == "tg:222:10"
    assert m.loc["tg:222:12", "reply_to_id"] == "tg:222:11"
    assert m.loc["tg:222:11", "channel_id"] == "tg:222"
    ch = t.channels.set_index("channel_id")["kind"].to_dict()
    assert ch == {"tg:111": "channel", "tg:222": "group"}
    staff = t.members.set_index("member_id")["is_staff"]
    assert staff[pseudo.member_id("telegram", "channel111")]
    assert staff[pseudo.member_id("telegram", "channel222")]  # the group itself: anonymous admin
    assert not staff[pseudo.member_id("telegram", "user1")]
    assert staff.sum() == 2


def test_reply_chain_three_deep_thread_is_root(tmp_path, pseudo):
    doc = chat(
        [
            msg(1, 0, "user1", "root"),
            msg(2, 10, "user2", "r1", reply_to_message_id=1),
            msg(3, 20, "user1", "r2", reply_to_message_id=2),
            msg(4, 30, "user3", "r3", reply_to_message_id=3),
            msg(5, 40, "user3", "other"),
        ]
    )
    t = read(tmp_path, doc, pseudo)
    m = t.messages.set_index("message_id")
    assert m["thread_id"].tolist() == ["tg:555:1"] * 4 + ["tg:555:5"]
    assert m["reply_to_id"].tolist() == [None, "tg:555:1", "tg:555:2", "tg:555:3", None]
    assert m["reply_source"].tolist() == ["none"] + ["explicit"] * 3 + ["none"]
    assert t.provenance["messages.reply_to_id.explicit_n"] == "3"
    assert t.provenance["messages.reply_to_id.dangling_n"] == "0"


def test_dangling_reply_keeps_missing_id(tmp_path, pseudo):
    doc = chat(
        [
            msg(5, 0, "user1", "answer to a deleted message", reply_to_message_id=3),
            msg(6, 10, "user2", "follow-up", reply_to_message_id=5),
            msg(7, 20, "user2", "no reply"),
        ]
    )
    t = read(tmp_path, doc, pseudo)
    m = t.messages.set_index("message_id")
    assert m.loc["tg:555:5", "reply_to_id"] == "tg:555:3"
    assert m.loc["tg:555:5", "reply_source"] == "explicit"
    assert m.loc["tg:555:5", "thread_id"] == "tg:555:3"
    assert m.loc["tg:555:6", "thread_id"] == "tg:555:3"
    assert m.loc["tg:555:7", "thread_id"] == "tg:555:7"
    assert t.provenance["messages.reply_to_id.dangling_n"] == "1"


def test_forum_reply_inherits_topic_through_chain(tmp_path, pseudo):
    doc = chat(
        [
            service(2, 0, "user1", "topic_created", title="Help"),
            msg(3, 10, "user2", "question", reply_to_message_id=2),
            msg(4, 20, "user1", "answer", reply_to_message_id=3),
            msg(5, 30, "user2", "thanks", reply_to_message_id=4),
            msg(6, 40, "user3", "general chat"),
            msg(7, 50, "user1", "reply in general", reply_to_message_id=6),
        ]
    )
    t = read(tmp_path, doc, pseudo)
    m = t.messages.set_index("message_id")
    topic = "tg:555:topic:2"
    assert m["channel_id"].tolist() == [topic] * 4 + ["tg:555", "tg:555"]
    assert m["thread_id"].tolist() == [
        "tg:555:2",
        "tg:555:3",
        "tg:555:3",
        "tg:555:3",
        "tg:555:6",
        "tg:555:6",
    ]
    assert m.loc["tg:555:3", "reply_to_id"] is None
    assert m.loc["tg:555:5", "reply_to_id"] == "tg:555:4"


def test_full_account_export_reads_every_chat(tmp_path, pseudo):
    doc = {
        "about": "Here is the data you requested.",
        "chats": {
            "about": "...",
            "list": [
                chat([msg(1, 0, "user1", "a")], chat_id=1, chat_type="personal_chat"),
                chat([msg(1, 5, "user2", "b")], chat_id=2, chat_type="private_group"),
            ],
        },
        "left_chats": {"about": "...", "list": [chat([msg(9, 9, "user3", "c")], chat_id=3)]},
    }
    t = read(tmp_path, doc, pseudo)
    assert t.messages["message_id"].tolist() == ["tg:1:1", "tg:2:1", "tg:3:9"]
    assert sorted(t.channels["channel_id"]) == ["tg:1", "tg:2", "tg:3"]
    only = read_telegram_export(write(tmp_path, doc), pseudonymizer=pseudo, chat_ids=[2])
    assert only.messages["message_id"].tolist() == ["tg:2:1"]


def test_folder_with_result_json(tmp_path, pseudo):
    folder = tmp_path / "ChatExport_2024-01-11"
    folder.mkdir()
    write(folder, chat([msg(1, 0, "user1", "hi")]))
    t = read_telegram_export(folder, pseudonymizer=pseudo)
    assert len(t.messages) == 1


# --- time ----------------------------------------------------------------------------------


def test_created_at_uses_unixtime_not_local_date(tmp_path, pseudo):
    t = read(tmp_path, chat([msg(1, 300, "user1", "x")]), pseudo)
    # the fixture's `date` is Tokyo local time (21:05); date_unixtime is 12:05 UTC
    assert t.messages["created_at"].iloc[0] == pd.Timestamp("2024-01-10 12:05", tz="UTC")
    assert str(t.messages["created_at"].dtype) == "datetime64[ns, UTC]"
    assert t.provenance["messages.created_at"] == "observed"


def test_missing_unixtime_is_an_error_unless_timezone_assumed(tmp_path, pseudo):
    old = msg(2, 0, "user1", "old export")
    del old["date_unixtime"]
    old["date"] = "2024-01-10T15:05:00"  # Moscow local time (UTC+3)
    doc = chat([msg(1, 0, "user2", "new"), old])
    path = write(tmp_path, doc)
    with pytest.raises(TelegramExportError) as err:
        read_telegram_export(path, pseudonymizer=pseudo)
    assert str(path) in str(err.value)
    assert "message id 2" in str(err.value)
    assert "date_unixtime" in str(err.value)

    t = read_telegram_export(path, pseudonymizer=pseudo, assume_timezone="Europe/Moscow")
    m = t.messages.set_index("message_id")
    assert m.loc["tg:555:2", "created_at"] == pd.Timestamp("2024-01-10 12:05", tz="UTC")
    assert m.loc["tg:555:1", "created_at"] == pd.Timestamp("2024-01-10 12:00", tz="UTC")
    assert t.provenance["messages.created_at"] == "mixed"
    assert t.provenance["messages.created_at.assumed_timezone"] == "Europe/Moscow"
    assert t.provenance["messages.created_at.from_local_date_n"] == "1"


def test_non_numeric_unixtime_names_file_id_and_value(tmp_path, pseudo):
    bad = msg(7, 0, "user1")
    bad["date_unixtime"] = "yesterday"
    path = write(tmp_path, chat([bad]))
    with pytest.raises(TelegramExportError, match="message id 7") as err:
        read_telegram_export(path, pseudonymizer=pseudo)
    assert str(path) in str(err.value) and "'yesterday'" in str(err.value)


# --- errors --------------------------------------------------------------------------------


def test_truncated_json_names_file_and_line(tmp_path, pseudo):
    text = json.dumps(chat([msg(1, 0, "user1", "a"), msg(2, 1, "user2", "b")]), indent=1)
    path = tmp_path / "result.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(TelegramExportError) as err:
        read_telegram_export(path, pseudonymizer=pseudo)
    assert str(path) in str(err.value)
    assert "line" in str(err.value) and "column" in str(err.value)


def test_missing_messages_field(tmp_path, pseudo):
    path = write(tmp_path, {"name": "x", "type": "private_group", "id": 1})
    with pytest.raises(TelegramExportError, match="'messages'") as err:
        read_telegram_export(path, pseudonymizer=pseudo)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("field", ["id", "type"])
def test_message_without_id_or_type(tmp_path, pseudo, field):
    bad = msg(3, 0, "user1")
    del bad[field]
    path = write(tmp_path, chat([msg(1, 0, "user1"), bad]))
    with pytest.raises(TelegramExportError, match=f"no field '{field}'") as err:
        read_telegram_export(path, pseudonymizer=pseudo)
    assert str(path) in str(err.value)


def test_duplicate_ids_identical_dropped_different_raise(tmp_path, pseudo):
    a = msg(1, 0, "user1", "same")
    t = read(tmp_path, chat([a, dict(a), msg(2, 5, "user2")]), pseudo)
    assert len(t.messages) == 2
    assert t.provenance["messages.duplicates_dropped_n"] == "1"
    with pytest.raises(TelegramExportError, match="message id 1 appears twice"):
        read(tmp_path, chat([a, msg(1, 0, "user1", "edited")]), pseudo)


def test_unsupported_and_senderless_messages_are_skipped_and_counted(tmp_path, pseudo):
    payment = service(3, 2, "user1", "send_payment")
    del payment["actor_id"], payment["actor"]
    doc = chat([msg(1, 0, "user1"), {"id": 2, "type": "unsupported"}, payment])
    t = read(tmp_path, doc, pseudo)
    assert t.messages["message_id"].tolist() == ["tg:555:1"]
    assert t.provenance["messages.skipped_unsupported_n"] == "1"
    assert t.provenance["messages.skipped_no_sender_n"] == "1"


# --- reactions, members, pseudonyms, text ----------------------------------------------------


def test_reactions_with_recent_reactors(tmp_path, pseudo):
    reactions = [
        {
            "type": "emoji",
            "count": 5,
            "emoji": "❤",
            "recent": [
                {"from": "User2", "from_id": "user2", "date": "2024-01-10T21:30:00"},
                {"from": "User3", "from_id": "user3", "date": "2024-01-10T12:31:00Z"},
            ],
        },
        {"type": "custom_emoji", "count": 1, "document_id": "5368324170671202286"},
        {"type": "paid", "count": 2},
    ]
    doc = chat([msg(1, 0, "user1", "nice", reactions=reactions), msg(2, 60, "user2", "hi")])
    t = read(tmp_path, doc, pseudo)
    r = t.reactions
    u2, u3 = pseudo.member_id("telegram", "user2"), pseudo.member_id("telegram", "user3")
    got = sorted(
        zip(r["emoji"], r["member_id"].fillna("-"), r["count"], strict=True),
        key=str,
    )
    assert got == sorted(
        [
            ("❤", u2, 1),
            ("❤", u3, 1),
            ("❤", "-", 3),
            ("custom:5368324170671202286", "-", 1),
            ("paid", "-", 2),
        ],
        key=str,
    )
    assert r["count"].sum() == 8
    assert row(t, 1)["n_reactions"] == 8
    when = r.set_index("member_id")["reacted_at"]
    # local time without offset, converted with the messages' offset (Tokyo, +09:00)
    assert when[u2] == pd.Timestamp("2024-01-10 12:30", tz="UTC")
    assert when[u3] == pd.Timestamp("2024-01-10 12:31", tz="UTC")
    assert t.provenance["reactions.member_id"] == "partial"
    assert t.provenance["reactions.member_id.named_n"] == "2"
    assert t.provenance["reactions.member_id.unnamed_n"] == "6"
    assert t.provenance["reactions.reacted_at"] == "inferred"
    # user3 only reacted: still a member, first seen at the (known) reaction time
    m = t.members.set_index("member_id")
    assert m.loc[u3, "joined_at"] == pd.Timestamp("2024-01-10 12:31", tz="UTC")
    assert m.loc[u3, "display_name"] == "User3"


def test_join_service_gives_observed_joined_at(tmp_path, pseudo):
    doc = chat(
        [
            msg(1, 0, "user1", "early bird"),
            service(2, 100, "user5", "join_group_by_link", inviter="User1"),
            msg(3, 200, "user5", "hello, I'm new"),
            service(4, 300, "user1", "invite_members", members=["Carol", "Ghost", None]),
            msg(5, 400, "user7", "thanks for the invite", **{"from": "Carol"}),
        ]
    )
    t = read(tmp_path, doc, pseudo)
    m = t.members.set_index("member_id")["joined_at"]
    assert m[pseudo.member_id("telegram", "user5")] == pd.Timestamp(T0 + 100, unit="s", tz="UTC")
    assert m[pseudo.member_id("telegram", "user7")] == pd.Timestamp(T0 + 300, unit="s", tz="UTC")
    assert m[pseudo.member_id("telegram", "user1")] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert t.provenance["members.joined_at"] == "mixed"
    assert t.provenance["members.joined_at.observed_n"] == "2"
    assert t.provenance["members.joined_at.inferred_n"] == "1"
    assert t.provenance["members.joined_at.invite_unmatched_n"] == "2"


def test_invite_by_ambiguous_name_is_not_matched(tmp_path, pseudo):
    doc = chat(
        [
            service(1, 0, "user1", "invite_members", members=["Alex"]),
            msg(2, 10, "user2", "a", **{"from": "Alex"}),
            msg(3, 20, "user3", "b", **{"from": "Alex"}),
        ]
    )
    t = read(tmp_path, doc, pseudo)
    assert t.provenance["members.joined_at.invite_unmatched_n"] == "1"
    assert t.provenance["members.joined_at.observed_n"] == "0"


def test_pseudonyms_stable_across_tables_and_runs_and_hide_raw_ids(tmp_path, pseudo):
    reactions = [{"type": "emoji", "count": 1, "emoji": "👍", "recent": [{"from_id": "user42"}]}]
    doc = chat([msg(1, 0, "user42", "me"), msg(2, 5, "user43", "you", reactions=reactions)])
    t1 = read(tmp_path, doc, pseudo)
    t2 = read(tmp_path, doc, Pseudonymizer())
    expected = pseudo.member_id("telegram", "user42")
    assert t1.messages["member_id"].iloc[0] == expected
    assert t1.reactions["member_id"].iloc[0] == expected
    assert expected in set(t1.members["member_id"])
    assert t1.messages["member_id"].tolist() == t2.messages["member_id"].tolist()
    other = read(tmp_path, doc, Pseudonymizer(key="another key"))
    assert other.messages["member_id"].iloc[0] != expected
    for name, frame in t1.items():
        for column in frame.columns:
            if column == "display_name":
                continue
            values = frame[column].astype(str)
            assert not values.str.contains("user42").any(), (name, column)


def test_script_text_is_kept_verbatim(tmp_path, pseudo):
    payload = "<script>alert('x')</script> & <b>"
    entity = [{"type": "bold", "text": "<i>"}, " plain"]
    t = read(tmp_path, chat([msg(1, 0, "user1", payload), msg(2, 1, "user1", entity)]), pseudo)
    assert row(t, 1)["text"] == payload
    assert row(t, 1)["text_len"] == len(payload)
    assert row(t, 2)["text"] == "<i> plain"


def test_roster_fills_source_referrer_staff_and_bot(tmp_path, pseudo):
    roster = pd.DataFrame(
        {
            "user_id": ["user1", "user2", "user9"],
            "source": ["ads", None, "friend"],
            "referred_by": [None, "user1", "user1"],
            "role": ["staff", "bot", "member"],
        }
    )
    doc = chat([msg(1, 0, "user1", "welcome"), msg(2, 5, "user2", "beep"), msg(3, 9, "user3")])
    t = read(tmp_path, doc, pseudo, roster=roster)
    m = t.members.set_index("member_id")
    u1, u2, u3 = (pseudo.member_id("telegram", f"user{i}") for i in (1, 2, 3))
    assert m.loc[u1, ["source", "is_staff", "is_bot"]].tolist() == ["ads", True, False]
    assert m.loc[u2, ["referred_by", "is_staff", "is_bot"]].tolist() == [u1, False, True]
    assert m.loc[u3, ["source", "referred_by", "is_staff", "is_bot"]].tolist() == [
        None,
        None,
        False,
        False,
    ]
    assert t.provenance["members.roster_unmatched_n"] == "1"
    assert t.provenance["members.source"] == "observed"


def test_reply_across_files_via_peer_id(tmp_path, pseudo):
    a = chat([msg(1, 0, "channel111", "post")], chat_id=111, chat_type="public_channel")
    b = chat(
        [msg(5, 10, "user1", "quote", reply_to_message_id=1, reply_to_peer_id="channel111")],
        chat_id=222,
    )
    t = read_telegram_exports(
        [write(tmp_path, a, "a.json"), write(tmp_path, b, "b.json")], pseudonymizer=pseudo
    )
    m = t.messages.set_index("message_id")
    assert m.loc["tg:222:5", "reply_to_id"] == "tg:111:1"
    assert m.loc["tg:222:5", "thread_id"] == "tg:111:1"
    assert m.loc["tg:222:5", "channel_id"] == "tg:222"
    assert t.provenance["messages.reply_to_id.dangling_n"] == "0"


def test_reply_cycle_is_an_error_not_a_hang(tmp_path, pseudo):
    doc = chat(
        [
            msg(1, 0, "user1", "a", reply_to_message_id=2),
            msg(2, 1, "user2", "b", reply_to_message_id=1),
            msg(3, 2, "user2", "c", reply_to_message_id=2),
        ]
    )
    with pytest.raises(TelegramExportError, match="cycle") as err:
        read(tmp_path, doc, pseudo)
    assert "tg:555:1" in str(err.value) and "result.json" in str(err.value)


def test_long_reply_chain_resolves_to_its_root(tmp_path, pseudo):
    n = 5000
    doc = chat(
        [msg(1, 0, "user1", "root")]
        + [msg(i, i, f"user{i % 3}", "r", reply_to_message_id=i - 1) for i in range(2, n + 1)]
    )
    t = read(tmp_path, doc, pseudo)
    assert (t.messages["thread_id"] == "tg:555:1").all()
    assert t.messages["reply_to_id"].iloc[-1] == f"tg:555:{n - 1}"


def test_empty_chat_gives_empty_valid_tables(tmp_path, pseudo):
    t = read(tmp_path, chat([]), pseudo)
    assert len(t.messages) == 0 and len(t.members) == 0 and len(t.reactions) == 0
    assert t.channels["channel_id"].tolist() == ["tg:555"]


# --- reaction times from the exporter's inferred UTC offset ----------------------------------


def zoned_msg(mid: int, unix: int, sender: str, offset_h: float | str, **extra) -> dict:
    """A message at ``unix`` whose local ``date`` is UTC + ``offset_h`` hours (or an IANA zone)."""
    when = pd.Timestamp(unix, unit="s", tz="UTC")
    if isinstance(offset_h, str):
        local = when.tz_convert(offset_h).tz_localize(None)
    else:
        local = when.tz_localize(None) + pd.Timedelta(hours=offset_h)
    return {
        "id": mid,
        "type": "message",
        "date": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_unixtime": str(unix),
        "from": sender.capitalize(),
        "from_id": sender,
        "text": "x",
        **extra,
    }


def heart(*reactors: tuple[str, str]) -> list[dict]:
    """One ❤ reaction by ``(user id, local date)`` reactors (no offset, as Telegram writes)."""
    recent = [{"from": u.capitalize(), "from_id": u, "date": d} for u, d in reactors]
    return [{"type": "emoji", "count": len(recent), "emoji": "❤", "recent": recent}]


def reacted_at(tables, user: str, pseudo: Pseudonymizer):
    r = tables.reactions
    return r.loc[r["member_id"] == pseudo.member_id("telegram", user), "reacted_at"].iloc[0]


def test_reactor_local_date_converted_with_constant_exporter_offset(tmp_path, pseudo):
    doc = chat(
        [
            zoned_msg(1, T0 - 3600, "user1", 3, reactions=heart(("user2", "2024-01-10T15:00:00"))),
            zoned_msg(2, T0 + 7200, "user2", 3),
            zoned_msg(3, T0 + 86_400 * 3, "user1", 3),
        ]
    )
    t = read(tmp_path, doc, pseudo)
    assert reacted_at(t, "user2", pseudo) == pd.Timestamp("2024-01-10 12:00", tz="UTC")
    assert str(t.reactions["reacted_at"].dtype) == "datetime64[ns, UTC]"
    assert t.provenance["reactions.reacted_at"] == "inferred"
    assert t.provenance["reactions.reacted_at.inferred_n"] == "1"
    assert t.provenance["messages.created_at.exporter_utc_offset"] == "+03:00"
    # the reaction (12:00) is user2's first activity, before their message (14:00)
    m = t.members.set_index("member_id")
    assert m.loc[pseudo.member_id("telegram", "user2"), "joined_at"] == pd.Timestamp(
        "2024-01-10 12:00", tz="UTC"
    )


@pytest.mark.parametrize(
    ("offsets", "why"),
    [
        ([3, 5, 3, 3, 5, 5, 3, 5], "two zones scattered"),
        ([3, 4, 3, 4, 3, 4, 3, 4], "one hour apart but flipping daily, not DST"),
        ([3, 3, 3, 3.5, 3.5, 3.5, 3.5, 3.5], "a single switch of half an hour"),
    ],
)
def test_inconsistent_exporter_offsets_leave_reaction_time_unknown(tmp_path, pseudo, offsets, why):
    rx = heart(("user2", "2024-01-10T15:00:00"))
    doc = chat(
        [
            zoned_msg(
                i + 1,
                T0 + 86_400 * i,
                f"user{i % 3 + 1}",
                h,
                **({"reactions": rx} if i == 0 else {}),
            )
            for i, h in enumerate(offsets)
        ]
    )
    t = read(tmp_path, doc, pseudo)
    assert pd.isna(reacted_at(t, "user2", pseudo)), why
    assert t.provenance["reactions.reacted_at"] == "absent"
    assert t.provenance["reactions.reacted_at.inferred_n"] == "0"
    assert t.provenance["messages.created_at.exporter_utc_offset"] == "variable"


def test_dst_exporter_offset_converts_each_side_of_the_switch(tmp_path, pseudo):
    # Europe/Berlin: +01:00 until 2024-03-31 01:00 UTC, then +02:00; messages every 12 hours
    first = pd.Timestamp("2024-03-10 10:00", tz="UTC")
    unix = [int((first + pd.Timedelta(hours=12 * k)).timestamp()) for k in range(60)]
    rx = heart(
        ("user2", "2024-03-12T20:00:00"),  # winter: 19:00 UTC
        ("user3", "2024-03-30T23:30:00"),  # the evening before the switch: 22:30 UTC
        ("user4", "2024-03-31T12:40:00"),  # the day of the switch, after it: 10:40 UTC
        ("user5", "2024-04-05T09:15:00"),  # summer: 07:15 UTC
    )
    doc = chat(
        [zoned_msg(1, unix[0], "user1", "Europe/Berlin", reactions=rx)]
        + [zoned_msg(i + 2, u, "user1", "Europe/Berlin") for i, u in enumerate(unix[1:])]
    )
    t = read(tmp_path, doc, pseudo)
    assert reacted_at(t, "user2", pseudo) == pd.Timestamp("2024-03-12 19:00", tz="UTC")
    assert reacted_at(t, "user3", pseudo) == pd.Timestamp("2024-03-30 22:30", tz="UTC")
    assert reacted_at(t, "user4", pseudo) == pd.Timestamp("2024-03-31 10:40", tz="UTC")
    assert reacted_at(t, "user5", pseudo) == pd.Timestamp("2024-04-05 07:15", tz="UTC")
    assert t.provenance["messages.created_at.exporter_utc_offset"] == "+01:00/+02:00"
    assert t.provenance["reactions.reacted_at"] == "inferred"
    assert t.provenance["reactions.reacted_at.inferred_n"] == "4"


def test_exporter_offset_is_inferred_per_file(tmp_path, pseudo):
    rx = heart(("user2", "2024-01-10T15:00:00"))
    good = chat([zoned_msg(1, T0, "user1", 3, reactions=rx)], chat_id=1)
    mixed = chat(
        [
            zoned_msg(1, T0, "user3", 5, reactions=heart(("user4", "2024-01-10T15:00:00"))),
            zoned_msg(2, T0 + 60, "user3", 3),
        ],
        chat_id=2,
    )
    old = zoned_msg(1, T0, "user5", 3, reactions=heart(("user6", "2024-01-10T15:00:00")))
    del old["date_unixtime"]
    no_unix = chat([old], chat_id=3)
    t = read_telegram_exports(
        [write(tmp_path, d, f"{i}.json") for i, d in enumerate((good, mixed, no_unix))],
        pseudonymizer=pseudo,
        assume_timezone="Europe/Moscow",
    )
    assert reacted_at(t, "user2", pseudo) == pd.Timestamp("2024-01-10 12:00", tz="UTC")
    assert pd.isna(reacted_at(t, "user4", pseudo))
    assert pd.isna(reacted_at(t, "user6", pseudo))
    assert t.provenance["messages.created_at.exporter_utc_offset"] == "+03:00; variable; unknown"
    assert t.provenance["reactions.reacted_at.inferred_n"] == "1"


def test_personal_chat_sample_exporter_offset(pseudo):
    # the sample's local `date` is 20 minutes behind date_unixtime for messages 1-3 and equal to
    # it for 4-5: two offsets not one hour apart, so no single exporter zone
    t = read_telegram_export(sample("personal_chat.json"), pseudonymizer=pseudo)
    assert t.provenance["messages.created_at.exporter_utc_offset"] == "variable"
    assert len(t.reactions) == 0
    assert t.provenance["reactions.reacted_at"] == "absent"
    assert t.provenance["reactions.reacted_at.inferred_n"] == "0"
