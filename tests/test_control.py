"""`bridge halt|resume|cancel` straight into the journal: a write that fails says so in one line, never half-said."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.halt import read_state
from bridge.store.db import Store
from tests.conftest import free_port, write_config


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A config (no daemon answers at its port) whose journal another process holds the write lock of."""
    config = write_config(tmp_path, port=free_port())
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    store.close_sync()
    holder = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as a daemon stuck in a write would, or a disk that takes no more
    try:
        yield config
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize(("command", "unchanged"), [("halt", "NOT halted"), ("resume", "NOT resumed")])
def test_a_halt_or_resume_the_journal_cannot_take_says_it_did_not_happen(
    locked: Path, capsys: pytest.CaptureFixture[str], command: str, unchanged: str
) -> None:
    # A traceback ending in "database is locked" left the operator to guess whether the kill switch was set.
    assert main([command, "--config", str(locked)]) == 1
    err = capsys.readouterr().err
    assert unchanged in err and "database is locked" in err and str(locked.parent / "bridge.db") in err, err
    assert "Traceback" not in err
    conn = sqlite3.connect(locked.parent / "bridge.db")
    conn.row_factory = sqlite3.Row
    assert not read_state(conn).halted
    conn.close()


def test_a_cancel_the_journal_cannot_take_says_nothing_was_canceled(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cancel", "some-signal", "--config", str(locked)]) == 1
    err = capsys.readouterr().err
    assert "nothing was canceled" in err and "database is locked" in err, err


def test_bridge_positions_on_a_journal_it_cannot_lock_says_so_in_one_line(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The paper broker's book is read through a store opened as the daemon opens it, which takes the write lock
    # for a moment: held elsewhere past the wait, that was a sqlite3 traceback.
    assert main(["positions", "--config", str(locked)]) == 1
    err = capsys.readouterr().err
    assert "database is locked" in err and str(locked.parent / "bridge.db") in err and "retry" in err, err


def test_a_halt_that_made_a_new_journal_says_a_running_daemon_is_not_halted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's environment sets BRIDGE_DB; this shell does not, so the default names a file no daemon uses.
    # "trading halted" alone read as done while the daemon went on trading on its own journal.
    monkeypatch.delenv("BRIDGE_DB", raising=False)
    config = write_config(tmp_path, port=free_port())
    config.write_text(config.read_text().replace("database: bridge.db", "database: ${BRIDGE_DB:-bridge.db}"))
    config.write_text(config.read_text().replace("admin_token:", "admin_token: ${BRIDGE_ADMIN:-}  #"))
    assert main(["halt", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "is new" in out and "NOT halted" in out and "`database`" in out, out
    assert main(["halt", "--config", str(config)]) == 0  # the journal there now: no such warning again
    assert "NOT" not in capsys.readouterr().out
