"""The built-in paper broker: an adapter like any other, keeping its book in the journal database.

Market orders fill at once at the best price known (the order's reference price from the signal,
else the last price seen for the symbol); with no price at all the fill price is recorded as
unknown rather than invented. A limit marketable on arrival fills at that price too, not at its
limit, as at a venue. Limit, stop, stop-limit and trailing-stop orders rest until a known price
(from a later signal or `observe_price`) crosses them; a resting limit fills at its limit. Bracket
children wait until their entry fills, then rest as one-cancels-other, in force as long as a day or gtc
entry says (`bridge.models.leg_time_in_force`). Day orders expire at the
session close, and so do opg and cls orders (there is no auction: they work as day orders); an IOC
or FOK order that does not fill on arrival is canceled at once. The account has no margin: an order
that would open more than the equity that positions and working orders leave is refused, as a venue
refuses one beyond the buying power, instead of driving the cash negative. Every create is
idempotent by client order id, as a careful venue would be. A symbol is one instrument whatever the case of
its letters (`amd` is AMD), as at a venue. The executor books its orders in the
transaction that commits their plan (`create_order_in_journal`): the book never holds an order whose
plan a crash lost, nor the journal an order the book lost. Positions, cash, last prices and which symbols
may have working orders are read from memory (`paper_book`), loaded from the journal once and changed beside
each statement that writes them, in the same transactions as ever: the journal holds what it always did,
and a restart reads the same book from it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import sqlite3
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime, time
from decimal import Decimal
from time import monotonic
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bridge.brokers import paper_rules as rules
from bridge.brokers.base import BrokerContext, Capabilities
from bridge.brokers.paper_book import Book, book_of
from bridge.config.timing import LocalTime, TimeZoneName
from bridge.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected
from bridge.models import Account, BracketLeg, Order, OrderRequest, Position, leg_time_in_force
from bridge.store.db import Store, iso, transaction, utcnow

RESTING = ("open", "partially_filled")
EXPIRY_RECHECK = 1.0  # seconds: how late, at worst, a day order placed by another instance (a reload's) expires
IMMEDIATE = ("ioc", "fok")  # time in force of orders that fill on arrival or not at all
# Time in force of orders that end with the session. An opg (cls) order takes part in one opening (closing)
# auction only; the book runs no auctions, so it works as a day order, which at least ends it at the close.
SESSION = ("day", "opg", "cls")
T = TypeVar("T")
STATUS = {"held": "submitted"}  # children waiting for their entry are accepted but not yet working
# The random part of broker order ids: unique, not secret, as `bridge.ids` makes its ids (seeded once per process).
_random = random.Random(secrets.randbits(256))  # noqa: S311 - uniqueness, not secrecy


class PaperOptions(BaseModel):
    """Options of the paper broker."""

    model_config = ConfigDict(extra="forbid")

    cash: Decimal = Field(
        default=Decimal(100000), ge=0, description="starting cash; no margin: orders beyond the equity are refused"
    )
    unlimited_buying_power: bool = Field(
        default=False,
        description="true: no buying-power check, cash may go negative (bridge replay's stand-ins for live brokers)",
    )
    # The flatten_at types: an unquoted 16:00 (YAML's 960) or an offset is refused, not read as 00:16 or dropped,
    # and a zone is checked when the config loads rather than failing every day order as it is placed.
    session_close: LocalTime = Field(
        default=time(16, 0), description='when day (and opg, cls) orders expire, local time in quotes ("16:00")'
    )
    timezone: TimeZoneName = Field(default="America/New_York", description="IANA time zone of session_close")


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _broker_order_id() -> str:
    """`paper-` and the last 17 characters of a `bridge.ids.new_id`: its variant bits and 62 random ones.

    Those were all it kept of a whole time-ordered id, made under a lock and formatted for this alone.
    """
    text = f"{_random.getrandbits(62) | 1 << 63:016x}"  # 1 << 63: the variant's 10, as in the id's 17th digit
    return f"paper-{text[:4]}-{text[4:]}"


def _order(row: sqlite3.Row) -> Order:
    return Order(
        client_order_id=row["client_order_id"], broker_order_id=row["broker_order_id"], symbol=row["symbol"],
        side=row["side"], type=row["type"], quantity=Decimal(row["quantity"]), limit_price=_dec(row["limit_price"]),
        stop_price=_dec(row["stop_price"]), status=STATUS.get(row["status"], row["status"]),
        filled_quantity=Decimal(row["filled_quantity"]), avg_fill_price=_dec(row["avg_fill_price"]),
        parent_client_order_id=row["parent_client_order_id"],
    )  # fmt: skip


def _filled(request: OrderRequest, quantity: Decimal, broker_order_id: str, price: Decimal | None) -> Order:
    """A market order filled in full (`quantity`: what was booked of it) on its creation, as `_order` reads it."""
    return Order(
        client_order_id=request.client_order_id, broker_order_id=broker_order_id, symbol=request.symbol,
        side=request.side, type=request.type, quantity=quantity, limit_price=request.limit_price,
        stop_price=request.stop_price, status="filled", filled_quantity=quantity, avg_fill_price=price,
    )  # fmt: skip


class PaperBroker:
    """Simulated broker account stored in SQLite tables `paper_*`."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        order_types=frozenset({"market", "limit", "stop", "stop_limit", "trailing_stop"}),
        time_in_force=frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"}),
        shorting=True,
        fractional=True,
        brackets=True,
        extended_hours=True,
        rejects_duplicate_client_order_id=True,
        quotes=True,
        reduce_only=True,  # its book fills a reduce-only order for no more than the position, and refuses it at none
        local=True,
    )
    options_model: ClassVar[type[BaseModel]] = PaperOptions

    def __init__(self, options: PaperOptions | dict[str, Any], context: BrokerContext) -> None:
        self.options = options if isinstance(options, PaperOptions) else PaperOptions.model_validate(options)
        if context.store is None:
            raise ValueError("the paper broker needs the journal store")
        self.store: Store = context.store
        self.name = context.name
        self.clock = utcnow  # replaceable in tests
        # The earliest close of a working day order, so most calls skip the expiry query: a lower bound
        # (an insert lowers it; a rollback can only leave it too early), looked up again at least every
        # EXPIRY_RECHECK seconds, for the orders another instance (a reload's) placed meanwhile.
        self._earliest_expiry: str | None = None
        self._expiry_checked_at: float | None = None
        self._day_closes = rules.DayCloses(self.options.session_close, self.options.timezone)
        # The moments `_expires_at` last answered for, in UTC (from its first, until the close it answered), and
        # the close's text: every order placed in between expires at that close.
        self._close_window: tuple[datetime, datetime, str] | None = None
        # The book's positions, cash, prices and symbols with working orders, read from memory and written through
        # to the journal beside it (`paper_book`): shared with every instance of this broker name on this journal
        # connection, and read again from the journal by a connection opened anew (`_ledger`).
        self._memory: Book | None = None
        self._memory_of: sqlite3.Connection | None = None
        # Prices queued by `observe_price` without waiting for their commit, not yet committed (or failed): while
        # any is, a read of what prices value (the account, a quote) is queued behind them rather than answered
        # before them. One the journal failed stops counting: reads then see the price committed before it.
        self._unwritten_prices = 0

    # --- reads -------------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Nothing to write: the account row is made by its first fill, until then its cash is the `cash` option.

        Connecting is reading: `bridge positions` connects every broker, and must not write the journal beside
        the daemon, nor pin a starting cash the user is about to change before trading.
        """

    async def close(self) -> None:
        """Nothing to release: the book lives in the journal."""

    async def fetch_account(self) -> Account:
        """Cash, equity valued at the last prices seen, and the buying power left."""
        return await self._read_priced(self._account)

    async def _read_priced(self, fn: Callable[[], T]) -> T:
        """`fn` as a read that sees every price fed before it (`observe_price`, which does not wait for its write).

        A read is answered ahead of the writes queued before it: the executor feeds a signal's price, then sizes
        percent_of_equity on the account, which valued the position at the price before. Only while a price is
        still unwritten is the read queued in order behind it, and so waits for its commit.
        """
        if self._unwritten_prices:
            return await self.store.run(fn)
        return await self.store.read(fn)

    def _account(self, committed: Decimal | None = None) -> Account:
        """The account; buying power is the equity not yet held by positions or by working orders.

        A cash account without margin: every position, long or short, holds its value at the last price
        seen, and each working order what it would open (`_committed`, passed in when already known).
        """
        book, mine = self._ledger()
        cash = self._cash()
        equity, exposure = cash, Decimal(0)
        prices = book.all_prices(mine)
        for symbol, (quantity, avg_price) in book.all_positions(mine).items():
            mark = prices.get(symbol) or avg_price or Decimal(0)
            equity += quantity * mark
            exposure += abs(quantity) * mark
        held = self._committed()[0] if committed is None else committed
        return Account(cash=cash, equity=equity, buying_power=max(equity - exposure - held, Decimal(0)))

    def _committed(self) -> tuple[Decimal, dict[tuple[str, str], Decimal]]:
        """What working orders hold: the value of what they would open, and what they close of each (symbol, side).

        Bracket children and reduce-only orders only ever close (see `_fill`), so they hold nothing.
        """
        held: dict[str, Decimal] = {}
        closed: dict[tuple[str, str], Decimal] = {}
        committed = Decimal(0)
        book, mine = self._ledger()
        if not book.any_working(mine):
            return committed, closed  # surely no working order: nothing to read
        for row in self.store.conn.execute(
            # By the partial index of working orders (its status list): left to choose, SQLite took the index on
            # (broker, parent) and read every order ever placed, on each order's buying-power check. Expired
            # day orders hold nothing.
            "SELECT symbol, side, type, quantity, filled_quantity, limit_price, stop_price, reduce_only "
            "FROM paper_orders INDEXED BY paper_orders_working "
            "WHERE broker = ? AND status IN ('open', 'partially_filled', 'held') AND parent_client_order_id IS NULL "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at",
            (self.name, iso(self.clock())),
        ).fetchall():
            symbol, side = row["symbol"], row["side"]
            if symbol not in held:
                held[symbol] = self._held(symbol)
            left = Decimal(row["quantity"]) - Decimal(row["filled_quantity"])
            before = closed.get((symbol, side), Decimal(0))
            opens = rules.opening(held[symbol], side, left, before)
            closed[(symbol, side)] = before + left - opens
            if row["reduce_only"]:
                continue  # it closes what it can and cancels: it never opens, whatever else works beside it
            price = rules.cost_price(side, row["type"], _dec(row["limit_price"]), _dec(row["stop_price"]),
                                     self._last_price(symbol))  # fmt: skip
            committed += opens * (price or Decimal(0))
        return committed, closed

    def _check_buying_power(self, request: OrderRequest) -> None:
        """Refuse, before anything is written, an order whose opening part costs more than the buying power left.

        Only what opens or adds to a position counts, at the most it may fill at. With no price known at all
        nothing can be counted (and such a fill moves no cash: its price is recorded as unknown).
        """
        if self.options.unlimited_buying_power or request.reduce_only or self._clearly_affordable(request):
            return  # a reduce-only order (an exit, a breakeven stop) never opens anything: it costs nothing
        committed, closed = self._committed()
        symbol, side = request.symbol, request.side
        opens = rules.opening(self._held(symbol), side, request.quantity, closed.get((symbol, side), Decimal(0)))
        known = request.reference_price if request.reference_price is not None else self._last_price(symbol)
        stop = request.stop_price
        if request.type == "trailing_stop" and known is not None:  # a buy's fills once the price rose by its trail
            stop = rules.trail_stop(side, known, request.trail_amount, request.trail_percent)
        price = rules.cost_price(side, request.type, request.limit_price, stop, known)
        if opens <= 0 or price is None:
            return
        account = self._account(committed)
        if opens * price <= account.buying_power:
            return
        if self._row(request.client_order_id) is not None:  # a resend of an order the book holds: say so, as ever
            raise DuplicateClientOrderId(f"client order id {request.client_order_id} already used")
        raise OrderRejected(
            f"insufficient buying power: the {side} of {opens:f} {symbol} at {price:f} costs {opens * price:.2f}, "
            f"and paper account {self.name!r} has {account.buying_power:.2f} left (equity {account.equity:.2f}, "
            "no margin); trade smaller, or close positions or cancel working orders first"
        )

    def _clearly_affordable(self, request: OrderRequest) -> bool:
        """Whether the whole order fits, at its highest price, in the least the buying power can be: one statement.

        Every paper order on the webhook path is checked, and the exact sums in decimals (`_committed`,
        `_account`) cost a Python loop over every position and working order. Equity less exposure is the cash
        less twice the shorts' value, and no working order can hold more than all of it at its highest price,
        so SQLite's float sums bound the buying power from below; near that bound the exact sums decide.
        """
        prices = [p for p in (request.limit_price, request.stop_price, request.reference_price) if p is not None]
        if not prices or request.type == "trailing_stop":
            return False  # its price is the last one seen, or a buy's its trail above: the exact path counts it
        book, mine = self._ledger()
        if book.any_working(mine):
            cash, shorts, working, last = self._bounds(request)
        else:  # from memory: the same sums, without working orders (there surely are none)
            cash, working, last = book.account_cash(mine), 0.0, book.price(request.symbol, mine)
            # Summed in decimals, made a float once below: a float of each Decimal costs as much as the sum. Each
            # short's value is kept in the book as it commits: no Python loop over them on every order.
            shorts = book.shorts_value(mine)
        if request.reference_price is None and last is not None:
            # Without a signal price it meets the last one seen: a buy stop (a sell limit) far below it fills there.
            prices.append(Decimal(last))
        least = float(self.options.cash if cash is None else cash) + 2 * float(shorts) - float(working)  # shorts < 0
        return float(request.quantity * max(prices)) <= least - max(0.01, abs(least) * 1e-6)

    def _bounds(self, request: OrderRequest) -> Any:
        """(cash, the shorts' value, what working orders hold at most, the last price) as SQLite's float sums."""
        return self.store.conn.execute(
            "SELECT (SELECT cash FROM paper_accounts WHERE broker = :broker),"
            " (SELECT COALESCE(SUM(CAST(p.quantity AS REAL) * COALESCE(NULLIF(CAST(q.price AS REAL), 0),"
            "  NULLIF(CAST(p.avg_price AS REAL), 0), 0)), 0) FROM paper_positions p LEFT JOIN paper_prices q"
            "  ON q.broker = p.broker AND q.symbol = p.symbol WHERE p.broker = :broker AND p.quantity LIKE '-%'),"
            " (SELECT COALESCE(SUM((CAST(o.quantity AS REAL) - CAST(o.filled_quantity AS REAL)) * MAX("
            "  COALESCE(CAST(o.limit_price AS REAL), 0), COALESCE(CAST(o.stop_price AS REAL), 0),"
            "  COALESCE(CAST(q.price AS REAL), 0))), 0) FROM paper_orders o INDEXED BY paper_orders_working"
            "  LEFT JOIN paper_prices q ON q.broker = o.broker AND q.symbol = o.symbol WHERE o.broker = :broker"
            "  AND o.status IN ('open', 'partially_filled', 'held') AND o.parent_client_order_id IS NULL"
            "  AND (o.expires_at IS NULL OR o.expires_at > :now)),"
            " (SELECT price FROM paper_prices WHERE broker = :broker AND symbol = :symbol)",
            {"broker": self.name, "now": iso(self.clock()), "symbol": request.symbol},
        ).fetchone()

    async def fetch_positions(self) -> list[Position]:
        """Every non-zero position."""
        return await self.store.read(self._positions)

    def _positions(self) -> list[Position]:
        book, mine = self._ledger()
        held = book.all_positions(mine)
        return [Position(symbol, held[symbol][0], held[symbol][1]) for symbol in sorted(held) if held[symbol][0] != 0]

    async def fetch_position(self, symbol: str) -> Position | None:
        """The position in one symbol, if it is not flat (what the executor needs for one signal)."""
        return self.store.peek(self._position, symbol)

    def _position(self, conn: sqlite3.Connection, symbol: str) -> Position | None:
        book, mine = self._ledger(conn)
        held = book.position(self._instrument(conn, symbol), mine)
        return Position(symbol, held[0], held[1]) if held and held[0] != 0 else None

    async def fetch_quote(self, symbol: str) -> Decimal | None:
        """The last price seen for the symbol, if any."""
        return await self._read_priced(lambda: self._last_price(self._instrument(self.store.conn, symbol)))

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Working orders (bracket children waiting for their entry included), optionally for one symbol."""
        if self._expiry_due(self.clock()):  # canceling day orders is a write: the next batch does it
            return await self.store.read(self._open_orders, symbol)
        return self.store.peek(self._working, symbol)

    def _open_orders(self, symbol: str | None) -> list[Order]:
        self._expire_day_orders()
        return self._working(self.store.conn, symbol)

    def _working(self, conn: sqlite3.Connection, symbol: str | None) -> list[Order]:
        sql = "SELECT * FROM paper_orders WHERE broker = ? AND status IN ('open', 'partially_filled', 'held')"
        args: tuple[str, ...] = (self.name,)
        if symbol is None:
            return [_order(r) for r in conn.execute(sql + " ORDER BY created_at", args)]
        booked = self._instrument(conn, symbol)
        book, mine = self._ledger(conn)
        if not book.may_work(booked, mine):
            return []
        sql, args = sql + " AND symbol = ?", (*args, booked)
        orders = [replace(_order(r), symbol=symbol) for r in conn.execute(sql + " ORDER BY created_at", args)]
        if not orders and not mine:
            book.settle(booked)  # committed: none works there now, and only a later order's write adds one again
        return orders

    def _instrument(self, conn: sqlite3.Connection, symbol: str) -> str:
        """The book's letters for `symbol`: a venue reads `amd` as AMD, so the book keeps one instrument for both.

        The letters it was first booked in (a position, even flat, a price, a working order), else `symbol`;
        those of `symbol` itself first, should a book from before this rule hold it in two.
        """
        book, mine = self._ledger(conn)
        if book.booked(symbol, mine):  # nearly every symbol is asked for in the letters it was booked in
            return symbol
        args = {"broker": self.name, "symbol": symbol}
        if book.may_work(symbol, mine):
            working = conn.execute(
                "SELECT 1 FROM paper_orders INDEXED BY paper_orders_working WHERE broker = :broker AND symbol = :symbol"
                " AND status IN ('open', 'partially_filled', 'held') LIMIT 1",
                args,
            ).fetchone()
            if working:
                return symbol
        row = conn.execute(
            # COLLATE NOCASE cannot use the (broker, symbol) indexes past the broker: it reads the account's
            # positions, prices and working orders, one row per symbol traded, not its order history.
            "SELECT symbol FROM (SELECT symbol FROM paper_positions WHERE broker = :broker"
            " UNION ALL SELECT symbol FROM paper_prices WHERE broker = :broker"
            " UNION ALL SELECT symbol FROM paper_orders INDEXED BY paper_orders_working WHERE broker = :broker"
            " AND status IN ('open', 'partially_filled', 'held'))"
            " WHERE symbol = :symbol COLLATE NOCASE ORDER BY symbol LIMIT 1",
            args,
        ).fetchone()
        return symbol if row is None else str(row[0])

    async def fetch_order(self, client_order_id: str) -> Order:
        """One order by client order id."""
        return await self.store.read(self._fetch, client_order_id)

    def _fetch(self, client_order_id: str) -> Order:
        self._expire_day_orders()
        row = self._row(client_order_id)
        if row is None:
            raise OrderNotFound(f"paper broker {self.name!r} has no order {client_order_id}")
        return _order(row)

    def _row(self, client_order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.store.conn.execute(
            "SELECT * FROM paper_orders WHERE broker = ? AND client_order_id = ?", (self.name, client_order_id)
        ).fetchone()
        return row

    def _last_price(self, symbol: str) -> Decimal | None:
        book, mine = self._ledger()
        return book.price(symbol, mine)

    def _cash(self) -> Decimal:
        book, mine = self._ledger()
        cash = book.account_cash(mine)
        return self.options.cash if cash is None else cash

    def _ledger(self, conn: sqlite3.Connection | None = None) -> tuple[Book, bool]:
        """The book in memory, and whether `conn` (the writer by default) sees the open transaction's changes.

        The writer inside its transaction reads what that transaction wrote, as it would read the journal;
        any other reader (`peek`, a `read` job) what the journal has committed.
        """
        writer = self.store.conn
        conn = writer if conn is None else conn
        book = self._memory
        if book is None or self._memory_of is not writer:
            book = self._memory = book_of(writer, self.name)
            self._memory_of = writer
        if not book.loaded:
            book.load(conn)
        return book, conn is writer and conn.in_transaction

    # --- writes ------------------------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> Order:
        """Record the order (and its bracket children) and fill it at once when it is marketable."""
        return await self.store.run(self._create, request)

    @property
    def create_order_in_journal(self) -> Callable[[OrderRequest], Order] | None:
        """`create_order` for a caller already inside a journal job: the order joins that job's transaction.

        The book lives in the journal, so the executor places paper orders in the very transaction that
        commits their plan: the plan and the orders become durable together or not at all, and the
        orders need no commit of their own. None when `create_order` is not this class's own (a subclass,
        a mixin or a patch that puts a simulated venue in front of the book): then every order goes
        through that `create_order`, like any broker's.
        """
        own = type(self).create_order is _PAPER_CREATE_ORDER and "create_order" not in vars(self)
        return self._create if own else None

    def _create(self, request: OrderRequest) -> Order:
        """Book the order under the book's letters for its symbol, answered in the letters it was sent in."""
        asked = request.symbol
        booked = self._instrument(self.store.conn, asked)
        if booked == asked:  # nearly always: no copies
            return self._book(request)
        return replace(self._book(replace(request, symbol=booked)), symbol=asked)

    def _book(self, request: OrderRequest) -> Order:
        if request.quantity <= 0:
            raise OrderRejected(f"quantity must be positive, got {request.quantity}")
        if request.type == "trailing_stop" and request.trail_amount is None and request.trail_percent is None:
            raise OrderRejected("a trailing_stop order needs trail_amount or trail_percent")
        self._check_buying_power(request)
        now = self.clock()
        conn = self.store.conn
        if request.type == "market" and request.take_profit is None and request.stop_loss is None:
            return self._fill_at_once(conn, request, now)
        with transaction(conn):
            self._expire_day_orders()
            if request.reference_price is not None:
                self._remember_price(request.symbol, request.reference_price, now)
            price = request.reference_price if request.reference_price is not None else self._last_price(request.symbol)
            self._insert(request, request.side, request.quantity, None, "open", now)
            for child in (request.take_profit, request.stop_loss):
                if child is not None:
                    exit_side = "sell" if request.side == "buy" else "buy"
                    self._insert_child(child, request, exit_side, now)
            row = self._row(request.client_order_id)
            assert row is not None
            if request.type == "market":  # with bracket children, which start working with its fill
                self._fill(row, price, now)
            else:
                self._try_fill(row, price, now, arriving=True)
            if request.time_in_force in IMMEDIATE:
                self._cancel_unfilled(request.client_order_id, now)
            final = self._row(request.client_order_id)  # day orders were expired above, in this transaction
        assert final is not None
        return _order(final)

    def _fill_at_once(self, conn: sqlite3.Connection, request: OrderRequest, now: datetime) -> Order:
        """A market order without brackets: it fills at once and starts nothing, so it is written once, filled.

        Its first write is the order itself, which raises `DuplicateClientOrderId` before anything else is
        written, so inside a caller's transaction (the executor's plan job) it takes no savepoint of its own:
        any later failure fails that whole transaction, which takes this order's writes with it.
        """
        known = request.reference_price
        price = known if known is not None else self._last_price(request.symbol)
        quantity = request.quantity
        if request.reduce_only:  # as at a venue: it closes what is held, and is refused when nothing is
            quantity = min(quantity, self._closable(request.symbol, request.side))
            if quantity <= 0:
                if self._row(request.client_order_id) is not None:  # a resend of the exit that closed it: say so
                    raise DuplicateClientOrderId(f"client order id {request.client_order_id} already used")
                raise OrderRejected(f"reduce-only {request.side} of {request.symbol}: no position to close")
        stamp = iso(now)  # every row of the booking is stamped with its one moment: its text is made once
        with nullcontext() if conn.in_transaction else transaction(conn):
            broker_order_id = self._insert(request, request.side, quantity, None, "filled", now,
                                           avg_fill_price=price, stamp=stamp)  # fmt: skip
            self._expire_day_orders()
            if known is not None:
                self._remember_price(request.symbol, known, now, stamp)
            self._book_fill(request.client_order_id, request.symbol, request.side, quantity, price, now, stamp)
        return _filled(request, quantity, broker_order_id, price)

    def _insert(self, r: OrderRequest | BracketLeg, side: str, quantity: Decimal, parent: str | None, status: str,
                now: datetime, symbol: str | None = None, tif: str | None = None,
                avg_fill_price: Decimal | None = None, stamp: str | None = None) -> str:  # fmt: skip
        """Write a new order, and return its broker order id; `status="filled"` writes it filled in full.

        `stamp`: `iso(now)`, when the caller made it already."""
        tif = tif or str(getattr(r, "time_in_force", "gtc"))
        symbol = symbol or str(getattr(r, "symbol", ""))
        stamp = stamp or iso(now)
        expires = None
        if tif in SESSION:
            expires = self._expires_at(now)
            if status != "filled" and (self._earliest_expiry is None or expires < self._earliest_expiry):
                self._earliest_expiry = expires
        ref = self._last_price(symbol) if r.type == "trailing_stop" else None
        broker_order_id = _broker_order_id()
        filled = str(quantity) if status == "filled" else "0"
        try:
            self.store.conn.execute(
                "INSERT INTO paper_orders (broker, client_order_id, broker_order_id, symbol, side, type, quantity,"
                " limit_price, stop_price, time_in_force, status, filled_quantity, avg_fill_price, created_at,"
                " updated_at, trail_amount, trail_percent, trail_ref, extended_hours, parent_client_order_id,"
                " expires_at, reduce_only) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.name, r.client_order_id, broker_order_id, symbol, side, r.type, str(quantity),
                 _text(r.limit_price), _text(r.stop_price), tif, status, filled, _text(avg_fill_price), stamp,
                 stamp, _text(r.trail_amount), _text(r.trail_percent), _text(ref),
                 int(getattr(r, "extended_hours", False)), parent, expires, int(getattr(r, "reduce_only", False))),
            )  # fmt: skip
        except sqlite3.IntegrityError:
            raise DuplicateClientOrderId(f"client order id {r.client_order_id} already used") from None
        if status != "filled":
            self._ledger()[0].add_working(self.store.conn, symbol)
        return broker_order_id

    def _expires_at(self, now: datetime) -> str:
        """When a day order placed at `now` expires, as stored: the text of each session's close is made once.

        Made anew for each order, it also cost `iso` the text it keeps of the second it stamped last (`now`'s).
        Looked up in UTC: compared with the close in its session's time zone, each order's moment cost two
        `utcoffset` calls of that zone, more than the rest of its booking's Python. As `DayCloses.after`, a
        clock stepped back before the window works it out again.
        """
        window = self._close_window
        if window is not None and window[0] <= now < window[1]:
            return window[2]
        close = self._day_closes.after(now)
        self._close_window = (now, close.astimezone(UTC), iso(close))
        return self._close_window[2]

    def _insert_child(self, child: BracketLeg, parent: OrderRequest, side: str, now: datetime) -> None:
        self._insert(child, side, parent.quantity, parent.client_order_id, "held", now, parent.symbol,
                     leg_time_in_force(parent.time_in_force))  # fmt: skip

    def _remember_price(self, symbol: str, price: Decimal, now: datetime, stamp: str | None = None) -> None:
        conn = self.store.conn
        book, _ = self._ledger()
        if conn.in_transaction and book.pending_price(symbol) == price:
            # This very transaction wrote this price already (the signal's, fed, then again with each of its
            # orders): written again it would only move seen_at by the microseconds between, in the same commit.
            return
        conn.execute(
            "INSERT INTO paper_prices (broker, symbol, price, seen_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (broker, symbol) DO UPDATE SET price = excluded.price, seen_at = excluded.seen_at",
            (self.name, symbol, str(price), stamp or iso(now)),
        )
        book.set_price(conn, symbol, price)

    def _see_price(self, symbol: str, price: Decimal, now: datetime) -> None:
        """Remember the price, move trailing stops, and fill resting orders it crosses."""
        book, mine = self._ledger()
        resting: list[sqlite3.Row] = []
        if book.may_work(symbol, mine):  # else surely none: every signal with a price passes here
            resting = self.store.conn.execute(
                # The status list matches the partial index paper_orders_working: only working orders are read.
                "SELECT * FROM paper_orders WHERE broker = ? AND symbol = ? AND status IN ('open', "
                "'partially_filled', 'held') AND type != 'market' ORDER BY created_at",
                (self.name, symbol),
            ).fetchall()
        # The symbol's first price is the first the orders resting on it meet: placed with none known, they
        # meet the market as on arrival (a sell limit at 0.01 sells at 100, not at 0.01). Looked up only when
        # some order rests: every signal with a price passes here.
        first = bool(resting) and self._last_price(symbol) is None
        self._remember_price(symbol, price, now)
        for row in resting:
            if row["status"] != "open":
                continue
            current = self._row(row["client_order_id"])  # an earlier fill may have canceled its sibling
            if current is not None and current["status"] == "open":
                self._try_fill(current, price, now, arriving=first)

    def _try_fill(self, row: sqlite3.Row, price: Decimal | None, now: datetime, arriving: bool = False) -> None:
        """Fill the order if `price` makes it executable; `arriving`: it was just placed, so it meets the market."""
        if price is None:
            return
        stop = _dec(row["stop_price"])
        if row["type"] == "trailing_stop":
            ref = rules.next_trail_ref(row["side"], _dec(row["trail_ref"]), price)
            stop = rules.trail_stop(row["side"], ref, _dec(row["trail_amount"]), _dec(row["trail_percent"]))
            self.store.conn.execute(
                "UPDATE paper_orders SET trail_ref = ?, stop_price = ? WHERE broker = ? AND client_order_id = ?",
                (str(ref), str(stop), self.name, row["client_order_id"]),
            )
        limit = _dec(row["limit_price"])
        kind = row["type"]
        if kind == "stop_limit" and row["trail_ref"] is not None:
            kind = "limit"  # triggered earlier (trail_ref holds the price that did): it works as a resting limit
        if rules.triggers(kind, row["side"], price, limit, stop):
            self._fill(row, rules.fill_price(kind, row["side"], price, limit, arriving), now)
        elif kind == "stop_limit" and rules.triggers("stop", row["side"], price, None, stop):
            # Triggered but not marketable at its limit: from now on it works as a resting limit, as at a venue,
            # and stays a stop_limit to whoever reads it (a cancel signal's cancelOrderType: stop_limit finds it).
            self.store.conn.execute(
                "UPDATE paper_orders SET trail_ref = ?, updated_at = ? WHERE broker = ? AND client_order_id = ?",
                (str(price), iso(now), self.name, row["client_order_id"]),
            )

    async def observe_price(self, symbol: str, price: Decimal) -> None:
        """Feed a market price (from a signal or a quote source) into the simulation."""

        def run() -> None:
            with transaction(self.store.conn):
                self._expire_day_orders()
                self._see_price(self._instrument(self.store.conn, symbol), price, self.clock())

        if self._expiry_due(self.clock()) or self.store.peek(self._rests, symbol):
            await self.store.run(run)  # it may fill or cancel orders: what the caller reads next must see that
        else:
            # Only the price changes: no need to wait for its commit. Writes queued after it (an order
            # that needs the price) run after it; an order resting in a batch not yet committed is still
            # checked against the price when this runs. Reads of the account and quotes wait for it until it is
            # committed (or failed), not only until it ran: a batch that SQLITE_FULL aborted runs it again, and
            # counted down as it ran, it was counted twice and a read went ahead of the price written again.
            self.store.later(run).add_done_callback(self._price_written)
            self._unwritten_prices += 1  # before the callback above can run: on a later turn of the loop

    def _price_written(self, _done: asyncio.Future[Any]) -> None:
        self._unwritten_prices -= 1

    def _rests(self, conn: sqlite3.Connection, symbol: str) -> bool:
        """Whether an order rests on `symbol` that a price could fill (or make trail), as committed."""
        booked = self._instrument(conn, symbol)
        book, mine = self._ledger(conn)
        if not book.may_work(booked, mine):
            return False
        row = conn.execute(
            # The status list matches the partial index paper_orders_working, as in _see_price.
            "SELECT 1 FROM paper_orders WHERE broker = ? AND symbol = ? AND status IN ('open', 'partially_filled', "
            "'held') AND type != 'market' LIMIT 1",
            (self.name, booked),
        ).fetchone()
        return row is not None

    def _fill(self, row: sqlite3.Row, price: Decimal | None, now: datetime) -> None:
        """Fill a resting order (or a bracket's entry) at `price`: its book entry, then its bracket."""
        conn = self.store.conn
        qty = Decimal(row["quantity"])
        if row["parent_client_order_id"] or row["reduce_only"]:
            # A bracket leg only ever closes, as at a venue that holds the position for it, and so does a
            # reduce-only order (an exit, a breakeven stop): it never outgrows the position left (after a
            # partial exit), and once another order closed that (the take-profit), it cancels.
            qty = min(qty, self._closable(row["symbol"], row["side"]))
            if qty <= 0:
                if row["parent_client_order_id"]:
                    self._cancel_where("parent_client_order_id = ? AND status IN ('open', 'held')",
                                       (row["parent_client_order_id"],), now)  # fmt: skip
                self._cancel_where("client_order_id = ?", (row["client_order_id"],), now)
                return
            conn.execute("UPDATE paper_orders SET quantity = ? WHERE broker = ? AND client_order_id = ?",
                         (str(qty), self.name, row["client_order_id"]))  # fmt: skip
        self._set_status(row["client_order_id"], "filled", now, filled=qty, price=price)
        self._book_fill(row["client_order_id"], row["symbol"], row["side"], qty, price, now)
        if row["parent_client_order_id"]:  # one-cancels-other: a filled child cancels its siblings
            self._cancel_where("parent_client_order_id = ? AND status IN ('open', 'held')",
                               (row["parent_client_order_id"],), now)  # fmt: skip
        else:  # an entry's fill starts its bracket children working; a trailing child trails from the market
            # The children start working now, so they meet the market as a new order does: a take-profit the
            # fill's price already passed (a stop entry's gap) fills at that price, not at its worse limit.
            # A trailing child's high-water mark starts at the last price seen, not at the fill: a resting limit
            # fills at its limit, a price the market never printed when it gapped through, and a trail from it
            # would fire at once on the gap (a venue trails from the prices it sees once the child works).
            last = self._last_price(row["symbol"])
            conn.execute(
                "UPDATE paper_orders SET status = 'open', updated_at = ?, trail_ref = CASE WHEN type = "
                "'trailing_stop' THEN ? ELSE trail_ref END WHERE broker = ? AND parent_client_order_id = ? "
                "AND status = 'held'",
                (iso(now), _text(price if last is None else last), self.name, row["client_order_id"]),
            )
            for child in conn.execute(
                "SELECT * FROM paper_orders WHERE broker = ? AND parent_client_order_id = ? AND status = 'open'",
                (self.name, row["client_order_id"]),
            ).fetchall():
                current = self._row(child["client_order_id"])
                if current is not None and current["status"] == "open":
                    self._try_fill(current, last, now, arriving=True)

    def _closable(self, symbol: str, side: str) -> Decimal:
        """How much of the position an order on `side` can close (none when flat or on that side already)."""
        held = self._held(symbol)
        return max(held, Decimal(0)) if side == "sell" else max(-held, Decimal(0))

    def _held(self, symbol: str) -> Decimal:
        """The signed position in `symbol` (0 when flat)."""
        book, mine = self._ledger()
        held = book.position(symbol, mine)
        return held[0] if held else Decimal(0)

    def _book_fill(self, coid: str, symbol: str, side: str, qty: Decimal, price: Decimal | None,
                   now: datetime, stamp: str | None = None) -> None:  # fmt: skip
        """Record a fill, and move the position and the cash by it; `stamp`: `iso(now)`, when made already."""
        conn = self.store.conn
        signed = qty if side == "buy" else -qty
        conn.execute(
            "INSERT INTO paper_fills (broker, client_order_id, symbol, side, quantity, price, filled_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.name, coid, symbol, side, str(qty), _text(price), stamp or iso(now)),
        )
        book, mine = self._ledger()
        pos = book.position(symbol, mine)
        old = pos[0] if pos else Decimal(0)
        new = old + signed
        avg = rules.average(old, pos[1] if pos else None, signed, price, new)
        conn.execute(
            "INSERT INTO paper_positions (broker, symbol, quantity, avg_price) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (broker, symbol) DO UPDATE SET quantity = excluded.quantity, avg_price = excluded.avg_price",
            (self.name, symbol, str(new), _text(avg)),
        )
        book.set_position(conn, symbol, (new, avg))
        if price is not None:  # the account's first fill makes its row (see `connect`)
            cash = self._cash() - signed * price
            conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, ?) ON CONFLICT (broker) DO UPDATE "
                         "SET cash = excluded.cash", (self.name, str(cash)))  # fmt: skip
            book.set_cash(conn, cash)
        if old != 0 and (new == 0 or (old > 0) != (new > 0)) and book.may_work(symbol, mine):
            # The position the working bracket legs protect is gone (closed by an exit, a breakeven stop, a
            # reversal): they go with it, or a later price would have them close a new position they never
            # belonged to (the old stop-loss selling the next, unprotected, entry). Legs still waiting for an
            # entry protect the position it opens: they stay. The status list matches the partial index of working
            # orders, so SQLite reads those, not every bracket leg ever placed.
            self._cancel_where("symbol = ? AND side = ? AND parent_client_order_id IS NOT NULL AND status IN "
                               "('open', 'partially_filled', 'held') AND status = 'open'",
                               (symbol, "sell" if old > 0 else "buy"), now)  # fmt: skip

    def _set_status(self, coid: str, status: str, now: datetime, filled: Decimal | None = None,
                    price: Decimal | None = None) -> None:  # fmt: skip
        if filled is None:
            self.store.conn.execute(
                "UPDATE paper_orders SET status = ?, updated_at = ? WHERE broker = ? AND client_order_id = ?",
                (status, iso(now), self.name, coid),
            )
            return
        self.store.conn.execute(
            "UPDATE paper_orders SET status = ?, filled_quantity = ?, avg_fill_price = ?, updated_at = ? "
            "WHERE broker = ? AND client_order_id = ?",
            (status, str(filled), _text(price), iso(now), self.name, coid),
        )

    def _cancel_unfilled(self, client_order_id: str, now: datetime) -> None:
        """An immediate-or-cancel (fill-or-kill) order that did not fill on arrival is canceled, as at a venue.

        The book fills an order whole or not at all, so IOC and FOK end alike: never left working for a later
        price to fill. Its bracket children, still waiting for it, go with it.
        """
        self._cancel_where("client_order_id = ? AND status IN ('open', 'partially_filled')", (client_order_id,), now)
        self._cancel_where("parent_client_order_id = ? AND status = 'held'", (client_order_id,), now)

    def _cancel_where(self, condition: str, args: tuple[str, ...], now: datetime) -> None:
        self.store.conn.execute(
            f"UPDATE paper_orders SET status = 'canceled', updated_at = ? WHERE broker = ? AND {condition}",  # noqa: S608
            (iso(now), self.name, *args),
        )

    def _expiry_due(self, now: datetime) -> bool:
        """Whether a working day order may have reached its close by `now` (False: surely none has)."""
        checked = self._expiry_checked_at
        fresh = checked is not None and monotonic() - checked < EXPIRY_RECHECK
        return not (fresh and (self._earliest_expiry is None or iso(now) < self._earliest_expiry))

    def _expire_day_orders(self) -> None:
        """Day orders past their session close are canceled, as a venue would."""
        checked = self._expiry_checked_at
        if self._earliest_expiry is None and checked is not None and monotonic() - checked < EXPIRY_RECHECK:
            return  # `_expiry_due` says no whatever the time: none works, as looked up just now (every booking's case)
        now = self.clock()
        if not self._expiry_due(now):
            return
        stamp = iso(now)
        conn = self.store.conn
        expired = conn.execute(
            "SELECT client_order_id FROM paper_orders WHERE broker = ? AND status IN ('open', 'partially_filled') "
            "AND expires_at <= ?",
            (self.name, stamp),
        ).fetchall()
        if not expired:
            self._earliest_expiry = conn.execute(
                "SELECT MIN(expires_at) FROM paper_orders WHERE broker = ? AND status IN ('open', 'partially_filled')",
                (self.name,),
            ).fetchone()[0]
            self._expiry_checked_at = monotonic()
            return
        self._expiry_checked_at = None  # look again next time: this cancel may yet be rolled back
        with transaction(self.store.conn):  # all or nothing, also when a read (`Store.read`) finds them
            for row in expired:  # an expired entry takes its waiting bracket children with it
                self._cancel_where("client_order_id = ?", (row["client_order_id"],), now)
                self._cancel_where("parent_client_order_id = ? AND status = 'held'", (row["client_order_id"],), now)

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel a working order (and bracket children still waiting for it); a final one is returned as it is."""

        def run() -> Order:
            now = self.clock()
            with transaction(self.store.conn):
                self._cancel_where("client_order_id = ? AND status IN ('open', 'partially_filled', 'held')",
                                   (client_order_id,), now)  # fmt: skip
                self._cancel_where("parent_client_order_id = ? AND status = 'held'", (client_order_id,), now)
            return self._fetch(client_order_id)

        return await self.store.run(run)


_PAPER_CREATE_ORDER = PaperBroker.create_order  # as defined here: a later patch of the class is not "its own"
