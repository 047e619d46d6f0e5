"""An order of unknown outcome in a symbol is looked up before anything else is planned there: while the broker does
not show it, nothing that opens a position is sent beside it (it may have filled), and exits still go."""

from __future__ import annotations

from decimal import Decimal

from bridge.errors import UnknownOutcome
from bridge.models import OrderRequest, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, raises, sends


async def lost_buy(h: Harness) -> str:
    """A buy whose answer was lost and that the venue does not list: journaled of unknown outcome."""
    signal_id = await h.run(Signal(ticker="AMD", action="buy", quantity=Decimal(1)))
    assert (await h.orders(signal_id))["entry"]["status"] == "unknown"
    return signal_id


async def test_no_entry_goes_beside_an_order_of_unknown_outcome_the_broker_does_not_list(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker(behaviours=[raises(UnknownOutcome("502 Bad Gateway"))]))
    await lost_buy(h)
    second = await h.run(Signal(ticker="AMD", action="buy", quantity=Decimal(1)))
    assert sends(h.broker) == [("buy", 1)], "a second buy went out beside the one that may have filled"
    final = await h.signal(second)
    assert final["state"] == "rejected" and "earlier order in AMD" in final["decision"], final["decision"]
    other = await h.run(Signal(ticker="NVDA", action="buy", quantity=Decimal(1)))
    assert (await h.signal(other))["state"] == "executed", "other symbols trade as before"


async def test_an_exit_still_goes_beside_an_order_of_unknown_outcome_and_a_swap_sends_only_its_exit(
    fresh_store: Store,
) -> None:
    h = Harness(fresh_store, FakeBroker(behaviours=[raises(UnknownOutcome("502 Bad Gateway"))]))
    await lost_buy(h)
    h.broker.positions["AMD"] = Decimal(5)  # held from before: the trader's exit must not be kept from it
    swap = await h.run(Signal(ticker="AMD", action="sell"))
    assert sends(h.broker) == [("buy", 1), ("sell", 5)]
    final = await h.signal(swap)
    assert final["state"] == "executed" and "only the exit was sent" in final["decision"], final["decision"]
    assert set(await h.orders(swap)) == {"exit"}


async def test_an_order_the_broker_lists_now_is_journaled_and_the_next_signal_trades(fresh_store: Store) -> None:
    h = Harness(fresh_store, FakeBroker(behaviours=[raises(UnknownOutcome("502 Bad Gateway"))]))
    first = await lost_buy(h)
    coid = (await h.orders(first))["entry"]["client_order_id"]
    h.broker.accept(OrderRequest(client_order_id=coid, symbol="AMD", side="buy", quantity=Decimal(1)), "filled")
    second = await h.run(Signal(ticker="AMD", action="buy", quantity=Decimal(1)))
    assert (await h.orders(first))["entry"]["status"] == "filled", "the lookup's answer is journaled"
    final = await h.signal(second)
    assert final["decision"].startswith("buy while long 1: ignored"), final["decision"]
