"""The decision table of design §7, row by row; every expectation below is written from the table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bridge.config.schema import Sizing, Subscription
from bridge.models import Order, OrderStatus, Signal
from bridge.signals.resolve import Leg, Market, Plan, describe_position, fmt, resolve

FLAT = Decimal(0)
LONG5 = Decimal(5)
SHORT5 = Decimal(-5)
D = Decimal


def sub(**settings: Any) -> Subscription:
    """A subscription with the design's defaults (both sides, swap on, add off, fixed 1, market)."""
    return Subscription(broker="paper", **settings)


def sig(action: str, sentiment: str | None = None, quantity: str | None = None, **fields: Any) -> Signal:
    """A signal for AMD."""
    return Signal(
        ticker="AMD",
        action=action,  # type: ignore[arg-type]
        sentiment=sentiment,  # type: ignore[arg-type]
        quantity=None if quantity is None else Decimal(quantity),
        **fields,
    )


def entry(side: str, qty: str, order_type: str = "market", limit: str | None = None) -> Leg:
    return Leg("entry", side, D(qty), order_type, None if limit is None else D(limit))  # type: ignore[arg-type]


def exit_(side: str, qty: str, order_type: str = "market", limit: str | None = None) -> Leg:
    return Leg("exit", side, D(qty), order_type, None if limit is None else D(limit))  # type: ignore[arg-type]


def check(plan: Plan, state: str, legs: tuple[Leg, ...], decision: str) -> None:
    assert plan.decision == decision
    assert plan.state == state
    assert plan.legs == legs
    assert plan.cancel == ()


# ---------------------------------------------------------------------------------------------
# Design §7, default settings: one row per (action/sentiment, position).

