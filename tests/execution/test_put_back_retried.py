"""A stop put back after a breakeven's own cancel, not sent as the broker was down: tried again by the order jobs.

Where the venue holds the shares for a working stop, a breakeven cancels it before its own stop goes; when that
stop fails, the old one is put back. Should the put-back meet the outage too, the position has no stop at all:
left there, it stayed bare long after the venue answered again, said once in the decision. The poll's job sends
the put-back again, spaced out, until it works or nothing is left for it to close; journaled, it survives a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.config.schema import Config
from bridge.config.security import GlobalRisk
from bridge.errors import OrderNotFound, TemporaryBrokerError
from bridge.execution.queues import KeyedQueues
from bridge.jobs.schedule import Jobs
from bridge.models import Order, OrderRequest, Signal, StopLoss
from bridge.store.db import Store, utcnow
from tests.execution.test_breakeven_circuit import Down, _working_stops
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper


async def _bare(fresh_store: Store) -> tuple[Paper, Down, str]:
    """A long 10 AMD whose stop-loss at 95 a breakeven canceled first, its stop and the put-back meeting an outage."""
    paper = Paper(fresh_store)
    config = Config.model_construct(risk=GlobalRisk(breaker_failures=1))  # one outage opens the broker's circuit
    paper.guard.config = lambda: config
    broker = Down(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.outages = 2  # the breakeven stop meets the outage, and so does the stop put back
    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _working_stops(paper) == []
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "no stop at the broker" in execution["decision"], execution["decision"]
    return paper, broker, signal_id


def _jobs(paper: Paper, after: float = 0.0) -> Jobs:
    """The daemon's scheduled jobs over the paper broker, their clock `after` seconds ahead; `_poll` runs them."""
    runtime = SimpleNamespace(follower=lambda name, created_at: paper.broker, switched={})
    turns: KeyedQueues[Callable[[Any], Awaitable[None]]] = KeyedQueues(lambda run: run(runtime))
    host = SimpleNamespace(
        store=paper.store, runtime=runtime, clock=lambda: utcnow() + timedelta(seconds=after),
        publish=paper.executor.emit, executor=paper.executor, recovering=False, turns=turns,
        in_turn=lambda broker, symbol, run: turns.put((broker, symbol), run),
    )  # fmt: skip
    return Jobs(host)  # type: ignore[arg-type]


async def _poll(jobs: Jobs) -> None:
    """The order poll's job, and the tries it queued in their symbol's turn."""
    await jobs._poll()
    await jobs.host.turns.join()  # type: ignore[attr-defined]


