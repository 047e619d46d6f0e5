"""A plan a crash interrupted whose subscription the config no longer has after the restart: what it had not sent
yet is closed as never sent, not left `pending` (which reads as "maybe about to go" in /api/orders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.store import journal
from bridge.store.db import Store
from tests.execution.test_crash_recovery import seed_plan, seed_signal
from tests.jobs.conftest import Clock, two_strategies


def interrupted_swap(tmp_path: Path) -> tuple[str, str, str]:
    """A swap (sell while long 1) whose exit filled at the broker and whose entry was not sent yet when it died."""
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    signal_id = seed_signal(store, "SWP", "sell", age=1)
    exit_, entry = seed_plan(store, signal_id, "SWP", [("exit", "sell"), ("entry", "sell")])
    journal.update_order(store.conn, exit_, status="filled")
    store.close_sync()
    return signal_id, exit_, entry


async def test_the_unsent_rest_of_a_plan_whose_subscription_is_gone_is_closed_with_the_reason(
    bridges: Any, tmp_path: Path
) -> None:
    signal_id, exit_, entry = interrupted_swap(tmp_path)

    running = await bridges(two_strategies(["name: kept\nbroker: paper"]), Clock())  # `paper` of sq removed
    await running.bridge.queues.join()

    row = running.signal(signal_id)
    assert row["state"] == "failed" and "no longer in the config" in row["decision"], tuple(row)
    orders = {r["client_order_id"]: r for r in running.rows("SELECT * FROM orders")}
    assert orders[exit_]["status"] == "filled", "what was sent stays on record"
    assert orders[entry]["status"] == "canceled", "an order never sent must not stay pending"
    assert "not sent" in orders[entry]["error"]
    assert running.rows("SELECT * FROM paper_orders WHERE client_order_id = ?", entry) == []


async def test_the_unsent_rest_of_a_plan_whose_strategy_is_gone_is_closed_with_the_reason(
    bridges: Any, tmp_path: Path
) -> None:
    signal_id, _exit, entry = interrupted_swap(tmp_path)

    running = await bridges(two_strategies([]), Clock())  # strategy sq removed
    await running.bridge.queues.join()

    assert running.signal(signal_id)["state"] == "failed"
    [order] = running.rows("SELECT * FROM orders WHERE client_order_id = ?", entry)
    assert order["status"] == "canceled" and "not sent" in order["error"]


async def test_with_its_broker_gone_too_the_unsent_rest_is_of_unknown_outcome_not_closed_as_never_sent(
    bridges: Any, tmp_path: Path
) -> None:
    signal_id, _exit, entry = interrupted_swap(tmp_path)
    # Strategy sq and broker paper both removed: nobody can ask paper whether the entry went out before the stop.
    text = two_strategies([]).replace("  paper:\n    plugin: paper", "  elsewhere:\n    plugin: paper")
    running = await bridges(text.replace("- broker: paper", "- broker: elsewhere"), Clock())
    await running.bridge.queues.join()

    assert running.signal(signal_id)["state"] == "failed"
    [order] = running.rows("SELECT * FROM orders WHERE client_order_id = ?", entry)
    assert order["status"] == "unknown" and "no longer in the config to ask" in order["error"], tuple(order)
