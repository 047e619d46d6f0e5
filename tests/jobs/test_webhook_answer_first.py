"""A webhook's signal is journaled ahead of the work already waiting for the journal: its 200 does not wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.jobs.conftest import Clock, config_text


async def test_a_webhook_is_answered_before_the_journal_work_queued_ahead_of_it(bridges: Callable[..., Any]) -> None:
    running = await bridges(config_text(), Clock())
    store = running.bridge.store
    ran: list[int] = []

    def step(index: int) -> None:  # an execution's slow step, say: each outlasts a batch's time on its own
        time.sleep(0.1)
        ran.append(index)

    await running.accepted()  # webhooks are coming in
    for index in range(8):
        store.later(step, index)
    response = await running.post(ticker="TSLA")
    assert response.status_code == 200, response.text
    # Behind them, the signal's rows waited for all eight (0.8 s; at 1,000/s, seconds); ahead, for one batch.
    assert len(ran) <= 2, ran
    await store.run(lambda: None)  # the others still run, in their order
    assert ran == list(range(8))