async def test_a_put_back_the_outage_refused_is_sent_again_once_the_broker_answers(
    fresh_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    paper, broker, signal_id = await _bare(fresh_store)
    jobs = _jobs(paper)
    broker.outages = 1  # still down at the first try again
    with caplog.at_level(logging.WARNING, logger="bridge.jobs"):
        await _poll(jobs)
    assert await _working_stops(paper) == []
    assert "not put back yet" in caplog.text, caplog.text  # each try is said
    await _poll(jobs)  # spaced out: not tried again at once
    assert broker.outages == 0 and await _working_stops(paper) == []

    later = _jobs(paper, after=600)  # the broker answers again
    later.put_back_retries = jobs.put_back_retries
    await _poll(later)
    [restore] = await paper.query("SELECT * FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["status"] == "open", restore
    assert await _working_stops(paper) == [(restore["client_order_id"], "10", "95")], "the long has its stop again"
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["state"] == "failed"  # the breakeven itself did not go
    assert "tried again" in execution["decision"] and "put back as a new order" in execution["decision"], execution
    told = [e for e in paper.events if e.kind == "signal.failed" and e.data["signal_id"] == signal_id]
    assert "put back as a new order" in told[-1].text, [e.text for e in told]
    await _poll(_jobs(paper, after=1200))  # working: never sent twice
    assert len(await _working_stops(paper)) == 1


async def test_a_put_back_is_tried_again_after_a_restart(fresh_store: Store) -> None:
    paper, _broker, signal_id = await _bare(fresh_store)
    # The daemon restarts: nothing of the first attempt is kept in memory, the journal holds the put-back.
    restarted = Paper(fresh_store)
    restarted.broker = paper.broker
    await _poll(_jobs(restarted))
    [restore] = await paper.query("SELECT status FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["status"] == "open", restore
    assert [(q, p) for _c, q, p in await _working_stops(paper)] == [("10", "95")]


async def test_a_put_back_is_not_sent_again_once_the_position_is_flat(fresh_store: Store) -> None:
    paper, broker, signal_id = await _bare(fresh_store)
    await broker.create_order(OrderRequest(client_order_id="by-hand", symbol="AMD", side="sell", quantity=Decimal(10),
                                           type="market"))  # fmt: skip
    await _poll(_jobs(paper))
    assert await _working_stops(paper) == [], "nothing is left for it to close: sent, it would open a short"
    [restore] = await paper.query("SELECT status, error FROM orders WHERE signal_id = ? AND leg = 'restore'",
                                  signal_id)  # fmt: skip
    assert restore["status"] == "canceled" and "no position is left" in restore["error"], restore
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "no position is left" in execution["decision"], execution["decision"]
    await _poll(_jobs(paper, after=600))
    assert await _working_stops(paper) == []


async def test_a_put_back_goes_for_no_more_than_the_position_held_when_it_is_tried_again(fresh_store: Store) -> None:
    paper, broker, signal_id = await _bare(fresh_store)
    await broker.create_order(OrderRequest(client_order_id="by-hand", symbol="AMD", side="sell", quantity=Decimal(6),
                                           type="market"))  # fmt: skip
    await _poll(_jobs(paper))
    [restore] = await paper.query("SELECT * FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert await _working_stops(paper) == [(restore["client_order_id"], "4", "95")]
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    decision = execution["decision"]
    assert "the stop at 95 was put back for 4 of 10 as a new order (" in decision, decision
    assert "the position holds 4" in decision, decision


async def test_the_failure_says_the_put_back_is_sent_again(fresh_store: Store) -> None:
    _paper, _broker, signal_id = await _bare(fresh_store)
    [execution] = await _paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "it is sent again, spaced out, until it works or nothing is left for it to close" in execution["decision"]


async def test_a_put_back_not_sent_within_its_tries_is_given_up_loudly(fresh_store: Store) -> None:
    paper, broker, signal_id = await _bare(fresh_store)
    broker.outages = 1  # were the broker asked, it would still be down
    await _poll(_jobs(paper, after=25 * 3600))
    assert broker.outages == 1, "nothing was sent"
    [restore] = await paper.query("SELECT status, error FROM orders WHERE signal_id = ? AND leg = 'restore'",
                                  signal_id)  # fmt: skip
    assert restore["status"] == "rejected" and restore["error"].startswith("not put back: not sent in 24h"), restore
    told = [e for e in paper.events if e.kind == "signal.failed" and e.data["signal_id"] == signal_id]
    assert "may have no stop at the broker" in told[-1].text, told[-1].text
    await _poll(_jobs(paper, after=26 * 3600))  # given up: not tried, nor told, again
    assert broker.outages == 1
    assert len([e for e in paper.events if e.kind == "signal.failed" and e.data["signal_id"] == signal_id]) == len(told)


async def test_a_put_back_whose_broker_stays_unavailable_is_given_up_at_its_time(fresh_store: Store) -> None:
    paper, _broker, signal_id = await _bare(fresh_store)
    jobs = _jobs(paper, after=25 * 3600)
    jobs.host.runtime.follower = lambda name, created_at: None  # its connection never came back
    await _poll(jobs)
    [restore] = await paper.query("SELECT error FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["error"].startswith("not put back: not sent in 24h"), restore
    told = [e for e in paper.events if e.kind == "signal.failed" and e.data["signal_id"] == signal_id]
    assert "may have no stop at the broker" in told[-1].text, told[-1].text


class Booked(Down):
    """As `Down`, but the venue books the stop put back (at 95) before its 503 answer: it works unsaid."""

    async def create_order(self, request: OrderRequest) -> Order:
        if request.stop_price == Decimal(95) and self.outages:
            self.outages -= 1
            await PaperBroker.create_order(self, request)
            raise TemporaryBrokerError("503 Service Unavailable")
        return await super().create_order(request)


async def test_a_put_back_the_venue_took_unsaid_is_followed_not_sent_twice(fresh_store: Store) -> None:
    paper = Paper(fresh_store)
    broker = Booked(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.outages = 2  # the breakeven stop meets the outage; the stop put back is booked, its answer a 503
    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    [restore] = await paper.query("SELECT * FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["status"] == "rejected"
    assert await _working_stops(paper) == [(restore["client_order_id"], "10", "95")]

    await _poll(_jobs(paper))
    assert await _working_stops(paper) == [(restore["client_order_id"], "10", "95")], "never placed twice"
    [restore] = await paper.query("SELECT status FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["status"] == "open", restore
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "it had reached the broker after all" in execution["decision"], execution["decision"]


class Lost(Down):
    """As `Down`, but the venue books the stop put back (at 95) and its answer is lost, a lookup not finding it yet."""

    lost = False
    hidden = ""  # the client order id a lookup does not find yet

    async def create_order(self, request: OrderRequest) -> Order:
        if request.stop_price == Decimal(95) and self.lost:
            self.lost = False
            await PaperBroker.create_order(self, request)
            self.hidden = request.client_order_id
            raise ConnectionResetError("connection reset by peer")
        return await super().create_order(request)

    async def fetch_order(self, client_order_id: str) -> Order:
        if client_order_id == self.hidden:
            raise OrderNotFound(f"no order {client_order_id}")
        return await super().fetch_order(client_order_id)


async def test_a_put_back_of_unknown_outcome_found_working_later_is_said_in_the_decision(fresh_store: Store) -> None:
    """The stop put back was booked, its answer lost and not found at once: the decision said the position lacks it.
    The order poll found it working later, and the decision still said so: the trader would place a second stop."""
    paper = Paper(fresh_store)
    broker = Lost(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    paper.broker = broker
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    broker.outages, broker.lost = 1, True  # the breakeven stop meets the outage; the put-back's answer is lost
    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    [restore] = await paper.query("SELECT * FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["status"] == "unknown", restore
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "found working" not in execution["decision"], execution["decision"]

    broker.hidden = ""  # the venue shows it now
    await _poll(_jobs(paper))
    [restore] = await paper.query("SELECT * FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["status"] == "open", restore
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    decision = execution["decision"]
    assert f"then found working at the broker: the stop at 95 ({restore['client_order_id']})" in decision, decision
    told = [e for e in paper.events if e.kind == "signal.failed" and e.data["signal_id"] == signal_id]
    assert "found working at the broker" in told[-1].text, told[-1].text
    await _poll(_jobs(paper, after=600))  # said once
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["decision"] == decision
