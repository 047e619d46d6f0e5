"""Two strategies subscribed to one broker account trade one position: their signals for a ticker run in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import ADMIN, GUARD, TOKEN
from tests.reload.conftest import Running, config_text
from tests.reload.venue import LateFills

OTHER = "tok-" + "0f9e8d7c6b5a49382716"


async def test_two_strategies_exiting_one_position_together_sell_it_once(running: Callable[..., Any]) -> None:
    live: Running = await running(config_text({"a": TOKEN, "b": OTHER}))  # both on the one paper account
    assert (await live.post("a", TOKEN, action="buy", quantity=10)).status_code == 200
    await live.settled()
    assert live.paper_position() == "10"
    answers = await asyncio.gather(live.post("a", TOKEN, action="exit"), live.post("b", OTHER, action="exit"))
    assert [r.status_code for r in answers] == [200, 200]
    await live.settled()
    assert live.paper_position() == "0"  # sold once: not short 10 from a second exit planned on the same long 10
    sells = live.bridge.store.peek(
        lambda conn: conn.execute("SELECT quantity FROM orders WHERE side = 'sell' AND status = 'filled'").fetchall()
    )
    assert [row[0] for row in sells] == ["10"]


def _late_fills(subscriptions: str) -> str:
    """Strategy `sq` on a venue whose market orders fill a moment after it answers (as Alpaca's do)."""
    return (
        f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n"
        "brokers:\n  venue:\n    plugin: tests.reload.venue:LateFills\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n{subscriptions}"
    )


async def _venue_position(live: Running) -> Decimal:
    broker = live.bridge.runtime.broker("venue")
    assert broker is not None
    await asyncio.sleep(LateFills.delay * 4)  # any fill still on its way lands
    return sum((p.quantity for p in await broker.fetch_positions() if p.symbol == "AMD"), Decimal(0))


async def test_two_subscriptions_on_one_account_open_one_position_where_fills_come_late(
    running: Callable[..., Any],
) -> None:
    subs = "      - broker: venue\n        name: a\n      - broker: venue\n        name: b\n"
    live: Running = await running(_late_fills(subs))
    assert (await live.post(action="buy")).status_code == 200
    await live.settled()
    assert await _venue_position(live) == 1  # not 2: the second plan saw the first one's fill
    decisions = live.bridge.store.peek(
        lambda conn: [row[0] for row in conn.execute("SELECT decision FROM executions ORDER BY subscription")]
    )
    assert "opened long 1" in decisions[0] and "already long" in decisions[1], decisions


async def test_a_second_buy_right_after_the_first_adds_nothing_where_fills_come_late(
    running: Callable[..., Any],
) -> None:
    live: Running = await running(_late_fills("      - broker: venue\n"))
    first, second = await asyncio.gather(live.post(action="buy", price=100), live.post(action="buy", price=101))
    assert (first.status_code, second.status_code) == (200, 200)
    await live.settled()
    assert await _venue_position(live) == 1  # allow_add is off: the second buy is ignored, as where fills are at once


async def test_a_market_order_taken_is_executed_though_its_fill_cannot_be_read_while_it_settles(
    running: Callable[..., Any],
) -> None:
    text = _late_fills("      - broker: venue\n").replace("venue:LateFills", "venue:LateFillsUnread")
    live: Running = await running(text)
    assert (await live.post(action="buy")).status_code == 200
    await live.settled()
    state, decision = live.bridge.store.peek(
        lambda conn: conn.execute("SELECT state, decision FROM executions").fetchone()
    )
    # The venue took the order (it fills as ever): waiting for its fill only delays the next signal, so a read
    # that fails there must not report the trade as failed (and a sender tempted to send it again).
    assert state == "executed" and decision.startswith("buy while flat: opened long 1"), decision
    assert await _venue_position(live) == 1


async def test_a_market_order_taken_is_executed_though_its_fill_read_hangs_while_it_settles(
    running: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bridge.execution.executor.MARKET_SETTLE_SECONDS", 0.3)
    text = _late_fills("      - broker: venue\n").replace("venue:LateFills", "venue:LateFillsHung")
    live: Running = await running(text)
    assert (await live.post(action="buy")).status_code == 200
    await asyncio.wait_for(live.settled(), GUARD)  # the settle wait ends at its deadline, not with the hung read
    assert (await live.post(action="exit")).status_code == 200
    await asyncio.wait_for(live.settled(), GUARD)  # and the symbol's next signal runs
    rows = live.bridge.store.peek(
        lambda conn: conn.execute("SELECT state, decision FROM executions ORDER BY started_at").fetchall()
    )
    assert [state for state, _ in rows] == ["executed", "executed"], rows
    assert rows[0][1].startswith("buy while flat: opened long 1"), rows
    assert await _venue_position(live) == 0
