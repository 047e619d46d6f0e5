"""A plan whose paper orders all filled in its own job is journaled in fewer statements, to the same rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.models import Order
from bridge.store import journal
from bridge.store.db import Store, iso, transaction, utcnow

SUBS = [("first", "paper"), ("second", "paper")]
TIMES = {"received_at", "updated_at", "started_at", "finished_at", "created_at", "sent_at"}


def _journal(path: Path) -> Store:
    store = Store(path)
    store.open_sync()
    webhook = journal.WebhookRow(id="w1", received_at=iso(utcnow()), strategy="s", remote_addr="127.0.0.1",
                                 method="POST", path="/webhook/s/***", headers={}, body="{}", status_code=200,
                                 signal_id="sig")  # fmt: skip
    row = {"id": "sig", "webhook_id": "w1", "strategy": "s", "ticker": "AMD", "action": "buy", "sentiment": None,
           "price": "50", "quantity": None, "signal_time": None, "payload": "{}", "extras": "{}",
           "received_at": webhook.received_at}  # fmt: skip
    journal.record_signal(store.conn, webhook, row, SUBS)
    return store


def _order(sub: str) -> dict[str, Any]:
    coid = f"{sub}-entry"
    return {"id": coid, "signal_id": "sig", "broker": "paper", "subscription": sub, "leg": "entry", "seq": 0,
            "client_order_id": coid, "symbol": "AMD", "side": "buy", "type": "market", "quantity": "1",
            "limit_price": None, "stop_price": None, "time_in_force": "day", "reference_price": "50"}  # fmt: skip


def _placed(store: Store, sub: str, write: Callable[..., Any]) -> None:
    """Journal `sub`'s plan with its one order filled, inside one transaction as the executor's plan job does."""
    answer = Order(f"{sub}-entry", "AMD", "buy", 1, "market", "filled", filled_quantity=1, avg_fill_price=50)  # type: ignore[arg-type]
    with transaction(store.conn):
        write(store.conn, [_order(sub)], {f"{sub}-entry": (answer, utcnow())}, sub)


def _as_before(conn: sqlite3.Connection, orders: list[dict[str, Any]], answers: Any, sub: str) -> None:
    journal.write_plan(conn, "sig", sub, "buy 1 AMD", orders, "2026-01-01T00:00:00.000000+00:00", answers)
    journal.finish_execution(conn, "sig", sub, "executed", "buy 1 AMD", "2026-01-01T00:00:00.000000+00:00")


def _finished(conn: sqlite3.Connection, orders: list[dict[str, Any]], answers: Any, sub: str) -> None:
    journal.write_finished_plan(conn, "sig", sub, "buy 1 AMD", orders, "2026-01-01T00:00:00.000000+00:00", answers)


def _rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for table in ("signals", "executions", "orders"):
        rows = store.conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608 - fixed names
        found[table] = [{k: row[k] for k in row.keys() if k not in TIMES} for row in rows]  # noqa: SIM118
    return found


def test_a_finished_plan_leaves_the_rows_the_plan_and_its_finish_left(tmp_path: Path) -> None:
    before, after = _journal(tmp_path / "before.db"), _journal(tmp_path / "after.db")
    try:
        _placed(before, "first", _as_before)
        _placed(after, "first", _finished)
        # The other subscription has not finished: the signal is processing, as the plan's mark made it.
        assert _rows(after) == _rows(before)
        assert _rows(after)["signals"][0]["state"] == "processing"
        _placed(before, "second", _as_before)
        _placed(after, "second", _finished)
        assert _rows(after) == _rows(before)
        assert _rows(after)["signals"][0]["state"] == "executed"
        started = after.conn.execute("SELECT started_at, finished_at FROM executions").fetchall()
        assert all(r["started_at"] == "2026-01-01T00:00:00.000000+00:00" and r["finished_at"] for r in started)
    finally:
        before.close_sync()
        after.close_sync()
