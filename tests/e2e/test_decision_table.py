"""Design §7's decision table, row by row, through the real HTTP server and the paper broker.

One daemon serves the whole module; every case trades its own ticker, so the cases cannot see each
other's positions. Strategies other than `sq` exercise the settings the table mentions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest

from tests.conftest import GUARD
from tests.e2e.conftest import DaemonFactory, E2EDaemon

Start = Literal["flat", "long 5", "short 5"]

STRATEGIES: dict[str, str] = {
    "sq": "- broker: paper\n",
    "noswap": "- broker: paper\n  allow_swap: false\n",
    "longonly": "- broker: paper\n  sides: long\n",
    "shortonly": "- broker: paper\n  sides: short\n",
    "addon": "- broker: paper\n  allow_add: true\n",
    "shortadd": "- broker: paper\n  sides: short\n  allow_add: true\n",
}
# The signal (sent on the default strategy) that brings a fresh ticker to each starting state.
SETUP: dict[Start, dict[str, Any] | None] = {
    "flat": None,
    "long 5": {"action": "buy", "quantity": 5},
    "short 5": {"action": "sell", "quantity": 5},
}
STARTING_QUANTITY: dict[Start, float] = {"flat": 0, "long 5": 5, "short 5": -5}


@dataclass(frozen=True)
class Case:
    """One cell of the table: a signal sent against a starting position, and everything it must cause."""

    id: str
    start: Start
    signal: dict[str, Any]
    state: str
    decision: str
    position: float
    orders: list[tuple[str, float]] = field(default_factory=list)  # (side, quantity), each filled
    strategy: str = "sq"

    @property
    def ticker(self) -> str:
        return "T-" + self.id.upper()


def case(
    case_id: str,
    start: Start,
    signal: dict[str, Any],
    state: str,
    decision: str,
    position: float,
    *orders: str,
    strategy: str = "sq",
) -> Case:
    """A table row; each of `orders` reads "side quantity", e.g. "buy 5"."""
    legs = [(side, float(quantity)) for side, quantity in (order.split() for order in orders)]
    return Case(case_id, start, signal, state, decision, position, legs, strategy)


BUY: dict[str, Any] = {"action": "buy"}
SELL: dict[str, Any] = {"action": "sell"}
EXIT: dict[str, Any] = {"action": "exit"}
ADD: dict[str, Any] = {"action": "add"}
BUY_FLAT: dict[str, Any] = {**BUY, "sentiment": "flat"}
SELL_FLAT: dict[str, Any] = {**SELL, "sentiment": "flat"}
BUY_BEARISH_2: dict[str, Any] = {**BUY, "sentiment": "bearish", "quantity": 2}
SELL_BULLISH_2: dict[str, Any] = {**SELL, "sentiment": "bullish", "quantity": 2}
BUY_BULLISH: dict[str, Any] = {**BUY, "sentiment": "bullish"}
SELL_BEARISH: dict[str, Any] = {**SELL, "sentiment": "bearish"}
FIXED_1 = "(fixed_quantity 1)"

# fmt: off
CASES: list[Case] = [
    # buy / sell with the defaults (sides both, allow_swap on, allow_add off, fixed_quantity 1)
    case("buy-flat", "flat", BUY, "executed", f"buy while flat: opened long 1 {FIXED_1}", 1, "buy 1"),
    case("buy-long", "long 5", BUY, "ignored", "buy while long 5: ignored, already long and allow_add is off", 5),
    case("buy-short", "short 5", BUY, "executed", f"buy while short 5: covered 5, opened long 1 {FIXED_1}", 1,
         "buy 5", "buy 1"),
    case("sell-flat", "flat", SELL, "executed", f"sell while flat: opened short 1 {FIXED_1}", -1, "sell 1"),
    case("sell-long", "long 5", SELL, "executed", f"sell while long 5: sold 5, opened short 1 {FIXED_1}", -1,
         "sell 5", "sell 1"),
    case("sell-short", "short 5", SELL, "ignored", "sell while short 5: ignored, already short and allow_add is off",
         -5),
    # buy / sell + flat: exit only
    case("buyflat-flat", "flat", BUY_FLAT, "rejected", "buy flat while flat: rejected, no short position to exit", 0),
    case("buyflat-long", "long 5", BUY_FLAT, "rejected", "buy flat while long 5: rejected, no short position to exit",
         5),
    case("buyflat-short", "short 5", BUY_FLAT, "executed", "buy flat while short 5: covered 5", 0, "buy 5"),
    case("sellflat-flat", "flat", SELL_FLAT, "rejected", "sell flat while flat: rejected, no long position to exit", 0),
    case("sellflat-long", "long 5", SELL_FLAT, "executed", "sell flat while long 5: sold 5", 0, "sell 5"),
    case("sellflat-short", "short 5", SELL_FLAT, "rejected",
         "sell flat while short 5: rejected, no long position to exit", -5),
    # buy + bearish / sell + bullish with a quantity: a partial exit that keeps the side
    case("buybear-flat", "flat", BUY_BEARISH_2, "rejected",
         "buy bearish while flat: rejected, no short position to reduce", 0),
    case("buybear-long", "long 5", BUY_BEARISH_2, "rejected",
         "buy bearish while long 5: rejected, no short position to reduce", 5),
    case("buybear-short", "short 5", BUY_BEARISH_2, "executed", "buy bearish while short 5: covered 2, still short 3",
         -3, "buy 2"),
    case("buybear-short-more", "short 5", {**BUY_BEARISH_2, "quantity": 9}, "executed",
         "buy bearish while short 5: covered 5", 0, "buy 5"),
    case("sellbull-flat", "flat", SELL_BULLISH_2, "rejected",
         "sell bullish while flat: rejected, no long position to reduce", 0),
    case("sellbull-long", "long 5", SELL_BULLISH_2, "executed", "sell bullish while long 5: sold 2, still long 3", 3,
         "sell 2"),
    case("sellbull-long-more", "long 5", {**SELL_BULLISH_2, "quantity": 9}, "executed",
         "sell bullish while long 5: sold 5", 0, "sell 5"),
    case("sellbull-short", "short 5", SELL_BULLISH_2, "rejected",
         "sell bullish while short 5: rejected, no long position to reduce", -5),
    # buy + bullish / sell + bearish: as plain buy / sell
    case("buybull-flat", "flat", BUY_BULLISH, "executed", f"buy bullish while flat: opened long 1 {FIXED_1}", 1,
         "buy 1"),
    case("buybull-long", "long 5", BUY_BULLISH, "ignored",
         "buy bullish while long 5: ignored, already long and allow_add is off", 5),
    case("buybull-short", "short 5", BUY_BULLISH, "executed",
         f"buy bullish while short 5: covered 5, opened long 1 {FIXED_1}", 1, "buy 5", "buy 1"),
    case("sellbear-flat", "flat", SELL_BEARISH, "executed", f"sell bearish while flat: opened short 1 {FIXED_1}", -1,
         "sell 1"),
    case("sellbear-long", "long 5", SELL_BEARISH, "executed",
         f"sell bearish while long 5: sold 5, opened short 1 {FIXED_1}", -1, "sell 5", "sell 1"),
    case("sellbear-short", "short 5", SELL_BEARISH, "ignored",
         "sell bearish while short 5: ignored, already short and allow_add is off", -5),
    # exit, with and without a quantity
    case("exit-flat", "flat", EXIT, "rejected", "exit while flat: rejected, no position to exit", 0),
    case("exit-long", "long 5", EXIT, "executed", "exit while long 5: sold 5", 0, "sell 5"),
    case("exitq-long", "long 5", {**EXIT, "quantity": 2}, "executed", "exit while long 5: sold 2, still long 3", 3,
         "sell 2"),
    case("exit-short", "short 5", EXIT, "executed", "exit while short 5: covered 5", 0, "buy 5"),
    case("exitq-short", "short 5", {**EXIT, "quantity": 2}, "executed", "exit while short 5: covered 2, still short 3",
         -3, "buy 2"),
    # add
    case("add-flat", "flat", ADD, "rejected", "add while flat: rejected, no position to add to", 0),
    case("add-long", "long 5", ADD, "executed", f"add while long 5: added 1 {FIXED_1}", 6, "buy 1"),
    case("addq-long", "long 5", {**ADD, "quantity": 3}, "executed", "add while long 5: added 3 (signal quantity)", 8,
         "buy 3"),
    case("add-short", "short 5", ADD, "executed", f"add while short 5: added 1 {FIXED_1}", -6, "sell 1"),
    # the settings the table names: allow_swap off, sides long / short, allow_add on
    case("noswap-buy-short", "short 5", BUY, "executed",
         "buy while short 5: covered 5, no long opened (allow_swap is off)", 0, "buy 5", strategy="noswap"),
    case("noswap-sell-long", "long 5", SELL, "executed",
         "sell while long 5: sold 5, no short opened (allow_swap is off)", 0, "sell 5", strategy="noswap"),
    case("shortonly-buy-short", "short 5", BUY, "executed",
         "buy while short 5, sides=short: covered 5, no long opened (sides=short)", 0, "buy 5", strategy="shortonly"),
    case("shortonly-buy-flat", "flat", BUY, "rejected",
         "buy while flat, sides=short: rejected, long entries are off (sides=short)", 0, strategy="shortonly"),
    case("shortonly-sell-flat", "flat", SELL, "executed",
         f"sell while flat, sides=short: opened short 1 {FIXED_1}", -1, "sell 1", strategy="shortonly"),
    case("longonly-sell-flat", "flat", SELL, "rejected",
         "sell while flat, sides=long: rejected, short entries are off (sides=long)", 0, strategy="longonly"),
    case("longonly-sell-long", "long 5", SELL, "executed",
         "sell while long 5, sides=long: sold 5, no short opened (sides=long)", 0, "sell 5", strategy="longonly"),
    case("longonly-buy-short", "short 5", BUY, "executed",
         f"buy while short 5, sides=long: covered 5, opened long 1 {FIXED_1}", 1, "buy 5", "buy 1",
         strategy="longonly"),
    case("shortonly-add-long", "long 5", ADD, "rejected",
         "add while long 5, sides=short: rejected, long entries are off (sides=short)", 5, strategy="shortonly"),
    case("longonly-add-short", "short 5", ADD, "rejected",
         "add while short 5, sides=long: rejected, short entries are off (sides=long)", -5, strategy="longonly"),
    case("shortadd-buy-long", "long 5", BUY, "rejected",
         "buy while long 5, sides=short: rejected, long entries are off (sides=short)", 5, strategy="shortadd"),
    case("addon-buy-long", "long 5", BUY, "executed", f"buy while long 5: added 1 {FIXED_1}", 6, "buy 1",
         strategy="addon"),
    case("addon-sell-short", "short 5", SELL, "executed", f"sell while short 5: added 1 {FIXED_1}", -6, "sell 1",
         strategy="addon"),
]
# fmt: on


@pytest.fixture(scope="module")
def daemon(module_daemons: DaemonFactory) -> E2EDaemon:
    return module_daemons(STRATEGIES)


def bring_to(daemon: E2EDaemon, ticker: str, start: Start) -> None:
    """Put a fresh ticker's paper position in the starting state, through a real signal."""
    assert daemon.position(ticker) == 0, f"{ticker} is not fresh"
    setup = SETUP[start]
    if setup is not None:
        final = daemon.send({"ticker": ticker, **setup})
        assert final["state"] == "executed", final
    assert daemon.position(ticker) == STARTING_QUANTITY[start]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decision_table_row(daemon: E2EDaemon, case: Case) -> None:
    bring_to(daemon, case.ticker, case.start)
    orders_before = daemon.orders_for(case.ticker)

    final = daemon.send({"ticker": case.ticker, **case.signal}, strategy=case.strategy)

    assert (final["state"], final["decision"]) == (case.state, case.decision)
    assert daemon.position(case.ticker) == case.position
    orders = daemon.orders_of(final["id"])
    assert [(o["side"], o["quantity"], o["status"]) for o in orders] == [(s, q, "filled") for s, q in case.orders]
    assert all(o["symbol"] == case.ticker and o["type"] == "market" and o["broker"] == "paper" for o in orders)
    assert all(o["filled_quantity"] == o["quantity"] for o in orders)
    # Nothing else was sent for the ticker: ignored and rejected signals place no order at all.
    assert len(daemon.orders_for(case.ticker)) == len(orders_before) + len(case.orders)


