"""The paper book in memory: it reads as the journal does, through rollbacks, reloads and restarts."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderRejected
from bridge.models import Account, Order, OrderRequest, Position
from bridge.store.db import Store, transaction


def _broker(store: Store, name: str = "paper") -> PaperBroker:
    return PaperBroker(PaperOptions(cash=Decimal(10000)), BrokerContext(name=name, store=store))


def _req(coid: str, side: str = "buy", qty: str = "1", price: str = "50", symbol: str = "SQ",
         **kw: object) -> OrderRequest:  # fmt: skip
    return OrderRequest(client_order_id=coid, symbol=symbol, side=side, quantity=Decimal(qty),  # type: ignore[arg-type]
                        reference_price=Decimal(price), **kw)  # type: ignore[arg-type]  # fmt: skip


async def _seen(broker: PaperBroker) -> tuple[list[Position], Account, list[Order], Decimal | None]:
    """What the broker answers: positions, account, working orders and the last price of SQ."""
    return (await broker.fetch_positions(), await broker.fetch_account(), await broker.fetch_open_orders(),
            await broker.fetch_quote("SQ"))  # fmt: skip


async def test_a_job_rolled_back_in_a_batch_leaves_the_book_as_the_journal(tmp_path: Path) -> None:
    """Two plans in one batch, the second failing after its order filled: only the first's fill is the book's."""
    store = Store(tmp_path / "journal.db")
    await store.open()
    broker = _broker(store)
    place = broker.create_order_in_journal
    assert place is not None

    def fails() -> None:
        place(_req("b", qty="3", price="60"))
        place(_req("c", qty="1", price="60", symbol="AMD", type="limit", limit_price=Decimal(1)))
        raise RuntimeError("the plan's journal write failed")

    ok, failed = await asyncio.gather(store.run(place, _req("a", qty="2")), store.run(fails), return_exceptions=True)
    assert isinstance(ok, Order) and isinstance(failed, RuntimeError)
    seen = await _seen(broker)
    assert seen[0] == [Position("SQ", Decimal(2), Decimal(50))]
    assert (seen[1].cash, seen[2], seen[3]) == (Decimal(9900), [], Decimal(50))
    assert await broker.fetch_position("SQ") == Position("SQ", Decimal(2), Decimal(50))
    await store.close()
    again = Store(tmp_path / "journal.db")  # a restart reads the same book from the journal
    await again.open()
    assert await _seen(_broker(again)) == seen
    await again.close()


async def test_a_savepoint_rolled_back_inside_a_job_takes_its_changes_with_it(fresh_store: Store) -> None:
    broker = _broker(fresh_store)
    place = broker.create_order_in_journal
    assert place is not None

    def job() -> None:
        place(_req("a", qty="2"))
        with pytest.raises(RuntimeError), transaction(fresh_store.conn):
            place(_req("b", qty="5", price="70"))
            raise RuntimeError("rolled back to its savepoint")
        place(_req("c", qty="1", price="50"))  # sees the position of `a` alone: 2, not 7

    await fresh_store.run(job)
    assert await broker.fetch_positions() == [Position("SQ", Decimal(3), Decimal(50))]
    assert (await broker.fetch_account()).cash == Decimal(10000 - 150)
    assert await broker.fetch_quote("SQ") == Decimal(50)


async def test_a_reader_outside_the_transaction_sees_only_what_is_committed(fresh_store: Store) -> None:
    """`fetch_position` reads committed state (as a read of the journal did) while a batch's writes are pending."""
    broker = _broker(fresh_store)
    place = broker.create_order_in_journal
    assert place is not None
    during: list[Position | None] = []

    def job() -> None:
        place(_req("a", qty="2"))
        during.append(fresh_store.peek(broker._position, "SQ"))

    await fresh_store.run(job)
    assert during == [None]
    assert await broker.fetch_position("SQ") == Position("SQ", Decimal(2), Decimal(50))


async def test_another_instance_of_the_broker_reads_the_same_book(fresh_store: Store) -> None:
    """A reload builds a new instance of the broker beside the old one: each sees what the other booked."""
    old, new = _broker(fresh_store), _broker(fresh_store)
    await old.create_order(_req("a", qty="2"))
    assert await new.fetch_position("SQ") == Position("SQ", Decimal(2), Decimal(50))
    await new.create_order(_req("b", side="sell", qty="2", price="55", reduce_only=True))
    await new.create_order(_req("l", qty="1", price="55", type="limit", limit_price=Decimal(40)))
    assert await old.fetch_position("SQ") is None
    assert [o.client_order_id for o in await old.fetch_open_orders("SQ")] == ["l"]
    assert (await old.fetch_account()).cash == Decimal(10000 + 10)
    other = _broker(fresh_store, name="other")  # another broker name is another account
    assert (await other.fetch_positions(), (await other.fetch_account()).cash) == ([], Decimal(10000))


