"""A reload that points a broker name at another account leaves the old account's working orders to it, as a restart.

The order jobs follow and cancel orders by broker name: after the switch they would ask the new account, which
never holds the old one's orders, at every poll (and close one of unknown outcome as never sent, though it may
have filled at the old account). A restart marks them `unknown`, unfollowed, and tells the trader to check the
old account; a reload does the same once nothing trades at the old account any more.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import datetime, timedelta
from typing import Any

import pytest

from bridge.config.load import load_config
from bridge.jobs.orders import cancel_expired, poll_orders
from bridge.notify.events import Event
from bridge.service import Bridge
from bridge.store import brokers as identities
from bridge.store import upkeep
from bridge.store.db import iso, transaction, utcnow
from tests.conftest import ADMIN, GUARD
from tests.reload.test_account_switch import RESTING, text
from tests.reload.venue_accounts import AccountPaper


def _orders(r: Any) -> list[dict[str, Any]]:
    rows = r.bridge.store.peek(lambda conn: conn.execute("SELECT * FROM orders ORDER BY created_at").fetchall())
    return [dict(row) for row in rows]


def _lost(conn: sqlite3.Connection, coid: str, sent: datetime) -> None:
    """The order's answer was lost when it was sent at `sent` (as the executor journals a timed-out submission)."""
    with transaction(conn):
        conn.execute("UPDATE orders SET status = 'unknown', error = 'timed out', sent_at = ? WHERE client_order_id = ?",
                     (iso(sent), coid))  # fmt: skip


async def test_an_order_resting_at_the_old_account_is_left_to_it_and_the_trader_told(running: Any) -> None:
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    [order] = _orders(r)
    assert order["status"] == "open", order
    told: list[Event] = []
    r.bridge.executor.observers.append(told.append)

    status = await r.edit(text("live-account"))
    assert status.ok, status.error

    [order] = _orders(r)
    assert order["unfollowed"] == 1, "the order jobs would ask the new account for it at every poll"
    assert order["status"] == "unknown" and "named before" in order["error"], order
    assert "reload" in order["error"], order["error"]
    [event] = [e for e in told if e.kind == "order.unfollowed"]
    assert event.data["broker"] == "live" and "check and cancel it there" in event.data["error"]
    assert await r.bridge.store.run(upkeep.open_orders, r.bridge.store.conn) == []
    assert await poll_orders(r.bridge) == 0
    assert await cancel_expired(r.bridge) == 0
    # The old account still works the order: the reload left it there, untouched.
    sql = "SELECT status FROM paper_orders WHERE client_order_id = ?"
    old = r.bridge.store.peek(lambda conn: conn.execute(sql, (order["client_order_id"],)).fetchone())
    assert old is not None and old[0] == "open"


async def test_an_order_of_unknown_outcome_at_the_old_account_is_not_closed_as_never_sent_at_the_new(
    running: Any,
) -> None:
    """Its answer was lost at the old account, which may have filled it: the new one never lists it, and the poll
    would close it as never sent once its wait is over."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    [order] = _orders(r)
    coid = order["client_order_id"]
    store = r.bridge.store
    sent = utcnow() - timedelta(hours=1)  # long past the wait for a lost answer
    await store.run(_lost, store.conn, coid, sent)

    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    await poll_orders(r.bridge)

    [order] = _orders(r)
    assert order["status"] == "unknown" and order["unfollowed"] == 1, order
    assert "named before" in order["error"], order["error"]


async def test_an_order_placed_at_the_new_account_after_the_switch_is_followed_there(running: Any) -> None:
    r = await running(text("paper-account"))
    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    [order] = _orders(r)
    assert (order["status"], order["unfollowed"]) == ("open", 0), order
    store = r.bridge.store
    assert await store.read(identities.changed_since, store.conn, r.bridge.loaded.config.brokers) == set()


async def test_orders_are_left_only_once_the_old_account_is_no_longer_used(running: Any) -> None:
    """A plan queued before the switch still trades at the old account: its orders are the old account's too."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    lease = r.bridge.acquire()  # a request in flight under the old account
    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    await r.bridge.switched()
    [order] = _orders(r)
    assert order["unfollowed"] == 0, "left while the old account is still used"

    r.bridge.release(lease)
    await r.bridge.switched()
    [order] = _orders(r)
    assert order["unfollowed"] == 1, order


