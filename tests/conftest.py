"""Shared fixtures: a tiny community whose every number can be checked by hand."""

from __future__ import annotations

import os

import pandas as pd
import pytest

# Tests never touch the developer's key file: a fixed key makes pseudonyms reproducible.
os.environ.setdefault("WORKBENCH_PSEUDONYM_KEY", "test-key-not-secret")

from analysis import config
from analysis.schema import Tables


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value, tz="UTC")


def make_members(rows: list[tuple]) -> pd.DataFrame:
    """rows: (member_id, joined_at, is_staff, is_bot)."""
    return pd.DataFrame(
        {
            "member_id": [r[0] for r in rows],
            "platform": "telegram",
            "joined_at": [ts(r[1]) for r in rows],
            "source": None,
            "is_staff": [r[2] for r in rows],
            "is_bot": [r[3] for r in rows],
            "display_name": None,
            "referred_by": None,
        }
    )


def make_messages(rows: list[tuple]) -> pd.DataFrame:
    """rows: (message_id, member_id, created_at, reply_to_id or None[, kind])."""
    ids = {r[0]: r for r in rows}

    def root(mid: str) -> str:
        seen = set()
        while ids.get(mid) and ids[mid][3] is not None and mid not in seen:
            seen.add(mid)
            mid = ids[mid][3]
        return mid

    return pd.DataFrame(
        {
            "message_id": [r[0] for r in rows],
            "platform": "telegram",
            "channel_id": "tg:1",
            "thread_id": [root(r[0]) for r in rows],
            "member_id": [r[1] for r in rows],
            "created_at": [ts(r[2]) for r in rows],
            "reply_to_id": [r[3] for r in rows],
            "reply_source": ["explicit" if r[3] else "none" for r in rows],
            "kind": [r[4] if len(r) > 4 else "message" for r in rows],
            "text": None,
            "text_len": 0,
            "n_reactions": 0,
        }
    )


@pytest.fixture
def tiny_tables() -> Tables:
    """Three members (s is staff) over four ISO weeks of January 2024.

    Week of 2024-01-01: a posts (Sun 23:30 UTC, still week 1), b reacts to it at 23:50.
    Week of 2024-01-08: b replies to a; s posts. Week of 2024-01-15: nothing (an empty week).
    Week of 2024-01-22: a and b post; a replies to s. One service event (b joined) is not activity.
    """
    members = make_members(
        [
            ("a", "2024-01-01", False, False),
            ("b", "2024-01-03", False, False),
            ("s", "2023-12-01", True, False),
        ]
    )
    messages = make_messages(
        [
            ("1", "a", "2024-01-07 23:30", None),
            ("j", "b", "2024-01-03 10:00", None, "service"),
            ("2", "b", "2024-01-08 00:10", "1"),
            ("3", "s", "2024-01-08 01:00", None),
            ("4", "a", "2024-01-24 09:00", "3"),
            ("5", "b", "2024-01-24 10:00", None),
        ]
    )
    reactions = pd.DataFrame(
        {
            "message_id": ["1", "1"],
            "member_id": ["b", None],
            "emoji": ["👍", "👍"],
            "count": [1, 2],
            "reacted_at": [ts("2024-01-07 23:50"), pd.NaT],
        }
    )
    return Tables(members=members, messages=messages, reactions=reactions)


@pytest.fixture
def shared_data() -> os.PathLike:
    path = config.SHARED_DIR / "data"
    if not path.exists():
        pytest.skip(f"shared reference data not found at {path}")
    return path


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    """A small simulated community (raw export + processed dataset) shared by a test session.

    Returns ``(processed_dir, raw_dir, ground_truth)``.
    """
    from analysis.data import write_dataset
    from analysis.ingest import ingest_raw_dir, source_files
    from analysis.synth import generate_community

    root = tmp_path_factory.mktemp("synthetic")
    raw = root / "raw"
    truth = generate_community(raw, n_members=2000, seed=11)
    processed = root / "processed"
    write_dataset(ingest_raw_dir(raw), processed, sources=source_files(raw))
    return processed, raw, truth
