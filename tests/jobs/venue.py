"""A paper venue whose position reads can be made to hang: a signal waits in the executor as long as a test says."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from bridge.brokers.paper import PaperBroker
from bridge.errors import TemporaryBrokerError
from bridge.models import Order, Position


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
