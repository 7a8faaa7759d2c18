"""Saved VK API responses (wall.get + wall.getComments) → canonical tables.

The fixtures in ``tests/fixtures/vk`` are hand-written from the API's published object schema
(post: id, owner_id, from_id, date, text, likes; comment: id, from_id, post_id, owner_id, date,
text, reply_to_comment, reply_to_user, parents_stack, thread.items, deleted).
"""

from __future__ import annotations

import copy
import json
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest.vk import VkExportError, is_vk_export, read_vk_export
from analysis.pseudonym import Pseudonymizer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vk"
WALL = FIXTURES / "wall_get.json"
C101 = FIXTURES / "comments_101.json"
C102 = FIXTURES / "comments_102.json"


@pytest.fixture
def pseudo() -> Pseudonymizer:
    return Pseudonymizer(key="vk-test-key")


def utc(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s", tz="UTC")


def write(tmp_path: Path, doc: object, name: str = "resp.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def comments_doc() -> dict:
    return json.loads(C101.read_text(encoding="utf-8"))


def test_fixture_posts_comments_threads(pseudo):
    t = read_vk_export([WALL, C101, C102], pseudonymizer=pseudo)
    msgs = t.messages.set_index("message_id")
    assert len(msgs) == 8
    assert (msgs["kind"] == "post").sum() == 2 and (msgs["kind"] == "comment").sum() == 6
    assert msgs.loc["vk:-5000:p101", "created_at"] == utc(1704880800)
    # top-level comment → post; thread item → reply_to_comment; nested reply → its comment
    assert msgs.loc["vk:-5000:c201", "reply_to_id"] == "vk:-5000:p101"
    assert msgs.loc["vk:-5000:c203", "reply_to_id"] == "vk:-5000:c201"
    assert msgs.loc["vk:-5000:c204", "reply_to_id"] == "vk:-5000:c203"
    assert set(
        msgs.loc[["vk:-5000:c201", "vk:-5000:c203", "vk:-5000:c204", "vk:-5000:c202"], "thread_id"]
    ) == {"vk:-5000:p101"}
    # dangling: a reply to a comment not saved, and a reply to a deleted comment
    assert msgs.loc["vk:-5000:c205", "reply_to_id"] == "vk:-5000:c150"
    assert msgs.loc["vk:-5000:c205", "thread_id"] == "vk:-5000:p102"  # still its post
    assert msgs.loc["vk:-5000:c207", "reply_to_id"] == "vk:-5000:c206"
    assert msgs.loc["vk:-5000:p101", "n_reactions"] == 7
    assert msgs.loc["vk:-5000:c201", "n_reactions"] == 2

    community = pseudo.member_id("vk", "-5000")
    anna, boris = pseudo.member_id("vk", "11"), pseudo.member_id("vk", "12")
    members = t.members.set_index("member_id")
    assert len(members) == 4
    assert members.loc[community, "is_staff"] and members["is_staff"].sum() == 1
    assert members.loc[community, "display_name"] == "Workbench"
    assert members.loc[anna, "display_name"] == "Anna K."
    assert msgs.loc["vk:-5000:p101", "member_id"] == community
    # Anna is mentioned in post 101 (10:00) before her first comment (10:10)
    assert members.loc[anna, "joined_at"] == utc(1704880800)
    assert members.loc[boris, "joined_at"] == utc(1704882600)
    assert t.channels.set_index("channel_id").loc["vk:wall-5000", "name"] == "Workbench"
    assert set(map(tuple, t.mentions.to_numpy())) == {
        ("vk:-5000:p101", anna),
        ("vk:-5000:c201", community),
        ("vk:-5000:c204", anna),
    }
    assert t.reactions["member_id"].isna().all()
    assert set(t.reactions["emoji"]) == {"like"}
    p = t.provenance
    assert p["messages.reply_to_id.explicit_n"] == "6"
    assert p["messages.reply_to_id.dangling_n"] == "2"
    assert p["messages.deleted_n"] == "1"
    assert p["messages.posts_n"] == "2" and p["messages.comments_n"] == "6"
    assert p["reactions.member_id"] == "absent"
    assert p["members.joined_at"] == "inferred"


def test_inner_object_and_overlapping_pages(tmp_path, pseudo):
    inner = write(tmp_path, comments_doc()["response"], "inner.json")
    t = read_vk_export([WALL, C101, inner], pseudonymizer=pseudo)
    assert len(t.messages) == 6
    assert t.provenance["messages.duplicates_dropped_n"] == "4"
    changed = comments_doc()
    changed["response"]["items"][1]["text"] = "edited"
    with pytest.raises(VkExportError, match=r"items\[1\] \(comment id 202\).*twice"):
        read_vk_export([C101, write(tmp_path, changed)], pseudonymizer=pseudo)


def test_thread_items_inherit_owner_and_post(tmp_path, pseudo):
    doc = comments_doc()
    for item in doc["response"]["items"][0]["thread"]["items"]:
        del item["owner_id"], item["post_id"]
    del doc["response"]["items"][0]["thread"]["items"][0]["reply_to_comment"]
    t = read_vk_export([WALL, write(tmp_path, doc)], pseudonymizer=pseudo)
    msgs = t.messages.set_index("message_id")
    assert msgs.loc["vk:-5000:c203", "reply_to_id"] == "vk:-5000:c201"  # the thread's comment
    assert msgs.loc["vk:-5000:c203", "thread_id"] == "vk:-5000:p101"


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda c: c.pop("date"), r"items\[1\] \(comment id 202\): missing field 'date'"),
        (lambda c: c.pop("from_id"), r"comment id 202\): missing field 'from_id'"),
        (lambda c: c.pop("id"), r"items\[1\]: missing field 'id'"),
        (lambda c: c.update(id="202"), r"items\[1\]: field 'id' is '202' \(str\)"),
        (
            lambda c: c.update(date="2024-01-10 11:00:00"),
            r"comment id 202\): field 'date' is '2024-01-10 11:00:00'.*without UTC offset",
        ),
        (lambda c: c.update(text=5), r"comment id 202\): field 'text' is 5"),
        (lambda c: c.update(likes={"count": "3"}), r"field 'likes.count' is '3'"),
        (lambda c: c.update(reply_to_comment=True), r"field 'reply_to_comment' is True"),
        (lambda c: c.update(thread={"items": "x"}), r"field 'thread.items' is 'x'"),
        (lambda c: c.pop("owner_id"), r"comment id 202\): missing field 'owner_id'"),
    ],
)
def test_bad_items_are_named(tmp_path, pseudo, mutate, pattern):
    doc = comments_doc()
    mutate(doc["response"]["items"][1])
    with pytest.raises(VkExportError, match=pattern) as err:
        read_vk_export([write(tmp_path, doc)], pseudonymizer=pseudo)
    assert "resp.json" in str(err.value)


