"""The decision table (design §7) as a pure function: signal + position + open orders + settings -> plan."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal, NamedTuple

from bridge.config.schema import Subscription
from bridge.config.trading import StopLossDefault, TakeProfitDefault, by_symbol, in_windows
from bridge.models import Order, OrderType, Side, Signal, StopLoss, TakeProfit, same_symbol
from bridge.signals.pricing import (
    LegPrices,
    PricingError,
    never_triggers,
    off_step,
    round_price,
    stop_loss_leg,
    take_profit_leg,
)
from bridge.signals.sizing import (
    Inputs,
    SizingError,
    entry_quantity,
    exit_quantity,
    fmt,
    round_quantity,
    uses_signal_quantity,
)

PlanState = Literal["executed", "ignored", "rejected"]
# TradingView's exchange prefix: letters, digits and underscores (NASDAQ, BINANCE, CME_MINI), then a colon.
_EXCHANGE_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]*:(?=.)")
LegKind = Literal["exit", "entry", "breakeven"]
_STOPS = ("stop", "stop_limit", "trailing_stop")  # the order types a breakeven's stop takes the place of
__all__ = ["Leg", "Market", "Plan", "bare_ticker", "broker_symbol", "describe_position", "fmt", "resolve"]


@dataclass(frozen=True)
class Leg:
    """One order the plan will place: the exit always runs before the entry."""

    kind: LegKind
    side: Side
    quantity: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = "day"
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    take_profit: LegPrices | None = None
    stop_loss: LegPrices | None = None
    # A breakeven's: the client order id of the working stop it takes the place of in one step at the venue.
    replaces: str | None = None


class _Terms(NamedTuple):
    """How a leg is sent, its size aside: an entry's size and brackets are worked out from these."""

    order_type: OrderType
    limit_price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    trail_amount: Decimal | None
    trail_percent: Decimal | None
    extended_hours: bool

    def leg(self, kind: LegKind, side: Side, qty: Decimal, take_profit: LegPrices | None = None,
            stop_loss: LegPrices | None = None) -> Leg:  # fmt: skip
        """The leg sent on these terms."""
        return Leg(kind, side, qty, self.order_type, self.limit_price, self.stop_price, self.time_in_force,
                   self.trail_amount, self.trail_percent, self.extended_hours, take_profit, stop_loss)  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """What one subscription does with one signal, and the sentence that explains it."""

    state: PlanState
    decision: str
    cancel: tuple[str, ...] = ()
    legs: tuple[Leg, ...] = ()
    # Of `cancel`, the working stops a breakeven moves: where the venue takes two stops at once, they are canceled
    # only once the new stop works, so the position is never left without one (`Executor._execute`).
    moves: tuple[str, ...] = ()


@dataclass(frozen=True)
class Market:
    """What the broker says besides the position: used for sizing, brackets, windows and breakeven."""

    avg_price: Decimal | None = None
    equity: Decimal | None = None
    quote: Decimal | None = None
    now: datetime | None = None
    brackets: bool = True
    quantity_step: Decimal | None = None  # the venue's lot step for the symbol (a crypto market's), if it says
    price_step: Decimal | None = None  # the symbol's price increment (`tick_size`, or the venue's), if known
    reserves_position: bool = False  # the venue holds the shares for working closing orders (Alpaca)
    replaces: bool = False  # the broker replaces a working order in one step (its `replace_order`)
    fractional_day_only: bool = False  # the venue takes a fractional quantity for the day only (Alpaca's stocks)
    takes_gtc: bool = True  # the broker declares time_in_force gtc (`Capabilities.time_in_force`)


