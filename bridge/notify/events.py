"""What operators hear about: one small value type shared by metrics and notifications."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.models import Order, quick_init
from bridge.store.db import iso, utcnow

# Kinds an operator can subscribe to in `notifications.events`.
KINDS = (
    "signal.rejected",
    "signal.failed",
    "signal.expired",  # not traded, rightly, but the trader who set the alert believes it went out
    "order.filled",
    "order.rejected",
    "order.canceled",  # opt-in: a resting order canceled, by a signal, a job, the broker or its time in force
    "order.partially_filled",  # opt-in: a resting order found filled in part, the rest still working
    "order.unfollowed",  # an order left working at a venue the bridge no longer asks (its broker switched or removed)
    "reload.failed",
    "halt",
    "resume",
    "webhook.refused",
    "flatten.missed",  # flatten_at left positions open overnight: its subscription disabled, or it could not close them
)


@quick_init
@dataclass(frozen=True)
class Event:
    """Something that happened: a kind (see KINDS, or signal.<state> / order.<status>), a sentence, and details."""

    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)


def signal_event(strategy: str, subscription: str, ticker: str, signal_id: str, state: str, decision: str) -> Event:
    """A subscription's execution of a signal reached its final state."""
    data = {"strategy": strategy, "subscription": subscription, "ticker": ticker, "signal_id": signal_id,
            "state": state}  # fmt: skip
    return Event(f"signal.{state}", f"{strategy}/{subscription} {ticker}: {decision}", data)


def flatten_event(strategy: str, subscription: str, text: str, tickers: list[str] | None = None) -> Event:
    """A `flatten_at` left positions open overnight (`tickers`, None: not known): the operator must close them."""
    data = {"strategy": strategy, "subscription": subscription, "tickers": tickers}
    return Event("flatten.missed", text, data)


def recovery_event(held: str | None) -> Event:
    """Start-up recovery holds trading (`held`: why) or, having held it, opens it: told as a halt and a resume.

    Nobody ran `bridge halt`, yet no order goes out: whoever listens for halts must hear this one, most of all
    after a restart nobody watched (systemd's, after a crash).
    """
    data: dict[str, Any] = {"halted": held is not None, "reason": held, "changed_at": iso(utcnow()),
                            "by": "start-up recovery"}  # fmt: skip
    if held is not None:
        return Event("halt", f"trading HALTED by start-up recovery: {held}; no new order is sent until every "
                     "one of them is settled (asked again every few seconds)", data)  # fmt: skip
    return Event("resume", "trading resumed by start-up recovery: every order of unknown outcome is settled", data)


def refused_event(strategy: str, status: int, code: str | None, message: str, more: int = 0) -> Event:
    """A webhook with the strategy's right token was refused (a 4xx): the sender never learns why, the operator does.

    `more`: how many like it (same strategy and messageCode) were refused since the last notice, unsaid.
    """
    since = f" ({more} more like it since the last notice)" if more else ""
    text = f"{strategy}: a webhook was refused, {status} {code or ''}: {message}{since}"
    data = {"strategy": strategy, "status": status, "message_code": code, "message": message, "more": more}
    return Event("webhook.refused", text, data)


def order_event(strategy: str, subscription: str, broker: str, symbol: str, side: str, quantity: str, status: str,
                price: str | None, error: str | None, latency: float | None,
                filled: str | None = None) -> Event:  # fmt: skip
    """The broker's answer about an order we sent.

    `latency` is the seconds from the signal's arrival to the broker's first answer; None marks a later
    change (a resting order found filled), which is news to the operator but not a first answer.
    `filled`: how much of it filled. A canceled order that filled in part is an `order.filled` of that part:
    its rest was canceled (a timeout, immediate-or-cancel), but what filled is a position the operator holds.
    """
    at = f" @ {price}" if price else ""
    why = f": {error}" if error else ""
    text = f"{strategy}/{subscription} {side} {quantity} {symbol}{at} {status} at {broker}{why}"
    data = {"strategy": strategy, "subscription": subscription, "broker": broker, "symbol": symbol, "side": side,
            "quantity": quantity, "status": status, "price": price, "error": error, "latency": latency}  # fmt: skip
    if status == "canceled" and filled is not None and Decimal(filled) > 0:
        text = (f"{strategy}/{subscription} {side} {filled} of {quantity} {symbol}{at} filled, the rest canceled "
                f"at {broker}{why}")  # fmt: skip
        return Event("order.filled", text, {**data, "quantity": filled, "ordered": quantity})
    return Event(f"order.{status}", text, data)


def unfollowed_event(strategy: str, subscription: str, broker: str, symbol: str, side: str, quantity: str,
                     error: str) -> Event:  # fmt: skip
    """An order the bridge no longer follows (its broker name opens another account now, or is gone): check it there.

    Its own kind, told by default: nothing polls or cancels it any more, so nothing later would tell the trader.
    """
    event = order_event(strategy, subscription, broker, symbol, side, quantity, "unknown", None, error, None)
    return replace(event, kind="order.unfollowed")


def order_change(strategy: str, subscription: str, broker: str, order: Order) -> Event:
    """An order's new status, found after the broker's first answer (a resting order filled, canceled ...)."""
    price = order.avg_fill_price if order.avg_fill_price is not None else order.limit_price
    quantity = order.filled_quantity if order.status in ("filled", "partially_filled") else order.quantity
    return order_event(strategy, subscription, broker, order.symbol, order.side, str(quantity), order.status,
                       None if price is None else str(price), order.error, None,
                       str(order.filled_quantity))  # fmt: skip
