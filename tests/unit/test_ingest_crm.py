"""CRM sidecar CSVs and whole dataset folders (``ingest_raw_dir``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest import (
    CsvFormatError,
    ingest_raw_dir,
    read_assignments,
    read_customers,
    read_orders,
    read_roster,
)

T0 = 1_704_888_000  # 2024-01-10 12:00:00 UTC


pytestmark = pytest.mark.usefixtures("_key_env")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- round trips ---------------------------------------------------------------------------


def test_roster_round_trip(tmp_path):
    path = write(
        tmp_path / "members.csv",
        "user_id,source,referred_by,role\n"
        "user1,ads,,staff\n"
        "2,,user1,\n"  # bare Bot API id → user2; empty role → member
        " user3 , friend ,2,BOT\n",
    )
    r = read_roster(path)
    assert r.to_dict("records") == [
        {"user_id": "user1", "source": "ads", "referred_by": None, "role": "staff"},
        {"user_id": "user2", "source": None, "referred_by": "user1", "role": "member"},
        {"user_id": "user3", "source": "friend", "referred_by": "user2", "role": "bot"},
    ]


def test_customers_round_trip(tmp_path, pseudo):
    path = write(
        tmp_path / "customers.csv",
        "customer_id,telegram_user_id,signed_up_at\n"
        "c1,user1,2024-01-05T10:00:00+03:00\n"
        "c2,,2024-01-06T00:00:00Z\n",
    )
    c = read_customers(path, pseudonymizer=pseudo)
    assert c["customer_id"].tolist() == ["c1", "c2"]
    assert c["member_id"].tolist() == [pseudo.member_id("telegram", "user1"), None]
    assert c["first_seen_at"].tolist() == [
        pd.Timestamp("2024-01-05 07:00", tz="UTC"),
        pd.Timestamp("2024-01-06 00:00", tz="UTC"),
    ]
    assert str(c["first_seen_at"].dtype) == "datetime64[ns, UTC]"


def test_customers_column_follows_platform(tmp_path, pseudo):
    path = write(
        tmp_path / "customers.csv",
        "customer_id,discord_user_id,signed_up_at\nc1,8123,2024-01-05T10:00:00Z\n",
    )
    c = read_customers(path, pseudonymizer=pseudo, platform="discord")
    assert c["member_id"].iloc[0] == pseudo.member_id("discord", "8123")


def test_orders_round_trip(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency\n"
        "o1,c1,2024-02-01T12:00:00+00:00,1990.50,rub\n"
        "o2,c1,2024-02-03 09:15:00-05:00,-100,USD\n",
    )
    o = read_orders(path)
    assert o["amount"].tolist() == [1990.5, -100.0]
    assert o["currency"].tolist() == ["RUB", "USD"]
    assert o["ordered_at"].iloc[1] == pd.Timestamp("2024-02-03 14:15", tz="UTC")


def test_assignments_round_trip_pseudonymised(tmp_path, pseudo):
    path = write(
        tmp_path / "assignments.csv",
        "experiment_id,unit_id,variant,assigned_at,cluster_id\n"
        "onb1,user1,control,2024-01-01T00:00:00Z,\n"
        "onb1,user2,treatment,2024-01-01T00:00:00Z,cohort-a\n"
        "onb2,user1,treatment,2024-01-02T00:00:00Z,\n",
    )
    a = read_assignments(path, pseudonymizer=pseudo)
    assert a["unit_id"].tolist() == [
        pseudo.member_id("telegram", "user1"),
        pseudo.member_id("telegram", "user2"),
        pseudo.member_id("telegram", "user1"),
    ]
    assert a["cluster_id"].tolist() == [None, "cohort-a", None]
    assert not a["unit_id"].str.contains("user").any()


def test_assignments_cluster_column_is_optional(tmp_path, pseudo):
    path = write(
        tmp_path / "assignments.csv",
        "experiment_id,unit_id,variant,assigned_at\nx,user1,a,2024-01-01T00:00:00Z\n",
    )
    assert read_assignments(path, pseudonymizer=pseudo)["cluster_id"].isna().all()


# --- errors --------------------------------------------------------------------------------


def test_naive_timestamp_names_file_column_and_row(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency\n"
        "o1,c1,2024-02-01T12:00:00Z,10,RUB\n"
        "o2,c1,2024-02-02 12:00:00,10,RUB\n",
    )
    with pytest.raises(CsvFormatError) as err:
        read_orders(path)
    text = str(err.value)
    assert str(path) in text
    assert "'ordered_at'" in text
    assert "row 2 (line 3)" in text
    assert "'2024-02-02 12:00:00'" in text


def test_date_only_timestamp_is_naive(tmp_path, pseudo):
    path = write(
        tmp_path / "customers.csv",
        "customer_id,telegram_user_id,signed_up_at\nc1,user1,2024-01-05\n",
    )
    with pytest.raises(CsvFormatError, match="signed_up_at"):
        read_customers(path, pseudonymizer=pseudo)


def test_missing_column_names_file_column_and_expected(tmp_path, pseudo):
    path = write(
        tmp_path / "assignments.csv",
        "experiment_id,user,variant,assigned_at\nx,user1,a,2024-01-01T00:00:00Z\n",
    )
    with pytest.raises(CsvFormatError) as err:
        read_assignments(path, pseudonymizer=pseudo)
    text = str(err.value)
    assert str(path) in text and "missing column 'unit_id'" in text
    assert "experiment_id" in text and "cluster_id (optional)" in text


def test_duplicate_ids_name_file_id_and_rows(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency\n"
        "o1,c1,2024-02-01T12:00:00Z,10,RUB\n"
        "o2,c1,2024-02-01T12:00:00Z,10,RUB\n"
        "o1,c2,2024-02-01T13:00:00Z,15,RUB\n",
    )
    with pytest.raises(CsvFormatError) as err:
        read_orders(path)
    text = str(err.value)
    assert str(path) in text and "'o1'" in text and "rows 1 (line 2), 3 (line 4)" in text


def test_duplicate_assignment_in_one_experiment(tmp_path, pseudo):
    path = write(
        tmp_path / "assignments.csv",
        "experiment_id,unit_id,variant,assigned_at\n"
        "x,user1,a,2024-01-01T00:00:00Z\n"
        "x,1,b,2024-01-01T00:00:00Z\n",  # same user in Bot API form
    )
    with pytest.raises(CsvFormatError, match="duplicate experiment_id \\+ unit_id"):
        read_assignments(path, pseudonymizer=pseudo)


def test_bad_amount_currency_and_role(tmp_path):
    header = "order_id,customer_id,ordered_at,amount,currency\n"
    path = write(tmp_path / "o1.csv", header + "o1,c1,2024-02-01T12:00:00Z,1 990,RUB\n")
    with pytest.raises(CsvFormatError, match="'amount'.*'1 990'"):
        read_orders(path)
    path = write(tmp_path / "o2.csv", header + "o1,c1,2024-02-01T12:00:00Z,10,rubles\n")
    with pytest.raises(CsvFormatError, match="'currency'"):
        read_orders(path)
    path = write(tmp_path / "m.csv", "user_id,source,referred_by,role\nuser1,,,admin\n")
    with pytest.raises(CsvFormatError, match="'admin'"):
        read_roster(path)


# --- dataset folder ------------------------------------------------------------------------


def _message(mid: int, t: int, sender: str, **extra) -> dict:
    return {
        "id": mid,
        "type": "message",
        "date": "2024-01-10T15:00:00",
        "date_unixtime": str(T0 + t),
        "from": sender.capitalize(),
        "from_id": sender,
        "text": f"message {mid}",
        **extra,
    }


def _dataset(root: Path) -> Path:
    raw = root / "raw" / "demo"
    export = {
        "name": "Demo",
        "type": "private_supergroup",
        "id": 42,
        "messages": [
            _message(1, 0, "user1"),
            _message(2, 60, "user2", reply_to_message_id=1),
            _message(3, 120, "user3"),
        ],
    }
    write(raw / "telegram" / "ChatExport_2024-01-11" / "result.json", json.dumps(export))
    write(raw / "members.csv", "user_id,source,referred_by,role\nuser1,,,staff\nuser2,ads,1,\n")
    write(
        raw / "customers.csv",
        "customer_id,telegram_user_id,signed_up_at\n"
        "c1,user2,2024-01-11T00:00:00Z\nc2,,2024-01-12T00:00:00Z\nc3,user99,2024-01-12T00:00Z\n",
    )
    write(
        raw / "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency\no1,c1,2024-01-15T10:00:00Z,500,RUB\n",
    )
    write(
        raw / "assignments.csv",
        "experiment_id,unit_id,variant,assigned_at,cluster_id\n"
        "onb,user2,a,2024-01-10T00:00:00Z,\nonb,user3,b,2024-01-10T00:00:00Z,\n"
        "onb,user4,b,2024-01-10T00:00:00Z,\n",
    )
    return raw


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_ingest_raw_dir_combines_everything_and_writes_nothing(tmp_path, pseudo):
    raw = _dataset(tmp_path)
    before = _snapshot(raw)
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    assert _snapshot(raw) == before
    assert len(t.messages) == 3 and len(t.members) == 3
    u1, u2, u3 = (pseudo.member_id("telegram", f"user{i}") for i in (1, 2, 3))
    m = t.members.set_index("member_id")
    assert m.loc[u1, "is_staff"] and not m.loc[u2, "is_staff"]
    assert m.loc[u2, ["source", "referred_by"]].tolist() == ["ads", u1]
    # customers and assignments join to community members through the same pseudonym
    assert t.customers.set_index("customer_id").loc["c1", "member_id"] == u2
    assert set(t.assignments["unit_id"]) & set(t.messages["member_id"]) == {u2, u3}
    assert t.orders["customer_id"].tolist() == ["c1"]
    assert t.provenance["customers.member_id.not_in_members_n"] == "1"
    assert t.provenance["assignments.unit_id.not_in_members_n"] == "1"
    assert t.provenance["members.roster_unmatched_n"] == "0"


def test_ingest_raw_dir_without_export_names_folder(tmp_path):
    raw = tmp_path / "raw" / "empty"
    write(raw / "members.csv", "user_id,source,referred_by,role\n")
    with pytest.raises(FileNotFoundError) as err:
        ingest_raw_dir(raw)
    assert str(raw) in str(err.value) and "telegram" in str(err.value)


def test_ingest_raw_dir_orders_of_unknown_customer_fail_link_check(tmp_path, pseudo):
    raw = _dataset(tmp_path)
    write(
        raw / "orders.csv",
        "order_id,customer_id,ordered_at,amount,currency\no1,c404,2024-01-15T10:00:00Z,5,RUB\n",
    )
    with pytest.raises(ValueError, match="c404"):
        ingest_raw_dir(raw, pseudonymizer=pseudo)
