"""Paper orders are placed inside the journal job that commits their plan: atomic with it, and still guarded."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.config.schema import Config, Subscription
from bridge.config.security import GlobalRisk
from bridge.execution.executor import Executor, Job, client_order_id
from bridge.halt import HaltState
from bridge.models import Signal
from bridge.notify.events import Event
from bridge.risk import Guard
from bridge.store import journal
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import STRATEGY, SUB, journal_signal


class Paper:
    """A real executor, guard and paper broker over a real journal."""

    def __init__(self, store: Store, exit_fill_timeout: float = 5.0) -> None:
        self.store = store
        self.broker = PaperBroker(PaperOptions(), BrokerContext(name=SUB, store=store))
        self.sub = Subscription(broker=SUB, exit_fill_timeout=exit_fill_timeout)
        config = Config.model_construct(risk=GlobalRisk())  # the guard reads only the risk block
        self.guard = Guard(store, lambda: config)
        self.executor = Executor(store, 60.0, lambda: {SUB: self.broker}, lambda strategy, key: (SUB, self.sub),
                                 self.guard)  # fmt: skip
        self.events: list[Event] = []
        self.executor.observers.append(self.events.append)

    async def run(self, signal: Signal) -> str:
        signal_id = await journal_signal(self.store, signal)
        await self.executor.run(Job(signal_id, STRATEGY, SUB, signal, utcnow()))
        return signal_id

    async def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        rows = await self.store.read(lambda: self.store.conn.execute(sql, args).fetchall())
        return [dict(row) for row in rows]

    async def booked(self) -> list[str]:
        """The client order ids in the paper book."""
        return [r["client_order_id"] for r in await self.query("SELECT client_order_id FROM paper_orders")]


async def test_a_paper_reversal_is_planned_and_placed_in_one_transaction(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    statements: list[str] = []
    lock = threading.Lock()

    def trace(sql: str) -> None:
        with lock:  # the COMMIT runs on the store's commit thread
            statements.append(sql)

    fresh_store.conn.set_trace_callback(trace)
    signal_id = await paper.run(Signal(ticker="AMD", action="sell", price=Decimal(101)))
    fresh_store.conn.set_trace_callback(None)
    exit_id, entry_id = (client_order_id(signal_id, SUB, leg) for leg in ("exit", "entry"))
    transactions: list[list[str]] = [[]]
    for sql in statements:
        transactions[-1].append(sql)
        if sql == "COMMIT":
            transactions.append([])
    [plan] = [t for t in transactions if any(s.startswith("INSERT INTO orders") and exit_id in s for s in t)]
    placed = [s for s in plan if s.startswith("INSERT INTO paper_orders")]
    assert [exit_id in s for s in placed] == [True, False] and entry_id in placed[1], (
        "both orders of the reversal must be placed in the transaction that commits their plan"
    )
    state = (await paper.query("SELECT state FROM signals WHERE id = ?", signal_id))[0]["state"]
    assert state == "executed"
    assert [e.kind for e in paper.events if e.kind.startswith("order.")] == ["order.filled"] * 3


async def test_a_failed_commit_takes_the_paper_orders_with_their_plan(
    fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    paper = Paper(fresh_store)
    await paper.broker.connect()
    commit = fresh_store._commit
    failed: list[bool] = []

    def failing_commit() -> None:
        conn = fresh_store.conn
        if not failed and conn.execute("SELECT count(*) FROM paper_orders").fetchone()[0]:
            failed.append(True)  # the disk fails the COMMIT of the first batch that books a paper order
            conn.execute("ROLLBACK")
            fresh_store._lock.release()
            raise sqlite3.OperationalError("disk I/O error")
        commit()

    monkeypatch.setattr(fresh_store, "_commit", failing_commit)
    signal_id = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert failed, "the injected COMMIT failure never happened"
    journaled = await paper.query("SELECT client_order_id FROM orders WHERE signal_id = ?", signal_id)
    # Neither the book nor the journal keeps an order the other lost: nothing is left for recovery to guess.
    assert journaled == [] and await paper.booked() == []
    execution = (await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id))[0]
    assert execution["state"] == "failed" and "disk I/O error" in execution["decision"]
    assert not [e for e in paper.events if e.kind.startswith("order.")], "an order event told of a lost order"


def halt(paper: Paper) -> None:
    paper.guard.halt.state = HaltState(True, "test", None, "test")


def open_circuit(paper: Paper) -> None:
    breaker = paper.guard.breaker(SUB)
    breaker.failures, breaker.opened_at, breaker.last_error = 3, paper.guard.clock(), "503 from the venue"


REFUSALS = [(halt, "not sent: trading is halted"), (open_circuit, f"not sent: broker {SUB}'s circuit breaker is open")]


@pytest.mark.parametrize(("change", "refusal"), REFUSALS)
async def test_a_halt_or_an_open_circuit_after_the_plan_check_still_stops_the_paper_order(
    fresh_store: Store, change: Callable[[Paper], None], refusal: str
) -> None:
    paper = Paper(fresh_store)
    await paper.broker.connect()
    check_plan = paper.guard.check_plan

    async def changed_right_after(*args: Any) -> str | None:
        found = await check_plan(*args)
        change(paper)  # lands between the plan's check and its orders
        return found

    paper.guard.check_plan = changed_right_after  # type: ignore[method-assign]
    signal_id = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert await paper.booked() == []
    [order] = await paper.query("SELECT status, error FROM orders WHERE signal_id = ?", signal_id)
    assert order["status"] == "rejected" and order["error"].startswith(refusal)


async def test_a_resting_paper_exit_holds_the_entry_back(fresh_store: Store) -> None:
    paper = Paper(fresh_store, exit_fill_timeout=0.2)
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    # Sell 1 at 200 while the market is at 100: the exit rests, so the entry must not be sent.
    signal_id = await paper.run(Signal(ticker="AMD", action="sell", price=Decimal(100), order_type="limit",
                                       limit_price=Decimal(200)))  # fmt: skip
    exit_id, entry_id = (client_order_id(signal_id, SUB, leg) for leg in ("exit", "entry"))
    booked = await paper.booked()
    assert exit_id in booked and entry_id not in booked
    orders = {r["leg"]: r for r in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    assert orders["exit"]["status"] == "open" and orders["entry"]["status"] == "canceled"
    execution = (await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id))[0]
    assert execution["state"] == "failed" and "the exit did not fill" in execution["decision"]


async def test_a_subclass_that_places_orders_its_own_way_is_called_for_each_order(fresh_store: Store) -> None:
    calls: list[str] = []

    class Venue(PaperBroker):
        async def create_order(self, request: Any) -> Any:
            calls.append(request.client_order_id)
            return await super().create_order(request)

    paper = Paper(fresh_store)
    paper.broker = Venue(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    await paper.broker.connect()
    signal_id = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert calls == [client_order_id(signal_id, SUB, "entry")]
    assert await paper.booked() == calls
    assert await fresh_store.read(journal.unresolved_orders, fresh_store.conn) == []
