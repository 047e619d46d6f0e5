"""The broker plugin interface, named as in ccxt (`create_order`, `fetch_positions`, `has`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from bridge.models import Account, Order, OrderRequest, Position

if TYPE_CHECKING:
    from bridge.store.db import Store


@dataclass(frozen=True)
class Capabilities:
    """What an adapter supports; the config is checked against it at load time."""

    order_types: frozenset[str] = frozenset({"market", "limit", "stop", "stop_limit"})
    time_in_force: frozenset[str] = frozenset({"day", "gtc"})
    shorting: bool = True
    fractional: bool = False
    brackets: bool = False
    extended_hours: bool = False
    # True when the venue itself refuses a second order with the same client order id.
    rejects_duplicate_client_order_id: bool = False
    quotes: bool = False


class NoOptions(BaseModel):
    """Options model for adapters that take none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class BrokerContext:
    """What the daemon hands an adapter when it builds it."""

    name: str
    store: Store | None = None
    base_dir: Path = field(default_factory=Path.cwd)


@runtime_checkable
class Broker(Protocol):
    """A broker account; every method may raise one of the `bridge.errors` broker errors."""

    capabilities: ClassVar[Capabilities]
    options_model: ClassVar[type[BaseModel]]

    async def connect(self) -> None:
        """Open sessions and check credentials."""

    async def close(self) -> None:
        """Release connections."""

    async def fetch_account(self) -> Account:
        """Cash, equity, buying power."""

    async def fetch_positions(self) -> list[Position]:
        """All open positions."""

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders that can still fill, optionally for one symbol."""

    async def fetch_order(self, client_order_id: str) -> Order:
        """One order by our client order id; raises OrderNotFound when the broker has none."""

    async def create_order(self, request: OrderRequest) -> Order:
        """Place an order; raises OrderRejected, TemporaryBrokerError or UnknownOutcome."""

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel an open order and return its final state."""


class BrokerFactory(Protocol):
    """A plugin class: built from its validated options and a context."""

    capabilities: ClassVar[Capabilities]
    options_model: ClassVar[type[BaseModel]]

    def __call__(self, options: Any, context: BrokerContext) -> Broker: ...
