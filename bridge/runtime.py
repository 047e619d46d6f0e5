"""The live state built from one config: connected brokers and the strategies that use them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridge.brokers.base import Broker, BrokerContext
from bridge.brokers.registry import find_plugin
from bridge.config.load import LoadedConfig
from bridge.config.schema import Strategy, Subscription, subscription_key
from bridge.store.db import Store

log = logging.getLogger("bridge.runtime")


@dataclass
class BrokerSlot:
    """A configured broker and whether it is usable."""

    name: str
    plugin: str
    broker: Broker | None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        """True when the adapter loaded and connected."""
        return self.broker is not None and self.error is None


@dataclass
class Runtime:
    """Everything one config version needs to serve and execute signals."""

    loaded: LoadedConfig
    brokers: dict[str, BrokerSlot] = field(default_factory=dict)

    @property
    def strategies(self) -> dict[str, Strategy]:
        """Strategies by URL name."""
        return self.loaded.config.strategies

    def subscriptions(self, strategy: str) -> list[tuple[str, Subscription]]:
        """(key, settings) of the strategy's enabled subscriptions."""
        strat = self.strategies[strategy]
        return [(subscription_key(strat, i), sub) for i, sub in enumerate(strat.subscriptions) if sub.enabled]

    def subscription(self, strategy: str, key: str) -> Subscription | None:
        """A subscription by its key, or None when the config no longer has it."""
        strat = self.strategies.get(strategy)
        if strat is None:
            return None
        for i, sub in enumerate(strat.subscriptions):
            if subscription_key(strat, i) == key:
                return sub
        return None

    async def close(self) -> None:
        """Close every broker connection."""
        for slot in self.brokers.values():
            if slot.broker is not None:
                try:
                    await slot.broker.close()
                except Exception:
                    log.exception("closing broker %s failed", slot.name)


async def build_runtime(loaded: LoadedConfig, store: Store) -> Runtime:
    """Construct and connect every broker; a failing adapter is recorded, never fatal to the others."""
    runtime = Runtime(loaded=loaded)
    for name, cfg in loaded.config.brokers.items():
        broker: Broker | None = None
        try:
            factory = find_plugin(cfg.plugin)
            options = factory.options_model.model_validate(cfg.options)
            broker = factory(options, BrokerContext(name=name, store=store, base_dir=loaded.base_dir))
            await broker.connect()
            runtime.brokers[name] = BrokerSlot(name, cfg.plugin, broker)
        except Exception as exc:
            log.error("broker %s (plugin %s) is unavailable: %r", name, cfg.plugin, exc)
            runtime.brokers[name] = BrokerSlot(name, cfg.plugin, broker, error=f"{type(exc).__name__}: {exc}")
    return runtime
