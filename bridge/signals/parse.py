"""Webhook body -> validated Signal, or a PayloadError carrying a TradersPost messageCode."""

from __future__ import annotations

import codecs
import json
import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridge.models import Action, OrderType, QuantityType, Sentiment, Signal, StopLoss, TakeProfit, TimeInForce
from bridge.signals import fields, syntax, timing

ACTIONS = ("buy", "sell", "exit", "cancel", "add", "reverse", "breakeven")
# What a market position or another platform's word sent as the action means here: {{strategy.market_position}}
# in action instead of sentiment, or an indicator's own words.
_ORDER_ACTION = "a strategy alert sends the order's side with {{strategy.order.action}}"
ACTION_MEANT = {
    "long": f'a position, not an action: send "action": "buy" to go long; {_ORDER_ACTION}',
    "short": f'a position, not an action: send "action": "sell" to go short; {_ORDER_ACTION}',
    "flat": f'a position, not an action: send "action": "exit" (or "sentiment": "flat"); {_ORDER_ACTION}',
    "close": f'send "action": "exit" to close the position; {_ORDER_ACTION}',
}
# Other platforms' names for the two required fields.
OTHER_NAMES = {"ticker": ("symbol", "instrument", "pair", "asset"), "action": ("side", "signal", "order_action")}
SENTIMENTS = {"bullish": "bullish", "long": "bullish", "bearish": "bearish", "short": "bearish", "flat": "flat"}
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
SIGNAL_FIELDS = frozenset({
    "ticker", "action", "sentiment", "price", "signalPrice", "quantity", "orderType", "limitPrice", "stopPrice",
    "timeInForce", "time", "interval", "quantityType", "trailAmount", "trailPercent", "extendedHours", "cancel",
    "cancelOrderType", "ignoreTradingWindows", "breakevenOffset", "delay", "cancelAfter",
})  # fmt: skip
QUANTITY_TYPES = get_args(QuantityType)
MAX_MESSAGE_LENGTH = 1000
# Levels of objects and arrays, the body's own included: a signal needs three; deeper `extras` would only cost
# the echo and the journal a recursion each (and, some hundreds deep, end in a traceback per request).
MAX_DEPTH = 32
FLATTEN = "a signal needs only a few (the body, takeProfit or stopLoss, your own fields in extras): flatten it"
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|%[a-z_]+%")
_NUMERIC = re.compile(r"\d+(\.\d+)?")  # an epoch time sent as a string
# UTC taken for a `time` sent without an offset (TradingView's always has one): the same instant as UTC, but
# a stale-signal refusal can say that a local time sent bare is what put it hours off.
ASSUMED_UTC = timezone(timedelta(0), "UTC")
# TradersPost fields this version does not act on yet: refusing them beats silently trading without them
# (an options alert would otherwise buy shares of the underlying).
NOT_YET_SUPPORTED = (
    "marketPriceType", "bidAskSpreadFilter", "bidAskSpreadFilterPercent",
    "optionType", "intrinsicValue", "expiration", "strikeCount", "strikesAway", "strikePrice",
)  # fmt: skip


