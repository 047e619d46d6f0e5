"""A signal that expired instead of trading is told: the trader expected a position the bridge never took."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bridge.metrics import Metrics
from bridge.notify.hub import Operations
from tests.conftest import GUARD, TOKEN
from tests.notify.receiver import Receiver
from tests.reload.conftest import config_text
from tests.reload.venue import GatedPaper

AGE = 0.5  # max_signal_age, seconds: the second signal waits longer than this behind the first


async def test_a_signal_that_expired_in_the_queue_is_notified_with_the_default_events(running: Any) -> None:
    """A sell queued behind a buy the broker was slow to take waited past max_signal_age and was not traded,
    rightly; the trader who set the alert believes it went out, and the default events must say it did not."""
    GatedPaper.gate = asyncio.Event()
    try:
        with Receiver() as receiver:
            text = config_text({"sq": TOKEN}, plugin="tests.reload.venue:GatedPaper", extra=f"max_signal_age: {AGE}\n")
            text += (
                f"notifications:\n  backoff: 0.05\n  targets:\n    - type: webhook\n      url: {receiver.base}/hook\n"
            )
            r = await running(text)
            venue = GatedPaper.instances[-1]
            operations = Operations(r.bridge, Metrics(r.bridge))
            await operations.start()
            try:
                assert (await r.post(action="buy")).status_code == 200
                while not venue.created:  # the buy is inside create_order, held by the gate
                    await asyncio.sleep(0.01)
                assert (await r.post(action="sell", price=101)).status_code == 200
                await asyncio.sleep(AGE * 2)  # the sell, queued behind the buy, grows older than max_signal_age
                GatedPaper.gate.set()
                await r.settled()
                await operations.notifier.drain(GUARD)
            finally:
                await operations.stop()
    finally:
        GatedPaper.gate = None
    told = {body["kind"]: body for body in (json.loads(raw.body) for raw in receiver.received)}
    assert "signal.expired" in told, list(told)
    assert "AMD" in told["signal.expired"]["text"] and "expired" in told["signal.expired"]["text"]
