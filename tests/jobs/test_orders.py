"""Order upkeep on a controlled clock: `cancel_after` cancels a resting limit order; polling records fills."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.brokers.paper import PaperBroker
from bridge.jobs.orders import cancel_expired, poll_orders
from bridge.notify.events import Event
from bridge.store import journal
from tests.conftest import eventually
from tests.jobs.conftest import Clock, config_text, two_strategies

RESTING = {"orderType": "limit", "limitPrice": 90, "price": 100}  # a buy limit below the market rests


async def test_cancel_after_cancels_a_resting_limit_order_once_its_time_is_up(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text("cancel_after: 30"), clock)
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    [order] = r.rows("SELECT * FROM orders")
    assert order["status"] == "open", "the paper broker rests a limit order the price has not crossed"
    clock.now = datetime.fromisoformat(order["sent_at"])  # it counts from when the broker took it
    clock.advance(29.9)
    assert await cancel_expired(r.bridge) == 0
    assert r.rows("SELECT status FROM orders")[0]["status"] == "open"

    clock.advance(0.1)
    assert await cancel_expired(r.bridge) == 1
    assert r.rows("SELECT status FROM orders")[0]["status"] == "canceled"
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None and await broker.fetch_open_orders() == [], "canceled at the broker too"
    assert await cancel_expired(r.bridge) == 0


async def test_the_signals_cancel_after_wins_over_the_subscriptions(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text("cancel_after: 3600"), clock)
    await r.accepted(cancelAfter=5, **RESTING)
    await r.bridge.queues.join()
    clock.now = datetime.fromisoformat(r.rows("SELECT sent_at FROM orders")[0]["sent_at"])
    clock.advance(5)
    assert await cancel_expired(r.bridge) == 1


async def test_without_cancel_after_a_resting_order_is_left_alone(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    clock.advance(86400)
    assert await cancel_expired(r.bridge) == 0
    assert r.rows("SELECT status FROM orders")[0]["status"] == "open"


async def test_a_filled_order_is_not_canceled_and_polling_records_the_fill(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text("cancel_after: 30"), clock)
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    broker = r.bridge.runtime.broker("paper")
    assert isinstance(broker, PaperBroker)
    await broker.observe_price("AMD", Decimal(89))  # the market moves through the limit at the venue
    assert r.rows("SELECT status FROM orders")[0]["status"] == "open", "the venue does not push fills"

    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    assert await poll_orders(r.bridge) == 1
    order = r.rows("SELECT * FROM orders")[0]
    assert (order["status"], order["filled_quantity"], order["avg_fill_price"]) == ("filled", "1", "90")
    # The fill is news for the operator (notifications' `order.filled`), as a fill at once would be.
    assert [(e.kind, e.data["side"], e.data["quantity"], e.data["price"], e.data["symbol"]) for e in events] == [
        ("order.filled", "buy", "1", "90", "AMD")
    ]
    assert await poll_orders(r.bridge) == 0, "nothing changed since"
    assert len(events) == 1
    clock.advance(60)
    assert await cancel_expired(r.bridge) == 0


async def test_a_change_found_twice_is_news_once(bridges: Any) -> None:
    """The executor waiting for an exit and the polling job may both find one fill: only the first reports it."""
    r = await bridges(config_text(), Clock())
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    [row] = r.rows("SELECT * FROM orders")
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None
    assert isinstance(broker, PaperBroker)
    await broker.observe_price("AMD", Decimal(89))
    filled = await broker.fetch_order(row["client_order_id"])
    store = r.bridge.store
    found = [await store.run(journal.record_order_change, store.conn, row["client_order_id"], filled) for _ in "ab"]
    assert [change is not None for change in found] == [True, False]
    assert r.rows("SELECT status FROM orders")[0]["status"] == "filled"
    assert await store.run(journal.record_order_change, store.conn, "no-such-order", filled) is None


AMD = "broker: paper\ncancel_after: 30"
TSLA = "broker: paper\ncancel_after: 30\ntickers: [TSLA]"


async def _rests_then_reload(r: Any, clock: Clock, text: str) -> dict[str, Any]:
    """Place a resting order, apply `text` as the new config, and set the clock to when the order was sent."""
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    [order] = r.rows("SELECT * FROM orders")
    assert order["status"] == "open"
    assert r.bridge.loaded.path is not None
    r.bridge.loaded.path.write_text(text)
    assert (await r.bridge.reload("test")).ok
    clock.now = datetime.fromisoformat(order["sent_at"])
    return dict(order)


async def test_an_order_keeps_its_cancel_after_when_a_reload_adds_a_subscription_on_its_broker(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(two_strategies([AMD]), clock)
    await _rests_then_reload(r, clock, two_strategies([AMD, TSLA]))
    clock.advance(31)
    assert await cancel_expired(r.bridge) == 1
    assert r.rows("SELECT status FROM orders")[0]["status"] == "canceled"


async def test_removing_a_strategy_does_not_leave_its_resting_orders_working_past_cancel_after(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(two_strategies([AMD]), clock)
    await _rests_then_reload(r, clock, two_strategies([]))  # `sq` retired; broker paper stays (for `other`)
    clock.advance(31)
    assert await cancel_expired(r.bridge) == 1
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None and await broker.fetch_open_orders() == []
    assert r.rows("SELECT status FROM orders")[0]["status"] == "canceled"


async def test_only_an_order_journaled_before_cancel_after_was_recorded_takes_the_live_configs(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text(), clock)
    await _rests_then_reload(r, clock, config_text("cancel_after: 30"))
    clock.advance(30)
    assert await cancel_expired(r.bridge) == 0, "placed without a cancel_after, it keeps resting"
    # As a row written before the column existed reads: nothing recorded.
    r.bridge.store.conn.execute("UPDATE orders SET cancel_after = NULL, cancel_after_recorded = 0")
    assert await cancel_expired(r.bridge) == 1
    assert r.rows("SELECT status FROM orders")[0]["status"] == "canceled"


async def test_a_swap_entry_is_not_canceled_before_it_rested_cancel_after_seconds(bridges: Any) -> None:
    """The entry goes out once the exit filled, seconds after the plan: its cancel_after counts from then."""
    clock = Clock()
    r = await bridges(config_text("cancel_after: 3"), clock)
    await r.accepted(price=100)  # long 1 at market
    await r.bridge.queues.join()
    broker = r.bridge.runtime.broker("paper")
    assert isinstance(broker, PaperBroker)
    # sell while long 1: sell 1 (limit 110, rests), then once that fills, open short 1 (limit 110).
    await r.accepted(action="sell", orderType="limit", limitPrice=110, price=100)
    await eventually(lambda: any(o["leg"] == "exit" and o["status"] == "open" for o in r.rows("SELECT * FROM orders")),
                     "the exit rests")  # fmt: skip
    await asyncio.sleep(2.0)  # the exit rests 2 s or more (less than cancel_after), then the market reaches it
    await broker.observe_price("AMD", Decimal(111))

    def resting_entry() -> list[Any]:
        entry = [o for o in r.rows("SELECT * FROM orders") if o["leg"] == "entry" and o["side"] == "sell"]
        return entry if entry and entry[0]["status"] == "open" else []

    entry = await eventually(resting_entry, "the entry was sent after the exit filled, and rests")

    clock.now = datetime.fromisoformat(entry[0]["sent_at"])  # when the broker took it, however long ago that was
    clock.advance(1.5)  # the entry has rested 1.5 s of its 3 (its plan was made 2 s or more before that)
    assert await cancel_expired(r.bridge) == 0
    assert r.rows("SELECT status FROM orders WHERE id = ?", entry[0]["id"])[0]["status"] == "open"
    clock.advance(1.6)
    assert await cancel_expired(r.bridge) == 1
    await r.bridge.queues.join()


async def test_an_order_journaled_before_sent_at_was_recorded_counts_from_its_plan(bridges: Any) -> None:
    clock = Clock()
    r = await bridges(config_text("cancel_after: 30"), clock)
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    r.bridge.store.conn.execute("UPDATE orders SET sent_at = NULL")  # as a row from before the column reads
    clock.now = datetime.fromisoformat(r.rows("SELECT created_at FROM orders")[0]["created_at"])
    clock.advance(30)
    assert await cancel_expired(r.bridge) == 1


async def test_a_fill_the_cancel_after_cancel_finds_is_news_once(bridges: Any) -> None:
    # The order filled at the venue after the last poll; the timeout's cancel comes too late and gets the fill
    # back. That fill is reported as the poll would have (`order.filled`), and recorded once.
    clock = Clock()
    r = await bridges(config_text("cancel_after: 30"), clock)
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    broker = r.bridge.runtime.broker("paper")
    assert isinstance(broker, PaperBroker)
    await broker.observe_price("AMD", Decimal(89))  # fills at the venue; no poll has seen it yet
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    clock.now = datetime.fromisoformat(r.rows("SELECT sent_at FROM orders")[0]["sent_at"])
    clock.advance(30)
    assert await cancel_expired(r.bridge) == 0, "a filled order is not canceled"
    assert r.rows("SELECT status FROM orders")[0]["status"] == "filled"
    assert await poll_orders(r.bridge) == 0
    assert [(e.kind, e.data["quantity"], e.data["price"]) for e in events] == [("order.filled", "1", "90")]


async def test_a_partial_fill_whose_rest_the_timeout_cancels_is_notified_as_a_fill(bridges: Any) -> None:
    """Alpaca or an exchange answers the cancel with `canceled`, 3 of 10 filled: the operator now holds 3 shares
    and, subscribed to `order.filled` (the default), must hear of them."""
    from bridge.models import Order
    from bridge.notify.config import DEFAULT_EVENTS, NotifyTarget

    clock = Clock()
    r = await bridges(config_text("cancel_after: 30"), clock)
    await r.accepted(quantity=10, **RESTING)
    await r.bridge.queues.join()
    [row] = r.rows("SELECT * FROM orders")
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None

    async def cancel_after_a_partial_fill(client_order_id: str) -> Order:  # as the venue answers it
        return Order(client_order_id, "AMD", "buy", Decimal(10), "limit", "canceled", limit_price=Decimal(90),
                     filled_quantity=Decimal(3), avg_fill_price=Decimal(90))  # fmt: skip

    broker.cancel_order = cancel_after_a_partial_fill  # type: ignore[method-assign]
    events: list[Event] = []
    r.bridge.executor.observers.append(events.append)
    clock.now = datetime.fromisoformat(row["sent_at"])
    clock.advance(30)
    assert await cancel_expired(r.bridge) == 1
    [event] = events
    ops = NotifyTarget(type="webhook", url="https://hooks.example/ops")
    assert ops.wants(event.kind, DEFAULT_EVENTS), f"{event.kind} ({event.text}) reaches no default subscriber"
    assert event.data["quantity"] == "3" and "canceled" in event.text, event


async def test_a_cancel_the_venue_keeps_failing_is_tried_again_less_and_less_often(bridges: Any) -> None:
    """Each try is a request from the rate limit that submissions share: not one a second for as long as it fails."""
    from tests.jobs.venue import StubbornPaper

    clock = Clock()
    stubborn = config_text("cancel_after: 30").replace("plugin: paper", "plugin: tests.jobs.venue:StubbornPaper")
    r = await bridges(stubborn, clock)
    await r.accepted(**RESTING)
    await r.bridge.queues.join()
    clock.now = datetime.fromisoformat(r.rows("SELECT sent_at FROM orders")[0]["sent_at"])
    clock.advance(30)
    StubbornPaper.cancels = 0
    job = r.bridge.jobs.scheduler.get_job("cfg:timeouts")
    assert job is not None
    for _second in range(120):  # the job runs every second
        await job.func()
        clock.advance(1)
    assert 3 <= StubbornPaper.cancels <= 8, StubbornPaper.cancels  # 1, 2, 4 ... 60 s apart, not 120 tries
    assert r.rows("SELECT status FROM orders")[0]["status"] == "open"
