"""A subscription a reload disables sends nothing more: not even a signal already waiting in its queue."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import TOKEN
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
