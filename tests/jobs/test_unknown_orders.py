"""Orders of unknown outcome are followed by the order jobs: one the venue holds is polled and canceled after
`cancel_after`; one it never heard of is closed as rejected after a grace period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

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
