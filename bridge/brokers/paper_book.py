"""The paper broker's book in memory: the read path, kept in step with every write of it to the journal.

Positions, the cash, the last prices and the symbols that may hold working orders, of one broker name on one
journal connection, loaded once from the journal and shared by every instance of that broker (a reload's too).
The journal stays the record: each change here is made beside the statement that writes it, and a change made inside a
journal transaction is pending (`bridge.store.pending`) until that transaction commits, so what a reader outside
it sees is what the journal has committed, and a rollback leaves the memory as the journal is.
"""

from __future__ import annotations

import sqlite3
import weakref
from decimal import Decimal
from typing import Any

from bridge.store.pending import pending_of

Held = tuple[Decimal, Decimal | None]  # a position: signed quantity, average price
_UNSET: Any = object()
_books: weakref.WeakKeyDictionary[Any, dict[str, Book]] = weakref.WeakKeyDictionary()


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _valued(held: Held, price: Decimal | None) -> Decimal:
    """A position's value at `price`, else at its average price, else 0 (as the buying-power bound counts it)."""
    return held[0] * (price or held[1] or 0)


def book_of(conn: sqlite3.Connection, name: str) -> Book:
    """The book of broker `name` on the journal's writer connection `conn`, the same for every instance of it."""
    books = _books.setdefault(conn, {})
    book = books.get(name)
    if book is None:
        book = books[name] = Book(name)
    return book


