"""The Signal built from a payload carries every field sent, by the Signal's names, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.models import Signal
from bridge.signals.parse import Payload, parse_payload


def _field_by_field(data: dict[str, Any]) -> Signal:
    """The Signal named out field by field from the validated payload, as the parser once built it."""
    p = Payload.model_validate(data)
    return Signal(
        ticker=p.ticker, action=p.action, sentiment=p.sentiment,
        price=p.price if p.price is not None else p.signal_price, quantity=p.quantity, order_type=p.order_type,
        limit_price=p.limit_price, stop_price=p.stop_price, time_in_force=p.time_in_force, time=p.time,
        interval=p.interval, extras=p.extras or {}, quantity_type=p.quantity_type, trail_amount=p.trail_amount,
        trail_percent=p.trail_percent, extended_hours=p.extended_hours, take_profit=p.take_profit,
        stop_loss=p.stop_loss, cancel=p.cancel, cancel_order_type=p.cancel_order_type,
        ignore_trading_windows=p.ignore_trading_windows, breakeven_offset=p.breakeven_offset, message=p.message,
        execute_at=p.delay, cancel_after=p.cancel_after,
    )  # fmt: skip


BODIES: list[dict[str, Any]] = [
    {"ticker": "AMD", "action": "buy"},
    {"ticker": "AMD", "action": "buy", "price": 52, "someField": 1, "idempotencyKey": "k"},  # unknown fields
    {"ticker": "AMD", "action": "buy", "signalPrice": 51},
    {"ticker": "AMD", "action": "buy", "price": 52, "signalPrice": 51},  # price wins
    {"ticker": "AMD", "action": "buy", "extras": {}},
    {"ticker": "AMD", "action": "buy", "extras": []},
    {"ticker": "AMD", "action": "exit", "sentiment": " ", "orderType": ""},  # blanks read as none
    {"ticker": "AMD", "action": "buy", "sentiment": "bullish", "quantity": "3", "quantityType": "fixed_quantity",
     "orderType": "limit", "limitPrice": 50, "timeInForce": "gtc", "time": "2026-01-02T15:04:05Z",
     "interval": 5, "extras": {"a": [1, 2.5]}, "extendedHours": True, "cancel": "true",
     "ignoreTradingWindows": False, "message": "hi", "delay": 30, "cancelAfter": 60,
     "takeProfit": {"limitPrice": 60}, "stopLoss": {"type": "stop", "stopPrice": 40}},
    {"ticker": "AMD", "action": "sell", "orderType": "trailing_stop", "trailPercent": 1.5},
    {"ticker": "AMD", "action": "breakeven", "breakevenOffset": 0},
    {"ticker": "AMD", "action": "cancel", "cancelOrderType": "limit"},
    {"ticker": "AMD", "action": "sell", "sentiment": "flat", "quantity": 0},  # the 0 dropped
]  # fmt: skip


@pytest.mark.parametrize("data", BODIES)
def test_the_signal_holds_every_field_sent_under_its_own_name(data: dict[str, Any]) -> None:
    signal, _, _ = parse_payload(data)
    expected = _field_by_field(data)
    if data.get("delay") is not None:  # a delay is a moment from now: the two reads are microseconds apart
        assert signal.execute_at is not None and expected.execute_at is not None
        assert abs((signal.execute_at - expected.execute_at).total_seconds()) < 5
        expected = Signal(**{**{f: getattr(expected, f) for f in Signal.__slots__}, "execute_at": signal.execute_at})
    assert signal == expected
