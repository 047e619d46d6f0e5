"""A test venue: the paper broker with a gate on order creation (the test opens it) and a record of close().

Loaded by the config as `tests.reload.venue:GatedPaper`, like any `module:Class` plugin.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import TemporaryBrokerError
from bridge.models import Order, OrderRequest, Position
from plugins.template_broker import TemplateBroker


class GatedPaper(PaperBroker):
    """Paper trading whose create_order waits for `gate`; every instance is kept for inspection."""

    instances: ClassVar[list[GatedPaper]] = []
    gate: ClassVar[asyncio.Event | None] = None

    def __init__(self, options: PaperOptions | dict[str, Any], context: BrokerContext) -> None:
        super().__init__(options, context)
        self.closed = False
        self.created: list[str] = []
        GatedPaper.instances.append(self)

    async def create_order(self, request: OrderRequest) -> Order:
        """Record the call, wait for the gate, then trade as the paper broker does."""
        self.created.append(request.client_order_id)
        if GatedPaper.gate is not None:
            await GatedPaper.gate.wait()
        return await super().create_order(request)

    async def close(self) -> None:
        """Remember that the daemon closed this connection."""
        self.closed = True
        await super().close()


class Unreachable(PaperBroker):
    """A venue that cannot be reached: connect always fails."""

    async def connect(self) -> None:
        """Fail the way a venue that is down does."""
        raise ConnectionError("venue unreachable")


class PositionsDown(PaperBroker):
    """A venue that connected, then stopped answering position reads (a 503 outage)."""

    async def fetch_positions(self) -> list[Position]:
        """Fail the way a venue in an outage does."""
        raise TemporaryBrokerError("503 Service Unavailable")


class LateFills(TemplateBroker):
    """The template's in-memory venue, whose market orders are taken open and fill a moment later, as Alpaca's do."""

    delay: ClassVar[float] = 0.05

    async def create_order(self, request: OrderRequest) -> Order:
        """Place the order; a market order's fill lands `delay` seconds after the answer."""
        venue = self._client()
        fill_now = venue._fill
        deferred: list[tuple[dict[str, Any], Any]] = []
        venue._fill = lambda order, price: deferred.append((order, price))  # type: ignore[method-assign]
        try:
            answer = await super().create_order(request)
        finally:
            del venue._fill  # the class's own again
        for order, price in deferred:
            asyncio.get_running_loop().call_later(self.delay, fill_now, order, price)
        return answer


class LateFillsUnread(LateFills):
    """A `LateFills` venue whose order reads fail (an outage's 503) while its orders still go through."""

    async def fetch_order(self, client_order_id: str) -> Order:
        """Fail the way a venue in an outage does."""
        raise TemporaryBrokerError("503 Service Unavailable")


class LateFillsHung(LateFills):
    """A `LateFills` venue whose order reads hang, never answered nor failed, while its orders still go through."""

    async def fetch_order(self, client_order_id: str) -> Order:
        """Wait forever, as a read to a venue that stopped answering does without a timeout of its own."""
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class CountedReads(PaperBroker):
    """Paper trading that counts the position and quote reads it was asked for (each one a request at a real venue)."""

    reads: ClassVar[dict[str, int]] = {}

    async def fetch_positions(self) -> list[Position]:
        """Count the read, then answer as the paper broker does."""
        CountedReads.reads["positions"] = CountedReads.reads.get("positions", 0) + 1
        return await super().fetch_positions()

    async def fetch_quote(self, symbol: str) -> Decimal | None:
        """Count the read, then answer as the paper broker does."""
        CountedReads.reads["quote"] = CountedReads.reads.get("quote", 0) + 1
        return await super().fetch_quote(symbol)


class KeyedOptions(PaperOptions):
    """Paper options plus the credentials a real venue takes."""

    api_key: str = ""


class ChattyVenue(PaperBroker):
    """A venue whose client logs its request URL, key included, as HTTP clients do at INFO (httpx, urllib3)."""

    options_model: ClassVar[type[BaseModel]] = KeyedOptions
    reachable: ClassVar[bool] = True

    async def connect(self) -> None:
        """Log the request as the venue's client would, then connect, or fail as an unreachable venue does."""
        key = self.options.api_key if isinstance(self.options, KeyedOptions) else ""
        logging.getLogger("venue.http").info("HTTP Request: GET https://venue.example/v2/account?apikey=%s", key)
        if not ChattyVenue.reachable:
            raise ConnectionError("venue unreachable")
        await super().connect()


class EchoingRejects(PaperBroker):
    """A venue that refuses every order with its error text quoting the request it got, key included."""

    options_model: ClassVar[type[BaseModel]] = KeyedOptions

    async def create_order(self, request: OrderRequest) -> Order:
        """Answer with a rejected order whose error is the venue's echo of the request URL."""
        key = self.options.api_key if isinstance(self.options, KeyedOptions) else ""
        return Order(client_order_id=request.client_order_id, symbol=request.symbol, side=request.side,
                     quantity=request.quantity, type=request.type, status="rejected",
                     error=f"403 Forbidden for https://venue.example/v2/orders?apikey={key}")  # fmt: skip


class GatedEchoingRejects(EchoingRejects):
    """EchoingRejects whose create_order waits for GatedPaper's gate first (to hold a job across a reload)."""

    instances: ClassVar[list[GatedEchoingRejects]] = []

    def __init__(self, options: PaperOptions | dict[str, Any], context: BrokerContext) -> None:
        super().__init__(options, context)
        self.created: list[str] = []
        GatedEchoingRejects.instances.append(self)

    async def create_order(self, request: OrderRequest) -> Order:
        """Record the call, wait for the gate, then refuse quoting this connection's key."""
        self.created.append(request.client_order_id)
        if GatedPaper.gate is not None:
            await GatedPaper.gate.wait()
        return await super().create_order(request)
