"""The paper broker's resting orders (issue 3): trailing stops, stop-limits, brackets as one-cancels-other,
day orders expiring at the session close, and the last price as a quote."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.config.load import parse_config
from bridge.errors import ConfigError
from bridge.models import BracketLeg, Order, OrderRequest
from bridge.store.db import Store

D = Decimal
NY = ZoneInfo("America/New_York")


class Clock:
    """A settable clock for `broker.clock`: returns aware datetimes."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def ny(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A New York wall-clock time as an aware datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


async def paper(store: Store, start: datetime | None = None, **options: Any) -> tuple[PaperBroker, Clock]:
    broker = PaperBroker(PaperOptions(**options), BrokerContext(name="paper", store=store))
    clock = Clock(start or ny(2026, 1, 5, 10, 0))  # a Monday morning: no session close in the way
    broker.clock = clock
    await broker.connect()
    return broker, clock


def req(coid: str, side: str = "buy", qty: str = "1", kind: str = "market", *, price: str | None = None,
        limit: str | None = None, stop: str | None = None, trail_amount: str | None = None,
        trail_percent: str | None = None, tif: str = "gtc", tp: BracketLeg | None = None,
        sl: BracketLeg | None = None, symbol: str = "SQ") -> OrderRequest:  # fmt: skip
    def d(value: str | None) -> Decimal | None:
        return None if value is None else D(value)

    return OrderRequest(
        client_order_id=coid, symbol=symbol, side=side, quantity=D(qty), type=kind,  # type: ignore[arg-type]
        limit_price=d(limit), stop_price=d(stop), time_in_force=tif, reference_price=d(price),
        trail_amount=d(trail_amount), trail_percent=d(trail_percent), take_profit=tp, stop_loss=sl,
    )  # fmt: skip


def take_profit(coid: str, limit: str) -> BracketLeg:
    return BracketLeg(client_order_id=coid, type="limit", limit_price=D(limit))


def stop_loss(coid: str, stop: str | None = None, *, trail_amount: str | None = None) -> BracketLeg:
    if trail_amount is not None:
        return BracketLeg(client_order_id=coid, type="trailing_stop", trail_amount=D(trail_amount))
    assert stop is not None
    return BracketLeg(client_order_id=coid, type="stop", stop_price=D(stop))


async def status(broker: PaperBroker, coid: str) -> tuple[str, Decimal | None]:
    order = await broker.fetch_order(coid)
    return order.status, order.avg_fill_price


async def position(broker: PaperBroker, symbol: str = "SQ") -> Decimal:
    return next((p.quantity for p in await broker.fetch_positions() if p.symbol == symbol), D(0))


async def see(broker: PaperBroker, *prices: str, symbol: str = "SQ") -> None:
    for price in prices:
        await broker.observe_price(symbol, D(price))


def ids(orders: list[Order]) -> list[str]:
    return [o.client_order_id for o in orders]


# ---------------------------------------------------------------------------------------------
# trailing stops


