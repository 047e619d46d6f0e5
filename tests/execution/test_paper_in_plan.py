"""Paper orders are placed inside the journal job that commits their plan: atomic with it, and still guarded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.config.schema import Config, Subscription
from bridge.config.security import GlobalRisk
from bridge.errors import OrderRejected
from bridge.execution.executor import Executor, Job, client_order_id
from bridge.halt import write_state
from bridge.models import Order, OrderRequest, Position, Signal, StopLoss, TakeProfit
from bridge.notify.events import Event
from bridge.risk import Admission, Guard
from bridge.store import journal
from bridge.store.db import Store, utcnow
from tests.conftest import GUARD
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
    finishing = [s for s in statements if s.startswith("UPDATE executions SET state = ") and signal_id in s]
    assert finishing and all(s in plan for s in finishing), (
        "an execution whose orders all filled at once is finished in its plan's commit, not in one of its own"
    )
    assert [e.kind for e in paper.events if e.kind.startswith("order.")] == ["order.filled"] * 3
    # Placed before they are written, each order is written once, already with the book's answer.
    # (The exit sold all of the position: the mark of what it closed, `journal.close_shares`, is no rewrite.)
    assert not [s for s in statements if s.startswith("UPDATE orders") and "SET closed_by" not in s], (
        "an order placed with its plan is not rewritten"
    )
    journaled = await paper.query(
        "SELECT o.client_order_id, o.status, o.broker_order_id, o.filled_quantity, o.avg_fill_price, o.error,"
        " o.created_at <= o.updated_at AS ordered, p.status AS book_status, p.broker_order_id AS book_id,"
        " p.filled_quantity AS book_filled, p.avg_fill_price AS book_price FROM orders o"
        " JOIN paper_orders p ON p.client_order_id = o.client_order_id WHERE o.signal_id = ? ORDER BY o.seq",
        signal_id,
    )
    assert [row["client_order_id"] for row in journaled] == [exit_id, entry_id]
    for row in journaled:
        assert (row["status"], row["broker_order_id"], row["filled_quantity"], row["avg_fill_price"]) == (
            row["book_status"],
            row["book_id"],
            row["book_filled"],
            row["book_price"],
        )
        assert row["status"] == "filled" and row["avg_fill_price"] == "101" and row["error"] is None
        assert row["broker_order_id"] and row["ordered"] == 1


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
    paper.guard.breaker(SUB).failures = 2  # two failed submissions in a row before this one
    signal_id = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert failed, "the injected COMMIT failure never happened"
    assert paper.guard.breaker(SUB).failures == 2, "an order the failed COMMIT took away was counted as a success"
    journaled = await paper.query("SELECT client_order_id FROM orders WHERE signal_id = ?", signal_id)
    # Neither the book nor the journal keeps an order the other lost: nothing is left for recovery to guess.
    assert journaled == [] and await paper.booked() == []
    execution = (await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id))[0]
    assert execution["state"] == "failed" and "disk I/O error" in execution["decision"]
    assert not [e for e in paper.events if e.kind.startswith("order.")], "an order event told of a lost order"


async def test_a_failure_in_the_book_after_an_order_is_written_undoes_the_whole_plan(
    fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A market order takes no savepoint of its own inside the plan's job: what it wrote before a failure
    # must go with the job, not stay half-booked.
    paper = Paper(fresh_store)
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    booked_before = await paper.booked()
    book_fill = PaperBroker._book_fill
    fills: list[str] = []

    def failing_book_fill(self: PaperBroker, coid: str, *args: Any) -> None:
        fills.append(coid)
        if len(fills) == 2:  # the reversal's entry: its order row is written, and the exit is booked in full
            raise RuntimeError("the book broke")
        book_fill(self, coid, *args)

    monkeypatch.setattr(PaperBroker, "_book_fill", failing_book_fill)
    signal_id = await paper.run(Signal(ticker="AMD", action="sell", price=Decimal(101)))
    assert len(fills) == 2, "the reversal's entry never reached the book"
    assert await paper.booked() == booked_before, "the book kept part of a plan whose job failed"
    assert await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id) == []
    position = await paper.broker.fetch_position("AMD")
    assert position is not None and position.quantity == 1, "the exit's fill stayed booked"
    execution = (await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id))[0]
    assert execution["state"] == "failed" and "the book broke" in execution["decision"]


async def test_an_order_the_book_already_holds_is_adopted_and_never_filled_again(fresh_store: Store) -> None:
    # An order that fills at once is the book's first write for it, with no savepoint of its own: a duplicate
    # id (an order booked before a crash) must raise before a fill, a position or cash is booked for it.
    paper = Paper(fresh_store)
    await paper.broker.connect()
    signal = Signal(ticker="AMD", action="buy", price=Decimal(100))
    signal_id = await journal_signal(fresh_store, signal)
    entry_id = client_order_id(signal_id, SUB, "entry")
    held = await paper.broker.create_order(  # resting, so the position stays flat and the plan still buys
        OrderRequest(entry_id, "AMD", "buy", Decimal(1), "limit", limit_price=Decimal(90), reference_price=Decimal(100))
    )
    cash = await paper.query("SELECT cash FROM paper_accounts")
    await paper.executor.run(Job(signal_id, STRATEGY, SUB, signal, utcnow()))
    assert await paper.query("SELECT client_order_id FROM paper_fills") == [], "a fill was booked for a duplicate"
    assert await paper.broker.fetch_position("AMD") is None
    assert await paper.query("SELECT cash FROM paper_accounts") == cash
    assert await paper.booked() == [entry_id]
    journaled = await paper.query("SELECT status, broker_order_id FROM orders WHERE signal_id = ?", signal_id)
    assert journaled == [{"status": "open", "broker_order_id": held.broker_order_id}], "the held order was not adopted"


def halt(paper: Paper) -> None:
    """`bridge halt` from another process lands in the journal."""
    cli = Store(paper.store.path)
    cli.open_sync()
    try:
        write_state(cli.conn, True, "test", "cli")
    finally:
        cli.close_sync()


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

    async def changed_right_after(*args: Any, **kwargs: Any) -> Admission:
        found = await check_plan(*args, **kwargs)
        change(paper)  # lands between the plan's check and its orders
        return found

    paper.guard.check_plan = changed_right_after  # type: ignore[method-assign]
    signal_id = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert await paper.booked() == []
    [order] = await paper.query("SELECT status, error FROM orders WHERE signal_id = ?", signal_id)
    assert order["status"] == "rejected" and order["error"].startswith(refusal)


async def test_a_resting_paper_exit_holds_the_entry_back(fresh_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Time is driven here, not waited for: the read of the resting exit answers exit_fill_timeout later on the loop's
    # clock. The wait then ends unfilled however fast the machine, and no read runs out of its time on a slow one.
    loop = asyncio.get_running_loop()
    ran, passed = loop.time, [0.0]
    monkeypatch.setattr(loop, "time", lambda: ran() + passed[0])

    class Resting(PaperBroker):
        """The book, answering a read of a working order once the whole wait for its fill has passed."""

        async def fetch_order(self, client_order_id: str) -> Order:
            order = await super().fetch_order(client_order_id)
            if order.status == "open":
                passed[0] += GUARD
            return order

    paper = Paper(fresh_store, exit_fill_timeout=GUARD)  # a read has all of it, however loaded the machine
    paper.broker = Resting(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
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


async def test_a_paper_refusal_inside_the_plan_is_final_and_holds_the_entry_back(fresh_store: Store) -> None:
    attempts: list[str] = []

    class RefusesOnce(PaperBroker):
        """A book whose first order is refused (say, for buying power); it would take the same order again."""

        def _create(self, request: OrderRequest) -> Order:
            attempts.append(request.client_order_id)
            if len(attempts) == 2:  # the exit of the reversal below
                raise OrderRejected("insufficient buying power")
            return super()._create(request)

    paper = Paper(fresh_store)
    paper.broker = RefusesOnce(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    signal_id = await paper.run(Signal(ticker="AMD", action="sell", price=Decimal(101)))
    exit_id = client_order_id(signal_id, SUB, "exit")
    assert attempts[1:] == [exit_id], "a refused order was sent again, or the entry went after a refused exit"
    orders = {r["leg"]: r for r in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    assert orders["exit"]["status"] == "rejected" and orders["exit"]["error"] == "insufficient buying power"
    assert orders["entry"]["status"] == "canceled"
    execution = (await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id))[0]
    assert execution["state"] == "failed" and "the exit was rejected by the broker" in execution["decision"]
    assert paper.guard.breaker(SUB).failures == 0, "the venue answered: a refusal is no outage"
    assert paper.guard.strategy_breaker(SUB, STRATEGY).failures == 1


class Logged(PaperBroker):
    """A simulated venue in front of the book: it logs each order, then books it."""

    calls: ClassVar[list[str]] = []

    async def create_order(self, request: OrderRequest) -> Order:
        Logged.calls.append(request.client_order_id)
        return await super().create_order(request)


class LoggingMixin:
    async def create_order(self, request: OrderRequest) -> Order:
        Logged.calls.append(request.client_order_id)
        return await super().create_order(request)  # type: ignore[misc]


class Mixed(LoggingMixin, PaperBroker):
    pass


def subclass(store: Store, monkeypatch: pytest.MonkeyPatch) -> PaperBroker:
    return Logged(PaperOptions(), BrokerContext(name=SUB, store=store))


def mixin(store: Store, monkeypatch: pytest.MonkeyPatch) -> PaperBroker:
    return Mixed(PaperOptions(), BrokerContext(name=SUB, store=store))


def patched_instance(store: Store, monkeypatch: pytest.MonkeyPatch) -> PaperBroker:
    broker = PaperBroker(PaperOptions(), BrokerContext(name=SUB, store=store))
    create = broker.create_order

    async def logged(request: OrderRequest) -> Order:
        Logged.calls.append(request.client_order_id)
        return await create(request)

    monkeypatch.setattr(broker, "create_order", logged)
    return broker


def patched_class(store: Store, monkeypatch: pytest.MonkeyPatch) -> PaperBroker:
    create = PaperBroker.create_order

    async def logged(self: PaperBroker, request: OrderRequest) -> Order:
        Logged.calls.append(request.client_order_id)
        return await create(self, request)

    monkeypatch.setattr(PaperBroker, "create_order", logged)
    return PaperBroker(PaperOptions(), BrokerContext(name=SUB, store=store))


@pytest.mark.parametrize("make", [subclass, mixin, patched_instance, patched_class])
async def test_a_venue_in_front_of_the_book_is_called_for_each_order(
    fresh_store: Store, monkeypatch: pytest.MonkeyPatch, make: Callable[[Store, pytest.MonkeyPatch], PaperBroker]
) -> None:
    Logged.calls.clear()
    paper = Paper(fresh_store)
    paper.broker = make(fresh_store, monkeypatch)
    await paper.broker.connect()
    signal_id = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert Logged.calls == [client_order_id(signal_id, SUB, "entry")]
    assert await paper.booked() == Logged.calls
    assert await fresh_store.read(journal.unresolved_orders, fresh_store.conn) == []


async def test_a_paper_bracket_is_booked_with_its_plan_and_its_children_are_journaled_as_the_book_holds_them(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    await paper.broker.connect()
    signal = Signal(ticker="AMD", action="buy", price=Decimal(100), take_profit=TakeProfit(limit_price=Decimal(110)),
                    stop_loss=StopLoss(stop_price=Decimal(95)))  # fmt: skip
    signal_id = await paper.run(signal)
    orders = {r["leg"]: r for r in await paper.query("SELECT * FROM orders WHERE signal_id = ?", signal_id)}
    book = {r["client_order_id"]: r["status"] for r in await paper.query("SELECT * FROM paper_orders")}
    assert orders["entry"]["status"] == "filled" and book[orders["entry"]["client_order_id"]] == "filled"
    for leg in ("take_profit", "stop_loss"):  # working once the entry filled, in the book and in the journal
        assert orders[leg]["status"] == "open" and book[orders[leg]["client_order_id"]] == "open"
    assert (await paper.query("SELECT state FROM signals WHERE id = ?", signal_id))[0]["state"] == "executed"


async def test_after_the_cooldown_the_probe_order_goes_through_create_order_and_closes_the_circuit(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    await paper.broker.connect()
    breaker = paper.guard.breaker(SUB)
    cooldown = paper.guard.config().risk.breaker_cooldown
    breaker.failures, breaker.opened_at, breaker.last_error = 3, paper.guard.clock() - cooldown - 1, "503"
    signal_id = await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert await paper.booked() == [client_order_id(signal_id, SUB, "entry")]
    assert breaker.opened_at is None and breaker.failures == 0 and not breaker.probing


async def test_a_paper_reversal_reads_its_book_from_memory_and_writes_its_price_once(fresh_store: Store) -> None:
    """The book is read from memory (positions, cash, prices, working orders), written through to the journal."""
    paper = Paper(fresh_store)
    await paper.broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    statements: list[str] = []
    lock = threading.Lock()

    def trace(sql: str) -> None:
        with lock:  # the COMMIT runs on the store's commit thread
            statements.append(sql)

    fresh_store.conn.set_trace_callback(trace)
    await paper.run(Signal(ticker="AMD", action="sell", price=Decimal(101)))
    fresh_store.conn.set_trace_callback(None)
    paper_reads = [s for s in statements if s.startswith("SELECT") and "paper_" in s]
    assert paper_reads == [], "a market reversal with no working orders reads nothing of the book from the journal"
    written = [s for s in statements if s.startswith("INSERT INTO paper_")]
    assert [s.split()[2] for s in written].count("paper_prices") == 1, "the signal's price is written once"
    assert await paper.broker.fetch_position("AMD") == Position("AMD", Decimal(-1), Decimal(101))
