"""Benchmark the pipeline at several community sizes and print the figures.

    .venv/bin/python benchmarks/pipeline.py --members 5000 50000
    .venv/bin/python benchmarks/pipeline.py --members 5000 --spark   # also time the Spark engine

Stages timed: simulate the Telegram export (analysis.synth), ingest it into canonical tables,
write the processed parquet, then on the engine: weekly activity, reply edges, experiment counts,
and the members-vs-customers comparison. Goals (2-core machine): the 5k-member demo end to end in
well under a minute; 50k members in a few minutes. Performance goals live here, never as timed
tests.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WORKBENCH_PSEUDONYM_KEY", "benchmark-key")

from analysis import health, network
from analysis.conversion import purchase_rate_by_membership
from analysis.data import Community, read_manifest, write_dataset
from analysis.experiments.outcomes import binary_outcome_counts
from analysis.ingest import ingest_raw_dir, source_files
from analysis.synth import generate_community


def timed(label: str, fn, results: list[tuple[str, float]]):
    start = time.perf_counter()
    value = fn()
    results.append((label, time.perf_counter() - start))
    return value


def engine_stages(community: Community, prefix: str, results: list[tuple[str, float]]) -> None:
    timed(f"{prefix} weekly activity", lambda: health.activity(community), results)
    timed(
        f"{prefix} reply edges",
        lambda: community.execute(network.reply_edges_expr(community)),
        results,
    )
    timed(
        f"{prefix} experiment counts",
        lambda: binary_outcome_counts(community, "onboarding-v2", "retained_week4"),
        results,
    )
    timed(f"{prefix} purchase comparison", lambda: purchase_rate_by_membership(community), results)


def run(members: int, seed: int, spark: bool) -> None:
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        raw, processed = Path(tmp) / "raw", Path(tmp) / "processed"
        truth = timed(
            "simulate export",
            lambda: generate_community(raw, n_members=members, seed=seed),
            results,
        )
        tables = timed("ingest (parse + validate)", lambda: ingest_raw_dir(raw), results)
        timed(
            "write parquet",
            lambda: write_dataset(tables, processed, sources=source_files(raw)),
            results,
        )
        rows = read_manifest(processed)["tables"]
        engine_stages(Community.load(processed), "duckdb", results)
        if spark:
            from analysis.data import spark_backend

            backend = timed("spark session start", spark_backend, results)
            engine_stages(Community.load(processed, backend=backend), "spark ", results)
    print(
        f"\n== {members:,} members, {truth.n_messages:,} messages, "
        f"{rows['reactions']['rows']:,} reactions, {rows['orders']['rows']:,} orders (seed {seed})"
    )
    for label, seconds in results:
        print(f"  {label:<32} {seconds:8.2f} s")
    print(f"  {'total':<32} {sum(s for _, s in results):8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, nargs="+", default=[5000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spark", action="store_true", help="also run the engine stages on Spark")
    args = parser.parse_args()
    for members in args.members:
        run(members, args.seed, args.spark)


if __name__ == "__main__":
    main()
