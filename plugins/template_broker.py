"""Template for a broker adapter of your own: copy this file, rename it, replace the in-memory venue.

It works as-is against an in-memory book, so you can copy it, point a config at it and watch a
signal become an order before changing anything. The tutorial is docs/writing-a-broker-plugin.md.

An adapter has three parts (as in nautilus_trader's adapters):
1. Options: a pydantic model; `brokers.<name>.options` in the config is validated by it at load time.
2. A client for the venue's API. Here `InMemoryVenue`; yours calls your broker's HTTP API or SDK.
3. The adapter class: the methods the daemon calls, translating the venue's answers and errors into
   `bridge.models` values and `bridge.errors` exceptions.

The file name is the plugin name: `plugins/mybroker.py` is `plugin: mybroker` in the config.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bridge.brokers.base import BrokerContext, Capabilities
from bridge.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected, TemporaryBrokerError, UnknownOutcome
from bridge.models import Account, Order, OrderRequest, Position

__version__ = "0.1.0"  # shown by `bridge plugins`


# 1. Options ---------------------------------------------------------------------------------------------


class TemplateOptions(BaseModel):
    """Everything your adapter needs from the config. Keys named like *key*, *secret*, *token* are redacted."""

    model_config = ConfigDict(extra="forbid")  # a misspelt option is a config error, not a silent default

    cash: Decimal = Field(default=Decimal(100000), ge=0, description="starting cash of the in-memory account")
    # A real adapter has e.g.:  api_key: str   base_url: str = "https://api.mybroker.example"


# 2. The venue's client (replace this class) ------------------------------------------------------------


class VenueError(Exception):
    """What your broker's SDK raises; `kind` stands for its status code or error code."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class InMemoryVenue:
    """A toy broker: market orders fill at the order's reference price, limit orders rest until crossed."""

    def __init__(self, cash: Decimal) -> None:
        self.cash = cash
        self.orders: dict[str, dict[str, Any]] = {}  # by client order id, as a venue would store them
        self.positions: dict[str, Decimal] = {}
        self.last_price: dict[str, Decimal] = {}
        self._ids = itertools.count(1)

    def place(self, request: OrderRequest) -> dict[str, Any]:
        if request.client_order_id in self.orders:
            raise VenueError("duplicate", f"client order id {request.client_order_id} already used")
        if request.reference_price is not None:
            self.last_price[request.symbol] = request.reference_price
        price = self.last_price.get(request.symbol)
        if price is None:
            raise VenueError("rejected", f"no price known for {request.symbol}")
        if request.side == "buy" and request.quantity * (request.limit_price or price) > self.cash:
            raise VenueError("rejected", "insufficient cash")
        order = {"id": f"mem-{next(self._ids)}", "request": request, "status": "open", "fill_price": None}
        self.orders[request.client_order_id] = order
        limit = request.limit_price
        if request.type == "market" or (
            limit is not None and (price <= limit if request.side == "buy" else price >= limit)
        ):
            self._fill(order, price if request.type == "market" else limit or price)
        return order

    def _fill(self, order: dict[str, Any], price: Decimal) -> None:
        request: OrderRequest = order["request"]
        signed = request.quantity if request.side == "buy" else -request.quantity
        self.positions[request.symbol] = self.positions.get(request.symbol, Decimal(0)) + signed
        self.cash -= signed * price
        order.update(status="filled", fill_price=price)

    def get(self, client_order_id: str) -> dict[str, Any]:
        if client_order_id not in self.orders:
            raise VenueError("not_found", f"no order {client_order_id}")
        return self.orders[client_order_id]

    def cancel(self, client_order_id: str) -> dict[str, Any]:
        order = self.get(client_order_id)
        if order["status"] == "open":
            order["status"] = "canceled"
        return order


# 3. The adapter ---------------------------------------------------------------------------------------


