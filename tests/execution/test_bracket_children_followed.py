"""A bracket entry the venue took keeps its children followed, even when reading them back right after fails."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from bridge.brokers.base import Capabilities
from bridge.errors import OrderNotFound, TemporaryBrokerError
from bridge.models import Order, OrderRequest, OrderStatus, Signal, StopLoss, TakeProfit
from bridge.store import upkeep
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness

BRACKET = {"take_profit": TakeProfit(limit_price=Decimal(110)), "stop_loss": StopLoss(stop_price=Decimal(95))}


class ChildrenUnreadable(FakeBroker):
    """A venue that books a bracket's children with their entry, but whose lookups of them fail for now (a 503)."""

    capabilities: ClassVar[Capabilities] = Capabilities(brackets=True)

    def accept(self, request: OrderRequest, status: OrderStatus) -> Order:
        order = super().accept(request, status)
        for leg, side in ((request.take_profit, "sell"), (request.stop_loss, "sell")):
            if leg is not None:
                self.orders[leg.client_order_id] = Order(leg.client_order_id, request.symbol, side, request.quantity,
                                                         leg.type, "open")  # fmt: skip
        return order

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id in self.orders and self.orders[client_order_id].is_open:
            raise TemporaryBrokerError("503 from the venue")
        return await super().fetch_order(client_order_id)


async def test_a_bracket_entry_whose_children_cannot_be_read_at_once_is_executed_and_its_children_followed(
    fresh_store: Store,
) -> None:
    broker = ChildrenUnreadable()
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100), **BRACKET))
    assert len(broker.creates) == 1 and broker.positions["AMD"] == 1, "the entry went through and filled"
    decided = await harness.signal(signal_id)
    assert decided["state"] == "executed", decided["decision"]
    orders = await harness.orders(signal_id)
    assert orders["entry"]["status"] == "filled"
    # The stop-loss rests at the venue: the order jobs must follow it (a fill of it is a position change).
    followed = {row["leg"] for row in await fresh_store.read(upkeep.open_orders, fresh_store.conn)}
    assert {"take_profit", "stop_loss"} <= followed, {leg: o["status"] for leg, o in orders.items()}


class ChildrenNotListedYet(ChildrenUnreadable):
    """A venue that books a bracket's children with their entry but lists them a moment later (not found at first)."""

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id in self.orders and self.orders[client_order_id].is_open:
            raise OrderNotFound(client_order_id)
        return await FakeBroker.fetch_order(self, client_order_id)


async def test_bracket_children_the_venue_does_not_list_yet_are_followed_not_left_pending(fresh_store: Store) -> None:
    """Before, a child not found right after its entry stayed `pending`: never polled, so its fill went unrecorded."""
    broker = ChildrenNotListedYet()
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100), **BRACKET))
    decided = await harness.signal(signal_id)
    assert decided["state"] == "executed", decided["decision"]
    orders = await harness.orders(signal_id)
    assert orders["stop_loss"]["status"] != "pending" and orders["take_profit"]["status"] != "pending", orders
    followed = {row["leg"] for row in await fresh_store.read(upkeep.open_orders, fresh_store.conn)}
    assert {"take_profit", "stop_loss"} <= followed, {leg: o["status"] for leg, o in orders.items()}


async def test_a_bracket_childs_journaled_time_in_force_is_the_one_its_entry_gives_it(fresh_store: Store) -> None:
    """The legs take their entry's time in force (Alpaca's rule, and paper's): a day entry's stop-loss ends with the
    session, and the journal (`bridge orders`, /api/orders) must not show it as gtc, protecting overnight."""
    for tif, legs in (("day", "day"), ("gtc", "gtc")):
        harness = Harness(fresh_store, ChildrenUnreadable())
        signal = Signal(ticker=f"T{tif.upper()}", action="buy", price=Decimal(100), time_in_force=tif, **BRACKET)
        orders = await harness.orders(await harness.run(signal))
        assert orders["entry"]["time_in_force"] == tif
        assert orders["take_profit"]["time_in_force"] == legs and orders["stop_loss"]["time_in_force"] == legs


class DayOnly(FakeBroker):
    """A venue whose bracket entries and legs are day orders only: it declares no gtc."""

    capabilities: ClassVar[Capabilities] = Capabilities(brackets=True, time_in_force=frozenset({"day"}))


async def test_an_entrys_legs_go_gtc_only_where_the_broker_takes_gtc(fresh_store: Store) -> None:
    """With time_in_force unset, an entry with legs goes gtc so they outlive the close; a broker that declares day
    alone gets day, as its config check promised, and the decision says its legs expire at the close."""
    broker = DayOnly()
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100), **BRACKET))
    [request] = broker.creates
    assert request.time_in_force == "day", request
    decided = await harness.signal(signal_id)
    assert decided["state"] == "executed", decided["decision"]
    assert "expire at the close" in decided["decision"], decided["decision"]
    assert "the broker takes no gtc orders" in decided["decision"], decided["decision"]
