"""Crypto at Alpaca: one pair however a signal writes it (BTCUSD, BTC/USD, btcusd), under Alpaca's crypto rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bridge.brokers.base import BrokerContext
from bridge.config.schema import Subscription
from bridge.config.trading import Sizing
from bridge.errors import OrderRejected
from bridge.models import BracketLeg, OrderRequest, Signal
from bridge.store.db import Store
from plugins.alpaca import COINS_REFRESH_SECONDS, AlpacaBroker
from tests.brokers.test_alpaca import broker, fake  # noqa: F401 - fixtures, registered by being here
from tests.brokers.test_contract_alpaca import alpaca_options
from tests.execution.test_executor import Harness
from tests.fakes.alpaca import FakeAlpaca


def crypto(coid: str = "tb-c", **fields: Any) -> OrderRequest:
    """A gtc market buy of 0.0123 BTCUSD, as TradingView's {{ticker}} writes it; fields override."""
    values: dict[str, Any] = {"client_order_id": coid, "symbol": "BTCUSD", "side": "buy",
                              "quantity": Decimal("0.0123"), "time_in_force": "gtc", **fields}  # fmt: skip
    return OrderRequest(**values)


@pytest.mark.parametrize(
    ("bought_as", "exited_as"), [("BTCUSD", "BTCUSD"), ("BTC/USD", "BTCUSD"), ("btcusd", "btc/usd")]
)
async def test_a_crypto_ticker_is_one_pair_at_alpaca_however_it_is_written(
    broker: AlpacaBroker,  # noqa: F811 - the fixture
    fake: FakeAlpaca,  # noqa: F811
    fresh_store: Store,
    bought_as: str,
    exited_as: str,
) -> None:
    """TradingView sends BTCUSD for a crypto chart: it went as a stock order (refused as a fractional gtc one), and
    Alpaca lists the pair's position as BTCUSD but its orders as BTC/USD, so one form or the other read as flat."""
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="alpaca", time_in_force="gtc", fractional=True,
                               sizing=Sizing(type="dollar_amount", value=Decimal(1000)))  # fmt: skip
    buy = Signal(ticker=bought_as, action="buy", price=Decimal(50000))
    first = await harness.signal(await harness.run(buy))
    assert first["state"] == "executed", first["decision"]
    assert fake.positions["BTC/USD"][0] == Decimal("0.02")
    sent = fake.order_requests[0]
    assert (sent["symbol"], sent["qty"], sent["time_in_force"]) == ("BTC/USD", "0.02", "gtc")
    assert "extended_hours" not in sent and "order_class" not in sent
    again = await harness.signal(await harness.run(buy))
    assert again["state"] == "ignored", again["decision"]  # the position is seen: no second buy
    exit_ = await harness.signal(await harness.run(Signal(ticker=exited_as, action="exit", price=Decimal(50000))))
    assert exit_["state"] == "executed", exit_["decision"]
    assert fake.positions["BTC/USD"][0] == 0 and len(fake.order_requests) == 2
    assert (fake.order_requests[1]["side"], fake.order_requests[1]["qty"]) == ("sell", "0.02")


async def test_a_pairs_working_orders_are_listed_however_it_is_written(
    broker: AlpacaBroker,  # noqa: F811
    fake: FakeAlpaca,  # noqa: F811
) -> None:
    resting = crypto("tb-rest", type="limit", limit_price=Decimal(40000))
    assert (await broker.create_order(resting)).status == "open"
    for written in ("BTCUSD", "BTC/USD", "btcusd"):
        assert [o.client_order_id for o in await broker.fetch_open_orders(written)] == ["tb-rest"], written
    assert await broker.fetch_open_orders("SQ") == []
    assert (await broker.cancel_order("tb-rest")).status == "canceled"