Row = tuple[str, str | None, str | None, Decimal, str, tuple[Leg, ...], str]
TABLE: list[Row] = [
    # action, sentiment, quantity, position, state, legs, decision
    # buy
    ("buy", None, None, FLAT, "executed", (entry("buy", "1"),), "buy while flat: opened long 1 (fixed_quantity 1)"),
    ("buy", None, None, LONG5, "ignored", (), "buy while long 5: ignored, already long and allow_add is off"),
    (
        "buy", None, None, SHORT5, "executed", (exit_("buy", "5"), entry("buy", "1")),
        "buy while short 5: covered 5, opened long 1 (fixed_quantity 1)",
    ),
    # sell
    ("sell", None, None, FLAT, "executed", (entry("sell", "1"),), "sell while flat: opened short 1 (fixed_quantity 1)"),
    (
        "sell", None, None, LONG5, "executed", (exit_("sell", "5"), entry("sell", "1")),
        "sell while long 5: sold 5, opened short 1 (fixed_quantity 1)",
    ),
    ("sell", None, None, SHORT5, "ignored", (), "sell while short 5: ignored, already short and allow_add is off"),
    # buy + flat: only a short can be exited; nothing is ever opened; a quantity is ignored
    ("buy", "flat", None, FLAT, "rejected", (), "buy flat while flat: rejected, no short position to exit"),
    ("buy", "flat", None, LONG5, "rejected", (), "buy flat while long 5: rejected, no short position to exit"),
    ("buy", "flat", None, SHORT5, "executed", (exit_("buy", "5"),), "buy flat while short 5: covered 5"),
    ("buy", "flat", "2", SHORT5, "executed", (exit_("buy", "5"),), "buy flat while short 5: covered 5"),
    # sell + flat
    ("sell", "flat", None, FLAT, "rejected", (), "sell flat while flat: rejected, no long position to exit"),
    ("sell", "flat", None, LONG5, "executed", (exit_("sell", "5"),), "sell flat while long 5: sold 5"),
    ("sell", "flat", "2", LONG5, "executed", (exit_("sell", "5"),), "sell flat while long 5: sold 5"),
    ("sell", "flat", None, SHORT5, "rejected", (), "sell flat while short 5: rejected, no long position to exit"),
    # buy + bearish, quantity q: cover min(q, N), stay short
    ("buy", "bearish", "2", FLAT, "rejected", (), "buy bearish while flat: rejected, no short position to reduce"),
    ("buy", "bearish", "2", LONG5, "rejected", (), "buy bearish while long 5: rejected, no short position to reduce"),
    (
        "buy", "bearish", "2", SHORT5, "executed", (exit_("buy", "2"),),
        "buy bearish while short 5: covered 2, still short 3",
    ),
    ("buy", "bearish", "8", SHORT5, "executed", (exit_("buy", "5"),), "buy bearish while short 5: covered 5"),
    # sell + bullish, quantity q: sell min(q, N), stay long
    ("sell", "bullish", "2", FLAT, "rejected", (), "sell bullish while flat: rejected, no long position to reduce"),
    (
        "sell", "bullish", "2", LONG5, "executed", (exit_("sell", "2"),),
        "sell bullish while long 5: sold 2, still long 3",
    ),
    ("sell", "bullish", "8", LONG5, "executed", (exit_("sell", "5"),), "sell bullish while long 5: sold 5"),
    (
        "sell", "bullish", "2", SHORT5, "rejected", (),
        "sell bullish while short 5: rejected, no long position to reduce",
    ),
    # buy + bullish / sell + bearish: as plain buy / sell
    (
        "buy", "bullish", None, FLAT, "executed", (entry("buy", "1"),),
        "buy bullish while flat: opened long 1 (fixed_quantity 1)",
    ),
    (
        "buy", "bullish", None, LONG5, "ignored", (),
        "buy bullish while long 5: ignored, already long and allow_add is off",
    ),
    (
        "buy", "bullish", None, SHORT5, "executed", (exit_("buy", "5"), entry("buy", "1")),
        "buy bullish while short 5: covered 5, opened long 1 (fixed_quantity 1)",
    ),
    (
        "sell", "bearish", None, FLAT, "executed", (entry("sell", "1"),),
        "sell bearish while flat: opened short 1 (fixed_quantity 1)",
    ),
    (
        "sell", "bearish", None, LONG5, "executed", (exit_("sell", "5"), entry("sell", "1")),
        "sell bearish while long 5: sold 5, opened short 1 (fixed_quantity 1)",
    ),
    (
        "sell", "bearish", None, SHORT5, "ignored", (),
        "sell bearish while short 5: ignored, already short and allow_add is off",
    ),
    # exit, without and with a quantity
    ("exit", None, None, FLAT, "rejected", (), "exit while flat: rejected, no position to exit"),
    ("exit", None, None, LONG5, "executed", (exit_("sell", "5"),), "exit while long 5: sold 5"),
    ("exit", None, None, SHORT5, "executed", (exit_("buy", "5"),), "exit while short 5: covered 5"),
    ("exit", None, "2", FLAT, "rejected", (), "exit while flat: rejected, no position to exit"),
    ("exit", None, "2", LONG5, "executed", (exit_("sell", "2"),), "exit while long 5: sold 2, still long 3"),
    ("exit", None, "2", SHORT5, "executed", (exit_("buy", "2"),), "exit while short 5: covered 2, still short 3"),
    ("exit", None, "5", LONG5, "executed", (exit_("sell", "5"),), "exit while long 5: sold 5"),
    ("exit", None, "9", SHORT5, "executed", (exit_("buy", "5"),), "exit while short 5: covered 5"),
    # add: regardless of allow_add
    ("add", None, None, FLAT, "rejected", (), "add while flat: rejected, no position to add to"),
    ("add", None, None, LONG5, "executed", (entry("buy", "1"),), "add while long 5: added 1 (fixed_quantity 1)"),
    ("add", None, None, SHORT5, "executed", (entry("sell", "1"),), "add while short 5: added 1 (fixed_quantity 1)"),
    ("add", None, "3", LONG5, "executed", (entry("buy", "3"),), "add while long 5: added 3 (signal quantity)"),
    ("add", None, "3", SHORT5, "executed", (entry("sell", "3"),), "add while short 5: added 3 (signal quantity)"),
]  # fmt: skip


def _id(row: Row) -> str:
    action, sentiment, quantity, position, *_ = row
    q = f" q={quantity}" if quantity else ""
    return f"{action}{'+' + sentiment if sentiment else ''}{q} while {describe_position(position)}"


