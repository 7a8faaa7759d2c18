"""The machinery that makes the health metrics scale: engine-side reply depth, the per-community
memo of materialised tables, and DuckDB's fast period and epoch expressions.

Every expected number is computed independently here (a plain Python walk up reply chains,
pandas calendar arithmetic, ibis's own portable expressions).
"""

from __future__ import annotations

import gc

import ibis
import numpy as np
import pandas as pd
import pytest

from analysis.data import Community
from analysis.health import engine_cache, periods
from analysis.health.reply_depth import reply_depth_table
from analysis.health.responsiveness import response_rate
from analysis.health.thread_table import reply_depths, shared_thread_table, thread_table
from analysis.schema import Tables
from tests.conftest import make_members, make_messages


def _random_forest(
    n: int,
    seed: int,
    *,
    step_minutes: int = 1,
    n_authors: int = 6,
    p_missing: float = 0.05,
    p_next: float = 0.5,
    rng: np.random.Generator | None = None,
) -> list[tuple]:
    """``n`` messages: roots, replies to earlier messages (chains several levels deep), replies
    to a missing message, and service messages (not part of the reply forest).

    One message every ``step_minutes`` by one of ``n_authors`` members; a fifth are roots, a
    share ``p_missing`` answer a missing message, the rest one of the previous few messages
    (how many back: geometric with success ``p_next``). ``rng`` continues a caller's generator.
    """
    rng = np.random.default_rng(seed) if rng is None else rng
    start = pd.Timestamp("2024-01-01 00:00")
    rows: list[tuple] = []
    for i in range(n):
        at = str(start + pd.Timedelta(minutes=step_minutes * i))
        author = f"u{rng.integers(0, n_authors)}"
        u = rng.random()
        if i == 0 or u < 0.2:
            parent = None
        elif u < 0.2 + p_missing:
            parent = "missing"
        else:  # mostly the previous few messages: long chains
            parent = str(i - 1 - int(rng.geometric(p_next) - 1) % i)
        kind = "service" if rng.random() < 0.05 else "message"
        rows.append((str(i), author, at, parent, kind))
    return rows


def _walk_depths(rows: list[tuple]) -> dict[str, int]:
    """Depth by walking up: a reply whose parent is not a non-service reply has depth 1."""
    replies = {r[0]: r[3] for r in rows if r[3] is not None and r[4] != "service"}
    out = {}
    for mid in replies:
        depth, node = 1, replies[mid]
        while node in replies:
            depth, node = depth + 1, replies[node]
        out[mid] = depth
    return out


