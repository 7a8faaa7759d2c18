"""Stack Exchange dump adapter on small inline XML files: mapping, deleted users, errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest.stackexchange import (
    StackExchangeDumpError,
    read_accepted_answers,
    read_stackexchange,
)

POSTS = """\ufeff<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" CreationDate="2020-01-01T10:00:00.000" OwnerUserId="5"
       Title="Why?" Body="&lt;p&gt;Because &amp;amp; so&lt;/p&gt;" AcceptedAnswerId="2" />
  <row Id="2" PostTypeId="2" ParentId="1" CreationDate="2020-01-01T11:30:00.500"
       OwnerUserId="6" Body="&lt;p&gt;Answer&lt;/p&gt;" />
  <row Id="3" PostTypeId="2" ParentId="1" CreationDate="2020-01-02T09:00:00.000"
       OwnerDisplayName="user77" Body="&lt;p&gt;Old&lt;/p&gt;" />
  <row Id="4" PostTypeId="4" CreationDate="2020-01-03T09:00:00.000" OwnerUserId="-1" />
  <row Id="5" PostTypeId="1" CreationDate="2020-01-04T09:00:00.000" OwnerUserId="-1"
       Title="Bumped" Body="" />
</posts>
"""
COMMENTS = """<?xml version="1.0" encoding="utf-8"?>
<comments>
  <row Id="1" PostId="1" CreationDate="2020-01-01T10:05:00.000" UserId="6" Text="Q?" />
  <row Id="2" PostId="2" CreationDate="2020-01-01T12:00:00.000" UserId="5" Text="Thanks" />
  <row Id="3" PostId="2" CreationDate="2020-01-01T12:30:00.000" UserDisplayName="user77"
       Text="Me too" />
  <row Id="4" PostId="4" CreationDate="2020-01-03T10:00:00.000" UserId="6" Text="wiki" />
  <row Id="5" PostId="2" CreationDate="2020-01-05T10:00:00.000" Text="anonymous" />
</comments>
"""
USERS = """<?xml version="1.0" encoding="utf-8"?>
<users>
  <row Id="-1" CreationDate="2019-01-01T00:00:00.000" DisplayName="Community" />
  <row Id="5" CreationDate="2019-06-01T00:00:00.000" DisplayName="Alice" />
  <row Id="6" CreationDate="2020-01-01T10:30:00.000" DisplayName="Bob" />
  <row Id="7" CreationDate="2019-07-01T00:00:00.000" DisplayName="Lurker" />
