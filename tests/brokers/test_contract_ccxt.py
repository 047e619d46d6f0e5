"""The broker contract kit, run against the ccxt adapter talking to a fake Binance spot API on loopback."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

pytest.importorskip("ccxt", reason="the ccxt extra is not installed: pip install 'trade-bridge[ccxt]'")

from bridge.brokers.base import Broker, BrokerContext
from bridge.testing import BrokerContract, Fault
from plugins.ccxt_exchange import CcxtBroker, CcxtOptions
from tests.fakes.binance import API_KEY, SECRET, FakeBinance


def binance_options(url: str, **overrides: object) -> CcxtOptions:
    """ccxt's binance, every API URL moved to the fake."""
    values: dict[str, object] = {"exchange": "binance", "api_key": API_KEY, "secret": SECRET, "api_url": url,
                                 "max_requests_per_minute": 60000, **overrides}  # fmt: skip
    return CcxtOptions.model_validate(values)


class TestCcxtBinanceContract(BrokerContract):
    """ccxt's binance spot, against the fake."""

    symbol: ClassVar[str] = "BTCUSDT"
    quantity: ClassVar[Decimal] = Decimal("0.01")
    reference_price: ClassVar[Decimal | None] = None
    resting_limit_price: ClassVar[Decimal] = Decimal(1000)

    @pytest.fixture(autouse=True)
    def _fresh_account(self, binance_server: tuple[FakeBinance, str]) -> None:
        self.fake, self.url = binance_server
        self.fake.reset()

    async def open_broker(self, workdir: Path) -> Broker:
        broker = CcxtBroker(binance_options(self.url), BrokerContext(name="binance"))
        await broker.connect()
        return broker

    async def close_broker(self, broker: Broker) -> None:
        assert isinstance(broker, CcxtBroker)
        broker.exchange.timeout_on_exit = 0  # ccxt waits 250 ms on close for TLS sockets; the fake has none
        await broker.close()

    async def inject_fault(self, broker: Broker, fault: Fault) -> bool:
        self.fake.fault = fault
        return True
