"""Processed datasets: atomic writes, manifest, round trip, Community on DuckDB."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.data import Community, naive_utc, read_manifest, read_tables, write_dataset
from analysis.schema import SchemaValidationError, Tables


def test_round_trip_and_manifest(tiny_tables, tmp_path):
    source = tmp_path / "raw.json"
    source.write_text("{}")
    manifest = write_dataset(tiny_tables, tmp_path / "processed" / "tiny", sources=[source])
    root = tmp_path / "processed" / "tiny"
    assert sorted(p.name for p in root.iterdir()) == [
        "manifest.json",
        "members.parquet",
        "messages.parquet",
        "reactions.parquet",
    ]
    assert manifest == json.loads((root / "manifest.json").read_text())
    assert manifest["tables"]["messages"]["rows"] == 6
    assert manifest["sources"][0]["sha256"] == (
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # sha256 of "{}"
    )
    assert manifest["time_range"]["start"].startswith("2024-01-03T10:00:00")
    back = read_tables(root)
    pd.testing.assert_frame_equal(back.messages, tiny_tables.validated().messages)
    assert str(back.members["joined_at"].dtype) == "datetime64[ns, UTC]"


def test_content_hash_is_stable_and_content_sensitive(tiny_tables, tmp_path):
    h1 = write_dataset(tiny_tables, tmp_path / "a")["content_hash"]
    h2 = write_dataset(tiny_tables, tmp_path / "b")["content_hash"]
    assert h1 == h2
    changed = Tables(
        members=tiny_tables.members,
        messages=tiny_tables.messages.assign(text_len=1),
        reactions=tiny_tables.reactions,
    )
    assert write_dataset(changed, tmp_path / "c")["content_hash"] != h1


def test_invalid_tables_leave_previous_dataset_intact(tiny_tables, tmp_path):
    target = tmp_path / "tiny"
    write_dataset(tiny_tables, target)
    before = read_manifest(target)
    broken = Tables(members=tiny_tables.members, messages=tiny_tables.messages.assign(kind="x"))
    with pytest.raises(SchemaValidationError):
        write_dataset(broken, target)
    assert read_manifest(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no staging debris


def test_community_load_runs_on_duckdb(tiny_tables, tmp_path):
    write_dataset(tiny_tables, tmp_path / "tiny")
    community = Community.load(tmp_path / "tiny")
    assert community.name == "tiny" and community.has("reactions") and not community.has("orders")
    assert community.execute(community.messages.count()) == 6
    with pytest.raises(KeyError, match="no 'orders' table"):
        community.table("orders")


def test_missing_dataset_error_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="workbench ingest"):
        Community.load(tmp_path / "nothing")


def test_window_and_staff_overrides(tiny_tables):
    community = Community.from_tables(tiny_tables)
    january_second_week = community.window("2024-01-08", "2024-01-15")
    assert sorted(january_second_week.execute(january_second_week.messages.message_id)) == [
        "2",
        "3",
    ]
    # reactions follow their messages: the only reaction is on message 1 (week 1)
    assert january_second_week.execute(january_second_week.table("reactions").count()) == 0
    assert community.window() is community
    staffed = community.with_staff(["a"])
    flags = staffed.execute(staffed.members.select("member_id", "is_staff")).set_index("member_id")
    assert flags["is_staff"].to_dict() == {"a": True, "b": False, "s": True}


def test_window_drops_reactions_made_after_it(tiny_tables):
    community = Community.from_tables(tiny_tables)
    # message 1 at 23:30 is inside; b's reaction to it at 23:50 is after the window's end
    early = community.window(None, "2024-01-07 23:40")
    reactions = early.execute(early.table("reactions"))
    assert reactions["member_id"].isna().all() and len(reactions) == 1  # the unnamed one stays


def test_engines_must_run_in_utc(tiny_tables, tmp_path):
    import ibis

    from analysis.data import session_timezone

    write_dataset(tiny_tables, tmp_path / "tiny")
    moscow = ibis.duckdb.connect()
    moscow.raw_sql("SET TimeZone = 'Europe/Moscow'").fetchall()
    assert session_timezone(moscow) == "Europe/Moscow"
    with pytest.raises(ValueError, match="time zone is 'Europe/Moscow'"):
        Community.load(tmp_path / "tiny", backend=moscow)
    with pytest.raises(ValueError, match="SET TimeZone = 'UTC'"):
        Community.from_tables(tiny_tables, backend=moscow)


def test_naive_utc_converts_aware_keeps_naive_and_types_empty_results():
    # DuckDB hands back aware timestamps (here +02:00), Spark naive UTC ones: the same values
    aware = pd.Series(pd.to_datetime(["2024-01-01 10:00+02:00", "2024-06-30 23:30+02:00"]))
    naive = pd.Series(pd.to_datetime(["2024-01-01 08:00", "2024-06-30 21:30"]))
    assert naive_utc(aware).tolist() == naive.tolist()
    assert naive_utc(naive).tolist() == naive.tolist()
    assert naive_utc(aware).dtype == "datetime64[ns]"
    # an empty result (no rows from the engine) is still a datetime column
    assert naive_utc(pd.Series([], dtype=object)).dtype == "datetime64[ns]"
