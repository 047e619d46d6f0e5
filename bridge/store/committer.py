"""The journal's commit thread: runs the calls handed to it one at a time, in order, each outcome told back."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

Then = Callable[[Any, BaseException | None], None]


class CommitThread:
    """One thread running each call (a COMMIT, a wait for the write lock) after the ones before it.

    When a call ends, `then(result, error)` runs on the event loop. A one-worker `ThreadPoolExecutor` did the
    same with two futures per call (its own, and asyncio's wrapper chained to it by callbacks across the
    threads): about 10 µs more CPU per COMMIT, a few percent of each webhook's at the small batches of a
    steady rate.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self._loop = loop
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Then] | None] = queue.SimpleQueue()
        self._stopped = False
        # A daemon thread: a process ending without `shutdown` does not wait on it for ever. A COMMIT cut off
        # then was never answered to anyone, and SQLite rolls back what it had not finished.
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any], then: Then) -> None:
        """Run `call` on the thread after those submitted before it; then `then(result, error)` on the loop."""
        if self._stopped:
            raise RuntimeError("the journal's commit thread is stopped")
        self._calls.put((call, then))

    def shutdown(self) -> None:
        """Run every call submitted so far, then end the thread."""
        if not self._stopped:
            self._stopped = True
            self._calls.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            call, then = item
            result: Any = None
            error: BaseException | None = None
            try:
                result = call()
            except BaseException as exc:  # the call's failure is its caller's, told on the loop
                error = exc
            with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody is left to tell
                self._loop.call_soon_threadsafe(then, result, error)
