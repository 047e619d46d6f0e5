"""Webhook body -> validated Signal, or a PayloadError carrying a TradersPost messageCode."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bridge.models import Action, OrderType, Sentiment, Signal, TimeInForce

ACTIONS = ("buy", "sell", "exit", "cancel", "add")
SENTIMENTS = {"bullish": "bullish", "long": "bullish", "bearish": "bearish", "short": "bearish", "flat": "flat"}
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
SIGNAL_FIELDS = frozenset({
    "ticker", "action", "sentiment", "price", "signalPrice", "quantity", "orderType", "limitPrice", "stopPrice",
    "timeInForce", "time", "interval",
})  # fmt: skip
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|%[a-z_]+%")
# TradersPost fields this version does not act on yet: refusing them beats silently trading without them.
NOT_YET_SUPPORTED = (
    "quantityType", "trailAmount", "trailPercent", "extendedHours", "takeProfit", "stopLoss",
    "cancel", "cancelOrderType", "cancelAfter", "delay", "ignoreTradingWindows", "breakevenOffset",
    "marketPriceType", "bidAskSpreadFilter", "bidAskSpreadFilterPercent",
)  # fmt: skip


class PayloadError(ValueError):
    """An invalid payload: `code` is the messageCode, `message` says how to fix it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fail(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def _show(value: Any) -> str:
    """The received value as JSON text for a message (floats arrive as Decimal, which json.dumps refuses)."""
    return json.dumps(value, default=str)


def _decimal(value: Any, field: str, code: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise _fail(code, f"{field} must be a number, got {_show(value)}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _fail(code, f"{field} must be a number, got {_show(value)}") from None
    if not number.is_finite() or number <= 0:
        raise _fail(code, f"{field} must be a positive number, got {value}")
    return number


class Payload(BaseModel):
    """The webhook body as TradersPost defines it; unknown fields are kept and ignored."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    ticker: str
    action: Action
    sentiment: Sentiment | None = None
    price: Decimal | None = None
    signal_price: Decimal | None = Field(default=None, alias="signalPrice")
    quantity: Decimal | None = None
    order_type: OrderType | None = Field(default=None, alias="orderType")
    limit_price: Decimal | None = Field(default=None, alias="limitPrice")
    stop_price: Decimal | None = Field(default=None, alias="stopPrice")
    time_in_force: TimeInForce | None = Field(default=None, alias="timeInForce")
    time: datetime | None = None
    interval: str | None = None
    extras: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _screen(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise _fail("invalid-payload", 'the body must be a JSON object, e.g. {"ticker": "AMD", "action": "buy"}')
        for key, value in data.items():
            # Only fields we act on: an unknown field is ignored, placeholder or not.
            if isinstance(value, str) and key in SIGNAL_FIELDS and _PLACEHOLDER.search(value):
                raise _fail(
                    "unsubstituted-placeholder",
                    f"{key} is {_show(value)}: the alert sent a placeholder that was not replaced; "
                    "check its spelling in the alert message (TradingView only fills in {{...}} names it knows)",
                )
        for key in NOT_YET_SUPPORTED:
            if key in data:
                raise _fail(
                    "unsupported-field",
                    f"{key} is not supported by this version of the bridge yet; remove it from the alert "
                    "rather than trade without it",
                )
        for key in ("ticker", "action"):
            if key not in data:
                raise _fail("invalid-payload", f'{key} is required, e.g. {{"ticker": "AMD", "action": "buy"}}')
        return data

    @field_validator("ticker", mode="before")
    @classmethod
    def _ticker(cls, value: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise _fail("empty-ticker-name", 'ticker must be a non-empty symbol such as "AMD"')
        return value.strip()

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in ACTIONS:
            raise _fail("invalid-action", f"action must be one of {', '.join(ACTIONS)}; got {_show(value)}")
        return str(text)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _sentiment(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in SENTIMENTS:
            raise _fail(
                "invalid-sentiment",
                f"sentiment must be bullish, bearish or flat (long and short also work); got {_show(value)}",
            )
        return SENTIMENTS[str(text)]

    @field_validator("quantity", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> Decimal | None:
        return _decimal(value, "quantity", "invalid-quantity")

    @field_validator("price", "signal_price", "limit_price", "stop_price", mode="before")
    @classmethod
    def _prices(cls, value: Any, info: Any) -> Decimal | None:
        alias = {"signal_price": "signalPrice", "limit_price": "limitPrice", "stop_price": "stopPrice"}
        name = alias.get(info.field_name, info.field_name)
        code = {"limitPrice": "invalid-limit-price", "stopPrice": "invalid-stop-price"}.get(name, "invalid-price")
        return _decimal(value, name, code)

    @field_validator("order_type", mode="before")
    @classmethod
    def _order_type(cls, value: Any) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else value
        if text in (None, ""):
            return None
        if text not in ORDER_TYPES:
            raise _fail("invalid-order-type", f"orderType must be one of {', '.join(ORDER_TYPES)}; got {_show(value)}")
        return str(text)

    @field_validator("time_in_force", mode="before")
    @classmethod
    def _tif(cls, value: Any) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else value
        if text in (None, ""):
            return None
        if text not in TIME_IN_FORCE:
            raise _fail(
                "invalid-time-in-force",
                f"timeInForce must be one of {', '.join(TIME_IN_FORCE)}; got {_show(value)}",
            )
        return str(text)

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        try:
            if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                seconds = float(value) / 1000 if value > 1e11 else float(value)
                return datetime.fromtimestamp(seconds, UTC)
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            pass
        raise _fail(
            "invalid-time",
            f'time must be an ISO 8601 timestamp such as "2026-01-02T15:04:05Z"; got {_show(value)}',
        )

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> str | None:
        return None if value is None else str(value)

    @field_validator("extras", mode="before")
    @classmethod
    def _extras(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise _fail("invalid-extras", "extras must be a JSON object of your own fields")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> Payload:
        if self.sentiment is not None and self.action not in ("buy", "sell"):
            raise _fail(
                "invalid-sentiment-action",
                f"sentiment only goes with action buy or sell, not {self.action}; remove sentiment",
            )
        if self.order_type in ("limit", "stop_limit") and self.limit_price is None and self.price is None:
            raise _fail("invalid-limit-price", f"orderType {self.order_type} needs limitPrice (or price)")
        if self.order_type in ("stop", "stop_limit") and self.stop_price is None:
            raise _fail("invalid-stop-price", f"orderType {self.order_type} needs stopPrice")
        if self.order_type == "trailing_stop":
            raise _fail("invalid-trailing-stop", "orderType trailing_stop is not supported by this version yet")
        return self


def decode_body(body: bytes) -> Any:
    """Bytes -> JSON value, with TradersPost's empty-json / malformed-json errors."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PayloadError(
            "malformed-json", 'the body is not UTF-8 text; send JSON such as {"ticker": "AMD", "action": "buy"}'
        ) from None
    if not text.strip():
        raise PayloadError("empty-json", 'the body is empty; send JSON such as {"ticker": "AMD", "action": "buy"}')

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        return json.loads(text, parse_float=Decimal, parse_constant=reject_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        detail = (
            f"line {exc.lineno} column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        )
        raise PayloadError(
            "malformed-json",
            f"the body is not valid JSON ({detail}); check for trailing commas, smart quotes and unquoted text",
        ) from None


def parse_payload(data: Any) -> tuple[Signal, dict[str, Any], dict[str, Any]]:
    """Validate decoded JSON; return the Signal, its normalised echo, and the unknown fields kept."""
    try:
        payload = Payload.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] in ("missing",):
            raise PayloadError("invalid-payload", f"{'.'.join(map(str, err['loc']))} is required") from None
        loc = ".".join(map(str, err["loc"]))
        message = err["msg"]
        code = (
            err["type"]
            if err["type"].startswith(("invalid-", "empty-", "unsupported-", "unsubstituted-"))
            else "invalid-payload"
        )
        raise PayloadError(code, message if code != "invalid-payload" or not loc else f"{loc}: {message}") from None
    price = payload.price if payload.price is not None else payload.signal_price
    signal = Signal(
        ticker=payload.ticker,
        action=payload.action,
        sentiment=payload.sentiment,
        price=price,
        quantity=payload.quantity,
        order_type=payload.order_type,
        limit_price=payload.limit_price,
        stop_price=payload.stop_price,
        time_in_force=payload.time_in_force,
        time=payload.time,
        interval=payload.interval,
        extras=payload.extras or {},
    )
    return signal, normalised(signal), dict(payload.model_extra or {})


def _number(value: Decimal) -> int | float | str:
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    return as_float if math.isfinite(as_float) else str(value)  # 1e400 has no JSON number


def _plain(value: Any) -> Any:
    """`value` with every Decimal (JSON floats are parsed as Decimal) turned into a JSON number."""
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def normalised(signal: Signal) -> dict[str, Any]:
    """The signal as echoed in the 200 response's `payload` (TradersPost field names)."""
    out: dict[str, Any] = {"ticker": signal.ticker, "action": signal.action}
    optional: dict[str, Any] = {
        "sentiment": signal.sentiment,
        "price": signal.price,
        "quantity": signal.quantity,
        "orderType": signal.order_type,
        "limitPrice": signal.limit_price,
        "stopPrice": signal.stop_price,
        "timeInForce": signal.time_in_force,
        "time": signal.time.isoformat() if signal.time else None,
        "interval": signal.interval,
        "extras": signal.extras or None,
    }
    for key, value in optional.items():
        if value is not None:
            out[key] = _plain(value)
    return out


def parse_body(body: bytes) -> tuple[Signal, dict[str, Any], dict[str, Any]]:
    """Bytes -> (Signal, normalised payload, unknown fields); raises PayloadError."""
    return parse_payload(decode_body(body))