class PayloadError(ValueError):
    """An invalid payload: `code` is the messageCode, `message` says how to fix it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# The shared field validators; the short names keep the validators below readable.
_fail = fields.fail
_show = fields.show
_decimal = fields.number


# Each price field's name in the payload, and the messageCode of a bad value in it.
_PRICE_FIELDS = {
    "price": ("price", "invalid-price"),
    "signal_price": ("signalPrice", "invalid-price"),
    "limit_price": ("limitPrice", "invalid-limit-price"),
    "stop_price": ("stopPrice", "invalid-stop-price"),
}


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
    quantity_type: QuantityType | None = Field(default=None, alias="quantityType")
    trail_amount: Decimal | None = Field(default=None, alias="trailAmount")
    trail_percent: Decimal | None = Field(default=None, alias="trailPercent")
    extended_hours: bool | None = Field(default=None, alias="extendedHours")
    take_profit: TakeProfit | None = Field(default=None, alias="takeProfit")
    stop_loss: StopLoss | None = Field(default=None, alias="stopLoss")
    cancel: bool | None = None
    cancel_order_type: OrderType | None = Field(default=None, alias="cancelOrderType")
    ignore_trading_windows: bool | None = Field(default=None, alias="ignoreTradingWindows")
    breakeven_offset: Decimal | None = Field(default=None, alias="breakevenOffset")
    message: str | None = None
    delay: datetime | None = None
    cancel_after: Decimal | None = Field(default=None, alias="cancelAfter")

    @model_validator(mode="before")
    @classmethod
    def _screen(cls, data: Any) -> Any:
        if isinstance(data, str) and data.lstrip().startswith("{"):
            # Python's requests.post(url, json=json.dumps(signal)), or a JSON.stringify of a string: a JSON string
            # holding the object's text.
            raise _fail(
                "invalid-payload",
                "the body is a JSON string holding the signal's JSON: it was encoded twice. Encode it once: from "
                "Python pass the dict itself to requests' json= (or json.dumps(signal) to data=), e.g. "
                '{"ticker": "AMD", "action": "buy"}',
            )
        if not isinstance(data, dict):
            raise _fail("invalid-payload", 'the body must be a JSON object, e.g. {"ticker": "AMD", "action": "buy"}')
        for key, value in _acted_on(data):
            # Every placeholder form holds { or %: the usual value ("AMD", "buy") is told without the regex.
            if (found := _PLACEHOLDER.search(value)) is not None:
                raise _fail(
                    "unsubstituted-placeholder",
                    f"{key} is {_show(value)}: the alert sent a placeholder that was not replaced; "
                    f"check its spelling in the alert message ({_who_fills(found.group())})",
                )
        for key in NOT_YET_SUPPORTED if not data.keys().isdisjoint(NOT_YET_SUPPORTED) else ():  # in this order
            if key in data:
                raise _fail(
                    "unsupported-field",
                    f"{key} is not supported by this version of the bridge yet; remove it from the alert "
                    "rather than trade without it",
                )
        # In the body's order (the first such name is the one told); the usual body sends field names only.
        for key in data if not data.keys() <= _NAMES else ():
            if key not in _NAMES and (name := _FOLDED.get(_fold(key))) is not None:
                # Unknown fields are ignored: this one would be, and the alert trade without its stop loss or size.
                raise _fail(
                    "invalid-payload",
                    f"{_show(key)} is not a field name, so it would be ignored: names are case-sensitive; write {name}",
                )
        for key in ("ticker", "action"):
            if key not in data:
                # What other bridges and exchanges call it: the message was likely written for one of them.
                other = next((k for k in data if k.lower() in OTHER_NAMES[key]), None)
                hint = f'; this body sends {_show(other)}: name it "{key}"' if other is not None else ""
                raise _fail("invalid-payload", f'{key} is required, e.g. {{"ticker": "AMD", "action": "buy"}}{hint}')
        if _flat_with_zero(data):
            # A strategy alert sized by {{strategy.position_size}} sends 0 with "flat" on its close. A flat
            # sentiment exits the whole position whatever the quantity: refusing the 0 would leave it open.
            data = {key: value for key, value in data.items() if key != "quantity"}
        # A blank is refused where the field would act (its validator says why); elsewhere it is none, as it
        # always was: a template that carries the field blank on its exits must not have them turned away.
        idle = _idle_blanks(data)
        return {key: value for key, value in data.items() if key not in idle} if idle else data

    @field_validator("ticker", mode="before")
    @classmethod
    def _ticker(cls, value: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        ticker = value.strip() if isinstance(value, str) else ""
        if not ticker:
            raise _fail("empty-ticker-name", 'ticker must be a non-empty symbol such as "AMD"')
        if ticker.startswith("={"):
            # Pine's syminfo.tickerid on a chart with an extended session or adjustments is a ticker id,
            # ={"session":"extended","symbol":"NASDAQ:AAPL"}, that no broker would take.
            raise _fail(
                "invalid-payload",
                f"ticker is {_show(ticker)}, not a symbol: Pine's syminfo.tickerid gives that on a chart with "
                "an extended session or adjustments; send syminfo.ticker (or {{ticker}} in the message), e.g. AAPL",
            )
        if "{" in ticker or "}" in ticker or '"' in ticker:  # no symbol holds these: a placeholder that lost a brace
            raise _fail(
                "invalid-payload",
                f"ticker is {_show(ticker)}, not a symbol (none holds braces or quotes): check the placeholder's "
                'braces, two on each side as in {{ticker}}, or write the symbol, e.g. "AAPL"',
            )
        # A zero-width space or a control character (pasted with the symbol) makes another symbol: a position
        # of its own that the bare ticker's exit never closes. Spaces stay: options tickers hold them.
        # Told by the whole string at once (the usual ticker): the character is looked for only in one that has it.
        if not ticker.isprintable() and (hidden := next((c for c in ticker if not c.isprintable()), None)):
            raise _fail(
                "invalid-payload",
                f"{_show(ticker)} holds an invisible or control character (U+{ord(hidden):04X} "
                f'{unicodedata.name(hidden, "control character")}); retype the symbol in the alert, e.g. "AMD"',
            )
        return ticker

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in ACTIONS:
            meant = ACTION_MEANT.get(text) if isinstance(text, str) else None
            hint = f" ({_show(value)} is {meant})" if meant else ""
            raise _fail("invalid-action", f"action must be one of {', '.join(ACTIONS)}; got {_show(value)}{hint}")
        return str(text)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _sentiment(cls, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and not value.strip():
            # A placeholder or variable that gave nothing: the sender meant a sentiment, and read as none, a sell
            # while long would also open a short (allow_swap) where "flat" may have been meant. Not guessed.
            raise _fail(
                "invalid-sentiment",
                f"sentiment is empty ({_show(value)}): the alert sent none of bullish, bearish or flat, and which "
                "was meant cannot be guessed (without one, a sell while long also opens a short); check what "
                "fills it in the alert message, or leave sentiment out to trade a plain buy or sell",
            )
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
        if _negative(value):
            # TradingView's {{strategy.position_size}} (and market_position_size's sign) is negative while short.
            raise _fail(
                "invalid-quantity",
                f"quantity is {_show(value)}, a negative number: the side comes from action and sentiment, the "
                "quantity is how much to trade. A strategy alert sending {{strategy.position_size}} (negative "
                "while short) should send {{strategy.order.contracts}}, the order's own size",
            )
        if _zero(value):
            # {{strategy.position_size}} once the strategy is flat: an exit alert fired after its close sends 0.
            raise _fail(
                "invalid-quantity",
                f"quantity is {_show(value)}, which trades nothing: send the order's size "
                "({{strategy.order.contracts}} in a strategy alert; {{strategy.position_size}} is 0 once the strategy "
                "is flat), or leave quantity out: an exit then closes the whole position",
            )
        return _decimal(value, "quantity", "invalid-quantity")

    @field_validator("price", "signal_price", "limit_price", "stop_price", mode="before")
    @classmethod
    def _prices(cls, value: Any, info: Any) -> Decimal | None:
        name, code = _PRICE_FIELDS[info.field_name]
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
            if isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):  # numbers may be strings, as elsewhere
                value = Decimal(value.strip())
            if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                seconds = float(value) / 1000 if value > 1e11 else float(value)
                return datetime.fromtimestamp(seconds, UTC)
            if isinstance(value, str):
                parsed = timing.iso_moment(value)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=ASSUMED_UTC)
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
        if value == []:  # PHP's json_encode writes an empty `'extras' => []` as a list
            return None
        if value is not None and not isinstance(value, dict):
            raise _fail("invalid-extras", "extras must be a JSON object of your own fields")
        return value

    @field_validator("quantity_type", mode="before")
    @classmethod
    def _quantity_type(cls, value: Any) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else value
        if text is None:
            return None
        if text == "":
            # A placeholder or variable that gave nothing: read as none, the quantity would count in units, and
            # 500 meant as dollars would buy 500 shares. Which type was meant cannot be guessed.
            raise _fail(
                "invalid-quantity-type",
                f"quantityType is empty ({_show(value)}): the alert sent none of {', '.join(QUANTITY_TYPES)}, and "
                "read as units a quantity meant in dollars or percent would trade that many units; check what "
                "fills it in the alert message, or leave quantityType out to send units",
            )
        if text not in QUANTITY_TYPES:
            raise _fail(
                "invalid-quantity-type", f"quantityType must be one of {', '.join(QUANTITY_TYPES)}; got {_show(value)}"
            )
        return str(text)

    @field_validator("trail_amount", "trail_percent", mode="before")
    @classmethod
    def _trail(cls, value: Any, info: Any) -> Decimal | None:
        name = "trailAmount" if info.field_name == "trail_amount" else "trailPercent"
        return fields.number(value, name, "invalid-trailing-stop")

    @field_validator("breakeven_offset", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> Decimal | None:
        return fields.number(value, "breakevenOffset", "invalid-breakeven-offset", allow_zero=True)

    @field_validator("extended_hours", "cancel", "ignore_trading_windows", mode="before")
    @classmethod
    def _booleans(cls, value: Any, info: Any) -> bool | None:
        name = {"extended_hours": "extendedHours", "ignore_trading_windows": "ignoreTradingWindows"}
        field = name.get(info.field_name, info.field_name)
        return fields.boolean(value, field, "invalid-extended-hours" if field == "extendedHours" else "invalid-payload")

    @field_validator("take_profit", mode="before")
    @classmethod
    def _take_profit(cls, value: Any) -> TakeProfit | None:
        return fields.take_profit(value)

    @field_validator("stop_loss", mode="before")
    @classmethod
    def _stop_loss(cls, value: Any) -> StopLoss | None:
        return fields.stop_loss(value)

    @field_validator("cancel_order_type", mode="before")
    @classmethod
    def _cancel_order_type(cls, value: Any) -> str | None:
        text = value.strip().lower() if isinstance(value, str) else value
        if text is None:
            return None
        if text == "":
            # A placeholder or variable that gave nothing: read as none, a cancel meant for one type of order would
            # cancel them all, the position's stop-loss with them.
            raise _fail(
                "invalid-order-type",
                f"cancelOrderType is empty ({_show(value)}): the alert sent none of {', '.join(ORDER_TYPES)}, and "
                "read as none every open order of the ticker would be canceled, its stop-loss too; check what "
                "fills it in the alert message, or leave cancelOrderType out to cancel them all",
            )
        if text not in ORDER_TYPES:
            raise _fail(
                "invalid-order-type", f"cancelOrderType must be one of {', '.join(ORDER_TYPES)}; got {_show(value)}"
            )
        return str(text)

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: Any) -> str | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else _show(value)
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _fail(
                "invalid-message-length", f"message is {len(text)} characters; keep it under {MAX_MESSAGE_LENGTH}"
            )
        return text

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, value: Any) -> datetime | None:
        return timing.execute_at(value)

    @field_validator("cancel_after", mode="before")
    @classmethod
    def _cancel_after(cls, value: Any) -> Decimal | None:
        return timing.cancel_after(value)

    @model_validator(mode="after")
    def _combinations(self) -> Payload:
        if self.sentiment is not None and self.action not in ("buy", "sell"):
            raise _fail(
                "invalid-sentiment-action",
                f"sentiment only goes with action buy or sell, not {self.action}; remove sentiment",
            )
        # A breakeven's stop (and limit) is the average entry price plus the offset: it needs no prices.
        priced = self.action != "breakeven"
        # A limit without a price is placed at the broker's quote, as TradersPost does (the resolver rejects it
        # where there is none). A stop-limit's limit must be the sender's: a quote below a buy's stop never fills.
        price = self.price if self.price is not None else self.signal_price  # signalPrice is price's other name
        if priced and self.order_type == "stop_limit" and self.limit_price is None and price is None:
            raise _fail("invalid-limit-price", f"orderType {self.order_type} needs limitPrice (or price)")
        if priced and self.order_type in ("stop", "stop_limit") and self.stop_price is None:
            raise _fail("invalid-stop-price", f"orderType {self.order_type} needs stopPrice")
        check_combinations(self)
        return self


_BLANKABLE = ("sentiment", "quantityType", "cancelOrderType")  # the fields `_idle_blanks` lets be blank


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _idle_blanks(data: dict[str, Any]) -> set[str]:
    """The fields sent blank where they would not act: sentiment beside an action other than buy or sell,
    quantityType with no quantity to read, cancelOrderType beside an action other than cancel."""
    if data.keys().isdisjoint(_BLANKABLE) or not any(_blank(data.get(key)) for key in _BLANKABLE):
        # The usual body sends none of them (or none blank).
        return set()
    action = data.get("action")
    action = action.strip().lower() if isinstance(action, str) else action
    acts = {
        "sentiment": action in ("buy", "sell"),
        "quantityType": data.get("quantity") is not None and not _blank(data.get("quantity")),
        "cancelOrderType": action == "cancel",
    }
    return {key for key, acting in acts.items() if not acting and _blank(data.get(key))}


def _acted_on(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The text values that may hold a placeholder (a `{` or a `%` in them) of the fields we act on, by name:
    takeProfit's and stopLoss's own (`stopLoss.stopPrice`) too.

    An unknown field is ignored, placeholder or not, and so is `extras`: the user's own.
    """
    values = [(key, value) for key, value in data.items() if _may_be_placeholder(value) and key in SIGNAL_FIELDS]
    for leg in ("takeProfit", "stopLoss"):
        if isinstance(legs := data.get(leg), dict):
            values += [(f"{leg}.{key}", value) for key, value in legs.items() if _may_be_placeholder(value)]
    return values


