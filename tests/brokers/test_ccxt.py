"""The ccxt adapter against a fake Binance spot API: exact parameters, symbols, precision, lookups, errors."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest

pytest.importorskip("ccxt", reason="the ccxt extra is not installed: pip install 'trade-bridge[ccxt]'")

import plugins.ccxt_exchange as adapter
from bridge.brokers.base import BrokerContext, capabilities_of
from bridge.brokers.registry import BrokerStartError, open_broker
from bridge.config.load import load_config
from bridge.config.schema import Config, Subscription
from bridge.config.security import GlobalRisk
from bridge.errors import (
    BrokerError,
    ConfigError,
    DuplicateClientOrderId,
    HeldUnsent,
    OrderNotFound,
    OrderRejected,
    TemporaryBrokerError,
    UnknownOutcome,
)
from bridge.execution.orders import client_order_id
from bridge.models import OrderRequest, Signal
from bridge.risk import Guard
from bridge.store.db import Store
from plugins.ccxt_exchange import PRICE_SECONDS, CcxtBroker, CcxtOptions, build_exchange
from tests.brokers.conftest import journal_order
from tests.brokers.test_contract_ccxt import binance_options
from tests.conftest import free_port
from tests.execution.test_executor import Harness
from tests.fakes.binance import API_KEY, FakeBinance
from tests.fakes.bitfinex import API_KEY as BITFINEX_KEY
from tests.fakes.bitfinex import CID_MAX, FakeBitfinex
from tests.fakes.bitfinex import SECRET as BITFINEX_SECRET
from tests.fakes.bitso import API_KEY as BITSO_KEY
from tests.fakes.bitso import SECRET as BITSO_SECRET
from tests.fakes.bitso import FakeBitso
from tests.fakes.bitvavo import API_KEY as BITVAVO_KEY
from tests.fakes.bitvavo import SECRET as BITVAVO_SECRET
from tests.fakes.bitvavo import UUID as BITVAVO_UUID
from tests.fakes.bitvavo import FakeBitvavo
from tests.fakes.bybit import API_KEY as BYBIT_KEY
from tests.fakes.bybit import SECRET as BYBIT_SECRET
from tests.fakes.bybit import FakeBybit
from tests.fakes.coinbase import API_KEY as COINBASE_KEY
from tests.fakes.coinbase import SECRET as COINBASE_SECRET
from tests.fakes.coinbase import FakeCoinbase
from tests.fakes.cryptocom import API_KEY as CRYPTOCOM_KEY
from tests.fakes.cryptocom import SECRET as CRYPTOCOM_SECRET
from tests.fakes.cryptocom import FakeCryptocom
from tests.fakes.gate import API_KEY as GATE_KEY
from tests.fakes.gate import SECRET as GATE_SECRET
from tests.fakes.gate import TEXT as GATE_TEXT
from tests.fakes.gate import FakeGate
from tests.fakes.gemini import API_KEY as GEMINI_KEY
from tests.fakes.gemini import SECRET as GEMINI_SECRET
from tests.fakes.gemini import FakeGemini
from tests.fakes.kraken import API_KEY as KRAKEN_KEY
from tests.fakes.kraken import CL_ORD_ID, FakeKraken
from tests.fakes.kraken import SECRET as KRAKEN_SECRET
from tests.fakes.okx import API_KEY as OKX_KEY
from tests.fakes.okx import PASSPHRASE as OKX_PASSPHRASE
from tests.fakes.okx import SECRET as OKX_SECRET
from tests.fakes.okx import FakeOkx
from tests.fakes.onetrading import API_KEY as ONETRADING_KEY
from tests.fakes.onetrading import FakeOneTrading
from tests.fakes.recorder import Recorder
from tests.fakes.server import LocalServer
from tests.fakes.upbit import API_KEY as UPBIT_KEY
from tests.fakes.upbit import SECRET as UPBIT_SECRET
from tests.fakes.upbit import FakeUpbit
from tests.fakes.woo import API_KEY as WOO_KEY
from tests.fakes.woo import SECRET as WOO_SECRET
from tests.fakes.woo import FakeWoo


async def connected(url: str, store: Store | None = None, **overrides: object) -> CcxtBroker:
    """A connected adapter on the fake."""
    broker = CcxtBroker(binance_options(url, **overrides), BrokerContext(name="binance", store=store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    return broker


@pytest.fixture
async def fake(binance_server: tuple[FakeBinance, str]) -> FakeBinance:
    """The module's fake Binance with a fresh account."""
    binance_server[0].reset()
    return binance_server[0]


@pytest.fixture
async def broker(binance_server: tuple[FakeBinance, str], fake: FakeBinance) -> AsyncIterator[CcxtBroker]:
    """A connected adapter."""
    adapter = await connected(binance_server[1])
    yield adapter
    await adapter.close()


def order(coid: str = "tb-1", **fields: Any) -> OrderRequest:
    """0.01 BTC; fields override."""
    values: dict[str, Any] = {"client_order_id": coid, "symbol": "BTCUSDT", "side": "buy", "quantity": Decimal("0.01")}
    return OrderRequest(**{**values, **fields})


def sent(fake: FakeBinance) -> list[dict[str, str]]:
    """What Binance received, less the signing fields that change every call."""
    drop = {"timestamp", "recvWindow", "newOrderRespType"}
    return [{k: v for k, v in params.items() if k not in drop} for params in fake.order_requests]


async def test_a_market_order_sends_exactly_these_parameters(broker: CcxtBroker, fake: FakeBinance) -> None:
    placed = await broker.create_order(order("tb-mkt"))
    assert sent(fake) == [
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "newClientOrderId": "tb-mkt"}
    ]
    assert (placed.status, placed.filled_quantity, placed.avg_fill_price) == ("filled", Decimal("0.01"), Decimal(30000))
    assert [(p.symbol, p.quantity) for p in await broker.fetch_positions()] == [("BTCUSDT", Decimal("0.01"))]
    account = await broker.fetch_account()
    assert (account.cash, account.equity, account.currency) == (Decimal(99700), Decimal(100000), "USDT")


async def test_a_limit_order_sends_its_price_and_time_in_force(broker: CcxtBroker, fake: FakeBinance) -> None:
    request = order("tb-lim", type="limit", limit_price=Decimal("25000.5"), time_in_force="ioc")
    placed = await broker.create_order(request)
    assert sent(fake) == [{
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "25000.5",
        "timeInForce": "IOC", "newClientOrderId": "tb-lim",
    }]  # fmt: skip
    assert placed.status == "canceled"  # an IOC that did not cross expires


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (order(quantity=Decimal("0.000001")), "quantity 0.000001 does not fit BTC/USDT's step"),
        (order(type="limit", limit_price=Decimal("25000.001"), time_in_force="gtc"), "does not fit BTC/USDT's tick"),
        (order(type="limit", limit_price=Decimal(25000)), "binance has no 'day' time in force; use gtc"),
        (order(type="stop", stop_price=Decimal(1)), "binance spot: no stop orders through this adapter"),
        (order(symbol="NOPE"), "binance has no spot market 'NOPE'"),
    ],
    ids=["quantity-step", "price-tick", "day", "stop", "unknown-symbol"],
)
async def test_what_the_market_cannot_take_exactly_is_refused_before_sending(
    broker: CcxtBroker, fake: FakeBinance, request_: OrderRequest, message: str
) -> None:
    with pytest.raises(OrderRejected, match=message.replace("(", r"\(").replace("?", r"\?")):
        await broker.create_order(request_)
    assert fake.order_requests == []


