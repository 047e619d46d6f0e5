"""Start-up recovery survives a journaled signal it cannot rebuild: that one fails with the reason, the
others execute, and trading opens. And a secret is masked inside the journaled payload, never through it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from bridge.config.load import load_config
from bridge.config.secrets import redacted_json
from bridge.execution.executor import Job
from bridge.execution.recovery import interrupted_jobs, journaled_signal
from bridge.ids import new_id
from bridge.notify.events import Event
from bridge.service import Bridge
from bridge.store import journal
from bridge.store.db import Store, iso, utcnow
from tests.conftest import GUARD, TOKEN


def seed(store: Store, ticker: str, payload: str, subscription: str = "paper") -> str:
    """An acknowledged signal whose execution never started (the daemon stopped right after the 200)."""
    signal_id, now = new_id(), iso(utcnow())
    webhook = journal.WebhookRow(id=new_id(), received_at=now, strategy="sq", remote_addr=None, method="POST",
                                 path="/webhook/sq/***", headers={}, body="{}", status_code=200,
                                 signal_id=signal_id)  # fmt: skip
    row = {"id": signal_id, "webhook_id": webhook.id, "strategy": "sq", "ticker": ticker, "action": "buy",
           "sentiment": None, "price": "100", "quantity": None, "signal_time": None, "payload": payload,
           "extras": "{}", "received_at": now}  # fmt: skip
    journal.record_signal(store.conn, webhook, row, [(subscription, subscription)])
    return signal_id


async def test_one_signal_that_cannot_be_rebuilt_fails_alone_and_trading_opens(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database: bridge.db\nbrokers:\n  paper:\n    plugin: paper\n"
                      f"strategies:\n  sq:\n    token: {TOKEN}\n"
                      "    subscriptions:\n      - broker: paper\n")  # fmt: skip
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    broken = seed(store, "BTCUSDT", '{"ticker": "BTCUSDT", "action": "buy", "price": ***}')  # not JSON any more
    intact = seed(store, "AMD", json.dumps({"ticker": "AMD", "action": "buy", "price": 100}))
    store.close_sync()

    bridge = Bridge(load_config(config), scheduling=False, watching=False)
    published: list[Event] = []
    bridge.executor.observers.append(published.append)  # what metrics and notifications hear
    await bridge.start()
    try:
        await asyncio.wait_for(bridge.ready(), GUARD)  # trading opened
        await asyncio.wait_for(bridge.queues.join(), GUARD)
    finally:
        await bridge.stop()
    journal_db = sqlite3.connect(tmp_path / "bridge.db")
    try:
        states = dict(journal_db.execute("SELECT signal_id, state || ': ' || decision FROM executions"))
    finally:
        journal_db.close()
    assert states[broken].startswith("failed: failed: the journaled signal could not be rebuilt"), states[broken]
    assert states[intact].startswith("executed"), states[intact]
    ended = {e.data["signal_id"]: e.kind for e in published if e.kind.startswith("signal.")}
    assert ended == {broken: "signal.failed", intact: "signal.executed"}  # the operator hears of the failure


def test_a_short_numeric_secret_is_masked_in_strings_and_the_payload_stays_json() -> None:
    payload = {"ticker": "BTCUSDT", "action": "buy", "price": 5000.5, "note": "passphrase 5000 inside"}
    text = redacted_json(payload, ["5000"])  # as the journal stores a payload
    rebuilt = json.loads(text)  # still JSON: the price was not cut through
    assert rebuilt == {"ticker": "BTCUSDT", "action": "buy", "price": 5000.5, "note": "passphrase *** inside"}
    row = {"payload": text, "execute_at": None, "cancel_after": None}
    assert journaled_signal(row).price is not None  # type: ignore[arg-type]


async def test_a_retried_recovery_leaves_alone_what_an_earlier_attempt_queued(tmp_path: Path) -> None:
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    queued = seed(store, "AMD", json.dumps({"ticker": "AMD", "action": "buy", "price": 100}))
    waiting = seed(store, "MSFT", json.dumps({"ticker": "MSFT", "action": "buy", "price": 100}))
    store.close_sync()
    store = Store(tmp_path / "bridge.db")
    await store.open()
    try:
        # The retry comes after both signals grew older than max_signal_age: the one an earlier attempt queued
        # is its queue's to finish (its job checks the age itself); only the other one is expired here.
        jobs: list[Job] = []
        resumed, expired = await interrupted_jobs(store, 0.0, jobs.append, queued={(queued, "paper")})
        assert (resumed, expired, jobs) == (0, 1, [])
        states = await store.read(lambda: dict(store.conn.execute("SELECT signal_id, state FROM executions")))
        assert states == {queued: "received", waiting: "expired"}
    finally:
        await store.close()


def test_a_secret_that_json_escapes_is_still_found_and_masked() -> None:
    for secret in ('pa"ss\\word', "clé-secrète"):
        text = redacted_json({"note": f"x {secret} y", "price": 1}, [secret])
        assert json.loads(text) == {"note": "x *** y", "price": 1}
    assert redacted_json({"ticker": "AMD"}, ["unrelated-secret"]) == '{"ticker": "AMD"}'  # nothing to mask