def _may_be_placeholder(value: Any) -> bool:
    return isinstance(value, str) and ("{" in value or "%" in value)


def _who_fills(placeholder: str) -> str:
    """Which sender fills in a placeholder of this form, and what it fills in."""
    if placeholder.startswith("%"):
        # TradersPost's TrendSpider page says trading bots fill in no ticker variable: then the ticker is written out.
        return ("TrendSpider only fills in %...% names it knows, such as %alert_symbol% and %last_price%; if a "
                "trading bot left its symbol unreplaced, write its ticker out")  # fmt: skip
    if placeholder.startswith("{{strategy."):
        # The likely cause is not the spelling: an indicator's or a price alert's message keeps these as they are.
        return (
            "TradingView fills in {{strategy...}} names only on a strategy's alerts; on an indicator or "
            'price alert, write the action yourself, e.g. "action": "buy", or create the alert on the strategy'
        )
    return "TradingView only fills in {{...}} names it knows"


def _flat_with_zero(data: dict[str, Any]) -> bool:
    """Whether the body sends sentiment flat with a quantity of zero (a number or its text)."""
    sentiment = data.get("sentiment")
    return isinstance(sentiment, str) and sentiment.strip().lower() == "flat" and _zero(data.get("quantity"))


def _zero(value: Any) -> bool:
    """Whether `value` is a number (or its text) equal to zero."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return False
    try:
        return Decimal(str(value).strip()) == 0
    except ArithmeticError:
        return False


def _negative(value: Any) -> bool:
    """Whether `value` is a number (or its text) below zero."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return False
    try:
        return Decimal(str(value).strip()) < 0
    except ArithmeticError:
        return False


