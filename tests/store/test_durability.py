"""`durability:` decides whether the daemon's journal is synced to the disk before each commit is answered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.config.load import load_config
from bridge.service import Bridge
from tests.conftest import write_config
from tests.store.test_wal_sync import WalGate


@pytest.mark.parametrize(
    ("setting", "intake_process", "synchronous", "synced_by_the_store"),
    [
        ("full", False, 2, False),  # SQLite syncs inside each COMMIT
        ("full", True, 1, True),  # the store syncs after each COMMIT, the write lock already let go
        ("normal", False, 1, False),  # nothing syncs at COMMIT (a checkpoint syncs later)
        ("normal", True, 1, False),
    ],
)
async def test_the_durability_setting_decides_how_each_commit_reaches_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, intake_process: bool, synchronous: int,
    synced_by_the_store: bool,
) -> None:  # fmt: skip
    path = write_config(tmp_path, extra=f"durability: {setting}\n")
    if intake_process:
        path.write_text(path.read_text().replace("server:\n", "server:\n  intake_process: true\n", 1))
    loaded = load_config(path)
    assert loaded.config.server.intake_process is intake_process
    store = Bridge(loaded).store
    gate = WalGate(store.path.with_name(store.path.name + "-wal"), os.fsync)
    gate.opened.set()  # let every sync through at once; only count them
    monkeypatch.setattr(os, "fsync", gate)
    await store.open()
    try:
        await store.run(lambda: store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES ('p', '1')"))
        assert bool(gate.synced) is synced_by_the_store
        assert await store.run(lambda: store.conn.execute("PRAGMA synchronous").fetchone()[0]) == synchronous
    finally:
        await store.close()


def test_durability_defaults_to_full(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path)).config.durability == "full"