def _community(rows: list[tuple]) -> Community:
    members = make_members([(f"u{i}", "2023-12-01", i == 0, False) for i in range(6)])
    return Community.from_tables(Tables(members=members, messages=make_messages(rows)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reply_depth_on_the_engine_matches_a_walk_up_the_chains(seed):
    rows = _random_forest(400, seed)
    expected = _walk_depths(rows)
    assert max(expected.values()) >= 8  # deep enough to need several pointer-jumping rounds
    got = reply_depths(_community(rows)).set_index("message_id")["depth"].to_dict()
    assert got == expected


def test_thread_max_depth_is_the_deepest_counted_reply():
    rows = _random_forest(300, 5)
    c = _community(rows)
    depth = _walk_depths(rows)
    frame = thread_table(c).set_index("thread_id")
    msgs = make_messages(rows)
    counted = msgs[(msgs["kind"] != "service") & msgs["reply_to_id"].notna()]
    counted = counted[counted["thread_id"].isin(frame.index)]
    expected = counted.assign(d=counted["message_id"].map(depth)).groupby("thread_id")["d"].max()
    expected = expected.reindex(frame.index, fill_value=0)
    assert (frame["max_depth"] == expected).all()
    assert frame["max_depth"].max() >= 5


def test_memo_shares_one_materialised_thread_table_per_community_and_options():
    c = _community(_random_forest(120, 3))
    t1 = shared_thread_table(c)
    assert shared_thread_table(c) is t1
    assert shared_thread_table(c, include_staff=False) is not t1
    assert shared_thread_table(c.window("2024-01-01 01:00", None)) is not t1
    # the materialised table holds the same rows as the expression it stores
    direct = c.execute(t1.count())
    assert direct == len(thread_table(c, with_depth=False))
    # metrics built on it give the same answer on a fresh community (nothing stale is reused)
    fresh = _community(_random_forest(120, 3))
    a, b = response_rate(c), response_rate(fresh)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_memo_is_dropped_with_its_community_and_its_duckdb_tables_with_it():
    c = _community(_random_forest(80, 4))
    backend = c.backend
    depths = reply_depth_table(c)
    shared_thread_table(c)
    key = id(c)
    assert key in engine_cache._STORE

    def cache_tables() -> int:
        sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_wb_cache_%'"
        return backend.raw_sql(sql).fetchall()[0][0]

    assert cache_tables() > 0
    del c, depths
    gc.collect()
    assert key not in engine_cache._STORE
    assert cache_tables() == 0


def test_memo_key_follows_replaced_tables():
    c = _community(_random_forest(60, 6))
    calls = []
    engine_cache.memo(c, ("k",), lambda: calls.append(1))
    engine_cache.memo(c, ("k",), lambda: calls.append(1))
    assert len(calls) == 1
    c.tables["messages"] = c.tables["messages"].filter(c.tables["messages"].kind != "service")
    engine_cache.memo(c, ("k",), lambda: calls.append(1))
    assert len(calls) == 2


STAMPS = [
    "1969-12-28 23:59:59",  # a Sunday before the epoch
    "1969-12-29 00:00:00",  # the Monday of the epoch's ISO week
    "1970-01-01 00:00:00",
    "2023-12-31 23:59:59",  # Sunday: ISO week of 2023-12-25
    "2024-01-01 00:00:00",
    "2024-02-29 23:59:59",  # leap day
    "2024-03-01 00:00:00",
    "2024-12-30 12:00:00",  # ISO week 1 of 2025 starts 2024-12-30
    "2025-06-15 08:30:00.750000",  # fractional seconds
]


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_duckdb_fast_periods_equal_pandas_and_the_portable_expression(period):
    stamps = pd.to_datetime(pd.Series(STAMPS), utc=True, format="ISO8601")
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    t = con.create_table("stamps", ibis.memtable(pd.DataFrame({"ts": stamps})), temp=True)
    assert periods.on_duckdb(t.ts)
    fast = t.select(
        p=periods.period_start_expr(t.ts, period),
        d=periods.utc_date_expr(t.ts),
        s=periods.epoch_seconds(t.ts),
    )
    portable = t.select(
        p=t.ts.truncate(periods._TRUNCATE_UNIT[period]).cast("date"),
        d=t.ts.date(),
        s=t.ts.epoch_seconds().cast("int64"),
    )
    assert "EPOCH(CAST" not in ibis.to_sql(fast)  # the fast path really is taken
    a, b = con.execute(fast), con.execute(portable)
    pd.testing.assert_frame_equal(a[["p", "d"]], b[["p", "d"]])
    expected = periods.period_floor(stamps, period)
    assert (pd.to_datetime(a["p"]).to_numpy() == expected.to_numpy()).all()
    whole = (stamps.astype("int64") // 10**9).to_numpy()
    # every stamp floors to its second, like Spark's unix_timestamp, 08:30:00.75 included;
    # ibis's portable cast on DuckDB rounds that one up (why the DuckDB path floors itself)
    assert (a["s"].to_numpy() == whole).all()
    assert b["s"].iloc[-1] == whole[-1] + 1


def test_memtable_expressions_take_the_portable_path():
    t = ibis.memtable(pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"], utc=True)}))
    assert not periods.on_duckdb(t.ts)
    assert "DATE_TRUNC" in ibis.to_sql(t.select(p=periods.period_start_expr(t.ts, "week")))


def test_cache_is_bound_to_the_communitys_engine_not_ibis_default(tiny_tables):
    """On engines without temporary tables, an expression over in-memory tables only is bound to
    no engine, so ``cache()`` would store it on ibis's default DuckDB: it is left uncached."""
    c = Community.from_tables(tiny_tables)
    stored = c.messages.select("message_id")
    assert engine_cache.bound_to(stored, c.backend)  # a DuckDB table of the community
    loose = ibis.memtable(pd.DataFrame({"x": [1, 2]}))
    assert not engine_cache.bound_to(loose, c.backend)
    assert not engine_cache.bound_to(stored, ibis.duckdb.connect())  # another engine


def test_materialise_leaves_unbound_expressions_alone_on_other_engines():
    class OtherEngine:
        name = "pyspark"

    loose = ibis.memtable(pd.DataFrame({"x": [1, 2]}))
    fake = type("C", (), {"backend": OtherEngine()})()
    assert engine_cache.materialise(fake, loose) is loose
