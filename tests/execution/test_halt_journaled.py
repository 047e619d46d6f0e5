"""A halt written straight into the journal (`bridge halt` the daemon did not confirm) stops the very next
order, even one whose plan was admitted before it: the last gates read the flag from the journal again."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace

from bridge.config.security import GlobalRisk
from bridge.execution.executor import Executor, Job
from bridge.halt import read_state, write_state
from bridge.models import Order, Signal
from bridge.risk import Guard
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import STRATEGY, SUB, FakeBroker, Harness, journal_signal, rests


def halt_from_another_process(path: str, reason: str) -> None:
    """What `bridge halt` does when the daemon does not confirm: its own connection, its own commit."""
    cli = Store(path)
    cli.open_sync()
    try:
        write_state(cli.conn, True, reason, "cli")
    finally:
        cli.close_sync()


def resume_from_another_process(path: str) -> None:
    """What `bridge resume` does when the daemon does not confirm it."""
    cli = Store(path)
    cli.open_sync()
    try:
        write_state(cli.conn, False, None, "cli")
    finally:
        cli.close_sync()


class HaltDuringExitWait(FakeBroker):
    """While the executor waits for a swap's exit to fill, the operator's halt lands in the journal."""

    def __init__(self, path: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.path = path
        self.sent_before_halt: int | None = None

    async def fetch_order(self, client_order_id: str) -> Order:
        if self.sent_before_halt is None:
            halt_from_another_process(self.path, "operator pulled the plug")
            self.sent_before_halt = len(self.creates)
        return await super().fetch_order(client_order_id)


def guard_on(store: Store) -> Guard:
    config = SimpleNamespace(risk=GlobalRisk())
    return Guard(store, lambda: config)  # type: ignore[arg-type,return-value]


async def test_a_journaled_halt_stops_the_entry_that_waits_for_its_exit(fresh_store: Store) -> None:
    broker = HaltDuringExitWait(str(fresh_store.path), positions={"AMD": Decimal(-3)}, behaviours=[rests])
    broker.fill_on_fetch = 3
    harness = Harness(fresh_store, broker)
    guard = guard_on(fresh_store)
    await guard.load()
    executor = Executor(fresh_store, 60.0, lambda: {SUB: broker}, lambda s, k: (SUB, harness.sub), guard)
    signal = Signal(ticker="AMD", action="buy")
    signal_id = await journal_signal(fresh_store, signal)
    await executor.run(Job(signal_id, STRATEGY, SUB, signal, utcnow()))
    assert broker.sent_before_halt == 1  # the exit went out before the halt; the halt came while it rested
    assert len(broker.creates) == 1, "the entry left the bridge after the halt was in the journal"
    decision = (await harness.signal(signal_id))["decision"]
    assert "the entry was not sent: trading is halted (operator pulled the plug)" in decision, decision
    assert "rejected by the broker" not in decision, "the bridge held the entry back; the broker never saw it"


async def test_orders_placed_inside_the_journal_see_a_journaled_halt(fresh_store: Store) -> None:
    guard = guard_on(fresh_store)
    await guard.load()
    assert guard.admits_at_once("paper", "sq")
    halt_from_another_process(str(fresh_store.path), "drill")
    assert not guard.admits_at_once("paper", "sq")  # left to create_order, which refuses and says why


async def test_a_halt_made_here_holds_while_its_journal_write_is_on_its_way(fresh_store: Store) -> None:
    guard = guard_on(fresh_store)
    await guard.load()
    setting = asyncio.ensure_future(guard.halt.set(True, "api", "api"))
    await asyncio.sleep(0)  # the halt is set here; its journal write waits for the next batch's COMMIT
    assert not fresh_store.peek(read_state).halted  # the journal does not hold it yet ...
    assert guard.halt.reread().halted and not guard.admits_at_once("paper", "sq")  # ... and still it holds
    await setting
    assert fresh_store.peek(read_state).halted and guard.halt.reread().halted


async def test_the_flag_is_read_once_per_write_transaction_and_again_in_the_next(fresh_store: Store) -> None:
    """Inside one of the daemon's write transactions no other process can commit a halt: one read answers its gates."""
    guard = guard_on(fresh_store)
    reads: list[str] = []
    fresh_store.peek(lambda conn: conn.set_trace_callback(reads.append))

    def gates() -> list[bool]:
        return [guard.halt.reread().halted for _ in range(3)]

    assert await fresh_store.run(gates) == [False] * 3
    assert len([s for s in reads if "trading_state" in s]) == 1
    halt_from_another_process(str(fresh_store.path), "between two batches")
    assert await fresh_store.run(gates) == [True] * 3, "the next transaction reads the flag again"
    assert len([s for s in reads if "trading_state" in s]) == 2
    resume_from_another_process(str(fresh_store.path))
    assert [guard.halt.reread().halted for _ in range(2)] == [False, False]  # outside a transaction: every time
    assert len([s for s in reads if "trading_state" in s]) == 4
    fresh_store.peek(lambda conn: conn.set_trace_callback(None))
