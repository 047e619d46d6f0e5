"""A signal rebuilt from the journal (restart, delay) is the signal that was sent: no field is lost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.execution.recovery import journaled_signal
from bridge.signals.parse import parse_payload

RICH = [
    {"ticker": "SQ", "action": "buy", "price": "60.30", "quantity": 5, "sentiment": "long"},
    {"ticker": "SQ", "action": "buy", "price": 60.3, "takeProfit": {"percent": 4},
     "stopLoss": {"type": "stop_limit", "stopPrice": 58, "limitPrice": 57.5}},
    {"ticker": "SQ", "action": "buy", "price": 60, "quantity": 1000, "quantityType": "dollar_amount",
     "orderType": "limit", "limitPrice": 59.5, "timeInForce": "gtc", "extendedHours": True},
    {"ticker": "SQ", "action": "sell", "orderType": "trailing_stop", "trailPercent": 1.5, "cancel": True},
    {"ticker": "SQ", "action": "buy", "price": 10, "quantity": 2, "quantityType": "risk_percent",
     "stopLoss": {"type": "trailing_stop", "trailAmount": 0.5}, "ignoreTradingWindows": True},
    {"ticker": "SQ", "action": "cancel", "cancelOrderType": "stop"},
    {"ticker": "SQ", "action": "breakeven", "breakevenOffset": 0.1, "time": "2026-01-02T15:04:05Z", "interval": "15",
     "extras": {"setup": "x"}, "message": "move stop"},
]  # fmt: skip


@pytest.mark.parametrize("body", RICH)
def test_the_rebuilt_signal_equals_the_parsed_one(body: dict[str, Any]) -> None:
    signal, echo, _ = parse_payload(body)
    row = {"payload": json.dumps(echo), "execute_at": None, "cancel_after": None}
    assert journaled_signal(row) == signal  # type: ignore[arg-type]


def test_timing_fields_come_from_their_columns_even_when_the_delay_has_passed() -> None:
    signal, echo, _ = parse_payload({"ticker": "SQ", "action": "buy", "delay": 60, "cancelAfter": 30})
    echo["delay"] = "2020-01-01T00:00:00+00:00"  # long past: the parser alone would refuse it
    row = {"payload": json.dumps(echo), "execute_at": "2020-01-01T00:00:00+00:00", "cancel_after": "30"}
    rebuilt = journaled_signal(row)  # type: ignore[arg-type]
    assert rebuilt.execute_at is not None and rebuilt.execute_at.year == 2020
    assert rebuilt.cancel_after == signal.cancel_after


def test_a_flatten_rebuilt_after_a_restart_is_still_the_schedule_s() -> None:
    _, echo, _ = parse_payload({"ticker": "SQ", "action": "exit", "orderType": "market", "cancel": True})
    row = {"payload": json.dumps(echo), "execute_at": None, "cancel_after": None, "webhook_id": "job:flatten_at"}
    assert journaled_signal(row).scheduled  # type: ignore[arg-type]
    assert not journaled_signal({**row, "webhook_id": "0f3c2a9e"}).scheduled  # type: ignore[arg-type]
