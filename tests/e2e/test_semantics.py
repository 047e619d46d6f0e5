"""Issue 3's semantics end to end: HTTP in, the real daemon, paper brokers out.

One daemon serves the module with four paper accounts (`paper` shared by most strategies, `paper-eq` for
equity sizing so no other case moves its equity, `paper-a`/`paper-b` for fan-out); every case trades its
own ticker."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ADMIN, GUARD, free_port
from tests.e2e.conftest import E2EDaemon, token_for

BROKERS = ("paper", "paper-eq", "paper-a", "paper-b")


def _window_far_from_now() -> str:
    """A one-minute window, every day, twelve hours from now: it cannot contain any moment of this module."""
    start = datetime.now(UTC) + timedelta(hours=12)
    end = start + timedelta(minutes=1)
    return f'{{days: [mon, tue, wed, thu, fri, sat, sun], start: "{start:%H:%M}", end: "{end:%H:%M}", timezone: UTC}}'


STRATEGIES: dict[str, str] = {
    "sq": "- broker: paper\n",
    "longonly": "- broker: paper\n  sides: long\n",
    "noswap": "- broker: paper\n  allow_swap: false\n",
    "equity": "- broker: paper-eq\n  sizing: {type: percent_of_equity, value: 10}\n",
    "limits": "- broker: paper\n  order_type: limit\n  time_in_force: gtc\n",
    "fan": "- broker: paper-a\n  sizing: {type: fixed_quantity, value: 3}\n"
    "- broker: paper-b\n  sizing: {type: dollar_amount, value: 1000}\n",
    "window": f"- broker: paper\n  trading_windows: [{_window_far_from_now()}]\n  allow_exits_outside_windows: true\n",
    "risk": "- broker: paper\n  stop_loss: {amount: 2}\n",
}


def _config(port: int) -> str:
    text = (
        f"server:\n  host: 127.0.0.1\n  port: {port}\n  admin_token: {ADMIN}\ndatabase: bridge.db\npoll_interval: 0.5\n"
    )
    text += "brokers:\n" + "".join(f"  {name}:\n    plugin: paper\n    options: {{cash: 100000}}\n" for name in BROKERS)
    text += "strategies:\n"
    for name, subscriptions in STRATEGIES.items():
        body = "".join(f"      {line}\n" for line in subscriptions.splitlines())
        text += f"  {name}:\n    token: {token_for(name)}\n    subscriptions:\n{body}"
    return text


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EDaemon]:
    port = free_port()
    config = tmp_path_factory.mktemp("semantics") / "config.yaml"
    config.write_text(_config(port))
    started = E2EDaemon(config=config, port=port)
    started.start()
    yield started
    started.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = GUARD) -> Any:
    """Poll until `check()` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def positions(daemon: E2EDaemon, symbol: str) -> dict[str, float]:
    """broker -> quantity held in `symbol`."""
    return {p["broker"]: p["quantity"] for p in daemon.api("positions") if p["symbol"] == symbol}


def legs(orders: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(o["leg"], o["side"], o["type"], o["quantity"], o["status"]) for o in orders]


def paper_book(daemon: E2EDaemon, symbol: str) -> dict[str, tuple[str, str | None]]:
    """The paper broker's own book (client order id -> status, fill price), read from the daemon's database."""
    with sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT client_order_id, status, avg_fill_price FROM paper_orders WHERE symbol = ?", (symbol,)
        ).fetchall()
    return {coid: (state, price) for coid, state, price in rows}


def journal_status(daemon: E2EDaemon, coid: str) -> tuple[str, Any]:
    row = next(o for o in daemon.api("orders", limit=1000) if o["client_order_id"] == coid)
    return row["status"], row["avg_fill_price"]


def go_long_5(daemon: E2EDaemon, ticker: str, price: float = 10) -> None:
    """Bring `ticker` to long 5 on the shared paper account through the default strategy."""
    done = daemon.send({"ticker": ticker, "action": "buy", "quantity": 5, "price": price})
    assert (done["state"], daemon.position(ticker)) == ("executed", 5), done["decision"]


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "ticker", "decision"),
    [
        ("longonly", "SEM-LONGONLY", "sell while long 5, sides=long: sold 5, no short opened (sides=long)"),
        ("noswap", "SEM-NOSWAP", "sell while long 5: sold 5, no short opened (allow_swap is off)"),
    ],
    ids=["sides long", "allow_swap false"],
)
def test_a_sell_while_long_only_exits(daemon: E2EDaemon, strategy: str, ticker: str, decision: str) -> None:
    go_long_5(daemon, ticker)
    done = daemon.send({"ticker": ticker, "action": "sell", "price": 11}, strategy=strategy)
    assert (done["state"], done["decision"]) == ("executed", decision)
    orders = daemon.orders_of(done["id"])
    assert legs(orders) == [("exit", "sell", "market", 5, "filled")]
    assert orders[0]["avg_fill_price"] == 11
    assert daemon.position(ticker) == 0


