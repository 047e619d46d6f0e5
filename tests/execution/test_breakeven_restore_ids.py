"""A failed breakeven's stops put back after a restart: each one's put-back is known by the stop it puts back.

Where the venue holds the shares for the working stops, a breakeven cancels them first, and puts them back if its
own stop fails. Killed while putting them back, the resumed plan puts back those still pending; it reads again
which were canceled, and a read may fail then (taken as working). Numbered by position among those read canceled,
the put-back of the second stop was taken for the first's, already sent: the second was never put back.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from decimal import Decimal

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderRejected, TemporaryBrokerError
from bridge.execution.executor import Job
from bridge.execution.recovery import interrupted_jobs, resolve_orders
from bridge.models import Order, OrderRequest, Signal
from bridge.store.db import Store
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper


class Held(PaperBroker):
    """The paper book at a venue that holds the shares for working stops (a breakeven cancels them first). It
    refuses the breakeven's stop (at 100); `killed_at` kills the daemon as that order goes out; `unreadable`
    orders cannot be read."""

    capabilities = replace(PaperBroker.capabilities, reserves_position=True, local=False)
    killed_at: Decimal | None = None
    unreadable: frozenset[str] = frozenset()

    async def create_order(self, request: OrderRequest) -> Order:
        if request.stop_price == Decimal(100):
            raise OrderRejected("stop price too close to the market")
        if self.killed_at is not None and request.stop_price == self.killed_at:
            raise asyncio.CancelledError  # the daemon killed as the order goes: its row stays pending
        return await super().create_order(request)

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id in self.unreadable:
            raise TemporaryBrokerError("503 Service Unavailable")
        return await super().fetch_order(client_order_id)


async def _working_stops(paper: Paper) -> list[str]:
    rows = await paper.query("SELECT stop_price FROM paper_orders WHERE type = 'stop' AND status IN ('open', 'held') "
                             "ORDER BY stop_price")  # fmt: skip
    return [row["stop_price"] for row in rows]


async def test_a_stop_put_back_after_a_restart_is_the_one_still_pending_whatever_the_others_read(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    broker = Held(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    for coid, price in (("sl-1", 90), ("sl-2", 92)):
        await broker.create_order(OrderRequest(client_order_id=coid, symbol="AMD", side="sell", quantity=Decimal(5),
                                               type="stop", stop_price=Decimal(price)))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))

    # Both canceled first, the breakeven stop refused: the stop at 90 goes back, and the daemon is killed as the
    # stop at 92 goes back.
    broker.killed_at = Decimal(92)
    with contextlib.suppress(asyncio.CancelledError):
        await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _working_stops(paper) == ["90"]
    broker.killed_at = None

    # Restarted; the venue cannot show the first stop now (the put-back of 90 works, unknown to that read).
    broker.unreadable = frozenset({"sl-1"})
    assert await resolve_orders(fresh_store, {SUB: broker}) == []  # type: ignore[dict-item]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    assert jobs
    for job in jobs:
        await paper.executor.run(job)

    assert await _working_stops(paper) == ["90", "92"], "each stop put back once"
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", jobs[0].signal_id)
    assert execution["state"] == "failed" and "put back" in execution["decision"], execution["decision"]
    pending = await paper.query("SELECT client_order_id FROM orders WHERE status = 'pending'")
    assert pending == [], "nothing of the plan is left pending"


async def test_a_stop_whose_put_back_is_journaled_is_put_back_after_a_restart_though_it_cannot_be_read(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    broker = Held(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    for coid, price in (("sl-1", 90), ("sl-2", 92)):
        await broker.create_order(OrderRequest(client_order_id=coid, symbol="AMD", side="sell", quantity=Decimal(5),
                                               type="stop", stop_price=Decimal(price)))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))

    # Both canceled first, the breakeven stop refused: the daemon is killed as the first put-back (90) goes, both
    # put-backs journaled and pending.
    broker.killed_at = Decimal(90)
    with contextlib.suppress(asyncio.CancelledError):
        await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _working_stops(paper) == []
    broker.killed_at = None

    # Restarted; the venue cannot show the first stop now. Its put-back was journaled: it was canceled.
    broker.unreadable = frozenset({"sl-1"})
    assert await resolve_orders(fresh_store, {SUB: broker}) == []  # type: ignore[dict-item]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    assert jobs
    for job in jobs:
        await paper.executor.run(job)

    assert await _working_stops(paper) == ["90", "92"], "each stop put back once"
    pending = await paper.query("SELECT client_order_id FROM orders WHERE status = 'pending'")
    assert pending == [], "nothing of the plan is left pending"
