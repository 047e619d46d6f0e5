"""Crash recovery of a real daemon: SIGKILL under load, expiry of stale signals, orders of unknown outcome.

Every check reads the SQLite file directly, so it sees what survived, not what a process remembers.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bridge.brokers.base import BrokerContext
from bridge.brokers.paper import PaperBroker, PaperOptions
from bridge.errors import OrderNotFound, UnknownOutcome
from bridge.execution.executor import client_order_id
from bridge.models import FINAL_SIGNAL_STATES, Order, OrderRequest
from bridge.notify.events import Event
from bridge.signals.resolve import describe_position
from bridge.store import journal
from bridge.store.db import Store, iso, utcnow
from tests.conftest import GUARD, Daemon
from tests.notify.receiver import Receiver

FINAL = tuple(sorted(FINAL_SIGNAL_STATES))
SUB = "paper"  # the subscription key of the default config's single `- broker: paper`
STRATEGY = "sq"
SEED = 20261123
KILLS = 8
TARGET_ACKS = 250
PACE = 0.02  # seconds between one sender's requests: ~100 signals/s in all, about what the paper executor sustains


def read_db(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Query the journal file directly (read-only, so the daemon may still be running)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def wait_all_final(daemon: Daemon, timeout: float = GUARD) -> None:
    """Wait until no signal and no execution is left unfinished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = read_db(daemon.db, "SELECT count(*) FROM signals WHERE state IN ('received', 'processing')")[0][0]
        left += read_db(daemon.db, "SELECT count(*) FROM executions WHERE state IN ('received', 'processing')")[0][0]
        if left == 0:
            return
        time.sleep(0.05)
    rows = read_db(daemon.db, "SELECT * FROM signals WHERE state IN ('received', 'processing')")
    raise AssertionError(
        f"{len(rows)} signal(s) never finished, e.g. {[dict(r) for r in rows[:3]]}\n{daemon.output()[-3000:]}"
    )


@dataclass
class Sender:
    """Posts buy/sell alternately per ticker, one request at a time, like a TradingView alert that never retries."""

    url: str
    tickers: tuple[str, ...]
    acked: list[str] = field(default_factory=list)
    sent: int = 0
    refused: int = 0  # the daemon was down: nothing was journaled
    cut: int = 0  # the daemon died mid-request: the signal may or may not be journaled
    other: list[str] = field(default_factory=list)  # any answer but 200 (asserted empty by the test)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        next_action = dict.fromkeys(self.tickers, "buy")
        i = 0
        with httpx.Client(timeout=3) as client:
            while not self.stop.is_set():
                ticker = self.tickers[i % len(self.tickers)]
                i += 1
                action = next_action[ticker]
                next_action[ticker] = "sell" if action == "buy" else "buy"
                self.sent += 1
                try:
                    # `n` makes every body distinct: this sender never resends, so no request is a repeat of the
                    # ticker's last signal (which dedupe_window would answer as a duplicate).
                    signal = {"ticker": ticker, "action": action, "price": 100 + i % 7, "n": i}
                    response = client.post(self.url, json=signal)
                except httpx.ConnectError:
                    self.refused += 1
                    time.sleep(0.01)
                    continue
                except httpx.HTTPError:
                    self.cut += 1
                    continue
                if response.status_code != 200:
                    self.other.append(f"{response.status_code} {response.text}")
                    continue
                self.acked.append(response.json()["id"])
                time.sleep(PACE)


def test_sigkill_under_load_loses_no_acknowledged_signal_and_sends_no_order_twice(make_daemon: Any) -> None:
    rng = random.Random(SEED)
    daemon: Daemon = make_daemon()
    senders = [Sender(daemon.url, (f"T{n}A", f"T{n}B")) for n in range(3)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in senders]
    for thread in threads:
        thread.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.1, 0.4))
            daemon.kill()
            daemon.start()
        # Until enough signals are in, however slow the machine (two test workers share its cores): the guard only
        # ends a daemon that stopped answering (GUARD with no signal acknowledged), whatever the kills took.
        seen, deadline = -1, 0.0
        while (count := sum(len(s.acked) for s in senders)) < TARGET_ACKS:
            if count != seen:
                seen, deadline = count, time.monotonic() + GUARD
            if time.monotonic() > deadline:
                break  # the count is asserted below
            time.sleep(0.05)
    finally:
        for sender in senders:
            sender.stop.set()
        for thread in threads:
            thread.join(timeout=GUARD)
    acked = [signal_id for s in senders for signal_id in s.acked]
    sent = sum(s.sent for s in senders)
    refused, cut = sum(s.refused for s in senders), sum(s.cut for s in senders)
    assert [answer for s in senders for answer in s.other] == []
    assert len(acked) >= TARGET_ACKS, f"only {len(acked)} signals acknowledged, none in the last {GUARD:g}s"
    assert len(set(acked)) == len(acked), "two acknowledgements carried the same signal id"

    wait_all_final(daemon)
    output = daemon.output()
    daemon.stop()
    db = daemon.db

    stored = {row["id"] for row in read_db(db, "SELECT id FROM signals")}
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged signal(s) are not in the journal: {sorted(missing)[:5]}"
    assert read_db(db, "PRAGMA integrity_check")[0][0] == "ok"
    assert read_db(db, "SELECT client_order_id FROM orders GROUP BY 1 HAVING count(*) > 1") == []
    assert read_db(db, "SELECT client_order_id FROM paper_orders GROUP BY broker, 1 HAVING count(*) > 1") == []
    _assert_journal_and_book_agree(db)
    _assert_each_ticker_ran_in_order_exactly_once(db)
    print(
        f"\nchaos: {KILLS} kills; sent {sent}, acknowledged {len(acked)}, refused {refused}, cut mid-request {cut};"
        f" journaled {len(stored)}; restarts that resumed interrupted work: {output.count('recovery: resumed')}"
    )


