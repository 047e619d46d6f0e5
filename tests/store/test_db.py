"""Journal durability settings, migrations, atomic transactions, and 503 when it cannot commit."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from bridge.store import db, upkeep
from bridge.store.checkpoint import Checkpointer
from bridge.store.db import Store, connect, iso, transaction
from bridge.store.migrations import MIGRATIONS, JournalTooNew, migrate
from tests.conftest import GUARD, Daemon, free_port, journal_floor


async def test_pragmas_are_wal_full_and_an_explicit_busy_timeout(fresh_store: Store) -> None:
    def read(conn: sqlite3.Connection) -> tuple[str, int, int]:
        return (
            conn.execute("PRAGMA journal_mode").fetchone()[0],
            conn.execute("PRAGMA synchronous").fetchone()[0],
            conn.execute("PRAGMA busy_timeout").fetchone()[0],
        )

    assert await fresh_store.run(read, fresh_store.conn) == ("wal", 2, 0)  # the store retries a lock itself
    assert fresh_store.busy_timeout_ms == 1500  # ... for this long (tests/reliability/test_backpressure.py)
    assert fresh_store.peek(read) == ("wal", 2, 1500)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files through /proc")
async def test_a_large_job_keeps_its_savepoint_copies_in_memory(fresh_store: Store) -> None:
    conn = fresh_store.conn

    def fill() -> None:
        for n in range(300):
            conn.execute("INSERT INTO webhooks (id, received_at, method, path, headers, body, status_code) "
                         "VALUES (?, '2026-01-01', 'POST', '/', '{}', ?, 200)", (f"w{n}", "x" * 1000))  # fmt: skip

    def rewrite_inside_a_savepoint() -> list[str]:
        with transaction(conn), transaction(conn):  # the inner one is a savepoint: it copies what it changes
            conn.execute("UPDATE webhooks SET body = body || 'y'")  # about 300 KiB of pages: past the 64 KiB spill
            return [str(fd.readlink()) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink()]

    await fresh_store.run(fill)
    opened = await fresh_store.run(rewrite_inside_a_savepoint)
    assert not [name for name in opened if "etilqs" in name], f"SQLite spilled to a temporary file: {opened}"


def test_migrations_apply_once_and_are_idempotent(tmp_path: Path) -> None:
    conn = connect(tmp_path / "j.db")
    db = sqlite_utils.Database(conn)
    assert migrate(db) == len(MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    assert {"webhooks", "signals", "orders", "executions"} <= set(db.table_names())


def test_a_failed_transaction_leaves_no_half_written_rows(tmp_path: Path) -> None:
    conn = connect(tmp_path / "j.db")
    migrate(sqlite_utils.Database(conn))
    with pytest.raises(sqlite3.IntegrityError), transaction(conn):
        conn.execute(
            "INSERT INTO paper_accounts (broker, cash) VALUES ('a', '1')",
        )
        conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES ('a', '2')")  # duplicate key
    assert conn.execute("SELECT COUNT(*) FROM paper_accounts").fetchone()[0] == 0


def test_a_locked_journal_answers_503_and_stores_nothing(make_daemon: Any) -> None:
    daemon = make_daemon()
    blocker = sqlite3.connect(daemon.db, timeout=5)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    try:
        response = daemon.post({"ticker": "SQ", "action": "buy"})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503
    assert response.json()["messageCode"] == "unavailable"
    assert daemon.api("signals") == []
    assert daemon.api("orders") == []
    accepted = daemon.post({"ticker": "SQ", "action": "buy"})  # the sender's retry succeeds once it clears
    assert accepted.status_code == 200
    assert [s["id"] for s in daemon.api("signals")] == [accepted.json()["id"]]


async def test_the_wal_is_checkpointed_off_the_commit_path(fresh_store: Store) -> None:
    def fill(i: int) -> None:
        with transaction(fresh_store.conn):
            fresh_store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, ?)", (f"b{i}", "9" * 8000))

    assert fresh_store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 1000, "only a backstop in commits"
    for i in range(400):  # about 1,000 pages of WAL: past SQLite's own threshold
        await fresh_store.run(fill, i)
    checkpointer = fresh_store.checkpointer
    assert checkpointer is not None
    runs = checkpointer.runs
    deadline = asyncio.get_running_loop().time() + GUARD
    while checkpointer.runs < runs + 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    other = sqlite3.connect(fresh_store.path)
    try:
        busy, frames, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        other.close()
    assert checkpointer.runs >= runs + 2 and busy == 0 and frames == done, "every frame is already in the database"
    assert frames > 0, "the WAL was not reset: the checkpoints copied it, commits did not"


async def test_a_reader_that_keeps_the_wal_from_being_checkpointed_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Checkpointer, "STUCK_FRAMES", 200, raising=False)  # the real one is megabytes of WAL
    store = Store(tmp_path / "j.db")
    await store.open()
    reader = sqlite3.connect(store.path, isolation_level=None)  # `sqlite3 bridge.db` with a transaction open
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM webhooks").fetchone()

    def fill(i: int) -> None:
        with transaction(store.conn):
            store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, ?)", (f"b{i}", "9" * 8000))

    caplog.set_level("WARNING", logger="bridge.store")
    try:
        for i in range(150):  # some 450 pages of WAL the checkpoint may not copy past the reader's snapshot
            await store.run(fill, i)
        deadline = asyncio.get_running_loop().time() + GUARD
        while "cannot be checkpointed" not in caplog.text and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        reader.close()
        await store.close()
    # Before, nothing said why the WAL kept growing (past `database_max_mb`, which counts the database file only),
    # until the disk was full and every webhook was answered 503.
    assert "cannot be checkpointed" in caplog.text and "read transaction open" in caplog.text


async def test_a_wal_grown_behind_a_long_read_is_cut_back_once_it_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real limit is 64 MiB, far more WAL than a test writes (raising=False: it fails on the assertion without it).
    monkeypatch.setattr(db, "WAL_SIZE_LIMIT", 128 * 1024, raising=False)
    store = Store(tmp_path / "j.db")
    await store.open()
    wal = Path(f"{store.path}-wal")
    reader = sqlite3.connect(store.path, isolation_level=None)  # a backup tool's read transaction
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM webhooks").fetchone()

    def fill(i: int) -> None:
        with transaction(store.conn):
            store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, ?)", (f"b{i}", "9" * 8000))

    try:
        for i in range(150):  # some 450 pages of WAL that no checkpoint may copy past the reader's snapshot
            await store.run(fill, i)
        grown = wal.stat().st_size
        reader.close()
        checkpointer = store.checkpointer
        assert checkpointer is not None
        runs = checkpointer.runs
        deadline = asyncio.get_running_loop().time() + GUARD
        while checkpointer.runs < runs + 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await store.run(fill, 1000)  # the first commit after the WAL was copied whole starts it over
        kept = wal.stat().st_size
    finally:
        await store.close()
    assert grown > 1024 * 1024
    # Before, it stayed at its largest until the daemon stopped: disk a small server may need for the journal.
    assert kept <= 128 * 1024, f"the WAL kept {kept} bytes after it started over"


async def test_without_a_sync_per_commit_the_wal_is_checkpointed_more_often(tmp_path: Path) -> None:
    """With `normal`, each checkpoint's sync flushes all the WAL written since the last one: keep that small."""
    intervals = {}
    for durability in ("normal", "full"):
        store = Store(tmp_path / f"{durability}.db", durability=durability)
        await store.open()
        try:
            assert store.checkpointer is not None
            intervals[durability] = store.checkpointer.interval
        finally:
            await store.close()
    assert intervals == dict(Checkpointer.INTERVAL) and intervals["normal"] < intervals["full"]


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis takes naive bounds
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(minutes=330))]),
    )
)
def test_a_stored_timestamp_is_the_utc_isoformat_with_microseconds(moment: datetime) -> None:
    expected = moment.astimezone(UTC).isoformat(timespec="microseconds")
    assert iso(moment) == expected
    assert iso(moment) == expected  # the second's text, made once, is reused right


