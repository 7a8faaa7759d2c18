"""Keyed pseudonyms for platform user ids.

Every member id in the canonical tables is a pseudonym computed at ingest::

    member_id = "m_" + HMAC-SHA256(key, f"{platform}:{platform_user_id}").hexdigest()[:16]

Why a keyed hash (HMAC) and not a plain hash
--------------------------------------------
Platform user ids live in small, enumerable spaces: Telegram user ids are integers below a few
billion, Discord and Slack ids are similarly structured. A plain ``sha256("telegram:user123")``
can be reversed by hashing every possible id (minutes on a laptop) and looking the result up, so
it only *looks* anonymous. With HMAC the attacker also needs the secret key, which never leaves
the machine that runs the ingest (environment variable or a git-ignored file, never a report).

Same key and same id give the same pseudonym in every table and every run, so messages, reactions,
customers and experiment assignments join on ``member_id``; a different key gives unrelated
pseudonyms (rotate the key to unlink old outputs).

One person on several platforms (an identity map, :mod:`analysis.ingest.identity`) gets one
pseudonym computed from the map's person id instead of a platform id::

    member_id = "m_" + HMAC-SHA256(key, f"person:{person_id}").hexdigest()[:16]

(:meth:`Pseudonymizer.person_member_id`); it cannot collide with a platform pseudonym because
no adapter uses ``person`` as its platform name.

16 hex characters are 64 bits: the chance of any collision among a million members is about 3e-8.

Where the key comes from (first match wins)
-------------------------------------------
1. the ``key`` argument of :class:`Pseudonymizer`;
2. the environment variable :data:`analysis.config.PSEUDONYM_KEY_ENV` (``WORKBENCH_PSEUDONYM_KEY``);
3. the file :data:`analysis.config.PSEUDONYM_KEY_FILE` (``<project>/.workbench-key``, git-ignored),
   created on first use with ``secrets.token_hex(32)``, mode ``0o600``, written atomically (the
   name appears only once the whole key is on disk, and an existing key is never overwritten).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from analysis import config

__all__ = ["Pseudonymizer", "PSEUDONYM_PREFIX"]

#: Prefix of every member pseudonym.
PSEUDONYM_PREFIX = "m_"
_HEX_CHARS = 16


class Pseudonymizer:
    """Map platform user ids to stable pseudonymous member ids with a keyed hash.

    Parameters
    ----------
    key : str or bytes, optional
        The secret key. When omitted, the environment variable ``WORKBENCH_PSEUDONYM_KEY`` is
        used, else the key file (created on first use).
    key_file : path-like, optional
        Key file to use instead of :data:`analysis.config.PSEUDONYM_KEY_FILE`.

    Attributes
    ----------
    key_source : str
        Where the key came from: ``"argument"``, ``"environment"`` or ``"file:<path>"``. Safe to
        record in a manifest; the key itself is never exposed.

    Examples
    --------
    >>> p = Pseudonymizer(key="not-a-real-key")
    >>> p.member_id("telegram", "user123")
    'm_10e79ef56b0c09d8'
    """

    def __init__(self, key: str | bytes | None = None, *, key_file: os.PathLike | None = None):
        if key is not None:
            source = "argument"
        elif os.environ.get(config.PSEUDONYM_KEY_ENV):
            key = os.environ[config.PSEUDONYM_KEY_ENV]
            source = "environment"
        else:
            path = Path(key_file) if key_file is not None else Path(config.PSEUDONYM_KEY_FILE)
            key = _load_or_create_key_file(path)
            source = f"file:{path}"
        key_bytes = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if not key_bytes.strip():
            raise ValueError(
                f"pseudonym key from {source} is empty; set {config.PSEUDONYM_KEY_ENV} to a long "
                f"random string or delete the empty key file so a new one is generated."
            )
        self._key = key_bytes
        self.key_source = source

    def __repr__(self) -> str:
        return f"Pseudonymizer(key_source={self.key_source!r}, fingerprint={self.fingerprint!r})"

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible tag of the key (to tell whether two runs used the same key)."""
        return hmac.new(self._key, b"workbench-key-fingerprint", hashlib.sha256).hexdigest()[:8]

    def member_id(self, platform: str, platform_user_id: str) -> str:
        """The pseudonymous member id of one platform user.

        Parameters
        ----------
        platform : str
            Platform name, e.g. ``"telegram"``.
        platform_user_id : str
            The platform's id of the user as a string, e.g. ``"user123"`` for Telegram.

        Returns
        -------
        str
            ``"m_"`` followed by 16 lowercase hex characters.
        """
        if platform_user_id is None or platform_user_id == "":
            raise ValueError(f"cannot pseudonymise an empty {platform} user id")
        message = f"{platform}:{platform_user_id}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:_HEX_CHARS]

    def person_member_id(self, person_id: str) -> str:
        """The member id of a person named in an identity map (one id across platforms).

        Parameters
        ----------
        person_id : str
            The identity map's person id (e.g. a CRM contact id).

        Returns
        -------
        str
            ``"m_"`` + the first 16 hex characters of ``HMAC-SHA256(key, "person:<person_id>")``.
        """
        if person_id is None or str(person_id).strip() == "":
            raise ValueError("cannot pseudonymise an empty person id")
        return self.member_id("person", str(person_id).strip())

    def member_ids(self, platform: str, platform_user_ids: pd.Series) -> pd.Series:
        """Vectorised :meth:`member_id` for a Series; nulls and empty strings stay null.

        Each distinct id is hashed once, so a column of 10^6 rows with 10^4 members costs 10^4
        HMACs.

        Parameters
        ----------
        platform : str
            Platform name, e.g. ``"telegram"``.
        platform_user_ids : pandas.Series
            Platform user ids (strings; other values are converted with ``str``).

        Returns
        -------
        pandas.Series
            Object-dtype pseudonyms with the input's index; ``None`` where the input was null.
        """
        series = pd.Series(platform_user_ids)
        present = series.notna() & (series.astype(str) != "")
        mapping = {
            value: self.member_id(platform, str(value)) for value in pd.unique(series[present])
        }
        values = [mapping[v] if ok else None for v, ok in zip(series, present, strict=True)]
        return pd.Series(values, index=series.index, dtype=object)


def _load_or_create_key_file(path: Path) -> str:
    if not path.exists():
        _create_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        warnings.warn(
            f"pseudonym key file {path} is readable by other users (mode {oct(mode)}); "
            f"run `chmod 600 {path}`.",
            stacklevel=3,
        )
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ValueError(
            f"pseudonym key file {path} is empty; delete it to generate a new key (this changes "
            f"every member id) or restore the old key."
        )
    return key


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` atomically, never replacing an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".workbench-key.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # A hard link publishes the complete file under its name, and fails if another
            # process created the key first: the existing key wins and is never overwritten.
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # file systems without hard links
            try:
                fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd2, "w", encoding="utf-8") as fh:
                fh.write(Path(tmp).read_text(encoding="utf-8"))
    finally:
        Path(tmp).unlink(missing_ok=True)
