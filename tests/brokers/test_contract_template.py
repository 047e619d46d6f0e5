"""The broker contract kit, run against the template adapter as shipped (its in-memory venue)."""

from __future__ import annotations

from pathlib import Path

from bridge.brokers.base import Broker, BrokerContext
from bridge.brokers.registry import find_plugin
from bridge.testing import BrokerContract
from plugins.template_broker import TemplateOptions


class TestTemplateContract(BrokerContract):
    """Loaded through the registry, as the daemon loads it."""

    async def open_broker(self, workdir: Path) -> Broker:
        factory = find_plugin("template_broker")
        broker = factory(TemplateOptions(), BrokerContext(name="template"))
        await broker.connect()
        return broker
