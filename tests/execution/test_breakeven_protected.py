"""A breakeven never leaves the position without a stop: where the venue takes two stops, the new one goes first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderRejected, TemporaryBrokerError, UnknownOutcome
from bridge.models import Order, OrderRequest, Signal, StopLoss, TakeProfit
from bridge.store.db import Store
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper


class Refusing(PaperBroker):
    """A paper venue that refuses, or never answers, every breakeven stop: `error` says how."""

    error: Exception = OrderRejected("stop price too close to the market")

    async def create_order(self, request: OrderRequest) -> Order:
        if request.type == "stop" and request.reduce_only:
            raise self.error
        return await super().create_order(request)


async def _long_with_bracket(paper: Paper) -> None:
    await paper.broker.connect()
    body = {"stop_loss": StopLoss(stop_price=Decimal(95)), "take_profit": TakeProfit(limit_price=Decimal(120))}
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10), **body))
    await paper.broker.observe_price("AMD", Decimal(110))


async def _working_stops(paper: Paper) -> list[tuple[str, str]]:
    rows = await paper.query("SELECT side, stop_price FROM paper_orders WHERE type = 'stop' AND status IN "
                             "('open', 'held') ORDER BY created_at")  # fmt: skip
    return [(row["side"], row["stop_price"]) for row in rows]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OrderRejected("stop price too close to the market"), "rejected by the broker"),
        (TemporaryBrokerError("the venue is down"), "not sent"),
        (UnknownOutcome("the venue did not answer"), "outcome is unknown"),
    ],
)
async def test_a_breakeven_stop_the_venue_does_not_take_leaves_the_old_stop_working(
    fresh_store: Store, error: Exception, said: str
) -> None:
    paper = Paper(fresh_store)
    paper.broker = Refusing(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker.error = error
    await _long_with_bracket(paper)
    assert await _working_stops(paper) == [("sell", "95")]
    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _working_stops(paper) == [("sell", "95")]  # the position keeps its stop-loss
    decision = (await paper.query("SELECT decision FROM signals WHERE id = ?", signal_id))[0]["decision"]
    assert said in decision and "the stop-loss at 95 keeps working" in decision, decision
    assert "no stop" not in decision, decision
    await paper.broker.observe_price("AMD", Decimal(94))  # and it still sells the long
    assert (await paper.broker.fetch_positions()) == []


async def test_a_paper_breakeven_places_its_stop_before_it_cancels_the_old_one(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    await _long_with_bracket(paper)
    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _working_stops(paper) == [("sell", "100.00")]
    rows = await paper.query("SELECT leg, status, created_at, updated_at FROM orders WHERE type = 'stop' "
                             "ORDER BY created_at")  # fmt: skip
    assert [(row["leg"], row["status"]) for row in rows] == [("stop_loss", "canceled"), ("breakeven", "open")]
    decision = (await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id))[0]
    assert decision["state"] == "executed", decision
    canceled = await paper.query("SELECT updated_at FROM paper_orders WHERE type = 'stop' AND status = 'canceled'")
    placed = await paper.query("SELECT created_at FROM paper_orders WHERE type = 'stop' AND status = 'open'")
    assert placed[0]["created_at"] <= canceled[0]["updated_at"]