async def test_a_working_order_found_gone_is_looked_for_again_once_another_is_placed(fresh_store: Store) -> None:
    broker = _broker(fresh_store)
    await broker.create_order(_req("l1", qty="1", type="limit", limit_price=Decimal(40)))
    await broker.cancel_order("l1")
    assert await broker.fetch_open_orders("SQ") == []
    await broker.create_order(_req("l2", qty="1", type="limit", limit_price=Decimal(40)))
    assert [o.client_order_id for o in await broker.fetch_open_orders("SQ")] == ["l2"]
    await broker.observe_price("SQ", Decimal(39))
    assert (await broker.fetch_order("l2")).status == "filled"
    assert await broker.fetch_position("SQ") == Position("SQ", Decimal(1), Decimal(40))


def _commit_fails_with(conn: sqlite3.Connection) -> Callable[[], None]:
    """A write that only COMMIT refuses: a row breaking a deferred foreign key, checked at COMMIT and not before."""
    conn.executescript(
        "CREATE TABLE IF NOT EXISTS t_parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE IF NOT EXISTS t_child (parent INTEGER REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED);"
    )

    def breaking() -> None:
        conn.execute("INSERT INTO t_child VALUES (1)")

    return breaking


async def test_a_batch_whose_commit_failed_leaves_nothing_of_it_in_the_book(tmp_path: Path) -> None:
    """The group commit's COMMIT itself refused: every fill of that batch goes, in memory as in the journal."""
    store = Store(tmp_path / "journal.db")
    await store.open()
    broker = _broker(store)
    place = broker.create_order_in_journal
    assert place is not None
    await store.run(place, _req("a", qty="1", price="40"))
    breaking = _commit_fails_with(store.conn)

    def then_breaks() -> None:
        place(_req("c", qty="1", price="60", symbol="AMD"))
        breaking()

    results = await asyncio.gather(store.run(place, _req("b", qty="3", price="60")), store.run(then_breaks),
                                   return_exceptions=True)  # fmt: skip
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    seen = await _seen(broker)
    assert seen[0] == [Position("SQ", Decimal(1), Decimal(40))]
    assert (seen[1].cash, seen[2], seen[3]) == (Decimal(9960), [], Decimal(40))
    assert await broker.fetch_position("AMD") is None
    await store.run(place, _req("d", qty="1", price="45"))  # the book goes on from the journal's state
    assert await broker.fetch_position("SQ") == Position("SQ", Decimal(2), Decimal("42.5"))
    await store.close()
    again = Store(tmp_path / "journal.db")  # a restart reads the same book from the journal
    await again.open()
    assert await _broker(again).fetch_positions() == [Position("SQ", Decimal(2), Decimal("42.5"))]
    await again.close()


async def test_a_transaction_whose_commit_failed_is_rolled_back_with_its_fills(fresh_store: Store) -> None:
    """A `transaction()` of its own (as on a CLI's connection) whose COMMIT is refused ends, its fills with it."""
    broker = _broker(fresh_store)
    place = broker.create_order_in_journal
    assert place is not None
    conn = fresh_store.conn
    breaking = _commit_fails_with(conn)
    with pytest.raises(sqlite3.IntegrityError), transaction(conn):
        place(_req("a", qty="2"))
        breaking()
    assert not conn.in_transaction  # left open, the connection's next write would join the refused one
    with transaction(conn):
        place(_req("b", qty="1", price="40"))
    assert await broker.fetch_positions() == [Position("SQ", Decimal(1), Decimal(40))]
    assert (await broker.fetch_account()).cash == Decimal(9960)


def _shorts(broker: PaperBroker, mine: bool = False) -> dict[str, Decimal]:
    """The short positions the book's buying-power bound sums, by symbol, as it holds them."""
    book, _mine = broker._ledger()
    return {symbol: held[0] for symbol, held in book.short_positions(mine).items()}


async def test_the_book_knows_its_short_positions_through_commits_rollbacks_and_restarts(tmp_path: Path) -> None:
    """The buying-power bound sums the shorts' value on every order from the book's shorts alone, not from every
    position: they must be the book's short positions, whatever committed, rolled back or went long since."""
    store = Store(tmp_path / "journal.db")
    await store.open()
    broker = _broker(store)
    place = broker.create_order_in_journal
    assert place is not None
    await broker.create_order(_req("long", qty="2", symbol="AMD"))
    await broker.create_order(_req("short", side="sell", qty="3", symbol="SQ"))
    await broker.create_order(_req("flat", side="sell", qty="1", symbol="IBM"))
    await broker.create_order(_req("flat-again", qty="1", symbol="IBM"))
    assert _shorts(broker) == {"SQ": Decimal(-3)}
    pending: list[dict[str, Decimal]] = []

    def job() -> None:
        place(_req("cover", qty="3", symbol="SQ"))  # SQ goes flat, AMD short, in the open transaction
        place(_req("reverse", side="sell", qty="5", symbol="AMD"))
        with pytest.raises(RuntimeError), transaction(store.conn):
            place(_req("gone", side="sell", qty="1", symbol="IBM"))
            raise RuntimeError("rolled back to its savepoint")
        pending.append(_shorts(broker, mine=True))
        pending.append(_shorts(broker))  # a reader outside the transaction: what is committed

    await store.run(job)
    assert pending == [{"AMD": Decimal(-3)}, {"SQ": Decimal(-3)}]
    assert _shorts(broker) == {"AMD": Decimal(-3)}

    def failing() -> None:
        place(_req("cover-amd", qty="3", symbol="AMD"))
        raise RuntimeError("the plan's journal write failed")

    with pytest.raises(RuntimeError):
        await store.run(failing)
    assert _shorts(broker) == {"AMD": Decimal(-3)}
    await store.close()
    again = Store(tmp_path / "journal.db")  # a restart reads the same shorts from the journal
    await again.open()
    restarted = _broker(again)
    await restarted.fetch_account()
    assert _shorts(restarted) == {"AMD": Decimal(-3)}
    await again.close()


