"""The executor against a scripted fake *broker* (the external system) and a real journal; KeyedQueues ordering."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel

from bridge.brokers.base import Broker, Capabilities, NoOptions
from bridge.brokers.throttle import RateLimited
from bridge.config.schema import Subscription
from bridge.errors import HeldUnsent, OrderNotFound, OrderRejected, TemporaryBrokerError, UnknownOutcome
from bridge.execution.executor import Executor, Job, client_order_id
from bridge.execution.queues import KeyedQueues
from bridge.models import Account, Order, OrderRequest, OrderStatus, Position, Signal
from bridge.notify.events import Event
from bridge.store import journal
from bridge.store.db import Store, iso, utcnow
from tests.conftest import GUARD, eventually

STRATEGY = "s"
SUB = "fake"

# What the fake venue does with one create call: return the order's status, or raise.
Behaviour = Callable[["FakeBroker", OrderRequest], OrderStatus]


def fill(broker: FakeBroker, request: OrderRequest) -> OrderStatus:
    """A venue that fills every order at once."""
    return "filled"


class FakeBroker:
    """A scripted venue: records every call; `behaviours[i]` decides what the i-th create does."""

    capabilities: ClassVar[Capabilities] = Capabilities()
    options_model: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, positions: dict[str, Decimal] | None = None, behaviours: list[Behaviour] | None = None) -> None:
        self.positions: dict[str, Decimal] = dict(positions or {})
        self.behaviours = list(behaviours or [])
        self.orders: dict[str, Order] = {}
        self.creates: list[OrderRequest] = []
        self.fetches: list[str] = []
        self.position_reads = 0
        self.position_failures = 0  # the next N fetch_positions calls raise TemporaryBrokerError
        self.fill_on_fetch: int | None = None  # open orders fill at the N-th fetch_order

    async def connect(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to release."""

    async def fetch_account(self) -> Account:
        """A fixed account."""
        return Account(cash=Decimal(100000), equity=Decimal(100000), buying_power=Decimal(100000))

    async def fetch_positions(self) -> list[Position]:
        """The scripted positions (may fail temporarily first)."""
        self.position_reads += 1
        if self.position_failures:
            self.position_failures -= 1
            raise TemporaryBrokerError("503 from the venue")
        return [Position(symbol, qty) for symbol, qty in self.positions.items() if qty]

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still open."""
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    async def fetch_order(self, client_order_id: str) -> Order:
        """Look an order up by our id."""
        self.fetches.append(client_order_id)
        if client_order_id not in self.orders:
            raise OrderNotFound(client_order_id)
        order = self.orders[client_order_id]
        if order.is_open and self.fill_on_fetch is not None and len(self.fetches) >= self.fill_on_fetch:
            order = self._store(order, "filled")
        return order

    async def create_order(self, request: OrderRequest) -> Order:
        """Record the call, then do what the script says."""
        self.creates.append(request)
        behaviour = self.behaviours.pop(0) if self.behaviours else fill
        status = behaviour(self, request)
        return self.accept(request, status)

    def accept(self, request: OrderRequest, status: OrderStatus) -> Order:
        """Put an order in the venue's book (as a real venue would on receipt)."""
        order = Order(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            type=request.type,
            status="open",
            broker_order_id=f"v-{len(self.orders)}",
            limit_price=request.limit_price,
            stop_price=request.stop_price,
        )
        return self._store(order, status)

    def _store(self, order: Order, status: OrderStatus) -> Order:
        if status == "filled":
            signed = order.quantity if order.side == "buy" else -order.quantity
            self.positions[order.symbol] = self.positions.get(order.symbol, Decimal(0)) + signed
            order = replace(order, status="filled", filled_quantity=order.quantity, avg_fill_price=Decimal(100))
        else:
            order = replace(order, status=status)
        self.orders[order.client_order_id] = order
        return order

    async def cancel_order(self, client_order_id: str) -> Order:
        """Cancel an open order."""
        order = self.orders[client_order_id]
        if order.is_open:
            order = self._store(order, "canceled")
        return order


def sends(broker: FakeBroker) -> list[tuple[str, int]]:
    """(side, quantity) of every create call the venue received."""
    return [(r.side, int(r.quantity)) for r in broker.creates]