def test_percent_of_equity_10_of_100000_at_50_buys_200(daemon: E2EDaemon) -> None:
    done = daemon.send({"ticker": "SEM-EQUITY", "action": "buy", "price": 50}, strategy="equity")
    assert (done["state"], done["decision"]) == ("executed", "buy while flat: opened long 200 (percent_of_equity 10)")
    orders = daemon.orders_of(done["id"])
    assert legs(orders) == [("entry", "buy", "market", 200, "filled")]
    assert (orders[0]["broker"], orders[0]["avg_fill_price"]) == ("paper-eq", 50)
    assert positions(daemon, "SEM-EQUITY") == {"paper-eq": 200}


def test_a_limit_buy_rests_until_a_later_signal_s_price_crosses_it(daemon: E2EDaemon) -> None:
    ticker = "SEM-LIMIT"
    done = daemon.send({"ticker": ticker, "action": "buy", "price": 50, "limitPrice": 48}, strategy="limits")
    assert (done["state"], done["decision"]) == ("executed", "buy while flat: opened long 1 (fixed_quantity 1)")
    (entry,) = daemon.orders_of(done["id"])
    assert (entry["type"], entry["limit_price"], entry["time_in_force"], entry["status"]) == (
        "limit",
        48,
        "gtc",
        "open",
    )
    assert daemon.position(ticker) == 0

    above = daemon.send({"ticker": ticker, "action": "exit", "price": 49})  # a price above the limit: no fill
    assert (above["state"], above["decision"]) == ("rejected", "exit while flat: rejected, no position to exit")
    assert paper_book(daemon, ticker)[entry["client_order_id"]] == ("open", None)

    # the executor feeds a signal's price to the paper broker before planning: the limit fills, then the buy
    # finds the position already long
    later = daemon.send({"ticker": ticker, "action": "buy", "price": 47})
    assert (later["state"], later["decision"]) == (
        "ignored",
        "buy while long 1: ignored, already long and allow_add is off",
    )
    assert daemon.position(ticker) == 1
    assert paper_book(daemon, ticker)[entry["client_order_id"]] == ("filled", "48")
    # the journal learns of the fill from the order poller (poll_interval 0.5 s)
    wait_for(lambda: journal_status(daemon, entry["client_order_id"]) == ("filled", 48), "the journal to see the fill")


def test_a_bracket_entry_leaves_two_children_and_one_fill_cancels_the_other(daemon: E2EDaemon) -> None:
    ticker = "SEM-BRACKET"
    signal = {"ticker": ticker, "action": "buy", "quantity": 2, "price": 100,
              "takeProfit": {"limitPrice": 110}, "stopLoss": {"stopPrice": 95}}  # fmt: skip
    done = daemon.send(signal)
    assert (done["state"], done["decision"]) == ("executed", "buy while flat: opened long 2 (signal quantity)")
    orders = daemon.orders_of(done["id"])
    assert legs(orders) == [
        ("entry", "buy", "market", 2, "filled"),
        ("take_profit", "sell", "limit", 2, "open"),
        ("stop_loss", "sell", "stop", 2, "open"),
    ]
    entry, take_profit, stop = orders
    assert (take_profit["limit_price"], stop["stop_price"]) == (110, 95)
    assert take_profit["parent_client_order_id"] == stop["parent_client_order_id"] == entry["client_order_id"]
    assert daemon.position(ticker) == 2

    later = daemon.send({"ticker": ticker, "action": "exit", "price": 111})  # the price reaches the take profit
    assert (later["state"], later["decision"]) == ("rejected", "exit while flat: rejected, no position to exit")
    assert daemon.position(ticker) == 0
    book = paper_book(daemon, ticker)
    assert book[take_profit["client_order_id"]] == ("filled", "110")
    assert book[stop["client_order_id"]] == ("canceled", None)
    wait_for(lambda: journal_status(daemon, take_profit["client_order_id"]) == ("filled", 110), "the take profit")
    wait_for(lambda: journal_status(daemon, stop["client_order_id"])[0] == "canceled", "the canceled stop")