@pytest.mark.parametrize(
    ("order", "refusal"),
    [
        (crypto(time_in_force="day"), "crypto orders with time_in_force gtc or ioc only, not day"),
        (crypto(type="stop", stop_price=Decimal(60000)), "no stop orders for crypto"),
        (crypto(side="sell", type="trailing_stop", trail_percent=Decimal(2)), "no trailing_stop orders for crypto"),
        (crypto(side="sell"), "sells no crypto short"),
        (
            crypto(stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(30000))),
            "no take-profit or stop-loss legs on crypto orders",
        ),
    ],
    ids=["day", "stop", "trailing", "short", "legs"],
)
def test_alpacas_crypto_rules_refuse_before_anything_is_sent(
    broker: AlpacaBroker,  # noqa: F811
    order: OrderRequest,
    refusal: str,
) -> None:
    with pytest.raises(OrderRejected, match=refusal):
        broker.check_order(order)


@pytest.mark.parametrize(
    "order",
    [
        crypto(),
        crypto(symbol="ETH/USD", time_in_force="ioc", type="limit", limit_price=Decimal("3012.345")),
        crypto(symbol="solusd", type="stop_limit", stop_price=Decimal("150.5"), limit_price=Decimal("151.123")),
        crypto(symbol="DOGEUSD", side="sell", quantity=Decimal("12.5"), reduce_only=True),
        crypto(symbol="USDCUSD", quantity=Decimal(100)),
    ],
    ids=["btcusd", "eth-usd", "sol-usd", "doge-exit", "usdc"],
)
def test_what_alpaca_takes_for_crypto_passes(broker: AlpacaBroker, order: OrderRequest) -> None:  # noqa: F811
    broker.check_order(order)  # fractional gtc/ioc, stop-limit, prices off a stock's cent tick, a long's exit


@pytest.mark.parametrize("pair", ["ETHBTC", "ETH/BTC", "BTCUSDT", "btc/usdc"])
def test_a_pair_quoted_in_another_coin_is_refused_before_it_is_sent(
    broker: AlpacaBroker,  # noqa: F811
    pair: str,
) -> None:
    """Alpaca lists a coin's position against USD (ETHUSD) whichever pair bought it: a position bought on ETH/BTC
    would read as flat in ETH/BTC, so every buy signal would buy again and an exit would find nothing to sell."""
    with pytest.raises(OrderRejected, match="quoted in USD only"):
        broker.check_order(crypto(symbol=pair))


@pytest.mark.parametrize("ticker", ["BTC", "USD", "ETHE", "BITO", "SQ", "BRK.B"])
def test_a_stock_ticker_is_never_read_as_crypto(broker: AlpacaBroker, ticker: str) -> None:  # noqa: F811
    """Grayscale's BTC and ProShares' USD are stocks at Alpaca: a pair needs a known coin and a quote currency."""
    with pytest.raises(OrderRejected, match="fractional quantity"):
        broker.check_order(crypto(symbol=ticker, quantity=Decimal("0.5")))  # a stock's rule: fractional is day only


async def test_a_pair_is_quoted_from_alpacas_crypto_data(broker: AlpacaBroker, fake: FakeAlpaca) -> None:  # noqa: F811
    """The stocks endpoint knows no pair: a signal without a price could not be sized, nor valued for max_notional."""
    fake.quotes["BTC/USD"] = (Decimal(49990), Decimal(50010))
    assert await broker.fetch_quote("BTCUSD") == Decimal(50000)
    assert await broker.fetch_quote("btc/usd") == Decimal(50000)
    assert await broker.fetch_quote("SQ") == Decimal(100)


@pytest.fixture
async def new_coin(alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca) -> AsyncIterator[FakeAlpaca]:  # noqa: F811
    """Alpaca lists a coin this adapter's own list has never heard of: NEW/USD."""
    fake.pairs.add("NEW/USD")
    fake.prices["NEW/USD"] = Decimal(2)
    yield fake
    fake.prices.pop("NEW/USD", None)


async def connected(url: str) -> AlpacaBroker:
    """A freshly connected adapter on the fake."""
    adapter = AlpacaBroker(alpaca_options(url), BrokerContext(name="alpaca"))
    await adapter.connect()
    return adapter


