"""Orders of unknown outcome are followed by the order jobs: one the venue holds is polled and canceled after
`cancel_after`; one it never heard of is closed as rejected ten minutes after it was sent."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

import bridge.jobs.orders as order_jobs
from bridge.errors import OrderNotFound, UnknownOutcome
from bridge.jobs.orders import UNKNOWN_GRACE_SECONDS, cancel_expired, poll_orders
from bridge.models import Order, OrderRequest, Signal
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import FakeBroker, Harness


class AnswerLost(FakeBroker):
    """Books (or drops) the order, loses the answer, and does not list it yet."""

    def __init__(self, books: bool) -> None:
        super().__init__()
        self.books, self.hidden = books, True

    async def create_order(self, request: OrderRequest) -> Order:
        self.creates.append(request)
        if self.books:
            self.accept(request, "open")
        raise UnknownOutcome("504 from the gateway")

    async def fetch_order(self, client_order_id: str) -> Order:
        if self.hidden or client_order_id not in self.orders:
            raise OrderNotFound(client_order_id)
        return await super().fetch_order(client_order_id)


def host_of(harness: Harness, later: float) -> SimpleNamespace:
    """The jobs' view of the daemon, `later` seconds from now."""
    return SimpleNamespace(
        store=harness.store, runtime=SimpleNamespace(broker=lambda name: harness.broker,
                                                     follower=lambda name, created_at: harness.broker,
                                                     switched={},  # no reload switched an account
                                                     subscription=lambda s, k: harness.sub),
        clock=lambda: utcnow() + timedelta(seconds=later), publish=lambda event: None,
    )  # fmt: skip


async def test_an_unknown_order_resting_at_the_venue_is_polled_and_canceled_after_cancel_after(
    fresh_store: Store,
) -> None:
    broker = AnswerLost(books=True)
    harness = Harness(fresh_store, broker)
    harness.sub = harness.sub.model_copy(update={"order_type": "limit", "cancel_after": 30.0})
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert (await harness.orders(signal_id))["entry"]["status"] == "unknown"
    broker.hidden = False  # a moment later the venue lists it: a limit buy resting at 100
    host = host_of(harness, later=3 * 3600)
    assert await poll_orders(host) == 1  # type: ignore[arg-type]
    assert (await harness.orders(signal_id))["entry"]["status"] == "open"
    assert await cancel_expired(host) == 1  # type: ignore[arg-type]
    coid = broker.creates[0].client_order_id
    assert broker.orders[coid].status == "canceled"
    assert (await harness.orders(signal_id))["entry"]["status"] == "canceled"


async def test_an_unknown_order_the_venue_never_got_is_closed_as_rejected_after_the_grace(fresh_store: Store) -> None:
    broker = AnswerLost(books=False)
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert await poll_orders(host_of(harness, later=UNKNOWN_GRACE_SECONDS / 2)) == 0  # type: ignore[arg-type]
    assert (await harness.orders(signal_id))["entry"]["status"] == "unknown"  # it may still show up
    assert await poll_orders(host_of(harness, later=UNKNOWN_GRACE_SECONDS + 1)) == 1  # type: ignore[arg-type]
    entry = (await harness.orders(signal_id))["entry"]
    assert entry["status"] == "rejected" and "never reached the broker" in entry["error"]


class SlowExitThenLostEntry(FakeBroker):
    """Short 3: the cover rests and fills `exit_delay` s later; the entry is booked, its answer lost, and the
    venue does not list it yet."""

    def __init__(self, exit_delay: float) -> None:
        super().__init__({"AMD": Decimal(-3)})
        self.exit_delay, self.hidden, self.exit_sent_at = exit_delay, set[str](), 0.0

    async def create_order(self, request: OrderRequest) -> Order:
        self.creates.append(request)
        if len(self.creates) == 1:  # the cover rests for now
            self.exit_sent_at = asyncio.get_running_loop().time()
            return self.accept(request, "open")
        self.accept(request, "open")
        self.hidden.add(request.client_order_id)
        raise UnknownOutcome("504 from the gateway")

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id in self.hidden:
            raise OrderNotFound(client_order_id)
        order = self.orders[client_order_id]
        if order.is_open and asyncio.get_running_loop().time() - self.exit_sent_at >= self.exit_delay:
            order = self._store(order, "filled")
        return order

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in await super().fetch_open_orders(symbol) if o.client_order_id not in self.hidden]


async def test_the_grace_counts_from_when_the_order_was_sent_not_from_its_plan(
    fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(order_jobs, "UNKNOWN_GRACE_SECONDS", 1.0)  # scaled down: a 1 s grace, a 1.5 s exit
    broker = SlowExitThenLostEntry(exit_delay=1.5)
    harness = Harness(fresh_store, broker, exit_fill_timeout=10)
    signal_id = await harness.run(Signal(ticker="AMD", action="buy"))  # cover 3, then the entry, 1.5 s after the plan
    assert (await harness.orders(signal_id))["entry"]["status"] == "unknown"
    await poll_orders(host_of(harness, later=0.1))  # type: ignore[arg-type]
    assert (await harness.orders(signal_id))["entry"]["status"] == "unknown"  # sent 0.1 s ago: it may still show
    broker.hidden.clear()
    await poll_orders(host_of(harness, later=0.2))  # type: ignore[arg-type]
    assert (await harness.orders(signal_id))["entry"]["status"] == "open"  # followed from there


class CountsCancels(AnswerLost):
    """Drops the order and loses the answer; counts every cancel it is asked for (each a request at a venue)."""

    def __init__(self) -> None:
        super().__init__(books=False)
        self.cancels = 0

    async def cancel_order(self, client_order_id: str) -> Order:
        self.cancels += 1
        if client_order_id not in self.orders:
            raise OrderNotFound(client_order_id)
        return await super().cancel_order(client_order_id)


async def test_an_unknown_order_the_venue_does_not_list_is_not_asked_to_cancel_every_second(
    fresh_store: Store,
) -> None:
    broker = CountsCancels()
    harness = Harness(fresh_store, broker)
    harness.sub = harness.sub.model_copy(update={"order_type": "limit", "cancel_after": 30.0})
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    assert (await harness.orders(signal_id))["entry"]["status"] == "unknown"
    for second in range(31, 41):  # the timeout job runs every second; the venue has not listed the order
        assert await cancel_expired(host_of(harness, later=second)) == 0  # type: ignore[arg-type]
    # Each would be a request (Alpaca's and ccxt's cancel look the order up first) spent from the rate limit that
    # order submissions share, every second until the order jobs close it ten minutes after it was sent.
    assert broker.cancels == 0