async def test_a_write_to_a_full_journal_fails_saying_so_and_pruning_makes_room_again(tmp_path: Path) -> None:
    floor = journal_floor(tmp_path / "j.db")
    store = Store(tmp_path / "j.db", max_bytes=floor + 64 * 1024)  # `database_max_mb`
    await store.open()

    def add(n: int) -> None:
        with transaction(store.conn):  # a savepoint inside the batch's transaction, which SQLITE_FULL aborts
            store.conn.execute(
                "INSERT INTO webhooks (id, received_at, method, path, headers, body, status_code) "
                "VALUES (?, '2000-01-01', 'POST', '/', '{}', ?, 401)",
                (f"w{n}", "x" * 2000),
            )

    stored = 0
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):  # not "no such savepoint: tx"
        while stored < 1000:
            await store.run(add, stored)
            stored += 1
    assert stored > 5
    assert (await store.run(upkeep.prune, store.conn, "2001-01-01", 2000))["webhooks"] == stored
    await store.run(add, stored)  # the room pruning freed takes new writes
    await store.close()


async def test_a_write_that_fills_the_journal_fails_alone_and_the_batch_before_it_is_still_committed(
    tmp_path: Path,
) -> None:
    floor = journal_floor(tmp_path / "j.db")
    store = Store(tmp_path / "j.db", max_bytes=floor + 64 * 1024)
    await store.open()

    def add(name: str, size: int) -> str:
        with transaction(store.conn):
            store.conn.execute("INSERT INTO webhooks (id, received_at, method, path, headers, body, status_code) "
                               "VALUES (?, '2000-01-01', 'POST', '/', '{}', ?, 401)", (name, "x" * size))  # fmt: skip
        return name

    # One batch: two small writes, then one larger than the room left (SQLITE_FULL aborts SQLite's whole
    # transaction, the small writes' rows with it), then another small one.
    results = await asyncio.gather(
        store.run(add, "small-1", 100),
        store.run(add, "small-1", 100),  # fails on its own (the id is taken): it hears its own error
        store.run(add, "small-2", 100),
        store.run(add, "too-big", 200 * 1024),
        store.run(add, "small-3", 100),
        return_exceptions=True,
    )
    assert results[0] == "small-1" and results[2] == "small-2", "failed for another job's SQLITE_FULL"
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert isinstance(results[3], sqlite3.OperationalError) and "full" in str(results[3])
    assert results[4] == "small-3"
    committed = {r[0] for r in sqlite3.connect(store.path).execute("SELECT id FROM webhooks")}
    assert committed == {"small-1", "small-2", "small-3"}
    await store.close()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_journal_deleted_or_replaced_while_the_store_runs_refuses_every_write(tmp_path: Path, how: str) -> None:
    store = Store(tmp_path / "data" / "j.db")
    await store.open()

    def note(n: int) -> None:
        with transaction(store.conn):
            store.conn.execute("INSERT INTO webhooks (id, received_at, method, path, headers, status_code) "
                               "VALUES (?, '2000-01-01', 'POST', '/', '{}', 200)", (f"w{n}",))  # fmt: skip

    await store.run(note, 1)
    moved = tmp_path / "data-moved"
    (tmp_path / "data").rename(moved)  # `rm -rf data/` while the daemon runs, as far as the path can tell
    if how == "replaced":
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "j.db").write_bytes((moved / "j.db").read_bytes())  # a restored copy
    # Before, the write went on into the file no longer at the path and was answered as durable: a restart
    # then opened a journal without it (the signal, its orders: nothing to recover or follow).
    with pytest.raises(sqlite3.OperationalError, match="no longer the file at"):
        await store.run(note, 2)
    await store.close()


