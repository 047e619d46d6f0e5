"""Entry and exit quantities: signal quantity or subscription sizing, converted to units and rounded."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from bridge.config.schema import Subscription
from bridge.models import Signal
from bridge.signals.fields import MAX_NUMBER

FRACTION = Decimal("0.000001")  # six decimals: what fractional-share brokers accept
# How far apart, relative to their size, two quantities may be and still be one: a float carries 15-17 digits, so
# a quantity a float computed (Pine's `{{strategy.order.contracts}}`, a venue's float position) is off in its last
# ones (56.99999999999999 for 57, 2e-16 of it). No real order differs by a trillionth of itself.
NOISE = Decimal("1e-12")
STEP_NOISE = Decimal("0.01")  # nor is a hundredth of a step noise, however many steps a quantity holds


class SizingError(ValueError):
    """The quantity cannot be computed; the message explains why in a trader's words."""


@dataclass(frozen=True)
class Inputs:
    """What sizing may need besides the signal and the settings."""

    price: Decimal | None  # the entry's reference price
    equity: Decimal | None
    position: Decimal  # signed
    stop_price: Decimal | None = None  # the stop loss, for risk sizing
    step: Decimal | None = None  # the venue's lot step for the symbol, where it has one (`Market.quantity_step`)
    trailing: bool = False  # the stop loss is a trailing stop: it has no stop price to measure the risk to


def fmt(quantity: Decimal) -> str:
    """A number without trailing zeros (`5`, `0.25`)."""
    return format(quantity.normalize(), "f")


def same_quantity(a: Decimal, b: Decimal) -> bool:
    """Whether `a` and `b` differ by float noise at most (see `NOISE`)."""
    return abs(a - b) <= max(abs(a), abs(b)) * NOISE


def round_quantity(quantity: Decimal, fractional: bool, venue_step: Decimal | None = None) -> Decimal:
    """Round down: to whole units, or where fractional quantities are allowed to the venue's step if it has
    one (a crypto market's: 0.00001 BTC), else to six decimals. A quantity off a step by float noise only is
    that step: 56.99999999999999 is 57, which rounded down would be 56 (and an exit would leave one open)."""
    step = (venue_step if venue_step and venue_step > 0 else FRACTION) if fractional else Decimal(1)
    if quantity <= 0:
        return Decimal(0)
    steps = quantity / step
    nearest = steps.to_integral_value(rounding=ROUND_HALF_EVEN)
    noise = same_quantity(steps, nearest) and abs(steps - nearest) <= STEP_NOISE
    whole = nearest if noise else steps.to_integral_value(rounding=ROUND_DOWN)
    rounded = whole * step
    # normalize() would write 200 as 2E+2, which the journal, logs and broker APIs would then carry.
    return rounded.quantize(Decimal(1)) if rounded == rounded.to_integral_value() else rounded.normalize()


def _units(kind: str, value: Decimal, inputs: Inputs) -> Decimal:
    if kind == "fixed_quantity":
        return value
    if kind == "percent_of_position":
        if inputs.position == 0:
            raise SizingError("percent_of_position needs an open position")
        return abs(inputs.position) * value / 100
    if inputs.price is None:
        raise SizingError(f"{kind} sizing needs a price: send price in the signal (or use a broker with quotes)")
    if kind == "dollar_amount":
        return value / inputs.price
    if kind in ("percent_of_equity", "risk_percent") and inputs.equity is None:
        raise SizingError(f"{kind} sizing needs the account equity, which the broker did not report")
    if kind == "percent_of_equity":
        return (inputs.equity or Decimal(0)) * value / 100 / inputs.price
    if inputs.stop_price is None and inputs.trailing:
        raise SizingError(f"{kind} sizing measures the risk to the stop loss's stop price, and a trailing_stop "
                          "stop loss has none: use stop loss type stop or stop_limit")  # fmt: skip
    if inputs.stop_price is None:
        raise SizingError(f"{kind} sizing needs a stop loss to measure the risk per unit")
    risk_per_unit = abs(inputs.price - inputs.stop_price)
    if risk_per_unit == 0:
        raise SizingError(f"{kind} sizing: the stop equals the entry price, so the risk per unit is zero")
    budget = value if kind == "risk_dollar_amount" else (inputs.equity or Decimal(0)) * value / 100
    return budget / risk_per_unit


