"""What a notification carries never holds a configured secret, whatever text an adapter put in an event."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.metrics import Metrics
from bridge.notify.hub import Operations
from tests.conftest import TOKEN
from tests.notify.receiver import Receiver
from tests.reload.conftest import config_text

KEY = "venue-key-" + "3c3c3c3c3c3c3c3c"


async def test_a_broker_key_an_adapter_quotes_in_an_order_error_is_masked_in_the_notification(running: Any) -> None:
    """A venue's rejection echoes its request, key included: the order.rejected notification must not."""
    with Receiver() as receiver:
        text = config_text({"sq": TOKEN}, plugin="tests.reload.venue:EchoingRejects")
        text = text.replace("options: {cash: 100000}", f"options: {{cash: 100000, api_key: {KEY}}}")
        text += f"notifications:\n  backoff: 0.05\n  targets:\n    - type: webhook\n      url: {receiver.base}/hook\n"
        r = await running(text)
        operations = Operations(r.bridge, Metrics(r.bridge))
        await operations.start()
        try:
            assert (await r.post()).status_code == 200
            await r.settled()
            await asyncio.to_thread(receiver.wait, 2)  # order.rejected and signal.rejected (or failed)
            await operations.notifier.drain(5)
        finally:
            await operations.stop()
    kinds = [raw.body for raw in receiver.received]
    assert any(b"order.rejected" in body for body in kinds), kinds
    assert all(KEY.encode() not in body for body in kinds), kinds
