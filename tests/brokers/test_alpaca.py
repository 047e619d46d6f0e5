"""The Alpaca adapter against a fake Alpaca server: exact request bodies, errors, legs, throttling."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.registry import BrokerStartError, open_broker
from bridge.brokers.throttle import RateLimited, Throttle
from bridge.config.schema import Config, Subscription
from bridge.config.security import GlobalRisk
from bridge.errors import (
    AccountRefused,
    BrokerError,
    HeldUnsent,
    OrderNotFound,
    OrderRejected,
    TemporaryBrokerError,
    UnknownOutcome,
)
from bridge.execution.market import market_context
from bridge.models import BracketLeg, OrderRequest, Signal
from bridge.risk import Guard, SubmitRefused
from bridge.store.db import Store
from plugins.alpaca import HOLD_WAIT_SECONDS, LIVE_URL, PAPER_URL, AlpacaBroker, AlpacaOptions
from tests.brokers.conftest import journal_order
from tests.brokers.test_contract_alpaca import alpaca_options
from tests.conftest import GUARD, free_port
from tests.execution.test_executor import Harness
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca


@pytest.fixture
async def fake(alpaca_server: tuple[FakeAlpaca, str]) -> FakeAlpaca:
    """The module's fake Alpaca, with a fresh account."""
    alpaca_server[0].reset()
    return alpaca_server[0]


@pytest.fixture
async def broker(alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca) -> AsyncIterator[AlpacaBroker]:
    """A connected adapter on the fake."""
    adapter = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name="alpaca"))
    await adapter.connect()
    yield adapter
    await adapter.close()


def request(coid: str = "tb-1", **fields: Any) -> OrderRequest:
    """An order for SQ; fields override."""
    values: dict[str, Any] = {"client_order_id": coid, "symbol": "SQ", "side": "buy", "quantity": Decimal(1), **fields}
    return OrderRequest(**values)


SENT = [
    (
        request(type="limit", limit_price=Decimal("60.30"), time_in_force="gtc"),
        {"type": "limit", "limit_price": "60.3", "time_in_force": "gtc"},
    ),
    (request(type="stop", stop_price=Decimal(120)), {"type": "stop", "stop_price": "120"}),
    (
        request(type="stop_limit", stop_price=Decimal(120), limit_price=Decimal("120.5")),
        {"type": "stop_limit", "stop_price": "120", "limit_price": "120.5"},
    ),
    (
        request(side="sell", type="trailing_stop", trail_percent=Decimal("2.5"), time_in_force="gtc"),
        {"side": "sell", "type": "trailing_stop", "trail_percent": "2.5", "time_in_force": "gtc"},
    ),
    (
        request(type="limit", limit_price=Decimal(1), extended_hours=True),
        {"type": "limit", "limit_price": "1", "extended_hours": True},
    ),
    (request(quantity=Decimal("0.25")), {"qty": "0.25"}),
    (
        request(quantity=Decimal("0.5"), type="stop", stop_price=Decimal(120)),
        {"qty": "0.5", "type": "stop", "stop_price": "120"},
    ),
    (request(quantity=Decimal("1E+1")), {"qty": "10"}),
    (
        request(
            type="limit",
            limit_price=Decimal(100),
            take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(110)),
            stop_loss=BracketLeg("tb-sl", "stop_limit", stop_price=Decimal(95), limit_price=Decimal("94.5")),
        ),
        {
            "type": "limit",
            "limit_price": "100",
            "order_class": "bracket",
            "take_profit": {"limit_price": "110"},
            "stop_loss": {"stop_price": "95", "limit_price": "94.5"},
        },
    ),
    (
        request(stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90))),
        {"order_class": "oto", "stop_loss": {"stop_price": "90"}},
    ),
]


@pytest.mark.parametrize(("order", "expected"), SENT, ids=lambda v: "" if isinstance(v, dict) else v.type)
async def test_the_exact_body_alpaca_receives(broker: AlpacaBroker, fake: FakeAlpaca, order: OrderRequest,
                                              expected: dict[str, Any]) -> None:  # fmt: skip
    await broker.create_order(order)
    base = {"symbol": "SQ", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day",
            "client_order_id": order.client_order_id}  # fmt: skip
    assert fake.order_requests == [{**base, **expected}]


async def test_a_market_order_is_reported_as_alpaca_filled_it(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    order = await broker.create_order(request(quantity=Decimal(3)))
    assert (order.status, order.filled_quantity, order.avg_fill_price) == ("filled", Decimal(3), Decimal(100))
    assert order.broker_order_id == fake.orders[0]["id"]
    (position,) = await broker.fetch_positions()
    assert (position.symbol, position.quantity, position.avg_price) == ("SQ", Decimal(3), Decimal(100))
    account = await broker.fetch_account()
    assert (account.cash, account.equity, account.currency) == (Decimal(99700), Decimal(100000), "USD")


async def test_a_short_position_is_negative(broker: AlpacaBroker) -> None:
    await broker.create_order(request(side="sell", quantity=Decimal(2)))
    assert [(p.symbol, p.quantity) for p in await broker.fetch_positions()] == [("SQ", Decimal(-2))]


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (request(quantity=Decimal(5000)), "Alpaca refused the order (403): insufficient buying power"),
        (request(symbol="NOPE"), '(422): asset "NOPE" not found'),
        (request(coid="x" * 129), "(422): client_order_id must be no more than 128 characters"),
    ],
    ids=["buying-power", "unknown-asset", "long-id"],
)
async def test_alpaca_refusals_are_final_rejections_with_alpacas_message(
    broker: AlpacaBroker, fake: FakeAlpaca, order: OrderRequest, message: str
) -> None:
    with pytest.raises(OrderRejected) as raised:
        await broker.create_order(order)
    assert message in str(raised.value)
    assert await broker.fetch_positions() == []


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (request(quantity=Decimal("0.5"), time_in_force="gtc"), "fractional quantity (0.5) with time_in_force day"),
        (
            request(quantity=Decimal("0.5"), side="sell", type="trailing_stop", trail_percent=Decimal(1)),
            "Alpaca has no fractional trailing_stop orders",
        ),
        (request(type="market", extended_hours=True), "extended hours need time_in_force day limit orders"),
        (
            request(type="limit", limit_price=Decimal(99), time_in_force="gtc", extended_hours=True),
            "not a gtc limit",
        ),
        (
            request(take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(110)), time_in_force="ioc"),
            "legs need time_in_force day or gtc, not ioc",
        ),
        (
            request(stop_loss=BracketLeg("tb-sl", "trailing_stop", trail_percent=Decimal(1))),
            "Alpaca's stop-loss leg is a stop or stop-limit order with a stop price",
        ),
        (
            request(
                type="limit",
                limit_price=Decimal(99),
                extended_hours=True,
                stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)),
            ),
            "Alpaca takes no take-profit or stop-loss legs on an extended hours order",
        ),
        (
            request(
                take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(90)),
                stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(95)),
            ),
            "a buy's take-profit limit price (90) must be above its stop-loss stop price (95)",
        ),
        (
            request(
                side="sell",
                take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(110)),
                stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(105)),
            ),
            "a sell's take-profit limit price (110) must be below its stop-loss stop price (105)",
        ),
        (
            request(
                type="limit", limit_price=Decimal(100), stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(100))
            ),
            "a buy's stop-loss stop price (100) must be at least 0.01 below the entry's limit price (100)",
        ),
        (
            request(
                type="limit",
                limit_price=Decimal(100),
                take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal("100.00")),
            ),
            "a buy's take-profit limit price (100) must be at least 0.01 above the entry's limit price (100)",
        ),
        (
            request(
                side="sell",
                type="limit",
                limit_price=Decimal(100),
                stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal("99.5")),
            ),
            "a sell's stop-loss stop price (99.5) must be at least 0.01 above the entry's limit price (100)",
        ),
        (
            request(side="sell", type="trailing_stop", trail_percent=Decimal(1), time_in_force="ioc"),
            "Alpaca takes trailing_stop orders with time_in_force day or gtc only, not ioc",
        ),
        (
            request(type="stop", stop_price=Decimal(120), time_in_force="opg"),
            "Alpaca takes time_in_force opg with market and limit orders only, not a stop",
        ),
        (
            request(type="stop_limit", stop_price=Decimal(120), limit_price=Decimal(121), time_in_force="cls"),
            "Alpaca takes time_in_force cls with market and limit orders only, not a stop_limit",
        ),
        (
            request(side="sell", type="trailing_stop"),
            "a trailing_stop needs exactly one of a trail amount or a trail percent",
        ),
        (
            request(side="sell", type="trailing_stop", trail_percent=Decimal(1), trail_amount=Decimal(2)),
            "a trailing_stop needs exactly one of a trail amount or a trail percent",
        ),
    ],
    ids=[
        "fractional-gtc",
        "fractional-trailing",
        "extended-market",
        "extended-gtc",
        "bracket-ioc",
        "trail-leg",
        "extended-legs",
        "tp-below-sl",
        "sell-tp-above-sl",
        "sl-at-entry",
        "tp-at-entry",
        "sell-sl-below-entry",
        "trailing-ioc",
        "stop-on-open",
        "stop-limit-on-close",
        "trailing-without-trail",
        "trailing-with-both",
    ],
)
async def test_what_alpacas_order_rules_refuse_is_rejected_before_it_is_sent(
    broker: AlpacaBroker, fake: FakeAlpaca, order: OrderRequest, message: str
) -> None:
    with pytest.raises(OrderRejected, match=re.escape(message)):
        broker.check_order(order)
    with pytest.raises(OrderRejected, match=re.escape(message)):
        await broker.create_order(order)
    assert fake.order_requests == []


