"""An exit whose cancel finds a resting entry filled (a trader's, or flatten_at's): it closes what that fill opened."""

from __future__ import annotations

from decimal import Decimal

from bridge.models import Order, OrderRequest, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness


class FillsAsCanceled(FakeBroker):
    """Flat in AMD with a limit buy resting, which fills just before its cancel reaches the venue."""

    def __init__(self) -> None:
        super().__init__({})
        self.accept(OrderRequest(client_order_id="resting-entry", symbol="AMD", side="buy", quantity=Decimal(1),
                                 type="limit", limit_price=Decimal(50)), "open")  # fmt: skip

    async def cancel_order(self, client_order_id: str) -> Order:
        order = self.orders[client_order_id]
        return self._store(order, "filled") if order.is_open else order


async def test_a_flatten_exit_of_the_whole_position_closes_an_entry_that_filled_as_it_was_canceled(
    fresh_store: Store,
) -> None:
    # The whole position's exit (its share not sure) found the account flat, canceled the resting entry, and that
    # entry filled first: stopped there, the fill was held overnight, no later run that day closing it.
    venue = FillsAsCanceled()
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="exit", order_type="market", cancel=True, scheduled=True,
                                   ignore_trading_windows=True))  # fmt: skip
    assert venue.positions == {"AMD": Decimal(0)}, "the entry's fill was held overnight"
    assert [(r.side, r.quantity) for r in venue.creates] == [("sell", Decimal(1))]
    final = await h.signal(signal_id)
    assert final["state"] == "executed" and "planned again" in final["decision"], final["decision"]


async def test_a_traders_exit_while_flat_closes_an_entry_that_filled_as_it_was_canceled(fresh_store: Store) -> None:
    # An exit sent while a limit entry rests: its cancel found the entry filled, and the signal ended `executed`
    # saying "canceled 1 open order, nothing to exit", the position the trader asked to close left open.
    venue = FillsAsCanceled()
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="exit", cancel=True))
    assert venue.positions == {"AMD": Decimal(0)}, "the entry's fill was left open"
    assert [(r.side, r.quantity) for r in venue.creates] == [("sell", Decimal(1))]
    final = await h.signal(signal_id)
    assert final["state"] == "executed" and "planned again" in final["decision"], final["decision"]
