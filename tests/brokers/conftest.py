"""Fakes of the venues our adapters talk to, each served once per test module on a loopback port."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.binance import FakeBinance
from tests.fakes.bitfinex import FakeBitfinex
from tests.fakes.bitso import FakeBitso
from tests.fakes.bitvavo import FakeBitvavo
from tests.fakes.bybit import FakeBybit
from tests.fakes.coinbase import FakeCoinbase
from tests.fakes.cryptocom import FakeCryptocom
from tests.fakes.gate import FakeGate
from tests.fakes.gemini import FakeGemini
from tests.fakes.kraken import FakeKraken
from tests.fakes.okx import FakeOkx
from tests.fakes.server import LocalServer
from tests.fakes.upbit import FakeUpbit


@pytest.fixture(scope="module")
def alpaca_server() -> Iterator[tuple[FakeAlpaca, str]]:
    """A fake Alpaca Trading API v2 and its base URL."""
    fake = FakeAlpaca()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def binance_server() -> Iterator[tuple[FakeBinance, str]]:
    """A fake Binance spot REST API and its base URL."""
    fake = FakeBinance()
    with LocalServer(fake.app) as server:
        yield fake, server.url


def journal_order(conn: sqlite3.Connection, **order: str | int) -> None:
    """Journal one order row (and the signal its foreign key needs), as the daemon would have before a restart."""
    conn.execute(
        "INSERT OR IGNORE INTO signals (id, webhook_id, strategy, ticker, action, payload, extras, state, received_at,"
        " updated_at) VALUES ('s', 'w', 'x', 'T', 'buy', '{}', '{}', 'executed', 'now', 'now')"
    )
    row = {"id": order["client_order_id"], "signal_id": "s", "subscription": "sub", "seq": 0,
           "created_at": "now", "updated_at": "now", **order}  # fmt: skip
    columns = ", ".join(row)
    conn.execute(f"INSERT INTO orders ({columns}) VALUES ({', '.join('?' for _ in row)})", tuple(row.values()))  # noqa: S608


@pytest.fixture(scope="module")
def okx_server() -> Iterator[tuple[FakeOkx, str]]:
    """A fake OKX v5 REST API (spot) and its base URL."""
    fake = FakeOkx()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def gate_server() -> Iterator[tuple[FakeGate, str]]:
    """A fake Gate APIv4 (spot) and its base URL."""
    fake = FakeGate()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def kraken_server() -> Iterator[tuple[FakeKraken, str]]:
    """A fake Kraken spot REST API and its base URL."""
    fake = FakeKraken()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def coinbase_server() -> Iterator[tuple[FakeCoinbase, str]]:
    """A fake Coinbase Advanced Trade API (spot) and its base URL."""
    fake = FakeCoinbase()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def bybit_server() -> Iterator[tuple[FakeBybit, str]]:
    """A fake Bybit V5 API (spot, unified account) and its base URL."""
    fake = FakeBybit()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def bitvavo_server() -> Iterator[tuple[FakeBitvavo, str]]:
    """A fake Bitvavo REST API v2 (spot) and its base URL."""
    fake = FakeBitvavo()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def bitfinex_server() -> Iterator[tuple[FakeBitfinex, str]]:
    """A fake Bitfinex REST API v2 (exchange wallet) and its base URL."""
    fake = FakeBitfinex()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def cryptocom_server() -> Iterator[tuple[FakeCryptocom, str]]:
    """A fake Crypto.com Exchange API v1 (spot) and its base URL."""
    fake = FakeCryptocom()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def upbit_server() -> Iterator[tuple[FakeUpbit, str]]:
    """A fake Upbit Open API v1 (KRW market) and its base URL."""
    fake = FakeUpbit()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def bitso_server() -> Iterator[tuple[FakeBitso, str]]:
    """A fake Bitso REST API v3 (books, tickers, balances) and its base URL."""
    fake = FakeBitso()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[tuple[FakeGemini, str]]:
    """A fake Gemini REST API v1 (spot) and its base URL."""
    fake = FakeGemini()
    with LocalServer(fake.app) as server:
        yield fake, server.url