def accepted_then_lost(exc: Exception) -> Behaviour:
    """The venue books (and fills) the order, but the response is lost: the caller sees `exc`."""

    def behaviour(broker: FakeBroker, request: OrderRequest) -> OrderStatus:
        broker.accept(request, "filled")
        raise exc

    return behaviour


def raises(exc: Exception) -> Behaviour:
    """The venue never books the order and the caller sees `exc`."""

    def behaviour(broker: FakeBroker, request: OrderRequest) -> OrderStatus:
        raise exc

    return behaviour


def rests(broker: FakeBroker, request: OrderRequest) -> OrderStatus:
    """The venue books the order but does not fill it."""
    return "open"


async def journal_signal(store: Store, signal: Signal, received_at: datetime | None = None) -> str:
    """Journal an accepted signal with one execution for SUB, exactly as the webhook does."""
    signal_id = str(uuid.uuid4())
    received = iso(received_at or utcnow())
    webhook = journal.WebhookRow(
        id=str(uuid.uuid4()),
        received_at=received,
        strategy=STRATEGY,
        remote_addr=None,
        method="POST",
        path=f"/webhook/{STRATEGY}/***",
        headers={},
        body="{}",
        status_code=200,
        signal_id=signal_id,
    )
    row = {
        "id": signal_id,
        "webhook_id": webhook.id,
        "strategy": STRATEGY,
        "ticker": signal.ticker,
        "action": signal.action,
        "sentiment": signal.sentiment,
        "price": None if signal.price is None else str(signal.price),
        "quantity": None if signal.quantity is None else str(signal.quantity),
        "signal_time": None,
        "payload": json.dumps({"ticker": signal.ticker, "action": signal.action}),
        "extras": "{}",
        "received_at": received,
    }
    await store.run(journal.record_signal, store.conn, webhook, row, [(SUB, SUB)])
    return signal_id


class Harness:
    """A real Executor over a real journal, with the fake venue as its only broker."""

    def __init__(self, store: Store, broker: FakeBroker, exit_fill_timeout: float = 5.0, max_age: float = 60.0,
                 clock_skew: float = 0.0) -> None:  # fmt: skip
        self.store = store
        self.broker = broker
        self.sub = Subscription(broker=SUB, exit_fill_timeout=exit_fill_timeout)
        self.executor = Executor(store, max_age, lambda: {SUB: broker}, lambda strategy, key: (SUB, self.sub),
                                 clock_skew=clock_skew)  # fmt: skip

    async def run(self, signal: Signal, received_at: datetime | None = None) -> str:
        signal_id = await journal_signal(self.store, signal, received_at)
        await self.executor.run(Job(signal_id, STRATEGY, SUB, signal, received_at or utcnow()))
        return signal_id

    async def signal(self, signal_id: str) -> dict[str, Any]:
        rows = await self.store.run(
            lambda: self.store.conn.execute("SELECT * FROM signals WHERE id = ?", (signal_id,)).fetchall()
        )
        return dict(rows[0])

    async def orders(self, signal_id: str) -> dict[str, dict[str, Any]]:
        """The journaled orders of a signal, by leg."""
        rows = await self.store.run(
            lambda: self.store.conn.execute("SELECT * FROM orders WHERE signal_id = ?", (signal_id,)).fetchall()
        )
        return {row["leg"]: dict(row) for row in rows}


def test_the_fake_satisfies_the_broker_protocol() -> None:
    assert isinstance(FakeBroker(), Broker)


async def test_a_plain_entry_is_sent_once_and_recorded(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker())
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    assert [r.side for r in h.broker.creates] == ["buy"]
    entry = (await h.orders(signal_id))["entry"]
    assert entry["status"] == "filled" and entry["filled_quantity"] == "1" and entry["broker_order_id"] == "v-0"
    final = await h.signal(signal_id)
    assert final["state"] == "executed"
    assert final["decision"] == "buy while flat: opened long 1 (fixed_quantity 1)"


