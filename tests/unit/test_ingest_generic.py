"""Generic CSV/parquet dumps with a column mapping → canonical tables."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.ingest.crm import CsvFormatError
from analysis.ingest.generic import (
    GenericFormatError,
    _thread_roots,
    load_mapping,
    mapping_from_columns,
    read_generic,
)

pytestmark = pytest.mark.usefixtures("_key_env")

POSTS = """post_id,author,created,parent,board,body,author_name,likes
1,u1,2024-01-01 10:00,,general,Hello,Ann,2
2,u2,2024-01-01 10:05,1,general,Hi,Bob,0
3,u1,2024-01-01 10:07,2,general,How,Ann Smith,
4,u3,2024-01-02T09:00:00+00:00,,help,Q?,,1
5,u3,2024-01-02T09:30:00Z,77,help,late,,0
"""
USERS = """user_id,registered,role,utm,invited_by
u1,2023-12-01T00:00:00Z,staff,ads,
u2,2024-01-05T00:00:00Z,,friend,u1
u9,,,,
u8,2023-11-01T00:00:00Z,bot,,
"""
MAPPING = """
platform = "forum"
timezone = "Europe/Berlin"

[messages]
file = "posts.csv"
message_id = "post_id"
member_id = "author"
created_at = "created"
reply_to_id = "parent"
channel_id = "board"
text = "body"
display_name = "author_name"
n_reactions = "likes"

[members]
file = "users.csv"
member_id = "user_id"
joined_at = "registered"
role = "role"
source = "utm"
referred_by = "invited_by"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def dump(tmp_path) -> Path:
    write(tmp_path / "posts.csv", POSTS)
    write(tmp_path / "users.csv", USERS)
    return write(tmp_path / "mapping.toml", MAPPING)


def test_mapping_gives_ids_times_threads_and_members(dump, pseudo):
    t = read_generic(dump, pseudonymizer=pseudo)
    m = t.messages.set_index("message_id")
    assert list(m.index) == [f"forum:{i}" for i in range(1, 6)]
    # naive times are Berlin local time (UTC+1 in January); offsets are kept
    assert m.loc["forum:1", "created_at"] == pd.Timestamp("2024-01-01 09:00", tz="UTC")
    assert m.loc["forum:4", "created_at"] == pd.Timestamp("2024-01-02 09:00", tz="UTC")
    assert m.loc["forum:3", "thread_id"] == "forum:1"  # 3 → 2 → 1
    assert m.loc["forum:3", "reply_to_id"] == "forum:2"
    assert m.loc["forum:5", "thread_id"] == "forum:77"  # dangling: the missing id
    assert m["reply_source"].tolist() == ["none", "explicit", "explicit", "none", "explicit"]
    assert m["channel_id"].tolist() == ["forum:general"] * 3 + ["forum:help"] * 2
    assert m["n_reactions"].tolist() == [2, 0, 0, 1, 0]
    assert m.loc["forum:4", "text_len"] == 2
    assert set(t.channels["channel_id"]) == {"forum:general", "forum:help"}
    u1, u2, u3, u8 = (pseudo.member_id("forum", u) for u in ("u1", "u2", "u3", "u8"))
    assert m.loc["forum:1", "member_id"] == u1
    mem = t.members.set_index("member_id")
    assert set(mem.index) == {u1, u2, u3, u8}  # u9: no join date and no message → dropped
    assert mem.loc[u1, "joined_at"] == pd.Timestamp("2023-12-01", tz="UTC")  # observed
    # u2 registered after the first post: joined_at is the first post (inferred)
    assert mem.loc[u2, "joined_at"] == pd.Timestamp("2024-01-01 09:05", tz="UTC")
    assert mem.loc[u1, "is_staff"] and mem.loc[u8, "is_bot"] and not mem.loc[u2, "is_staff"]
    assert mem.loc[u2, ["source", "referred_by"]].tolist() == ["friend", u1]
    # the users file maps no name: the name on the member's latest post ("Ann" → "Ann Smith")
    assert mem.loc[u1, "display_name"] == "Ann Smith"
    p = t.provenance
    assert p["members.undated_dropped_n"] == "1"
    assert p["members.joined_at"] == "mixed"
    assert (p["members.joined_at.observed_n"], p["members.joined_at.inferred_n"]) == ("2", "2")
    assert p["messages.reply_to_id"] == "observed"
    assert p["messages.reply_to_id.dangling_n"] == "1"
    assert p["messages.kind"] == "absent"