async def test_bracket_legs_are_found_by_our_ids_and_cancel_each_other(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    entry = request(
        "tb-entry", take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(110)),
        stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)),
    )  # fmt: skip
    assert (await broker.create_order(entry)).status == "filled"
    take, stop = await broker.fetch_order("tb-tp"), await broker.fetch_order("tb-sl")
    assert (take.client_order_id, take.type, take.side, take.limit_price, take.status) == (
        "tb-tp", "limit", "sell", Decimal(110), "open"
    )  # fmt: skip
    # Held beside its take-profit (Alpaca's OCO) until it triggers: accepted, and working.
    assert (stop.client_order_id, stop.type, stop.stop_price, stop.status) == (
        "tb-sl",
        "stop",
        Decimal(90),
        "submitted",
    )
    assert {o.client_order_id for o in await broker.fetch_open_orders("SQ")} == {"tb-tp", "tb-sl"}
    fake.set_price("SQ", Decimal(111))
    assert (await broker.fetch_order("tb-tp")).status == "filled"
    assert (await broker.fetch_order("tb-sl")).status == "canceled"
    assert await broker.fetch_positions() == []


async def test_a_stop_loss_alpaca_holds_and_leaves_out_of_its_open_orders_is_listed_after_a_restart_too(
    alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca, fresh_store: Store
) -> None:
    """Alpaca lists a bracket's `held` stop-loss (beside its working take-profit) as closed, not open: the open
    orders read without it, a breakeven found no stop-loss to move, and the position looked unprotected."""
    entry = request(
        "tb-entry", take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(110)),
        stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)),
    )  # fmt: skip
    context = BrokerContext(name="alpaca", store=fresh_store)
    first = AlpacaBroker(alpaca_options(alpaca_server[1]), context)
    await first.connect()
    before = fake.prices["SQ"]  # prices outlive the fake's reset: the tests after this one rest orders below it
    fake.set_price("SQ", Decimal(100))
    await first.create_order(entry)
    assert [o["status"] for o in fake.orders] == ["filled", "new", "held"]
    listed = {o.client_order_id: o for o in await first.fetch_open_orders("SQ")}
    assert set(listed) == {"tb-tp", "tb-sl"}
    assert (listed["tb-sl"].type, listed["tb-sl"].parent_client_order_id) == ("stop", "tb-entry")
    await first.close()

    def journal_the_legs() -> None:
        for seq, (coid, leg, kind, at) in enumerate([("tb-tp", "take_profit", "limit", 1), ("tb-sl", "stop_loss",
                                                                                            "stop", 2)]):  # fmt: skip
            journal_order(fresh_store.conn, client_order_id=coid, broker="alpaca", leg=leg, seq=seq, symbol="SQ",
                          side="sell", type=kind, quantity="1", time_in_force="gtc", status="open",
                          parent_client_order_id="tb-entry", broker_order_id=fake.orders[at]["id"])  # fmt: skip

    await fresh_store.run(journal_the_legs)
    again = AlpacaBroker(alpaca_options(alpaca_server[1]), context)
    await again.connect()
    try:
        assert {o.client_order_id for o in await again.fetch_open_orders()} == {"tb-tp", "tb-sl"}
        fake.set_price("SQ", Decimal(111))  # the take-profit fills, and the stop-loss goes with it
        assert await again.fetch_open_orders() == []
    finally:
        fake.set_price("SQ", before)
        await again.close()


