"""Telegram text entities → the ``mentions`` table (by user id, and by @username when known)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.ingest import ingest_raw_dir
from analysis.ingest._telegram_mentions import message_mentions
from analysis.ingest.telegram import read_telegram_export

pytestmark = pytest.mark.usefixtures("_key_env")
T0 = 1_704_888_000


def msg(mid: int, t: int, user: str, text: object = "", **extra) -> dict:
    return {
        "id": mid,
        "type": "message",
        "date": "2024-01-10T12:00:00",
        "date_unixtime": str(T0 + t),
        "from": user.capitalize(),
        "from_id": user,
        "text": text,
        **extra,
    }


def doc(messages: list[dict]) -> dict:
    return {"name": "C", "type": "private_supergroup", "id": 555, "messages": messages}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


MESSAGES = [
    msg(1, 0, "user1", "hello"),
    msg(2, 10, "user2", "hi"),
    msg(3, 20, "user3", "x"),
    # user3 mentions user1 by id (no username) and @Bob; the list form of `text`
    msg(
        4,
        30,
        "user3",
        [
            "thanks ",
            {"type": "mention_name", "text": "One", "user_id": 1},
            " and ",
            {"type": "mention", "text": "@Bob"},
            " and ",
            {"type": "mention", "text": "@nobody_known"},
            {"type": "mention_name", "text": "Ghost", "user_id": 99},
        ],
    ),
    # text_entities take precedence; the same person twice in one message is one row
    msg(
        5,
        40,
        "user1",
        "ignored",
        text_entities=[
            {"type": "plain", "text": "hey "},
            {"type": "mention", "text": "@bob"},
            {"type": "mention_name", "text": "Bob", "user_id": "2"},
            {"type": "bold", "text": "!"},
        ],
    ),
]


def test_entities_are_read_from_text_entities_or_text_list():
    assert message_mentions(MESSAGES[4]) == [("username", "bob"), ("id", "user2")]
    assert message_mentions(MESSAGES[3]) == [
        ("id", "user1"),
        ("username", "bob"),
        ("username", "nobody_known"),
        ("id", "user99"),
    ]
    assert message_mentions(msg(9, 0, "user1", "plain")) == []


def test_mentions_resolve_ids_and_known_usernames(tmp_path, pseudo):
    path = write(tmp_path / "result.json", json.dumps(doc(MESSAGES)))
    t = read_telegram_export(path, pseudonymizer=pseudo, usernames={"bob": "user2"})
    u1, u2 = (pseudo.member_id("telegram", u) for u in ("user1", "user2"))
    pairs = sorted(map(tuple, t.mentions[["message_id", "member_id"]].values.tolist()))
    assert pairs == sorted([("tg:555:4", u1), ("tg:555:4", u2), ("tg:555:5", u2)])
    p = t.provenance
    assert p["mentions.mention_name_n"] == "3"  # user1, user99, user2
    assert p["mentions.username_resolved_n"] == "2"  # @Bob, @bob
    assert p["mentions.username_unresolved_n"] == "1"  # @nobody_known
    assert p["mentions.not_in_members_n"] == "1"  # user99 never appears in the export


def test_without_usernames_only_id_mentions_resolve(tmp_path, pseudo):
    path = write(tmp_path / "result.json", json.dumps(doc(MESSAGES)))
    t = read_telegram_export(path, pseudonymizer=pseudo)
    assert len(t.mentions) == 2  # msg 4 → user1, msg 5 → user2 (by id)
    assert t.provenance["mentions.username_unresolved_n"] == "3"


def test_roster_and_identity_usernames_resolve_mentions_at_ingest(tmp_path, pseudo):
    raw = tmp_path / "raw"
    write(raw / "telegram" / "result.json", json.dumps(doc(MESSAGES)))
    write(
        raw / "members.csv",
        "user_id,source,referred_by,role,username\n2,,,,@Bob\n",
    )
    write(
        raw / "identity.csv",
        "platform,platform_user_id,person_id,username\ntelegram,user3,carol,nobody_known\n",
    )
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    carol = pseudo.person_member_id("carol")
    assert t.provenance["mentions.username_unresolved_n"] == "0"
    # @nobody_known is user3 (Carol), who mentions herself in message 4
    assert (t.mentions["member_id"] == carol).sum() == 1
    assert len(t.mentions) == 4
