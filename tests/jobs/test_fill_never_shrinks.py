"""A fill, once recorded, stays: a venue that answers a cancel (or a `filled` status) without the fill quantity
does not turn an order's recorded partial fill back into nothing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bridge.jobs.orders import poll_orders
from bridge.models import Order, Signal
from bridge.notify.events import Event
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, rests
from tests.jobs.test_unknown_orders import host_of


class Forgetful(FakeBroker):
    """Rests the order, fills part of it, then answers its end without the quantity (as some venues' cancels do)."""

    def __init__(self) -> None:
        super().__init__(behaviours=[rests])
        self.stage = "resting"
        self.ended_as = "canceled"

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        listed = await super().fetch_open_orders(symbol)
        if self.stage == "partial":
            return [replace(o, status="partially_filled", filled_quantity=Decimal("0.4"), avg_fill_price=Decimal(99))
                    for o in listed]  # fmt: skip
        return [] if self.stage == "ended" else listed

    async def fetch_order(self, client_order_id: str) -> Order:
        order = await super().fetch_order(client_order_id)
        return replace(order, status=self.ended_as) if self.stage == "ended" else order  # no quantity, no price


async def journaled_fill(ended_as: str, fresh_store: Store) -> tuple[str, str | None]:
    venue = Forgetful()
    venue.ended_as = ended_as
    harness = Harness(fresh_store, venue)
    harness.sub = harness.sub.model_copy(update={"order_type": "limit"})
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    venue.stage = "partial"
    assert await poll_orders(host_of(harness, later=1)) == 1  # type: ignore[arg-type]
    venue.stage = "ended"
    assert await poll_orders(host_of(harness, later=2)) == 1  # type: ignore[arg-type]
    entry = (await harness.orders(signal_id))["entry"]
    assert entry["status"] == ended_as
    return entry["filled_quantity"], entry["avg_fill_price"]


async def test_a_cancel_answered_without_the_fill_keeps_the_partial_fill(fresh_store: Store) -> None:
    assert await journaled_fill("canceled", fresh_store) == ("0.4", "99"), "the partial fill was lost"


async def test_a_filled_status_without_the_quantity_keeps_the_fill_recorded(fresh_store: Store) -> None:
    assert await journaled_fill("filled", fresh_store) == ("0.4", "99"), "the recorded fill went down to nothing"


async def test_the_part_filled_is_told_when_the_cancel_answer_leaves_it_out(fresh_store: Store) -> None:
    # A venue that answers a cancel with its fill is told as `order.filled` of the part; one that leaves it out, too.
    venue = Forgetful()
    harness = Harness(fresh_store, venue)
    harness.sub = harness.sub.model_copy(update={"order_type": "limit"})
    await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100)))
    told: list[Event] = []
    for stage, later in (("partial", 1), ("ended", 2)):
        venue.stage = stage
        host = host_of(harness, later=later)
        host.publish = told.append
        await poll_orders(host)  # type: ignore[arg-type]
    assert [(e.kind, e.data["quantity"]) for e in told][-1] == ("order.filled", "0.4"), [e.text for e in told]
