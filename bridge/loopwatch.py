"""A watch on the event loop: code that blocks it (an adapter calling a synchronous SDK) is logged with its line.

Everything the daemon does runs on one event loop: while an `async def` adapter method calls `requests`,
a synchronous SDK or `time.sleep`, no webhook is answered (TradingView gives up after a few seconds and
does not send again) and no other broker is served. Nothing can interrupt such a call; a thread of its own
notices it and names the line the loop is stuck on, so the plugin's author knows what to move to a thread.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("bridge.loop")
STALL_SECONDS = 1.0  # a webhook answered this late is still in time; longer, and senders start giving up


def blocked_at(frame: FrameType | None) -> str:
    """`file:line in function` of the deepest frame outside Python's own and installed libraries (the plugin's)."""
    if frame is None:
        return "an unknown place"
    stack = traceback.extract_stack(frame)
    libraries = tuple({sys.prefix, sys.base_prefix})
    ours = [f for f in stack if not f.filename.startswith(libraries)] or stack
    return f"{ours[-1].filename}:{ours[-1].lineno} in {ours[-1].name}" if ours else "an unknown place"


class LoopWatch:
    """Logs a warning, once per stall, when the running loop has not turned for `threshold` seconds."""

    def __init__(self, threshold: float = STALL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self._clock = clock  # a test's own: a stall is then the time it says, not a loaded machine's pause
        self._beat = clock()
        self._stop = threading.Event()
        self._handle: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ident = 0

    def start(self) -> None:
        """Start watching the running loop (call from it); a watch already running goes on."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._loop = asyncio.get_running_loop()
        self._ident = threading.get_ident()
        self._tick()
        self._thread = threading.Thread(target=self._watch, name="loop-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            self._thread.join(self.threshold)

    def _tick(self) -> None:
        self._beat = self._clock()
        if self._loop is not None and not self._stop.is_set():
            self._handle = self._loop.call_later(self.threshold / 4, self._tick)

    def _watch(self) -> None:
        reported = None
        while not self._stop.wait(self.threshold / 4):
            loop = self._loop
            if loop is None or loop.is_closed():  # its daemon is gone without stopping the watch (a test)
                return
            if not loop.is_running():  # not turning because nothing runs it: not blocked
                continue
            beat = self._beat
            stalled = self._clock() - beat
            if stalled < self.threshold or reported == beat:
                continue
            reported = beat  # one warning per stall, however long it lasts
            where = blocked_at(sys._current_frames().get(self._ident))
            log.warning(
                "the event loop has been blocked for %.1fs, at %s: meanwhile no webhook is answered and no broker is "
                "served; a blocking call in async code (a synchronous SDK, requests, time.sleep) belongs in "
                "`await asyncio.to_thread(...)`",
                stalled, where,
            )  # fmt: skip
