"""Health metrics run concurrently on two connections equal the same metrics run one by one."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pandas as pd
import pytest

from analysis import health
from analysis.data import Community
from analysis.engine_threads import current_engine, worker_engine
from analysis.health import engine_cache
from analysis.health.concurrent import run_concurrently


def _calls(c: Community) -> dict[str, object]:
    return {
        "response_rate": lambda: health.response_rate(c),
        "newcomer_welcome": lambda: health.newcomer_welcome(c, period="month"),
        "discussion_depth": lambda: health.discussion_depth(c),
        "member_levels": lambda: health.member_levels(c, period="month"),
        "engagement_rate": lambda: health.engagement_rate(c),
        "activity": lambda: health.activity(c),
        "cohort_retention": lambda: health.cohort_retention(c, cohort="month"),
        "conversation_duration": lambda: health.conversation_duration(c),
        "usage": lambda: health.usage(c),
        "member_to_member_share": lambda: health.member_to_member_share(c),
        "time_to_first_response": lambda: health.time_to_first_response(c),
        "weekly_return": lambda: health.weekly_return(c),
        "concentration": lambda: health.concentration(c),
        "support_deflection": lambda: health.support_deflection(c),
        "member_initiated_share": lambda: health.member_initiated_share(c),
        "newcomer_return": lambda: health.newcomer_return(c),
        "repeat_contribution": lambda: health.repeat_contribution(c),
    }


def _frame(result: object) -> pd.DataFrame:
    frame = result.to_frame()
    return frame.reset_index(drop=True) if isinstance(frame, pd.DataFrame) else frame


def test_the_metric_set_run_concurrently_equals_it_run_one_by_one(synthetic_dataset) -> None:
    processed, _, _ = synthetic_dataset
    one_by_one = Community.load(processed)
    together = Community.load(processed)
    names = list(_calls(one_by_one))
    want = [call() for call in _calls(one_by_one).values()]
    got = run_concurrently(together, list(_calls(together).values()), workers=2)
    assert len(got) == len(names)
    for name, a, b in zip(names, want, got, strict=True):
        assert type(a) is type(b), name
        pd.testing.assert_frame_equal(_frame(b), _frame(a), obj=name)
    # the shared engine tables were built once, on the worker connections, and are readable
    # from the community's own connection afterwards
    assert together.engine() is together.backend
    assert health.response_rate(together).to_frame().equals(want[0].to_frame())


def test_each_worker_thread_has_its_own_connection(tiny_tables) -> None:
    c = Community.from_tables(tiny_tables)
    seen: dict[str, object] = {}
    barrier = threading.Barrier(2, timeout=30)

    def probe(tag: str) -> int:
        barrier.wait()  # both calls are running at the same time
        seen[tag] = c.engine()
        # the in-memory tables (ordinary tables of the database) are visible on the new
        # connection, and a stored table made there is visible on the others
        stored = engine_cache.materialise(c, c.messages.select("message_id"))
        return int(c.execute(stored.count()))

    n = run_concurrently(c, [lambda: probe("a"), lambda: probe("b")], workers=2)
    assert n == [len(tiny_tables.messages)] * 2
    assert seen["a"] is not seen["b"]
    assert c.backend not in (seen["a"], seen["b"])
    assert c.engine() is c.backend  # outside the workers: the community's own connection


def test_a_shared_table_is_built_once_while_threads_wait_for_it(tiny_tables) -> None:
    c = Community.from_tables(tiny_tables)
    builds = []

    def build() -> int:
        builds.append(threading.current_thread().name)
        time.sleep(0.2)
        return 42

    got = run_concurrently(c, [lambda: engine_cache.memo(c, ("k",), build)] * 4, workers=4)
    assert got == [42] * 4
    assert len(builds) == 1


def test_an_error_in_one_call_is_raised(tiny_tables) -> None:
    c = Community.from_tables(tiny_tables)

    def bad() -> None:
        raise ValueError("no such period: 'fortnight'")

    with pytest.raises(ValueError, match="fortnight"):
        run_concurrently(c, [lambda: health.activity(c), bad], workers=2)
    with pytest.raises(ValueError, match="workers"):
        run_concurrently(c, [bad], workers=0)


def test_other_engines_run_the_calls_in_this_thread() -> None:
    fake = SimpleNamespace(backend=SimpleNamespace(name="pyspark"))
    threads = run_concurrently(fake, [threading.current_thread] * 3, workers=2)
    assert threads == [threading.current_thread()] * 3
    with worker_engine(fake.backend) as engine:
        assert engine is fake.backend and current_engine(fake.backend) is fake.backend


def test_engine_threads_are_divided_among_the_workers_and_restored(tiny_tables) -> None:
    c = Community.from_tables(tiny_tables)

    def threads() -> int:
        return int(c.engine().con.execute("SELECT current_setting('threads')").fetchone()[0])

    c.backend.con.execute("SET threads = 4")
    assert run_concurrently(c, [threads, threads], workers=2) == [2, 2]
    assert run_concurrently(c, [threads] * 3, workers=3) == [1, 1, 1]
    assert threads() == 4  # restored

    def bad() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_concurrently(c, [threads, bad], workers=2)
    assert threads() == 4  # restored after an error too
    assert run_concurrently(c, [threads], workers=2) == [4]  # one call: nothing divided
