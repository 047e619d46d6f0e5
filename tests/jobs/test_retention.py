"""Retention and the daily summary: pruning removes only old rows, never an order that is not final."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from bridge.jobs import retention
from bridge.jobs.retention import daily_summary, prune
from bridge.store.db import iso
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