async def test_a_sell_trailing_stop_by_amount_follows_the_high_and_fires_on_the_pullback(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(req("long", price="100"))
    trail = await broker.create_order(req("trail", "sell", kind="trailing_stop", trail_amount="2"))
    assert (trail.status, trail.stop_price) == ("open", D(98))  # 2 below the last price, 100
    await see(broker, "105")
    assert (await broker.fetch_order("trail")).stop_price == D(103)
    await see(broker, "104", "103.5")  # a pullback that stays above the stop
    order = await broker.fetch_order("trail")
    assert (order.status, order.stop_price) == ("open", D(103))  # the high-water mark never moves down
    await see(broker, "103")
    assert await status(broker, "trail") == ("filled", D(103))
    assert await position(broker) == 0


async def test_a_sell_trailing_stop_by_percent(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(req("long", qty="2", price="100"))
    trail = await broker.create_order(req("trail", "sell", "2", "trailing_stop", trail_percent="10"))
    assert trail.stop_price == D(90)
    await see(broker, "120")
    assert (await broker.fetch_order("trail")).stop_price == D(108)
    await see(broker, "110", "108.01")
    assert (await broker.fetch_order("trail")).status == "open"
    await see(broker, "107")
    assert await status(broker, "trail") == ("filled", D(107))  # a stop fills at the price that triggered it
    assert await position(broker) == 0
    assert (await broker.fetch_account()).cash == D(100000) - 200 + 214


async def test_a_buy_trailing_stop_follows_the_low(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(req("short", "sell", "3", price="50"))
    trail = await broker.create_order(req("trail", "buy", "3", "trailing_stop", trail_amount="1"))
    assert trail.stop_price == D(51)
    await see(broker, "45")
    assert (await broker.fetch_order("trail")).stop_price == D(46)
    await see(broker, "45.5", "45.99")
    assert (await broker.fetch_order("trail")).status == "open"
    await see(broker, "46")
    assert await status(broker, "trail") == ("filled", D(46))
    assert await position(broker) == 0


async def test_a_trailing_stop_placed_before_any_price_starts_at_the_first_one(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    trail = await broker.create_order(req("trail", "sell", kind="trailing_stop", trail_amount="1", symbol="NEW"))
    assert (trail.status, trail.stop_price) == ("open", None)
    await see(broker, "20", symbol="NEW")
    assert (await broker.fetch_order("trail")).stop_price == D(19)
    await see(broker, "19", symbol="NEW")
    assert await status(broker, "trail") == ("filled", D(19))


async def test_a_limit_placed_before_any_price_meets_the_first_one_as_the_market(fresh_store: Store) -> None:
    """Nothing says the market ever traded at the limit: the first price is where it meets the market."""
    broker, _ = await paper(fresh_store)
    await broker.create_order(req("sell", "sell", kind="limit", limit="0.01", symbol="NEW"))
    await broker.create_order(req("buy", "buy", kind="limit", limit="150", symbol="NEW"))
    await see(broker, "100", symbol="NEW")
    assert await status(broker, "sell") == ("filled", D(100))  # not given away at 0.01
    assert await status(broker, "buy") == ("filled", D(100))  # not paid 150
    assert (await broker.fetch_account()).cash == D(100000)


# ---------------------------------------------------------------------------------------------
# stop-limit


async def test_a_buy_stop_limit_fills_only_between_its_stop_and_its_limit(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    order = await broker.create_order(req("sl", "buy", "2", "stop_limit", price="100", stop="105", limit="106"))
    assert (order.status, order.stop_price, order.limit_price) == ("open", D(105), D(106))
    await see(broker, "104.99")  # below the stop: not triggered
    assert (await broker.fetch_order("sl")).status == "open"
    await see(broker, "106.5")  # triggered, but above the limit
    assert (await broker.fetch_order("sl")).status == "open"
    await see(broker, "105.5")  # triggered earlier, it rests as a limit: fills at its limit, the conservative price
    assert await status(broker, "sl") == ("filled", D("106"))
    assert await position(broker) == 2


async def test_a_sell_stop_limit(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(req("sl", "sell", kind="stop_limit", price="100", stop="95", limit="94"))
    await see(broker, "95.01", "93.5")  # not triggered; then through the limit
    assert (await broker.fetch_order("sl")).status == "open"
    await see(broker, "94")
    assert await status(broker, "sl") == ("filled", D(94))
    assert await position(broker) == -1


async def test_a_triggered_stop_limit_rests_as_a_limit(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(req("sl", "buy", kind="stop_limit", price="100", stop="105", limit="106"))
    await see(broker, "107")  # triggered: now a buy limit at 106
    await see(broker, "104")  # below the limit: a resting buy limit at 106 fills
    assert (await broker.fetch_order("sl")).status == "filled"


async def test_a_triggered_stop_limit_is_still_reported_as_a_stop_limit(fresh_store: Store) -> None:
    """A cancel signal's cancelOrderType: stop_limit, and anyone reading the book, still finds it by its type."""
    broker, _ = await paper(fresh_store)
    await broker.create_order(req("sl", "buy", kind="stop_limit", price="100", stop="105", limit="106"))
    await see(broker, "107")  # triggered, not marketable at its limit: it rests as a limit
    order = await broker.fetch_order("sl")
    assert (order.status, order.type, order.stop_price, order.limit_price) == ("open", "stop_limit", D(105), D(106))
    assert [o.type for o in await broker.fetch_open_orders("SQ")] == ["stop_limit"]
    await see(broker, "104")  # below its stop, but triggered already: fills as the resting limit it became
    assert await status(broker, "sl") == ("filled", D(106))


# ---------------------------------------------------------------------------------------------
# brackets: children wait for the entry, then one cancels the other


def bracket_entry(coid: str = "entry", kind: str = "limit", **kw: Any) -> OrderRequest:
    return req(coid, "buy", "10", kind, tp=take_profit("tp", "110"), sl=stop_loss("stop", "95"), **kw)


async def test_bracket_children_wait_while_the_entry_rests_and_work_once_it_fills(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    entry = await broker.create_order(bracket_entry(price="102", limit="100"))
    assert entry.status == "open"
    tp, stop = await broker.fetch_order("tp"), await broker.fetch_order("stop")
    assert (tp.status, tp.side, tp.type, tp.quantity, tp.limit_price) == ("submitted", "sell", "limit", D(10), D(110))
    assert (stop.status, stop.side, stop.type, stop.quantity, stop.stop_price) == ("submitted", "sell", "stop", D(10),
                                                                                   D(95))  # fmt: skip
    assert ids(await broker.fetch_open_orders("SQ")) == ["entry", "tp", "stop"]
    await see(broker, "101", "111")  # a take-profit price means nothing before the entry fills
    assert [o.status for o in await broker.fetch_open_orders("SQ")] == ["open", "submitted", "submitted"]
    await see(broker, "99.5")
    assert await status(broker, "entry") == ("filled", D(100))
    assert await status(broker, "tp") == ("open", None)
    assert await status(broker, "stop") == ("open", None)
    assert await position(broker) == 10


async def test_the_take_profit_fill_cancels_the_stop_and_flattens(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(bracket_entry(kind="market", price="100"))
    assert [o.status for o in await broker.fetch_open_orders("SQ")] == ["open", "open"]  # the entry filled at once
    await see(broker, "109.99")
    assert await position(broker) == 10
    await see(broker, "110.5")
    assert await status(broker, "tp") == ("filled", D(110))  # a limit fills at its limit
    assert await status(broker, "stop") == ("canceled", None)
    assert await position(broker) == 0
    assert await broker.fetch_open_orders("SQ") == []
    assert (await broker.fetch_account()).cash == D(100000) - 1000 + 1100


async def test_the_stop_fill_cancels_the_take_profit(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(bracket_entry(kind="market", price="100"))
    await see(broker, "96", "94")
    assert await status(broker, "stop") == ("filled", D(94))
    assert await status(broker, "tp") == ("canceled", None)
    assert await position(broker) == 0
    await see(broker, "120")  # the canceled take profit stays canceled
    assert await status(broker, "tp") == ("canceled", None)
    assert await position(broker) == 0


async def test_a_short_bracket_buys_back(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    short = req("entry", "sell", "4", price="50", tp=take_profit("tp", "45"), sl=stop_loss("stop", "52"))
    await broker.create_order(short)
    tp = await broker.fetch_order("tp")
    assert (tp.side, tp.status) == ("buy", "open")
    await see(broker, "52.5")
    assert await status(broker, "stop") == ("filled", D("52.5"))
    assert await status(broker, "tp") == ("canceled", None)
    assert await position(broker) == 0


async def test_canceling_an_unfilled_entry_cancels_its_waiting_children(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(bracket_entry(price="102", limit="100"))
    canceled = await broker.cancel_order("entry")
    assert canceled.status == "canceled"
    assert await status(broker, "tp") == ("canceled", None)
    assert await status(broker, "stop") == ("canceled", None)
    assert await broker.fetch_open_orders() == []
    await see(broker, "90", "120")
    assert await position(broker) == 0


async def test_canceling_one_working_child_leaves_the_other(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    await broker.create_order(bracket_entry(kind="market", price="100"))
    await broker.cancel_order("tp")
    assert ids(await broker.fetch_open_orders("SQ")) == ["stop"]
    await see(broker, "95")
    assert await position(broker) == 0


async def test_a_bracket_s_legs_go_with_the_position_and_never_close_the_next_one(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    entry = req("entry", "buy", "2", price="100", tp=take_profit("tp", "110"), sl=stop_loss("sl", "95"))
    await broker.create_order(entry)
    breakeven = replace(req("breakeven", "sell", "2", "stop", stop="99.5"), reduce_only=True)
    await broker.create_order(breakeven)
    await see(broker, "99")  # the breakeven stop closes the position, not the bracket
    assert await position(broker) == 0
    assert ids(await broker.fetch_open_orders("SQ")) == []  # its legs have nothing left to protect
    assert await status(broker, "sl") == ("canceled", None)
    await broker.create_order(req("again", "buy", "2", price="99"))  # a new position, without a bracket
    await see(broker, "94")
    assert await position(broker) == 2  # the old stop-loss does not sell it


async def test_a_trailing_stop_child_trails_from_the_entry_fill(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    entry = req("entry", "buy", "1", "limit", price="102", limit="100", sl=stop_loss("trail", trail_amount="2"))
    await broker.create_order(entry)
    await see(broker, "99.5")  # the entry fills at 100; the trail starts at 99.5, stop 97.5
    assert await status(broker, "trail") == ("open", None)
    assert await position(broker) == 1


async def test_a_trailing_stop_child_does_not_fire_on_a_high_the_market_never_printed(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    entry = req("entry", "buy", "1", "limit", price="102", limit="100", sl=stop_loss("trail", trail_amount="2"))
    await broker.create_order(entry)
    await see(broker, "97.9")  # a gap through the limit: the entry fills at 100, a price the market never showed
    trail = await broker.fetch_order("trail")
    assert (trail.status, trail.stop_price) == ("open", D("95.9"))  # it trails from 97.9, as a venue's would
    assert await position(broker) == 1
    await see(broker, "95.9")
    assert await status(broker, "trail") == ("filled", D("95.9"))


async def test_a_take_profit_the_entry_s_fill_already_passed_fills_at_the_market_not_at_its_limit(
    fresh_store: Store,
) -> None:
    broker, _ = await paper(fresh_store)
    entry = req("entry", "buy", "10", "stop", price="100", stop="105", tp=take_profit("tp", "108"),
                sl=stop_loss("stop", "95"))  # fmt: skip
    await broker.create_order(entry)
    await see(broker, "112")  # a gap through the entry's stop and past the take-profit
    assert await status(broker, "entry") == ("filled", D(112))
    assert await status(broker, "tp") == ("filled", D(112))  # a sell limit at 108 meets a market at 112
    assert await status(broker, "stop") == ("canceled", None)
    assert (await broker.fetch_account()).cash == D(100000)  # bought and sold at 112, not sold 4 below the market


# ---------------------------------------------------------------------------------------------
# day orders expire at the session close; gtc orders stay


async def test_a_day_order_expires_at_the_close_and_a_gtc_order_stays(fresh_store: Store) -> None:
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0))  # Monday 15:00 New York
    await broker.create_order(req("day", kind="limit", price="50", limit="40", tif="day"))
    await broker.create_order(req("gtc", kind="limit", price="50", limit="39", tif="gtc"))
    clock.now = ny(2026, 1, 5, 15, 59, 59)
    assert ids(await broker.fetch_open_orders()) == ["day", "gtc"]
    clock.now = ny(2026, 1, 5, 16, 0)
    assert ids(await broker.fetch_open_orders()) == ["gtc"]
    assert (await broker.fetch_order("day")).status == "canceled"
    clock.now = ny(2026, 1, 20, 12, 0)
    assert (await broker.fetch_order("gtc")).status == "open"


async def test_an_expired_day_order_does_not_fill_on_a_later_price(fresh_store: Store) -> None:
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0))
    await broker.create_order(req("day", kind="limit", price="50", limit="40", tif="day"))
    clock.now = ny(2026, 1, 6, 9, 30)
    await see(broker, "39")
    assert (await broker.fetch_order("day")).status == "canceled"
    assert await position(broker) == 0


async def test_a_day_order_after_the_close_expires_at_the_next_close(fresh_store: Store) -> None:
    broker, clock = await paper(fresh_store, ny(2026, 1, 6, 17, 0))  # Tuesday after the close
    await broker.create_order(req("day", kind="limit", price="50", limit="40", tif="day"))
    clock.now = ny(2026, 1, 7, 15, 59)
    assert (await broker.fetch_order("day")).status == "open"
    clock.now = ny(2026, 1, 7, 16, 0)
    assert (await broker.fetch_order("day")).status == "canceled"


async def test_each_day_order_of_one_book_expires_at_its_own_session_s_close(fresh_store: Store) -> None:
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0))  # Monday 15:00
    await broker.create_order(req("monday", kind="limit", price="50", limit="40", tif="day"))
    clock.now = ny(2026, 1, 5, 16, 0)  # at Monday's close: the next session's
    await broker.create_order(req("at-close", kind="limit", price="50", limit="40", tif="day"))
    clock.now = ny(2026, 1, 5, 10, 0)  # the clock stepped back: Monday's close again
    await broker.create_order(req("stepped-back", kind="limit", price="50", limit="40", tif="day"))
    clock.now = ny(2026, 1, 9, 17, 0)  # Friday after the close: Monday's
    await broker.create_order(req("friday", kind="market", price="50", tif="day"))
    rows = await fresh_store.read(
        lambda: fresh_store.conn.execute("SELECT client_order_id, expires_at FROM paper_orders").fetchall()
    )
    expires = {row["client_order_id"]: datetime.fromisoformat(row["expires_at"]) for row in rows}
    monday, tuesday = ny(2026, 1, 5, 16, 0), ny(2026, 1, 6, 16, 0)
    assert expires == {"monday": monday, "at-close": tuesday, "stepped-back": monday, "friday": ny(2026, 1, 12, 16, 0)}


@pytest.mark.parametrize(("tif", "after_the_close"), [("day", "canceled"), ("gtc", "open")])
async def test_bracket_legs_take_their_entry_s_time_in_force_as_at_alpaca(
    fresh_store: Store, tif: str, after_the_close: str
) -> None:
    """Alpaca's bracket takes one time_in_force, the entry's, for its legs too (its take_profit and stop_loss have
    none of their own, and our adapter sends none): a day bracket's legs end at the close. Paper's were always gtc,
    so a paper run kept protecting overnight a position the live account left unprotected at the close."""
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0))  # Monday 15:00 New York
    entry = req("entry", "buy", "10", "limit", price="100", limit="101", tif=tif, tp=take_profit("tp", "110"),
                sl=stop_loss("stop", "95"))  # fmt: skip
    assert (await broker.create_order(entry)).status == "filled"
    clock.now = ny(2026, 1, 5, 15, 59, 59)
    assert ids(await broker.fetch_open_orders()) == ["tp", "stop"]
    clock.now = ny(2026, 1, 5, 16, 0)
    assert [(await broker.fetch_order(leg)).status for leg in ("tp", "stop")] == [after_the_close] * 2
    assert await position(broker) == 10  # the position stays; only its exits ended


@pytest.mark.parametrize(
    ("placed", "last_open", "expired"),
    [
        # Friday 17:00 -> Monday 16:00, not Saturday's or Sunday's
        (ny(2026, 1, 9, 17, 0), ny(2026, 1, 12, 15, 59, 59), ny(2026, 1, 12, 16, 0)),
        # Saturday noon -> Monday 16:00
        (ny(2026, 1, 10, 12, 0), ny(2026, 1, 12, 15, 59, 59), ny(2026, 1, 12, 16, 0)),
        # across the spring DST change: Friday EST -> Monday 16:00 EDT (20:00 UTC, not 21:00)
        (ny(2026, 3, 6, 17, 0), datetime(2026, 3, 9, 19, 59, 59, tzinfo=UTC), datetime(2026, 3, 9, 20, 0, tzinfo=UTC)),
    ],
    ids=["friday evening", "saturday", "spring forward"],
)
async def test_a_weekend_day_order_expires_at_monday_s_close(
    fresh_store: Store, placed: datetime, last_open: datetime, expired: datetime
) -> None:
    broker, clock = await paper(fresh_store, placed)
    await broker.create_order(req("day", kind="limit", price="50", limit="40", tif="day"))
    clock.now = last_open
    assert ids(await broker.fetch_open_orders()) == ["day"]
    clock.now = expired
    assert await broker.fetch_open_orders() == []


async def test_the_session_close_and_its_time_zone_are_options(fresh_store: Store) -> None:
    london = ZoneInfo("Europe/London")
    start = datetime(2026, 1, 5, 12, 0, tzinfo=london)
    broker, clock = await paper(fresh_store, start, session_close="16:30", timezone="Europe/London")
    await broker.create_order(req("day", kind="limit", price="50", limit="40", tif="day"))
    clock.now = datetime(2026, 1, 5, 16, 29, tzinfo=london)
    assert (await broker.fetch_order("day")).status == "open"
    clock.now = start.replace(hour=16, minute=30)
    assert (await broker.fetch_order("day")).status == "canceled"


async def test_a_session_close_with_seconds_expires_day_orders_at_that_second(fresh_store: Store) -> None:
    """A close of "16:00:30" (the settings take seconds) ended day orders at 16:00:00, half a minute early."""
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0), session_close="16:00:30")
    await broker.create_order(req("day", kind="limit", price="50", limit="40", tif="day"))
    clock.now = ny(2026, 1, 5, 16, 0, 29)
    assert (await broker.fetch_order("day")).status == "open"
    clock.now = ny(2026, 1, 5, 16, 0, 30)
    assert (await broker.fetch_order("day")).status == "canceled"


@pytest.mark.parametrize("tif", ["opg", "cls"])
async def test_an_auction_order_that_did_not_fill_does_not_work_on_the_next_day(fresh_store: Store, tif: str) -> None:
    """An opg (cls) order takes part in one auction only; there is none here, so it ends at the close, as a day order.

    Placed before Monday's open, it may not fill on Tuesday's dip.
    """
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 8, 0))
    await broker.create_order(req("auction", "buy", "10", "limit", price="100", limit="95", tif=tif))
    clock.now = ny(2026, 1, 5, 15, 59)
    assert ids(await broker.fetch_open_orders()) == ["auction"]
    clock.now = ny(2026, 1, 6, 10, 0)
    await see(broker, "94")
    assert (await status(broker, "auction"), await position(broker)) == (("canceled", None), 0)


@pytest.mark.parametrize(("tif", "next_morning"), [("day", []), ("gtc", ["tp", "stop"]), ("ioc", ["tp", "stop"])])
async def test_bracket_children_end_with_a_day_entry_s_session_and_outlive_any_other(
    fresh_store: Store, tif: str, next_morning: list[str]
) -> None:
    """A market entry's children too; an ioc entry (which Alpaca brackets not at all) keeps gtc children."""
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0))
    await broker.create_order(bracket_entry(kind="market", price="100", tif=tif))
    clock.now = ny(2026, 1, 6, 10, 0)
    assert ids(await broker.fetch_open_orders()) == next_morning


async def test_an_expired_day_entry_cancels_its_waiting_children(fresh_store: Store) -> None:
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0))
    await broker.create_order(bracket_entry(price="102", limit="100", tif="day"))
    clock.now = ny(2026, 1, 5, 16, 0) + timedelta(minutes=1)
    assert await broker.fetch_open_orders() == []


