"""A breakeven moves the position's stop: the stop it replaces must not stay working beside it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.conftest import TOKEN
from tests.reload.conftest import Running, config_text


def _stops(live: Running) -> list[tuple[str, Decimal]]:
    """The working stops in AMD: side and stop price."""
    rows = live.bridge.store.peek(
        lambda conn: conn.execute(
            "SELECT side, stop_price FROM paper_orders WHERE symbol = 'AMD' AND type = 'stop' "
            "AND status IN ('open', 'held') ORDER BY created_at"
        ).fetchall()
    )
    return [(row[0], Decimal(row[1])) for row in rows]


async def _long_with_bracket_then_breakeven(live: Running) -> None:
    body = {"quantity": 10, "stopLoss": {"stopPrice": 95}, "takeProfit": {"limitPrice": 120}}
    assert (await live.post("sq", TOKEN, action="buy", **body)).status_code == 200
    await live.settled()
    assert live.paper_position() == "10"
    await live.bridge.runtime.broker("paper").observe_price("AMD", Decimal(110))
    assert (await live.post("sq", TOKEN, action="breakeven", price=110)).status_code == 200
    await live.settled()


async def test_a_gap_through_the_old_and_the_breakeven_stop_sells_the_long_once(running: Callable[..., Any]) -> None:
    live: Running = await running(config_text({"sq": TOKEN}))
    await _long_with_bracket_then_breakeven(live)
    await live.bridge.runtime.broker("paper").observe_price("AMD", Decimal(90))  # gaps through 100 and 95
    assert live.paper_position() == "0"  # not short 10: the old stop-loss and the breakeven stop both filled


async def test_breakeven_replaces_the_stop_loss(running: Callable[..., Any]) -> None:
    live: Running = await running(config_text({"sq": TOKEN}))
    await _long_with_bracket_then_breakeven(live)
    assert _stops(live) == [("sell", Decimal(100))]
    take_profit = live.bridge.store.peek(
        lambda conn: conn.execute("SELECT status FROM paper_orders WHERE type = 'limit' AND side = 'sell'").fetchone()
    )
    assert take_profit[0] == "open"  # the take-profit keeps working


async def test_a_second_breakeven_replaces_the_first(running: Callable[..., Any]) -> None:
    live: Running = await running(config_text({"sq": TOKEN}))
    await _long_with_bracket_then_breakeven(live)
    assert (await live.post("sq", TOKEN, action="breakeven", price=110, breakevenOffset=2)).status_code == 200
    await live.settled()
    assert _stops(live) == [("sell", Decimal(102))]


async def test_a_take_profit_fill_leaves_no_breakeven_stop_to_open_a_short(running: Callable[..., Any]) -> None:
    live: Running = await running(config_text({"sq": TOKEN}))
    await _long_with_bracket_then_breakeven(live)
    broker = live.bridge.runtime.broker("paper")
    await broker.observe_price("AMD", Decimal(121))  # the take-profit fills: flat
    assert live.paper_position() == "0"
    await broker.observe_price("AMD", Decimal(99))  # the breakeven stop is reduce-only: nothing left to sell
    assert live.paper_position() == "0"
    assert _stops(live) == []


async def test_a_resting_exit_left_by_a_stop_loss_fill_opens_no_short(running: Callable[..., Any]) -> None:
    live: Running = await running(config_text({"sq": TOKEN}))
    body = {"quantity": 10, "stopLoss": {"stopPrice": 95}, "takeProfit": {"limitPrice": 130}}
    assert (await live.post("sq", TOKEN, action="buy", **body)).status_code == 200
    await live.settled()
    exit_limit = {"orderType": "limit", "limitPrice": 120, "cancel": False}  # keeps the bracket working
    assert (await live.post("sq", TOKEN, action="exit", price=110, **exit_limit)).status_code == 200
    await live.settled()
    broker = live.bridge.runtime.broker("paper")
    await broker.observe_price("AMD", Decimal(94))  # the stop-loss fills: flat, the exit still rests at 120
    assert live.paper_position() == "0"
    await broker.observe_price("AMD", Decimal(121))  # the exit is reduce-only: it sells nothing short
    assert live.paper_position() == "0"


async def test_a_breakeven_with_the_price_already_below_the_entry_closes_nothing_and_keeps_the_stop_loss(
    running: Callable[..., Any],
) -> None:
    """A long bought at 100 and trading at 90 has no breakeven to move its stop to: a sell stop at 100 is already
    triggered, and would sell at 90 (a venue that refuses it instead leaves the long with no stop at all)."""
    live: Running = await running(config_text({"sq": TOKEN}))
    body = {"quantity": 10, "stopLoss": {"stopPrice": 85}, "takeProfit": {"limitPrice": 120}}
    assert (await live.post("sq", TOKEN, action="buy", **body)).status_code == 200
    await live.settled()
    await live.bridge.runtime.broker("paper").observe_price("AMD", Decimal(90))
    response = await live.post("sq", TOKEN, action="breakeven", price=90)
    await live.settled()
    assert live.paper_position() == "10"  # not sold at 90 by a stop that triggered on arrival
    assert _stops(live) == [("sell", Decimal(85))]  # the stop-loss still protects it
    query = "SELECT state, decision FROM executions WHERE signal_id = ?"
    decision = live.bridge.store.peek(lambda conn: conn.execute(query, (response.json()["id"],)).fetchone())
    assert tuple(decision) == (
        "rejected",
        "breakeven while long 10: rejected, the price 90 is already at or below the breakeven stop 100, which would "
        "sell at once: nothing to move the stop to yet",
    )
