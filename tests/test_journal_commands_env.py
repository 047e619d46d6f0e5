"""`bridge halt|resume|cancel|signals|orders` need the journal only: never a variable the rest of the config reads.

The daemon has its tokens and broker keys from systemd's environment file; an operator's shell usually has none of
them, and the kill switch must work from there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.halt import read_state
from tests.conftest import free_port

UNSET = ("SQ_TOKEN", "BRIDGE_ADMIN_TOKEN", "ALPACA_KEY", "BRIDGE_DB", "BRIDGE_PORT")


def write(directory: Path, admin: str = "${BRIDGE_ADMIN_TOKEN}", database: str = "bridge.db",
          port: str | None = None) -> Path:  # fmt: skip
    """A config whose secrets come from the environment, as the example's do."""
    path = directory / "config.yaml"
    path.write_text(
        f"server:\n  host: 127.0.0.1\n  port: {port or free_port()}\n  admin_token: {admin}\n"
        f"database: {database}\n"
        "brokers:\n  paper:\n    plugin: paper\n    options: {cash: 100000}\n"
        "strategies:\n  sq:\n    token: ${SQ_TOKEN}\n    subscriptions:\n      - broker: paper\n"
    )
    return path


@pytest.fixture(autouse=True)
def bare_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's shell: none of the daemon's variables."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)


def halted(db: Path) -> bool:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return read_state(conn).halted
    finally:
        conn.close()


def test_halt_and_resume_work_from_a_shell_without_the_daemons_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path)
    assert main(["halt", "--config", str(config), "--reason", "drill"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert halted(tmp_path / "bridge.db")
    # The daemon could not be asked (its admin token is not known here): say which variable, so it can be exported.
    assert "BRIDGE_ADMIN_TOKEN" in out and "trading halted in" in out, out
    assert main(["resume", "--config", str(config)]) == 0, capsys.readouterr().err
    assert not halted(tmp_path / "bridge.db")


def test_listing_and_cancel_work_from_a_shell_without_the_daemons_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, admin="${BRIDGE_ADMIN_TOKEN:-}")
    assert main(["halt", "--config", str(config)]) == 0  # creates the journal
    capsys.readouterr()
    assert main(["signals", "--config", str(config)]) == 0, capsys.readouterr().err
    assert main(["orders", "--config", str(config), "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["cancel", "no-such-signal", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "no-such-signal" in err and "SQ_TOKEN" not in err, err


def test_a_journal_path_read_from_a_missing_variable_names_it_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, database="${BRIDGE_DB}")
    assert main(["halt", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "BRIDGE_DB" in err and "export" in err and "database" in err, err
    assert "SQ_TOKEN" not in err, "only what this command needs is asked for"
    assert list(tmp_path.iterdir()) == [config], "no journal made anywhere"


def test_a_port_read_from_a_missing_variable_still_halts_through_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Where the daemon listens is not known here: it is not asked, and the flag goes into the journal it reads.
    config = write(tmp_path, admin="a" * 32, port="${BRIDGE_PORT}")
    assert main(["halt", "--config", str(config)]) == 0, capsys.readouterr().err
    assert "BRIDGE_PORT" in capsys.readouterr().out
    assert halted(tmp_path / "bridge.db")


def test_check_stays_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path)
    assert main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "SQ_TOKEN" in err and "BRIDGE_ADMIN_TOKEN" in err, err


def test_an_error_elsewhere_in_the_file_does_not_stop_a_halt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An edit whose reload failed leaves the daemon trading on the config it had: the kill switch must still work.
    monkeypatch.setenv("SQ_TOKEN", "t" * 32)
    config = write(tmp_path, admin="${BRIDGE_ADMIN_TOKEN:-}")
    typo = "      - broker: paper\n        sizng: 1\n"
    config.write_text(config.read_text().replace("      - broker: paper\n", typo))
    assert main(["check", "--config", str(config)]) == 1 and "sizng" in capsys.readouterr().err
    assert main(["halt", "--config", str(config)]) == 0, capsys.readouterr().err
    assert halted(tmp_path / "bridge.db")


def test_replay_works_from_a_shell_without_the_tokens_and_keys_it_never_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Replay reads the journal and trades on paper: a strategy's token and a broker's keys play no part in it.
    config = write(tmp_path)
    live = "  live:\n    plugin: alpaca\n    options: {key_id: '${ALPACA_KEY}', secret_key: '${ALPACA_SECRET:-}x'}"
    config.write_text(config.read_text().replace("options: {cash: 100000}", "options: {cash: 100000}\n" + live))
    assert main(["halt", "--config", str(config)]) == 0  # creates the journal
    capsys.readouterr()
    assert main(["replay", "--config", str(config), "--json"]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert captured.out.startswith("{"), captured.out
    assert "SQ_TOKEN" in captured.err and "ALPACA_KEY" in captured.err, "say what was not read"


def test_replay_still_needs_the_journal_path_and_says_which_variable_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, database="${BRIDGE_DB}")
    assert main(["replay", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "BRIDGE_DB" in err and "export" in err and "unset-" not in err, err
