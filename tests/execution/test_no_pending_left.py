"""A plan that ends early leaves no order `pending` (maybe sent) behind: what was not sent says so, and an
order the venue holds but cannot show now is `unknown`, for the order jobs and the next start to settle."""

from __future__ import annotations

from decimal import Decimal

from bridge.errors import DuplicateClientOrderId, TemporaryBrokerError, UnknownOutcome
from bridge.models import Order, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness, raises


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
