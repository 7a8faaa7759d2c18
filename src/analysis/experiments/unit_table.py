"""Per-unit experiment tables that analysts bring from anywhere (CSV or parquet).

Format: one row per unit with a unit id column, a variant column, one numeric column per
metric, and optionally a pre-period covariate, a cluster id and segment columns::

    unit_id,variant,converted,revenue,pre_revenue,chat_id,country
    u1,control,0,0.0,12.5,c7,DE
    u2,treatment,1,30.0,0.0,c3,FR

Binary metrics hold only 0 and 1; every other numeric metric is analysed as a mean. A ratio
metric is named ``"numerator/denominator"`` (two columns, analysed as a ratio of sums by the
delta method). Errors name the file, the column and the first offending rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class UnitTableError(ValueError):
    """The per-unit table does not have the documented shape."""


@dataclass(frozen=True)
class UnitTable:
    """A validated per-unit table and the roles of its columns."""

    frame: pd.DataFrame
    metrics: tuple[str, ...]
    covariate: str | None = None
    cluster: str | None = None
    segments: tuple[str, ...] = ()
    source: str = "<memory>"

    def metric_kind(self, metric: str) -> str:
        """``binary`` (only 0/1 values), ``ratio`` (``num/den``) or ``mean``."""
        if "/" in metric:
            return "ratio"
        values = self.frame[metric].dropna().unique()
        return "binary" if set(values.tolist()) <= {0, 1} else "mean"


def _fail(source: str, message: str) -> UnitTableError:
    return UnitTableError(f"{source}: {message}")


def _first_rows(mask: pd.Series, n: int = 5) -> str:
    rows = mask[mask].index[:n].tolist()
    return ", ".join(str(r + 2) for r in rows)  # +2: header line and 1-based lines


def read_unit_table(
    path: str | os.PathLike[str] | pd.DataFrame,
    *,
    metrics: Sequence[str],
    unit: str = "unit_id",
    variant: str = "variant",
    covariate: str | None = None,
    cluster: str | None = None,
    segments: Sequence[str] = (),
) -> UnitTable:
    """Read and validate a per-unit table.

    Parameters
    ----------
    path : path or DataFrame
        A ``.csv`` or ``.parquet`` file, or a frame already in memory.
    metrics : sequence of str
        Metric columns; ``"num/den"`` names a ratio metric of two columns.
    unit, variant : str
        Names of the unit id and variant columns (renamed to ``unit_id`` and ``variant``).
    covariate, cluster : str, optional
        Pre-period covariate (for CUPED) and cluster id (for cluster-robust errors).
    segments : sequence of str
        Columns to break results down by.

    Raises
    ------
    UnitTableError
        Missing columns, duplicate unit ids, missing variants, or non-numeric / missing metric
        values, naming the file, the column and the first offending lines.
    """
    if isinstance(path, pd.DataFrame):
        frame, source = path.copy(), "<per-unit frame>"
    else:
        source = str(path)
        suffix = Path(path).suffix.lower()
        if not Path(path).exists():
            raise _fail(source, "file not found")
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype={unit: str, variant: str})
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise _fail(source, f"unsupported file type {suffix!r}; use .csv or .parquet")
    metric_columns = [c for m in metrics for c in m.split("/")]
    needed = [unit, variant, *metric_columns, *(c for c in (covariate, cluster) if c)]
    needed += list(segments)
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise _fail(source, f"missing columns {missing}; the table has {list(frame.columns)}")
    if any(m.count("/") > 1 for m in metrics):
        raise _fail(source, f"a ratio metric is 'numerator/denominator', got {list(metrics)}")
    frame = frame.rename(columns={unit: "unit_id", variant: "variant"})
    frame["unit_id"] = frame["unit_id"].astype(str)
    duplicated = frame["unit_id"].duplicated(keep=False)
    if duplicated.any():
        raise _fail(
            source,
            f"column '{unit}': {int(duplicated.sum())} rows share a unit id (lines "
            f"{_first_rows(duplicated)}); each unit must appear once",
        )
    no_variant = frame["variant"].isna()
    if no_variant.any():
        raise _fail(source, f"column '{variant}': empty at lines {_first_rows(no_variant)}")
    frame["variant"] = frame["variant"].astype(str)
    for column in dict.fromkeys([*metric_columns, *([covariate] if covariate else [])]):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.fillna(0))
        if bad.any():
            raise _fail(
                source,
                f"column '{column}': {int(bad.sum())} values are missing, infinite or not "
                f"numbers (lines {_first_rows(bad)}, e.g. '{frame.loc[bad, column].iloc[0]}'); "
                f"every metric needs a finite number for every unit",
            )
        frame[column] = values.astype(float)
    return UnitTable(
        frame=frame.reset_index(drop=True),
        metrics=tuple(metrics),
        covariate=covariate,
        cluster=cluster,
        segments=tuple(segments),
        source=source,
    )