def _fold(key: str) -> str:
    """A field name without case, spaces, `_` or `-`: how `StopLoss`, `stop-loss` and `stopLoss` look alike."""
    return re.sub(r"[\s_-]", "", key).lower()


# Every name the payload takes as it is (TradersPost's, and the Python names `populate_by_name` also takes), and
# the idempotency key the webhook reads from the unknown fields.
_WIRE_NAMES = {info.alias or name for name, info in Payload.model_fields.items()} | {"idempotencyKey"}
_NAMES = frozenset(_WIRE_NAMES | set(Payload.model_fields) | set(NOT_YET_SUPPORTED))
_FOLDED = {_fold(name): name for name in sorted(_WIRE_NAMES | set(NOT_YET_SUPPORTED))}

ENTRY_ACTIONS = ("buy", "sell", "add", "reverse")
# Sizes measured against equity or a stop loss: they size entries only (TradersPost's messageCode for each).
ENTRY_ONLY_TYPES = {
    "percent_of_equity": "invalid-quantity-type-action",
    "risk_dollar_amount": "invalid-risk-dollar-amount-action",
    "risk_percent": "invalid-risk-dollar-amount-action",
}


def check_combinations(p: Payload) -> None:
    """Rules that tie fields together (TradersPost's messageCodes where it has one)."""
    if p.order_type == "trailing_stop" and (p.trail_amount is None) == (p.trail_percent is None):
        raise _fail("invalid-trailing-stop", "orderType trailing_stop needs exactly one of trailAmount, trailPercent")
    if p.order_type == "trailing_stop" and p.action not in ("buy", "sell", "exit", "reverse"):
        raise _fail("invalid-trailing-stop", f"orderType trailing_stop does not go with action {p.action}")
    if p.extended_hours and p.order_type not in (None, "limit"):
        raise _fail("invalid-extended-hours", f"extendedHours needs orderType limit, not {p.order_type}")
    if p.quantity_type is not None:
        if p.action not in ("buy", "sell", "exit", "add"):
            raise _fail("invalid-quantity-type-action", f"quantityType does not go with action {p.action}")
        if p.quantity_type == "percent_of_position" and p.action not in ("buy", "sell", "exit"):
            raise _fail(
                "invalid-percent-of-position-action",
                f"quantityType percent_of_position goes with buy, sell or exit, not {p.action}",
            )
        if p.quantity is None:
            raise _fail("quantity-type-requires-quantity", f"quantityType {p.quantity_type} needs a quantity")
        if p.action == "exit" and p.quantity_type in ENTRY_ONLY_TYPES:
            # Whatever the position, the resolver could only reject it: refuse it before it is journaled.
            raise _fail(
                ENTRY_ONLY_TYPES[p.quantity_type],
                f"quantityType {p.quantity_type} sizes entries, not an exit; send quantityType fixed_quantity, "
                "dollar_amount or percent_of_position, or no quantity to exit the whole position",
            )
        # The risk types' stop may be the subscription's own stop loss: the resolver, which knows it, rejects
        # the signal when there is none (a refusal here would turn away alerts that TradersPost sizes).
    if (p.take_profit or p.stop_loss) and p.action not in ENTRY_ACTIONS:
        raise _fail("invalid-payload", f"takeProfit/stopLoss attach to entries; action {p.action} opens nothing")
    if p.cancel_order_type is not None and p.action != "cancel":
        raise _fail("invalid-payload", "cancelOrderType goes with action cancel only")
    if p.breakeven_offset is not None and p.action != "breakeven":
        raise _fail("invalid-payload", "breakevenOffset goes with action breakeven only")
    if p.action == "breakeven" and p.order_type not in (None, "stop", "stop_limit"):
        raise _fail(
            "invalid-breakeven-order-type", f"orderType of a breakeven must be stop or stop_limit, not {p.order_type}"
        )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key sent twice: Python keeps the last, other readers the first."""
    found = dict(pairs)
    if len(found) == len(pairs):  # every key once: the usual body, told at C speed
        return found
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise PayloadError(
                "invalid-payload",
                f"the body sends {_show(key)} twice; send it once (JSON readers differ on which of the two counts, "
                "so the bridge does not guess)",
            )
        seen.add(key)
    return found


def decode_body(body: bytes) -> Any:
    """Bytes -> JSON value, with TradersPost's empty-json / malformed-json errors."""
    try:
        # What the utf-8-sig codec does (one byte order mark taken off), without its Python-level decode function.
        text = (body[3:] if body.startswith(codecs.BOM_UTF8) else body).decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(
            "malformed-json", 'the body is not UTF-8 text; send JSON such as {"ticker": "AMD", "action": "buy"}'
        ) from None
    if not text.strip():
        raise PayloadError("empty-json", 'the body is empty; send JSON such as {"ticker": "AMD", "action": "buy"}')
    data = _load(text)
    for key, value in data.items() if isinstance(data, dict) else ():
        # A number or a string nests nothing: most values are, and need no walk.
        if isinstance(value, dict | list) and _deeper_than(value, MAX_DEPTH - 1):
            # Named whole or not at all: a secret cut short here would be stored in part, past the masking.
            name = key if len(key) <= 40 else f"a field name of {len(key)} characters"
            raise PayloadError("invalid-payload", f"{name} nests objects or arrays more than {MAX_DEPTH} levels "
                               f"deep; {FLATTEN}")  # fmt: skip
    return data


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels deep in `value` (counted without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _placeholder_at(text: str, exc: Exception) -> re.Match[str] | None:
    """The unreplaced placeholder the JSON reader stopped at (an unquoted {{close}}), if it stopped at one.

    A placeholder in quotes is valid JSON: blaming it would hide the comma or quote that broke the body.
    """
    if not isinstance(exc, json.JSONDecodeError):
        return None
    return next((m for m in _PLACEHOLDER.finditer(text) if m.start() <= exc.pos <= m.end()), None)


def _reject_constant(name: str) -> Any:
    # An unquoted {{plot_0}} whose value was na on the bar that fired comes in as NaN.
    raise ValueError(f"it holds {name}, which JSON does not allow: if an alert placeholder gave it, it had "
                     "no value (na) on the bar that fired; send a value the script always has")  # fmt: skip


# Made once: `json.loads` with any of these options builds a new decoder, and its scanner, for every body.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


def _load(text: str) -> Any:
    """JSON text -> value; numbers with a fraction as Decimal, NaN/Infinity and a key sent twice refused."""
    try:
        if text.startswith("\ufeff"):  # as `json.loads` refuses a byte order mark (a second one: one is taken off)
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError("invalid-payload", f"the body nests objects or arrays too deep to read; {FLATTEN}") from None
    except (json.JSONDecodeError, ValueError) as exc:
        if placeholder := _placeholder_at(text, exc):
            # `{{strategy.order.alert_message}}` on an alert that is not a strategy's, or `{{plot_0}}` unquoted:
            # the cause is the placeholder, not the commas and quotes the hint below would send the user hunting for.
            raise PayloadError(
                "malformed-json",
                f"the body is not valid JSON: it holds {placeholder.group()}, a placeholder that was not replaced; "
                f"check its spelling ({_who_fills(placeholder.group())})",
            ) from None
        if isinstance(exc, json.JSONDecodeError):
            raise PayloadError("malformed-json", syntax.explain(text, exc)) from None
        raise PayloadError("malformed-json", f"the body is not valid JSON: {exc}") from None


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
            if err["type"].startswith(("invalid-", "empty-", "unsupported-", "unsubstituted-", "quantity-type-"))
            else "invalid-payload"
        )
        raise PayloadError(code, message if code != "invalid-payload" or not loc else f"{loc}: {message}") from None
    signal, sent = _signal(payload)
    return signal, _echo(sent), dict(payload.model_extra or {})


