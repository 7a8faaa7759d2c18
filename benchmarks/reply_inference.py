"""Benchmark: reply inference on synthetic chats of 1M messages (goal: under 60 s on 2 cores).

Prints the wall time of :func:`analysis.ingest.reply_inference.infer_replies` on a seeded
synthetic chat (``n`` messages in 20 channels, 5,000 members with display names, one message
every 3 s on average, a quarter starting with an addressee, short texts from a small
vocabulary), then its peak memory: the peak of Python and numpy allocations during a second,
identical call under tracemalloc (timed separately because tracemalloc slows allocation).

Measured with the shipped one-hidden-layer model (43 features, 16 tanh units): 1,000,000
messages in 16.6 s wall / 16.6 s CPU on an idle machine (``OPENBLAS_NUM_THREADS=1``), and
76 s wall / 33.5 s CPU under load ~7 on the 2 shared cores; 465 MiB peak allocations. (The
38-feature model: 28.9 s wall at load ~2.) Under heavy load the hidden layer's matrix products
suffer most from BLAS threads contending; ``OPENBLAS_NUM_THREADS=1`` then helps.

Usage::

    .venv/bin/python benchmarks/reply_inference.py [--n 1000000] [--channels 20]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from analysis.ingest.reply_inference import ReplyModel, infer_replies

WORDS = tuple(
    [
        "disk",
        "grub",
        "wifi",
        "kernel",
        "driver",
        "boot",
        "sound",
        "mount",
        "usb",
        "network",
        "apt",
        "upgrade",
        "install",
        "package",
        "error",
        "screen",
        "nvidia",
        "update",
        "partition",
        "swap",
        "ssh",
        "server",
        "firewall",
        "printer",
        "bluetooth",
    ]
)


def synthetic_chat(n: int, channels: int, n_members: int = 5000, seed: int = 0):
    """``(messages, members)`` canonical frames of a seeded synthetic multi-channel chat."""
    rng = np.random.default_rng(seed)
    names = np.array([f"user{k}" for k in range(n_members)], dtype=object)
    member = rng.integers(0, n_members, n)
    channel = rng.integers(0, channels, n)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.cumsum(rng.exponential(3.0, n)), unit="s"
    )
    vocab = np.array(WORDS, dtype=object)
    body = vocab[rng.integers(0, len(vocab), (n, 6))]
    texts = [" ".join(row) for row in body]
    addressed = rng.random(n) < 0.25
    target = names[rng.integers(0, n_members, n)]
    texts = [f"{t}: {x}" if a else x for a, t, x in zip(addressed, target, texts, strict=True)]
    kind = np.where(rng.random(n) < 0.02, "service", "message")
    ids = np.array([f"m{k}" for k in range(n)], dtype=object)
    messages = pd.DataFrame(
        {
            "message_id": ids,
            "platform": "telegram",
            "channel_id": pd.Series(channel).map(lambda c: f"ch{c}").to_numpy(dtype=object),
            "thread_id": ids,
            "member_id": names[member],
            "created_at": created,
            "reply_to_id": None,
            "reply_source": "none",
            "kind": kind,
            "text": texts,
            "text_len": [len(t) for t in texts],
            "n_reactions": 0,
        }
    )
    members = pd.DataFrame({"member_id": names, "display_name": names})
    return messages, members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--model", default=None, help="a model file (default: the shipped one)")
    args = parser.parse_args()
    model = ReplyModel.load(args.model)
    messages, members = synthetic_chat(args.n, args.channels)
    t0, c0 = time.perf_counter(), time.process_time()
    out = infer_replies(messages, members, model=model)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tracemalloc.start()
    infer_replies(messages, members, model=model)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    share = (out["reply_source"] == "inferred").mean()
    print(
        f"infer_replies ({model.kind}, {len(model.hidden_bias)} hidden units): {args.n:,} "
        f"messages in {args.channels} channels: {wall:.1f} s wall, {cpu:.1f} s CPU, "
        f"peak allocations during the call {peak / 2**20:,.0f} MiB (process peak RSS "
        f"{rss:,.0f} MiB incl. the input frames); "
        f"{share:.1%} linked (goal: < 60 s on 2 cores)"
    )


if __name__ == "__main__":
    main()
