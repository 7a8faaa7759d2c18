"""The engines a :class:`~analysis.data.Community` computes on: DuckDB in-process (the default)
and PySpark, each with its session time zone set to UTC, and the check that refuses any other
session time zone (periods are cut in the session's zone). Re-exported by :mod:`analysis.data`.
"""

from __future__ import annotations

from typing import Any

import ibis

__all__ = ["check_utc", "duckdb_backend", "session_timezone", "spark_backend"]


def spark_backend(master: str = "local[2]", app_name: str = "community-workbench") -> Any:
    """An ibis PySpark backend on a local Spark session with the session time zone set to UTC.

    Needs the ``spark`` extra (``pip install -e '.[spark]'``) and Java 17.
    """
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def duckdb_backend() -> Any:
    """An in-process DuckDB ibis backend with its session time zone set to UTC."""
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    return con


def session_timezone(backend: Any) -> str | None:
    """The engine session's time zone, where it can be read (DuckDB, PySpark), else None."""
    name = getattr(backend, "name", "")
    try:
        if name == "duckdb":
            return str(backend.raw_sql("SELECT current_setting('TimeZone')").fetchall()[0][0])
        if name == "pyspark":
            return str(backend._session.conf.get("spark.sql.session.timeZone"))
    except Exception:  # pragma: no cover - an engine that cannot say
        return None
    return None


def check_utc(backend: Any) -> None:
    """Refuse an engine whose session time zone is not UTC.

    Periods (days, ISO weeks, months) are truncated in the session's zone, so a non-UTC session
    silently shifts every boundary; :func:`duckdb_backend` and :func:`spark_backend` set UTC.
    """
    zone = session_timezone(backend)
    if zone is not None and zone.upper() not in ("UTC", "ETC/UTC", "GMT", "Z"):
        raise ValueError(
            f"the {getattr(backend, 'name', 'engine')} session's time zone is {zone!r}; periods "
            f"would be cut in that zone. Use analysis.data.duckdb_backend() / spark_backend(), or "
            f"set it to UTC (DuckDB: SET TimeZone = 'UTC'; Spark: spark.sql.session.timeZone=UTC)."
        )
