"""`durability:` sets SQLite's synchronous mode of the daemon's journal connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config.load import load_config
from bridge.service import Bridge
from tests.conftest import write_config


@pytest.mark.parametrize(("setting", "synchronous"), [("full", 2), ("normal", 1)])
async def test_the_durability_setting_reaches_the_journal_connection(
    tmp_path: Path, setting: str, synchronous: int
) -> None:
    loaded = load_config(write_config(tmp_path, extra=f"durability: {setting}\n"))
    store = Bridge(loaded).store
    await store.open()
    try:
        assert await store.run(lambda: store.conn.execute("PRAGMA synchronous").fetchone()[0]) == synchronous
    finally:
        await store.close()


def test_durability_defaults_to_full(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path)).config.durability == "full"
