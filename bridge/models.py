"""The value types that cross module boundaries: signals, order requests, orders, positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Action = Literal["buy", "sell", "exit", "cancel", "add"]
Sentiment = Literal["bullish", "bearish", "flat"]
Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]
TimeInForce = Literal["day", "gtc", "opg", "cls", "ioc", "fok"]
OrderStatus = Literal["pending", "submitted", "open", "partially_filled", "filled", "canceled", "rejected", "unknown"]
SignalState = Literal["received", "processing", "executed", "ignored", "rejected", "expired", "failed"]

FINAL_ORDER_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected"})
OPEN_ORDER_STATUSES: frozenset[str] = frozenset({"submitted", "open", "partially_filled"})
FINAL_SIGNAL_STATES: frozenset[str] = frozenset({"executed", "ignored", "rejected", "expired", "failed"})


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

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be canceled."""
        return self.status in OPEN_ORDER_STATUSES


@dataclass(frozen=True, slots=True)
class Position:
    """A broker position; `quantity` is signed: positive long, negative short."""

    symbol: str
    quantity: Decimal
    avg_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Account:
    """Balances as the broker reports them."""

    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    currency: str = "USD"
