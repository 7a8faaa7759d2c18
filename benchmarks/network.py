"""Benchmark the network metrics (brokers, dependency, core) with igraph vs plain networkx.

    .venv/bin/python benchmarks/network.py                       # 10k and 100k members
    .venv/bin/python benchmarks/network.py --members 10000 --cap 120
    .venv/bin/python benchmarks/network.py --million             # also 1M members (slow)
    .venv/bin/python benchmarks/network.py --processed DIR       # reuse an ingested dataset
    .venv/bin/python benchmarks/network.py --direct 1000000 --messages 10000000
                                      # canonical tables drawn directly (no export, no ingest)

Each size: simulate the Telegram export (analysis.synth), ingest it, write the processed parquet,
open it on DuckDB, build the reply graph, then time each metric of the broker/dependency set with
the igraph path and with plain networkx. Betweenness is always the sampled estimate here
(``k`` pivots, default 500) so both engines do the same work; networkx stages run in a child
process killed after ``--cap`` seconds (reported as "> cap"). A script, not a test: performance
goals live here, never as timed tests.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("WORKBENCH_PSEUDONYM_KEY", "benchmark-key")

import networkx as nx

from analysis.data import Community, write_dataset
from analysis.ingest import ingest_raw_dir, source_files
from analysis.network import brokers as B
from analysis.network.dependency import graph_dependency
from analysis.network.integration import innermost_core
from analysis.network.reply import reply_graph
from analysis.synth import generate_community

_GRAPHS: dict[str, Any] = {}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _child(name: str, queue: Any) -> None:
    queue.put(timed(STAGES[name]["networkx"])[0])


def capped(name: str, cap: float) -> float | None:
    """Run the networkx version of a stage in a forked child; None if it passes ``cap``."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, queue))
    proc.start()
    proc.join(cap)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def _stages(k: int, seed: int) -> dict[str, dict[str, Callable[[], Any]]]:
    def g() -> Any:
        return _GRAPHS["directed"]

    def u() -> Any:
        return _GRAPHS["undirected"]

    return {
        f"betweenness (sampled, k={k})": {
            "igraph": lambda: B.betweenness(u(), exact_max_nodes=0, k=k, seed=seed),
            "networkx": lambda: B.betweenness(
                u(), exact_max_nodes=0, k=k, seed=seed, engine="networkx"
            ),
        },
        "Burt's constraint": {
            "igraph": lambda: B.burt_constraint(g()),
            "networkx": lambda: B.burt_constraint(g(), engine="networkx"),
        },
        # the stages below run the same networkx code on both paths: timed once
        "communities (Louvain, networkx)": {"shared": lambda: B._communities(u(), seed=seed)},
        "participation (Guimerà–Amaral)": {
            "shared": lambda: B.participation_coefficients(u(), _GRAPHS["parts"])
        },
        "cluster bridges + nx.bridges": {
            "shared": lambda: B.cluster_bridges(u(), _GRAPHS["parts"])
        },
        "staff dependency (graph part)": {"shared": lambda: graph_dependency(g())},
        "innermost core (nx.core_number)": {"shared": lambda: innermost_core(u())},
    }


STAGES: dict[str, dict[str, Callable[[], Any]]] = {}


