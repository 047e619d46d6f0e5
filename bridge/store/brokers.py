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
    """The options without their credentials, which are compared apart, as a keyed hash (`_credentials`)."""
    return {key: _public(value) if isinstance(value, Mapping) else value
            for key, value in options.items() if not is_secret_key(str(key))}  # fmt: skip


def _secret(options: Mapping[str, Any]) -> dict[str, Any]:
    """The credentials among the options (nested ones under their section), and nothing else."""
    found: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):
            if inner := _secret(value):
                found[str(key)] = inner
        elif is_secret_key(str(key)):
            found[str(key)] = value
    return found


def fingerprint(config: BrokerConfig) -> str:
    """A broker's plugin and options (credentials aside) as a hash: tells another account from the same one."""
    text = json.dumps({"plugin": config.plugin, "options": _public(config.options)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _key(conn: sqlite3.Connection) -> bytes:
    """The journal's own random key (migration 12): credentials are compared as an HMAC under it, never stored."""
    return bytes(conn.execute("SELECT key FROM identity_key WHERE id = 1").fetchone()[0])


def _credentials(config: BrokerConfig, key: bytes) -> str:
    """The broker's credentials as an HMAC under the journal's key: another API key is likely another account.

    Keyed with a random key of this journal, the value matches no table of hashes made elsewhere, and a
    journal copied or leaked gives no more than a guess checked against it; the credentials themselves are
    never written. A key rotated for the same account reads as a change too: the bridge cannot tell the two.
    """
    text = json.dumps(_secret(config.options), sort_keys=True, default=str)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def changed_since(conn: sqlite3.Connection, brokers: Mapping[str, BrokerConfig]) -> set[str]:
    """The names whose plugin, options or credentials differ from what was recorded (a name never recorded has not
    changed; credentials recorded by a version before migration 12 are unknown, and not compared)."""
    key = _key(conn)
    rows = conn.execute("SELECT name, fingerprint, credentials FROM broker_identities")
    recorded = {row[0]: (row[1], row[2]) for row in rows}
    changed = set()
    for name, config in brokers.items():
        if name not in recorded:
            continue
        was, was_credentials = recorded[name]
        if not hmac.compare_digest(was, fingerprint(config)) or (
            was_credentials is not None and not hmac.compare_digest(was_credentials, _credentials(config, key))
        ):
            changed.add(name)
    return changed


def replaced_since(conn: sqlite3.Connection, brokers: Mapping[str, BrokerConfig]) -> set[str]:
    """The names now served by another plugin than recorded: another adapter, so another venue or account for sure
    (a plugin recorded by a version before migration 13 is unknown, and not compared)."""
    recorded = dict(conn.execute("SELECT name, plugin FROM broker_identities WHERE plugin IS NOT NULL").fetchall())
    return {name for name, config in brokers.items() if name in recorded and recorded[name] != config.plugin}


def record(conn: sqlite3.Connection, brokers: Mapping[str, BrokerConfig]) -> None:
    """Record what each broker name stands for now."""
    at = iso(utcnow())
    key = _key(conn)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO broker_identities (name, fingerprint, credentials, plugin, recorded_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "credentials = excluded.credentials, plugin = excluded.plugin, recorded_at = excluded.recorded_at",
            [(name, fingerprint(c), _credentials(c, key), c.plugin, at) for name, c in brokers.items()],
        )


def removed_note(name: str) -> str:
    """How the error of an order left to its venue by its broker's removal begins (`left_by_removal` finds it)."""
    return f"not followed: broker {name} was removed from the config"


def left_by_removal(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The orders left to their venue when their broker was removed (`removed_note`), with their strategy."""
    rows = conn.execute(
        "SELECT o.*, s.strategy FROM orders o JOIN signals s ON s.id = o.signal_id "
        "WHERE o.unfollowed AND o.status = 'unknown' ORDER BY o.created_at"
    ).fetchall()
    return [row for row in rows if (row["error"] or "").startswith(removed_note(row["broker"]))]


def follow_again(conn: sqlite3.Connection, client_order_id: str) -> None:
    """Follow an order left to its venue again (its broker is back at the same account)."""
    with transaction(conn):
        conn.execute("UPDATE orders SET unfollowed = 0, updated_at = ? WHERE client_order_id = ?",
                     (iso(utcnow()), client_order_id))  # fmt: skip


def unfollow(conn: sqlite3.Connection, client_order_id: str, error: str) -> None:
    """Leave an order to the account its broker name opened before: of unknown outcome, no longer followed."""
    with transaction(conn):
        conn.execute(
            "UPDATE orders SET status = 'unknown', unfollowed = 1, error = ?, updated_at = ? WHERE client_order_id = ?",
            (error, iso(utcnow()), client_order_id),
        )
