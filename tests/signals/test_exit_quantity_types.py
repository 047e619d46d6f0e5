"""An exit's quantity in dollars is converted at the price, never read as units; entry-only sizes refuse it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.models import Order, Signal
from bridge.signals.parse import PayloadError, parse_body
from bridge.signals.resolve import Market, resolve

SUB = Subscription(broker="paper")


def exit_(**fields: object) -> Signal:
    return Signal(ticker="SQ", **{"action": "exit", "quantity": Decimal(500), **fields})  # type: ignore[arg-type]


def test_an_exit_of_500_dollars_at_50_sells_10_not_500() -> None:
    plan = resolve(exit_(quantity_type="dollar_amount", price=Decimal(50)), Decimal(1000), [], SUB)
    assert plan.state == "executed" and [leg.quantity for leg in plan.legs] == [Decimal(10)], plan.decision
    bullish = Signal(ticker="SQ", action="sell", sentiment="bullish", quantity=Decimal(500),
                     quantity_type="dollar_amount", price=Decimal(50))  # fmt: skip
    assert [leg.quantity for leg in resolve(bullish, Decimal(1000), [], SUB).legs] == [Decimal(10)]


def test_dollars_without_a_price_take_the_quote_and_without_either_are_refused() -> None:
    quoted = resolve(exit_(quantity_type="dollar_amount"), Decimal(1000), [], SUB, Market(quote=Decimal(25)))
    assert [leg.quantity for leg in quoted.legs] == [Decimal(20)]
    unpriced = resolve(exit_(quantity_type="dollar_amount"), Decimal(1000), [], SUB)
    assert unpriced.state == "rejected" and "needs a price" in unpriced.decision and not unpriced.legs


@pytest.mark.parametrize("kind", ["percent_of_equity", "risk_dollar_amount", "risk_percent"])
def test_entry_sizes_refuse_an_exit(kind: str) -> None:
    plan = resolve(exit_(quantity_type=kind, price=Decimal(50)), Decimal(1000), [], SUB)
    assert plan.state == "rejected" and f"quantityType {kind} sizes entries" in plan.decision and not plan.legs


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("percent_of_equity", "invalid-quantity-type-action"),
        ("risk_dollar_amount", "invalid-risk-dollar-amount-action"),
        ("risk_percent", "invalid-risk-dollar-amount-action"),
    ],
)
def test_an_exit_action_with_an_entry_size_is_refused_before_it_is_journaled(kind: str, code: str) -> None:
    """Whatever the position, such an exit could only be rejected: it is a 400 with TradersPost's messageCode."""
    raw = json.dumps({"ticker": "SQ", "action": "exit", "quantity": 1, "quantityType": kind}).encode()
    with pytest.raises(PayloadError) as caught:
        parse_body(raw)
    assert caught.value.code == code and "sizes entries, not an exit" in caught.value.message


def test_a_partial_exit_scales_with_the_quantity_multiplier_as_the_entry_did() -> None:
    doubled = Subscription(broker="paper", quantity_multiplier=Decimal(2))
    entry = resolve(Signal(ticker="SQ", action="buy", quantity=Decimal(2)), Decimal(0), [], doubled)
    assert [leg.quantity for leg in entry.legs] == [Decimal(4)]  # TradingView long 2, the broker long 4
    half = Signal(ticker="SQ", action="sell", sentiment="bullish", quantity=Decimal(1))  # TradingView sells 1
    assert [leg.quantity for leg in resolve(half, Decimal(4), [], doubled).legs] == [Decimal(2)]  # broker long 2
    assert [leg.quantity for leg in resolve(half, Decimal(4), [], SUB).legs] == [Decimal(1)]  # no multiplier


def test_a_partial_exit_is_whole_units_unless_the_subscription_trades_fractions() -> None:
    """Entries round down to whole units where `fractional` is off; a partial exit of 2.5 shares must too."""
    whole = resolve(exit_(quantity=Decimal("2.5")), Decimal(10), [], SUB)
    assert [leg.quantity for leg in whole.legs] == [Decimal(2)], whole.decision
    fractional = resolve(exit_(quantity=Decimal("2.5")), Decimal(10), [], Subscription(broker="paper", fractional=True))
    assert [leg.quantity for leg in fractional.legs] == [Decimal("2.5")]
    below_one = resolve(exit_(quantity=Decimal("0.5")), Decimal(10), [], SUB)
    assert below_one.state == "rejected" and below_one.legs == (), below_one.decision


def test_an_exit_of_100_percent_of_the_position_closes_it_all_as_an_exit_of_all_does() -> None:
    """A position with a fraction of a share (bought elsewhere) on a whole-unit subscription: 100% is all of it.

    Rounded to whole units it sold 10 of 10.5 and, the position not closed, left the take-profit of 10 working,
    whose fill then opened a short of 9.5.
    """
    take_profit = Order("tb-tp", "SQ", "sell", Decimal(10), "limit", "open", limit_price=Decimal(60))
    plan = resolve(exit_(quantity=Decimal(100), quantity_type="percent_of_position"), Decimal("10.5"),
                   [take_profit], SUB)  # fmt: skip
    assert [leg.quantity for leg in plan.legs] == [Decimal("10.5")], plan.decision
    assert plan.cancel == ("tb-tp",) and "still long" not in plan.decision
    more = resolve(exit_(quantity=Decimal(150), quantity_type="percent_of_position"), Decimal("0.5"), [], SUB)
    assert [leg.quantity for leg in more.legs] == [Decimal("0.5")], more.decision  # not "rounds to zero"
