"""Every subscription setting of issue 3, table-driven through resolve(); expectations are written by hand
from TradersPost's documented semantics (reference sections 1-3) and design §7.

`enabled` is fan-out (a disabled subscription never gets a job), and `exit_fill_timeout` is the executor's:
neither changes a plan, so neither appears here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bridge.config.schema import Subscription
from bridge.models import Order, Signal, StopLoss, TakeProfit
from bridge.signals.pricing import LegPrices
from bridge.signals.resolve import Leg, Market, Plan, broker_symbol, resolve

D = Decimal
FLAT, LONG5, SHORT5 = D(0), D(5), D(-5)


def sub(**settings: Any) -> Subscription:
    """A subscription with the design's defaults plus `settings`, validated as the config loader would."""
    return Subscription.model_validate({"broker": "paper", **settings})


def sig(action: str, ticker: str = "AMD", **fields: Any) -> Signal:
    """A signal; numbers may be given as text or int and become exact Decimals."""
    for name in ("price", "quantity", "limit_price", "stop_price", "trail_amount", "trail_percent", "breakeven_offset"):
        if fields.get(name) is not None:
            fields[name] = D(str(fields[name]))
    return Signal(ticker=ticker, action=action, **fields)  # type: ignore[arg-type]


def leg(kind: str, side: str, qty: str, order_type: str = "market", *, limit: str | None = None,
        stop: str | None = None, tif: str | None = None, trail_amount: str | None = None,
        trail_percent: str | None = None, extended: bool = False, tp: LegPrices | None = None,
        sl: LegPrices | None = None) -> Leg:  # fmt: skip
    """A leg with every field spelt out; prices as text. Its time in force unset in the case: an entry with
    take-profit/stop-loss legs goes gtc, so they outlive the close; anything else day (the subscription default)."""
    tif = tif or ("gtc" if tp or sl else "day")

    def d(value: str | None) -> Decimal | None:
        return None if value is None else D(value)

    return Leg(
        kind, side, D(qty), order_type, d(limit), d(stop), tif, d(trail_amount), d(trail_percent),  # type: ignore[arg-type]
        extended, tp, sl,
    )  # fmt: skip


def entry(side: str, qty: str, order_type: str = "market", **kw: Any) -> Leg:
    return leg("entry", side, qty, order_type, **kw)


def exit_(side: str, qty: str, order_type: str = "market", **kw: Any) -> Leg:
    return leg("exit", side, qty, order_type, **kw)


def tp(limit: str) -> LegPrices:
    return LegPrices("limit", limit_price=D(limit))


def sl(stop: str, limit: str | None = None, kind: str = "stop") -> LegPrices:
    return LegPrices(kind if limit is None else "stop_limit", stop_price=D(stop), limit_price=None if limit is None
                     else D(limit))  # fmt: skip


def order(coid: str, symbol: str = "AMD", status: str = "open", kind: str = "limit") -> Order:
    return Order(client_order_id=coid, symbol=symbol, side="buy", quantity=D(1), type=kind, status=status)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    """One row: settings + signal + broker state -> the plan, its legs, cancels and its sentence."""

    id: str
    settings: dict[str, Any]
    signal: Signal
    position: Decimal
    state: str
    decision: str
    legs: tuple[Leg, ...] = ()
    market: Market = field(default_factory=Market)
    orders: tuple[Order, ...] = ()
    cancel: tuple[str, ...] = ()


def run(case: Case) -> Plan:
    return resolve(case.signal, case.position, list(case.orders), sub(**case.settings), case.market)


def check(case: Case) -> None:
    plan = run(case)
    assert plan.decision == case.decision
    assert plan.state == case.state
    assert plan.legs == case.legs
    assert plan.cancel == case.cancel
    # a trader-friendly sentence: "<what came> while <position>[, sides=..]: <what was done>"
    head, _, done = plan.decision.partition(": ")
    assert " while " in head and done and "None" not in plan.decision and "Decimal" not in plan.decision


