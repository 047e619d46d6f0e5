"""A quote of zero or below from a broker plugin (a `last` of a market with no trades yet) is no price at all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.config.schema import Subscription
from bridge.models import Signal
from bridge.store.db import Store
from tests.execution.test_executor import SUB, FakeBroker, Harness


class QuotesAt(FakeBroker):
    """A venue whose quote for every symbol is `price`."""

    def __init__(self, price: Decimal) -> None:
        super().__init__()
        self.price = price

    async def fetch_quote(self, symbol: str) -> Decimal | None:
        """The scripted quote."""
        return self.price


@pytest.mark.parametrize("price", [Decimal(0), Decimal(-1)])
async def test_a_limit_entry_at_a_quote_of_zero_is_rejected_not_sent_at_it(fresh_store: Store, price: Decimal) -> None:
    h = Harness(fresh_store, QuotesAt(price))
    h.sub = Subscription(broker=SUB, order_type="limit")
    signal = await h.signal(await h.run(Signal(ticker="AMD", action="buy")))
    assert h.broker.creates == []
    assert signal["state"] == "rejected" and "needs limitPrice or price" in signal["decision"], signal["decision"]


async def test_dollar_sizing_at_a_quote_of_zero_is_rejected_for_want_of_a_price(fresh_store: Store) -> None:
    h = Harness(fresh_store, QuotesAt(Decimal(0)))
    h.sub = Subscription.model_validate({"broker": SUB, "sizing": {"type": "dollar_amount", "value": 1000}})
    signal = await h.signal(await h.run(Signal(ticker="AMD", action="buy")))
    assert h.broker.creates == []
    assert signal["state"] == "rejected" and "dollar_amount sizing needs a price" in signal["decision"], signal
