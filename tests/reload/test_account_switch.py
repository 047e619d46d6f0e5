"""Switching a broker's account under the same name (paper keys -> live keys) while an order rests there.

The order jobs follow orders by broker name, so from the swap on they ask the new account, which does not
know the old one's orders. Until the old connection is kept to follow them, the reload says so.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import ADMIN, TOKEN

PLUGIN = "tests.reload.venue_accounts:AccountPaper"
RESTING = {"orderType": "limit", "limitPrice": 90, "price": 100}  # a buy limit below the market rests


def text(account: str, cancel_after: int = 30) -> str:
    return (
        f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n"
        f"brokers:\n  live:\n    plugin: {PLUGIN}\n    options: {{account: {account}}}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: live\n"
        f"        cancel_after: {cancel_after}\n"
    )


async def test_switching_the_account_of_a_broker_with_working_orders_warns_naming_the_broker_and_count(
    running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.bridge.queues.join()

    status = await r.edit(text("paper-account", cancel_after=60))  # the broker itself unchanged: nothing to say
    assert (status.ok, status.warnings) == (True, ())

    with caplog.at_level(logging.WARNING, logger="bridge.reload"):
        status = await r.edit(text("live-account"))  # the documented "switch to the real broker" edit
    assert status.ok, status.error
    [warning] = status.warnings
    assert warning.startswith("broker live changed (plugin or options) while 1 order(s) placed through it are not")
    assert "check and cancel them there" in warning
    assert [m for m in caplog.messages if "broker live changed" in m] == [f"config reloaded (test), but {warning}"]
    health = (await r.client.get("/health")).json()
    assert health["config"]["last_reload"]["warnings"] == [warning]


async def test_removing_a_broker_with_working_orders_warns_naming_the_broker_and_count(running: Any) -> None:
    """Its orders rest at the venue, and nothing follows or cancels them any more (cancel_after included)."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.bridge.queues.join()

    moved = (
        text("paper-account")
        .replace("brokers:\n  live:", "brokers:\n  other:")
        .replace("broker: live", "broker: other")
    )
    status = await r.edit(moved)  # the strategy now trades through another broker; `live` is gone
    assert status.ok, status.error
    [warning] = status.warnings
    assert warning.startswith("broker live removed while 1 order(s) placed through it are not final"), warning
    assert "check and cancel them there" in warning


async def test_a_switched_account_is_recorded_only_once_nothing_runs_at_the_old_one_any_more(running: Any) -> None:
    """A request or a queued plan that took the runtime before the switch still trades at the old account. Were the
    new account recorded at once, a stop before that plan ends would resume its rest at the new one after the
    restart, which would find the name unchanged: the switch is recorded once the old runtime is no longer used."""
    from bridge.store import brokers as identities

    r = await running(text("paper-account"))
    store = r.bridge.store
    before = r.bridge.loaded.config.brokers
    lease = r.bridge.acquire()  # a webhook in flight (or its plan queued) under the old account
    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    now = r.bridge.loaded.config.brokers
    await store.run(lambda: None)  # what the swap queued is committed by now
    assert await store.read(identities.changed_since, store.conn, now) == {"live"}, "recorded while still in use"
    assert await store.read(identities.changed_since, store.conn, before) == set()

    r.bridge.release(lease)
    await r.bridge.switched()  # the old account's orders are dealt with first, then the switch recorded
    assert await store.read(identities.changed_since, store.conn, now) == set()
