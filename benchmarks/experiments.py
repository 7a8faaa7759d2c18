"""Benchmark the experiment study on large per-unit tables and print the figures.

    .venv/bin/python benchmarks/experiments.py --units 100000 1000000

Every parametric test works from sufficient statistics reduced by DuckDB, so time grows with
the table scan, not with the statistics; the Mann–Whitney robustness check reads per-unit
values, sampled to 200,000 per arm.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from analysis.experiments import analyse_unit_table, read_unit_table


def make_table(units: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "treatment"], units)
    pre = rng.gamma(2.0, 2.0, units)
    lift = np.where(variant == "treatment", 0.05, 0.0)
    return pd.DataFrame(
        {
            "unit_id": np.arange(units).astype(str),
            "variant": variant,
            "converted": (rng.random(units) < 0.2 + lift).astype(int),
            "messages": rng.poisson(1 + 0.5 * pre + lift * 4).astype(float),
            "replies": rng.poisson(1.5, units).astype(float),
            "visits": (rng.poisson(3, units) + 1).astype(float),
            "pre_messages": pre,
            "country": rng.choice(["DE", "FR", "RU", "US"], units),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    for units in args.units:
        frame = make_table(units, seed=0)
        start = time.perf_counter()
        table = read_unit_table(
            frame,
            metrics=["converted", "messages", "replies/visits"],
            covariate="pre_messages",
            segments=["country"],
        )
        validated = time.perf_counter()
        for mode in ("fixed", "sequential"):
            t0 = time.perf_counter()
            result = analyse_unit_table(table, mode=mode)
            elapsed = time.perf_counter() - t0
            print(
                f"{units:>10,} units  {mode:<10} analysis {elapsed:6.2f} s "
                f"(validation {validated - start:.2f} s); "
                f"{len(result.comparisons)} comparisons, {len(result.segments)} segment rows"
            )


if __name__ == "__main__":
    main()
