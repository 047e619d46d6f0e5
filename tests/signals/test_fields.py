"""Issue 3's payload fields, table-driven: each bad value gets its TradersPost messageCode and a message
naming the field; each good value lands in the Signal as an exact Decimal and is echoed in the payload."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from bridge.models import StopLoss, TakeProfit
from bridge.signals.parse import MAX_MESSAGE_LENGTH, QUANTITY_TYPES, PayloadError, parse_body

D = Decimal


def raw(**fields: Any) -> bytes:
    """A webhook body for AMD, buy unless `action` says otherwise."""
    return json.dumps({"ticker": "AMD", "action": "buy", **fields}).encode()


def refused(body: bytes) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse_body(body)
    return caught.value


SL95: dict[str, Any] = {"stopPrice": 95}

# (id, fields, messageCode, text the message must contain: the field it is about)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    # numbers too large for the order arithmetic: a 400, not an acknowledged signal that fails when it executes
    ("quantity 1e30", {"quantity": 1e30}, "invalid-quantity", "quantity"),
    ("price 1e30", {"price": "1e30"}, "invalid-price", "price"),
    ("takeProfit.limitPrice 1e30", {"price": 10, "takeProfit": {"limitPrice": 1e30}}, "invalid-take-profit-limit-price",
     "takeProfit.limitPrice"),
    # numbers so small they are typos (and the order arithmetic cannot divide by them): a 400 as well
    ("price 1e-400", {"price": "1e-400"}, "invalid-price", "price"),
    ("price 1e-30 for dollars", {"price": "1e-30", "quantityType": "dollar_amount", "quantity": 1000},
     "invalid-price", "price"),
    ("quantity 1e-20", {"quantity": "0.00000000000000000001"}, "invalid-quantity", "quantity"),
    ("stopLoss.percent 1e-13", {"stopLoss": {"percent": 1e-13}}, "invalid-stop-loss-percent", "stopLoss.percent"),
    # quantityType
    ("quantityType unknown", {"quantityType": "shares", "quantity": 1}, "invalid-quantity-type", "quantityType"),
    ("quantityType a number", {"quantityType": 3, "quantity": 1}, "invalid-quantity-type", "quantityType"),
    ("quantityType amount_per_position (old docs only)", {"quantityType": "amount_per_position", "quantity": 1},
     "invalid-quantity-type", "quantityType"),
    ("quantityType with cancel", {"action": "cancel", "quantityType": "fixed_quantity", "quantity": 1},
     "invalid-quantity-type-action", "quantityType"),
    ("quantityType with reverse", {"action": "reverse", "quantityType": "dollar_amount", "quantity": 500},
     "invalid-quantity-type-action", "quantityType"),
    ("quantityType with breakeven", {"action": "breakeven", "quantityType": "fixed_quantity", "quantity": 1},
     "invalid-quantity-type-action", "quantityType"),
    ("percent_of_position with add", {"action": "add", "quantityType": "percent_of_position", "quantity": 50},
     "invalid-percent-of-position-action", "quantityType"),
    ("quantityType without quantity", {"quantityType": "dollar_amount"}, "quantity-type-requires-quantity",
     "quantityType"),
    ("percent_of_equity without quantity", {"quantityType": "percent_of_equity"},
     "quantity-type-requires-quantity", "quantity"),
    # orderType trailing_stop and its trail
    ("trailing_stop without a trail", {"orderType": "trailing_stop"}, "invalid-trailing-stop", "trailAmount"),
    ("trailing_stop with both trails", {"orderType": "trailing_stop", "trailAmount": 1, "trailPercent": 2},
     "invalid-trailing-stop", "trailPercent"),
    ("trailing_stop with add", {"action": "add", "orderType": "trailing_stop", "trailAmount": 1},
     "invalid-trailing-stop", "orderType"),
    ("trailing_stop with breakeven", {"action": "breakeven", "orderType": "trailing_stop", "trailAmount": 1},
     "invalid-trailing-stop", "orderType"),
    ("trailAmount not a number", {"orderType": "trailing_stop", "trailAmount": "wide"}, "invalid-trailing-stop",
     "trailAmount"),
    ("trailAmount zero", {"orderType": "trailing_stop", "trailAmount": 0}, "invalid-trailing-stop", "trailAmount"),
    ("trailPercent negative", {"orderType": "trailing_stop", "trailPercent": -1}, "invalid-trailing-stop",
     "trailPercent"),
    # extendedHours
    ("extendedHours with market", {"orderType": "market", "extendedHours": True}, "invalid-extended-hours",
     "extendedHours"),
    ("extendedHours with stop", {"orderType": "stop", "stopPrice": 60, "extendedHours": "true"},
     "invalid-extended-hours", "extendedHours"),
    ("extendedHours with trailing_stop", {"orderType": "trailing_stop", "trailAmount": 1, "extendedHours": True},
     "invalid-extended-hours", "extendedHours"),
    ("extendedHours yes", {"extendedHours": "yes"}, "invalid-extended-hours", "extendedHours"),
    ("extendedHours 1", {"extendedHours": 1}, "invalid-extended-hours", "extendedHours"),
    # takeProfit
    ("takeProfit a number", {"takeProfit": 110}, "invalid-take-profit-value-required", "takeProfit"),
    ("takeProfit empty", {"takeProfit": {}}, "invalid-take-profit-value-required", "takeProfit"),
    ("takeProfit unknown key", {"takeProfit": {"stopPrice": 110}}, "invalid-take-profit-value-required",
     "unknown field(s) stopPrice"),
    ("takeProfit price and limitPrice", {"takeProfit": {"price": 110, "limitPrice": 111}},
     "invalid-take-profit-limit-price", "limitPrice or price"),
    ("takeProfit percent text", {"takeProfit": {"percent": "ten"}}, "invalid-take-profit-percent",
     "takeProfit.percent"),
    ("takeProfit percent zero", {"takeProfit": {"percent": 0}}, "invalid-take-profit-percent", "takeProfit.percent"),
    ("takeProfit amount negative", {"takeProfit": {"amount": -2}}, "invalid-take-profit-amount",
     "takeProfit.amount"),
    ("takeProfit limitPrice bad", {"takeProfit": {"limitPrice": "high"}}, "invalid-take-profit-limit-price",
     "takeProfit.limitPrice"),
    ("takeProfit percent and amount", {"takeProfit": {"percent": 2, "amount": 3}},
     "invalid-take-profit-amount-and-percent", "takeProfit"),
    ("takeProfit limitPrice and percent", {"takeProfit": {"limitPrice": 110, "percent": 2}},
     "invalid-take-profit-relative-and-absolute", "takeProfit"),
    ("takeProfit limitPrice and amount", {"takeProfit": {"limitPrice": 110, "amount": 2}},
     "invalid-take-profit-relative-and-absolute", "takeProfit"),
    ("takeProfit on an exit", {"action": "exit", "takeProfit": {"percent": 2}}, "invalid-payload", "takeProfit"),
    # stopLoss
    ("stopLoss a string", {"stopLoss": "95"}, "invalid-stop-loss-value-required", "stopLoss"),
    ("stopLoss empty", {"stopLoss": {}}, "invalid-stop-loss-value-required", "stopLoss"),
    ("stopLoss type only", {"stopLoss": {"type": "stop"}}, "invalid-stop-loss-value-required", "stopLoss"),
    ("stopLoss stop_limit without a stop", {"stopLoss": {"type": "stop_limit", "limitPrice": 94}},
     "invalid-stop-loss-value-required", "stopLoss"),
    ("stopLoss trailPrice (old name)", {"stopLoss": {"trailPrice": 1}}, "invalid-stop-loss-value-required",
     "trailPrice"),
    ("stopLoss type market", {"stopLoss": {"type": "market", "stopPrice": 95}}, "invalid-stop-loss-type",
     "stopLoss.type"),
    ("stopLoss type a number", {"stopLoss": {"type": 1, "stopPrice": 95}}, "invalid-stop-loss-type",
     "stopLoss.type"),
    ("stopLoss percent text", {"stopLoss": {"percent": "five"}}, "invalid-stop-loss-percent", "stopLoss.percent"),
    ("stopLoss amount zero", {"stopLoss": {"amount": 0}}, "invalid-stop-loss-amount", "stopLoss.amount"),
    ("stopLoss stopPrice negative", {"stopLoss": {"stopPrice": -95}}, "invalid-stop-loss-stop-price",
     "stopLoss.stopPrice"),
    ("stopLoss limitPrice bad", {"stopLoss": {"type": "stop_limit", "stopPrice": 95, "limitPrice": "x"}},
     "invalid-stop-loss-limit-price", "stopLoss.limitPrice"),
    ("stopLoss limitPrice on a stop", {"stopLoss": {"stopPrice": 95, "limitPrice": 94}},
     "invalid-stop-loss-limit-price", "stopLoss.limitPrice"),
    ("stopLoss stop_limit without limitPrice", {"stopLoss": {"type": "stop_limit", "stopPrice": 95}},
     "invalid-stop-loss-limit-price", "limitPrice"),
    ("stopLoss trailAmount bad", {"stopLoss": {"type": "trailing_stop", "trailAmount": "x"}},
     "invalid-stop-loss-trail-amount", "stopLoss.trailAmount"),
    ("stopLoss trailPercent negative", {"stopLoss": {"type": "trailing_stop", "trailPercent": -1}},
     "invalid-stop-loss-trail-percent", "stopLoss.trailPercent"),
    ("stopLoss trailing without a trail", {"stopLoss": {"type": "trailing_stop"}}, "invalid-stop-loss-trail-value",
     "trailAmount"),
    ("stopLoss trailing with both trails", {"stopLoss": {"type": "trailing_stop", "trailAmount": 1,
                                                          "trailPercent": 1}},
     "invalid-stop-loss-trail-value", "trailPercent"),
    ("stopLoss trail on a stop", {"stopLoss": {"stopPrice": 95, "trailAmount": 1}}, "invalid-stop-loss-trail-value",
     "trailing_stop"),
    # A trailing stop loss trails by its trail alone: a fixed stop sent beside it would be dropped unseen.
    ("stopLoss trailing with a stopPrice", {"stopLoss": {"type": "trailing_stop", "trailPercent": 2, "stopPrice": 95}},
     "invalid-stop-loss-stop-price", "stopPrice"),
    ("stopLoss trailing with a percent", {"stopLoss": {"type": "trailing_stop", "trailAmount": 1, "percent": 2}},
     "invalid-stop-loss-percent", "percent"),
    ("stopLoss trailing with an amount", {"stopLoss": {"type": "trailing_stop", "trailPercent": 1, "amount": 2}},
     "invalid-stop-loss-amount", "amount"),
    ("stopLoss percent and amount", {"stopLoss": {"percent": 1, "amount": 2}}, "invalid-stop-loss-amount-and-percent",
     "stopLoss"),
    ("stopLoss stopPrice and percent", {"stopLoss": {"stopPrice": 95, "percent": 1}},
     "invalid-stop-loss-relative-and-absolute", "stopLoss"),
    ("stopLoss stopPrice and amount", {"stopLoss": {"stopPrice": 95, "amount": 1}},
     "invalid-stop-loss-relative-and-absolute", "stopLoss"),
    ("stopLoss on a cancel", {"action": "cancel", "stopLoss": SL95}, "invalid-payload", "stopLoss"),
    ("stopLoss on a breakeven", {"action": "breakeven", "stopLoss": SL95}, "invalid-payload", "stopLoss"),
    # cancel, cancelOrderType
    ("cancel maybe", {"cancel": "maybe"}, "invalid-payload", "cancel"),
    ("cancel a number", {"cancel": 1}, "invalid-payload", "cancel"),
    ("cancelOrderType with buy", {"cancelOrderType": "limit"}, "invalid-payload", "cancelOrderType"),
    ("cancelOrderType with exit", {"action": "exit", "cancelOrderType": "stop"}, "invalid-payload",
     "cancelOrderType"),
    ("cancelOrderType unknown", {"action": "cancel", "cancelOrderType": "oco"}, "invalid-order-type",
     "cancelOrderType"),
    # ignoreTradingWindows
    ("ignoreTradingWindows text", {"ignoreTradingWindows": "always"}, "invalid-payload", "ignoreTradingWindows"),
    # breakevenOffset, breakeven
    ("breakevenOffset with buy", {"breakevenOffset": 0.5}, "invalid-payload", "breakevenOffset"),
    ("breakevenOffset with exit", {"action": "exit", "breakevenOffset": 0.5}, "invalid-payload", "breakevenOffset"),
    ("breakevenOffset negative", {"action": "breakeven", "breakevenOffset": -0.5}, "invalid-breakeven-offset",
     "breakevenOffset"),
    ("breakevenOffset text", {"action": "breakeven", "breakevenOffset": "tick"}, "invalid-breakeven-offset",
     "breakevenOffset"),
    ("breakeven market", {"action": "breakeven", "orderType": "market"}, "invalid-breakeven-order-type",
     "orderType"),
    ("breakeven limit", {"action": "breakeven", "orderType": "limit", "limitPrice": 10},
     "invalid-breakeven-order-type", "orderType"),
    # message
    ("message too long", {"message": "x" * (MAX_MESSAGE_LENGTH + 1)}, "invalid-message-length", "message"),
    # the actions themselves
    ("unknown action", {"action": "flip"}, "invalid-action", "action"),
    ("sentiment with reverse", {"action": "reverse", "sentiment": "bullish"}, "invalid-sentiment-action",
     "sentiment"),
    ("sentiment with breakeven", {"action": "breakeven", "sentiment": "flat"}, "invalid-sentiment-action",
     "sentiment"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "code", "names"), [r[1:] for r in BAD], ids=[r[0] for r in BAD])
def test_a_bad_value_gets_its_message_code_and_a_message_naming_the_field(
    fields: dict[str, Any], code: str, names: str
) -> None:
    error = refused(raw(**fields))
    assert error.code == code, error.message
    assert names in error.message
    assert len(error.message) > len(names) + 10  # a sentence that says how to fix it, not just a name


def test_the_message_limit_is_inclusive() -> None:
    signal, echo, _ = parse_body(raw(message="y" * MAX_MESSAGE_LENGTH))
    assert signal.message == "y" * MAX_MESSAGE_LENGTH
    assert echo["message"] == signal.message


def test_the_too_long_message_says_how_long_it_is_and_the_limit() -> None:
    error = refused(raw(message="z" * 1234))
    assert "1234" in error.message and str(MAX_MESSAGE_LENGTH) in error.message


# ---------------------------------------------------------------------------------------------
# Good values: (id, fields, Signal attributes, echoed payload fields).

GOOD: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # quantityType, every value, and the actions it goes with
    *[
        (
            f"quantityType {kind}",
            {"quantityType": kind, "quantity": "12.5", **({"stopLoss": SL95} if kind.startswith("risk_") else {})},
            {"quantity_type": kind, "quantity": D("12.5")},
            {"quantityType": kind, "quantity": 12.5},
        )
        for kind in QUANTITY_TYPES
    ],
    ("quantityType upper case", {"quantityType": "DOLLAR_AMOUNT", "quantity": 1000},
     {"quantity_type": "dollar_amount", "quantity": D(1000)}, {"quantityType": "dollar_amount", "quantity": 1000}),
    ("percent_of_position with exit", {"action": "exit", "quantityType": "percent_of_position", "quantity": "50"},
     {"action": "exit", "quantity_type": "percent_of_position", "quantity": D(50)},
     {"action": "exit", "quantityType": "percent_of_position", "quantity": 50}),
    ("percent_of_position with sell", {"action": "sell", "quantityType": "percent_of_position", "quantity": 25},
     {"quantity_type": "percent_of_position"}, {"quantityType": "percent_of_position"}),
    ("dollar_amount with add", {"action": "add", "quantityType": "dollar_amount", "quantity": 500},
     {"action": "add", "quantity_type": "dollar_amount", "quantity": D(500)}, {"quantityType": "dollar_amount"}),
    ("risk_percent with a relative stop", {"quantityType": "risk_percent", "quantity": "0.5",
                                           "stopLoss": {"percent": 2}},
     {"quantity_type": "risk_percent", "quantity": D("0.5"), "stop_loss": StopLoss(percent=D(2))},
     {"quantityType": "risk_percent", "quantity": 0.5, "stopLoss": {"type": "stop", "percent": 2}}),
    # trailing_stop
    ("trailAmount", {"orderType": "trailing_stop", "trailAmount": "1.25"},
     {"order_type": "trailing_stop", "trail_amount": D("1.25"), "trail_percent": None},
     {"orderType": "trailing_stop", "trailAmount": 1.25}),
    ("trailPercent", {"action": "sell", "orderType": "trailing_stop", "trailPercent": 0.5},
     {"order_type": "trailing_stop", "trail_percent": D("0.5"), "trail_amount": None},
     {"orderType": "trailing_stop", "trailPercent": 0.5}),
    ("trailing_stop exit", {"action": "exit", "orderType": "trailing_stop", "trailAmount": 2},
     {"action": "exit", "trail_amount": D(2)}, {"trailAmount": 2}),
    ("trailing_stop reverse", {"action": "reverse", "orderType": "trailing_stop", "trailPercent": "1"},
     {"action": "reverse", "trail_percent": D(1)}, {"action": "reverse", "trailPercent": 1}),
    # extendedHours
    ("extendedHours true with limit", {"orderType": "limit", "limitPrice": "60.25", "extendedHours": True},
     {"extended_hours": True, "limit_price": D("60.25")}, {"extendedHours": True, "limitPrice": 60.25}),
    ("extendedHours string true", {"orderType": "limit", "limitPrice": 60, "extendedHours": "true"},
     {"extended_hours": True}, {"extendedHours": True}),
    ("extendedHours string TRUE", {"orderType": "limit", "limitPrice": 60, "extendedHours": " TRUE "},
     {"extended_hours": True}, {"extendedHours": True}),
    ("extendedHours string false with market", {"orderType": "market", "extendedHours": "false"},
     {"extended_hours": False}, {"extendedHours": False}),
    ("extendedHours without orderType", {"extendedHours": True, "price": 60},
     {"extended_hours": True, "order_type": None}, {"extendedHours": True}),
    # takeProfit
    ("takeProfit limitPrice", {"takeProfit": {"limitPrice": "110.55"}},
     {"take_profit": TakeProfit(limit_price=D("110.55"))}, {"takeProfit": {"limitPrice": 110.55}}),
    ("takeProfit price, the older docs' limitPrice", {"takeProfit": {"price": 110}},
     {"take_profit": TakeProfit(limit_price=D(110))}, {"takeProfit": {"limitPrice": 110}}),
    ("takeProfit percent", {"takeProfit": {"percent": 2.5}}, {"take_profit": TakeProfit(percent=D("2.5"))},
     {"takeProfit": {"percent": 2.5}}),
    ("takeProfit amount", {"takeProfit": {"amount": "3"}}, {"take_profit": TakeProfit(amount=D(3))},
     {"takeProfit": {"amount": 3}}),
    ("takeProfit with null siblings", {"takeProfit": {"percent": 4, "amount": None, "limitPrice": ""}},
     {"take_profit": TakeProfit(percent=D(4))}, {"takeProfit": {"percent": 4}}),
    # stopLoss
    ("stopLoss stopPrice", {"stopLoss": {"stopPrice": "95.5"}},
     {"stop_loss": StopLoss(type="stop", stop_price=D("95.5"))}, {"stopLoss": {"type": "stop", "stopPrice": 95.5}}),
    ("stopLoss percent", {"stopLoss": {"type": "stop", "percent": "1.5"}},
     {"stop_loss": StopLoss(percent=D("1.5"))}, {"stopLoss": {"type": "stop", "percent": 1.5}}),
    ("stopLoss amount", {"stopLoss": {"amount": 2}}, {"stop_loss": StopLoss(amount=D(2))},
     {"stopLoss": {"type": "stop", "amount": 2}}),
    ("stopLoss stop_limit", {"stopLoss": {"type": "stop_limit", "stopPrice": 95, "limitPrice": "94.5"}},
     {"stop_loss": StopLoss(type="stop_limit", stop_price=D(95), limit_price=D("94.5"))},
     {"stopLoss": {"type": "stop_limit", "stopPrice": 95, "limitPrice": 94.5}}),
    ("stopLoss STOP_LIMIT relative", {"stopLoss": {"type": "STOP_LIMIT", "percent": 1, "limitPrice": 94}},
     {"stop_loss": StopLoss(type="stop_limit", percent=D(1), limit_price=D(94))},
     {"stopLoss": {"type": "stop_limit", "percent": 1, "limitPrice": 94}}),
    ("stopLoss trailAmount", {"stopLoss": {"type": "trailing_stop", "trailAmount": "0.75"}},
     {"stop_loss": StopLoss(type="trailing_stop", trail_amount=D("0.75"))},
     {"stopLoss": {"type": "trailing_stop", "trailAmount": 0.75}}),
    ("stopLoss trailPercent", {"stopLoss": {"type": "trailing_stop", "trailPercent": 3}},
     {"stop_loss": StopLoss(type="trailing_stop", trail_percent=D(3))},
     {"stopLoss": {"type": "trailing_stop", "trailPercent": 3}}),
    ("a full bracket on sell", {"action": "sell", "price": 100, "takeProfit": {"percent": 4},
                                "stopLoss": {"amount": 2}},
     {"take_profit": TakeProfit(percent=D(4)), "stop_loss": StopLoss(amount=D(2))},
     {"takeProfit": {"percent": 4}, "stopLoss": {"type": "stop", "amount": 2}}),
    ("a bracket on add", {"action": "add", "takeProfit": {"amount": 1}}, {"take_profit": TakeProfit(amount=D(1))},
     {"takeProfit": {"amount": 1}}),
    # cancel, cancelOrderType
    ("cancel true", {"cancel": True}, {"cancel": True}, {"cancel": True}),
    ("cancel string false", {"cancel": "false"}, {"cancel": False}, {"cancel": False}),
    ("cancel with sell", {"action": "sell", "cancel": "true"}, {"cancel": True}, {"cancel": True}),
    ("cancelOrderType", {"action": "cancel", "cancelOrderType": "LIMIT"},
     {"action": "cancel", "cancel_order_type": "limit"}, {"action": "cancel", "cancelOrderType": "limit"}),
    ("cancelOrderType trailing_stop", {"action": "cancel", "cancelOrderType": "trailing_stop"},
     {"cancel_order_type": "trailing_stop"}, {"cancelOrderType": "trailing_stop"}),
    # ignoreTradingWindows
    ("ignoreTradingWindows true", {"ignoreTradingWindows": True}, {"ignore_trading_windows": True},
     {"ignoreTradingWindows": True}),
    ("ignoreTradingWindows string false", {"action": "exit", "ignoreTradingWindows": "false"},
     {"ignore_trading_windows": False}, {"ignoreTradingWindows": False}),
    # reverse, breakeven, breakevenOffset
    ("reverse", {"action": "reverse", "quantity": 3}, {"action": "reverse", "quantity": D(3)},
     {"action": "reverse", "quantity": 3}),
    ("reverse with a bracket", {"action": "reverse", "stopLoss": {"percent": 1}},
     {"action": "reverse", "stop_loss": StopLoss(percent=D(1))}, {"stopLoss": {"type": "stop", "percent": 1}}),
    ("breakeven", {"action": "breakeven"}, {"action": "breakeven", "breakeven_offset": None}, {"action": "breakeven"}),
    ("breakevenOffset", {"action": "breakeven", "breakevenOffset": "0.25"}, {"breakeven_offset": D("0.25")},
     {"breakevenOffset": 0.25}),
    ("breakevenOffset zero", {"action": "breakeven", "breakevenOffset": 0}, {"breakeven_offset": D(0)},
     {"breakevenOffset": 0}),
    ("breakeven orderType stop", {"action": "breakeven", "orderType": "stop", "breakevenOffset": 1},
     {"order_type": "stop", "breakeven_offset": D(1)}, {"orderType": "stop", "breakevenOffset": 1}),
    ("breakeven orderType stop_limit", {"action": "breakeven", "orderType": "stop_limit"},
     {"order_type": "stop_limit"}, {"orderType": "stop_limit"}),
    # message
    ("message", {"message": "RSI crossed 70"}, {"message": "RSI crossed 70"}, {"message": "RSI crossed 70"}),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "attributes", "echoed"), [r[1:] for r in GOOD], ids=[r[0] for r in GOOD])
def test_a_good_value_lands_in_the_signal_and_is_echoed(
    fields: dict[str, Any], attributes: dict[str, Any], echoed: dict[str, Any]
) -> None:
    signal, echo, unknown = parse_body(raw(**fields))
    for name, expected in attributes.items():
        got = getattr(signal, name)
        assert got == expected, name
        if isinstance(expected, Decimal):
            assert isinstance(got, Decimal) and str(got) == str(expected), name  # exact digits, not a float
    for name, expected in echoed.items():
        assert echo[name] == expected, name
    assert unknown == {}


def test_every_quantity_type_of_the_issue_is_accepted() -> None:
    assert set(QUANTITY_TYPES) == {
        "fixed_quantity", "dollar_amount", "percent_of_equity", "percent_of_position", "risk_dollar_amount",
        "risk_percent",
    }  # fmt: skip


def test_the_echo_is_valid_json_with_numbers_not_strings() -> None:
    body = raw(
        quantityType="risk_dollar_amount", quantity="150", orderType="trailing_stop", trailPercent="1.5",
        takeProfit={"percent": "4"}, stopLoss={"type": "stop_limit", "amount": "2", "limitPrice": "97.5"},
        cancel="true", ignoreTradingWindows="false", message="go",
    )  # fmt: skip
    _, echo, _ = parse_body(body)
    assert json.loads(json.dumps(echo)) == {
        "ticker": "AMD", "action": "buy", "quantity": 150, "quantityType": "risk_dollar_amount",
        "orderType": "trailing_stop", "trailPercent": 1.5, "takeProfit": {"percent": 4},
        "stopLoss": {"type": "stop_limit", "amount": 2, "limitPrice": 97.5}, "cancel": True,
        "ignoreTradingWindows": False, "message": "go",
    }  # fmt: skip


def test_absent_new_fields_are_none_and_not_echoed() -> None:
    signal, echo, _ = parse_body(raw())
    for name in ("quantity_type", "trail_amount", "trail_percent", "extended_hours", "take_profit", "stop_loss",
                 "cancel", "cancel_order_type", "ignore_trading_windows", "breakeven_offset", "message"):  # fmt: skip
        assert getattr(signal, name) is None, name
    assert echo == {"ticker": "AMD", "action": "buy"}
