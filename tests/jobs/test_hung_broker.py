"""One broker whose adapter never answers holds neither the order polls nor the timeouts of the other brokers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bridge.brokers import answers
from bridge.jobs.orders import cancel_expired, poll_orders
from tests.conftest import ADMIN, TOKEN
from tests.jobs.conftest import OTHER_TOKEN, Clock

STUCK = 30.0  # bounds a test that would otherwise never end; a passing run takes a fraction of a second

HANGS = '''
import asyncio
import importlib.util
import sys

_spec = importlib.util.spec_from_file_location("_hangs_template", {template!r})
_template = importlib.util.module_from_spec(_spec)
sys.modules["_hangs_template"] = _template
_spec.loader.exec_module(_template)


class Hangs(_template.TemplateBroker):
    """The template, whose order reads and cancels never return (but the one a signal's plan reads)."""

    async def fetch_open_orders(self, symbol=None):
        if symbol is None:  # the order jobs' list of every open order
            await asyncio.Event().wait()
        return await super().fetch_open_orders(symbol)

    async def fetch_order(self, client_order_id):
        await asyncio.Event().wait()

    async def cancel_order(self, client_order_id):
        await asyncio.Event().wait()


BROKER = Hangs
'''


def two_brokers(tmp_path: Path, plugin: str = HANGS) -> str:
    """Strategy `other` on a plugin that hangs, strategy `sq` on the paper broker; resting orders time out at 30 s."""
    template = Path(__file__).resolve().parents[2] / "plugins" / "template_broker.py"
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "hangs.py").write_text(plugin.format(template=str(template)))
    return (
        f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n"
        "brokers:\n  paper:\n    plugin: paper\n  stuck:\n    plugin: hangs\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - {{broker: paper, cancel_after: 30}}\n"
        f"  other:\n    token: {OTHER_TOKEN}\n    subscriptions:\n      - {{broker: stuck, cancel_after: 30}}\n"
    )


RESTING = {"orderType": "limit", "limitPrice": 90, "price": 100}  # a buy limit below the market rests


async def test_one_hung_broker_holds_neither_the_polls_nor_the_timeouts_of_the_others(
    bridges: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    r = await bridges(two_brokers(tmp_path), clock)
    await r.accepted("other", **RESTING)  # the hung broker's order is the older: its upkeep comes first
    await r.bridge.queues.join()
    await r.accepted("sq", **RESTING)
    await r.bridge.queues.join()
    assert [row["status"] for row in r.rows("SELECT status FROM orders ORDER BY created_at")] == ["open", "open"]
    monkeypatch.setattr(answers, "CALL_TIMEOUT", 0.2)
    await asyncio.wait_for(poll_orders(r.bridge), STUCK)  # before: never returned, so no broker was polled again
    clock.advance(60)
    assert await asyncio.wait_for(cancel_expired(r.bridge), STUCK) == 1  # the paper order, past the hung one's
    statuses = {row["broker"]: row["status"] for row in r.rows("SELECT broker, status FROM orders")}
    assert statuses == {"paper": "canceled", "stuck": "open"}


BUGGY = (
    HANGS.replace("class Hangs", "class Buggy")
    .replace("BROKER = Hangs", "BROKER = Buggy")
    .replace("await asyncio.Event().wait()", "raise KeyError('status')  # parsing the venue's answer")
)


async def test_one_adapters_bug_stops_neither_the_polls_nor_the_timeouts_of_the_others(
    bridges: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    r = await bridges(two_brokers(tmp_path, BUGGY), clock)
    await r.accepted("other", **RESTING)  # the buggy broker's order is the older: its upkeep comes first
    await r.bridge.queues.join()
    await r.accepted("sq", **RESTING)
    await r.bridge.queues.join()
    await poll_orders(r.bridge)  # before: the KeyError ended every round before the paper broker's turn
    clock.advance(60)
    assert await cancel_expired(r.bridge) == 1
    statuses = {row["broker"]: row["status"] for row in r.rows("SELECT broker, status FROM orders")}
    assert statuses == {"paper": "canceled", "stuck": "open"}
    assert "hangs.py" in caplog.text and "KeyError('status')" in caplog.text, caplog.text


class ClosesNever:
    """An adapter whose close waits on a venue session that never ends."""

    async def close(self) -> None:
        """Never returns."""
        await asyncio.Event().wait()


async def test_a_close_that_never_returns_does_not_hold_a_stop_or_a_reload(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bridge.runtime import BrokerSlot, close_slots

    monkeypatch.setattr(answers, "CALL_TIMEOUT", 0.2)
    slot = BrokerSlot("venue", "venue", ClosesNever())  # type: ignore[arg-type]
    await asyncio.wait_for(close_slots([slot]), STUCK)  # before: the daemon's stop waited here until killed
    assert "closing broker venue failed" in caplog.text and "ClosesNever.close" in caplog.text, caplog.text
