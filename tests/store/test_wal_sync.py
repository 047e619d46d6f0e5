"""`durability: full` with two processes writing the journal: the store syncs the WAL after COMMIT, with the
write lock already let go, and answers a commit's callers only once that sync is done (or says it failed)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.store.db import Store
from tests.conftest import GUARD
from tests.store.accounts import count_accounts, insert_account


class WalGate:
    """Stands in for `os.fsync`: a sync of the journal's WAL file waits for `release` (or raises `error`)."""

    def __init__(self, wal: Path, real: Callable[[int], None]) -> None:
        self.wal, self.real = wal, real
        self.entered, self.opened = threading.Event(), threading.Event()
        self.error: OSError | None = None
        self.synced: list[int] = []  # inodes of the WAL syncs let through

    def __call__(self, fd: int) -> None:
        inode = os.fstat(fd).st_ino
        if self.wal.exists() and inode == self.wal.stat().st_ino:
            self.entered.set()
            if not self.opened.wait(timeout=GUARD):
                raise AssertionError("the gate was never opened")
            if self.error is not None:
                raise self.error
            self.synced.append(inode)
        self.real(fd)


@pytest.fixture
def gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WalGate]:
    wal_gate = WalGate(tmp_path / "journal.db-wal", os.fsync)
    monkeypatch.setattr(os, "fsync", wal_gate)
    yield wal_gate
    wal_gate.opened.set()  # never leave the commit thread waiting


def lock_is_free(path: Path) -> bool:
    """Whether another process could take the journal's write lock right now."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing the descriptor lets go of the lock, if it was taken
    return True


async def test_a_commit_is_answered_only_after_the_wal_sync_that_runs_with_the_lock_let_go(
    tmp_path: Path, gate: WalGate
) -> None:
    store = Store(tmp_path / "journal.db", durability="full", shared=True)
    await store.open()
    try:
        write = asyncio.ensure_future(store.run(insert_account, store, "synced"))
        assert await asyncio.to_thread(gate.entered.wait, GUARD), "the WAL was never synced after the COMMIT"
        await asyncio.sleep(0.05)
        assert not write.done(), "the caller heard of its commit before the commit was on the disk"
        assert count_accounts(store.path) == 1  # committed (readers see it) ...
        assert lock_is_free(store.path)  # ... and the other process may write while this one syncs
        gate.opened.set()
        assert await asyncio.wait_for(write, GUARD) == "synced"
        assert gate.synced == [(tmp_path / "journal.db-wal").stat().st_ino]
    finally:
        gate.opened.set()
        await store.close()


async def test_a_failed_wal_sync_fails_its_callers_and_every_write_after_it(tmp_path: Path, gate: WalGate) -> None:
    store = Store(tmp_path / "journal.db", durability="full", shared=True)
    await store.open()
    try:
        gate.error = OSError(5, "Input/output error")
        gate.opened.set()
        with pytest.raises(sqlite3.OperationalError, match="could not be synced"):
            await asyncio.wait_for(store.run(insert_account, store, "unsure"), GUARD)
        # Its rows are visible, maybe not on the disk: nothing may build on them (a resend answered
        # "duplicate" of a signal never executed), so every later write is refused until a restart.
        gate.error = None
        with pytest.raises(sqlite3.OperationalError, match="restart the daemon"):
            await asyncio.wait_for(store.run(insert_account, store, "later"), GUARD)
        assert count_accounts(store.path) == 1 and lock_is_free(store.path)
        assert await asyncio.wait_for(store.read(count_accounts, store.path), GUARD) == 1  # reads still answer
    finally:
        await store.close()


async def test_durability_normal_does_not_sync_each_commit(tmp_path: Path, gate: WalGate) -> None:
    store = Store(tmp_path / "journal.db", durability="normal", shared=True)
    await store.open()
    try:
        assert await asyncio.wait_for(store.run(insert_account, store, "fast"), GUARD) == "fast"
        assert not gate.entered.is_set()
    finally:
        await store.close()
