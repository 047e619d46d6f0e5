"""Secrets never reach the log or the journal: not the webhook token, not a near-miss of it, not the admin token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN, TOKEN, Daemon

# Differs from the real token only in its last character: storing it would leak all but one character.
NEAR_MISS = TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")
NEAR_MISS_ADMIN = ADMIN[:-1] + ("x" if ADMIN[-1] != "x" else "y")
# Needles: the secrets, and the longest prefix a near miss shares with them.
NEEDLES = {"token": TOKEN, "admin token": ADMIN, "token prefix": TOKEN[:-1], "admin prefix": ADMIN[:-1]}


def journal_bytes(db: Path) -> dict[str, bytes]:
    """The database file and its WAL/shared-memory companions, as raw bytes."""
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), db.with_name(db.name + "-journal")]
    return {f.name: f.read_bytes() for f in files if f.exists()}


def leaks(blobs: dict[str, bytes]) -> list[str]:
    """Which needle appears in which blob (checked as UTF-8 and UTF-16, the encodings SQLite may use)."""
    found = []
    for name, blob in blobs.items():
        for label, needle in NEEDLES.items():
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                if needle.encode(encoding) in blob:
                    found.append(f"{label} in {name} ({encoding})")
    return found


def exercise(daemon: Daemon) -> dict[str, int]:
    """Every kind of request that could carry a secret to the log or the journal; returns status codes by case."""
    alias = f"{daemon.base}/trading/webhook/{daemon.strategy}/{TOKEN}"
    near = f"{daemon.base}/webhook/{daemon.strategy}/{NEAR_MISS}"
    cases: dict[str, httpx.Response] = {
        "accepted": daemon.post({"ticker": "AMD", "action": "buy", "price": 10}),
        "accepted via alias": daemon.post({"ticker": "AMD", "action": "sell", "price": 11}, url=alias),
        "accepted text/plain": daemon.post(
            content=b'{"ticker": "SQ", "action": "buy"}', headers={"Content-Type": "text/plain"}
        ),
        "token in an unknown field": daemon.post({"ticker": "SQ", "action": "sell", "passphrase": TOKEN}),
        "token in extras": daemon.post({"ticker": "TSLA", "action": "buy", "extras": {"note": f"t={TOKEN}"}}),
        "token as the action": daemon.post({"ticker": "AMD", "action": TOKEN}),
        "token in malformed JSON": daemon.post(content=f'{{"ticker": "AMD", "action": "buy", {TOKEN}'.encode()),
        "token in a header": daemon.post(
            {"ticker": "NVDA", "action": "buy"},
            headers={"Authorization": f"Bearer {TOKEN}", "X-Auth-Token": TOKEN, "X-Alert-Note": f"sent with {TOKEN}"},
        ),
        "wrong token": daemon.post({"ticker": "AMD", "action": "buy"}, url=near),
        "wrong token, body holds the real one": daemon.post(
            {"ticker": "AMD", "action": "buy", "token": TOKEN}, url=near
        ),
        "unknown strategy with the token": daemon.post(
            {"ticker": "AMD", "action": "buy"}, url=f"{daemon.base}/webhook/nope/{TOKEN}"
        ),
        "admin token as webhook token": daemon.post(
            {"ticker": "AMD", "action": "buy"}, url=f"{daemon.base}/webhook/{daemon.strategy}/{ADMIN}"
        ),
    }
    for what in ("signals", "orders", "webhooks", "positions"):
        cases[f"api {what}"] = httpx.get(f"{daemon.base}/api/{what}", headers={"Authorization": f"Bearer {ADMIN}"})
        cases[f"api {what} near-miss admin"] = httpx.get(
            f"{daemon.base}/api/{what}", headers={"Authorization": f"Bearer {NEAR_MISS_ADMIN}"}
        )
    cases["api token in the query"] = httpx.get(f"{daemon.base}/api/signals", params={"token": ADMIN})
    cases["health"] = httpx.get(f"{daemon.base}/health")
    return {name: response.status_code for name, response in cases.items()}


def test_tokens_never_reach_the_log_or_the_journal(make_daemon: Any) -> None:
    daemon: Daemon = make_daemon()
    statuses = exercise(daemon)
    assert statuses == {
        "accepted": 200,
        "accepted via alias": 200,
        "accepted text/plain": 200,
        "token in an unknown field": 200,
        "token in extras": 200,
        "token as the action": 400,
        "token in malformed JSON": 400,
        "token in a header": 200,
        "wrong token": 401,
        "wrong token, body holds the real one": 401,
        "unknown strategy with the token": 401,
        "admin token as webhook token": 401,
        "api signals": 200,
        "api signals near-miss admin": 401,
        "api orders": 200,
        "api orders near-miss admin": 401,
        "api webhooks": 200,
        "api webhooks near-miss admin": 401,
        "api positions": 200,
        "api positions near-miss admin": 401,
        "api token in the query": 401,
        "health": 200,
    }
    running = journal_bytes(daemon.db)  # while running: the WAL still holds the recent pages
    assert "bridge.db-wal" in running, "expected a WAL file next to the database"
    assert b"NVDA" in running["bridge.db-wal"] + running["bridge.db"], "the grep must be looking at the journal"
    assert not leaks({f"running {k}": v for k, v in running.items()})
    # The admin API and health must not hand the secrets out either.
    for what in ("signals", "orders", "webhooks"):
        assert not leaks({f"api {what}": json.dumps(daemon.api(what, limit=1000)).encode()})
    assert not leaks({"health": httpx.get(f"{daemon.base}/health").content})
    assert len(daemon.api("webhooks", limit=1000)) == 12, "every webhook request is journaled"

    output_running = daemon.output()
    daemon.stop()
    stopped = journal_bytes(daemon.db)
    output = daemon.output()
    assert not leaks({f"stopped {k}": v for k, v in stopped.items()})
    assert "…" + TOKEN[-4:] in output, "the startup banner shows the masked URL (so the grep sees the banner)"
    assert "signal=" in output, "the log must show the accepted requests (so the grep sees request lines)"
    assert not leaks({"daemon output": output_running.encode(), "daemon output at exit": output.encode()})
