"""Webhook body -> Signal: every bad input gets its messageCode, every good one an exact Signal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.models import Signal
from bridge.signals.parse import NOT_YET_SUPPORTED, PayloadError, parse_body, parse_payload


def body(**fields: Any) -> bytes:
    """A JSON body with a valid ticker and action unless the caller overrides them."""
    return json.dumps({"ticker": "AMD", "action": "buy", **fields}).encode()


def obj(**fields: Any) -> dict[str, Any]:
    """A JSON object with a valid ticker and action unless the caller overrides them."""
    return {"ticker": "AMD", "action": "buy", **fields}


def fails(raw: bytes) -> PayloadError:
    """Parse `raw`, which must be rejected, and return the PayloadError."""
    with pytest.raises(PayloadError) as caught:
        parse_body(raw)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Bodies that are not a JSON object at all.

NOT_JSON: list[tuple[str, bytes, str]] = [
    ("empty body", b"", "empty-json"),
    ("spaces", b"   ", "empty-json"),
    ("newlines and tabs", b"\n\t \r\n", "empty-json"),
    ("only a UTF-8 BOM", b"\xef\xbb\xbf", "empty-json"),
    ("latin-1 bytes", b'{"ticker": "caf\xe9", "action": "buy"}', "malformed-json"),
    ("UTF-16 with BOM", '{"ticker": "AMD"}'.encode("utf-16"), "malformed-json"),
    ("lone continuation byte", b"\x80", "malformed-json"),
    ("trailing comma", b'{"ticker": "AMD", "action": "buy",}', "malformed-json"),
    (
        "smart quotes",
        "{\u201cticker\u201d: \u201cAMD\u201d, \u201caction\u201d: \u201cbuy\u201d}".encode(),
        "malformed-json",
    ),
    ("single quotes", b"{'ticker': 'AMD', 'action': 'buy'}", "malformed-json"),
    ("unquoted TradingView text", b"buy AMD at 60.30", "malformed-json"),
    ("unquoted placeholder", b'{"ticker": "AMD", "action": "buy", "price": {{close}}}', "malformed-json"),
    ("NaN", b'{"ticker": "AMD", "action": "buy", "price": NaN}', "malformed-json"),
    ("Infinity", b'{"ticker": "AMD", "action": "buy", "quantity": Infinity}', "malformed-json"),
    ("-Infinity", b'{"ticker": "AMD", "action": "buy", "quantity": -Infinity}', "malformed-json"),
    ("truncated", b'{"ticker": "AMD", "action": "bu', "malformed-json"),
    ("two objects", b'{"ticker": "AMD", "action": "buy"}{"ticker": "AMD", "action": "buy"}', "malformed-json"),
    ("JSON array", b'[{"ticker": "AMD", "action": "buy"}]', "invalid-payload"),
    ("JSON string", b'"buy AMD"', "invalid-payload"),
    ("JSON number", b"42", "invalid-payload"),
    ("JSON null", b"null", "invalid-payload"),
    ("JSON true", b"true", "invalid-payload"),
]


@pytest.mark.parametrize(("raw", "code"), [(raw, code) for _, raw, code in NOT_JSON], ids=[n for n, _, _ in NOT_JSON])
def test_a_body_that_is_not_a_json_object_is_rejected_with_its_code(raw: bytes, code: str) -> None:
    error = fails(raw)
    assert error.code == code
    assert error.message == str(error)
    # Every message shows what a good body looks like or says what is wrong with the JSON.
    assert "JSON" in error.message or '{"ticker"' in error.message


def test_malformed_json_says_where_the_syntax_error_is() -> None:
    error = fails(b'{\n  "ticker": "AMD",\n  "action": "buy",\n}')
    assert error.code == "malformed-json"
    assert "line 3" in error.message  # where the comma is, not the } after it that the JSON reader stopped at
    assert "trailing comma" in error.message


@pytest.mark.parametrize(
    ("raw", "placeholder"),
    [
        (b"{{strategy.order.alert_message}}", "{{strategy.order.alert_message}}"),  # an indicator's alert
        (b'{"ticker": "AMD", "action": "buy", "price": {{close}}}', "{{close}}"),
    ],
)
def test_a_body_that_is_not_json_because_of_a_placeholder_names_the_placeholder(raw: bytes, placeholder: str) -> None:
    error = fails(raw)
    assert error.code == "malformed-json"
    assert placeholder in error.message and "not replaced" in error.message and "trailing commas" not in error.message


def test_a_json_array_is_told_to_send_an_object() -> None:
    assert "must be a JSON object" in fails(b"[]").message


def test_a_utf8_bom_before_valid_json_is_accepted() -> None:
    signal, _, _ = parse_body(b"\xef\xbb\xbf" + body())
    assert (signal.ticker, signal.action) == ("AMD", "buy")


@pytest.mark.parametrize("depth", [40, 500])
def test_a_body_nested_too_deep_is_refused_naming_the_field(depth: int) -> None:
    nested = b'{"a": ' * depth + b"1" + b"}" * depth
    error = fails(b'{"ticker": "AMD", "action": "buy", "extras": ' + nested + b"}")
    assert error.code == "invalid-payload"
    assert error.message.startswith("extras nests") and "levels deep" in error.message


def test_a_body_too_deep_for_the_json_reader_is_refused_saying_so() -> None:
    error = fails(b"[" * 5000 + b"]" * 5000)
    assert error.code == "invalid-payload"
    assert "nests" in error.message and "trailing commas" not in error.message


def test_extras_nested_a_few_levels_are_accepted() -> None:
    signal, _, _ = parse_body(body(extras={"a": {"b": [{"c": [1, 2, {"d": "e"}]}]}}))
    assert signal.extras == {"a": {"b": [{"c": [1, 2, {"d": "e"}]}]}}


def test_unknown_fields_unlike_any_signal_field_are_still_ignored() -> None:
    _, _, unknown = parse_body(body(comment="x", strategyName="trend", Strategy="s", order_id=7))
    assert unknown == {"comment": "x", "strategyName": "trend", "Strategy": "s", "order_id": 7}


@pytest.mark.parametrize(
    ("sent", "ticker"),
    [
        ("AMD\n", "AMD"),
        (" amd ", "amd"),
        ("SPY 250624C596", "SPY 250624C596"),
        ("BTC/USDT:USDT", "BTC/USDT:USDT"),
        ("NASDAQ:AMD", "NASDAQ:AMD"),
        ("NQ1!", "NQ1!"),
        ("7203", "7203"),
    ],
)
def test_real_tickers_pass_the_invisible_character_check(sent: str, ticker: str) -> None:
    signal, _, _ = parse_body(body(ticker=sent))
    assert signal.ticker == ticker


def test_the_invisible_character_is_named_in_the_message() -> None:
    error = fails(body(ticker="AMD\u200b"))
    assert "U+200B" in error.message and "ZERO WIDTH SPACE" in error.message and "retype" in error.message


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"ticker": "AMD", "action": "buy", "action": "sell"}', "action"),
        (b'{"ticker": "AMD", "action": "exit", "quantity": 1, "quantity": 1000}', "quantity"),
        (b'{"ticker": "AMD", "action": "buy", "stopLoss": {"percent": 2, "percent": 20}}', "percent"),
    ],
)
def test_a_key_sent_twice_is_refused_rather_than_the_last_one_silently_winning(raw: bytes, key: str) -> None:
    # Python keeps the last, other readers the first: a body two readers read differently must not trade.
    error = fails(raw)
    assert error.code == "invalid-payload"
    assert f'"{key}" twice' in error.message and "once" in error.message


# ---------------------------------------------------------------------------------------------
# JSON objects with a bad field: the code, and a message that names the field.

BAD_FIELDS: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, the whole object, messageCode, a word the message must contain)
    ("no ticker", {"action": "buy"}, "invalid-payload", "ticker"),
    ("no action", {"ticker": "AMD"}, "invalid-payload", "action"),
    ("empty object", {}, "invalid-payload", "ticker"),
    ("empty ticker", {"ticker": "", "action": "buy"}, "empty-ticker-name", "ticker"),
    ("blank ticker", {"ticker": "   ", "action": "buy"}, "empty-ticker-name", "ticker"),
    ("null ticker", {"ticker": None, "action": "buy"}, "empty-ticker-name", "ticker"),
    ("list ticker", {"ticker": ["AMD"], "action": "buy"}, "empty-ticker-name", "ticker"),
    ("unknown action", {"ticker": "AMD", "action": "hold"}, "invalid-action", "action"),
    ("empty action", {"ticker": "AMD", "action": ""}, "invalid-action", "action"),
    ("null action", {"ticker": "AMD", "action": None}, "invalid-action", "action"),
    ("numeric action", {"ticker": "AMD", "action": 1}, "invalid-action", "action"),
    ("hold is not an action", {"ticker": "AMD", "action": "hold"}, "invalid-action", "action"),
    ("unknown sentiment", obj(sentiment="neutral"), "invalid-sentiment", "sentiment"),
    ("numeric sentiment", obj(sentiment=1), "invalid-sentiment", "sentiment"),
    ("exit + sentiment", obj(action="exit", sentiment="flat"), "invalid-sentiment-action", "sentiment"),
    ("add + sentiment", obj(action="add", sentiment="bullish"), "invalid-sentiment-action", "sentiment"),
    ("cancel + sentiment", obj(action="cancel", sentiment="long"), "invalid-sentiment-action", "sentiment"),
    ("quantity 0", obj(quantity=0), "invalid-quantity", "quantity"),
    ("quantity -1", obj(quantity=-1), "invalid-quantity", "quantity"),
    ("quantity -0.5", obj(quantity=-0.5), "invalid-quantity", "quantity"),
    ('quantity "0"', obj(quantity="0"), "invalid-quantity", "quantity"),
    ('quantity "abc"', obj(quantity="abc"), "invalid-quantity", "quantity"),
    ('quantity "1,5"', obj(quantity="1,5"), "invalid-quantity", "quantity"),
    ('quantity "NaN"', obj(quantity="NaN"), "invalid-quantity", "quantity"),
    ('quantity "Infinity"', obj(quantity="Infinity"), "invalid-quantity", "quantity"),
    ("quantity true", obj(quantity=True), "invalid-quantity", "quantity"),
    ("quantity false", obj(quantity=False), "invalid-quantity", "quantity"),
    ("quantity list", obj(quantity=[1]), "invalid-quantity", "quantity"),
    ("quantity object", obj(quantity={"v": 1}), "invalid-quantity", "quantity"),
    ('price "abc"', obj(price="abc"), "invalid-price", "price"),
    ("price -1", obj(price=-1), "invalid-price", "price"),
    ("signalPrice 0", obj(signalPrice=0), "invalid-price", "signalPrice"),
    ("limitPrice true", obj(limitPrice=True), "invalid-limit-price", "limitPrice"),
    ('stopPrice "x"', obj(stopPrice="x"), "invalid-stop-price", "stopPrice"),
    ("close placeholder in price", obj(price="{{close}}"), "unsubstituted-placeholder", "price"),
    ("placeholder in signalPrice", obj(signalPrice="{{close}}"), "unsubstituted-placeholder", "signalPrice"),
    (
        "strategy placeholder in quantity",
        {"ticker": "AMD", "action": "buy", "quantity": "{{strategy.order.contracts}}"},
        "unsubstituted-placeholder",
        "quantity",
    ),
    ("spaced placeholder", obj(quantity="{{ close }}"), "unsubstituted-placeholder", "quantity"),
    ("placeholder in ticker", {"ticker": "{{ticker}}", "action": "buy"}, "unsubstituted-placeholder", "ticker"),
    (
        "placeholder in action",
        {"ticker": "AMD", "action": "{{strategy.order.action}}"},
        "unsubstituted-placeholder",
        "action",
    ),
    ("TrendSpider placeholder", obj(price="%last_price%"), "unsubstituted-placeholder", "price"),
    # Inside takeProfit and stopLoss too: "must be a number" would hide that the placeholder was never filled in.
    (
        "placeholder in stopLoss.stopPrice",
        obj(price=10, stopLoss={"stopPrice": "{{plot_0}}"}),
        "unsubstituted-placeholder",
        'stopLoss.stopPrice is "{{plot_0}}": the alert sent a placeholder',
    ),
    (
        "placeholder in takeProfit.percent",
        obj(price=10, takeProfit={"percent": "{{ plot_1 }}"}),
        "unsubstituted-placeholder",
        'takeProfit.percent is "{{ plot_1 }}"',
    ),
    (
        "placeholder in stopLoss.type",
        obj(price=10, stopLoss={"type": "%bot_status%", "percent": 2}),
        "unsubstituted-placeholder",
        "stopLoss.type",
    ),
    ("unknown orderType", obj(orderType="iceberg"), "invalid-order-type", "orderType"),
    ("numeric orderType", obj(orderType=2), "invalid-order-type", "orderType"),
    (
        "stop_limit without a limit price",
        obj(orderType="stop_limit", stopPrice=10),
        "invalid-limit-price",
        "limitPrice",
    ),
    (
        "stop without stopPrice",
        {"ticker": "AMD", "action": "buy", "orderType": "stop", "price": 10},
        "invalid-stop-price",
        "stopPrice",
    ),
    (
        "stop_limit without stopPrice",
        {"ticker": "AMD", "action": "buy", "orderType": "stop_limit", "limitPrice": 10},
        "invalid-stop-price",
        "stopPrice",
    ),
    ("unknown timeInForce", obj(timeInForce="forever"), "invalid-time-in-force", "timeInForce"),
    ("numeric timeInForce", obj(timeInForce=1), "invalid-time-in-force", "timeInForce"),
    ("unparseable time", obj(time="yesterday"), "invalid-time", "time"),
    ("boolean time", obj(time=True), "invalid-time", "time"),
    ("extras not an object", obj(extras=[1, 2]), "invalid-extras", "extras"),
    ("extras a string", obj(extras="note"), "invalid-extras", "extras"),
    # A field we act on written in other letters would otherwise be ignored as unknown: no stop loss, default size.
    ("StopLoss", obj(StopLoss={"percent": 2}), "invalid-payload", "stopLoss"),
    ("Quantity", obj(Quantity=100), "invalid-payload", "quantity"),
    ("ORDERTYPE", obj(ORDERTYPE="limit", price=10), "invalid-payload", "orderType"),
    ("take-profit with a hyphen", obj(**{"take-profit": {"percent": 2}}), "invalid-payload", "takeProfit"),
    ("IdempotencyKey", obj(IdempotencyKey="k-1"), "invalid-payload", "idempotencyKey"),
    ("TICKER and Action", {"TICKER": "AMD", "Action": "buy"}, "invalid-payload", "case-sensitive"),
    # A ticker with an invisible or control character is another symbol to the broker (a position of its own).
    ("zero-width space in ticker", {"ticker": "AMD\u200b", "action": "buy"}, "invalid-payload", "ticker"),
    ("newline inside ticker", {"ticker": "AM\nD", "action": "buy"}, "invalid-payload", "ticker"),
    ("NUL in ticker", {"ticker": "AMD\u0000", "action": "buy"}, "invalid-payload", "ticker"),
    ("no-break space inside ticker", {"ticker": "SPY\u00a0250624C596", "action": "buy"}, "invalid-payload", "ticker"),
]


@pytest.mark.parametrize(
    ("data", "code", "field"), [(d, c, f) for _, d, c, f in BAD_FIELDS], ids=[n for n, _, _, _ in BAD_FIELDS]
)
def test_a_bad_field_gets_its_code_and_a_message_naming_the_field(data: dict[str, Any], code: str, field: str) -> None:
    error = fails(json.dumps(data).encode())
    assert error.code == code
    assert field in error.message


@pytest.mark.parametrize("field", NOT_YET_SUPPORTED)
def test_a_field_this_version_cannot_act_on_is_refused_rather_than_ignored(field: str) -> None:
    error = fails(body(**{field: {"limitPrice": 70} if field in ("takeProfit", "stopLoss") else 1}))
    assert error.code == "unsupported-field"
    assert error.message.startswith(f"{field} is not supported")


def test_market_price_type_is_refused_even_when_everything_else_is_valid() -> None:
    error = fails(body(price="60.30", quantity=2, marketPriceType="ask"))
    assert (error.code, error.message.split()[0]) == ("unsupported-field", "marketPriceType")


def test_the_placeholder_message_quotes_the_value_and_says_it_was_not_replaced() -> None:
    error = fails(body(price="{{close}}"))
    assert error.message.startswith('price is "{{close}}":')
    assert "not replaced" in error.message


@pytest.mark.parametrize("value", ["0", "-1", "abc", True])
def test_the_invalid_quantity_message_shows_the_value_received(value: Any) -> None:
    assert json.dumps(value).strip('"') in fails(body(quantity=value)).message


def test_a_sentiment_placeholder_is_reported_as_a_placeholder_not_a_bad_sentiment() -> None:
    assert fails(body(sentiment="{{strategy.market_position}}")).code == "unsubstituted-placeholder"


# ---------------------------------------------------------------------------------------------
# Good bodies.


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("price", "60.30", Decimal("60.30")),
        ("price", 60.30, Decimal("60.30")),
        ("price", " 60.30 ", Decimal("60.30")),
        ("price", 60, Decimal(60)),
        ("price", "0.00012345", Decimal("0.00012345")),
        ("price", "1e3", Decimal(1000)),
        ("quantity", "5", Decimal(5)),
        ("quantity", 0.1, Decimal("0.1")),
        ("quantity", "0.25", Decimal("0.25")),
        ("quantity", 100, Decimal(100)),
        ("quantity", "123456789.123456789", Decimal("123456789.123456789")),
        ("limit_price", "59.99", Decimal("59.99")),
        ("stop_price", 58.5, Decimal("58.5")),
    ],
)
def test_numbers_and_numeric_strings_become_exact_decimals(field: str, value: Any, expected: Decimal) -> None:
    wire = {"price": "price", "quantity": "quantity", "limit_price": "limitPrice", "stop_price": "stopPrice"}[field]
    signal, _, _ = parse_body(body(**{wire: value}))
    got = getattr(signal, field)
    assert isinstance(got, Decimal)
    assert got == expected  # Decimal equality is exact: a binary float would not compare equal


def test_a_float_price_keeps_its_decimal_digits_exactly() -> None:
    signal, _, _ = parse_body(b'{"ticker": "SQ", "action": "buy", "price": 60.30}')
    assert signal.price == Decimal("60.30")
    assert signal.price != Decimal.from_float(60.30)  # the float's binary value is not what was sent


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("bullish", "bullish"),
        ("long", "bullish"),
        ("LONG", "bullish"),
        ("bearish", "bearish"),
        ("short", "bearish"),
        (" Short ", "bearish"),
        ("flat", "flat"),
        ("Flat", "flat"),
        (None, None),  # "" is refused: test_blank_sentiment
    ],
)
def test_sentiment_names_are_normalised(sent: str | None, expected: str | None) -> None:
    signal, echo, _ = parse_body(body(action="sell", sentiment=sent))
    assert signal.sentiment == expected
    assert echo.get("sentiment") == expected


@pytest.mark.parametrize(
    ("sent", "expected"),
    [("buy", "buy"), ("BUY", "buy"), ("Sell", "sell"), (" exit ", "exit"), ("CANCEL", "cancel"), ("Add", "add")],
)
def test_action_is_case_insensitive(sent: str, expected: str) -> None:
    signal, echo, _ = parse_body(body(action=sent))
    assert signal.action == expected
    assert echo["action"] == expected


@pytest.mark.parametrize(
    ("sent", "expected"),
    [("market", "market"), ("LIMIT", "limit"), ("Stop", "stop"), ("stop_limit", "stop_limit"), ("", None)],
)
def test_order_type_is_case_insensitive(sent: str, expected: str | None) -> None:
    signal, _, _ = parse_body(body(orderType=sent, price=10, limitPrice=10, stopPrice=9))
    assert signal.order_type == expected


@pytest.mark.parametrize("tif", ["day", "gtc", "opg", "cls", "ioc", "fok", "GTC", " Day "])
def test_every_time_in_force_is_accepted(tif: str) -> None:
    signal, echo, _ = parse_body(body(timeInForce=tif))
    assert signal.time_in_force == tif.strip().lower()
    assert echo["timeInForce"] == tif.strip().lower()


def test_ticker_is_trimmed_and_a_numeric_ticker_becomes_text() -> None:
    assert parse_body(body(ticker="  AMD \n"))[0].ticker == "AMD"
    assert parse_body(body(ticker=7203))[0].ticker == "7203"


def test_signal_price_is_an_alias_of_price() -> None:
    signal, echo, unknown = parse_body(body(signalPrice="12.50"))
    assert signal.price == Decimal("12.50")
    assert echo["price"] == 12.5
    assert "signalPrice" not in unknown


def test_signal_price_stands_for_price_as_a_stop_limit_s_limit() -> None:
    # A stop_limit takes limitPrice or price as its limit; signalPrice is price under its other name.
    signal, _, _ = parse_body(body(action="sell", orderType="stop_limit", stopPrice="95", signalPrice="94.5"))
    assert (signal.order_type, signal.stop_price, signal.price) == ("stop_limit", Decimal(95), Decimal("94.5"))


def test_price_wins_over_signal_price_when_both_are_sent() -> None:
    signal, _, _ = parse_body(body(price="10", signalPrice="11"))
    assert signal.price == Decimal(10)


def test_the_seed_example_parses_to_the_expected_signal() -> None:
    signal, echo, unknown = parse_body(b'{"ticker": "SQ", "action": "buy", "sentiment": "bullish", "price": 60.30}')
    assert signal == Signal(ticker="SQ", action="buy", sentiment="bullish", price=Decimal("60.30"))
    assert echo == {"ticker": "SQ", "action": "buy", "sentiment": "bullish", "price": 60.3}
    assert unknown == {}


def test_the_echo_uses_traderspost_names_and_plain_numbers() -> None:
    raw = body(
        action="sell",
        sentiment="short",
        price="60.30",
        quantity="5",
        orderType="limit",
        limitPrice="60.25",
        timeInForce="GTC",
        interval=15,
        extras={"note": "from my strategy"},
    )
    signal, echo, unknown = parse_body(raw)
    assert echo == {
        "ticker": "AMD",
        "action": "sell",
        "sentiment": "bearish",
        "price": 60.3,
        "quantity": 5,
        "orderType": "limit",
        "limitPrice": 60.25,
        "timeInForce": "gtc",
        "interval": "15",
        "extras": {"note": "from my strategy"},
    }
    assert isinstance(echo["quantity"], int)
    assert signal.extras == {"note": "from my strategy"}
    assert unknown == {}


def test_the_minimal_echo_has_only_ticker_and_action() -> None:
    assert parse_body(body())[1] == {"ticker": "AMD", "action": "buy"}


def test_unknown_fields_are_kept_for_the_journal_and_not_echoed() -> None:
    signal, echo, unknown = parse_body(
        body(strategy="sq-trend", position_size=3, nested={"a": [1, 2]}, note="{{strategy.order.alert_message}}")
    )
    assert unknown == {
        "strategy": "sq-trend",
        "position_size": 3,
        "nested": {"a": [1, 2]},
        "note": "{{strategy.order.alert_message}}",
    }
    assert echo == {"ticker": "AMD", "action": "buy"}
    assert signal.extras == {}


def test_placeholders_inside_extras_are_the_user_s_business() -> None:
    signal, _, _ = parse_body(body(extras={"bar": "{{time}}"}))
    assert signal.extras == {"bar": "{{time}}"}


def test_absent_optional_fields_are_none() -> None:
    signal, _, _ = parse_body(body(price=None, quantity="", sentiment=None, orderType=None, time=""))
    assert signal == Signal(ticker="AMD", action="buy")


FIXED = datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-01-02T15:04:05Z", FIXED),
        ("2026-01-02T15:04:05.000Z", FIXED),
        ("2026-01-02T15:04:05+00:00", FIXED),
        ("2026-01-02T10:04:05-05:00", FIXED),
        ("2026-01-02T15:04:05", FIXED),  # no zone: TradingView's {{timenow}} is UTC
        (" 2026-01-02T15:04:05Z ", FIXED),
        ("2026-01-02t15:04:05z", FIXED),  # RFC 3339 allows T and Z in lower case
        (int(FIXED.timestamp()), FIXED),  # epoch seconds
        (int(FIXED.timestamp()) * 1000, FIXED),  # epoch milliseconds
    ],
)
def test_time_is_parsed_to_an_aware_utc_instant(sent: str | int, expected: datetime) -> None:
    signal, echo, _ = parse_body(body(time=sent))
    assert signal.time == expected
    assert signal.time is not None and signal.time.utcoffset() is not None
    assert datetime.fromisoformat(echo["time"]) == expected


def test_a_zoned_time_keeps_its_offset() -> None:
    signal, echo, _ = parse_body(body(time="2026-01-02T10:04:05-05:00"))
    assert signal.time is not None
    assert signal.time.utcoffset() == timedelta(hours=-5)
    assert signal.time.tzinfo == timezone(timedelta(hours=-5))
    assert echo["time"] == "2026-01-02T10:04:05-05:00"


def test_parse_payload_accepts_already_decoded_json() -> None:
    signal, _, _ = parse_payload({"ticker": "SPY", "action": "exit", "quantity": 2})
    assert (signal.ticker, signal.action, signal.quantity) == ("SPY", "exit", Decimal(2))


# ---------------------------------------------------------------------------------------------
# Property: any JSON object either parses or is refused with a PayloadError.

FIELD_NAMES = [
    "ticker", "action", "sentiment", "price", "signalPrice", "quantity", "orderType", "limitPrice",
    "stopPrice", "timeInForce", "time", "interval", "extras", "message", "takeProfit", "strategy",
]  # fmt: skip
WORDS = [
    "AMD", "buy", "sell", "exit", "cancel", "add", "BUY", "long", "short", "flat", "bullish", "limit",
    "market", "stop", "gtc", "day", "{{close}}", "60.30", "-1", "0", "1e400", "1e-400", "NaN",
    "2026-01-02T15:04:05Z", "",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(WORDS)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), json_values, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_objects)
def test_any_json_object_parses_or_raises_payload_error(data: dict[str, Any]) -> None:
    raw = json.dumps(data).encode()
    try:
        signal, echo, unknown = parse_body(raw)
    except PayloadError as error:
        assert error.code and error.message
        return
    assert isinstance(signal, Signal)
    # The echo goes back in the 200 response and into the journal: it must be strict JSON.
    json.dumps(echo, allow_nan=False)
    json.dumps(unknown, default=str)


@pytest.mark.parametrize(
    "data",
    [
        {"ticker": "AMD", "action": 1.5},
        {"ticker": "AMD", "action": "buy", "sentiment": 1.5},
        {"ticker": "AMD", "action": "buy", "sentiment": []},
        {"ticker": "AMD", "action": "buy", "sentiment": {"a": 1}},
        {"ticker": "AMD", "action": "buy", "orderType": 2.5},
        {"ticker": "AMD", "action": "buy", "timeInForce": 0.5},
        {"ticker": "AMD", "action": "buy", "time": [1]},
        {"ticker": "AMD", "action": "buy", "time": 1e300},
        {"ticker": "AMD", "action": "buy", "time": 10**30},
        {"ticker": "AMD", "action": "buy", "price": "1e400"},
        {"ticker": "AMD", "action": "buy", "quantity": "1e-400"},
        {"ticker": "AMD", "action": "buy", "extras": {"ratio": 0.5, "deep": [{"x": 1.25}]}},
    ],
)
def test_awkward_values_never_escape_as_another_exception(data: dict[str, Any]) -> None:
    try:
        _, echo, _ = parse_body(json.dumps(data).encode())
    except PayloadError:
        return
    json.dumps(echo, allow_nan=False)


def test_a_fractional_epoch_time_is_accepted() -> None:
    signal, _, _ = parse_body(body(time=FIXED.timestamp() + 0.5))
    assert signal.time == FIXED + timedelta(milliseconds=500)


def test_extras_with_fractional_numbers_echo_as_json_numbers() -> None:
    signal, echo, _ = parse_body(body(extras={"ratio": 0.5, "deep": [{"x": 1.25}]}))
    assert echo["extras"] == {"ratio": 0.5, "deep": [{"x": 1.25}]}
    assert json.loads(json.dumps(echo)) == echo
    assert signal.extras["ratio"] == Decimal("0.5")


def test_an_options_alert_is_refused_rather_than_traded_as_shares() -> None:
    # TradersPost's options example: an in-the-money call six months out, two strikes away.
    error = fails(body(optionType="call", expiration="+6 months", intrinsicValue="itm", strikesAway=2))
    assert error.code == "unsupported-field" and error.message.startswith("optionType is not supported")
    for field, value in (("strikePrice", 580), ("strikeCount", 5), ("expiration", "2026-12-18")):
        assert fails(body(**{field: value})).code == "unsupported-field"


def test_an_epoch_time_may_be_a_string_as_other_numbers_may() -> None:
    for sent in (1767366245000, "1767366245000", "1767366245", " 1767366245.5 "):
        signal, _, _ = parse_body(body(time=sent))
        assert signal.time is not None and signal.time.isoformat().startswith("2026-01-02T15:04:05"), sent
    assert fails(body(time="17673e6")).code == "invalid-time"


@pytest.mark.parametrize("number", ["1e999999999", "-1E+999999999"])
def test_extras_with_a_number_beyond_the_decimal_range_echo_it_as_text(number: str) -> None:
    """Your own fields are never acted on: a number too large even for a float is kept, and echoed as it came."""
    raw = f'{{"ticker": "AMD", "action": "buy", "extras": {{"big": {number}, "list": [{number}]}}}}'.encode()
    signal, echo, _ = parse_body(raw)
    assert echo["extras"] == {"big": str(Decimal(number)), "list": [str(Decimal(number))]}
    assert json.loads(json.dumps(echo)) == echo
    assert signal.extras["big"] == Decimal(number)


def test_the_echo_rebuilds_the_signal_with_every_digit_it_was_sent_with() -> None:
    """A delayed or resumed signal is parsed again from its journaled echo: each number must come back as sent.

    Digits a float cannot hold (a 16th significant one, say) moved a limit price, and a quantity just under the
    1e15 limit came back as 1e15 and was refused as too large to trade.
    """
    sent = {"limitPrice": "8.000000000000001", "quantity": "999999999999999.9999", "price": "0.1234567890123456789",
            "stopLoss": {"stopPrice": "7.000000000000001"}}  # fmt: skip
    signal, echo, _ = parse_body(body(orderType="limit", **sent))
    again, _, _ = parse_payload(json.loads(json.dumps(echo)))  # as the journal stores it and reads it back
    assert again == signal
    assert echo["price"] == "0.1234567890123456789" and echo["orderType"] == "limit"
    assert json.loads(body(price=60.3))["price"] == parse_body(body(price=60.3))[1]["price"] == 60.3  # plain numbers