def _assert_journal_and_book_agree(db: Path) -> None:
    """Every broker order is journaled, every journaled send reached the broker once, and both say the same."""
    states = Counter(row[0] for row in read_db(db, "SELECT state FROM signals"))
    assert set(states) <= set(FINAL), states
    unresolved = read_db(db, "SELECT client_order_id, status FROM orders WHERE status IN ('pending', 'unknown')")
    assert unresolved == [], f"orders left unresolved after recovery: {[tuple(r) for r in unresolved]}"
    orphans = read_db(
        db, "SELECT p.client_order_id FROM paper_orders p LEFT JOIN orders o USING (client_order_id) WHERE o.id IS NULL"
    )
    assert orphans == [], "the broker holds orders the journal does not know"
    mismatched = read_db(
        db,
        "SELECT o.client_order_id, o.status, p.status, o.filled_quantity, p.filled_quantity FROM orders o "
        "LEFT JOIN paper_orders p USING (client_order_id) WHERE p.client_order_id IS NULL AND o.status != 'canceled' "
        "OR p.status != o.status OR p.filled_quantity != o.filled_quantity",
    )
    assert mismatched == [], f"journal and broker disagree: {[tuple(r) for r in mismatched[:5]]}"
    double_fills = read_db(db, "SELECT client_order_id FROM paper_fills GROUP BY 1 HAVING count(*) > 1")
    assert double_fills == [], "an order filled twice"


def _assert_each_ticker_ran_in_order_exactly_once(db: Path) -> None:
    """Replay each ticker's signals in arrival order: each decision must see the position its predecessors left."""
    signals = read_db(db, "SELECT id, ticker, action, state, decision FROM signals ORDER BY received_at, rowid")
    fills: defaultdict[str, Decimal] = defaultdict(Decimal)
    for row in read_db(db, "SELECT signal_id, side, filled_quantity FROM orders WHERE status = 'filled'"):
        qty = Decimal(row["filled_quantity"])
        fills[row["signal_id"]] += qty if row["side"] == "buy" else -qty
    position: dict[str, Decimal] = {}
    for s in signals:
        before = position.get(s["ticker"], Decimal(0))
        expected = f"{s['action']} while {describe_position(before)}:"
        assert s["decision"].startswith(expected), (
            f"{s['ticker']}: {s['decision']!r} ran out of order or twice; expected {expected!r}"
        )
        assert s["state"] in ("executed", "ignored"), dict(s)
        position[s["ticker"]] = before + fills.get(s["id"], Decimal(0))
        assert abs(position[s["ticker"]]) <= 1, f"{s['ticker']} reached {position[s['ticker']]}: a signal ran twice"
    book = {r["symbol"]: Decimal(r["quantity"]) for r in read_db(db, "SELECT symbol, quantity FROM paper_positions")}
    assert {k: v for k, v in book.items() if v} == {k: v for k, v in position.items() if v}


# --- seeded interruptions: the state a crash leaves behind, written with the journal's own functions ---


def seed_signal(store: Store, ticker: str, action: str, age: float, price: str = "50") -> str:
    """Journal an accepted signal received `age` seconds ago, as the webhook would have before a crash."""
    signal_id = str(uuid.uuid4())
    received = iso(utcnow() - timedelta(seconds=age))
    webhook = journal.WebhookRow(
        id=str(uuid.uuid4()),
        received_at=received,
        strategy=STRATEGY,
        remote_addr="127.0.0.1",
        method="POST",
        path=f"/webhook/{STRATEGY}/***",
        headers={},
        body="{}",
        status_code=200,
        signal_id=signal_id,
    )
    payload = {"ticker": ticker, "action": action, "price": float(price)}
    row = {
        "id": signal_id,
        "webhook_id": webhook.id,
        "strategy": STRATEGY,
        "ticker": ticker,
        "action": action,
        "sentiment": None,
        "price": price,
        "quantity": None,
        "signal_time": None,
        "payload": json.dumps(payload),
        "extras": "{}",
        "received_at": received,
    }
    journal.record_signal(store.conn, webhook, row, [(SUB, "paper")])
    return signal_id


def seed_plan(store: Store, signal_id: str, ticker: str, legs: list[tuple[str, str]], price: str = "50") -> list[str]:
    """Commit a plan of (leg, side) market orders of quantity 1, all pending, as the executor does before sending."""
    rows: list[dict[str, Any]] = []
    for seq, (leg, side) in enumerate(legs):
        coid = client_order_id(signal_id, SUB, leg)
        rows.append(
            {
                "id": coid,
                "signal_id": signal_id,
                "broker": "paper",
                "subscription": SUB,
                "leg": leg,
                "seq": seq,
                "client_order_id": coid,
                "symbol": ticker,
                "side": side,
                "type": "market",
                "quantity": "1",
                "limit_price": None,
                "stop_price": None,
                "time_in_force": "day",
                "reference_price": price,
            }
        )
    journal.start_execution(store.conn, signal_id, SUB)
    journal.save_plan(store.conn, signal_id, SUB, f"{rows[0]['side']} while flat: planned before the crash", rows)
    return [str(r["client_order_id"]) for r in rows]


async def broker_accepts(store: Store, coid: str, ticker: str, side: str, price: str = "50") -> None:
    """The paper venue books and fills the order: the crash came after the broker accepted it."""
    broker = PaperBroker(PaperOptions(cash=Decimal(100000)), BrokerContext(name="paper", store=store))
    await broker.connect()
    await broker.create_order(
        OrderRequest(
            client_order_id=coid,
            symbol=ticker,
            side=side,  # type: ignore[arg-type]
            quantity=Decimal(1),
            reference_price=Decimal(price),
        )
    )


def signal_row(db: Path, signal_id: str) -> dict[str, Any]:
    rows = read_db(db, "SELECT * FROM signals WHERE id = ?", (signal_id,))
    assert rows, f"signal {signal_id} is not journaled"
    return dict(rows[0])