def cases(rows: list[Case]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", rows, ids=[c.id for c in rows])


FIXED_1 = "(fixed_quantity 1)"

# ---------------------------------------------------------------------------------------------
# sides, allow_swap, allow_add, subtract_exit_quantity, use_signal_quantity, quantity_multiplier

POSITION_SETTINGS = [
    Case("sides long: sell while long exits only", {"sides": "long"}, sig("sell"), LONG5, "executed",
         "sell while long 5, sides=long: sold 5, no short opened (sides=long)", (exit_("sell", "5"),)),
    Case("sides long: sell while flat opens nothing", {"sides": "long"}, sig("sell"), FLAT, "rejected",
         "sell while flat, sides=long: rejected, short entries are off (sides=long)"),
    Case("sides short: buy while short exits only", {"sides": "short"}, sig("buy"), SHORT5, "executed",
         "buy while short 5, sides=short: covered 5, no long opened (sides=short)", (exit_("buy", "5"),)),
    Case("sides short: sell while flat opens short", {"sides": "short"}, sig("sell"), FLAT, "executed",
         f"sell while flat, sides=short: opened short 1 {FIXED_1}", (entry("sell", "1"),)),
    Case("allow_swap off: buy while short covers only", {"allow_swap": False}, sig("buy"), SHORT5, "executed",
         "buy while short 5: covered 5, no long opened (allow_swap is off)", (exit_("buy", "5"),)),
    Case("allow_swap off: sell bearish while long sells only", {"allow_swap": False}, sig("sell", sentiment="bearish"),
         LONG5, "executed", "sell bearish while long 5: sold 5, no short opened (allow_swap is off)",
         (exit_("sell", "5"),)),
    Case("allow_add off: buy while long is ignored", {}, sig("buy", quantity=2), LONG5, "ignored",
         "buy while long 5: ignored, already long and allow_add is off"),
    Case("allow_add on: sell while short adds", {"allow_add": True}, sig("sell", quantity=2), SHORT5, "executed",
         "sell while short 5: added 2 (signal quantity)", (entry("sell", "2"),)),
    Case("subtract: sell 8 while long 5 -> short 3", {"subtract_exit_quantity": True},
         sig("sell", sentiment="bearish", quantity=8), LONG5, "executed",
         "sell bearish while long 5: sold 5, opened short 3 (signal quantity minus the 5 exited)",
         (exit_("sell", "5"), entry("sell", "3"))),
    Case("subtract: buy 7 while short 5 -> long 2", {"subtract_exit_quantity": True}, sig("buy", quantity=7), SHORT5,
         "executed", "buy while short 5: covered 5, opened long 2 (signal quantity minus the 5 exited)",
         (exit_("buy", "5"), entry("buy", "2"))),
    Case("subtract: sell 5 while long 5 leaves nothing to open", {"subtract_exit_quantity": True},
         sig("sell", quantity=5), LONG5, "executed",
         "sell while long 5: sold 5, no short opened (signal quantity 5 minus the exit leaves nothing)",
         (exit_("sell", "5"),)),
    Case("subtract: no signal quantity, sizing unchanged", {"subtract_exit_quantity": True}, sig("sell"), LONG5,
         "executed", f"sell while long 5: sold 5, opened short 1 {FIXED_1}", (exit_("sell", "5"), entry("sell", "1"))),
    Case("subtract: signal quantity off, sizing unchanged",
         {"subtract_exit_quantity": True, "use_signal_quantity": False, "sizing": {"value": 2}},
         sig("sell", quantity=8), LONG5, "executed", "sell while long 5: sold 5, opened short 2 (fixed_quantity 2)",
         (exit_("sell", "5"), entry("sell", "2"))),
    Case("subtract off: sell 8 while long 5 -> short 8", {}, sig("sell", quantity=8), LONG5, "executed",
         "sell while long 5: sold 5, opened short 8 (signal quantity)", (exit_("sell", "5"), entry("sell", "8"))),
    Case("use_signal_quantity on: entry of 3", {}, sig("buy", quantity=3), FLAT, "executed",
         "buy while flat: opened long 3 (signal quantity)", (entry("buy", "3"),)),
    Case("use_signal_quantity off: entry from sizing", {"use_signal_quantity": False, "sizing": {"value": 4}},
         sig("buy", quantity=3), FLAT, "executed", "buy while flat: opened long 4 (fixed_quantity 4)",
         (entry("buy", "4"),)),
    Case("use_signal_quantity on: partial exit", {}, sig("exit", quantity=2), LONG5, "executed",
         "exit while long 5: sold 2, still long 3", (exit_("sell", "2"),)),
    # TradersPost (position sizing): "the FULL quantity of the open position is used for exit orders unless a
    # quantity is explicitly sent in the signal and Use signal quantity is checked".
    Case("use_signal_quantity off: exit is the full position", {"use_signal_quantity": False},
         sig("exit", quantity=2), LONG5, "executed", "exit while long 5: sold 5", (exit_("sell", "5"),)),
    Case("use_signal_quantity off: buy bearish covers all", {"use_signal_quantity": False},
         sig("buy", sentiment="bearish", quantity=2), SHORT5, "executed", "buy bearish while short 5: covered 5",
         (exit_("buy", "5"),)),
    Case("multiplier 1.5 rounds 4.5 down", {"quantity_multiplier": "1.5"}, sig("buy", quantity=3), FLAT,
         "executed", "buy while flat: opened long 4 (signal quantity x1.5)", (entry("buy", "4"),)),
    Case("multiplier 1.5 fractional keeps 4.5", {"quantity_multiplier": "1.5", "fractional": True},
         sig("buy", quantity=3), FLAT, "executed", "buy while flat: opened long 4.5 (signal quantity x1.5)",
         (entry("buy", "4.5"),)),
    Case("multiplier leaves sizing alone", {"quantity_multiplier": 3}, sig("sell"), FLAT, "executed",
         f"sell while flat: opened short 1 {FIXED_1}", (entry("sell", "1"),)),
    Case("multiplier to below one unit is refused", {"quantity_multiplier": "0.1"}, sig("buy", quantity=5), FLAT,
         "rejected", "buy while flat: rejected, signal quantity x0.1 comes to less than one unit"),
]  # fmt: skip


@cases(POSITION_SETTINGS)
def test_position_and_quantity_settings(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# sizing: every type; whole units rounded down unless `fractional` (six decimals); zero is refused.

EQ = Market(equity=D(100000))
SIZING = [
    Case("fixed_quantity 3", {"sizing": {"type": "fixed_quantity", "value": 3}}, sig("buy"), FLAT, "executed",
         "buy while flat: opened long 3 (fixed_quantity 3)", (entry("buy", "3"),)),
    Case("dollar_amount 1000 at 30 rounds down", {"sizing": {"type": "dollar_amount", "value": 1000}},
         sig("buy", price=30), FLAT, "executed", "buy while flat: opened long 33 (dollar_amount 1000)",
         (entry("buy", "33"),)),
    Case("dollar_amount 1000 at 30 fractional", {"sizing": {"type": "dollar_amount", "value": 1000},
                                                 "fractional": True},
         sig("buy", price=30), FLAT, "executed", "buy while flat: opened long 33.333333 (dollar_amount 1000)",
         (entry("buy", "33.333333"),)),
    Case("dollar_amount sized on the quote", {"sizing": {"type": "dollar_amount", "value": 1000}}, sig("sell"), FLAT,
         "executed", "sell while flat: opened short 25 (dollar_amount 1000)", (entry("sell", "25"),),
         Market(quote=D(40))),
    Case("dollar_amount without any price", {"sizing": {"type": "dollar_amount", "value": 1000}}, sig("buy"), FLAT,
         "rejected", "buy while flat: rejected, dollar_amount sizing needs a price: send price in the signal "
         "(or use a broker with quotes)"),
    Case("dollar_amount rounding to zero", {"sizing": {"type": "dollar_amount", "value": 10}}, sig("buy", price=50),
         FLAT, "rejected", "buy while flat: rejected, dollar_amount 10 comes to less than one unit"),
    Case("dollar_amount 10 at 50 fractional", {"sizing": {"type": "dollar_amount", "value": 10}, "fractional": True},
         sig("buy", price=50), FLAT, "executed", "buy while flat: opened long 0.2 (dollar_amount 10)",
         (entry("buy", "0.2"),)),
    Case("fractional below a millionth", {"sizing": {"type": "dollar_amount", "value": "0.00001"},
                                          "fractional": True},
         sig("buy", price=50), FLAT, "rejected",
         "buy while flat: rejected, dollar_amount 0.00001 comes to less than one millionth"),
    Case("percent_of_equity 10 at 50", {"sizing": {"type": "percent_of_equity", "value": 10}}, sig("buy", price=50),
         FLAT, "executed", "buy while flat: opened long 200 (percent_of_equity 10)", (entry("buy", "200"),), EQ),
    Case("percent_of_equity 10 at 70 rounds down", {"sizing": {"type": "percent_of_equity", "value": 10}},
         sig("sell", price=70), FLAT, "executed", "sell while flat: opened short 142 (percent_of_equity 10)",
         (entry("sell", "142"),), EQ),
    Case("percent_of_equity 10 at 70 fractional", {"sizing": {"type": "percent_of_equity", "value": 10},
                                                   "fractional": True},
         sig("buy", price=70), FLAT, "executed", "buy while flat: opened long 142.857142 (percent_of_equity 10)",
         (entry("buy", "142.857142"),), EQ),
    Case("percent_of_equity without equity", {"sizing": {"type": "percent_of_equity", "value": 10}},
         sig("buy", price=70), FLAT, "rejected",
         "buy while flat: rejected, percent_of_equity sizing needs the account equity, which the broker did not "
         "report"),
    Case("percent_of_position 50 of long 5 adds 2", {"sizing": {"type": "percent_of_position", "value": 50},
                                                     "allow_add": True},
         sig("buy"), LONG5, "executed", "buy while long 5: added 2 (percent_of_position 50)", (entry("buy", "2"),)),
    Case("percent_of_position 50 fractional adds 2.5", {"sizing": {"type": "percent_of_position", "value": 50},
                                                        "fractional": True},
         sig("add"), SHORT5, "executed", "add while short 5: added 2.5 (percent_of_position 50)",
         (entry("sell", "2.5"),)),
    Case("percent_of_position while flat", {"sizing": {"type": "percent_of_position", "value": 50}}, sig("buy"),
         FLAT, "rejected", "buy while flat: rejected, percent_of_position needs an open position"),
    Case("risk_dollar_amount 100, stop 2 away", {"sizing": {"type": "risk_dollar_amount", "value": 100},
                                                 "stop_loss": {"amount": 2}},
         sig("buy", price=50), FLAT, "executed", "buy while flat: opened long 50 (risk_dollar_amount 100)",
         (entry("buy", "50", sl=sl("48")),)),
    Case("risk_dollar_amount 100, stop 3 away", {"sizing": {"type": "risk_dollar_amount", "value": 100},
                                                 "stop_loss": {"amount": 3}},
         sig("sell", price=100), FLAT, "executed", "sell while flat: opened short 33 (risk_dollar_amount 100)",
         (entry("sell", "33", sl=sl("103")),)),
    Case("risk_dollar_amount fractional", {"sizing": {"type": "risk_dollar_amount", "value": 100},
                                           "stop_loss": {"amount": 3}, "fractional": True},
         sig("buy", price=100), FLAT, "executed", "buy while flat: opened long 33.333333 (risk_dollar_amount 100)",
         (entry("buy", "33.333333", sl=sl("97")),)),
    Case("risk_dollar_amount without a stop", {"sizing": {"type": "risk_dollar_amount", "value": 100}},
         sig("buy", price=50), FLAT, "rejected",
         "buy while flat: rejected, risk_dollar_amount sizing needs a stop loss to measure the risk per unit"),
    Case("risk_percent 1 of 100000, stop 4% of 50", {"sizing": {"type": "risk_percent", "value": 1},
                                                      "stop_loss": {"percent": 4}},
         sig("buy", price=50), FLAT, "executed", "buy while flat: opened long 500 (risk_percent 1)",
         (entry("buy", "500", sl=sl("48")),), EQ),
    Case("signal percent_of_equity 5", {}, sig("buy", price=50, quantity=5, quantity_type="percent_of_equity"), FLAT,
         "executed", "buy while flat: opened long 100 (signal percent_of_equity 5)", (entry("buy", "100"),), EQ),
    Case("signal dollar_amount 1000 at a limit of 40",
         {}, sig("buy", price=50, quantity=1000, quantity_type="dollar_amount", order_type="limit", limit_price=40),
         FLAT, "executed", "buy while flat: opened long 25 (signal dollar_amount 1000)",
         (entry("buy", "25", "limit", limit="40"),)),
    Case("signal risk_dollar_amount 200 with its stop at 45",
         {}, sig("buy", price=50, quantity=200, quantity_type="risk_dollar_amount",
                 stop_loss=StopLoss(stop_price=D(45))),
         FLAT, "executed", "buy while flat: opened long 40 (signal risk_dollar_amount 200)",
         (entry("buy", "40", sl=sl("45")),)),
    Case("signal risk_dollar_amount 100 with the subscription's stop 2 away",
         {"stop_loss": {"amount": 2}}, sig("buy", price=50, quantity=100, quantity_type="risk_dollar_amount"),
         FLAT, "executed", "buy while flat: opened long 50 (signal risk_dollar_amount 100)",
         (entry("buy", "50", sl=sl("48")),)),
    Case("signal risk_percent 1 with the subscription's stop 4% away",
         {"stop_loss": {"percent": 4}}, sig("sell", price=50, quantity=1, quantity_type="risk_percent"),
         FLAT, "executed", "sell while flat: opened short 500 (signal risk_percent 1)",
         (entry("sell", "500", sl=sl("52")),), EQ),
    Case("signal risk_dollar_amount with no stop anywhere", {},
         sig("buy", price=50, quantity=100, quantity_type="risk_dollar_amount"), FLAT, "rejected",
         "buy while flat: rejected, risk_dollar_amount sizing needs a stop loss to measure the risk per unit"),
    Case("risk_dollar_amount with a trailing stop loss, which has no stop price",
         {"sizing": {"type": "risk_dollar_amount", "value": 100}, "stop_loss": {"type": "trailing_stop", "amount": 2}},
         sig("buy", price=50), FLAT, "rejected", "buy while flat: rejected, risk_dollar_amount sizing measures the "
         "risk to the stop loss's stop price, and a trailing_stop stop loss has none: use stop loss type stop or "
         "stop_limit"),
    # A size of 1e15 units or more, refused in a signal's quantity, is refused when computed too: past the
    # arithmetic's 28 digits the order could not even be written, and it failed with a bare InvalidOperation.
    Case("percent_of_equity of a vast account at the smallest price",
         {"sizing": {"type": "percent_of_equity", "value": 100}, "fractional": True}, sig("buy", price="1e-12"),
         FLAT, "rejected", "buy while flat: rejected, percent_of_equity 100 comes to 1.00E+32 units, more than the "
         "1e15 an order may hold: check the sizing, the price and the stop loss", market=Market(equity=D("1e20"))),
    Case("signal risk_dollar_amount with its stop a hair from the entry",
         {}, sig("buy", price=50, quantity=100000, quantity_type="risk_dollar_amount",
                 stop_loss=StopLoss(stop_price=D("49.999999999999"))),
         FLAT, "rejected", "buy while flat: rejected, signal risk_dollar_amount 100000 comes to 1.00E+17 units, more "
         "than the 1e15 an order may hold: check the sizing, the price and the stop loss"),
    Case("signal percent_of_position 40 of short 5 exits 2", {},
         sig("exit", quantity=40, quantity_type="percent_of_position"), SHORT5, "executed",
         "exit while short 5: covered 2, still short 3", (exit_("buy", "2"),)),
    # TradersPost's example: "sell 50 percent_of_position" with 100 shares sells 50. Not the whole long and a short.
    Case("signal sell 50 percent_of_position of long 5 sells 2 and opens no short", {},
         sig("sell", quantity=50, quantity_type="percent_of_position"), LONG5, "executed",
         "sell while long 5: sold 2, still long 3", (exit_("sell", "2"),)),
    Case("signal buy 100 percent_of_position of short 5 covers 5 and opens no long", {},
         sig("buy", quantity=100, quantity_type="percent_of_position"), SHORT5, "executed",
         "buy while short 5: covered 5", (exit_("buy", "5"),)),
]  # fmt: skip


@cases(SIZING)
def test_sizing(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# tickers and ticker_map


TICKERS = [
    Case("tickers: listed (case-insensitive)", {"tickers": ["MSFT", "amd"]}, sig("buy"), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1"),)),
    Case("tickers: not listed", {"tickers": ["MSFT"]}, sig("buy"), FLAT, "rejected",
         "buy while flat: rejected, AMD is not in this subscription's tickers"),
    Case("tickers: not listed, even an exit", {"tickers": ["MSFT"]}, sig("exit"), LONG5, "rejected",
         "exit while long 5: rejected, AMD is not in this subscription's tickers"),
    Case("tickers hold the signal's ticker, not the mapped one",
         {"tickers": ["NQ1!"], "ticker_map": {"NQ1!": "MNQZ2026"}}, sig("sell", ticker="NQ1!"), FLAT, "executed",
         f"sell while flat: opened short 1 {FIXED_1}", (entry("sell", "1"),)),
    Case("a mapped symbol in tickers does not admit the signal ticker",
         {"tickers": ["MNQZ2026"], "ticker_map": {"NQ1!": "MNQZ2026"}}, sig("sell", ticker="NQ1!"), FLAT, "rejected",
         "sell while flat: rejected, NQ1! is not in this subscription's tickers"),
    Case("ticker_map: cancel finds the mapped symbol's orders", {"ticker_map": {"NQ1!": "MNQZ2026"}},
         sig("cancel", ticker="NQ1!"), FLAT, "executed", "cancel while flat: canceled 1 open order",
         orders=(order("mapped", "MNQZ2026"), order("unmapped", "NQ1!")), cancel=("mapped",)),
]  # fmt: skip


@cases(TICKERS)
def test_tickers(case: Case) -> None:
    check(case)


def test_broker_symbol_maps_only_listed_tickers() -> None:
    mapping = sub(ticker_map={"NQ1!": "MNQZ2026", "ES1!": "MESZ2026"})
    assert broker_symbol(mapping, "NQ1!") == "MNQZ2026"
    assert broker_symbol(mapping, "ES1!") == "MESZ2026"
    assert broker_symbol(mapping, "AMD") == "AMD"
    assert broker_symbol(mapping, "nq1!") == "MNQZ2026"  # `tickers` lets it through ignoring case: so does the map
    assert broker_symbol(sub(), "NQ1!") == "NQ1!"


def test_broker_symbol_drops_an_exchange_prefix_unless_the_map_names_it() -> None:
    """TradingView's EXCHANGE:SYMBOL (Pine's syminfo.tickerid) reaches no broker with its prefix."""
    assert broker_symbol(sub(), "NASDAQ:AMD") == "AMD"
    assert broker_symbol(sub(), "BINANCE:BTCUSDT") == "BTCUSDT"
    assert broker_symbol(sub(), "BTC/USDT:USDT") == "BTC/USDT:USDT"  # a ccxt swap symbol, not a prefix
    assert broker_symbol(sub(), "AMD:") == "AMD:"
    mapping = sub(ticker_map={"NQ1!": "MNQZ2026", "BINANCE:ETHUSDT": "ETH/USDT"})
    assert broker_symbol(mapping, "CME_MINI:NQ1!") == "MNQZ2026"
    assert broker_symbol(mapping, "BINANCE:ETHUSDT") == "ETH/USDT"  # a key written with the prefix wins
    assert broker_symbol(mapping, "ETHUSDT") == "ETHUSDT"


def test_tickers_take_an_exchange_prefixed_ticker_by_its_symbol() -> None:
    plan = resolve(sig("buy", ticker="NASDAQ:AMD"), Decimal(0), [], sub(tickers=["AMD"]))
    assert plan.state == "executed", plan.decision
    refused = resolve(sig("buy", ticker="NASDAQ:TSLA"), Decimal(0), [], sub(tickers=["AMD"]))
    assert refused.state == "rejected" and "not in this subscription's tickers" in refused.decision


# ---------------------------------------------------------------------------------------------
# order_type, exit_order_type, trail_amount/trail_percent, time_in_force, extended_hours

ORDERS = [
    Case("order_type limit: swap exits at market, enters at the price", {"order_type": "limit"},
         sig("buy", price="60.3"), SHORT5, "executed", f"buy while short 5: covered 5, opened long 1 {FIXED_1}",
         (exit_("buy", "5"), entry("buy", "1", "limit", limit="60.3"))),
    Case("exit_order_type limit at the signal price", {"exit_order_type": "limit"}, sig("exit", price=61), LONG5,
         "executed", "exit while long 5: sold 5", (exit_("sell", "5", "limit", limit="61"),)),
    Case("exit_order_type limit at the quote", {"exit_order_type": "limit"}, sig("exit"), LONG5, "executed",
         "exit while long 5: sold 5", (exit_("sell", "5", "limit", limit="62"),), Market(quote=D(62))),
    Case("exit_order_type limit without a price", {"exit_order_type": "limit"}, sig("exit"), LONG5, "rejected",
         "exit while long 5: rejected, a limit exit needs limitPrice or price in the signal "
         "(the broker gave no quote)"),
    Case("exit_order_type limit, entry stays market", {"exit_order_type": "limit"}, sig("sell", price=61), LONG5,
         "executed", f"sell while long 5: sold 5, opened short 1 {FIXED_1}",
         (exit_("sell", "5", "limit", limit="61"), entry("sell", "1"))),
    Case("order_type stop at the signal's stopPrice", {"order_type": "stop"}, sig("buy", price=60, stop_price=62),
         FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", "stop", stop="62"),)),
    Case("order_type stop_limit", {"order_type": "stop_limit"}, sig("buy", stop_price=62, limit_price="62.5"), FLAT,
         "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", "stop_limit", limit="62.5", stop="62"),)),
    Case("order_type trailing_stop with trail_amount", {"order_type": "trailing_stop", "trail_amount": "0.5"},
         sig("sell"), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", "trailing_stop", trail_amount="0.5"),)),
    Case("exit_order_type trailing_stop with trail_percent", {"exit_order_type": "trailing_stop",
                                                               "trail_percent": 1},
         sig("exit"), LONG5, "executed", "exit while long 5: sold 5",
         (exit_("sell", "5", "trailing_stop", trail_percent="1"),)),
    Case("signal trailPercent replaces the trail_amount setting", {"order_type": "trailing_stop",
                                                                    "trail_amount": "0.5"},
         sig("sell", trail_percent=2), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", "trailing_stop", trail_percent="2"),)),
    Case("signal trail ignored when not overridable", {"order_type": "trailing_stop", "trail_amount": "0.5",
                                                       "allow_signal_overrides": ["orderType"]},
         sig("sell", trail_percent=2), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", "trailing_stop", trail_amount="0.5"),)),
    Case("only trailPercent overridable: it is used", {"order_type": "trailing_stop", "trail_amount": "0.5",
                                                       "allow_signal_overrides": ["trailPercent"]},
         sig("sell", trail_percent=2), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", "trailing_stop", trail_percent="2"),)),
    Case("a sell trailing_stop of 100% or more never triggers", {},
         sig("exit", order_type="trailing_stop", trail_percent=120), LONG5, "rejected",
         "exit while long 5: rejected, a trailing_stop sell 120% below the price would sit at or below zero and "
         "never trigger: trail by less than 100%"),
    Case("the setting's trail_percent of 100 on a sell", {"exit_order_type": "trailing_stop", "trail_percent": 100},
         sig("sell", sentiment="flat"), LONG5, "rejected",
         "sell flat while long 5: rejected, a trailing_stop sell 100% below the price would sit at or below zero and "
         "never trigger: trail by less than 100%"),
    Case("a buy trailing_stop may trail 150% above", {}, sig("exit", order_type="trailing_stop", trail_percent=150),
         SHORT5, "executed", "exit while short 5: covered 5",
         (exit_("buy", "5", "trailing_stop", trail_percent="150"),)),
    Case("signal orderType trailing_stop with its trailAmount", {}, sig("exit", order_type="trailing_stop",
                                                                       trail_amount=3),
         SHORT5, "executed", "exit while short 5: covered 5", (exit_("buy", "5", "trailing_stop", trail_amount="3"),)),
    Case("time_in_force gtc on both legs", {"time_in_force": "gtc"}, sig("sell"), LONG5, "executed",
         f"sell while long 5: sold 5, opened short 1 {FIXED_1}",
         (exit_("sell", "5", tif="gtc"), entry("sell", "1", tif="gtc"))),
    Case("signal timeInForce overrides", {"time_in_force": "gtc"}, sig("buy", time_in_force="ioc"), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", tif="ioc"),)),
    Case("signal timeInForce not overridable", {"time_in_force": "gtc", "allow_signal_overrides": []},
         sig("buy", time_in_force="ioc"), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", tif="gtc"),)),
    Case("extended_hours: market becomes limit at the price", {"extended_hours": True}, sig("buy", price="60.5"),
         FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", "limit", limit="60.5", extended=True),)),
    Case("extended_hours: the exit is a limit too", {"extended_hours": True}, sig("exit", price="61.25"), LONG5,
         "executed", "exit while long 5: sold 5", (exit_("sell", "5", "limit", limit="61.25", extended=True),)),
    Case("extended_hours without a price", {"extended_hours": True}, sig("buy"), FLAT, "rejected",
         "buy while flat: rejected, a limit entry needs limitPrice or price in the signal (the broker gave no quote)"),
    Case("extended_hours with a stop order type", {"extended_hours": True, "order_type": "stop"},
         sig("buy", price=60, stop_price=61), FLAT, "rejected",
         "buy while flat: rejected, extended hours need limit orders, not stop"),
    Case("signal extendedHours turns it on", {}, sig("buy", extended_hours=True, order_type="limit", limit_price=59),
         FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", "limit", limit="59", extended=True),)),
    Case("signal extendedHours false turns it off", {"extended_hours": True}, sig("buy", extended_hours=False), FLAT,
         "executed", f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1"),)),
    Case("signal extendedHours not overridable", {"allow_signal_overrides": ["orderType", "limitPrice"]},
         sig("buy", extended_hours=True, order_type="limit", limit_price=59), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", "limit", limit="59"),)),
]  # fmt: skip


@cases(ORDERS)
def test_order_settings(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# take_profit / stop_loss: absolute prices from the entry, rounded to the cent (up for sells, down for buys)

BRACKETS = [
    Case("long 100: take profit 4% -> 104, stop 2 -> 98", {"take_profit": {"percent": 4}, "stop_loss": {"amount": 2}},
         sig("buy", price=100), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", tp=tp("104"), sl=sl("98")),)),
    Case("short 100: mirrored, 96 and 102", {"take_profit": {"percent": 4}, "stop_loss": {"amount": 2}},
         sig("sell", price=100), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", tp=tp("96"), sl=sl("102")),)),
    Case("long stop_limit with limit_offset", {"stop_loss": {"type": "stop_limit", "amount": 2, "limit_offset": "0.5"}},
         sig("buy", price=100), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", sl=sl("98", "97.5")),)),
    Case("short stop_limit with limit_offset", {"stop_loss": {"type": "stop_limit", "percent": 2,
                                                             "limit_offset": "0.5"}},
         sig("sell", price=100), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", sl=sl("102", "102.5")),)),
    # 98 - 0.333 = 97.667 and 102 + 0.333 = 102.333: a sub-penny limit is refused, so it goes to the tick like the
    # other legs (the sell's up, the buy's down: toward the stop, never past it)
    Case("a long stop_limit's limit_offset off the tick", {"stop_loss": {"type": "stop_limit", "amount": 2,
                                                                         "limit_offset": "0.333"}},
         sig("buy", price=100), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", sl=sl("98", "97.67")),)),
    Case("a short stop_limit's limit_offset off the tick", {"stop_loss": {"type": "stop_limit", "amount": 2,
                                                                          "limit_offset": "0.333"}},
         sig("sell", price=100), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", sl=sl("102", "102.33")),)),
    Case("a stop_limit's limit at or below zero", {"stop_loss": {"type": "stop_limit", "amount": "0.5",
                                                                 "limit_offset": 1}},
         sig("buy", price=1), FLAT, "rejected",
         "buy while flat: rejected, stop loss limit -0.5000 is not above zero: use a smaller limit_offset"),
    Case("a stop_limit's limit exactly zero", {"stop_loss": {"type": "stop_limit", "amount": "0.5",
                                                             "limit_offset": "0.5"}},
         sig("buy", price=1), FLAT, "rejected",
         "buy while flat: rejected, stop loss limit 0.0000 is not above zero: use a smaller limit_offset"),
    Case("trailing stop loss by amount", {"stop_loss": {"type": "trailing_stop", "amount": "1.5"}},
         sig("buy", price=100), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", sl=LegPrices("trailing_stop", trail_amount=D("1.5"))),)),
    # 33.33 * 1.03 = 34.3299 and 33.33 * 0.97 = 32.3301: sells round up, buys round down
    Case("long 33.33 rounds the sell legs up", {"take_profit": {"percent": 3}, "stop_loss": {"percent": 3}},
         sig("buy", price="33.33"), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", tp=tp("34.33"), sl=sl("32.34")),)),
    Case("short 33.33 rounds the buy legs down", {"take_profit": {"percent": 3}, "stop_loss": {"percent": 3}},
         sig("sell", price="33.33"), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", tp=tp("32.33"), sl=sl("34.32")),)),
    Case("below a dollar the tick is 0.0001", {"take_profit": {"percent": 3}, "stop_loss": {"amount": "0.00333"}},
         sig("buy", price="0.5"), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", tp=tp("0.515"), sl=sl("0.4967")),)),
    # 0.00001234 * 1.03 = 0.0000127102, * 0.98 = 0.0000120932, * 0.97 = 0.0000119698, * 1.02 = 0.0000125868:
    # to four significant digits (sells up, buys down), where a tick of 0.0001 would make every leg 0.0001 or 0
    Case("below a cent four significant digits", {"take_profit": {"percent": 3}, "stop_loss": {"percent": 2}},
         sig("buy", price="0.00001234"), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", tp=tp("0.00001272"), sl=sl("0.00001210")),)),
    Case("below a cent on a short", {"take_profit": {"percent": 3}, "stop_loss": {"percent": 2}},
         sig("sell", price="0.00001234"), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", tp=tp("0.00001196"), sl=sl("0.00001258")),)),
    Case("a take profit past any price", {}, sig("buy", price="1e14", take_profit=TakeProfit(
        percent=D("99999999999999"))), FLAT, "rejected",
         "buy while flat: rejected, take profit 1.00E+26 is past any price: use a smaller distance"),
    Case("a stop loss past any price", {}, sig("buy", price="1e14", stop_loss=StopLoss(
        percent=D("99999999999999"))), FLAT, "rejected",
         "buy while flat: rejected, stop loss -1.00E+26 is past any price: use a smaller distance"),
    Case("a stop loss at or below zero", {"stop_loss": {"amount": 5}}, sig("buy", price=4), FLAT, "rejected",
         "buy while flat: rejected, stop loss -1.00 is not above zero: use a smaller distance"),
    Case("a short's take profit at or below zero", {"take_profit": {"amount": 5}}, sig("sell", price=5), FLAT,
         "rejected", "sell while flat: rejected, take profit 0.0000 is not above zero: use a smaller distance"),
    Case("a limit entry measures from its limit", {"order_type": "limit", "take_profit": {"percent": 4},
                                                   "stop_loss": {"amount": 2}},
         sig("buy", price=100, limit_price=99), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", "limit", limit="99", tp=tp("102.96"), sl=sl("97")),)),
    Case("a market entry without a price measures from the quote", {"take_profit": {"percent": 4}}, sig("buy"), FLAT,
         "executed", f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", tp=tp("52")),),
         Market(quote=D(50))),
    Case("a limit signal without a price rests at the quote, as TradersPost places it", {"take_profit": {"percent": 4}},
         sig("buy", order_type="limit"), FLAT, "executed", f"buy while flat: opened long 1 {FIXED_1}",
         (entry("buy", "1", "limit", limit="50", tp=tp("52")),), Market(quote=D(50))),
    Case("no price at all", {"take_profit": {"percent": 4}}, sig("buy"), FLAT, "rejected",
         "buy while flat: rejected, a relative take profit needs the entry price: send price in the signal"),
    Case("signal takeProfit replaces the default", {"take_profit": {"percent": 4}},
         sig("buy", price=100, take_profit=TakeProfit(limit_price=D(110))), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", tp=tp("110")),)),
    Case("signal takeProfit not overridable", {"take_profit": {"percent": 4}, "allow_signal_overrides": []},
         sig("buy", price=100, take_profit=TakeProfit(limit_price=D(110))), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", tp=tp("104")),)),
    Case("signal stopLoss stop_limit", {}, sig("buy", price=100, stop_loss=StopLoss(
        type="stop_limit", stop_price=D(97), limit_price=D("96.5"))), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", sl=sl("97", "96.5")),)),
    # A sell stop-limit whose limit is above its stop (a buy's below) cannot fill as the price runs through the stop:
    # the position would be left with no stop at all. At the stop itself it still may.
    Case("a long's stop_limit limit above its stop", {}, sig("buy", price=100, stop_loss=StopLoss(
        type="stop_limit", percent=D(2), limit_price=D(105))), FLAT, "rejected",
         "buy while flat: rejected, stop loss limit 105 is above its stop 98.00: once the price falls to the stop, a "
         "sell limit there would not fill and the position would have no stop; send a limitPrice at or below the "
         "stop"),
    Case("a short's stop_limit limit below its stop", {}, sig("sell", price=100, stop_loss=StopLoss(
        type="stop_limit", stop_price=D(102), limit_price=D("101.5"))), FLAT, "rejected",
         "sell while flat: rejected, stop loss limit 101.5 is below its stop 102: once the price rises to the stop, "
         "a buy limit there would not fill and the position would have no stop; send a limitPrice at or above the "
         "stop"),
    Case("a stop_limit limit at its stop", {}, sig("sell", price=100, stop_loss=StopLoss(
        type="stop_limit", stop_price=D(102), limit_price=D(102))), FLAT, "executed",
         f"sell while flat: opened short 1 {FIXED_1}", (entry("sell", "1", sl=sl("102", "102")),)),
    Case("signal stopLoss trailing percent", {"stop_loss": {"amount": 2}},
         sig("sell", price=100, stop_loss=StopLoss(type="trailing_stop", trail_percent=D(1))), FLAT, "executed",
         f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", sl=LegPrices("trailing_stop", trail_percent=D(1))),)),
    # A sell trailing 100% or more below the price sits at or below zero whatever the price does: never triggered,
    # it leaves the long with no stop. A buy's trail above the price may be any size.
    Case("a long's trailing stop loss of 100% never triggers", {}, sig("buy", price=100, stop_loss=StopLoss(
        type="trailing_stop", trail_percent=D(100))), FLAT, "rejected",
         "buy while flat: rejected, a trailing stop loss 100% below the long's price would sit at or below zero and "
         "never trigger: trail by less than 100%"),
    Case("the setting's trailing stop loss of 150% on a long", {"stop_loss": {"type": "trailing_stop", "percent": 150}},
         sig("buy", price=100), FLAT, "rejected",
         "buy while flat: rejected, a trailing stop loss 150% below the long's price would sit at or below zero and "
         "never trigger: trail by less than 100%"),
    Case("a short's trailing stop loss of 150% may trigger", {}, sig("sell", price=100, stop_loss=StopLoss(
        type="trailing_stop", trail_percent=D(150))), FLAT, "executed", f"sell while flat: opened short 1 {FIXED_1}",
         (entry("sell", "1", sl=LegPrices("trailing_stop", trail_percent=D(150))),)),
    Case("signal stopLoss percent on a short", {}, sig("sell", price=100, stop_loss=StopLoss(percent=D("1.5"))), FLAT,
         "executed", f"sell while flat: opened short 1 {FIXED_1}", (entry("sell", "1", sl=sl("101.5")),)),
    Case("take profit on the losing side", {}, sig("buy", price=100, take_profit=TakeProfit(limit_price=D(95))),
         FLAT, "rejected", "buy while flat: rejected, take profit 95 is not beyond the long entry 100"),
    Case("stop loss on the winning side", {}, sig("sell", price=100, stop_loss=StopLoss(stop_price=D(99))), FLAT,
         "rejected", "sell while flat: rejected, stop loss 99 is not above the short entry 100"),
    Case("a broker without brackets", {"take_profit": {"percent": 4}}, sig("buy", price=100), FLAT, "rejected",
         "buy while flat: rejected, this broker takes no take-profit/stop-loss legs; remove them or switch broker",
         market=Market(brackets=False)),
    Case("a swap brackets only the entry", {"take_profit": {"amount": 5}, "stop_loss": {"amount": 2}},
         sig("buy", price=100), SHORT5, "executed", f"buy while short 5: covered 5, opened long 1 {FIXED_1}",
         (exit_("buy", "5"), entry("buy", "1", tp=tp("105"), sl=sl("98")))),
    Case("an exit carries no bracket", {"take_profit": {"percent": 4}, "stop_loss": {"amount": 2}},
         sig("exit", price=100), LONG5, "executed", "exit while long 5: sold 5", (exit_("sell", "5"),)),
]  # fmt: skip


@cases(BRACKETS)
def test_take_profit_and_stop_loss(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# allow_signal_overrides

OVERRIDES = [
    Case("orderType not overridable", {"allow_signal_overrides": []},
         sig("buy", order_type="limit", limit_price=59, price=60), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1"),)),
    Case("orderType overridable, limitPrice not: the price is the limit", {"allow_signal_overrides": ["orderType"]},
         sig("buy", order_type="limit", limit_price=59, price=60), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1", "limit", limit="60"),)),
    Case("quantityType not overridable: a percent is not read as shares",
         {"allow_signal_overrides": ["orderType"], "sizing": {"value": 2}},
         sig("buy", price=50, quantity=10, quantity_type="percent_of_equity"), FLAT, "executed",
         "buy while flat: opened long 2 (fixed_quantity 2)", (entry("buy", "2"),), EQ),
    Case("quantityType not overridable: a fixed quantity still counts", {"allow_signal_overrides": []},
         sig("buy", quantity=3, quantity_type="fixed_quantity"), FLAT, "executed",
         "buy while flat: opened long 3 (signal quantity)", (entry("buy", "3"),)),
    Case("quantityType not overridable: percent_of_position exit is a full exit", {"allow_signal_overrides": []},
         sig("exit", quantity=40, quantity_type="percent_of_position"), LONG5, "executed", "exit while long 5: sold 5",
         (exit_("sell", "5"),)),
    Case("stopPrice not overridable", {"order_type": "stop", "allow_signal_overrides": []},
         sig("buy", stop_price=62), FLAT, "rejected", "buy while flat: rejected, a stop entry needs stopPrice in the "
         "signal"),
]  # fmt: skip


@cases(OVERRIDES)
def test_allow_signal_overrides(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# cancel_open_orders and the signal's `cancel`

OPEN = (order("a"), order("b", kind="stop"), order("c", status="filled"), order("m", symbol="MSFT"))
CANCELING = [
    Case("cancel_open_orders while flat", {"cancel_open_orders": True}, sig("buy"), FLAT, "executed",
         f"buy while flat: canceled 2 open orders, opened long 1 {FIXED_1}", (entry("buy", "1"),), orders=OPEN,
         cancel=("a", "b")),
    Case("cancel_open_orders while reversing", {"cancel_open_orders": True}, sig("buy"), SHORT5, "executed",
         f"buy while short 5: canceled 2 open orders, covered 5, opened long 1 {FIXED_1}",
         (exit_("buy", "5"), entry("buy", "1")), orders=OPEN, cancel=("a", "b")),
    Case("cancel_open_orders not when adding", {"cancel_open_orders": True, "allow_add": True}, sig("buy"), LONG5,
         "executed", f"buy while long 5: added 1 {FIXED_1}", (entry("buy", "1"),), orders=OPEN),
    Case("cancel_open_orders not on an ignored signal", {"cancel_open_orders": True}, sig("buy"), LONG5, "ignored",
         "buy while long 5: ignored, already long and allow_add is off", orders=OPEN),
    Case("cancel_open_orders with one order", {"cancel_open_orders": True}, sig("sell"), FLAT, "executed",
         f"sell while flat: canceled 1 open order, opened short 1 {FIXED_1}", (entry("sell", "1"),),
         orders=(order("a"),), cancel=("a",)),
    Case("cancel_open_orders off by default", {}, sig("buy"), FLAT, "executed",
         f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1"),), orders=OPEN),
    Case("signal cancel true while adding", {"allow_add": True}, sig("buy", cancel=True), LONG5, "executed",
         f"buy while long 5: canceled 2 open orders, added 1 {FIXED_1}", (entry("buy", "1"),), orders=OPEN,
         cancel=("a", "b")),
    Case("signal cancel false beats the setting", {"cancel_open_orders": True}, sig("buy", cancel=False), FLAT,
         "executed", f"buy while flat: opened long 1 {FIXED_1}", (entry("buy", "1"),), orders=OPEN),
    Case("signal cancel not overridable", {"allow_add": True, "allow_signal_overrides": []},
         sig("buy", cancel=True), LONG5, "executed", f"buy while long 5: added 1 {FIXED_1}", (entry("buy", "1"),),
         orders=OPEN),
    Case("action cancel with cancelOrderType", {}, sig("cancel", cancel_order_type="stop"), LONG5, "executed",
         "cancel while long 5: canceled 1 open stop order", orders=OPEN, cancel=("b",)),
    Case("action cancel with no order of that type", {}, sig("cancel", cancel_order_type="trailing_stop"), FLAT,
         "rejected", "cancel while flat: rejected, no open trailing_stop orders for AMD to cancel", orders=OPEN),
    Case("reverse cancels with the setting", {"cancel_open_orders": True}, sig("reverse"), LONG5, "executed",
         f"reverse while long 5: canceled 2 open orders, sold 5, opened short 1 {FIXED_1}",
         (exit_("sell", "5"), entry("sell", "1")), orders=OPEN, cancel=("a", "b")),
]  # fmt: skip


@cases(CANCELING)
def test_canceling_open_orders(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# trading_windows, allow_exits_outside_windows, the signal's ignoreTradingWindows

RTH = {"trading_windows": [{"start": "09:30", "end": "16:00"}]}  # Mon-Fri, America/New_York
MON_10 = Market(now=datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # Monday 10:00 New York
MON_0930 = Market(now=datetime(2026, 1, 5, 14, 30, tzinfo=UTC))  # 09:30 New York: from is inclusive
MON_16 = Market(now=datetime(2026, 1, 5, 21, 0, tzinfo=UTC))  # 16:00 New York: to is exclusive
MON_17 = Market(now=datetime(2026, 1, 5, 22, 0, tzinfo=UTC))
SAT_11 = Market(now=datetime(2026, 1, 10, 16, 0, tzinfo=UTC))  # Saturday 11:00 New York
NIGHT = {"trading_windows": [{"days": ["fri"], "start": "18:00", "end": "02:00"}]}  # Friday evening to Saturday 2am
LONDON = {"trading_windows": [{"start": "08:00", "end": "16:30", "timezone": "Europe/London"}]}
TWO = {"trading_windows": [{"start": "09:30", "end": "11:00"}, {"start": "14:00", "end": "16:00"}]}
OUTSIDE = "buy while flat: ignored, outside the trading windows"
OPENED = f"buy while flat: opened long 1 {FIXED_1}"
BUY1 = (entry("buy", "1"),)


def at(year: int, month: int, day: int, hour: int, minute: int) -> Market:
    """A Market at a UTC moment."""
    return Market(now=datetime(year, month, day, hour, minute, tzinfo=UTC))


WINDOWS = [
    Case("inside", RTH, sig("buy"), FLAT, "executed", OPENED, BUY1, MON_10),
    Case("at the opening minute", RTH, sig("buy"), FLAT, "executed", OPENED, BUY1, MON_0930),
    Case("at the closing minute", RTH, sig("buy"), FLAT, "ignored", OUTSIDE, (), MON_16),
    Case("outside: an entry is ignored", RTH, sig("buy"), FLAT, "ignored", OUTSIDE, (), MON_17),
    Case("outside: an add is ignored", RTH, sig("add"), LONG5, "ignored",
         "add while long 5: ignored, outside the trading windows", (), MON_17),
    Case("outside: an exit still runs", RTH, sig("exit"), LONG5, "executed", "exit while long 5: sold 5",
         (exit_("sell", "5"),), MON_17),
    Case("outside: sell while long exits only", RTH, sig("sell"), LONG5, "executed",
         "sell while long 5: sold 5, no short opened (outside the trading windows)", (exit_("sell", "5"),), MON_17),
    Case("outside: reverse exits only", RTH, sig("reverse"), SHORT5, "executed",
         "reverse while short 5: covered 5, no entry outside the trading windows", (exit_("buy", "5"),), MON_17),
    Case("outside: a cancel still runs", RTH, sig("cancel"), FLAT, "executed", "cancel while flat: canceled 1 open "
         "order", (), MON_17, (order("a"),), ("a",)),
    Case("outside, exits not allowed: exit ignored", {**RTH, "allow_exits_outside_windows": False}, sig("exit"),
         LONG5, "ignored", "exit while long 5: ignored, outside the trading windows", (), MON_17),
    Case("outside, exits not allowed: sell while long ignored", {**RTH, "allow_exits_outside_windows": False},
         sig("sell"), LONG5, "ignored", "sell while long 5: ignored, outside the trading windows", (), MON_17),
    Case("outside, exits not allowed: cancel ignored", {**RTH, "allow_exits_outside_windows": False},
         sig("cancel"), FLAT, "ignored", "cancel while flat: ignored, outside the trading windows", (), MON_17,
         (order("a"),)),
    Case("outside, ignoreTradingWindows", RTH, sig("buy", ignore_trading_windows=True), FLAT, "executed", OPENED,
         BUY1, MON_17),
    Case("outside, ignoreTradingWindows false", RTH, sig("buy", ignore_trading_windows=False), FLAT, "ignored",
         OUTSIDE, (), MON_17),
    Case("weekend", RTH, sig("buy"), FLAT, "ignored", OUTSIDE, (), SAT_11),
    Case("midnight window: Friday 23:00", NIGHT, sig("buy"), FLAT, "executed", OPENED, BUY1, at(2026, 1, 10, 4, 0)),
    Case("midnight window: Saturday 01:30", NIGHT, sig("buy"), FLAT, "executed", OPENED, BUY1, at(2026, 1, 10, 6, 30)),
    Case("midnight window: Saturday 02:00", NIGHT, sig("buy"), FLAT, "ignored", OUTSIDE, (), at(2026, 1, 10, 7, 0)),
    Case("midnight window: Thursday 23:00", NIGHT, sig("buy"), FLAT, "ignored", OUTSIDE, (), at(2026, 1, 9, 4, 0)),
    Case("midnight window: Friday 01:00 (Thursday's night)", NIGHT, sig("buy"), FLAT, "ignored", OUTSIDE, (),
         at(2026, 1, 9, 6, 0)),
    Case("London window, winter 08:30", LONDON, sig("buy"), FLAT, "executed", OPENED, BUY1, at(2026, 1, 5, 8, 30)),
    Case("London window, winter 16:30", LONDON, sig("buy"), FLAT, "ignored", OUTSIDE, (), at(2026, 1, 5, 16, 30)),
    Case("London window, summer 08:30 BST", LONDON, sig("buy"), FLAT, "executed", OPENED, BUY1,
         at(2026, 7, 6, 7, 30)),
    Case("London window, summer 16:45 BST", LONDON, sig("buy"), FLAT, "ignored", OUTSIDE, (), at(2026, 7, 6, 15, 45)),
    Case("two windows: between them", TWO, sig("buy"), FLAT, "ignored", OUTSIDE, (), at(2026, 1, 5, 17, 0)),
    Case("two windows: in the second", TWO, sig("buy"), FLAT, "executed", OPENED, BUY1, at(2026, 1, 5, 19, 30)),
]  # fmt: skip


@cases(WINDOWS)
def test_trading_windows(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# ignore_exits

IGNORE_EXITS = {"ignore_exits": True}
EXITS = [
    Case("exit ignored", IGNORE_EXITS, sig("exit"), LONG5, "ignored",
         "exit while long 5: ignored, exits are ignored (ignore_exits)"),
    Case("sell flat ignored", IGNORE_EXITS, sig("sell", sentiment="flat"), LONG5, "ignored",
         "sell flat while long 5: ignored, exits are ignored (ignore_exits)"),
    Case("buy bearish ignored", IGNORE_EXITS, sig("buy", sentiment="bearish", quantity=2), SHORT5, "ignored",
         "buy bearish while short 5: ignored, exits are ignored (ignore_exits)"),
    Case("sell percent_of_position ignored", IGNORE_EXITS,
         sig("sell", quantity=40, quantity_type="percent_of_position"), LONG5, "ignored",
         "sell while long 5: ignored, exits are ignored (ignore_exits)"),
    Case("a swap still runs", IGNORE_EXITS, sig("sell"), LONG5, "executed",
         f"sell while long 5: sold 5, opened short 1 {FIXED_1}", (exit_("sell", "5"), entry("sell", "1"))),
    Case("an entry still runs", IGNORE_EXITS, sig("buy"), FLAT, "executed", OPENED, BUY1),
    Case("a cancel still runs", IGNORE_EXITS, sig("cancel"), LONG5, "executed",
         "cancel while long 5: canceled 1 open order", orders=(order("a"),), cancel=("a",)),
    Case("the schedule's flatten still runs", IGNORE_EXITS, sig("exit", scheduled=True), LONG5, "executed",
         "exit while long 5: sold 5", (exit_("sell", "5"),)),
    Case("the schedule's flatten is a market exit that cancels, whatever may be overridden",
         {"ignore_exits": True, "allow_signal_overrides": [], "exit_order_type": "limit"},
         sig("exit", order_type="market", cancel=True, scheduled=True), LONG5, "executed",
         "exit while long 5: canceled 1 open order, sold 5", (exit_("sell", "5"),), orders=(order("a"),),
         cancel=("a",)),
]  # fmt: skip


@cases(EXITS)
def test_ignore_exits(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------------------------
# actions reverse and breakeven

AVG100 = Market(avg_price=D(100))
ACTIONS = [
    Case("reverse long", {}, sig("reverse"), LONG5, "executed",
         f"reverse while long 5: sold 5, opened short 1 {FIXED_1}", (exit_("sell", "5"), entry("sell", "1"))),
    Case("reverse short", {}, sig("reverse", quantity=3), SHORT5, "executed",
         "reverse while short 5: covered 5, opened long 3 (signal quantity)", (exit_("buy", "5"), entry("buy", "3"))),
    Case("reverse while flat", {}, sig("reverse"), FLAT, "rejected", "reverse while flat: rejected, no position to "
         "reverse"),
    Case("reverse ignores sides and allow_swap", {"sides": "long", "allow_swap": False}, sig("reverse"), LONG5,
         "executed", f"reverse while long 5, sides=long: sold 5, opened short 1 {FIXED_1}",
         (exit_("sell", "5"), entry("sell", "1"))),
    Case("reverse exits the whole position whatever the quantity", {}, sig("reverse", quantity=2), LONG5, "executed",
         "reverse while long 5: sold 5, opened short 2 (signal quantity)", (exit_("sell", "5"), entry("sell", "2"))),
    Case("reverse brackets the new entry", {"take_profit": {"percent": 4}, "stop_loss": {"amount": 2}},
         sig("reverse", price=100), LONG5, "executed", f"reverse while long 5: sold 5, opened short 1 {FIXED_1}",
         (exit_("sell", "5"), entry("sell", "1", tp=tp("96"), sl=sl("102")))),
    Case("breakeven long with offset", {}, sig("breakeven", price=101, breakeven_offset="0.5"), LONG5, "executed",
         "breakeven while long 5: stop at breakeven 100.5 for 5",
         (leg("breakeven", "sell", "5", "stop", stop="100.5", tif="gtc"),), AVG100),
    Case("breakeven short with offset", {}, sig("breakeven", price=99, breakeven_offset="0.5"), SHORT5, "executed",
         "breakeven while short 5: stop at breakeven 99.5 for 5",
         (leg("breakeven", "buy", "5", "stop", stop="99.5", tif="gtc"),), AVG100),
    Case("breakeven without offset", {}, sig("breakeven", price=101), LONG5, "executed",
         "breakeven while long 5: stop at breakeven 100 for 5",
         (leg("breakeven", "sell", "5", "stop", stop="100", tif="gtc"),), AVG100),
    Case("breakeven stop_limit", {}, sig("breakeven", price=98, order_type="stop_limit", breakeven_offset=1), SHORT5,
         "executed", "breakeven while short 5: stop at breakeven 99 for 5",
         (leg("breakeven", "buy", "5", "stop_limit", limit="99", stop="99", tif="gtc"),), AVG100),
    Case("breakeven with the signal's timeInForce", {}, sig("breakeven", price=101, time_in_force="day"), LONG5,
         "executed", "breakeven while long 5: stop at breakeven 100 for 5",
         (leg("breakeven", "sell", "5", "stop", stop="100", tif="day"),), AVG100),
    # an averaged entry has sub-cent digits: the stop goes to the cent, up for a sell stop, down for a buy stop
    Case("breakeven long rounds a sub-cent average up", {}, sig("breakeven", price=56), D(3), "executed",
         "breakeven while long 3: stop at breakeven 55.34 for 3",
         (leg("breakeven", "sell", "3", "stop", stop="55.34", tif="gtc"),), Market(avg_price=D("55.3333333333"))),
    Case("breakeven short rounds a sub-cent average down", {}, sig("breakeven", price=55), D(-3), "executed",
         "breakeven while short 3: stop at breakeven 55.33 for 3",
         (leg("breakeven", "buy", "3", "stop", stop="55.33", tif="gtc"),), Market(avg_price=D("55.3333333333"))),
    # below a cent, four significant digits: a tick of 0.0001 would put a long's stop at 0.0001, eight times the
    # average, and sell at once
    Case("breakeven long below a cent", {}, sig("breakeven", price="0.00002"), D(1000), "executed",
         "breakeven while long 1000: stop at breakeven 0.00001235 for 1000",
         (leg("breakeven", "sell", "1000", "stop", stop="0.00001235", tif="gtc"),),
         Market(avg_price=D("0.000012345"))),
    Case("breakeven short with an offset past zero", {}, sig("breakeven", breakeven_offset=1), SHORT5, "rejected",
         "breakeven while short 5: rejected, breakeven stop -0.5 is not above zero: use a smaller breakevenOffset",
         market=Market(avg_price=D("0.5"))),
    Case("breakeven stop_limit with an offset to zero", {}, sig("breakeven", order_type="stop_limit",
                                                             breakeven_offset="0.5"), SHORT5, "rejected",
         "breakeven while short 5: rejected, breakeven stop 0 is not above zero: use a smaller breakevenOffset",
         market=Market(avg_price=D("0.5"))),
    Case("breakeven without an average price", {}, sig("breakeven"), LONG5, "rejected",
         "breakeven while long 5: rejected, the broker reports no average entry price"),
    Case("breakeven while flat", {}, sig("breakeven"), FLAT, "rejected",
         "breakeven while flat: rejected, no position to protect", market=AVG100),
    # a position not past its breakeven yet: the stop would trigger on arrival and close it at a loss
    Case("breakeven long in profit", {}, sig("breakeven", price="100.01"), LONG5, "executed",
         "breakeven while long 5: stop at breakeven 100 for 5",
         (leg("breakeven", "sell", "5", "stop", stop="100", tif="gtc"),), AVG100),
    Case("breakeven long at its average price", {}, sig("breakeven", price=100), LONG5, "rejected",
         "breakeven while long 5: rejected, the price 100 is already at or below the breakeven stop 100, which "
         "would sell at once: nothing to move the stop to yet", market=AVG100),
    Case("breakeven long short of its offset", {}, sig("breakeven", price=101, breakeven_offset=2), LONG5,
         "rejected", "breakeven while long 5: rejected, the price 101 is already at or below the breakeven stop 102, "
         "which would sell at once: nothing to move the stop to yet", market=AVG100),
    Case("breakeven short against it, by the broker's quote", {}, sig("breakeven"), SHORT5, "rejected",
         "breakeven while short 5: rejected, the price 103 is already at or above the breakeven stop 100, which "
         "would buy at once: nothing to move the stop to yet", market=Market(avg_price=D(100), quote=D(103))),
    # nothing to check the stop against: placed past the market it would trigger on arrival (or be refused after
    # the stop it replaces was canceled), so it is not placed blind
    Case("breakeven without a price or a quote", {}, sig("breakeven"), LONG5, "rejected",
         "breakeven while long 5: rejected, no price to check the breakeven stop 100 against (the signal has no "
         "price, and the broker gave no quote): were the market already at or below it, it would sell at once; send "
         "the price with the breakeven (TradingView: \"price\": {{close}})", market=AVG100),
    Case("breakeven short in profit, by the broker's quote", {}, sig("breakeven"), SHORT5, "executed",
         "breakeven while short 5: stop at breakeven 100 for 5",
         (leg("breakeven", "buy", "5", "stop", stop="100", tif="gtc"),), Market(avg_price=D(100), quote=D(97))),
]  # fmt: skip


@cases(ACTIONS)
def test_reverse_and_breakeven(case: Case) -> None:
    check(case)


# Issue 3's settings (build item 2); `enabled` is fan-out and `exit_fill_timeout` the executor's.
ISSUE_3_SETTINGS = {
    "sides", "allow_swap", "allow_add", "subtract_exit_quantity", "use_signal_quantity", "quantity_multiplier",
    "sizing", "fractional", "tickers", "ticker_map", "order_type", "exit_order_type", "trail_amount", "trail_percent",
    "time_in_force", "extended_hours", "take_profit", "stop_loss", "allow_signal_overrides", "cancel_open_orders",
    "trading_windows", "allow_exits_outside_windows", "ignore_exits",
}  # fmt: skip


def test_every_issue_3_setting_that_shapes_a_plan_has_rows() -> None:
    tables = POSITION_SETTINGS + SIZING + TICKERS + ORDERS + BRACKETS + OVERRIDES + CANCELING + WINDOWS + EXITS
    used = {name for case in tables for name in case.settings}
    assert ISSUE_3_SETTINGS - set(Subscription.model_fields) == set()
    assert ISSUE_3_SETTINGS - used == set()
