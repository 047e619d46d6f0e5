"""A broker read taken before an order ended, answered after its end was recorded, never reopens the order."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.jobs.orders import cancel_expired, poll_orders
from bridge.notify.events import Event
from tests.conftest import GUARD
from tests.jobs.conftest import Clock, config_text

# The paper book behind a venue whose open-order list the test holds back once taken (a slow answer), showing
# 3 of an order filled; its cancel answers that the rest was canceled with those 3 filled.
SLOW_LIST = """
import asyncio
from dataclasses import replace
from decimal import Decimal

from bridge.brokers.paper import PaperBroker


class SlowList(PaperBroker):
    def __init__(self, options, context):
        super().__init__(options, context)
        self.listed = asyncio.Event()
        self.answer = asyncio.Event()

    async def fetch_open_orders(self, symbol=None):
        orders = [replace(o, status="partially_filled", filled_quantity=Decimal(3))
                  for o in await super().fetch_open_orders(symbol)]
        if symbol is None:  # the order poll's list: its answer arrives late
            self.listed.set()
            await self.answer.wait()
        return orders

    async def cancel_order(self, client_order_id):
        order = await super().cancel_order(client_order_id)
        return replace(order, filled_quantity=Decimal(3))


BROKER = SlowList
"""


async def test_a_poll_answered_after_a_cancel_was_recorded_leaves_the_order_canceled_and_its_fill_told_once(
    bridges: Any, tmp_path: Path
) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "slow_list.py").write_text(SLOW_LIST)
    text = config_text("cancel_after: 30", extra="plugin_dirs: [plugins]\n")
    text = text.replace("plugin: paper", "plugin: slow_list")
    clock = Clock()
    r = await bridges(text, clock)
    await r.accepted(quantity=10, orderType="limit", limitPrice=90, price=100)  # a buy limit below the market rests
    await r.bridge.queues.join()
    [row] = r.rows("SELECT * FROM orders")
    assert row["status"] == "open"
    venue: Any = r.bridge.runtime.broker("paper")
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)

    poll = asyncio.create_task(poll_orders(r.bridge))  # it reads the journal, then waits for the venue's list
    await asyncio.wait_for(venue.listed.wait(), GUARD)
    clock.now = datetime.fromisoformat(row["sent_at"])
    clock.advance(30)
    assert await cancel_expired(r.bridge) == 1  # meanwhile the timeout cancels the rest: 3 filled, 7 canceled
    venue.answer.set()
    await asyncio.wait_for(poll, GUARD)

    order = r.rows("SELECT * FROM orders")[0]
    assert (order["status"], order["filled_quantity"]) == ("canceled", "3"), "the stale list reopened it"
    venue.listed.clear()
    venue.answer.set()
    await poll_orders(r.bridge)
    assert await cancel_expired(r.bridge) == 0
    assert [e.kind for e in events] == ["order.filled"], [e.text for e in events]