class ReadsInFlight(FakeBroker):
    """A venue whose position and open-order reads take a while, counting how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.peak = 0

    async def _slow(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1

    async def fetch_positions(self) -> list[Position]:
        await self._slow()
        return await super().fetch_positions()

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        await self._slow()
        return await super().fetch_open_orders(symbol)


class LocalReadsInFlight(ReadsInFlight):
    capabilities: ClassVar[Capabilities] = Capabilities(local=True)


async def test_a_remote_brokers_reads_overlap_and_a_local_brokers_run_in_turn(fresh_store: Store) -> None:
    remote, local = ReadsInFlight(), LocalReadsInFlight()
    for broker in (remote, local):
        signal_id = await Harness(fresh_store, broker).run(Signal(ticker="AMD", action="buy"))
        assert (await Harness(fresh_store, broker).signal(signal_id))["state"] == "executed"
    assert remote.peak == 2, "a remote venue's position and open orders are asked for at once"
    assert local.peak == 1, "a local broker is read one thing after the other"


class OrdersReadRefused(FakeBroker):
    """A venue whose open-orders read is refused at once while its position read is still retrying."""

    def __init__(self) -> None:
        super().__init__()
        self.position_failures = 1_000  # each position read fails: retried (after 0.2 s, 0.4 s) if left running

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        raise OrderRejected("403 forbidden: the venue refuses this read")


async def test_a_read_that_failed_takes_the_other_read_of_its_signal_with_it(fresh_store: Store) -> None:
    """Overlapped, the position read went on retrying at the venue after the open-orders read had failed the signal:
    requests for a signal already given up, spending the venue's rate limit beside the next signals'."""
    broker = OrdersReadRefused()
    signal_id = await Harness(fresh_store, broker).run(Signal(ticker="AMD", action="buy"))
    reads = broker.position_reads
    await asyncio.sleep(0.8)  # past every backoff of the retry loop: a read left running would have asked again
    assert broker.position_reads == reads
    assert (await Harness(fresh_store, broker).signal(signal_id))["state"] == "failed"
    assert broker.creates == []


async def test_each_order_carries_the_moment_its_signal_grows_too_old_to_leave(fresh_store: Store) -> None:
    """`send_by`: an adapter that would hold the order past it (a rate limit's queue) refuses it unsent."""
    received = utcnow() - timedelta(seconds=10)
    h = Harness(fresh_store, FakeBroker({"AMD": Decimal(1)}), max_age=30.0)
    await h.run(Signal(ticker="AMD", action="sell"), received_at=received)  # an exit, then the entry
    assert len(h.broker.creates) == 2
    assert all(r.send_by == received + timedelta(seconds=30) for r in h.broker.creates), h.broker.creates
    stamped = utcnow() - timedelta(seconds=9)  # sent 8 s before it arrived: its own time counts, plus the skew
    h = Harness(fresh_store, FakeBroker(), max_age=30.0, clock_skew=5.0)
    await h.run(Signal(ticker="MSFT", action="buy", time=stamped), received_at=stamped + timedelta(seconds=8))
    [entry] = h.broker.creates
    assert entry.send_by == stamped + timedelta(seconds=5 + 30)


async def test_unknown_outcome_of_an_accepted_order_is_looked_up_not_resent(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker(behaviours=[accepted_then_lost(UnknownOutcome("connection reset"))]))
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    coid = client_order_id(signal_id, SUB, "entry")
    assert [r.client_order_id for r in h.broker.creates] == [coid], "an ambiguous create must never be re-sent"
    assert coid in h.broker.fetches, "the outcome must be resolved by client_order_id"
    entry = (await h.orders(signal_id))["entry"]
    assert entry["status"] == "filled" and entry["broker_order_id"] == "v-0"
    assert (await h.signal(signal_id))["state"] == "executed"
    assert h.broker.positions == {"AMD": Decimal(1)}


async def test_a_lost_response_on_the_exit_is_adopted_and_the_entry_follows(fresh_store: Store) -> None:
    broker = FakeBroker({"AMD": Decimal(2)}, [accepted_then_lost(TimeoutError("read timed out"))])
    h = Harness(fresh_store, broker)
    signal_id = await h.run(Signal(ticker="AMD", action="sell"))
    assert sends(broker) == [("sell", 2), ("sell", 1)]
    assert len({r.client_order_id for r in broker.creates}) == 2
    orders = await h.orders(signal_id)
    assert orders["exit"]["status"] == "filled" and orders["entry"]["status"] == "filled"
    assert broker.positions == {"AMD": Decimal(-1)}
    assert (await h.signal(signal_id))["state"] == "executed"


async def test_unknown_outcome_not_found_at_the_broker_is_not_resent(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker(behaviours=[raises(UnknownOutcome("gateway timeout"))]))
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    assert len(h.broker.creates) == 1
    entry = (await h.orders(signal_id))["entry"]
    assert entry["status"] == "unknown" and "gateway timeout" in entry["error"]
    final = await h.signal(signal_id)
    assert final["state"] == "failed"
    assert "outcome is unknown" in final["decision"] and "checked again at the next start" in final["decision"]


async def test_a_rejected_exit_fails_the_signal_with_the_brokers_message_and_sends_no_entry(fresh_store: Store) -> None:
    broker = FakeBroker({"AMD": Decimal(5)}, [raises(OrderRejected("account is restricted to closing trades"))])
    h = Harness(fresh_store, broker)
    signal_id = await h.run(Signal(ticker="AMD", action="sell"))
    assert sends(broker) == [("sell", 5)], "the entry must not be sent"
    orders = await h.orders(signal_id)
    assert orders["exit"]["status"] == "rejected"
    assert orders["exit"]["error"] == "account is restricted to closing trades"
    assert orders["entry"]["status"] == "canceled"
    assert orders["entry"]["error"] == "not sent: an earlier order was rejected"
    final = await h.signal(signal_id)
    assert final["state"] == "failed"
    assert "exit was rejected by the broker: account is restricted to closing trades" in final["decision"]
    assert broker.positions == {"AMD": Decimal(5)}


async def test_a_rejected_entry_fails_the_signal_with_the_brokers_message(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker(behaviours=[raises(OrderRejected("insufficient buying power"))]))
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    assert len(h.broker.creates) == 1
    assert (await h.orders(signal_id))["entry"]["status"] == "rejected"
    final = await h.signal(signal_id)
    assert final["state"] == "failed" and "insufficient buying power" in final["decision"]


async def test_a_temporary_error_on_submit_is_never_retried(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker(behaviours=[raises(TemporaryBrokerError("429 rate limited"))]))
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    await asyncio.sleep(0.5)  # nothing may retry in the background either
    assert len(h.broker.creates) == 1
    entry = (await h.orders(signal_id))["entry"]
    assert entry["status"] == "rejected" and "not sent" in entry["error"] and "429 rate limited" in entry["error"]
    final = await h.signal(signal_id)
    assert final["state"] == "failed" and "429 rate limited" in final["decision"]
    assert h.broker.positions == {}


async def test_an_order_the_throttle_held_too_long_is_not_said_to_find_the_broker_unavailable(
    fresh_store: Store,
) -> None:
    """Refused by our own rate limit, too late for its signal, it read "broker temporarily unavailable": the venue was
    never asked, and an operator went looking for an outage that was not there."""
    late = HeldUnsent("held by the rate limit, the order would leave after its signal's max_signal_age; nothing sent")
    h = Harness(fresh_store, FakeBroker(behaviours=[raises(late)]))
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    entry = (await h.orders(signal_id))["entry"]
    assert entry["status"] == "rejected" and entry["error"].startswith("not sent: held by the rate limit"), entry
    assert "unavailable" not in entry["error"]


async def test_a_temporary_error_on_a_read_is_retried(fresh_store: Store) -> None:
    broker = FakeBroker()
    broker.position_failures = 1
    h = Harness(fresh_store, broker)
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    assert broker.position_reads == 2
    assert (await h.signal(signal_id))["state"] == "executed"
    assert len(broker.creates) == 1


class RateLimitedOnce(FakeBroker):
    """A venue whose first position read answers 429 with a Retry-After of `wait` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__()
        self.wait = wait

    async def fetch_positions(self) -> list[Position]:
        """429 the first time, then the positions."""
        if self.position_reads == 0:
            self.position_reads += 1
            raise RateLimited("429 too many requests", retry_after=self.wait)
        return await super().fetch_positions()


async def test_a_read_refused_with_a_retry_after_beyond_the_reads_budget_is_not_asked_again(
    fresh_store: Store,
) -> None:
    """Before, the executor asked again after 0.2 s whatever the venue's Retry-After said: that is what bans an IP."""
    broker = RateLimitedOnce(wait=30)
    h = Harness(fresh_store, broker)
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    assert broker.position_reads == 1, "asked again before the venue's Retry-After ended"
    final = await h.signal(signal_id)
    assert final["state"] == "failed" and "429 too many requests" in final["decision"], final["decision"]
    assert broker.creates == []


class SlowPositions(FakeBroker):
    """A venue that takes `delay` seconds to answer a position read (a slow link, an adapter's own retries)."""

    def __init__(self, delay: float, positions: dict[str, Decimal] | None = None) -> None:
        super().__init__(positions)
        self.delay = delay

    async def fetch_positions(self) -> list[Position]:
        """The positions, late."""
        await asyncio.sleep(self.delay)
        return await super().fetch_positions()


async def test_a_signal_that_grew_too_old_while_its_broker_was_read_is_expired_not_sent(fresh_store: Store) -> None:
    """Its age was checked only before the broker reads: a read that took long sent a signal past max_signal_age."""
    broker = SlowPositions(delay=1.5, positions={"AMD": Decimal(-2)})
    h = Harness(fresh_store, broker, max_age=0.5)
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    assert broker.creates == [], "a signal older than max_signal_age was sent"
    final = await h.signal(signal_id)
    assert final["state"] == "expired" and "max_signal_age 0.5s" in final["decision"], final["decision"]
    assert await h.orders(signal_id) == {}


async def test_an_exit_that_does_not_fill_in_time_blocks_the_entry(fresh_store: Store) -> None:
    broker = FakeBroker({"AMD": Decimal(-3)}, [rests])
    h = Harness(fresh_store, broker, exit_fill_timeout=0.3)
    started = time.monotonic()
    # Under GUARD: waiting the default exit_fill_timeout (120 s) instead of this one never ends in time.
    signal_id = await asyncio.wait_for(h.run(Signal(ticker="AMD", action="buy")), GUARD)
    elapsed = time.monotonic() - started
    assert elapsed >= 0.3, f"it should wait exit_fill_timeout for the exit's fill, waited {elapsed:.2f}s"
    assert sends(broker) == [("buy", 3)], "no entry after an unfilled exit"
    orders = await h.orders(signal_id)
    assert orders["exit"]["status"] == "open"
    assert orders["entry"]["status"] == "canceled"
    assert orders["entry"]["error"] == "not sent: the exit did not fill in time"
    final = await h.signal(signal_id)
    assert final["state"] == "failed"
    assert final["decision"] == (
        "buy while short 3: covered 3, opened long 1 (fixed_quantity 1); "
        "but the exit did not fill within 0.3s, so no entry was sent"
    )


async def test_an_exit_that_fills_while_waiting_lets_the_entry_go(fresh_store: Store) -> None:
    broker = FakeBroker({"AMD": Decimal(-3)}, [rests])
    broker.fill_on_fetch = 2
    h = Harness(fresh_store, broker, exit_fill_timeout=GUARD)  # waited until its fill only
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    assert sends(broker) == [("buy", 3), ("buy", 1)]
    orders = await h.orders(signal_id)
    assert orders["exit"]["status"] == "filled" and orders["entry"]["status"] == "filled"
    assert (await h.signal(signal_id))["state"] == "executed"
    assert broker.positions == {"AMD": Decimal(1)}


async def test_an_exit_found_filled_while_waiting_is_an_order_filled_event(fresh_store: Store) -> None:
    broker = FakeBroker({"AMD": Decimal(-3)}, [rests])
    broker.fill_on_fetch = 2
    h = Harness(fresh_store, broker, exit_fill_timeout=GUARD)  # waited until its fill only
    events: list[Event] = []
    h.executor.observers.append(events.append)
    await h.run(Signal(ticker="AMD", action="buy"))
    seen = [(e.kind, e.data["side"], e.data["quantity"], e.data["latency"] is None) for e in events[:-1]]
    assert seen == [
        ("order.open", "buy", "3", False),  # the exit's first answer: it rests
        ("order.filled", "buy", "3", True),  # found filled while waiting: news, not a first answer
        ("order.filled", "buy", "1", False),  # the entry's first answer
    ]
    assert events[-1].kind == "signal.executed"


async def test_a_signal_older_than_max_signal_age_expires_without_touching_the_broker(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker(), max_age=30)
    signal_id = await h.run(Signal(ticker="AMD", action="buy"), received_at=utcnow() - timedelta(seconds=31))
    assert h.broker.creates == [] and h.broker.position_reads == 0
    final = await h.signal(signal_id)
    assert final["state"] == "expired" and "max_signal_age 30s" in final["decision"]
    assert await h.orders(signal_id) == {}


async def test_a_signal_late_on_arrival_expires_on_its_own_time_not_a_queue_wait_later(fresh_store: Store) -> None:
    """Its `time` 64 s old on arrival passes (max_signal_age 60 + clock_skew 5); 30 s queued after, it is 94 s old.

    Its age was counted from its arrival, so it could still trade up to 60 s later: 124 s after the alert fired.
    """
    h = Harness(fresh_store, FakeBroker(), max_age=60, clock_skew=5)
    now = utcnow()
    signal = Signal(ticker="AMD", action="buy", time=now - timedelta(seconds=94))
    signal_id = await h.run(signal, received_at=now - timedelta(seconds=30))
    assert h.broker.creates == [] and h.broker.position_reads == 0
    final = await h.signal(signal_id)
    assert final["state"] == "expired", final["decision"]
    assert "max_signal_age 60s + clock_skew 5s" in final["decision"] and "after its time" in final["decision"]


async def test_a_signal_s_time_counts_with_clock_skew_allowed_and_never_past_its_arrival(fresh_store: Store) -> None:
    """8 s late on arrival and 50 s queued: 53 s old once the skew is allowed; a sender's clock ahead is no matter."""
    h = Harness(fresh_store, FakeBroker(), max_age=60, clock_skew=5)
    now = utcnow()

    def seconds_ago(seconds: float) -> datetime:
        return now - timedelta(seconds=seconds)

    late = await h.run(Signal(ticker="AMD", action="buy", time=seconds_ago(58)), seconds_ago(50))
    ahead = await h.run(Signal(ticker="SQ", action="buy", time=seconds_ago(50)), seconds_ago(55))
    assert [(await h.signal(i))["state"] for i in (late, ahead)] == ["executed", "executed"]


async def test_running_a_job_again_continues_its_plan_and_never_plans_twice(fresh_store: Store) -> None:
    broker = FakeBroker({"AMD": Decimal(2)})
    h = Harness(fresh_store, broker)
    signal = Signal(ticker="AMD", action="sell")
    signal_id = await h.run(signal)
    # The position is now short 1: planning afresh would say "ignored"; resuming must keep the first plan.
    await h.executor.run(Job(signal_id, STRATEGY, SUB, signal, utcnow()))
    assert len(broker.creates) == 2
    final = await h.signal(signal_id)
    assert final["state"] == "executed"
    assert final["decision"] == "sell while long 2: sold 2, opened short 1 (fixed_quantity 1)"


async def test_the_executor_sends_the_deterministic_client_order_ids(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker({"AMD": Decimal(1)}))
    signal_id = await h.run(Signal(ticker="AMD", action="sell"))
    expected = [client_order_id(signal_id, SUB, "exit"), client_order_id(signal_id, SUB, "entry")]
    assert [r.client_order_id for r in h.broker.creates] == expected
    orders = await h.orders(signal_id)
    assert [orders["exit"]["client_order_id"], orders["entry"]["client_order_id"]] == expected


def test_client_order_id_is_deterministic_and_unique_per_signal_subscription_and_leg() -> None:
    ids = [str(uuid.uuid4()) for _ in range(500)]
    subs = ["paper", "paper-2", "alpaca-live"]
    minted = {(s, sub, leg): client_order_id(s, sub, leg) for s in ids for sub in subs for leg in ("exit", "entry")}
    assert len(set(minted.values())) == len(minted)
    for (s, sub, leg), coid in list(minted.items())[:50]:
        assert client_order_id(s, sub, leg) == coid
    assert all(len(coid) <= 48 for coid in minted.values()), "Alpaca caps client_order_id at 48 characters"


def test_client_order_id_is_the_same_in_another_process() -> None:
    """A restarted daemon must mint the same id (so no process-seeded hash may be involved)."""
    code = "from bridge.execution.executor import client_order_id as c; print(c('sig-1', 'paper', 'entry'))"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.strip() == client_order_id("sig-1", "paper", "entry")


async def test_keyed_queues_run_one_key_in_order_and_different_keys_concurrently() -> None:
    keys = ("AMD", "SQ", "TSLA")
    done: dict[str, list[int]] = {key: [] for key in keys}
    active: dict[str, int] = dict.fromkeys(keys, 0)
    peak_per_key = 0
    peak_total = 0

    async def handler(job: tuple[str, int]) -> None:
        nonlocal peak_per_key, peak_total
        key, n = job
        active[key] += 1
        peak_per_key = max(peak_per_key, active[key])
        peak_total = max(peak_total, sum(active.values()))
        await asyncio.sleep(0.002 * (10 - n))  # earlier jobs take longer: any overlap would reorder them
        done[key].append(n)
        active[key] -= 1

    queues: KeyedQueues[tuple[str, int]] = KeyedQueues(handler)
    for n in range(10):
        for key in keys:
            queues.put(key, (key, n))
    await asyncio.wait_for(queues.join(), GUARD)
    assert done == {key: list(range(10)) for key in keys}
    assert peak_per_key == 1, "two jobs of one key ran at the same time"
    assert peak_total == len(keys), "different keys should run concurrently"
    assert queues.pending == 0


async def test_keyed_queues_keep_order_for_jobs_added_while_draining_and_survive_a_failing_job() -> None:
    seen: list[int] = []

    async def handler(n: int) -> None:
        await asyncio.sleep(0.001)
        seen.append(n)
        if n == 2:
            raise RuntimeError("boom")

    queues: KeyedQueues[int] = KeyedQueues(handler)
    for n in range(20):
        queues.put("k", n)
        await asyncio.sleep(0.0015 if n % 3 else 0)  # sometimes while the worker is mid-job, sometimes not
    await asyncio.wait_for(queues.join(), GUARD)
    assert seen == list(range(20))


async def test_keyed_queues_wait_for_the_gate() -> None:
    ran: list[str] = []

    async def handler(job: str) -> None:
        ran.append(job)

    gate = asyncio.Event()
    queues: KeyedQueues[str] = KeyedQueues(handler, gate)
    queues.put("a", "first")
    queues.put("b", "second")
    await asyncio.sleep(0.05)
    assert ran == [] and queues.pending == 2, "nothing may execute before start-up recovery opens the gate"
    gate.set()
    await asyncio.wait_for(queues.join(), GUARD)
    assert sorted(ran) == ["first", "second"]


async def test_keyed_queues_wake_a_waiter_for_room_only_once_fewer_than_its_limit_wait() -> None:
    release: dict[int, asyncio.Event] = {n: asyncio.Event() for n in range(5)}
    taken: list[int] = []

    async def handler(n: int) -> None:
        taken.append(n)
        await release[n].wait()

    queues: KeyedQueues[int] = KeyedQueues(handler)
    for n in range(5):
        queues.put("k", n)
    await asyncio.sleep(0)  # the worker takes job 0: four wait
    assert taken == [0] and queues.pending == 4
    room = asyncio.ensure_future(queues.below(3))
    gone = asyncio.ensure_future(queues.below(3))  # a waiter whose client hung up
    await asyncio.sleep(0)
    gone.cancel()
    release[0].set()
    await eventually(lambda: taken == [0, 1], "the worker took job 1")
    await asyncio.sleep(0.01)  # turns of the loop in which a wrong wake-up would show
    assert taken == [0, 1] and queues.pending == 3 and not room.done(), "3 wait: not fewer than 3 yet"
    release[1].set()
    await asyncio.wait_for(room, GUARD)  # job 2 taken: 2 wait
    assert taken == [0, 1, 2] and queues.pending == 2
    await asyncio.wait_for(queues.below(3), GUARD)  # room already: no wait
    for event in release.values():
        event.set()
    await asyncio.wait_for(queues.join(), GUARD)
    assert queues.pending == 0


async def test_an_order_is_journaled_as_of_the_brokers_answer_not_of_the_deferred_write(fresh_store: Store) -> None:
    answered: list[datetime] = []
    stalled_until: list[datetime] = []

    def slow_write() -> None:
        time.sleep(0.2)
        stalled_until.append(utcnow())

    def fills_behind_a_slow_write(broker: FakeBroker, request: OrderRequest) -> OrderStatus:
        # A slow journal write is queued just before the answer: the answer's own write runs after it.
        fresh_store.later(slow_write)
        answered.append(utcnow())
        return "filled"

    h = Harness(fresh_store, FakeBroker(behaviours=[fills_behind_a_slow_write]))
    signal_id = await h.run(Signal(ticker="AMD", action="buy"))
    entry = (await h.orders(signal_id))["entry"]
    assert entry["status"] == "filled"
    recorded = datetime.fromisoformat(entry["updated_at"])
    # Stamped when the answer came (what bridge_signal_to_order_seconds measures), not when its write ran.
    assert answered[0] <= recorded < stalled_until[0]
