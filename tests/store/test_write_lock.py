"""Two stores (two processes' writers) on one journal take turns through the write lock, without polling."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from bridge.store.db import Store
from tests.store.accounts import count_accounts, insert_account


async def test_a_write_waits_for_the_lock_held_elsewhere_and_runs_the_moment_it_is_released(tmp_path: Path) -> None:
    store = Store(tmp_path / "journal.db")
    await store.open()
    holder = os.open(store.path.with_name("journal.db.lock"), os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process is in the middle of a write transaction
        write = asyncio.ensure_future(store.run(insert_account, store, "waits"))
        await asyncio.sleep(0.2)
        assert not write.done() and count_accounts(store.path) == 0  # it did not slip in beside the holder
        loop = asyncio.get_running_loop()
        released = loop.time()
        fcntl.flock(holder, fcntl.LOCK_UN)
        await asyncio.wait_for(write, timeout=2)
        # Woken by the release, not by a poll: well inside SQLite's first busy retries (which start at 5 ms here,
        # and this holder never took SQLite's lock at all, so only our lock could have held the write back).
        assert count_accounts(store.path) == 1
        assert loop.time() - released < 1.0
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
