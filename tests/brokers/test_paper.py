"""The paper broker: fills, positions, cash, resting orders, idempotency by client order id."""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected
from bridge.models import OrderRequest, Position
from bridge.store.db import Store
from tests.conftest import journal_floor


async def _broker(store: Store, cash: str = "100000") -> PaperBroker:
    broker = PaperBroker(PaperOptions(cash=Decimal(cash)), BrokerContext(name="paper", store=store))
    await broker.connect()
    return broker


def _req(coid: str, side: str = "buy", qty: str = "1", price: str | None = "50", **kw: object) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        symbol=str(kw.pop("symbol", "SQ")),
        side=side,  # type: ignore[arg-type]
        quantity=Decimal(qty),
        reference_price=None if price is None else Decimal(price),
        **kw,  # type: ignore[arg-type]
    )


async def test_market_buy_fills_at_the_signal_price_and_moves_cash(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    order = await broker.create_order(_req("a", qty="10", price="50"))
    assert (order.status, order.filled_quantity, order.avg_fill_price) == ("filled", Decimal(10), Decimal(50))
    positions = await broker.fetch_positions()
    assert [(p.symbol, p.quantity, p.avg_price) for p in positions] == [("SQ", Decimal(10), Decimal(50))]
    account = await broker.fetch_account()
    assert account.cash == Decimal(100000 - 500)
    assert account.equity == Decimal(100000)


async def test_market_order_without_any_price_records_the_fill_price_as_unknown(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    order = await broker.create_order(_req("a", price=None))
    assert order.status == "filled" and order.avg_fill_price is None
    assert (await broker.fetch_account()).cash == Decimal(100000)  # nothing invented
    assert (await broker.fetch_positions())[0].avg_price is None


@pytest.mark.parametrize("price", ["50.25", None])
async def test_a_filled_market_order_is_answered_as_it_is_stored(fresh_store: Store, price: str | None) -> None:
    """The answer to a create is the order as the book then holds it, field for field, filled in full."""
    broker = await _broker(fresh_store)
    answered = await broker.create_order(_req("a", qty="3", price=price, time_in_force="day"))
    stored = await broker.fetch_order("a")
    assert answered == stored
    assert (stored.status, stored.filled_quantity) == ("filled", Decimal(3))
    assert stored.broker_order_id and stored.broker_order_id.startswith("paper-")
    row = fresh_store.conn.execute("SELECT * FROM paper_orders WHERE client_order_id = 'a'").fetchone()
    assert row["avg_fill_price"] == price and row["filled_quantity"] == "3"
    fills = fresh_store.conn.execute("SELECT quantity, price FROM paper_fills WHERE client_order_id = 'a'").fetchall()
    assert [tuple(f) for f in fills] == [("3", price)]
    # Filled, it can never expire: it does not bring the next expiry check forward.
    assert broker._earliest_expiry is None


async def test_market_order_uses_the_last_price_seen_when_the_signal_has_none(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.observe_price("SQ", Decimal("61.5"))
    order = await broker.create_order(_req("a", price=None))
    assert order.avg_fill_price == Decimal("61.5")


async def test_average_price_is_weighted_when_adding_and_reset_when_flipping(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.create_order(_req("a", qty="10", price="50"))
    await broker.create_order(_req("b", qty="10", price="60"))
    assert (await broker.fetch_positions())[0].avg_price == Decimal(55)
    await broker.create_order(_req("c", side="sell", qty="5", price="70"))
    assert (await broker.fetch_positions())[0].avg_price == Decimal(55)
    await broker.create_order(_req("d", side="sell", qty="20", price="40"))
    position = (await broker.fetch_positions())[0]
    assert (position.quantity, position.avg_price) == (Decimal(-5), Decimal(40))
    # cash: -500 -600 +350 +800
    assert (await broker.fetch_account()).cash == Decimal(100000 - 500 - 600 + 350 + 800)


async def test_flat_positions_are_not_reported(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.create_order(_req("a", qty="3"))
    await broker.create_order(_req("b", side="sell", qty="3"))
    assert await broker.fetch_positions() == []


async def test_a_second_order_with_the_same_client_order_id_is_refused(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.create_order(_req("same"))
    with pytest.raises(DuplicateClientOrderId):
        await broker.create_order(_req("same", qty="7"))
    assert (await broker.fetch_positions())[0].quantity == Decimal(1)


async def test_limit_order_rests_until_a_price_crosses_it_and_can_be_canceled(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    resting = await broker.create_order(_req("lim", type="limit", limit_price=Decimal(40), price="50"))
    assert resting.status == "open"
    assert [o.client_order_id for o in await broker.fetch_open_orders("SQ")] == ["lim"]
    await broker.observe_price("SQ", Decimal("45"))
    assert (await broker.fetch_order("lim")).status == "open"
    await broker.observe_price("SQ", Decimal("39.5"))
    filled = await broker.fetch_order("lim")
    assert (filled.status, filled.avg_fill_price) == ("filled", Decimal(40))
    other = await broker.create_order(_req("lim2", type="limit", limit_price=Decimal(30), price="50"))
    assert other.status == "open"
    canceled = await broker.cancel_order("lim2")
    assert canceled.status == "canceled"
    assert await broker.fetch_open_orders() == []


@pytest.mark.parametrize(("side", "limit"), [("sell", "0.01"), ("buy", "150")])
async def test_a_limit_marketable_on_arrival_fills_at_the_market_not_at_its_limit(
    fresh_store: Store, side: str, limit: str
) -> None:
    """Market at 100: a sell limit at 0.01 (a buy limit at 150) meets the market, as at a venue, not its own limit."""
    broker = await _broker(fresh_store)
    order = await broker.create_order(_req("lim", side, "10", price="100", type="limit", limit_price=Decimal(limit)))
    assert (order.status, order.avg_fill_price) == ("filled", Decimal(100))
    cash = (await broker.fetch_account()).cash
    assert cash == Decimal(100000 + (1000 if side == "sell" else -1000))


async def test_a_price_that_fills_a_resting_order_is_committed_before_observe_price_returns(
    fresh_store: Store,
) -> None:
    broker = await _broker(fresh_store)
    await broker.create_order(_req("lim", type="limit", limit_price=Decimal(40), price="50"))
    await broker.observe_price("SQ", Decimal("39"))

    def committed_status(conn: sqlite3.Connection) -> str:  # the read-only connection sees committed rows only
        return str(conn.execute("SELECT status FROM paper_orders WHERE client_order_id = 'lim'").fetchone()[0])

    assert fresh_store.peek(committed_status) == "filled"
    assert await broker.fetch_position("SQ") is not None


async def test_a_price_with_nothing_resting_is_recorded_in_order_with_later_writes(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.observe_price("SQ", Decimal("61.5"))  # only a price: not waited for
    await fresh_store.run(lambda: None)  # every write queued before this one is committed now
    assert await broker.fetch_quote("SQ") == Decimal("61.5")
    await broker.observe_price("SQ", Decimal("62"))
    order = await broker.create_order(_req("a", price=None))  # queued after the price: fills at it
    assert order.avg_fill_price == Decimal("62")


async def test_the_account_and_the_quote_asked_for_right_after_a_price_are_valued_at_it(fresh_store: Store) -> None:
    """The executor feeds a signal's price, then sizes percent_of_equity on the account (and values max_notional
    at the quote): both were read before the price was written, so the position was valued at the price before."""
    broker = await _broker(fresh_store)
    await broker.create_order(_req("a", qty="10", price="50"))
    await broker.observe_price("SQ", Decimal(100))  # nothing rests on SQ: only the price changes
    assert (await broker.fetch_account()).equity == Decimal(100000 + 500)
    await broker.observe_price("SQ", Decimal(120))
    assert await broker.fetch_quote("SQ") == Decimal(120)
    await broker.observe_price("NEW", Decimal(7))  # a symbol's first price
    assert await broker.fetch_quote("NEW") == Decimal(7)


async def test_sell_stop_triggers_when_the_price_falls_through_it(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.create_order(_req("long", qty="2", price="100"))
    stop = await broker.create_order(
        _req("stop", side="sell", qty="2", type="stop", stop_price=Decimal(95), price=None)
    )
    assert stop.status == "open"
    await broker.observe_price("SQ", Decimal("94"))
    assert (await broker.fetch_order("stop")).status == "filled"
    assert await broker.fetch_positions() == []


# ---------------------------------------------------------------------------------------------
# buying power: a cash account without margin


async def test_a_buy_beyond_the_cash_is_refused_rather_than_driving_cash_negative(fresh_store: Store) -> None:
    broker = await _broker(fresh_store, cash="1000")
    assert (await broker.fetch_account()).buying_power == Decimal(1000)
    with pytest.raises(OrderRejected, match=r"insufficient buying power: the buy of 100 SQ at 100 costs 10000\.00"):
        await broker.create_order(_req("big", qty="100", price="100"))
    account = await broker.fetch_account()
    assert (account.cash, await broker.fetch_positions(), await broker.fetch_open_orders()) == (Decimal(1000), [], [])
    with pytest.raises(OrderNotFound):
        await broker.fetch_order("big")  # refused before anything was written


async def test_a_short_sale_far_beyond_the_equity_is_refused(fresh_store: Store) -> None:
    broker = await _broker(fresh_store, cash="1000")
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        await broker.create_order(_req("short", side="sell", qty="1000", price="100"))
    assert await broker.fetch_positions() == []


async def test_a_stand_in_with_unlimited_buying_power_takes_what_a_live_account_took(fresh_store: Store) -> None:
    """`bridge replay` puts one in for each live broker, whose size it does not know."""
    options = PaperOptions(cash=Decimal(1000), unlimited_buying_power=True)
    broker = PaperBroker(options, BrokerContext(name="paper", store=fresh_store))
    await broker.connect()
    order = await broker.create_order(_req("big", qty="100", price="100"))
    assert (order.status, (await broker.fetch_account()).cash) == ("filled", Decimal(-9000))


def test_replay_stands_in_for_a_live_broker_with_unlimited_buying_power(tmp_path: Path) -> None:
    from bridge.config.load import load_config
    from bridge.replay import paper_config

    config = tmp_path / "c.yaml"
    config.write_text(
        "brokers:\n  live: {plugin: alpaca, options: {key_id: k, secret_key: s}}\n  paper: {plugin: paper, options: "
        "{cash: 5000}}\nstrategies:\n  s1:\n    token: tok-0123456789abcdef\n    subscriptions:\n"
        "      - broker: live\n      - broker: paper\n"
    )
    brokers = paper_config(load_config(config), tmp_path / "replay.db").config.brokers
    assert {name: (b.plugin, b.options) for name, b in brokers.items()} == {
        "live": ("paper", {"unlimited_buying_power": True}),
        "paper": ("paper", {"cash": 5000}),  # a paper account keeps its own size
    }


async def test_positions_and_working_orders_hold_buying_power_and_closing_needs_none(fresh_store: Store) -> None:
    """Many small buys cannot add up past the cash either; a resting entry holds its share until it ends."""
    broker = await _broker(fresh_store, cash="1000")
    await broker.create_order(_req("a", qty="6", price="100"))  # 600 held by the position
    resting = _req("rest", qty="3", price="100", type="limit", limit_price=Decimal(99))
    assert (await broker.create_order(resting)).status == "open"  # 297 held by the working order
    assert (await broker.fetch_account()).buying_power == Decimal(103)
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        await broker.create_order(_req("b", qty="2", price="100"))
    await broker.cancel_order("rest")
    await broker.create_order(_req("b", qty="4", price="100"))  # the cash is spent exactly, never below 0
    await broker.create_order(_req("exit", side="sell", qty="10", price="100"))  # closing needs no buying power
    account = await broker.fetch_account()
    assert (account.cash, account.buying_power, await broker.fetch_positions()) == (Decimal(1000), Decimal(1000), [])


@pytest.mark.parametrize(("side", "kind", "field"), [("buy", "stop", "stop_price"), ("sell", "limit", "limit_price")])
async def test_an_order_without_a_signal_price_is_counted_at_the_last_price_it_fills_at(
    fresh_store: Store, side: str, kind: str, field: str
) -> None:
    """A buy stop (a sell limit) at 10 with the market at 1000 fills at once at 1000: it costs what that fill does."""
    broker = await _broker(fresh_store)
    await broker.observe_price("SQ", Decimal(1000))
    order = _req("big", side=side, qty="150", price=None, type=kind, **{field: Decimal(10)})
    with pytest.raises(OrderRejected, match=rf"the {side} of 150 SQ at 1000 costs 150000\.00"):
        await broker.create_order(order)
    assert ((await broker.fetch_account()).cash, await broker.fetch_positions()) == (Decimal(100000), [])


@pytest.mark.parametrize(
    "trail", [{"trail_amount": Decimal(5)}, {"trail_percent": Decimal(5)}], ids=["amount", "percent"]
)
async def test_a_buy_trailing_stop_is_counted_at_its_stop_above_the_market(
    fresh_store: Store, trail: dict[str, Decimal]
) -> None:
    """With the market at 100 and a trail of 5 (5%) it fills at 105 or more, never at 100."""
    broker = await _broker(fresh_store, cash="10000")
    with pytest.raises(OrderRejected, match=r"the buy of 100 SQ at 105 costs 10500\.00"):
        await broker.create_order(_req("trail", qty="100", price="100", type="trailing_stop", **trail))
    fits = await broker.create_order(_req("fits", qty="95", price="100", type="trailing_stop", **trail))
    assert fits.status == "open"
    await broker.observe_price("SQ", Decimal(105))
    account = await broker.fetch_account()
    assert ((await broker.fetch_order("fits")).status, account.cash) == ("filled", Decimal(25))  # 10000 - 95 * 105


async def test_a_resend_of_an_order_the_book_holds_is_a_duplicate_even_when_it_could_not_be_paid_again(
    fresh_store: Store,
) -> None:
    """After a crash the executor resends a pending order: the answer must say the book has it, not refuse it."""
    broker = await _broker(fresh_store, cash="1000")
    await broker.create_order(_req("all", qty="10", price="100"))
    with pytest.raises(DuplicateClientOrderId):
        await broker.create_order(_req("all", qty="10", price="100"))


async def test_a_resend_of_an_exit_that_closed_the_position_is_a_duplicate_not_a_refusal(fresh_store: Store) -> None:
    """Its resend after a crash is adopted as filled; refused for want of a position, it was journaled rejected."""
    broker = await _broker(fresh_store)
    await broker.create_order(_req("entry", qty="10", price="100"))
    exit_order = _req("exit", side="sell", qty="10", price="101", reduce_only=True)
    assert (await broker.create_order(exit_order)).status == "filled"
    with pytest.raises(DuplicateClientOrderId):
        await broker.create_order(exit_order)
    assert ((await broker.fetch_order("exit")).status, await broker.fetch_positions()) == ("filled", [])


async def test_unknown_order_and_bad_quantity(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    with pytest.raises(OrderNotFound):
        await broker.fetch_order("nope")
    with pytest.raises(OrderRejected):
        await broker.create_order(_req("zero", qty="0"))


async def test_two_paper_accounts_in_one_journal_are_separate(fresh_store: Store) -> None:
    first = await _broker(fresh_store)
    second = PaperBroker(PaperOptions(cash=Decimal(5000)), BrokerContext(name="other", store=fresh_store))
    await second.connect()
    await first.create_order(_req("a", qty="4"))
    assert await second.fetch_positions() == []
    assert (await second.fetch_account()).cash == Decimal(5000)
    await second.create_order(_req("a", qty="1"))  # the same client order id is fine at another account
    assert (await second.fetch_positions())[0].quantity == Decimal(1)


async def test_the_book_survives_reopening_the_journal(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.create_order(_req("a", qty="2", price="10"))
    path = fresh_store.path
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT client_order_id, status FROM paper_orders").fetchall()
    conn.close()
    assert rows == [("a", "filled")]


async def test_a_symbol_in_other_letters_is_the_same_instrument_as_at_a_venue(fresh_store: Store) -> None:
    """`amd` and `AMD` are one position, and an exit of either closes it: a venue reads symbols without case."""
    broker = await _broker(fresh_store)
    await broker.create_order(_req("a", qty="5", price="10", symbol="amd"))
    await broker.create_order(_req("b", qty="5", price="10", symbol="AMD"))
    held = await broker.fetch_positions()
    assert [(p.symbol.upper(), p.quantity) for p in held] == [("AMD", Decimal(10))]
    # Asked in any letters, it answers in the letters asked (the daemon checks the answer is the symbol it asked).
    assert await broker.fetch_position("Amd") == Position("Amd", Decimal(10), Decimal(10))
    exit_order = await broker.create_order(_req("x", side="sell", qty="10", price="11", symbol="AMD", reduce_only=True))
    assert (exit_order.symbol, exit_order.status, exit_order.filled_quantity) == ("AMD", "filled", Decimal(10))
    assert await broker.fetch_positions() == []
    assert (await broker.fetch_account()).cash == Decimal(100000 + 10)


async def test_letters_booked_in_a_job_that_rolled_back_are_not_the_book_s(fresh_store: Store) -> None:
    """A symbol's letters are remembered only once committed: a rolled-back booking leaves `amd` free to be booked."""
    broker = await _broker(fresh_store)
    place = broker.create_order_in_journal
    assert place is not None

    def plan_that_fails() -> None:
        place(_req("r1", qty="1", symbol="AMD"))
        place(_req("r2", qty="1", symbol="AMD"))  # finds AMD booked, in this transaction only
        raise RuntimeError("the plan's journal write failed")

    with pytest.raises(RuntimeError):
        await fresh_store.run(plan_that_fails)
    await broker.create_order(_req("a", qty="5", symbol="amd"))
    await broker.create_order(_req("b", qty="5", symbol="AMD"))
    held = await broker.fetch_positions()
    assert [(p.symbol.upper(), p.quantity) for p in held] == [("AMD", Decimal(10))]


async def test_a_resting_order_and_the_last_price_are_found_in_any_letters(fresh_store: Store) -> None:
    broker = await _broker(fresh_store)
    await broker.create_order(_req("lim", qty="2", price=None, symbol="amd", type="limit", limit_price=Decimal(9)))
    assert [(o.client_order_id, o.symbol) for o in await broker.fetch_open_orders("AMD")] == [("lim", "AMD")]
    await broker.observe_price("AMD", Decimal("8.5"))  # crosses the limit placed as `amd`
    assert (await broker.fetch_order("lim")).status == "filled"
    assert await broker.fetch_quote("Amd") == Decimal("8.5")
    assert await broker.fetch_position("AMD") == Position("AMD", Decimal(2), Decimal("8.5"))  # its first price


async def test_connecting_writes_nothing_and_the_cash_option_holds_until_the_first_fill(fresh_store: Store) -> None:
    await _broker(fresh_store)
    assert fresh_store.conn.execute("SELECT * FROM paper_accounts").fetchall() == []
    broker = await _broker(fresh_store, cash="5000")  # changed before any trade: a new account's starting cash
    assert (await broker.fetch_account()).cash == Decimal(5000)
    await broker.create_order(_req("a", qty="10", price="50"))
    assert (await broker.fetch_account()).cash == Decimal(4500)
    again = await _broker(fresh_store, cash="100000")  # changed after: the account keeps its own cash
    assert (await again.fetch_account()).cash == Decimal(4500)


async def test_a_price_whose_batch_the_journal_filling_up_aborted_is_still_seen_by_the_next_account_read(
    tmp_path: Path,
) -> None:
    floor = journal_floor(tmp_path / "j.db")
    store = Store(tmp_path / "j.db", max_bytes=floor + 256 * 1024)
    await store.open()
    broker = await _broker(store)
    await broker.create_order(_req("a", qty="10", price="50"))
    await broker.observe_price("SQ", Decimal(50))  # the day orders looked at: the next price is written later

    def too_big() -> None:
        store.conn.execute("INSERT INTO webhooks (id, received_at, method, path, headers, body, status_code) "
                           "VALUES ('big', '2000-01-01', 'POST', '/', '{}', ?, 401)", ("x" * 1024 * 1024,))  # fmt: skip

    # One batch: the price's write, then a write past the cap, whose SQLITE_FULL rolls the price back with it. The
    # price runs again in the next batch; until it is committed, a read of the account must wait for it.
    await broker.observe_price("SQ", Decimal(100))
    with pytest.raises(sqlite3.OperationalError, match="full"):
        await store.run(too_big)
    account = await broker.fetch_account()
    assert account.equity == Decimal(100500), "the account was read without the price fed before it"
    await broker.observe_price("SQ", Decimal(100))
    assert broker._unwritten_prices == 1  # counted once per price, however many times its write ran
    await store.run(lambda: None)
    assert broker._unwritten_prices == 0
    await store.close()


async def test_broker_order_ids_keep_their_form_and_differ(fresh_store: Store) -> None:
    """`paper-`, then four hex digits (the first 8 to b) and twelve: as the venue-side id always read."""
    broker = await _broker(fresh_store)
    ids = [(await broker.create_order(_req(f"o{i}", qty="1"))).broker_order_id for i in range(3)]
    resting = await broker.create_order(_req("rest", type="limit", limit_price=Decimal(1)))
    ids.append(resting.broker_order_id)
    assert all(re.fullmatch(r"paper-[89ab][0-9a-f]{3}-[0-9a-f]{12}", str(i)) for i in ids), ids
    assert len(set(ids)) == len(ids)