async def test_while_the_old_account_is_still_used_its_orders_are_not_asked_for_at_the_new_one(running: Any) -> None:
    """Until the switch is settled, an order journaled before it is the old account's: not polled at the new one
    (where one of unknown outcome would be closed as never sent), nor canceled there past its `cancel_after`."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    assert (await r.post(ticker="AMZN", **RESTING)).status_code == 200
    await r.settled()
    lost, resting = (order["client_order_id"] for order in _orders(r))
    store = r.bridge.store
    await store.run(_lost, store.conn, lost, utcnow() - timedelta(hours=1))
    await store.run(_sent, store.conn, resting, utcnow() - timedelta(hours=1))  # long past its cancel_after
    lease = r.bridge.acquire()  # a request in flight under the old account
    status = await r.edit(text("live-account"))
    assert status.ok, status.error

    retries: dict[str, Any] = {}
    assert await cancel_expired(r.bridge, retries) == 0
    assert retries == {}, "a cancel was sent to the new account"
    await poll_orders(r.bridge)
    assert {o["client_order_id"]: (o["status"], o["unfollowed"]) for o in _orders(r)} == {
        lost: ("unknown", 0),
        resting: ("open", 0),
    }, "closed at the new account as never sent, though it may have filled at the old one"

    r.bridge.release(lease)
    await r.bridge.switched()
    assert [(o["status"], o["unfollowed"]) for o in _orders(r)] == [("unknown", 1), ("unknown", 1)]


async def test_an_order_placed_at_the_new_account_while_the_old_one_is_still_used_is_followed(running: Any) -> None:
    r = await running(text("paper-account"))
    lease = r.bridge.acquire()
    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    [order] = _orders(r)
    await store_sent(r, order["client_order_id"])
    retries: dict[str, Any] = {}
    assert await cancel_expired(r.bridge, retries) == 1, "its cancel_after applies at the new account"
    r.bridge.release(lease)
    await r.bridge.switched()
    [order] = _orders(r)
    assert (order["status"], order["unfollowed"]) == ("canceled", 0), order


async def store_sent(r: Any, coid: str) -> None:
    await r.bridge.store.run(_sent, r.bridge.store.conn, coid, utcnow() - timedelta(hours=1))


def _sent(conn: sqlite3.Connection, coid: str, sent: datetime) -> None:
    """The order went out at `sent`."""
    with transaction(conn):
        conn.execute("UPDATE orders SET sent_at = ? WHERE client_order_id = ?", (iso(sent), coid))


async def test_an_exit_resting_at_the_old_account_is_not_canceled_at_the_new_one_as_stranded(
    running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The new account holds no position for the old account's exit: the stranded job would cancel it there."""
    r = await running(text("paper-account"))
    assert (await r.post(action="buy", price=100)).status_code == 200  # filled: long at the old account
    await r.settled()
    assert (await r.post(action="exit", orderType="limit", limitPrice=120, price=100)).status_code == 200
    await r.settled()
    assert [o["status"] for o in _orders(r) if o["leg"] == "exit"] == ["open"], _orders(r)
    lease = r.bridge.acquire()
    status = await r.edit(text("live-account"))
    assert status.ok, status.error

    with caplog.at_level(logging.WARNING, logger="bridge.jobs"):
        assert await r.bridge.jobs.stranded.check() == 0
        assert await r.bridge.jobs.stranded.check() == 0
    assert not [m for m in caplog.messages if "cannot cancel" in m], caplog.messages
    r.bridge.release(lease)
    await r.bridge.switched()


