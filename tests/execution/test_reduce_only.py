"""Reduce-only orders (exits, breakeven stops) in the paper book: they hold no buying power, and the upgrade
that brought the flag sets it on those already working."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.conftest import TOKEN
from tests.reload.conftest import Running, config_text


def _working(live: Running) -> list[tuple[str, str, str]]:
    rows = live.bridge.store.peek(
        lambda conn: conn.execute(
            "SELECT side, type, quantity FROM paper_orders WHERE symbol = 'AMD' AND status IN ('open', 'held') "
            "ORDER BY created_at"
        ).fetchall()
    )
    return [(r[0], r[1], r[2]) for r in rows]


def _decision(live: Running, action: str) -> str:
    row = live.bridge.store.peek(
        lambda conn: conn.execute(
            "SELECT e.state, e.decision FROM executions e JOIN signals s ON s.id = e.signal_id "
            "WHERE s.action = ? ORDER BY s.received_at DESC LIMIT 1",
            (action,),
        ).fetchone()
    )
    return f"{row[0]}: {row[1]}"


async def _fully_invested_long_10(live: Running) -> None:
    assert (await live.post("sq", TOKEN, action="buy", quantity=10, price=100)).status_code == 200
    await live.settled()
    assert live.paper_position() == "10"


async def test_a_breakeven_stop_beside_a_resting_exit_is_placed_on_a_fully_invested_account(
    running: Callable[..., Any],
) -> None:
    live: Running = await running(config_text({"sq": TOKEN}, cash=1000))
    await _fully_invested_long_10(live)
    # A take-profit sent as a resting limit exit, then the breakeven stop under it: both only close the long 10.
    exit_limit = {"orderType": "limit", "limitPrice": 120, "price": 110}
    assert (await live.post("sq", TOKEN, action="exit", **exit_limit)).status_code == 200
    await live.settled()
    assert _working(live) == [("sell", "limit", "10")]
    assert (await live.post("sq", TOKEN, action="breakeven", price=110)).status_code == 200
    await live.settled()
    assert ("sell", "stop", "10") in _working(live), "the protective breakeven stop was refused: " + _decision(
        live, "breakeven"
    )


async def test_a_partial_exit_under_a_breakeven_stop_is_filled_on_a_fully_invested_account(
    running: Callable[..., Any],
) -> None:
    live: Running = await running(config_text({"sq": TOKEN}, cash=1000))
    await _fully_invested_long_10(live)
    await live.bridge.runtime.broker("paper").observe_price("AMD", Decimal(110))
    assert (await live.post("sq", TOKEN, action="breakeven", price=110)).status_code == 200
    await live.settled()
    assert _working(live) == [("sell", "stop", "10")]
    # sell + bullish: a partial exit that keeps the long; it reduces the position, it opens nothing.
    assert (await live.post("sq", TOKEN, action="sell", sentiment="bullish", quantity=4, price=110)).status_code == 200
    await live.settled()
    assert live.paper_position() == "6", "the partial exit was refused: " + _decision(live, "sell")


def _as_written_by_the_previous_version(path: str) -> None:
    """The journal as the version before migration 9 left it: no reduce_only column, schema 8."""
    db = sqlite3.connect(path)
    try:
        db.execute("ALTER TABLE paper_orders DROP COLUMN reduce_only")
        db.execute("ALTER TABLE signals DROP COLUMN token_fingerprint")  # migration 10's, later
        db.execute("DROP TABLE broker_identities")  # migration 11's
        db.execute("DROP TABLE identity_key")  # migration 12's
        db.execute("ALTER TABLE orders DROP COLUMN unfollowed")  # migration 13's
        db.execute("ALTER TABLE orders DROP COLUMN replaces")  # migration 14's
        db.execute("ALTER TABLE orders DROP COLUMN moves")  # migration 15's
        db.execute("ALTER TABLE executions DROP COLUMN lacks")  # migration 16's
        db.execute("DROP INDEX orders_unclosed")  # migration 17's, on the columns it adds
        db.execute("ALTER TABLE orders DROP COLUMN closed_position_at")  # migration 17's
        db.execute("ALTER TABLE orders DROP COLUMN closed_by")
        db.execute("ALTER TABLE orders DROP COLUMN resting_at_read")  # migration 18's
        db.execute("PRAGMA user_version=8")
        db.commit()
    finally:
        db.close()


async def test_a_breakeven_stop_working_at_the_upgrade_opens_no_short_after_the_take_profit(
    running: Callable[..., Any],
) -> None:
    text = config_text({"sq": TOKEN})
    old: Running = await running(text)
    body = {"quantity": 10, "stopLoss": {"stopPrice": 95}, "takeProfit": {"limitPrice": 120}}
    assert (await old.post("sq", TOKEN, action="buy", **body)).status_code == 200
    await old.settled()
    await old.bridge.runtime.broker("paper").observe_price("AMD", Decimal(110))
    assert (await old.post("sq", TOKEN, action="breakeven", price=110)).status_code == 200
    await old.settled()
    path = str(old.bridge.store.path)
    await old.client.aclose()
    await old.bridge.stop()
    _as_written_by_the_previous_version(path)

    live: Running = await running(text)  # the upgraded daemon migrates the journal to 9
    broker = live.bridge.runtime.broker("paper")
    await broker.observe_price("AMD", Decimal(121))  # the take-profit fills: flat
    assert live.paper_position() == "0"
    await broker.observe_price("AMD", Decimal(99))  # through the breakeven stop placed before the upgrade
    assert live.paper_position() == "0", "the breakeven stop from before the upgrade sold 10 short"
