"""A breakeven that cancels the old stops first (the venue holds the shares for them) and has a cancel refused
part-way: the stops already canceled are put back, and the decision says what the position keeps."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from bridge.brokers.base import Capabilities
from bridge.errors import OrderNotFound, OrderRejected, TemporaryBrokerError
from bridge.models import Order, OrderRequest, Position, Signal
from bridge.store.db import Store
from tests.execution.test_executor import Behaviour, FakeBroker, Harness, raises, rests


class TwoStops(FakeBroker):
    """Long 10 AMD bought at 100, with two stops of 5 working (at 90 and 92), at a venue that holds the shares for
    them and refuses to cancel the second."""

    capabilities: ClassVar[Capabilities] = Capabilities(reserves_position=True)

    def __init__(self, refused: str = "sl-2", behaviour: Behaviour = rests) -> None:
        super().__init__({"AMD": Decimal(10)}, [behaviour])
        self.refused = refused
        for coid, price in (("sl-1", 90), ("sl-2", 92)):
            self.accept(OrderRequest(client_order_id=coid, symbol="AMD", side="sell", quantity=Decimal(5),
                                     type="stop", stop_price=Decimal(price)), "open")  # fmt: skip

    async def fetch_positions(self) -> list[Position]:
        return [Position("AMD", quantity, Decimal(100)) for _symbol, quantity in self.positions.items()]

    async def cancel_order(self, client_order_id: str) -> Order:
        if client_order_id == self.refused:
            raise OrderRejected("order is not cancelable: it is being processed")
        return await super().cancel_order(client_order_id)


async def test_a_cancel_refused_part_way_puts_back_the_stops_already_canceled(fresh_store: Store) -> None:
    venue = TwoStops()
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    working = sorted((o.quantity, o.stop_price) for o in venue.orders.values() if o.is_open)
    assert working == [(Decimal(5), Decimal(90)), (Decimal(5), Decimal(92))], "the position keeps both stops"
    [back] = venue.creates  # no breakeven stop: only the stop put back
    assert (back.type, back.side, back.quantity, back.stop_price, back.reduce_only) == (
        "stop", "sell", Decimal(5), Decimal(90), True
    )  # fmt: skip
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "not cancelable" in decision and "put back" in decision, decision
    assert "the stop at 90" in decision and "the stop at 92" in decision, decision
    restored = (await h.orders(signal_id))["restore"]  # journaled, so the order jobs follow it
    assert (restored["status"], restored["client_order_id"]) == ("open", back.client_order_id)


async def test_a_stop_canceled_part_way_that_cannot_be_put_back_is_said_to_be_missing(fresh_store: Store) -> None:
    venue = TwoStops(behaviour=raises(OrderRejected("market closed")))
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert [o.stop_price for o in venue.orders.values() if o.is_open] == [Decimal(92)]
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "the stop at 90 was canceled before it, and could not be put back: the position lacks it" in decision
    assert "the stop at 92 keeps working" in final["decision"], final["decision"]


async def test_a_first_cancel_refused_says_nothing_was_canceled(fresh_store: Store) -> None:
    venue = TwoStops(refused="sl-1")
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert venue.creates == [] and len([o for o in venue.orders.values() if o.is_open]) == 2
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    assert final["decision"].endswith(
        "so the breakeven stop was not sent; nothing was canceled; the stop at 90 and the stop at 92 keep working"
    ), final["decision"]


class SlowCancel(TwoStops):
    """As TwoStops, but the venue takes the cancel of the second stop and has not done it when it answers (Alpaca's
    pending_cancel, read as still working): it is canceled a moment later."""

    async def cancel_order(self, client_order_id: str) -> Order:
        if client_order_id == self.refused:
            return self.orders[client_order_id]  # taken, not done yet
        return await super().cancel_order(client_order_id)


async def test_a_stop_whose_cancel_was_taken_but_not_confirmed_is_not_said_to_keep_working(
    fresh_store: Store,
) -> None:
    # It goes any moment, the breakeven stop not sent: told it keeps working, the trader would not replace it.
    venue = SlowCancel()
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "the stop at 92 keeps working" not in decision, decision
    assert "the stop at 92, whose cancel the broker took but had not done, may yet be canceled" in decision, decision
    assert "the stop at 90, canceled before it, was put back" in decision, decision


class Unlisted(TwoStops):
    """As TwoStops, but the venue no longer lists an order once it is canceled (some do not keep them): a lookup of
    the first stop after its cancel finds nothing."""

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id == "sl-1" and self.orders["sl-1"].status == "canceled":
            raise OrderNotFound(client_order_id)
        return await super().fetch_order(client_order_id)


async def test_a_canceled_stop_the_venue_no_longer_lists_is_put_back(fresh_store: Store) -> None:
    # Its cancel's answer said canceled: not read back, it is not taken for one that keeps working.
    venue = Unlisted()
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    working = sorted((o.quantity, o.stop_price) for o in venue.orders.values() if o.is_open)
    assert working == [(Decimal(5), Decimal(90)), (Decimal(5), Decimal(92))], "the position keeps both stops"
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "the stop at 90, canceled before it, was put back" in decision, decision
    assert "the stop at 90 keeps working" not in decision, decision


class Unreadable(TwoStops):
    """As TwoStops, but the venue answers no lookup of the first stop once the breakeven's cancels began."""

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id == "sl-1" and self.orders["sl-1"].status == "canceled":
            raise TemporaryBrokerError("503 Service Unavailable")
        return await super().fetch_order(client_order_id)

    async def cancel_order(self, client_order_id: str) -> Order:
        order = await super().cancel_order(client_order_id)
        if client_order_id == "sl-1":  # the venue canceled it, but its answer was lost on the way
            raise TemporaryBrokerError("the venue did not answer")
        return order


