"""The demo's Telegram export + CSVs go through the real ingest path without loss.

Counts are checked against what the simulator reports writing (its ground truth), so a message,
member or link dropped or invented by the adapter fails here.
"""

from __future__ import annotations

import json

import pytest

from analysis.data import read_manifest, read_tables


@pytest.fixture(scope="module")
def ingested(synthetic_dataset):
    processed, raw, truth = synthetic_dataset
    return read_tables(processed), read_manifest(processed), raw, truth


def test_every_message_and_member_arrives(ingested):
    tables, _, raw, truth = ingested
    export = json.loads((raw / "telegram" / "result.json").read_text(encoding="utf-8"))
    assert len(tables.messages) == len(export["messages"])
    regular = tables.messages[tables.messages["kind"] != "service"]
    assert len(regular) == truth.n_messages
    expected_members = truth.n_members + len(truth.staff_ids) + len(truth.bot_ids)
    assert len(tables.members) == expected_members
    assert tables.members["is_staff"].sum() == len(truth.staff_ids)
    assert tables.members["is_bot"].sum() == len(truth.bot_ids)


def test_forum_topics_become_channels_and_are_not_replies(ingested):
    tables, _, raw, truth = ingested
    export = json.loads((raw / "telegram" / "result.json").read_text(encoding="utf-8"))
    outside_topics = sum(
        m["type"] == "message" and "reply_to_message_id" not in m for m in export["messages"]
    )
    topics = tables.channels[tables.channels["kind"] == "topic"]
    assert sorted(topics["name"]) == sorted(truth.topics)
    forum = tables.channels[tables.channels["kind"] == "forum"]
    assert len(forum) == 1 and (topics["parent_id"] == forum["channel_id"].iloc[0]).all()
    roots = tables.messages[
        tables.messages["reply_to_id"].isna() & (tables.messages["kind"] != "service")
    ]
    # thread roots inside topics are their own threads, never replies to the topic message
    assert (roots["thread_id"] == roots["message_id"]).all()
    # posts without any reply_to_message_id stay in the forum's General area
    assert (~roots["channel_id"].isin(topics["channel_id"])).sum() == outside_topics
    assert (
        roots.loc[~roots["channel_id"].isin(topics["channel_id"]), "channel_id"]
        == (forum["channel_id"].iloc[0])
    ).all()


def test_links_and_provenance(ingested):
    tables, manifest, _, _ = ingested
    prov = manifest["provenance"]
    assert prov["members.joined_at"] == "observed"
    assert prov["messages.reply_to_id.dangling_n"] == "0"
    assert prov["members.roster_unmatched_n"] == "0"
    members = set(tables.members["member_id"])
    assert tables.assignments["unit_id"].isin(members).all()
    linked = tables.customers["member_id"].dropna()
    assert len(linked) > 0 and linked.isin(members).all()
    assert tables.orders["customer_id"].isin(tables.customers["customer_id"]).all()
    # pseudonyms only: no platform id survives ingest
    assert not tables.members["member_id"].str.startswith("user").any()