class Book:
    """Committed state, and the pending changes of the journal transaction open on the writer (see the module)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loaded = False
        self.positions: dict[str, Held] = {}
        self.prices: dict[str, Decimal] = {}
        self.cash: Decimal | None = None  # None: no account row yet (the `cash` option stands)
        # Symbols that may hold a working order: never fewer than do (a superset), so a symbol not in it surely
        # holds none and its queries are skipped. A committed read that finds none takes it out (`settle`).
        self.working: set[str] = set()
        # The committed short positions, by symbol, each with its value at the committed price (else its average
        # price): the buying-power bound sums the shorts' value on every order, and an account holds many
        # positions, most of them long or flat. Kept as each position or price commits, so the sum needs no
        # Python loop over them (`shorts_value`).
        self.shorts: dict[str, Decimal] = {}
        self._positions: dict[str, Held] = {}
        self._prices: dict[str, Decimal] = {}
        self._cash: Decimal | None = _UNSET
        self._working: set[str] = set()

    def load(self, conn: sqlite3.Connection) -> None:
        """Read the book from the journal, once: before any change of it, so `conn` shows its committed state."""
        if self.loaded:
            return
        args = (self.name,)
        self.positions = {
            r[0]: (Decimal(r[1]), _dec(r[2]))
            for r in conn.execute("SELECT symbol, quantity, avg_price FROM paper_positions WHERE broker = ?", args)
        }
        self.prices = {
            r[0]: Decimal(r[1]) for r in conn.execute("SELECT symbol, price FROM paper_prices WHERE broker = ?", args)
        }
        self.shorts = {}
        for symbol, held in self.positions.items():
            self._short(symbol, held)
        row = conn.execute("SELECT cash FROM paper_accounts WHERE broker = ?", args).fetchone()
        self.cash = None if row is None else Decimal(row[0])
        self.working = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT symbol FROM paper_orders INDEXED BY paper_orders_working WHERE broker = ? "
                "AND status IN ('open', 'partially_filled', 'held')",
                args,
            )
        }
        self.loaded = True

    # --- reads: `mine` is True for the writer inside its transaction, which sees its own pending changes ---

    def position(self, symbol: str, mine: bool) -> Held | None:
        """The row of `symbol` (even flat), or None when it has none."""
        if mine and symbol in self._positions:
            return self._positions[symbol]
        return self.positions.get(symbol)

    def all_positions(self, mine: bool) -> dict[str, Held]:
        """Every position row, by symbol."""
        return {**self.positions, **self._positions} if mine and self._positions else self.positions

    def shorts_value(self, mine: bool) -> Decimal:
        """The short positions' value (negative), each at its last price, else its average price (0: neither)."""
        if not (mine and (self._positions or self._prices)):
            return sum(self.shorts.values(), Decimal(0))
        values = self.shorts.copy()  # the open transaction's changes over the committed values, symbol by symbol
        for symbol in self._positions.keys() | self._prices.keys():
            held = self.position(symbol, True)
            if held is not None and held[0] < 0:
                values[symbol] = _valued(held, self.price(symbol, True))
            else:
                values.pop(symbol, None)
        return sum(values.values(), Decimal(0))

    def short_positions(self, mine: bool) -> dict[str, Held]:
        """Every short position, by symbol: `all_positions` less the long and flat ones, without going through them."""
        shorts = {symbol: self.positions[symbol] for symbol in self.shorts}  # committed, in the book's order
        if mine and self._positions:
            for symbol, held in self._positions.items():
                if held[0] < 0:
                    shorts[symbol] = held
                else:
                    shorts.pop(symbol, None)
        return shorts

    def price(self, symbol: str, mine: bool) -> Decimal | None:
        """The last price seen for `symbol`, if any."""
        if mine and symbol in self._prices:
            return self._prices[symbol]
        return self.prices.get(symbol)

    def pending_price(self, symbol: str) -> Decimal | None:
        """The price written for `symbol` in the open transaction, if any."""
        return self._prices.get(symbol)

    def all_prices(self, mine: bool) -> dict[str, Decimal]:
        """Every last price, by symbol."""
        return {**self.prices, **self._prices} if mine and self._prices else self.prices

    def account_cash(self, mine: bool) -> Decimal | None:
        """The account row's cash, None when there is none yet."""
        if mine and self._cash is not _UNSET:
            cash: Decimal | None = self._cash
            return cash
        return self.cash

    def may_work(self, symbol: str, mine: bool) -> bool:
        """Whether `symbol` may hold a working order (False: it surely holds none)."""
        return symbol in self.working or (mine and symbol in self._working)

    def any_working(self, mine: bool) -> bool:
        """Whether any symbol may hold a working order."""
        return bool(self.working) or (mine and bool(self._working))

    def booked(self, symbol: str, mine: bool) -> bool:
        """Whether `symbol` has a position or a price row, in these very letters."""
        return self.position(symbol, mine) is not None or self.price(symbol, mine) is not None

    # --- changes, made beside the statement that writes each to `conn` ---

    def set_position(self, conn: sqlite3.Connection, symbol: str, held: Held) -> None:
        """A position row written."""
        if self._change(conn, self.positions, self._positions, symbol, held):
            self._short(symbol, held)

    def set_price(self, conn: sqlite3.Connection, symbol: str, price: Decimal) -> None:
        """A price row written."""
        if self._change(conn, self.prices, self._prices, symbol, price) and symbol in self.shorts:
            self.shorts[symbol] = _valued(self.positions[symbol], price)

    def set_cash(self, conn: sqlite3.Connection, cash: Decimal) -> None:
        """The account row written."""
        pending = pending_of(conn)
        if pending is None or not conn.in_transaction:
            self.cash = cash
            return
        before = self._cash

        def undo() -> None:
            self._cash = before

        pending.record(self, undo)
        self._cash = cash

    def add_working(self, conn: sqlite3.Connection, symbol: str) -> None:
        """A working order written for `symbol`."""
        pending = pending_of(conn)
        if pending is None or not conn.in_transaction:
            self.working.add(symbol)
            return
        if symbol in self._working:
            return
        pending.record(self, lambda: self._working.discard(symbol))
        self._working.add(symbol)

    def settle(self, symbol: str) -> None:
        """A committed read found no working order for `symbol`: it leaves the set, unless the open transaction
        placed one (its commit puts it back)."""
        if symbol not in self._working:
            self.working.discard(symbol)

    def _change(self, conn: sqlite3.Connection, committed: dict[str, Any], pending_layer: dict[str, Any],
                key: str, value: object) -> bool:  # fmt: skip
        """Change `key` to `value`: committed at once outside a journal transaction (True), else pending (False)."""
        pending = pending_of(conn)
        if pending is None or not conn.in_transaction:
            committed[key] = value
            return True
        before = pending_layer.get(key, _UNSET)

        def undo() -> None:
            if before is _UNSET:
                pending_layer.pop(key, None)
            else:
                pending_layer[key] = before

        pending.record(self, undo)
        pending_layer[key] = value
        return False

    def _short(self, symbol: str, held: Held) -> None:
        """`symbol`'s committed position is now `held`: among the shorts, valued at the committed price, or not."""
        if held[0] < 0:
            self.shorts[symbol] = _valued(held, self.prices.get(symbol))
        else:
            self.shorts.pop(symbol, None)

    # --- the transaction's end (`bridge.store.pending.Owner`) ---

    def merge(self) -> None:
        """The transaction committed: its changes are the book's."""
        self.prices.update(self._prices)  # first: a short is valued at the price committed with it
        self.positions.update(self._positions)
        for symbol, held in self._positions.items():
            self._short(symbol, held)
        for symbol in self._prices.keys() - self._positions.keys():
            if symbol in self.shorts:
                self.shorts[symbol] = _valued(self.positions[symbol], self.prices[symbol])
        if self._cash is not _UNSET:
            self.cash = self._cash
        self.working |= self._working
        self.drop()

    def drop(self) -> None:
        """The transaction rolled back: its changes are forgotten."""
        self._positions, self._prices, self._cash, self._working = {}, {}, _UNSET, set()
