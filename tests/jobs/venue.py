"""A paper venue whose position reads can be made to hang: a signal waits in the executor as long as a test says."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import ClassVar

from bridge.brokers.paper import PaperBroker
from bridge.errors import OrderRejected, TemporaryBrokerError
from bridge.models import Order, OrderRequest, Position


class StallingPaper(PaperBroker):
    """The paper book; while `stalled` is set, a position read waits (the daemon stops with the signal mid-way)."""

    stalled: ClassVar[bool] = False

    async def fetch_position(self, symbol: str) -> Position | None:
        while type(self).stalled:
            await asyncio.sleep(0.01)
        return await super().fetch_position(symbol)


class FlakyPaper(PaperBroker):
    """The paper book; its next `failures` reads of every position fail as a venue's brief outage does."""

    failures: ClassVar[int] = 0

    async def fetch_positions(self) -> list[Position]:
        if type(self).failures > 0:
            type(self).failures -= 1
            raise TemporaryBrokerError("503 Service Unavailable (a brief outage)")
        return await super().fetch_positions()


class StubbornPaper(PaperBroker):
    """The paper book; every cancel fails as at a venue that keeps answering 503 (`cancels` counts the tries)."""

    cancels: ClassVar[int] = 0

    async def cancel_order(self, client_order_id: str) -> Order:
        type(self).cancels += 1
        raise TemporaryBrokerError("503 Service Unavailable")


class RefusingPaper(PaperBroker):
    """The paper book; its next `refusals` orders fail as `failure` says: refused, a 503, or an answer lost.

    `refused`: the venue refuses the order; `503`: it is not taken (a brief outage); `lost`: the connection drops
    before the answer, the order never placed, and the venue cannot show it (`hidden`) until `shown_as` is set.
    """

    refusals: ClassVar[int] = 0
    failure: ClassVar[str] = "refused"
    sent: ClassVar[int] = 0  # orders that reached the venue's door, placed or not
    lost: ClassVar[set[str]] = set()  # the client order ids of the orders whose answer was lost
    shown_as: ClassVar[str | None] = None  # what the venue then says of them (None: it cannot be reached)

    async def create_order(self, request: OrderRequest) -> Order:
        type(self).sent += 1
        if type(self).refusals > 0:
            type(self).refusals -= 1
            if type(self).failure == "refused":
                raise OrderRejected("insufficient buying power")
            if type(self).failure == "503":
                raise TemporaryBrokerError("503 Service Unavailable")
            type(self).lost.add(request.client_order_id)
            raise ConnectionResetError("the connection dropped before the answer")
        return await super().create_order(request)

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id in type(self).lost:
            if type(self).shown_as is None:
                raise TemporaryBrokerError("503 Service Unavailable")
            return Order(client_order_id, "AMD", "sell", Decimal(1), "market", type(self).shown_as)
        return await super().fetch_order(client_order_id)


class FillingPaper(PaperBroker):
    """The paper book; while `fill_at` is set, a cancel finds the market there first (a resting limit order at that
    price fills just before its cancel reaches the venue, which answers with the fill)."""

    fill_at: ClassVar[Decimal | None] = None

    async def cancel_order(self, client_order_id: str) -> Order:
        price = type(self).fill_at
        if price is not None:
            await self.observe_price((await self.fetch_order(client_order_id)).symbol, price)
        return await super().cancel_order(client_order_id)


class GatedPaper(PaperBroker):
    """The paper book at a venue that holds the shares for a working stop (a breakeven cancels it first): its next
    `outages` orders meet a 503, and while `gate` is set a market order (with `gated_stop`, a stop at that price)
    waits for it before it is placed."""

    capabilities = replace(PaperBroker.capabilities, reserves_position=True, local=False)
    outages: ClassVar[int] = 0
    gate: ClassVar[asyncio.Event | None] = None
    waiting: ClassVar[asyncio.Event | None] = None  # set once an order waits at the gate
    gated_stop: ClassVar[Decimal | None] = None

    async def create_order(self, request: OrderRequest) -> Order:
        if type(self).outages:
            type(self).outages -= 1
            raise TemporaryBrokerError("503 Service Unavailable")
        stop = type(self).gated_stop
        held = request.type == "market" if stop is None else request.stop_price == stop
        if held and (gate := type(self).gate) is not None:
            if (waiting := type(self).waiting) is not None:
                waiting.set()
            await gate.wait()
        return await super().create_order(request)


class GarblingPaper(GatedPaper):
    """GatedPaper whose next `garbled` stops are answered with the venue's raw body as their error (bytes, not text:
    an adapter's bug the answer's checks let through, raising past them), placed at the venue (`placed`) or not."""

    garbled: ClassVar[int] = 0
    placed: ClassVar[bool] = True

    async def create_order(self, request: OrderRequest) -> Order:
        if type(self).garbled <= 0 or request.type != "stop":
            return await super().create_order(request)
        type(self).garbled -= 1
        if type(self).placed:
            order = await super().create_order(request)
        else:  # the venue never got it
            order = Order(request.client_order_id, request.symbol, request.side, request.quantity, "stop", "submitted")
        return replace(order, error=b'{"message": "accepted"}')  # type: ignore[arg-type]
