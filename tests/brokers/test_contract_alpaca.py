"""The broker contract kit, run against the Alpaca adapter talking to a fake Alpaca server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.brokers.base import Broker, BrokerContext
from bridge.testing import BrokerContract, Fault
from plugins.alpaca import AlpacaBroker, AlpacaOptions
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca


def alpaca_options(url: str, **overrides: object) -> AlpacaOptions:
    """Options pointing the adapter at the fake, unthrottled unless a test asks."""
    values: dict[str, object] = {"key_id": KEY_ID, "secret_key": SECRET_KEY, "base_url": url, "data_url": url,
                                 "max_requests_per_minute": 10000, **overrides}  # fmt: skip
    return AlpacaOptions.model_validate(values)


class TestAlpacaContract(BrokerContract):
    """Alpaca Trading API v2: paper account at the fake."""

    @pytest.fixture(autouse=True)
    def _fresh_account(self, alpaca_server: tuple[FakeAlpaca, str]) -> None:
        self.fake, self.url = alpaca_server
        self.fake.reset()

    async def open_broker(self, workdir: Path) -> Broker:
        broker = AlpacaBroker(alpaca_options(self.url), BrokerContext(name="alpaca"))
        await broker.connect()
        return broker

    async def inject_fault(self, broker: Broker, fault: Fault) -> bool:
        self.fake.fault = fault
        return True