def test_naive_time_without_timezone_names_file_row_and_column(dump, pseudo):
    write(dump, MAPPING.replace('timezone = "Europe/Berlin"\n', ""))
    with pytest.raises(CsvFormatError) as err:
        read_generic(dump, pseudonymizer=pseudo)
    text = str(err.value)
    assert "posts.csv" in text and "'created_at'" in text and "row 1 (line 2)" in text
    assert "'2024-01-01 10:00'" in text and "offset" in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('message_id = "post_id"', 'message_idd = "post_id"'), "unknown key(s) ['message_idd']"),
        (('platform = "forum"', 'platform = "Forum!"'), "key 'platform'"),
        (('timezone = "Europe/Berlin"', 'timezone = "Mars/Base"'), "Mars/Base"),
        (('file = "posts.csv"', 'file = "nope.csv"'), "nope.csv"),
        (('created_at = "created"', 'created_at = "when"'), "missing column 'when'"),
    ],
)
def test_mapping_errors_name_the_key(dump, pseudo, change, expected):
    write(dump, MAPPING.replace(*change))
    with pytest.raises((GenericFormatError, CsvFormatError, FileNotFoundError)) as err:
        read_generic(dump, pseudonymizer=pseudo)
    assert expected in str(err.value)


def test_bad_kind_and_reaction_values_name_the_row(tmp_path, pseudo):
    write(
        tmp_path / "m.csv", "id,who,at,k\n1,a,2024-01-01T00:00Z,post\n2,b,2024-01-01T01:00Z,rant\n"
    )
    mapping = mapping_from_columns(
        tmp_path / "m.csv",
        {"message_id": "id", "member_id": "who", "created_at": "at", "kind": "k"},
        platform="x",
    )
    with pytest.raises(GenericFormatError, match=r"'rant' in row 2 \(line 3\)"):
        read_generic(mapping, pseudonymizer=pseudo)
    write(tmp_path / "m.csv", "id,who,at,k\n1,a,2024-01-01T00:00Z,-3\n")
    mapping = mapping_from_columns(
        tmp_path / "m.csv",
        {"message_id": "id", "member_id": "who", "created_at": "at", "n_reactions": "k"},
        platform="x",
    )
    with pytest.raises(GenericFormatError, match="'-3' in row 1"):
        read_generic(mapping, pseudonymizer=pseudo)


def test_duplicate_message_id_and_reply_cycle_are_errors(tmp_path, pseudo):
    cols = {"message_id": "id", "member_id": "who", "created_at": "at", "reply_to_id": "re"}
    write(tmp_path / "m.csv", "id,who,at,re\n1,a,2024-01-01T00:00Z,\n1,b,2024-01-01T01:00Z,\n")
    with pytest.raises(CsvFormatError, match="duplicate message_id '1' in rows 1"):
        read_generic(
            mapping_from_columns(tmp_path / "m.csv", cols, platform="x"), pseudonymizer=pseudo
        )
    write(tmp_path / "m.csv", "id,who,at,re\n1,a,2024-01-01T00:00Z,2\n2,b,2024-01-01T01:00Z,1\n")
    with pytest.raises(GenericFormatError, match="cycle"):
        read_generic(
            mapping_from_columns(tmp_path / "m.csv", cols, platform="x"), pseudonymizer=pseudo
        )


def test_without_reply_column_every_message_is_its_own_thread(tmp_path, pseudo):
    write(tmp_path / "m.csv", "id,who,at\n1,a,2024-01-01T00:00Z\n2,b,2024-01-01T01:00Z\n")
    t = read_generic(
        mapping_from_columns(
            tmp_path / "m.csv",
            {"message_id": "id", "member_id": "who", "created_at": "at"},
            platform="x",
        ),
        pseudonymizer=pseudo,
    )
    assert (t.messages["thread_id"] == t.messages["message_id"]).all()
    assert (t.messages["reply_source"] == "none").all()
    assert t.provenance["messages.reply_to_id"] == "absent"
    assert t.channels["channel_id"].tolist() == ["x:main"]


