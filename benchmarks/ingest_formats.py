"""Benchmark streaming ingest of a large DiscordChatExporter JSON export; print time and peak RSS.

    .venv/bin/python benchmarks/ingest_formats.py                 # 1 GB (1024 MB) export
    .venv/bin/python benchmarks/ingest_formats.py --size-mb 200   # quicker

Writes one synthetic channel export of about ``--size-mb`` MB to a temporary folder in /tmp
(messages shaped like DiscordChatExporter's: author with avatar URL and roles, an embed, replies
to the previous message two times in three, reactions with users on every tenth message), then
reads it with :func:`analysis.ingest.discord.read_discord_exports` in a fresh child process and
reports wall time, throughput and the child's peak resident set size (``ru_maxrss``) next to the
RSS of the same process after imports only. The file is deleted afterwards unless ``--keep``.

Goal: the reader streams ``messages`` (``ijson``), so peak RSS is the interpreter and libraries
plus what is kept per message (ids, times, text, reply targets, then the canonical frames), well
below the file size; a ``json.load`` of the same file needs several times its size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import os, resource, sys, time
os.environ.setdefault("WORKBENCH_PSEUDONYM_KEY", "benchmark-key")
from pathlib import Path
from analysis.ingest.discord import read_discord_exports
from analysis.pseudonym import Pseudonymizer
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
tables = read_discord_exports([Path(sys.argv[1])], pseudonymizer=Pseudonymizer())
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(tables.messages), len(tables.members), elapsed, base, peak)
"""


def write_export(path: Path, size_bytes: int) -> int:
    """Write a DiscordChatExporter-shaped JSON file of about ``size_bytes``; returns #messages."""
    header = {
        "guild": {"id": "900000000000000001", "name": "Benchmark Guild", "iconUrl": ""},
        "channel": {
            "id": "910000000000000001",
            "type": "GuildTextChat",
            "categoryId": "920000000000000001",
            "category": "General",
            "name": "general",
            "topic": None,
        },
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2024-06-01T00:00:00.000+00:00",
    }
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(header)[:-1] + ', "messages": [')
        written = 0
        while written < size_bytes:
            user = str(100_000 + (n * 7919) % 20_000)
            m = {
                "id": str(10**17 + n),
                "type": "Reply" if n % 3 else "Default",
                "timestamp": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:"
                f"{n % 60:02d}:00.000+00:00",
                "timestampEdited": None,
                "callEndedTimestamp": None,
                "isPinned": False,
                "content": f"message {n}: " + "some typical chat text " * (1 + n % 5),
                "author": {
                    "id": user,
                    "name": f"user{user}",
                    "discriminator": "0000",
                    "nickname": None,
                    "color": "#A0A0A0",
                    "isBot": n % 97 == 0,
                    "roles": [{"id": "1", "name": "Member", "color": "#A0A0A0", "position": 1}],
                    "avatarUrl": "https://cdn.discordapp.com/avatars/" + user + "/" + "f" * 180,
                },
                "attachments": [],
                "embeds": [
                    {"title": "preview", "url": "https://example.org/", "description": "d" * 900}
                ],
                "stickers": [],
                "reactions": [],
                "mentions": [],
            }
            if n % 3:
                m["reference"] = {
                    "messageId": str(10**17 + n - 1),
                    "channelId": "910000000000000001",
                }
            if n % 10 == 0:
                m["reactions"] = [
                    {
                        "emoji": {"id": "", "name": "👍", "code": "thumbsup", "isAnimated": False},
                        "count": 3,
                        "users": [
                            {"id": str(100_000 + (n + k) % 20_000), "name": "u"} for k in (1, 2)
                        ],
                    }
                ]
            text = ("," if n else "") + json.dumps(m)
            fh.write(text)
            written += len(text)
            n += 1
        fh.write(f'], "messageCount": {n}}}')
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024.0)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wb-ingest-bench-", dir="/tmp"))
    path = tmp / "discord-export.json"
    start = time.perf_counter()
    n = write_export(path, int(args.size_mb * 2**20))
    size = path.stat().st_size
    print(
        f"generated {size / 2**20:,.0f} MB, {n:,} messages in {time.perf_counter() - start:.0f} s"
    )
    try:
        env = dict(os.environ)
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.split()
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            tmp.rmdir()
    n_msg, n_mem, elapsed, base_kb, peak_kb = (
        int(out[0]),
        int(out[1]),
        float(out[2]),
        *map(int, out[3:]),
    )
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        f"read_discord_exports: {n_msg:,} messages, {n_mem:,} members in {elapsed:.1f} s "
        f"({size / 2**20 / elapsed:.1f} MB/s)"
    )
    print(
        f"peak RSS {peak_kb / 2**10:,.0f} MB (after imports {base_kb / 2**10:,.0f} MB; "
        f"child max {child_peak / 2**10:,.0f} MB) for a {size / 2**20:,.0f} MB file: "
        f"{peak_kb * 1024 / size:.2f} × file size "
        f"({(peak_kb - base_kb) * 1024 / size:.2f} × above the imports)"
    )


if __name__ == "__main__":
    main()
