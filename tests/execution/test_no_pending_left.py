"""A plan that ends early leaves no order `pending` (maybe sent) behind: what was not sent says so, and an
order the venue holds but cannot show now is `unknown`, for the order jobs and the next start to settle."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from bridge.brokers.base import Capabilities
from bridge.errors import DuplicateClientOrderId, OrderRejected, TemporaryBrokerError, UnknownOutcome
from bridge.models import Order, Signal, StopLoss, TakeProfit
from bridge.store import journal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, raises, rests


async def test_an_exit_of_unknown_outcome_leaves_the_entry_not_sent(fresh_store: Store) -> None:
    harness = Harness(fresh_store, FakeBroker({"AMD": Decimal(2)}, [raises(UnknownOutcome("504"))]))
    signal_id = await harness.run(Signal(ticker="AMD", action="sell"))  # exit 2 (lost answer), then entry 1
    orders = await harness.orders(signal_id)
    assert orders["exit"]["status"] == "unknown"
    assert (orders["entry"]["status"], orders["entry"]["error"]) == (
        "canceled", "not sent: an earlier order's outcome is unknown",
    )  # fmt: skip
    assert (await harness.signal(signal_id))["state"] == "failed"


class HoldsButCannotShow(FakeBroker):
    """The venue already holds the client order id (sent before a crash) but its lookup fails for now."""

    async def fetch_order(self, client_order_id: str) -> Order:
        raise TemporaryBrokerError("503 from the venue")


async def test_a_duplicate_id_whose_lookup_fails_is_unknown_not_pending(fresh_store: Store) -> None:
    broker = HoldsButCannotShow(behaviours=[raises(DuplicateClientOrderId("already have it"))])
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="buy"))
    entry = (await harness.orders(signal_id))["entry"]
    assert entry["status"] == "unknown" and "503 from the venue" in entry["error"]
    decided = await harness.signal(signal_id)
    assert decided["state"] == "failed" and "at the broker already, but could not be read" in decided["decision"]


class BracketVenue(FakeBroker):
    """A venue that takes brackets (the fake books no children: a lookup of one is not found)."""

    capabilities: ClassVar[Capabilities] = Capabilities(brackets=True)


BRACKET = {"take_profit": TakeProfit(limit_price=Decimal(110)), "stop_loss": StopLoss(stop_price=Decimal(95))}


async def statuses(store: Store, signal_id: str) -> dict[str, tuple[str, str | None]]:
    """(status, error) of each of a signal's journaled orders, by leg, children included."""
    rows = await store.read(journal.planned_orders, store.conn, signal_id, "fake")
    return {row["leg"]: (row["status"], row["error"]) for row in rows}


async def test_the_children_of_a_rejected_bracket_entry_are_rejected_with_it(fresh_store: Store) -> None:
    harness = Harness(fresh_store, BracketVenue(behaviours=[raises(OrderRejected("insufficient buying power"))]))
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100), **BRACKET))
    found = await statuses(fresh_store, signal_id)
    assert found["entry"] == ("rejected", "insufficient buying power")
    assert found["take_profit"] == found["stop_loss"] == ("rejected", "rejected with its parent order")


async def test_the_children_of_an_entry_never_sent_are_not_sent_either(fresh_store: Store) -> None:
    broker = BracketVenue({"AMD": Decimal(-2)}, [raises(OrderRejected("account is restricted"))])
    signal_id = await Harness(fresh_store, broker).run(Signal(ticker="AMD", action="buy", price=Decimal(100),
                                                              **BRACKET))  # fmt: skip
    assert len(broker.creates) == 1, "only the cover went out"
    found = await statuses(fresh_store, signal_id)
    for leg in ("entry", "take_profit", "stop_loss"):
        assert found[leg] == ("canceled", "not sent: an earlier order was rejected")


async def test_the_children_of_a_bracket_entry_of_unknown_outcome_share_it(fresh_store: Store) -> None:
    harness = Harness(fresh_store, BracketVenue(behaviours=[raises(UnknownOutcome("504"))]))
    signal_id = await harness.run(Signal(ticker="AMD", action="buy", price=Decimal(100), **BRACKET))
    found = await statuses(fresh_store, signal_id)
    assert found["entry"][0] == "unknown"
    shared = ("unknown", "sent with its parent order, whose outcome is unknown")
    assert found["take_profit"] == found["stop_loss"] == shared


class CannotBeRead(FakeBroker):
    """A venue whose order lookups fail with an error that is not "temporary" (a read timeout, say)."""

    async def fetch_order(self, client_order_id: str) -> Order:
        raise UnknownOutcome("read timed out")


async def test_a_lost_exit_answer_whose_lookup_fails_too_leaves_the_entry_not_sent(fresh_store: Store) -> None:
    broker = CannotBeRead({"AMD": Decimal(2)}, [raises(UnknownOutcome("504"))])
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="sell"))
    assert len(broker.creates) == 1
    orders = await harness.orders(signal_id)
    assert orders["exit"]["status"] == "unknown"
    assert (orders["entry"]["status"], orders["entry"]["error"]) == (
        "canceled", "not sent: an earlier order's outcome is unknown",
    )  # fmt: skip
    decided = await harness.signal(signal_id)
    assert decided["state"] == "failed" and "outcome is unknown" in decided["decision"]


async def test_an_exit_that_cannot_be_followed_leaves_the_entry_not_sent(fresh_store: Store) -> None:
    broker = CannotBeRead({"AMD": Decimal(2)}, [rests])  # the exit rests, then its status cannot be read
    harness = Harness(fresh_store, broker)
    signal_id = await harness.run(Signal(ticker="AMD", action="sell"))
    assert len(broker.creates) == 1
    orders = await harness.orders(signal_id)
    assert orders["exit"]["status"] == "open", "sent and working: the order jobs follow it"
    assert (orders["entry"]["status"], orders["entry"]["error"]) == (
        "canceled", "not sent: following the exit order failed (UnknownOutcome)",
    )  # fmt: skip
    assert (await harness.signal(signal_id))["state"] == "failed"