# The Signal's name of each payload field whose name differs; signalPrice is price's other name.
_SIGNAL_NAMES = {"delay": "execute_at"}
_PAYLOAD_FIELDS = frozenset(Payload.model_fields)


def _signal(payload: Payload) -> tuple[Signal, dict[str, Any]]:
    """The payload as a Signal, and the fields it was made of: those sent and not none (by the Signal's names);
    every other one is left at the Signal's default (none).

    Passing only those (a few in the usual body) rather than all 25 by name costs a fraction of the call.
    """
    given = payload.__dict__
    # Unknown fields sent count as set too (`extra="allow"`): they are not the Signal's.
    names = payload.model_fields_set & _PAYLOAD_FIELDS
    sent = {_SIGNAL_NAMES.get(name, name): given[name] for name in names if given[name] is not None}
    signal_price = sent.pop("signal_price", None)
    if signal_price is not None:
        sent.setdefault("price", signal_price)  # price wins when both are sent
    if not sent.get("extras", True):  # {} sent: the default, a dict of its own
        del sent["extras"]
    return Signal(**sent), sent


def _number(value: Decimal) -> int | float | str:
    # copy_abs, not abs(): abs() rounds to the context, and 1e999999999 (valid JSON, in extras) is past its range.
    if value == value.to_integral_value() and value.copy_abs() < 2**53:
        return int(value)
    as_float = float(value)
    # A number a float cannot hold exactly (1e400, or a 16th significant digit) is echoed as its text, which the
    # parser takes as it takes the number: a delayed or resumed signal is rebuilt from this echo.
    return as_float if math.isfinite(as_float) and Decimal(repr(as_float)) == value else str(value)


