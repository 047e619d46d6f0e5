"""A cancel's put-back of a bracket leg Alpaca canceled with it, interrupted by SIGKILL and resumed after a restart.

Canceling one leg of a bracket at Alpaca cancels its sibling; the bridge puts that sibling back as a new order, but
not every one: a leg of an entry still working would open a position of its own, and one that could not be read is
not known to be gone. A real daemon is killed while the put-back is sent and started again: the signal must end as
it would have without the restart, saying what the position lacks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.test_alpaca_e2e import BRACKET, _working_exits, alpaca_daemon, send
from tests.conftest import GUARD, Daemon
from tests.fakes.alpaca import FakeAlpaca


@pytest.fixture
def adding(tmp_path: Path) -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A daemon on Alpaca whose subscription adds to a position (a second bracket beside the first)."""
    with alpaca_daemon(tmp_path, "poll_interval: 3600\n", ", allow_add: true") as (daemon, fake):
        yield daemon, fake


def _kill_at_put_back(daemon: Daemon, fake: FakeAlpaca, payload: dict[str, Any]) -> str:
    """Post `payload`, kill the daemon once a leg put back is sent (its answer held), and start it again; the id."""
    sent = len(fake.order_requests)
    fake.answer_delay = GUARD  # the put-back is placed, and its answer never comes before the kill
    accepted = daemon.post(payload)
    assert accepted.status_code == 200, accepted.text
    _put_back_sent(daemon, fake, sent)
    daemon.kill()
    fake.answer_delay = 0.0
    daemon.start()
    return str(accepted.json()["id"])


def _put_back_sent(daemon: Daemon, fake: FakeAlpaca, sent: int) -> None:
    """Wait until a sell is sent alone (a leg put back) past the first `sent` order requests."""
    deadline = time.monotonic() + GUARD
    while not [body for body in fake.order_requests[sent:] if body.get("side") == "sell"]:
        assert time.monotonic() < deadline, daemon.output()[-3000:]
        time.sleep(0.02)


def test_a_put_back_resumed_after_a_restart_still_says_the_leg_of_an_entry_still_working_is_missing(
    adding: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = adding
    fake.set_price("SQ", Decimal(100))
    held = send(daemon, BRACKET)  # long 10, its take-profit at 120 and stop-loss at 95 working
    assert held["state"] == "executed", held["decision"]
    waiting = send(daemon, {**BRACKET, "orderType": "limit", "limitPrice": 98, "takeProfit": {"limitPrice": 125},
                            "stopLoss": {"stopPrice": 93}})  # fmt: skip
    assert waiting["state"] == "executed", waiting["decision"]  # its entry works: its legs wait for it
    final = daemon.wait_final(_kill_at_put_back(daemon, fake, {"ticker": "SQ", "action": "cancel",
                                                               "cancelOrderType": "stop"}))  # fmt: skip

    # The held position's take-profit is back; the waiting entry's is not (sent alone it would open a short).
    assert _working_exits(fake) == [("limit", None, "120")], final["decision"]
    assert "take-profit at 125" in final["decision"] and "entry still works" in final["decision"], final["decision"]
    assert final["state"] == "failed", final["decision"]


def test_a_put_back_resumed_after_a_restart_still_says_a_leg_that_could_not_be_read_may_be_missing(
    adding: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = adding
    fake.set_price("SQ", Decimal(100))
    first = send(daemon, BRACKET)  # long 10, its take-profit at 120 and stop-loss at 95 working
    assert first["state"] == "executed", first["decision"]
    second = send(daemon, {**BRACKET, "takeProfit": {"limitPrice": 125}, "stopLoss": {"stopPrice": 93}})  # long 20
    assert second["state"] == "executed", second["decision"]
    (entry,) = [o for o in daemon.api("orders", limit=1000) if o["signal_id"] == first["id"] and o["leg"] == "entry"]
    parent = next(o["id"] for o in fake.orders if o["client_order_id"] == entry["client_order_id"])
    take_profit = next(o for o in fake.orders if o["_parent"] == parent and o["type"] == "limit")
    fake.unreadable.add(take_profit["client_order_id"])  # once canceled with its stop-loss, it is not read

    final = daemon.wait_final(_kill_at_put_back(daemon, fake, {"ticker": "SQ", "action": "cancel",
                                                               "cancelOrderType": "stop"}))  # fmt: skip

    # Both take-profits went with the stop-losses; the one read is back, the other is not known to be gone.
    assert _working_exits(fake) == [("limit", None, "125")], final["decision"]
    assert "take-profit at 120" in final["decision"] and "could not be read" in final["decision"], final["decision"]
    assert final["state"] == "failed", final["decision"]
