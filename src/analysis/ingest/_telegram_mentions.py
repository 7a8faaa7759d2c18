"""Telegram mentions: text entities → the canonical ``mentions`` table.

Part of :mod:`analysis.ingest.telegram` (its docstring states the mapping). Telegram Desktop
writes a message's formatted text twice: ``text`` (a string, or a list of strings and entity
objects) and ``text_entities`` (a list of entity objects); each entity has ``type`` and ``text``
(https://core.telegram.org/api/entities lists the types). Two types name a person:

``mention_name``
    A mention of a user without a public username; the entity carries ``user_id`` (a number), the
    same user as ``from_id = "user<user_id>"``: always resolvable.
``mention``
    ``@username`` text. The export does not say whose username it is, so it resolves only through a
    ``username`` column of the roster (``members.csv``) or of the identity map; usernames compare
    case-insensitively without ``@`` (:func:`analysis.ingest.crm.normalize_username`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analysis.ingest.crm import normalize_username

__all__ = ["mentions_frame", "message_mentions"]


def message_mentions(message: dict) -> list[tuple[str, str]]:
    """The people one message mentions: ``("id", "user123")`` or ``("username", "alice")``.

    Reads ``text_entities`` when present, else the entity objects inside a list ``text``;
    entities of other types, and ``mention_name`` without a numeric ``user_id``, are ignored.
    """
    entities = message.get("text_entities")
    if not isinstance(entities, list):
        text = message.get("text")
        entities = text if isinstance(text, list) else []
    out: list[tuple[str, str]] = []
    for entity in entities:
        if not isinstance(entity, dict):
            continue
        kind = entity.get("type")
        if kind == "mention_name":
            user = entity.get("user_id")
            if isinstance(user, str) and user.strip().isdigit():
                user = int(user)
            if isinstance(user, int) and not isinstance(user, bool) and user > 0:
                out.append(("id", f"user{user}"))
        elif kind == "mention":
            name = normalize_username(entity.get("text"))
            if name:
                out.append(("username", name))
    return out


def mentions_frame(
    entries: list[tuple[int, str, str]],
    mids,
    usernames: Mapping[str, str] | None,
    provenance: dict[str, str],
) -> pd.DataFrame:
    """Mentions with raw platform ids: ``message_id``, ``member_id``; one row per pair.

    Parameters
    ----------
    entries : list of (message index, "id" | "username", value)
        As collected per message by :func:`message_mentions`.
    mids : numpy.ndarray
        Message ids by message index.
    usernames : mapping, optional
        ``{username: platform user id}`` (lower case, without ``@``).
    provenance : dict
        Receives ``mentions.member_id`` (observed), ``mentions.mention_name_n`` (mentions by
        user id), ``mentions.username_resolved_n`` and ``mentions.username_unresolved_n``
        (``@username`` mentions with and without a known owner), each counting entities.
    """
    usernames = usernames or {}
    rows, by_id, resolved, unresolved = [], 0, 0, 0
    for index, kind, value in entries:
        if kind == "id":
            by_id += 1
            rows.append((mids[index], value))
        elif value in usernames:
            resolved += 1
            rows.append((mids[index], usernames[value]))
        else:
            unresolved += 1
    provenance["mentions.member_id"] = "observed"
    provenance["mentions.mention_name_n"] = str(by_id)
    provenance["mentions.username_resolved_n"] = str(resolved)
    provenance["mentions.username_unresolved_n"] = str(unresolved)
    frame = pd.DataFrame(rows, columns=["message_id", "member_id"], dtype=object)
    return frame.drop_duplicates().reset_index(drop=True)