async def test_held_stop_losses_are_listed_without_a_read_of_each_at_every_listing(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """Every signal lists its ticker's open orders and every order poll (5 s) lists them all. Read each by its id,
    20 held stop-losses cost 20 requests a listing, of Alpaca's 200 a minute: the signals' reads queued behind the
    throttle for seconds, and a listing of AAPL read SQ's legs too. One listing of every status finds them."""
    before = fake.prices["SQ"]  # prices outlive the fake's reset: the tests after this one rest orders below it
    fake.set_price("SQ", Decimal(100))
    try:
        for index in range(20):
            await broker.create_order(request(
                f"tb-{index}", take_profit=BracketLeg(f"tb-{index}-tp", "limit", limit_price=Decimal(110)),
                stop_loss=BracketLeg(f"tb-{index}-sl", "stop", stop_price=Decimal(90)),
            ))  # fmt: skip
        assert sum(o["status"] == "held" for o in fake.orders) == 20
        for symbol in ("SQ", None, "SQ"):
            fake.requests.clear()
            listed = {o.client_order_id for o in await broker.fetch_open_orders(symbol)}
            assert listed == {f"tb-{i}-{leg}" for i in range(20) for leg in ("tp", "sl")}
            assert len(fake.requests) <= 3, fake.requests
        fake.requests.clear()
        assert await broker.fetch_open_orders("AAPL") == []
        assert len(fake.requests) <= 2, fake.requests
        fake.set_price("SQ", Decimal(89))  # every stop-loss fills, its take-profit with it
        assert await broker.fetch_open_orders("SQ") == []
    finally:
        fake.set_price("SQ", before)


async def test_a_held_leg_far_back_is_read_by_its_id_not_paged_to_at_every_listing(
    broker: AlpacaBroker, fake: FakeAlpaca, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held legs are looked for among the orders since the oldest of them: an old GTC bracket's, with more
    orders since it than the pages read, left the newer ones read by id at every listing, besides those pages."""
    monkeypatch.setattr("plugins.alpaca.HELD_PAGES", 1)
    before = fake.prices["SQ"]
    fake.set_price("SQ", Decimal(100))

    async def bracket(coid: str) -> None:
        await broker.create_order(request(
            coid, time_in_force="gtc", take_profit=BracketLeg(f"{coid}-tp", "limit", limit_price=Decimal(110)),
            stop_loss=BracketLeg(f"{coid}-sl", "stop", stop_price=Decimal(90)),
        ))  # fmt: skip

    try:
        await bracket("tb-old")
        for index in range(520):  # more orders since it than a page holds, filled and over
            await broker.create_order(request(f"tb-{index}", side="sell" if index % 2 else "buy"))
        for index in range(5):
            await bracket(f"tb-new-{index}")
        for _ in range(3):
            fake.requests.clear()
            assert len(await broker.fetch_open_orders("SQ")) == 12
        assert len(fake.requests) <= 3, fake.requests  # the listing, one page since the new legs, the old leg by id
    finally:
        fake.set_price("SQ", before)


async def test_a_stop_in_a_legs_place_that_alpaca_lists_open_is_not_read_again_at_every_listing(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """A breakeven's stop put in an oto bracket's stop-loss's place works (`new`), listed open under our id: it was
    still taken for one the listing left out, and read again by its id at every listing."""
    before = fake.prices["SQ"]
    fake.set_price("SQ", Decimal(100))
    try:
        await broker.create_order(request("tb-entry", stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90))))
        moved = request("tb-be", side="sell", type="stop", stop_price=Decimal(100), time_in_force="gtc",
                        reduce_only=True)  # fmt: skip
        await broker.replace_order("tb-sl", moved)
        assert [o["status"] for o in fake.orders] == ["filled", "replaced", "new"]
        for _ in range(2):
            fake.requests.clear()
            listed = await broker.fetch_open_orders("SQ")
            assert [(o.client_order_id, o.parent_client_order_id) for o in listed] == [("tb-be", "tb-entry")]
        assert fake.requests == [("GET", "/v2/orders")], fake.requests
    finally:
        fake.set_price("SQ", before)


async def test_after_a_restart_a_leg_is_found_through_the_journaled_parent(
    alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca, fresh_store: Store
) -> None:
    first = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name="alpaca"))
    await first.connect()
    await first.create_order(request("tb-entry", stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90))))
    await first.close()

    def journal_the_leg() -> None:
        journal_order(
            fresh_store.conn,
            client_order_id="tb-sl",
            broker="alpaca",
            leg="stop_loss",
            seq=1,
            symbol="SQ",
            side="sell",
            type="stop",
            quantity="1",
            time_in_force="gtc",
            status="submitted",
            parent_client_order_id="tb-entry",
        )

    await fresh_store.run(journal_the_leg)
    restarted = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name="alpaca", store=fresh_store))
    await restarted.connect()
    try:
        leg = await restarted.fetch_order("tb-sl")
        assert (leg.client_order_id, leg.type, leg.status) == ("tb-sl", "stop", "open")
        assert leg.parent_client_order_id == "tb-entry"
        assert [o.client_order_id for o in await restarted.fetch_open_orders("SQ")] == ["tb-sl"]  # ours once found
        assert (await restarted.cancel_order("tb-sl")).status == "canceled"
        with pytest.raises(OrderNotFound):
            await restarted.fetch_order("tb-never-sent")
    finally:
        await restarted.close()


async def test_a_replace_of_a_bracket_leg_for_another_quantity_is_refused_before_it_is_sent(
    alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca
) -> None:
    """Alpaca replaces a leg's stop and limit prices only ("Orders at Alpaca", Bracket Orders): a quantity change
    is refused here, with nothing sent, and the leg works on as it was."""
    fake.set_price("SQ", Decimal(100))
    broker = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name="alpaca"))
    await broker.connect()
    try:
        legs = {"take_profit": BracketLeg("tb-tp", "limit", limit_price=Decimal(110)),
                "stop_loss": BracketLeg("tb-sl", "stop", stop_price=Decimal(90))}  # fmt: skip
        await broker.create_order(request("tb-entry", quantity=Decimal(5), **legs))
        moved = request("tb-be", side="sell", type="stop", quantity=Decimal(8), stop_price=Decimal(100),
                        time_in_force="gtc", reduce_only=True)  # fmt: skip
        with pytest.raises(OrderRejected, match="not its quantity"):
            await broker.replace_order("tb-sl", moved)
        assert fake.replace_requests == []
        leg = await broker.fetch_order("tb-sl")
        assert (leg.status, leg.quantity, leg.stop_price) == ("submitted", Decimal(5), Decimal(90))  # held, working
    finally:
        await broker.close()


async def test_a_stop_loss_replaced_in_place_is_still_named_as_its_brackets_after_a_restart_too(
    alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca, fresh_store: Store
) -> None:
    """Alpaca's replacement of a leg stays in its bracket (canceling the take-profit cancels it): it is named as the
    leg's, so the planner and the executor know the two go together, as for the leg it replaced."""
    fake.set_price("SQ", Decimal(100))
    first = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name="alpaca"))
    await first.connect()
    legs = {"take_profit": BracketLeg("tb-tp", "limit", limit_price=Decimal(110)),
            "stop_loss": BracketLeg("tb-sl", "stop", stop_price=Decimal(90))}  # fmt: skip
    await first.create_order(request("tb-entry", quantity=Decimal(5), **legs))
    moved = request("tb-be", side="sell", type="stop", quantity=Decimal(5), stop_price=Decimal(100),
                    time_in_force="gtc", reduce_only=True)  # fmt: skip
    assert (await first.replace_order("tb-sl", moved)).parent_client_order_id == "tb-entry"
    try:
        named = {o.client_order_id: o.parent_client_order_id for o in await first.fetch_open_orders("SQ")}
        assert named == {"tb-tp": "tb-entry", "tb-be": "tb-entry"}
    finally:
        await first.close()

    def journal_them() -> None:
        common = {"broker": "alpaca", "symbol": "SQ", "side": "sell", "quantity": "5", "time_in_force": "gtc"}
        journal_order(fresh_store.conn, client_order_id="tb-sl", leg="stop_loss", seq=2, type="stop",
                      status="canceled", parent_client_order_id="tb-entry", **common)  # fmt: skip
        journal_order(fresh_store.conn, client_order_id="tb-be", leg="breakeven", seq=0, type="stop",
                      status="open", replaces="tb-sl", **common)  # fmt: skip

    await fresh_store.run(journal_them)
    restarted = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name="alpaca", store=fresh_store))
    await restarted.connect()
    try:
        assert (await restarted.fetch_order("tb-be")).parent_client_order_id == "tb-entry"
        listed = await restarted.fetch_open_orders("SQ")
        assert {o.parent_client_order_id for o in listed if o.client_order_id == "tb-be"} == {"tb-entry"}
    finally:
        await restarted.close()


