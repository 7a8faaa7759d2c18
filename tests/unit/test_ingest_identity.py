"""One person on several platforms: the identity map merges their member ids in every table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest import ingest_raw_dir
from analysis.ingest.crm import CsvFormatError
from analysis.ingest.identity import read_identity

pytestmark = pytest.mark.usefixtures("_key_env")
T0 = 1_704_888_000  # 2024-01-10 12:00:00 UTC


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def tg(mid: int, t: int, user: str, text: object = "hi", **extra) -> dict:
    return {
        "id": mid,
        "type": "message",
        "date": "2024-01-10T12:00:00",
        "date_unixtime": str(T0 + t),
        "from": user.upper(),
        "from_id": user,
        "text": text,
        **extra,
    }


@pytest.fixture
def raw(tmp_path) -> Path:
    """Alice is user1 on Telegram and 'a' on the forum; Bob is only on Telegram (user2)."""
    raw = tmp_path / "shop"
    doc = {
        "name": "Shop chat",
        "type": "private_supergroup",
        "id": 555,
        "messages": [tg(1, 0, "user1"), tg(2, 60, "user2", reply_to_message_id=1)],
    }
    write(raw / "telegram" / "result.json", json.dumps(doc))
    # on the forum Alice posted a day *before* her first Telegram message
    write(
        raw / "generic" / "posts.csv",
        "id,who,at\n1,a,2024-01-09T12:00:00Z\n2,c,2024-01-09T13:00:00Z\n",
    )
    write(
        raw / "generic" / "mapping.toml",
        'platform = "forum"\n[messages]\nfile = "posts.csv"\nmessage_id = "id"\n'
        'member_id = "who"\ncreated_at = "at"\n',
    )
    write(
        raw / "identity.csv",
        "platform,platform_user_id,person_id,username\n"
        "telegram,1,alice,Alice_TG\nforum,a,alice,\ntelegram,user2,bob,\n",
    )
    write(
        raw / "customers.csv",
        "customer_id,telegram_user_id,signed_up_at\nc1,user1,2024-01-11T00:00:00Z\n"
        "c2,user2,2024-01-11T00:00:00Z\n",
    )
    write(
        raw / "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency\no1,c1,2024-01-15T10:00:00Z,500,RUB\n"
        "o2,c1,2024-01-16T10:00:00Z,100,RUB\n",
    )
    write(
        raw / "assignments.csv",
        "experiment_id,unit_id,variant,assigned_at\nonb,user1,a,2024-01-09T00:00:00Z\n",
    )
    return raw


def test_one_person_one_member_id_in_every_table(raw, pseudo):
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    alice = pseudo.person_member_id("alice")
    bob = pseudo.person_member_id("bob")
    carol = pseudo.member_id("forum", "c")
    assert sorted(t.members["member_id"]) == sorted([alice, bob, carol])
    by_member = t.messages.groupby("member_id")["platform"].apply(sorted).to_dict()
    assert by_member[alice] == ["forum", "telegram"]
    m = t.members.set_index("member_id")
    # merged: the earliest join (her forum post) and that row's platform
    assert m.loc[alice, "joined_at"] == pd.Timestamp("2024-01-09 12:00", tz="UTC")
    assert m.loc[alice, "platform"] == "forum"
    assert m.loc[alice, "display_name"] == "USER1"  # the only name seen for her
    # customers, orders and assignments join to her messages on both platforms
    assert t.customers.set_index("customer_id").loc["c1", "member_id"] == alice
    joined = t.orders.merge(t.customers, on="customer_id").merge(
        t.messages[["member_id", "platform"]].drop_duplicates(), on="member_id"
    )
    assert sorted(joined["platform"].unique()) == ["forum", "telegram"]
    assert joined.drop_duplicates("order_id")["amount"].sum() == 600
    assert t.assignments["unit_id"].tolist() == [alice]
    # no raw platform id and no person id survives anywhere
    for _, frame in t.items():
        text = frame.astype(str).to_string()
        assert "user1" not in text and "alice" not in text
    assert t.provenance["members.identity_mapped_n"] == "3"
    assert t.provenance["members.identity_merged_n"] == "1"


def test_without_identity_the_accounts_stay_apart(raw, pseudo):
    (raw / "identity.csv").unlink()
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    assert len(t.members) == 4
    assert pseudo.member_id("telegram", "user1") in set(t.members["member_id"])


def test_identity_errors_name_file_row_and_column(tmp_path):
    path = write(
        tmp_path / "identity.csv",
        "platform,platform_user_id,person_id\ntelegram,user1,a\ntelegram,1,b\n",
    )
    with pytest.raises(CsvFormatError, match=r"duplicate platform \+ platform_user_id"):
        read_identity(path)  # '1' and 'user1' are the same Telegram account
    write(path, "platform,platform_user_id,person_id\ntelegram,user1,\n")
    with pytest.raises(CsvFormatError, match=r"'person_id' is empty in row\(s\) 1 \(line 2\)"):
        read_identity(path)
    write(path, "platform,user,person_id\n")
    with pytest.raises(CsvFormatError, match="missing column 'platform_user_id'"):
        read_identity(path)
