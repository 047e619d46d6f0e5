"""Quantities a float computed (Pine's arithmetic, a venue's float sums) are off by noise in their last digits:
rounded down, 56.99999999999999 would trade 56, and an exit meant to close 57 would leave one open."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.models import Signal
from bridge.signals.parse import parse_body
from bridge.signals.resolve import Market, resolve
from bridge.signals.sizing import round_quantity

SUB = Subscription(broker="paper")
FRACTIONAL = Subscription(broker="paper", fractional=True)
NOISY = Decimal("56.99999999999999")  # 57 as a float sum or product leaves it (0.57 * 100, say)


def legs(plan: object) -> list[tuple[str, str, Decimal]]:
    return [(leg.kind, leg.side, leg.quantity) for leg in plan.legs]  # type: ignore[attr-defined]


def test_an_exit_of_the_whole_position_sent_with_float_noise_closes_it() -> None:
    """{{strategy.order.contracts}} of a Pine strategy that sized 57 by arithmetic arrives as 56.99999999999999."""
    signal, _, _ = parse_body(json.dumps({"ticker": "AMD", "action": "exit", "quantity": float(NOISY)}).encode())
    assert signal.quantity == NOISY
    plan = resolve(signal, Decimal(57), [], SUB)
    assert legs(plan) == [("exit", "sell", Decimal(57))], plan.decision
    assert "still" not in plan.decision, plan.decision


@pytest.mark.parametrize("sub", [SUB, FRACTIONAL], ids=["whole", "fractional"])
def test_a_sell_bullish_of_all_but_noise_leaves_no_dust(sub: Subscription) -> None:
    """Fractional, it would round down to 56.999999 and leave a millionth of a share, with its stop-loss working."""
    signal = Signal(ticker="AMD", action="sell", sentiment="bullish", quantity=NOISY)
    plan = resolve(signal, Decimal(57), [], sub)
    assert legs(plan) == [("exit", "sell", Decimal(57))], plan.decision


def test_a_percent_of_position_with_float_noise_takes_the_share_it_meant() -> None:
    signal = Signal(ticker="AMD", action="exit", quantity=Decimal("69.99999999999999"),
                    quantity_type="percent_of_position")  # fmt: skip
    plan = resolve(signal, Decimal(10), [], SUB)
    assert legs(plan) == [("exit", "sell", Decimal(7))], plan.decision


def test_a_noisy_position_at_the_venue_is_closed_whole_by_an_exit_of_its_size() -> None:
    """A venue's float position (57.00000000000001) and an exit of 57: the rest is noise, not a position."""
    held = Decimal("57.00000000000001")
    plan = resolve(Signal(ticker="BTC", action="exit", quantity=Decimal(57)), held, [], SUB)
    assert legs(plan) == [("exit", "sell", held)], plan.decision
    covered = resolve(Signal(ticker="BTC", action="buy", sentiment="bearish", quantity=Decimal(57)), -held, [], SUB)
    assert legs(covered) == [("exit", "buy", held)], covered.decision


def test_a_partial_exit_never_exceeds_the_position_when_noise_rounds_it_up() -> None:
    held = Decimal("56.99999999999999")
    plan = resolve(Signal(ticker="AMD", action="exit", quantity=Decimal("56.99999999999998")), held, [], SUB)
    assert legs(plan) == [("exit", "sell", held)], plan.decision


def test_an_entry_sent_with_float_noise_opens_what_was_meant() -> None:
    plan = resolve(Signal(ticker="AMD", action="buy", quantity=NOISY), Decimal(0), [], SUB)
    assert legs(plan) == [("entry", "buy", Decimal(57))], plan.decision


def test_real_fractions_still_round_down() -> None:
    """Only noise is rounded to the nearest step: 56.9 shares is 56, and 0.123456789 BTC is 0.123456."""
    assert round_quantity(Decimal("56.9"), False) == 56
    assert round_quantity(Decimal("56.999999"), False) == 56
    assert round_quantity(Decimal("0.123456789"), True) == Decimal("0.123456")
    assert round_quantity(Decimal("0.12345699"), True, Decimal("0.00001")) == Decimal("0.12345")
    assert round_quantity(Decimal("0.12345999999999999"), True, Decimal("0.00001")) == Decimal("0.12346")
    plan = resolve(Signal(ticker="AMD", action="exit", quantity=Decimal("56.9")), Decimal(57), [], SUB)
    assert legs(plan) == [("exit", "sell", Decimal(56))], plan.decision


def test_a_swap_net_of_a_noisy_exit_enters_whole_units() -> None:
    """subtract_exit_quantity: 100 minus a venue's 56.99999999999999 is 43, not an order for 43.00000000000001."""
    sub = Subscription(broker="paper", subtract_exit_quantity=True)
    plan = resolve(Signal(ticker="AMD", action="buy", quantity=Decimal(100)), -NOISY, [], sub, Market())
    assert legs(plan) == [("exit", "buy", NOISY), ("entry", "buy", Decimal(43))], plan.decision
