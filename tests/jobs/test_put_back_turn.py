"""A stop put back that did not reach the broker is sent again in its symbol's turn, never beside a signal there.

The order poll's job sends such a put-back again (`jobs.putbacks`). Sent beside an exit of the same position, it read
the position still held while the exit's sell was on its way, and went after the exit's cancels: the account flat,
with a working stop that, triggered, opens a short at a venue without reduce-only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import GUARD
from tests.jobs.conftest import Clock, Running, config_text
from tests.jobs.venue import GarblingPaper, GatedPaper

GATED = config_text().replace("plugin: paper", "plugin: tests.jobs.venue:GatedPaper")
GARBLING = config_text().replace("plugin: paper", "plugin: tests.jobs.venue:GarblingPaper")


@pytest.fixture
def gated() -> Iterator[type[GatedPaper]]:
    """GatedPaper's class state, reset after the test."""
    yield GatedPaper
    GatedPaper.outages, GatedPaper.gate, GatedPaper.waiting, GatedPaper.gated_stop = 0, None, None, None


@pytest.fixture
def garbling() -> Iterator[type[GarblingPaper]]:
    """GarblingPaper's class state, reset after the test."""
    yield GarblingPaper
    GarblingPaper.outages, GarblingPaper.garbled, GarblingPaper.placed = 0, 0, True


async def _bare(bridges: Any, gated: type[GatedPaper], config: str = GATED, clock: Clock | None = None) -> Running:
    """A long 10 AMD whose stop-loss at 95 a breakeven canceled first, its own stop and the put-back meeting a 503."""
    r: Running = await bridges(config, clock or Clock())
    await r.accepted(quantity=10, stopLoss={"stopPrice": 95})
    await r.bridge.queues.join()
    broker = r.bridge.runtime.broker("paper")
    assert isinstance(broker, GatedPaper)
    await broker.observe_price("AMD", Decimal(110))
    gated.outages = 2  # the breakeven stop meets the outage, and so does the stop put back
    await r.accepted(action="breakeven", price=110)
    await r.bridge.queues.join()
    [restore] = r.rows("SELECT status, error FROM orders WHERE leg = 'restore'")
    assert restore["status"] == "rejected" and restore["error"].startswith("not sent"), dict(restore)
    return r


async def _working_stops(r: Running) -> list[tuple[str, str]]:
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None
    return [(o.side, str(o.quantity)) for o in await broker.fetch_open_orders("AMD") if o.type == "stop"]


async def test_a_put_back_tried_again_waits_for_an_exit_running_for_its_symbol(
    bridges: Any, gated: type[GatedPaper]
) -> None:
    r = await _bare(bridges, gated)
    gated.gate, gated.waiting = asyncio.Event(), asyncio.Event()
    await r.accepted(action="exit", price=110)  # it cancels the ticker's working orders, then sells the 10
    await asyncio.wait_for(gated.waiting.wait(), GUARD)  # its sell is on its way, the position still held
    await r.bridge.jobs._poll()  # the order poll's job tries the put-back again meanwhile
    gated.gate.set()
    await r.bridge.queues.join()
    assert await r.positions() == {}
    assert await _working_stops(r) == [], "flat, with a stop sell working: triggered, it opens a short"
    [restore] = r.rows("SELECT status FROM orders WHERE leg = 'restore'")
    assert restore["status"] == "canceled", dict(restore)


async def test_a_put_back_tried_again_waits_for_a_new_breakeven_running_for_its_symbol(
    bridges: Any, gated: type[GatedPaper]
) -> None:
    r = await _bare(bridges, gated)
    gated.gate, gated.waiting, gated.gated_stop = asyncio.Event(), asyncio.Event(), Decimal(100)
    await r.accepted(action="breakeven", price=111)  # no stop to move: it places its own, for the 10
    await asyncio.wait_for(gated.waiting.wait(), GUARD)  # its stop on its way
    await r.bridge.jobs._poll()
    gated.gate.set()
    await r.bridge.queues.join()
    assert await _working_stops(r) == [("sell", "10")], "two stops for 20 on a long 10: both triggered, short 10"
    [restore] = r.rows("SELECT status FROM orders WHERE leg = 'restore'")
    assert restore["status"] == "canceled", dict(restore)


