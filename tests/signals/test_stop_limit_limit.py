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


@pytest.mark.parametrize(
    ("signal", "position", "decision"),
    [
        # The setting's stop_limit exit with the alert's price as its limit: stop 95, limit 100, above it.
        (
            Signal(ticker="SQ", action="sell", sentiment="flat", stop_price=Decimal(95), price=Decimal(100)),
            Decimal(5),
            "sell flat while long 5: rejected, a stop_limit exit's limit 100 is above its stop 95: once the price "
            "falls to the stop, a sell limit there would not fill and the position would stay open; send a limitPrice "
            "at or below the stop",
        ),
        (
            Signal(
                ticker="SQ", action="exit", order_type="stop_limit", stop_price=Decimal(105), limit_price=Decimal(104)
            ),
            Decimal(-5),
            "exit while short 5: rejected, a stop_limit exit's limit 104 is below its stop 105: once the price rises "
            "to the stop, a buy limit there would not fill and the position would stay open; send a limitPrice at or "
            "above the stop",
        ),
    ],
    ids=["long", "short"],
)
def test_a_stop_limit_exit_limited_past_its_stop_is_rejected(signal: Signal, position: Decimal, decision: str) -> None:
    plan = resolve(signal, position, [], Subscription(broker="paper", exit_order_type="stop_limit"), QUOTE)
    assert (plan.state, plan.decision, plan.legs) == ("rejected", decision, ())


@pytest.mark.parametrize(("limit", "position"), [("94.5", 5), ("95", 5), ("105.5", -5), ("105", -5)])
def test_a_stop_limit_exit_limited_at_or_past_its_stop_toward_the_fill_is_sent(limit: str, position: int) -> None:
    stop = Decimal(95) if position > 0 else Decimal(105)
    signal = Signal(ticker="SQ", action="exit", stop_price=stop, limit_price=Decimal(limit))
    [leg] = resolve(signal, Decimal(position), [], Subscription(broker="paper", exit_order_type="stop_limit")).legs
    assert (leg.order_type, leg.stop_price, leg.limit_price) == ("stop_limit", stop, Decimal(limit))
