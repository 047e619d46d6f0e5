"""A subscription a reload disables sends nothing more: not even a signal already waiting in its queue."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.conftest import ADMIN, TOKEN
from tests.reload.conftest import config_text
from tests.reload.venue import GatedPaper

PLUGIN = "tests.reload.venue:GatedPaper"
EXTRA = "        allow_add: true\n"


def signal_row(r: Any, signal_id: str) -> Any:
    """The signal's journal row."""
    return r.bridge.store.peek(lambda c: c.execute("SELECT * FROM signals WHERE id = ?", (signal_id,)).fetchone())


async def queued_behind_a_gated_order(running: Any, text: str) -> tuple[Any, str]:
    """A bridge whose first order is held inside create_order, and the id of a signal queued behind it."""
    GatedPaper.instances.clear()
    GatedPaper.gate = asyncio.Event()
    r = await running(text)
    venue = GatedPaper.instances[-1]
    assert (await r.post(quantity=1)).status_code == 200
    while not venue.created:  # the first order is inside create_order, held by the gate
        await asyncio.sleep(0.01)
    queued = (await r.post(quantity=500, price=101)).json()["id"]  # waits in AMD's queue behind it
    return r, queued


async def test_a_signal_queued_for_a_subscription_a_reload_then_disabled_is_not_sent(running: Any) -> None:
    """The operator disables a subscription to stop it trading (a runaway alert): what waits in its queue stops too."""
    text = config_text({"sq": TOKEN}, plugin=PLUGIN) + EXTRA
    try:
        r, queued = await queued_behind_a_gated_order(running, text)
        status = await r.edit(text + "        enabled: false\n")
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = signal_row(r, queued)
        assert row["state"] == "ignored", row["decision"]
        assert "not enabled" in row["decision"]
        assert r.paper_position() == "1", "only the order accepted before the reload was sent"
    finally:
        GatedPaper.gate = None


async def test_a_signal_queued_for_a_subscription_a_reload_only_retuned_still_trades(running: Any) -> None:
    """A change that keeps the subscription enabled leaves the queued signal to trade (its limits apply, as before)."""
    text = config_text({"sq": TOKEN}, plugin=PLUGIN) + EXTRA
    try:
        r, queued = await queued_behind_a_gated_order(running, text)
        status = await r.edit(text + "        cancel_after: 600\n")
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        assert signal_row(r, queued)["state"] == "executed"
        assert r.paper_position() == "501"
    finally:
        GatedPaper.gate = None


# Two accounts: `paper` holds its first order at the gate, `spare` trades at once.
TWO = f"""server:
  admin_token: {ADMIN}
database: bridge.db
brokers:
  paper:
    plugin: {PLUGIN}
  spare:
    plugin: paper
strategies:
  sq:
    token: {TOKEN}
    subscriptions:
"""
GATED = "      - broker: paper\n        allow_add: true\n"
SPARE = "      - broker: spare\n        allow_add: true\n"


def execution_row(r: Any, signal_id: str, subscription: str) -> Any:
    """The journal row of the signal's execution for one subscription."""
    return r.bridge.store.peek(
        lambda c: c.execute(
            "SELECT * FROM executions WHERE signal_id = ? AND subscription = ?", (signal_id, subscription)
        ).fetchone()
    )


async def test_a_signal_queued_for_a_subscription_a_reload_then_removed_is_not_sent(running: Any) -> None:
    """Deleting a subscription's entry stops it trading as `enabled: false` does: what waits in its queue stops too."""
    try:
        r, queued = await queued_behind_a_gated_order(running, TWO + GATED + SPARE)
        status = await r.edit(TWO + SPARE)  # the `paper` entry deleted; its strategy goes on at `spare`
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = execution_row(r, queued, "paper")
        assert row["state"] == "ignored", row["decision"]
        assert "removed subscription paper" in row["decision"], row["decision"]
        book = dict(r.bridge.store.peek(lambda c: c.execute("SELECT broker, quantity FROM paper_positions").fetchall()))
        assert book == {"paper": "1", "spare": "501"}, "only the order accepted before the reload went to paper"
        assert execution_row(r, queued, "spare")["state"] == "executed"
    finally:
        GatedPaper.gate = None


