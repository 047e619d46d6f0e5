"""Chaos: signals keep coming while the daemon is killed with SIGKILL at random moments, then restarted.

Senders behave like careful custom code: every signal carries an Idempotency-Key and is resent with
the same key until it gets a 2xx (a connection refused while the daemon is down, a request cut by
the kill, a 503). So a signal that was committed but whose answer was lost comes back as a duplicate
that must not trade again. After every kill, before the restart, the journal passes integrity_check.

CI: at least 200 acknowledged signals over 8 kills; BRIDGE_LONG_TESTS=1: 1,000+ over 40 kills.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import GUARD, Daemon
from tests.execution.test_crash_recovery import _assert_journal_and_book_agree, wait_all_final
from tests.security.conftest import rows, strategy

LONG = os.environ.get("BRIDGE_LONG_TESTS") == "1"
TARGET = 1000 if LONG else 200
KILLS = 40 if LONG else 8
SEED = 20261125
SENDERS = 3
PACE = 0.02  # seconds between one sender's signals: ~150 a second in all, about what the paper executor sustains


def integrity(db: Path) -> str:
    """PRAGMA integrity_check on the file as the kill left it (opening it recovers the WAL like a restart)."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@dataclass
class Sender:
    """Alternates buy/sell per ticker; resends each signal, same key, until it is acknowledged."""

    url: str
    name: str
    stop: threading.Event
    acks: dict[str, set[str]] = field(default_factory=dict)  # key -> signal ids it was answered with
    duplicates: int = 0  # answers flagged duplicate: the first try had been committed, its answer lost
    attempts: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # any 4xx: must stay empty

    def run(self) -> None:
        tickers = (f"{self.name}A", f"{self.name}B")
        with httpx.Client(timeout=5) as client:
            n = 0
            while not self.stop.is_set():
                ticker = tickers[n % 2]
                action = "buy" if (n // 2) % 2 == 0 else "sell"
                key = f"{self.name}-{n}"
                self._deliver(client, key, {"ticker": ticker, "action": action, "price": 100 + n % 5})
                n += 1

    def _deliver(self, client: httpx.Client, key: str, signal: dict[str, Any]) -> None:
        while True:  # a signal is never given up: the next one for the ticker must see this one's position
            self.attempts[key] += 1
            try:
                response = client.post(self.url, json=signal, headers={"Idempotency-Key": key})
            except httpx.HTTPError:  # refused (down) or cut (killed mid-request): resend the same key
                time.sleep(0.02)
                continue
            if response.status_code >= 500:
                time.sleep(0.02)
                continue
            if response.status_code != 200:
                self.refused.append(f"{response.status_code} {response.text}")
                return
            answer = response.json()
            self.acks.setdefault(key, set()).add(answer["id"])
            self.duplicates += bool(answer.get("duplicate"))
            time.sleep(PACE)
            return


def test_sigkill_at_random_moments_loses_nothing_acknowledged_and_doubles_nothing(start_daemon: Any) -> None:
    rng = random.Random(SEED)
    daemon: Daemon = start_daemon({"sq": strategy()})
    stop = threading.Event()
    senders = [Sender(daemon.url, f"S{i}", stop) for i in range(SENDERS)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in senders]
    for thread in threads:
        thread.start()
    checks: list[str] = []
    kills = 0
    seen, deadline = (-1, -1), 0.0
    try:
        while kills < KILLS or sum(len(s.acks) for s in senders) < TARGET:
            # A hang guard, not a stopwatch: it fails only once GUARD passed with no kill and no signal acknowledged.
            if (progress := (kills, sum(len(s.acks) for s in senders))) != seen:
                seen, deadline = progress, time.monotonic() + GUARD
            assert time.monotonic() < deadline, f"nothing acknowledged for {GUARD:g}s: {daemon.output()[-2000:]}"
            time.sleep(rng.uniform(0.05, 0.5))
            if kills < KILLS:
                daemon.kill()
                kills += 1
                checks.append(integrity(daemon.db))
                daemon.start()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=GUARD)
    wait_all_final(daemon)
    daemon.stop()
    checks.append(integrity(daemon.db))
    db = daemon.db

    assert [r for s in senders for r in s.refused] == []
    acks = {key: ids for s in senders for key, ids in s.acks.items()}
    assert all(len(ids) == 1 for ids in acks.values()), "a key was answered with two different signal ids"
    acked = {next(iter(ids)) for ids in acks.values()}
    stored = {r[0] for r in rows(db, "SELECT id FROM signals")}
    assert acked <= stored, f"{len(acked - stored)} acknowledged signal(s) lost"
    per_key = Counter(r[0] for r in rows(db, "SELECT key FROM idempotency_keys"))
    assert set(per_key.values()) <= {1}
    assert len(stored) == len(per_key), "every journaled signal came from exactly one key"
    assert checks == ["ok"] * (kills + 1), checks
    assert rows(db, "SELECT client_order_id FROM orders GROUP BY 1 HAVING count(*) > 1") == []
    assert rows(db, "SELECT client_order_id FROM paper_orders GROUP BY broker, 1 HAVING count(*) > 1") == []
    _assert_journal_and_book_agree(db)
    position: Counter[str] = Counter()
    for r in rows(db, "SELECT symbol, side, filled_quantity FROM orders WHERE status = 'filled'"):
        position[r[0]] += int(float(r[2])) * (1 if r[1] == "buy" else -1)
    assert all(abs(q) <= 1 for q in position.values()), f"a signal traded twice: {position}"

    resent = sum(n - 1 for s in senders for n in s.attempts.values())
    orders = rows(db, "SELECT count(*) FROM orders")[0][0]
    print(f"\nchaos: {kills} SIGKILLs, {sum(sum(s.attempts.values()) for s in senders)} requests ({resent} resends), "
          f"{len(acked)} signals acknowledged, {len(stored)} journaled, 0 lost, "
          f"{sum(s.duplicates for s in senders)} answered duplicate (committed before a kill, answer lost), "
          f"{orders} orders, 0 duplicate client order ids, integrity_check ok x{len(checks)}")  # fmt: skip
