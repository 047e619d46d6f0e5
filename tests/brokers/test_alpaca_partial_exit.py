"""Exits at Alpaca while a position's bracket legs work: Alpaca holds the shares for them.

A full exit cancels the take-profit and the stop-loss and sells everything. A partial exit is refused by Alpaca
("insufficient qty available") while the legs hold the shares, and canceling them would leave the rest of the
position without its stop: so it is refused before anything is canceled, saying how to do it.
"""

from __future__ import annotations

from decimal import Decimal

from tests.brokers.test_alpaca_e2e import _working_exits, send
from tests.brokers.test_alpaca_legs import _entered, flat  # noqa: F401  (the fixture)
from tests.conftest import Daemon
from tests.fakes.alpaca import FakeAlpaca


def _held(fake: FakeAlpaca) -> Decimal:
    return fake.positions.get("SQ", (Decimal(0), Decimal(0)))[0]


def test_a_full_exit_cancels_the_legs_and_sells_everything(flat: tuple[Daemon, FakeAlpaca]) -> None:  # noqa: F811
    daemon, fake = flat
    _entered(daemon, fake)
    final = send(daemon, {"ticker": "SQ", "action": "exit", "price": 100})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [] and _held(fake) == 0, final["decision"]


def test_a_partial_exit_beside_the_legs_is_refused_before_anything_is_canceled(
    flat: tuple[Daemon, FakeAlpaca],  # noqa: F811
) -> None:
    daemon, fake = flat
    _entered(daemon, fake)
    sent = len(fake.order_requests)
    final = send(daemon, {"ticker": "SQ", "action": "exit", "quantity": 4, "price": 100})
    assert final["state"] == "rejected", final["decision"]
    assert "action cancel" in final["decision"] and "stop" in final["decision"], final["decision"]
    assert len(fake.order_requests) == sent, final["decision"]  # nothing was sent
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)], final["decision"]
    assert _held(fake) == 10


def test_a_sell_bullish_of_part_beside_the_legs_is_refused_before_anything_is_canceled(
    flat: tuple[Daemon, FakeAlpaca],  # noqa: F811
) -> None:
    daemon, fake = flat
    _entered(daemon, fake)
    final = send(daemon, {"ticker": "SQ", "action": "sell", "sentiment": "bullish", "quantity": 4, "price": 100})
    assert final["state"] == "rejected", final["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)], final["decision"]
    assert _held(fake) == 10


def test_a_partial_exit_told_to_cancel_sells_the_part_and_says_the_rest_has_no_stop(
    flat: tuple[Daemon, FakeAlpaca],  # noqa: F811
) -> None:
    daemon, fake = flat
    _entered(daemon, fake)
    final = send(daemon, {"ticker": "SQ", "action": "exit", "quantity": 4, "price": 100, "cancel": True})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [] and _held(fake) == 6, final["decision"]  # never more than asked
    assert "still long 6" in final["decision"] and "no stop-loss working now" in final["decision"], final["decision"]


def test_a_full_exit_told_to_keep_the_legs_is_refused_before_anything_is_sent(
    flat: tuple[Daemon, FakeAlpaca],  # noqa: F811
) -> None:
    daemon, fake = flat
    _entered(daemon, fake)
    sent = len(fake.order_requests)
    final = send(daemon, {"ticker": "SQ", "action": "exit", "price": 100, "cancel": False})
    assert final["state"] == "rejected", final["decision"]
    assert '"cancel": false' in final["decision"], final["decision"]
    assert len(fake.order_requests) == sent, final["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)] and _held(fake) == 10
