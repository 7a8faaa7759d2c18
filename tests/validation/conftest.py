"""Fixtures for validation tests: the same simulated community on DuckDB and on Spark."""

from __future__ import annotations

import pytest

from analysis.data import Community


@pytest.fixture(scope="session")
def engines(synthetic_dataset):
    """``(duckdb_community, spark_community)`` over the session's simulated dataset.

    Spark runs ``local[2]`` with the session time zone set to UTC; the session is shared by every
    parity test (starting Spark costs ~10 s).
    """
    pytest.importorskip("pyspark", reason="install the spark extra: pip install -e '.[spark]'")
    from analysis.data import spark_backend

    processed, _, _ = synthetic_dataset
    return Community.load(processed), Community.load(processed, backend=spark_backend())