def test_fan_out_to_two_brokers_with_different_sizing(daemon: E2EDaemon) -> None:
    ticker = "SEM-FAN"
    done = daemon.send({"ticker": ticker, "action": "buy", "price": 50}, strategy="fan")
    assert done["state"] == "executed"
    assert done["decision"] == (
        "paper-a: buy while flat: opened long 3 (fixed_quantity 3); "
        "paper-b: buy while flat: opened long 20 (dollar_amount 1000)"
    )
    orders = daemon.orders_of(done["id"])
    assert sorted((o["broker"], o["subscription"], o["side"], o["quantity"], o["status"]) for o in orders) == [
        ("paper-a", "paper-a", "buy", 3, "filled"),
        ("paper-b", "paper-b", "buy", 20, "filled"),
    ]
    assert positions(daemon, ticker) == {"paper-a": 3, "paper-b": 20}
    with sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True) as conn:
        executions = conn.execute(
            "SELECT subscription, broker, state, decision FROM executions WHERE signal_id = ? ORDER BY subscription",
            (done["id"],),
        ).fetchall()
    assert executions == [
        ("paper-a", "paper-a", "executed", "buy while flat: opened long 3 (fixed_quantity 3)"),
        ("paper-b", "paper-b", "executed", "buy while flat: opened long 20 (dollar_amount 1000)"),
    ]


def test_reverse_flips_a_position(daemon: E2EDaemon) -> None:
    ticker = "SEM-REVERSE"
    go_long_5(daemon, ticker, price=20)
    done = daemon.send({"ticker": ticker, "action": "reverse", "price": 21})
    assert (done["state"], done["decision"]) == (
        "executed",
        "reverse while long 5: sold 5, opened short 1 (fixed_quantity 1)",
    )
    assert legs(daemon.orders_of(done["id"])) == [
        ("exit", "sell", "market", 5, "filled"),
        ("entry", "sell", "market", 1, "filled"),
    ]
    assert daemon.position(ticker) == -1
    again = daemon.send({"ticker": ticker, "action": "reverse", "price": 20})
    assert again["decision"] == "reverse while short 1: covered 1, opened long 1 (fixed_quantity 1)"
    assert daemon.position(ticker) == 1


def test_an_exchange_prefixed_ticker_trades_the_bare_symbol(daemon: E2EDaemon) -> None:
    """`NASDAQ:SEM-PREFIX` (Pine's syminfo.tickerid) and `SEM-PREFIX` ({{ticker}}) are one position."""
    bought = daemon.send({"ticker": "NASDAQ:SEM-PREFIX", "action": "buy", "quantity": 5, "price": 10})
    assert bought["state"] == "executed", bought["decision"]
    assert (daemon.position("SEM-PREFIX"), daemon.position("NASDAQ:SEM-PREFIX")) == (5, 0)
    exited = daemon.send({"ticker": "SEM-PREFIX", "action": "exit", "price": 11})
    assert exited["decision"] == "exit while long 5: sold 5"
    assert daemon.position("SEM-PREFIX") == 0


def test_outside_the_trading_window_entries_are_ignored_and_exits_run(daemon: E2EDaemon) -> None:
    ticker = "SEM-WINDOW"
    entry = daemon.send({"ticker": ticker, "action": "buy", "price": 10}, strategy="window")
    assert (entry["state"], entry["decision"]) == ("ignored", "buy while flat: ignored, outside the trading windows")
    assert daemon.orders_of(entry["id"]) == []
    assert daemon.position(ticker) == 0

    go_long_5(daemon, ticker)
    swap = daemon.send({"ticker": ticker, "action": "sell", "quantity": 2, "price": 11}, strategy="window")
    assert (swap["state"], swap["decision"]) == (
        "executed",
        "sell while long 5: sold 5, no short opened (outside the trading windows)",
    )
    assert legs(daemon.orders_of(swap["id"])) == [("exit", "sell", "market", 5, "filled")]
    assert daemon.position(ticker) == 0

    go_long_5(daemon, ticker, price=10.5)  # not the same body again: that would be answered as a duplicate
    leave = daemon.send({"ticker": ticker, "action": "exit", "price": 12}, strategy="window")
    assert (leave["state"], leave["decision"]) == ("executed", "exit while long 5: sold 5")
    assert daemon.position(ticker) == 0

    bypass = daemon.send({"ticker": ticker, "action": "buy", "price": 10, "ignoreTradingWindows": True},
                         strategy="window")  # fmt: skip
    assert (bypass["state"], bypass["decision"]) == ("executed", "buy while flat: opened long 1 (fixed_quantity 1)")
    assert daemon.position(ticker) == 1


