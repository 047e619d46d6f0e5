"""A position the bridge reads flat closes the shares from before the read: a close at the broker the journal never
saw (by hand, a protective leg) leaves no share counted that the account no longer holds."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.execution import share
from bridge.jobs.flatten import flatten
from bridge.jobs.orders import poll_orders
from bridge.models import OrderRequest
from tests.conftest import ADMIN, TOKEN
from tests.jobs.conftest import OTHER_TOKEN, Clock, Running, config_text

NY = ZoneInfo("America/New_York")
MONDAY_1555 = datetime(2026, 11, 23, 15, 55, tzinfo=NY)
# The template adapter's in-memory venue, which knows nothing of reduce-only: a sell of what is not held goes short.
CONFIG = (
    f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n"
    "brokers:\n  mine:\n    plugin: template_broker\n    options: {cash: 100000}\n"
    f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: mine\n"
    '        flatten_at: "15:55"\n        timezone: America/New_York\n'
    f"  other:\n    token: {OTHER_TOKEN}\n    subscriptions:\n      - broker: mine\n"
)


def venue(r: Running) -> Any:
    broker = r.bridge.runtime.broker("mine")
    assert broker is not None and broker.venue is not None  # type: ignore[attr-defined]
    return broker.venue  # type: ignore[attr-defined]


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The venue's positions show every fill by the next read: the hours between them in a trading day, here ms."""
    monkeypatch.setattr(share, "POSITION_LAG_SECONDS", 0)


async def test_a_position_closed_at_the_broker_and_read_flat_is_no_share_of_what_another_strategy_buys(
    bridges: Any, settled: None
) -> None:
    """sq's 1 AMD was sold at the broker (by hand); the other strategy's buy read the account flat, then bought 10.
    Still counting sq's 1, its flatten_at sold 1 of the other strategy's 10."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(CONFIG, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 1
    venue(r).positions["AMD"] = Decimal(0)  # closed at the broker: the journal never sees that sale
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10)  # its read finds the account flat
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 10
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "mine") == 0, "sq holds none of the account's 10"
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 10, "the other strategy's share was sold"


async def test_a_flatten_reading_its_position_flat_counts_none_of_what_is_bought_after_it(
    bridges: Any, settled: None
) -> None:
    """sq's 1 AMD was sold at the broker; its flatten read the account flat and closed nothing. The next day the
    other strategy bought 10: still counting sq's 1, that day's flatten sold 1 of them."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(CONFIG, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    venue(r).positions["AMD"] = Decimal(0)  # closed at the broker
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "mine") == 0
    venue(r).positions["AMD"] = Decimal(10)  # the other strategy's, bought outside any read of the bridge
    clock.now = MONDAY_1555 + timedelta(days=1)
    assert await flatten(r.bridge, "sq", "mine") == 0, "sq holds none of the account's 10"
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 10, "the other strategy's share was sold"


