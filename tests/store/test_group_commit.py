"""Group commit: many callers share one COMMIT, each hears back only after its writes are durable."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bridge.store.db import Store, transaction


def _insert(store: Store, broker: str) -> str:
    with transaction(store.conn):
        store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, '1')", (broker,))
    return broker


def _count(path: Path) -> int:
    other = sqlite3.connect(path)
    try:
        return int(other.execute("SELECT COUNT(*) FROM paper_accounts").fetchone()[0])
    finally:
        other.close()


async def test_concurrent_writers_are_all_committed_and_visible_to_another_connection(fresh_store: Store) -> None:
    visible_at_answer: list[bool] = []

    async def write(i: int) -> None:
        name = await fresh_store.run(_insert, fresh_store, f"b{i}")
        other = sqlite3.connect(fresh_store.path)  # another connection sees only committed rows
        visible_at_answer.append(other.execute("SELECT 1 FROM paper_accounts WHERE broker = ?", (name,)).fetchone())
        other.close()

    await asyncio.gather(*(write(i) for i in range(300)))
    assert _count(fresh_store.path) == 300
    assert len(visible_at_answer) == 300 and all(visible_at_answer)


async def test_a_failing_job_rolls_back_alone(fresh_store: Store) -> None:
    def half_then_fail() -> None:
        fresh_store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES ('half', '1')")
        raise ValueError("boom")

    results = await asyncio.gather(
        fresh_store.run(_insert, fresh_store, "before"),
        fresh_store.run(half_then_fail),
        fresh_store.run(_insert, fresh_store, "after"),
        fresh_store.run(_insert, fresh_store, "before"),  # duplicate key: fails alone
        return_exceptions=True,
    )
    assert results[0] == "before" and results[2] == "after"
    assert isinstance(results[1], ValueError) and isinstance(results[3], sqlite3.IntegrityError)
    other = sqlite3.connect(fresh_store.path)
    names = sorted(r[0] for r in other.execute("SELECT broker FROM paper_accounts"))
    other.close()
    assert names == ["after", "before"]  # nothing of the failed jobs, everything of the others


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
        assert _count(store.path) == committed  # only those told "done" are stored
        await store.run(lambda: store.conn.execute("PRAGMA max_page_count=1073741823"))
        assert await store.run(_insert, store, "later") == "later"  # the writer thread survived
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
    write = asyncio.ensure_future(fresh_store.run(_insert, fresh_store, "w"))
    read = asyncio.ensure_future(fresh_store.read(_names, fresh_store))  # queued in the same turn: one batch
    assert await read == [], "the read ran before the batch's write: it saw only what was committed"
    assert not write.done(), "and was answered without waiting for that write's COMMIT"
    await write
    assert _names(fresh_store) == ["w"]


async def test_a_read_that_writes_has_committed_before_it_is_answered(fresh_store: Store) -> None:
    assert await fresh_store.read(_insert, fresh_store, "from-a-read") == "from-a-read"
    assert _count(fresh_store.path) == 1  # another connection sees it: it is durable, not pending in a batch


async def test_a_read_that_fails_or_leaves_a_transaction_open_fails_alone(fresh_store: Store) -> None:
    def left_open() -> None:
        fresh_store.conn.execute("BEGIN")
        fresh_store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES ('dangling', '1')")

    def broken() -> None:
        raise ValueError("boom")

    results = await asyncio.gather(
        fresh_store.read(left_open), fresh_store.read(broken), fresh_store.run(_insert, fresh_store, "kept"),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], ValueError) and results[2] == "kept"
    assert await fresh_store.read(_names, fresh_store) == ["kept"]  # the dangling insert was rolled back
