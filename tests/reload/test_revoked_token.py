"""A token a reload changed or removed trades nothing more: not a request still in flight, nor a signal queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tests.conftest import TOKEN
from tests.reload.conftest import config_text
from tests.reload.venue import GatedPaper

NEW = "tok-" + "5e5e5e5e5e5e5e5e5e5e"  # the token an operator rotates to after the old one leaked


def signal_row(r: Any, signal_id: str) -> Any:
    """The signal's journal row."""
    return r.bridge.store.peek(lambda c: c.execute("SELECT * FROM signals WHERE id = ?", (signal_id,)).fetchone())


async def test_a_request_whose_token_a_reload_changed_while_its_body_arrived_is_refused(running: Any) -> None:
    """Authenticated when it began, journaled after the reload that revoked its token: it must not trade."""
    r = await running(config_text({"sq": TOKEN}))
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"ticker": "AMD", '
        started.set()
        await release.wait()  # the rest of the body is still on its way when the reload lands
        yield b'"action": "buy", "price": 100}'

    headers = {"content-type": "application/json"}
    request = asyncio.create_task(r.client.post(f"/webhook/sq/{TOKEN}", content=slow_body(), headers=headers))
    await started.wait()
    status = await r.edit(config_text({"sq": NEW}))
    assert status.ok, status.error
    release.set()
    response = await request
    assert response.status_code == 401, response.text
    await r.settled()
    assert r.paper_position() is None, "the revoked token traded"
    accepted = r.bridge.store.peek(lambda c: c.execute("SELECT count(*) FROM signals").fetchone()[0])
    assert accepted == 0
    assert (await r.post("sq", NEW)).status_code == 200, "the new token is served"


async def test_a_signal_queued_under_a_token_a_reload_then_changed_is_not_sent(running: Any) -> None:
    """Waiting in its symbol's queue when the token was rotated (it leaked): it is rejected, saying why."""
    GatedPaper.instances.clear()
    GatedPaper.gate = asyncio.Event()
    plugin = "tests.reload.venue:GatedPaper"
    extra = "        allow_add: true\n"
    try:
        r = await running(config_text({"sq": TOKEN}, plugin=plugin) + extra)
        venue = GatedPaper.instances[-1]
        assert (await r.post(quantity=1)).status_code == 200
        while not venue.created:  # the first order is inside create_order, held by the gate
            await asyncio.sleep(0.01)
        queued = (await r.post(quantity=500, price=101)).json()["id"]  # waits in AMD's queue behind it
        status = await r.edit(config_text({"sq": NEW}, plugin=plugin) + extra)
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        row = signal_row(r, queued)
        assert row["state"] == "rejected", row["decision"]
        assert "token" in row["decision"] and TOKEN not in row["decision"]
        assert r.paper_position() == "1", "only the order accepted before the rotation was sent"
    finally:
        GatedPaper.gate = None


async def test_a_signal_of_a_strategy_a_reload_removed_is_not_sent(running: Any) -> None:
    GatedPaper.instances.clear()
    GatedPaper.gate = asyncio.Event()
    plugin = "tests.reload.venue:GatedPaper"
    extra = "        allow_add: true\n"
    try:
        r = await running(config_text({"keep": NEW, "sq": TOKEN}, plugin=plugin) + extra)
        venue = GatedPaper.instances[-1]
        assert (await r.post("keep", NEW, quantity=1)).status_code == 200
        while not venue.created:
            await asyncio.sleep(0.01)
        queued = (await r.post(quantity=7)).json()["id"]  # same broker and symbol: queued behind it
        status = await r.edit(config_text({"keep": NEW}, plugin=plugin) + extra)
        assert status.ok, status.error
        GatedPaper.gate.set()
        await r.settled()
        assert signal_row(r, queued)["state"] == "rejected"
        assert r.paper_position() == "1"
    finally:
        GatedPaper.gate = None
