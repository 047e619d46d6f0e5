"""Two stores (two processes' writers) on one journal take turns through the write lock, without polling."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from bridge.store import writelock
from bridge.store.db import Store
from tests.conftest import GUARD
from tests.store.accounts import count_accounts, insert_account


class FlockSpy:
    """`fcntl` as the store's write lock sees it: the OS still locks, and each call the store makes is recorded."""

    LOCK_EX, LOCK_NB, LOCK_UN = fcntl.LOCK_EX, fcntl.LOCK_NB, fcntl.LOCK_UN

    def __init__(self) -> None:
        self.calls: list[str] = []  # "busy" (a try found it taken), "took", "wait" (a blocking take began), ...
        self._changed = threading.Condition()

    def note(self, call: str) -> None:
        """Record a call (the test's own "released" too, so the order of the two sides shows)."""
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def flock(self, fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX:
            self.note("wait")
            fcntl.flock(fd, operation)
            self.note("woken")
        elif operation & fcntl.LOCK_NB:
            try:
                fcntl.flock(fd, operation)
            except BlockingIOError:
                self.note("busy")
                raise
            self.note("took")
        else:
            fcntl.flock(fd, operation)
            self.note("unlock")

    def wait_calls(self, count: int) -> list[str]:
        """The calls once there are `count` of them (under GUARD: a wait for the outcome, never a stopwatch)."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= count, GUARD), self.calls
            return list(self.calls)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> FlockSpy:
    """Record the store's calls on its lock file (the test's own holder uses the real `fcntl`)."""
    spy = FlockSpy()
    monkeypatch.setattr(writelock, "fcntl", spy)
    return spy


async def test_a_write_waits_for_the_lock_held_elsewhere_and_runs_the_moment_it_is_released(
    tmp_path: Path, spy: FlockSpy
) -> None:
    store = Store(tmp_path / "journal.db")
    await store.open()
    holder = os.open(store.path.with_name("journal.db.lock"), os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process is in the middle of a write transaction
        write = asyncio.ensure_future(store.run(insert_account, store, "waits"))
        # It tried the lock, found it taken, and now waits for it in one blocking take (no poll: the next
        # call would be another try).
        assert await asyncio.to_thread(spy.wait_calls, 2) == ["busy", "wait"]
        assert not write.done() and count_accounts(store.path) == 0  # it did not slip in beside the holder
        spy.note("released")
        fcntl.flock(holder, fcntl.LOCK_UN)
        await asyncio.wait_for(write, timeout=GUARD)
        assert count_accounts(store.path) == 1
        # Woken by the release, not by a poll: the one blocking take, begun while the lock was held, is what the
        # release ended, and the write ran under it. (This holder never took SQLite's lock at all, so only our
        # lock could have held the write back.)
        assert spy.calls == ["busy", "wait", "released", "woken", "unlock"]
        # Once the write is done the lock is free again for the other process.
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(holder, fcntl.LOCK_UN)
    finally:
        os.close(holder)
        await store.close()


async def test_two_stores_on_one_journal_commit_every_write_of_both(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "journal.db"), Store(tmp_path / "journal.db")
    await first.open()
    await second.open()
    try:
        writes = [store.run(insert_account, store, f"{name}{i}") for i in range(200)
                  for name, store in (("a", first), ("b", second))]  # fmt: skip
        results = await asyncio.gather(*writes, return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []  # no "database is locked", no lost write
        assert count_accounts(first.path) == 400
    finally:
        await first.close()
        await second.close()


async def test_a_lock_held_past_busy_timeout_fails_the_waiting_writes_and_the_store_recovers(
    tmp_path: Path, spy: FlockSpy
) -> None:
    store = Store(tmp_path / "journal.db", busy_timeout_ms=300)
    await store.open()
    holder = os.open(store.path.with_name("journal.db.lock"), os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process stopped (SIGSTOP) in the middle of its write
        first = asyncio.ensure_future(store.run(insert_account, store, "first"))
        await asyncio.to_thread(spy.wait_calls, 2)  # its batch waits for the lock
        second = asyncio.ensure_future(store.run(insert_account, store, "second"))  # queued behind the first
        results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), timeout=GUARD)
        # Each answered as SQLite's own busy timeout answers (a webhook gets 503), not left hanging.
        assert [type(r) for r in results] == [sqlite3.OperationalError] * 2
        assert all("locked" in str(r) for r in results)
        assert count_accounts(store.path) == 0
        fcntl.flock(holder, fcntl.LOCK_UN)  # the other process goes on
        await asyncio.wait_for(store.run(insert_account, store, "after"), timeout=GUARD)
        assert count_accounts(store.path) == 1  # only the write made after the stall: the failed ones never ran
    finally:
        os.close(holder)
        await store.close()


async def test_writes_queued_while_the_lock_is_waited_for_join_the_waiting_batch(tmp_path: Path, spy: FlockSpy) -> None:
    store = Store(tmp_path / "journal.db")
    await store.open()
    commits: list[float] = []
    store.commit_observers.append(commits.append)
    holder = os.open(store.path.with_name("journal.db.lock"), os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # the intake process is in the middle of its write
        first = asyncio.ensure_future(store.run(insert_account, store, "first"))
        assert await asyncio.to_thread(spy.wait_calls, 2) == ["busy", "wait"]  # its batch now waits for the lock
        later = [asyncio.ensure_future(store.run(insert_account, store, name)) for name in ("second", "third")]
        seen = asyncio.ensure_future(store.read(count_accounts, store.path))
        await asyncio.sleep(0)  # each task's first step runs: its job is queued (behind the waiting batch)
        assert not any(job.done() for job in (first, *later, seen))
        fcntl.flock(holder, fcntl.LOCK_UN)
        done = await asyncio.wait_for(asyncio.gather(first, *later), timeout=GUARD)
        assert done == ["first", "second", "third"]
        assert await asyncio.wait_for(seen, timeout=GUARD) == 0  # a read sees committed rows only, as in any batch
        assert len(commits) == 1  # one turn of the lock, one COMMIT: the later writes did not wait for another
        other = sqlite3.connect(store.path)  # and they ran in the order they were queued
        try:
            order = [row[0] for row in other.execute("SELECT broker FROM paper_accounts ORDER BY rowid")]
        finally:
            other.close()
        assert order == ["first", "second", "third"]
    finally:
        os.close(holder)
        await store.close()
