"""A breakeven whose new stop met an outage that opened the broker's circuit, after the old stop was canceled first.

The stop put back in place of the one the bridge's own cancel took passes the open circuit, as it passes a halt:
held back, the position would be left without a stop for as long as the circuit stays open, unsaid but for a log.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.config.schema import Config
from bridge.config.security import GlobalRisk
from bridge.errors import OrderRejected, TemporaryBrokerError
from bridge.models import Order, OrderRequest, Signal, StopLoss
from bridge.store.db import Store
from tests.execution.test_executor import STRATEGY, SUB
from tests.execution.test_paper_in_plan import Paper


class Down(PaperBroker):
    """The paper book at a venue that holds the shares for a working stop (so a breakeven cancels it first), whose
    next `outages` orders meet an outage (a 503) instead of being placed."""

    capabilities = replace(PaperBroker.capabilities, reserves_position=True, local=False)
    outages = 0

    async def create_order(self, request: OrderRequest) -> Order:
        if self.outages:
            self.outages -= 1
            raise TemporaryBrokerError("503 Service Unavailable")
        return await super().create_order(request)


async def _working_stops(paper: Paper) -> list[tuple[str, str, str]]:
    rows = await paper.query("SELECT client_order_id, quantity, stop_price FROM paper_orders WHERE type = 'stop' AND "
                             "status IN ('open', 'held') ORDER BY created_at")  # fmt: skip
    return [(row["client_order_id"], row["quantity"], row["stop_price"]) for row in rows]


async def test_a_stop_put_back_is_sent_although_the_outage_opened_the_circuit(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=1))  # one outage opens the circuit
    paper.guard.config = lambda: config
    broker = Down(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.outages = 1  # the breakeven stop meets the outage; the venue is back a moment later

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert paper.guard.status() == {SUB: "open"}, "the outage opened the broker's circuit"
    orders = {r["leg"]: r for r in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    assert orders["breakeven"]["status"] == "rejected", orders["breakeven"]
    restore = orders["restore"]
    assert (restore["status"], restore["side"], restore["quantity"]) == ("open", "sell", "10"), restore
    assert await _working_stops(paper) == [(restore["client_order_id"], "10", "95")], "the long keeps its stop"
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    assert execution["state"] == "failed", execution["decision"]
    decision = execution["decision"]
    assert "put back" in decision and "no stop" not in decision, decision
    assert "circuit breaker is open" in decision, decision
    # Anything else is still held back by the open circuit: the put-back was no probe, and closed nothing.
    assert paper.guard.status() == {SUB: "open"}
    held = await paper.run(Signal(ticker="AMD", action="add", price=Decimal(110)))
    [after] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", held)
    assert after["state"] == "rejected" and "circuit breaker" in after["decision"], after


async def test_a_stop_put_back_the_venue_does_not_take_during_the_outage_is_said_to_be_missing(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=1))
    paper.guard.config = lambda: config
    broker = Down(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.outages = 2  # the stop put back meets the outage too

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _working_stops(paper) == []
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    assert execution["state"] == "failed", execution["decision"]
    assert "no stop at the broker" in execution["decision"], execution["decision"]


async def test_a_stop_put_back_through_the_open_circuit_leaves_its_count_as_it_was(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=1))
    paper.guard.config = lambda: config
    broker = Down(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.outages = 2  # the stop put back meets the outage too

    await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    breaker = paper.guard.breaker(SUB)
    assert breaker.opened_at is not None
    # Sent through the open circuit, it is no probe: what it met says nothing the circuit counts.
    assert breaker.failures == 1, "the breakeven stop's outage alone opened it"
    assert not breaker.probing


class Refuses(Down):
    """As `Down`, but its next `refusals` orders are refused by the venue (it is up, the orders are wrong)."""

    refusals = 0

    async def create_order(self, request: OrderRequest) -> Order:
        if self.refusals:
            self.refusals -= 1
            raise OrderRejected("market closed for this symbol")
        return await super().create_order(request)


async def test_a_stop_put_back_the_venue_refuses_does_not_count_in_the_strategys_circuit(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=2))  # two refusals in a row open it
    paper.guard.config = lambda: config
    broker = Refuses(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.refusals = 2  # the breakeven stop is refused, and so is the stop put back

    await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    # The breakeven stop was the strategy's order; the stop put back is the bridge undoing its own cancel, and its
    # refusal says nothing of the strategy's orders: its entries must not be held back for it.
    refused = paper.guard.strategy_breaker(SUB, STRATEGY)
    assert (refused.failures, refused.opened_at) == (1, None), refused
    assert paper.guard.strategy_status() == {SUB: {STRATEGY: "closed"}}
    added = await paper.run(Signal(ticker="AMD", action="add", price=Decimal(110), quantity=Decimal(1)))
    [after] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", added)
    assert after["state"] == "executed", after["decision"]


async def test_a_stop_put_back_the_venue_takes_does_not_close_the_strategys_circuit(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=2))
    paper.guard.config = lambda: config
    broker = Refuses(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.refusals = 1  # the breakeven stop is refused; the stop put back is taken

    await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    # Taken, it says nothing of the strategy's orders either: the refusal before it still counts.
    assert paper.guard.strategy_breaker(SUB, STRATEGY).failures == 1