def test_bad_files(tmp_path, pseudo):
    text = C101.read_text(encoding="utf-8")
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index('"id": 202')], encoding="utf-8")
    with pytest.raises(VkExportError, match=r"cut.json: not valid JSON after items\[0\]"):
        read_vk_export([cut], pseudonymizer=pseudo)
    latin = tmp_path / "latin.json"
    latin.write_bytes(C101.read_bytes().replace(b"Glad to help", b"Gl\xe4d to help"))
    with pytest.raises(VkExportError, match=r"latin.json: .*not UTF-8"):
        read_vk_export([latin], pseudonymizer=pseudo)
    error = write(tmp_path, {"error": {"error_code": 5, "error_msg": "auth failed"}}, "err.json")
    with pytest.raises(VkExportError, match=r"err.json: the saved response is an API error"):
        read_vk_export([error], pseudonymizer=pseudo)
    empty = write(tmp_path, {"response": {"count": 0, "items": []}}, "empty.json")
    with pytest.raises(VkExportError, match=r"empty.json: the export contains no messages"):
        read_vk_export([empty], pseudonymizer=pseudo)
    other = write(tmp_path, {"guild": {}, "channel": {}}, "other.json")
    with pytest.raises(VkExportError, match=r"other.json: not a saved VK API response"):
        read_vk_export([other], pseudonymizer=pseudo)
    with pytest.raises(FileNotFoundError):
        read_vk_export([tmp_path / "missing.json"], pseudonymizer=pseudo)


def test_reply_cycle(tmp_path, pseudo):
    doc = comments_doc()
    items = doc["response"]["items"]
    items[0]["reply_to_comment"] = 202
    items[1]["reply_to_comment"] = 201
    with pytest.raises(VkExportError, match=r"cycle"):
        read_vk_export([write(tmp_path, doc)], pseudonymizer=pseudo)


def test_sniffing(tmp_path):
    assert all(is_vk_export(p) for p in (WALL, C101, C102))
    discord = Path(__file__).parents[1] / "fixtures" / "discord" / "general.json"
    assert not is_vk_export(discord)
    assert not is_vk_export(tmp_path / "missing.json")
    assert not is_vk_export(write(tmp_path, copy.deepcopy([1, 2]), "list.json"))


@pytest.mark.slow
def test_streams_a_large_response(tmp_path, pseudo):
    """A 15 MB saved response is parsed item by item, never held whole."""
    path = tmp_path / "big.json"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"response": {"count": 6000, "items": [')
        for i in range(6_000):
            item = {
                "id": 1000 + i,
                "owner_id": -5000,
                "from_id": 10 + i % 40,
                "date": 1704880800 + i,
                "post_id": 101,
                "text": f"comment {i}",
                "attachments": [{"type": "link", "link": {"description": "z" * 2400}}],
            }
            fh.write(("," if i else "") + json.dumps(item))
        fh.write('], "profiles": [], "groups": []}}')
    size = path.stat().st_size
    assert size > 14e6
    tracemalloc.start()
    try:
        t = read_vk_export([WALL, path], pseudonymizer=pseudo)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(t.messages) == 6_002
    assert t.provenance["messages.reply_to_id.dangling_n"] == "0"
    assert peak < 0.5 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"
