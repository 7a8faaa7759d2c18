"""The Slack adapter on a real export (slack-export-viewer's test archive), checked against an
independent read of the same zip with :mod:`zipfile` and :mod:`json` written here."""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest.slack import is_slack_export, read_slack_export
from analysis.pseudonym import Pseudonymizer


@pytest.fixture
def archive(shared_data) -> Path:
    path = Path(shared_data) / "slack-export-sample" / "testarchive.zip"
    if not path.is_file():
        pytest.skip(f"Slack sample {path} not available")
    return path


def independent_read(path: Path) -> dict:
    """Count what the export holds, straight from the zip (no adapter code)."""
    with zipfile.ZipFile(path) as zf:
        channels = {c["name"]: c["id"] for c in json.loads(zf.read("channels.json"))}
        users = json.loads(zf.read("users.json"))
        per_channel: Counter = Counter()
        service: Counter = Counter()
        replies = reactions = named_reactions = 0
        senders: set[str] = set()
        bots: set[str] = set()
        mentions: set[tuple[str, str]] = set()
        first_ts = None
        for name in sorted(zf.namelist()):
            folder, _, day = name.partition("/")
            if not day.endswith(".json"):
                continue
            for m in json.loads(zf.read(name)):
                sender = m.get("user") or (m.get("comment") or {}).get("user") or m.get("bot_id")
                if not sender:
                    continue
                cid = channels[folder]
                per_channel[cid] += 1
                if m.get("subtype") in ("channel_join", "bot_add"):
                    service[cid] += 1
                elif m.get("text"):
                    for uid in re.findall(r"<@(U\w+)", m["text"]):
                        if uid != sender:
                            mentions.add((f"{cid}:{m['ts']}", uid))
                senders.add(sender)
                if not m.get("user") and m.get("bot_id"):
                    bots.add(sender)
                if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
                    replies += 1
                for r in m.get("reactions", []):
                    reactions += r["count"]
                    named_reactions += len(r["users"])
                    senders.update(r["users"])
                first_ts = min(first_ts or m["ts"], m["ts"], key=float)
    return {
        "per_channel": per_channel,
        "service": service,
        "replies": replies,
        "reactions": reactions,
        "named_reactions": named_reactions,
        "members": senders,
        "bots": bots,
        "users": {u["id"] for u in users},
        "mentions": mentions,
        "first_ts": first_ts,
    }


def test_slack_sample_matches_independent_read(archive):
    assert is_slack_export(archive)
    pseudo = Pseudonymizer(key="slack-sample")
    t = read_slack_export(archive, pseudonymizer=pseudo)
    ref = independent_read(archive)

    # published content of the sample: 158 messages in 2 channels, 4 users, 3 integrations
    assert len(t.messages) == 158 == sum(ref["per_channel"].values())
    per_channel = t.messages.groupby("channel_id").size()
    assert {k.removeprefix("sl:"): v for k, v in per_channel.items()} == dict(ref["per_channel"])
    service = t.messages[t.messages["kind"] == "service"].groupby("channel_id").size()
    assert {k.removeprefix("sl:"): v for k, v in service.items()} == dict(ref["service"])
    assert (t.messages["reply_source"] == "explicit").sum() == ref["replies"] == 0
    assert t.reactions["count"].sum() == ref["reactions"] == 1
    assert t.reactions["member_id"].notna().sum() == ref["named_reactions"]

    pid = {p: pseudo.member_id("slack", p) for p in ref["members"] | ref["users"]}
    assert set(t.members["member_id"]) == {pid[p] for p in ref["members"]}
    assert len(t.members) == 7
    assert set(t.members.loc[t.members["is_bot"], "member_id"]) == {pid[b] for b in ref["bots"]}
    assert ref["users"] <= ref["members"]  # every listed user is active in the sample
    assert t.provenance["members.users_json_unseen_n"] == "0"
    got_mentions = {(m.removeprefix("sl:"), u) for m, u in t.mentions.itertuples(index=False)}
    assert got_mentions == {(m, pid[u]) for m, u in ref["mentions"]}
    seconds, micros = ref["first_ts"].split(".")
    first = pd.Timestamp(int(seconds) * 10**9 + int(micros) * 1000, tz="UTC")
    assert t.messages["created_at"].min() == first
    assert (t.messages["created_at"].dt.tz is not None) and t.messages["thread_id"].notna().all()
