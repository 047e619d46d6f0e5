"""The broker plugin interface, named as in ccxt (`create_order`, `fetch_positions`, `has`)."""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
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
    # The venue's published request limit; adapters throttle below it (None: not published / not enforced).
    rate_limit_per_minute: int | None = None
    # True when the venue holds a position's shares for its working closing orders (Alpaca's `qty_available`):
    # a second closing order for the same shares is refused, so a breakeven stop cannot sit beside a take-profit.
    reserves_position: bool = False
    # True when the adapter has the optional `replace_order(client_order_id, request) -> Order`: the venue swaps a
    # working order for another in one step (Alpaca's "Replace an Order"), so a breakeven moves a stop in place
    # instead of canceling it first. An adapter without the method (or the flag) works as before.
    replaces_orders: bool = False
    # True when the venue itself enforces an order's reduce-only flag (`OrderRequest.reduce_only`): such an order
    # only closes what is held, and never opens the other side. Not declared (Alpaca's equities have no such flag),
    # a sell stop for more than is held sells short there; the bridge caps it to the position it read, and says no
    # more of it than that.
    reduce_only: bool = False
    # True when the venue takes a fractional quantity as a day order only (Alpaca's stocks, "Fractional Trading"): an
    # entry's take-profit and stop-loss legs then expire at the close, which the planner says, rather than go gtc.
    fractional_day_only: bool = False
    # True when it answers from this process, with no network request (the paper broker): the executor
    # then reads one thing after another, where for a remote venue it overlaps the requests.
    local: bool = False

    def describe(self) -> str:
        """One line for `bridge plugins`: order types, time in force values and the yes/no features."""
        flags = [
            ("short", self.shorting),
            ("fractional", self.fractional),
            ("brackets", self.brackets),
            ("extended-hours", self.extended_hours),
            ("dedupes-client-id", self.rejects_duplicate_client_order_id),
            ("quotes", self.quotes),
            ("reserves-position", self.reserves_position),
        ]
        parts = [
            ",".join(_ordered(self.order_types, _ORDER_TYPE_ORDER)),
            "tif " + ",".join(_ordered(self.time_in_force, _TIF_ORDER)),
            *(name if on else f"no-{name}" for name, on in flags),
        ]
        if self.replaces_orders:  # said only when on: a line adapters without it printed stays as it was
            parts.append("replaces-orders")
        if self.reduce_only:  # the same
            parts.append("reduce-only")
        if self.rate_limit_per_minute:
            parts.append(f"{self.rate_limit_per_minute}/min")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (sets become sorted lists)."""
        return {
            key: sorted(value) if isinstance(value, frozenset) else value
            for key, value in dataclasses.asdict(self).items()
        }


_ORDER_TYPE_ORDER = ["market", "limit", "stop", "stop_limit", "trailing_stop"]
_TIF_ORDER = ["day", "gtc", "opg", "cls", "ioc", "fok"]


def _ordered(values: frozenset[str], order: list[str]) -> list[str]:
    """The familiar values in their usual order, then any others alphabetically."""
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


class NoOptions(BaseModel):
    """Options model for adapters that take none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class BrokerContext:
    """What the daemon hands an adapter when it builds it."""

    name: str
    store: Store | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    async def journaled_order(self, client_order_id: str) -> dict[str, Any] | None:
        """The journal's `orders` row for one of this broker's client order ids (symbol, leg, parent...), if any.

        Venues whose lookups need more than our id (the symbol on most crypto exchanges, the parent of a
        bracket leg at Alpaca) use it after a restart, when the adapter's memory of what it sent is gone.
        """
        store = self.store
        if store is None:
            return None

        def lookup() -> dict[str, Any] | None:
            row = store.conn.execute(
                "SELECT * FROM orders WHERE broker = ? AND client_order_id = ?", (self.name, client_order_id)
            ).fetchone()
            return None if row is None else dict(row)

        return await store.run(lookup)

    async def journaled_legs(self) -> list[dict[str, Any]]:
        """The journal's working bracket legs at this broker: client order id, parent, leg and broker order id.

        A venue that names a bracket's legs its own way (Alpaca's) maps them back with it at connect, after a
        restart: until the order jobs looked each one up, a plan would take them for orders of no bracket.
        """
        store = self.store
        if store is None:
            return []

        def lookup() -> list[dict[str, Any]]:
            rows = store.conn.execute(
                "SELECT client_order_id, parent_client_order_id, leg, broker_order_id FROM orders WHERE broker = ? "
                "AND parent_client_order_id IS NOT NULL AND status IN ('submitted', 'open', 'partially_filled')",
                (self.name,),
            ).fetchall()
            return [dict(row) for row in rows]

        return await store.run(lookup)


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


def capabilities_of(factory: Any, options: BaseModel | None = None) -> Capabilities:
    """A plugin's capabilities; adapters whose venue decides them (ccxt) may refine them from their options."""
    refine = getattr(factory, "capabilities_for", None)
    if options is not None and callable(refine):
        try:
            refined = refine(options)
        except Exception:  # a plugin's own bug must not break config loading: its declared set still applies
            refined = None
        if isinstance(refined, Capabilities):
            return refined
    declared = getattr(factory, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else Capabilities()


# The capabilities in force for each broker built from the config: its venue's, as `capabilities_of` found them.
_IN_FORCE: weakref.WeakKeyDictionary[Any, Capabilities] = weakref.WeakKeyDictionary()


def hold_capabilities(broker: object, capabilities: Capabilities) -> None:
    """Remember the capabilities in force for a broker built from its options (`capabilities_in_force`)."""
    with contextlib.suppress(TypeError):  # not weakly referable or not hashable: its options model still refines
        _IN_FORCE[broker] = capabilities


def capabilities_in_force(broker: object) -> Capabilities | None:
    """What this broker's venue supports: `capabilities_for(options)` where its class has it, else its declared set.

    Where a class serves many venues, a venue may differ from the class on what matters most (whether it takes
    a reused client order id again); None for an object that declares no capabilities at all.
    """
    with contextlib.suppress(TypeError):
        held = _IN_FORCE.get(broker)
        if held is not None:
            return held
    declared = getattr(broker, "capabilities", None)
    if not isinstance(declared, Capabilities):
        return None
    options = getattr(broker, "options", None)  # an adapter not built here (the contract kit's) may keep its own
    if isinstance(options, BaseModel) and callable(getattr(type(broker), "capabilities_for", None)):
        return capabilities_of(type(broker), options)
    return declared


class BrokerFactory(Protocol):
    """A plugin class: built from its validated options and a context."""

    capabilities: ClassVar[Capabilities]
    options_model: ClassVar[type[BaseModel]]

    def __call__(self, options: Any, context: BrokerContext) -> Broker: ...
