"""Messages as TradingView and TrendSpider alerts really send them, tried as a new user of each would."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.signals.parse import PayloadError, parse_body
from bridge.signals.resolve import resolve


def fails(raw: bytes) -> PayloadError:
    """Parse `raw`, which must be rejected, and return the PayloadError."""
    with pytest.raises(PayloadError) as caught:
        parse_body(raw)
    return caught.value


def position_size_alert(action: str, market_position: str, position_size: str) -> bytes:
    """A strategy alert sizing with {{strategy.position_size}}, as TradingView fills it in."""
    return json.dumps({"ticker": "NASDAQ:AAPL", "action": action, "sentiment": market_position,
                       "quantity": position_size, "price": "187.23"}).encode()  # fmt: skip


@pytest.mark.parametrize(("action", "held"), [("sell", "10"), ("buy", "-10")])
def test_a_close_to_flat_sized_by_position_size_zero_exits_the_whole_position(action: str, held: str) -> None:
    # On the close, {{strategy.position_size}} is 0 and {{strategy.market_position}} "flat": a flat sentiment
    # exits the whole position whatever the quantity, so refusing the 0 would only leave the position open.
    signal, payload, _ = parse_body(position_size_alert(action, "flat", "0"))
    assert (signal.sentiment, signal.quantity) == ("flat", None)
    assert "quantity" not in payload
    plan = resolve(signal, Decimal(held), [], Subscription(broker="paper"))
    assert plan.state == "executed"
    assert [(leg.kind, leg.quantity) for leg in plan.legs] == [("exit", 10)]


@pytest.mark.parametrize("sentiment", ["long", "short", None])
def test_a_zero_quantity_that_is_not_a_flat_close_is_still_refused(sentiment: str | None) -> None:
    raw = json.dumps({"ticker": "AAPL", "action": "sell", "sentiment": sentiment, "quantity": 0}).encode()
    assert fails(raw).code == "invalid-quantity"


@pytest.mark.parametrize("size", ["-10", -10, "-0.5"])
def test_a_short_s_negative_position_size_is_refused_saying_which_placeholder_to_send(size: str | int) -> None:
    # While short, {{strategy.position_size}} is negative: the order's own size is {{strategy.order.contracts}}.
    error = fails(position_size_alert("sell", "short", size) if isinstance(size, str) else
                  json.dumps({"ticker": "AAPL", "action": "sell", "quantity": size}).encode())  # fmt: skip
    assert error.code == "invalid-quantity"
    assert "negative" in error.message and "{{strategy.order.contracts}}" in error.message