def resting_limit(daemon: E2EDaemon, ticker: str, action: str) -> dict[str, Any]:
    """Place an order that cannot fill: a limit far below the price the signal reports."""
    final = daemon.send({"ticker": ticker, "action": action, "orderType": "limit", "limitPrice": 1, "price": 100})
    assert final["state"] == "executed", final
    (order,) = daemon.orders_of(final["id"])
    assert (order["side"], order["type"], order["limit_price"], order["status"]) == ("buy", "limit", 1, "open")
    return order


def test_cancel_cancels_the_resting_order(daemon: E2EDaemon) -> None:
    ticker = "T-CANCEL-FLAT"
    order = resting_limit(daemon, ticker, "buy")
    assert daemon.position(ticker) == 0

    final = daemon.send({"ticker": ticker, "action": "cancel"})

    assert (final["state"], final["decision"]) == ("executed", "cancel while flat: canceled 1 open order")
    assert daemon.orders_of(final["id"]) == []  # a cancel places no order of its own
    (after,) = daemon.orders_for(ticker)
    assert (after["id"], after["status"], after["filled_quantity"]) == (order["id"], "canceled", 0)
    assert daemon.position(ticker) == 0


def test_cancel_never_touches_the_position(daemon: E2EDaemon) -> None:
    ticker = "T-CANCEL-LONG"
    bring_to(daemon, ticker, "long 5")
    order = resting_limit(daemon, ticker, "add")

    final = daemon.send({"ticker": ticker, "action": "cancel"})

    assert (final["state"], final["decision"]) == ("executed", "cancel while long 5: canceled 1 open order")
    statuses = {o["id"]: o["status"] for o in daemon.orders_for(ticker)}
    assert statuses[order["id"]] == "canceled"
    assert sorted(statuses.values()) == ["canceled", "filled"]
    assert daemon.position(ticker) == 5


