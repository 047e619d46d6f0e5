"""FIFO queues keyed by (broker account, symbol): one position's signals run strictly in order."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

J = TypeVar("J")
log = logging.getLogger("bridge.queues")


class KeyedQueues(Generic[J]):
    """One worker task per key, started on demand and ended when its queue runs dry."""

    def __init__(self, handler: Callable[[J], Awaitable[None]], gate: asyncio.Event | None = None) -> None:
        self._handler = handler
        self._gate = gate
        # Plain deques: a worker takes from its own queue alone, and never waits on it (it ends when it runs dry),
        # so an asyncio.Queue's waiters and task counts (made anew for most signals, one per key) bought nothing.
        self._queues: dict[Hashable, deque[J]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._pending = 0  # jobs waiting in all queues (not the ones running)
        self._room: list[tuple[int, asyncio.Future[None]]] = []  # `below` callers: (their limit, their wake-up)

    def put(self, key: Hashable, job: J) -> None:
        """Append a job to its key's queue and make sure a worker drains it."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(job)
        self._pending += 1
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key, queue), name=f"queue-{key}")

    async def _work(self, key: Hashable, queue: deque[J]) -> None:
        try:
            if self._gate is not None:
                await self._gate.wait()  # trading stays halted until start-up recovery is done
            while queue:
                job = queue.popleft()
                self._took()
                try:
                    await self._handler(job)
                except Exception:
                    log.exception("execution of %r failed unexpectedly", key)
        finally:
            # No await between the emptiness check above and this removal: no job can be stranded.
            del self._workers[key]
            if not queue:
                del self._queues[key]

    def _took(self) -> None:
        self._pending -= 1
        if self._room:  # woken only once below their limit: a flood's waiting answers are not all woken per job
            waiting, self._room = self._room, []
            for limit, wake in waiting:
                if wake.done():  # its caller was cancelled (a client gone)
                    continue
                if self._pending < limit:
                    wake.set_result(None)
                else:
                    self._room.append((limit, wake))

    async def below(self, limit: int) -> None:
        """Wait until fewer than `limit` jobs wait in all queues."""
        if self._pending < limit:
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._room.append((limit, wake))
        await wake

    @property
    def pending(self) -> int:
        """Jobs waiting in all queues."""
        return self._pending

    async def join(self) -> None:
        """Wait until every queue is drained."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def cancel(self) -> None:
        """Stop all workers (shutdown); unfinished jobs stay journaled for recovery."""
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