# ---------------------------------------------------------------------------------------------
# immediate orders: IOC and FOK fill on arrival or not at all


@pytest.mark.parametrize("tif", ["ioc", "fok"])
async def test_an_unmarketable_ioc_or_fok_limit_is_canceled_not_left_resting(fresh_store: Store, tif: str) -> None:
    """A buy limit at 95 with the market at 100 cannot fill now: it is canceled, and a later dip fills nothing."""
    broker, _ = await paper(fresh_store)
    placed = await broker.create_order(req("ioc", "buy", "10", "limit", price="100", limit="95", tif=tif))
    await see(broker, "94")
    assert (placed.status, await status(broker, "ioc"), await position(broker)) == ("canceled", ("canceled", None), 0)


async def test_a_marketable_ioc_limit_fills_and_an_unfilled_one_takes_its_bracket_along(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    filled = await broker.create_order(req("now", "buy", "10", "limit", price="100", limit="101", tif="ioc"))
    await broker.create_order(bracket_entry(price="102", limit="100", tif="ioc"))
    children = [(await broker.fetch_order(coid)).status for coid in ("tp", "stop")]
    assert (filled.status, await broker.fetch_open_orders(), children) == ("filled", [], ["canceled", "canceled"])


# ---------------------------------------------------------------------------------------------
# quotes


async def test_fetch_quote_returns_the_last_price_seen_per_symbol(fresh_store: Store) -> None:
    broker, _ = await paper(fresh_store)
    assert await broker.fetch_quote("SQ") is None
    await see(broker, "61.5")
    assert await broker.fetch_quote("SQ") == D("61.5")
    await broker.create_order(req("a", price="62.25"))  # a signal's price is a price seen too
    assert await broker.fetch_quote("SQ") == D("62.25")
    await see(broker, "7", symbol="OTHER")
    assert (await broker.fetch_quote("SQ"), await broker.fetch_quote("OTHER")) == (D("62.25"), D(7))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        # YAML reads an unquoted 16:00 as the number 960, which was taken as 960 seconds: day orders ended at 00:16.
        ("session_close: 16:00", 'write the time in quotes, e.g. "15:55"'),
        # An offset was dropped silently: the close is in `timezone`.
        ('session_close: "16:00+01:00"', "write the local time without an offset"),
        # A misspelt zone was accepted, and every day order then failed when it was placed.
        ("timezone: New_York", "unknown time zone 'New_York'"),
    ],
)
def test_a_bad_session_close_or_time_zone_is_refused_when_the_config_loads(option: str, message: str) -> None:
    text = (
        "brokers:\n  paper:\n    plugin: paper\n    options:\n"
        f"      {option}\n"
        "strategies:\n  s:\n    token: tok-0123456789abcdef0123\n    subscriptions:\n      - broker: paper\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", {})
    assert message in str(caught.value)
    assert "brokers.paper.options" in str(caught.value)


