"""A ticker sent in other letters than the venue lists it in (`amd`, listed as AMD) is the venue's one instrument."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bridge.models import Order, OrderRequest, OrderStatus, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, sends


class ListsInCapitals(FakeBroker):
    """A venue that takes `amd` and books and lists it as AMD, as Alpaca and most stock venues do."""

    def accept(self, request: OrderRequest, status: OrderStatus) -> Order:
        return super().accept(replace(request, symbol=request.symbol.upper()), status)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        """Its filter reads the symbol as it reads an order's: without case."""
        return await super().fetch_open_orders(None if symbol is None else symbol.upper())


async def test_a_buy_in_small_letters_sees_the_long_listed_in_capitals(fresh_store: Store) -> None:
    venue = ListsInCapitals({"AMD": Decimal(5)})
    h = Harness(fresh_store, venue)
    signal_id = await h.run(Signal(ticker="amd", action="buy", quantity=Decimal(5)))
    assert sends(venue) == []  # already long: a second buy would double the position
    assert "while long 5" in (await h.signal(signal_id))["decision"]


async def test_an_exit_in_small_letters_closes_the_long_listed_in_capitals(fresh_store: Store) -> None:
    venue = ListsInCapitals({"AMD": Decimal(5)})
    h = Harness(fresh_store, venue)
    await h.run(Signal(ticker="amd", action="exit"))
    assert sends(venue) == [("sell", 5)]
    assert venue.positions == {"AMD": Decimal(0)}


async def test_a_working_order_listed_in_capitals_is_the_signal_s_own(fresh_store: Store) -> None:
    venue = ListsInCapitals({"AMD": Decimal(5)})
    venue.accept(OrderRequest(client_order_id="tp", symbol="amd", side="sell", quantity=Decimal(5), type="limit",
                              limit_price=Decimal(120)), "open")  # fmt: skip
    h = Harness(fresh_store, venue)
    await h.run(Signal(ticker="amd", action="exit"))
    assert venue.orders["tp"].status == "canceled"  # an exit of all of it cancels the position's working exit first
    assert sends(venue) == [("sell", 5)]
