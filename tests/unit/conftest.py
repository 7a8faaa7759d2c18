"""Fixtures for the ingest tests: a fixed pseudonym key and a Pseudonymizer using it."""

from __future__ import annotations

import pytest

from analysis import config
from analysis.pseudonym import Pseudonymizer


@pytest.fixture
def _key_env(monkeypatch):
    monkeypatch.setenv(config.PSEUDONYM_KEY_ENV, "test-key-not-secret")


@pytest.fixture
def pseudo(_key_env) -> Pseudonymizer:
    return Pseudonymizer()