async def test_a_limit_order_below_the_markets_minimum_value_is_refused_with_the_numbers_before_sending(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    """Binance's NOTIONAL filter (ccxt's `limits.cost.min`): price x quantity of at least 5 USDT here."""
    request = order(
        "tb-small", type="limit", limit_price=Decimal(29000), time_in_force="gtc", quantity=Decimal("0.0001")
    )
    with pytest.raises(
        OrderRejected, match=r"order value 2\.9 USDT \(0\.0001 at 29000\) is below BTC/USDT's minimum of 5"
    ):
        await broker.create_order(request)
    assert fake.order_requests == []
    placed = await broker.create_order(order("tb-enough", type="limit", limit_price=Decimal(25000),
                                             time_in_force="gtc", quantity=Decimal("0.0002")))  # fmt: skip
    assert placed.status == "open"  # 5 USDT exactly is taken


async def test_a_balance_off_the_step_after_a_fee_reads_as_the_position_the_market_can_sell(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.balances["BTC"] = [Decimal("0.01232766"), Decimal(0)]  # 0.01234 bought, Binance's fee taken in BTC
    [position] = await broker.fetch_positions()
    assert position.symbol == "BTCUSDT" and position.quantity == Decimal("0.01232")
    sold = await broker.create_order(order("tb-exit", side="sell", quantity=position.quantity))  # an exit of all
    assert sold.status == "filled" and sold.filled_quantity == Decimal("0.01232")
    assert fake.balances["BTC"][0] == Decimal("0.00000766")  # below one step: no order can sell it
    assert await broker.fetch_positions() == []  # and it is no position to exit


async def test_binance_refusals_are_rejections(broker: CcxtBroker, fake: FakeBinance) -> None:
    with pytest.raises(OrderRejected, match="insufficient balance"):
        await broker.create_order(order(quantity=Decimal(10)))
    with pytest.raises(OrderRejected, match="NOTIONAL"):
        await broker.create_order(order(quantity=Decimal("0.0001")))
    with pytest.raises(OrderRejected, match="insufficient balance"):
        await broker.create_order(order(side="sell"))  # spot: nothing to sell, no shorting
    assert len(fake.order_requests) == 3


async def test_an_order_on_a_market_quoted_in_another_currency_is_refused_before_sending(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    """Positions are read in `quote` (USDT): BTC bought on BTCUSDC would read as BTCUSDT, and BTCUSDC as flat,
    so its exit would be rejected ("no position to exit") and the next buy not ignored."""
    fake.balances["USDC"] = [Decimal(1000), Decimal(0)]
    with pytest.raises(OrderRejected, match="BTCUSDC is quoted in USDC, but this broker reads positions in USDT"):
        await broker.create_order(order("tb-usdc", symbol="BTCUSDC"))
    assert fake.order_requests == []


async def test_a_request_refused_for_the_clock_is_not_sent_and_says_how_to_fix_it(
    binance_server: tuple[FakeBinance, str], broker: CcxtBroker, fake: FakeBinance
) -> None:
    """Binance's "Timing security": a timestamp outside recvWindow is rejected unprocessed (-1021), never placed."""
    fake.clock_offset_ms = 60_000  # this machine's clock a minute behind the exchange's
    with pytest.raises(TemporaryBrokerError, match=r"clock is off.*adjustForTimeDifference: true") as raised:
        await broker.create_order(order("tb-clock"))
    assert not isinstance(raised.value, UnknownOutcome)  # it was refused unprocessed: nothing to look up
    assert fake.orders == []
    corrected = await connected(binance_server[1], exchange_options={"adjustForTimeDifference": True})
    try:  # what the message says to do works
        assert (await corrected.create_order(order("tb-clock"))).status == "filled"
    finally:
        await corrected.close()


SERVER_ERRORS = [
    (503, {"code": -1008, "msg": "Server is currently overloaded with other requests. Please try again later."}),
    (500, {"code": -1004, "msg": "Server is busy, please wait and try again"}),
]


@pytest.mark.parametrize(("status", "body"), SERVER_ERRORS, ids=["503-1008", "500-1004"])
async def test_a_5xx_with_a_binance_code_ccxt_does_not_map_is_an_unknown_outcome(
    broker: CcxtBroker, fake: FakeBinance, status: int, body: dict[str, Any]
) -> None:
    """Binance: "HTTP 5XX ... the execution status is UNKNOWN and could have been a success"; never a rejection."""
    fake.server_error = (status, body)
    with pytest.raises(UnknownOutcome):
        await broker.create_order(order("tb-5xx"))
    fake.server_error = None
    assert [o["status"] for o in fake.orders] == ["FILLED"]  # it was placed
    assert (await broker.fetch_order("tb-5xx")).status == "filled"  # as the daemon's lookup finds it


async def test_binance_refuses_a_reused_client_order_id_only_while_the_first_is_open(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    # Why the adapter does not declare duplicate rejection: the daemon's journal must be the dedupe.
    resting = order("tb-same", type="limit", limit_price=Decimal(1000), time_in_force="gtc")
    await broker.create_order(resting)
    with pytest.raises(DuplicateClientOrderId):
        await broker.create_order(resting)
    await broker.cancel_order("tb-same")
    again = await broker.create_order(resting)
    assert again.status == "open"
    assert not CcxtBroker.capabilities.rejects_duplicate_client_order_id


async def test_unified_symbols_are_used_when_asked(binance_server: tuple[FakeBinance, str], fake: FakeBinance) -> None:
    broker = await connected(binance_server[1], symbols="unified")
    try:
        placed = await broker.create_order(order("tb-u", symbol="BTC/USDT"))
        assert placed.symbol == "BTC/USDT"
        assert [p.symbol for p in await broker.fetch_positions()] == ["BTC/USDT"]
        assert sent(fake)[0]["symbol"] == "BTCUSDT"
    finally:
        await broker.close()


async def test_after_a_restart_orders_are_found_through_the_journaled_symbol(
    binance_server: tuple[FakeBinance, str], fake: FakeBinance, fresh_store: Store
) -> None:
    first = await connected(binance_server[1])
    await first.create_order(order("tb-old", type="limit", limit_price=Decimal(1000), time_in_force="gtc"))
    await first.close()

    def journal_it() -> None:
        journal_order(
            fresh_store.conn,
            client_order_id="tb-old",
            broker="binance",
            leg="entry",
            symbol="BTCUSDT",
            side="buy",
            type="limit",
            quantity="0.01",
            time_in_force="gtc",
            status="submitted",
        )

    await fresh_store.run(journal_it)
    restarted = await connected(binance_server[1], store=fresh_store)
    try:
        assert (await restarted.fetch_order("tb-old")).status == "open"
        assert (await restarted.cancel_order("tb-old")).status == "canceled"
        with pytest.raises(OrderNotFound, match="no order tb-never that this daemon knows of"):
            await restarted.fetch_order("tb-never")
    finally:
        await restarted.close()


async def test_an_open_order_placed_elsewhere_can_be_canceled(
    binance_server: tuple[FakeBinance, str], fake: FakeBinance
) -> None:
    """Orders placed with Binance's app or another program are listed, so a `cancel` signal or a full exit plans
    to cancel them: that works by their client order id, whether this adapter listed them first or not."""
    other = await connected(binance_server[1])
    for coid in ("manual-1", "manual-2"):
        await other.create_order(order(coid, type="limit", limit_price=Decimal(1000), time_in_force="gtc"))
    await other.close()
    listing, unlisted = await connected(binance_server[1]), await connected(binance_server[1])
    try:
        assert [o.client_order_id for o in await listing.fetch_open_orders("BTCUSDT")] == ["manual-1", "manual-2"]
        assert (await listing.cancel_order("manual-1")).status == "canceled"
        assert (await unlisted.cancel_order("manual-2")).status == "canceled"
        assert [o["status"] for o in fake.orders] == ["CANCELED", "CANCELED"]
        with pytest.raises(OrderNotFound, match="nor an open one"):
            await unlisted.cancel_order("manual-3")
    finally:
        await listing.close()
        await unlisted.close()


async def test_a_filled_order_cancels_to_itself(broker: CcxtBroker, fake: FakeBinance) -> None:
    await broker.create_order(order("tb-done"))
    assert (await broker.cancel_order("tb-done")).status == "filled"


async def test_an_order_answered_with_its_ids_only_is_working_even_when_it_cannot_be_read_yet(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.ack_only = True  # as with newOrderRespType=ACK: the order is placed, the answer holds its ids only
    fake.lookup_fault = "rate_limited"  # ... and the lookup that should complete it is refused for now
    placed = await broker.create_order(order("tb-ack"))
    assert [o["clientOrderId"] for o in fake.orders] == ["tb-ack"]
    assert (placed.status, placed.client_order_id) == ("submitted", "tb-ack")  # never "not sent"
    assert placed.broker_order_id == str(fake.orders[0]["orderId"])
    fake.lookup_fault = "none"
    assert (await broker.fetch_order("tb-ack")).status == "filled"  # what the order jobs read next


async def test_no_request_goes_out_before_binances_retry_after_ends(broker: CcxtBroker, fake: FakeBinance) -> None:
    """Binance: a 429's Retry-After is how long to wait "to prevent a ban" (418); asking sooner risks one."""
    await broker.create_order(order("tb-ra"))
    fake.lookups.clear()
    fake.lookup_retry_after = [8]  # longer than a read waits: it gives up instead of asking again early
    with pytest.raises(TemporaryBrokerError):
        await broker.fetch_order("tb-ra")
    assert len(fake.lookups) == 1
    with pytest.raises(TemporaryBrokerError, match="nothing was sent"):  # the executor's own retry, a moment on
        await broker.fetch_order("tb-ra")
    with pytest.raises(TemporaryBrokerError, match="nothing was sent"):
        await broker.create_order(order("tb-next"))
    assert len(fake.lookups) == 1 and [o["clientOrderId"] for o in fake.orders] == ["tb-ra"]


async def test_orders_the_rate_limit_held_past_their_send_by_do_not_open_the_brokers_circuit(
    broker: CcxtBroker, fake: FakeBinance, fresh_store: Store
) -> None:
    """As with Alpaca: orders our own throttle refused unsent, too late for their signals, are not the venue failing;
    counted as failures they opened the broker's circuit and refused the next fresh signals for a minute."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    guard = Guard(fresh_store, lambda: config, lambda: 0.0)
    past = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(5):
        with pytest.raises(HeldUnsent, match="nothing was sent"):
            await guard.create_order("binance", broker, order(f"tb-late-{n}", send_by=past), "btc-trend")
    assert guard.status() == {"binance": "closed"}
    fresh = order("tb-fresh", send_by=datetime.now(UTC) + timedelta(seconds=30))
    assert (await guard.create_order("binance", broker, fresh, "btc-trend")).status == "filled"
    assert [o["clientOrderId"] for o in fake.orders] == ["tb-fresh"]


async def test_orders_held_unsent_for_a_venues_retry_after_do_not_open_the_brokers_circuit(
    broker: CcxtBroker, fake: FakeBinance, fresh_store: Store
) -> None:
    """A long Retry-After on a read: the orders after it, refused without asking the venue, each counted as the venue
    failing, and one 429 opened the broker's circuit for every strategy, a minute past the venue's wait."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    guard = Guard(fresh_store, lambda: config, lambda: 0.0)
    await broker.create_order(order("tb-ra"))
    fake.lookup_retry_after = [30]
    with pytest.raises(TemporaryBrokerError):
        await broker.fetch_order("tb-ra")
    for n in range(5):
        with pytest.raises(HeldUnsent, match="nothing was sent"):
            await guard.create_order("binance", broker, order(f"tb-held-{n}"), "btc-trend")
    assert guard.status() == {"binance": "closed"}
    assert [o["clientOrderId"] for o in fake.orders] == ["tb-ra"]


async def test_a_short_retry_after_is_waited_in_full(broker: CcxtBroker, fake: FakeBinance) -> None:
    await broker.create_order(order("tb-wait"))
    fake.lookups.clear()
    fake.lookup_retry_after = [2]
    assert (await broker.fetch_order("tb-wait")).status == "filled"
    first, second = fake.lookups
    assert second - first >= 1.95


async def test_an_order_the_rate_limit_would_hold_past_its_send_by_is_refused_unsent(
    binance_server: tuple[FakeBinance, str], fake: FakeBinance
) -> None:
    """ccxt's own throttle (`enableRateLimit`) queued a burst of orders and sent each when its turn came, however
    late: an order checked fresh before it queued left seconds later, past its signal's max_signal_age (`send_by`).
    At 120 units a minute the connect's reads (4 units each at Binance) leave the next request 2 s to wait."""
    broker = await connected(binance_server[1], max_requests_per_minute=120)
    try:
        soon = datetime.now(UTC) + timedelta(seconds=0.3)
        burst = [broker.create_order(order(f"tb-burst-{n}", send_by=soon)) for n in range(3)]
        refused = await asyncio.gather(*burst, return_exceptions=True)
        assert all(isinstance(r, TemporaryBrokerError) and not isinstance(r, UnknownOutcome) for r in refused), refused
        assert all("max_signal_age; nothing was sent" in str(r) for r in refused), refused
        with pytest.raises(TemporaryBrokerError, match="nothing was sent"):  # already past: refused at once
            await broker.create_order(order("tb-past", send_by=datetime.now(UTC) - timedelta(seconds=1)))
        assert fake.order_requests == []
        placed = await broker.create_order(order("tb-in-time", send_by=datetime.now(UTC) + timedelta(seconds=30)))
        assert placed.status == "filled" and [o["clientOrderId"] for o in fake.orders] == ["tb-in-time"]
        assert (await broker.fetch_order("tb-in-time")).status == "filled"  # reads wait their turn, never refused
    finally:
        await broker.close()


async def test_a_resting_order_fills_when_the_price_crosses(broker: CcxtBroker, fake: FakeBinance) -> None:
    await broker.create_order(order("tb-rest", type="limit", limit_price=Decimal(29000), time_in_force="gtc"))
    assert [o.client_order_id for o in await broker.fetch_open_orders("BTCUSDT")] == ["tb-rest"]
    assert await broker.fetch_open_orders("ETHUSDT") == []
    fake.set_price("BTCUSDT", Decimal(28900))
    try:
        filled = await broker.fetch_order("tb-rest")
    finally:
        fake.set_price("BTCUSDT", Decimal(30000))
    assert (filled.status, filled.filled_quantity) == ("filled", Decimal("0.01"))


async def test_wrong_keys_fail_connect_with_the_plugin_named(binance_server: tuple[FakeBinance, str]) -> None:
    options = {"exchange": "binance", "api_key": API_KEY, "secret": "wrong", "api_url": binance_server[1]}
    with pytest.raises(BrokerStartError, match=r"'ccxt_exchange' \(.*plugins/ccxt_exchange.py\) failed in connect: "):
        await open_broker("ccxt_exchange", options, BrokerContext(name="b"))


async def test_nobody_listening_means_not_sent() -> None:
    broker = CcxtBroker(binance_options(f"http://127.0.0.1:{free_port()}"), BrokerContext(name="b"))
    broker.exchange.timeout_on_exit = 0
    broker._markets = {"BTCUSDT": {"id": "BTCUSDT", "symbol": "BTC/USDT", "spot": True}}
    broker.exchange.markets = None
    try:
        with pytest.raises(TemporaryBrokerError):
            await broker.fetch_positions()
    finally:
        await broker.close()


def test_sandbox_and_api_url_choose_where_calls_go() -> None:
    sandbox = build_exchange(CcxtOptions(exchange="binance", sandbox=True))
    assert "testnet" in sandbox.urls["api"]["public"]
    moved = build_exchange(CcxtOptions(exchange="binance", api_url="http://127.0.0.1:9"))
    assert moved.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
    assert all(url.startswith("http://127.0.0.1:9/") for url in moved.urls["api"].values())
    assert moved.options["fetchMarkets"]["types"] == ["spot"]


def test_capabilities_come_from_the_exchange() -> None:
    caps = capabilities_of(CcxtBroker, CcxtOptions(exchange="binance"))
    assert caps.order_types == frozenset({"market", "limit"})
    assert caps.rate_limit_per_minute == 1200  # ccxt's published rateLimit for binance: 50 ms
    assert not caps.shorting
    with pytest.raises(pydantic.ValidationError, match="ccxt has no exchange 'binanse'"):
        CcxtOptions(exchange="binanse")


def test_the_config_check_asks_for_long_only_on_a_spot_exchange(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "brokers:\n  spot:\n    plugin: ccxt_exchange\n    options: {exchange: binance, api_key: k, secret: s}\n"
        "strategies:\n  s:\n    token: tok-0123456789abcdef\n    subscriptions:\n      - broker: spot\n"
        "        order_type: stop\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config, environ={})
    assert raised.value.lines == [
        f"{config}:10: strategies.s.subscriptions.0.order_type: broker 'spot' (ccxt_exchange) does not support "
        "order_type 'stop'; it supports: limit, market",
        f"{config}:9: strategies.s.subscriptions.0.time_in_force: broker 'spot' (ccxt_exchange) does not support "
        "time_in_force 'day'; set one of: fok, gtc, ioc",
        f"{config}:9: strategies.s.subscriptions.0.sides: broker 'spot' (ccxt_exchange) cannot sell short; "
        "set `sides: long` so sells only close longs",
    ]


async def test_an_exit_the_market_would_refuse_is_rejected_before_the_open_orders_are_canceled(
    broker: CcxtBroker, fake: FakeBinance, fresh_store: Store
) -> None:
    """A sender's limit off the market's tick (30000.005 where BTC/USDT takes cents) was refused by the adapter
    only after the exit's cancels had taken the position's resting take-profit: nothing was left working."""
    await broker.create_order(order("tb-entry"))
    take_profit = order("tb-tp", side="sell", type="limit", limit_price=Decimal(35000), time_in_force="gtc")
    assert (await broker.create_order(take_profit)).status == "open"
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="binance", time_in_force="gtc", sides="long")
    limit_exit = Signal(ticker="BTCUSDT", action="exit", order_type="limit", limit_price=Decimal("30000.005"))
    decided = await harness.signal(await harness.run(limit_exit))
    assert decided["state"] == "rejected", decided["decision"]
    # The market's tick (`price_step`) refuses it while planning, before any cancel.
    assert "limitPrice 30000.005 is between two price steps of 0.01" in decided["decision"], decided["decision"]
    assert len(fake.order_requests) == 2  # the entry and the take-profit only
    assert (await broker.fetch_order("tb-tp")).status == "open"  # the take-profit still works


async def test_a_market_exit_above_the_markets_largest_is_rejected_before_the_open_orders_are_canceled(
    broker: CcxtBroker, fake: FakeBinance, fresh_store: Store
) -> None:
    """Binance's MARKET_LOT_SIZE (ccxt's `limits.market.max`) bounds a market order's quantity below LOT_SIZE's: a
    market exit of 150 BTC where 100 is the most was refused by Binance only after the exit's cancels had taken the
    position's resting take-profit."""
    fake.balances["BTC"] = [Decimal(150), Decimal(0)]
    take_profit = order("tb-tp", side="sell", type="limit", limit_price=Decimal(35000), time_in_force="gtc",
                        quantity=Decimal(150))  # fmt: skip
    assert (await broker.create_order(take_profit)).status == "open"
    with pytest.raises(OrderRejected, match="quantity 150 is above BTC/USDT's largest market order of 100"):
        await broker.create_order(order("tb-big", side="sell", quantity=Decimal(150)))
    assert len(fake.order_requests) == 1  # refused before sending
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="binance", time_in_force="gtc", sides="long")
    decided = await harness.signal(await harness.run(Signal(ticker="BTCUSDT", action="exit", price=Decimal(30000))))
    assert decided["state"] == "rejected", decided["decision"]
    assert "nothing was canceled or sent" in decided["decision"], decided["decision"]
    assert len(fake.order_requests) == 1  # the take-profit only
    assert (await broker.fetch_order("tb-tp")).status == "open"  # still works
    with pytest.raises(OrderRejected, match=r"quantity 9000\.1 is above BTC/USDT's largest of 9000"):
        broker.check_order(order("tb-huge", side="sell", type="limit", limit_price=Decimal(35000),
                                 time_in_force="gtc", quantity=Decimal("9000.1")))  # fmt: skip


async def test_at_okx_the_bridges_ids_go_as_letters_and_digits_and_find_their_orders(
    okx_server: tuple[FakeOkx, str],
) -> None:
    """OKX takes a clOrdId of letters and digits only: every order with the bridge's id (tb-...) was refused as
    "Parameter clOrdId error", so no signal ever traded there. It goes without its dash, and is found by ours."""
    fake, url = okx_server
    options = CcxtOptions(exchange="okx", api_key=OKX_KEY, secret=OKX_SECRET, password=OKX_PASSPHRASE, api_url=url)
    broker = CcxtBroker(options, BrokerContext(name="okx"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    coid = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789ab", "sub", "entry")
    resting = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789ab", "sub", "exit")
    limit: dict[str, Any] = {
        "symbol": "BTC-USDT",
        "type": "limit",
        "limit_price": Decimal(29000),
        "time_in_force": "gtc",
    }
    try:
        placed = await broker.create_order(order(coid, **limit))
        assert (placed.client_order_id, placed.status) == (coid, "open")
        assert fake.order_requests[-1]["clOrdId"] == coid.replace("-", "")
        assert (await broker.fetch_order(coid)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("BTC-USDT")] == [coid]
        with pytest.raises(DuplicateClientOrderId):  # OKX's "Duplicated clOrdId": the order there is adopted
            await broker.create_order(order(coid, **limit))
        assert (await broker.cancel_order(coid)).status == "canceled"
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()
    restarted = CcxtBroker(options, BrokerContext(name="okx"))  # remembers nothing: the listing still says ours
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        assert [o.client_order_id for o in await restarted.fetch_open_orders("BTC-USDT")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
    finally:
        await restarted.close()


async def test_at_gate_the_bridges_ids_go_as_gates_text_and_find_their_orders(
    gate_server: tuple[FakeGate, str], fresh_store: Store
) -> None:
    """Gate's `text` is `t-` and at most 28 more characters: ccxt refused every bridge id (`tb-` and 29 hex digits,
    32 in all) before sending, "must be up to 28 characters", so no signal ever traded at Gate. It goes as `t-tb` and
    the same number in base 36, is read back as the bridge's, and a finished order is found by Gate's own id."""
    fake, url = gate_server
    options = CcxtOptions(
        exchange="gate", api_key=GATE_KEY, secret=GATE_SECRET, api_url=url, max_requests_per_minute=60000
    )
    signal = "0190f0e2-9d3c-7abc-8def-0123456789ab"
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    limit: dict[str, Any] = {"symbol": "BTC_USDT", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="gate", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        text = fake.order_requests[-1]["text"]
        assert GATE_TEXT.fullmatch(text) and text != entry, text
        assert (await broker.fetch_order(entry)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("BTC_USDT")] == [entry]
        assert (await broker.cancel_order(entry)).status == "canceled"
        assert (await broker.fetch_order(entry)).status == "canceled"  # finished: by Gate's order id
        sold = await broker.create_order(order(exit_, symbol="BTC_USDT", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status) == (exit_, "filled")
        resting = client_order_id(signal, "other", "entry")
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()

    def journal_it() -> None:  # as the daemon journaled the exit, with the order id Gate answered
        journal_order(fresh_store.conn, client_order_id=exit_, broker="gate", leg="exit", symbol="BTC_USDT",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="filled",
                      broker_order_id=fake.orders[1]["id"])  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="gate", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        assert (await restarted.fetch_order(exit_)).status == "filled"
        assert [o.client_order_id for o in await restarted.fetch_open_orders("BTC_USDT")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
    finally:
        await restarted.close()


async def test_at_gate_a_finished_order_whose_answer_was_lost_is_found_among_the_finished_orders(
    gate_server: tuple[FakeGate, str],
) -> None:
    """Gate reads an order by its text "only in pending orders": a market order it filled, whose answer was lost, was
    looked up by its text alone, not found, and read as never sent (the order jobs close it so; a restart's resumed
    plan sends it again). It is found among the pair's finished orders ("List orders", status finished)."""
    fake, url = gate_server
    options = CcxtOptions(
        exchange="gate", api_key=GATE_KEY, secret=GATE_SECRET, api_url=url, max_requests_per_minute=60000
    )
    signal = "0190f0e2-9d3c-7abc-8def-0123456789c4"
    exit_, never = client_order_id(signal, "sub", "exit"), client_order_id(signal, "never", "exit")
    broker = CcxtBroker(options, BrokerContext(name="gate"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    fake.lose_answers = True
    try:
        with pytest.raises(UnknownOutcome):
            await broker.create_order(order(exit_, symbol="BTC_USDT", side="sell", quantity=Decimal("0.01")))
        fake.lose_answers = False
        found = await broker.fetch_order(exit_)
        assert (found.client_order_id, found.status, found.broker_order_id) == (exit_, "filled", fake.orders[-1]["id"])
        broker._symbols[never] = "BTC/USDT"  # as journaled, never placed
        with pytest.raises(OrderNotFound):
            await broker.fetch_order(never)
    finally:
        fake.lose_answers = False
        await broker.close()


def answered(exchange: str, status: int, body: Any) -> Exception:
    """What ccxt raises for `exchange`'s answer to an order submission (its own error mapping, no network)."""
    broker = CcxtBroker(CcxtOptions(exchange=exchange), BrokerContext(name=exchange))
    text = json.dumps(body)
    try:
        broker.exchange.handle_errors(status, "", "https://venue/order", "POST", {}, text, body, {}, "")
        broker.exchange.handle_http_status_code(status, "", "https://venue/order", "POST", text)
    except Exception as exc:
        return broker._translate(exc, submit=True)
    raise AssertionError("ccxt raised nothing")


@pytest.mark.parametrize(
    ("exchange", "status", "body"),
    [
        ("bybit", 200, {"retCode": 10000, "retMsg": "An unknown error occurred while processing the request."}),
        ("bybit", 200, {"retCode": 10016, "retMsg": "Internal server error."}),
    ],
    ids=["bybit-10000", "bybit-10016"],
)
def test_an_error_ccxt_has_no_class_for_in_an_ok_answer_is_an_unknown_outcome(
    exchange: str, status: int, body: dict[str, Any]
) -> None:
    """ccxt's plain ExchangeError is its catch-all: Bybit answers "an unknown error occurred while processing" or an
    internal error with HTTP 200, the order may be there all the same, yet it read as a rejection (nothing placed)."""
    assert isinstance(answered(exchange, status, body), UnknownOutcome)


@pytest.mark.parametrize(
    ("exchange", "status", "body", "kind"),
    [
        ("bybit", 200, {"retCode": 10001, "retMsg": "params error"}, OrderRejected),  # ccxt's BadRequest
        ("binance", 400, {"code": -1199, "msg": "a code ccxt does not know"}, OrderRejected),  # 4XX: sender's side
        ("binance", 400, {"code": -2010, "msg": "Account has insufficient balance"}, OrderRejected),
    ],
    ids=["bybit-bad-request", "binance-4xx-unknown-code", "binance-insufficient"],
)
def test_a_refusal_stays_a_rejection(exchange: str, status: int, body: dict[str, Any], kind: type[Exception]) -> None:
    translated = answered(exchange, status, body)
    assert isinstance(translated, kind) and not isinstance(translated, UnknownOutcome), repr(translated)


async def test_a_balance_below_the_markets_minimum_reads_as_flat(
    okx_server: tuple[FakeOkx, str], fresh_store: Store
) -> None:
    """OKX sells 0.00001 BTC at least (minSz), in steps of 0.00000001 (lotSz): the 0.000005 BTC a sell leaves read as
    a long position that no order can exit, so a flat check saw "long 0.000005" and an exit was refused."""
    fake, url = okx_server
    options = CcxtOptions(exchange="okx", api_key=OKX_KEY, secret=OKX_SECRET, password=OKX_PASSPHRASE, api_url=url)
    broker = CcxtBroker(options, BrokerContext(name="okx"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        fake.balances["BTC"] = Decimal("0.000005")
        assert await broker.fetch_positions() == []
        harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
        harness.sub = Subscription(broker="okx", time_in_force="gtc", sides="long")
        decided = await harness.signal(await harness.run(Signal(ticker="BTC-USDT", action="exit")))
        assert "exit while flat" in decided["decision"], decided["decision"]  # not "below BTC/USDT's minimum"
        fake.balances["BTC"] = Decimal("0.00001")  # the least the market takes is a position
        assert [(p.symbol, p.quantity) for p in await broker.fetch_positions()] == [("BTC-USDT", Decimal("0.00001"))]
    finally:
        fake.balances.pop("BTC", None)
        await broker.close()


async def test_at_kraken_the_bridges_ids_go_as_uuids_and_find_their_orders(
    kraken_server: tuple[FakeKraken, str], fresh_store: Store
) -> None:
    """Kraken takes a cl_ord_id that is a UUID (long or short) or free text of up to 18 characters: the bridge's ids
    (`tb-` and 29 hex digits) are neither, so every order was refused. And ccxt looks an order up by client id as a
    `userref` (an integer) with no `txid`, which Kraken's QueryOrders requires: no order could have been read back.
    The id now goes as a UUID holding the same digits, and is looked up by Kraken's txid once known, else among the
    open and closed orders by cl_ord_id (as after an unknown outcome)."""
    fake, url = kraken_server
    options = CcxtOptions(
        exchange="kraken", api_key=KRAKEN_KEY, secret=KRAKEN_SECRET, api_url=url, max_requests_per_minute=60000
    )
    signal = "0190f0e2-9d3c-7abc-8def-0123456789ab"
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    resting = client_order_id(signal, "other", "entry")
    limit: dict[str, Any] = {"symbol": "XBTUSDT", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="kraken", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        sent_id = fake.order_requests[-1]["cl_ord_id"]
        assert CL_ORD_ID.fullmatch(sent_id) and len(sent_id) == 36, sent_id  # a long UUID
        assert (await broker.fetch_order(entry)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("XBTUSDT")] == [entry]
        assert (await broker.cancel_order(entry)).status == "canceled"
        sold = await broker.create_order(order(exit_, symbol="XBTUSDT", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status, sold.filled_quantity) == (exit_, "filled", Decimal("0.01"))
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()

    def journal_it() -> None:  # as after an unknown outcome: the ticker is known, Kraken's txid is not
        journal_order(fresh_store.conn, client_order_id=exit_, broker="kraken", leg="exit", symbol="XBTUSDT",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="kraken", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status) == (exit_, "filled")
        assert [o.client_order_id for o in await restarted.fetch_open_orders("XBTUSDT")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order(client_order_id(signal, "never", "entry"))
    finally:
        await restarted.close()


async def test_a_cancel_refused_as_the_order_just_filled_reports_the_fill(gate_server: tuple[FakeGate, str]) -> None:
    """Gate refuses to cancel an order that has just filled ("ORDER_CLOSED", ccxt's InvalidOrder, as Kraken's
    "EOrder:Unknown order" is): the cancel raised an error where it reports what the order became."""
    fake, url = gate_server
    options = CcxtOptions(
        exchange="gate", api_key=GATE_KEY, secret=GATE_SECRET, api_url=url, max_requests_per_minute=60000
    )
    broker = CcxtBroker(options, BrokerContext(name="gate"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    coid = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789ac", "sub", "entry")
    try:
        await broker.create_order(order(coid, symbol="BTC_USDT", type="limit", limit_price=Decimal(29000),
                                        time_in_force="gtc"))  # fmt: skip
        fake.fill_on_cancel = True
        canceled = await broker.cancel_order(coid)
        assert (canceled.status, canceled.filled_quantity) == ("filled", Decimal("0.01"))
    finally:
        fake.fill_on_cancel = False
        await broker.close()


@pytest.mark.parametrize("exchange_options", [{}, {"createMarketBuyOrderRequiresPrice": False}], ids=["default", "off"])
async def test_a_market_buy_where_the_venue_takes_the_amount_to_spend_is_refused_before_sending(
    gate_server: tuple[FakeGate, str], exchange_options: dict[str, Any]
) -> None:
    """Gate (as Coinbase, HTX, Poloniex...) takes a market buy as the USDT to spend: ccxt refused one without a price
    with advice to turn its createMarketBuyOrderRequiresPrice off, and with it off the quantity went out as the
    amount to spend (2 BTC bought as 2 USDT's worth). Refused before sending, saying what to do instead."""
    fake, url = gate_server
    options = CcxtOptions(exchange="gate", api_key=GATE_KEY, secret=GATE_SECRET, api_url=url,
                          max_requests_per_minute=60000, exchange_options=exchange_options)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="gate"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    sent_before = len(fake.order_requests)
    try:
        buy = order(client_order_id("0190f0e2-9d3c-7abc-8def-0123456789ad", "sub", "entry"), symbol="BTC_USDT")
        with pytest.raises(OrderRejected, match=r"gate takes a market buy as the USDT to spend.*use order_type: limit"):
            broker.check_order(buy)
        with pytest.raises(OrderRejected, match="gate takes a market buy as the USDT to spend"):
            await broker.create_order(buy)
        assert fake.order_requests[sent_before:] == []
    finally:
        await broker.close()


async def test_at_coinbase_the_bridges_ids_are_sent_and_find_their_orders(
    coinbase_server: tuple[FakeCoinbase, str], fresh_store: Store
) -> None:
    """ccxt's Coinbase drops a unified clientOrderId and sends its own ("ccxt-" and a random UUID), and reads and
    cancels by Coinbase's order_id only: no order there carried the bridge's id, and none could be read back or
    canceled. The id goes in Coinbase's own client_order_id; an order is read by its order_id once known, else found
    among the listed orders (as after an unknown outcome)."""
    fake, url = coinbase_server
    options = CcxtOptions(exchange="coinbase", api_key=COINBASE_KEY, secret=COINBASE_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789ae"
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    resting = client_order_id(signal, "other", "entry")
    limit: dict[str, Any] = {"symbol": "BTC-USDT", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="coinbase", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        assert fake.order_requests[-1]["client_order_id"] == entry
        assert (await broker.fetch_order(entry)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("BTC-USDT")] == [entry]
        assert (await broker.cancel_order(entry)).status == "canceled"
        sold = await broker.create_order(order(exit_, symbol="BTC-USDT", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status, sold.filled_quantity) == (exit_, "filled", Decimal("0.01"))
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()

    def journal_it() -> None:  # as after an unknown outcome: the ticker is known, Coinbase's order_id is not
        journal_order(fresh_store.conn, client_order_id=exit_, broker="coinbase", leg="exit", symbol="BTC-USDT",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="coinbase", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status) == (exit_, "filled")
        assert [o.client_order_id for o in await restarted.fetch_open_orders("BTC-USDT")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order(client_order_id(signal, "never", "entry"))
    finally:
        await restarted.close()


@pytest.mark.parametrize("exchange", ["bybit", "bybiteu"])
async def test_at_bybit_orders_are_read_back_by_their_order_link_id(
    bybit_server: tuple[FakeBybit, str], fresh_store: Store, exchange: str
) -> None:
    """ccxt's Bybit refuses to read an order in a unified account ("can only access an order if it is in last 500
    orders ... Set params["acknowledged"] = True") and, asked, reads it by orderId only: an order placed there was
    answered with its ids alone, could not be read, and its placing raised as an error. It is now read by Bybit's
    orderId once known, else among the open, then closed orders by its orderLinkId (as after an unknown outcome)."""
    fake, url = bybit_server
    options = CcxtOptions(exchange=exchange, api_key=BYBIT_KEY, secret=BYBIT_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    signal = f"0190f0e2-9d3c-7{'abc' if exchange == 'bybit' else 'abe'}-8def-0123456789af"  # the fake is shared
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    resting = client_order_id(signal, "other", "entry")
    limit: dict[str, Any] = {"symbol": "BTCUSDT", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name=exchange, store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        assert fake.order_requests[-1]["orderLinkId"] == entry
        assert (await broker.fetch_order(entry)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("BTCUSDT")] == [entry]
        assert (await broker.cancel_order(entry)).status == "canceled"
        sold = await broker.create_order(order(exit_, symbol="BTCUSDT", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status, sold.filled_quantity) == (exit_, "filled", Decimal("0.01"))
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()

    def journal_it() -> None:  # as after an unknown outcome: the ticker is known, Bybit's orderId is not
        journal_order(fresh_store.conn, client_order_id=exit_, broker=exchange, leg="exit", symbol="BTCUSDT",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name=exchange, store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status) == (exit_, "filled")
        assert fake.lookups[-1]["orderLinkId"] == exit_  # narrowed to it, not the latest page of orders
        assert [o.client_order_id for o in await restarted.fetch_open_orders("BTCUSDT")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order(client_order_id(signal, "never", "entry"))
    finally:
        await restarted.close()


async def test_an_order_partly_filled_then_canceled_is_not_read_as_filled(bybit_server: tuple[FakeBybit, str]) -> None:
    """Bybit's spot "PartiallyFilledCanceled" (a market order the book could not fill whole) is ccxt's "closed", which
    read as filled: a sell of 0.01 that sold 0.006 said the whole exit was done."""
    fake, url = bybit_server
    options = CcxtOptions(exchange="bybit", api_key=BYBIT_KEY, secret=BYBIT_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="bybit"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    fake.market_fill = Decimal("0.006")
    try:
        coid = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789b0", "sub", "exit")
        sold = await broker.create_order(order(coid, symbol="BTCUSDT", side="sell", quantity=Decimal("0.01")))
        assert (sold.status, sold.filled_quantity) == ("canceled", Decimal("0.006"))
    finally:
        fake.market_fill = None
        await broker.close()


async def test_the_price_step_is_the_markets_tick(broker: CcxtBroker) -> None:
    """A take-profit the bridge computes is rounded to it, where cents would be refused at a coarser tick."""
    from tests.fakes.binance import TICK

    assert broker.price_step("BTC/USDT") == TICK
    assert broker.price_step("NOPE/USDT") is None


async def test_a_balance_worth_less_than_the_markets_minimum_value_reads_as_flat(
    broker: CcxtBroker, fake: FakeBinance, fresh_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Binance sells no order worth less than its NOTIONAL minimum (5 USDT): 0.0001 BTC at 30,000 (3 USDT) is above
    the minimum quantity, so it read as a long that every exit tried to sell and Binance refused ("Filter failure:
    NOTIONAL"), and a long that kept the next entry from being placed. It reads as flat, and the log says why."""
    fake.balances["BTC"] = [Decimal("0.0001"), Decimal(0)]
    with caplog.at_level("INFO"):
        assert await broker.fetch_positions() == []
    assert "0.0001 BTC/USDT" in caplog.text and "below BTC/USDT's minimum order value of 5" in caplog.text
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="binance", time_in_force="gtc", sides="long")
    decided = await harness.signal(await harness.run(Signal(ticker="BTCUSDT", action="exit")))
    assert "exit while flat" in decided["decision"], decided["decision"]
    assert fake.order_requests == []  # no exit sent to be refused
    fake.balances["BTC"] = [Decimal("0.0002"), Decimal(0)]  # 6 USDT: the market takes it, so it is a position
    assert [(p.symbol, p.quantity) for p in await broker.fetch_positions()] == [("BTCUSDT", Decimal("0.0002"))]


async def test_at_bitvavo_the_bridges_ids_go_as_uuids_with_an_operator_and_find_their_orders(
    bitvavo_server: tuple[FakeBitvavo, str], fresh_store: Store
) -> None:
    """ccxt's Bitvavo refuses to send an order or a cancel without an operatorId ("requires an operatorId in params
    or options"), and Bitvavo takes a clientOrderId that is a UUID: no order could be placed there, and none canceled.
    An operatorId goes with every order and cancel (exchange_options may choose it), the id as a UUID holding the same
    digits, and orders listed are read back as the bridge's (ccxt leaves their clientOrderId out)."""
    fake, url = bitvavo_server
    options = CcxtOptions(exchange="bitvavo", api_key=BITVAVO_KEY, secret=BITVAVO_SECRET, api_url=url, quote="EUR",
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789b1"
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    resting = client_order_id(signal, "other", "entry")
    limit: dict[str, Any] = {"symbol": "BTC-EUR", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="bitvavo", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        sent_id = fake.order_requests[-1]["clientOrderId"]
        assert BITVAVO_UUID.fullmatch(sent_id), sent_id
        assert isinstance(fake.order_requests[-1]["operatorId"], int)
        assert (await broker.fetch_order(entry)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("BTC-EUR")] == [entry]
        assert (await broker.cancel_order(entry)).status == "canceled"
        sold = await broker.create_order(order(exit_, symbol="BTC-EUR", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status, sold.filled_quantity) == (exit_, "filled", Decimal("0.01"))
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()

    def journal_it() -> None:  # as after an unknown outcome: the ticker is known, Bitvavo's orderId is not
        journal_order(fresh_store.conn, client_order_id=exit_, broker="bitvavo", leg="exit", symbol="BTC-EUR",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip

    await fresh_store.run(journal_it)
    chosen = options.model_copy(update={"exchange_options": {"operatorId": 4242}})
    restarted = CcxtBroker(chosen, BrokerContext(name="bitvavo", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status) == (exit_, "filled")
        assert [o.client_order_id for o in await restarted.fetch_open_orders("BTC-EUR")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
        assert fake.cancels[-1]["operatorId"] == "4242"
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order(client_order_id(signal, "never", "entry"))
    finally:
        await restarted.close()


async def test_at_bitfinex_the_bridges_ids_go_as_integers_and_find_their_orders(
    bitfinex_server: tuple[FakeBitfinex, str], fresh_store: Store
) -> None:
    """Bitfinex's cid is an integer (int45): the bridge's ids (`tb-` and 29 hex digits) were refused ("cid: invalid"),
    so no order was ever placed there, and ccxt's order lookup reads the active orders only, so a filled order could
    not have been read back. The id goes as an integer derived from it, the same at every retry, and orders are found
    among the active, then the closed orders: by Bitfinex's id once known, else by that integer (as after an unknown
    outcome, or a restart)."""
    fake, url = bitfinex_server
    options = CcxtOptions(exchange="bitfinex", api_key=BITFINEX_KEY, secret=BITFINEX_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789b2"
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    resting = client_order_id(signal, "other", "entry")
    limit: dict[str, Any] = {"symbol": "tBTCUST", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="bitfinex", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        cid = fake.order_requests[-1]["cid"]
        assert type(cid) is int and 0 < cid <= CID_MAX, cid
        assert (await broker.fetch_order(entry)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("tBTCUST")] == [entry]
        assert (await broker.cancel_order(entry)).status == "canceled"
        assert (await broker.fetch_order(entry)).status == "canceled"  # no longer active: among the closed
        sold = await broker.create_order(order(exit_, symbol="tBTCUST", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status, sold.filled_quantity) == (exit_, "filled", Decimal("0.01"))
        assert fake.order_requests[-1]["cid"] != cid
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()

    def journal_it() -> None:  # as the daemon journaled them: the exit's answer was lost, so Bitfinex's id is not known
        journal_order(fresh_store.conn, client_order_id=exit_, broker="bitfinex", leg="exit", symbol="tBTCUST",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip
        journal_order(fresh_store.conn, client_order_id=resting, broker="bitfinex", leg="entry", symbol="tBTCUST",
                      side="buy", type="limit", quantity="0.01", time_in_force="gtc", status="open",
                      broker_order_id=str(fake.orders[-1][0]))  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="bitfinex", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status, found.filled_quantity) == (exit_, "filled", Decimal("0.01"))
        assert (await restarted.fetch_order(resting)).status == "open"
        assert [o.client_order_id for o in await restarted.fetch_open_orders("tBTCUST")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
        assert fake.cancels[-1] == {"id": fake.orders[-1][0]}
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order(client_order_id(signal, "never", "entry"))
    finally:
        await restarted.close()


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (["error", 10020, "amount: invalid"], OrderRejected),
        (["error", 10001, "Invalid order: not enough exchange balance for 10 tBTCUST at 29000"], OrderRejected),
        (["error", 10000, "unknown error"], UnknownOutcome),
    ],
    ids=["params", "balance", "unknown"],
)
def test_bitfinex_errors_in_http_500_are_read_by_their_code(body: list[Any], kind: type[Exception]) -> None:
    """Bitfinex answers its errors as HTTP 500 and ["error", code, text]: every refusal there read as an unknown
    outcome, as a 5XX does elsewhere. Its codes say which: a refusal of the parameters or the balance is a rejection,
    its unknown error (10000) stays an unknown outcome."""
    translated = answered("bitfinex", 500, body)
    assert type(translated) is kind, repr(translated)


async def test_an_order_bitfinex_refuses_is_a_rejection(bitfinex_server: tuple[FakeBitfinex, str]) -> None:
    url = bitfinex_server[1]
    options = CcxtOptions(exchange="bitfinex", api_key=BITFINEX_KEY, secret=BITFINEX_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="bitfinex"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        coid = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789b3", "sub", "entry")
        too_big = order(coid, symbol="tBTCUST", type="limit", limit_price=Decimal(29000), time_in_force="gtc",
                        quantity=Decimal(10))  # fmt: skip
        with pytest.raises(OrderRejected, match="not enough exchange balance") as refused:
            await broker.create_order(too_big)
        assert not isinstance(refused.value, UnknownOutcome)
    finally:
        await broker.close()


async def test_at_cryptocom_the_bridges_ids_are_sent_and_find_their_orders(
    cryptocom_server: tuple[FakeCryptocom, str], fresh_store: Store
) -> None:
    """ccxt's Crypto.com drops a unified clientOrderId (no client_oid is sent) and reads and cancels by order_id only:
    an order placed there answered with its ids alone, and reading it back by the bridge's id (an empty order_id) was
    refused, so its placing raised and the order, working at the venue, was left unknown. Ours goes in Crypto.com's
    own client_oid; an order is read by its order_id once known, else found among the open, then the finished orders
    (as after an unknown outcome)."""
    fake, url = cryptocom_server
    options = CcxtOptions(exchange="cryptocom", api_key=CRYPTOCOM_KEY, secret=CRYPTOCOM_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789b4"
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    resting = client_order_id(signal, "other", "entry")
    limit: dict[str, Any] = {"symbol": "BTC_USDT", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="cryptocom", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        assert fake.order_requests[-1]["client_oid"] == entry
        assert (await broker.fetch_order(entry)).status == "open"
        assert [o.client_order_id for o in await broker.fetch_open_orders("BTC_USDT")] == [entry]
        assert (await broker.cancel_order(entry)).status == "canceled"
        sold = await broker.create_order(order(exit_, symbol="BTC_USDT", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status, sold.filled_quantity) == (exit_, "filled", Decimal("0.01"))
        await broker.create_order(order(resting, **limit))
    finally:
        await broker.close()

    def journal_it() -> None:  # as after an unknown outcome: the ticker is known, Crypto.com's order_id is not
        journal_order(fresh_store.conn, client_order_id=exit_, broker="cryptocom", leg="exit", symbol="BTC_USDT",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="cryptocom", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status) == (exit_, "filled")
        assert [o.client_order_id for o in await restarted.fetch_open_orders("BTC_USDT")] == [resting]
        assert (await restarted.cancel_order(resting)).status == "canceled"
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order(client_order_id(signal, "never", "entry"))
    finally:
        await restarted.close()


async def test_an_order_is_read_back_by_the_venues_order_id_once_known(
    upbit_server: tuple[FakeUpbit, str], fresh_store: Store
) -> None:
    """ccxt reads an Upbit order by its uuid only, and the adapter asked it by the bridge's client order id with an
    empty order id even once Upbit had answered with the uuid: no order placed there could be read back (Upbit: "uuid
    or identifier is required"), so no fill was ever seen and no order could be canceled. An order is read and
    canceled by the venue's order id once known, as ccxt's unified API reads orders; after a restart, the journal's."""
    fake, url = upbit_server
    options = CcxtOptions(exchange="upbit", api_key=UPBIT_KEY, secret=UPBIT_SECRET, api_url=url, quote="KRW",
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789b5"
    entry, exit_ = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    limit: dict[str, Any] = {"symbol": "KRW-BTC", "type": "limit", "limit_price": Decimal(29000000),
                             "time_in_force": "gtc"}  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="upbit", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        placed = await broker.create_order(order(entry, **limit))
        assert (placed.client_order_id, placed.status) == (entry, "open")
        assert fake.order_requests[-1]["identifier"] == entry
        assert (await broker.fetch_order(entry)).status == "open"
        assert fake.lookups[-1] == {"uuid": fake.orders[-1]["uuid"]}
        assert (await broker.cancel_order(entry)).status == "canceled"
        sold = await broker.create_order(order(exit_, symbol="KRW-BTC", side="sell", quantity=Decimal("0.01")))
        assert (sold.client_order_id, sold.status, sold.filled_quantity) == (exit_, "filled", Decimal("0.01"))
    finally:
        await broker.close()

    def journal_it() -> None:  # as the daemon journaled the exit, with the uuid Upbit answered
        journal_order(fresh_store.conn, client_order_id=exit_, broker="upbit", leg="exit", symbol="KRW-BTC",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="filled",
                      broker_order_id=fake.orders[-1]["uuid"])  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="upbit", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status, found.filled_quantity) == (exit_, "filled", Decimal("0.01"))
    finally:
        await restarted.close()


async def test_small_holdings_are_valued_one_ticker_at_a_time_where_the_venue_lists_none_together(
    bitso_server: tuple[FakeBitso, str],
) -> None:
    """Bitso's books have a minimum value (10 MXN) but ccxt lists no tickers of several books at once there
    (fetchTickers unsupported): valuing a holding against it must not make every position read fail."""
    fake, url = bitso_server
    options = CcxtOptions(exchange="bitso", api_key=BITSO_KEY, secret=BITSO_SECRET, api_url=url, quote="MXN",
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="bitso"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        fake.balances["btc"] = Decimal("0.00001")  # 6 MXN at 600,000: dust
        assert await broker.fetch_positions() == []
        fake.balances["btc"] = Decimal("0.0001")  # 60 MXN: a position
        assert [(p.symbol, p.quantity) for p in await broker.fetch_positions()] == [("btc_mxn", Decimal("0.0001"))]
        assert fake.tickers_asked[-1] == "btc_mxn"
    finally:
        fake.balances["btc"] = Decimal(0)
        await broker.close()


async def test_at_upbit_an_order_whose_answer_was_lost_is_found_by_its_identifier(
    upbit_server: tuple[FakeUpbit, str],
) -> None:
    """Upbit took the order and its answer was lost: ccxt reads an Upbit order by its uuid only, so the lookup went
    with an empty uuid and our id in a parameter Upbit does not know. It was never found: read as never sent, the
    order could be placed a second time. Upbit's "Get order" takes the identifier given at create: it is asked so."""
    fake, url = upbit_server
    options = CcxtOptions(exchange="upbit", api_key=UPBIT_KEY, secret=UPBIT_SECRET, api_url=url, quote="KRW",
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789c1"
    entry = client_order_id(signal, "sub", "entry")
    broker = CcxtBroker(options, BrokerContext(name="upbit"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    fake.lose_answers = True
    try:
        with pytest.raises(UnknownOutcome):
            await broker.create_order(order(entry, symbol="KRW-BTC", type="limit", limit_price=Decimal(29000000),
                                            time_in_force="gtc"))  # fmt: skip
        fake.lose_answers = False
        found = await broker.fetch_order(entry)
        assert (found.client_order_id, found.status, found.broker_order_id) == (entry, "open", fake.orders[-1]["uuid"])
        assert fake.lookups[-1] == {"identifier": entry}
        assert (await broker.cancel_order(entry)).status == "canceled"
        assert fake.orders[-1]["state"] == "cancel"
        broker._symbols[client_order_id(signal, "never", "entry")] = "BTC/KRW"  # as journaled, never placed
        with pytest.raises(OrderNotFound):
            await broker.fetch_order(client_order_id(signal, "never", "entry"))
    finally:
        fake.lose_answers = False
        await broker.close()


async def test_at_upbit_an_exit_waits_for_the_cancel_upbit_took_to_be_done(
    upbit_server: tuple[FakeUpbit, str], fresh_store: Store
) -> None:
    """Upbit's cancel is a request it takes, then carries out: its answer, and a lookup right after, still read the
    order as waiting. The adapter read it once and answered "open", so an exit signal with a take-profit resting
    stopped at "the cancel was not confirmed" and never sold: the position stayed open. The cancel is read again
    until it is done (a moment), as Alpaca's is, and the exit goes."""
    fake, url = upbit_server
    options = CcxtOptions(exchange="upbit", api_key=UPBIT_KEY, secret=UPBIT_SECRET, api_url=url, quote="KRW",
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="upbit", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        take_profit = order("tb-up-tp", symbol="KRW-BTC", side="sell", type="limit", limit_price=Decimal(35000000),
                            time_in_force="gtc", quantity=Decimal(1))  # fmt: skip
        assert (await broker.create_order(take_profit)).status == "open"
        harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
        harness.sub = Subscription(broker="upbit", time_in_force="gtc", sides="long")
        decided = await harness.signal(await harness.run(Signal(ticker="KRW-BTC", action="exit")))
        assert decided["state"] == "executed", decided["decision"]
        tp, sold = fake.orders[-2:]  # the fake serves the whole module
        assert (tp["identifier"], tp["state"], sold["ord_type"], sold["side"], sold["state"]) == (
            "tb-up-tp", "cancel", "market", "ask", "done"
        )  # fmt: skip
    finally:
        await broker.close()


async def test_at_gemini_an_order_whose_answer_was_lost_is_found_by_its_client_order_id(
    gemini_server: tuple[FakeGemini, str],
) -> None:
    """ccxt reads a Gemini order by its order_id alone: an order whose answer was lost was asked for with an empty
    order_id, never found, and read as never sent. Gemini's "Order Status" takes the client_order_id: it is asked so."""
    fake, url = gemini_server
    options = CcxtOptions(exchange="gemini", api_key=GEMINI_KEY, secret=GEMINI_SECRET, api_url=url, quote="USD",
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789c2"
    entry, never = client_order_id(signal, "sub", "entry"), client_order_id(signal, "never", "entry")
    broker = CcxtBroker(options, BrokerContext(name="gemini"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    fake.lose_answers = True
    try:
        with pytest.raises(UnknownOutcome):
            await broker.create_order(order(entry, symbol="btcusd", type="limit", limit_price=Decimal(29000),
                                            time_in_force="gtc"))  # fmt: skip
        fake.lose_answers = False
        assert fake.order_requests[-1]["client_order_id"] == entry
        found = await broker.fetch_order(entry)
        assert (found.client_order_id, found.status, found.broker_order_id) == (entry, "open", fake.orders[-1]["id"])
        assert fake.lookups[-1] == {"client_order_id": entry}
        assert (await broker.cancel_order(entry)).status == "canceled"
        assert fake.orders[-1]["is_cancelled"]
        broker._symbols[never] = "BTC/USD"  # as journaled, never placed
        with pytest.raises(OrderNotFound):
            await broker.fetch_order(never)
    finally:
        fake.lose_answers = False
        await broker.close()


def _uuid(sent: Any) -> bool:
    return re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", str(sent)) is not None


def _int64(sent: Any) -> bool:
    return str(sent).isdigit() and 0 <= int(sent) < 2**63


@pytest.mark.parametrize(
    ("exchange", "market_id", "field", "form"),
    [
        ("coinbaseexchange", "BTC-USD", "client_oid", _uuid),
        ("onetrading", "BTC_USD", "client_id", _uuid),
        ("woo", "SPOT_BTC_USD", "clientOrderId", _int64),
    ],
)
async def test_the_bridges_ids_go_in_the_form_each_venue_takes_and_find_the_order_whose_answer_was_lost(
    exchange: str, market_id: str, field: str, form: Any
) -> None:
    """Coinbase Exchange's client_oid and One Trading's client_id must be UUIDs, WOO X's clientOrderId an integer
    (0 to 2^63): the bridge's `tb-` ids went as they were, so every order there was refused (or its id dropped, and
    an order whose answer was lost could not be found). Seen at the wire: the id sent is the venue's form of ours,
    reads back as ours, and is what the lookup of an order whose answer was lost asks for."""
    recorder = Recorder(503)  # every answer lost, as a venue that took the order and failed to say so
    with LocalServer(recorder.app) as server:
        options = CcxtOptions(exchange=exchange, api_key="key", secret="c2VjcmV0", password="phrase", quote="USD",
                              api_url=server.url, max_requests_per_minute=60000)  # fmt: skip
        broker = CcxtBroker(options, BrokerContext(name=exchange))
        broker.exchange.timeout_on_exit = 0
        market = {"id": market_id, "symbol": "BTC/USD", "base": "BTC", "quote": "USD", "baseId": "BTC",
                  "quoteId": "USD", "type": "spot", "spot": True, "active": True,
                  "precision": {"amount": 0.00001, "price": 0.01},
                  "limits": {"amount": {"min": 0.00001}, "price": {}, "cost": {}, "market": {}}}  # fmt: skip
        broker.exchange.set_markets([market])
        broker._markets.update(
            {market_id: broker.exchange.markets["BTC/USD"], "BTC/USD": broker.exchange.markets["BTC/USD"]}
        )
        coid = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789c3", "sub", "entry")
        try:
            with pytest.raises(UnknownOutcome):
                await broker.create_order(order(coid, symbol=market_id, type="limit", limit_price=Decimal(29000),
                                                time_in_force="gtc"))  # fmt: skip
            sent = json.loads(recorder.requests[-1]["body"])[field]
            assert form(sent), sent
            assert broker._our_id(str(sent)) == coid
            with pytest.raises(TemporaryBrokerError):
                await broker.fetch_order(coid)
            asked = recorder.requests[-1]
            assert asked["method"] == "GET" and str(sent) in asked["path"] + json.dumps(asked["query"]), asked
        finally:
            await broker.close()


async def test_a_position_read_within_seconds_of_the_last_values_its_holdings_at_the_prices_it_read(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    """Positions are read at every signal, and telling dust from a position asked the venue for tickers each time:
    request weight spent on every signal for a classification a price seconds old makes as well. The prices read
    are kept for PRICE_SECONDS: a read within them asks for none, and the dust is still told from a position."""
    fake.balances["BTC"] = [Decimal("0.0001"), Decimal(0)]  # 3 USDT at 30,000: dust
    assert await broker.fetch_positions() == []
    assert len(fake.ticker_requests) == 1
    assert await broker.fetch_positions() == []
    fake.balances["BTC"] = [Decimal("0.0002"), Decimal(0)]  # 6 USDT: a position, at the price read
    assert [(p.symbol, p.quantity) for p in await broker.fetch_positions()] == [("BTCUSDT", Decimal("0.0002"))]
    assert (await broker.fetch_account()).equity == Decimal(100006)
    assert len(fake.ticker_requests) == 1  # no more tickers asked for
    fake.balances["BTC"] = [Decimal("0.0001"), Decimal(0)]
    fake.set_price("BTCUSDT", Decimal(60000))  # 6 USDT at the new price, once the one read is too old
    try:
        broker._clock = lambda: time.monotonic() + PRICE_SECONDS
        assert [(p.symbol, p.quantity) for p in await broker.fetch_positions()] == [("BTCUSDT", Decimal("0.0001"))]
        assert len(fake.ticker_requests) == 2
    finally:
        fake.set_price("BTCUSDT", Decimal(30000))


async def test_a_market_order_where_the_venue_takes_none_is_refused_before_sending(
    gemini_server: tuple[FakeGemini, str],
) -> None:
    """Gemini has no market orders (ccxt's createMarketOrder is false there, and its createOrder raises before sending
    one): a signal asking for one was read as an order of unknown outcome, looked up and waited for, though nothing
    left. It is refused before sending, saying to use limit orders."""
    fake, url = gemini_server
    options = CcxtOptions(exchange="gemini", api_key=GEMINI_KEY, secret=GEMINI_SECRET, api_url=url, quote="USD",
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="gemini"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    sent_before = len(fake.order_requests)
    try:
        sell = order(client_order_id("0190f0e2-9d3c-7abc-8def-0123456789c4", "sub", "exit"), symbol="btcusd",
                     side="sell")  # fmt: skip
        with pytest.raises(OrderRejected, match=r"gemini takes no market orders.*use order_type: limit") as refused:
            await broker.create_order(sell)
        assert not isinstance(refused.value, UnknownOutcome)
        with pytest.raises(OrderRejected, match="gemini takes no market orders"):
            broker.check_order(sell)
        assert fake.order_requests[sent_before:] == []
    finally:
        await broker.close()


async def _bitso(url: str, store: Store | None = None) -> CcxtBroker:
    options = CcxtOptions(exchange="bitso", api_key=BITSO_KEY, secret=BITSO_SECRET, api_url=url, quote="MXN",
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="bitso", store=store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    return broker


async def test_at_bitso_our_client_order_id_goes_as_origin_id_and_finds_the_order_open_filled_or_an_hour_on(
    bitso_server: tuple[FakeBitso, str], fresh_store: Store
) -> None:
    """Bitso's client-supplied order id is `origin_id` ("Place an Order"), which ccxt does not fill from the unified
    clientOrderId: ours went as an unknown `clientOrderId`, so an order whose answer was lost carried no id of ours,
    and the lookup (ccxt's GET /orders/ with no oid: every open order) could never find it, nor a filled one, which
    Bitso's "Look Up Orders" returns for an hour only. Read as never sent, it could be placed twice. Ours goes as
    origin_id, is looked up by it (`?origin_ids=`), and a finished order past that hour by its trades ("List Order
    Trades", `?origin_id=`), after a restart too."""
    fake, url = bitso_server
    signal = "0190f0e2-9d3c-7abc-8def-0123456789c5"
    entry, never = client_order_id(signal, "sub", "entry"), client_order_id(signal, "never", "entry")

    def journal_it() -> None:  # its answer lost: Bitso's id for it is not known
        journal_order(fresh_store.conn, client_order_id=entry, broker="bitso", symbol="btc_mxn", side="buy",
                      type="limit", quantity="0.001", limit_price="500000", time_in_force="gtc", status="unknown",
                      leg="entry")  # fmt: skip

    broker = await _bitso(url)
    at = "2026-01-01T00:00:00+00:00"
    fake.orders.append({"oid": "byHandOid0000001", "book": "btc_mxn", "side": "sell", "status": "open",
                        "type": "limit", "price": "700000", "original_amount": "0.001", "unfilled_amount": "0.001",
                        "created_at": at, "updated_at": at})  # fmt: skip
    try:
        placed = await broker.create_order(order(entry, symbol="btc_mxn", type="limit", limit_price=Decimal(500000),
                                                 quantity=Decimal("0.001"), time_in_force="gtc"))  # fmt: skip
        assert fake.order_requests[-1]["origin_id"] == entry and "clientOrderId" not in fake.order_requests[-1]
        assert fake.order_requests[-1]["time_in_force"] == "goodtillcancelled"  # Bitso's words, in its own field
        oid = fake.orders[-1]["oid"]
        assert (placed.status, placed.broker_order_id) == ("open", oid)
        other = client_order_id(signal, "other", "entry")
        await broker.create_order(order(other, symbol="btc_mxn", type="limit", limit_price=Decimal(500000),
                                        quantity=Decimal("0.001"), time_in_force="ioc"))  # fmt: skip
        assert fake.order_requests[-1]["time_in_force"] == "immediateorcancel"
        assert (await broker.cancel_order(other)).status == "canceled"
        assert fake.orders[-1]["status"] == "cancelled"
        broker._symbols[never] = "BTC/MXN"  # as journaled, never placed: not the order placed by hand
        broker._sent_at[never] = datetime.now(UTC)  # just now: within the hour Bitso shows a finished order
        with pytest.raises(OrderNotFound):
            await broker.fetch_order(never)
    finally:
        await broker.close()
    await fresh_store.run(journal_it)
    for hour_over in (False, True):  # a restart
        fake.fill(oid)
        if hour_over:
            fake.recent.discard(oid)
        restarted = await _bitso(url, fresh_store)
        try:
            found = await restarted.fetch_order(entry)
            seen = (found.client_order_id, found.status, found.filled_quantity, found.broker_order_id)
            assert seen == (entry, "filled", Decimal("0.001"), oid), hour_over
            if hour_over:  # from its trades (Bitso's lookup carries no average price)
                assert found.avg_fill_price == Decimal(500000)
            found = await restarted.fetch_order(entry)  # by Bitso's id, now known
            assert (found.status, found.filled_quantity) == ("filled", Decimal("0.001")), hour_over
        finally:
            await restarted.close()
    fake.orders.clear()


async def test_an_open_order_placed_elsewhere_without_a_client_order_id_can_be_canceled(
    upbit_server: tuple[FakeUpbit, str],
) -> None:
    """An order placed in the venue's app carries no client order id at most venues (Upbit's identifier is the
    caller's to give): it was listed as order "None", so a signal that cancels the ticker's open orders (an exit
    before it sells) asked to cancel "None", found no such order and failed, and the position stayed open. It is
    listed under a name made of the venue's order id, and canceled by it."""
    fake, url = upbit_server
    options = CcxtOptions(exchange="upbit", api_key=UPBIT_KEY, secret=UPBIT_SECRET, api_url=url, quote="KRW",
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="upbit"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        await broker.exchange.create_order("BTC/KRW", "limit", "sell", 0.01, 40000000)  # as in the app: no identifier
        by_hand = fake.orders[-1]["uuid"]
        [listed] = [o for o in await broker.fetch_open_orders("KRW-BTC") if o.broker_order_id == by_hand]
        assert listed.client_order_id not in ("None", ""), listed
        assert (await broker.fetch_order(listed.client_order_id)).status == "open"
        canceled = await broker.cancel_order(listed.client_order_id)
        assert (canceled.client_order_id, canceled.status) == (listed.client_order_id, "canceled")
        assert fake.orders[-1]["state"] == "cancel"
    finally:
        await broker.close()


@pytest.mark.parametrize("fault", ["unavailable", "rate_limited"], ids=["503", "429"])
async def test_a_signals_reads_of_an_exchange_that_keeps_failing_are_each_tried_three_times_at_most(
    broker: CcxtBroker, fake: FakeBinance, fresh_store: Store, fault: str
) -> None:
    """The adapter retried each read and the executor retried the adapter's retries: 3 x 3 = 9 requests a read, and
    their waits multiplied, against a venue already failing or asking for less (throttle.py: three tries at most)."""
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="binance", time_in_force="gtc", sides="long")
    fake.requests.clear()
    fake.fault = fault  # type: ignore[assignment]
    decided = await harness.signal(await harness.run(Signal(ticker="BTCUSDT", action="buy", price=Decimal(30000))))
    assert decided["state"] == "failed", decided["decision"]
    # The position and the open orders are read at once: the signal fails with the first read that gives up.
    tries = [fake.requests.count(("GET", "/api/v3/account")), fake.requests.count(("GET", "/api/v3/openOrders"))]
    assert max(tries) == 3 and min(tries) <= 3, tries
    assert fake.order_requests == []


@pytest.mark.parametrize(
    "exchange_options",
    [{"maxRetriesOnFailure": 2}, {"defaultMaxRetriesOnFailure": 1}, {"order": {"maxRetriesOnFailure": 3}}],
    ids=["exchange-wide", "default", "one-endpoint"],
)
def test_ccxts_own_retries_are_refused_as_they_would_send_an_order_again(exchange_options: dict[str, Any]) -> None:
    """ccxt's maxRetriesOnFailure, set in exchange_options, sends any request again after a network error or a 5XX,
    an order too: against the fake Binance, one order whose answer was lost (503) was placed three times."""
    with pytest.raises(pydantic.ValidationError, match="RetriesOnFailure") as refused:
        CcxtOptions(exchange="binance", exchange_options=exchange_options)
    assert "place an order twice" in str(refused.value)
    assert CcxtOptions(exchange="binance", exchange_options={"maxRetriesOnFailure": 0}).exchange == "binance"


def _by_hand(fake: FakeBitso, count: int) -> None:
    """`count` open sell orders placed in Bitso's app (no origin_id), newer than any placed before."""
    at, first = "2026-01-01T00:00:00+00:00", len(fake.orders)
    for n in range(first, first + count):  # oids unique among the fake's orders
        fake.orders.append({"oid": f"byHand{n:010d}", "book": "btc_mxn", "side": "sell", "status": "open",
                            "type": "limit", "price": "700000", "original_amount": "0.001",
                            "unfilled_amount": "0.001", "created_at": at, "updated_at": at})  # fmt: skip


async def test_at_bitso_every_open_order_of_a_book_is_listed_not_the_newest_25(
    bitso_server: tuple[FakeBitso, str],
) -> None:
    """ccxt's Bitso lists open orders 25 at a time ("List Open Orders" `limit`, which ccxt sends as 25) and reads no
    further: with 30 orders placed in the app after ours, an exit's cancels of the ticker's working orders never saw
    ours, which stayed working after the exit and could open the position again. Without a ticker ccxt lists none
    at all (it asks for a book), so the order jobs could not list Bitso's open orders. Every open order is listed;
    more than one answer can hold is an error, never a list cut short."""
    fake, url = bitso_server
    fake.orders.clear()
    ours = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789c6", "sub", "entry")
    broker = await _bitso(url)
    try:
        await broker.create_order(order(ours, symbol="btc_mxn", type="limit", limit_price=Decimal(500000),
                                        quantity=Decimal("0.001"), time_in_force="gtc"))  # fmt: skip
        _by_hand(fake, 30)
        for symbol in ("btc_mxn", None):
            listed = [o.client_order_id for o in await broker.fetch_open_orders(symbol)]
            assert ours in listed and len(listed) == 31, symbol
        _by_hand(fake, 70)  # 101 open orders: more than Bitso gives in one answer
        with pytest.raises(BrokerError, match="100 open orders"):
            await broker.fetch_open_orders("btc_mxn")
    finally:
        await broker.close()
        fake.orders.clear()


@pytest.mark.parametrize("exchange", ["bybit", "bybiteu"])
async def test_at_bybit_every_open_order_is_listed_not_the_first_page(
    bybit_server: tuple[FakeBybit, str], exchange: str
) -> None:
    """Bybit's open orders come 20 to a page unless more are asked for, 50 at most ("Get Open & Closed Orders":
    `limit`, `cursor`), and ccxt asks for one page: with 55 orders placed after ours, an exit's cancels of the
    ticker's working orders never saw ours, which stayed working after the exit. Every page is read."""
    url = bybit_server[1]
    options = CcxtOptions(exchange=exchange, api_key=BYBIT_KEY, secret=BYBIT_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name=exchange))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    limit: dict[str, Any] = {"symbol": "BTCUSDT", "type": "limit", "limit_price": Decimal(29000),
                             "time_in_force": "gtc"}  # fmt: skip
    signal = f"0190f0e2-9d3c-7{'abc' if exchange == 'bybit' else 'abe'}-8def-0123456789c7"  # the fake is shared
    ours = [client_order_id(signal, f"sub{n}", "entry") for n in range(56)]
    try:
        for coid in ours:  # the first placed is the last listed
            await broker.create_order(order(coid, **limit))
        listed = [o.client_order_id for o in await broker.fetch_open_orders("BTCUSDT")]
        assert sorted(listed) == sorted(ours)
        assert (await broker.cancel_order(ours[0])).status == "canceled"
        assert ours[0] not in [o.client_order_id for o in await broker.fetch_open_orders()]
    finally:
        for coid in ours[1:]:
            await broker.cancel_order(coid)
        await broker.close()


async def test_at_bitso_an_order_canceled_unfilled_over_an_hour_ago_is_never_read_as_never_placed(
    bitso_server: tuple[FakeBitso, str], fresh_store: Store
) -> None:
    """Bitso's lookup shows a finished order for an hour only, and one canceled unfilled has no trades: past the hour
    such an order was shown nowhere and read as not found, so one whose answer was lost read as never placed, and
    could be placed again; one Bitso had answered (its id known) could never be read as canceled. Sent over the hour
    ago, the first is of unknown outcome, the second canceled with nothing filled; one sent within the hour and not
    shown was never placed."""
    fake, url = bitso_server
    fake.orders.clear()
    signal = "0190f0e2-9d3c-7abc-8def-0123456789c8"
    lost, answered, never = (client_order_id(signal, name, "entry") for name in ("lost", "answered", "never"))
    broker = await _bitso(url)
    try:
        for coid in (lost, answered):
            await broker.create_order(order(coid, symbol="btc_mxn", type="limit", limit_price=Decimal(500000),
                                            quantity=Decimal("0.001"), time_in_force="gtc"))  # fmt: skip
    finally:
        await broker.close()
    oids = {o["origin_id"]: o["oid"] for o in fake.orders}
    for placed in fake.orders:  # canceled at Bitso, over an hour ago
        placed["status"] = "cancelled"
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    minutes_ago = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()

    def journal_them() -> None:
        row = {"broker": "bitso", "symbol": "btc_mxn", "side": "buy", "type": "limit", "quantity": "0.001",
               "limit_price": "500000", "time_in_force": "gtc", "leg": "entry"}  # fmt: skip
        journal_order(fresh_store.conn, client_order_id=lost, status="unknown", sent_at=two_hours_ago, **row)
        journal_order(fresh_store.conn, client_order_id=answered, status="open", sent_at=two_hours_ago,
                      broker_order_id=oids[answered], **row)  # fmt: skip
        journal_order(fresh_store.conn, client_order_id=never, status="unknown", sent_at=minutes_ago, **row)

    await fresh_store.run(journal_them)
    restarted = await _bitso(url, fresh_store)
    try:
        with pytest.raises(BrokerError, match="check it at Bitso") as unknown:
            await restarted.fetch_order(lost)
        assert not isinstance(unknown.value, OrderNotFound)
        found = await restarted.fetch_order(answered)
        assert (found.status, found.filled_quantity, found.quantity) == ("canceled", 0, Decimal("0.001"))
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order(never)
    finally:
        await restarted.close()
        fake.orders.clear()


async def test_at_bitso_an_order_read_from_its_trades_counts_what_traded_before_the_fee(
    bitso_server: tuple[FakeBitso, str], fresh_store: Store
) -> None:
    """Bitso's trades give `major` and `minor` net of the fee ("List Order Trades" example: a buy's 4.86859395 major
    with a 0.04917771 fee for 626.77 at 127.45; a sell's 1013.54 minor for 0.25232073 at 4057.45, less a 10.24 fee).
    Read from its trades past the hour, a buy filled whole read as canceled with the fee left unfilled, and averaged
    above its price; a sell averaged below its price. What traded is the amount before the fee, at the trades' price."""
    fake, url = bitso_server
    fake.orders.clear()
    fake.fee_rate = Decimal("0.0065")
    signal = "0190f0e2-9d3c-7abc-8def-0123456789c9"
    bought, sold = client_order_id(signal, "sub", "entry"), client_order_id(signal, "sub", "exit")
    broker = await _bitso(url, fresh_store)
    try:
        for coid, side in ((bought, "buy"), (sold, "sell")):
            placed = await broker.create_order(order(coid, symbol="btc_mxn", side=side, type="limit",
                                                     limit_price=Decimal(500000), quantity=Decimal("0.001"),
                                                     time_in_force="gtc"))  # fmt: skip

            def journal_it(coid: str = coid, side: str = side, oid: str | None = placed.broker_order_id) -> None:
                journal_order(fresh_store.conn, client_order_id=coid, broker="bitso", symbol="btc_mxn", side=side,
                              type="limit", quantity="0.001", limit_price="500000", time_in_force="gtc",
                              status="open", broker_order_id=str(oid), leg="entry")  # fmt: skip

            await fresh_store.run(journal_it)
            fake.fill(fake.orders[-1]["oid"])
            fake.recent.clear()  # the hour is over: only its trades show it
            found = await broker.fetch_order(coid)
            seen = (found.status, found.filled_quantity, found.avg_fill_price)
            assert seen == ("filled", Decimal("0.001"), Decimal(500000)), side
    finally:
        fake.fee_rate = Decimal(0)
        await broker.close()
        fake.orders.clear()


@pytest.mark.parametrize("exchange", ["gate", "gateeu"])
async def test_at_gate_an_order_whose_answer_was_lost_is_looked_for_past_the_latest_100_finished(
    gate_server: tuple[FakeGate, str], exchange: str
) -> None:
    """Gate lists finished orders 100 to a page unless asked ("List orders": `limit`, `page`), and a lost answer's
    order was looked for in the first page only: with 100 orders finished on the pair after it, a filled exit read
    as never sent, and could be sent again. The pages are read until it is found or the orders run out; past as many
    as are read, it is of unknown outcome, never "not found". At Gate EU the lookup failed with a KeyError (its
    pages unknown to the adapter)."""
    fake, url = gate_server
    options = CcxtOptions(
        exchange=exchange, api_key=GATE_KEY, secret=GATE_SECRET, api_url=url, max_requests_per_minute=60000
    )
    signal = "0190f0e2-9d3c-7abc-8def-0123456789ca"
    exit_, never = client_order_id(signal, "sub", "exit"), client_order_id(signal, "never", "exit")
    broker = CcxtBroker(options, BrokerContext(name=exchange))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    before = len(fake.orders)
    fake.lose_answers = True
    try:
        with pytest.raises(UnknownOutcome):
            await broker.create_order(order(exit_, symbol="BTC_USDT", side="sell", quantity=Decimal("0.01")))
        fake.lose_answers = False
        ours = fake.orders[-1]

        def finish_more(count: int) -> None:  # filled after it, in Gate's app
            for _ in range(count):
                fake.orders.append({**ours, "id": f"9{len(fake.orders):09d}", "text": "web"})

        finish_more(150)
        found = await broker.fetch_order(exit_)
        assert (found.client_order_id, found.status, found.broker_order_id) == (exit_, "filled", ours["id"])
        broker._symbols[never] = "BTC/USDT"  # as journaled, never placed
        with pytest.raises(OrderNotFound):
            await broker.fetch_order(never)
        finish_more(2000)
        with pytest.raises(BrokerError, match="check it at") as unknown:
            await broker.fetch_order(never)
        assert not isinstance(unknown.value, OrderNotFound)
    finally:
        fake.lose_answers = False
        del fake.orders[before:]
        await broker.close()


async def test_at_coinbase_an_order_whose_answer_was_lost_is_looked_for_past_the_latest_100(
    coinbase_server: tuple[FakeCoinbase, str], fresh_store: Store
) -> None:
    """Coinbase's orders are read by its order_id only, so one whose answer was lost is looked for among the
    product's orders ("List Orders"), which ccxt reads one page of 100: with 100 orders after it, a filled exit read
    as never sent, and could be sent again. The pages are read by Coinbase's cursor until it is found or they run
    out; so are the open orders, an exit's cancels of which missed those past the first page."""
    fake, url = coinbase_server
    options = CcxtOptions(exchange="coinbase", api_key=COINBASE_KEY, secret=COINBASE_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    signal = "0190f0e2-9d3c-7abc-8def-0123456789cb"
    exit_, entry = client_order_id(signal, "sub", "exit"), client_order_id(signal, "sub", "entry")
    before = len(fake.orders)
    broker = CcxtBroker(options, BrokerContext(name="coinbase", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        await broker.create_order(order(entry, symbol="BTC-USDT", type="limit", limit_price=Decimal(29000),
                                        time_in_force="gtc"))  # fmt: skip
        await broker.create_order(order(exit_, symbol="BTC-USDT", side="sell", quantity=Decimal("0.01")))
    finally:
        await broker.close()
    resting, sold = fake.orders[-2], fake.orders[-1]
    for n in range(150):  # placed after them in Coinbase's app: filled, and resting
        fake.orders.append({**sold, "order_id": f"{n:08d}-0b29-4c19-a245-000000000000", "client_order_id": ""})
        fake.orders.append({**resting, "order_id": f"{n:08d}-0b29-4c19-a245-111111111111", "client_order_id": ""})

    def journal_it() -> None:  # as after an unknown outcome: the ticker is known, Coinbase's order_id is not
        journal_order(fresh_store.conn, client_order_id=exit_, broker="coinbase", leg="exit", symbol="BTC-USDT",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="coinbase", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        found = await restarted.fetch_order(exit_)
        assert (found.client_order_id, found.status, found.broker_order_id) == (exit_, "filled", sold["order_id"])
        listed = [o.client_order_id for o in await restarted.fetch_open_orders("BTC-USDT")]
        assert entry in listed and len(listed) == 151
    finally:
        await restarted.close()
        del fake.orders[before:]


async def test_at_cryptocom_an_order_whose_answer_was_lost_past_a_full_history_is_of_unknown_outcome(
    cryptocom_server: tuple[FakeCryptocom, str], fresh_store: Store
) -> None:
    """Crypto.com's order history gives 100 orders unless asked ("private/get-order-history": `limit`), and an order
    whose answer was lost was looked for in that answer alone: with 100 orders finished after it, a filled exit read
    as never sent, and could be sent again. Not in a history that may go on, it is of unknown outcome."""
    fake, url = cryptocom_server
    options = CcxtOptions(exchange="cryptocom", api_key=CRYPTOCOM_KEY, secret=CRYPTOCOM_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    exit_ = client_order_id("0190f0e2-9d3c-7abc-8def-0123456789cc", "sub", "exit")
    before = len(fake.orders)
    broker = CcxtBroker(options, BrokerContext(name="cryptocom", store=fresh_store))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    try:
        await broker.create_order(order(exit_, symbol="BTC_USDT", side="sell", quantity=Decimal("0.01")))
    finally:
        await broker.close()
    sold = fake.orders[-1]
    for n in range(120):  # filled after it, in Crypto.com's app
        fake.orders.append({**sold, "order_id": f"99{n:08d}", "client_oid": f"app-{n}"})

    def journal_it() -> None:  # as after an unknown outcome: the ticker is known, Crypto.com's order_id is not
        journal_order(fresh_store.conn, client_order_id=exit_, broker="cryptocom", leg="exit", symbol="BTC_USDT",
                      side="sell", type="market", quantity="0.01", time_in_force="gtc", status="unknown")  # fmt: skip

    await fresh_store.run(journal_it)
    restarted = CcxtBroker(options, BrokerContext(name="cryptocom", store=fresh_store))  # remembers nothing
    restarted.exchange.timeout_on_exit = 0
    await restarted.connect()
    try:
        with pytest.raises(BrokerError, match="check it at the venue") as unknown:
            await restarted.fetch_order(exit_)
        assert not isinstance(unknown.value, OrderNotFound)
    finally:
        await restarted.close()
        del fake.orders[before:]


@pytest.mark.parametrize(
    ("exchange", "ticker", "price"),
    [
        ("okx", "BTC-USDT", 29000),
        ("myokx", "BTC-USDT", 29000),
        ("okxus", "BTC-USDT", 29000),
        ("upbit", "KRW-BTC", 30000000),
        ("gate", "BTC_USDT", 29000),
        ("gateeu", "BTC_USDT", 29000),
    ],
)
async def test_every_open_order_of_a_ticker_is_listed_past_the_first_100(
    request: pytest.FixtureRequest, exchange: str, ticker: str, price: int
) -> None:
    """OKX's pending orders ("Get order list": `limit` 100 at most, `after` an ordId), Upbit's open orders (`limit` 100
    at most, `page`) and Gate's ("List all open orders", GET /spot/open_orders, which ccxt asks with the pair: `limit`
    100 at most of each pair, `page`) come 100 to an answer, and ccxt reads one: an exit's cancels of the ticker's
    working orders left working an order placed before 100 others, and it could open the position again. Every page
    is read."""
    venue = {"myokx": "okx", "okxus": "okx", "gateeu": "gate"}.get(exchange, exchange)  # ccxt's, at another host
    fake, url = request.getfixturevalue(f"{venue}_server")
    keys = {"okx": (OKX_KEY, OKX_SECRET, OKX_PASSPHRASE), "upbit": (UPBIT_KEY, UPBIT_SECRET, None),
            "gate": (GATE_KEY, GATE_SECRET, None)}[venue]  # fmt: skip
    options = CcxtOptions(exchange=exchange, api_key=keys[0], secret=keys[1], password=keys[2], api_url=url,
                          quote="KRW" if exchange == "upbit" else "USDT", max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name=exchange))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    before = len(fake.orders)
    ours = [client_order_id("0190f0e2-9d3c-7abc-8def-0123456789cd", f"sub{n}", "entry") for n in range(130)]
    try:
        for coid in ours:  # the first placed is the last listed
            await broker.create_order(order(coid, symbol=ticker, type="limit", limit_price=Decimal(price),
                                            time_in_force="gtc"))  # fmt: skip
        listed = [o.client_order_id for o in await broker.fetch_open_orders(ticker)]
        assert sorted(listed) == sorted(ours)
    finally:
        del fake.orders[before:]
        await broker.close()


def _with_market(options: CcxtOptions, market_id: str) -> CcxtBroker:
    """A broker whose one market is BTC/USD under the venue's id `market_id`, set without asking the venue."""
    broker = CcxtBroker(options, BrokerContext(name=options.exchange))
    broker.exchange.timeout_on_exit = 0
    market = {"id": market_id, "symbol": "BTC/USD", "base": "BTC", "quote": "USD", "baseId": "BTC", "quoteId": "USD",
              "type": "spot", "spot": True, "active": True, "precision": {"amount": 0.00001, "price": 0.01},
              "limits": {"amount": {"min": 0.00001}, "price": {}, "cost": {}, "market": {}}}  # fmt: skip
    broker.exchange.set_markets([market])
    known = broker.exchange.markets["BTC/USD"]
    broker._markets.update({market_id: known, "BTC/USD": known})
    return broker


async def test_at_woo_every_open_order_is_listed_not_the_newest_25() -> None:
    """WOO X's "Get orders" answers a `page` of `size` orders, 25 unless asked (500 at most), and ccxt asks for one page
    with no size: with 30 orders placed after ours, an exit's cancels of the ticker's working orders never saw ours,
    which stayed working after the exit and could open the position again. Every page is read, 500 to a page."""
    fake = FakeWoo()
    ours = fake.add("SPOT_BTC_USD", "BUY", "29000", "0.001", client_order_id=12345)
    for _ in range(30):
        fake.add("SPOT_BTC_USD", "SELL", "31000", "0.001")
    with LocalServer(fake.app) as server:
        options = CcxtOptions(exchange="woo", api_key=WOO_KEY, secret=WOO_SECRET, quote="USD", api_url=server.url,
                              max_requests_per_minute=60000)  # fmt: skip
        broker = _with_market(options, "SPOT_BTC_USD")
        try:
            listed = await broker.fetch_open_orders("SPOT_BTC_USD")
            assert len(listed) == 31 and str(ours["orderId"]) in {o.broker_order_id for o in listed}
            for _ in range(500):  # past one page of the most WOO X gives
                fake.add("SPOT_BTC_USD", "SELL", "31000", "0.001")
            listed = await broker.fetch_open_orders("SPOT_BTC_USD")
            assert len(listed) == 531 and str(ours["orderId"]) in {o.broker_order_id for o in listed}
            assert [q.get("page") for q in fake.listings[-2:]] == [None, "2"]
        finally:
            await broker.close()


async def test_at_woo_a_page_asked_for_again_and_answered_the_same_ends_the_listing_an_error_at_once() -> None:
    """A venue that answers the first page whatever `page` asks (or the same orders again) was read 20 times over,
    20 requests a listing spent of its rate limit, and the listing failed as "more than 10000 open orders" where 510
    were open. A page that brings no order not read already ends it, an error. And an order placed between two
    pages pushed the last of the first onto the second: it was listed twice."""
    fake = FakeWoo()
    for _ in range(510):
        fake.add("SPOT_BTC_USD", "SELL", "31000", "0.001")
    fake.ignores_page = True
    with LocalServer(fake.app) as server:
        options = CcxtOptions(exchange="woo", api_key=WOO_KEY, secret=WOO_SECRET, quote="USD", api_url=server.url,
                              max_requests_per_minute=60000)  # fmt: skip
        broker = _with_market(options, "SPOT_BTC_USD")
        try:
            with pytest.raises(BrokerError, match="more than 500 open orders"):
                await broker.fetch_open_orders("SPOT_BTC_USD")
            assert len(fake.listings) == 2
            fake.ignores_page, fake.placed_before_page = False, 2  # an order placed between two pages
            listed = [o.broker_order_id for o in await broker.fetch_open_orders("SPOT_BTC_USD")]
            # The one pushed onto page 2 is not listed twice; read twice, the listing is read again, and the order
            # placed meanwhile is in it.
            assert len(listed) == len(set(listed)) == 511
        finally:
            await broker.close()


async def test_at_onetrading_every_open_order_is_listed_page_after_page() -> None:
    """One Trading's "Get Orders" answers the open orders 100 to a page, the next page by the `cursor` the answer
    carries, and ccxt reads the first page and drops the cursor: with 130 orders placed after ours, an exit's cancels
    of the ticker's working orders never saw ours, which stayed working after the exit and could open the position
    again. Every page is read."""
    fake = FakeOneTrading()
    ours = fake.add("BTC_USD", "BUY", "29000", "0.001", client_id="0190f0e2-9d3c-8abc-b0ef-0123456789ce")
    for _ in range(130):
        fake.add("BTC_USD", "SELL", "31000", "0.001")
    fake.add("ETH_USD", "SELL", "3100", "0.01")
    with LocalServer(fake.app) as server:
        options = CcxtOptions(exchange="onetrading", api_key=ONETRADING_KEY, quote="USD", api_url=server.url,
                              max_requests_per_minute=60000)  # fmt: skip
        broker = _with_market(options, "BTC_USD")
        try:
            listed = await broker.fetch_open_orders("BTC_USD")
            assert len(listed) == 131 and ours["order_id"] in {o.broker_order_id for o in listed}
            assert [q.get("cursor") for q in fake.listings] == [None, "100"]
            assert {q.get("instrument_code") for q in fake.listings} == {"BTC_USD"}
        finally:
            await broker.close()


@pytest.mark.parametrize("most", [100, 500])
async def test_at_bitso_open_orders_past_100_are_listed_where_bitso_answers_them_and_an_error_where_it_may_not(
    bitso_server: tuple[FakeBitso, str], most: int
) -> None:
    """Bitso's "List Open Orders" answers `limit` orders, 500 unless asked, and names no most (its older page: 100 at
    most), nor a next page. Asked for 100, 100 open orders or more were an error even where Bitso answers them all, so
    an exit could cancel none of the ticker's working orders. Asked for 500, an answer of more than 100 is whole unless
    as full as asked; one of exactly 100 is whole where the oldest 100 are the same (see the test of exactly 100)."""
    fake, url = bitso_server
    fake.orders.clear()
    fake.open_orders_most = most
    broker = await _bitso(url)
    try:
        _by_hand(fake, 150)
        if most == 500:
            assert len(await broker.fetch_open_orders("btc_mxn")) == 150
        else:
            with pytest.raises(BrokerError, match="100 open orders"):
                await broker.fetch_open_orders("btc_mxn")
        fake.orders.clear()
        _by_hand(fake, 100)  # as many as the older cap: whole, the same 100 read oldest first
        assert len(await broker.fetch_open_orders("btc_mxn")) == 100
        _by_hand(fake, 400)
        with pytest.raises(BrokerError, match=f"{most} open orders"):
            await broker.fetch_open_orders(None)
        assert set(fake.open_orders_asked) == {"500"}
    finally:
        fake.open_orders_most = 100
        await broker.close()
        fake.orders.clear()


async def test_at_onetrading_a_cursor_that_brings_the_same_page_again_ends_the_listing_an_error_at_once() -> None:
    """Given the same page again for its cursor, the listing read it 20 times, 20 requests of the rate limit at
    every listing, and failed as "more than 2000 open orders" where 150 were open."""
    fake = FakeOneTrading()
    for _ in range(150):
        fake.add("BTC_USD", "SELL", "31000", "0.001")
    fake.ignores_cursor = True
    with LocalServer(fake.app) as server:
        options = CcxtOptions(exchange="onetrading", api_key=ONETRADING_KEY, quote="USD", api_url=server.url,
                              max_requests_per_minute=60000)  # fmt: skip
        broker = _with_market(options, "BTC_USD")
        try:
            with pytest.raises(BrokerError, match="more than 100 open orders"):
                await broker.fetch_open_orders("BTC_USD")
            assert len(fake.listings) == 2
        finally:
            await broker.close()


async def _paging_broker(request: pytest.FixtureRequest, exchange: str) -> tuple[Any, CcxtBroker, str, int]:
    """A fake venue that pages open orders by number, a broker on it, its ticker and its page's size."""
    if exchange == "woo":
        fake = FakeWoo()
        server = LocalServer(fake.app).start()
        request.addfinalizer(server.stop)
        options = CcxtOptions(exchange="woo", api_key=WOO_KEY, secret=WOO_SECRET, quote="USD", api_url=server.url,
                              max_requests_per_minute=60000)  # fmt: skip
        return fake, _with_market(options, "SPOT_BTC_USD"), "SPOT_BTC_USD", 500
    fake, url = request.getfixturevalue("gate_server" if exchange == "gateeu" else f"{exchange}_server")
    key, secret = (UPBIT_KEY, UPBIT_SECRET) if exchange == "upbit" else (GATE_KEY, GATE_SECRET)
    options = CcxtOptions(exchange=exchange, api_key=key, secret=secret, api_url=url,
                          quote="KRW" if exchange == "upbit" else "USDT", max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name=exchange))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    return fake, broker, "KRW-BTC" if exchange == "upbit" else "BTC_USDT", 100


async def _place_resting(broker: CcxtBroker, fake: Any, ticker: str, count: int, tag: str) -> list[str]:
    """`count` resting limit buys, the first placed the oldest; their client order ids (WOO X's fake takes its own)."""
    if isinstance(fake, FakeWoo):
        return [str(fake.add(ticker, "BUY", "29000", "0.001", client_order_id=n + 1)["orderId"]) for n in range(count)]
    price = Decimal(30000000 if ticker == "KRW-BTC" else 29000)
    ours = [client_order_id("0190f0e2-9d3c-7abc-8def-0123456789ef", f"{tag}{n}", "entry") for n in range(count)]
    for coid in ours:
        await broker.create_order(order(coid, symbol=ticker, type="limit", limit_price=price, time_in_force="gtc"))
    return ours


@pytest.mark.parametrize("exchange", ["woo", "upbit", "gate", "gateeu"])
async def test_an_order_ending_between_two_page_reads_leaves_no_working_order_unlisted(
    request: pytest.FixtureRequest, exchange: str
) -> None:
    """WOO X's "Get orders", Upbit's "List open orders" and Gate's "List all open orders" (GET /spot/open_orders, which
    ccxt asks for a ticker's too) answer a `page` counted from 1, newest first: an order filled or canceled between two
    page reads moved every older one up by one, and the first of the next page slid onto the page already read, listed
    nowhere. An exit's cancels of the ticker's working orders left it working, and it could open the position again.
    It is listed now, and the order that ended is not. Gate EU (ccxt's gateeu: Gate's requests at another host) was
    read one page only, listing 100 of 101."""
    fake, broker, ticker, most = await _paging_broker(request, exchange)
    before = len(fake.orders)
    try:
        placed = await _place_resting(broker, fake, ticker, most + 1, "paged")
        ours = placed[0]  # the oldest: the first of page 2
        fake.ends_before_page, fake.ends_left = 2, 1  # the newest fills as page 2 is asked for
        listed = await broker.fetch_open_orders(ticker)
        names = {o.broker_order_id if exchange == "woo" else o.client_order_id for o in listed}
        assert ours in names
        assert placed[-1] not in names and len(listed) == most
    finally:
        fake.ends_before_page = None
        del fake.orders[before:]
        await broker.close()


# The adapter's tables of venues read their own way (and the two it names in code): a venue sharing another's API
# must be in each that the other is in.
VENUE_TABLES = ("ALPHANUMERIC_IDS", "TEXT_IDS", "UUID_IDS", "LISTED_LOOKUPS", "CLIENT_ID_LOOKUPS", "OPEN_THEN_HISTORY",
                "ONLY_LISTED", "INTEGER_ID_BITS", "ERRORS_AT_500", "OPERATOR_IDS", "VENUE_ID_FIELDS",
                "VENUE_TIME_IN_FORCE", "TRADES_LOOKUPS", "CURSOR_PAGES")  # fmt: skip


def test_every_ccxt_exchange_that_is_a_venues_api_at_another_host_is_read_as_that_venue() -> None:
    """ccxt's Gate EU, Bybit EU and Indonesia, MyOKX and OKX US are its Gate, Bybit and OKX at other hosts (subclasses
    sending the same requests), but were not in the adapter's tables for them: at Gate EU, MyOKX and OKX US the open
    orders were read one page only (an exit's cancels missed an order placed before 100 others), and at Bybit EU an
    order could not be read back at all (ccxt's lookup refused in a unified account). Every such ccxt exchange is
    named in SAME_API, and is in every table its venue is in, as the tests of each venue, run for them too, show."""
    import ccxt

    special = {"bitso", "onetrading"}.union(*(set(getattr(adapter, table)) for table in VENUE_TABLES))
    for exchange in ccxt.exchanges:
        kind = getattr(ccxt, exchange)
        bases = {base for base in special if base != exchange and issubclass(kind, getattr(ccxt, base))}
        assert bases <= {adapter.SAME_API.get(exchange)}, (exchange, bases)
    for venue, base in adapter.SAME_API.items():
        for table in VENUE_TABLES:
            named = getattr(adapter, table)
            assert (venue in named) == (base in named), (venue, table)
            assert base not in named or not isinstance(named, dict) or named[venue] == named[base], (venue, table)


def _open_ids(fake: Any) -> set[str]:
    """The venue's ids of a paging fake's open orders (WOO X's, Upbit's, Gate's)."""
    if isinstance(fake, FakeWoo):
        return {str(o["orderId"]) for o in fake.orders if o["status"] in ("NEW", "PARTIAL_FILLED")}
    if isinstance(fake, FakeGate):
        return {str(o["id"]) for o in fake.orders if o["status"] == "open"}
    return {str(o["uuid"]) for o in fake.orders if o["state"] in ("wait", "watch")}


@pytest.mark.parametrize("exchange", ["woo", "upbit", "gate", "gateeu"])
async def test_an_order_placed_between_two_page_reads_leaves_no_working_order_unlisted_nor_any_listed_twice(
    request: pytest.FixtureRequest, exchange: str
) -> None:
    """Pages counted by number, newest first, shift the other way when an order is placed (by hand, in the venue's app)
    between two page reads: every older one moves down by one, and the last of the page read comes again at the head
    of the next. It is listed once; the listing that read it twice is read again, and the one taken lists every open
    order, the one placed meanwhile too."""
    fake, broker, ticker, most = await _paging_broker(request, exchange)
    before = len(fake.orders)
    try:
        await _place_resting(broker, fake, ticker, most + 1, "arrive")
        fake.placed_before_page = 2  # placed in the venue's app as page 2 is asked for
        listed = [o.broker_order_id for o in await broker.fetch_open_orders(ticker)]
        assert len(listed) == len(set(listed)) == most + 2
        assert set(listed) == _open_ids(fake)
    finally:
        fake.placed_before_page = None
        del fake.orders[before:]
        await broker.close()


@pytest.mark.parametrize("exchange", ["gate", "gateeu"])
async def test_at_gate_the_open_orders_of_every_pair_are_listed_past_each_pairs_first_100(exchange: str) -> None:
    """Gate's "List all open orders" (the order poll's listing, no ticker) answers each pair's newest `limit` (100 at
    most and unless asked) of a `page`, and was read once: with 120 open on one pair, its 20 oldest were never listed
    (nor any pair's past 100). Every page is read, ccxt not cutting the pairs' answer to 100 in all, and an order
    ending between two page reads leaves no other unlisted. Gate EU's was read one page only."""
    fake = FakeGate()
    fake.prices["ETH_USDT"] = Decimal(2000)
    with LocalServer(fake.app) as server:
        options = CcxtOptions(exchange=exchange, api_key=GATE_KEY, secret=GATE_SECRET, api_url=server.url,
                              max_requests_per_minute=60000)  # fmt: skip
        broker = CcxtBroker(options, BrokerContext(name=exchange))
        broker.exchange.timeout_on_exit = 0
        await broker.connect()
        try:
            ours = [client_order_id("0190f0e2-9d3c-7abc-8def-0123456789ab", f"all{n}", "entry") for n in range(150)]
            for n, coid in enumerate(ours):  # 30 on ETH_USDT first, then 120 on BTC_USDT, the newest
                ticker, price = ("ETH_USDT", 1900) if n < 30 else ("BTC_USDT", 29000)
                await broker.create_order(order(coid, symbol=ticker, type="limit", limit_price=Decimal(price),
                                                time_in_force="gtc"))  # fmt: skip
            listed = [o.client_order_id for o in await broker.fetch_open_orders()]
            assert sorted(listed) == sorted(ours)
            fake.ends_before_page, fake.ends_left = 2, 1  # BTC_USDT's newest fills as page 2 is asked for
            listed = [o.client_order_id for o in await broker.fetch_open_orders()]
            assert sorted(listed) == sorted(ours[:-1])
        finally:
            await broker.close()


@pytest.mark.parametrize("exchange", ["gate", "gateeu"])
async def test_at_gate_a_tickers_open_orders_are_read_from_every_pairs_listing_page_by_page(exchange: str) -> None:
    """ccxt asks Gate for a ticker's open orders at "List all open orders" (GET /spot/open_orders) with the ticker's
    `currency_pair`, which that endpoint does not take ("List open orders in all currency pairs"): the answer holds
    every pair's newest 100 of a page, and ccxt keeps the ticker's. The ticker's pages are read until its own group is
    short of 100 (another pair's full group asks for no page more), and every one of its orders is listed; two pages
    of them are read again, as any listing read page by page is until it is settled."""
    fake = FakeGate()
    fake.prices["ETH_USDT"] = Decimal(2000)
    with LocalServer(fake.app) as server:
        options = CcxtOptions(exchange=exchange, api_key=GATE_KEY, secret=GATE_SECRET, api_url=server.url,
                              max_requests_per_minute=60000)  # fmt: skip
        broker = CcxtBroker(options, BrokerContext(name=exchange))
        broker.exchange.timeout_on_exit = 0
        await broker.connect()
        try:
            ours = [client_order_id("0190f0e2-9d3c-7abc-8def-0123456789ac", f"tick{n}", "entry") for n in range(140)]
            for n, coid in enumerate(ours):  # 5 on BTC_USDT first, then 135 on ETH_USDT
                ticker, price = ("BTC_USDT", 29000) if n < 5 else ("ETH_USDT", 1900)
                await broker.create_order(order(coid, symbol=ticker, type="limit", limit_price=Decimal(price),
                                                time_in_force="gtc"))  # fmt: skip
            listed = [o.client_order_id for o in await broker.fetch_open_orders("BTC_USDT")]
            assert sorted(listed) == sorted(ours[:5])
            assert [(path, query.get("currency_pair"), query.get("page")) for path, query in fake.listings] == [
                ("/api/v4/spot/open_orders", "BTC_USDT", None)
            ]
            fake.listings.clear()
            listed = [o.client_order_id for o in await broker.fetch_open_orders("ETH_USDT")]
            assert sorted(listed) == sorted(ours[5:])
            asked = [(path, query.get("currency_pair"), query.get("page")) for path, query in fake.listings]
            assert asked == [("/api/v4/spot/open_orders", "ETH_USDT", page) for page in (None, "2")] * 2  # settled
        finally:
            await broker.close()


async def test_at_woo_open_orders_that_keep_ending_as_they_are_read_end_the_listing_an_error_after_three_readings(
    request: pytest.FixtureRequest,
) -> None:
    """Orders ending between every two page reads leave no listing known to hold every working order: after three
    listings, each read to its end, the listing is an error, never one that may leave a working order out, and the
    requests spent are bounded (three listings of two pages)."""
    fake, broker, ticker, most = await _paging_broker(request, "woo")
    try:
        await _place_resting(broker, fake, ticker, most + 10, "busy")
        fake.ends_before_page, fake.ends_left = 2, 10**6  # one ends before every second page
        with pytest.raises(BrokerError, match="changed while each of 3 listings was read"):
            await broker.fetch_open_orders(ticker)
        assert [q.get("page") for q in fake.listings] == [None, "2"] * 3
    finally:
        await broker.close()


@pytest.mark.parametrize(("most", "sorts"), [(100, True), (500, True), (500, False)])
async def test_at_bitso_exactly_100_open_orders_are_listed_on_a_fresh_connection(
    bitso_server: tuple[FakeBitso, str], most: int, sorts: bool
) -> None:
    """An answer of exactly 100 open orders may be the older page's cap (100 at most) or all of them, and was an error
    until Bitso had answered more than 100: on a fresh connection with exactly 100 open orders every listing failed,
    and an exit could cancel none of the ticker's working orders. The 100 are asked for again oldest first (`sort`
    asc, which the capped version takes): the same 100 are all of them, whichever version answers; 101 under the
    cap are not, and stay an error."""
    fake, url = bitso_server
    fake.orders.clear()
    fake.open_orders_most, fake.sorts = most, sorts
    try:
        _by_hand(fake, 100)
        broker = await _bitso(url)
        try:
            assert len(await broker.fetch_open_orders("btc_mxn")) == 100
            assert fake.open_orders_sorts[-2:] == [None, "asc"]  # asked again, oldest first
            assert len(await broker.fetch_open_orders(None)) == 100
            _by_hand(fake, 1)
            if most == 100:  # the newest 100 and the oldest 100 differ: more are open than one answer holds
                with pytest.raises(BrokerError, match="100 open orders"):
                    await broker.fetch_open_orders("btc_mxn")
            else:
                assert len(await broker.fetch_open_orders("btc_mxn")) == 101
        finally:
            await broker.close()
    finally:
        fake.open_orders_most, fake.sorts = 100, True
        fake.orders.clear()


async def test_at_cryptocom_every_open_order_is_one_answer(cryptocom_server: tuple[FakeCryptocom, str]) -> None:
    """Crypto.com's Exchange API v1 "private/get-open-orders" takes an instrument_name alone and answers every open
    order, with no page or limit: ccxt's one request is the whole listing, past 100 orders (the order history's
    default) too, and asks for no page."""
    fake, url = cryptocom_server
    options = CcxtOptions(exchange="cryptocom", api_key=CRYPTOCOM_KEY, secret=CRYPTOCOM_SECRET, api_url=url,
                          max_requests_per_minute=60000)  # fmt: skip
    broker = CcxtBroker(options, BrokerContext(name="cryptocom"))
    broker.exchange.timeout_on_exit = 0
    await broker.connect()
    before = len(fake.orders)
    ours = [client_order_id("0190f0e2-9d3c-7abc-8def-0123456789fa", f"cro{n}", "entry") for n in range(130)]
    try:
        for coid in ours:
            await broker.create_order(order(coid, symbol="BTC_USDT", type="limit", limit_price=Decimal(29000),
                                            time_in_force="gtc"))  # fmt: skip
        asked = len(fake.open_listings)
        listed = [o.client_order_id for o in await broker.fetch_open_orders("BTC_USDT")]
        assert sorted(listed) == sorted(ours)
        assert fake.open_listings[asked:] == [{"instrument_name": "BTC_USDT"}]
    finally:
        del fake.orders[before:]
        await broker.close()
