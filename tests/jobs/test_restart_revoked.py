"""A token rotated (or a strategy removed) while the daemon was down stops what it sent, as a reload would."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.conftest import TOKEN
from tests.jobs.conftest import Clock, config_text, two_strategies

ROTATED = "tok-" + "rotated0rotated0rotated0"


async def interrupted(bridges: Any, clock: Clock) -> str:
    """A signal journaled but not yet executed when the daemon stopped (a flood's backlog, say)."""
    first = await bridges(config_text(), clock)
    signal_id = await first.accepted(delay=3600)  # held back only to stop the daemon before it runs
    await first.bridge.stop()
    # As it would be had it come without a delay: the next start resumes it.
    with sqlite3.connect(first.bridge.store.path) as db:
        db.execute("UPDATE signals SET execute_at = NULL, decision = NULL WHERE id = ?", (signal_id,))
    return signal_id


async def test_a_signal_left_unexecuted_is_not_resumed_after_a_restart_that_rotated_its_token(bridges: Any) -> None:
    clock = Clock()
    signal_id = await interrupted(bridges, clock)

    second = await bridges(config_text().replace(TOKEN, ROTATED), clock)
    await second.bridge.queues.join()
    assert second.rows("SELECT * FROM orders") == [], "the old token's signal traded after the rotation"
    row = second.signal(signal_id)
    assert row["state"] == "rejected" and "changed strategy sq's token" in row["decision"], tuple(row)


async def test_a_signal_left_unexecuted_is_not_resumed_after_a_restart_that_removed_its_strategy(
    bridges: Any,
) -> None:
    clock = Clock()
    signal_id = await interrupted(bridges, clock)

    second = await bridges(two_strategies([]), clock)
    await second.bridge.queues.join()
    assert second.rows("SELECT * FROM orders") == []
    row = second.signal(signal_id)
    assert row["state"] == "rejected" and "removed strategy sq" in row["decision"], tuple(row)


async def test_a_signal_left_unexecuted_resumes_after_a_restart_that_kept_its_token(bridges: Any) -> None:
    clock = Clock()
    signal_id = await interrupted(bridges, clock)

    second = await bridges(config_text(), clock)
    await second.bridge.queues.join()
    assert second.signal(signal_id)["state"] == "executed"