@pytest.mark.parametrize(
    ("action", "sentiment", "quantity", "position", "state", "legs", "decision"), TABLE, ids=[_id(r) for r in TABLE]
)
def test_decision_table_with_default_settings(
    action: str,
    sentiment: str | None,
    quantity: str | None,
    position: Decimal,
    state: str,
    legs: tuple[Leg, ...],
    decision: str,
) -> None:
    check(resolve(sig(action, sentiment, quantity), position, [], sub()), state, legs, decision)


def test_the_design_s_example_sentence() -> None:
    """Design §7 quotes this sentence verbatim."""
    plan = resolve(sig("sell"), LONG5, [], sub())
    assert plan.decision == "sell while long 5: sold 5, opened short 1 (fixed_quantity 1)"


def test_the_exit_leg_always_comes_before_the_entry_leg() -> None:
    for action, position in (("buy", SHORT5), ("sell", LONG5)):
        kinds = [leg.kind for leg in resolve(sig(action), position, [], sub()).legs]
        assert kinds == ["exit", "entry"]


# ---------------------------------------------------------------------------------------------
# cancel: the ticker's open orders only; never touches the position.


def order(cid: str, status: OrderStatus = "open", symbol: str = "AMD") -> Order:
    return Order(client_order_id=cid, symbol=symbol, side="buy", quantity=D(1), type="limit", status=status)


@pytest.mark.parametrize("position", [FLAT, LONG5, SHORT5], ids=describe_position)
def test_cancel_without_open_orders_is_rejected(position: Decimal) -> None:
    orders = [order("done", "filled"), order("gone", "canceled"), order("other", "open", symbol="MSFT")]
    plan = resolve(sig("cancel"), position, orders, sub())
    assert plan.state == "rejected"
    assert plan.decision == f"cancel while {describe_position(position)}: rejected, no open orders for AMD to cancel"
    assert (plan.legs, plan.cancel) == ((), ())


@pytest.mark.parametrize("position", [FLAT, LONG5, SHORT5], ids=describe_position)
def test_cancel_cancels_only_this_ticker_s_open_orders_and_places_nothing(position: Decimal) -> None:
    orders = [
        order("a", "open"),
        order("b", "partially_filled"),
        order("c", "submitted"),
        order("d", "filled"),
        order("e", "pending"),
        order("f", "open", symbol="MSFT"),
    ]
    plan = resolve(sig("cancel"), position, orders, sub())
    assert plan.state == "executed"
    assert plan.cancel == ("a", "b", "c")
    assert plan.legs == ()
    assert plan.decision == f"cancel while {describe_position(position)}: canceled 3 open orders"


def test_cancel_of_one_order_uses_the_singular() -> None:
    plan = resolve(sig("cancel"), FLAT, [order("a")], sub())
    assert plan.decision == "cancel while flat: canceled 1 open order"
    assert plan.cancel == ("a",)


# ---------------------------------------------------------------------------------------------
# Subscription settings.