async def test_a_put_back_is_dropped_once_its_position_was_closed_and_another_opened(
    bridges: Any, gated: type[GatedPaper]
) -> None:
    r = await _bare(bridges, gated)
    await r.accepted(action="exit", price=110)  # a stop working then would have been canceled with the long
    broker = r.bridge.runtime.broker("paper")
    assert isinstance(broker, GatedPaper)
    await broker.observe_price("AMD", Decimal(90))
    await r.accepted(quantity=10, price=90)  # a new long, no stop asked for
    await r.bridge.queues.join()
    await r.bridge.jobs._poll()
    await r.bridge.queues.join()
    assert await _working_stops(r) == [], "the closed long's stop at 95 on the long opened at 90 since"
    assert await r.positions() == {"AMD": Decimal(10)}, "sold at once by the closed long's stop"
    [restore] = r.rows("SELECT status, error FROM orders WHERE leg = 'restore'")
    assert restore["status"] == "canceled" and "the position it was for was closed" in restore["error"], dict(restore)
    [breakeven] = r.rows("SELECT decision FROM signals WHERE id = (SELECT signal_id FROM orders WHERE leg = 'restore')")
    assert "the position it was for was closed" in breakeven["decision"], breakeven["decision"]


async def test_health_shows_a_put_back_still_to_be_sent(bridges: Any, gated: type[GatedPaper]) -> None:
    r = await _bare(bridges, gated)
    health = (await r.client.get("/health")).json()
    assert health["stops_not_put_back"] == 1, health  # a position that may have no stop at the broker
    assert health["status"] == "degraded", health
    await r.bridge.jobs._poll()  # the venue answers again: the stop works
    await r.bridge.queues.join()
    assert await _working_stops(r) == [("sell", "10")]
    health = (await r.client.get("/health")).json()
    assert health["stops_not_put_back"] == 0 and health["status"] == "ok", health


async def _tried_garbled(bridges: Any, garbling: type[GarblingPaper], clock: Clock, placed: bool) -> Running:
    """`_bare`, then the put-back tried again and answered with bytes for its error (placed at the venue or not)."""
    r = await _bare(bridges, garbling, GARBLING, clock)
    garbling.garbled, garbling.placed = 1, placed
    await r.bridge.jobs._poll()  # the try raises past the answer's checks, the row set pending to be sent
    await r.bridge.queues.join()
    [restore] = r.rows("SELECT status FROM orders WHERE leg = 'restore'")
    assert restore["status"] != "pending", "left pending: neither tried again nor followed, nor counted in /health"
    return r


async def test_a_put_back_whose_try_raised_after_it_was_placed_is_followed_and_never_sent_twice(
    bridges: Any, garbling: type[GarblingPaper], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    r = await _tried_garbled(bridges, garbling, clock, placed=True)
    assert any("put back" in m and "bytes" in m for m in caplog.messages), caplog.messages
    health = (await r.client.get("/health")).json()
    assert health["stops_not_put_back"] == 1 and health["status"] == "degraded", health  # not known to work yet
    await r.bridge.jobs._poll()  # the order poll finds it working at the venue
    await r.bridge.queues.join()
    clock.advance(3600)
    await r.bridge.jobs._poll()
    await r.bridge.queues.join()
    assert await _working_stops(r) == [("sell", "10")], "sent twice: two stops for 20 on a long 10"
    [restore] = r.rows("SELECT status FROM orders WHERE leg = 'restore'")
    assert restore["status"] == "open", dict(restore)
    health = (await r.client.get("/health")).json()
    assert health["stops_not_put_back"] == 0 and health["status"] == "ok", health


async def test_a_put_back_whose_try_raised_before_it_reached_the_venue_is_sent_again(
    bridges: Any, garbling: type[GarblingPaper]
) -> None:
    clock = Clock()
    r = await _tried_garbled(bridges, garbling, clock, placed=False)
    health = (await r.client.get("/health")).json()
    assert health["stops_not_put_back"] == 1 and health["status"] == "degraded", health  # the position has no stop
    await r.bridge.jobs._poll()  # not at the venue yet: it may still be listed late, so it is not sent again
    await r.bridge.queues.join()
    assert await _working_stops(r) == []
    clock.advance(601)
    await r.bridge.jobs._poll()  # never reached it: closed as never sent, and sent again
    await r.bridge.queues.join()
    assert await _working_stops(r) == [("sell", "10")]
