"""Duplicate detection inside the transaction that journals a signal, so concurrent repeats cannot both pass.

Two kinds: an idempotency key (`Idempotency-Key`, `idempotencyKey`, or a Standard Webhooks
`webhook-id`) makes exactly one signal per strategy for as long as the key is retained, enforced
by the primary key of `idempotency_keys`; and, for requests without a key, a repeat of the body
of the ticker's latest signal within the strategy's `dedupe_window`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import NamedTuple

from bridge.store.db import iso
from bridge.web.signing import TOLERANCE_SECONDS

# A signed request verifies while its timestamp is within the tolerance of now, either way: one stamped that far
# ahead still verifies twice the tolerance after it arrived. Its webhook-id (the key) is kept at least that long
# whatever idempotency_retention_days says, or a replay of it inside its signature's window trades again.
MIN_KEY_RETENTION = timedelta(seconds=2 * TOLERANCE_SECONDS)


class Dedupe(NamedTuple):
    """What identifies a request as a repeat: computed by the webhook, checked by the journal.

    A named tuple, one made for every webhook: as a frozen dataclass, its five fields were set one
    `object.__setattr__` at a time (some 10,000 instructions a request; this, some 3,000).
    """

    now: datetime
    content_sha256: str
    key: str | None = None
    window: float = 0.0  # seconds; 0 turns keyless dedupe off
    retention: timedelta = timedelta(days=7)


class Duplicate(Exception):
    """The request repeats an accepted signal: nothing new was journaled for trading."""

    def __init__(self, signal_id: str, reason: str) -> None:
        super().__init__(f"duplicate of signal {signal_id} ({reason})")
        self.signal_id = signal_id
        self.reason = reason


class KeyReused(Exception):
    """The idempotency key already made another signal, with other content: this one is refused, not a duplicate."""

    def __init__(self, signal_id: str) -> None:
        super().__init__(f"the idempotency key already made signal {signal_id}, a different signal")
        self.signal_id = signal_id


# When a signal was sent or is to run is not what it does: a resend rebuilt with a fresh `time`, or with a relative
# `delay` (journaled as the moment it ends), is the same signal and stays a duplicate.
_WHEN = ("time", "delay")


def _same_signal(original: str | None, payload: str | None) -> bool:
    """Whether two journaled payloads are one signal: the same but for their `time` and `delay`."""
    if original is None or payload is None:  # the original was pruned, or the caller has none to compare
        return True
    try:
        before, now = json.loads(original), json.loads(payload)
    except ValueError:
        return original == payload
    if isinstance(before, dict) and isinstance(now, dict):
        for field in _WHEN:
            before.pop(field, None)
            now.pop(field, None)
    return bool(before == now)


def find_original(conn: sqlite3.Connection, strategy: str, ticker: str, d: Dedupe,
                  payload: str | None = None, prune: bool = True) -> Duplicate | None:  # fmt: skip
    """The signal this request repeats, if any; call inside the journaling transaction.

    Raises KeyReused when the key made a signal other than `payload` (the new signal's journaled payload): a
    sender that reuses a key must hear that this signal was not executed, not that it was, as a duplicate.
    Without `prune` it only reads: expired keys are passed over rather than deleted.
    """
    if d.key is not None:
        expired = iso(d.now - max(d.retention, MIN_KEY_RETENTION))
        if prune:  # an expired key is forgotten, so its reuse starts a new signal
            conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (expired,))
        row = conn.execute(
            "SELECT k.signal_id, s.payload FROM idempotency_keys k LEFT JOIN signals s ON s.id = k.signal_id "
            "WHERE k.strategy = ? AND k.key = ? AND k.created_at >= ?",
            (strategy, d.key, expired),
        ).fetchone()
        if row is None:
            return None
        if not _same_signal(row["payload"], payload):
            raise KeyReused(row["signal_id"])
        return Duplicate(row["signal_id"], "same idempotency key")
    if d.window <= 0:
        return None
    row = conn.execute(
        "SELECT signal_id, sha256, received_at FROM recent_content WHERE strategy = ? AND ticker = ?",
        (strategy, ticker),
    ).fetchone()
    if row is None or row["sha256"] != d.content_sha256:
        return None
    if datetime.fromisoformat(row["received_at"]) < d.now - timedelta(seconds=d.window):
        return None
    return Duplicate(row["signal_id"], f"same body as the ticker's last signal within {d.window:g}s")


def claim(conn: sqlite3.Connection, strategy: str, ticker: str, signal_id: str, d: Dedupe,
          payload: str | None = None) -> None:  # fmt: skip
    """Raise Duplicate for a repeat (KeyReused for another signal under a used key), else record the new signal's
    key and body hash (inside its transaction)."""
    original = find_original(conn, strategy, ticker, d, payload)
    if original is not None:
        raise original  # the journaling transaction rolls back: nothing of this request is stored as a signal
    remember(conn, strategy, ticker, signal_id, d)


def remember(conn: sqlite3.Connection, strategy: str, ticker: str, signal_id: str, d: Dedupe) -> None:
    """Record the new signal's key and body hash, in the transaction that inserts the signal."""
    at = iso(d.now)
    if d.key is not None:
        # A plain INSERT: should a concurrent writer ever slip past find_original, the primary key
        # refuses the second row and the whole transaction (signal included) rolls back.
        conn.execute(
            "INSERT INTO idempotency_keys (strategy, key, signal_id, created_at) VALUES (?, ?, ?, ?)",
            (strategy, d.key, signal_id, at),
        )
    conn.execute(
        "INSERT INTO recent_content (strategy, ticker, sha256, signal_id, received_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (strategy, ticker) DO UPDATE SET sha256 = excluded.sha256, signal_id = excluded.signal_id, "
        "received_at = excluded.received_at",
        (strategy, ticker, d.content_sha256, signal_id, at),
    )
