"""The built-in paper broker: an adapter like any other, keeping its book in the journal database.

Market orders fill at once at the best price known (the order's reference price from the signal,
else the last price seen for the symbol); with no price at all the fill price is recorded as
unknown rather than invented. Limit and stop orders rest until a known price crosses them.
Every create is idempotent by client order id, as a careful venue would be.
"""

from __future__ import annotations

import sqlite3
import uuid
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bridge.brokers.base import BrokerContext, Capabilities
from bridge.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected
from bridge.models import Account, Order, OrderRequest, Position
from bridge.store.db import Store, iso, transaction, utcnow


class PaperOptions(BaseModel):
    """Options of the paper broker."""

    model_config = ConfigDict(extra="forbid")

    cash: Decimal = Field(default=Decimal(100000), ge=0, description="starting cash")


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _order(row: sqlite3.Row) -> Order:
    return Order(
        client_order_id=row["client_order_id"],
        broker_order_id=row["broker_order_id"],
        symbol=row["symbol"],
        side=row["side"],
        type=row["type"],
        quantity=Decimal(row["quantity"]),
        limit_price=_dec(row["limit_price"]),
        stop_price=_dec(row["stop_price"]),
        status=row["status"],
        filled_quantity=Decimal(row["filled_quantity"]),
        avg_fill_price=_dec(row["avg_fill_price"]),
    )


def _crosses(row: sqlite3.Row, price: Decimal) -> bool:
    """True when `price` triggers a resting limit or stop order."""
    buy = row["side"] == "buy"
    limit, stop = _dec(row["limit_price"]), _dec(row["stop_price"])
    if row["type"] == "limit" and limit is not None:
        return price <= limit if buy else price >= limit
    if row["type"] in ("stop", "stop_limit") and stop is not None:
        triggered = price >= stop if buy else price <= stop
        if row["type"] == "stop" or not triggered or limit is None:
            return triggered
        return price <= limit if buy else price >= limit
    return False


