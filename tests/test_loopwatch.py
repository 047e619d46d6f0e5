"""An adapter that blocks the event loop (a synchronous SDK in an async method) is named in the log with its line.

Time is the test's own clock: a stall is the time it says passed, so a loaded machine's pauses are none, and the
blocked adapter stays blocked until the watch has warned, however late the watch's thread gets to run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time

import pytest

from bridge.loopwatch import LoopWatch
from tests.conftest import GUARD


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Warned(logging.Handler):
    """Sets `seen` when the watch warns."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.set()


class SynchronousBroker:
    """An adapter whose author called a synchronous SDK from an async method."""

    def __init__(self, clock: Clock, warned: Warned) -> None:
        self.clock = clock
        self.warned = warned

    async def fetch_positions(self) -> list[object]:
        """Blocks the loop as `requests.get(...)` on a slow venue would."""
        self.clock.now += 1.5  # the venue answers slowly: three times the threshold
        self.warned.seen.wait(GUARD)  # blocked until the watch has seen it (the guard only against a hang)
        time.sleep(0.25)  # and a few of the watch's looks more: it warns once per stall, not once per look
        return []


async def test_a_blocked_loop_is_logged_once_naming_the_adapters_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.loop")
    clock, warned = Clock(), Warned()
    logging.getLogger("bridge.loop").addHandler(warned)
    watch = LoopWatch(threshold=0.5, clock=clock)
    watch.start()
    try:
        for _ in range(3):  # 0.9 s in all while the loop turns, each step shorter than the threshold: no warning
            clock.now += 0.3
            # The watch's beat (every threshold / 4) is due before this sleep ends: the loop runs it first.
            await asyncio.sleep(watch.threshold / 2)
        assert not caplog.records
        await SynchronousBroker(clock, warned).fetch_positions()
        await asyncio.sleep(watch.threshold / 2)  # the loop turns again: the stall is over
    finally:
        watch.stop()
        logging.getLogger("bridge.loop").removeHandler(warned)
    [record] = caplog.records  # one stall, one warning
    # A line of the adapter's method: the one waiting, or the one before it if the watch looked right then.
    source, first = inspect.getsourcelines(SynchronousBroker.fetch_positions)
    named = {f"{__file__}:{n} in fetch_positions" for n in range(first, first + len(source))}
    assert any(place in record.getMessage() for place in named), record.getMessage()
    assert "asyncio.to_thread" in record.getMessage()
