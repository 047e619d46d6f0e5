"""One put-back at Alpaca that gives back both a take-profit and a stop-loss: the stop gets the shares.

Alpaca holds a position's shares for each working closing order, and refuses a second one for them ("insufficient
qty available"). A cancel's put-back (`Executor._put_back_gone`) gives back both kinds only when the cancel took a
take-profit of one bracket and the stop-loss of another: no trader's cancel does (it cancels by type, and a
bracket's two legs are of two types), but flatten_at's exit of a subscription's share cancels that subscription's
own orders, which may be one leg of each of two brackets (a breakeven of another subscription moved the other leg,
becoming its owner). The take-profit put back first held the shares, the stop was refused, and that refusal was
final: the position kept a take-profit and no stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bridge.brokers.base import BrokerContext
from bridge.execution.executor import Job
from bridge.models import Order, Signal
from bridge.store.db import Store, iso, utcnow
from plugins.alpaca import AlpacaBroker
from tests.brokers.test_contract_alpaca import alpaca_options
from tests.execution.test_executor import STRATEGY, SUB, journal_signal
from tests.execution.test_paper_in_plan import Paper
from tests.fakes.alpaca import OPEN, FakeAlpaca

CANCELED = "exit while long 10: canceled 2 open orders of this subscription, nothing to exit"


@pytest.fixture
async def broker(alpaca_server: tuple[FakeAlpaca, str]) -> AsyncIterator[AlpacaBroker]:
    """A connected adapter on a fresh account of the module's fake Alpaca."""
    alpaca_server[0].reset()
    adapter = AlpacaBroker(alpaca_options(alpaca_server[1]), BrokerContext(name=SUB))
    await adapter.connect()
    yield adapter
    await adapter.close()


def _working_sells(fake: FakeAlpaca) -> list[tuple[str, str, str | None]]:
    """The SQ sells working at Alpaca: type, quantity and price (the stop's, else the limit's)."""
    return sorted((o["type"], o["qty"], o["stop_price"] or o["limit_price"]) for o in fake.orders
                  if o["symbol"] == "SQ" and o["side"] == "sell" and o["status"] in OPEN)  # fmt: skip


def _gone(coid: str, kind: str, parent: str, price: Decimal, quantity: int = 10) -> Order:
    """A leg of a filled bracket, canceled with its sibling as Alpaca's cancel answers it."""
    prices = {"limit_price": price} if kind == "limit" else {"stop_price": price}
    return Order(coid, "SQ", "sell", Decimal(quantity), kind, "canceled", parent_client_order_id=parent, **prices)


async def _put_back(fake: FakeAlpaca, broker: AlpacaBroker, store: Store, gone: list[Order]) -> tuple[str, str]:
    """A long 10 SQ at Alpaca, and the put-back of `gone`, the legs a cancel took with their siblings: its outcome."""
    paper = Paper(store)
    paper.broker = broker  # type: ignore[assignment]
    fake.set_price("SQ", Decimal(100))
    await paper.run(Signal(ticker="SQ", action="buy", price=Decimal(100), quantity=Decimal(10)))
    assert fake.positions["SQ"][0] == 10
    signal = Signal(ticker="SQ", action="exit")
    job = Job(await journal_signal(paper.store, signal), STRATEGY, SUB, signal, utcnow())
    return await paper.executor._put_back_gone(job, broker, SUB, "SQ", gone, {}, Decimal(10), CANCELED,
                                               iso(utcnow()), "")  # fmt: skip


async def test_a_put_back_of_a_take_profit_and_a_stop_loss_gives_the_stop_the_shares(
    alpaca_server: tuple[FakeAlpaca, str], broker: AlpacaBroker, fresh_store: Store
) -> None:
    fake = alpaca_server[0]
    requests = len(fake.order_requests) + 1  # the buy
    # The legs went, taken with their siblings, the take-profit listed first.
    gone = [_gone("tp-a", "limit", "entry-a", Decimal(120)), _gone("sl-b", "stop", "entry-b", Decimal(95))]
    state, decision = await _put_back(fake, broker, fresh_store, gone)

    assert _working_sells(fake) == [("stop", "10", "95")], decision
    assert len(fake.order_requests) == requests + 1, "the stop alone: no take-profit sent to be refused beside it"
    assert state == "failed", decision
    assert "the take-profit at 120 was not put back: the broker holds the shares for the stops put back" in (
        decision), decision  # fmt: skip
    assert "place it with the stop as one order (OCO)" in decision, decision


async def test_a_take_profit_put_back_beside_a_stop_goes_for_the_shares_the_stop_leaves_free(
    alpaca_server: tuple[FakeAlpaca, str], broker: AlpacaBroker, fresh_store: Store
) -> None:
    """A stop-loss for 6 of the 10 leaves 4 free: the take-profit goes for those, saying so."""
    fake = alpaca_server[0]
    gone = [_gone("tp-a", "limit", "entry-a", Decimal(120)), _gone("sl-b", "stop", "entry-b", Decimal(95), 6)]
    state, decision = await _put_back(fake, broker, fresh_store, gone)

    assert _working_sells(fake) == [("limit", "4", "120"), ("stop", "6", "95")], decision
    assert state == "executed", decision
    assert "the take-profit at 120 was put back for 4 of 10" in decision, decision
