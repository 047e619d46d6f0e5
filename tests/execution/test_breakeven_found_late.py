"""A breakeven stop whose answer was lost, found working later: the stop it moves is canceled then.

Where the venue takes a second stop beside the first (the paper book, ccxt's venues), the new stop goes first and the
old one is canceled once it works. Its outcome unknown, the old one is left working (the position keeps a stop); found
working by a later read, the move is finished, or both stops work and a gap through both sells the long twice over
(or, without a reduce-only flag at the venue, opens a short).
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderNotFound, UnknownOutcome
from bridge.jobs.moves import finish_moves
from bridge.jobs.orders import poll_orders
from bridge.models import Order, OrderRequest, Signal, StopLoss, TakeProfit
from bridge.store.db import Store, utcnow
from tests.conftest import GUARD, Daemon
from tests.execution.test_breakeven_crash import BREAKEVEN, BUY
from tests.execution.test_breakeven_crash import _working_stops as book_stops
from tests.execution.test_crash_recovery import on_venue, orders_of, wait_final
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper


class LateStop(PaperBroker):
    """The paper book, booking a breakeven stop but losing its answer, and not listing it until `hidden` is off."""

    hidden = True
    losing = True  # the answers to breakeven stops are lost
    lost: frozenset[str] = frozenset()

    async def create_order(self, request: OrderRequest) -> Order:
        order = await super().create_order(request)
        if request.type == "stop" and request.reduce_only and self.losing:
            self.lost = self.lost | {request.client_order_id}
            raise UnknownOutcome("504 from the gateway")
        return order

    async def fetch_order(self, client_order_id: str) -> Order:
        if self.hidden and client_order_id in self.lost:
            raise OrderNotFound(client_order_id)
        return await super().fetch_order(client_order_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        listed = await super().fetch_open_orders(symbol)
        return [o for o in listed if not (self.hidden and o.client_order_id in self.lost)]


def _host(paper: Paper) -> SimpleNamespace:
    """The jobs' view of the daemon."""
    return SimpleNamespace(
        store=paper.store, runtime=SimpleNamespace(broker=lambda name: paper.broker,
                                                   follower=lambda name, created_at: paper.broker,
                                                   switched={}, subscription=lambda s, k: paper.sub),
        clock=lambda: utcnow() + timedelta(seconds=5), publish=paper.events.append,
    )  # fmt: skip


async def _working_stops(paper: Paper) -> list[str]:
    rows = await paper.query("SELECT stop_price FROM paper_orders WHERE type = 'stop' AND status IN ('open', 'held') "
                             "ORDER BY created_at")  # fmt: skip
    return [row["stop_price"] for row in rows]


async def test_a_breakeven_stop_found_working_after_its_answer_was_lost_cancels_the_old_stop(
    fresh_store: Store,
) -> None:
    paper = Paper(fresh_store)
    paper.broker = LateStop(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    await paper.broker.connect()
    body = {"stop_loss": StopLoss(stop_price=Decimal(95)), "take_profit": TakeProfit(limit_price=Decimal(120))}
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10), **body))
    await paper.broker.observe_price("AMD", Decimal(110))

    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    assert execution["state"] == "failed" and "outcome is unknown" in execution["decision"], execution["decision"]
    assert await _working_stops(paper) == ["95", "100.00"]  # the venue holds both: one of them is to go

    paper.broker.hidden = False  # a moment later the venue lists the breakeven stop
    host = _host(paper)
    await poll_orders(host)  # type: ignore[arg-type]
    await finish_moves(host)  # type: ignore[arg-type]
    assert await _working_stops(paper) == ["100.00"], "the move is finished: the old stop is canceled"
    [old] = await paper.query("SELECT status FROM orders WHERE leg = 'stop_loss'")
    assert old["status"] == "canceled", "the journal agrees with the book"
    await finish_moves(host)  # type: ignore[arg-type]  # nothing left to do: nothing more is asked
    await paper.broker.observe_price("AMD", Decimal(90))  # a gap through both: the long is sold once
    assert (await paper.broker.fetch_positions()) == []


