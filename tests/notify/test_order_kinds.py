"""A canceled order, and one found partly filled, can be subscribed to: both were told to nobody, whatever the config
said, and a trader whose resting entry the broker or a cancel signal took away wants to know it no longer works."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.metrics import Metrics
from bridge.notify.config import DEFAULT_EVENTS, Notifications
from bridge.notify.hub import Operations
from tests.conftest import GUARD, TOKEN
from tests.notify.receiver import Receiver
from tests.reload.conftest import config_text


async def test_a_canceled_resting_order_is_told_to_a_target_that_asks_for_it(running: Any) -> None:
    with Receiver() as receiver:
        text = config_text({"sq": TOKEN})
        text += (
            "notifications:\n  backoff: 0.05\n  targets:\n"
            f"    - type: webhook\n      url: {receiver.base}/canceled\n      events: [order.canceled]\n"
            f"    - type: webhook\n      url: {receiver.base}/default\n"
        )
        r = await running(text)
        operations = Operations(r.bridge, Metrics(r.bridge))
        await operations.start()
        try:
            assert (await r.post(orderType="limit", limitPrice=50)).status_code == 200  # rests: the price is 100
            await r.settled()
            assert (await r.post(action="cancel")).status_code == 200
            await r.settled()
            await operations.notifier.drain(GUARD)
        finally:
            await operations.stop()
    told = [(raw.path, json.loads(raw.body)) for raw in receiver.received]
    canceled = [body for path, body in told if path == "/canceled"]
    assert [body["kind"] for body in canceled] == ["order.canceled"], told
    assert "AMD" in canceled[0]["text"] and "canceled" in canceled[0]["text"]
    assert all(body["kind"] != "order.canceled" for path, body in told if path == "/default")  # opt-in


def test_the_new_kinds_are_opt_in_and_a_misspelt_one_is_refused() -> None:
    assert "order.canceled" not in DEFAULT_EVENTS and "order.partially_filled" not in DEFAULT_EVENTS
    assert Notifications(events=["order.partially_filled", "order.canceled"]).events  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        Notifications(events=["order.cancelled"])  # type: ignore[list-item]
