"""A breakeven interrupted by SIGKILL between its steps: after the restart the position has exactly one stop.

The move is two orders at the broker (a new stop, and the old one canceled), in an order that depends on the venue;
a real daemon is killed between them and restarted, and the book (or the venue) is read as it is left.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import GUARD, Daemon
from tests.execution.test_crash_recovery import book_count, on_venue, orders_of, read_db, wait_final

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


def _restart(daemon: Daemon, expire: bool) -> None:
    """Start the killed daemon again; with `expire`, past a max_signal_age of 1 s for the signal it was killed in.

    The limit is set only now: in force from the start, a loaded machine took longer than it to run the signals
    before the kill (the entry, or the breakeven up to its cancel), which then expired instead of trading.
    """
    if expire:
        daemon.config.write_text(daemon.config.read_text() + "max_signal_age: 1\n")
        time.sleep(1.5)  # the signal's age at the restart only grows: past 1 s once this is over
    daemon.start()


def _status(db: Path, coid: str) -> str:
    """The journaled status of an order."""
    return str(read_db(db, "SELECT status FROM orders WHERE client_order_id = ?", (coid,))[0][0])


def _kill_at_cancel(daemon: Daemon, payload: dict[str, Any], expire: bool = False) -> str:
    """Post `payload` with cancels held, kill the daemon at its first cancel, and start it again (`_restart`); its
    signal id."""
    beside = daemon.config.parent
    (beside / "hang").touch()
    signal_id = str(daemon.post(payload).json()["id"])
    deadline = time.monotonic() + GUARD
    while not (beside / "cancels.log").exists() or not (beside / "cancels.log").read_text():
        assert time.monotonic() < deadline, daemon.output()[-3000:]
        time.sleep(0.02)
    daemon.kill()
    (beside / "hang").unlink()
    _restart(daemon, expire)
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


HELD_VENUE = '''
import asyncio
from dataclasses import replace

from bridge.brokers.paper import PaperBroker
from bridge.errors import OrderRejected


class HeldVenue(PaperBroker):
    """A venue that holds the shares for a working stop and cannot replace one (so a breakeven cancels the old stop
    first), and is called over the network (every order goes through `create_order`, after its plan's commit).

    Each call is logged in calls.log beside the journal. While a file `hang-cancel` is there a cancel is done but
    never answered; while `hang-create` is there an order never reaches the book: the daemon is killed waiting.
    With a file `refuse-once` there, the next order is refused (and the file removed)."""

    capabilities = replace(PaperBroker.capabilities, reserves_position=True, local=False)

    def _log(self, line):
        with (self.store.path.parent / "calls.log").open("a") as log:
            log.write(line + "\\n")

    async def _hang(self, name):
        while (self.store.path.parent / name).exists():
            await asyncio.sleep(0.05)

    async def cancel_order(self, client_order_id):
        order = await super().cancel_order(client_order_id)
        self._log(f"cancel {client_order_id}")
        await self._hang("hang-cancel")
        return order

    async def create_order(self, request):
        self._log(f"create {request.client_order_id}")
        refuse = self.store.path.parent / "refuse-once"
        if refuse.exists():
            refuse.unlink()
            raise OrderRejected("stop price too close to the market")
        await self._hang("hang-create")
        return await super().create_order(request)
'''


def _killed_at(daemon: Daemon, payload: dict[str, Any], hang: str, call: str, expire: bool = False,
               times: int = 1) -> str:  # fmt: skip
    """Post `payload` with `hang` in place, kill the daemon once calls.log shows `call` (`times` times), and start it
    again (`_restart`); the signal's id."""
    beside = daemon.config.parent
    log = beside / "calls.log"
    log.unlink(missing_ok=True)  # the calls of what came before
    (beside / hang).touch()
    signal_id = str(daemon.post(payload).json()["id"])
    deadline = time.monotonic() + GUARD
    while not log.exists() or log.read_text().count(call) < times:
        assert time.monotonic() < deadline, daemon.output()[-3000:]
        time.sleep(0.02)
    daemon.kill()
    (beside / hang).unlink()
    _restart(daemon, expire)
    return signal_id


def _held_long(make_daemon: Any) -> tuple[Daemon, str]:
    """A daemon on HeldVenue, long 1 AMD at 100 with its stop-loss at 95 working; the stop-loss's id."""
    daemon: Daemon = make_daemon(start=False)
    (daemon.config.parent / "heldvenue.py").write_text(HELD_VENUE)
    daemon.config.write_text(daemon.config.read_text().replace("plugin: paper", "plugin: heldvenue:HeldVenue"))
    daemon.start()
    entry = str(daemon.post(BUY).json()["id"])
    assert wait_final(daemon, entry)["state"] == "executed"
    stop_loss = str(orders_of(daemon.db, entry)["stop_loss"]["client_order_id"])
    assert _working_stops(daemon.db) == [(stop_loss, Decimal(95))]
    return daemon, stop_loss


def test_a_breakeven_killed_after_the_old_stop_was_canceled_places_its_stop_after_the_restart(
    make_daemon: Any,
) -> None:
    # The venue holds the shares for the old stop, so it is canceled first (its plan committed before): the
    # resumed plan sends the new stop.
    daemon, stop_loss = _held_long(make_daemon)
    breakeven = _killed_at(daemon, BREAKEVEN, "hang-cancel", f"cancel {stop_loss}")
    final = wait_final(daemon, breakeven)
    canceled = _status(daemon.db, stop_loss)  # its cancel's answer was lost with the daemon
    daemon.stop()
    assert [price for _coid, price in _working_stops(daemon.db)] == [Decimal(100)], final["decision"]
    assert canceled == "canceled", "the journal agrees with the venue once the move is finished"
    assert final["state"] == "executed", final["decision"]


def test_a_breakeven_killed_before_its_stop_was_sent_places_it_once_after_the_restart(make_daemon: Any) -> None:
    daemon, stop_loss = _held_long(make_daemon)
    breakeven = _killed_at(daemon, BREAKEVEN, "hang-create", "create tb-")
    final = wait_final(daemon, breakeven)
    daemon.stop()
    moved = orders_of(daemon.db, breakeven)["breakeven"]["client_order_id"]
    assert _working_stops(daemon.db) == [(moved, Decimal(100))], final["decision"]
    assert book_count(daemon.db, moved) == (1, 0), "the breakeven stop was placed once"
    assert _status(daemon.db, stop_loss) == "canceled", "the journal agrees with the book"


def test_a_breakeven_killed_after_the_old_stop_was_canceled_and_expired_at_the_restart_leaves_a_stop(
    make_daemon: Any,
) -> None:
    # Restarted too late for the signal to trade: the breakeven stop is not placed, so the old one must be back.
    daemon, stop_loss = _held_long(make_daemon)
    breakeven = _killed_at(daemon, BREAKEVEN, "hang-cancel", f"cancel {stop_loss}", expire=True)
    final = wait_final(daemon, breakeven)
    daemon.stop()
    assert [price for _coid, price in _working_stops(daemon.db)] == [Decimal(95)], final["decision"]
    assert final["state"] == "expired" and "put back" in final["decision"], final["decision"]


def test_a_breakeven_killed_before_its_stop_was_sent_and_expired_at_the_restart_puts_the_old_stop_back(
    make_daemon: Any,
) -> None:
    daemon, stop_loss = _held_long(make_daemon)
    breakeven = _killed_at(daemon, BREAKEVEN, "hang-create", "create tb-", expire=True)
    final = wait_final(daemon, breakeven)
    daemon.stop()
    orders = orders_of(daemon.db, breakeven)
    assert _working_stops(daemon.db) == [(orders["restore"]["client_order_id"], Decimal(95))], final["decision"]
    assert (orders["breakeven"]["status"], _status(daemon.db, stop_loss)) == ("canceled", "canceled")
    assert final["state"] == "expired" and "put back" in final["decision"], final["decision"]


def test_a_paper_breakeven_killed_before_the_old_stop_was_canceled_and_expired_at_the_restart_leaves_one_stop(
    make_daemon: Any,
) -> None:
    daemon: Daemon = on_venue(make_daemon, "stalling", STALLING_CANCEL, "StallingPaper")
    daemon.start()
    entry = str(daemon.post(BUY).json()["id"])
    assert wait_final(daemon, entry)["state"] == "executed"
    breakeven = _kill_at_cancel(daemon, BREAKEVEN, expire=True)
    final = wait_final(daemon, breakeven)
    daemon.stop()
    moved = orders_of(daemon.db, breakeven)["breakeven"]
    assert _working_stops(daemon.db) == [(moved["client_order_id"], Decimal(100))], final["decision"]
    assert orders_of(daemon.db, entry)["stop_loss"]["status"] == "canceled", "the journal agrees with the book"
    assert final["state"] == "expired", final["decision"]


def test_a_breakeven_killed_while_putting_the_old_stop_back_puts_it_back_once_after_the_restart(
    make_daemon: Any,
) -> None:
    # The old stop went first, the new one was refused, and the daemon died sending the old one back: the resumed
    # plan must send that restore (once), not close it as never to be sent and leave the position bare.
    daemon, stop_loss = _held_long(make_daemon)
    (daemon.config.parent / "refuse-once").touch()
    breakeven = _killed_at(daemon, BREAKEVEN, "hang-create", "create tb-", times=2)
    final = wait_final(daemon, breakeven)
    daemon.stop()
    orders = orders_of(daemon.db, breakeven)
    restore = orders["restore"]["client_order_id"]
    assert _working_stops(daemon.db) == [(restore, Decimal(95))], final["decision"]
    assert book_count(daemon.db, restore) == (1, 0), "put back once"
    assert (orders["breakeven"]["status"], _status(daemon.db, stop_loss)) == ("rejected", "canceled")
    assert final["state"] == "failed" and "put back" in final["decision"], final["decision"]


def test_a_breakeven_killed_while_putting_the_old_stop_back_and_expired_at_the_restart_still_puts_it_back(
    make_daemon: Any,
) -> None:
    daemon, _stop_loss = _held_long(make_daemon)
    (daemon.config.parent / "refuse-once").touch()
    breakeven = _killed_at(daemon, BREAKEVEN, "hang-create", "create tb-", expire=True, times=2)
    final = wait_final(daemon, breakeven)
    daemon.stop()
    restore = orders_of(daemon.db, breakeven)["restore"]["client_order_id"]
    assert _working_stops(daemon.db) == [(restore, Decimal(95))], final["decision"]
    assert final["state"] == "expired" and "put back" in final["decision"], final["decision"]