LATE_VENUE = """
from bridge.brokers.paper import PaperBroker
from bridge.errors import OrderNotFound, UnknownOutcome


class LateStop(PaperBroker):
    \"\"\"The paper book, losing the answer to every reduce-only stop it books, and not listing those while a
    file `hide` is beside the journal.\"\"\"

    def _hidden(self, client_order_id):
        beside = self.store.path.parent
        lost = beside / "lost"
        return (beside / "hide").exists() and lost.exists() and client_order_id in lost.read_text().split()

    async def create_order(self, request):
        order = await super().create_order(request)
        if request.type == "stop" and request.reduce_only:
            with (self.store.path.parent / "lost").open("a") as lost:
                lost.write(request.client_order_id + "\\n")
            raise UnknownOutcome("504 from the gateway")
        return order

    async def fetch_order(self, client_order_id):
        if self._hidden(client_order_id):
            raise OrderNotFound(client_order_id)
        return await super().fetch_order(client_order_id)

    async def fetch_open_orders(self, symbol=None):
        return [o for o in await super().fetch_open_orders(symbol) if not self._hidden(o.client_order_id)]
"""


def test_a_daemon_cancels_the_old_stop_once_it_finds_the_lost_breakeven_stop_working(make_daemon: Any) -> None:
    daemon: Daemon = on_venue(make_daemon, "latevenue", LATE_VENUE, "LateStop")
    daemon.config.write_text(daemon.config.read_text() + "poll_interval: 0.5\n")
    daemon.start()
    entry = str(daemon.post(BUY).json()["id"])
    assert wait_final(daemon, entry)["state"] == "executed"
    (daemon.config.parent / "hide").touch()
    breakeven = str(daemon.post(BREAKEVEN).json()["id"])
    final = wait_final(daemon, breakeven)
    assert final["state"] == "failed" and "outcome is unknown" in final["decision"], final["decision"]
    assert [price for _coid, price in book_stops(daemon.db)] == [Decimal(95), Decimal(100)]

    (daemon.config.parent / "hide").unlink()  # the venue lists the breakeven stop now: the poll finds it
    moved = orders_of(daemon.db, breakeven)["breakeven"]["client_order_id"]
    deadline = time.monotonic() + GUARD
    while book_stops(daemon.db) != [(moved, Decimal(100))]:
        assert time.monotonic() < deadline, (book_stops(daemon.db), daemon.output()[-3000:])
        time.sleep(0.05)
    daemon.stop()
    assert orders_of(daemon.db, entry)["stop_loss"]["status"] == "canceled", "the journal agrees with the book"


async def test_a_breakeven_waits_for_an_earlier_one_of_unknown_outcome(fresh_store: Store) -> None:
    # Sent beside a stop the venue may hold but does not list yet, a second breakeven would move only the stops it
    # sees: once the first appears, two breakeven stops work, at two prices.
    paper = Paper(fresh_store)
    paper.broker = LateStop(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    await paper.broker.connect()
    body = {"stop_loss": StopLoss(stop_price=Decimal(95)), "take_profit": TakeProfit(limit_price=Decimal(120))}
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10), **body))
    await paper.broker.observe_price("AMD", Decimal(110))
    await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    paper.broker.losing = False

    again = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110), breakeven_offset=Decimal(2)))
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", again)
    assert execution["state"] == "rejected", execution["decision"]
    assert "outcome of an earlier order" in execution["decision"], execution["decision"]
    assert await _working_stops(paper) == ["95", "100.00"]  # nothing canceled or sent: the old stop still works

    paper.broker.hidden = False
    host = _host(paper)
    await poll_orders(host)  # type: ignore[arg-type]
    await finish_moves(host)  # type: ignore[arg-type]
    assert await _working_stops(paper) == ["100.00"]
    await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110), breakeven_offset=Decimal(2)))
    assert await _working_stops(paper) == ["102.00"], "sent again once the first is found, it moves it"
