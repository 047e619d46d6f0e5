"""A plan committed for one broker is never resumed on another: after a restart with the subscription moved
(paper to the live account, the documented step), the rest of the plan is sent nowhere and says why."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.config.schema import Subscription
from bridge.execution.executor import Executor, Job, client_order_id
from bridge.execution.recovery import interrupted_jobs, resolve_orders
from bridge.models import OrderRequest, Signal
from bridge.store import journal
from bridge.store.db import Store
from tests.execution.test_executor import SUB, FakeBroker, journal_signal


async def planned_on_paper(fresh_store: Store, received_at: datetime | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Before the restart, on "paper": sell while long 2 = exit 2, then entry 1."""
    signal = Signal(ticker="AMD", action="sell")
    signal_id = await journal_signal(fresh_store, signal, received_at)
    rows: list[dict[str, Any]] = []
    for seq, (leg, qty) in enumerate((("exit", "2"), ("entry", "1"))):
        coid = client_order_id(signal_id, SUB, leg)
        rows.append({"id": coid, "signal_id": signal_id, "broker": "paper", "subscription": SUB, "leg": leg,
                     "seq": seq, "client_order_id": coid, "symbol": "AMD", "side": "sell", "type": "market",
                     "quantity": qty, "limit_price": None, "stop_price": None, "time_in_force": "day",
                     "reference_price": None})  # fmt: skip
    await fresh_store.run(journal.save_plan, fresh_store.conn, signal_id, SUB, "sell while long 2: ...", rows)
    return signal_id, rows


async def resume(fresh_store: Store, brokers: dict[str, FakeBroker]) -> None:
    """Start-up recovery with the subscription now naming "live"."""
    live = Subscription(broker="live")
    executor = Executor(fresh_store, 60.0, lambda: brokers, lambda strategy, key: ("live", live))  # type: ignore[arg-type, return-value]
    assert await resolve_orders(fresh_store, brokers) == []  # type: ignore[arg-type]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    for job in jobs:
        await executor.run(job)


async def test_a_plan_for_paper_is_not_resumed_on_the_live_account(fresh_store: Store) -> None:
    signal_id, rows = await planned_on_paper(fresh_store)  # the exit went out; the entry did not
    paper = FakeBroker({"AMD": Decimal(2)})
    paper.accept(OrderRequest(client_order_id=rows[0]["client_order_id"], symbol="AMD", side="sell",
                              quantity=Decimal(2)), "filled")  # fmt: skip

    live = FakeBroker({"AMD": Decimal(0)})  # the subscription now names the live account
    await resume(fresh_store, {"paper": paper, "live": live})
    assert live.creates == [] and paper.creates == []
    exit_row, entry_row = await fresh_store.run(journal.planned_orders, fresh_store.conn, signal_id, SUB)
    assert exit_row["status"] == "filled"  # what paper did stays on record
    assert entry_row["status"] == "canceled" and "broker changed from paper to live" in entry_row["error"]
    [state] = await fresh_store.run(
        lambda: fresh_store.conn.execute("SELECT state, decision FROM executions").fetchall()
    )
    assert (
        state["state"] == "failed"
        and "planned for broker paper, but the subscription now names live" in state["decision"]
    )


async def test_with_the_old_broker_gone_from_the_config_its_unchecked_orders_stay_unknown(fresh_store: Store) -> None:
    signal_id, _rows = await planned_on_paper(fresh_store)  # nothing is known of what reached paper
    live = FakeBroker({"AMD": Decimal(0)})
    await resume(fresh_store, {"live": live})  # "paper" was removed from the config
    assert live.creates == []
    for row in await fresh_store.run(journal.planned_orders, fresh_store.conn, signal_id, SUB):
        assert row["status"] == "unknown" and "may have reached paper" in row["error"]  # never "not sent"


async def test_a_plan_held_by_a_broker_edited_while_down_names_that_broker_and_why(fresh_store: Store) -> None:
    # `brokers.paper` now opens another account, which does not know the exit: the plan stops there, and its
    # decision must send the operator to paper's former account, not say only "the broker does not list it yet".
    await planned_on_paper(fresh_store)
    elsewhere = FakeBroker({"AMD": Decimal(0)})
    brokers = {"paper": elsewhere}
    paper = Subscription(broker="paper")
    executor = Executor(fresh_store, 60.0, lambda: brokers, lambda strategy, key: ("paper", paper))  # type: ignore[arg-type, return-value]
    assert await resolve_orders(fresh_store, brokers, changed={"paper"}) == []  # type: ignore[arg-type]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    for job in jobs:
        await executor.run(job)
    assert elsewhere.creates == []
    [state] = await fresh_store.run(lambda: fresh_store.conn.execute("SELECT * FROM executions").fetchall())
    assert state["state"] == "failed" and "broker paper" in state["decision"], state["decision"]
    assert "changed while the daemon was down" in state["decision"], state["decision"]
