"""An adapter's submission that never returns is cut off: it holds neither the signal nor its symbol's queue."""

from __future__ import annotations

import asyncio

import pytest

from bridge.brokers import answers
from bridge.models import Order, OrderRequest, Signal
from bridge.store.db import Store
from tests.execution.test_executor import FakeBroker, Harness

STUCK = 30.0  # bounds a test that would otherwise never end; a passing run takes a fraction of a second


class PlacesThenHangs(FakeBroker):
    """A venue that takes the order, and an adapter that never returns its answer (no HTTP timeout set)."""

    async def create_order(self, request: OrderRequest) -> Order:
        """Placed and filled at the venue; the answer never comes."""
        await super().create_order(request)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_submission_that_never_answers_is_an_unknown_outcome_looked_up_never_sent_again(
    fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "CALL_TIMEOUT", 0.2)
    h = Harness(fresh_store, PlacesThenHangs())
    # Before: the execution, and every later signal in the symbol queued behind it, waited forever.
    signal_id = await asyncio.wait_for(h.run(Signal(ticker="SQ", action="buy")), STUCK)
    assert len(h.broker.creates) == 1
    assert (await h.orders(signal_id))["entry"]["status"] == "filled"  # found by its client order id
    assert (await h.signal(signal_id))["state"] == "executed"
