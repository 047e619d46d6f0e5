"""A strategy whose signals are refused again and again (a runaway alert, a halt) is told once per kind and interval,
not once per signal: a flood would bury, or crowd out of a full queue, the fill and the halt that matter."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bridge.metrics import Metrics
from bridge.notify.events import Event, signal_event
from bridge.notify.hub import Operations
from bridge.notify.repeats import RepeatNotices
from bridge.risk import Breaker
from tests.conftest import GUARD, TOKEN
from tests.notify.receiver import Receiver
from tests.reload.conftest import config_text


def _targets(receiver: Receiver) -> str:
    return f"notifications:\n  backoff: 0.05\n  targets:\n    - type: webhook\n      url: {receiver.base}/hook\n"


async def test_a_signal_rejected_again_and_again_is_told_once_and_the_fill_after_it_still(running: Any) -> None:
    with Receiver() as receiver:
        r = await running(config_text({"sq": TOKEN}) + _targets(receiver))
        metrics = Metrics(r.bridge)
        operations = Operations(r.bridge, metrics)
        await operations.start()
        try:
            for n in range(5):  # an alert firing exits on a flat book (at other prices: not duplicates)
                assert (await r.post(action="exit", price=100 + n)).status_code == 200
            await r.settled()
            assert (await r.post(action="buy")).status_code == 200
            await r.settled()
            await asyncio.to_thread(receiver.wait, 2)
            await operations.notifier.drain(GUARD)
        finally:
            await operations.stop()
    told = [json.loads(raw.body) for raw in receiver.received]
    assert [n["kind"] for n in told] == ["signal.rejected", "order.filled"], [n["text"] for n in told]
    assert metrics.signals.labels("rejected")._value.get() == 5, "the metrics still count every one"


def rejected(decision: str, subscription: str = "paper", state: str = "rejected") -> Event:
    return signal_event("sq", subscription, "AMD", "id-1", state, decision)


def test_held_repeats_are_counted_and_told_with_the_next_notice_of_their_kind() -> None:
    now = [0.0]
    notices = RepeatNotices(interval=600, clock=lambda: now[0])
    halted = "rejected: trading halted by api: test; nothing was sent (the plan was: buy while flat: opened long 1)"
    assert notices.note(rejected(halted)) is not None
    assert notices.note(rejected(halted.replace("long 1", "long 7"))) is None  # the same reason, another plan
    assert notices.note(rejected(halted, subscription="other")) is not None  # another subscription: its own
    assert notices.note(rejected("exit while flat: rejected, no position to exit")) is not None  # another reason
    assert notices.note(rejected(halted, state="failed")) is not None  # failed is its own kind
    now[0] = 600.0
    told = notices.note(rejected(halted))
    assert told is not None and told.data["more"] == 1 and "1 more like it" in told.text


def test_fills_order_rejections_and_halts_are_never_held() -> None:
    notices = RepeatNotices(interval=600, clock=lambda: 0.0)
    for kind in ("order.filled", "order.rejected", "halt", "resume", "reload.failed", "webhook.refused"):
        event = Event(kind, "the same text", {"strategy": "sq", "subscription": "paper"})
        assert all(notices.note(event) is event for _ in range(3)), kind


def test_an_open_circuit_refusing_orders_of_many_symbols_is_told_once() -> None:
    """A leaked token's orders in ever new symbols, refused by the venue, open the strategy's circuit: the refusals
    after it differ only in the last error it quotes, and must be one kind, not one notice per symbol."""
    breaker, repeats, told = Breaker(strategy="leak"), RepeatNotices(), []
    for n in range(4):
        breaker.record("paper", False, f"OrderRejected: unknown symbol BAD{chr(65 + n)}", 0.0, 1)
        refusal = breaker.refusal("paper", 1.0, 60.0, take_probe=False)
        assert refusal is not None
        event = signal_event("leak", "paper", f"BAD{chr(65 + n)}", f"s{n}", "rejected", f"rejected: {refusal}")
        told.append(repeats.note(event))
    assert [event is not None for event in told] == [True, False, False, False], [e.text for e in told if e]
