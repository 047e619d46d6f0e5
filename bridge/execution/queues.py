"""FIFO queues keyed by (broker account, symbol): one position's signals run strictly in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

J = TypeVar("J")
log = logging.getLogger("bridge.queues")


class KeyedQueues(Generic[J]):
    """One worker task per key, started on demand and ended when its queue runs dry."""

    def __init__(self, handler: Callable[[J], Awaitable[None]], gate: asyncio.Event | None = None) -> None:
        self._handler = handler
        self._gate = gate
        self._queues: dict[Hashable, asyncio.Queue[J]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}

    def put(self, key: Hashable, job: J) -> None:
        """Append a job to its key's queue and make sure a worker drains it."""
        queue = self._queues.setdefault(key, asyncio.Queue())
        queue.put_nowait(job)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key, queue), name=f"queue-{key}")

    async def _work(self, key: Hashable, queue: asyncio.Queue[J]) -> None:
        try:
            if self._gate is not None:
                await self._gate.wait()  # trading stays halted until start-up recovery is done
            while not queue.empty():
                job = queue.get_nowait()
                try:
                    await self._handler(job)
                except Exception:
                    log.exception("execution of %r failed unexpectedly", key)
        finally:
            # No await between the emptiness check above and this removal: no job can be stranded.
            del self._workers[key]
            if queue.empty():
                del self._queues[key]

    @property
    def pending(self) -> int:
        """Jobs waiting in all queues."""
        return sum(q.qsize() for q in self._queues.values())

    async def join(self) -> None:
        """Wait until every queue is drained."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def cancel(self) -> None:
        """Stop all workers (shutdown); unfinished jobs stay journaled for recovery."""
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
