"""An order's error as a venue tells it (a poll's answer, start-up recovery's) is journaled with every secret masked."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bridge.execution.recovery import resolve_orders
from bridge.jobs.orders import poll_orders
from bridge.models import Order, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, rests
from tests.jobs.test_unknown_orders import host_of

KEY = "venue-key-" + "9c9c9c9c9c9c9c9c"


class Quoting(FakeBroker):
    """Rests every order; once `canceled` is set, shows it canceled with an error that quotes the key."""

    def __init__(self) -> None:
        super().__init__(behaviours=[rests])
        self.canceled = False

    async def fetch_order(self, client_order_id: str) -> Order:
        order = await super().fetch_order(client_order_id)
        if not self.canceled:
            return order
        return replace(order, status="canceled", error=f"expired: GET /orders?apikey={KEY} said so")

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        return [] if self.canceled else await super().fetch_open_orders(symbol)


async def errors(harness: Harness, signal_id: str) -> str:
    return str((await harness.orders(signal_id))["entry"]["error"])


async def test_the_order_poll_journals_a_venue_error_with_the_key_masked(fresh_store: Store) -> None:
    fresh_store.secrets = lambda: (KEY,)
    harness = Harness(fresh_store, Quoting())
    harness.sub = harness.sub.model_copy(update={"order_type": "limit"})
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    harness.broker.canceled = True  # type: ignore[attr-defined]
    assert await poll_orders(host_of(harness, later=1)) == 1  # type: ignore[arg-type]
    error = await errors(harness, signal_id)
    assert "expired" in error and KEY not in error, error


async def test_start_up_recovery_journals_a_venue_error_with_the_key_masked(fresh_store: Store) -> None:
    fresh_store.secrets = lambda: (KEY,)
    harness = Harness(fresh_store, Quoting())
    harness.sub = harness.sub.model_copy(update={"order_type": "limit"})
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    await fresh_store.run(lambda: fresh_store.conn.execute("UPDATE orders SET status = 'unknown'"))
    harness.broker.canceled = True  # type: ignore[attr-defined]
    assert await resolve_orders(fresh_store, {"fake": harness.broker}) == []  # type: ignore[dict-item]
    error = await errors(harness, signal_id)
    assert "expired" in error and KEY not in error, error