async def test_the_buying_power_bound_values_shorts_at_a_price_moved_in_the_same_transaction(tmp_path: Path) -> None:
    """The short's price rose in the plan's own transaction, leaving no buying power: the next order in it is refused.
    Valued at the price committed before, the shorts left room, and the bound waved the order through."""
    store = Store(tmp_path / "journal.db")
    await store.open()
    broker = _broker(store)  # cash 10000
    place = broker.create_order_in_journal
    assert place is not None
    await broker.create_order(_req("short", side="sell", qty="50", price="100"))  # buying power 5000 left

    def job() -> None:
        place(_req("cover-one", qty="1", price="190"))  # SQ at 190: 49 short are worth 9310, more than the equity
        place(_req("next", qty="1", price="50", symbol="AMD"))

    with pytest.raises(OrderRejected, match="insufficient buying power"):
        await store.run(job)
    await store.close()


def _shorts_recounted(broker: PaperBroker, mine: bool = False) -> Decimal:
    """The shorts' value summed anew from every position and price the book holds, as the bound counted it before."""
    book, _mine = broker._ledger()
    marks = book.all_prices(mine)
    return sum((held[0] * (marks.get(symbol) or held[1] or 0) for symbol, held in book.all_positions(mine).items()
                if held[0] < 0), Decimal(0))  # fmt: skip


async def test_the_shorts_value_the_book_keeps_is_the_sum_of_every_short_at_its_last_price(tmp_path: Path) -> None:
    """The value the buying-power bound reads is kept as positions and prices commit: it must be the sum over every
    short position at its price, in the open transaction and outside it, through price moves, rollbacks and restarts."""
    store = Store(tmp_path / "journal.db")
    await store.open()
    broker = _broker(store)
    place = broker.create_order_in_journal
    assert place is not None
    await broker.create_order(_req("sq", side="sell", qty="3", price="20", symbol="SQ"))
    await broker.create_order(_req("amd", side="sell", qty="2", price="30", symbol="AMD"))
    await broker.create_order(_req("ibm", qty="4", price="10", symbol="IBM"))
    await broker.observe_price("SQ", Decimal(25))  # only the price of a short moves
    await store.run(lambda: None)  # its write, not waited for, has committed
    book, _mine = broker._ledger()
    assert book.shorts_value(False) == _shorts_recounted(broker) == Decimal(-135)
    seen: list[tuple[Decimal, Decimal, Decimal, Decimal]] = []

    def job() -> None:
        place(_req("cover-sq", qty="3", price="26", symbol="SQ"))  # SQ flat
        place(_req("ibm-short", side="sell", qty="6", price="11", symbol="IBM"))  # IBM short 2
        book.set_price(store.conn, "AMD", Decimal(31))  # AMD's price moves in the transaction
        store.conn.execute("UPDATE paper_prices SET price = '31' WHERE broker = 'paper' AND symbol = 'AMD'")
        with pytest.raises(RuntimeError), transaction(store.conn):
            place(_req("gone", side="sell", qty="1", price="40", symbol="AMD"))
            raise RuntimeError("rolled back to its savepoint")
        seen.append((book.shorts_value(True), _shorts_recounted(broker, True), book.shorts_value(False),
                     _shorts_recounted(broker)))  # fmt: skip

    await store.run(job)
    assert seen == [(Decimal(-84), Decimal(-84), Decimal(-135), Decimal(-135))]
    assert book.shorts_value(False) == _shorts_recounted(broker) == Decimal(-84)

    def failing() -> None:
        place(_req("cover-amd", qty="2", price="29", symbol="AMD"))
        raise RuntimeError("the plan's journal write failed")

    with pytest.raises(RuntimeError):
        await store.run(failing)
    assert book.shorts_value(False) == _shorts_recounted(broker) == Decimal(-84)
    await store.close()
    again = Store(tmp_path / "journal.db")  # a restart values the same shorts from the journal
    await again.open()
    restarted = _broker(again)
    await restarted.fetch_account()
    assert restarted._ledger()[0].shorts_value(False) == Decimal(-84)
    await again.close()
