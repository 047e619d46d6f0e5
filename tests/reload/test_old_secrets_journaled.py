"""A key a reload replaced is a secret still: what a broker built with it says is journaled masked."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import TOKEN
from tests.reload.conftest import config_text
from tests.reload.venue import GatedEchoingRejects, GatedPaper

OLD_KEY = "venue-key-" + "7a7a7a7a7a7a7a7a"
NEW_KEY = "venue-key-" + "8b8b8b8b8b8b8b8b"


def _with_key(key: str) -> str:
    text = config_text({"sq": TOKEN}, plugin="tests.reload.venue:GatedEchoingRejects")
    return text.replace("options: {cash: 100000}", f"options: {{cash: 100000, api_key: {key}}}")


async def test_an_old_key_quoted_by_the_broker_a_queued_job_kept_is_journaled_masked(running: Any) -> None:
    """The job queued before the reload runs on the old connection, whose venue quotes the old key in its refusal:
    neither the order's error nor the signal's decision, both served by /api, may hold it in clear."""
    GatedEchoingRejects.instances.clear()
    GatedPaper.gate = asyncio.Event()
    try:
        r = await running(_with_key(OLD_KEY))
        venue = GatedEchoingRejects.instances[-1]
        first = (await r.post(quantity=1)).json()["id"]
        while not venue.created:  # the first order is inside create_order, held by the gate
            await asyncio.sleep(0.01)
        queued = (await r.post(quantity=2)).json()["id"]  # waits in AMD's queue, on the old connection
        assert (await r.edit(_with_key(NEW_KEY))).ok
        GatedPaper.gate.set()
        await r.settled()
    finally:
        GatedPaper.gate = None
    assert len(venue.created) == 2, "both orders went to the connection made with the old key"
    rows = r.bridge.store.peek(
        lambda c: c.execute(
            "SELECT o.error, s.decision FROM orders o JOIN signals s ON s.id = o.signal_id WHERE s.id IN (?, ?)",
            (first, queued),
        ).fetchall()
    )
    assert len(rows) == 2
    for error, decision in rows:
        assert "403 Forbidden" in error, error
        assert OLD_KEY not in error and OLD_KEY not in (decision or ""), (error, decision)


async def test_a_token_a_reload_replaced_is_journaled_masked_when_a_later_request_carries_it(running: Any) -> None:
    """The old URL pasted into a header or an alert's message after the token was rotated: the journal (served by
    /api and the dashboard) must not keep it in clear, as the logs and the notifications do not."""
    old, new = TOKEN, "rotated-" + "9c9c9c9c9c9c9c9c"
    r = await running(config_text({"sq": old}))
    assert (await r.edit(config_text({"sq": new}))).ok
    body = {"ticker": "AMD", "action": "buy", "price": 100, "comment": f"was /webhook/sq/{old}"}
    answer = await r.client.post(f"/webhook/sq/{new}", json=body, headers={"X-Original-Url": f"/webhook/sq/{old}"})
    assert answer.status_code == 200, answer.text
    refused = await r.client.post(f"/webhook/sq/{new}", content=f"not json {old}", headers={f"X-{old}": "1"})
    assert refused.status_code == 400, refused.text
    query = "SELECT w.headers, w.body, s.payload, s.extras FROM webhooks w LEFT JOIN signals s ON s.id = w.signal_id"
    rows = r.bridge.store.peek(lambda c: c.execute(query).fetchall())
    assert len(rows) == 2
    for row in rows:
        assert all(old not in (value or "") for value in row), tuple(row)