def test_parquet_yaml_and_crm_sections(tmp_path, pseudo):
    posts = pd.DataFrame(
        {
            "pid": [10, 11],
            "uid": ["a", "b"],
            "ts": ["2024-03-01T10:00:00+03:00", "2024-03-01T12:00:00+03:00"],
        }
    )
    posts.to_parquet(tmp_path / "posts.parquet")
    write(
        tmp_path / "crm.csv", "id,forum_user,created\nc1,b,2024-02-01 00:00\nc2,,2024-02-02 00:00\n"
    )
    write(
        tmp_path / "orders.csv",
        "Id,Customer,Paid,Total,Cur\no1,c1,2024-03-05T00:00:00Z,99.5,usd\n",
    )
    write(tmp_path / "exp.csv", "exp,user,arm,at\nonb,a,A,2024-02-01T00:00:00Z\n")
    write(
        tmp_path / "mapping.yaml",
        """
platform: shop
timezone: UTC
messages: {file: posts.parquet, message_id: pid, member_id: uid, created_at: ts}
customers: {file: crm.csv, customer_id: id, member_id: forum_user, signed_up_at: created}
orders: {file: orders.csv, order_id: Id, customer_id: Customer, ordered_at: Paid,
         amount: Total, currency: Cur}
assignments: {file: exp.csv, experiment_id: exp, unit_id: user, variant: arm, assigned_at: at}
""",
    )
    t = read_generic(tmp_path / "mapping.yaml", pseudonymizer=pseudo)
    assert t.messages["message_id"].tolist() == ["shop:10", "shop:11"]
    assert t.messages["created_at"].iloc[0] == pd.Timestamp("2024-03-01 07:00", tz="UTC")
    b = pseudo.member_id("shop", "b")
    assert t.customers.set_index("customer_id").loc["c1", "member_id"] == b
    assert t.customers["first_seen_at"].iloc[0] == pd.Timestamp("2024-02-01", tz="UTC")
    assert t.orders[["order_id", "customer_id", "amount", "currency"]].values.tolist() == [
        ["o1", "c1", 99.5, "USD"]
    ]
    assert t.assignments["unit_id"].tolist() == [pseudo.member_id("shop", "a")]
    assert load_mapping(tmp_path)["platform"] == "shop"  # a folder: finds mapping.yaml


def test_thread_roots_match_a_recursive_walk():
    """Independent check: pointer jumping equals walking each chain up by recursion."""
    rng = np.random.default_rng(3)
    n = 2000
    ids = [f"x:{i}" for i in range(n)]
    parent = [None] + [
        (ids[int(rng.integers(0, i))] if rng.random() < 0.8 else None) for i in range(1, n)
    ]
    parent[5] = "x:missing"

    def root(i: int) -> str:
        p = parent[i]
        if p is None:
            return ids[i]
        if p not in ids:
            return p
        return root(int(p.split(":")[1]))

    got = _thread_roots(pd.Series(ids, dtype=object), pd.Series(parent, dtype=object), Path("m"))
    assert got.tolist() == [root(i) for i in range(n)]


# --- reply inference at ingest (the model module is replaced by a stub) ----------------------

INFERENCE = "analysis.ingest.reply_inference"


def _stub_module(calls: list) -> types.ModuleType:
    """Links each message without reply to the previous message of its channel (a stand-in)."""

    def infer_replies(messages, members=None, *, model=None):
        calls.append(len(messages))
        out = messages.sort_values("created_at", kind="stable").copy()
        previous = out.groupby("channel_id")["message_id"].shift(1)
        link = out["reply_to_id"].isna() & previous.notna()
        out.loc[link, "reply_to_id"] = previous[link]
        out.loc[link, "reply_source"] = "inferred"
        return out.sort_index()

    module = types.ModuleType(INFERENCE)
    module.infer_replies = infer_replies
    return module


