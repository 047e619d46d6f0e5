"""A stop put back at Alpaca after its take-profit sibling filled: never a short sale in the stop's place.

Alpaca does not enforce reduce-only on equities: a sell stop sent for an account with no shares is taken as a short
sale. A breakeven that cancels the bracket first (`cancel: true`) and finds its take-profit filled meanwhile (Alpaca
canceled the stop-loss with that fill) does not send its stop; the stop-loss it would put back in its place has no
long left to protect, and triggered, it would open a short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bridge.brokers.base import BrokerContext
from bridge.models import Order, Signal, StopLoss, TakeProfit
from bridge.store.db import Store
from plugins.alpaca import AlpacaBroker
from tests.brokers.test_contract_alpaca import alpaca_options
from tests.execution.test_executor import Harness
from tests.fakes.alpaca import OPEN, FakeAlpaca


class Racing(AlpacaBroker):
    """The adapter, but the market reaches the take-profit at 120 just before the first cancel reaches Alpaca."""

    fake: FakeAlpaca | None = None

    async def cancel_order(self, client_order_id: str) -> Order:
        if self.fake is not None:
            self.fake.set_price("SQ", Decimal(120))  # it fills, and Alpaca cancels the stop-loss with it
            self.fake = None
        return await super().cancel_order(client_order_id)


@pytest.fixture
async def fake(alpaca_server: tuple[FakeAlpaca, str]) -> FakeAlpaca:
    """The module's fake Alpaca, with a fresh account."""
    alpaca_server[0].reset()
    return alpaca_server[0]


@pytest.fixture
async def broker(alpaca_server: tuple[FakeAlpaca, str], fake: FakeAlpaca) -> AsyncIterator[Racing]:
    """A connected adapter on the fake."""
    adapter = Racing(alpaca_options(alpaca_server[1]), BrokerContext(name="alpaca"))
    await adapter.connect()
    yield adapter
    await adapter.close()


def _working_sells(fake: FakeAlpaca) -> list[tuple[str, str]]:
    return [(o["type"], o["qty"]) for o in fake.orders if o["side"] == "sell" and o["status"] in OPEN]


async def test_a_stop_loss_canceled_with_its_filled_take_profit_is_not_put_back_on_a_flat_account(
    broker: Racing, fake: FakeAlpaca, fresh_store: Store
) -> None:
    fake.set_price("SQ", Decimal(100))
    harness = Harness(fresh_store, broker)  # type: ignore[arg-type]
    bracket = {"take_profit": TakeProfit(limit_price=Decimal(120)), "stop_loss": StopLoss(stop_price=Decimal(95))}
    entry = await harness.run(Signal(ticker="SQ", action="buy", price=Decimal(100), quantity=Decimal(10), **bracket))
    assert (await harness.signal(entry))["state"] == "executed"
    assert fake.positions["SQ"][0] == 10
    fake.set_price("SQ", Decimal(110))
    broker.fake = fake

    signal_id = await harness.run(Signal(ticker="SQ", action="breakeven", price=Decimal(110), cancel=True))
    assert fake.positions["SQ"][0] == 0, "the take-profit sold the long"
    assert _working_sells(fake) == [], "no sell stop works on the flat account"
    fake.set_price("SQ", Decimal(94))  # had a stop been put back, it would sell 10 short here
    assert fake.positions["SQ"][0] == 0
    final = await harness.signal(signal_id)
    assert final["state"] == "failed", final["decision"]
    decision = final["decision"]
    assert "filled before their cancel" in decision, decision
    assert "not put back" in decision and "no position" in decision, decision
