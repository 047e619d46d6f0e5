"""The README's promise in miniature: the daemon starts on the paper broker and trades a seed example."""

from __future__ import annotations

from typing import Any


def test_buy_then_sell_moves_the_paper_position(make_daemon: Any) -> None:
    daemon = make_daemon()
    first = daemon.post({"ticker": "SQ", "action": "buy", "price": 60.30})
    assert first.status_code == 200
    body = first.json()
    assert body["success"] is True and body["payload"] == {"ticker": "SQ", "action": "buy", "price": 60.3}
    assert daemon.wait_final(body["id"])["state"] == "executed"
    assert daemon.positions() == {"SQ": 1}
    second = daemon.post({"ticker": "SQ", "action": "sell"}).json()
    final = daemon.wait_final(second["id"])
    assert final["decision"] == "sell while long 1: sold 1, opened short 1 (fixed_quantity 1)"
    assert daemon.positions() == {"SQ": -1}
