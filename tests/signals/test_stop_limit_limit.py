"""A stop_limit order's limit is the sender's (limitPrice, else price), never the broker's quote."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.models import Signal
from bridge.signals.resolve import Market, resolve

QUOTE = Market(quote=Decimal(100))


@pytest.mark.parametrize(
    ("settings", "signal", "position", "decision"),
    [
        # A breakout buy: triggered at 105, a buy limit at the quote of 100 would not fill as the price runs on.
        (
            {"order_type": "stop_limit"},
            Signal(ticker="SQ", action="buy", stop_price=Decimal(105)),
            Decimal(0),
            "buy while flat: rejected, a stop_limit entry needs limitPrice or price in the signal: its limit is "
            "never taken from the broker's quote",
        ),
        # A stop-limit exit of a long: triggered at 95, a sell limit at 100 would not fill, and the long stays.
        (
            {"exit_order_type": "stop_limit"},
            Signal(ticker="SQ", action="exit", stop_price=Decimal(95)),
            Decimal(5),
            "exit while long 5: rejected, a stop_limit exit needs limitPrice or price in the signal: its limit is "
            "never taken from the broker's quote",
        ),
    ],
    ids=["entry", "exit"],
)
def test_a_stop_limit_from_the_settings_is_not_limited_at_the_quote(
    settings: dict[str, str], signal: Signal, position: Decimal, decision: str
) -> None:
    plan = resolve(signal, position, [], Subscription(broker="paper", **settings), QUOTE)
    assert (plan.state, plan.decision, plan.legs) == ("rejected", decision, ())


def test_a_stop_limit_from_the_settings_takes_the_signals_price_as_its_limit() -> None:
    signal = Signal(ticker="SQ", action="buy", stop_price=Decimal(105), price=Decimal("105.50"))
    [entry] = resolve(signal, Decimal(0), [], Subscription(broker="paper", order_type="stop_limit"), QUOTE).legs
    assert (entry.order_type, entry.stop_price, entry.limit_price) == ("stop_limit", Decimal(105), Decimal("105.50"))


def test_a_limit_order_still_takes_the_quote_on_the_tick() -> None:
    signal = Signal(ticker="SQ", action="buy")
    [entry] = resolve(signal, Decimal(0), [], Subscription(broker="paper", order_type="limit"),
                      Market(quote=Decimal("100.005"))).legs  # fmt: skip
    assert (entry.order_type, entry.limit_price) == ("limit", Decimal("100.00"))
