"""A breakeven stop that works while the old stop's cancel is refused: both work, and what the decision tells the
trader to do must leave the position with one stop, not none; the order poll's job tries the cancel again."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderRejected
from bridge.jobs.moves import finish_moves
from bridge.models import Order, Signal, StopLoss
from bridge.store.db import Store, utcnow
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper


class Stuck(PaperBroker):
    """The paper book, refusing to cancel a stop while `stuck` (the venue busy with it, say)."""

    stuck = True

    async def cancel_order(self, client_order_id: str) -> Order:
        order = await self.fetch_order(client_order_id)
        if self.stuck and order.type == "stop":
            raise OrderRejected("order is being processed and cannot be canceled now")
        return await super().cancel_order(client_order_id)


async def _stops(paper: Paper) -> list[str]:
    rows = await paper.query("SELECT stop_price FROM paper_orders WHERE type = 'stop' AND status IN ('open', 'held') "
                             "ORDER BY created_at")  # fmt: skip
    return [row["stop_price"] for row in rows]


async def _both_working(fresh_store: Store) -> tuple[Paper, Stuck, str]:
    """A long 10 AMD whose breakeven stop at 100 works beside its stop-loss at 95, whose cancel was refused."""
    paper = Paper(fresh_store)
    broker = paper.broker = Stuck(PaperOptions(), BrokerContext(name=SUB, store=fresh_store))
    await broker.connect()
    await paper.run(Signal(ticker="AMD", action="buy", price=Decimal(100), quantity=Decimal(10),
                           stop_loss=StopLoss(stop_price=Decimal(95))))  # fmt: skip
    await broker.observe_price("AMD", Decimal(110))
    signal_id = await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))
    assert await _stops(paper) == ["95", "100.00"]
    [execution] = await paper.query("SELECT state, decision FROM signals WHERE id = ?", signal_id)
    assert execution["state"] == "failed", execution["decision"]
    return paper, broker, execution["decision"]


async def test_the_advice_after_a_refused_cancel_of_the_old_stop_leaves_one_stop(fresh_store: Store) -> None:
    paper, broker, decision = await _both_working(fresh_store)
    # Not "action cancel, cancelOrderType stop": that cancels every stop in the symbol, the breakeven's too.
    assert "cancelOrderType stop" not in decision, decision
    assert "send the breakeven again" in decision, decision
    broker.stuck = False
    await paper.run(Signal(ticker="AMD", action="breakeven", price=Decimal(110)))  # as the decision says
    assert await _stops(paper) == ["100.00"], "one stop, at breakeven"


async def test_a_refused_cancel_of_the_old_stop_is_tried_again_by_the_order_jobs(fresh_store: Store) -> None:
    paper, broker, _decision = await _both_working(fresh_store)
    host = SimpleNamespace(
        store=paper.store, runtime=SimpleNamespace(follower=lambda name, created_at: broker),
        clock=lambda: utcnow() + timedelta(seconds=5), publish=paper.events.append,
    )  # fmt: skip
    retries: dict[str, tuple[object, float]] = {}
    assert await finish_moves(host, retries) == 0  # type: ignore[arg-type]  # refused again: spaced out
    assert await _stops(paper) == ["95", "100.00"] and len(retries) == 1
    broker.stuck = False
    assert await finish_moves(host, retries) == 0  # type: ignore[arg-type]  # not before its time
    host.clock = lambda: utcnow() + timedelta(seconds=60)
    assert await finish_moves(host, retries) == 1  # type: ignore[arg-type]
    assert await _stops(paper) == ["100.00"] and retries == {}
