"""A journaled order that a plan's cancel finds filled is an `order.filled`, as the order jobs would tell it."""

from __future__ import annotations

from decimal import Decimal

from bridge.models import Order, Signal
from bridge.notify.events import Event
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, rests


class FillsBeforeTheCancel(FakeBroker):
    """The market reaches a resting order a moment before our cancel does: the venue answers it filled."""

    async def cancel_order(self, client_order_id: str) -> Order:
        order = self.orders[client_order_id]
        return self._store(order, "filled") if order.is_open else order


async def test_a_resting_order_a_cancel_signal_finds_filled_is_told_as_filled(fresh_store: Store) -> None:
    broker = FillsBeforeTheCancel(behaviours=[rests])
    harness = Harness(fresh_store, broker)
    first = await harness.run(Signal(ticker="AMD", action="buy", order_type="limit", limit_price=Decimal(90),
                                     price=Decimal(100)))  # fmt: skip
    assert (await harness.orders(first))["entry"]["status"] == "open"
    events: list[Event] = []
    harness.executor.observers.append(events.append)

    await harness.run(Signal(ticker="AMD", action="cancel"))
    assert (await harness.orders(first))["entry"]["status"] == "filled"
    # A position the operator now holds: `order.filled` is what they subscribe to (by default) to hear of it.
    assert [(e.kind, e.data["quantity"]) for e in events if e.kind.startswith("order.")] == [("order.filled", "1")]
