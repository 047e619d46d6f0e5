"""The kill switch's last check before a submission cannot read the journal: the order is not sent, and its row
says so (not an unknown outcome that recovery and the order jobs would chase at the broker)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from bridge.execution.executor import Executor, Job
from bridge.models import Order, Signal
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import STRATEGY, SUB, FakeBroker, Harness, journal_signal, rests
from tests.execution.test_halt_journaled import guard_on


def hide_the_flag(path: str) -> None:
    """Another connection takes the kill switch's table away: every read of the flag now fails in SQLite."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("ALTER TABLE trading_state RENAME TO trading_state_gone")
        conn.commit()
    finally:
        conn.close()


class FlagLostDuringExitWait(FakeBroker):
    """While the executor waits for a swap's exit to fill, the journal stops answering for the halt flag."""

    def __init__(self, path: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.path = path
        self.hidden = False

    async def fetch_order(self, client_order_id: str) -> Order:
        if not self.hidden:
            hide_the_flag(self.path)
            self.hidden = True
        return await super().fetch_order(client_order_id)


async def test_an_unreadable_kill_switch_sends_nothing_and_says_not_sent(fresh_store: Store) -> None:
    broker = FlagLostDuringExitWait(str(fresh_store.path), positions={"AMD": Decimal(-3)}, behaviours=[rests])
    broker.fill_on_fetch = 3
    harness = Harness(fresh_store, broker)
    guard = guard_on(fresh_store)
    await guard.load()
    executor = Executor(fresh_store, 60.0, lambda: {SUB: broker}, lambda s, k: (SUB, harness.sub), guard)
    signal = Signal(ticker="AMD", action="buy")
    signal_id = await journal_signal(fresh_store, signal)
    await executor.run(Job(signal_id, STRATEGY, SUB, signal, utcnow()))
    assert broker.hidden and len(broker.creates) == 1, "only the exit went out"
    entry = (await harness.orders(signal_id))["entry"]
    assert entry["status"] != "unknown", entry
    assert entry["sent_at"] is None, "never sent, so never stamped as sent"
    assert entry["error"].startswith("not sent: the kill switch could not be read"), entry["error"]
    final = await harness.signal(signal_id)
    assert final["state"] == "failed"
    assert "the entry was not sent: the kill switch could not be read" in final["decision"], final["decision"]
    assert "unknown" not in final["decision"], final["decision"]
    assert broker.fetches.count(entry["client_order_id"]) == 0, "nothing to look up: it never left the bridge"


async def test_orders_placed_inside_the_journal_are_left_to_the_last_gate_when_the_flag_cannot_be_read(
    fresh_store: Store,
) -> None:
    guard = guard_on(fresh_store)
    await guard.load()
    hide_the_flag(str(fresh_store.path))
    # Not an error failing the plan's journal job: the order is left to create_order, which holds it back, saying why.
    assert not guard.admits_at_once("paper", "sq")
