"""Retention and the daily summary: pruning removes only old rows, never an order that is not final."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.jobs import retention
from bridge.jobs.flatten import flatten
from bridge.jobs.retention import daily_summary, prune
from bridge.store.db import iso, utcnow
from tests.conftest import GUARD
from tests.jobs.conftest import Clock, Running, config_text


def age(r: Running, signal_id: str, days: float, clock: Clock) -> None:
    """Make a signal, its webhook, executions and orders look `days` old (as if journaled back then)."""
    then = iso(clock.now - timedelta(days=days))
    with sqlite3.connect(r.bridge.store.path) as db:
        db.execute("UPDATE signals SET received_at = ? WHERE id = ?", (then, signal_id))
        db.execute("UPDATE webhooks SET received_at = ? WHERE signal_id = ?", (then, signal_id))
        db.execute("UPDATE orders SET created_at = ? WHERE signal_id = ?", (then, signal_id))


@pytest.mark.parametrize("chunk", [2000, 1])  # 1: every table takes several rounds, each its own transaction
async def test_pruning_removes_only_rows_older_than_retention_days_and_keeps_open_orders(
    bridges: Any, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(retention, "PRUNE_CHUNK", chunk)
    clock = Clock()
    r = await bridges(config_text(extra="retention_days: 30\n"), clock)
    old = await r.accepted(ticker="AMD")
    old_exit = await r.accepted(ticker="AMD", action="exit")  # the round trip is closed: it goes whole
    old_open = await r.accepted(ticker="TSLA", orderType="limit", limitPrice=90, price=100)  # rests: not final
    young = await r.accepted(ticker="NVDA")
    await r.bridge.queues.join()
    unauthorized = await r.client.post("/webhook/sq/wrong-token-0000000000", json={"ticker": "X", "action": "buy"})
    assert unauthorized.status_code == 401
    age(r, old, 31, clock)
    age(r, old_exit, 31, clock)
    age(r, old_open, 31, clock)
    age(r, young, 29, clock)
    with sqlite3.connect(r.bridge.store.path) as db:
        db.execute(
            "UPDATE webhooks SET received_at = ? WHERE signal_id IS NULL", (iso(clock.now - timedelta(days=31)),)
        )

    counts = await prune(r.bridge)
    assert counts == {"orders": 2, "executions": 2, "signals": 2, "webhooks": 3, "paper_orders": 0, "paper_fills": 0}
    assert {row["id"] for row in r.rows("SELECT id FROM signals")} == {old_open, young}
    assert {row["signal_id"] for row in r.rows("SELECT signal_id FROM orders")} == {old_open, young}
    assert {row["signal_id"] for row in r.rows("SELECT signal_id FROM webhooks")} == {old_open, young}
    assert not any((await prune(r.bridge)).values())


async def test_the_daily_summary_is_one_line_of_counts(bridges: Any, caplog: Any) -> None:
    r = await bridges(config_text(), Clock())
    await r.accepted(ticker="AMD")
    await r.accepted(ticker="TSLA", orderType="limit", limitPrice=90, price=100)
    await r.client.post("/webhook/sq/wrong-token-0000000000", json={})
    await r.bridge.queues.join()
    caplog.set_level("INFO", logger="bridge.jobs")
    line = await daily_summary(r.bridge)
    assert line == (
        "daily summary (24h): webhooks by status 200 2, 401 1; signals executed 2; orders filled 1, open 1; "
        "open orders now 1"
    )
    assert line in caplog.text and "\n" not in line


def test_the_journal_is_pruned_once_the_daemon_starts_not_only_at_ten_past_midnight(make_daemon: Any) -> None:
    daemon = make_daemon(extra="retention_days: 30\n")
    # Round trips: the orders of a position still held are kept (flatten_at reads them).
    old = [daemon.post({"ticker": "AMD", "action": action, "price": 100}).json()["id"] for action in ("buy", "exit")]
    young = [daemon.post({"ticker": "NVDA", "action": a, "price": 100}).json()["id"] for a in ("buy", "exit")]
    for signal_id in old + young:
        daemon.wait_final(signal_id)
    daemon.stop()
    then = iso(utcnow() - timedelta(days=31))
    with sqlite3.connect(daemon.db) as db:  # journaled 31 days ago, by a daemon that was never up at 00:10 since
        for signal_id in old:
            db.execute("UPDATE signals SET received_at = ? WHERE id = ?", (then, signal_id))
            db.execute("UPDATE webhooks SET received_at = ? WHERE signal_id = ?", (then, signal_id))
            db.execute("UPDATE orders SET created_at = ? WHERE signal_id = ?", (then, signal_id))
    daemon.start()
    deadline = time.monotonic() + GUARD
    while {s["id"] for s in daemon.api("signals")} != set(young) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Before, only the 00:10 UTC run pruned: a daemon started each morning kept every row for good.
    assert {s["id"] for s in daemon.api("signals")} == set(young)
    with sqlite3.connect(daemon.db) as db:
        for signal_id in young:
            db.execute(
                "UPDATE signals SET received_at = ? WHERE id = ?", (iso(utcnow() - timedelta(days=2)), signal_id)
            )
    # A lower retention_days, as the 503 of a full journal advises: it makes room at once, not the next night.
    daemon.config.write_text(daemon.config.read_text().replace("retention_days: 30", "retention_days: 1"))
    deadline = time.monotonic() + GUARD
    while daemon.api("signals") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.api("signals") == []


FLATTEN = 'flatten_at: "15:55"\ntimezone: America/New_York'
MONDAY_1555 = datetime(2026, 11, 23, 15, 55, tzinfo=ZoneInfo("America/New_York"))


async def test_pruning_keeps_the_entry_of_a_position_still_held_so_flatten_at_still_closes_it(bridges: Any) -> None:
    clock = Clock(MONDAY_1555)
    r = await bridges(config_text(FLATTEN, extra="retention_days: 30\n"), clock)
    held = await r.accepted(ticker="AMD", action="buy", price=100)  # a swing trade, held past retention_days
    await r.bridge.queues.join()
    age(r, held, 31, clock)

    await prune(r.bridge)
    assert await flatten(r.bridge, "sq", "paper") == 1, "the position's only record was pruned"
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_pruning_keeps_the_entry_of_a_position_a_disabled_subscription_holds_for_its_flatten_at(
    bridges: Any,
) -> None:
    """A subscription disabled while it holds a position (for days, maybe) closes it at its flatten_at once enabled."""
    clock = Clock(MONDAY_1555 - timedelta(hours=1))  # the reloads would run a flatten just due themselves
    r = await bridges(config_text(FLATTEN, extra="retention_days: 30\n"), clock)
    held = await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    r.bridge.loaded.path.write_text(config_text(FLATTEN + "\nenabled: false", extra="retention_days: 30\n"))
    assert (await r.bridge.reload("test")).ok
    age(r, held, 31, clock)

    await prune(r.bridge)
    r.bridge.loaded.path.write_text(config_text(FLATTEN, extra="retention_days: 30\n"))
    assert (await r.bridge.reload("test")).ok
    clock.now = MONDAY_1555
    assert await flatten(r.bridge, "sq", "paper") == 1, "the position's only record was pruned while disabled"
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_pruning_half_a_round_trip_does_not_make_flatten_at_close_another_strategys_position(
    bridges: Any,
) -> None:
    clock = Clock(MONDAY_1555)
    r = await bridges(config_text(FLATTEN, extra="retention_days: 30\n"), clock)
    bought = await r.accepted(ticker="AMD", action="buy", price=100)
    sold = await r.accepted(ticker="AMD", action="exit", price=101)  # the subscription is flat in AMD
    theirs = await r.accepted("other", ticker="AMD", action="buy", price=102, quantity=10)  # same account
    await r.bridge.queues.join()
    age(r, bought, 30.5, clock)  # the cutoff falls between the entry and its exit
    age(r, sold, 29.5, clock)
    age(r, theirs, 29.5, clock)

    await prune(r.bridge)
    assert await flatten(r.bridge, "sq", "paper") == 0, "the exit left alone reads as a short to close"
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}, "the other strategy's position is not this subscription's"

    # The exit sold all of the position: the entry before it is no share of anything since, and went already. A
    # day later the exit is past retention_days too, and so is the other strategy's entry (no flatten_at reads
    # that strategy's orders back).
    assert [row["id"] for row in r.rows("SELECT id FROM signals ORDER BY id")] == sorted([sold, theirs])
    clock.advance(86400)
    assert (await prune(r.bridge))["signals"] == 2
    assert r.rows("SELECT id FROM signals") == []


async def test_pruning_removes_the_paper_books_rows_of_the_orders_it_pruned(bridges: Any) -> None:
    """The paper book lives in the journal: a lower retention_days (as a full journal's 503 advises) frees it too."""
    clock = Clock()
    r = await bridges(config_text(extra="retention_days: 30\n"), clock)
    trip = [await r.accepted(ticker="AMD", action=action) for action in ("buy", "exit")]
    resting = await r.accepted(ticker="TSLA", orderType="limit", limitPrice=90, price=100)  # not final: kept
    young = await r.accepted(ticker="NVDA", action="buy")
    await r.bridge.queues.join()
    for signal_id in [*trip, resting]:
        age(r, signal_id, 31, clock)
    then = iso(clock.now - timedelta(days=31))
    with sqlite3.connect(r.bridge.store.path) as db:  # the book's rows as old as the journal's
        db.execute("UPDATE paper_orders SET created_at = ?, updated_at = ? WHERE symbol != 'NVDA'", (then, then))
        db.execute("UPDATE paper_fills SET filled_at = ? WHERE symbol != 'NVDA'", (then,))

    counts = await prune(r.bridge)
    assert (counts["paper_orders"], counts["paper_fills"]) == (2, 2)
    assert {row["symbol"] for row in r.rows("SELECT symbol FROM paper_orders")} == {"TSLA", "NVDA"}
    assert {row["symbol"] for row in r.rows("SELECT symbol FROM paper_fills")} == {"NVDA"}
    assert {row["id"] for row in r.rows("SELECT id FROM signals")} == {resting, young}
    assert await r.positions() == {"NVDA": Decimal(1)}, "the book's positions are untouched"


async def test_without_flatten_at_pruning_takes_the_orders_of_a_position_still_held(bridges: Any) -> None:
    """Nothing reads them back: held for good, a position closed by hand would keep every order of its symbol."""
    clock = Clock(MONDAY_1555)
    r = await bridges(config_text(extra="retention_days: 30\n"), clock)
    held = await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    age(r, held, 31, clock)
    assert (await prune(r.bridge))["orders"] == 1


async def test_pruning_counts_an_order_journaled_filled_without_its_fill_as_flatten_at_does(bridges: Any) -> None:
    """Some venues answer `filled` with no fill quantity (a cancel that came too late): flatten_at counts all of its
    quantity as filled, so the prune must too, or it takes the entry of a position still held as netting to zero."""
    clock = Clock(MONDAY_1555)
    r = await bridges(config_text(FLATTEN, extra="retention_days: 30\n"), clock)
    held = await r.accepted(ticker="AMD", action="buy", price=100)
    await r.bridge.queues.join()
    with sqlite3.connect(r.bridge.store.path) as db:  # as such a venue's answer leaves it
        db.execute("UPDATE orders SET filled_quantity = '0' WHERE signal_id = ?", (held,))
    age(r, held, 31, clock)

    await prune(r.bridge)
    assert [row["status"] for row in r.rows("SELECT status FROM orders")] == ["filled"], "pruned as netting to zero"
    assert await flatten(r.bridge, "sq", "paper") == 1
    await r.bridge.queues.join()
    assert await r.positions() == {}


async def test_a_share_the_account_went_flat_on_stays_closed_once_the_exit_that_closed_it_is_pruned(
    bridges: Any,
) -> None:
    """The other strategy (no flatten_at: its orders go at retention_days) exited all 11, this one's 1 too, and
    bought 10 again: with that exit pruned, this subscription's 1 must not count again and sell 1 of the 10."""
    clock = Clock(MONDAY_1555)
    r = await bridges(config_text(FLATTEN, extra="retention_days: 30\n"), clock)
    await r.accepted(ticker="AMD", action="buy", price=100)
    theirs = [await r.accepted("other", ticker="AMD", action="add", price=100, quantity=10),
              await r.accepted("other", ticker="AMD", action="exit", price=100)]  # fmt: skip
    await r.bridge.queues.join()
    await r.accepted("other", ticker="AMD", action="buy", price=100, quantity=10)
    await r.bridge.queues.join()
    for signal_id in theirs:
        age(r, signal_id, 31, clock)
    assert (await prune(r.bridge))["signals"] == 2
    assert await flatten(r.bridge, "sq", "paper") == 0
    await r.bridge.queues.join()
    assert await r.positions() == {"AMD": Decimal(10)}