class Refusal(Exception):
    """Stops planning with a state and the reason (`rejected, ...`)."""

    def __init__(self, state: PlanState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


def describe_position(quantity: Decimal) -> str:
    """`flat`, `long 5` or `short 5`."""
    if quantity > 0:
        return f"long {fmt(quantity)}"
    if quantity < 0:
        return f"short {fmt(-quantity)}"
    return "flat"


def bare_ticker(ticker: str) -> str:
    """`AMD` of `NASDAQ:AMD`: TradingView's EXCHANGE:SYMBOL (Pine's `syminfo.tickerid`, `{{exchange}}:{{ticker}}`).

    No broker takes the prefix, and the same position arrives bare from `{{ticker}}`. A ccxt swap symbol such as
    `BTC/USDT:USDT` has its colon after the pair, so it is left as it is.
    """
    match = _EXCHANGE_PREFIX.match(ticker)
    return ticker[match.end() :] if match else ticker


def _mapped(sub: Subscription, ticker: str) -> str | None:
    """The `ticker_map` entry for `ticker`, its key matched exactly, else ignoring case."""
    return by_symbol(sub.ticker_map, ticker)


def broker_symbol(sub: Subscription, ticker: str) -> str:
    """The broker's symbol for a signal's ticker (`ticker_map`, e.g. NQ1! -> MNQZ2026), matched ignoring case.

    `tickers` and `allowed_symbols` ignore case: a ticker they let through in other letters than the map's
    key must not reach the broker unmapped. A map key written with the exchange prefix wins; otherwise the
    prefix is dropped (`CME_MINI:NQ1!` maps as `NQ1!`, `NASDAQ:AMD` trades `AMD`).
    """
    bare = bare_ticker(ticker)
    mapped = _mapped(sub, ticker)
    if mapped is None and bare != ticker:
        mapped = _mapped(sub, bare)
    return bare if mapped is None else mapped


def _listed(sub: Subscription, ticker: str) -> bool:
    """Whether the subscription's `tickers` (if any) take this ticker, with or without its exchange prefix."""
    if sub.tickers is None:
        return True
    allowed = {t.upper() for t in sub.tickers}
    return ticker.upper() in allowed or bare_ticker(ticker).upper() in allowed


class _Planner:
    """Builds legs for one signal under one subscription's settings."""

    def __init__(self, signal: Signal, sub: Subscription, position: Decimal, market: Market) -> None:
        self.signal, self.sub, self.position, self.market = signal, sub, position, market

    def allowed(self, field: str) -> bool:
        return _overrides(self.signal, self.sub, field)

    def reference_price(self, order_type: OrderType) -> Decimal | None:
        """The price an entry is expected at: its limit, a stop order's stop, else the signal's price or the quote.

        A stop entry (a breakout) fills where it triggers, not at the alert's price: its take-profit, its
        stop-loss and a risk-based size count from there, or a take-profit could sit below a buy's fill.
        """
        s = self.signal
        if order_type in ("limit", "stop_limit") and s.limit_price is not None and self.allowed("limitPrice"):
            return s.limit_price
        if order_type == "stop" and s.stop_price is not None and self.allowed("stopPrice"):
            return s.stop_price
        return s.price if s.price is not None else self.market.quote

    def limit_price(self, order_type: OrderType, side: Side) -> Decimal | None:
        """A limit (or stop-limit) order's limit: the sender's price as sent, else a limit's at the quote on the tick.

        A quote is often off the tick (Alpaca's bid/ask midpoint of 100.00 and 100.01 is 100.005, a sub-penny
        limit it refuses), so it is rounded the way TradersPost rounds: down for buys, up for sells.
        """
        if order_type not in ("limit", "stop_limit"):
            return None
        s = self.signal
        if s.limit_price is not None and self.allowed("limitPrice"):
            return self.reference_price(order_type)
        if s.price is not None:  # the alert's price, not a limit chosen by its sender: on the step, never worse
            price = self.reference_price(order_type)
            step = self.market.price_step
            return price if step is None or price is None else round_price(price, side, step)
        quote = self.market.quote
        # A stop-limit's limit is the sender's, as parsing demands of a signal's own stop_limit: the quote is on
        # the wrong side of a stop away from the market (a buy stop above it), so once triggered it never fills.
        return None if quote is None or order_type == "stop_limit" else round_price(quote, side, self.market.price_step)

    def leg(self, kind: LegKind, side: Side, qty: Decimal) -> Leg:
        """A leg of `qty`, sent as the signal and the settings say (`terms`)."""
        return self.terms(kind, side).leg(kind, side, qty)

    def terms(self, kind: LegKind, side: Side) -> _Terms:
        """How a leg is sent (its type, prices, time in force), before its size is known; or Refusal."""
        s, sub = self.signal, self.sub
        default: OrderType = sub.order_type if kind == "entry" else sub.exit_order_type
        order_type: OrderType = s.order_type if s.order_type and self.allowed("orderType") else default
        extended = s.extended_hours if s.extended_hours is not None and self.allowed("extendedHours") else None
        extended = sub.extended_hours if extended is None else extended
        if extended and order_type == "market":
            order_type = "limit"  # extended hours only take limit orders: a market order becomes a limit at the price
        if extended and order_type != "limit":
            raise Refusal("rejected", f"extended hours need limit orders, not {order_type}")
        limit = self.limit_price(order_type, side)
        if order_type in ("limit", "stop_limit") and limit is None:
            why = (": its limit is never taken from the broker's quote" if order_type == "stop_limit"
                   else " (the broker gave no quote)")  # fmt: skip
            raise Refusal("rejected", f"a {order_type} {kind} needs limitPrice or price in the signal{why}")
        stop = s.stop_price if order_type in ("stop", "stop_limit") and self.allowed("stopPrice") else None
        if order_type in ("stop", "stop_limit") and stop is None:
            raise Refusal("rejected", f"a {order_type} {kind} needs stopPrice in the signal")
        self.on_step("limitPrice", limit)
        self.on_step("stopPrice", stop)
        if kind == "exit" and order_type == "stop_limit" and (past := _limit_past_stop(side, limit, stop)):
            raise Refusal("rejected", past)
        trail_amount = trail_percent = None
        if order_type == "trailing_stop":
            from_signal = (s.trail_amount is not None and self.allowed("trailAmount")) or (
                s.trail_percent is not None and self.allowed("trailPercent")
            )
            trail_amount = s.trail_amount if from_signal else sub.trail_amount
            trail_percent = s.trail_percent if from_signal else sub.trail_percent
            if trail_amount is None and trail_percent is None:
                raise Refusal("rejected", f"a trailing_stop {kind} needs trailAmount or trailPercent")
            if trail_percent is not None and never_triggers(side, trail_percent):
                raise Refusal("rejected", f"a trailing_stop sell {fmt(trail_percent)}% below the price would sit at or "
                              "below zero and never trigger: trail by less than 100%")  # fmt: skip
        tif = s.time_in_force if s.time_in_force and self.allowed("timeInForce") else sub.time_in_force
        return _Terms(order_type, limit, stop, tif, trail_amount, trail_percent, bool(extended))

    def on_step(self, field: str, price: Decimal | None) -> None:
        """Refuse a price the sender chose between two of the instrument's increments: the venue would refuse it."""
        step = self.market.price_step
        if price is not None and step is not None and off_step(price, step):
            raise Refusal("rejected", f"{field} {fmt(price)} is between two price steps of {fmt(step)} (the "
                          "tick_size, or the broker's): send a price on the step")  # fmt: skip

    def entry(self, side: Side, qty: Decimal | None = None) -> tuple[Leg, str]:
        """The entry leg with its size and bracket children, and how it was sized."""
        long = side == "buy"
        terms = self.terms("entry", side)  # the leg is made once its size is known: one of its fields less to copy
        # A limit entry is expected at its limit as sent (a quote rounded to the tick, say): brackets and size too.
        entry_price = terms.limit_price if terms.limit_price is not None else self.reference_price(terms.order_type)
        tp_spec: TakeProfit | TakeProfitDefault | None = self.sub.take_profit
        sl_spec: StopLoss | StopLossDefault | None = self.sub.stop_loss
        if self.allowed("takeProfit") and self.signal.take_profit:
            tp_spec = self.signal.take_profit
        if self.allowed("stopLoss") and self.signal.stop_loss:
            sl_spec = self.signal.stop_loss
        try:
            step = self.market.price_step
            tp = take_profit_leg(tp_spec, entry_price, long, step) if tp_spec else None
            sl = stop_loss_leg(sl_spec, entry_price, long, step) if sl_spec else None
        except PricingError as exc:
            raise Refusal("rejected", str(exc)) from None
        self.on_step("takeProfit.limitPrice", tp.limit_price if tp else None)  # the sender's, as the rest are on it
        self.on_step("stopLoss.stopPrice", sl.stop_price if sl else None)
        self.on_step("stopLoss.limitPrice", sl.limit_price if sl else None)
        if (tp or sl) and not self.market.brackets:
            raise Refusal("rejected", "this broker takes no take-profit/stop-loss legs; remove them or switch broker")
        how = ""
        if qty is None:
            trailing = sl is not None and sl.type == "trailing_stop"
            inputs = Inputs(entry_price, self.market.equity, self.position, sl.stop_price if sl else None,
                            self.market.quantity_step, trailing)  # fmt: skip
            try:
                qty, how = entry_quantity(self.signal, self.sub, inputs, self.allowed("quantityType"))
            except SizingError as exc:
                raise Refusal("rejected", str(exc)) from None
        if tp or sl:
            terms = terms._replace(time_in_force=self.legs_time_in_force(terms, qty))
        return terms.leg("entry", side, qty, tp, sl), how

    def legs_time_in_force(self, entry: _Terms, qty: Decimal) -> str:
        """gtc for an entry with take-profit/stop-loss legs and no time in force set: day legs expire at the close.

        The legs share their entry's time in force (Alpaca's bracket has one), so the entry goes gtc too: a day
        bracket's stop-loss left the position it opened without a stop overnight, and nothing said so. Kept as it is
        where the signal or the subscription sets one, for extended hours (day limit orders only), and for a
        fractional quantity where the venue takes it for the day only (Alpaca), and where the broker declares no gtc
        (its check passed the default, day, and a gtc entry would be refused): the decision says the legs expire.
        """
        signal_set = bool(self.signal.time_in_force) and self.allowed("timeInForce")
        chosen = signal_set or "time_in_force" in self.sub.model_fields_set
        day_only = self.market.fractional_day_only and qty != qty.to_integral_value()
        if chosen or entry.time_in_force != "day" or entry.extended_hours or day_only or not self.market.takes_gtc:
            return entry.time_in_force
        return "gtc"

    def exit(self, wanted_all: bool = False) -> Leg:
        price = self.signal.price if self.signal.price is not None else self.market.quote
        try:
            qty = abs(self.position) if wanted_all else exit_quantity(
                self.signal, self.sub, self.position, self.allowed("quantityType"), price, self.market.quantity_step
            )  # fmt: skip
        except SizingError as exc:
            raise Refusal("rejected", str(exc)) from None
        if qty <= 0:
            raise Refusal("rejected", "the exit quantity rounds to zero")
        return self.leg("exit", "sell" if self.position > 0 else "buy", qty)


def _limit_past_stop(side: Side, limit: Decimal | None, stop: Decimal | None) -> str | None:
    """Why a stop-limit exit would not close the position: its limit past its stop, away from where it triggers.

    Once the price runs through the stop, a sell limit above it (a buy limit below it) is not marketable: the
    exit triggers and never fills, as a stop-loss's limit on that side would not (`pricing._stop_limit`).
    """
    if limit is None or stop is None or (limit <= stop if side == "sell" else limit >= stop):
        return None
    where, move, bound = ("above", "falls", "below") if side == "sell" else ("below", "rises", "above")
    return (f"a stop_limit exit's limit {fmt(limit)} is {where} its stop {fmt(stop)}: once the price {move} to the "
            f"stop, a {side} limit there would not fill and the position would stay open; send a limitPrice at or "
            f"{bound} the stop")  # fmt: skip


def is_share_exit(signal: Signal) -> bool:
    """Whether `signal` is flatten_at's exit of a subscription's own share of a position, not of all of it.

    The exit of all of it cancels every order there (`cancel: true`). A share's quantity is what it came to when the
    flatten queued it, if any; the executor sizes it again from the journal as it runs (`Executor._share`), and it
    cancels the subscription's own working orders only.
    """
    return signal.scheduled and signal.action == "exit" and signal.cancel is not True


def _overrides(signal: Signal, sub: Subscription, field: str) -> bool:
    """Whether the signal's `field` beats the subscription's setting: `allow_signal_overrides` says, for signals
    that were sent. The schedule's own (flatten_at: a market exit that cancels the ticker's orders) always does:
    otherwise a resting order it was to cancel would stay, and could open a position after the flatten."""
    return signal.scheduled or field in sub.allow_signal_overrides


def _closes_all(plan: Plan, position: Decimal) -> bool:
    """Whether the plan closes the whole position (an exit of all of it, alone or before a reversal's entry)."""
    return position != 0 and any(leg.kind == "exit" and leg.quantity >= abs(position) for leg in plan.legs)


def _kept(signal: Signal, sub: Subscription) -> bool:
    """The signal's `cancel: false`, where the subscription lets the signal decide."""
    return signal.cancel is False and _overrides(signal, sub, "cancel")


def _cancellable(signal: Signal, sub: Subscription, position: Decimal, open_orders: list[Order], symbol: str,
                 closes_all: bool, own: tuple[str, ...] = ()) -> tuple[str, ...]:  # fmt: skip
    """Open orders to cancel before trading: forced by the signal, or by `cancel_open_orders` when flat, reversing
    or closing the whole position (an exit of all of it cancels like a sell while long; a partial one does not).

    A sell that only reduces a long (bullish, or a percent of it) is such a partial exit, not a reversal: its
    take-profit and stop-loss still protect what is left. Where the venue holds the shares for them (Alpaca) the
    part cannot be sold beside them, and is refused before anything is canceled (`_held_beside`).

    flatten_at's exit of a subscription's share cancels `own`, that subscription's working orders, and no other
    strategy's: its take-profit and stop-loss protect the rest of the position (`_orphaned` still takes those
    that would open the other side once the share closes all of it).
    """
    if is_share_exit(signal):
        return own
    ours = [o for o in open_orders if o.is_open and same_symbol(o.symbol, symbol)]
    force = signal.cancel if signal.cancel is not None and _overrides(signal, sub, "cancel") else None
    if force is False or not ours:
        return ()
    opposite = (position < 0) if signal.action == "buy" else (position > 0) if signal.action == "sell" else False
    opposite = opposite and not _is_exit_only(signal, position, sub)
    if force or (sub.cancel_open_orders and (position == 0 or opposite or closes_all or signal.action == "reverse")):
        return tuple(o.client_order_id for o in ours)
    return ()


def _orphaned(plan: Plan, signal: Signal, sub: Subscription, position: Decimal, open_orders: list[Order],
              symbol: str) -> tuple[str, ...]:  # fmt: skip
    """The working orders on the closing side of a position the plan closes in full: its take-profit, its stop.

    Left working after the exit, the first of them to fill would open a position on the other side. The
    legs of an entry still working are left alone where the broker says which they are: they protect the
    position that entry may open. Only a signal's `cancel: false` keeps them (`_cancellable` gave it its say).
    """
    if plan.state != "executed" or _kept(signal, sub) or not _closes_all(plan, position):
        return ()
    closing = "sell" if position > 0 else "buy"
    working = {o.client_order_id for o in open_orders if o.is_open}
    return tuple(
        o.client_order_id for o in open_orders
        if o.is_open and same_symbol(o.symbol, symbol) and o.side == closing and o.parent_client_order_id not in working
    )  # fmt: skip


def _replaced(plan: Plan, signal: Signal, sub: Subscription, position: Decimal, open_orders: list[Order],
              symbol: str) -> tuple[str, ...]:  # fmt: skip
    """The position's working stops a breakeven moves: its bracket stop-loss and any earlier breakeven stop.

    A breakeven moves the stop, as a cancel and a new stop did before the action existed. Left working beside
    the new one, a gap through both fills both and opens the other side (a broker that holds the shares for
    the old one refuses the new one). The take-profit stays, and so do the legs of an entry still working: they
    protect the position that entry may open. Only a signal's `cancel: false` keeps them.
    """
    if signal.action != "breakeven" or plan.state != "executed" or _kept(signal, sub) or position == 0:
        return ()
    closing = "sell" if position > 0 else "buy"
    working = {o.client_order_id for o in open_orders if o.is_open}
    return tuple(
        o.client_order_id for o in open_orders
        if o.is_open and same_symbol(o.symbol, symbol) and o.side == closing and o.type in _STOPS
        and o.parent_client_order_id not in working
    )  # fmt: skip


def _in_place(plan: Plan, moves: tuple[str, ...], open_orders: list[Order], market: Market,
              cancels: tuple[str, ...]) -> Plan | None:  # fmt: skip
    """The breakeven plan moving the one stop it replaces in one step at the venue (`replace_order`), or None.

    There the old stop works until the new one does, and a refused replace leaves it as it was: the position
    is never without a stop, and a take-profit the venue holds the shares for stays beside it. A replace
    changes prices, quantity and time in force, not the type, so only a stop of the breakeven's own type, and
    not a bracket's stop-loss whose take-profit the plan cancels (`cancels`, the signal's `cancel: true`): a
    bracket's legs cancel together (Alpaca's do), so the stop-loss would be gone before its replace reached it.

    Nor a bracket's leg for another quantity than the breakeven's (a position added to, or partly closed, since):
    a leg's replace changes its prices only ("Orders at Alpaca", Bracket Orders), so it is canceled and a stop for
    the position placed instead, where the venue takes it (`_reserved_beside` says when not, before anything goes).
    Nor any other quantity change where either quantity is fractional: a replace changes whole shares only ("Replace
    an Order": the quantity of a fractional order may not change), so it would be refused with the stop unmoved.
    """
    if not market.replaces or len(moves) != 1:
        return None
    leg = plan.legs[0]
    old = next((o for o in open_orders if o.client_order_id == moves[0]), None)
    if old is None or old.type != leg.order_type:
        return None
    parent = old.parent_client_order_id
    if old.quantity != leg.quantity and (parent is not None or old.quantity % 1 or leg.quantity % 1):
        return None
    if parent is not None and any(o.client_order_id in cancels and o.parent_client_order_id == parent
                                  for o in open_orders if o is not old):  # fmt: skip
        return None
    at = f" at {fmt(old.stop_price)}" if old.stop_price is not None else ""
    decision = plan.decision.replace(": stop at breakeven", f": moved the stop{at} to breakeven", 1)
    return replace(plan, legs=(replace(leg, replaces=old.client_order_id),), decision=decision)


def _reserved_beside(plan: Plan, signal: Signal, market: Market, open_orders: list[Order], symbol: str,
                     cancels: tuple[str, ...]) -> str | None:  # fmt: skip
    """Why a breakeven cannot go where the venue holds the shares for a closing order it leaves working.

    There (Alpaca) the breakeven stop would be refused beside the take-profit, after the stop-loss it replaces
    was canceled: the position would be left with no stop at all. So nothing is canceled or sent. The legs of
    an entry still working hold nothing until it fills, so they never stand in the way.
    """
    if signal.action != "breakeven" or plan.state != "executed" or not market.reserves_position:
        return None
    closing = plan.legs[0].side
    working = {o.client_order_id for o in open_orders if o.is_open}
    kept = [o for o in open_orders
            if o.is_open and same_symbol(o.symbol, symbol) and o.side == closing and o.client_order_id not in cancels
            and o.parent_client_order_id not in working]  # fmt: skip
    if not kept:
        return None
    order = kept[0]
    price = order.limit_price if order.limit_price is not None else order.stop_price
    at = f" at {fmt(price)}" if price is not None else ""
    return (
        f"the broker holds the position for the working {order.type} {order.side} of {fmt(order.quantity)}{at} "
        "(a take-profit or an exit) and would refuse a breakeven stop beside it, with the stop-loss already "
        f"canceled; cancel that order first (action cancel, cancelOrderType {order.type}), then send the breakeven"
        + (
            " (a bracket's legs cancel together at some brokers, Alpaca's included: its stop-loss goes with it, and is "
            "put back as a new stop, which the breakeven then moves)"
            if order.parent_client_order_id
            else ""
        )
    )


def _held_beside(plan: Plan, market: Market, position: Decimal, open_orders: list[Order], symbol: str,
                 cancels: tuple[str, ...]) -> str | None:  # fmt: skip
    """Why a partial exit cannot go where the venue holds the shares for the closing orders it leaves working.

    There (Alpaca: "insufficient qty available") the exit would be refused beside the position's take-profit and
    stop-loss. Canceling them for it would leave the rest of the position without its stop, and they cannot be
    put back as they were (a bracket's two legs share the shares; apart, the second is refused beside the first).
    So nothing is canceled or sent, and the trader is told how to do it. An exit of the whole position cancels
    them itself, unless the signal's `cancel: false` keeps them: then it is refused the same way. The legs of an
    entry still working hold nothing until it fills; a bracket's two legs hold the shares once, as one of them
    cancels the other.
    """
    if plan.state != "executed" or not market.reserves_position or position == 0:
        return None
    exits = [leg for leg in plan.legs if leg.kind == "exit"]
    if not exits:
        return None
    closing = exits[0].side
    working = {o.client_order_id for o in open_orders if o.is_open}
    kept = [o for o in open_orders
            if o.is_open and same_symbol(o.symbol, symbol) and o.side == closing and o.client_order_id not in cancels
            and o.parent_client_order_id not in working]  # fmt: skip
    held: dict[str, Decimal] = {}
    for o in kept:
        key = o.parent_client_order_id or o.client_order_id
        held[key] = max(held.get(key, Decimal(0)), max(o.quantity - o.filled_quantity, Decimal(0)))
    available = max(abs(position) - sum(held.values(), Decimal(0)), Decimal(0))
    wanted = exits[0].quantity
    if wanted <= available:
        return None
    verb = "sell" if closing == "sell" else "buy back"
    if _closes_all(plan, position):
        return (
            f"the broker holds {fmt(abs(position) - available)} of the position for its working {_described(kept)} "
            f'and would refuse to {verb} {fmt(wanted)} beside them, which the signal\'s "cancel": false keeps; '
            "nothing was sent. Send it without that: a signal that closes the whole position cancels them itself"
        )
    return (
        f"the broker holds {fmt(abs(position) - available)} of the position for its working {_described(kept)} "
        f"(a take-profit, a stop-loss or an exit) and would refuse to {verb} {fmt(wanted)} beside them, with "
        f"{fmt(available)} available; canceling them would leave the rest of the position without its stop, so "
        "nothing was canceled or sent. To exit part of it: cancel them (action cancel), send the exit with its "
        "quantity, then place a new stop for what is left; or exit the whole position, which cancels them itself"
    )


def _unprotected(plan: Plan, position: Decimal, open_orders: list[Order], symbol: str,
                 cancels: tuple[str, ...]) -> str:  # fmt: skip
    """What the decision adds when a partial exit cancels the position's stop (`cancel: true`): the rest has none.

    Told to, the bridge does it, but never silently: what is left holds no stop unless the trader places one.
    """
    if position == 0 or _closes_all(plan, position) or not any(leg.kind == "exit" for leg in plan.legs):
        return ""
    closing = "sell" if position > 0 else "buy"
    working = {o.client_order_id for o in open_orders if o.is_open}
    stops = [o for o in open_orders
             if o.is_open and same_symbol(o.symbol, symbol) and o.side == closing and o.type in _STOPS
             and o.parent_client_order_id not in working]  # fmt: skip
    if not stops or any(o.client_order_id not in cancels for o in stops):
        return ""
    return "; what is left has no stop-loss working now (the signal's cancel took it): place a new stop for it"


def _described(orders: list[Order]) -> str:
    """The orders as a trader reads them: `limit sell of 10 at 120 and stop sell of 10 at 95`."""

    def one(order: Order) -> str:
        price = order.limit_price if order.type == "limit" or order.stop_price is None else order.stop_price
        at = f" at {fmt(price)}" if price is not None else ""
        return f"{order.type} {order.side} of {fmt(order.quantity - order.filled_quantity)}{at}"

    return " and ".join(one(o) for o in orders)


def _percent_of_position(signal: Signal, sub: Subscription) -> bool:
    """Whether the signal's quantity counts, as a percent of the position: it sizes part of what is held."""
    allowed = _overrides(signal, sub, "quantityType")
    return signal.quantity_type == "percent_of_position" and uses_signal_quantity(signal, sub, allowed)


def _is_exit_only(signal: Signal, position: Decimal, sub: Subscription) -> bool:
    """Signals whose only possible effect is to reduce a position (or cancel orders)."""
    reducing = {"buy": "bearish", "sell": "bullish"}
    opposite = (position < 0) if signal.action == "buy" else (position > 0) if signal.action == "sell" else False
    return (
        signal.action in ("exit", "cancel", "breakeven")
        or signal.sentiment == "flat"
        or (signal.action in reducing and signal.sentiment == reducing[signal.action])
        or (opposite and _percent_of_position(signal, sub))  # a part of the position: see _directional
    )


def resolve(signal: Signal, position: Decimal, open_orders: list[Order], sub: Subscription,
            market: Market | None = None, own: tuple[str, ...] = ()) -> Plan:  # fmt: skip
    """Decide the orders for one subscription; pure, so every row of the table is a unit test.

    `own`: the subscription's working orders in the symbol, which flatten_at's exit of its share cancels.
    """
    market = market or Market()
    head = signal.action + (f" {signal.sentiment}" if signal.sentiment else "")
    head = f"{head} while {describe_position(position)}"
    if sub.sides != "both":
        head += f", sides={sub.sides}"
    if not signal.scheduled and not _listed(sub, signal.ticker):  # the flatten closes what was traded before
        return Plan("rejected", f"{head}: rejected, {signal.ticker} is not in this subscription's tickers")
    exit_only = _is_exit_only(signal, position, sub)
    if sub.ignore_exits and exit_only and signal.action != "cancel" and not signal.scheduled:
        return Plan("ignored", f"{head}: ignored, exits are ignored (ignore_exits)")
    outside = bool(sub.trading_windows) and market.now is not None and not in_windows(sub.trading_windows, market.now)
    outside = outside and not signal.ignore_trading_windows  # the signal may bypass the windows
    if (
        outside
        and (not exit_only or not sub.allow_exits_outside_windows)
        and not _swap_exit_allowed(signal, sub, position)
    ):
        return Plan("ignored", f"{head}: ignored, outside the trading windows")
    planner = _Planner(signal, sub, position, market)
    symbol = broker_symbol(sub, signal.ticker)
    try:
        plan = _decide(signal, position, open_orders, sub, planner, head, symbol, entries_allowed=not outside)
    except Refusal as refusal:
        return Plan(refusal.state, f"{head}: {refusal.state}, {refusal.reason}")
    if signal.action == "cancel":
        return plan
    if lapsing := lapsing_legs(plan, market):  # a copy of the plan only where the decision says more
        plan = replace(plan, decision=plan.decision + lapsing)
    cancels = _cancellable(signal, sub, position, open_orders, symbol, _closes_all(plan, position), own)
    moves = _replaced(plan, signal, sub, position, open_orders, symbol)
    in_place = _in_place(plan, moves, open_orders, market, cancels)
    if in_place is not None:  # moved in one step: the stop itself is not canceled, even with `cancel: true`
        plan, moves = in_place, ()
        cancels = tuple(c for c in cancels if c != plan.legs[0].replaces)
    for more in (_orphaned(plan, signal, sub, position, open_orders, symbol), moves):
        cancels += tuple(c for c in more if c not in cancels)
    blocking = None if in_place else _reserved_beside(plan, signal, market, open_orders, symbol, cancels)
    blocking = blocking or _held_beside(plan, market, position, open_orders, symbol, cancels)
    if blocking is not None:
        return Plan("rejected", f"{head}: rejected, {blocking}")
    orders = f"{len(cancels)} open order{'s' if len(cancels) > 1 else ''}"
    if cancels and plan.state == "executed":
        bare = _unprotected(plan, position, open_orders, symbol, cancels)
        return replace(plan, cancel=cancels, moves=moves,
                       decision=plan.decision.replace(": ", f": canceled {orders}, ", 1) + bare)  # fmt: skip
    if cancels and plan.state == "rejected" and exit_only and position == 0:
        # Nothing to exit, but orders to cancel: the signal does that ("... and no orders to cancel, then the
        # signal will be rejected"), so a resting entry cannot fill after the strategy went flat.
        return Plan("executed", f"{head}: canceled {orders}, nothing to exit", cancels)
    return plan


def _day_legs(plan: Plan) -> tuple[Leg, ...]:
    """The plan's entries whose take-profit/stop-loss legs are day orders: they expire at the close."""
    return tuple(leg for leg in plan.legs if (leg.take_profit or leg.stop_loss) and leg.time_in_force == "day")


def _leg_names(leg: Leg) -> str:
    """`stop-loss`, `take-profit` or `take-profit and stop-loss`: an entry's legs, as a decision names them."""
    return " and ".join(name for name, on in (("take-profit", leg.take_profit), ("stop-loss", leg.stop_loss)) if on)


def lapsing_legs(plan: Plan, market: Market) -> str:
    """What the decision adds of an entry whose legs are day orders: that they expire at the close, and why."""
    for leg in _day_legs(plan):
        names = _leg_names(leg)
        plural = " and " in names
        if market.fractional_day_only and leg.quantity != leg.quantity.to_integral_value():
            why = "the broker takes a fractional quantity for the day only"
        elif not market.takes_gtc:
            why = "the broker takes no gtc orders"
        else:
            why = "time in force day"
        unprotected = ", leaving the position without a stop overnight" if leg.stop_loss else ""
        return (f"; its {names} {'are day orders' if plural else 'is a day order'} ({why}): "
                f"{'they expire' if plural else 'it expires'} at the close{unprotected}")  # fmt: skip
    return ""


def _swap_exit_allowed(signal: Signal, sub: Subscription, position: Decimal) -> bool:
    """Outside the windows a buy while short (sell while long) may still exit when exits are allowed."""
    opposite = (position < 0) if signal.action == "buy" else (position > 0) if signal.action in ("sell",) else False
    return sub.allow_exits_outside_windows and (opposite or (signal.action == "reverse" and position != 0))


def _decide(signal: Signal, position: Decimal, open_orders: list[Order], sub: Subscription, planner: _Planner,
            head: str, symbol: str, entries_allowed: bool) -> Plan:  # fmt: skip
    if signal.action == "cancel":
        wanted = signal.cancel_order_type
        ids = tuple(
            o.client_order_id for o in open_orders
            if o.is_open and same_symbol(o.symbol, symbol) and (wanted is None or o.type == wanted)
        )  # fmt: skip
        kind = f"{wanted} " if wanted else ""
        if not ids:
            return Plan("rejected", f"{head}: rejected, no open {kind}orders for {signal.ticker} to cancel")
        return Plan("executed", f"{head}: canceled {len(ids)} open {kind}order{'s' if len(ids) > 1 else ''}", ids)
    if signal.action == "exit":
        return _exit(planner, head)
    if signal.action == "breakeven":
        return _breakeven(planner, head)
    if signal.action == "add":
        if position == 0:
            return Plan("rejected", f"{head}: rejected, no position to add to")
        closed = _side_closed(sub, "long" if position > 0 else "short")
        if closed is not None:
            return Plan("rejected", f"{head}: rejected, {closed}")
        leg, how = planner.entry("buy" if position > 0 else "sell")
        return Plan("executed", f"{head}: added {fmt(leg.quantity)} ({how})", legs=(leg,))
    if signal.action == "reverse":
        return _reverse(planner, head, entries_allowed)
    return _directional(planner, head, entries_allowed)


def _side_closed(sub: Subscription, direction: str) -> str | None:
    """Why `sides` keeps an entry on `direction` from opening or adding, or None when it lets it.

    An add is an entry too: a position on a side the subscription does not trade (held before the setting
    changed, or opened by hand) may be reduced or closed, never grown.
    """
    if sub.sides in ("both", direction):
        return None
    return f"{direction} entries are off (sides={sub.sides})"


def _exit(planner: _Planner, head: str) -> Plan:
    position = planner.position
    if position == 0:
        return Plan("rejected", f"{head}: rejected, no position to exit")
    leg = planner.exit()
    verb = "sold" if leg.side == "sell" else "covered"
    rest = position - leg.quantity if position > 0 else position + leg.quantity
    tail = f", still {describe_position(rest)}" if rest else ""
    return Plan("executed", f"{head}: {verb} {fmt(leg.quantity)}{tail}", legs=(leg,))


def _breakeven(planner: _Planner, head: str) -> Plan:
    position, avg = planner.position, planner.market.avg_price
    if position == 0:
        return Plan("rejected", f"{head}: rejected, no position to protect")
    if avg is None:
        return Plan("rejected", f"{head}: rejected, the broker reports no average entry price")
    offset = planner.signal.breakeven_offset or Decimal(0)
    long = position > 0
    step = planner.market.price_step
    stop = round_price(avg + offset if long else avg - offset, "sell" if long else "buy", step)  # never worse
    if stop <= 0:  # a short's offset past its average price: no broker takes a stop (or a limit) at or below zero
        return Plan("rejected", f"{head}: rejected, breakeven stop {fmt(stop)} is not above zero: use a smaller "
                    "breakevenOffset")  # fmt: skip
    # A position not yet past its breakeven has no stop to move there: the stop would be triggered on arrival
    # and close it at the market, at a loss (or, refused by the venue, leave it with its stop-loss canceled).
    price = planner.signal.price if planner.signal.price is not None else planner.market.quote
    where, verb = ("at or below", "sell") if long else ("at or above", "buy")
    if price is None:  # not placed blind: the stops it replaces would be canceled for it, or left beside it
        return Plan("rejected", f"{head}: rejected, no price to check the breakeven stop {fmt(stop)} against (the "
                    f"signal has no price, and the broker gave no quote): were the market already {where} it, it "
                    f"would {verb} at once; send the price with the breakeven (TradingView: "
                    '"price": {{close}})')  # fmt: skip
    if price <= stop if long else price >= stop:
        return Plan("rejected", f"{head}: rejected, the price {fmt(price)} is already {where} the breakeven stop "
                    f"{fmt(stop)}, which would {verb} at once: nothing to move the stop to yet")  # fmt: skip
    kind: OrderType = "stop_limit" if planner.signal.order_type == "stop_limit" else "stop"
    tif = planner.signal.time_in_force or "gtc"
    leg = Leg("breakeven", "sell" if long else "buy", abs(position), kind,
              stop if kind == "stop_limit" else None, stop, tif)  # fmt: skip
    return Plan("executed", f"{head}: stop at breakeven {fmt(stop)} for {fmt(abs(position))}", legs=(leg,))


def _reverse(planner: _Planner, head: str, entries_allowed: bool) -> Plan:
    position = planner.position
    if position == 0:
        return Plan("rejected", f"{head}: rejected, no position to reverse")
    exit_leg = planner.exit(wanted_all=True)
    verb = "sold" if exit_leg.side == "sell" else "covered"
    if not entries_allowed:
        return Plan("executed", f"{head}: {verb} {fmt(exit_leg.quantity)}, no entry outside the trading windows",
                    legs=(exit_leg,))  # fmt: skip
    direction = "short" if position > 0 else "long"
    entry, how = planner.entry(exit_leg.side)
    done = f"{verb} {fmt(exit_leg.quantity)}, opened {direction} {fmt(entry.quantity)} ({how})"
    return Plan("executed", f"{head}: {done}", legs=(exit_leg, entry))


def _directional(planner: _Planner, head: str, entries_allowed: bool) -> Plan:
    signal, sub, position = planner.signal, planner.sub, planner.position
    side: Side = "buy" if signal.action == "buy" else "sell"
    direction = "long" if side == "buy" else "short"
    other = "short" if side == "buy" else "long"
    holding_same = (position > 0) if side == "buy" else (position < 0)
    holding_opposite = (position < 0) if side == "buy" else (position > 0)
    if signal.sentiment == "flat":
        if not holding_opposite:
            return Plan("rejected", f"{head}: rejected, no {other} position to exit")
        return _exit(_Planner(replace(signal, quantity=None), sub, position, planner.market), head)
    if signal.sentiment == ("bearish" if side == "buy" else "bullish"):
        # buy + bearish / sell + bullish: a partial exit that keeps the position's side.
        if not holding_opposite:
            return Plan("rejected", f"{head}: rejected, no {other} position to reduce")
        return _exit(planner, head)
    if holding_opposite and _percent_of_position(signal, sub):
        # TradersPost's example: a sell of 50 percent_of_position with 100 shares sells 50. Read as a swap, the
        # whole long was sold and a short of half its size opened: three times what was asked.
        return _exit(planner, head)
    if not entries_allowed and not holding_opposite:
        return Plan("ignored", f"{head}: ignored, outside the trading windows")
    if holding_same:
        if not sub.allow_add:
            return Plan("ignored", f"{head}: ignored, already {direction} and allow_add is off")
        closed = _side_closed(sub, direction)
        if closed is not None:
            return Plan("rejected", f"{head}: rejected, {closed}")
        leg, how = planner.entry(side)
        return Plan("executed", f"{head}: added {fmt(leg.quantity)} ({how})", legs=(leg,))
    if position == 0:
        closed = _side_closed(sub, direction)
        if closed is not None:
            return Plan("rejected", f"{head}: rejected, {closed}")
        leg, how = planner.entry(side)
        return Plan("executed", f"{head}: opened {direction} {fmt(leg.quantity)} ({how})", legs=(leg,))
    # Holding the other side: exit it, then enter only when swapping is allowed for this side.
    exit_leg = planner.exit(wanted_all=True)
    verb = "covered" if side == "buy" else "sold"
    closed = f"{verb} {fmt(exit_leg.quantity)}"
    if not sub.allow_swap or sub.sides not in ("both", direction) or not entries_allowed:
        reason = ("allow_swap is off" if not sub.allow_swap else f"sides={sub.sides}" if sub.sides not in
                  ("both", direction) else "outside the trading windows")  # fmt: skip
        return Plan("executed", f"{head}: {closed}, no {direction} opened ({reason})", legs=(exit_leg,))
    entry, how = planner.entry(side)
    if sub.subtract_exit_quantity and uses_signal_quantity(signal, sub, planner.allowed("quantityType")):
        # Rounded as any entry is: a position that is not whole (a venue's float 56.99999999999999, a fraction
        # bought elsewhere) would otherwise leave 43.00000000000001 to buy on a whole-share subscription.
        remaining = round_quantity(entry.quantity - exit_leg.quantity, sub.fractional, planner.market.quantity_step)
        if remaining <= 0:
            return Plan("executed", f"{head}: {closed}, no {direction} opened (signal quantity "
                        f"{fmt(entry.quantity)} minus the exit leaves nothing)", legs=(exit_leg,))  # fmt: skip
        entry, how = replace(entry, quantity=remaining), f"{how} minus the {fmt(exit_leg.quantity)} exited"
    return Plan("executed", f"{head}: {closed}, opened {direction} {fmt(entry.quantity)} ({how})",
                legs=(exit_leg, entry))  # fmt: skip