def _chat_csv(tmp_path: Path, with_replies: bool) -> Path:
    rows = "id,who,at,re\n1,a,2024-01-01T00:00Z,\n2,b,2024-01-01T00:01Z,\n3,a,2024-01-01T00:02Z,\n"
    if with_replies:
        rows += "4,c,2024-01-01T00:03Z,1\n"
    write(tmp_path / "raw" / "generic" / "chat.csv", rows)
    cols = 'message_id = "id"\nmember_id = "who"\ncreated_at = "at"\n'
    if with_replies:
        cols += 'reply_to_id = "re"\n'
    write(
        tmp_path / "raw" / "generic" / "mapping.toml",
        f'platform = "chat"\n[messages]\nfile = "chat.csv"\n{cols}',
    )
    return tmp_path / "raw"


def test_replies_are_inferred_by_default_only_without_reply_links(tmp_path, pseudo, monkeypatch):
    from analysis.ingest import ingest_raw_dir

    calls: list = []
    monkeypatch.setitem(sys.modules, INFERENCE, _stub_module(calls))
    raw = _chat_csv(tmp_path, with_replies=False)
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    m = t.messages.set_index("message_id")
    assert m["reply_to_id"].tolist() == [None, "chat:1", "chat:2"]
    assert m["reply_source"].tolist() == ["none", "inferred", "inferred"]
    assert m["thread_id"].tolist() == ["chat:1"] * 3  # 3 → 2 → 1 through inferred links
    p = t.provenance
    assert p["messages.reply_to_id"] == "inferred" and p["messages.thread_id"] == "inferred"
    assert p["messages.reply_to_id.inferred_n"] == "2"
    assert p["messages.reply_to_id.inference"] == "on"
    assert (
        ingest_raw_dir(raw, pseudonymizer=pseudo, infer_replies=False).provenance[
            "messages.reply_to_id.inference"
        ]
        == "off"
    )
    # a source with explicit links is left alone by default, and 'mixed' when asked
    raw = _chat_csv(tmp_path / "x", with_replies=True)
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    assert t.provenance["messages.reply_to_id.inference"] == "off" and len(calls) == 1
    t = ingest_raw_dir(raw, pseudonymizer=pseudo, infer_replies=True)
    assert t.provenance["messages.reply_to_id"] == "mixed"
    assert t.messages.set_index("message_id").loc["chat:4", "reply_source"] == "explicit"


def test_missing_inference_module(tmp_path, pseudo, monkeypatch):
    from analysis.ingest import ReplyInferenceUnavailableError, ingest_raw_dir

    monkeypatch.setitem(sys.modules, INFERENCE, None)  # import fails as if not installed
    raw = _chat_csv(tmp_path, with_replies=False)
    t = ingest_raw_dir(raw, pseudonymizer=pseudo)
    assert t.provenance["messages.reply_to_id.inference"] == "unavailable"
    assert (t.messages["reply_source"] == "none").all()
    with pytest.raises(ReplyInferenceUnavailableError, match="--no-infer-replies"):
        ingest_raw_dir(raw, pseudonymizer=pseudo, infer_replies=True)


def test_inferred_threads_match_a_recursive_walk():
    """Independent check of the thread of inferred replies (chains of inferred links)."""
    from analysis.ingest._reply_wiring import _inferred_threads

    rng = np.random.default_rng(5)
    n = 1500
    ids = [f"c:{i}" for i in range(n)]
    reply = [None] * n
    source = ["none"] * n
    thread = list(ids)
    for i in range(1, n):
        r = rng.random()
        if r < 0.3:  # explicit reply: same thread as its target (targets come earlier)
            j = int(rng.integers(0, i))
            reply[i], source[i], thread[i] = ids[j], "explicit", thread[j]
        elif r < 0.8:  # inferred reply; thread still the message itself
            reply[i], source[i] = ids[int(rng.integers(0, i))], "inferred"
    reply[7], source[7] = "c:gone", "inferred"  # target outside the data
    frame = pd.DataFrame(
        {"message_id": ids, "reply_to_id": reply, "reply_source": source, "thread_id": thread}
    )

    def walk(i: int) -> str:
        if source[i] != "inferred":
            return thread[i]
        target = reply[i]
        return walk(ids.index(target)) if target in ids else target

    inferred = (frame["reply_source"] == "inferred").to_numpy()
    got = _inferred_threads(frame, inferred, "test")
    assert got.tolist() == [walk(i) for i in range(n)]
