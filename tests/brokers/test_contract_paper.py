"""The broker contract kit, run against the built-in paper broker."""

from __future__ import annotations

from pathlib import Path

from bridge.brokers.base import Broker, BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.store.db import Store
from bridge.testing import BrokerContract


class TestPaperContract(BrokerContract):
    """The paper broker keeps its book in the journal database."""

    async def open_broker(self, workdir: Path) -> Broker:
        store = Store(workdir / "journal.db")
        await store.open()
        broker = PaperBroker(PaperOptions(), BrokerContext(name="paper", store=store))
        await broker.connect()
        return broker

    async def close_broker(self, broker: Broker) -> None:
        await broker.close()
        assert isinstance(broker, PaperBroker)
        await broker.store.close()