async def test_a_take_profit_alpaca_says_the_filled_stop_loss_replaced_is_not_reported_filled_too(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """When a bracket's stop-loss fills, Alpaca marks its take-profit `replaced`, `replaced_by` the stop. Followed
    there, the take-profit read as filled with the stop's fill: one sale journaled twice, as two exits."""
    entry = request(
        "tb-entry", take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(110)),
        stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)),
    )  # fmt: skip
    await broker.create_order(entry)
    before = fake.prices["SQ"]  # prices outlive the fake's reset: the tests after this one rest orders below it
    fake.set_price("SQ", Decimal(89))
    stop, take = await broker.fetch_order("tb-sl"), await broker.fetch_order("tb-tp")
    assert (stop.status, stop.filled_quantity) == ("filled", Decimal(1))
    assert (take.status, take.filled_quantity, take.broker_order_id) == ("canceled", Decimal(0), fake.orders[1]["id"])
    assert take.error is not None and stop.broker_order_id in take.error  # says why: replaced by the stop
    fake.set_price("SQ", before)


async def test_more_open_orders_than_one_page_of_alpacas_are_all_listed(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    """Alpaca lists 500 orders a page at most ("Get all orders": `limit` max 500), paged by submission time. The
    listing read one page: an exit's cancel-all missed what lay past it, left working to open the other side."""
    for index in range(251):  # 753 orders: an entry resting below the market, and its two legs (one instant)
        await broker.create_order(request(
            f"tb-{index}", type="limit", limit_price=Decimal(50), time_in_force="gtc",
            take_profit=BracketLeg(f"tb-{index}-tp", "limit", limit_price=Decimal(60)),
            stop_loss=BracketLeg(f"tb-{index}-sl", "stop", stop_price=Decimal(40)),
        ))  # fmt: skip
    listed = [o.client_order_id for o in await broker.fetch_open_orders("SQ")]
    assert len(listed) == len(set(listed)) == 753
    assert {"tb-250", "tb-250-tp", "tb-250-sl", "tb-0-sl"} <= set(listed)


async def test_open_orders_past_a_page_are_listed_by_ticker_across_an_instant_at_the_page_edge(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """The open listing's own pages (the test above now pages through held legs): 510 orders of SQ among AMD's, the
    500th and those beside it submitted at one instant, are listed whole for SQ and for every ticker."""
    for index in range(520):
        symbol = "AMD" if index % 52 == 0 else "SQ"
        await broker.create_order(request(f"tb-{index}", symbol=symbol, type="limit", limit_price=Decimal(50),
                                          time_in_force="gtc"))  # fmt: skip
    for order in fake.orders[495:506]:
        order["submitted_at"] = fake.orders[495]["submitted_at"]
    sq = [o.client_order_id for o in await broker.fetch_open_orders("SQ")]
    assert len(sq) == len(set(sq)) == 510
    fake.requests.clear()
    everything = [o.client_order_id for o in await broker.fetch_open_orders()]
    assert sorted(everything) == sorted(f"tb-{index}" for index in range(520))
    assert fake.requests == [("GET", "/v2/orders")] * 2  # two pages, no order read alone


async def test_open_orders_alpaca_cannot_list_whole_are_an_error_not_a_short_list(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """More than a page submitted at one instant cannot be paged by submission time: said, never listed short."""
    for index in range(501):
        await broker.create_order(request(f"tb-{index}", type="limit", limit_price=Decimal(50), time_in_force="gtc"))
    for order in fake.orders:
        order["submitted_at"] = fake.orders[0]["submitted_at"]
    with pytest.raises(BrokerError, match="submitted at one instant"):
        await broker.fetch_open_orders("SQ")


async def test_canceling_a_filled_order_returns_it_filled(broker: AlpacaBroker) -> None:
    await broker.create_order(request("tb-done"))
    assert (await broker.cancel_order("tb-done")).status == "filled"
    with pytest.raises(OrderNotFound):
        await broker.cancel_order("tb-unknown")


async def test_a_sell_while_long_sends_nothing_past_a_stop_whose_cancel_is_still_pending(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """Alpaca takes a cancel (204) and may leave the order `pending_cancel`, still able to fill: the rest of
    the plan waits for no one, so it is not sent (it went out before, and long 5 became short 6)."""
    await broker.create_order(request("long-5", symbol="AMD", quantity=Decimal(5)))
    await broker.create_order(request("resting-stop", symbol="AMD", side="sell", quantity=Decimal(5), type="stop",
                                      stop_price=Decimal(140), time_in_force="gtc"))  # fmt: skip
    fake.cancel_delay, fake.cancel_fills_at = 3.0, Decimal(139)  # longer than the adapter waits; then it fills
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    signal_id = await harness.run(Signal(ticker="AMD", action="sell"))  # plan: cancel the stop, sell 5, short 1
    assert len(fake.order_requests) == 2  # nothing after the cancel
    decided = await harness.signal(signal_id)
    assert decided["state"] == "failed"
    assert "the cancel of resting-stop was not confirmed" in decided["decision"], decided["decision"]
    assert await harness.orders(signal_id) == {}  # no plan committed, so nothing left pending
    deadline = time.monotonic() + GUARD  # the venue settles the stop (3 s on): it fills
    while next(o["status"] for o in fake.orders if o["client_order_id"] == "resting-stop") != "filled":
        assert time.monotonic() < deadline, fake.orders
        await asyncio.sleep(0.05)
    assert fake.positions["AMD"][0] == 0  # flat, as the sell wanted, never short 6


async def test_a_replaced_order_is_followed_to_its_replacement(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    """Alpaca replaces an order on a PATCH (its dashboard) or for a corporate action: the old one says `replaced`,
    its `replaced_by` works on under another client order id. Read as canceled, it was left working unseen."""
    await broker.create_order(request("tb-lim", type="limit", limit_price=Decimal(95), time_in_force="gtc"))
    keys = {"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET_KEY}
    async with httpx.AsyncClient(base_url=broker.base_url, headers=keys) as dashboard:
        replaced = await dashboard.patch(f"/v2/orders/{fake.orders[0]['id']}", json={"limit_price": "96"})
    assert replaced.status_code == 200, replaced.text
    order = await broker.fetch_order("tb-lim")
    assert (order.status, order.limit_price, order.broker_order_id) == ("open", Decimal(96), replaced.json()["id"])
    assert (await broker.cancel_order("tb-lim")).status == "canceled"
    assert [o["status"] for o in fake.orders] == ["replaced", "canceled"]  # the replacement no longer works


async def test_an_order_replaced_while_it_is_canceled_is_not_reported_canceled_while_its_replacement_works(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """Replaced from the dashboard between the adapter's lookup and its DELETE, the order read `replaced`, which is
    final, and was reported canceled: the journal closed it, and the replacement worked on unseen."""
    await broker.create_order(request("tb-race", type="limit", limit_price=Decimal(95), time_in_force="gtc"))
    fake.replace_first = {"limit_price": "96"}
    order = await broker.cancel_order("tb-race")
    assert [o["status"] for o in fake.orders] == ["replaced", "canceled"]  # the replacement is canceled too
    assert (order.client_order_id, order.status, order.broker_order_id) == ("tb-race", "canceled", fake.orders[1]["id"])


async def test_a_resting_order_fills_when_the_price_crosses_it(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    await broker.create_order(request("tb-lim", type="limit", limit_price=Decimal(95)))
    assert [o.status for o in await broker.fetch_open_orders("SQ")] == ["open"]
    assert await broker.fetch_open_orders("AMD") == []
    fake.set_price("SQ", Decimal(94))
    order = await broker.fetch_order("tb-lim")
    assert (order.status, order.avg_fill_price) == ("filled", Decimal(94))


async def test_a_partial_fill_done_for_the_day_keeps_its_fill_and_stays_working(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """done_for_day: "will not receive further updates until the next trading day". A GTC order takes up again
    then, and the shares it bought are held: read as an unfilled open order, the 4 shares went unjournaled."""
    await broker.create_order(request("tb-gtc", type="limit", limit_price=Decimal(50), quantity=Decimal(10),
                                      time_in_force="gtc"))  # fmt: skip
    fake.fill_part("tb-gtc", Decimal(4), Decimal(50))
    fake.set_status("tb-gtc", "done_for_day")
    order = await broker.fetch_order("tb-gtc")
    assert (order.status, order.filled_quantity, order.avg_fill_price) == ("partially_filled", Decimal(4), Decimal(50))
    assert [o.client_order_id for o in await broker.fetch_open_orders("SQ")] == ["tb-gtc"]


async def test_a_suspended_order_is_still_working_and_is_canceled_at_alpaca(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """suspended: "not eligible for trading", not final: read as rejected, a cancel never reached Alpaca and the
    order could trade once resumed, unseen."""
    await broker.create_order(request("tb-sus", type="limit", limit_price=Decimal(50), time_in_force="gtc"))
    fake.set_status("tb-sus", "suspended")
    assert (await broker.fetch_order("tb-sus")).status == "open"
    assert (await broker.cancel_order("tb-sus")).status == "canceled"
    assert fake.orders[0]["status"] == "canceled"


async def test_wrong_keys_are_reported_at_connect_with_the_fix(alpaca_server: tuple[FakeAlpaca, str]) -> None:
    options = {"key_id": KEY_ID, "secret_key": "wrong-secret", "base_url": alpaca_server[1]}
    with pytest.raises(BrokerStartError) as raised:
        await open_broker("alpaca", options, BrokerContext(name="alpaca"))
    assert "plugins/alpaca.py) failed in connect: CredentialsRefused: Alpaca refused the API keys" in str(raised.value)
    assert "check key_id, secret_key and paper in this broker's options" in str(raised.value)


def test_paper_is_the_default_and_live_must_be_asked_for() -> None:
    context = BrokerContext(name="alpaca")
    assert AlpacaBroker(AlpacaOptions(key_id="k", secret_key="s"), context).base_url == PAPER_URL
    assert AlpacaBroker(AlpacaOptions(key_id="k", secret_key="s", paper=False), context).base_url == LIVE_URL
    with pytest.raises(ValueError, match="base_url must start with https://"):
        AlpacaOptions(key_id="k", secret_key="s", base_url="ftp://example")


def test_the_default_rate_stays_below_alpacas_published_limit() -> None:
    limit = AlpacaBroker.capabilities.rate_limit_per_minute
    assert limit == 200
    assert AlpacaOptions(key_id="k", secret_key="s").max_requests_per_minute <= 0.8 * limit


async def test_requests_are_spaced_by_the_configured_rate(
    alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca
) -> None:
    adapter = AlpacaBroker(alpaca_options(alpaca_server[1], max_requests_per_minute=1200), BrokerContext(name="a"))
    await adapter.connect()  # burst of 10, then 20 a second
    try:
        start = time.monotonic()
        for _ in range(29):
            await adapter.fetch_positions()
        assert time.monotonic() - start >= 0.9
    finally:
        await adapter.close()


async def test_a_429_holds_every_call_until_alpacas_reset_then_the_read_succeeds(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    fake.throttled.append(0.4)
    start = time.monotonic()
    assert await broker.fetch_positions() == []
    assert time.monotonic() - start >= 0.35
    assert fake.requests.count(("GET", "/v2/positions")) == 2


async def test_a_submission_that_times_out_is_an_unknown_outcome_and_the_order_is_found(
    alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca
) -> None:
    adapter = AlpacaBroker(alpaca_options(alpaca_server[1], timeout_seconds=0.2), BrokerContext(name="a"))
    await adapter.connect()
    try:
        fake.answer_delay = 0.6
        with pytest.raises(UnknownOutcome):
            await adapter.create_order(request("tb-slow"))
        fake.answer_delay = 0
        assert (await adapter.fetch_order("tb-slow")).status == "filled"
        assert len(fake.order_requests) == 1  # looked up, never sent again
    finally:
        await adapter.close()


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 409, 202])
@pytest.mark.parametrize("placed", [True, False], ids=["placed", "not-placed"])
async def test_a_submission_answered_by_no_refusal_of_alpacas_is_an_unknown_outcome_looked_up_by_its_id(
    broker: AlpacaBroker, fake: FakeAlpaca, status: int, placed: bool
) -> None:
    """A 408 (request timeout) or a gateway's 5xx says nothing of whether Alpaca took the order: read as a refusal,
    an order Alpaca had placed was journaled as never sent, and the position it opened went unseen by the plan."""
    fake.gateway = (status, placed)
    with pytest.raises(UnknownOutcome, match=f"Alpaca answered {status}"):
        await broker.create_order(request("tb-gw"))
    if placed:
        assert (await broker.fetch_order("tb-gw")).status == "filled"
    else:
        with pytest.raises(OrderNotFound):
            await broker.fetch_order("tb-gw")
    assert len(fake.order_requests) == 1  # looked up, never sent again


async def test_an_order_placed_behind_a_408_is_found_and_journaled_as_filled(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """The executor looks the order up by its client order id: the signal executed, nothing sent twice."""
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    fake.gateway = (408, True)
    signal_id = await harness.run(Signal(ticker="SQ", action="buy", price=Decimal(100)))
    decided = await harness.signal(signal_id)
    assert decided["state"] == "executed", decided["decision"]
    assert (await harness.orders(signal_id))["entry"]["status"] == "filled"
    assert len(fake.order_requests) == 1 and fake.positions["SQ"][0] == 1


async def test_nobody_listening_means_not_sent() -> None:
    adapter = AlpacaBroker(alpaca_options(f"http://127.0.0.1:{free_port()}"), BrokerContext(name="a"))
    adapter._client = httpx.AsyncClient(base_url=adapter.base_url)  # as connect would, minus the account check
    try:
        with pytest.raises(TemporaryBrokerError) as raised:
            await adapter.create_order(request())
        assert not isinstance(raised.value, UnknownOutcome)
        with pytest.raises(TemporaryBrokerError):
            await adapter.fetch_account()
    finally:
        await adapter.close()


async def test_a_non_json_error_body_is_still_explained(broker: AlpacaBroker) -> None:
    with pytest.raises(BrokerError, match="failed"):
        await broker._get("/v2/no-such-endpoint")


# quotes (Market Data API v2)


async def test_a_quote_is_the_midpoint_of_the_latest_bid_and_ask_from_the_iex_feed(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    fake.quotes["AMD"] = (Decimal("150.10"), Decimal("150.30"))
    assert await broker.fetch_quote("AMD") == Decimal("150.20")
    assert ("GET", "/v2/stocks/AMD/quotes/latest") in fake.requests and fake.feeds == ["iex"]


async def test_a_one_sided_quote_gives_that_side_and_an_empty_one_none(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    fake.quotes["AMD"] = (None, Decimal("151"))
    assert await broker.fetch_quote("AMD") == Decimal(151)
    fake.quotes["AMD"] = (None, None)  # Alpaca answers zeros for a side it has no quote for
    assert await broker.fetch_quote("AMD") is None


async def test_a_symbol_the_data_api_does_not_know_is_an_error_the_planner_survives(broker: AlpacaBroker) -> None:
    with pytest.raises(BrokerError, match="404"):
        await broker.fetch_quote("NOPE")
    signal = Signal(ticker="NOPE", action="buy")  # no price: the planner asks for a quote, and goes on without one
    market = await market_context(broker, signal, Subscription(broker="alpaca"), "NOPE", None)
    assert market.quote is None


async def test_the_feed_is_an_option(alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca) -> None:
    fake.set_price("SQ", Decimal(100))
    adapter = AlpacaBroker(alpaca_options(alpaca_server[1], feed="sip"), BrokerContext(name="alpaca"))
    await adapter.connect()
    try:
        assert await adapter.fetch_quote("SQ") == Decimal(100)  # the fake's price, a cent either side
    finally:
        await adapter.close()
    assert fake.feeds == ["sip"]
    with pytest.raises(ValueError, match="feed"):
        alpaca_options(alpaca_server[1], feed="crystal-ball")
    with pytest.raises(ValueError, match="data_url must start with https://"):
        alpaca_options(alpaca_server[1], data_url="ftp://example")


async def test_an_exit_alpaca_would_refuse_is_rejected_before_the_stop_loss_is_canceled(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """Alpaca trades extended hours with DAY limit orders only: a GTC one was refused after the plan had canceled
    the position's stop-loss, which left the position with no stop at all."""
    entry = request("tb-entry", quantity=Decimal(5), time_in_force="gtc",
                    stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)))  # fmt: skip
    assert (await broker.create_order(entry)).status == "filled"
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    after_hours = Signal(ticker="SQ", action="exit", price=Decimal(100), extended_hours=True, time_in_force="gtc")
    decided = await harness.signal(await harness.run(after_hours))
    assert decided["state"] == "rejected", decided["decision"]
    assert "extended hours need time_in_force day" in decided["decision"], decided["decision"]
    assert "nothing was canceled or sent" in decided["decision"]
    assert len(fake.order_requests) == 1  # the entry only
    assert (await broker.fetch_order("tb-sl")).status == "open"  # the stop still protects the 5 shares


async def test_a_sub_penny_exit_is_rejected_before_the_stop_loss_is_canceled(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """A sender's limit goes as sent, and Alpaca refuses one off its tick ("sub-penny increment", a cent at or
    above $1): a {{close}} of 100.005 was refused after the exit's cancels had taken the position's stop-loss."""
    entry = request("tb-entry", quantity=Decimal(5), time_in_force="gtc",
                    stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)))  # fmt: skip
    assert (await broker.create_order(entry)).status == "filled"
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    limit_exit = Signal(ticker="SQ", action="exit", order_type="limit", limit_price=Decimal("100.005"))
    decided = await harness.signal(await harness.run(limit_exit))
    assert decided["state"] == "rejected", decided["decision"]
    assert "limit price 100.005 is off Alpaca's tick of 0.01" in decided["decision"], decided["decision"]
    assert len(fake.order_requests) == 1  # the entry only
    assert (await broker.fetch_order("tb-sl")).status == "open"
    below_a_dollar = request("tb-penny", type="limit", limit_price=Decimal("0.6013"), time_in_force="gtc")
    assert (await broker.create_order(below_a_dollar)).status == "open"  # four decimals below $1


async def test_an_exit_leaves_the_legs_of_an_entry_still_working(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """Alpaca lists a bracket's legs as orders of their own, naming no parent: an exit took the held legs of an
    entry still working for the position's take-profit and stop, and canceled them, so the entry filled later with
    no stop at all. The adapter says which entry a leg it placed belongs to."""
    assert (await broker.create_order(request("tb-first", quantity=Decimal(5)))).status == "filled"
    entry = request("tb-entry", type="limit", limit_price=Decimal(90), time_in_force="gtc",
                    take_profit=BracketLeg("tb-tp", "limit", limit_price=Decimal(120)),
                    stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(80)))  # fmt: skip
    assert (await broker.create_order(entry)).status == "open"
    legs = {o.client_order_id: o.parent_client_order_id for o in await broker.fetch_open_orders("SQ")}
    assert legs == {"tb-entry": None, "tb-tp": "tb-entry", "tb-sl": "tb-entry"}
    assert (await broker.fetch_order("tb-sl")).parent_client_order_id == "tb-entry"
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="alpaca", cancel_open_orders=False)
    decided = await harness.signal(await harness.run(Signal(ticker="SQ", action="exit", price=Decimal(100))))
    assert decided["state"] == "executed", decided["decision"]
    assert fake.positions["SQ"][0] == 0
    assert [(await broker.fetch_order(coid)).status for coid in ("tb-entry", "tb-tp", "tb-sl")] == ["open"] + [
        "submitted"
    ] * 2  # the entry still works, and its legs still wait to protect what it buys


async def test_a_replaced_leg_is_listed_under_our_id_once_read(broker: AlpacaBroker, fake: FakeAlpaca) -> None:
    """A stop-loss leg moved in Alpaca's dashboard works on as a new order: once read, the listing names it ours
    (and its entry), instead of an order of unknown origin beside a stop the bridge thinks is still there."""
    entry = request("tb-entry", time_in_force="gtc", stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)))
    assert (await broker.create_order(entry)).status == "filled"
    leg_id = next(o["id"] for o in fake.orders if o["_parent"])
    keys = {"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET_KEY}
    async with httpx.AsyncClient(base_url=broker.base_url, headers=keys) as dashboard:
        replaced = await dashboard.patch(f"/v2/orders/{leg_id}", json={"stop_price": "92"})
    assert replaced.status_code == 200, replaced.text
    assert (await broker.fetch_order("tb-sl")).stop_price == Decimal(92)
    listed = [(o.client_order_id, o.parent_client_order_id, o.stop_price) for o in await broker.fetch_open_orders("SQ")]
    assert listed == [("tb-sl", "tb-entry", Decimal(92))]


async def test_a_fractional_short_is_rejected_before_the_long_is_sold_and_its_stop_canceled(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """Alpaca sells no fractional shares short ("fractional orders are not allowed to short"): a reverse from a long
    of 0.5 sold the long and canceled its stop, and only then was its short refused, leaving nothing of either."""
    entry = request("tb-entry", quantity=Decimal("0.5"), stop_loss=BracketLeg("tb-sl", "stop", stop_price=Decimal(90)))
    assert (await broker.create_order(entry)).status == "filled"
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    harness.sub = Subscription(broker="alpaca", fractional=True)
    reverse = Signal(ticker="SQ", action="sell", quantity=Decimal("0.5"), price=Decimal(100))
    decided = await harness.signal(await harness.run(reverse))
    assert decided["state"] == "rejected", decided["decision"]
    assert "sells no fractional shares short" in decided["decision"], decided["decision"]
    assert "nothing was canceled or sent" in decided["decision"]
    assert len(fake.order_requests) == 1 and fake.positions["SQ"][0] == Decimal("0.5")  # the long is kept
    assert (await broker.fetch_order("tb-sl")).status == "open"  # with its stop
    exit_ = request("tb-exit", side="sell", quantity=Decimal("0.5"), reduce_only=True)
    broker.check_order(exit_)  # selling what is held is no short


BASE_BODY = {"symbol": "SQ", "qty": "1", "side": "buy", "type": "limit", "limit_price": "99", "time_in_force": "day"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**BASE_BODY, "extended_hours": True, "order_class": "oto", "stop_loss": {"stop_price": "90"}},
            "extended hours",
        ),
        (
            {
                **BASE_BODY,
                "order_class": "bracket",
                "take_profit": {"limit_price": "95"},
                "stop_loss": {"stop_price": "96"},
            },
            "take_profit.limit_price must be",
        ),
        ({**BASE_BODY, "order_class": "oto", "stop_loss": {"stop_price": "99"}}, "stop_loss.stop_price must be <="),
        (
            {**BASE_BODY, "order_class": "oto", "take_profit": {"limit_price": "98"}},
            "take_profit.limit_price must be >=",
        ),
        (
            {**BASE_BODY, "type": "market", "order_class": "oto", "stop_loss": {"stop_price": "100"}},
            "stop_loss.stop_price must be <=",
        ),
        ({**BASE_BODY, "type": "trailing_stop", "trail_percent": "1", "time_in_force": "ioc"}, "trailing stop"),
        ({**BASE_BODY, "type": "stop", "stop_price": "120", "time_in_force": "opg"}, "opg"),
    ],
    ids=["extended-legs", "tp-below-sl", "sl-at-entry", "tp-below-entry", "sl-at-market", "trailing-ioc", "stop-opg"],
)
async def test_the_fake_refuses_what_alpacas_docs_refuse(
    broker: AlpacaBroker, fake: FakeAlpaca, body: dict[str, Any], message: str
) -> None:
    """The fake takes nothing Alpaca's "Orders at Alpaca" refuses, so the rules checked before sending are real."""
    keys = {"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET_KEY}
    async with httpx.AsyncClient(base_url=broker.base_url, headers=keys) as client:
        answer = await client.post("/v2/orders", json={**body, "client_order_id": "raw-1"})
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["message"]
    assert fake.orders == []


async def test_revoked_keys_open_the_brokers_circuit_for_every_strategy_and_say_the_fix(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """A 401 is the account's keys, not one strategy's orders: one is enough to stop every strategy's orders."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    guard = Guard(fresh_store, lambda: config, lambda: 0.0)
    fake.revoked = True  # regenerated in Alpaca's dashboard while the daemon ran
    with pytest.raises(TemporaryBrokerError) as first:  # not placed: nothing to look up, nothing maybe-sent
        await guard.create_order("alpaca", broker, request("tb-a"), "sq-trend")
    said = str(first.value)
    assert "Alpaca refused the API keys" in said and "key_id" in said and "secret_key" in said and "paper" in said
    assert KEY_ID not in said and SECRET_KEY not in said
    assert guard.status() == {"alpaca": "open"}
    sent = len(fake.requests)
    with pytest.raises(SubmitRefused, match="broker alpaca's circuit breaker is open"):
        await guard.create_order("alpaca", broker, request("tb-b"), "other")
    assert len(fake.requests) == sent, "another strategy's order went to Alpaca with the same dead keys"
    assert guard.strategy_status() == {"alpaca": {"sq-trend": "closed", "other": "closed"}}


async def test_a_signal_read_with_revoked_keys_fails_at_once_saying_so(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """The plan's reads were retried with backoff as if Alpaca were busy: the same keys meet the same refusal."""
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    fake.revoked = True
    decided = await harness.signal(await harness.run(Signal(ticker="SQ", action="buy", price=Decimal(100))))
    assert decided["state"] == "failed", decided["decision"]
    assert "Alpaca refused the API keys" in decided["decision"], decided["decision"]
    assert fake.unauthorized <= 2, "asked again with keys Alpaca had refused"  # the position and the open orders
    assert fake.order_requests == []


@pytest.mark.parametrize(
    ("blocked", "flag"),
    [
        ("account is not authorized to trade", None),
        ("new orders are rejected by user request", None),  # trading suspended in the dashboard
        ("trading is not allowed on this account now", "trading_blocked"),  # words not known here: the account's say
        ("orders are not accepted now", "trade_suspended_by_user"),
        ("orders are not accepted at all", "account_blocked"),
        (None, None),  # every call refused "forbidden." (keys of an OAuth app, an IP allowlist), the account's too
    ],
    ids=["not-authorized", "suspended-by-user", "trading-blocked", "suspended-flag", "account-blocked", "forbidden"],
)
async def test_an_account_alpaca_lets_no_order_through_for_opens_the_brokers_circuit_for_every_strategy(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store, blocked: str | None, flag: str | None
) -> None:
    """A 403 for the whole account counted against each strategy alone: every strategy kept sending (and each was
    told its own orders were wrong) until its own circuit opened, as with the keys refused before."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    guard = Guard(fresh_store, lambda: config, lambda: 0.0)
    fake.blocked, fake.flag, fake.forbidden = blocked, flag, blocked is None
    with pytest.raises(AccountRefused) as first:  # not placed: nothing to look up
        await guard.create_order("alpaca", broker, request("tb-a"), "sq-trend")
    assert "Alpaca refuses every order of this account" in str(first.value)
    assert "Alpaca's dashboard" in str(first.value)
    assert guard.status() == {"alpaca": "open"}
    sent = len(fake.requests)
    with pytest.raises(SubmitRefused, match="broker alpaca's circuit breaker is open"):
        await guard.create_order("alpaca", broker, request("tb-b"), "other")
    assert len(fake.requests) == sent, "another strategy's order went to an account Alpaca lets no order through for"
    assert guard.strategy_status() == {"alpaca": {"sq-trend": "closed", "other": "closed"}}


async def test_insufficient_buying_power_stays_one_orders_refusal_and_other_strategies_still_send(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """Alpaca refuses an order too big for the buying power with a 403 as well: the order's, not the account's."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=1, breaker_cooldown=60))
    guard = Guard(fresh_store, lambda: config, lambda: 0.0)
    with pytest.raises(OrderRejected, match="insufficient buying power") as refused:
        await guard.create_order("alpaca", broker, request("tb-big", quantity=Decimal(5000)), "sq-trend")
    assert not isinstance(refused.value, AccountRefused)
    assert guard.status() == {"alpaca": "closed"}
    assert (await guard.create_order("alpaca", broker, request("tb-small"), "other")).status == "filled"


async def test_orders_the_throttle_held_past_their_send_by_do_not_open_the_brokers_circuit(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """A burst of signals at a bar's close: the orders our own throttle refused unsent, too late for their signals,
    counted as the venue failing, opened Alpaca's circuit, and the next fresh signals were refused for a minute."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    guard = Guard(fresh_store, lambda: config, lambda: 0.0)
    past = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(5):
        with pytest.raises(HeldUnsent, match="nothing was sent"):
            await guard.create_order("alpaca", broker, request(f"tb-late-{n}", send_by=past), "sq-trend")
    assert guard.status() == {"alpaca": "closed"}
    assert guard.strategy_status() == {"alpaca": {"sq-trend": "closed"}}
    fresh = request("tb-fresh", send_by=datetime.now(UTC) + timedelta(seconds=30))
    assert (await guard.create_order("alpaca", broker, fresh, "sq-trend")).status == "filled"
    assert [o["client_order_id"] for o in fake.orders] == ["tb-fresh"]


async def test_orders_refused_unsent_while_alpacas_reset_holds_count_once_in_the_brokers_circuit(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store
) -> None:
    """One 429 whose reset is far off: each order of the burst after it, refused by our throttle without asking
    Alpaca, counted as another failure, and a single 429 opened the broker's circuit for a minute past the reset."""
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=3, breaker_cooldown=60))
    guard = Guard(fresh_store, lambda: config, lambda: 0.0)
    fake.throttled.append(30.0)
    with pytest.raises(RateLimited):  # the venue's own answer: it counts
        await guard.create_order("alpaca", broker, request("tb-429"), "sq-trend")
    for n in range(5):
        with pytest.raises(HeldUnsent, match="nothing was sent"):
            await guard.create_order("alpaca", broker, request(f"tb-held-{n}"), "sq-trend")
    assert fake.orders == []
    assert guard.status() == {"alpaca": "closed"} and guard.breaker("alpaca").failures == 1


@pytest.mark.parametrize("fault", ["unavailable", "rate_limited"], ids=["503", "429"])
async def test_a_signals_reads_of_an_alpaca_that_keeps_failing_are_each_tried_three_times_at_most(
    broker: AlpacaBroker, fake: FakeAlpaca, fresh_store: Store, fault: str
) -> None:
    """The adapter retried each read and the executor retried the adapter's retries: 3 x 3 = 9 requests a read, and
    their waits multiplied, against a venue already failing or asking for less (throttle.py: three tries at most)."""
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    fake.fault = fault  # type: ignore[assignment]
    decided = await harness.signal(await harness.run(Signal(ticker="SQ", action="buy", price=Decimal(100))))
    assert decided["state"] == "failed", decided["decision"]
    # The position and the open orders are read at once: the signal fails with the first read that gives up.
    tries = [fake.requests.count(("GET", "/v2/positions")), fake.requests.count(("GET", "/v2/orders"))]
    assert max(tries) == 3 and min(tries) <= 3, tries
    assert fake.order_requests == []


async def test_an_order_is_not_held_past_a_short_wait_for_alpacas_reset_but_refused_unsent(
    broker: AlpacaBroker, fake: FakeAlpaca
) -> None:
    """After a 429 whose reset was far off, the next submission waited in the throttle until that reset (up to 60 s) and
    then went: a signal checked fresh before its order went out was sent that much older, past max_signal_age."""
    fake.throttled.append(50.0)  # far off (Alpaca's reset comes up to a minute later), however slow this machine
    with pytest.raises(RateLimited):  # a read's budget is 5 s: not asked again
        await broker.fetch_account()
    with pytest.raises(TemporaryBrokerError, match="nothing was sent") as refused:
        await broker.create_order(request("tb-held"))
    assert not isinstance(refused.value, UnknownOutcome)
    # Refused with more of the reset still to come than an order may wait: it did not wait it out first.
    assert isinstance(refused.value, RateLimited) and refused.value.retry_after is not None
    assert refused.value.retry_after > HOLD_WAIT_SECONDS, "the order waited out Alpaca's reset"
    assert fake.order_requests == []


async def never(seconds: float) -> None:
    """A throttle's sleep that never ends: the wait for the next token outlasts any test."""
    await asyncio.Event().wait()


async def test_an_order_the_throttle_would_hold_past_its_send_by_is_refused_unsent(
    alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca
) -> None:
    """A burst of signals queues their requests behind one another at 160/min: an order checked fresh before it
    queued then left seconds later, past its signal's max_signal_age (its `send_by`)."""
    adapter = AlpacaBroker(alpaca_options(alpaca_server[1], max_requests_per_minute=60), BrokerContext(name="alpaca"))
    await adapter.connect()
    try:
        while adapter.throttle._tokens >= 1:  # the burst spent: the next request waits about a second
            await adapter.fetch_account()
        paced = adapter.throttle
        # ... and here, for ever: the queue ahead of the order never lets it go. Only its send_by can end the wait,
        # however long this machine takes, and the order cannot have left after it.
        adapter.throttle = Throttle(60, sleep=never)
        await adapter.throttle.wait()
        soon = datetime.now(UTC) + timedelta(seconds=0.2)
        with pytest.raises(TemporaryBrokerError, match="max_signal_age; nothing was sent") as refused:
            await asyncio.wait_for(adapter.create_order(request("tb-late", send_by=soon)), GUARD)
        assert not isinstance(refused.value, UnknownOutcome)
        with pytest.raises(TemporaryBrokerError, match="nothing was sent"):  # already past: refused at once
            await adapter.create_order(request("tb-past", send_by=datetime.now(UTC) - timedelta(seconds=1)))
        assert fake.order_requests == []
        adapter.throttle = paced
        placed = await adapter.create_order(request("tb-in-time", send_by=datetime.now(UTC) + timedelta(seconds=30)))
        assert placed.client_order_id == "tb-in-time" and len(fake.order_requests) == 1
    finally:
        await adapter.close()