def direct_dataset(out: Path, members: int, messages: int, seed: int) -> None:
    """Canonical ``members``/``messages`` parquet drawn with numpy, for sizes the simulator's
    export → ingest path cannot reach quickly.

    Authors have Zipf-like activity (weights ∝ rank^-0.8); 30% of messages start a thread, the
    rest reply to a uniformly chosen earlier message of the same thread (threads are drawn with
    weights ∝ their age rank, so recent threads get the replies); 1% of members are staff.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, members + 1) ** 0.8
    author = rng.choice(members, size=messages, p=weights / weights.sum())
    is_root = rng.random(messages) < 0.3
    is_root[0] = True
    root_index = np.flatnonzero(is_root)
    # each reply goes to a thread started before it (a recent one: offset ~ geometric)
    k = np.cumsum(is_root) - 1
    back = np.minimum(rng.geometric(0.05, messages) - 1, k)
    thread_of = root_index[k - back]
    parent = np.where(is_root, -1, thread_of)
    replies = np.flatnonzero(~is_root)
    # half of the replies answer the previous reply in the thread instead of the root
    prev = np.full(messages, -1)
    order = np.lexsort((np.arange(messages), thread_of))
    same = np.r_[False, thread_of[order][1:] == thread_of[order][:-1]]
    prev[order[same]] = order[np.flatnonzero(same) - 1]
    deeper = replies[(rng.random(replies.size) < 0.5) & (prev[replies] >= 0)]
    parent[deeper] = prev[deeper]
    t0 = pd.Timestamp("2023-01-01", tz="UTC").value
    created = t0 + np.sort(rng.integers(0, 365 * 86_400, messages)) * 1_000_000_000
    ids = np.char.add("m", np.arange(messages).astype(str))
    member_ids = np.char.add("u", np.arange(members).astype(str))
    frame = pd.DataFrame(
        {
            "message_id": ids,
            "platform": "bench",
            "channel_id": "c1",
            "thread_id": ids[thread_of],
            "member_id": member_ids[author],
            "created_at": pd.to_datetime(created, utc=True),
            "reply_to_id": np.where(parent >= 0, ids[np.maximum(parent, 0)], None),
            "reply_source": np.where(parent >= 0, "explicit", "none"),
            "kind": "message",
            "text": None,
            "text_len": np.zeros(messages, np.int64),
            "n_reactions": np.zeros(messages, np.int64),
        }
    )
    people = pd.DataFrame(
        {
            "member_id": member_ids,
            "platform": "bench",
            "joined_at": pd.Timestamp("2022-12-01", tz="UTC"),
            "source": None,
            "is_staff": rng.random(members) < 0.01,
            "is_bot": False,
            "display_name": None,
            "referred_by": None,
        }
    )
    from analysis.schema import Tables

    write_dataset(Tables(members=people, messages=frame), out, sources=[])


def run(members: int, seed: int, k: int, cap: float, processed: Path | None) -> None:
    global STAGES
    print(f"\n== {members:,} members ==" if processed is None else f"\n== {processed} ==")
    with tempfile.TemporaryDirectory(prefix="wb-net-bench-") as tmp:
        if processed is None:
            raw, processed = Path(tmp) / "raw", Path(tmp) / "processed"
            t, _ = timed(lambda: generate_community(raw, n_members=members, seed=seed))
            print(f"{'simulate export':40s} {t:9.1f} s")
            t, _ = timed(
                lambda: write_dataset(ingest_raw_dir(raw), processed, sources=source_files(raw))
            )
            print(f"{'ingest + write parquet':40s} {t:9.1f} s")
        community = Community.load(processed)
        t, graph = timed(lambda: reply_graph(community))
        print(f"{'reply graph (engine → networkx)':40s} {t:9.1f} s")
        directed = B.without_bots(graph)
        und = B.undirected_view(directed)
        _GRAPHS.update(directed=directed, undirected=und, parts=B._communities(und, seed=seed))
        print(f"graph: {und.number_of_nodes():,} nodes, {und.number_of_edges():,} undirected edges")
        STAGES = _stages(k, seed)
        print(f"{'stage':40s} {'igraph path':>12s} {'networkx':>12s}")
        for name, impl in STAGES.items():
            if "shared" in impl:
                t_shared, _ = timed(impl["shared"])
                print(f"{name:40s} {t_shared:10.2f} s {'(same code)':>12s}")
                continue
            t_ig, _ = timed(impl["igraph"])
            t_nx = capped(name, cap)
            nx_text = f"> {cap:.0f} s" if t_nx is None else f"{t_nx:9.2f} s"
            print(f"{name:40s} {t_ig:10.2f} s {nx_text:>12s}")
        bet = B.betweenness(und, exact_max_nodes=0, k=k, seed=seed)
        top = bet.values.sort_values(ascending=False).head(3)
        print("top betweenness:", ", ".join(f"{m} {v:.3f}" for m, v in top.items()))
        print(f"networkx {nx.__version__}; betweenness {bet.method}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 members")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--k", type=int, default=500, help="betweenness pivots")
    parser.add_argument("--cap", type=float, default=300.0, help="networkx time cap (s)")
    parser.add_argument("--processed", type=Path, nargs="*", default=[])
    parser.add_argument("--direct", type=int, help="members, tables drawn directly")
    parser.add_argument("--messages", type=int, default=10_000_000, help="with --direct")
    args = parser.parse_args()
    if args.direct:
        with tempfile.TemporaryDirectory(prefix="wb-net-direct-") as tmp:
            t, _ = timed(lambda: direct_dataset(Path(tmp), args.direct, args.messages, args.seed))
            print(f"{'draw canonical tables + write parquet':40s} {t:9.1f} s")
            run(0, args.seed, args.k, args.cap, Path(tmp))
        return
    if args.processed:
        for path in args.processed:
            run(0, args.seed, args.k, args.cap, path)
        return
    sizes = list(args.members) + ([1_000_000] if args.million else [])
    for n in sizes:
        run(n, args.seed, args.k, args.cap, None)


if __name__ == "__main__":
    main()
