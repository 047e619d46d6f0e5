"""Each journal COMMIT is timed: observers hear its duration, and a slow one (a stalled disk) is warned about."""

from __future__ import annotations

import logging
import time

import pytest

from bridge.store.db import Store
from bridge.store.slow_commits import SlowCommits
from tests.store.accounts import count_accounts, insert_account


def slow_commits(store: Store, seconds: float) -> None:
    """Make every COMMIT of the store's writer take at least `seconds`, as a disk slow to sync would.

    SQLite's trace callback runs on the thread that runs the statement, just before it: for COMMIT, the
    store's commit thread, inside the time the store measures.
    """

    def trace(statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            time.sleep(seconds)

    store.conn.set_trace_callback(trace)


async def test_every_commit_is_timed_for_its_observers(fresh_store: Store) -> None:
    heard: list[float] = []
    fresh_store.commit_observers.append(heard.append)
    await fresh_store.run(insert_account, fresh_store, "quick")
    assert len(heard) == 1 and 0 < heard[0] < 0.5
    slow_commits(fresh_store, 0.12)
    await fresh_store.run(insert_account, fresh_store, "slow")
    assert len(heard) == 2 and heard[1] >= 0.12


async def test_a_slow_commit_is_warned_about_once_a_minute_with_the_count_of_the_others(
    fresh_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    fresh_store.commit_observers[:] = [SlowCommits(threshold=0.05)]
    caplog.set_level(logging.WARNING, logger="bridge.store")
    slow_commits(fresh_store, 0.06)
    for name in ("a", "b", "c"):
        await fresh_store.run(insert_account, fresh_store, name)
    warnings = [r for r in caplog.records if r.name == "bridge.store" and "COMMIT took" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "the disk was slow to sync" in warnings[0].getMessage()
    assert count_accounts(fresh_store.path) == 3  # slow, but every write is there


async def test_an_observer_that_fails_never_makes_a_committed_write_look_lost(fresh_store: Store) -> None:
    def broken(seconds: float) -> None:
        raise RuntimeError("observer bug")

    heard: list[float] = []
    fresh_store.commit_observers[:0] = [broken]
    fresh_store.commit_observers.append(heard.append)
    assert await fresh_store.run(insert_account, fresh_store, "kept") == "kept"
    assert count_accounts(fresh_store.path) == 1
    assert len(heard) == 1  # the observers after the broken one still hear it


def test_slow_commits_below_the_threshold_say_nothing_and_the_held_back_ones_are_counted_later() -> None:
    now = [1000.0]
    said: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logger = logging.getLogger("tests.slow_commits")
    logger.addHandler(Capture())
    logger.propagate = False
    watch = SlowCommits(threshold=0.5, every=60, clock=lambda: now[0], logger=logger)
    watch(0.49)
    assert said == []
    watch(0.8)
    assert len(said) == 1 and "took 0.80 s:" in said[0]
    for seconds, later in ((1.5, 10), (0.7, 20)):  # within the minute: held back
        now[0] += later
        watch(seconds)
    assert len(said) == 1
    now[0] += 31  # 61 s after the first warning
    watch(0.6)
    assert len(said) == 2
    assert "took 0.60 s (2 more since the last warning, the slowest 1.50 s)" in said[1]
    now[0] += 61
    watch(0.9)
    assert "more since" not in said[2]