async def test_a_switch_reloaded_during_start_up_recovery_is_settled_once_recovery_ends(
    running: Any, tmp_path: Any
) -> None:
    """Recovery recorded the config in force when it ended: a switch a reload made meanwhile then read as no change,
    and the old account's working orders were followed at the new one for good."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    assert (await r.post(ticker="MSFT", **RESTING)).status_code == 200
    await r.settled()
    store = r.bridge.store
    resting, lost = (row["client_order_id"] for row in _orders(r))
    await store.run(_lost, store.conn, lost, utcnow())  # its answer lost: the next start's recovery looks it up
    await r.bridge.stop()
    AccountPaper.lookups, AccountPaper.asked = asyncio.Event(), asyncio.Event()  # recovery's lookup waits
    try:
        again = Bridge(load_config(r.config), scheduling=False, watching=False)
        await again.start()
        try:
            await asyncio.wait_for(AccountPaper.asked.wait(), GUARD)  # recovery is under way: now a reload switches
            assert again.recovering
            r.config.write_text(text("live-account"))
            status = await again.reload("test")
            assert status.ok, status.error
            AccountPaper.lookups.set()
            await asyncio.wait_for(again.ready(), GUARD)
            await asyncio.wait_for(again.switched(), GUARD)
            sql = "SELECT client_order_id, status, unfollowed FROM orders ORDER BY created_at"
            rows = {row[0]: row[1:] for row in again.store.peek(lambda conn: conn.execute(sql).fetchall())}
        finally:
            await again.stop()
    finally:
        AccountPaper.lookups = None
    # Recovery found the lost one working at the account it was sent to; the switch then left both to that account.
    assert rows[resting] == rows[lost] == ("unknown", 1), "followed at the new account, which never holds them"


async def test_an_order_placed_at_the_other_account_of_a_switch_undone_before_it_settled_is_left_to_it(
    running: Any,
) -> None:
    """Switched to another account and back before the first switch settled: the name opens the account it was
    recorded with, so the switch read as no change, and the order placed at the other account meanwhile was
    followed at the first one, which never holds it (polled there, canceled there, closed as never sent)."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200  # rests at the first account
    await r.settled()
    lease = r.bridge.acquire()  # a request in flight under the first account: the switch waits for it
    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    assert (await r.post(ticker="AMZN", **RESTING)).status_code == 200  # rests at the other account
    await r.settled()
    status = await r.edit(text("paper-account"))  # and back
    assert status.ok, status.error
    r.bridge.release(lease)
    await r.bridge.switched()

    first, other = _orders(r)
    assert (first["symbol"], first["status"], first["unfollowed"]) == ("AMD", "open", 0), first
    assert (other["symbol"], other["status"], other["unfollowed"]) == ("AMZN", "unknown", 1), other
    assert "named before" in other["error"], other["error"]
    await poll_orders(r.bridge)
    await store_sent(r, first["client_order_id"])
    retries: dict[str, Any] = {}
    assert await cancel_expired(r.bridge, retries) == 1, "the first account's order is followed there again"
    first, other = _orders(r)
    assert first["status"] == "canceled" and other["status"] == "unknown", (first, other)
    # The other account still works its order: nothing canceled or closed it there.
    sql = "SELECT status FROM paper_orders WHERE client_order_id = ?"
    kept = r.bridge.store.peek(lambda conn: conn.execute(sql, (other["client_order_id"],)).fetchone())
    assert kept is not None and kept[0] == "open"


async def test_an_order_working_at_a_broker_a_reload_removed_is_not_claimed_followed_and_the_trader_told(
    running: Any,
) -> None:
    """A removed broker's orders keep working at its venue, which nothing asks or cancels any more: the journal
    said `open` for good (as followed, in /api/orders and the dashboard), and only the reload's warning said more."""
    from bridge.notify.config import Notifications, NotifyTarget

    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    told: list[Event] = []
    r.bridge.executor.observers.append(told.append)
    moved = text("paper-account").replace("brokers:\n  live:", "brokers:\n  other:")
    moved = moved.replace("broker: live", "broker: other")
    status = await r.edit(moved)  # the strategy trades through another broker now; `live` is gone
    assert status.ok, status.error
    await r.bridge.switched()

    [order] = _orders(r)
    assert (order["status"], order["unfollowed"]) == ("unknown", 1), order
    assert "removed" in order["error"] and "check and cancel it there" in order["error"], order["error"]
    listed = (await r.client.get("/api/orders", headers={"Authorization": f"Bearer {ADMIN}"})).json()
    [shown] = [o for o in listed if o["client_order_id"] == order["client_order_id"]]
    assert (shown["status"], shown["unfollowed"]) == ("unknown", 1), shown
    [event] = [e for e in told if e.kind == "order.unfollowed"]
    assert event.data["broker"] == "live" and "removed" in event.data["error"], event
    target = NotifyTarget(type="webhook", url="http://127.0.0.1:9/hook")
    assert target.wants(event.kind, Notifications().events), "told by default: it needs a look at the venue"
    # The venue still works it: nothing canceled it there.
    sql = "SELECT status FROM paper_orders WHERE client_order_id = ?"
    kept = r.bridge.store.peek(lambda conn: conn.execute(sql, (order["client_order_id"],)).fetchone())
    assert kept is not None and kept[0] == "open"