@pytest.mark.parametrize("start", ["flat", "long 5"])
def test_cancel_without_open_orders_is_rejected(daemon: E2EDaemon, start: Start) -> None:
    ticker = f"T-CANCEL-NONE-{start.replace(' ', '')}".upper()
    bring_to(daemon, ticker, start)
    orders_before = daemon.orders_for(ticker)

    final = daemon.send({"ticker": ticker, "action": "cancel"})

    assert final["state"] == "rejected"
    assert final["decision"] == f"cancel while {start}: rejected, no open orders for {ticker} to cancel"
    assert daemon.orders_for(ticker) == orders_before
    assert daemon.position(ticker) == STARTING_QUANTITY[start]


def test_signals_for_one_ticker_run_strictly_in_arrival_order(daemon: E2EDaemon) -> None:
    """20 alternating buy/sell signals, quantity 1..20, posted back to back without waiting."""
    ticker = "T-ORDERING"
    sent: list[str] = []
    with httpx.Client(timeout=GUARD) as client:
        for i in range(20):
            payload = {"ticker": ticker, "action": "buy" if i % 2 == 0 else "sell", "quantity": i + 1}
            response = client.post(daemon.url, json=payload)
            assert response.status_code == 200, response.text
            sent.append(response.json()["id"])
    finals = [daemon.wait_final(signal_id) for signal_id in sent]

    # Each signal reverses the previous one: exit its i units, then open i + 1 the other way.
    assert all(f["state"] == "executed" for f in finals), [f["decision"] for f in finals]
    assert finals[0]["decision"] == "buy while flat: opened long 1 (signal quantity)"
    assert finals[19]["decision"] == "sell while long 19: sold 19, opened short 20 (signal quantity)"
    assert daemon.position(ticker) == -20
    expected: list[tuple[str, str, float]] = [(sent[0], "buy", 1)]
    for i in range(1, 20):
        side = "buy" if i % 2 == 0 else "sell"
        expected += [(sent[i], side, i), (sent[i], side, i + 1)]
    newest_first = daemon.orders_for(ticker)
    arrival = list(reversed(newest_first))
    assert [(o["signal_id"], o["side"], o["quantity"]) for o in arrival] == expected
    assert all(o["status"] == "filled" for o in arrival)
    created = [o["created_at"] for o in arrival]
    assert created == sorted(created)
