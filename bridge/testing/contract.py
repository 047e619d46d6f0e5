"""The broker contract: the behaviour the daemon relies on, as a pytest suite any adapter inherits.

Subclass `BrokerContract` in a test module (the class name must start with `Test`) and implement
`open_broker`; pytest runs every check below against your adapter. Checks that need something your
adapter does not declare (shorting, limit orders, duplicate rejection) are skipped with the reason.
Two optional hooks widen the coverage when your venue is a local fake: `inject_fault` (outages,
rate limits, a lost response) and `rejected_request` (an order the venue refuses).

Every answer is checked as the daemon checks it (`bridge.brokers.answers`): an order's status, id and
Decimal quantities, one position per symbol. An adapter the daemon would refuse never passes the kit.

Never point the kit at a live account: it places and cancels real orders.
Each check runs on its own event loop (`asyncio.run`), so no pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import BaseModel

from bridge.brokers import answers
from bridge.brokers.base import Broker, Capabilities, capabilities_in_force
from bridge.brokers.registry import REQUIRED_METHODS
from bridge.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected, TemporaryBrokerError, UnknownOutcome
from bridge.models import Order, OrderRequest, OrderType, Side

Fault = Literal["none", "unavailable", "rate_limited", "lost_response"]
ALL_ORDER_TYPES: tuple[OrderType, ...] = ("market", "limit", "stop", "stop_limit", "trailing_stop")
Check = Callable[[Broker], Awaitable[None]]


class BrokerContract:
    """Inherit from this in a `Test...` class and implement `open_broker`."""

    symbol: ClassVar[str] = "SQ"
    quantity: ClassVar[Decimal] = Decimal(1)
    # Sent as the order's reference price (the signal's price); venues with their own quotes ignore it.
    reference_price: ClassVar[Decimal | None] = Decimal(100)
    # A buy limit at this price must rest, unfilled, long enough to be listed and canceled.
    resting_limit_price: ClassVar[Decimal] = Decimal(1)
    fill_timeout: ClassVar[float] = 5.0

    async def open_broker(self, workdir: Path) -> Broker:
        """A connected adapter on a fresh (or at least test-only) account; `workdir` is a private temp dir."""
        raise NotImplementedError("implement open_broker(workdir) to return a connected adapter")

    def capabilities(self, broker: Broker) -> Capabilities:
        """What the checks may expect of the venue: its `capabilities_for(options)` where the adapter keeps its
        options model as `options`, else its class's (override for a venue that differs from its class)."""
        return capabilities_in_force(broker) or type(broker).capabilities

    async def close_broker(self, broker: Broker) -> None:
        """Undo `open_broker` (close the adapter, and whatever else it opened)."""
        await broker.close()

    async def inject_fault(self, broker: Broker, fault: Fault) -> bool:
        """Make the venue misbehave until called again with "none"; return False when you cannot (skips)."""
        return False

    def rejected_request(self, client_order_id: str) -> OrderRequest | None:
        """An order the venue refuses (by default far more than any test account can pay); None skips."""
        return self.request(client_order_id, quantity=Decimal(10) ** 9)

    # helpers

    def request(self, client_order_id: str | None = None, side: Side = "buy", type: OrderType = "market",
                quantity: Decimal | None = None, **fields: object) -> OrderRequest:  # fmt: skip
        """An order for the kit's symbol; fields are passed to `OrderRequest`."""
        return OrderRequest(
            client_order_id=client_order_id or new_client_order_id(),
            symbol=self.symbol, side=side, type=type, quantity=self.quantity if quantity is None else quantity,
            reference_price=self.reference_price, **fields,  # type: ignore[arg-type]
        )  # fmt: skip

    async def position(self, broker: Broker) -> Decimal:
        """The signed position in the kit's symbol (0 when flat); an optional `fetch_position` must agree."""
        held = await answers.fetch_positions(broker)  # the daemon's own checks: one Decimal position per symbol
        listed = sum((p.quantity for p in held if p.symbol == self.symbol), Decimal(0))
        one = getattr(broker, "fetch_position", None)
        if one is not None:
            alone = answers.position(broker, "fetch_position", await one(self.symbol), self.symbol)
            assert (alone.quantity if alone else Decimal(0)) == listed, (
                f"fetch_position({self.symbol!r}) says {alone}, fetch_positions() says {listed}"
            )
        return listed

    async def wait_filled(self, broker: Broker, client_order_id: str) -> Order:
        """Poll `fetch_order` until the order is filled (fails after `fill_timeout`)."""
        deadline = time.monotonic() + self.fill_timeout
        while True:
            order = await answers.fetch_order(broker, client_order_id)
            if order.status == "filled" or time.monotonic() > deadline:
                assert order.status == "filled", f"order {client_order_id} did not fill: {order}"
                return order
            await asyncio.sleep(0.05)

    def run(self, workdir: Path, check: Check) -> None:
        """Open the adapter, run one check on a fresh event loop, then close the adapter."""

        async def main() -> None:
            broker = await self.open_broker(workdir)
            try:
                await check(broker)
            finally:
                await self.inject_fault(broker, "none")
                await self.close_broker(broker)

        asyncio.run(main())

    # the checks

    def test_declares_capabilities_options_and_async_methods(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            cls = type(broker)
            assert isinstance(cls.capabilities, Capabilities)
            assert inspect.isclass(cls.options_model) and issubclass(cls.options_model, BaseModel)
            assert isinstance(broker, Broker)
            for name in REQUIRED_METHODS:
                assert inspect.iscoroutinefunction(getattr(broker, name)), f"{name} must be `async def`"

        self.run(tmp_path, check)

    def test_account_balances_are_decimals(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            account = await broker.fetch_account()
            for value in (account.cash, account.equity, account.buying_power):
                assert isinstance(value, Decimal)
            assert account.currency

        self.run(tmp_path, check)

    def test_market_order_fills_moves_the_position_and_is_found_by_client_order_id(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            before = await self.position(broker)
            request = self.request()
            placed = await answers.create_order(broker, request)
            assert (placed.client_order_id, placed.symbol, placed.side) == (request.client_order_id, self.symbol, "buy")
            assert (placed.quantity, placed.type) == (self.quantity, "market")
            assert placed.status not in ("rejected", "canceled", "unknown"), placed
            filled = await self.wait_filled(broker, request.client_order_id)
            assert filled.filled_quantity == self.quantity
            assert placed.broker_order_id is None or filled.broker_order_id == placed.broker_order_id
            assert await self.position(broker) == before + self.quantity

        self.run(tmp_path, check)

    def test_selling_what_was_bought_returns_the_position(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            before = await self.position(broker)
            buy = await answers.create_order(broker, self.request())
            await self.wait_filled(broker, buy.client_order_id)
            sell = await answers.create_order(broker, self.request(side="sell"))
            await self.wait_filled(broker, sell.client_order_id)
            assert await self.position(broker) == before

        self.run(tmp_path, check)

    def test_short_sale_gives_a_negative_position(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            if not self.capabilities(broker).shorting:
                pytest.skip("the adapter declares no shorting")
            before = await self.position(broker)
            if before != 0:
                pytest.skip(f"the test account is not flat in {self.symbol}")
            sell = await answers.create_order(broker, self.request(side="sell"))
            await self.wait_filled(broker, sell.client_order_id)
            assert await self.position(broker) == -self.quantity
            cover = await answers.create_order(broker, self.request(side="buy"))
            await self.wait_filled(broker, cover.client_order_id)
            assert await self.position(broker) == 0

        self.run(tmp_path, check)

    def test_limit_order_rests_is_listed_and_cancels(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            if "limit" not in self.capabilities(broker).order_types:
                pytest.skip("the adapter declares no limit orders")
            request = self.request(type="limit", limit_price=self.resting_limit_price, time_in_force="gtc")
            placed = await answers.create_order(broker, request)
            assert placed.status in ("submitted", "open"), placed
            assert placed.limit_price == self.resting_limit_price
            coid = request.client_order_id
            assert coid in [o.client_order_id for o in await answers.fetch_open_orders(broker, self.symbol)]
            assert coid in [o.client_order_id for o in await answers.fetch_open_orders(broker)]
            canceled = await answers.cancel_order(broker, coid)
            assert (canceled.client_order_id, canceled.status) == (coid, "canceled")
            assert (await answers.fetch_order(broker, coid)).status == "canceled"
            assert coid not in [o.client_order_id for o in await answers.fetch_open_orders(broker, self.symbol)]
            assert (await answers.cancel_order(broker, coid)).status == "canceled"  # a second cancel is harmless

        self.run(tmp_path, check)

    def test_replace_order_swaps_a_working_order_in_one_step_when_declared(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            if not self.capabilities(broker).replaces_orders:
                pytest.skip("the adapter declares no replace_order (a breakeven then cancels and places a stop)")
            swap = getattr(broker, "replace_order", None)
            assert inspect.iscoroutinefunction(swap), "replaces_orders is declared: replace_order must be `async def`"
            old = self.request(type="limit", limit_price=self.resting_limit_price, time_in_force="gtc")
            await answers.create_order(broker, old)
            new = self.request(type="limit", limit_price=self.resting_limit_price * 2, time_in_force="gtc")
            placed = await answers.create_order(broker, new, old.client_order_id)
            assert placed.status in ("submitted", "open") and placed.limit_price == new.limit_price, placed
            working = [o.client_order_id for o in await answers.fetch_open_orders(broker, self.symbol)]
            assert new.client_order_id in working and old.client_order_id not in working, working
            # The old order is over, not followed to its replacement: the daemon follows that one by its own id.
            assert (await answers.fetch_order(broker, old.client_order_id)).status == "canceled"
            assert (await answers.fetch_order(broker, new.client_order_id)).limit_price == new.limit_price
            assert (await answers.cancel_order(broker, new.client_order_id)).status == "canceled"

        self.run(tmp_path, check)

    def test_unknown_client_order_id_raises_order_not_found(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            with pytest.raises(OrderNotFound):
                await answers.fetch_order(broker, new_client_order_id())

        self.run(tmp_path, check)

    def test_duplicate_client_order_id_is_refused_when_declared(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            if not self.capabilities(broker).rejects_duplicate_client_order_id:
                pytest.skip("the venue does not refuse duplicates: the daemon's journal is the only dedupe")
            before = await self.position(broker)
            first = await answers.create_order(broker, self.request())
            await self.wait_filled(broker, first.client_order_id)
            with pytest.raises(DuplicateClientOrderId):
                await answers.create_order(broker, self.request(first.client_order_id))
            assert await self.position(broker) == before + self.quantity

        self.run(tmp_path, check)

    def test_refused_order_raises_order_rejected_and_changes_nothing(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            request = self.rejected_request(new_client_order_id())
            if request is None:
                pytest.skip("no rejected_request() for this adapter")
            before = await self.position(broker)
            with pytest.raises(OrderRejected) as raised:
                await answers.create_order(broker, request)
            assert not isinstance(raised.value, DuplicateClientOrderId)
            assert await self.position(broker) == before
            await _assert_not_working(broker, request.client_order_id)

        self.run(tmp_path, check)

    def test_non_positive_quantity_is_rejected(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            request = self.request(quantity=Decimal(0))
            with pytest.raises(OrderRejected):
                await answers.create_order(broker, request)
            await _assert_not_working(broker, request.client_order_id)

        self.run(tmp_path, check)

    def test_undeclared_order_type_is_rejected_never_substituted(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            missing = [t for t in ALL_ORDER_TYPES if t not in self.capabilities(broker).order_types]
            if not missing:
                pytest.skip("the adapter declares every order type")
            price = self.resting_limit_price
            request = self.request(type=missing[0], time_in_force="gtc", limit_price=price, stop_price=price)
            with pytest.raises(OrderRejected):
                await answers.create_order(broker, request)
            await _assert_not_working(broker, request.client_order_id)

        self.run(tmp_path, check)

    def test_outage_makes_reads_raise_temporary_errors(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            await self._fault(broker, "unavailable")
            for read in (broker.fetch_account, broker.fetch_positions, broker.fetch_open_orders):
                with pytest.raises(TemporaryBrokerError):
                    await read()
            await self.inject_fault(broker, "none")
            await answers.fetch_positions(broker)

        self.run(tmp_path, check)

    def test_rate_limit_is_a_temporary_error(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            await self._fault(broker, "rate_limited")
            with pytest.raises(TemporaryBrokerError):
                await answers.fetch_positions(broker)
            request = self.request()
            with pytest.raises(TemporaryBrokerError):  # a refused request was not executed: safe to report so
                await answers.create_order(broker, request)
            await self.inject_fault(broker, "none")
            await _assert_not_working(broker, request.client_order_id)

        self.run(tmp_path, check)

    def test_create_during_an_outage_never_claims_success(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            await self._fault(broker, "unavailable")
            request = self.request()
            with pytest.raises((TemporaryBrokerError, UnknownOutcome)) as raised:
                await answers.create_order(broker, request)
            await self.inject_fault(broker, "none")
            if isinstance(raised.value, TemporaryBrokerError):  # promises the order was not placed
                await _assert_not_working(broker, request.client_order_id)

        self.run(tmp_path, check)

    def test_lost_response_is_an_unknown_outcome_resolved_by_client_order_id(self, tmp_path: Path) -> None:
        async def check(broker: Broker) -> None:
            before = await self.position(broker)
            await self._fault(broker, "lost_response")
            request = self.request()
            with pytest.raises(UnknownOutcome):  # never OrderRejected: the venue did take it
                await answers.create_order(broker, request)
            await self.inject_fault(broker, "none")
            found = await self.wait_filled(broker, request.client_order_id)
            assert found.quantity == self.quantity
            assert await self.position(broker) == before + self.quantity

        self.run(tmp_path, check)

    async def _fault(self, broker: Broker, fault: Fault) -> None:
        if not await self.inject_fault(broker, fault):
            pytest.skip(f"inject_fault({fault!r}) is not available for this adapter")


def new_client_order_id() -> str:
    """A fresh client order id in the daemon's format (`tb-` and 29 hex digits)."""
    return "tb-" + uuid.uuid4().hex[:29]


async def _assert_not_working(broker: Broker, client_order_id: str) -> None:
    """The venue holds no live or filled order under this id (absent, or recorded as rejected)."""
    try:
        order = await answers.fetch_order(broker, client_order_id)
    except OrderNotFound:
        return
    assert order.status == "rejected" and order.filled_quantity == 0, order
