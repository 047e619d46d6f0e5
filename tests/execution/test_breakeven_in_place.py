"""A breakeven at a broker that replaces orders in one step (`replace_order`): what it says when the swap fails."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import ClassVar

from bridge.brokers.base import Capabilities
from bridge.errors import OrderRejected, UnknownOutcome
from bridge.models import Order, OrderRequest, Position, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness


class Swapping(FakeBroker):
    """Long 10 AMD at 100 with its stop at 90, at a venue that holds the shares for it and replaces in one step.

    `outcome`: "swap" replaces, "refuse" refuses and leaves the old stop, "gone" refuses as the old stop was
    canceled meanwhile, "lost" replaces but the answer is lost.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(reserves_position=True, replaces_orders=True)

    def __init__(self, outcome: str) -> None:
        super().__init__({"AMD": Decimal(10)})
        self.outcome = outcome
        self.replaced: list[tuple[str, OrderRequest]] = []
        self.accept(OrderRequest(client_order_id="sl", symbol="AMD", side="sell", quantity=Decimal(10), type="stop",
                                 stop_price=Decimal(90)), "open")  # fmt: skip

    async def fetch_positions(self) -> list[Position]:
        return [Position("AMD", quantity, Decimal(100)) for _symbol, quantity in self.positions.items()]

    async def replace_order(self, client_order_id: str, request: OrderRequest) -> Order:
        self.replaced.append((client_order_id, request))
        if self.outcome in ("refuse", "gone"):
            if self.outcome == "gone":
                self.orders[client_order_id] = replace(self.orders[client_order_id], status="canceled")
            raise OrderRejected("order is not replaceable")
        self.orders[client_order_id] = replace(self.orders[client_order_id], status="canceled", error="replaced")
        placed = self.accept(request, "open")
        if self.outcome == "lost":
            raise UnknownOutcome("the venue did not answer")
        return placed


async def test_a_swapped_stop_is_journaled_as_the_working_one(fresh_store: Store) -> None:
    venue = Swapping("swap")
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert (await h.signal(signal_id))["state"] == "executed"
    assert [(old, r.stop_price, r.type) for old, r in venue.replaced] == [("sl", Decimal(100), "stop")]
    assert venue.creates == []  # nothing placed beside it, nothing canceled before it
    assert (await h.orders(signal_id))["breakeven"]["status"] == "open"


async def test_a_swap_whose_answer_was_lost_is_looked_up_by_the_new_id(fresh_store: Store) -> None:
    venue = Swapping("lost")
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert (await h.signal(signal_id))["state"] == "executed"
    assert (await h.orders(signal_id))["breakeven"]["status"] == "open"
    assert len(venue.replaced) == 1  # looked up, never sent again


async def test_a_refused_swap_says_the_old_stop_keeps_working(fresh_store: Store) -> None:
    h = Harness(fresh_store, Swapping("refuse"))
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    assert "nothing was canceled: the stop at 90 keeps working" in final["decision"], final["decision"]


async def test_a_swap_refused_as_the_old_stop_ended_says_to_check_the_position(fresh_store: Store) -> None:
    h = Harness(fresh_store, Swapping("gone"))
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    assert (
        "is canceled at the broker" in final["decision"]
        and "check that the position still has a stop" in (final["decision"])
    ), final["decision"]
