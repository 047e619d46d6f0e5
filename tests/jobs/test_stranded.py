"""An exit left working on a position that is gone is canceled, at a venue that has no reduce-only flag of its own."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bridge.jobs.orders import poll_orders
from bridge.jobs.stranded import _held
from bridge.notify.events import Event
from tests.conftest import ADMIN, TOKEN
from tests.jobs.conftest import Clock, Running, config_text

# The template adapter's in-memory venue: it rests limit orders and knows nothing of reduce-only.
CONFIG = (
    f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n"
    "brokers:\n  mine:\n    plugin: template_broker\n    options: {cash: 100000}\n"
    f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: mine\n"
)
RESTING_EXIT = {"action": "exit", "orderType": "limit", "limitPrice": 120, "price": 110}


async def _long_10_with_a_resting_exit(bridges: Any) -> tuple[Running, Any, str]:
    r: Running = await bridges(CONFIG, Clock())
    await r.accepted(quantity=10, price=100)
    exit_id = await r.accepted(**RESTING_EXIT)
    await r.bridge.queues.join()
    broker = r.bridge.runtime.broker("mine")
    assert type(broker).__name__ == "TemplateBroker" and broker.venue is not None  # loaded as a plugin module
    assert broker.venue.positions["AMD"] == 10
    [row] = r.rows("SELECT client_order_id, status FROM orders WHERE signal_id = ?", exit_id)
    assert row["status"] == "open", "the exit rests at 120"
    return r, broker, row["client_order_id"]


def _venue_status(broker: Any, coid: str) -> str:
    return str(broker.venue.orders[coid]["status"])


async def test_an_exit_left_working_on_a_flat_position_is_canceled_at_the_second_check(bridges: Any) -> None:
    r, broker, coid = await _long_10_with_a_resting_exit(bridges)
    assert broker.venue is not None
    broker.venue.positions["AMD"] = Decimal(0)  # closed by hand at the venue: the exit would now sell short
    stranded = r.bridge.jobs.stranded
    assert await stranded.check() == 0, "one read of a flat position is not enough"
    assert _venue_status(broker, coid) == "open"
    assert await stranded.check() == 1
    assert _venue_status(broker, coid) == "canceled"
    assert r.rows("SELECT status FROM orders WHERE client_order_id = ?", coid)[0]["status"] == "canceled"


async def test_a_single_flat_read_between_two_held_ones_cancels_nothing(bridges: Any) -> None:
    r, broker, coid = await _long_10_with_a_resting_exit(bridges)
    assert broker.venue is not None
    stranded = r.bridge.jobs.stranded
    broker.venue.positions["AMD"] = Decimal(0)  # a read that lags the venue's fills
    assert await stranded.check() == 0
    broker.venue.positions["AMD"] = Decimal(10)
    assert await stranded.check() == 0
    broker.venue.positions["AMD"] = Decimal(0)
    assert await stranded.check() == 0, "the count starts again: two reads in a row"
    assert _venue_status(broker, coid) == "open"


async def test_an_exit_still_covering_its_position_is_left_alone(bridges: Any) -> None:
    r, broker, coid = await _long_10_with_a_resting_exit(bridges)
    stranded = r.bridge.jobs.stranded
    for _ in range(3):
        assert await stranded.check() == 0
    assert _venue_status(broker, coid) == "open"


async def test_an_exit_whose_position_turned_to_the_other_side_is_canceled(bridges: Any) -> None:
    r, broker, coid = await _long_10_with_a_resting_exit(bridges)
    assert broker.venue is not None
    broker.venue.positions["AMD"] = Decimal(-5)  # short now: a sell would add to it
    stranded = r.bridge.jobs.stranded
    assert await stranded.check() == 0
    assert await stranded.check() == 1
    assert _venue_status(broker, coid) == "canceled"


async def test_a_fill_found_by_the_stranded_job_is_reported(bridges: Any) -> None:
    r, broker, coid = await _long_10_with_a_resting_exit(bridges)
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    broker.venue.positions["AMD"] = Decimal(0)  # closed by hand at the venue
    stranded = r.bridge.jobs.stranded
    assert await stranded.check() == 0
    broker.venue._fill(broker.venue.orders[coid], Decimal(120))  # before the second check, the exit sells 10 short
    assert broker.venue.positions["AMD"] == -10
    await stranded.check()
    await poll_orders(r.bridge)
    [row] = r.rows("SELECT status FROM orders WHERE client_order_id = ?", coid)
    assert row["status"] == "filled"
    fills = [(e.kind, e.data["side"], e.data["quantity"]) for e in events if e.kind == "order.filled"]
    assert fills == [("order.filled", "sell", "10")], f"the exit's fill was not reported once; events: {events!r}"


async def test_an_exit_sent_in_other_letters_than_the_position_is_left_alone(bridges: Any) -> None:
    """The venue lists the position as `amd` (or AMD, as most venues spell it): an exit of AMD still covers it."""
    r: Running = await bridges(config_text(), Clock())
    await r.accepted(ticker="amd", quantity=10, price=100)
    exit_id = await r.accepted(ticker="AMD", **RESTING_EXIT)
    await r.bridge.queues.join()
    [row] = r.rows("SELECT client_order_id, status FROM orders WHERE signal_id = ?", exit_id)
    assert row["status"] == "open", "the exit rests at 120"
    stranded = r.bridge.jobs.stranded
    for _ in range(3):
        assert await stranded.check() == 0
    assert r.rows("SELECT status FROM orders WHERE signal_id = ?", exit_id)[0]["status"] == "open"


def test_an_exit_of_a_pair_covers_the_position_listed_without_its_slash() -> None:
    """Alpaca lists BTC/USD's position as BTCUSD: a resting exit of BTC/USD read as stranded, and was canceled."""
    assert _held({"BTCUSD": Decimal("0.02"), "SQ": Decimal(5)}, "BTC/USD") == Decimal("0.02")
    assert _held({"BTCUSD": Decimal("0.02")}, "btc/usd") == Decimal("0.02")
    assert _held({"BTCUSD": Decimal("0.02")}, "ETH/USD") == 0
