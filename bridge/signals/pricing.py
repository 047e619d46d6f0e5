"""Prices of orders: the entry's reference price, limit/stop prices, and take-profit / stop-loss legs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from bridge.config.trading import StopLossDefault, TakeProfitDefault
from bridge.models import Side, StopLoss, TakeProfit
from bridge.signals.fields import MAX_NUMBER
from bridge.signals.sizing import fmt


class PricingError(ValueError):
    """A price cannot be set; the message explains why."""


def tick(price: Decimal) -> Decimal:
    """The price increment assumed: cents at or above 1, hundredths of a cent below, and below a cent (coins
    such as SHIB at 0.00001234) four significant digits, so that rounding never moves a price by 1% or more."""
    magnitude = abs(price)
    if magnitude >= 1:
        return Decimal("0.01")
    if magnitude >= Decimal("0.01") or not magnitude:
        return Decimal("0.0001")
    return Decimal(1).scaleb(magnitude.adjusted() - 3)


def round_price(price: Decimal, side: Side, step: Decimal | None = None) -> Decimal:
    """Round to the tick: up for sells, down for buys (never a worse price than computed for the trader's favour).

    `step` is the instrument's own price increment where it is known (a future's 0.25, a coin market's tick at
    its exchange); without it, `tick`'s cents.
    """
    rounding = ROUND_UP if side == "sell" else ROUND_DOWN
    if step is None:
        return price.quantize(tick(price), rounding=rounding)
    return (price / step).to_integral_value(rounding=rounding) * step


def off_step(price: Decimal, step: Decimal | None) -> bool:
    """Whether a price sent as it is falls between two of the instrument's known increments."""
    return step is not None and price % step != 0


@dataclass(frozen=True)
class LegPrices:
    """Absolute prices of a bracket child."""

    type: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None


def never_triggers(side: Side, trail_percent: Decimal) -> bool:
    """Whether a trailing stop could never trigger: a sell's trailing 100% or more below any price sits at or below
    zero (a buy's above the price triggers once the price rises that far, whatever the percent)."""
    return side == "sell" and trail_percent >= 100


def _offset(entry: Decimal, percent: Decimal | None, amount: Decimal | None, up: bool) -> Decimal:
    distance = entry * percent / 100 if percent is not None else (amount or Decimal(0))
    return entry + distance if up else entry - distance


def _bounded(leg: str, price: Decimal) -> Decimal:
    """`price`, refused from 1e15 either way (a signal's own prices stop there): past 1e26 it could not be rounded."""
    if price.copy_abs() >= MAX_NUMBER:
        raise PricingError(f"{leg} {price:.2E} is past any price: use a smaller distance")
    return price


def take_profit_leg(
    spec: TakeProfit | TakeProfitDefault, entry: Decimal | None, long: bool, step: Decimal | None = None
) -> LegPrices:
    """A limit order on the profitable side of the entry, on the price `step` when computed from a distance."""
    exit_side: Side = "sell" if long else "buy"
    absolute = getattr(spec, "limit_price", None)
    if absolute is None:
        if entry is None:
            raise PricingError("a relative take profit needs the entry price: send price in the signal")
        distance = _offset(entry, spec.percent, spec.amount, up=long)
        absolute = round_price(_bounded("take profit", distance), exit_side, step)
    if entry is not None and (absolute <= entry if long else absolute >= entry):
        raise PricingError(f"take profit {absolute} is not beyond the {'long' if long else 'short'} entry {entry}")
    if absolute <= 0:
        raise PricingError(f"take profit {absolute} is not above zero: use a smaller distance")
    return LegPrices("limit", limit_price=absolute)


def stop_loss_leg(
    spec: StopLoss | StopLossDefault, entry: Decimal | None, long: bool, step: Decimal | None = None
) -> LegPrices:
    """A stop (or stop-limit, or trailing stop) on the losing side of the entry, on the price `step` when computed."""
    exit_side: Side = "sell" if long else "buy"
    if spec.type == "trailing_stop":
        if isinstance(spec, StopLoss):
            trail = LegPrices("trailing_stop", trail_amount=spec.trail_amount, trail_percent=spec.trail_percent)
        else:
            trail = LegPrices("trailing_stop", trail_amount=spec.amount, trail_percent=spec.percent)  # by the distance
        percent = trail.trail_percent
        if percent is not None and never_triggers(exit_side, percent):
            raise PricingError(f"a trailing stop loss {fmt(percent)}% below the long's price would sit at or below "
                               "zero and never trigger: trail by less than 100%")  # fmt: skip
        return trail
    stop = getattr(spec, "stop_price", None)
    if stop is None:
        if entry is None:
            raise PricingError("a relative stop loss needs the entry price: send price in the signal")
        distance = _offset(entry, spec.percent, spec.amount, up=not long)
        stop = round_price(_bounded("stop loss", distance), exit_side, step)
    if entry is not None and (stop >= entry if long else stop <= entry):
        where = "below the long" if long else "above the short"
        raise PricingError(f"stop loss {stop} is not {where} entry {entry}")
    if stop <= 0:
        raise PricingError(f"stop loss {stop} is not above zero: use a smaller distance")
    limit = _stop_limit(spec, stop, long, step) if spec.type == "stop_limit" else None
    return LegPrices(spec.type, stop_price=stop, limit_price=limit)


def _stop_limit(spec: StopLoss | StopLossDefault, stop: Decimal, long: bool, step: Decimal | None) -> Decimal:
    """A stop-limit stop loss's limit: the signal's limitPrice as sent, else `limit_offset` past the stop, on the tick.

    An offset off the tick (0.333) would give a sub-penny limit the broker refuses; it is rounded like the other
    legs, toward the stop (never past it: the stop is on the tick). Past zero it could never be placed.
    """
    given: Decimal | None = getattr(spec, "limit_price", None)
    if given is not None and (given > stop if long else given < stop):
        # Once the price runs through the stop, a sell limit above it (a buy limit below it) is not marketable:
        # the stop loss would trigger and never fill, leaving the position without a stop as the price runs on.
        where, move, side, bound = ("above", "falls", "sell", "below") if long else ("below", "rises", "buy", "above")
        raise PricingError(
            f"stop loss limit {given} is {where} its stop {stop}: once the price {move} to the stop, a {side} limit "
            f"there would not fill and the position would have no stop; send a limitPrice at or {bound} the stop"
        )
    if given is not None:
        return given  # the sender's price, as limitPrice and stopPrice are sent (parsing made it positive)
    offset = getattr(spec, "limit_offset", None) or Decimal(0)
    limit = stop - offset if long else stop + offset
    if limit <= 0:
        raise PricingError(f"stop loss limit {limit} is not above zero: use a smaller limit_offset")
    return round_price(limit, "sell" if long else "buy", step)