def orders_of(db: Path, signal_id: str) -> dict[str, dict[str, Any]]:
    return {r["leg"]: dict(r) for r in read_db(db, "SELECT * FROM orders WHERE signal_id = ?", (signal_id,))}


def book_count(db: Path, coid: str) -> tuple[int, int]:
    """(paper orders, paper fills) carrying this client order id."""
    orders = read_db(db, "SELECT count(*) FROM paper_orders WHERE client_order_id = ?", (coid,))[0][0]
    fills = read_db(db, "SELECT count(*) FROM paper_fills WHERE client_order_id = ?", (coid,))[0][0]
    return int(orders), int(fills)


def wait_final(daemon: Daemon, signal_id: str, timeout: float = GUARD) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = signal_row(daemon.db, signal_id)
        if row["state"] in FINAL:
            return row
        time.sleep(0.05)
    raise AssertionError(f"signal {signal_id} did not finish: {daemon.output()[-2000:]}")


def test_an_interrupted_signal_older_than_max_signal_age_expires_and_a_young_one_executes(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon(extra="max_signal_age: 30\n", start=False)
    store = Store(daemon.db)
    store.open_sync()
    stale = seed_signal(store, "OLD", "buy", age=31)
    fresh = seed_signal(store, "NEW", "buy", age=2)
    store.close_sync()

    daemon.start()
    expired = wait_final(daemon, stale)
    executed = wait_final(daemon, fresh)
    daemon.stop()

    assert expired["state"] == "expired"
    assert (
        expired["decision"].startswith("expired: the daemon restarted 3")
        and "max_signal_age 30s" in expired["decision"]
    )
    assert orders_of(daemon.db, stale) == {}
    assert read_db(daemon.db, "SELECT * FROM paper_orders WHERE symbol = 'OLD'") == []
    assert executed["state"] == "executed"
    assert executed["decision"] == "buy while flat: opened long 1 (fixed_quantity 1)"
    entry = orders_of(daemon.db, fresh)["entry"]
    assert entry["status"] == "filled"
    assert book_count(daemon.db, entry["client_order_id"]) == (1, 1)


def test_orders_of_unknown_outcome_are_adopted_sent_once_or_canceled(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon(extra="max_signal_age: 30\n", start=False)
    store = Store(daemon.db)
    store.open_sync()
    # A: the broker accepted (and filled) the order, the crash came before we recorded it.
    accepted = seed_signal(store, "AAA", "buy", age=1)
    (accepted_coid,) = seed_plan(store, accepted, "AAA", [("entry", "buy")])
    # B: a young signal whose committed order never reached the broker.
    unsent = seed_signal(store, "BBB", "buy", age=1)
    (unsent_coid,) = seed_plan(store, unsent, "BBB", [("entry", "buy")])
    # C: the same, but old: it must not be sent now.
    stale = seed_signal(store, "CCC", "buy", age=31)
    (stale_coid,) = seed_plan(store, stale, "CCC", [("entry", "buy")])
    # D: a swap (sell while long 1) whose exit reached the broker but whose entry did not: the entry follows, once.
    swap = seed_signal(store, "DDD", "sell", age=1)
    swap_exit, swap_entry = seed_plan(store, swap, "DDD", [("exit", "sell"), ("entry", "sell")])
    # E: an order we had marked `unknown` (the response was lost) that the broker does have.
    lost = seed_signal(store, "EEE", "buy", age=1)
    (lost_coid,) = seed_plan(store, lost, "EEE", [("entry", "buy")])
    journal.update_order(store.conn, lost_coid, status="unknown", error="ReadTimeout()")
    # F: an old signal whose order the broker did accept: it expires, but its order is recorded as filled.
    old_sent = seed_signal(store, "FFF", "buy", age=31)
    (old_sent_coid,) = seed_plan(store, old_sent, "FFF", [("entry", "buy")])
    store.close_sync()

    async def venue() -> None:
        store = Store(daemon.db)
        await store.open()
        await broker_accepts(store, accepted_coid, "AAA", "buy")
        await broker_accepts(store, "manual-DDD", "DDD", "buy")  # the long 1 the swap sells
        await broker_accepts(store, swap_exit, "DDD", "sell")
        await broker_accepts(store, lost_coid, "EEE", "buy")
        await broker_accepts(store, old_sent_coid, "FFF", "buy")
        await store.close()

    asyncio.run(venue())
    assert book_count(daemon.db, unsent_coid) == (0, 0) and book_count(daemon.db, swap_entry) == (0, 0)

    daemon.start()
    finals = {
        name: wait_final(daemon, sid)
        for name, sid in {
            "accepted": accepted,
            "unsent": unsent,
            "stale": stale,
            "swap": swap,
            "lost": lost,
            "old_sent": old_sent,
        }.items()
    }
    positions = daemon.positions()
    daemon.stop()
    db = daemon.db

    assert finals["accepted"]["state"] == "executed"
    assert orders_of(db, accepted)["entry"]["status"] == "filled"
    assert book_count(db, accepted_coid) == (1, 1), "an order the broker already had was sent again"

    assert finals["unsent"]["state"] == "executed"
    assert orders_of(db, unsent)["entry"]["status"] == "filled"
    assert book_count(db, unsent_coid) == (1, 1)

    assert finals["stale"]["state"] == "expired" and "max_signal_age 30s" in finals["stale"]["decision"]
    stale_order = orders_of(db, stale)["entry"]
    assert stale_order["status"] == "canceled" and "expired" in stale_order["error"]
    assert book_count(db, stale_coid) == (0, 0)

    assert finals["swap"]["state"] == "executed"
    assert {leg: o["status"] for leg, o in orders_of(db, swap).items()} == {"exit": "filled", "entry": "filled"}
    assert book_count(db, swap_exit) == (1, 1) and book_count(db, swap_entry) == (1, 1)

    assert finals["lost"]["state"] == "executed"
    assert orders_of(db, lost)["entry"]["status"] == "filled"
    assert book_count(db, lost_coid) == (1, 1)

    assert finals["old_sent"]["state"] == "expired"
    assert "1 order(s) had been sent before the restart" in finals["old_sent"]["decision"]
    assert orders_of(db, old_sent)["entry"]["status"] == "filled", "the journal must say what the broker did"
    assert book_count(db, old_sent_coid) == (1, 1)

    assert positions == {"AAA": 1, "BBB": 1, "DDD": -1, "EEE": 1, "FFF": 1}


SLOW_VENUE = '''
import asyncio

from bridge.brokers.paper import PaperBroker


class SlowPaper(PaperBroker):
    """The paper book behind a venue whose order lookups answer only once a file `answer` is beside the journal:
    start-up recovery lasts until then, however fast or slow the machine."""

    async def fetch_order(self, client_order_id):
        while not (self.store.path.parent / "answer").exists():
            await asyncio.sleep(0.02)
        return await super().fetch_order(client_order_id)
'''


def test_an_order_found_filled_by_start_up_recovery_is_notified(make_daemon: Any) -> None:
    """README: a fill is notified "at once, or of a resting order once the bridge finds it filled at the broker".
    After a crash between the broker's fill and its journaling, recovery finds the order filled; the resumed plan
    skips it as answered and the order jobs see nothing open: recovery itself must tell of the fill."""
    with Receiver() as r:
        extra = f"notifications:\n  targets:\n    - type: webhook\n      url: {r.base}/hook\n      name: ops\n"
        daemon: Daemon = make_daemon(extra=extra, start=False)
        store = Store(daemon.db)
        store.open_sync()
        signal_id = seed_signal(store, "AAA", "buy", age=1)
        (coid,) = seed_plan(store, signal_id, "AAA", [("entry", "buy")])
        store.close_sync()

        async def venue() -> None:  # the broker filled it; the daemon died before recording the answer
            venue_store = Store(daemon.db)
            await venue_store.open()
            await broker_accepts(venue_store, coid, "AAA", "buy")
            await venue_store.close()

        asyncio.run(venue())
        daemon.start()
        assert wait_final(daemon, signal_id)["state"] == "executed"
        assert orders_of(daemon.db, signal_id)["entry"]["status"] == "filled"
        r.wait(1)
        daemon.stop()
    bodies = [json.loads(x.body) for x in r.received]
    assert [(b["kind"], b["data"]["symbol"]) for b in bodies] == [("order.filled", "AAA")]


def on_venue(make_daemon: Any, module: str, source: str, cls: str) -> Daemon:
    """A daemon, not started, whose broker is the plugin class `cls` written as `module.py` beside its config."""
    daemon: Daemon = make_daemon(start=False)
    (daemon.config.parent / f"{module}.py").write_text(source)
    daemon.config.write_text(daemon.config.read_text().replace("plugin: paper", f"plugin: {module}:{cls}"))
    return daemon


def test_a_signal_arriving_during_recovery_runs_after_the_interrupted_one_and_only_once(make_daemon: Any) -> None:
    daemon = on_venue(make_daemon, "slowvenue", SLOW_VENUE, "SlowPaper")
    store = Store(daemon.db)
    store.open_sync()
    interrupted = seed_signal(store, "XYZ", "buy", age=1)
    seed_plan(store, interrupted, "XYZ", [("entry", "buy")])  # recovery must ask the (slow) venue about it
    store.close_sync()

    starter = threading.Thread(target=daemon.start, daemon=True)
    starter.start()
    deadline = time.monotonic() + GUARD
    while True:
        assert time.monotonic() < deadline, daemon.output()
        try:
            health = httpx.get(f"{daemon.base}/health", timeout=1).json()
        except httpx.HTTPError:
            time.sleep(0.02)
            continue
        assert health["recovering"], "recovery ended before the test could post during it"
        break
    response = daemon.post({"ticker": "XYZ", "action": "sell", "price": 50})
    assert response.status_code == 200, "signals are journaled and acknowledged while trading is halted"
    assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["recovering"], "the post must land during recovery"
    (daemon.config.parent / "answer").touch()  # the venue answers recovery's lookup: recovery ends
    starter.join(timeout=GUARD)
    newer = response.json()["id"]
    first, second = wait_final(daemon, interrupted), wait_final(daemon, newer)
    positions = daemon.positions()
    daemon.stop()  # its log is whole once it has stopped
    output = daemon.output()

    assert first["state"] == "executed" and orders_of(daemon.db, interrupted)["entry"]["status"] == "filled"
    assert second["decision"] == "sell while long 1: sold 1, opened short 1 (fixed_quantity 1)", (
        "the newer signal ran before the older interrupted one"
    )
    assert positions == {"XYZ": -1}
    runs = [line for line in output.splitlines() if f"signal {newer} sq/paper" in line]
    assert len(runs) == 1, f"the newer signal was executed {len(runs)} times: {runs}"


async def test_an_unknown_order_of_a_finished_signal_that_the_broker_never_got_is_closed_as_rejected(
    fresh_store: Store,
) -> None:
    from bridge.execution.recovery import resolve_orders

    def seed() -> str:
        signal_id = seed_signal(fresh_store, "LOST", "buy", age=1)
        coid = seed_plan(fresh_store, signal_id, "LOST", [("entry", "buy")])[0]
        journal.update_order(fresh_store.conn, coid, status="unknown", error="timeout")
        journal.finish_execution(fresh_store.conn, signal_id, SUB, "failed", "outcome unknown")
        return coid

    coid = await fresh_store.run(seed)
    broker = PaperBroker(PaperOptions(), BrokerContext(name="paper", store=fresh_store))
    await broker.connect()
    published: list[Event] = []
    assert await resolve_orders(fresh_store, {"paper": broker}, published.append) == []
    row = await fresh_store.run(lambda: fresh_store.conn.execute("SELECT * FROM orders").fetchone())
    assert (row["client_order_id"], row["status"]) == (coid, "rejected")
    assert "never reached the broker" in row["error"]
    assert [(e.kind, e.data["symbol"]) for e in published] == [("order.rejected", "LOST")]  # told, as any rejection
    assert await resolve_orders(fresh_store, {"paper": broker}, published.append) == []  # nothing left to ask about
    assert len(published) == 1
    assert await fresh_store.run(journal.unresolved_orders, fresh_store.conn) == []


class RemoteDedupingVenue(PaperBroker):
    """A venue over the network that refuses a reused client order id (Alpaca): it may list a new order late."""

    capabilities = replace(PaperBroker.capabilities, local=False)


async def test_an_unknown_order_of_a_finished_signal_sent_just_before_a_restart_is_followed_not_closed(
    fresh_store: Store,
) -> None:
    """A 5xx on the submission, its lookup not found yet: the signal failed saying "checked again at the next
    start". Restarted a moment later, the venue may still not list it; closing it as never sent would stop the
    order jobs following an order that may be working (its fills, its cancel_after)."""
    from bridge.execution.recovery import resolve_orders
    from bridge.jobs.orders import UNKNOWN_GRACE_SECONDS
    from bridge.store import upkeep

    def seed(ticker: str, sent_ago: float) -> str:
        signal_id = seed_signal(fresh_store, ticker, "buy", age=sent_ago + 1)
        coid = seed_plan(fresh_store, signal_id, ticker, [("entry", "buy")])[0]
        when = utcnow() - timedelta(seconds=sent_ago)
        journal.update_order(fresh_store.conn, coid, status="unknown", error="503", at=when, sent_at=when)
        journal.finish_execution(fresh_store.conn, signal_id, SUB, "failed", "outcome unknown")
        return coid

    young = await fresh_store.run(seed, "YOUNG", 5)
    old = await fresh_store.run(seed, "OLD", UNKNOWN_GRACE_SECONDS + 60)
    venue = RemoteDedupingVenue(PaperOptions(), BrokerContext(name="paper", store=fresh_store))
    await venue.connect()
    assert await resolve_orders(fresh_store, {"paper": venue}) == []  # trading is not held up by it

    rows = await fresh_store.run(lambda: fresh_store.conn.execute("SELECT * FROM orders").fetchall())
    assert {r["client_order_id"]: r["status"] for r in rows} == {young: "unknown", old: "rejected"}
    followed = {r["client_order_id"] for r in await fresh_store.read(upkeep.open_orders, fresh_store.conn)}
    assert followed == {young}, "the order jobs follow it, and close it once the wait is over"


class LateListingVenue(PaperBroker):
    """A venue that takes a reused client order id again (as most ccxt exchanges do) and lists new orders late."""

    capabilities = replace(PaperBroker.capabilities, rejects_duplicate_client_order_id=False)


async def test_an_unknown_order_is_not_resent_where_the_venue_takes_a_reused_id_until_the_wait_is_over(
    fresh_store: Store,
) -> None:
    from bridge.execution.recovery import resolve_orders
    from bridge.jobs.orders import UNKNOWN_GRACE_SECONDS

    def seed(ticker: str, sent_ago: float) -> str:
        signal_id = seed_signal(fresh_store, ticker, "buy", age=1)
        coid = seed_plan(fresh_store, signal_id, ticker, [("entry", "buy")])[0]
        journal.update_order(fresh_store.conn, coid, status="unknown", error="ReadTimeout()")  # its answer was lost
        when = iso(utcnow() - timedelta(seconds=sent_ago))
        fresh_store.conn.execute(
            "UPDATE orders SET updated_at = ?, sent_at = ? WHERE client_order_id = ?", (when, when, coid)
        )
        return coid

    young = await fresh_store.run(seed, "YOUNG", 5)
    old = await fresh_store.run(seed, "OLD", UNKNOWN_GRACE_SECONDS + 60)
    late = LateListingVenue(PaperOptions(), BrokerContext(name="paper", store=fresh_store))
    await late.connect()
    assert await resolve_orders(fresh_store, {"paper": late}) == []  # trading is not held up by it

    def statuses() -> dict[str, str]:
        return {r["client_order_id"]: r["status"] for r in fresh_store.conn.execute("SELECT * FROM orders")}

    # Sent 5 s ago: the venue may list it yet, and a resend could place it twice; the order jobs follow it.
    # Sent past the wait: it never got there, and the resumed plan may send it (as with any venue).
    assert await fresh_store.run(statuses) == {young: "unknown", old: "pending"}

    deduping = PaperBroker(PaperOptions(), BrokerContext(name="paper", store=fresh_store))
    await deduping.connect()
    await fresh_store.run(journal.update_order, fresh_store.conn, young, status="unknown")
    assert await resolve_orders(fresh_store, {"paper": deduping}) == []
    assert (await fresh_store.run(statuses))[young] == "pending"  # a venue that refuses a reused id: resending is safe


class LosesAnswersVenue(LateListingVenue):
    """It books what it is sent, but the answer is lost (a 5xx), and it does not list the order yet."""

    async def create_order(self, request: OrderRequest) -> Order:
        await super().create_order(request)
        raise UnknownOutcome("502 Bad Gateway")

    async def fetch_order(self, client_order_id: str) -> Order:
        raise OrderNotFound(client_order_id)


async def test_an_order_sent_again_after_the_wait_counts_the_wait_from_its_new_send(fresh_store: Store) -> None:
    """Journaled as sent, the daemon died before it went; restarted past the wait (a max_signal_age of an hour),
    the plan sends it. Its answer lost, the wait must run from that send: counted from the first, the order jobs
    would close at once as never sent an order the venue just took, and the next start would send it again."""
    from bridge.config.schema import Subscription
    from bridge.execution.executor import Executor, Job
    from bridge.execution.orders import UNKNOWN_GRACE_SECONDS, seconds_since_sent
    from bridge.execution.recovery import interrupted_jobs, resolve_orders

    def seed() -> str:
        signal_id = seed_signal(fresh_store, "SLOW", "buy", age=UNKNOWN_GRACE_SECONDS + 120)
        coid = seed_plan(fresh_store, signal_id, "SLOW", [("entry", "buy")])[0]
        when = iso(utcnow() - timedelta(seconds=UNKNOWN_GRACE_SECONDS + 60))
        fresh_store.conn.execute("UPDATE orders SET sent_at = ? WHERE client_order_id = ?", (when, coid))
        return coid

    coid = await fresh_store.run(seed)
    venue = LosesAnswersVenue(PaperOptions(), BrokerContext(name="paper", store=fresh_store))
    await venue.connect()
    assert await resolve_orders(fresh_store, {"paper": venue}) == []  # past the wait: it never got there
    jobs: list[Job] = []
    assert await interrupted_jobs(fresh_store, 3600, jobs.append) == (1, 0)
    executor = Executor(fresh_store, 3600, lambda: {"paper": venue}, lambda *_: ("paper", Subscription(broker="paper")))
    await executor.run(jobs[0])

    row = await fresh_store.run(lambda: fresh_store.conn.execute("SELECT * FROM orders").fetchone())
    assert (row["client_order_id"], row["status"]) == (coid, "unknown")
    assert seconds_since_sent(row, utcnow()) < UNKNOWN_GRACE_SECONDS, f"sent_at {row['sent_at']} is the first send's"


LATE_VENUE = """
from dataclasses import replace

from bridge.brokers.paper import PaperBroker


class LateVenue(PaperBroker):
    capabilities = replace(PaperBroker.capabilities, rejects_duplicate_client_order_id=False)
"""


def test_a_resumed_plan_sends_nothing_after_an_order_whose_outcome_is_still_unknown(make_daemon: Any) -> None:
    daemon = on_venue(make_daemon, "latevenue", LATE_VENUE, "LateVenue")
    store = Store(daemon.db)
    store.open_sync()
    swap = seed_signal(store, "LATE", "sell", age=1)
    exit_, entry = seed_plan(store, swap, "LATE", [("exit", "sell"), ("entry", "sell")])
    journal.update_order(store.conn, exit_, status="unknown", error="ReadTimeout()")  # sent; its answer lost
    store.close_sync()

    daemon.start()
    final = wait_final(daemon, swap)
    daemon.stop()

    assert final["state"] == "failed" and "outcome is unknown" in final["decision"], final
    orders = orders_of(daemon.db, swap)
    assert (orders["exit"]["status"], orders["entry"]["status"]) == ("unknown", "canceled")
    assert book_count(daemon.db, exit_) == (0, 0) and book_count(daemon.db, entry) == (0, 0), "nothing was sent"


HANGING_LATE_VENUE = '''
import asyncio
import time
from dataclasses import replace

from bridge.brokers.paper import PaperBroker
from bridge.errors import OrderNotFound


class HangingLateVenue(PaperBroker):
    """A venue that takes a reused client order id again and lists an order only once a file `listed` is beside the
    journal (never, in the test that uses it: later than any restart, however slow the machine).

    Every submission it receives is logged in placements.log beside the journal. While a file `hang` is there,
    it takes an order and never answers: the daemon is killed waiting for the answer.
    """

    capabilities = replace(PaperBroker.capabilities, rejects_duplicate_client_order_id=False)

    def _beside(self, name):
        return self.store.path.parent / name

    async def create_order(self, request):
        with self._beside("placements.log").open("a") as log:
            log.write(f"{request.client_order_id} {time.time()}\\n")
        order = await super().create_order(request)
        self._beside("taken").touch()  # the venue holds it now (the paper book committed it)
        while self._beside("hang").exists():
            await asyncio.sleep(0.05)
        return order

    async def fetch_order(self, client_order_id):
        if not self._beside("listed").exists():
            raise OrderNotFound(f"no order {client_order_id} (not listed yet)")
        return await super().fetch_order(client_order_id)
'''


def test_an_order_killed_in_flight_is_not_sent_again_where_the_venue_takes_a_reused_id_and_lists_it_late(
    make_daemon: Any,
) -> None:
    # SIGKILL between the venue taking the order and the daemon journaling its answer leaves the order `pending`,
    # as if never sent. At a venue that refuses a reused client order id, sending it again is safe; at one that
    # takes it again and does not list it yet, the resumed plan places it a second time.
    daemon = on_venue(make_daemon, "hanging", HANGING_LATE_VENUE, "HangingLateVenue")
    placements = daemon.config.parent / "placements.log"
    (daemon.config.parent / "hang").touch()
    daemon.start()
    signal_id = daemon.post({"ticker": "LATE", "action": "buy", "price": 50}).json()["id"]
    deadline = time.monotonic() + GUARD
    while not (daemon.config.parent / "taken").exists():  # killed once the venue took it, not while it was taking it
        assert time.monotonic() < deadline, daemon.output()
        time.sleep(0.02)
    daemon.kill()  # the venue took the order; its answer never came back
    (daemon.config.parent / "hang").unlink()
    daemon.start()
    wait_final(daemon, signal_id)
    daemon.stop()
    coids = [line.split()[0] for line in placements.read_text().splitlines()]
    assert coids == [client_order_id(signal_id, SUB, "entry")], "the order went to the venue twice"
    assert orders_of(daemon.db, signal_id)["entry"]["status"] == "unknown", "followed until the venue lists it"


LAGGING_VENUE = '''
import asyncio
import time
from dataclasses import replace

from bridge.brokers.paper import PaperBroker
from bridge.errors import OrderNotFound


class LaggingVenue(PaperBroker):
    """A venue that takes a reused client order id again and shows nothing it took (orders, positions) until a file
    `listed` is beside the journal. Every submission is logged in placements.log; while a file `hang` is there,
    it takes an order and never answers."""

    capabilities = replace(PaperBroker.capabilities, rejects_duplicate_client_order_id=False)

    def _beside(self, name):
        return self.store.path.parent / name

    async def create_order(self, request):
        with self._beside("placements.log").open("a") as log:
            log.write(f"{request.client_order_id} {time.time()}\\n")
        order = await super().create_order(request)
        self._beside("taken").touch()  # the venue holds it now (the paper book committed it)
        while self._beside("hang").exists():
            await asyncio.sleep(0.05)
        return order

    async def fetch_order(self, client_order_id):
        if not self._beside("listed").exists():
            raise OrderNotFound(f"no order {client_order_id} (not listed yet)")
        return await super().fetch_order(client_order_id)

    async def fetch_positions(self):
        return await super().fetch_positions() if self._beside("listed").exists() else []

    async def fetch_position(self, symbol):
        return await super().fetch_position(symbol) if self._beside("listed").exists() else None
'''


def test_after_a_restart_a_symbol_with_an_order_of_unknown_outcome_sends_nothing_new_until_the_broker_lists_it(
    make_daemon: Any,
) -> None:
    # Killed while the venue took a buy: after the restart the venue does not list it (nor the position it made)
    # yet, so recovery leaves it to the order jobs and trading opens. The next buy in that symbol, planned on a
    # position read that lags, would open a second long beside the first.
    daemon = on_venue(make_daemon, "lagging", LAGGING_VENUE, "LaggingVenue")
    placements = daemon.config.parent / "placements.log"
    (daemon.config.parent / "hang").touch()
    daemon.start()
    first = daemon.post({"ticker": "LAG", "action": "buy", "price": 50}).json()["id"]
    deadline = time.monotonic() + GUARD
    while not (daemon.config.parent / "taken").exists():  # killed once the venue took it, not while it was taking it
        assert time.monotonic() < deadline, daemon.output()
        time.sleep(0.02)
    daemon.kill()
    (daemon.config.parent / "hang").unlink()
    daemon.start()
    wait_final(daemon, first)

    second = daemon.post({"ticker": "LAG", "action": "buy", "price": 50, "n": 2}).json()["id"]  # not a repeat
    refused = wait_final(daemon, second)
    coids = [line.split()[0] for line in placements.read_text().splitlines()]
    assert coids == [client_order_id(first, SUB, "entry")], "a second buy went out beside the unknown one"
    assert refused["state"] == "rejected" and "earlier order in LAG is unknown" in refused["decision"], refused

    (daemon.config.parent / "listed").touch()  # the venue lists it now: the next signal learns what it did
    third = daemon.post({"ticker": "LAG", "action": "buy", "price": 50, "n": 3}).json()["id"]
    after = wait_final(daemon, third)
    daemon.stop()
    assert after["decision"].startswith("buy while long 1: ignored"), after["decision"]
    assert orders_of(daemon.db, first)["entry"]["status"] == "filled", "the lookup's answer is journaled"
    assert [line.split()[0] for line in placements.read_text().splitlines()] == coids


ELSEWHERE = '''
from dataclasses import replace

from bridge.brokers.paper import PaperBroker


class Elsewhere(PaperBroker):
    """Another account under the same broker name: its own book (what paper → a live plugin is)."""

    def __init__(self, options, context):
        super().__init__(options, replace(context, name="elsewhere"))
'''


def test_a_plan_interrupted_at_one_account_is_not_resumed_at_another_the_broker_name_was_given_while_down(
    make_daemon: Any,
) -> None:
    # Stopped mid-swap (sold the long 1 at paper, the short entry not sent yet), then `brokers.paper` edited to
    # another plugin (the live account) before the restart: the entry was sized on paper's position.
    daemon: Daemon = make_daemon(start=False)
    daemon.start()
    daemon.stop()  # the journal has met the broker as it was
    store = Store(daemon.db)
    store.open_sync()
    swap = seed_signal(store, "ACC", "sell", age=1)
    exit_, entry = seed_plan(store, swap, "ACC", [("exit", "sell"), ("entry", "sell")])
    journal.update_order(store.conn, exit_, status="filled")
    store.close_sync()
    (daemon.config.parent / "elsewhere.py").write_text(ELSEWHERE)
    daemon.config.write_text(daemon.config.read_text().replace("plugin: paper", "plugin: elsewhere:Elsewhere"))

    daemon.start()
    final = wait_final(daemon, swap)
    daemon.stop()
    assert read_db(daemon.db, "SELECT broker, client_order_id FROM paper_orders") == [], "sent to the other account"
    assert book_count(daemon.db, entry) == (0, 0)
    assert final["state"] == "failed", final["decision"]
    order = orders_of(daemon.db, swap)["entry"]
    assert order["status"] == "unknown" and "changed while the daemon was down" in order["error"], dict(order)


KEYED = '''
from dataclasses import replace
from typing import ClassVar

from pydantic import BaseModel

from bridge.brokers.paper import PaperBroker, PaperOptions


class KeyedOptions(PaperOptions):
    api_key: str


class Keyed(PaperBroker):
    """The account is the API key's, as at a real venue: another key, another book."""

    options_model: ClassVar[type[BaseModel]] = KeyedOptions

    def __init__(self, options, context):
        opts = options if isinstance(options, KeyedOptions) else KeyedOptions.model_validate(options)
        super().__init__(opts, replace(context, name="book-" + opts.api_key[-4:]))
'''


def test_a_plan_interrupted_at_one_account_is_not_resumed_at_another_the_credentials_opened_after_a_restart(
    make_daemon: Any,
) -> None:
    # As above, with only `api_key` edited: the same plugin and options, another account.
    daemon: Daemon = make_daemon(start=False)
    (daemon.config.parent / "keyed.py").write_text(KEYED)
    first, second = "key-" + "a" * 20 + "AAAA", "key-" + "b" * 20 + "BBBB"
    written = daemon.config.read_text()
    daemon.config.write_text(written.replace("plugin: paper\n    options: {cash: 100000}",
                                             f"plugin: keyed:Keyed\n    options: {{api_key: {first}}}"))  # fmt: skip
    daemon.start()
    daemon.stop()  # the journal has met the broker as it was
    store = Store(daemon.db)
    store.open_sync()
    swap = seed_signal(store, "ACC", "sell", age=1)
    exit_, entry = seed_plan(store, swap, "ACC", [("exit", "sell"), ("entry", "sell")])
    journal.update_order(store.conn, exit_, status="filled")
    store.close_sync()
    daemon.config.write_text(daemon.config.read_text().replace(first, second))

    daemon.start()
    final = wait_final(daemon, swap)
    daemon.stop()
    assert book_count(daemon.db, entry) == (0, 0), "sent to the account the other key opens"
    assert final["state"] == "failed", final["decision"]
    assert first not in daemon.db.read_bytes().decode("latin-1") and second not in daemon.db.read_bytes().decode(
        "latin-1"
    )


def test_after_a_broker_was_switched_to_another_plugin_a_plan_left_at_the_old_account_holds_nothing_at_the_new(
    make_daemon: Any,
) -> None:
    """The operator pointed `paper` at another account on purpose: the new account never holds the old one's
    order, so it neither holds that symbol's entries there (ten minutes of refused signals) nor is polled for it,
    and it is never closed as "never reached the broker": it may have, at the old account, which the trader checks."""
    daemon: Daemon = make_daemon(start=False)
    daemon.start()
    daemon.stop()
    store = Store(daemon.db)
    store.open_sync()
    swap = seed_signal(store, "ACC", "sell", age=1)
    exit_, entry = seed_plan(store, swap, "ACC", [("exit", "sell"), ("entry", "sell")])
    journal.update_order(store.conn, exit_, status="filled")
    journal.update_order(store.conn, entry, status="unknown", error="timed out")  # its answer lost at the stop
    store.close_sync()
    (daemon.config.parent / "elsewhere.py").write_text(ELSEWHERE)
    daemon.config.write_text(daemon.config.read_text().replace("plugin: paper", "plugin: elsewhere:Elsewhere"))

    daemon.start()
    final = wait_final(daemon, swap)
    fresh = daemon.post({"ticker": "ACC", "action": "buy", "price": 50}).json()["id"]
    traded = wait_final(daemon, fresh)
    daemon.stop()
    assert traded["state"] == "executed", traded["decision"]
    assert final["state"] == "failed" and "check there" in final["decision"], final["decision"]
    order = orders_of(daemon.db, swap)["entry"]
    assert order["status"] == "unknown" and "named before" in order["error"], order
    assert order["unfollowed"] == 1, "the order jobs would ask the new account for it and close it as never sent"


KEYED_LAGGING = '''

from bridge.brokers.paper import PaperOptions


class KeyedOptions(PaperOptions):
    api_key: str


class KeyedLagging(LaggingVenue):
    """The lagging venue, with a key (one account whatever the key: a key rotated)."""

    options_model = KeyedOptions

    def __init__(self, options, context):
        super().__init__(options if isinstance(options, KeyedOptions) else KeyedOptions.model_validate(options),
                         context)
'''


def test_an_order_not_yet_listed_after_only_the_credentials_changed_is_still_followed_where_it_may_be(
    make_daemon: Any,
) -> None:
    """A key rotated reads as a change too: at a venue that may list an order sent just before the stop late,
    under the same plugin, the order stays followed (and holds its symbol's entries) as any of unknown outcome."""
    daemon = on_venue(make_daemon, "lagging", LAGGING_VENUE + KEYED_LAGGING, "KeyedLagging")
    daemon.config.write_text(daemon.config.read_text().replace("{cash: 100000}", "{api_key: key-one-0001}"))
    daemon.start()
    daemon.stop()
    store = Store(daemon.db)
    store.open_sync()
    swap = seed_signal(store, "LAG", "sell", age=1)
    [entry] = seed_plan(store, swap, "LAG", [("entry", "sell")])
    journal.update_order(store.conn, entry, status="unknown", error="timed out", sent_at=utcnow())
    store.close_sync()
    daemon.config.write_text(daemon.config.read_text().replace("key-one-0001", "key-two-0002"))

    daemon.start()
    final = wait_final(daemon, swap)
    daemon.stop()
    assert final["state"] == "failed", final["decision"]
    order = orders_of(daemon.db, swap)["entry"]
    assert order["status"] == "unknown" and order["unfollowed"] == 0, order


def test_an_order_working_at_the_account_a_broker_name_opened_before_a_restart_is_no_longer_asked_for_at_the_new(
    make_daemon: Any,
) -> None:
    """A limit order resting at the old account when the operator switched the name: the new account never holds
    it, and the order jobs would ask it for that order at every poll, and try to cancel it there, for good."""
    daemon: Daemon = make_daemon(start=False)
    daemon.start()
    daemon.stop()
    store = Store(daemon.db)
    store.open_sync()
    signal_id = seed_signal(store, "ACC", "buy", age=1)
    [entry] = seed_plan(store, signal_id, "ACC", [("entry", "buy")])
    journal.update_order(store.conn, entry, status="open", sent_at=utcnow())
    journal.finish_execution(store.conn, signal_id, SUB, "executed", "buy while flat: opened long 1")
    store.close_sync()
    (daemon.config.parent / "elsewhere.py").write_text(ELSEWHERE)
    daemon.config.write_text(daemon.config.read_text().replace("plugin: paper", "plugin: elsewhere:Elsewhere"))

    daemon.start()
    fresh = daemon.post({"ticker": "ACC", "action": "buy", "price": 50}).json()["id"]
    wait_final(daemon, fresh)  # recovery is done
    daemon.stop()
    order = orders_of(daemon.db, signal_id)["entry"]
    assert order["unfollowed"] == 1, order
    assert order["status"] == "unknown" and "named before" in order["error"], order  # from now on, to the bridge
