"""A breakeven interrupted by SIGKILL between its steps: after the restart the position has exactly one stop.

The move is two orders at the broker (a new stop, and the old one canceled), in an order that depends on the venue;
a real daemon is killed between them and restarted, and the book (or the venue) is read as it is left.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import Daemon
from tests.execution.test_crash_recovery import on_venue, orders_of, read_db, wait_final

BUY = {"ticker": "AMD", "action": "buy", "price": 100, "stopLoss": {"stopPrice": 95}}
BREAKEVEN = {"ticker": "AMD", "action": "breakeven", "price": 110}

STALLING_CANCEL = '''
import asyncio

from bridge.brokers.paper import PaperBroker


class StallingPaper(PaperBroker):
    """The paper book, but every cancel is logged in cancels.log beside the journal, and while a file `hang` is
    there a cancel never reaches the book: the daemon is killed waiting for it."""

    async def cancel_order(self, client_order_id):
        beside = self.store.path.parent
        with (beside / "cancels.log").open("a") as log:
            log.write(client_order_id + "\\n")
        while (beside / "hang").exists():
            await asyncio.sleep(0.05)
        return await super().cancel_order(client_order_id)
'''


def _working_stops(db: Path) -> list[tuple[str, Decimal]]:
    """The book's working stops in AMD: (client order id, stop price)."""
    rows = read_db(db, "SELECT client_order_id, stop_price FROM paper_orders WHERE symbol = 'AMD' AND type = 'stop' "
                       "AND status IN ('open', 'held') ORDER BY created_at")  # fmt: skip
    return [(row[0], Decimal(row[1])) for row in rows]


def _kill_at_cancel(daemon: Daemon, payload: dict[str, Any]) -> str:
    """Post `payload` with cancels held, kill the daemon at its first cancel, and start it again; its signal id."""
    beside = daemon.config.parent
    (beside / "hang").touch()
    signal_id = str(daemon.post(payload).json()["id"])
    deadline = time.monotonic() + 10
    while not (beside / "cancels.log").exists() or not (beside / "cancels.log").read_text():
        assert time.monotonic() < deadline, daemon.output()[-3000:]
        time.sleep(0.02)
    daemon.kill()
    (beside / "hang").unlink()
    daemon.start()
    return signal_id


def test_a_breakeven_killed_before_the_old_stop_was_canceled_leaves_one_stop_after_the_restart(
    make_daemon: Any,
) -> None:
    # The paper book takes a second stop beside the first, so the new one goes first and the old one is canceled
    # once it works: killed between the two, both work after the restart unless the resumed plan finishes the move.
    daemon = on_venue(make_daemon, "stalling", STALLING_CANCEL, "StallingPaper").start()
    entry = str(daemon.post(BUY).json()["id"])
    assert wait_final(daemon, entry)["state"] == "executed"
    stop_loss = orders_of(daemon.db, entry)["stop_loss"]["client_order_id"]
    assert _working_stops(daemon.db) == [(stop_loss, Decimal(95))]

    breakeven = _kill_at_cancel(daemon, BREAKEVEN)
    final = wait_final(daemon, breakeven)
    daemon.stop()

    moved = orders_of(daemon.db, breakeven)["breakeven"]
    assert _working_stops(daemon.db) == [(moved["client_order_id"], Decimal(100))], final["decision"]
    assert orders_of(daemon.db, entry)["stop_loss"]["status"] == "canceled", "the journal agrees with the book"
    assert final["state"] == "executed", final["decision"]
