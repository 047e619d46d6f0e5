"""A bracket's legs at Alpaca cancel together: canceling one leg alone must not leave the other gone unnoticed.

Alpaca cancels a bracket's take-profit with its stop-loss and the reverse (the fake does too, see its docstring),
and a stop a breakeven moved in place stays in its bracket. A signal that cancels one of them must leave the
journal as Alpaca has it, and the position with what the trader did not ask to cancel.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.test_alpaca_e2e import BRACKET, _working_exits, alpaca_daemon, send
from tests.conftest import Daemon
from tests.fakes.alpaca import FakeAlpaca

BREAKEVEN = {"ticker": "SQ", "action": "breakeven", "price": 110}


@pytest.fixture
def flat(tmp_path: Path) -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A daemon on Alpaca whose order jobs poll once an hour: what the journal holds is what the signal wrote."""
    with alpaca_daemon(tmp_path, "poll_interval: 3600\n") as (daemon, fake):
        yield daemon, fake


def _journal(daemon: Daemon) -> dict[str, str]:
    """The status the journal holds of each working order's client order id."""
    return {o["client_order_id"]: o["status"] for o in daemon.api("orders", limit=1000)}


def _at_alpaca(fake: FakeAlpaca) -> dict[str, str]:
    """Alpaca's status of each order the journal can name (legs by their parent's id and kind aside)."""
    return {o["client_order_id"]: o["status"] for o in fake.orders}


def _legs(daemon: Daemon, signal_id: str) -> dict[str, dict[str, Any]]:
    return {o["leg"]: o for o in daemon.api("orders", limit=1000) if o["signal_id"] == signal_id}


def _entered(daemon: Daemon, fake: FakeAlpaca) -> dict[str, Any]:
    fake.set_price("SQ", Decimal(100))
    entry = send(daemon, BRACKET)
    assert entry["state"] == "executed", entry["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)]
    return entry


def test_canceling_the_take_profit_keeps_a_stop_though_alpaca_cancels_the_stop_loss_with_it(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = flat
    entry = _entered(daemon, fake)
    final = send(daemon, {"ticker": "SQ", "action": "cancel", "cancelOrderType": "limit"})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "95", None)], final["decision"]  # the position keeps its stop
    assert "stop-loss at 95" in final["decision"] and "put back" in final["decision"], final["decision"]
    legs = _legs(daemon, entry["id"])
    assert legs["take_profit"]["status"] == "canceled" and legs["stop_loss"]["status"] == "canceled"
    (back,) = _legs(daemon, final["id"]).values()
    assert (back["leg"], back["type"], back["stop_price"], back["quantity"], back["status"]) == (
        "restore", "stop", 95, 10, "open"
    )  # fmt: skip
    fake.set_price("SQ", Decimal(110))  # the breakeven a take-profit stood in the way of now moves the stop put back
    moved = send(daemon, BREAKEVEN)
    assert moved["state"] == "executed", moved["decision"]
    assert _working_exits(fake) == [("stop", "100", None)], moved["decision"]


def test_canceling_the_stop_loss_puts_the_take_profit_alpaca_canceled_with_it_back(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = flat
    entry = _entered(daemon, fake)
    final = send(daemon, {"ticker": "SQ", "action": "cancel", "cancelOrderType": "stop"})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("limit", None, "120")], final["decision"]
    assert "take-profit at 120" in final["decision"], final["decision"]
    legs = _legs(daemon, entry["id"])
    assert legs["take_profit"]["status"] == "canceled" and legs["stop_loss"]["status"] == "canceled"


def test_a_stop_moved_in_place_still_goes_with_its_take_profit_at_alpaca(flat: tuple[Daemon, FakeAlpaca]) -> None:
    """Alpaca's replacement of a stop-loss stays in its bracket: a second breakeven with `cancel: true` (which
    cancels the take-profit) must not replace a stop that went with it, and a cancel of the take-profit keeps one."""
    daemon, fake = flat
    _entered(daemon, fake)
    fake.set_price("SQ", Decimal(110))
    moved = send(daemon, BREAKEVEN)
    assert moved["state"] == "executed", moved["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "100", None)]
    final = send(daemon, {**BREAKEVEN, "breakevenOffset": 2, "cancel": True})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "102", None)], final["decision"]


def test_canceling_the_take_profit_beside_a_stop_moved_in_place_keeps_that_stop(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = flat
    _entered(daemon, fake)
    fake.set_price("SQ", Decimal(110))
    assert send(daemon, BREAKEVEN)["state"] == "executed"
    final = send(daemon, {"ticker": "SQ", "action": "cancel", "cancelOrderType": "limit"})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "100", None)], final["decision"]
    journal, venue = _journal(daemon), _at_alpaca(fake)
    ended = {coid: venue[coid] in ("canceled", "replaced") for coid in venue.keys() & journal.keys()}
    assert ended == {coid: journal[coid] == "canceled" for coid in ended}, (journal, venue)


def test_a_stop_loss_alpaca_canceled_with_the_take_profit_and_not_taken_back_is_said_to_be_missing(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = flat
    entry = _entered(daemon, fake)
    fake.gateway = (422, False)  # the stop put back is refused
    final = send(daemon, {"ticker": "SQ", "action": "cancel", "cancelOrderType": "limit"})
    assert final["state"] == "failed", final["decision"]
    assert _working_exits(fake) == []
    assert "stop-loss at 95" in final["decision"] and "lacks it" in final["decision"], final["decision"]
    assert _legs(daemon, entry["id"])["stop_loss"]["status"] == "canceled"


def test_the_take_profit_of_an_entry_still_working_is_not_sent_alone_but_said_to_be_gone(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    """Its legs wait for the entry (`held`): sent alone, a take-profit would open a short of its own."""
    daemon, fake = flat
    fake.set_price("SQ", Decimal(100))
    entry = send(daemon, {**BRACKET, "orderType": "limit", "limitPrice": 98, "stopLoss": {"stopPrice": 93}})
    assert entry["state"] == "executed", entry["decision"]
    final = send(daemon, {"ticker": "SQ", "action": "cancel", "cancelOrderType": "stop"})
    assert final["state"] == "failed", final["decision"]
    assert "take-profit at 120" in final["decision"] and "entry still works" in final["decision"], final["decision"]
    assert not [body for body in fake.order_requests if body.get("side") == "sell"]  # nothing sent alone
    legs = _legs(daemon, entry["id"])
    assert legs["take_profit"]["status"] == "canceled" and legs["entry"]["status"] == "open"


def test_after_a_restart_a_leg_alpaca_lists_under_its_own_id_is_still_known_as_its_brackets(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    """Alpaca lists a leg under an id of its own: until the order jobs looked it up after a restart, it read as an
    order of no bracket, and its sibling went with it unsaid, the journal showing both working."""
    daemon, fake = flat
    entry = _entered(daemon, fake)
    daemon.stop()
    daemon.start()
    final = send(daemon, {"ticker": "SQ", "action": "cancel", "cancelOrderType": "limit"})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "95", None)], final["decision"]
    legs = _legs(daemon, entry["id"])
    assert legs["take_profit"]["status"] == "canceled" and legs["stop_loss"]["status"] == "canceled"


def test_after_a_restart_a_breakeven_that_also_cancels_the_take_profit_still_leaves_a_stop(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    daemon, fake = flat
    _entered(daemon, fake)
    daemon.stop()
    daemon.start()
    fake.set_price("SQ", Decimal(110))
    final = send(daemon, {**BREAKEVEN, "cancel": True})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "100", None)], final["decision"]
