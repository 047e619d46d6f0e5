"""The duplicate checks inside the journaling transaction, on a clock the test sets."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bridge.store import journal
from bridge.store.db import Store, iso
from bridge.store.dedupe import Dedupe, Duplicate, KeyReused, remember

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def record(store: Store, signal_id: str, ticker: str, dedupe: Dedupe, strategy: str = "sq", payload: str = "{}") -> str:
    """Journal a signal the way the webhook does; return its id, or the original's for a duplicate."""
    webhook = journal.WebhookRow(id=f"w-{signal_id}", received_at=iso(dedupe.now), strategy=strategy,
                                 remote_addr=None, method="POST", path="/webhook/sq/***", headers={}, body="{}",
                                 status_code=200, signal_id=signal_id)  # fmt: skip
    row = {"id": signal_id, "webhook_id": webhook.id, "strategy": strategy, "ticker": ticker, "action": "buy",
           "sentiment": None, "price": None, "quantity": None, "signal_time": None, "payload": payload, "extras": "{}",
           "received_at": webhook.received_at}  # fmt: skip
    try:
        journal.record_signal(store.conn, webhook, row, [("paper", "paper")], dedupe)
    except Duplicate as dup:
        return dup.signal_id
    return signal_id


def count(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - test tables


async def test_an_idempotency_key_makes_one_signal_until_its_retention_ends(fresh_store: Store) -> None:
    def scenario() -> list[str]:
        key = Dedupe(T0, "h1", key="k1")
        ids = [record(fresh_store, "s1", "AMD", key)]
        ids.append(record(fresh_store, "s2", "AMD", Dedupe(T0 + timedelta(seconds=5), "h2", key="k1")))
        ids.append(record(fresh_store, "s3", "SQ", Dedupe(T0 + timedelta(days=6, hours=23), "h3", key="k1")))
        ids.append(record(fresh_store, "s4", "AMD", Dedupe(T0 + timedelta(days=1), "h1", key="k1"), strategy="other"))
        ids.append(record(fresh_store, "s5", "AMD", Dedupe(T0 + timedelta(days=7, seconds=1), "h1", key="k1")))
        return ids

    ids = await fresh_store.run(scenario)
    assert ids == ["s1", "s1", "s1", "s4", "s5"], "same key: the original (per strategy) until 7 days have passed"
    assert await fresh_store.run(count, fresh_store, "signals") == 3
    assert await fresh_store.run(count, fresh_store, "webhooks") == 3, "a duplicate writes nothing in the transaction"


async def test_without_a_key_only_a_repeat_of_the_tickers_last_body_inside_the_window_is_a_duplicate(
    fresh_store: Store,
) -> None:
    def scenario() -> list[str]:
        at = [T0 + timedelta(seconds=s) for s in range(0, 400, 10)]
        return [
            record(fresh_store, "buy", "AMD", Dedupe(at[0], "buy", window=120)),
            record(fresh_store, "resend", "AMD", Dedupe(at[1], "buy", window=120)),  # TradingView-style resend
            record(fresh_store, "other-ticker", "SQ", Dedupe(at[2], "buy", window=120)),
            record(fresh_store, "sell", "AMD", Dedupe(at[3], "sell", window=120)),
            record(fresh_store, "buy-again", "AMD", Dedupe(at[4], "buy", window=120)),  # not the last body
            record(fresh_store, "late-repeat", "AMD", Dedupe(at[4] + timedelta(seconds=121), "buy", window=120)),
            record(fresh_store, "keyed", "AMD", Dedupe(at[30], "buy", key="k", window=120)),
            record(fresh_store, "window-off", "AMD", Dedupe(at[31], "buy", window=0)),
        ]

    assert await fresh_store.run(scenario) == [
        "buy", "buy", "other-ticker", "sell", "buy-again", "late-repeat", "keyed", "window-off",
    ]  # fmt: skip


async def test_the_primary_key_refuses_a_second_signal_for_a_key_even_past_the_lookup(fresh_store: Store) -> None:
    def scenario() -> None:
        d = Dedupe(T0, "h", key="k")
        record(fresh_store, "s1", "AMD", d)
        with pytest.raises(sqlite3.IntegrityError):  # what a racing writer that skipped the lookup would hit
            remember(fresh_store.conn, "sq", "AMD", "s2", d)

    await fresh_store.run(scenario)


async def test_a_key_is_kept_while_a_signed_request_carrying_it_can_still_verify(fresh_store: Store) -> None:
    # A signed request verifies while its timestamp is within 5 minutes of now, either way: one stamped 5 minutes
    # ahead, replayed by whoever saw it, still verifies 10 minutes after it first arrived. A shorter
    # idempotency_retention_days must not forget its webhook-id before then, or the replay trades again.
    def scenario() -> list[str]:
        short = timedelta(seconds=60)
        return [
            record(fresh_store, "s1", "AMD", Dedupe(T0, "h", key="msg_1", retention=short)),
            record(fresh_store, "s2", "AMD", Dedupe(T0 + timedelta(seconds=599), "h", key="msg_1", retention=short)),
            record(fresh_store, "s3", "AMD", Dedupe(T0 + timedelta(seconds=601), "h", key="msg_1", retention=short)),
        ]

    assert await fresh_store.run(scenario) == ["s1", "s1", "s3"]


async def test_a_key_already_used_by_another_signal_refuses_that_signal_instead_of_calling_it_a_duplicate(
    fresh_store: Store,
) -> None:
    buy = (
        '{"ticker": "AMD", "action": "buy", "time": "2026-11-02T15:00:00+00:00", "delay": "2026-11-02T15:01:00+00:00"}'
    )
    # "delay": 60 sent again, by code that rebuilds the body with a fresh time for its retry
    resend = (
        '{"ticker": "AMD", "action": "buy", "time": "2026-11-02T15:00:05+00:00", "delay": "2026-11-02T15:01:05+00:00"}'
    )
    sell = '{"ticker": "AMD", "action": "sell"}'

    def scenario() -> tuple[str, str | None]:
        record(fresh_store, "s1", "AMD", Dedupe(T0, "h1", key="bar-1"), payload=buy)
        again = record(fresh_store, "s2", "AMD", Dedupe(T0 + timedelta(seconds=5), "h2", key="bar-1"), payload=resend)
        try:
            record(fresh_store, "s3", "AMD", Dedupe(T0 + timedelta(seconds=9), "h3", key="bar-1"), payload=sell)
        except KeyReused as reused:
            return again, reused.signal_id
        return again, None

    # A sell sent with the buy's key (a template's key that repeats) must not be told it was done already.
    assert await fresh_store.run(scenario) == ("s1", "s1")
    assert await fresh_store.run(count, fresh_store, "signals") == 1
