"""`bridge signals|orders|positions`: the table prints numbers as written; `--json` keeps JSON numbers.

These commands, and `bridge replay`, only read the journal: they never create or migrate it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.listing import parse_since, render_table
from bridge.store import migrations
from bridge.store.db import Store
from bridge.store.migrations import MIGRATIONS
from bridge.web.api import present
from tests.conftest import free_port, write_config

PRICE = "0.000000012345678901234567"  # more digits than a float holds, and scientific as a float (1.23...e-08)


def _journal_with_an_order(directory: Path, avg_fill_price: str) -> Path:
    """A config whose journal holds one filled order (inserted as the row the executor writes)."""
    config = write_config(directory)
    store = Store(directory / "bridge.db")
    store.open_sync()
    try:
        store.conn.execute("PRAGMA foreign_keys=OFF")  # the order alone: its signal is not what is listed
        store.conn.execute(
            "INSERT INTO orders (id, signal_id, broker, subscription, leg, seq, client_order_id, symbol, side, type,"
            " quantity, time_in_force, status, filled_quantity, avg_fill_price, created_at, updated_at) VALUES"
            " ('o1', 's1', 'paper', 'paper', 'entry', 0, 'c-1', 'SHIB/USDT', 'buy', 'market', '1000000', 'gtc',"
            " 'filled', '1000000', ?, '2026-01-05T14:30:00Z', '2026-01-05T14:30:00Z')",
            (avg_fill_price,),
        )
    finally:
        store.close_sync()
    return config


def test_bridge_orders_prints_a_small_fill_price_as_stored_and_json_keeps_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _journal_with_an_order(tmp_path, PRICE)
    assert main(["orders", "--config", str(config)]) == 0
    table = capsys.readouterr().out
    assert f" {PRICE} " in table and "e-" not in table and "1000000 " in table, table
    assert main(["orders", "--config", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["avg_fill_price"] == float(PRICE) and row["quantity"] == 1000000


@pytest.mark.parametrize(("stored", "shown"), [("0.00001234", "0.00001234"), ("5E-5", "0.00005"), ("1E+6", "1000000")])
def test_a_row_the_api_presents_prints_its_numbers_in_plain_digits(stored: str, shown: str) -> None:
    """The API turns a decimal into a JSON number (a float for 0.00001234); replay tables print such rows."""
    row = {"created_at": "2026-01-05T14:30:00Z", "symbol": "SHIB/USDT", "side": "buy", "type": "market",
           "quantity": "1000000", "status": "filled", "filled_quantity": "1000000", "avg_fill_price": stored,
           "broker": "kraken", "client_order_id": "c-1", "error": None}  # fmt: skip
    table = render_table("orders", [present(row)])
    assert f" {shown} " in table and "e-" not in table, table


@pytest.mark.parametrize("command", [["orders"], ["signals"], ["halt", "--reason", "test"]])
def test_a_command_on_a_journal_of_a_newer_version_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    config = write_config(tmp_path)
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    store.conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    store.close_sync()
    assert main([*command, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "written by a newer version of the bridge" in err and "Traceback" not in err, err


READERS = ["orders", "signals", "positions", "replay"]  # commands that only read the journal


@pytest.mark.parametrize("command", READERS)
def test_a_reading_command_on_a_journal_that_does_not_exist_says_so_and_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A mistyped `database` (or the wrong --config) is told, instead of listing a new empty journal."""
    config = write_config(tmp_path)
    assert main([command, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"no journal at {tmp_path / 'bridge.db'}: check `database` in {config}" in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize("content", [b"", b"not a database, a config pasted by mistake\n" * 20])
def test_a_listing_of_a_file_that_holds_no_journal_says_so_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    config = write_config(tmp_path)
    (tmp_path / "bridge.db").write_bytes(content)
    assert main(["orders", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"no journal at {tmp_path / 'bridge.db'}" in err and "Traceback" not in err, err
    assert (tmp_path / "bridge.db").read_bytes() == content


@pytest.mark.parametrize("command", READERS)
def test_a_reading_command_leaves_an_older_versions_journal_unmigrated_and_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """An upgraded CLI must not migrate the journal under the older daemon still running on it."""
    config = write_config(tmp_path)
    older = len(MIGRATIONS) - 1
    with monkeypatch.context() as previous_version:
        previous_version.setattr(migrations, "MIGRATIONS", MIGRATIONS[:older])
        store = Store(tmp_path / "bridge.db")
        store.open_sync()
        store.close_sync()
    assert main([command, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"the journal is at schema version {older}, this version of the bridge needs {len(MIGRATIONS)}" in err
    assert "start the daemon" in err and "Traceback" not in err, err
    conn = sqlite3.connect(tmp_path / "bridge.db")
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == older
    finally:
        conn.close()


@pytest.mark.parametrize("limit", ["-1", "0", "x"])
def test_a_limit_below_one_row_is_refused_with_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    config = _journal_with_an_order(tmp_path, "1.5")
    with pytest.raises(SystemExit) as exited:
        main(["orders", "--config", str(config), "--limit", limit])
    assert exited.value.code == 2  # argparse's usage error, not every row (SQLite reads LIMIT -1 as no limit)
    err = capsys.readouterr().err
    assert "--limit" in err and "c-1" not in err


@pytest.mark.parametrize("command", ["halt", "resume"])
def test_halt_on_a_file_that_holds_no_journal_says_so_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # No daemon answers (a free port): the switch goes into the journal, which this file is not.
    config = write_config(tmp_path, port=free_port())
    content = b"not a database, a config pasted by mistake\n" * 20
    (tmp_path / "bridge.db").write_bytes(content)
    assert main([command, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bridge.db'} is not a bridge journal" in err and "Traceback" not in err, err
    assert (tmp_path / "bridge.db").read_bytes() == content


@pytest.mark.parametrize(
    "text", ["2026-01-02T15:04:05Z", "2026-01-02t15:04:05z", "2026-01-02T15:04:05", "2026-01-02T10:04:05-05:00"]
)
def test_since_takes_an_iso_time_in_utc_unless_it_says_otherwise(text: str) -> None:
    assert parse_since(text) == datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)
    assert parse_since("2026-01-02T15:04:05+01:00") == datetime(
        2026, 1, 2, 15, 4, 5, tzinfo=timezone(timedelta(hours=1))
    )


def test_a_limit_larger_than_sqlite_counts_lists_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A huge --limit means every row there is, not an OverflowError traceback from SQLite."""
    config = _journal_with_an_order(tmp_path, "1.5")
    assert main(["orders", "--config", str(config), "--limit", "9" * 30, "--json"]) == 0
    assert [row["client_order_id"] for row in json.loads(capsys.readouterr().out)] == ["c-1"]


def test_bridge_positions_writes_nothing_to_the_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A read command must not seed the paper account: its row would pin a `cash` the user then changes, and
    it would write beside the daemon."""
    config = write_config(tmp_path)
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    store.close_sync()
    conn = sqlite3.connect(tmp_path / "bridge.db")
    before = conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes
    assert main(["positions", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "no open positions"
    # data_version moves when another connection commits a change to the file.
    assert (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes) == before
    assert conn.execute("SELECT * FROM paper_accounts").fetchall() == []
    conn.close()


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_listing_piped_into_a_reader_that_has_stopped_ends_without_a_traceback(
    tmp_path: Path, json_flag: list[str]
) -> None:
    # `bridge orders | head`: the reader leaves before the listing is written; Python raised BrokenPipeError.
    config = _journal_with_an_order(tmp_path, "10")
    read, write = os.pipe()
    os.close(read)  # the reader has gone: every write to the pipe fails, whenever it comes
    try:
        done = subprocess.run([sys.executable, "-m", "bridge", "orders", "--config", str(config), *json_flag],
                              stdout=write, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})  # fmt: skip
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 1
