"""Plans admitted under max_orders_per_minute hold their orders until they are in the journal, and a plan that
never gets there (a failed cancel) lets go of them."""

from __future__ import annotations

import asyncio
from decimal import Decimal
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


async def test_a_swap_whose_entry_breaks_a_size_limit_still_closes_the_position(fresh_store: Store) -> None:
    """Long 10 AMD, and the strategy turns: sell 50 under max_order_quantity 20. Refused whole, it stayed long 10.

    Exits are never blocked by size limits: the exit goes, the entry over the limit does not, and the decision
    says which limit refused it.
    """
    harness = Harness(fresh_store, FakeBroker(positions={"AMD": Decimal(10)}))
    config = SimpleNamespace(risk=GlobalRisk(max_order_quantity=Decimal(20)))
    guard = Guard(harness.store, lambda: config)  # type: ignore[arg-type,return-value]
    harness.executor = Executor(harness.store, 60.0, lambda: {SUB: harness.broker},
                                lambda strategy, key: (SUB, harness.sub), guard)  # fmt: skip
    await guard.load()
    swapped = await harness.run(Signal(ticker="AMD", action="sell", quantity=Decimal(50)))
    final = await harness.signal(swapped)
    assert [(r.side, r.quantity) for r in harness.broker.creates] == [("sell", 10)], final["decision"]
    assert harness.broker.positions["AMD"] == 0, "the long the strategy turned away from was left open"
    assert final["state"] == "executed", final["decision"]
    assert "only the exit was sent" in final["decision"] and "risk.max_order_quantity 20" in final["decision"]