async def test_a_signal_queued_for_a_subscription_a_reload_moved_to_another_broker_trades_where_it_was_queued(
    running: Any,
) -> None:
    """A named entry whose broker a reload changed keeps its key: the same subscription, not removed, and its
    queued signal goes where it was judged to."""
    try:
        r, queued = await queued_behind_a_gated_order(running, TWO + GATED + "        name: main\n")
        status = await r.edit(TWO + SPARE + "        name: main\n")  # the one entry now names `spare`
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = execution_row(r, queued, "main")
        assert row["state"] == "executed", row["decision"]
        assert r.paper_position() == "501"
    finally:
        GatedPaper.gate = None


async def test_a_flatten_queued_for_a_strategy_a_reload_then_removed_is_not_sent(running: Any) -> None:
    """A job's signal (a flatten's exit) has no token to revoke: the strategy's removal alone stops it."""
    from bridge.jobs.flatten import Close, _queue_exit

    try:
        r, _queued = await queued_behind_a_gated_order(running, TWO + GATED)
        whole = Close(None, Decimal(1), Decimal(1))
        assert await _queue_exit(r.bridge, "sq", "paper", "paper", "AMD", whole, "2026-01-02", "flatten_at") == 1
        exit_id = r.bridge.store.peek(lambda c: c.execute("SELECT id FROM signals WHERE action = 'exit'").fetchone()[0])
        other = TWO.replace("  sq:\n", "  other:\n").replace(TOKEN, "another-strategy-token-0000000000000")
        status = await r.edit(other + GATED)  # `sq` is gone; another strategy trades at `paper` now
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = execution_row(r, exit_id, "paper")
        assert row["state"] == "ignored", row["decision"]
        assert "removed strategy sq" in row["decision"], row["decision"]
    finally:
        GatedPaper.gate = None


async def test_a_signal_queued_for_a_subscription_a_reload_moved_and_disabled_is_not_sent(running: Any) -> None:
    """Renamed and disabled in one edit: disabled all the same, though its key changed with its name."""
    try:
        r, queued = await queued_behind_a_gated_order(running, TWO + GATED + "        name: main\n")
        status = await r.edit(TWO + GATED + "        name: core\n        enabled: false\n")
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = execution_row(r, queued, "main")
        assert row["state"] == "ignored", row["decision"]
        assert "not enabled" in row["decision"], row["decision"]
        assert r.paper_position() == "1", "only the order accepted before the reload was sent"
    finally:
        GatedPaper.gate = None


async def test_a_limit_a_reload_set_on_a_subscription_it_renamed_holds_back_its_queued_signals(
    running: Any,
) -> None:
    """Renamed (its key changed with its name), it is still the same subscription: its reloaded limits apply too."""
    try:
        r, queued = await queued_behind_a_gated_order(running, TWO + GATED + "        name: main\n")
        renamed = TWO + GATED + "        name: core\n        risk: {max_order_quantity: 10}\n"
        status = await r.edit(renamed)  # the runaway is noticed
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = execution_row(r, queued, "main")
        assert row["state"] == "rejected", row["decision"]
        assert "max_order_quantity 10" in row["decision"], row["decision"]
        assert r.paper_position() == "1", "only the order accepted before the reload was sent"
    finally:
        GatedPaper.gate = None


async def test_deleting_a_subscription_and_adding_one_on_another_broker_in_one_edit_stops_what_waits_for_it(
    running: Any,
) -> None:
    """The two are one text edit, as editing the entry's `broker:` is: read as a move, the deleted subscription's
    queued signals went on trading (and a delayed one would trade at the new broker); on another broker it is
    removed, as deleting it alone is."""
    try:
        r, queued = await queued_behind_a_gated_order(running, TWO + GATED)
        status = await r.edit(TWO + SPARE)  # `paper`'s entry deleted, one on `spare` added
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = execution_row(r, queued, "paper")
        assert row["state"] == "ignored", row["decision"]
        assert "removed subscription paper" in row["decision"], row["decision"]
        assert r.paper_position() == "1", "only the order accepted before the reload was sent"
    finally:
        GatedPaper.gate = None


async def test_a_signal_queued_for_a_subscription_a_reload_renamed_on_its_broker_still_trades(running: Any) -> None:
    """Renamed (its key changed) on the same broker: the same subscription, moved, not removed."""
    try:
        named = GATED + "        name: main\n"
        r, queued = await queued_behind_a_gated_order(running, TWO + named)
        status = await r.edit(TWO + named.replace("name: main", "name: core"))
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = execution_row(r, queued, "main")
        assert row["state"] == "executed", row["decision"]
        assert r.paper_position() == "501"
    finally:
        GatedPaper.gate = None