async def test_an_order_left_when_its_broker_was_removed_is_followed_again_once_the_broker_is_back(
    running: Any,
) -> None:
    """A broker removed (with its subscription) and added back as it was opens the same account, where its orders
    still work: they stayed `unknown` and unfollowed for good, neither polled nor canceled past their cancel_after,
    their fills never journaled. Looked up there once the broker is back, each is followed again as it stands."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    moved = text("paper-account").replace("brokers:\n  live:", "brokers:\n  other:")
    status = await r.edit(moved.replace("broker: live", "broker: other"))
    assert status.ok, status.error
    await r.bridge.switched()
    [order] = _orders(r)
    assert (order["status"], order["unfollowed"]) == ("unknown", 1), order

    status = await r.edit(text("paper-account"))  # back as it was: the same account
    assert status.ok, status.error
    await r.bridge.switched()

    [order] = _orders(r)
    assert (order["status"], order["unfollowed"], order["error"]) == ("open", 0, None), order
    assert [row["client_order_id"] for row in await r.bridge.store.run(upkeep.open_orders, r.bridge.store.conn)] == [
        order["client_order_id"]
    ]


async def test_an_order_left_when_its_broker_was_removed_is_followed_again_once_it_is_back_at_the_next_start(
    running: Any,
) -> None:
    """As by a reload: the broker added back while the daemon was down is looked up for it at the next start."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    moved = text("paper-account").replace("brokers:\n  live:", "brokers:\n  other:")
    status = await r.edit(moved.replace("broker: live", "broker: other"))
    assert status.ok, status.error
    await r.bridge.switched()
    await r.bridge.stop()
    r.config.write_text(text("paper-account"))
    again = Bridge(load_config(r.config), scheduling=False, watching=False)
    await again.start()
    try:
        await asyncio.wait_for(again.ready(), GUARD)
        sql = "SELECT status, unfollowed FROM orders"
        [order] = again.store.peek(lambda conn: conn.execute(sql).fetchall())
    finally:
        await again.stop()
    assert (order[0], order[1]) == ("open", 0), tuple(order)


async def test_an_order_left_when_its_broker_was_removed_stays_unfollowed_if_the_name_comes_back_at_another_account(
    running: Any,
) -> None:
    """The name added back with other options is another account, which never held the order: it stays left."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    moved = text("paper-account").replace("brokers:\n  live:", "brokers:\n  other:")
    status = await r.edit(moved.replace("broker: live", "broker: other"))
    assert status.ok, status.error
    await r.bridge.switched()
    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    await r.bridge.switched()
    [order] = _orders(r)
    assert (order["status"], order["unfollowed"]) == ("unknown", 1), order


async def test_an_order_working_at_a_broker_removed_while_the_daemon_was_down_is_left_to_its_venue(
    running: Any,
) -> None:
    """As a reload's removal: at the next start nothing can follow it, and the journal says so."""
    r = await running(text("paper-account"))
    assert (await r.post(**RESTING)).status_code == 200
    await r.settled()
    await r.bridge.stop()
    moved = text("paper-account").replace("brokers:\n  live:", "brokers:\n  other:")
    r.config.write_text(moved.replace("broker: live", "broker: other"))
    again = Bridge(load_config(r.config), scheduling=False, watching=False)
    told: list[Event] = []
    again.executor.observers.append(told.append)
    await again.start()
    try:
        await asyncio.wait_for(again.ready(), GUARD)
        sql = "SELECT status, unfollowed, error FROM orders"
        [order] = again.store.peek(lambda conn: conn.execute(sql).fetchall())
    finally:
        await again.stop()
    assert (order[0], order[1]) == ("unknown", 1) and "removed" in order[2], tuple(order)
    assert [e.data["broker"] for e in told if e.kind == "order.unfollowed"] == ["live"]


async def test_an_order_a_request_in_flight_placed_at_the_old_account_after_the_switch_is_not_asked_for_at_the_new(
    running: Any,
) -> None:
    """A webhook authenticated before the switch trades at the old account, though it is journaled after: its order
    is newer than the switch, and was followed at the new account, which closed it as never sent once its answer
    was lost long enough, though it may have filled at the old one."""
    import json

    from bridge.ids import new_id
    from bridge.signals.parse import parse_body
    from bridge.store import journal

    r = await running(text("paper-account"))
    lease = r.bridge.acquire()  # the request is authenticated under the old account
    status = await r.edit(text("live-account"))
    assert status.ok, status.error
    body = json.dumps({"ticker": "AMD", "action": "buy", "price": 100, **RESTING}).encode()
    signal, payload, unknown = parse_body(body)
    webhook = journal.WebhookRow(id=new_id(), received_at=iso(utcnow()), strategy="sq", remote_addr="127.0.0.1",
                                 method="POST", path="/webhook/sq/***", headers={}, body=body.decode(),
                                 status_code=200)  # fmt: skip
    await r.bridge.accept(webhook, "sq", signal, payload, unknown, runtime=lease)
    await r.settled()
    [order] = _orders(r)
    coid = order["client_order_id"]
    sql = "SELECT status FROM paper_orders WHERE broker = 'paper-account' AND client_order_id = ?"
    assert r.bridge.store.peek(lambda conn: conn.execute(sql, (coid,)).fetchone()) is not None, "at the old account"
    await r.bridge.store.run(_lost, r.bridge.store.conn, coid, utcnow() - timedelta(hours=1))

    await poll_orders(r.bridge)
    [order] = _orders(r)
    assert (order["status"], order["unfollowed"]) == ("unknown", 0), "closed at the new account as never sent"

    r.bridge.release(lease)
    await r.bridge.switched()
    [order] = _orders(r)
    assert (order["status"], order["unfollowed"]) == ("unknown", 1), order
