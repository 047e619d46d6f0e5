"""Group commit: many callers share one COMMIT, each hears back only after its writes are durable."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from bridge.store.db import Store, transaction
from tests.store.accounts import count_accounts, insert_account


async def test_concurrent_writers_are_all_committed_and_visible_to_another_connection(fresh_store: Store) -> None:
    visible_at_answer: list[bool] = []

    async def write(i: int) -> None:
        name = await fresh_store.run(insert_account, fresh_store, f"b{i}")
        other = sqlite3.connect(fresh_store.path)  # another connection sees only committed rows
        visible_at_answer.append(other.execute("SELECT 1 FROM paper_accounts WHERE broker = ?", (name,)).fetchone())
        other.close()

    await asyncio.gather(*(write(i) for i in range(300)))
    assert count_accounts(fresh_store.path) == 300
    assert len(visible_at_answer) == 300 and all(visible_at_answer)


async def test_a_failing_job_rolls_back_alone(fresh_store: Store) -> None:
    def half_then_fail() -> None:
        fresh_store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES ('half', '1')")
        raise ValueError("boom")

    results = await asyncio.gather(
        fresh_store.run(insert_account, fresh_store, "before"),
        fresh_store.run(half_then_fail),
        fresh_store.run(insert_account, fresh_store, "after"),
        fresh_store.run(insert_account, fresh_store, "before"),  # duplicate key: fails alone
        return_exceptions=True,
    )
    assert results[0] == "before" and results[2] == "after"
    assert isinstance(results[1], ValueError) and isinstance(results[3], sqlite3.IntegrityError)
    other = sqlite3.connect(fresh_store.path)
    names = sorted(r[0] for r in other.execute("SELECT broker FROM paper_accounts"))
    other.close()
    assert names == ["after", "before"]  # nothing of the failed jobs, everything of the others


def _brokers(path: Path) -> list[str]:
    other = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in other.execute("SELECT broker FROM paper_accounts"))
    finally:
        other.close()


def _add(store: Store, broker: str) -> None:
    store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, '1')", (broker,))


def _failing_block(store: Store, broker: str) -> None:
    with transaction(store.conn):
        _add(store, broker)
        raise ValueError("boom")


async def test_a_failed_block_that_its_job_catches_loses_only_its_own_writes(fresh_store: Store) -> None:
    """A job's first transaction shares the job's savepoint; rolled back, it takes nothing else with it."""

    def first_block_fails_then_more(name: str) -> None:
        with contextlib.suppress(ValueError):
            _failing_block(fresh_store, f"{name}-block")
        _add(fresh_store, f"{name}-after")
        with transaction(fresh_store.conn):  # the job's savepoint is fresh again: this block can share it too
            _add(fresh_store, f"{name}-second")

    def write_then_failing_block(name: str) -> None:
        _add(fresh_store, f"{name}-before")  # written first: the block below needs a savepoint of its own
        with contextlib.suppress(ValueError):
            _failing_block(fresh_store, f"{name}-block")

    def nested_failure_caught_inside(name: str) -> None:
        with transaction(fresh_store.conn):
            _add(fresh_store, f"{name}-outer")
            with contextlib.suppress(ValueError):
                _failing_block(fresh_store, f"{name}-inner")

    results = await asyncio.gather(
        fresh_store.run(insert_account, fresh_store, "x"),
        fresh_store.run(first_block_fails_then_more, "a"),
        fresh_store.run(write_then_failing_block, "b"),
        fresh_store.run(nested_failure_caught_inside, "c"),
        fresh_store.run(_failing_block, fresh_store, "d"),  # not caught: the job fails, alone
        fresh_store.run(insert_account, fresh_store, "y"),
        return_exceptions=True,
    )
    assert isinstance(results[4], ValueError)
    assert [r for i, r in enumerate(results) if i != 4] == ["x", None, None, None, "y"]
    assert _brokers(fresh_store.path) == ["a-after", "a-second", "b-before", "c-outer", "x", "y"]


async def test_a_jobs_first_transaction_issues_no_savepoint_of_its_own(fresh_store: Store) -> None:
    statements: list[str] = []
    fresh_store.conn.set_trace_callback(statements.append)
    try:
        await asyncio.gather(*(fresh_store.run(insert_account, fresh_store, f"b{i}") for i in range(5)))
    finally:
        fresh_store.conn.set_trace_callback(None)
    assert statements.count("SAVEPOINT job") == 5
    assert "SAVEPOINT tx" not in statements
    assert count_accounts(fresh_store.path) == 5


async def test_a_full_disk_fails_the_writers_it_hits_and_the_store_keeps_working(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.db")
    await store.open()
    try:
        pages = int(await store.run(lambda: store.conn.execute("PRAGMA page_count").fetchone()[0]))
        await store.run(lambda: store.conn.execute(f"PRAGMA max_page_count={pages + 2}"))

        def big(i: int) -> None:
            with transaction(store.conn):
                store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, ?)", (f"x{i}", "9" * 20000))

        results = await asyncio.gather(*(store.run(big, i) for i in range(20)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures and all(isinstance(f, sqlite3.OperationalError) for f in failures)
        committed = sum(1 for r in results if not isinstance(r, BaseException))
        assert count_accounts(store.path) == committed  # only those told "done" are stored
        await store.run(lambda: store.conn.execute("PRAGMA max_page_count=1073741823"))
        assert await store.run(insert_account, store, "later") == "later"  # the writer thread survived
    finally:
        await store.close()


async def test_run_after_close_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.db")
    await store.open()
    await store.close()
    with pytest.raises(RuntimeError):
        await store.run(lambda: None)


def _names(store: Store) -> list[str]:
    return [str(r[0]) for r in store.conn.execute("SELECT broker FROM paper_accounts ORDER BY broker")]


async def test_a_read_queued_with_writes_sees_none_of_their_uncommitted_rows(fresh_store: Store) -> None:
    write = asyncio.ensure_future(fresh_store.run(insert_account, fresh_store, "w"))
    read = asyncio.ensure_future(fresh_store.read(_names, fresh_store))  # queued in the same turn: one batch
    assert await read == [], "the read ran before the batch's write: it saw only what was committed"
    assert not write.done(), "and was answered without waiting for that write's COMMIT"
    await write
    assert _names(fresh_store) == ["w"]


async def test_a_read_that_writes_has_committed_before_it_is_answered(fresh_store: Store) -> None:
    assert await fresh_store.read(insert_account, fresh_store, "from-a-read") == "from-a-read"
    assert count_accounts(fresh_store.path) == 1  # another connection sees it: it is durable, not pending in a batch


async def test_a_read_that_fails_or_leaves_a_transaction_open_fails_alone(fresh_store: Store) -> None:
    def left_open() -> None:
        fresh_store.conn.execute("BEGIN")
        fresh_store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES ('dangling', '1')")

    def broken() -> None:
        raise ValueError("boom")

    results = await asyncio.gather(
        fresh_store.read(left_open), fresh_store.read(broken), fresh_store.run(insert_account, fresh_store, "kept"),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], ValueError) and results[2] == "kept"
    assert await fresh_store.read(_names, fresh_store) == ["kept"]  # the dangling insert was rolled back


async def test_a_callers_next_write_joins_the_batch_right_after_its_answer(fresh_store: Store) -> None:
    store = fresh_store
    statements: list[str] = []
    arriving: list[asyncio.Future[str]] = []

    def trace(sql: str) -> None:  # runs where each statement runs: the loop, or the commit thread
        statements.append(sql)
        if sql == "BEGIN IMMEDIATE" and not arriving:  # another caller's write arrives while "first" commits
            arriving.append(asyncio.ensure_future(store.run(insert_account, store, "other")))

    store.conn.set_trace_callback(trace)
    try:
        await store.run(insert_account, store, "first")
        await store.run(insert_account, store, "second")  # an execution's next step, the moment it hears back
        await arriving[0]
    finally:
        store.conn.set_trace_callback(None)
    # {first}, then {other, second}: the next step did not wait for a batch of its own behind "other".
    assert statements.count("COMMIT") == 2, statements
    assert count_accounts(store.path) == 3
