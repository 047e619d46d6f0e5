"""The live state built from one config: connected brokers and the strategies that use them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.brokers import answers
from bridge.brokers.base import Broker, BrokerContext
from bridge.brokers.registry import BrokerConnectError, open_broker, plugin_dirs
from bridge.config.load import LoadedConfig
from bridge.config.schema import Strategy, Subscription, journal_keys, subscription_key
from bridge.config.secrets import redact_encoded
from bridge.errors import BridgeError
from bridge.store.db import Store

log = logging.getLogger("bridge.runtime")


@dataclass
class BrokerSlot:
    """A configured broker and whether it is usable."""

    name: str
    plugin: str
    broker: Broker | None
    error: str | None = None
    # Its `connect` failed (the venue was down, the network not yet up): the reconnect job tries again,
    # backing off, where a bad plugin or bad options wait for a config change.
    retry: bool = False
    attempts: int = 0  # failed attempts to connect so far
    next_attempt: float = 0.0  # time.monotonic() of the reconnect job's next attempt

    @property
    def healthy(self) -> bool:
        """True when the adapter loaded and connected."""
        return self.broker is not None and self.error is None


@dataclass
class Runtime:
    """Everything one config version needs to serve and execute signals."""

    loaded: LoadedConfig
    brokers: dict[str, BrokerSlot] = field(default_factory=dict)
    # Requests and queued jobs still working with this runtime: a replaced runtime's brokers close at zero.
    users: int = 0
    # Broker names a reload pointed at what may be another account, and when (as stored): an order journaled under
    # one until then may be the old account's, which the new one never holds, until the switch is settled.
    switched: dict[str, str] = field(default_factory=dict)
    # Each strategy's subscription keys, in file order, with the strategy they were made from: looked up for every
    # signal (its executions, each one's settings), and the same as long as its (frozen) settings are.
    _keys: dict[str, tuple[Strategy, tuple[str, ...]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def lease(self) -> Runtime:
        """Count one more user (a request, a queued job, a config the intake process judges with)."""
        self.users += 1
        return self

    def end_lease(self) -> bool:
        """Count one user fewer; True when that was the last one."""
        self.users -= 1
        return self.users == 0

    @property
    def strategies(self) -> dict[str, Strategy]:
        """Strategies by URL name."""
        return self.loaded.config.strategies

    def subscriptions(self, strategy: str) -> list[tuple[str, Subscription]]:
        """(key, settings) of the strategy's enabled subscriptions."""
        strat = self.strategies[strategy]
        keys = self._keys_of(strategy, strat)
        return [(keys[i], sub) for i, sub in enumerate(strat.subscriptions) if sub.enabled]

    def _keys_of(self, name: str, strat: Strategy) -> tuple[str, ...]:
        """`subscription_key` of each of the strategy's subscriptions, in order, made once per strategy settings."""
        known = self._keys.get(name)
        if known is None or known[0] is not strat:
            keys = tuple(subscription_key(strat, i) for i in range(len(strat.subscriptions)))
            known = self._keys[name] = (strat, keys)
        return known[1]

    def subscription(self, strategy: str, key: str) -> Subscription | None:
        """A subscription by its key, enabled or not (its orders are still followed), or None when it is gone."""
        strat = self.strategies.get(strategy)
        if strat is None:
            return None
        for sub_key, sub in zip(self._keys_of(strategy, strat), strat.subscriptions, strict=True):
            if sub_key == key:
                return sub
        for i, sub in enumerate(strat.subscriptions):  # a key from an older version's journal
            if key in journal_keys(strat, i):
                return sub
        return None

    def journal_keys(self, strategy: str, key: str) -> tuple[str, ...]:
        """Every key the journal may hold for the subscription keyed `key` now (see `schema.journal_keys`)."""
        strat = self.strategies.get(strategy)
        if strat is None:
            return (key,)
        index = next((i for i in range(len(strat.subscriptions)) if subscription_key(strat, i) == key), None)
        return (key,) if index is None else journal_keys(strat, index)

    def all_subscriptions(self) -> list[tuple[str, str, Subscription]]:
        """(strategy, key, settings) of every enabled subscription."""
        return [(name, key, sub) for name in self.strategies for key, sub in self.subscriptions(name)]

    def flattened(self) -> list[tuple[str, str, Subscription]]:
        """(strategy, key, settings) of every subscription with `flatten_at`, enabled or not."""
        return [(name, subscription_key(strat, i), sub) for name, strat in self.strategies.items()
                for i, sub in enumerate(strat.subscriptions) if sub.flatten_at is not None]  # fmt: skip

    def broker(self, name: str) -> Broker | None:
        """The named broker when it is usable, else None."""
        slot = self.brokers.get(name)
        return slot.broker if slot is not None and slot.healthy else None

    def usable(self) -> dict[str, Broker | None]:
        """Every configured broker by name: the broker when it is usable, else None (see `broker`)."""
        return {name: slot.broker if slot.healthy else None for name, slot in self.brokers.items()}

    def follower(self, name: str, created_at: str) -> Broker | None:
        """The broker to follow (poll, cancel) an order journaled under `name` at `created_at` with, else None.

        None while a reload's switch of `name` is not settled for an order journaled before it: it may be working at
        the account the name opened before, and the new one would be asked for it (and closed it as never sent).
        Once nothing trades at the old account, the switch leaves such orders to it (`Bridge._switch`).
        """
        since = self.switched.get(name)
        return None if since is not None and created_at <= since else self.broker(name)

    async def close(self) -> None:
        """Close every broker connection."""
        await close_slots(self.brokers.values())


