"""An order that fills just before its cancel reaches the venue: the exit is planned again from what the
broker holds, never sized on the position from before the cancel."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bridge.models import Order, OrderRequest, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, sends
from tests.execution.test_risk_holds import guarded


class StopFillsFirst(FakeBroker):
    """Long 5 with a resting sell stop; the market hits it a moment before our cancel arrives.

    The venue then answers the cancel with the order as it is: filled (in full, or `fills` of it).
    """

    def __init__(self, fills: Decimal | None = None) -> None:
        super().__init__({"AMD": Decimal(5)})
        self.fills = fills
        self.accept(OrderRequest(client_order_id="resting-stop", symbol="AMD", side="sell", quantity=Decimal(5),
                                 type="stop", stop_price=Decimal(90)), "open")  # fmt: skip

    async def cancel_order(self, client_order_id: str) -> Order:
        order = self.orders[client_order_id]
        if not order.is_open:
            return order
        if self.fills is None:
            return self._store(order, "filled")
        self.positions["AMD"] -= self.fills  # filled in part, then canceled
        self.orders[client_order_id] = order = replace(order, status="canceled", filled_quantity=self.fills)
        return order


async def test_an_exit_whose_canceled_stop_had_filled_sends_nothing(fresh_store: Store) -> None:
    broker = StopFillsFirst()
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="exit"))  # its plan cancels the stop first
    assert sends(broker) == [] and broker.positions["AMD"] == 0  # not short 5
    decided = await harness.signal(signal_id)
    assert decided["decision"].startswith("1 order(s) filled before their cancel, so planned again: exit while flat")


async def test_an_exit_whose_canceled_stop_filled_in_part_sells_what_is_left(fresh_store: Store) -> None:
    broker = StopFillsFirst(fills=Decimal(2))
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="exit"))
    assert sends(broker) == [("sell", 3)] and broker.positions["AMD"] == 0
    assert (await harness.signal(signal_id))["state"] == "executed"


async def test_the_plan_made_again_is_not_refused_by_the_orders_of_the_one_it_replaced(fresh_store: Store) -> None:
    broker = StopFillsFirst()  # long 5 with a sell stop that fills at the cancel
    harness = Harness(fresh_store, broker)
    await guarded(harness, 2).load()
    signal_id = await harness.run(Signal(ticker="AMD", action="sell"))  # sell 5 + open short 1 = 2 orders
    decided = await harness.signal(signal_id)
    assert decided["state"] == "executed", decided["decision"]  # made again: open short 1, 1 order of 2
    assert sends(broker) == [("sell", 1)] and broker.positions["AMD"] == -1


async def test_a_fill_from_before_the_plan_does_not_count_as_one_at_the_cancel(fresh_store: Store) -> None:
    broker = FakeBroker({"AMD": Decimal(5)})
    request = OrderRequest(client_order_id="half-filled", symbol="AMD", side="buy", quantity=Decimal(10),
                           type="limit", limit_price=Decimal(99))  # fmt: skip
    resting = broker.accept(request, "open")
    broker.orders["half-filled"] = replace(resting, status="partially_filled", filled_quantity=Decimal(5))
    harness = Harness(fresh_store, broker)
    harness.sub = harness.sub.model_copy(update={"cancel_open_orders": True})
    await guarded(harness, 2).load()
    signal_id = await harness.run(Signal(ticker="AMD", action="sell"))
    decided = await harness.signal(signal_id)
    assert decided["state"] == "executed" and "planned again" not in decided["decision"], decided["decision"]
    assert sends(broker) == [("sell", 5), ("sell", 1)]


class CancelStillPending(StopFillsFirst):
    """The venue takes the cancel but has not done it when it answers: the stop is still open and can fill."""

    async def cancel_order(self, client_order_id: str) -> Order:
        return self.orders[client_order_id]


async def test_a_cancel_not_confirmed_sends_nothing_after_it(fresh_store: Store) -> None:
    broker = CancelStillPending()
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="sell"))  # plan: cancel the stop, sell 5, short 1
    assert sends(broker) == []
    decided = await harness.signal(signal_id)
    assert decided["state"] == "failed"
    assert decided["decision"] == (
        "sell while long 5: canceled 1 open order, sold 5, opened short 1 (fixed_quantity 1); but the cancel of "
        "resting-stop was not confirmed (the broker still shows it open), so nothing else was sent; check what "
        "the broker holds once it is canceled or filled"
    )
