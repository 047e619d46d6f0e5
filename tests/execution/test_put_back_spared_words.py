"""A failed breakeven's stops put back for a position partly sold meanwhile: what the decision says of one left out.

Two stops of 5 protect a long of 10 and are canceled first; as the breakeven stop is refused, 6 are sold. The stop
put back first covers the 4 left; the other is not put back, as it would sell more than is held. The decision must
not say that no position is left when 4 are held and protected; nor say a stop put back for 4 by its price alone, as
the stop for 10 it was.
"""

from __future__ import annotations

from decimal import Decimal

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperOptions
from bridge.errors import OrderRejected
from bridge.models import Order, OrderRequest, Signal
from bridge.store.db import Store
from tests.execution.test_breakeven_restore_ids import Held
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper


class Sold(Held):
    """As `Held`, but 6 of the long are sold (by hand) just as the breakeven stop is refused."""

    async def create_order(self, request: OrderRequest) -> Order:
        if request.stop_price == Decimal(100):
            await super().create_order(OrderRequest(client_order_id="by-hand", symbol="AMD", side="sell",
                                                    quantity=Decimal(6), type="market"))  # fmt: skip
            raise OrderRejected("stop price too close to the market")
        return await super().create_order(request)


async def test_a_stop_left_out_for_a_position_the_others_cover_is_not_said_to_have_no_position(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    broker = Sold(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    for coid, price in (("sl-1", 90), ("sl-2", 92)):
        await broker.create_order(OrderRequest(client_order_id=coid, symbol="AMD", side="sell", quantity=Decimal(5),
                                               type="stop", stop_price=Decimal(price)))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    stops = await paper.query("SELECT quantity FROM paper_orders WHERE type = 'stop' AND status IN ('open', 'held')")
    assert [Decimal(s["quantity"]) for s in stops] == [4], "the 4 held are covered, no more"
    [execution] = await paper.query("SELECT decision FROM signals WHERE id = ?", signal_id)
    decision = execution["decision"]
    assert "no position is left" not in decision, decision
    assert "was not put back" in decision and "long 4" in decision, decision


async def test_a_stop_put_back_for_less_than_it_was_says_its_quantity(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    broker = Sold(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    await broker.create_order(OrderRequest(client_order_id="sl", symbol="AMD", side="sell", quantity=Decimal(10),
                                           type="stop", stop_price=Decimal(90)))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    stops = await paper.query("SELECT quantity FROM paper_orders WHERE type = 'stop' AND status IN ('open', 'held')")
    assert [Decimal(s["quantity"]) for s in stops] == [4], "put back for the 4 held"
    [execution] = await paper.query("SELECT decision FROM signals WHERE id = ?", signal_id)
    decision = execution["decision"]
    # Said by its price alone, the stop put back reads as the stop for 10 it was: the trader must learn it covers 4.
    assert "the stop at 90 works again, put back for 4 of 10: the position holds 4 (" in decision, decision


async def test_a_stop_put_back_in_full_says_no_quantity(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    broker = Held(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    await broker.create_order(OrderRequest(client_order_id="sl", symbol="AMD", side="sell", quantity=Decimal(10),
                                           type="stop", stop_price=Decimal(90)))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    [execution] = await paper.query("SELECT decision FROM signals WHERE id = ?", signal_id)
    decision = execution["decision"]
    assert "put back as a new order" in decision and " of 10" not in decision, decision


class SoldThree(Held):
    """As `Sold`, but 3 of the long are sold: 7 are left."""

    async def create_order(self, request: OrderRequest) -> Order:
        if request.stop_price == Decimal(100):
            await super().create_order(OrderRequest(client_order_id="by-hand", symbol="AMD", side="sell",
                                                    quantity=Decimal(3), type="market"))  # fmt: skip
            raise OrderRejected("stop price too close to the market")
        return await super().create_order(request)


async def test_of_two_stops_put_back_the_one_capped_says_what_the_first_covers(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    broker = SoldThree(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    for coid, price in (("sl-1", 90), ("sl-2", 92)):
        await broker.create_order(OrderRequest(client_order_id=coid, symbol="AMD", side="sell", quantity=Decimal(5),
                                               type="stop", stop_price=Decimal(price)))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    stops = await paper.query("SELECT quantity FROM paper_orders WHERE type = 'stop' AND status IN ('open', 'held') "
                              "ORDER BY stop_price")  # fmt: skip
    assert [Decimal(s["quantity"]) for s in stops] == [5, 2]
    [execution] = await paper.query("SELECT decision FROM signals WHERE id = ?", signal_id)
    decision = execution["decision"]
    assert ("work again, the stop at 92 put back for 2 of 5: the position holds 7, and the stops put back before it "
            "cover 5 (") in decision, decision  # fmt: skip
