"""The paper broker's market rules as pure functions: when a resting order fills, and at what price."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


def trail_stop(side: str, ref: Decimal, amount: Decimal | None, percent: Decimal | None) -> Decimal:
    """The stop level of a trailing stop: below the high-water mark for sells, above the low for buys."""
    distance = amount if amount is not None else ref * (percent or Decimal(0)) / 100
    return ref - distance if side == "sell" else ref + distance


def next_trail_ref(side: str, ref: Decimal | None, price: Decimal) -> Decimal:
    """A sell trail follows the highest price seen, a buy trail the lowest."""
    if ref is None:
        return price
    return max(ref, price) if side == "sell" else min(ref, price)


def triggers(order_type: str, side: str, price: Decimal, limit: Decimal | None, stop: Decimal | None) -> bool:
    """True when `price` makes a resting order executable."""
    buy = side == "buy"
    if order_type == "limit" and limit is not None:
        return price <= limit if buy else price >= limit
    if order_type in ("stop", "stop_limit", "trailing_stop") and stop is not None:
        triggered = price >= stop if buy else price <= stop
        if order_type != "stop_limit" or not triggered or limit is None:
            return triggered
        return price <= limit if buy else price >= limit
    return False


def fill_price(order_type: str, side: str, price: Decimal, limit: Decimal | None, arriving: bool = False) -> Decimal:
    """Where an executable order fills with the market at `price`; stops fill at the price that triggered them.

    A limit marketable on arrival fills at the market, the better of the two for the trader, as at a venue
    (a sell limit at 0.01 with the market at 100 sells near 100). A resting limit a later price crosses fills
    at its limit: the conservative price, since a price seen only says the market reached the limit.
    """
    if order_type != "limit" or limit is None:
        return price
    if arriving:
        return min(limit, price) if side == "buy" else max(limit, price)
    return limit


def opening(held: Decimal, side: str, quantity: Decimal, closed: Decimal) -> Decimal:
    """The part of an order that opens or adds to a position: what is left once it closed what it can of `held`.

    `closed` is how much of `held` earlier working orders on the same side close already.
    """
    closable = max(held, Decimal(0)) if side == "sell" else max(-held, Decimal(0))
    return max(quantity - max(closable - closed, Decimal(0)), Decimal(0))


def cost_price(side: str, order_type: str, limit: Decimal | None, stop: Decimal | None,
               market: Decimal | None) -> Decimal | None:  # fmt: skip
    """The price buying power counts an order at: the most it may fill at, as far as is known.

    A buy limit (stop-limit) never pays more than its limit; any other order may fill at the market
    whatever its limit or stop says, so it counts at the largest of them. None: no price is known.
    """
    if side == "buy" and order_type in ("limit", "stop_limit") and limit is not None:
        return limit
    return max((price for price in (limit, stop, market) if price is not None), default=None)


def average(
    old: Decimal, old_avg: Decimal | None, signed: Decimal, price: Decimal | None, new: Decimal
) -> Decimal | None:
    """Average entry price after a fill: weighted when adding, kept when reducing, reset when flipping."""
    if new == 0:
        return None
    if old == 0 or (old > 0) != (new > 0):
        return price
    if (old > 0) == (signed > 0):
        if old_avg is None or price is None:
            return None
        return (old * old_avg + signed * price) / new
    return old_avg


def day_order_expiry(created: datetime, close: time, zone: str) -> datetime:
    """When a day order placed at `created` expires: this session's close, or the next one's after the close."""
    local = created.astimezone(ZoneInfo(zone))
    expiry = local.replace(hour=close.hour, minute=close.minute, second=close.second, microsecond=0)
    if local >= expiry:
        expiry += timedelta(days=1)
    while expiry.weekday() >= 5:  # no session on weekends
        expiry += timedelta(days=1)
    return expiry


class DayCloses:
    """`day_order_expiry` for one session close and time zone, worked out once per session, not per order.

    The close it returns is the first weekday close after `created`, so every order placed between the
    moment it was worked out for and that close gets the same one; a clock stepped back works it out again.
    """

    def __init__(self, close: time, zone: str) -> None:
        self.close = close
        self.zone = zone
        self._known: tuple[datetime, datetime] | None = None  # (worked out for, its close)

    def after(self, created: datetime) -> datetime:
        """When a day order placed at `created` expires."""
        known = self._known
        if known is not None and known[0] <= created < known[1]:
            return known[1]
        expiry = day_order_expiry(created, self.close, self.zone)
        self._known = (created, expiry)
        return expiry
