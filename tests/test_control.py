"""`bridge halt|resume|cancel` straight into the journal: a write that fails says so in one line, never half-said."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge import control
from bridge.cli import main
from bridge.halt import read_state
from bridge.store.db import Store
from bridge.store.migrations import MIGRATIONS
from tests.conftest import GUARD, Daemon, free_port, write_config
from tests.notify.receiver import Bystander


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """halt, resume and cancel wait for a running daemon's answer longer than the test's own guards.

    Else the command's own 10 s (control.ASK_TIMEOUT, unchanged for the operator) ran out on a loaded machine
    that left the daemon unscheduled that long, and the test saw "did not confirm" where the daemon answers.
    A daemon not listening still fails the connection at once: no test waits longer for that.
    """
    monkeypatch.setattr(control, "ASK_TIMEOUT", 3 * GUARD)


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


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


# Started at the start of every Python process given it (as `sitecustomize`): the daemon of the version before.
@contextmanager
def newer_cli() -> Iterator[None]:
    """This process's CLI as a version one schema step newer than the daemon on the journal (the installed one).

    Not the daemon run with the last step left out: this version's code writes the columns that step added.
    """
    MIGRATIONS.append("CREATE TABLE newer_version_step (id INTEGER);")  # the list control.py and migrate() read
    try:
        yield
    finally:
        MIGRATIONS.pop()


@pytest.mark.parametrize("admin", ["", "admin_token: wrong-" + "0123456789abcdef\n"])
@pytest.mark.usefixtures("patient")
def test_a_halt_and_a_resume_leave_the_schema_of_an_older_daemon_running_on_the_journal_alone(
    make_daemon: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], admin: str
) -> None:
    """An upgraded CLI's halt, written into the journal (no admin token here, or one the daemon refuses), must not
    migrate the schema under the older daemon writing that journal: it writes the flag alone, which that daemon
    reads."""
    daemon = make_daemon()
    older = len(MIGRATIONS)
    assert _version(daemon.db) == older
    cli = tmp_path / "cli.yaml"  # the operator's shell: the same journal, no admin token (or a wrong one)
    cli.write_text(f"server:\n  host: 127.0.0.1\n  port: {daemon.port}\n  {admin}database: bridge.db\n")
    with newer_cli():
        assert main(["halt", "--config", str(cli), "--reason", "drill"]) == 0, capsys.readouterr().err
    assert _version(daemon.db) == older
    health = httpx.get(f"{daemon.base}/health", timeout=GUARD).json()
    assert health["halted"] is True and health["kill_switch"]["reason"] == "drill", health
    if not admin:  # a resume is never forced past a daemon that refused it
        with newer_cli():
            assert main(["resume", "--config", str(cli)]) == 0, capsys.readouterr().err
        assert _version(daemon.db) == older
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is False
    daemon.stop()
    assert "Traceback" not in daemon.output()


@pytest.mark.parametrize(("version", "says"), [(len(MIGRATIONS) + 1, "newer version"), (3, "kill switch")])
@pytest.mark.parametrize(("command", "unchanged"), [("halt", "NOT halted"), ("resume", "NOT resumed")])
def test_a_halt_or_resume_into_a_journal_it_cannot_write_safely_says_it_did_not_happen_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: int, says: str, command: str, unchanged: str
) -> None:
    """A journal a newer version wrote, or one from before the kill switch (its daemon reads no flag)."""
    config = write_config(tmp_path, port=free_port())
    db = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None)
    for step in MIGRATIONS[:3]:
        db.executescript(step)
    db.execute(f"PRAGMA user_version={version}")
    db.close()
    assert main([command, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert unchanged in err and says in err and str(tmp_path / "bridge.db") in err and "Traceback" not in err, err
    assert _version(tmp_path / "bridge.db") == version


PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.mark.usefixtures("patient")
def test_halt_resume_and_cancel_never_hand_the_admin_token_to_a_proxy_the_environment_names(
    make_daemon: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shell behind a proxy (HTTPS_PROXY set for pip and curl) sent the admin token there with every halt, and
    the proxy, which cannot reach this host's loopback, answered for the daemon: a resume failed, a halt was not
    confirmed. The daemon is asked directly."""
    with Bystander() as proxy:
        daemon = make_daemon()
        for name in PROXIES:
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert main(["halt", "--config", str(daemon.config)]) == 0
        assert main(["resume", "--config", str(daemon.config)]) == 0
        assert main(["cancel", "no-such-signal", "--config", str(daemon.config)]) == 1
        said = capsys.readouterr()
    assert proxy.received == [], said
    assert "confirmed" in said.out and "no-such-signal" in said.err, said


def test_a_daemon_that_serves_the_journal_but_not_at_the_configs_port_is_halted_and_never_resumed_unasked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bridge run --port`, or server.port edited since the start (a reload keeps the old one): nothing answers at
    the config's port, yet the daemon reads the journal's flag. A halt written there stops it at once; a resume
    would start it trading again without its confirmation, and was told as "in force from its next start"."""
    config = write_config(tmp_path, port=free_port())
    daemon = Daemon(config=config, port=free_port()).start()  # listens elsewhere than the config says
    try:
        assert main(["halt", "--config", str(config), "--reason", "drill"]) == 0
        said = capsys.readouterr().out
        assert "next start" not in said and "before its next order" in said, said
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is True
        assert main(["resume", "--config", str(config)]) == 1
        said = capsys.readouterr().err
        assert "NOT resumed" in said and "serves the journal" in said, said
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is True
    finally:
        daemon.stop()
    assert main(["resume", "--config", str(config)]) == 0  # no daemon running: the journal is all there is
    assert "next start" in capsys.readouterr().out


def test_a_cancel_into_the_journal_of_an_older_daemon_leaves_its_schema_alone_and_says_nothing_was_canceled(
    make_daemon: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no daemon answering, an upgraded CLI's cancel opened the journal as a daemon does, migrating it to its
    own schema: the older install's daemon, started again, then refused it as written by a newer version."""
    daemon = make_daemon()
    daemon.stop()  # the older daemon made its journal, and is down: the CLI writes into it alone
    older = len(MIGRATIONS)
    assert _version(daemon.db) == older
    with newer_cli():
        assert main(["cancel", "some-signal", "--config", str(daemon.config)]) == 1
    err = capsys.readouterr().err
    assert "nothing was canceled" in err and f"schema version {older}" in err and "Traceback" not in err, err
    assert _version(daemon.db) == older
    daemon.start()  # the older install still runs on its journal
    assert httpx.get(f"{daemon.base}/health", timeout=GUARD).status_code == 200
    daemon.stop()
    assert "Traceback" not in daemon.output()


@pytest.mark.parametrize("version", [len(MIGRATIONS) + 1, 3])
def test_a_cancel_into_a_journal_at_another_schema_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: int
) -> None:
    config = write_config(tmp_path, port=free_port())
    db = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None)
    for step in MIGRATIONS[:3]:
        db.executescript(step)
    db.execute(f"PRAGMA user_version={version}")
    db.close()
    assert main(["cancel", "some-signal", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "nothing was canceled" in err and str(tmp_path / "bridge.db") in err and "Traceback" not in err, err
    assert _version(tmp_path / "bridge.db") == version