async def test_a_read_of_the_position_lagging_a_fill_just_journaled_closes_no_share(
    bridges: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """sq's buy filled just before 15:55; the venue's positions did not show it yet when the flatten read them (flat).
    Taken for flat, that read marked sq's entry closed: the run again of the flatten read the 1 held, found no share
    of sq's in it, and left it open overnight."""
    clock = Clock(MONDAY_1555 - timedelta(seconds=30))
    r: Running = await bridges(CONFIG, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    broker = r.bridge.runtime.broker("mine")
    read = broker.fetch_positions  # type: ignore[union-attr]
    lagging = [[]]  # the first read answers from before the fill

    async def lagging_read() -> Any:
        return lagging.pop() if lagging else await read()

    monkeypatch.setattr(broker, "fetch_positions", lagging_read)
    monkeypatch.setattr(share, "POSITION_LAG_SECONDS", 3600)  # the fill is well within it, however slow
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "mine") == 0, "the read found nothing held"
    told = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING" and "counted still" in rec.message]
    assert len(told) == 1 and "just before the read" in told[0], told
    assert await flatten(r.bridge, "sq", "mine") == 1, "its share is counted still"
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 0, "sq's 1 AMD held overnight"


PAPER = config_text(
    'flatten_at: "15:55"\ntimezone: America/New_York\ntake_profit: {percent: 50}\nstop_loss: {percent: 50}'
)


async def by_hand(r: Running, side: str, quantity: int) -> None:
    """An order at the paper account the bridge never placed (a trade in the broker's own app)."""
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None
    request = OrderRequest(f"by-hand-{side}-{quantity}", "AMD", side, Decimal(quantity), reference_price=Decimal(100))  # type: ignore[arg-type]
    assert (await broker.create_order(request)).status == "filled"


async def test_a_take_profit_that_left_the_account_flat_ends_the_shares_from_before_it(bridges: Any) -> None:
    """sq bought 10 with a take-profit; 5 of them were sold by hand, and the take-profit sold the 5 left (a leg
    never sells more than is held). sq's fills netted to 5 where the account held none: once 7 were bought by hand,
    its flatten_at sold 5 of them."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(PAPER, clock)
    await r.accepted(ticker="AMD", action="buy", price=100, quantity=10)
    await r.bridge.queues.join()
    await by_hand(r, "sell", 5)
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None
    await broker.observe_price("AMD", Decimal(150))  # the take-profit's price: it sells the 5 held
    assert await poll_orders(r.bridge) >= 1
    assert await r.positions() == {}
    await by_hand(r, "buy", 7)
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0, "sq holds none of the 7 bought by hand"
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(7)}


async def test_a_resting_order_the_read_lists_unfilled_does_not_keep_the_shares_from_before_a_flat_read(
    bridges: Any, settled: None
) -> None:
    """The other strategy's limit buy rested far below (GTC, as a dip buy does for days). sq's 1 AMD was sold at the
    broker, and the other strategy's buy read the account flat: that read listed the limit working and unfilled, yet
    took it for an order that may have filled unseen, and marked nothing. Still counting sq's 1, its flatten_at sold 1
    of the other strategy's 10."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(CONFIG, clock)
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10, orderType="limit", limitPrice=50,
                     timeInForce="gtc")  # fmt: skip
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 1
    venue(r).positions["AMD"] = Decimal(0)  # closed at the broker: the journal never sees that sale
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10)  # its read finds the account flat
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 10
    assert r.rows("SELECT status FROM orders WHERE type = 'limit'")[0]["status"] in ("open", "submitted", "accepted")
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "mine") == 0, "sq holds none of the account's 10"
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 10, "the other strategy's share was sold"


async def test_an_exit_of_all_of_the_position_beside_a_resting_order_it_listed_unfilled_ends_the_shares_it_sold(
    bridges: Any, settled: None
) -> None:
    """The other strategy's limit buy rested far below, its 10 held beside sq's 1; its exit sold all 11. Working as the
    exit's read ran, the limit (listed unfilled by that read) was taken for an order that may have filled unseen, and
    nothing was marked: still counting sq's 1, once 7 were bought by hand sq's flatten_at sold 1 of them."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(CONFIG, clock)
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10, orderType="limit", limitPrice=50,
                     timeInForce="gtc")  # fmt: skip
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10)
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 11
    await r.accepted("other", ticker="AMD", action="exit", price=100)
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 0
    assert r.rows("SELECT status FROM orders WHERE type = 'limit'")[0]["status"] in ("open", "submitted", "accepted")
    venue(r).positions["AMD"] = Decimal(7)  # bought by hand, outside any read of the bridge
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "mine") == 0, "sq holds none of the 7 bought by hand"
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 7, "what was bought by hand was sold"


async def test_an_exit_beside_its_own_bracket_legs_marks_what_it_sold(
    bridges: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """sq's take-profit and stop-loss worked beside its 10 as its exit read the position: the exit cancels them after
    that read and before it sells, so they filled nothing across it and keep nothing counted."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(PAPER, clock)
    await r.accepted(ticker="AMD", action="buy", price=100, quantity=10)
    await r.bridge.queues.join()
    assert len(r.rows("SELECT * FROM orders WHERE status IN ('open', 'held', 'accepted', 'submitted')")) == 2
    await r.accepted(ticker="AMD", action="exit", price=100)
    await r.bridge.queues.join()
    assert await r.positions() == {}
    assert not [rec for rec in caplog.records if "counted still" in rec.getMessage()]
    filled = r.rows("SELECT leg, closed_by FROM orders WHERE CAST(filled_quantity AS REAL) > 0")
    assert {row["leg"] for row in filled} == {"entry", "exit"} and all(row["closed_by"] for row in filled), filled
    await by_hand(r, "buy", 7)
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0, "sq holds none of the 7 bought by hand"


