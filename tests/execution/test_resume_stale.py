"""A plan resumed after a restart is still a signal of its time: past max_signal_age, what is left of it is not sent."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from bridge.config.schema import Subscription
from bridge.execution.executor import Executor, Job
from bridge.execution.recovery import interrupted_jobs, resolve_orders
from bridge.models import OrderRequest
from bridge.store import journal
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import SUB, FakeBroker
from tests.execution.test_resume_changed_broker import planned_on_paper


async def test_a_resumed_plan_that_waits_past_max_signal_age_sends_nothing_more(fresh_store: Store) -> None:
    # Before the restart: sell while long 2 = exit 2 (sent, filled), then entry 1 (not sent yet).
    signal_id, rows = await planned_on_paper(fresh_store, utcnow() - timedelta(seconds=59))
    paper = FakeBroker({"AMD": Decimal(2)})
    paper.accept(OrderRequest(rows[0]["client_order_id"], "AMD", "sell", Decimal(2)), "filled")
    paper.creates.clear()

    assert await resolve_orders(fresh_store, {"paper": paper}) == []  # type: ignore[dict-item]
    jobs: list[Job] = []
    assert await interrupted_jobs(fresh_store, 60.0, jobs.append) == (1, 0)  # 59 s old: fresh, so re-queued
    await asyncio.sleep(1.1)  # then it waits in its queue (behind recovery's broker calls, say) past the limit
    executor = Executor(
        fresh_store, 60.0, lambda: {"paper": paper}, lambda strategy, key: ("paper", Subscription(broker="paper"))
    )  # type: ignore[arg-type, return-value]
    await executor.run(jobs[0])

    assert paper.creates == []  # the entry of a 60-second-old sell is not sent
    exit_row, entry_row = await fresh_store.run(journal.planned_orders, fresh_store.conn, signal_id, SUB)
    assert exit_row["status"] == "filled"
    assert entry_row["status"] == "canceled" and "expired" in entry_row["error"]
    [execution] = await fresh_store.run(
        lambda: fresh_store.conn.execute("SELECT state, decision FROM executions").fetchall()
    )
    assert execution["state"] == "expired" and "1 order(s) had been sent" in execution["decision"]
