"""A breakeven at Alpaca moves the stop in place (`PATCH /v2/orders/{id}`): never a moment, nor an outage, without one.

Alpaca holds the shares for the working stop, so a new stop cannot go beside it; canceled first, a new stop that
then did not reach Alpaca left the position with no stop at all. Its "Replace an Order" swaps the two at once.
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
    """A daemon of its own (an order of unknown outcome one test leaves holds the next one's entries) on Alpaca."""
    with alpaca_daemon(tmp_path) as (daemon, fake):
        yield daemon, fake


def _orders(daemon: Daemon, signal_id: str) -> list[dict[str, Any]]:
    return [o for o in daemon.api("orders", limit=1000) if o["signal_id"] == signal_id]


@pytest.mark.parametrize("status", [502, 503, 429, 422])
def test_a_breakeven_stop_alpaca_does_not_take_leaves_the_position_with_a_stop(
    flat: tuple[Daemon, FakeAlpaca], status: int
) -> None:
    daemon, fake = flat
    fake.set_price("SQ", Decimal(100))
    assert send(daemon, {**BRACKET, "takeProfit": None})["state"] == "executed"
    assert _working_exits(fake) == [("stop", "95", None)]
    fake.set_price("SQ", Decimal(110))
    fake.gateway = (status, False)  # the stop's request never reaches Alpaca's order desk
    final = send(daemon, BREAKEVEN)
    assert final["state"] == "failed", final["decision"]
    assert _working_exits(fake) == [("stop", "95", None)]  # the position keeps its stop
    assert "keeps a stop" in final["decision"] and "no stop" not in final["decision"], final["decision"]


def test_a_breakeven_beside_a_take_profit_moves_the_stop_loss_in_place(flat: tuple[Daemon, FakeAlpaca]) -> None:
    daemon, fake = flat
    fake.set_price("SQ", Decimal(100))
    entry = send(daemon, {**BRACKET, "timeInForce": "day"})  # a day bracket, asked for (unset, it goes gtc)
    assert entry["state"] == "executed", entry["decision"]
    fake.set_price("SQ", Decimal(110))
    final = send(daemon, BREAKEVEN)
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "100", None)]
    (breakeven,) = _orders(daemon, final["id"])
    # A leg's prices only ("Orders at Alpaca", Bracket Orders): the breakeven's gtc went too, and Alpaca keeps the
    # leg in its day bracket, whose time in force a replace does not change.
    assert fake.replace_requests == [{"stop_price": "100", "client_order_id": breakeven["client_order_id"]}]
    assert not [body for body in fake.order_requests if body.get("side") == "sell"]  # nothing placed beside it
    # The journal follows the stop that works: the leg it replaced is over, the breakeven stop is Alpaca's new order.
    legs = {o["leg"]: o for o in _orders(daemon, entry["id"])}
    assert legs["stop_loss"]["status"] == "canceled" and "replaced" in legs["stop_loss"]["error"]
    new = next(o for o in fake.orders if o["client_order_id"] == breakeven["client_order_id"])
    # Held beside the take-profit, as the stop-loss it replaced was (Alpaca's OCO): accepted, and working.
    assert (breakeven["status"], breakeven["stop_price"], breakeven["broker_order_id"]) == ("submitted", 100, new["id"])
    assert new["time_in_force"] == "day"
    assert "expires at the close" in final["decision"], final["decision"]  # the day bracket's: no stop overnight
    # A second breakeven moves the breakeven stop again, by its own id; still the day bracket's, said so again (it
    # was not: the stop it moved was a breakeven, not a leg, and the decision took the gtc it asked for).
    final = send(daemon, {**BREAKEVEN, "breakevenOffset": 2})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "102", None)]
    assert [o["time_in_force"] for o in fake.orders if o["type"] == "stop" and o["status"] == "held"] == ["day"]
    assert "expires at the close" in final["decision"], final["decision"]
    fake.set_price("SQ", Decimal(101))  # the stop sells the long; the take-profit goes with it
    assert daemon.positions() == {}
    assert _working_exits(fake) == []


def test_a_breakeven_that_also_cancels_the_take_profit_leaves_a_stop_though_alpacas_legs_cancel_together(
    flat: tuple[Daemon, FakeAlpaca],
) -> None:
    """`cancel: true` cancels the take-profit: Alpaca cancels its sibling stop-loss with it, so a replace of that
    stop-loss found it gone and the position was left with no stop. Both go, and a new stop is placed instead."""
    daemon, fake = flat
    fake.set_price("SQ", Decimal(100))
    assert send(daemon, BRACKET)["state"] == "executed"
    fake.set_price("SQ", Decimal(110))
    final = send(daemon, {**BREAKEVEN, "cancel": True})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "100", None)], final["decision"]
    assert fake.replace_requests == []


