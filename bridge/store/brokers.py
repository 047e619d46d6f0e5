"""What each broker name stood for when the daemon last ran: a plan is never resumed at another account."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from bridge.config.schema import BrokerConfig
from bridge.config.secrets import is_secret_key
from bridge.store.db import iso, transaction, utcnow


def _public(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options without their credentials: a key rotated is the same account, and no secret is hashed."""
    return {key: _public(value) if isinstance(value, Mapping) else value
            for key, value in options.items() if not is_secret_key(str(key))}  # fmt: skip


def fingerprint(config: BrokerConfig) -> str:
    """A broker's plugin and options (credentials aside) as a hash: tells another account from the same one."""
    text = json.dumps({"plugin": config.plugin, "options": _public(config.options)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprints(brokers: Mapping[str, BrokerConfig]) -> dict[str, str]:
    """The fingerprint of each configured broker, by name."""
    return {name: fingerprint(config) for name, config in brokers.items()}


def changed_since(conn: sqlite3.Connection, current: Mapping[str, str]) -> set[str]:
    """The names whose plugin or options differ from what was recorded (a name never recorded has not changed)."""
    recorded = {row[0]: row[1] for row in conn.execute("SELECT name, fingerprint FROM broker_identities")}
    return {name for name, now in current.items() if name in recorded and not hmac.compare_digest(recorded[name], now)}


def record(conn: sqlite3.Connection, current: Mapping[str, str]) -> None:
    """Record what each broker name stands for now."""
    at = iso(utcnow())
    with transaction(conn):
        conn.executemany(
            "INSERT INTO broker_identities (name, fingerprint, recorded_at) VALUES (?, ?, ?) ON CONFLICT (name) "
            "DO UPDATE SET fingerprint = excluded.fingerprint, recorded_at = excluded.recorded_at",
            [(name, value, at) for name, value in current.items()],
        )
