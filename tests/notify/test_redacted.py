"""What a notification carries never holds a configured secret, whatever text an adapter put in an event."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from bridge.metrics import Metrics
from bridge.notify.events import order_event
from bridge.notify.hub import Operations
from tests.conftest import GUARD, TOKEN
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
            await operations.notifier.drain(GUARD)
        finally:
            await operations.stop()
    kinds = [raw.body for raw in receiver.received]
    assert any(b"order.rejected" in body for body in kinds), kinds
    assert all(KEY.encode() not in body for body in kinds), kinds


OLD_KEY = "venue-key-" + "4d4d4d4d4d4d4d4d"
NEW_KEY = "venue-key-" + "5e5e5e5e5e5e5e5e"
OLD_HOOK_TOKEN = "hook-token-" + "6f6f6f6f6f6f6f6f"


def _with_key(key: str, hook: str) -> str:
    text = config_text({"sq": TOKEN}, plugin="tests.reload.venue:EchoingRejects")
    text = text.replace("options: {cash: 100000}", f"options: {{cash: 100000, api_key: {key}}}")
    return text + f"notifications:\n  backoff: 0.05\n  targets:\n    - type: webhook\n      url: {hook}\n"


async def test_a_secret_a_reload_replaced_is_still_masked_in_later_notifications(running: Any) -> None:
    """A broker built with the old key (a queued job's, a retired runtime's) may quote it after the reload, and a
    notification queued before it may name the old webhook URL: both leave the machine masked, and reloading the
    same values back and forth does not grow what is masked."""
    with Receiver() as receiver:
        old_hook, new_hook = f"{receiver.base}/old/{OLD_HOOK_TOKEN}", f"{receiver.base}/new"
        r = await running(_with_key(OLD_KEY, old_hook))
        operations = Operations(r.bridge, Metrics(r.bridge))
        await operations.start()
        try:
            assert (await r.edit(_with_key(NEW_KEY, new_hook))).ok
            counts = set()
            for key, hook in [(OLD_KEY, old_hook), (NEW_KEY, new_hook)] * 3:
                assert (await r.edit(_with_key(key, hook))).ok
                counts.add(len(operations.notifier.secrets()))
            error = f"rejected by the venue: request {{apiKey={OLD_KEY}, callback={old_hook}}}"
            operations.observe(order_event("sq", "paper", "paper", "AMD", "buy", "1", "rejected", None, error, 0.1))
            await asyncio.to_thread(receiver.wait, 1)
            await operations.notifier.drain(GUARD)
        finally:
            await operations.stop()
    bodies = [raw.body for raw in receiver.received]
    assert any(b"rejected by the venue" in body for body in bodies), bodies
    assert all(OLD_KEY.encode() not in body and OLD_HOOK_TOKEN.encode() not in body for body in bodies), bodies
    assert len(counts) == 1, counts  # the same values again add nothing


SLASHED_KEY = "venue/key+" + "7a7a7a7a7a7a7a7a"  # as a venue's secret may be: `/` and `+` are percent-encoded in a URL


async def test_a_broker_key_quoted_percent_encoded_in_an_events_text_is_masked(running: Any) -> None:
    """The notifier masks its events whatever an adapter wrote: a venue's error quoting its request URL has the key
    percent-encoded, which the event's data had masked but its text, the message itself, carried in clear."""
    with Receiver() as receiver:
        r = await running(_with_key(SLASHED_KEY, f"{receiver.base}/hook"))
        operations = Operations(r.bridge, Metrics(r.bridge))
        await operations.start()
        try:
            error = f"403 Forbidden for https://venue.example/v2/orders?apikey={quote(SLASHED_KEY, safe='')}"
            operations.observe(order_event("sq", "paper", "paper", "AMD", "buy", "1", "rejected", None, error, 0.1))
            await asyncio.to_thread(receiver.wait, 1)
            await operations.notifier.drain(5)
        finally:
            await operations.stop()
    bodies = [raw.body for raw in receiver.received]
    assert any(b"403 Forbidden" in body for body in bodies), bodies
    encoded = quote(SLASHED_KEY, safe="").encode()
    assert all(encoded not in body and encoded.lower() not in body for body in bodies), bodies
