"""The 200 answer's (and the journal's) payload echo, as the parser writes it, is `normalised` of the signal, in its
order: the parser reads it from the fields the body sent, `normalised` from the Signal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.signals.parse import normalised, parse_body

BODIES: list[dict[str, Any]] = [
    {"ticker": "AAPL", "action": "buy"},
    {"ticker": "AAPL", "action": "buy", "price": 51},
    {
        "action": "sell",
        "ticker": "AMD",
        "sentiment": "short",
        "price": "60.30",
        "quantity": "5",
        "orderType": "limit",
        "limitPrice": "60.25",
        "timeInForce": "GTC",
        "interval": 15,
        "extras": {"note": "x", "n": 1.5},
    },
    {"ticker": "AMD", "action": "buy", "signalPrice": 12.5, "time": "2026-01-02T15:04:05Z", "extras": {}},
    {"ticker": "AMD", "action": "buy", "price": 10, "signalPrice": 12.5, "extras": []},
    {
        "ticker": "BTC/USDT",
        "action": "buy",
        "quantity": 250,
        "quantityType": "dollar_amount",
        "extendedHours": False,
        "takeProfit": {"limitPrice": 70},
        "stopLoss": {"type": "stop", "stopPrice": 50},
        "cancel": True,
        "ignoreTradingWindows": "true",
        "message": "café",
        "delay": 60,
        "cancelAfter": 30,
    },
    {"ticker": "AMD", "action": "sell", "orderType": "trailing_stop", "trailPercent": 1.5, "timeInForce": "day"},
    {"ticker": "AMD", "action": "buy", "orderType": "trailing_stop", "trailAmount": "0.5"},
    {"ticker": "AMD", "action": "cancel", "cancelOrderType": "limit"},
    {"ticker": "AMD", "action": "breakeven", "breakevenOffset": 0, "orderType": "stop"},
    {"ticker": "AMD", "action": "exit", "sentiment": "", "quantity": "1e2", "unknownField": {"a": 1}},
    {"ticker": "AMD", "action": "buy", "stopLoss": {"percent": 2}, "takeProfit": {"amount": 1.25}},
    {"ticker": "AMD", "action": "buy", "orderType": "limit", "extendedHours": True, "price": 1e-5},
]


@pytest.mark.parametrize("sent", BODIES, ids=range(len(BODIES)))
def test_the_echo_is_normalised_of_the_signal(sent: dict[str, Any]) -> None:
    signal, echo, _ = parse_body(json.dumps(sent).encode())
    expected = normalised(signal)
    assert echo == expected
    assert list(echo) == list(expected)  # in its order too: the journal's text is the echo's
