"""A halt that lands between a breakeven's cancel of the old stop and its new stop: the position keeps a stop.

Where the venue holds the shares for the working stop, a breakeven cancels it first. The halt then stops the new
stop, as it stops every new order; the old stop, which the bridge itself just canceled, is put back all the same
(for no more than the position): a halt stops trading, it does not strip a position of its protection. Its decision
says reduce-only only where the broker declares it: Alpaca's equities have no reduce-only.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderRejected
from bridge.models import Order, OrderRequest, Signal, StopLoss
from bridge.risk import Admission
from bridge.store.db import Store
from plugins.alpaca import AlpacaBroker
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper, halt


class Held(PaperBroker):
    """The paper book at a venue that holds the shares for a working stop (so a breakeven cancels it first); every
    cancel halts trading once it is done, as `bridge halt` from another shell would at that moment."""

    capabilities = replace(PaperBroker.capabilities, reserves_position=True, local=False)
    paper: Paper | None = None

    async def cancel_order(self, client_order_id: str) -> Order:
        order = await super().cancel_order(client_order_id)
        if self.paper is not None:
            halt(self.paper)
        return order


class HeldAsAlpaca(Held):
    """`Held`, declaring what Alpaca's adapter declares (no reduce-only among it), save the stop moved in place."""

    capabilities = replace(AlpacaBroker.capabilities, replaces_orders=False)


async def _working_stops(paper: Paper) -> list[tuple[str, str]]:
    rows = await paper.query("SELECT client_order_id, stop_price FROM paper_orders WHERE type = 'stop' AND status IN "
                             "('open', 'held') ORDER BY created_at")  # fmt: skip
    return [(row["client_order_id"], row["stop_price"]) for row in rows]


@pytest.mark.parametrize("venue", [Held, HeldAsAlpaca])
async def test_a_halt_between_a_breakevens_cancel_and_its_stop_puts_the_old_stop_back(
    fresh_store: Store, venue: type[Held]
) -> None:
    paper = Paper(fresh_store)
    broker = venue(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.paper = paper

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    orders = {r["leg"]: r for r in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    assert orders["breakeven"]["status"] == "rejected" and "trading is halted" in orders["breakeven"]["error"]
    restore = orders["restore"]
    assert (restore["status"], restore["side"], restore["quantity"]) == ("open", "sell", "10"), restore
    assert await _working_stops(paper) == [(restore["client_order_id"], "95")], "the long keeps its stop"
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    assert execution["state"] == "failed", execution["decision"]
    decision = execution["decision"]
    assert "trading is halted" in decision and "put back" in decision and "no stop" not in decision, decision
    assert "while trading is halted" in decision, decision
    if venue is HeldAsAlpaca:  # a sell stop for more than is held sells short there: only its quantity caps it
        assert "(reduce-only" not in decision, decision
        assert "for no more than the position as read before it went; this broker has no reduce-only" in decision
    else:
        assert "(reduce-only, for no more than the position)" in decision, decision

    # Anything else is still refused: the halt holds for every new trade.
    refused = await paper.run(Signal(ticker="AMD", action="add", price=Decimal(110)))
    [after] = await paper.query("SELECT state FROM signals WHERE id = ?", refused)
    assert after["state"] == "rejected"


async def test_a_halt_after_a_breakevens_plan_check_cancels_nothing(fresh_store: Store) -> None:
    # Halted before its cancels go, the old stop is left as it is: not canceled to be put back.
    paper = Paper(fresh_store)
    broker = Held(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    entry = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                                   stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    [stop_loss] = await paper.query("SELECT client_order_id FROM orders WHERE signal_id = ? AND leg = 'stop_loss'",
                                    entry)  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    check_plan = paper.guard.check_plan

    async def halted_right_after(*args: Any, **kwargs: Any) -> Admission:
        found = await check_plan(*args, **kwargs)
        halt(paper)  # lands between the plan's check and its cancels
        return found

    paper.guard.check_plan = halted_right_after  # type: ignore[method-assign]
    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _working_stops(paper) == [(stop_loss["client_order_id"], "95")], "the stop-loss was left alone"
    orders = {r["leg"]: r for r in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    assert set(orders) == {"breakeven"} and orders["breakeven"]["status"] == "canceled"
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    assert execution["state"] == "failed", execution["decision"]
    assert "trading is halted" in execution["decision"], execution["decision"]
    assert "nothing was canceled; the stop-loss at 95 keeps working" in execution["decision"], execution["decision"]


class HaltedAfterPutBack(PaperBroker):
    """The paper book at a venue that holds the shares for a working stop, which refuses the breakeven stop; trading
    is halted (from another shell) right after the stop put back in its place is placed."""

    capabilities = replace(PaperBroker.capabilities, reserves_position=True, local=False)
    paper: Paper | None = None
    refused = False

    async def create_order(self, request: OrderRequest) -> Order:
        if self.paper is None:
            return await super().create_order(request)
        if not self.refused:  # the breakeven stop
            self.refused = True
            raise OrderRejected("stop price too close to the market")
        order = await super().create_order(request)
        halt(self.paper)
        return order


async def test_a_stop_put_back_before_a_halt_is_not_said_to_be_sent_while_halted(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    broker = HaltedAfterPutBack(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.paper = paper

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    orders = {r["leg"]: r for r in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    assert orders["restore"]["status"] == "open", orders["restore"]
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    decision = execution["decision"]
    assert "put back" in decision and "rejected by the broker" in decision, decision
    assert "halted" not in decision, decision  # it went before the halt: nothing went through it