async def test_a_flat_read_marks_nothing_of_an_order_another_signal_placed_while_it_ran(
    bridges: Any, monkeypatch: pytest.MonkeyPatch, settled: None
) -> None:
    """The flatten is not serialized with the executions of the symbol: while its read of the positions ran (flat:
    sq's 1 was sold at the broker), the other strategy bought 10. Marked closed with sq's, that buy would count for
    no share, and the 10 would be sold by no flatten of the other strategy's."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(CONFIG, clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    venue(r).positions["AMD"] = Decimal(0)  # closed at the broker
    broker = r.bridge.runtime.broker("mine")
    read = broker.fetch_positions  # type: ignore[union-attr]

    across = [True]  # the flatten's read only: the buy's own read of the positions is an ordinary one

    async def read_across_a_buy() -> Any:
        flat = await read()
        if across.pop() if across else False:
            await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10)
            await r.bridge.queues.join()
        return flat

    monkeypatch.setattr(broker, "fetch_positions", read_across_a_buy)
    clock.now = MONDAY_1555
    await flatten(r.bridge, "sq", "mine")
    await r.bridge.queues.join()
    bought = r.rows("SELECT closed_by FROM orders WHERE quantity = '10'")
    assert len(bought) == 1 and bought[0]["closed_by"] is None, "the other strategy's 10 are counted by no share"
    assert venue(r).positions["AMD"] == 10


async def test_a_flatten_reading_its_position_flat_beside_a_resting_order_counts_none_of_what_is_bought_after_it(
    bridges: Any, settled: None
) -> None:
    """sq's 1 AMD was sold at the broker while the other strategy's limit buy rested far below (a dip buy, for days).
    flatten_at's own read found AMD flat, but listed no open orders: the limit, working as it read, was taken for one
    that may have filled unseen, and nothing was marked. The next day, still counting sq's 1, its flatten_at sold 1
    of the 10 the other strategy bought meanwhile."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(CONFIG, clock)
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10, orderType="limit", limitPrice=50,
                     timeInForce="gtc")  # fmt: skip
    await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    venue(r).positions["AMD"] = Decimal(0)  # closed at the broker: the journal never sees that sale
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "mine") == 0
    assert r.rows("SELECT closed_by FROM orders WHERE type = 'market'")[0]["closed_by"], "sq's 1 is no share now"
    venue(r).positions["AMD"] = Decimal(10)  # the other strategy's, bought outside any read of the bridge
    clock.now = MONDAY_1555 + timedelta(days=1)
    assert await flatten(r.bridge, "sq", "mine") == 0, "sq holds none of the account's 10"
    await r.bridge.queues.join()
    assert venue(r).positions["AMD"] == 10, "the other strategy's share was sold"


async def test_a_take_profit_that_left_the_account_flat_beside_a_resting_order_ends_the_shares_from_before_it(
    bridges: Any,
) -> None:
    """As above, while the other strategy's limit buy rested far below (a dip buy, for days). The order poll's read
    after the take-profit's fill found AMD flat, but listed no open orders: the limit, working as it read, was taken
    for one that may have filled unseen, and sq's 5 stayed counted until some later read."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))
    r: Running = await bridges(PAPER, clock)
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10, orderType="limit", limitPrice=50,
                     timeInForce="gtc")  # fmt: skip
    await r.accepted(ticker="AMD", action="buy", price=100, quantity=10)
    await r.bridge.queues.join()
    await by_hand(r, "sell", 5)
    broker = r.bridge.runtime.broker("paper")
    assert broker is not None
    await broker.observe_price("AMD", Decimal(150))  # the take-profit's price: it sells the 5 held
    assert await poll_orders(r.bridge) >= 1
    assert await r.positions() == {}
    entry = r.rows("SELECT closed_by FROM orders WHERE type = 'market'")
    assert len(entry) == 1 and entry[0]["closed_by"], "sq's 5 are counted still after the flat read"
    limit = r.rows("SELECT closed_by FROM orders WHERE type = 'limit' AND side = 'buy'")
    assert len(limit) == 1 and limit[0]["closed_by"] is None, "the resting limit is counted, working"
    await by_hand(r, "buy", 7)
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 0, "sq holds none of the 7 bought by hand"
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(7)}
