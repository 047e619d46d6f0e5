"""The value types that cross module boundaries: signals, order requests, orders, positions."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Action = Literal["buy", "sell", "exit", "cancel", "add", "reverse", "breakeven"]
Sentiment = Literal["bullish", "bearish", "flat"]
Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]
QuantityType = Literal[
    "fixed_quantity", "dollar_amount", "percent_of_equity", "percent_of_position", "risk_dollar_amount", "risk_percent"
]
TimeInForce = Literal["day", "gtc", "opg", "cls", "ioc", "fok"]
OrderStatus = Literal["pending", "submitted", "open", "partially_filled", "filled", "canceled", "rejected", "unknown"]
SignalState = Literal["received", "processing", "executed", "ignored", "rejected", "expired", "failed", "canceled"]

FINAL_ORDER_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected"})
OPEN_ORDER_STATUSES: frozenset[str] = frozenset({"submitted", "open", "partially_filled"})
# `canceled`: a delayed signal the operator canceled while it waited (`bridge cancel`), never executed.
FINAL_SIGNAL_STATES: frozenset[str] = frozenset({"executed", "ignored", "rejected", "expired", "failed", "canceled"})
# The webhook id of a signal the bridge's own schedule queued (`job:flatten_at`): no request's id starts so.
SCHEDULED_SOURCE = "job:"

_FACTORY: Any = object()  # the default of a field whose default comes from a factory


def quick_init(cls: type[T]) -> type[T]:
    """Give a frozen dataclass an `__init__` that sets its fields without `object.__setattr__`, same signature.

    A frozen dataclass's own `__init__` looks up and calls `object.__setattr__` once per field: for a Signal,
    27 of them on every webhook. This one calls each slot's own setter (or, without slots, fills `__dict__`),
    fetched once here. Only `__init__` changes: assigning an attribute still raises FrozenInstanceError, and
    equality, hash, repr, pickling and `dataclasses.replace` (which calls `__init__`) are the dataclass's own.
    """
    params, lines = [], []
    scope: dict[str, Any] = {"_FACTORY": _FACTORY}
    slotted = "__slots__" in cls.__dict__
    spec: Any = cls  # a dataclass, which the type of `cls` cannot say
    for f in fields(spec):
        if not f.init or f.kw_only or getattr(cls, "__post_init__", None) is not None:
            raise TypeError(f"quick_init does not handle {cls.__name__}.{f.name}")  # a dataclass feature it lacks
        name = f.name
        if f.default is not MISSING:
            scope[f"_default_{name}"] = f.default
            params.append(f"{name}=_default_{name}")
        elif f.default_factory is not MISSING:
            scope[f"_factory_{name}"] = f.default_factory
            params.append(f"{name}=_FACTORY")
            lines.append(f"if {name} is _FACTORY: {name} = _factory_{name}()")
        else:
            params.append(name)
        if slotted:
            scope[f"_set_{name}"] = cls.__dict__[name].__set__  # the slot's member descriptor
            lines.append(f"_set_{name}(self, {name})")
    if not slotted:  # one dict update instead of a __setattr__ per field
        lines.append("self.__dict__.update(" + ", ".join(f"{f.name}={f.name}" for f in fields(spec)) + ")")
    source = f"def __init__(self, {', '.join(params)}) -> None:\n" + "".join(f"    {line}\n" for line in lines)
    exec(source, scope)  # noqa: S102 - the source is made from the class's own field names, nothing from outside
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(getattr(cls.__init__, "__annotations__", {}))
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


@quick_init
@dataclass(frozen=True, slots=True)
class TakeProfit:
    """A take-profit leg: exactly one of an absolute limit price, a percent or an amount from entry."""

    limit_price: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class StopLoss:
    """A stop-loss leg: type plus exactly one way to place the stop (absolute, percent, amount, or trail)."""

    type: Literal["stop", "stop_limit", "trailing_stop"] = "stop"
    stop_price: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    limit_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Signal:
    """A validated, normalised trading signal as journaled."""

    ticker: str
    action: Action
    sentiment: Sentiment | None = None
    price: Decimal | None = None
    quantity: Decimal | None = None
    order_type: OrderType | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    time: datetime | None = None
    interval: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    quantity_type: QuantityType | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool | None = None
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None
    cancel: bool | None = None  # cancel the ticker's open orders first (true) or never (false)
    cancel_order_type: OrderType | None = None  # with action cancel: only orders of this type
    execute_at: datetime | None = None  # from `delay`: do not execute before this moment
    cancel_after: Decimal | None = None  # seconds an unfilled order may rest before it is canceled
    ignore_trading_windows: bool | None = None
    breakeven_offset: Decimal | None = None
    message: str | None = None
    # Queued by the subscription's own schedule (`flatten_at`), not sent: the filters of sent signals
    # (`ignore_exits`, `tickers`) do not apply to it. Not a payload field; the journal knows it by its webhook id.
    scheduled: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class BracketLeg:
    """A child order attached to an entry (take profit or stop loss), placed by the broker once the entry fills."""

    client_order_id: str
    type: OrderType
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None


def leg_time_in_force(entry: str) -> str:
    """A bracket leg's time in force: its entry's, day or gtc, as at Alpaca, whose legs have none of their own.

    Alpaca takes brackets with day or gtc entries only; an entry in force once (ioc, fok) or for one auction
    (opg, cls), which no live venue of ours brackets, keeps gtc legs, so a position it opened is not left bare.
    """
    return "day" if entry == "day" else "gtc"


@quick_init
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the executor asks a broker to place; `client_order_id` makes the request idempotent."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    type: OrderType = "market"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = "day"
    # The signal's price: a hint for brokers without quotes (the paper broker fills market orders at it).
    reference_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    take_profit: BracketLeg | None = None  # with stop_loss: a bracket; the two children cancel each other
    stop_loss: BracketLeg | None = None
    # The order only ever closes (an exit, a breakeven stop): filled, it must never open the other side. A venue
    # with a reduce-only flag takes it; the bridge also cancels such an order left working on a flat position.
    reduce_only: bool = False
    # The latest moment it may leave (its signal's max_signal_age runs out): an adapter that would hold it past this
    # (in a rate limit's queue) refuses it unsent instead, as a TemporaryBrokerError. None: no limit (a job's order).
    send_by: datetime | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Order:
    """An order as the broker reports it."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    type: OrderType
    status: OrderStatus
    broker_order_id: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    error: str | None = None
    parent_client_order_id: str | None = None  # the entry this is a take-profit or stop-loss of, if the broker says

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be canceled."""
        return self.status in OPEN_ORDER_STATUSES


@quick_init
@dataclass(frozen=True, slots=True)
class Position:
    """A broker position; `quantity` is signed: positive long, negative short."""

    symbol: str
    quantity: Decimal
    avg_price: Decimal | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Account:
    """Balances as the broker reports them."""

    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    currency: str = "USD"


def order_filled(row: sqlite3.Row | Mapping[str, Any]) -> Decimal:
    """What a journaled order filled, signed: a buy adds, a sell takes away. A `filled` one journaled with no fill
    filled all of its quantity (some venues answer a cancel that came too late without the fill). flatten_at's share
    and the prune of netted entries both count by this, so an entry the one holds is never netted to zero by the other.
    """
    done = Decimal(row["filled_quantity"] or 0)
    if row["status"] == "filled" and done == 0:
        done = Decimal(row["quantity"] or 0)
    return done if row["side"] == "buy" else -done


def symbol_key(symbol: str) -> str:
    """The letters that name one instrument: without case, and a pair without its slash (`btc/usd` is BTCUSD)."""
    return symbol.upper().replace("/", "")


def same_symbol(a: str, b: str) -> bool:
    """Whether two symbols name one instrument: venues read them without case (`amd` is the AMD they list), and
    a pair with or without its slash (Alpaca lists the orders of BTC/USD so, and its position as BTCUSD)."""
    return a == b or symbol_key(a) == symbol_key(b)
