"""Small journal writes and counts the store tests share: rows of `paper_accounts`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bridge.store.db import Store, transaction


def insert_account(store: Store, broker: str) -> str:
    """Write one account row in a transaction of its own; return its name."""
    with transaction(store.conn):
        store.conn.execute("INSERT INTO paper_accounts (broker, cash) VALUES (?, '1')", (broker,))
    return broker


def count_accounts(path: Path) -> int:
    """Committed account rows, as another connection sees them."""
    other = sqlite3.connect(path)
    try:
        return int(other.execute("SELECT COUNT(*) FROM paper_accounts").fetchone()[0])
    finally:
        other.close()
