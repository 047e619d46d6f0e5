"""Messages as TradingView and TrendSpider alerts really send them, tried as a new user of each would."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.signals.parse import PayloadError, parse_body
from bridge.signals.resolve import resolve


def fails(raw: bytes) -> PayloadError:
    """Parse `raw`, which must be rejected, and return the PayloadError."""
    with pytest.raises(PayloadError) as caught:
        parse_body(raw)
    return caught.value


def position_size_alert(action: str, market_position: str, position_size: str) -> bytes:
    """A strategy alert sizing with {{strategy.position_size}}, as TradingView fills it in."""
    return json.dumps({"ticker": "NASDAQ:AAPL", "action": action, "sentiment": market_position,
                       "quantity": position_size, "price": "187.23"}).encode()  # fmt: skip


@pytest.mark.parametrize(("action", "held"), [("sell", "10"), ("buy", "-10")])
def test_a_close_to_flat_sized_by_position_size_zero_exits_the_whole_position(action: str, held: str) -> None:
    # On the close, {{strategy.position_size}} is 0 and {{strategy.market_position}} "flat": a flat sentiment
    # exits the whole position whatever the quantity, so refusing the 0 would only leave the position open.
    signal, payload, _ = parse_body(position_size_alert(action, "flat", "0"))
    assert (signal.sentiment, signal.quantity) == ("flat", None)
    assert "quantity" not in payload
    plan = resolve(signal, Decimal(held), [], Subscription(broker="paper"))
    assert plan.state == "executed"
    assert [(leg.kind, leg.quantity) for leg in plan.legs] == [("exit", 10)]


@pytest.mark.parametrize("sentiment", ["long", "short", None])
def test_a_zero_quantity_that_is_not_a_flat_close_is_still_refused(sentiment: str | None) -> None:
    raw = json.dumps({"ticker": "AAPL", "action": "sell", "sentiment": sentiment, "quantity": 0}).encode()
    assert fails(raw).code == "invalid-quantity"


@pytest.mark.parametrize("size", ["-10", -10, "-0.5"])
def test_a_short_s_negative_position_size_is_refused_saying_which_placeholder_to_send(size: str | int) -> None:
    # While short, {{strategy.position_size}} is negative: the order's own size is {{strategy.order.contracts}}.
    error = fails(position_size_alert("sell", "short", size) if isinstance(size, str) else
                  json.dumps({"ticker": "AAPL", "action": "sell", "quantity": size}).encode())  # fmt: skip
    assert error.code == "invalid-quantity"
    assert "negative" in error.message and "{{strategy.order.contracts}}" in error.message


# Each common way an alert message fails to be JSON, and the words that say how to fix it.
SYNTAX_MISTAKES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("smart quotes", "{\u201cticker\u201d: \u201cAAPL\u201d, \u201caction\u201d: \u201cbuy\u201d}".encode(),
     ("smart quote", "\u201c", "straight")),
    ("a smart quote on a value", '{"ticker": "AAPL", "action": \u201cbuy\u201d}'.encode(), ("smart quote", "straight")),
    ("a smart quote closing a value", '{"ticker": "AAPL", "action": "buy\u201d}'.encode(), ("smart quote", "\u201d")),
    ("fullwidth quotes", "{\uff02ticker\uff02: \uff02AAPL\uff02}".encode(), ("smart quote", "\uff02", "straight")),
    ("single quotes", b"{'ticker': 'AAPL', 'action': 'buy'}", ("single quote", "double quotes")),
    ("a trailing comma", b'{"ticker": "AAPL", "action": "buy",}', ("trailing comma", "remove")),
    ("a trailing comma on its own line", b'{\r\n  "ticker": "AAPL",\r\n  "action": "buy",\r\n}\r\n',
     ("trailing comma", "line 3")),
    ("a missing comma", b'{\n  "ticker": "AAPL"\n  "action": "buy"\n}', ("comma is missing", "line 2")),
    ("plain text", b"BTCUSDT Crossing 37000", ("plain text", '{"ticker"')),
    ("plain text starting with a number", b"2 contracts buy AAPL", ("plain text", '{"ticker"')),
    ("plain text starting with true", b"true breakout on AAPL", ("plain text", '{"ticker"')),
    ("plain text with a filled-in ticker", b"buy AAPL @ 187.23", ("plain text", '{"ticker"')),
    ("a no-break space", '{"ticker": "AAPL",\u00a0"action": "buy"}'.encode(), ("U+00A0", "NO-BREAK SPACE", "space")),
    ("a no-break space at the end", '{"ticker": "AAPL", "action": "buy"}\u00a0'.encode(), ("U+00A0", "space")),
    ("a Python form post", b"ticker=AAPL&action=buy&price=187.23", ("form", "json=")),
    ("a PHP form post", b"ticker=AAPL&action=buy&extras%5Bnote%5D=x", ("form", "json_encode")),
    ("a PHP multipart post", b'--sb\r\nContent-Disposition: form-data; name="ticker"\r\n\r\nAAPL\r\n--sb--\r\n',
     ("form", "json_encode")),
    ("Python's str() of a dict", str({"ticker": "AAPL", "action": "buy"}).encode(), ("single quote", "json.dumps")),
    ("a line break inside a text", b'{"ticker": "AAPL", "action": "buy",\r\n "message": "Long entry\r\nRSI < 30"}',
     ("line break", "line 2", "one line")),
    ("a tab inside a text", b'{"ticker": "AAPL", "action": "buy", "message": "RSI\t28"}', ("tab", "\\t")),
    ("a second object", b'{"ticker": "AAPL", "action": "buy"}\n{"ticker": "MSFT", "action": "sell"}',
     ("after the JSON object", "one")),
]  # fmt: skip


MISTAKE_IDS = [name for name, _, _ in SYNTAX_MISTAKES]


@pytest.mark.parametrize(("raw", "words"), [(r, w) for _, r, w in SYNTAX_MISTAKES], ids=MISTAKE_IDS)
def test_a_message_that_is_not_json_says_what_is_wrong_and_how_to_fix_it(raw: bytes, words: tuple[str, ...]) -> None:
    error = fails(raw)
    assert error.code == "malformed-json"
    assert "not valid JSON" in error.message
    for word in words:
        assert word in error.message, error.message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ticker": "%bot_symbol%", "action": "buy", "price": "%last_price%"}',
        b'{"ticker": "AAPL", "action": "buy", "price": %last_price%}',
    ],
)
def test_a_trendspider_placeholder_left_unreplaced_is_explained_for_trendspider(raw: bytes) -> None:
    # TrendSpider's variables are %name%: the hint about TradingView's {{...}} and strategies would mislead.
    message = fails(raw).message
    assert "TrendSpider" in message and "%" in message
    assert "TradingView" not in message and "strategy" not in message


def test_a_tradingview_placeholder_left_unreplaced_is_still_explained_for_tradingview() -> None:
    message = fails(b'{"ticker": "{{tickr}}", "action": "buy"}').message
    assert "TradingView" in message and "TrendSpider" not in message


@pytest.mark.parametrize(
    ("sent", "advice"),
    [
        ("long", '"action": "buy"'),
        ("short", '"action": "sell"'),
        ("flat", '"sentiment": "flat"'),
        ("close", '"action": "exit"'),
        ("Long", '"action": "buy"'),
    ],
)
def test_a_market_position_sent_as_the_action_is_told_which_action_it_means(sent: str, advice: str) -> None:
    # {{strategy.market_position}} in action, or an indicator's "long"/"close": say what to write instead.
    error = fails(json.dumps({"ticker": "AAPL", "action": sent}).encode())
    assert error.code == "invalid-action"
    assert advice in error.message, error.message
    assert "{{strategy.order.action}}" in error.message


def test_php_s_empty_extras_array_is_taken_as_no_extras() -> None:
    # PHP's json_encode writes an empty array, 'extras' => [], as [] whether it was meant as a list or a map.
    signal, payload, _ = parse_body(b'{"ticker": "AMD", "action": "buy", "price": 85.5, "extras": []}')
    assert signal.extras == {} and "extras" not in payload


def test_a_php_list_in_extras_is_still_refused_saying_to_send_an_object() -> None:
    error = fails(b'{"ticker": "AMD", "action": "buy", "extras": ["note"]}')
    assert error.code == "invalid-extras" and "JSON object" in error.message


@pytest.mark.parametrize(
    "data",
    [
        {"price": "NaN"},
        {"quantity": "NaN"},
        {"stopLoss": {"stopPrice": "NaN"}},
        {"takeProfit": {"limitPrice": "NaN"}},
        b'{"ticker": "AAPL", "action": "buy", "price": NaN}',
    ],
)
def test_a_plot_with_no_value_on_the_bar_is_refused_saying_where_the_nan_came_from(
    data: dict[str, object] | bytes,
) -> None:
    # TradingView fills {{plot_0}} (or a Pine str.tostring of na) in as NaN: the message says so, not just "a number".
    raw = data if isinstance(data, bytes) else json.dumps({"ticker": "AAPL", "action": "buy", **data}).encode()
    error = fails(raw)
    assert error.code.startswith(("invalid-", "malformed-json"))
    assert "NaN" in error.message and "no value" in error.message, error.message


@pytest.mark.parametrize(("field", "sent"), [("price", "1,234.50"), ("quantity", "1,5"), ("stopPrice", "4,950.25")])
def test_a_number_written_with_a_comma_is_refused_saying_how_to_write_it(field: str, sent: str) -> None:
    # A price copied from a chart or a sender that formats numbers for people: "1,234.50", or a decimal comma.
    data = {"ticker": "AAPL", "action": "buy", field: sent}
    if field == "stopPrice":
        data["orderType"] = "stop"
    error = fails(json.dumps(data).encode())
    assert error.code.startswith("invalid-")
    assert "thousands separator" in error.message and "decimal point" in error.message, error.message


# Pine's syminfo.tickerid on a chart with an extended session or adjustments: a ticker id, not a symbol.
TICKER_ID = '={"adjustment":"splits","session":"extended","symbol":"NASDAQ:AAPL"}'


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"ticker": TICKER_ID, "action": "buy"}).encode(),  # escaped: valid JSON
        ('{"ticker": "' + TICKER_ID + '", "action": "buy"}').encode(),  # pasted into the text as it is
    ],
    ids=["escaped", "unescaped"],
)
def test_a_pine_ticker_id_with_chart_settings_is_refused_saying_to_send_the_symbol(raw: bytes) -> None:
    error = fails(raw)
    assert "syminfo.ticker" in error.message and "syminfo.tickerid" in error.message, error.message


@pytest.mark.parametrize("ticker", ["{{ticker}", "{ticker}}", "{ticker}"])
def test_a_ticker_placeholder_with_a_brace_missing_is_told_to_check_its_braces(ticker: str) -> None:
    message = fails(json.dumps({"ticker": ticker, "action": "buy"}).encode()).message
    assert "{{ticker}}" in message and "brace" in message and "tickerid" not in message, message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ticker": "AAPL", "action": "{{strategy.order.action}}", "quantity": "{{strategy.order.contracts}}"}',
        b'{"ticker": "AAPL", "action": "buy", "quantity": {{strategy.order.contracts}}}',
    ],
)
def test_a_strategy_placeholder_on_an_indicator_alert_says_the_alert_is_not_a_strategy_s(raw: bytes) -> None:
    # The strategy.* names are filled in only on a strategy's alerts: spelling is not the likely cause.
    message = fails(raw).message
    assert "only on a strategy's alerts" in message and '"action": "buy"' in message, message


def test_a_quoted_placeholder_is_not_blamed_for_a_syntax_error_elsewhere() -> None:
    # "{{tickr}}" in quotes is valid JSON: the trailing comma is what the reader stopped at, so that is the fix.
    message = fails(b'{"ticker": "{{tickr}}", "action": "buy",}').message
    assert "trailing comma" in message and "{{tickr}}" not in message, message


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(json.dumps({"ticker": "AAPL", "action": "buy"})).encode(),  # requests.post(url, json=json.dumps(d))
        json.dumps(json.dumps({"ticker": "AAPL", "action": "buy"}, indent=2)).encode(),
    ],
)
def test_a_body_encoded_twice_says_to_encode_it_once(raw: bytes) -> None:
    error = fails(raw)
    assert error.code == "invalid-payload"
    assert "twice" in error.message and "json=" in error.message, error.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"symbol": "AAPL", "action": "buy"}, ('"symbol"', "ticker")),
        ({"ticker": "AAPL", "side": "buy"}, ('"side"', "action")),
        ({"Symbol": "AAPL", "action": "buy"}, ('"Symbol"', "ticker")),
    ],
)
def test_another_platform_s_name_for_a_required_field_is_told_the_name_here(
    data: dict[str, str], words: tuple[str, ...]
) -> None:
    # Messages written for other bridges or exchanges name the symbol "symbol" and the side "side".
    error = fails(json.dumps(data).encode())
    assert error.code == "invalid-payload"
    for word in words:
        assert word in error.message, error.message
    assert "name it" in error.message, error.message


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"ticker": "AAPL", "action": "buy", "quantity": 1,5}', "column 50"),
        # Pine's str.tostring(close, "#,##0.00") in an unquoted value
        (b'{"ticker": "AAPL", "action": "buy", "price": 1,234.50, "quantity": 3}', "column 47"),
        (b'{"ticker": "AAPL",\n "price": 4,950.25,\n "action": "buy"}', "line 2 column 12"),
    ],
)
def test_an_unquoted_number_written_with_a_comma_is_refused_saying_how_to_write_it(raw: bytes, where: str) -> None:
    # Unquoted, the comma ends the number and the JSON reader only says it expected a field name after it.
    error = fails(raw)
    assert error.code == "malformed-json"
    assert "comma" in error.message and where in error.message, error.message
    assert "thousands separator" in error.message and "decimal point" in error.message, error.message


def test_a_field_name_missing_its_quotes_after_a_number_is_not_taken_for_a_comma_in_the_number() -> None:
    error = fails(b'{"ticker": "AAPL", "quantity": 1, action: "buy"}')
    assert "thousands separator" not in error.message, error.message


@pytest.mark.parametrize(("action", "size"), [("exit", "0"), ("exit", 0), ("sell", "0.0"), ("buy", 0)])
def test_a_zero_quantity_is_refused_saying_where_a_zero_comes_from_and_what_to_send(action: str, size: str) -> None:
    # An exit alert sized by {{strategy.position_size}} fires once the strategy is flat, when it is 0.
    error = fails(json.dumps({"ticker": "AAPL", "action": action, "quantity": size}).encode())
    assert error.code == "invalid-quantity"
    assert "trades nothing" in error.message and "{{strategy.order.contracts}}" in error.message, error.message
    assert "leave quantity out" in error.message, error.message