@pytest.mark.parametrize("prefix", ["/webhook", "/trading/webhook"])
def test_a_webhook_url_with_a_trailing_slash_trades_without_a_redirect(daemon: E2EDaemon, prefix: str) -> None:
    ticker = f"SEM-SLASH{len(prefix)}"
    response = daemon.post({"ticker": ticker, "action": "buy", "price": 10}, url=daemon.url_for(prefix=prefix) + "/")
    assert response.status_code == 200, response.text  # a redirect would lose the alert with senders that stop there
    done = daemon.wait_final(response.json()["id"])
    assert (done["state"], done["decision"]) == ("executed", "buy while flat: opened long 1 (fixed_quantity 1)")
    assert daemon.position(ticker) == 1
    hooks = [h for h in daemon.api("webhooks", limit=1000) if h["signal_id"] == done["id"]]
    assert [(h["status_code"], h["message_code"]) for h in hooks] == [(200, None)]


def test_a_signal_s_risk_size_measures_to_the_subscription_s_stop_loss(daemon: E2EDaemon) -> None:
    ticker = "SEM-RISK"
    signal = {"ticker": ticker, "action": "buy", "price": 50, "quantity": 100, "quantityType": "risk_dollar_amount"}
    done = daemon.send(signal, strategy="risk")  # no stopLoss in the signal: the subscription's, 2 below the entry
    decision = "buy while flat: opened long 50 (signal risk_dollar_amount 100)"
    assert (done["state"], done["decision"]) == ("executed", decision)
    assert daemon.position(ticker) == 50
    orders = daemon.orders_of(done["id"])
    assert legs(orders) == [("entry", "buy", "market", 50, "filled"), ("stop_loss", "sell", "stop", 50, "open")]
    assert orders[1]["stop_price"] == 48


def test_a_limit_signal_without_a_price_is_placed_at_the_broker_s_quote(daemon: E2EDaemon) -> None:
    ticker = "SEM-LIMITQ"
    seen = daemon.send({"ticker": ticker, "action": "exit", "price": 20})  # the paper broker's quote is the last price
    assert seen["state"] == "rejected"
    done = daemon.send({"ticker": ticker, "action": "buy", "orderType": "limit"})  # TradersPost: a limit at the quote
    assert (done["state"], done["decision"]) == ("executed", "buy while flat: opened long 1 (fixed_quantity 1)")
    [order] = daemon.orders_of(done["id"])
    placed = (order["type"], order["limit_price"], order["status"], order["avg_fill_price"])
    assert placed == ("limit", 20, "filled", 20)
    assert daemon.position(ticker) == 1


def test_a_tradingview_strategy_alert_sized_by_position_size_opens_and_closes(daemon: E2EDaemon) -> None:
    """The message as TradingView posts it (text/plain, CRLF, NASDAQ: prefix): its close sends 0 with flat."""

    def alert(action: str, market_position: str, position_size: str) -> dict[str, Any]:
        body = (
            '{\r\n  "ticker": "NASDAQ:SEM-TVSIZE",\r\n  "action": "' + action + '",\r\n  "sentiment": "'
            + market_position + '",\r\n  "quantity": "' + position_size + '",\r\n  "price": "10.5"\r\n}\r\n'
        )  # fmt: skip
        response = daemon.post(content=body.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
        assert response.status_code == 200, response.text
        return daemon.wait_final(response.json()["id"])

    opened = alert("buy", "long", "5")
    assert (opened["state"], daemon.position("SEM-TVSIZE")) == ("executed", 5), opened["decision"]
    closed = alert("sell", "flat", "0")
    assert closed["decision"] == "sell flat while long 5: sold 5"
    assert daemon.position("SEM-TVSIZE") == 0