async def test_a_coin_alpaca_lists_now_is_a_pair_without_its_slash(
    alpaca_server: tuple[FakeAlpaca, str], new_coin: FakeAlpaca
) -> None:
    """The coins were a list fixed in the code: NEWUSD, as TradingView writes a coin listed since, went as a stock
    order, refused as a fractional gtc one (or, whole, sent under a stock's rules)."""
    adapter = await connected(alpaca_server[1])
    try:
        order = await adapter.create_order(crypto("tb-new", symbol="NEWUSD", quantity=Decimal("12.5")))
        assert order.status == "filled"
        assert new_coin.order_requests[-1]["symbol"] == "NEW/USD"
        assert [o.symbol for o in await adapter.fetch_open_orders("NEWUSD")] == []
        assert await adapter.fetch_quote("NEWUSD") == Decimal(2)
    finally:
        await adapter.close()


async def test_a_coin_listed_after_connecting_is_read_at_the_next_refresh(
    alpaca_server: tuple[FakeAlpaca, str],
    fake: FakeAlpaca,  # noqa: F811
) -> None:
    adapter = await connected(alpaca_server[1])
    try:
        with pytest.raises(OrderRejected, match="fractional quantity"):  # not listed yet: a stock ticker
            adapter.check_order(crypto(symbol="LATERUSD", quantity=Decimal("0.5")))
        fake.pairs.add("LATER/USD")
        await adapter.fetch_positions()  # read well within the refresh interval: the list stays as it was
        with pytest.raises(OrderRejected, match="fractional quantity"):
            adapter.check_order(crypto(symbol="LATERUSD", quantity=Decimal("0.5")))
        adapter.coins_read_at -= COINS_REFRESH_SECONDS  # as if the interval had passed
        await adapter.fetch_positions()
        adapter.check_order(crypto(symbol="LATERUSD", quantity=Decimal("0.5")))
    finally:
        await adapter.close()


async def test_the_fixed_coin_list_stands_in_when_alpaca_cannot_list_its_assets(
    alpaca_server: tuple[FakeAlpaca, str], new_coin: FakeAlpaca
) -> None:
    new_coin.assets_down = True
    adapter = await connected(alpaca_server[1])  # the listing failing does not keep the broker from starting
    try:
        adapter.check_order(crypto(symbol="ETHUSD"))
        with pytest.raises(OrderRejected, match="fractional quantity"):
            adapter.check_order(crypto(symbol="NEWUSD", quantity=Decimal("0.5")))
        adapter.check_order(crypto(symbol="NEW/USD"))  # written with its slash, a pair all the same
    finally:
        await adapter.close()


async def test_a_pairs_steps_are_read_from_alpacas_assets(broker: AlpacaBroker) -> None:  # noqa: F811
    """The Assets reference gives a crypto pair `min_trade_increment` and `price_increment`: sizing and prices the
    bridge computes go on them, where they went at six decimals and in cents, which Alpaca refuses."""
    assert broker.quantity_step("BTCUSD") == broker.quantity_step("btc/usd") == Decimal("0.0001")
    assert broker.price_step("BTCUSD") == Decimal(1)
    assert broker.price_step("SQ") is None and broker.quantity_step("SQ") is None  # a stock's are cents and shares


async def test_a_quantity_off_the_pairs_increment_goes_rounded_down(broker: AlpacaBroker, fake: FakeAlpaca) -> None:  # noqa: F811
    order = await broker.create_order(crypto(quantity=Decimal("0.012399999")))
    assert order.status == "filled" and order.quantity == Decimal("0.0123")  # never more than asked
    assert fake.order_requests[-1]["qty"] == "0.0123"
    least = await broker.create_order(crypto("tb-least", quantity=Decimal("0.00019")))
    assert least.quantity == Decimal("0.0001")  # rounded down to the minimum itself, which Alpaca takes