def _plain(value: Any) -> Any:
    """`value` with every Decimal (JSON floats are parsed as Decimal) turned into a JSON number."""
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _bracket(leg: TakeProfit | StopLoss | None) -> dict[str, Any] | None:
    """A takeProfit/stopLoss object in TradersPost's field names, without empty fields."""
    if leg is None:
        return None
    names = {"limit_price": "limitPrice", "stop_price": "stopPrice", "trail_amount": "trailAmount",
             "trail_percent": "trailPercent"}  # fmt: skip
    return {names.get(k, k): getattr(leg, k) for k in leg.__slots__ if getattr(leg, k) is not None}


# The echo's optional fields in its order (TradersPost's names), each with the Signal's name of it.
_ECHOED = (
    ("sentiment", "sentiment"), ("price", "price"), ("quantity", "quantity"), ("orderType", "order_type"),
    ("limitPrice", "limit_price"), ("stopPrice", "stop_price"), ("timeInForce", "time_in_force"), ("time", "time"),
    ("interval", "interval"), ("extras", "extras"), ("quantityType", "quantity_type"),
    ("trailAmount", "trail_amount"), ("trailPercent", "trail_percent"), ("extendedHours", "extended_hours"),
    ("takeProfit", "take_profit"), ("stopLoss", "stop_loss"), ("cancel", "cancel"),
    ("cancelOrderType", "cancel_order_type"), ("ignoreTradingWindows", "ignore_trading_windows"),
    ("breakevenOffset", "breakeven_offset"), ("message", "message"),
    ("delay", "execute_at"),  # normalised to the moment it runs
    ("cancelAfter", "cancel_after"),
)  # fmt: skip
_ECHOED_FROM = ("ticker", "action", *(name for _, name in _ECHOED))  # the Signal's fields the echo reads


def normalised(signal: Signal) -> dict[str, Any]:
    """The signal as echoed in the 200 response's `payload` (TradersPost field names)."""
    return _echo({name: getattr(signal, name) for name in _ECHOED_FROM})


def _echo(values: dict[str, Any]) -> dict[str, Any]:
    """The echo of the Signal made of `values` (by the Signal's names; a field left out is none).

    The parser has the few fields a body sent at hand: read from them, the echo of the usual body costs a third
    of reading each of the Signal's fields (`normalised`). tests/signals/test_echo.py holds the two to the same echo.
    """
    out: dict[str, Any] = {"ticker": values["ticker"], "action": values["action"]}
    for key, name in _ECHOED:
        value = values.get(name)
        if value is None:
            continue
        if name in ("time", "execute_at"):
            value = value.isoformat()
        elif name in ("take_profit", "stop_loss"):
            value = _bracket(value)
        elif name == "extras" and not value:  # none sent, or {}: the Signal's default
            continue
        out[key] = _plain(value)
    return out


def parse_body(body: bytes) -> tuple[Signal, dict[str, Any], dict[str, Any]]:
    """Bytes -> (Signal, normalised payload, unknown fields); raises PayloadError."""
    return parse_payload(decode_body(body))
