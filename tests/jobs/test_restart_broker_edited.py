"""What each broker name stands for is recorded at start and at every reload, so a restart flags only an edit made
while the daemon was down (its plans' unsent orders are then never sent to the account the name opens now)."""

from __future__ import annotations

from typing import Any

from bridge.config.load import parse_config
from bridge.store import brokers as identities
from tests.jobs.conftest import Clock, config_text


async def test_a_reload_that_edits_a_broker_is_recorded_and_a_restart_after_it_sees_no_change(bridges: Any) -> None:
    clock = Clock()
    first = await bridges(config_text(), clock)
    edited = config_text().replace("cash: 100000", "cash: 50000")
    assert first.bridge.loaded.path is not None
    first.bridge.loaded.path.write_text(edited)
    await first.bridge.reload("test")
    store = first.bridge.store
    now = first.bridge.loaded.config.brokers
    assert await store.run(identities.changed_since, store.conn, now) == set(), "the reload's edit is recorded"
    await first.bridge.stop()

    second = await bridges(edited, clock)
    store = second.bridge.store
    assert await store.read(identities.changed_since, store.conn, now) == set()
    original = parse_config(config_text(), "<test>").brokers
    assert await store.read(identities.changed_since, store.conn, original) == {"paper"}