SETTINGS: list[tuple[str, dict[str, Any], Signal, Decimal, str, tuple[Leg, ...], str]] = [
    # sides: long -- shorts never opened; a long position is still exited by sell
    (
        "long-only sell while flat", {"sides": "long"}, sig("sell"), FLAT, "rejected", (),
        "sell while flat, sides=long: rejected, short entries are off (sides=long)",
    ),
    (
        "long-only sell while long", {"sides": "long"}, sig("sell"), LONG5, "executed", (exit_("sell", "5"),),
        "sell while long 5, sides=long: sold 5, no short opened (sides=long)",
    ),
    (
        "long-only buy while flat", {"sides": "long"}, sig("buy"), FLAT, "executed", (entry("buy", "1"),),
        "buy while flat, sides=long: opened long 1 (fixed_quantity 1)",
    ),
    (
        "long-only buy while short", {"sides": "long"}, sig("buy"), SHORT5, "executed",
        (exit_("buy", "5"), entry("buy", "1")),
        "buy while short 5, sides=long: covered 5, opened long 1 (fixed_quantity 1)",
    ),
    # sides: short -- the mirror image
    (
        "short-only buy while flat", {"sides": "short"}, sig("buy"), FLAT, "rejected", (),
        "buy while flat, sides=short: rejected, long entries are off (sides=short)",
    ),
    (
        "short-only buy while short", {"sides": "short"}, sig("buy"), SHORT5, "executed", (exit_("buy", "5"),),
        "buy while short 5, sides=short: covered 5, no long opened (sides=short)",
    ),
    (
        "short-only sell while flat", {"sides": "short"}, sig("sell"), FLAT, "executed", (entry("sell", "1"),),
        "sell while flat, sides=short: opened short 1 (fixed_quantity 1)",
    ),
    (
        "short-only sell while long", {"sides": "short"}, sig("sell"), LONG5, "executed",
        (exit_("sell", "5"), entry("sell", "1")),
        "sell while long 5, sides=short: sold 5, opened short 1 (fixed_quantity 1)",
    ),
    # sides also holds back adds: a position on the other side (opened before the setting changed, or by hand) is
    # only ever reduced, never grown
    (
        "short-only add while long", {"sides": "short"}, sig("add"), LONG5, "rejected", (),
        "add while long 5, sides=short: rejected, long entries are off (sides=short)",
    ),
    (
        "short-only buy while long with allow_add", {"sides": "short", "allow_add": True}, sig("buy"), LONG5,
        "rejected", (), "buy while long 5, sides=short: rejected, long entries are off (sides=short)",
    ),
    (
        "long-only add while short", {"sides": "long"}, sig("add"), SHORT5, "rejected", (),
        "add while short 5, sides=long: rejected, short entries are off (sides=long)",
    ),
    (
        "long-only sell while short with allow_add", {"sides": "long", "allow_add": True}, sig("sell"), SHORT5,
        "rejected", (), "sell while short 5, sides=long: rejected, short entries are off (sides=long)",
    ),
    (
        "long-only add while long", {"sides": "long"}, sig("add"), LONG5, "executed", (entry("buy", "1"),),
        "add while long 5, sides=long: added 1 (fixed_quantity 1)",
    ),
    # allow_swap: false -- exit the opposite side, open nothing
    (
        "no swap buy while short", {"allow_swap": False}, sig("buy"), SHORT5, "executed", (exit_("buy", "5"),),
        "buy while short 5: covered 5, no long opened (allow_swap is off)",
    ),
    (
        "no swap sell while long", {"allow_swap": False}, sig("sell"), LONG5, "executed", (exit_("sell", "5"),),
        "sell while long 5: sold 5, no short opened (allow_swap is off)",
    ),
    (
        "no swap buy while flat", {"allow_swap": False}, sig("buy"), FLAT, "executed", (entry("buy", "1"),),
        "buy while flat: opened long 1 (fixed_quantity 1)",
    ),
    (
        "no swap sell+bearish while long", {"allow_swap": False}, sig("sell", "bearish"), LONG5, "executed",
        (exit_("sell", "5"),), "sell bearish while long 5: sold 5, no short opened (allow_swap is off)",
    ),
    # allow_add: true -- buy while long / sell while short opens more
    (
        "add buy while long", {"allow_add": True}, sig("buy"), LONG5, "executed", (entry("buy", "1"),),
        "buy while long 5: added 1 (fixed_quantity 1)",
    ),
    (
        "add sell while short", {"allow_add": True}, sig("sell"), SHORT5, "executed", (entry("sell", "1"),),
        "sell while short 5: added 1 (fixed_quantity 1)",
    ),
    (
        "add buy q=3 while long", {"allow_add": True}, sig("buy", quantity="3"), LONG5, "executed",
        (entry("buy", "3"),), "buy while long 5: added 3 (signal quantity)",
    ),
    (
        "add buy while flat still opens", {"allow_add": True}, sig("buy"), FLAT, "executed", (entry("buy", "1"),),
        "buy while flat: opened long 1 (fixed_quantity 1)",
    ),
    # use_signal_quantity and sizing decide the entry quantity only
    (
        "signal quantity on", {"use_signal_quantity": True}, sig("buy", quantity="3"), FLAT, "executed",
        (entry("buy", "3"),), "buy while flat: opened long 3 (signal quantity)",
    ),
    (
        "signal quantity off", {"use_signal_quantity": False}, sig("buy", quantity="3"), FLAT, "executed",
        (entry("buy", "1"),), "buy while flat: opened long 1 (fixed_quantity 1)",
    ),
    (
        "signal quantity off, sizing 4", {"use_signal_quantity": False, "sizing": Sizing(value=D(4))},
        sig("sell", quantity="3"), FLAT, "executed", (entry("sell", "4"),),
        "sell while flat: opened short 4 (fixed_quantity 4)",
    ),
    (
        "sizing 2.5 rounds down to whole units", {"sizing": Sizing(value=D("2.5"))}, sig("buy"), FLAT, "executed",
        (entry("buy", "2"),), "buy while flat: opened long 2 (fixed_quantity 2.5)",
    ),
    (
        "sizing 2.5 with fractional on", {"sizing": Sizing(value=D("2.5")), "fractional": True}, sig("buy"), FLAT,
        "executed", (entry("buy", "2.5"),), "buy while flat: opened long 2.5 (fixed_quantity 2.5)",
    ),
    (
        "sizing 10 with signal quantity", {"sizing": Sizing(value=D(10)), "fractional": True},
        sig("buy", quantity="0.25"), FLAT, "executed", (entry("buy", "0.25"),),
        "buy while flat: opened long 0.25 (signal quantity)",
    ),
    (
        "a fractional signal quantity without fractional is refused", {}, sig("buy", quantity="0.25"), FLAT,
        "rejected", (), "buy while flat: rejected, signal quantity comes to less than one unit",
    ),
    (
        "swap exits the whole position, enters the signal quantity", {}, sig("sell", quantity="3"), LONG5,
        "executed", (exit_("sell", "5"), entry("sell", "3")),
        "sell while long 5: sold 5, opened short 3 (signal quantity)",
    ),
    (
        "swap with sizing 2 and signal quantity off", {"use_signal_quantity": False, "sizing": {"value": 2}},
        sig("buy", quantity="3"), SHORT5, "executed", (exit_("buy", "5"), entry("buy", "2")),
        "buy while short 5: covered 5, opened long 2 (fixed_quantity 2)",
    ),
    (
        "add with sizing 2", {"sizing": {"value": 2}}, sig("add"), LONG5, "executed", (entry("buy", "2"),),
        "add while long 5: added 2 (fixed_quantity 2)",
    ),
    # limit orders: the entry needs a price from the signal
    (
        "limit entry without a price", {"order_type": "limit"}, sig("buy"), FLAT, "rejected", (),
        "buy while flat: rejected, a limit entry needs limitPrice or price in the signal (the broker gave no quote)",
    ),
    (
        "limit entry at the signal price", {"order_type": "limit"}, sig("buy", price=D("60.30")), FLAT, "executed",
        (entry("buy", "1", "limit", "60.30"),), "buy while flat: opened long 1 (fixed_quantity 1)",
    ),
    (
        "limitPrice wins over price", {"order_type": "limit"},
        sig("sell", price=D("60.30"), limit_price=D("60.50")), FLAT, "executed",
        (entry("sell", "1", "limit", "60.50"),), "sell while flat: opened short 1 (fixed_quantity 1)",
    ),
    (
        "limit swap: the exit stays market", {"order_type": "limit"}, sig("buy", price=D("60.30")), SHORT5,
        "executed", (exit_("buy", "5"), entry("buy", "1", "limit", "60.30")),
        "buy while short 5: covered 5, opened long 1 (fixed_quantity 1)",
    ),
    (
        "limit swap without a price rejects the whole plan", {"order_type": "limit"}, sig("buy"), SHORT5,
        "rejected", (),
        "buy while short 5: rejected, a limit entry needs limitPrice or price in the signal (the broker gave no quote)",
    ),
    (
        "a limit subscription exits at market", {"order_type": "limit"}, sig("exit"), LONG5, "executed",
        (exit_("sell", "5"),), "exit while long 5: sold 5",
    ),
    (
        "a limit signal exits at its limit price", {}, sig("exit", order_type="limit", limit_price=D("61")), LONG5,
        "executed", (exit_("sell", "5", "limit", "61"),), "exit while long 5: sold 5",
    ),
    (
        "signal orderType overrides the subscription", {"order_type": "limit"},
        sig("buy", order_type="market", price=D("60.30")), FLAT, "executed", (entry("buy", "1"),),
        "buy while flat: opened long 1 (fixed_quantity 1)",
    ),
    (
        "stop_limit without stopPrice", {"order_type": "stop_limit"}, sig("buy", price=D(10)), FLAT, "rejected", (),
        "buy while flat: rejected, a stop_limit entry needs stopPrice in the signal",
    ),
    (
        "trailing stop without a trail is refused", {"order_type": "trailing_stop"}, sig("sell"), FLAT, "rejected", (),
        "sell while flat: rejected, a trailing_stop entry needs trailAmount or trailPercent",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "signal", "position", "state", "legs", "decision"),
    [row[1:] for row in SETTINGS],
    ids=[row[0] for row in SETTINGS],
)
def test_subscription_settings_change_the_decision(
    settings: dict[str, Any], signal: Signal, position: Decimal, state: str, legs: tuple[Leg, ...], decision: str
) -> None:
    check(resolve(signal, position, [], sub(**settings)), state, legs, decision)


