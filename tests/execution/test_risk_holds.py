"""Plans admitted under max_orders_per_minute hold their orders until they are in the journal, and a plan that
never gets there (a failed cancel) lets go of them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from bridge.config.security import GlobalRisk
from bridge.errors import TemporaryBrokerError
from bridge.execution.executor import Executor
from bridge.models import Order, OrderRequest, Signal
from bridge.risk import Guard
from bridge.store.db import Store
from tests.execution.test_executor import SUB, FakeBroker, Harness


def guarded(harness: Harness, limit: int) -> Guard:
    config = SimpleNamespace(risk=GlobalRisk(max_orders_per_minute=limit))
    guard = Guard(harness.store, lambda: config)  # type: ignore[arg-type,return-value]
    harness.executor = Executor(harness.store, 60.0, lambda: {SUB: harness.broker},
                                lambda strategy, key: (SUB, harness.sub), guard)  # fmt: skip
    return guard


async def test_three_tickers_at_once_send_one_order_under_a_limit_of_one(fresh_store: Store) -> None:
    harness = Harness(fresh_store, FakeBroker())
    await guarded(harness, 1).load()
    ids = await asyncio.gather(*(harness.run(Signal(ticker=t, action="buy")) for t in ("AMD", "NVDA", "TSLA")))
    assert len(harness.broker.creates) == 1
    states = sorted([(await harness.signal(i))["state"] for i in ids])
    assert states == ["executed", "rejected", "rejected"]


class CancelFails(FakeBroker):
    """A venue whose cancels fail for now."""

    async def cancel_order(self, client_order_id: str) -> Order:
        raise TemporaryBrokerError("503 from the venue")


async def test_a_plan_that_fails_before_its_commit_holds_nothing_afterwards(fresh_store: Store) -> None:
    broker = CancelFails()
    broker.accept(OrderRequest(client_order_id="resting", symbol="AMD", side="buy", quantity=1, type="limit",
                               limit_price=1), "open")  # type: ignore[arg-type]  # fmt: skip
    harness = Harness(fresh_store, broker)
    await guarded(harness, 1).load()
    failed = await harness.run(Signal(ticker="AMD", action="buy", cancel=True))  # admitted, then its cancel fails
    assert (await harness.signal(failed))["state"] == "failed" and broker.creates == []
    traded = await harness.run(Signal(ticker="NVDA", action="buy"))  # the failed plan's order is not still held
    assert (await harness.signal(traded))["state"] == "executed" and len(broker.creates) == 1
