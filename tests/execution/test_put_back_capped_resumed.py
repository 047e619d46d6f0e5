"""A failed breakeven's stop put back after a restart: for no more than the position held then.

Killed as the stop went back, the put-back stays journaled pending, for the position held at that time. Resumed,
the breakeven fails again and the put-back is sent at last; the position was partly sold meanwhile. The put-back's
quantity is capped to what is held now (where reduce-only is not enforced, the rest would sell short once it
triggers), the journaled row with it, so the order sent is the order said.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperOptions
from bridge.execution.executor import Job
from bridge.execution.recovery import interrupted_jobs, resolve_orders
from bridge.models import OrderRequest, Signal
from bridge.store.db import Store
from tests.execution.test_breakeven_restore_ids import Held
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper


async def test_a_put_back_journaled_before_a_restart_goes_for_no_more_than_the_position_held_now(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    broker = Held(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    await broker.create_order(OrderRequest(client_order_id="sl-1", symbol="AMD", side="sell", quantity=Decimal(10),
                                           type="stop", stop_price=Decimal(90)))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))

    # Canceled first, the breakeven stop refused: the daemon is killed as the stop at 90 goes back (for 10).
    broker.killed_at = Decimal(90)
    with contextlib.suppress(asyncio.CancelledError):
        await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    broker.killed_at = None
    [pending] = await paper.query("SELECT quantity FROM orders WHERE leg = 'restore' AND status = 'pending'")
    assert Decimal(pending["quantity"]) == 10

    # While it was down, 6 of the 10 were sold by hand.
    await broker.create_order(OrderRequest(client_order_id="by-hand", symbol="AMD", side="sell", quantity=Decimal(6),
                                           type="market"))  # fmt: skip
    assert (await broker.fetch_positions())[0].quantity == 4

    assert await resolve_orders(fresh_store, {SUB: broker}) == []  # type: ignore[dict-item]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    assert jobs
    for job in jobs:
        await paper.executor.run(job)

    stops = await paper.query("SELECT quantity FROM paper_orders WHERE type = 'stop' AND status IN ('open', 'held') "
                              "AND stop_price = '90'")  # fmt: skip
    assert [Decimal(s["quantity"]) for s in stops] == [4], "put back for the 4 held now, not the 10 held before"
    [row] = await paper.query("SELECT quantity, status FROM orders WHERE leg = 'restore'")
    assert Decimal(row["quantity"]) == 4, row
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", jobs[0].signal_id)
    assert "put back" in execution["decision"], execution["decision"]
