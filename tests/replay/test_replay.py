"""`bridge replay` on a recorded journal: a changed setting produces different orders; the journal is untouched."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.store import journal
from bridge.store.db import Store, iso
from tests.conftest import write_config


def bridge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)  # fmt: skip


def orders_in(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


def test_replay_with_allow_add_on_adds_where_the_recording_ignored(make_daemon: Any, tmp_path: Path) -> None:
    daemon = make_daemon()  # recorded with allow_add: false (the default)
    for payload in ({"ticker": "AMD", "action": "buy", "price": 100}, {"ticker": "AMD", "action": "buy", "price": 104},
                    {"ticker": "AMD", "action": "sell", "price": 110}):  # fmt: skip
        daemon.wait_final(daemon.post(payload).json()["id"])
    daemon.stop()
    recorded = orders_in(daemon.db)
    assert recorded == 3  # buy 1; (second buy ignored); sell 1 to exit + sell 1 to open short

    same = bridge("replay", "--config", str(daemon.config), "--json", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    baseline = json.loads(same.stdout)
    assert [(o["side"], o["quantity"]) for o in baseline["orders"]] == [("buy", 1), ("sell", 1), ("sell", 1)]
    assert [s["state"] for s in baseline["signals"]] == ["executed", "ignored", "executed"]

    changed = daemon.config.parent / "changed.yaml"
    text = daemon.config.read_text()
    assert "      - broker: paper\n" in text
    changed.write_text(text.replace("      - broker: paper\n", "      - broker: paper\n        allow_add: true\n"))
    what_if = bridge("replay", "--config", str(changed), "--json", cwd=tmp_path)
    assert what_if.returncode == 0, what_if.stderr
    result = json.loads(what_if.stdout)
    assert [(o["side"], o["quantity"], o["avg_fill_price"]) for o in result["orders"]] == [
        ("buy", 1, 100), ("buy", 1, 104), ("sell", 2, 110), ("sell", 1, 110)]  # fmt: skip
    # Bought 100 and 104, sold 2 at 110 (+16), short 1 at 110 marked at 110 (0).
    assert result["positions"] == [{"broker": "paper", "symbol": "AMD", "quantity": -1, "last": 110, "pnl": 16}]
    assert orders_in(daemon.db) == recorded  # the real journal is only read


def test_replay_prints_tables_and_progress_and_filters_by_strategy(make_daemon: Any, tmp_path: Path) -> None:
    daemon = make_daemon()
    daemon.wait_final(daemon.post({"ticker": "SQ", "action": "buy", "price": 60}).json()["id"])
    daemon.stop()
    shown = bridge("replay", "--config", str(daemon.config), "--since", "1d", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "replaying signal 1/1" in shown.stderr
    assert "buy while flat: opened long 1" in shown.stdout and "pnl" in shown.stdout
    mine = bridge("replay", "--config", str(daemon.config), "--strategy", "sq", "--json", cwd=tmp_path)
    assert [o["symbol"] for o in json.loads(mine.stdout)["orders"]] == ["SQ"]


def test_replay_of_a_strategy_the_config_does_not_have_names_the_ones_it_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --strategy is an error, not a replay of nothing that reads as "nothing held"."""
    config = write_config(tmp_path, strategy="sq-trend")
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    store.close_sync()
    assert main(["replay", "--config", str(config), "--strategy", "sq-trnd"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == f"--strategy sq-trnd: {config} has no such strategy; its strategies: sq-trend"


def test_a_since_that_is_neither_a_time_nor_an_age_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--config", str(config), "--since", "yesterday"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--since" in error and "'yesterday'" in error and "2h" in error and "2026-01-31" in error


def test_replay_reports_a_symbol_sent_in_other_letters_as_one_position(make_daemon: Any, tmp_path: Path) -> None:
    """`amd` then `AMD` trade one instrument (as at a venue): one row, its P&L from both fills."""
    daemon = make_daemon()
    for payload in ({"ticker": "amd", "action": "buy", "price": 10, "quantity": 5},
                    {"ticker": "AMD", "action": "exit", "price": 12}):  # fmt: skip
        assert daemon.wait_final(daemon.post(payload).json()["id"])["state"] == "executed"
    daemon.stop()
    shown = bridge("replay", "--config", str(daemon.config), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    positions = json.loads(shown.stdout)["positions"]
    assert [(p["symbol"].upper(), p["quantity"], p["pnl"]) for p in positions] == [("AMD", 0, 10)]


def _journaled(store: Store, payload: dict[str, Any], received: datetime, execute_at: datetime | None = None) -> None:
    """A signal as the webhook journals it (its payload the normalised echo), with its delay if any."""
    signal_id, webhook_id = str(uuid.uuid4()), str(uuid.uuid4())
    webhook = journal.WebhookRow(id=webhook_id, received_at=iso(received), strategy="sq", remote_addr=None,
                                 method="POST", path="/webhook/sq/***", headers={}, body="{}", status_code=200,
                                 signal_id=signal_id)  # fmt: skip
    row = {"id": signal_id, "webhook_id": webhook_id, "strategy": "sq", "ticker": payload["ticker"],
           "action": payload["action"], "sentiment": None, "price": str(payload["price"]), "quantity": None,
           "signal_time": None, "payload": json.dumps(payload), "extras": "{}", "received_at": iso(received),
           "execute_at": None if execute_at is None else iso(execute_at)}  # fmt: skip
    journal.record_signal(store.conn, webhook, row, [("paper", "paper")])


def test_a_delayed_signal_is_replayed_in_its_turn_when_it_ran_not_when_it_arrived(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A buy delayed 10 minutes ran after a sell that arrived 1 minute later: short 1, then covered and long 1."""
    config = write_config(tmp_path)
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    start = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
    _journaled(store, {"ticker": "AMD", "action": "buy", "price": 10}, start, start + timedelta(minutes=10))
    _journaled(store, {"ticker": "AMD", "action": "sell", "price": 11}, start + timedelta(minutes=1))
    store.close_sync()
    assert main(["replay", "--config", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(o["side"], o["quantity"]) for o in result["orders"]] == [("sell", 1), ("buy", 1), ("buy", 1)]
    assert [(p["symbol"], p["quantity"]) for p in result["positions"]] == [("AMD", 1)]
