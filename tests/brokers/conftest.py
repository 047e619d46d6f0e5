"""Fakes of the venues our adapters talk to, each served once per test module on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.binance import FakeBinance
from tests.fakes.server import LocalServer


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