class PaperBroker:
    """Simulated broker account stored in SQLite tables `paper_*`."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        order_types=frozenset({"market", "limit", "stop", "stop_limit"}),
        time_in_force=frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"}),
        shorting=True,
        fractional=True,
        rejects_duplicate_client_order_id=True,
    )
    options_model: ClassVar[type[BaseModel]] = PaperOptions

    def __init__(self, options: PaperOptions | dict[str, Any], context: BrokerContext) -> None:
        self.options = options if isinstance(options, PaperOptions) else PaperOptions.model_validate(options)
        if context.store is None:
            raise ValueError("the paper broker needs the journal store")
        self.store: Store = context.store
        self.name = context.name

    async def connect(self) -> None:
        """Create the account row with the starting cash the first time."""
        await self.store.run(self._ensure_account)

    def _ensure_account(self) -> None:
        self.store.conn.execute(
            "INSERT OR IGNORE INTO paper_accounts (broker, cash) VALUES (?, ?)", (self.name, str(self.options.cash))
        )

    async def close(self) -> None:
        """Nothing to release: the book lives in the journal."""

    async def fetch_account(self) -> Account:
        """Cash, and equity valued at the last prices seen."""
        return await self.store.run(self._account)

    def _account(self) -> Account:
        conn = self.store.conn
        row = conn.execute("SELECT cash FROM paper_accounts WHERE broker = ?", (self.name,)).fetchone()
        cash = Decimal(row["cash"]) if row else self.options.cash
        equity = cash
        for pos in conn.execute(
            "SELECT p.quantity, p.avg_price, q.price FROM paper_positions p LEFT JOIN paper_prices q "
            "ON q.broker = p.broker AND q.symbol = p.symbol WHERE p.broker = ?",
            (self.name,),
        ):
            mark = _dec(pos["price"]) or _dec(pos["avg_price"]) or Decimal(0)
            equity += Decimal(pos["quantity"]) * mark
        return Account(cash=cash, equity=equity, buying_power=max(equity, Decimal(0)))

    async def fetch_positions(self) -> list[Position]:
        """Every non-zero position."""
        return await self.store.run(self._positions)

    def _positions(self) -> list[Position]:
        rows = self.store.conn.execute(
            "SELECT symbol, quantity, avg_price FROM paper_positions WHERE broker = ? ORDER BY symbol", (self.name,)
        )
        positions = [Position(r["symbol"], Decimal(r["quantity"]), _dec(r["avg_price"])) for r in rows]
        return [p for p in positions if p.quantity != 0]

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Resting orders, optionally for one symbol."""
        return await self.store.run(self._open_orders, symbol)

    def _open_orders(self, symbol: str | None) -> list[Order]:
        sql = "SELECT * FROM paper_orders WHERE broker = ? AND status IN ('open', 'partially_filled')"
        args: tuple[str, ...] = (self.name,)
        if symbol is not None:
            sql, args = sql + " AND symbol = ?", (*args, symbol)
        return [_order(r) for r in self.store.conn.execute(sql + " ORDER BY created_at", args)]

    async def fetch_order(self, client_order_id: str) -> Order:
        """One order by client order id."""
        return await self.store.run(self._fetch, client_order_id)

    def _fetch(self, client_order_id: str) -> Order:
        row = self.store.conn.execute(
            "SELECT * FROM paper_orders WHERE broker = ? AND client_order_id = ?", (self.name, client_order_id)
        ).fetchone()
        if row is None:
            raise OrderNotFound(f"paper broker {self.name!r} has no order {client_order_id}")
        return _order(row)

    async def create_order(self, request: OrderRequest) -> Order:
        """Record the order and fill it at once when it is marketable."""
        return await self.store.run(self._create, request)

    def _create(self, request: OrderRequest) -> Order:
        if request.quantity <= 0:
            raise OrderRejected(f"quantity must be positive, got {request.quantity}")
        conn = self.store.conn
        now = iso(utcnow())
        with transaction(conn):
            try:
                conn.execute(
                    "INSERT INTO paper_orders (broker, client_order_id, broker_order_id, symbol, side, type, quantity,"
                    " limit_price, stop_price, time_in_force, status, filled_quantity, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', '0', ?, ?)",
                    (self.name, request.client_order_id, f"paper-{uuid.uuid4().hex[:16]}", request.symbol,
                     request.side, request.type, str(request.quantity), _text(request.limit_price),
                     _text(request.stop_price), request.time_in_force, now, now),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                raise DuplicateClientOrderId(f"client order id {request.client_order_id} already used") from None
            if request.reference_price is not None:
                self._see_price(request.symbol, request.reference_price, now)
            row = self._row(request.client_order_id)
            if request.type == "market":
                self._fill(row, self._last_price(request.symbol), now)
            else:
                price = self._last_price(request.symbol)
                if price is not None and _crosses(row, price):
                    self._fill(row, price if request.type != "limit" else _dec(row["limit_price"]), now)
        return self._fetch(request.client_order_id)

    def _row(self, client_order_id: str) -> sqlite3.Row:
        row: sqlite3.Row = self.store.conn.execute(
            "SELECT * FROM paper_orders WHERE broker = ? AND client_order_id = ?", (self.name, client_order_id)
        ).fetchone()
        return row

    def _last_price(self, symbol: str) -> Decimal | None:
        row = self.store.conn.execute(
            "SELECT price FROM paper_prices WHERE broker = ? AND symbol = ?", (self.name, symbol)
        ).fetchone()
        return Decimal(row["price"]) if row else None

    def _see_price(self, symbol: str, price: Decimal, now: str) -> None:
        """Remember the price and fill resting orders it crosses."""
        conn = self.store.conn
        conn.execute(
            "INSERT INTO paper_prices (broker, symbol, price, seen_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (broker, symbol) DO UPDATE SET price = excluded.price, seen_at = excluded.seen_at",
            (self.name, symbol, str(price), now),
        )
        resting = conn.execute(
            "SELECT * FROM paper_orders WHERE broker = ? AND symbol = ? AND status = 'open' AND type != 'market' "
            "ORDER BY created_at",
            (self.name, symbol),
        ).fetchall()
        for row in resting:
            if _crosses(row, price):
                fill_at = _dec(row["limit_price"]) if row["type"] == "limit" else price
                self._fill(row, fill_at, now)

    async def observe_price(self, symbol: str, price: Decimal) -> None:
        """Feed a market price (from a signal or a quote source) into the simulation."""

        def run() -> None:
            with transaction(self.store.conn):
                self._see_price(symbol, price, iso(utcnow()))

        await self.store.run(run)

    def _fill(self, row: sqlite3.Row, price: Decimal | None, now: str) -> None:
        conn = self.store.conn
        qty = Decimal(row["quantity"])
        signed = qty if row["side"] == "buy" else -qty
        conn.execute(
            "UPDATE paper_orders SET status = 'filled', filled_quantity = ?, avg_fill_price = ?, updated_at = ? "
            "WHERE broker = ? AND client_order_id = ?",
            (str(qty), _text(price), now, self.name, row["client_order_id"]),
        )
        conn.execute(
            "INSERT INTO paper_fills (broker, client_order_id, symbol, side, quantity, price, filled_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.name, row["client_order_id"], row["symbol"], row["side"], str(qty), _text(price), now),
        )
        pos = conn.execute(
            "SELECT quantity, avg_price FROM paper_positions WHERE broker = ? AND symbol = ?",
            (self.name, row["symbol"]),
        ).fetchone()
        old = Decimal(pos["quantity"]) if pos else Decimal(0)
        old_avg = _dec(pos["avg_price"]) if pos else None
        new = old + signed
        conn.execute(
            "INSERT INTO paper_positions (broker, symbol, quantity, avg_price) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (broker, symbol) DO UPDATE SET quantity = excluded.quantity, avg_price = excluded.avg_price",
            (self.name, row["symbol"], str(new), _text(_average(old, old_avg, signed, price, new))),
        )
        if price is not None:
            conn.execute(
                "UPDATE paper_accounts SET cash = CAST(? AS TEXT) WHERE broker = ?",
                (str(self._cash() - signed * price), self.name),
            )

    def _cash(self) -> Decimal:
        row = self.store.conn.execute("SELECT cash FROM paper_accounts WHERE broker = ?", (self.name,)).fetchone()
        return Decimal(row["cash"]) if row else self.options.cash

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel a resting order; a filled or canceled one is returned as it is."""

        def run() -> Order:
            with transaction(self.store.conn):
                self.store.conn.execute(
                    "UPDATE paper_orders SET status = 'canceled', updated_at = ? WHERE broker = ? AND "
                    "client_order_id = ? AND status IN ('open', 'partially_filled')",
                    (iso(utcnow()), self.name, client_order_id),
                )
            return self._fetch(client_order_id)

        return await self.store.run(run)


def _average(
    old: Decimal, old_avg: Decimal | None, signed: Decimal, price: Decimal | None, new: Decimal
) -> Decimal | None:
    """Average entry price after a fill: weighted when adding, kept when reducing, reset when flipping."""
    if new == 0:
        return None
    if old == 0 or (old > 0) != (new > 0):
        return price
    if (old > 0) == (signed > 0):
        if old_avg is None or price is None:
            return None
        return (old * old_avg + signed * price) / new
    return old_avg
