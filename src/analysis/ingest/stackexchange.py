"""Stack Exchange data dump (``Posts.xml``, ``Comments.xml``, ``Users.xml``) → canonical tables.

Stack Exchange publishes each site as XML files with one ``<row .../>`` element per record and
every field an attribute (field meanings: ``shared/data/README.md`` and the dump's own
``readme.txt``). The files are streamed with :func:`xml.etree.ElementTree.iterparse`, clearing
each row after use, so memory grows with the number of rows kept, not with the text of the file.

How the dump's fields become canonical columns
----------------------------------------------
Site and channel
    One dump is one site, which becomes one channel: ``channel_id = "se:<site>"``, kind
    ``forum``, name ``<site>``. ``site`` defaults to the folder's name (the dump itself does not
    name its site).
Messages
    * Questions (``PostTypeId`` 1) are thread roots: ``kind="post"``, ``reply_to_id`` null,
      ``reply_source="none"``, ``thread_id`` = the question itself.
    * Answers (``PostTypeId`` 2) reply to their question (``ParentId``): ``kind="message"``,
      ``reply_to_id`` = ``thread_id`` = the question, ``reply_source="explicit"``. Answers are
      ``message`` rather than ``comment`` so that the three kinds of contribution stay apart in the
      ``kind`` column (question = ``post``, answer = ``message``, comment = ``comment``).
    * Comments (``Comments.xml``) reply to their post (``PostId``, a question or an answer):
      ``kind="comment"``, ``reply_to_id`` = that post, ``thread_id`` = the question (the post
      itself, or the answer's question).
    * Other post types (tag wiki excerpts and bodies 4/5, orphaned tag wikis 3, moderator
      nominations 6, wiki placeholders 7, privilege wikis 8, ...) are not conversations: they are
      left out and counted, and so are comments on them.
    * Ids: ``message_id = "se:<site>:p<Id>"`` for posts and ``"se:<site>:c<Id>"`` for comments
      (posts and comments number their ids separately).
    * An answer whose question, or a comment whose post, is not in ``Posts.xml`` keeps its
      reference (dangling; ``thread_id`` = the missing post for a comment) and is counted.
    * ``text``: for a question ``Title`` + blank line + the body, for an answer the body; bodies
      are HTML in the dump and become plain text (tags removed, entities decoded); comments are
      plain text already. ``text_len`` is the length of ``text`` in characters.
    * ``n_reactions`` is 0: ``Score`` is net votes (up minus down), not a count of reactions, and
      votes (``Votes.xml``) are not read.
Time
    ``CreationDate`` is UTC without an offset (documented by Stack Exchange for the dumps); it is
    localised as UTC (``messages.created_at`` = ``"observed (UTC per the dump's
    documentation)"``). Millisecond precision is kept.
Members
    * Every row of ``Users.xml`` is a member: ``member_id`` = the keyed pseudonym of
      ``"<site>:<Id>"`` (platform ``stackexchange``), ``joined_at`` = ``CreationDate`` (observed),
      ``display_name`` = ``DisplayName``. A member whose first post or comment is earlier than
      their ``CreationDate`` (possible for accounts merged from another site) gets ``joined_at`` =
      that first activity (inferred), as for every adapter: never after the first activity.
    * ``Id = -1`` ("Community", Stack Exchange's background process that owns community wiki posts
      and bumps old questions) is a bot (``is_bot=True``); nobody else is.
    * ``is_staff`` is False: the dump does not mark moderators or employees (provenance
      ``absent``). ``source`` and ``referred_by`` are null (``absent``).
    * Users named by ``OwnerUserId``/``UserId`` but missing from ``Users.xml`` become members with
      ``joined_at`` = their first activity (inferred; counted).
Deleted users
    Posts and comments of deleted accounts have no ``OwnerUserId``/``UserId``; the dump keeps the
    account's last display name in ``OwnerDisplayName``/``UserDisplayName`` (on most sites
    ``user<old id>``). Each distinct such name becomes one pseudonymous member (pseudonym of
    ``"<site>:deleted:<name>"``, ``display_name`` = the name, ``joined_at`` = first activity,
    inferred). Keeping them apart, rather than folding every deleted account into one member,
    keeps author counts and "response by another member" right (two deleted users answering each
    other are two people); two deleted accounts that shared a display name merge, which the dump
    gives no way to prevent. Rows with neither an id nor a name go to one member,
    ``"<site>:deleted"`` (display name ``"deleted user"``). Provenance counts the members and the
    messages involved.
Accepted answers
    The canonical ``messages`` table has no column for them. The count is recorded in
    provenance (``messages.accepted_answer_n``) and :func:`read_accepted_answers` returns the
    pairs (question message id, accepted answer message id) for studies that want them.

Errors (:class:`StackExchangeDumpError`, a :class:`ValueError`) name the file, the row (its
``Id``, or its position when the ``Id`` itself is bad) and the field: a missing file, malformed
XML (line and column), a root element other than the file's (``posts``/``comments``/``users``), a
missing or non-integer ``Id``/``PostTypeId``/``ParentId``/``PostId``, an unparseable
``CreationDate``, an answer without ``ParentId``, a duplicate ``Id``.

Provenance keys (counts are decimal strings)
--------------------------------------------
``messages.created_at`` (observed, UTC per the dump's documentation), ``messages.reply_to_id``
(observed), ``messages.thread_id`` (observed), ``messages.kind`` (observed),
``messages.text`` (observed), ``messages.n_reactions`` (absent), ``messages.member_id``
(observed), ``messages.questions_n``, ``messages.answers_n``, ``messages.comments_n``,
``messages.accepted_answer_n``, ``messages.reply_to_id.explicit_n``,
``messages.reply_to_id.dangling_n``, ``messages.skipped_other_post_types_n``,
``messages.skipped_comments_on_other_posts_n``, ``messages.deleted_author_n``,
``members.joined_at`` (observed | mixed), ``members.joined_at.observed_n``,
``members.joined_at.inferred_n``, ``members.deleted_n``, ``members.not_in_users_n``,
``members.display_name`` (observed), ``members.is_bot`` (observed: the Community user),
``members.is_staff`` / ``members.source`` / ``members.referred_by`` (absent),
``channels.kind`` (observed).
"""

