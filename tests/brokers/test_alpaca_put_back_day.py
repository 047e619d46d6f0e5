"""A bracket's stop-loss at Alpaca, moved in place by a breakeven, then put back after a cancel took it.

A breakeven moves a bracket's stop-loss in place (`replace_order`), and a leg's replace changes its prices only
("Orders at Alpaca", Bracket Orders): the stop works on in its bracket's time in force, whatever the breakeven
asked. The journal must say so: a later put-back of that stop (a cancel of the take-profit takes it with it at
Alpaca) goes in the time in force the journal gives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bridge.brokers.base import BrokerContext
from bridge.models import Signal, StopLoss, TakeProfit
from bridge.store.db import Store
from plugins.alpaca import AlpacaBroker
from tests.brokers.test_contract_alpaca import alpaca_options
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper
from tests.fakes.alpaca import OPEN, FakeAlpaca


@pytest.fixture
async def fake(alpaca_server: tuple[FakeAlpaca, str]) -> FakeAlpaca:
    """The module's fake Alpaca, with a fresh account."""
    alpaca_server[0].reset()
    return alpaca_server[0]


@pytest.fixture
async def broker(alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca) -> AsyncIterator[AlpacaBroker]:
    """A connected adapter on the fake."""
    adapter = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name=SUB))
    await adapter.connect()
    yield adapter
    await adapter.close()


def _working_sells(fake: FakeAlpaca) -> list[tuple[str, str, str | None, str]]:
    """The SQ sells working at Alpaca: type, quantity, price (the stop's, else the limit's) and time in force."""
    return sorted((o["type"], o["qty"], o["stop_price"] or o["limit_price"], o["time_in_force"]) for o in fake.orders
                  if o["symbol"] == "SQ" and o["side"] == "sell" and o["status"] in OPEN)  # fmt: skip


async def test_a_stop_loss_moved_in_place_is_journaled_and_put_back_in_the_time_in_force_alpaca_kept(
    fake: FakeAlpaca, broker: AlpacaBroker, fresh_store: Store
) -> None:
    """The bracket's legs are gtc; a breakeven asking day moves the stop-loss in place, which stays gtc at Alpaca.
    Journaled day, the stop put back after the take-profit's cancel went as a day order: gone at the close, where
    the stop it puts back would have protected the position overnight."""
    paper = Paper(fresh_store)
    paper.broker = broker  # type: ignore[assignment]
    fake.set_price("SQ", Decimal(100))
    bracket = {"take_profit": TakeProfit(limit_price=Decimal(120)), "stop_loss": StopLoss(stop_price=Decimal(95))}
    await paper.run(Signal(ticker="SQ", action="buy", price=Decimal(100), quantity=Decimal(10), **bracket))
    assert _working_sells(fake) == [("limit", "10", "120", "gtc"), ("stop", "10", "95", "gtc")]
    fake.set_price("SQ", Decimal(110))
    moved = await paper.run(Signal(ticker="SQ", action="breakeven", price=Decimal(110), time_in_force="day"))
    assert _working_sells(fake) == [("limit", "10", "120", "gtc"), ("stop", "10", "100", "gtc")]
    [stop] = await paper.query("SELECT time_in_force FROM orders WHERE signal_id = ? AND leg = 'breakeven'", moved)
    assert stop["time_in_force"] == "gtc", "journaled as Alpaca keeps it: the leg's time in force"

    # The take-profit canceled, Alpaca cancels the stop with it (one bracket): put back, it goes as it was, gtc.
    signal_id = await paper.run(Signal(ticker="SQ", action="cancel", cancel_order_type="limit"))
    assert _working_sells(fake) == [("stop", "10", "100", "gtc")], "the position keeps its stop overnight"
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["state"] == "executed", execution
    assert "put back as a new order" in execution["decision"], execution["decision"]