def _written_by_a_newer_version(path: Path) -> None:
    with sqlite3.connect(path) as db:
        migrate(sqlite_utils.Database(db))
        db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")  # a later release added a step


def test_a_journal_of_a_newer_version_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    _written_by_a_newer_version(path)
    with pytest.raises(JournalTooNew, match=r"newer version of the bridge .* upgrade the bridge"):
        Store(path).open_sync()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1, "never downgraded"


def test_the_daemon_does_not_start_on_a_journal_of_a_newer_version(make_daemon: Any) -> None:
    daemon = make_daemon(start=False)
    _written_by_a_newer_version(daemon.db)
    with pytest.raises(RuntimeError, match="daemon exited") as exited:
        daemon.start()
    assert f"schema version {len(MIGRATIONS) + 1}, written by a newer version of the bridge" in str(exited.value)


def test_a_daemon_that_never_started_exits_with_a_failure_status(make_daemon: Any) -> None:
    """systemd's Restart=on-failure restarts only a failure: a start that did not serve must say it failed."""
    daemon = make_daemon(start=False)
    _written_by_a_newer_version(daemon.db)
    with pytest.raises(RuntimeError, match="daemon exited"):
        daemon.start()
    assert daemon.process is not None and daemon.process.wait(timeout=GUARD) == 3


def test_a_second_daemon_on_the_same_journal_stops_before_it_reads_it(make_daemon: Any) -> None:
    """Both would recover, poll and cancel the same orders: the demo left running, or a manual start beside systemd."""
    first = make_daemon()
    second = Daemon(config=first.config, port=free_port())
    with pytest.raises(RuntimeError, match="daemon exited"):
        second.start()
    assert first.process is not None
    assert (f"another bridge daemon (pid {first.process.pid}) is serving the journal {first.db}: stop it first"
            in second.output())  # fmt: skip
    assert second.process is not None and second.process.wait(timeout=GUARD) == 1
    assert first.post({"ticker": "SQ", "action": "buy", "price": 10}).status_code == 200  # the first serves on