@pytest.mark.parametrize(
    ("order", "refusal"),
    [
        (
            crypto(quantity=Decimal("0.00005")),
            r"0.00005 BTC/USD is below Alpaca's minimum order size of 0.0001 "
            r"for BTC/USD: raise the quantity to at least 0.0001",
        ),
        (
            crypto(side="sell", reduce_only=True, quantity=Decimal("0.00005")),
            "close what is left in Alpaca's dashboard",
        ),
        (
            crypto(type="limit", limit_price=Decimal("50000.5")),
            r"limit price 50000.5 is between two of BTC/USD's "
            r"price increments of 1 at Alpaca",
        ),
        (crypto(type="stop_limit", stop_price=Decimal("50000.25"), limit_price=Decimal(50010)), "stop price 50000.25"),
    ],
    ids=["below-minimum", "dust-exit", "limit-off-increment", "stop-off-increment"],
)
async def test_a_pairs_minimum_and_price_increment_are_refused_before_sending(
    broker: AlpacaBroker,  # noqa: F811
    fake: FakeAlpaca,  # noqa: F811
    order: OrderRequest,
    refusal: str,
) -> None:
    """An order Alpaca refuses by the pair's asset rules is refused before the plan cancels anything, saying so."""
    with pytest.raises(OrderRejected, match=refusal):
        broker.check_order(order)
    with pytest.raises(OrderRejected, match=refusal):
        await broker.create_order(order)
    assert fake.order_requests == []


async def test_a_crypto_buy_is_sized_and_priced_on_the_pairs_increments(
    broker: AlpacaBroker,  # noqa: F811
    fake: FakeAlpaca,  # noqa: F811
    fresh_store: Store,
) -> None:
    """$1,000 of BTC at 30,001 is 0.0333322...: sent as 0.033332 (six decimals), off BTC/USD's 0.0001 steps; a limit
    at the quote's midpoint 50,000.50 went in cents, off its price increment of 1. Alpaca refused both."""
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="alpaca", time_in_force="gtc", fractional=True,
                               sizing=Sizing(type="dollar_amount", value=Decimal(1000)))  # fmt: skip
    sized = await harness.signal(await harness.run(Signal(ticker="BTCUSD", action="buy", price=Decimal(30001))))
    assert sized["state"] == "executed", sized["decision"]
    assert fake.order_requests[-1]["qty"] == "0.0333"  # rounded down: never more than the $1,000
    await harness.run(Signal(ticker="BTCUSD", action="exit", price=Decimal(30001)))
    harness.sub = Subscription(broker="alpaca", time_in_force="gtc", fractional=True, order_type="limit")
    fake.quotes["BTC/USD"] = (Decimal(50000), Decimal(50001))
    limit = await harness.signal(await harness.run(Signal(ticker="BTCUSD", action="buy", quantity=Decimal("0.01"))))
    assert limit["state"] == "executed", limit["decision"]
    assert fake.order_requests[-1]["limit_price"] == "50000"  # a buy's limit rounded down: never a worse price


async def test_a_pair_held_below_its_minimum_order_size_reads_as_flat(
    broker: AlpacaBroker,  # noqa: F811
    fake: FakeAlpaca,  # noqa: F811
    fresh_store: Store,
) -> None:
    """What a fee in the coin leaves of the smallest buy (0.0001 BTC less 0.25% is 0.00009975) is below BTC/USD's
    minimum order size: no order can sell it, and read as a long it kept every later buy signal ignored."""
    fake.positions["BTC/USD"] = (Decimal("0.00009975"), Decimal(50000))
    fake.positions["ETH/USD"] = (Decimal("0.01995"), Decimal(3000))
    fake.increments["ETH/USD"] = (Decimal("0.001"), Decimal("0.0001"), Decimal("0.1"))
    await broker._read_coins()  # ETH/USD's increments as the fake lists them now
    held = {p.symbol: p.quantity for p in await broker.fetch_positions()}
    assert held == {"ETHUSD": Decimal("0.0199")}  # what an order can sell of it, as the exit sends it
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="alpaca", time_in_force="gtc", fractional=True,
                               sizing=Sizing(type="fixed_quantity", value=Decimal("0.01")))  # fmt: skip
    bought = await harness.signal(await harness.run(Signal(ticker="BTCUSD", action="buy", price=Decimal(50000))))
    assert bought["state"] == "executed", bought["decision"]
    assert fake.order_requests[-1]["qty"] == "0.01"