def test_a_stop_entry_carries_the_stop_price_and_no_limit_price() -> None:
    plan = resolve(sig("buy", stop_price=D("62"), price=D("60")), FLAT, [], sub(order_type="stop"))
    assert plan.legs == (Leg("entry", "buy", D(1), "stop", None, D("62")),)


def test_a_stop_limit_entry_carries_both_prices() -> None:
    signal = sig("sell", stop_price=D("58"), limit_price=D("57.5"))
    plan = resolve(signal, FLAT, [], sub(order_type="stop_limit"))
    assert plan.legs == (Leg("entry", "sell", D(1), "stop_limit", D("57.5"), D("58")),)


def test_a_market_leg_carries_no_prices_even_when_the_signal_has_them() -> None:
    plan = resolve(sig("buy", price=D(60), limit_price=D(59), stop_price=D(61)), FLAT, [], sub())
    assert plan.legs == (Leg("entry", "buy", D(1), "market", None, None),)


@pytest.mark.parametrize(("tif", "expected"), [(None, "day"), ("gtc", "gtc"), ("ioc", "ioc")])
def test_time_in_force_comes_from_the_signal_else_day(tif: str | None, expected: str) -> None:
    plan = resolve(sig("sell", time_in_force=tif), LONG5, [], sub())
    assert [leg.time_in_force for leg in plan.legs] == [expected, expected]


