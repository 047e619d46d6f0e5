"""An adapter that blocks the event loop (a synchronous SDK in an async method) is named in the log with its line."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bridge.loopwatch import LoopWatch


class SynchronousBroker:
    """An adapter whose author called a synchronous SDK from an async method."""

    async def fetch_positions(self) -> list[object]:
        """Blocks the loop as `requests.get(...)` on a slow venue would."""
        time.sleep(1.5)  # the venue answers slowly
        return []


async def test_a_blocked_loop_is_logged_once_naming_the_adapters_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.loop")
    watch = LoopWatch(threshold=0.5)  # well under the 1.5 s block, well over a loaded machine's pause
    watch.start()
    try:
        await asyncio.sleep(0.05)  # the loop turns: no warning
        assert not caplog.records
        await SynchronousBroker().fetch_positions()
        await asyncio.sleep(0.05)
    finally:
        watch.stop()
    line = next(n for n, text in enumerate(Path(__file__).read_text().splitlines(), 1) if "time.sleep(1.5)" in text)
    [record] = caplog.records  # one stall, one warning
    assert f"{__file__}:{line} in fetch_positions" in record.getMessage(), record.getMessage()
    assert "asyncio.to_thread" in record.getMessage()
