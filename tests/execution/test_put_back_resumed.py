"""A leg put back after a cancel took it with its sibling (Alpaca's brackets) is still sent after a restart.

The put-back is journaled (pending) before it is sent, the cancel-only plan holding nothing else: a restart
between the two resumes a plan of that one order, which must go, whatever the signal's age (the bridge undoing
the venue's side effect, as a failed breakeven's stop put back), and the decision must say whether it works.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderRejected
from bridge.execution.executor import Job
from bridge.execution.orders import restore_row
from bridge.execution.recovery import interrupted_jobs, resolve_orders
from bridge.models import Order, OrderRequest, Signal
from bridge.store import journal
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper, halt, journal_signal

CANCELED = "canceled the take-profit at 120 (limit)"
WHAT = "the broker canceled the stop-loss at 95 with it (a bracket's legs cancel together there)"


class Refusing(PaperBroker):
    """The paper book, refusing every stop as a venue may (the account restricted, the price through the market)."""

    async def create_order(self, request: OrderRequest) -> Order:
        if request.type == "stop":
            raise OrderRejected("stop orders are not accepted for this account")
        return await super().create_order(request)


async def _interrupted_put_back(paper: Paper, age: float) -> tuple[str, str]:
    """A cancel of a take-profit whose stop-loss the venue canceled too, the daemon killed once its put-back was
    journaled and before it was sent, as `_put_back_gone` leaves it; the signal and the put-back's client order id."""
    received = utcnow() - timedelta(seconds=age)
    signal_id = await journal_signal(paper.store, Signal(ticker="AMD", action="cancel"), received)
    base = {"signal_id": signal_id, "subscription": SUB, "broker": SUB, "symbol": "AMD", "seq": -1}
    gone = Order("old-stop-loss", "AMD", "sell", Decimal(10), "stop", "canceled", stop_price=Decimal(95),
                 parent_client_order_id="old-entry")  # fmt: skip
    [row] = await paper.store.run(journal.save_plan, paper.store.conn, signal_id, SUB, f"{CANCELED}; {WHAT}",
                                  [restore_row(base, gone, 0)])  # fmt: skip
    return signal_id, row["client_order_id"]


@pytest.mark.parametrize(("age", "queued"), [(1.0, 0.0), (600.0, 0.0), (59.0, 1.1)],
                         ids=["young", "expired-while-down", "expired-in-its-queue"])  # fmt: skip
async def test_a_leg_put_back_journaled_before_a_restart_is_sent_after_it(
    fresh_store: Store, age: float, queued: float
) -> None:
    paper = Paper(fresh_store)
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    signal_id, coid = await _interrupted_put_back(paper, age)

    assert await resolve_orders(fresh_store, {SUB: paper.broker}) == []  # type: ignore[dict-item]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    await asyncio.sleep(queued)  # re-queued fresh, then past max_signal_age behind recovery's broker calls, say
    for job in jobs:
        await paper.executor.run(job)

    [back] = await paper.query("SELECT status, type, side, stop_price, quantity FROM orders WHERE client_order_id = ?",
                               coid)  # fmt: skip
    assert (back["status"], back["type"], back["side"], back["stop_price"], back["quantity"]) == (
        "open", "stop", "sell", "95", "10"
    )  # fmt: skip
    assert coid in await paper.booked()  # the position has its stop-loss again
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["state"] == "executed", execution["decision"]
    assert execution["decision"] == f"{CANCELED}; {WHAT}, so it was put back as a new order ({coid})"


async def test_a_leg_put_back_after_a_restart_and_refused_is_said_to_be_missing(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    paper.broker = Refusing(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    signal_id, coid = await _interrupted_put_back(paper, 1.0)

    assert await resolve_orders(fresh_store, {SUB: paper.broker}) == []  # type: ignore[dict-item]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    for job in jobs:
        await paper.executor.run(job)

    [back] = await paper.query("SELECT status FROM orders WHERE client_order_id = ?", coid)
    assert back["status"] == "rejected" and coid not in await paper.booked()
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["state"] == "failed", execution["decision"]
    assert execution["decision"].startswith(f"{CANCELED}; {WHAT}, and it was not put back"), execution["decision"]
    assert "lacks it" in execution["decision"]


async def test_a_stop_loss_put_back_after_a_restart_goes_while_trading_is_halted(fresh_store: Store) -> None:
    # A halt stops new trades; a stop the venue took with the bridge's cancel is the position's protection put back.
    paper = Paper(fresh_store)
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10)))
    signal_id, coid = await _interrupted_put_back(paper, 1.0)
    halt(paper)

    assert await resolve_orders(fresh_store, {SUB: paper.broker}) == []  # type: ignore[dict-item]
    jobs: list[Job] = []
    await interrupted_jobs(fresh_store, 60.0, jobs.append)
    for job in jobs:
        await paper.executor.run(job)

    assert coid in await paper.booked()
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["state"] == "executed", execution["decision"]
    assert execution["decision"].startswith(f"{CANCELED}; {WHAT}, so it was put back as a new order ({coid}) while "
                                            "trading is halted"), execution["decision"]  # fmt: skip
