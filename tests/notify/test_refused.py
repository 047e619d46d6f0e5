"""A webhook with a strategy's right token that is refused is told to the operator, once per kind and interval.

TradingView shows nobody the answer: an alert message with a typo is refused at every firing, silently.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from bridge.metrics import Metrics
from bridge.notify.hub import Operations
from bridge.notify.refusals import RefusalNotices
from tests.conftest import GUARD, TOKEN, Daemon
from tests.notify.receiver import Receiver
from tests.reload.conftest import config_text
from tests.security.conftest import strategy


def _notices(receiver: Receiver) -> list[dict[str, Any]]:
    return [body for raw in receiver.received if (body := json.loads(raw.body))["kind"] == "webhook.refused"]


def _targets(receiver: Receiver) -> str:
    return f"notifications:\n  backoff: 0.05\n  targets:\n    - type: webhook\n      url: {receiver.base}/hook\n"


async def test_a_refused_alert_of_a_known_strategy_is_told_once_and_a_strangers_never(running: Any) -> None:
    with Receiver() as receiver:
        r = await running(config_text({"sq": TOKEN}) + _targets(receiver))
        operations = Operations(r.bridge, Metrics(r.bridge))
        await operations.start()
        try:
            for _ in range(3):  # an alert that keeps firing with the same mistake
                assert (await r.post(action="buyy")).status_code == 400
            assert (await r.post(token="tok-" + "9" * 20, action="buyy")).status_code == 401  # not the sender's
            assert (await r.post(ticker="")).status_code == 400  # another mistake: told too
            await asyncio.to_thread(receiver.wait, 2)
            await operations.notifier.drain(GUARD)
        finally:
            await operations.stop()
    notices = _notices(receiver)
    assert [(n["data"]["strategy"], n["data"]["status"]) for n in notices] == [("sq", 400), ("sq", 400)]
    first, second = (n["data"]["message_code"] for n in notices)
    assert first != second  # one per messageCode: the repeats of the first were held back
    assert "buyy" in notices[0]["text"] and TOKEN not in json.dumps(notices)


def test_held_refusals_are_counted_and_told_with_the_next_notice_of_their_kind() -> None:
    now = [0.0]
    notices = RefusalNotices(interval=600, clock=lambda: now[0])
    first = notices.note("sq", 400, "invalid-action", "action must be ...")
    assert first is not None and first.data["more"] == 0
    assert notices.note("sq", 400, "invalid-action", "again") is None
    assert notices.note("sq", 400, "invalid-action", "again") is None
    assert notices.note("other", 400, "invalid-action", "its own kind") is not None
    now[0] = 599.0
    assert notices.note("sq", 400, "invalid-action", "still held") is None
    now[0] = 600.0
    told = notices.note("sq", 400, "invalid-action", "told")
    assert told is not None and told.data["more"] == 3 and "3 more like it" in told.text
    assert notices.note("sq", 400, "invalid-action", "held again") is None


def test_with_the_intake_process_a_refused_alert_is_told_by_the_daemon(start_daemon: Any) -> None:
    with Receiver() as receiver:
        daemon: Daemon = start_daemon({"sq": strategy()}, server="  intake_process: true\n", top=_targets(receiver))
        for _ in range(2):
            assert daemon.post({"ticker": "AMD", "action": "buyy"}).status_code == 400
        receiver.wait(1)
        time.sleep(0.3)  # a second notice, were the repeat not held back, would be here by now
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).status_code == 200
    notices = _notices(receiver)
    assert len(notices) == 1 and notices[0]["data"]["strategy"] == "sq" and "buyy" in notices[0]["text"]
