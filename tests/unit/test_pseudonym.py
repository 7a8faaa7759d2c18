"""Keyed pseudonyms: stable, key-dependent, not the raw id, key file created safely."""

from __future__ import annotations

import hashlib
import hmac
import stat

import pandas as pd
import pytest

from analysis import config
from analysis.pseudonym import Pseudonymizer


@pytest.fixture(autouse=True)
def _key_env(monkeypatch):
    monkeypatch.setenv(config.PSEUDONYM_KEY_ENV, "test-key-not-secret")


def test_member_id_is_hmac_sha256_prefix():
    p = Pseudonymizer(key="k1")
    expected = "m_" + hmac.new(b"k1", b"telegram:user123", hashlib.sha256).hexdigest()[:16]
    assert p.member_id("telegram", "user123") == expected
    assert len(expected) == 18


def test_same_key_same_pseudonym_different_key_different():
    a1 = Pseudonymizer(key="k1").member_id("telegram", "user123")
    a2 = Pseudonymizer(key="k1").member_id("telegram", "user123")
    b = Pseudonymizer(key="k2").member_id("telegram", "user123")
    assert a1 == a2
    assert a1 != b


def test_platform_is_part_of_the_hashed_value():
    p = Pseudonymizer(key="k1")
    assert p.member_id("telegram", "123") != p.member_id("discord", "123")


def test_pseudonym_does_not_contain_raw_id():
    p = Pseudonymizer(key="k1")
    mid = p.member_id("telegram", "user123456789")
    assert "123456789" not in mid
    assert "user" not in mid


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv(config.PSEUDONYM_KEY_ENV, "env-key")
    p = Pseudonymizer()
    assert p.key_source == "environment"
    assert p.member_id("telegram", "user1") == Pseudonymizer(key="env-key").member_id(
        "telegram", "user1"
    )
    assert "env-key" not in repr(p)


def test_key_file_created_once_with_mode_600(tmp_path, monkeypatch):
    monkeypatch.delenv(config.PSEUDONYM_KEY_ENV, raising=False)
    key_file = tmp_path / ".workbench-key"
    monkeypatch.setattr(config, "PSEUDONYM_KEY_FILE", key_file)
    first = Pseudonymizer()
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 64  # token_hex(32)
    assert first.key_source == f"file:{key_file}"
    second = Pseudonymizer()  # reuses, never overwrites
    assert first.member_id("telegram", "user1") == second.member_id("telegram", "user1")
    assert [p.name for p in tmp_path.iterdir()] == [".workbench-key"]  # no temp files left


def test_empty_key_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        Pseudonymizer(key="")


def test_vectorised_matches_scalar_and_keeps_nulls():
    p = Pseudonymizer(key="k1")
    ids = pd.Series(["user1", None, "user2", "user1", ""], index=[10, 11, 12, 13, 14])
    out = p.member_ids("telegram", ids)
    assert list(out.index) == [10, 11, 12, 13, 14]
    assert out[10] == out[13] == p.member_id("telegram", "user1")
    assert out[12] == p.member_id("telegram", "user2")
    assert out[11] is None and out[14] is None
