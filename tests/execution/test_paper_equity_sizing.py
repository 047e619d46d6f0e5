"""Equity sizing on the paper broker counts the position at the price the signal brought."""

from __future__ import annotations

from decimal import Decimal

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.config.schema import Subscription
from bridge.execution.executor import Executor, Job
from bridge.models import Signal
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import STRATEGY, SUB, journal_signal


async def test_percent_of_equity_values_the_position_at_the_signal_s_price(fresh_store: Store) -> None:
    """Long 200 at 50 of 100,000, the next signal at 100: equity is 110,000, so 10% adds 110, not 100."""
    broker = PaperBroker(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    sub = Subscription.model_validate({"broker": SUB, "sizing": {"type": "percent_of_equity", "value": 10}})
    executor = Executor(fresh_store, 60.0, lambda: {SUB: broker}, lambda strategy, key: (SUB, sub))

    async def send(signal: Signal) -> None:
        signal_id = await journal_signal(fresh_store, signal)
        await executor.run(Job(signal_id, STRATEGY, SUB, signal, utcnow()))

    await send(Signal(ticker="SQ", action="buy", price=Decimal(50)))
    assert [(p.quantity, p.avg_price) for p in await broker.fetch_positions()] == [(Decimal(200), Decimal(50))]
    await send(Signal(ticker="SQ", action="add", price=Decimal(100)))
    assert [p.quantity for p in await broker.fetch_positions()] == [Decimal(310)]
