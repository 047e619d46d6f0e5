"""Shared validators for payload fields: numbers, booleans, and the takeProfit / stopLoss objects."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from pydantic_core import PydanticCustomError

from bridge.models import StopLoss, TakeProfit

StopLossType = Literal["stop", "stop_limit", "trailing_stop"]
STOP_LOSS_TYPES = ("stop", "stop_limit", "trailing_stop")


def fail(code: str, message: str) -> PydanticCustomError:
    """A validation error whose type is the messageCode."""
    return PydanticCustomError(code, message)


def show(value: Any) -> str:
    """The received value as JSON text for a message (floats arrive as Decimal, which json.dumps refuses)."""
    return json.dumps(value, default=str)


# No quantity, price or amount comes near this; beyond it the order arithmetic (28 significant digits) fails, so a
# typo such as 1e30 would be acknowledged and then fail at execution instead of being answered with a 400.
MAX_NUMBER = Decimal(10) ** 15
# Nothing traded is priced or sized this small either (the cheapest coins are some 1e-9); below it, a dollar amount
# divided by the price would need more digits than the arithmetic has, and 1e-400 echoes back as 0.0.
MIN_NUMBER = Decimal(10) ** -12


def number(value: Any, field: str, code: str, *, allow_zero: bool = False) -> Decimal | None:
    """A positive (or, with allow_zero, non-negative) number from MIN_NUMBER up to MAX_NUMBER, number or string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise fail(code, f"{field} must be a number, got {show(value)}")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        # "1,234.50" as a chart or a spreadsheet shows it, or a decimal comma: guessing which it is could trade
        # a thousand times the size, so the sender is told how to write it.
        comma = "; write it with a decimal point and no thousands separator, e.g. 1234.5" if "," in str(value) else ""
        raise fail(code, f"{field} must be a number, got {show(value)}{comma}") from None
    if result.is_nan():
        # TradingView fills a placeholder whose value is na on the bar that fired ({{plot_0}}, a Pine
        # str.tostring(na)) in as NaN: the alert is fine, the script's value is missing.
        raise fail(code, f"{field} is {show(value)}: the alert's placeholder had no value (na) on the bar that "
                   "fired; send a value the script always has, or leave the field out")  # fmt: skip
    if not result.is_finite() or result < 0 or (result == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise fail(code, f"{field} must be {kind} number, got {show(value)}")
    if result >= MAX_NUMBER:
        raise fail(code, f"{field} is {show(value)}, too large to trade; check the alert (the limit is 1e15)")
    if 0 < result < MIN_NUMBER:
        raise fail(code, f"{field} is {show(value)}, too small to trade; check the alert (the smallest is 1e-12)")
    return result


def boolean(value: Any, field: str, code: str) -> bool | None:
    """true/false, also as the strings "true"/"false" a template may send."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise fail(code, f"{field} must be true or false, got {show(value)}")


def _object(value: Any, field: str, code: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(code, f'{field} must be an object such as {{"percent": 2}}, got {show(value)}')
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise fail(code, f"{field} has unknown field(s) {', '.join(unknown)}; use {', '.join(known)}")
    return value


def take_profit(value: Any) -> TakeProfit | None:
    """Validate a takeProfit object: exactly one of limitPrice, percent, amount."""
    if value is None:
        return None
    known = ("limitPrice", "price", "percent", "amount")
    data = _object(value, "takeProfit", "invalid-take-profit-value-required", known)
    if "price" in data and "limitPrice" in data:
        raise fail("invalid-take-profit-limit-price", "takeProfit takes limitPrice or price (the same), not both")
    # `price` is the older docs' name of limitPrice (TradersPost's webhook page lists both).
    limit_value = data.get("limitPrice", data.get("price"))
    limit = number(limit_value, "takeProfit.limitPrice", "invalid-take-profit-limit-price")
    percent = number(data.get("percent"), "takeProfit.percent", "invalid-take-profit-percent")
    amount = number(data.get("amount"), "takeProfit.amount", "invalid-take-profit-amount")
    if percent is not None and amount is not None:
        raise fail("invalid-take-profit-amount-and-percent", "takeProfit takes percent or amount, not both")
    if limit is not None and (percent is not None or amount is not None):
        raise fail(
            "invalid-take-profit-relative-and-absolute",
            "takeProfit takes an absolute limitPrice or a relative percent/amount, not both",
        )
    if limit is None and percent is None and amount is None:
        raise fail("invalid-take-profit-value-required", "takeProfit needs limitPrice, percent or amount")
    return TakeProfit(limit_price=limit, percent=percent, amount=amount)


def stop_loss(value: Any) -> StopLoss | None:
    """Validate a stopLoss object: a type and exactly one way to place the stop."""
    if value is None:
        return None
    known = ("type", "stopPrice", "percent", "amount", "limitPrice", "trailAmount", "trailPercent")
    data = _object(value, "stopLoss", "invalid-stop-loss-value-required", known)
    sent = data.get("type", "stop")
    kind = sent.strip().lower() if isinstance(sent, str) else sent
    if kind not in STOP_LOSS_TYPES:
        # Quoted as sent: lowercased, a token with capitals was journaled in the message but for its case.
        raise fail(
            "invalid-stop-loss-type", f"stopLoss.type must be one of {', '.join(STOP_LOSS_TYPES)}; got {show(sent)}"
        )
    stop = number(data.get("stopPrice"), "stopLoss.stopPrice", "invalid-stop-loss-stop-price")
    percent = number(data.get("percent"), "stopLoss.percent", "invalid-stop-loss-percent")
    amount = number(data.get("amount"), "stopLoss.amount", "invalid-stop-loss-amount")
    limit = number(data.get("limitPrice"), "stopLoss.limitPrice", "invalid-stop-loss-limit-price")
    trail_amount = number(data.get("trailAmount"), "stopLoss.trailAmount", "invalid-stop-loss-trail-amount")
    trail_percent = number(data.get("trailPercent"), "stopLoss.trailPercent", "invalid-stop-loss-trail-percent")
    if percent is not None and amount is not None:
        raise fail("invalid-stop-loss-amount-and-percent", "stopLoss takes percent or amount, not both")
    if stop is not None and (percent is not None or amount is not None):
        raise fail(
            "invalid-stop-loss-relative-and-absolute",
            "stopLoss takes an absolute stopPrice or a relative percent/amount, not both",
        )
    if limit is not None and kind != "stop_limit":
        raise fail("invalid-stop-loss-limit-price", "stopLoss.limitPrice needs type stop_limit")
    if kind == "stop_limit" and limit is None:
        raise fail("invalid-stop-loss-limit-price", "a stop_limit stopLoss needs limitPrice")
    if kind == "trailing_stop":
        if (trail_amount is None) == (trail_percent is None):
            raise fail(
                "invalid-stop-loss-trail-value",
                "a trailing_stop stopLoss needs exactly one of trailAmount, trailPercent",
            )
        # It trails by that alone: a fixed stop beside it would be dropped, and the position trail from the price.
        fixed = (("stopPrice", stop, "stop-price"), ("percent", percent, "percent"), ("amount", amount, "amount"))
        for name, given, code in fixed:
            if given is not None:
                raise fail(f"invalid-stop-loss-{code}", f"stopLoss.{name} places a fixed stop, which a trailing_stop "
                           "stopLoss does not have: send type stop for a fixed stop, or only trailAmount or "
                           "trailPercent to trail")  # fmt: skip
    elif trail_amount is not None or trail_percent is not None:
        raise fail("invalid-stop-loss-trail-value", "trailAmount/trailPercent need stopLoss type trailing_stop")
    elif stop is None and percent is None and amount is None:
        raise fail("invalid-stop-loss-value-required", "stopLoss needs stopPrice, percent or amount")
    return StopLoss(type=cast(StopLossType, kind), stop_price=stop, percent=percent, amount=amount, limit_price=limit,
                    trail_amount=trail_amount, trail_percent=trail_percent)  # fmt: skip