from __future__ import annotations

import html
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.pseudonym import Pseudonymizer
from analysis.schema import Tables

__all__ = [
    "PLATFORM",
    "StackExchangeDumpError",
    "read_accepted_answers",
    "read_stackexchange",
]

#: Platform name used in the tables and in pseudonyms.
PLATFORM = "stackexchange"
#: Id of Stack Exchange's "Community" user (a background process, flagged as a bot).
COMMUNITY_USER_ID = "-1"
QUESTION, ANSWER = "1", "2"
_FILES = {"posts": "Posts.xml", "comments": "Comments.xml", "users": "Users.xml"}
_DUMP_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")


class StackExchangeDumpError(ValueError):
    """A Stack Exchange dump file is missing or malformed (names the file, row and field)."""


# --------------------------------------------------------------------------------------- reading


def _rows(path: Path, root_tag: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Stream ``(position, attributes)`` of every ``<row>`` of one dump file.

    Each element is cleared once read, and the root's finished children are dropped, so memory
    does not grow with the file.
    """
    if not path.is_file():
        raise StackExchangeDumpError(
            f"{path}: file not found; a Stack Exchange dump folder holds Posts.xml, Comments.xml "
            f"and Users.xml."
        )
    root = None
    position = 0
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if root is None:
                root = elem
                if elem.tag != root_tag:
                    raise StackExchangeDumpError(
                        f"{path}: root element is <{elem.tag}>, expected <{root_tag}> "
                        f"(is this the right file?)."
                    )
                continue
            if event != "end" or elem.tag != "row":
                continue
            position += 1
            yield position, dict(elem.attrib)
            elem.clear()
            root.clear()
    except ET.ParseError as exc:
        line, column = exc.position
        raise StackExchangeDumpError(
            f"{path}: malformed XML at line {line}, column {column} ({exc})."
        ) from None


def _where(path: Path, position: int, row: dict[str, str]) -> str:
    rid = row.get("Id")
    return f"{path}: row Id={rid}" if rid else f"{path}: row {position} (no Id)"


def _int_field(
    path: Path, position: int, row: dict[str, str], name: str, *, required: bool = True
) -> str | None:
    """The integer attribute ``name`` as a canonical decimal string (``None`` when absent)."""
    value = row.get(name)
    if value is None or value.strip() == "":
        if required:
            raise StackExchangeDumpError(
                f"{_where(path, position, row)}: field '{name}' is missing; expected an integer."
            )
        return None
    try:
        return str(int(value))
    except ValueError:
        raise StackExchangeDumpError(
            f"{_where(path, position, row)}: field '{name}' = {value!r} is not an integer."
        ) from None


def _time_field(path: Path, position: int, row: dict[str, str]) -> str:
    value = row.get("CreationDate")
    if value is None or not _DUMP_TIME_RE.match(value):
        raise StackExchangeDumpError(
            f"{_where(path, position, row)}: field 'CreationDate' = {value!r} is not a dump "
            f"timestamp; expected 'YYYY-MM-DDTHH:MM:SS[.fff]' (UTC without an offset)."
        )
    return value


def _check_unique(path: Path, ids: list[str]) -> None:
    series = pd.Series(ids, dtype=object)
    dup = series[series.duplicated()]
    if len(dup):
        raise StackExchangeDumpError(
            f"{path}: row Id={dup.iloc[0]} appears more than once ({len(dup)} duplicate ids); "
            f"each Id must be unique."
        )


def _utc(values: list[str], path: Path) -> pd.Series:
    parsed = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", errors="coerce")
    if parsed.isna().any():  # pragma: no cover - the regular expression rules this out
        bad = values[int(np.flatnonzero(parsed.isna().to_numpy())[0])]
        raise StackExchangeDumpError(f"{path}: field 'CreationDate' = {bad!r} is not a date.")
    return parsed.dt.tz_localize("UTC").astype(pd.DatetimeTZDtype("ns", "UTC"))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(body: str | None) -> str:
    """Plain text of a post body: HTML tags removed, entities decoded, outer blanks stripped."""
    if not body:
        return ""
    parser = _TextExtractor()
    parser.feed(body)
    parser.close()
    return html.unescape("".join(parser.parts)).strip()


# ------------------------------------------------------------------------------------ the reader


def _read_posts(path: Path) -> dict[str, list]:
    cols: dict[str, list] = {
        k: []
        for k in ("id", "type", "parent", "created", "owner", "owner_name", "text", "accepted")
    }
    skipped = 0
    other_ids: set[str] = set()
    for position, row in _rows(path, "posts"):
        pid = _int_field(path, position, row, "Id")
        ptype = _int_field(path, position, row, "PostTypeId")
        if ptype not in (QUESTION, ANSWER):
            skipped += 1
            other_ids.add(pid)
            continue
        parent = _int_field(path, position, row, "ParentId", required=(ptype == ANSWER))
        body = html_to_text(row.get("Body"))
        if ptype == QUESTION:
            title = (row.get("Title") or "").strip()
            body = f"{title}\n\n{body}" if title and body else (title or body)
            parent = None
        cols["id"].append(pid)
        cols["type"].append(ptype)
        cols["parent"].append(parent)
        cols["created"].append(_time_field(path, position, row))
        cols["owner"].append(_int_field(path, position, row, "OwnerUserId", required=False))
        cols["owner_name"].append((row.get("OwnerDisplayName") or "").strip() or None)
        cols["text"].append(body)
        accepted = _int_field(path, position, row, "AcceptedAnswerId", required=False)
        cols["accepted"].append(accepted if ptype == QUESTION else None)
    _check_unique(path, cols["id"] + sorted(other_ids))
    cols["skipped"] = skipped  # type: ignore[assignment]
    cols["other_ids"] = other_ids  # type: ignore[assignment]
    return cols


def _read_comments(path: Path) -> dict[str, list]:
    cols: dict[str, list] = {k: [] for k in ("id", "post", "created", "user", "user_name", "text")}
    for position, row in _rows(path, "comments"):
        cols["id"].append(_int_field(path, position, row, "Id"))
        cols["post"].append(_int_field(path, position, row, "PostId"))
        cols["created"].append(_time_field(path, position, row))
        cols["user"].append(_int_field(path, position, row, "UserId", required=False))
        cols["user_name"].append((row.get("UserDisplayName") or "").strip() or None)
        cols["text"].append((row.get("Text") or "").strip())
    _check_unique(path, cols["id"])
    return cols


def _read_users(path: Path) -> pd.DataFrame:
    ids, created, names = [], [], []
    for position, row in _rows(path, "users"):
        ids.append(_int_field(path, position, row, "Id"))
        created.append(_time_field(path, position, row))
        names.append(row.get("DisplayName"))
    _check_unique(path, ids)
    return pd.DataFrame(
        {"user": pd.Series(ids, dtype=object), "created": _utc(created, path), "name": names}
    )


def _author_keys(users: list, names: list) -> tuple[list[str], list[bool]]:
    """Platform user keys: ``"<Id>"`` or ``"deleted:<name>"`` / ``"deleted"`` for deleted users."""
    keys, deleted = [], []
    for user, name in zip(users, names, strict=True):
        if user is not None:
            keys.append(user)
            deleted.append(False)
        else:
            keys.append(f"deleted:{name}" if name else "deleted")
            deleted.append(True)
    return keys, deleted


def read_stackexchange(
    folder: str | os.PathLike,
    *,
    pseudonymizer: Pseudonymizer,
    site: str | None = None,
) -> Tables:
    """Read a Stack Exchange data dump folder into validated canonical tables.

    Parameters
    ----------
    folder : path-like
        Folder with ``Posts.xml``, ``Comments.xml`` and ``Users.xml`` (other files ignored).
    pseudonymizer : Pseudonymizer
        Turns ``"<site>:<user id>"`` into the member id (platform ``stackexchange``).
    site : str, optional
        Site name for ids and the channel (default: the folder's name). Changing it changes
        every id and pseudonym.

    Returns
    -------
    Tables
        ``members``, ``messages`` and ``channels`` (one row), validated together, with the
        provenance listed in the module docstring.

    Raises
    ------
    StackExchangeDumpError
        A file is missing or malformed; the message names the file, the row ``Id`` and the field.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such Stack Exchange dump folder.")
    site = site or folder.name
    channel_id = f"se:{site}"
    posts_path, comments_path, users_path = (folder / _FILES[k] for k in _FILES)
    posts = _read_posts(posts_path)
    comments = _read_comments(comments_path)
    users = _read_users(users_path)

    # ---- posts → messages
    post_ids = posts["id"]
    question_of = {
        pid: (pid if ptype == QUESTION else parent)
        for pid, ptype, parent in zip(post_ids, posts["type"], posts["parent"], strict=True)
    }
    known_posts = set(post_ids)
    post_reply = [None if p is None else f"{channel_id}:p{p}" for p in posts["parent"]]
    post_thread = [f"{channel_id}:p{question_of[p]}" for p in post_ids]
    post_keys, post_deleted = _author_keys(posts["owner"], posts["owner_name"])
    dangling = sum(p is not None and p not in known_posts for p in posts["parent"])

    # ---- comments → messages (comments on non-Q&A posts are left out)
    other_ids: set[str] = posts["other_ids"]  # type: ignore[assignment]
    keep = [p not in other_ids for p in comments["post"]]
    skipped_comments = len(keep) - sum(keep)
    c = {k: [v for v, ok in zip(vals, keep, strict=True) if ok] for k, vals in comments.items()}
    comment_thread = []
    for target in c["post"]:
        question = question_of.get(target, target)  # dangling: the missing post is the thread
        comment_thread.append(f"{channel_id}:p{question}")
        dangling += target not in known_posts
    comment_keys, comment_deleted = _author_keys(c["user"], c["user_name"])

    n_posts, n_comments = len(post_ids), len(c["id"])
    authors = post_keys + comment_keys
    messages = pd.DataFrame(
        {
            "message_id": [f"{channel_id}:p{p}" for p in post_ids]
            + [f"{channel_id}:c{i}" for i in c["id"]],
            "platform": PLATFORM,
            "channel_id": channel_id,
            "thread_id": post_thread + comment_thread,
            "member_id": pseudonymizer.member_ids(
                PLATFORM, pd.Series([f"{site}:{k}" for k in authors], dtype=object)
            ),
            "created_at": pd.concat(
                [_utc(posts["created"], posts_path), _utc(c["created"], comments_path)],
                ignore_index=True,
            ),
            "reply_to_id": post_reply + [f"{channel_id}:p{p}" for p in c["post"]],
            "reply_source": "explicit",
            "kind": ["post" if t == QUESTION else "message" for t in posts["type"]]
            + ["comment"] * n_comments,
            "text": posts["text"] + c["text"],
        }
    )
    messages["reply_source"] = messages["reply_source"].where(
        messages["reply_to_id"].notna(), "none"
    )
    messages["text_len"] = messages["text"].str.len().astype("int64")
    messages["n_reactions"] = np.int64(0)
    first_activity = messages.groupby(pd.Series(authors, dtype=object))["created_at"].min()
    messages = messages.sort_values(["created_at", "message_id"], kind="stable").reset_index(
        drop=True
    )

    # ---- members: Users.xml, plus deleted and unknown authors
    deleted_names = {
        k: (k.removeprefix("deleted:") if k != "deleted" else "deleted user")
        for k, d in zip(authors, post_deleted + comment_deleted, strict=True)
        if d
    }
    known_users = set(users["user"])
    unknown = sorted(
        k for k in first_activity.index if k not in known_users and k not in deleted_names
    )
    n_extra = len(deleted_names) + len(unknown)
    extra = pd.DataFrame(
        {
            "user": pd.Series(list(deleted_names) + unknown, dtype=object),
            "created": pd.Series([pd.NaT] * n_extra, dtype=pd.DatetimeTZDtype("ns", "UTC")),
            "name": pd.Series(list(deleted_names.values()) + [None] * len(unknown), dtype=object),
        }
    )
    people = pd.concat([users, extra], ignore_index=True)
    first = pd.Series(first_activity.reindex(people["user"]).to_numpy(), index=people.index)
    first = first.astype(pd.DatetimeTZDtype("ns", "UTC"))
    observed = people["created"].notna() & ~(people["created"] > first)
    joined = people["created"].where(observed, first)
    members = pd.DataFrame(
        {
            "member_id": pseudonymizer.member_ids(PLATFORM, f"{site}:" + people["user"]),
            "platform": PLATFORM,
            "joined_at": joined.astype(pd.DatetimeTZDtype("ns", "UTC")),
            "source": None,
            "is_staff": False,
            "is_bot": (people["user"] == COMMUNITY_USER_ID).to_numpy(),
            "display_name": people["name"].astype(object),
            "referred_by": None,
        }
    )
    channels = pd.DataFrame(
        {
            "channel_id": [channel_id],
            "platform": PLATFORM,
            "name": [site],
            "kind": ["forum"],
            "parent_id": [None],
        }
    )

    n_questions = sum(t == QUESTION for t in posts["type"])
    n_observed = int(observed.sum())
    provenance = {
        "messages.created_at": "observed (UTC per the dump's documentation)",
        "messages.reply_to_id": "observed",
        "messages.reply_to_id.explicit_n": str(int(messages["reply_to_id"].notna().sum())),
        "messages.reply_to_id.dangling_n": str(int(dangling)),
        "messages.thread_id": "observed",
        "messages.kind": "observed",
        "messages.text": "observed",
        "messages.n_reactions": "absent",
        "messages.member_id": "observed",
        "messages.questions_n": str(n_questions),
        "messages.answers_n": str(n_posts - n_questions),
        "messages.comments_n": str(n_comments),
        "messages.accepted_answer_n": str(sum(a is not None for a in posts["accepted"])),
        "messages.skipped_other_post_types_n": str(posts["skipped"]),
        "messages.skipped_comments_on_other_posts_n": str(skipped_comments),
        "messages.deleted_author_n": str(sum(post_deleted) + sum(comment_deleted)),
        "members.joined_at": "observed" if n_observed == len(people) else "mixed",
        "members.joined_at.observed_n": str(n_observed),
        "members.joined_at.inferred_n": str(len(people) - n_observed),
        "members.deleted_n": str(len(deleted_names)),
        "members.not_in_users_n": str(len(unknown)),
        "members.display_name": "observed",
        "members.is_bot": "observed",
        "members.is_staff": "absent",
        "members.source": "absent",
        "members.referred_by": "absent",
        "channels.kind": "observed",
    }
    tables = Tables(members=members, messages=messages, channels=channels, provenance=provenance)
    return tables.validated(source=str(folder))


def read_accepted_answers(folder: str | os.PathLike, *, site: str | None = None) -> pd.DataFrame:
    """The accepted answer of each question that has one.

    Parameters
    ----------
    folder : path-like
        The dump folder (only ``Posts.xml`` is read).
    site : str, optional
        As in :func:`read_stackexchange` (default: the folder's name), so the ids match.

    Returns
    -------
    pandas.DataFrame
        ``question_id`` and ``answer_id`` as canonical message ids (``"se:<site>:p<Id>"``), one
        row per question with an ``AcceptedAnswerId``; ``answer_in_dump`` says whether that
        answer is in ``Posts.xml``.
    """
    folder = Path(folder)
    site = site or folder.name
    posts = _read_posts(folder / _FILES["posts"])
    known = set(posts["id"])
    pairs = [(q, a) for q, a in zip(posts["id"], posts["accepted"], strict=True) if a is not None]
    return pd.DataFrame(
        {
            "question_id": [f"se:{site}:p{q}" for q, _ in pairs],
            "answer_id": [f"se:{site}:p{a}" for _, a in pairs],
            "answer_in_dump": [a in known for _, a in pairs],
        }
    )