async def close_slots(slots: Iterable[BrokerSlot]) -> None:
    """Close the brokers of `slots`; a failing close is logged, never raised."""
    for slot in slots:
        if slot.broker is not None:
            try:  # bounded: a close that never returns would hold the daemon's stop, or a reload, until it is killed
                await answers.within(slot.broker, "close", slot.broker.close())
            except Exception:
                log.exception("closing broker %s failed", slot.name)


def _reusable(previous: Runtime | None, loaded: LoadedConfig, name: str) -> BrokerSlot | None:
    """The previous runtime's slot for `name` when its plugin and options are unchanged and it works."""
    if previous is None:
        return None
    old_cfg = previous.loaded.config.brokers.get(name)
    slot = previous.brokers.get(name)
    if old_cfg is None or slot is None or not slot.healthy:
        return None  # a broker that failed before gets a fresh attempt
    return slot if old_cfg == loaded.config.brokers[name] else None


RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt to connect after `attempts` failed ones: 5, 10, 20 ... at most 300."""
    return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * float(2 ** max(0, attempts - 1)))


async def open_slot(loaded: LoadedConfig, store: Store, name: str) -> BrokerSlot:
    """Build and connect one configured broker; a failure is recorded in the slot, never raised."""
    cfg = loaded.config.brokers[name]
    dirs = plugin_dirs(loaded.config.plugin_dirs, loaded.base_dir)
    try:
        context = BrokerContext(name=name, store=store, base_dir=loaded.base_dir)
        return BrokerSlot(name, cfg.plugin, await open_broker(cfg.plugin, cfg.options, context, dirs))
    except Exception as exc:
        # Registry errors already name the plugin and its file; anything else gets its type.
        detail = str(exc) if isinstance(exc, BridgeError) else f"{type(exc).__name__}: {exc}"
        # A venue's error may quote the request, key included; /health (no auth) shows this detail.
        detail = redact_encoded(detail, loaded.secrets())  # in a URL it quotes, percent-encoded
        return BrokerSlot(name, cfg.plugin, None, error=detail, retry=isinstance(exc, BrokerConnectError), attempts=1,
                          next_attempt=time.monotonic() + retry_delay(1))  # fmt: skip


async def build_runtime(loaded: LoadedConfig, store: Store, previous: Runtime | None = None) -> Runtime:
    """Construct and connect every broker, reusing `previous`'s unchanged ones (and their connections).

    A failing adapter is recorded in its slot, never fatal to the others.
    """
    runtime = Runtime(loaded=loaded)
    for name in loaded.config.brokers:
        kept = _reusable(previous, loaded, name)
        if kept is not None:
            runtime.brokers[name] = kept
            continue
        slot = runtime.brokers[name] = await open_slot(loaded, store, name)
        if slot.error is not None:
            again = f"; connecting again in {retry_delay(1):g}s" if slot.retry else ""
            log.error("broker %s is unavailable: %s%s", name, slot.error, again)
    return runtime
