"""A breakeven whose new stop does not reach the venue, after the stop-loss it replaces was canceled: said so.

Only where the venue holds the shares for the working stop (`reserves_position`), so refuses a second one beside it:
elsewhere the new stop goes first (tests/execution/test_breakeven_protected.py).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import ClassVar

import pytest

from bridge.brokers.base import Capabilities
from bridge.errors import OrderRejected, UnknownOutcome
from bridge.models import Order, OrderRequest, Position, Signal
from bridge.store.db import Store
from tests.execution.test_executor import Behaviour, FakeBroker, Harness, raises


class Held(FakeBroker):
    """Long 10 AMD bought at 100, with its stop-loss at 90 working, at a venue that holds the shares for it."""

    capabilities: ClassVar[Capabilities] = Capabilities(reserves_position=True)

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__({"AMD": Decimal(10)}, [behaviour])
        self.accept(OrderRequest(client_order_id="sl", symbol="AMD", side="sell", quantity=Decimal(10), type="stop",
                                 stop_price=Decimal(90)), "open")  # fmt: skip

    async def fetch_positions(self) -> list[Position]:
        return [Position("AMD", quantity, Decimal(100)) for _symbol, quantity in self.positions.items()]


@pytest.mark.parametrize(
    ("behaviour", "why"),
    [
        (raises(OrderRejected("stop price too close to the market")), "rejected by the broker"),
        (raises(UnknownOutcome("the venue did not answer")), "outcome is unknown"),
    ],
)
async def test_a_breakeven_stop_that_did_not_reach_the_venue_says_the_old_stop_is_gone(
    fresh_store: Store, behaviour: Behaviour, why: str
) -> None:
    venue = Held(behaviour)
    venue.behaviours.append(raises(OrderRejected("market closed")))  # the old stop cannot be put back either
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert venue.orders["sl"].status == "canceled"  # the stop it moves goes first, as a cancel and a new stop
    decision = (await h.signal(signal_id))["decision"]
    assert why in decision, decision
    assert "the stop it replaces was canceled" in decision and "no stop at the broker" in decision, decision


async def test_a_breakeven_that_canceled_nothing_does_not_say_a_stop_is_gone(fresh_store: Store) -> None:
    venue = Held(raises(OrderRejected("stop price too close to the market")))
    venue.orders.clear()  # no stop-loss was working: the breakeven places the position's first stop
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    decision = (await h.signal(signal_id))["decision"]
    assert "rejected by the broker" in decision and "canceled" not in decision, decision


@pytest.mark.parametrize(
    "behaviour", [raises(OrderRejected("stop price too close to the market")), raises(UnknownOutcome("no answer"))]
)
async def test_a_breakeven_stop_that_did_not_reach_the_venue_puts_the_old_stop_back(
    fresh_store: Store, behaviour: Behaviour
) -> None:
    venue = Held(behaviour)
    venue.behaviours.append(lambda broker, request: "open")  # the venue takes the stop put back
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    back = venue.creates[-1]
    assert (back.type, back.side, back.quantity, back.stop_price, back.reduce_only) == (
        "stop", "sell", Decimal(10), Decimal(90), True
    )  # fmt: skip
    assert venue.orders[back.client_order_id].status == "open"  # the position has its stop again
    # Put back by the bridge, not traded for the signal: no signal age holds it back (`send_by`), as it does the
    # breakeven stop itself.
    assert back.send_by is None and venue.creates[0].send_by is not None
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    assert "put back" in final["decision"] and "no stop" not in final["decision"], final["decision"]
    restored = (await h.orders(signal_id))["restore"]  # journaled, so the order jobs follow it
    assert (restored["status"], restored["client_order_id"]) == ("open", back.client_order_id)


class FillsInPart(Held):
    """As Held, but 4 of the stop-loss fill a moment before its cancel arrives: canceled with 6 left."""

    async def cancel_order(self, client_order_id: str) -> Order:
        order = self.orders[client_order_id]
        self.positions["AMD"] -= Decimal(4)
        self.orders[client_order_id] = order = replace(order, status="canceled", filled_quantity=Decimal(4))
        return order


async def test_a_stop_that_filled_in_part_before_its_cancel_is_put_back_for_the_rest(fresh_store: Store) -> None:
    # The breakeven stop was sized on the 10 held before the fill: not sent. The 6 left keep the stop they had.
    venue = FillsInPart(lambda broker, request: "open")
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    working = [(o.quantity, o.stop_price) for o in venue.orders.values() if o.is_open]
    assert working == [(Decimal(6), Decimal(90))]
    assert [r.type for r in venue.creates] == ["stop"] and venue.creates[0].quantity == Decimal(6)
    decision = (await h.signal(signal_id))["decision"]
    assert "filled before their cancel" in decision and "put back" in decision, decision


async def test_a_breakeven_with_no_price_at_a_broker_that_gives_no_quote_cancels_and_sends_nothing(
    fresh_store: Store,
) -> None:
    # Nothing to tell a stop the market already passed from one it has not: the stop-loss is not canceled for it.
    venue = Held(lambda broker, request: "open")
    assert not hasattr(venue, "fetch_quote")
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven"))
    assert venue.creates == [] and venue.orders["sl"].status == "open"
    final = await h.signal(signal_id)
    assert final["state"] == "rejected", final["decision"]
    assert "no price to check the breakeven stop 100 against" in final["decision"], final["decision"]