@pytest.fixture
def adding(tmp_path: Path) -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A daemon whose subscription adds to a position (`allow_add`), on Alpaca."""
    with alpaca_daemon(tmp_path, sub=", allow_add: true") as (daemon, fake):
        yield daemon, fake


def _stops(fake: FakeAlpaca) -> list[tuple[str, str]]:
    """The SQ sell stops working at Alpaca: stop price and quantity."""
    working = ("new", "accepted", "pending_new", "partially_filled", "held")
    return sorted((o["stop_price"], o["qty"]) for o in fake.orders
                  if o["side"] == "sell" and o["type"] == "stop" and o["status"] in working)  # fmt: skip


def test_a_breakeven_for_more_than_the_stop_loss_leg_never_asks_alpaca_to_change_the_legs_quantity(
    adding: tuple[Daemon, FakeAlpaca],
) -> None:
    """15 held, the bracket's stop-loss for its 10: Alpaca replaces a leg's prices only ("Orders at Alpaca", Bracket
    Orders), so the replace for 15 was refused after it was sent. The stop-loss is canceled and a stop for the 15
    placed instead, as at a venue without replace (canceling that leg cancels no take-profit: it has none)."""
    daemon, fake = adding
    fake.set_price("SQ", Decimal(100))
    assert send(daemon, {**BRACKET, "takeProfit": None})["state"] == "executed"
    assert send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": 5})["state"] == "executed"
    assert daemon.positions() == {"SQ": 15}
    assert _stops(fake) == [("95", "10")]
    fake.set_price("SQ", Decimal(110))
    final = send(daemon, BREAKEVEN)
    assert fake.replace_requests == [], "a leg's quantity change Alpaca refuses"
    assert final["state"] == "executed", final["decision"]
    assert _stops(fake) == [("100", "15")], final["decision"]


def test_a_breakeven_for_more_than_the_stop_loss_leg_beside_a_take_profit_is_refused_before_anything_is_sent(
    adding: tuple[Daemon, FakeAlpaca],
) -> None:
    """With the take-profit holding the shares, a stop for the 15 cannot go beside it: refused with nothing sent,
    the stop-loss working on, rather than a replace Alpaca refuses."""
    daemon, fake = adding
    fake.set_price("SQ", Decimal(100))
    assert send(daemon, BRACKET)["state"] == "executed"
    assert send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": 5})["state"] == "executed"
    fake.set_price("SQ", Decimal(110))
    requests = len(fake.order_requests)
    final = send(daemon, BREAKEVEN)
    assert final["state"] == "rejected", final["decision"]
    assert "take-profit" in final["decision"], final["decision"]
    assert fake.replace_requests == [] and len(fake.order_requests) == requests
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)]


@pytest.fixture
def fractional(tmp_path: Path) -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A daemon whose subscription trades fractional shares and adds to a position, on Alpaca."""
    with alpaca_daemon(tmp_path, sub=", allow_add: true, fractional: true") as (daemon, fake):
        yield daemon, fake


@pytest.mark.parametrize(("first", "added"), [("10.5", "1"), ("10", "0.5")])
def test_a_breakeven_for_a_new_fractional_quantity_cancels_the_stop_and_places_one_for_the_position(
    fractional: tuple[Daemon, FakeAlpaca], first: str, added: str
) -> None:
    """Alpaca changes no fractional order's quantity in a replace ("Replace an Order": whole shares only), so a
    breakeven that moved a standalone stop to a new quantity, either of them fractional, was refused unsent and the
    stop stayed where it was. It is canceled and a stop for the position placed instead, as for a bracket's leg."""
    daemon, fake = fractional
    fake.set_price("SQ", Decimal(100))
    assert send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": first})["state"] == "executed"
    fake.set_price("SQ", Decimal(110))
    day = {**BREAKEVEN, "timeInForce": "day"}  # Alpaca takes a fractional stop as a day order only
    assert send(daemon, day)["state"] == "executed"
    assert _stops(fake) == [("100", first)]
    assert send(daemon, {"ticker": "SQ", "action": "buy", "price": 110, "quantity": added})["state"] == "executed"
    held = str(Decimal(first) + Decimal(added))
    final = send(daemon, {**day, "breakevenOffset": 1})
    assert final["state"] == "executed", final["decision"]
    assert fake.replace_requests == [], "a fractional quantity change Alpaca refuses"
    ((price, quantity),) = _stops(fake)
    assert (quantity, Decimal(price) > 100) == (held, True), final["decision"]


def test_a_fractional_breakeven_stop_alpaca_refuses_after_the_cancel_puts_the_old_stop_back(
    fractional: tuple[Daemon, FakeAlpaca],
) -> None:
    """Canceled first (Alpaca holds the shares for it), the old stop is put back when the new one is refused."""
    daemon, fake = fractional
    fake.set_price("SQ", Decimal(100))
    assert send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": "10.5"})["state"] == "executed"
    fake.set_price("SQ", Decimal(110))
    day = {**BREAKEVEN, "timeInForce": "day"}
    assert send(daemon, day)["state"] == "executed"
    assert send(daemon, {"ticker": "SQ", "action": "buy", "price": 110, "quantity": 1})["state"] == "executed"
    fake.gateway = (422, False)  # the new stop is refused
    final = send(daemon, {**day, "breakevenOffset": 1})
    assert final["state"] == "failed", final["decision"]
    assert _stops(fake) == [("100", "10.5")], final["decision"]
    assert "put back" in final["decision"] and "no stop" not in final["decision"], final["decision"]


def test_a_fractional_breakeven_stop_says_it_is_a_day_order_that_expires_at_the_close(
    fractional: tuple[Daemon, FakeAlpaca],
) -> None:
    """Alpaca takes a fractional stop as a day order only: the position has no stop after the close, and the
    decision said nothing of it ("stop at breakeven 100 for 10.5"), as if it were protected overnight."""
    daemon, fake = fractional
    fake.set_price("SQ", Decimal(100))
    assert send(daemon, {"ticker": "SQ", "action": "buy", "price": 100, "quantity": "10.5"})["state"] == "executed"
    fake.set_price("SQ", Decimal(110))
    final = send(daemon, {**BREAKEVEN, "timeInForce": "day"})
    assert final["state"] == "executed", final["decision"]
    assert [o["time_in_force"] for o in fake.orders if o["type"] == "stop"] == ["day"]
    assert "day order" in final["decision"] and "expires at the close" in final["decision"], final["decision"]
    daemon.wait_output("WARNING bridge.executor: breakeven stop")