def test_fractional_positions_are_described_without_trailing_zeros() -> None:
    plan = resolve(sig("exit", quantity="1"), D("2.50"), [], sub())
    assert plan.decision == "exit while long 2.5: sold 1, still long 1.5"
    assert plan.legs == (exit_("sell", "1"),)


@pytest.mark.parametrize(
    ("quantity", "text"),
    [(D(5), "5"), (D("5.000"), "5"), (D("0.25"), "0.25"), (D(100), "100"), (D("1E+3"), "1000"), (D("0.10"), "0.1")],
)
def test_fmt_prints_plain_numbers(quantity: Decimal, text: str) -> None:
    assert fmt(quantity) == text


@pytest.mark.parametrize(("position", "text"), [(D(0), "flat"), (D(3), "long 3"), (D("-0.5"), "short 0.5")])
def test_describe_position(position: Decimal, text: str) -> None:
    assert describe_position(position) == text


def test_resolve_is_pure() -> None:
    """Pure: the same inputs give the same plan, and nothing is mutated."""
    subscription = sub(allow_add=True)
    signal = sig("buy", quantity="2")
    first = resolve(signal, LONG5, [], subscription)
    assert resolve(signal, LONG5, [], subscription) == first
    assert signal.quantity == D(2) and subscription.allow_add is True


def test_a_limit_at_a_midpoint_quote_is_rounded_to_the_tick() -> None:
    """Alpaca's quote of bid 100.00 / ask 100.01 is 100.005: a sub-penny limit the broker refuses."""
    market = Market(quote=D("100.005"))
    buy = resolve(sig("buy"), FLAT, [], sub(order_type="limit"), market)
    sell = resolve(sig("sell"), FLAT, [], sub(order_type="limit"), market)
    assert [leg.limit_price for leg in buy.legs] == [D("100.00")]  # down for buys
    assert [leg.limit_price for leg in sell.legs] == [D("100.01")]  # up for sells
