"""Two strategies subscribed to one broker account trade one position: their signals for a ticker run in turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.conftest import TOKEN
from tests.reload.conftest import Running, config_text

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
