"""A stop put back at Alpaca, tried again while a take-profit holds the shares: not given up on Alpaca's refusal.

Alpaca holds a position's shares for its working closing orders, and refuses a second sell for them ("insufficient
qty available"). A breakeven is rejected before anything is canceled while such an order works beside the stops it
moves (`resolve._reserved_beside`), so its first put-back never meets one. A put-back tried again later may: a
take-profit placed meanwhile holds the shares. Sent, it was refused, and that refusal was final: the position kept
no stop, /health read ok again, and the take-profit canceled later left nothing to put the stop back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bridge.brokers.base import BrokerContext
from bridge.errors import TemporaryBrokerError
from bridge.models import BracketLeg, Order, OrderRequest, Signal, StopLoss, TakeProfit
from bridge.store import journal, upkeep
from bridge.store.db import Store
from plugins.alpaca import AlpacaBroker
from tests.brokers.test_contract_alpaca import alpaca_options
from tests.execution.test_executor import SUB
from tests.execution.test_paper_in_plan import Paper
from tests.execution.test_put_back_retried import _jobs, _poll
from tests.fakes.alpaca import OPEN, FakeAlpaca


class Down(AlpacaBroker):
    """The adapter, whose next `outages` orders meet an outage (a 503) instead of reaching Alpaca. `grab`: the
    trader's take-profit for that many shares (a limit sell at 130), placed at Alpaca right after the next cancel
    is done, before the bridge puts back what that cancel took."""

    fake: FakeAlpaca
    outages = 0
    grab: Decimal | None = None
    sell_out = False  # the trader sells the long 10 by hand right after the next cancel
    fill_first: Decimal | None = None  # that many of the bracket's take-profit fill at 120 just before the next cancel

    async def create_order(self, request: OrderRequest) -> Order:
        if self.outages:
            self.outages -= 1
            raise TemporaryBrokerError("503 Service Unavailable")
        return await super().create_order(request)

    async def cancel_order(self, client_order_id: str) -> Order:
        if self.fill_first is not None:
            quantity, self.fill_first = self.fill_first, None
            [take_profit] = [o for o in self.fake.orders if o["_parent"] and o["type"] == "limit"]
            self.fake.fill_part(take_profit["client_order_id"], quantity, Decimal(120))
        order = await super().cancel_order(client_order_id)
        if self.grab is not None:
            quantity, self.grab = self.grab, None
            await super().create_order(OrderRequest(client_order_id="tp-by-hand", symbol="SQ", side="sell",
                                                    quantity=quantity, type="limit", limit_price=Decimal(130),
                                                    time_in_force="gtc"))  # fmt: skip
        if self.sell_out:
            self.sell_out = False
            out = OrderRequest(client_order_id="out-by-hand", symbol="SQ", side="sell", quantity=Decimal(10),
                               type="market", time_in_force="day")  # fmt: skip
            await super().create_order(out)
        return order


@pytest.fixture
async def fake(alpaca_server: tuple[FakeAlpaca, str]) -> FakeAlpaca:
    """The module's fake Alpaca, with a fresh account."""
    alpaca_server[0].reset()
    return alpaca_server[0]


@pytest.fixture
async def broker(alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca) -> AsyncIterator[Down]:
    """A connected adapter on the fake."""
    adapter = Down(alpaca_options(alpaca_server[1]), BrokerContext(name=SUB))
    adapter.fake = fake
    await adapter.connect()
    yield adapter
    await adapter.close()


def _working_sells(fake: FakeAlpaca) -> list[tuple[str, str, str | None]]:
    """The SQ sells working at Alpaca: type, quantity and price (the stop's, else the limit's)."""
    return sorted((o["type"], o["qty"], o["stop_price"] or o["limit_price"]) for o in fake.orders
                  if o["symbol"] == "SQ" and o["side"] == "sell" and o["status"] in OPEN)  # fmt: skip


