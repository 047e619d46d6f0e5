"""A stop entry's relative take-profit and stop-loss count from its stop, where it fills, not from the alert."""

from __future__ import annotations

from decimal import Decimal

from bridge.config.schema import Subscription
from bridge.models import Signal, StopLoss, TakeProfit
from bridge.signals.resolve import resolve


def test_a_breakout_buys_brackets_count_from_its_stop_price() -> None:
    brackets = {"take_profit": TakeProfit(percent=Decimal(2)), "stop_loss": StopLoss(type="stop", percent=Decimal(2))}
    signal = Signal(
        ticker="SQ", action="buy", price=Decimal(100), order_type="stop", stop_price=Decimal(105), **brackets
    )
    [entry] = resolve(signal, Decimal(0), [], Subscription(broker="paper")).legs
    assert entry.stop_price == Decimal(105)
    assert entry.take_profit is not None and entry.stop_loss is not None
    assert entry.take_profit.limit_price == Decimal("107.10")  # 105 + 2 %, above where it can fill
    assert entry.stop_loss.stop_price == Decimal("102.90")  # 105 - 2 %


def test_a_breakdown_sells_brackets_count_from_its_stop_price() -> None:
    brackets = {"take_profit": TakeProfit(amount=Decimal(5)), "stop_loss": StopLoss(type="stop", amount=Decimal(2))}
    signal = Signal(
        ticker="SQ", action="sell", price=Decimal(100), order_type="stop", stop_price=Decimal(95), **brackets
    )
    [entry] = resolve(signal, Decimal(0), [], Subscription(broker="paper", sides="both")).legs
    assert entry.take_profit is not None and entry.stop_loss is not None
    assert (entry.take_profit.limit_price, entry.stop_loss.stop_price) == (Decimal(90), Decimal(97))
