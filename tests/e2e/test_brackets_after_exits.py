"""A position's take-profit and stop-loss never outlive it: after an exit (or a reversal) they are canceled,
and after a partial exit they close no more than what is left. Real daemon, paper broker."""

from __future__ import annotations

import sqlite3

import pytest

from tests.e2e.conftest import E2EDaemon, module_daemons  # noqa: F401 - the fixture

STRATEGIES = {
    "sq": "- broker: paper\n",  # the defaults: cancel_open_orders off
    "cancels": "- broker: paper\n  cancel_open_orders: true\n",
    "swaps": "- broker: paper\n  allow_swap: true\n",
}
BRACKET = {"quantity": 2, "price": 100, "takeProfit": {"limitPrice": 110}, "stopLoss": {"stopPrice": 95}}


@pytest.fixture(scope="module")
def daemon(module_daemons: object) -> E2EDaemon:  # noqa: F811
    return module_daemons(STRATEGIES)  # type: ignore[operator, no-any-return]


def working(daemon: E2EDaemon, symbol: str) -> list[tuple[str, str]]:
    return [(o["leg"], o["side"]) for o in daemon.orders_for(symbol) if o["status"] in ("open", "submitted")]


@pytest.mark.parametrize("strategy", ["sq", "cancels"])
def test_an_exit_cancels_the_positions_take_profit_and_stop_loss(daemon: E2EDaemon, strategy: str) -> None:
    ticker = f"EXITED-{strategy.upper()}"
    assert daemon.send({"ticker": ticker, "action": "buy", **BRACKET}, strategy=strategy)["state"] == "executed"
    assert sorted(working(daemon, ticker)) == [("stop_loss", "sell"), ("take_profit", "sell")]
    done = daemon.send({"ticker": ticker, "action": "exit", "price": 100}, strategy=strategy)
    assert done["state"] == "executed" and "canceled 2 open orders" in done["decision"], done
    assert daemon.position(ticker) == 0 and working(daemon, ticker) == []
    # A later price through the old stop opens nothing.
    daemon.send({"ticker": ticker, "action": "sell", "sentiment": "flat", "price": 94}, strategy=strategy)
    assert daemon.position(ticker) == 0


def test_a_reversal_cancels_the_old_positions_stop_loss(daemon: E2EDaemon) -> None:
    ticker = "REVERSED"
    assert daemon.send({"ticker": ticker, "action": "buy", **BRACKET}, strategy="swaps")["state"] == "executed"
    flipped = daemon.send({"ticker": ticker, "action": "sell", "price": 100}, strategy="swaps")
    assert flipped["state"] == "executed" and daemon.position(ticker) == -1, flipped
    assert working(daemon, ticker) == []  # the long's legs went with it
    daemon.send({"ticker": ticker, "action": "cancel", "price": 94}, strategy="swaps")  # a price through the stop
    assert daemon.position(ticker) == -1  # no old sell-stop deepened the short


def test_after_a_partial_exit_the_stop_closes_only_what_is_left(daemon: E2EDaemon) -> None:
    ticker = "PARTLY"
    assert daemon.send({"ticker": ticker, "action": "buy", **BRACKET})["state"] == "executed"
    assert daemon.send({"ticker": ticker, "action": "exit", "quantity": 1, "price": 100})["state"] == "executed"
    assert daemon.position(ticker) == 1
    daemon.send({"ticker": ticker, "action": "cancel", "price": 94})  # a price through the stop
    assert daemon.position(ticker) == 0, "the stop, placed for 2, must not sell more than the 1 left"
    book = sqlite3.connect(daemon.db)
    try:
        legs = book.execute("SELECT type, status, filled_quantity FROM paper_orders WHERE symbol = ? AND "
                            "parent_client_order_id IS NOT NULL ORDER BY type", (ticker,)).fetchall()  # fmt: skip
    finally:
        book.close()
    assert legs == [("limit", "canceled", "0"), ("stop", "filled", "1")]  # one-cancels-other, as before


PARTIAL_SELLS = [{"sentiment": "bullish", "quantity": 1}, {"quantity": 50, "quantityType": "percent_of_position"}]


@pytest.mark.parametrize("partial", PARTIAL_SELLS)
def test_a_sell_that_keeps_the_long_keeps_its_stop_with_cancel_open_orders(
    daemon: E2EDaemon, partial: dict[str, object]
) -> None:
    ticker = "KEPT-" + ("PCT" if "quantityType" in partial else "BULLISH")
    assert daemon.send({"ticker": ticker, "action": "buy", **BRACKET}, strategy="cancels")["state"] == "executed"
    done = daemon.send({"ticker": ticker, "action": "sell", "price": 100, **partial}, strategy="cancels")
    head = "sell bullish" if "sentiment" in partial else "sell"
    assert done["decision"] == f"{head} while long 2: sold 1, still long 1", done
    assert sorted(working(daemon, ticker)) == [("stop_loss", "sell"), ("take_profit", "sell")]
    daemon.send({"ticker": ticker, "action": "cancel", "price": 94}, strategy="cancels")  # a price through the stop
    assert daemon.position(ticker) == 0, "the 1 left kept its stop, and the stop closed it"