async def _bare(fake: FakeAlpaca, broker: Down, fresh_store: Store) -> tuple[Paper, str]:
    """A long 10 SQ whose bracket a breakeven (`cancel: true`) canceled first, its stop and the put-back of the
    stop-loss at 95 meeting an outage: no stop at Alpaca, the put-back left for the order jobs."""
    paper = Paper(fresh_store)
    paper.broker = broker  # type: ignore[assignment]
    fake.set_price("SQ", Decimal(100))
    bracket = {"take_profit": TakeProfit(limit_price=Decimal(120)), "stop_loss": StopLoss(stop_price=Decimal(95))}
    await paper.run(Signal(ticker="SQ", action="buy", price=Decimal(100), quantity=Decimal(10), **bracket))
    assert fake.positions["SQ"][0] == 10
    fake.set_price("SQ", Decimal(110))
    broker.outages = 2  # the breakeven stop meets the outage, and so does the stop put back
    signal_id = await paper.run(Signal(ticker="SQ", action="breakeven", price=Decimal(110), cancel=True))
    assert _working_sells(fake) == []
    assert len(await paper.store.read(upkeep.failed_put_backs, paper.store.conn)) == 1
    return paper, signal_id


async def test_a_put_back_tried_again_while_a_take_profit_holds_the_shares_waits_for_them(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    paper, signal_id = await _bare(fake, broker, fresh_store)
    # The trader places a take-profit meanwhile: Alpaca holds the 10 shares for it.
    await broker.create_order(OrderRequest(client_order_id="tp-by-hand", symbol="SQ", side="sell",
                                           quantity=Decimal(10), type="limit", limit_price=Decimal(120),
                                           time_in_force="gtc"))  # fmt: skip
    requests = len(fake.order_requests)
    jobs = _jobs(paper)
    await _poll(jobs)
    assert len(fake.order_requests) == requests, "not sent beside the take-profit: Alpaca would refuse it"
    assert len(await paper.store.read(upkeep.failed_put_backs, paper.store.conn)) == 1, "still to be put back"
    [restore] = await paper.query("SELECT status FROM orders WHERE signal_id = ? AND leg = 'restore'", signal_id)
    assert restore["status"] == "rejected", restore

    await broker.cancel_order("tp-by-hand")  # the shares are free again
    later = _jobs(paper, after=600)
    later.put_back_retries = jobs.put_back_retries
    await _poll(later)
    assert _working_sells(fake) == [("stop", "10", "95")], "the long has its stop again"
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "put back as a new order" in execution["decision"], execution["decision"]


async def test_the_decision_says_once_what_holds_the_shares_the_stop_waits_for(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """The trader learns why the position still has no stop, and what frees the shares for it: said once, not at
    every try."""
    paper, signal_id = await _bare(fake, broker, fresh_store)
    await broker.create_order(OrderRequest(client_order_id="tp-by-hand", symbol="SQ", side="sell",
                                           quantity=Decimal(10), type="limit", limit_price=Decimal(120),
                                           time_in_force="gtc"))  # fmt: skip
    jobs = _jobs(paper)
    await _poll(jobs)
    later = _jobs(paper, after=600)
    later.put_back_retries = jobs.put_back_retries
    await _poll(later)
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    decision = execution["decision"]
    assert "refused" not in decision.rsplit("no stop at the broker", 1)[-1], decision
    said = "the broker holds the shares for the limit sell of 10 at 120 working there"
    assert decision.count(said) == 1, decision
    assert "cancel it" in decision, decision
    told = [e for e in paper.events if e.kind == "signal.failed" and e.data["signal_id"] == signal_id]
    assert said in told[-1].text, told[-1].text


async def test_a_take_profit_filling_in_parts_while_the_stop_waits_is_said_once_not_at_every_fill(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """Each part-fill of the take-profit leaves it holding fewer shares, but still all that are held: the put-back
    still waits for the same order. The decision said so again at each fill, one note per fill."""
    paper, signal_id = await _bare(fake, broker, fresh_store)
    await broker.create_order(OrderRequest(client_order_id="tp-by-hand", symbol="SQ", side="sell",
                                           quantity=Decimal(10), type="limit", limit_price=Decimal(120),
                                           time_in_force="gtc"))  # fmt: skip
    jobs = _jobs(paper)
    await _poll(jobs)
    for part, after in ((3, 600), (2, 1200)):  # the take-profit fills 3, then 2 more: it holds the 7, then the 5
        fake.fill_part("tp-by-hand", Decimal(part), Decimal(120))
        later = _jobs(paper, after=after)
        later.put_back_retries = jobs.put_back_retries
        await _poll(later)
    assert len(await paper.store.read(upkeep.failed_put_backs, paper.store.conn)) == 1, "still to be put back"
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    decision = execution["decision"]
    assert decision.count("not put back yet") == 1, decision
    assert "the broker holds the shares for the limit sell of 10 at 120 working there" in decision, decision


async def test_a_put_back_goes_for_the_shares_a_take_profit_leaves_free(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """A take-profit for 4 of the 10 leaves 6 free: the stop goes for those, as Alpaca takes it, saying so."""
    paper, signal_id = await _bare(fake, broker, fresh_store)
    await broker.create_order(OrderRequest(client_order_id="tp-by-hand", symbol="SQ", side="sell",
                                           quantity=Decimal(4), type="limit", limit_price=Decimal(120),
                                           time_in_force="gtc"))  # fmt: skip
    await _poll(_jobs(paper))
    assert _working_sells(fake) == [("limit", "4", "120"), ("stop", "6", "95")]
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    decision = execution["decision"]
    assert "put back for 6 of 10 as a new order" in decision, decision
    assert "the position holds 10, 4 of it held for working orders there" in decision, decision


async def test_a_take_profit_put_back_that_met_an_outage_is_left_to_the_trader_not_sent_later(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """A cancel of the stop-loss takes its take-profit with it at Alpaca; put back, it met the outage. Unlike a stop,
    it is not sent again later: here it would hold the shares a stop needs (the trader's next stop or breakeven,
    refused or rejected beside it), where its absence leaves the position no less protected. The decision says the
    position lacks it, to place it."""
    paper = Paper(fresh_store)
    paper.broker = broker  # type: ignore[assignment]
    fake.set_price("SQ", Decimal(100))
    bracket = {"take_profit": TakeProfit(limit_price=Decimal(120)), "stop_loss": StopLoss(stop_price=Decimal(95))}
    await paper.run(Signal(ticker="SQ", action="buy", price=Decimal(100), quantity=Decimal(10), **bracket))
    broker.outages = 1  # the take-profit put back meets the outage
    signal_id = await paper.run(Signal(ticker="SQ", action="cancel", cancel_order_type="stop"))
    assert _working_sells(fake) == []
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["state"] == "failed", execution
    assert "the position lacks it at the broker; check its orders there, and place what it lacks" in (
        execution["decision"]), execution["decision"]  # fmt: skip
    assert "sent again" not in execution["decision"], execution["decision"]
    await _poll(_jobs(paper, after=600))
    assert _working_sells(fake) == [], "the trader's to place"
    assert await paper.store.read(upkeep.failed_put_backs, paper.store.conn) == []


async def test_a_put_back_is_not_spared_for_the_stop_loss_of_an_entry_still_working(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """A dip buy resting unfilled with its own stop-loss: that leg waits for its entry (Alpaca holds it) and protects
    none of the 10 held. The stop put back still goes for them, rather than being given up as covered."""
    paper, signal_id = await _bare(fake, broker, fresh_store)
    dip = BracketLeg(client_order_id="dip-buy-sl", type="stop", stop_price=Decimal(85))
    await broker.create_order(OrderRequest(client_order_id="dip-buy", symbol="SQ", side="buy", quantity=Decimal(10),
                                           type="limit", limit_price=Decimal(90), time_in_force="gtc",
                                           stop_loss=dip))  # fmt: skip
    await _poll(_jobs(paper))
    assert ("stop", "10", "95") in _working_sells(fake), "the long 10 has its stop again"
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "cover the position" not in execution["decision"], execution["decision"]


async def _long_with_bracket(fake: FakeAlpaca, broker: Down, fresh_store: Store) -> Paper:
    """A long 10 SQ at Alpaca with its bracket: a take-profit at 120 and a stop-loss at 95."""
    paper = Paper(fresh_store)
    paper.broker = broker  # type: ignore[assignment]
    fake.set_price("SQ", Decimal(100))
    bracket = {"take_profit": TakeProfit(limit_price=Decimal(120)), "stop_loss": StopLoss(stop_price=Decimal(95))}
    await paper.run(Signal(ticker="SQ", action="buy", price=Decimal(100), quantity=Decimal(10), **bracket))
    assert _working_sells(fake) == [("limit", "10", "120"), ("stop", "10", "95")]
    return paper


async def test_a_stop_loss_put_back_after_a_cancel_waits_while_a_take_profit_holds_the_shares(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """A cancel of the take-profit takes the stop-loss with it; a take-profit the trader places meanwhile holds the
    shares. Sent beside it, the stop was refused ("insufficient qty available"), and that refusal was final: the
    position kept no stop, and canceling the take-profit later brought none back. It waits for them instead, as a
    put-back tried again does."""
    paper = await _long_with_bracket(fake, broker, fresh_store)
    broker.grab = Decimal(10)
    requests = len(fake.order_requests)
    signal_id = await paper.run(Signal(ticker="SQ", action="cancel", cancel_order_type="limit"))
    assert len(fake.order_requests) == requests + 1, "the trader's take-profit alone: no stop sent beside it"
    assert _working_sells(fake) == [("limit", "10", "130")]
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    decision = execution["decision"]
    assert execution["state"] == "failed", execution
    assert "the broker holds the shares for the limit sell of 10 at 130 working there" in decision, decision
    assert "cancel it to let the stop go" in decision and "sent again" in decision, decision
    assert len(await paper.store.read(upkeep.failed_put_backs, paper.store.conn)) == 1, "still to be put back"
    jobs = _jobs(paper)
    await _poll(jobs)  # tried again, the take-profit still there: it waits on, said once
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert execution["decision"].count("holds the shares for the limit sell of 10 at 130") == 1, execution

    await broker.cancel_order("tp-by-hand")  # the shares are free again
    later = _jobs(paper, after=600)
    later.put_back_retries = jobs.put_back_retries
    await _poll(later)
    assert _working_sells(fake) == [("stop", "10", "95")], "the long has its stop again"
    [execution] = await paper.query("SELECT decision FROM executions WHERE signal_id = ?", signal_id)
    assert "put back as a new order" in execution["decision"], execution["decision"]


async def test_a_stop_loss_put_back_after_a_cancel_goes_for_the_shares_a_take_profit_leaves_free(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """A take-profit for 4 of the 10, placed meanwhile, leaves 6 free: the stop goes for those, as Alpaca takes
    it, rather than for the 10 Alpaca refuses."""
    paper = await _long_with_bracket(fake, broker, fresh_store)
    broker.grab = Decimal(4)
    signal_id = await paper.run(Signal(ticker="SQ", action="cancel", cancel_order_type="limit"))
    assert _working_sells(fake) == [("limit", "4", "130"), ("stop", "6", "95")]
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert "put back for 6 of 10" in execution["decision"], execution["decision"]


async def test_a_stop_loss_is_not_put_back_for_a_position_sold_since_the_cancel(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """The position is read again before the stop-loss the cancel took goes back: found flat (sold by hand right after
    the cancel), the stop was sent for the 10 read before, and Alpaca took a sell stop for an account holding none as
    a short sale, which it opened once hit."""
    paper = await _long_with_bracket(fake, broker, fresh_store)
    broker.sell_out = True
    signal_id = await paper.run(Signal(ticker="SQ", action="cancel", cancel_order_type="limit"))
    assert fake.positions["SQ"][0] == 0
    assert _working_sells(fake) == [], "no stop sell for an account holding none: a short sale once hit"
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert "no position is left for it to close" in execution["decision"], execution["decision"]
    assert await paper.store.read(upkeep.failed_put_backs, paper.store.conn) == [], "nothing left to try again"


async def test_a_stop_loss_is_put_back_when_its_take_profit_filled_in_part_before_the_cancel(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """The take-profit fills 3 of its 10 between the bridge's read and its cancel; the cancel takes the stop-loss, by
    then for the 7 left, with it. A sibling canceled with more filled than read was not counted among the legs the
    cancel took: the stop-loss was not put back, the decision said nothing of it, and the 7 kept no stop."""
    paper = await _long_with_bracket(fake, broker, fresh_store)
    broker.fill_first = Decimal(3)
    signal_id = await paper.run(Signal(ticker="SQ", action="cancel", cancel_order_type="limit"))
    assert fake.positions["SQ"][0] == 7
    assert _working_sells(fake) == [("stop", "7", "95")], "the 7 left keep their stop"
    [execution] = await paper.query("SELECT state, decision FROM executions WHERE signal_id = ?", signal_id)
    assert "put back as a new order" in execution["decision"], execution["decision"]


async def test_a_stop_loss_that_waits_is_journaled_unsent_with_the_plan_that_holds_it(
    fake: FakeAlpaca, broker: Down, fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop that waits for the shares was journaled as not sent in a write of its own after the plan's: a crash
    between the two left it pending in a plan in progress, which the restart's recovery sends, to be refused
    ("insufficient qty available") for good. The plan's own write says it is not sent."""
    paper = await _long_with_bracket(fake, broker, fresh_store)
    broker.grab = Decimal(10)
    seen: list[tuple[str, str | None, str | None]] = []
    save_plan = journal.save_plan

    def plan_then_crash_point(conn: sqlite3.Connection, *args: Any, **kwargs: Any) -> list[sqlite3.Row]:
        planned = save_plan(conn, *args, **kwargs)
        # What a crash right after this write would leave for the restart to find.
        seen.extend((r["status"], r["error"], r["sent_at"]) for r in conn.execute(
            "SELECT status, error, sent_at FROM orders WHERE leg = 'restore'"))  # fmt: skip
        return planned

    monkeypatch.setattr(journal, "save_plan", plan_then_crash_point)
    await paper.run(Signal(ticker="SQ", action="cancel", cancel_order_type="limit"))
    [(status, error, sent_at)] = seen
    assert status == "rejected" and sent_at is None, seen
    assert error is not None and error.startswith("not sent: the stop-loss at 95 was not put back yet"), error


async def test_a_take_profit_filled_in_part_leaves_its_stop_loss_the_rest_of_the_position(
    fake: FakeAlpaca, broker: Down, fresh_store: Store
) -> None:
    """Alpaca adjusts the stop-loss to what is left ("Orders at Alpaca", bracket orders: "If the take-profit order is
    partially filled, the stop-loss order will be adjusted to the remaining quantity"). The fake kept it for the whole
    bracket, holding more shares than are left (a put-back beside it counted that much cover) and, hit, selling past
    the position into a short."""
    await _long_with_bracket(fake, broker, fresh_store)
    [take_profit] = [o for o in fake.orders if o["_parent"] and o["type"] == "limit"]
    fake.fill_part(take_profit["client_order_id"], Decimal(3), Decimal(120))
    assert _working_sells(fake) == [("limit", "10", "120"), ("stop", "7", "95")]
    [stop_loss] = [o for o in await broker.fetch_open_orders("SQ") if o.type == "stop"]
    assert stop_loss.quantity == 7, stop_loss
    fake.set_price("SQ", Decimal(94))
    assert fake.positions["SQ"][0] == 0, "the stop-loss closes what was left, and no more"
