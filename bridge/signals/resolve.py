"""The decision table (design §7) as a pure function: signal + position + open orders -> plan."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bridge.config.schema import Subscription
from bridge.models import Order, OrderType, Side, Signal

PlanState = Literal["executed", "ignored", "rejected"]


@dataclass(frozen=True)
class Leg:
    """One order the plan will place: the exit always runs before the entry."""

    kind: Literal["exit", "entry"]
    side: Side
    quantity: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = "day"


@dataclass(frozen=True)
class Plan:
    """What one subscription does with one signal, and the sentence that explains it."""

    state: PlanState
    decision: str
    cancel: tuple[str, ...] = ()
    legs: tuple[Leg, ...] = ()


def fmt(quantity: Decimal) -> str:
    """A quantity without trailing zeros (`5`, `0.25`)."""
    text = format(quantity.normalize(), "f")
    return text


def describe_position(quantity: Decimal) -> str:
    """`flat`, `long 5` or `short 5`."""
    if quantity > 0:
        return f"long {fmt(quantity)}"
    if quantity < 0:
        return f"short {fmt(-quantity)}"
    return "flat"


def _side_allowed(sub: Subscription, direction: Literal["long", "short"]) -> bool:
    return sub.sides in ("both", direction)


def _entry_quantity(signal: Signal, sub: Subscription) -> tuple[Decimal, str]:
    if signal.quantity is not None and sub.use_signal_quantity:
        return signal.quantity, "signal quantity"
    return sub.sizing.value, f"{sub.sizing.type} {fmt(sub.sizing.value)}"


def _priced(kind: Literal["exit", "entry"], side: Side, qty: Decimal, signal: Signal, sub: Subscription) -> Leg | str:
    """Build a leg with the order type the signal (or, for entries, the subscription) asks for."""
    order_type: OrderType = signal.order_type or (sub.order_type if kind == "entry" else "market")
    tif = signal.time_in_force or "day"
    limit = signal.limit_price if signal.limit_price is not None else signal.price
    if order_type in ("limit", "stop_limit") and limit is None:
        return f"a {order_type} {kind} needs limitPrice or price in the signal"
    if order_type in ("stop", "stop_limit") and signal.stop_price is None:
        return f"a {order_type} {kind} needs stopPrice in the signal"
    if order_type == "trailing_stop":
        return "trailing_stop orders are not supported by this version"
    return Leg(
        kind=kind,
        side=side,
        quantity=qty,
        order_type=order_type,
        limit_price=limit if order_type in ("limit", "stop_limit") else None,
        stop_price=signal.stop_price if order_type in ("stop", "stop_limit") else None,
        time_in_force=tif,
    )


def _plan(head: str, legs: list[Leg | str], done: list[str], cancel: tuple[str, ...] = ()) -> Plan:
    problems = [leg for leg in legs if isinstance(leg, str)]
    if problems:
        return Plan("rejected", f"{head}: rejected, {problems[0]}")
    return Plan("executed", f"{head}: {', '.join(done)}", cancel, tuple(leg for leg in legs if isinstance(leg, Leg)))


def resolve(signal: Signal, position: Decimal, open_orders: list[Order], sub: Subscription) -> Plan:
    """Decide the orders for one subscription; pure, so every row of the table is a unit test."""
    head = signal.action + (f" {signal.sentiment}" if signal.sentiment else "")
    head = f"{head} while {describe_position(position)}"
    if sub.sides != "both":
        head += f", sides={sub.sides}"
    if signal.action == "cancel":
        ids = tuple(o.client_order_id for o in open_orders if o.is_open and o.symbol == signal.ticker)
        if not ids:
            return Plan("rejected", f"{head}: rejected, no open orders for {signal.ticker} to cancel")
        return Plan("executed", f"{head}: canceled {len(ids)} open order{'s' if len(ids) > 1 else ''}", ids)
    if signal.action == "exit":
        return _exit(signal, position, sub, head, signal.quantity)
    if signal.action == "add":
        if position == 0:
            return Plan("rejected", f"{head}: rejected, no position to add to")
        side: Side = "buy" if position > 0 else "sell"
        qty, why = _entry_quantity(signal, sub)
        return _plan(head, [_priced("entry", side, qty, signal, sub)], [f"added {fmt(qty)} ({why})"])
    return _directional(signal, position, sub, head)


def _exit(signal: Signal, position: Decimal, sub: Subscription, head: str, wanted: Decimal | None) -> Plan:
    if position == 0:
        return Plan("rejected", f"{head}: rejected, no position to exit")
    held = abs(position)
    qty = min(wanted, held) if wanted is not None else held
    side: Side = "sell" if position > 0 else "buy"
    verb = "sold" if side == "sell" else "covered"
    rest = held - qty
    tail = f", still {describe_position(position - qty if position > 0 else position + qty)}" if rest else ""
    return _plan(head, [_priced("exit", side, qty, signal, sub)], [f"{verb} {fmt(qty)}{tail}"])


def _directional(signal: Signal, position: Decimal, sub: Subscription, head: str) -> Plan:
    side: Side = "buy" if signal.action == "buy" else "sell"
    direction: Literal["long", "short"] = "long" if side == "buy" else "short"
    holding_same = (position > 0) if side == "buy" else (position < 0)
    holding_opposite = (position < 0) if side == "buy" else (position > 0)
    opposite_word = "bearish" if side == "buy" else "bullish"

    if signal.sentiment == "flat":
        if not holding_opposite:
            return Plan("rejected", f"{head}: rejected, no {'short' if side == 'buy' else 'long'} position to exit")
        return _exit(signal, position, sub, head, None)
    if signal.sentiment == opposite_word:
        # buy + bearish / sell + bullish: a partial exit that keeps the position's side.
        if not holding_opposite:
            return Plan("rejected", f"{head}: rejected, no {'short' if side == 'buy' else 'long'} position to reduce")
        return _exit(signal, position, sub, head, signal.quantity)

    qty, why = _entry_quantity(signal, sub)
    if holding_same:
        if not sub.allow_add:
            return Plan("ignored", f"{head}: ignored, already {direction} and allow_add is off")
        return _plan(head, [_priced("entry", side, qty, signal, sub)], [f"added {fmt(qty)} ({why})"])
    if position == 0:
        if not _side_allowed(sub, direction):
            return Plan("rejected", f"{head}: rejected, {direction} entries are off (sides={sub.sides})")
        return _plan(head, [_priced("entry", side, qty, signal, sub)], [f"opened {direction} {fmt(qty)} ({why})"])
    # Holding the opposite side: exit it, then enter only when swapping is allowed for this side.
    held = abs(position)
    verb = "covered" if side == "buy" else "sold"
    exit_leg = _priced("exit", side, held, signal, sub)
    if not sub.allow_swap or not _side_allowed(sub, direction):
        reason = "allow_swap is off" if not sub.allow_swap else f"sides={sub.sides}"
        return _plan(head, [exit_leg], [f"{verb} {fmt(held)}, no {direction} opened ({reason})"])
    entry_leg = _priced("entry", side, qty, signal, sub)
    return _plan(head, [exit_leg, entry_leg], [f"{verb} {fmt(held)}", f"opened {direction} {fmt(qty)} ({why})"])
