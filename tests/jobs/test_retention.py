"""Retention and the daily summary: pruning removes only old rows, never an order that is not final."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from typing import Any

import pytest

from bridge.jobs import retention
from bridge.jobs.retention import daily_summary, prune
from bridge.store.db import iso, utcnow
from tests.jobs.conftest import Clock, Running, config_text


def age(r: Running, signal_id: str, days: float, clock: Clock) -> None:
    """Make a signal, its webhook, executions and orders look `days` old (as if journaled back then)."""
    then = iso(clock.now - timedelta(days=days))
    with sqlite3.connect(r.bridge.store.path) as db:
        db.execute("UPDATE signals SET received_at = ? WHERE id = ?", (then, signal_id))
        db.execute("UPDATE webhooks SET received_at = ? WHERE signal_id = ?", (then, signal_id))
        db.execute("UPDATE orders SET created_at = ? WHERE signal_id = ?", (then, signal_id))


@pytest.mark.parametrize("chunk", [2000, 1])  # 1: every table takes several rounds, each its own transaction
async def test_pruning_removes_only_rows_older_than_retention_days_and_keeps_open_orders(
    bridges: Any, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(retention, "PRUNE_CHUNK", chunk)
    clock = Clock()
    r = await bridges(config_text(extra="retention_days: 30\n"), clock)
    old = await r.accepted(ticker="AMD")
    old_open = await r.accepted(ticker="TSLA", orderType="limit", limitPrice=90, price=100)  # rests: not final
    young = await r.accepted(ticker="NVDA")
    await r.bridge.queues.join()
    unauthorized = await r.client.post("/webhook/sq/wrong-token-0000000000", json={"ticker": "X", "action": "buy"})
    assert unauthorized.status_code == 401
    age(r, old, 31, clock)
    age(r, old_open, 31, clock)
    age(r, young, 29, clock)
    with sqlite3.connect(r.bridge.store.path) as db:
        db.execute(
            "UPDATE webhooks SET received_at = ? WHERE signal_id IS NULL", (iso(clock.now - timedelta(days=31)),)
        )

    counts = await prune(r.bridge)
    assert counts == {"orders": 1, "executions": 1, "signals": 1, "webhooks": 2}
    assert {row["id"] for row in r.rows("SELECT id FROM signals")} == {old_open, young}
    assert {row["signal_id"] for row in r.rows("SELECT signal_id FROM orders")} == {old_open, young}
    assert {row["signal_id"] for row in r.rows("SELECT signal_id FROM webhooks")} == {old_open, young}
    assert await prune(r.bridge) == {"orders": 0, "executions": 0, "signals": 0, "webhooks": 0}


async def test_the_daily_summary_is_one_line_of_counts(bridges: Any, caplog: Any) -> None:
    r = await bridges(config_text(), Clock())
    await r.accepted(ticker="AMD")
    await r.accepted(ticker="TSLA", orderType="limit", limitPrice=90, price=100)
    await r.client.post("/webhook/sq/wrong-token-0000000000", json={})
    await r.bridge.queues.join()
    caplog.set_level("INFO", logger="bridge.jobs")
    line = await daily_summary(r.bridge)
    assert line == (
        "daily summary (24h): webhooks by status 200 2, 401 1; signals executed 2; orders filled 1, open 1; "
        "open orders now 1"
    )
    assert line in caplog.text and "\n" not in line


def test_the_journal_is_pruned_once_the_daemon_starts_not_only_at_ten_past_midnight(make_daemon: Any) -> None:
    daemon = make_daemon(extra="retention_days: 30\n")
    old = daemon.post({"ticker": "AMD", "action": "buy", "price": 100}).json()["id"]
    young = daemon.post({"ticker": "NVDA", "action": "buy", "price": 100}).json()["id"]
    daemon.wait_final(old)
    daemon.wait_final(young)
    daemon.stop()
    then = iso(utcnow() - timedelta(days=31))
    with sqlite3.connect(daemon.db) as db:  # journaled 31 days ago, by a daemon that was never up at 00:10 since
        db.execute("UPDATE signals SET received_at = ? WHERE id = ?", (then, old))
        db.execute("UPDATE webhooks SET received_at = ? WHERE signal_id = ?", (then, old))
        db.execute("UPDATE orders SET created_at = ? WHERE signal_id = ?", (then, old))
    daemon.start()
    deadline = time.monotonic() + 10
    while {s["id"] for s in daemon.api("signals")} != {young} and time.monotonic() < deadline:
        time.sleep(0.05)
    # Before, only the 00:10 UTC run pruned: a daemon started each morning kept every row for good.
    assert {s["id"] for s in daemon.api("signals")} == {young}
    with sqlite3.connect(daemon.db) as db:
        db.execute("UPDATE signals SET received_at = ? WHERE id = ?", (iso(utcnow() - timedelta(days=2)), young))
    # A lower retention_days, as the 503 of a full journal advises: it makes room at once, not the next night.
    daemon.config.write_text(daemon.config.read_text().replace("retention_days: 30", "retention_days: 1"))
    deadline = time.monotonic() + 10
    while daemon.api("signals") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.api("signals") == []