def _order(order: dict[str, Any]) -> Order:
    """The venue's order as the daemon's `Order` (quantities signed nowhere: `side` says the direction)."""
    request: OrderRequest = order["request"]
    filled = request.quantity if order["status"] == "filled" else Decimal(0)
    return Order(
        client_order_id=request.client_order_id, symbol=request.symbol, side=request.side, quantity=request.quantity,
        type=request.type, status=order["status"], broker_order_id=order["id"], limit_price=request.limit_price,
        filled_quantity=filled, avg_fill_price=order["fill_price"],
    )  # fmt: skip


class TemplateBroker:
    """The adapter. Every method is async; every venue error leaves as one of `bridge.errors`."""

    # What the venue can do. The config is checked against it, and the contract kit skips what is not declared.
    capabilities: ClassVar[Capabilities] = Capabilities(
        order_types=frozenset({"market", "limit"}),
        time_in_force=frozenset({"day", "gtc"}),
        shorting=True,
        fractional=True,
        rejects_duplicate_client_order_id=True,  # only if the venue really refuses a reused id
    )
    options_model: ClassVar[type[BaseModel]] = TemplateOptions

    def __init__(self, options: TemplateOptions, context: BrokerContext) -> None:
        self.options = options
        self.name = context.name  # the broker's name in the config
        self.venue: InMemoryVenue | None = None

    async def connect(self) -> None:
        """Open the session and check the credentials: raise here and /health shows this broker as down."""
        self.venue = InMemoryVenue(self.options.cash)

    async def close(self) -> None:
        """Release connections."""
        self.venue = None

    def _client(self) -> InMemoryVenue:
        if self.venue is None:
            raise TemporaryBrokerError(f"broker {self.name} is not connected")
        return self.venue

    async def fetch_account(self) -> Account:
        """Cash, equity, buying power."""
        venue = self._client()
        equity = venue.cash + sum(
            (q * venue.last_price.get(s, Decimal(0)) for s, q in venue.positions.items()), Decimal(0)
        )
        return Account(cash=venue.cash, equity=equity, buying_power=venue.cash)

    async def fetch_positions(self) -> list[Position]:
        """Open positions: positive long, negative short; leave flat ones out."""
        return [Position(symbol, quantity) for symbol, quantity in self._client().positions.items() if quantity != 0]

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders that can still fill."""
        orders = self._client().orders.values()
        return [_order(o) for o in orders if o["status"] == "open" and symbol in (None, o["request"].symbol)]

    async def fetch_order(self, client_order_id: str) -> Order:
        """One order by the daemon's client order id: the daemon uses it to resolve every unclear outcome."""
        try:
            return _order(self._client().get(client_order_id))
        except VenueError as exc:
            raise OrderNotFound(str(exc)) from exc

    async def create_order(self, request: OrderRequest) -> Order:
        """Place the order exactly as asked, once. Never retry here: the daemon resolves doubt by fetch_order."""
        if request.type not in self.capabilities.order_types:
            raise OrderRejected(f"{request.type} orders are not supported")  # refuse; never send another type
        if request.quantity <= 0:
            raise OrderRejected(f"quantity must be positive, got {request.quantity}")
        try:
            return _order(self._client().place(request))
        except VenueError as exc:
            # Translate by what the caller does next (see docs/writing-a-broker-plugin.md):
            if exc.kind == "duplicate":
                raise DuplicateClientOrderId(str(exc)) from exc
            if exc.kind == "rejected":  # the venue answered no: final
                raise OrderRejected(str(exc)) from exc
            # A timeout or 5xx after sending: it may have been placed, so say exactly that.
            raise UnknownOutcome(str(exc)) from exc

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel an open order and return its final state (a filled order is returned as it is)."""
        try:
            return _order(self._client().cancel(client_order_id))
        except VenueError as exc:
            raise OrderNotFound(str(exc)) from exc


BROKER = TemplateBroker  # the class the registry loads from this file