def uses_signal_quantity(signal: Signal, sub: Subscription, use_type: bool) -> bool:
    """Whether the signal's quantity counts: `use_signal_quantity` is on, and its quantityType (if any other than
    fixed_quantity) may override the settings; a quantity in a type that may not is never read as units."""
    if signal.quantity is None or not sub.use_signal_quantity:
        return False
    return use_type or signal.quantity_type in (None, "fixed_quantity")


def entry_quantity(signal: Signal, sub: Subscription, inputs: Inputs, use_type: bool) -> tuple[Decimal, str]:
    """Units to enter and how they were sized (`signal quantity`, `percent_of_equity 10`, ...)."""
    if signal.quantity is not None and uses_signal_quantity(signal, sub, use_type):
        kind = (signal.quantity_type if use_type else None) or "fixed_quantity"
        value = signal.quantity * sub.quantity_multiplier if kind == "fixed_quantity" else signal.quantity
        how = "signal quantity" if kind == "fixed_quantity" else f"signal {kind} {fmt(signal.quantity)}"
        if sub.quantity_multiplier != 1 and kind == "fixed_quantity":
            how += f" x{fmt(sub.quantity_multiplier)}"
    else:
        kind, value, how = sub.sizing.type, sub.sizing.value, f"{sub.sizing.type} {fmt(sub.sizing.value)}"
    computed = _units(kind, value, inputs)
    if computed >= MAX_NUMBER:  # the limit of a signal's quantity; past 1e28 the rounding below could not even run
        raise SizingError(f"{how} comes to {computed:.2E} units, more than the 1e15 an order may hold: check the "
                          "sizing, the price and the stop loss")  # fmt: skip
    units = round_quantity(computed, sub.fractional, inputs.step)
    if units <= 0:
        step = f"one step of {fmt(inputs.step)}" if inputs.step else "one millionth"
        least = step if sub.fractional else "one unit"
        raise SizingError(f"{how} comes to less than {least}")
    return units, how


def exit_quantity(signal: Signal, sub: Subscription, position: Decimal, use_type: bool,
                  price: Decimal | None = None, step: Decimal | None = None) -> Decimal:  # fmt: skip
    """Units to exit: the signal's quantity (or percent of the position, or dollars at `price`), capped at the
    position; else all.

    As at TradersPost, the signal's quantity is used for exits only when `use_signal_quantity` is on. A
    quantity in dollars is never read as units; sizes made for entries (equity, risk) refuse the exit.
    """
    held = abs(position)
    fractional = sub.fractional
    if signal.scheduled and signal.quantity is not None:  # flatten_at's share of a shared position: units it filled
        return min(signal.quantity, held)
    if signal.quantity is None or not uses_signal_quantity(signal, sub, use_type):
        return held
    kind = (signal.quantity_type if use_type else None) or "fixed_quantity"
    if kind == "percent_of_position":
        if signal.quantity >= 100:  # all of it, as a quantity of the position or more is: rounded, a fraction of a
            return held  # share would stay, and with it the position's take-profit and stop-loss working in full
        return _part(held * signal.quantity / 100, held, fractional, step)
    if kind == "dollar_amount":
        units = round_quantity(_units(kind, signal.quantity, Inputs(price, None, position)), fractional, step)
        if units <= 0:
            raise SizingError(f"dollar_amount {fmt(signal.quantity)} comes to less than one unit to exit")
        return _part(units, held, fractional, step)
    if kind != "fixed_quantity":
        raise SizingError(f"quantityType {kind} sizes entries; an exit takes a quantity, percent_of_position "
                          "or dollar_amount")  # fmt: skip
    wanted = signal.quantity * sub.quantity_multiplier  # the position was scaled on entry: its partial exits too
    # Whole units, as entries are, unless the subscription trades fractions: 2.5 shares is not an order it places.
    return _part(wanted, held, fractional, step)


def _part(wanted: Decimal, held: Decimal, fractional: bool, step: Decimal | None) -> Decimal:
    """`wanted` of the `held` position, rounded as orders are and never more than it; all of it when what would
    stay is float noise (57 of a venue's 57.00000000000001): no order could close that rest, and the position's
    take-profit and stop-loss would stay working for it."""
    if wanted >= held or same_quantity(wanted, held):
        return held
    part = min(round_quantity(wanted, fractional, step), held)
    return held if same_quantity(part, held) else part