async def test_a_stop_that_may_have_been_canceled_and_cannot_be_read_is_not_said_to_keep_working(
    fresh_store: Store,
) -> None:
    venue = Unreadable()
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert [o.stop_price for o in venue.orders.values() if o.is_open] == [Decimal(92)]
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "the stop at 90 and the stop at 92 keep working" not in decision, decision
    assert "the stop at 92 keeps working" in decision, decision
    assert "the stop at 90 could not be read" in decision and "may have been canceled" in decision, decision


class ThreeStops(TwoStops):
    """Long 10 AMD with three stops working (3 at 90, 3 at 91, 4 at 92), the third's cancel refused."""

    def __init__(self, *behaviours: Behaviour) -> None:
        super().__init__(refused="sl-3")
        self.orders.clear()
        self.behaviours = list(behaviours)
        for coid, price, quantity in (("sl-1", 90, 3), ("sl-2", 91, 3), ("sl-3", 92, 4)):
            self.accept(OrderRequest(client_order_id=coid, symbol="AMD", side="sell", quantity=Decimal(quantity),
                                     type="stop", stop_price=Decimal(price)), "open")  # fmt: skip


async def test_of_two_stops_canceled_the_one_put_back_is_not_said_to_be_missing(fresh_store: Store) -> None:
    venue = ThreeStops(rests, raises(OrderRejected("market closed")))  # the first put back, the second refused
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert sorted(o.stop_price for o in venue.orders.values() if o.is_open) == [Decimal(90), Decimal(92)]
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "the stop at 90, canceled before it, was put back as a new order" in decision, decision
    assert "the stop at 91 was canceled before it, and could not be put back: the position lacks it" in decision
    assert "the stop at 90 and the stop at 91" not in decision, decision
    assert "the stop at 92 keeps working" in decision, decision


async def test_of_two_stops_canceled_for_a_breakeven_stop_that_failed_the_one_put_back_is_said_to_work(
    fresh_store: Store,
) -> None:
    venue = TwoStops(refused="none", behaviour=raises(OrderRejected("stop price too close to the market")))
    venue.behaviours += [rests, raises(OrderRejected("market closed"))]  # the first put back, the second refused
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert [o.stop_price for o in venue.orders.values() if o.is_open] == [Decimal(90)]
    final = await h.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "no stop at the broker" not in decision, decision  # the stop at 90 works again
    assert "the stop at 90 works again" in decision, decision
    assert "the stop at 92 could not be put back: the position lacks it" in decision, decision
