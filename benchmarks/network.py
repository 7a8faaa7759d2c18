"""Benchmark the network metrics (brokers, dependency, core) with igraph vs plain networkx.

    .venv/bin/python benchmarks/network.py                       # 10k and 100k members
    .venv/bin/python benchmarks/network.py --members 10000 --cap 120
    .venv/bin/python benchmarks/network.py --million             # also 1M members (slow)
    .venv/bin/python benchmarks/network.py --processed DIR       # reuse an ingested dataset

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
    args = parser.parse_args()
    if args.processed:
        for path in args.processed:
            run(0, args.seed, args.k, args.cap, path)
        return
    sizes = list(args.members) + ([1_000_000] if args.million else [])
    for n in sizes:
        run(n, args.seed, args.k, args.cap, None)


if __name__ == "__main__":
    main()