</users>
"""


def _dump(folder: Path, posts: str = POSTS, comments: str = COMMENTS, users: str = USERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Posts.xml").write_text(posts, encoding="utf-8")
    (folder / "Comments.xml").write_text(comments, encoding="utf-8")
    (folder / "Users.xml").write_text(users, encoding="utf-8")
    return folder


@pytest.fixture
def tables(tmp_path, pseudo):
    return read_stackexchange(_dump(tmp_path / "site"), pseudonymizer=pseudo)


def test_messages_mapping(tables, pseudo):
    m = tables.messages.set_index("message_id")
    assert list(m.index) == [
        "se:site:p1",
        "se:site:c1",
        "se:site:p2",
        "se:site:c2",
        "se:site:c3",
        "se:site:p3",
        "se:site:p5",
        "se:site:c5",
    ]  # time order; the tag wiki (type 4) and the comment on it are left out
    assert m.loc["se:site:p1", ["kind", "reply_source"]].tolist() == ["post", "none"]
    assert pd.isna(m.loc["se:site:p1", "reply_to_id"])
    assert m.loc["se:site:p2", ["kind", "reply_to_id", "thread_id"]].tolist() == [
        "message",
        "se:site:p1",
        "se:site:p1",
    ]
    # a comment on an answer replies to the answer and lives in the question's thread
    assert m.loc["se:site:c2", ["kind", "reply_to_id", "thread_id"]].tolist() == [
        "comment",
        "se:site:p2",
        "se:site:p1",
    ]
    assert m.loc["se:site:p1", "text"] == "Why?\n\nBecause & so"
    assert m.loc["se:site:p1", "text_len"] == len("Why?\n\nBecause & so")
    assert m.loc["se:site:p2", "created_at"] == pd.Timestamp("2020-01-01 11:30:00.500", tz="UTC")
    assert (m["channel_id"] == "se:site").all() and (m["n_reactions"] == 0).all()
    assert m.loc["se:site:p1", "member_id"] == pseudo.member_id("stackexchange", "site:5")
    assert tables.channels.to_dict("records") == [
        {
            "channel_id": "se:site",
            "platform": "stackexchange",
            "name": "site",
            "kind": "forum",
            "parent_id": None,
        }
    ]


def test_members_deleted_users_and_bot(tables, pseudo):
    mem = tables.members.set_index("member_id")
    alice = pseudo.member_id("stackexchange", "site:5")
    bob = pseudo.member_id("stackexchange", "site:6")
    ghost = pseudo.member_id("stackexchange", "site:deleted:user77")
    anon = pseudo.member_id("stackexchange", "site:deleted")
    bot = pseudo.member_id("stackexchange", "site:-1")
    assert len(mem) == 6  # 4 users (a lurker included) + 2 deleted authors
    assert mem.loc[alice, "joined_at"] == pd.Timestamp("2019-06-01", tz="UTC")
    # Bob's account is dated after his first comment: joined_at is the first activity
    assert mem.loc[bob, "joined_at"] == pd.Timestamp("2020-01-01 10:05", tz="UTC")
    assert mem.loc[ghost, "display_name"] == "user77"
    assert mem.loc[ghost, "joined_at"] == pd.Timestamp("2020-01-01 12:30", tz="UTC")
    assert mem.loc[anon, "display_name"] == "deleted user"
    assert mem["is_bot"].sum() == 1 and mem.loc[bot, "is_bot"]
    assert not mem["is_staff"].any()
    msgs = tables.messages.set_index("message_id")
    assert msgs.loc["se:site:p3", "member_id"] == msgs.loc["se:site:c3", "member_id"] == ghost
    p = tables.provenance
    assert p["messages.created_at"] == "observed (UTC per the dump's documentation)"
    assert p["members.deleted_n"] == "2" and p["messages.deleted_author_n"] == "3"
    assert p["members.joined_at.inferred_n"] == "3"  # Bob + two deleted authors
    assert p["messages.accepted_answer_n"] == "1"
    assert p["messages.skipped_other_post_types_n"] == "1"
    assert p["messages.skipped_comments_on_other_posts_n"] == "1"
    assert (p["messages.questions_n"], p["messages.answers_n"], p["messages.comments_n"]) == (
        "2",
        "2",
        "4",
    )


def test_accepted_answers(tmp_path):
    folder = _dump(tmp_path / "site")
    out = read_accepted_answers(folder)
    assert out.to_dict("records") == [
        {"question_id": "se:site:p1", "answer_id": "se:site:p2", "answer_in_dump": True}
    ]


def test_dangling_parent_is_kept_and_counted(tmp_path, pseudo):
    posts = POSTS.replace(
        'ParentId="1" CreationDate="2020-01-02', 'ParentId="99" CreationDate="2020-01-02'
    )
    t = read_stackexchange(_dump(tmp_path / "s", posts=posts), pseudonymizer=pseudo)
    m = t.messages.set_index("message_id")
    assert m.loc["se:s:p3", "reply_to_id"] == "se:s:p99" == m.loc["se:s:p3", "thread_id"]
    assert t.provenance["messages.reply_to_id.dangling_n"] == "1"


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "posts",
            'Id="2" PostTypeId="2" ParentId="1"',
            'Id="2" PostTypeId="2"',
            r"Posts.xml: row Id=2: field 'ParentId' is missing",
        ),
        (
            "posts",
            'CreationDate="2020-01-01T11:30:00.500"',
            'CreationDate="yesterday"',
            r"Posts.xml: row Id=2: field 'CreationDate' = 'yesterday'",
        ),
        (
            "posts",
            'Id="3" PostTypeId="2"',
            'Id="2" PostTypeId="2"',
            r"Posts.xml: row Id=2 appears more than once",
        ),
        (
            "comments",
            'Id="2" PostId="2"',
            'Id="2" PostId="x"',
            r"Comments.xml: row Id=2: field 'PostId' = 'x' is not an integer",
        ),
        ("users", '<row Id="5"', "<row", r"Users.xml: row 2 \(no Id\): field 'Id' is missing"),
        ("users", "</users>", "", r"Users.xml: malformed XML at line"),
        ("users", "<users>", "<posts>", r"root element is <posts>, expected <users>"),
    ],
)
def test_errors_name_file_row_and_field(tmp_path, pseudo, file, old, new, message):
    texts = {"posts": POSTS, "comments": COMMENTS, "users": USERS}
    assert old in texts[file]
    texts[file] = texts[file].replace(old, new, 1)
    if file == "users" and new == "<posts>":
        texts[file] = texts[file].replace("</users>", "</posts>")
    folder = _dump(tmp_path / "bad", **texts)
    with pytest.raises(StackExchangeDumpError, match=message):
        read_stackexchange(folder, pseudonymizer=pseudo)


def test_missing_file_and_folder(tmp_path, pseudo):
    folder = _dump(tmp_path / "site")
    (folder / "Comments.xml").unlink()
    with pytest.raises(StackExchangeDumpError, match=r"Comments.xml: file not found"):
        read_stackexchange(folder, pseudonymizer=pseudo)
    with pytest.raises(FileNotFoundError, match="no such Stack Exchange dump folder"):
        read_stackexchange(tmp_path / "nope", pseudonymizer=pseudo)