async def test_a_market_order_filled_at_once_stamps_its_rows_with_its_booking_s_moment(fresh_store: Store) -> None:
    """Its order row, its fill and the price it brought are written with the moment it was booked, the day order's
    expiry with that session's close; a second booking a moment later stamps its own rows with its own moment."""
    broker, clock = await paper(fresh_store, ny(2026, 1, 5, 15, 0, 7))
    await broker.create_order(req("first", price="50", tif="day"))
    clock.now = ny(2026, 1, 5, 15, 0, 8) + timedelta(microseconds=250)
    await broker.create_order(req("second", side="sell", price="51", tif="day"))

    def rows() -> dict[str, tuple[str, ...]]:
        conn = fresh_store.conn
        found = {r[0]: tuple(r[1:]) for r in conn.execute(
            "SELECT o.client_order_id, o.created_at, o.updated_at, f.filled_at, o.expires_at FROM paper_orders o "
            "JOIN paper_fills f ON f.client_order_id = o.client_order_id")}  # fmt: skip
        return found | {"price": tuple(conn.execute("SELECT seen_at FROM paper_prices").fetchone())}

    first, second = "2026-01-05T20:00:07.000000+00:00", "2026-01-05T20:00:08.000250+00:00"
    close = "2026-01-05T21:00:00.000000+00:00"
    assert await fresh_store.read(rows) == {"first": (first, first, first, close),
                                            "second": (second, second, second, close), "price": (second,)}  # fmt: skip
