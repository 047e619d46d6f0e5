"""The signal's and the order's INSERTs bind their values by position: each one lands in the column it is named for."""

from __future__ import annotations

from pathlib import Path

from bridge.store import journal
from bridge.store.db import Store, transaction

# Every column its own value (its name), so one bound a place off lands in a column that says so.
ORDER = {name: f"{name}-value" for name in (
    "id", "signal_id", "broker", "subscription", "leg", "client_order_id", "symbol", "side", "type", "quantity",
    "limit_price", "stop_price", "time_in_force", "reference_price", "trail_amount", "trail_percent",
    "parent_client_order_id", "cancel_after", "replaces", "moves", "closed_position_at",
    "resting_at_read",
)} | {"seq": 7, "extended_hours": 1}  # fmt: skip
ANSWER = {name: f"{name}-value" for name in (
    "status", "broker_order_id", "filled_quantity", "avg_fill_price", "error", "updated_at", "sent_at",
)}  # fmt: skip
SIGNAL = {name: f"{name}-value" for name in (
    "id", "webhook_id", "strategy", "ticker", "action", "sentiment", "price", "quantity", "signal_time", "payload",
    "extras", "received_at", "execute_at", "cancel_after", "token_fingerprint",
)}  # fmt: skip


def _journal(tmp_path: Path) -> Store:
    store = Store(tmp_path / "j.db")
    store.open_sync()
    webhook = journal.WebhookRow(id="webhook_id-value", received_at="r", strategy="s", remote_addr=None, method="POST",
                                 path="/", headers={}, body=None, status_code=200)  # fmt: skip
    journal.record_signal(store.conn, webhook, dict(SIGNAL), [("sub", "paper")])
    return store


def test_a_signal_s_values_land_in_their_columns(tmp_path: Path) -> None:
    store = _journal(tmp_path)
    row = dict(store.conn.execute("SELECT * FROM signals").fetchone())
    expected = SIGNAL | {"state": "received", "decision": "waiting until execute_at-value (delay)",
                         "updated_at": "received_at-value"}  # fmt: skip
    assert row == expected
    store.close_sync()


def test_an_order_s_values_land_in_their_columns(tmp_path: Path) -> None:
    store = _journal(tmp_path)
    with transaction(store.conn):
        journal._insert_order(store.conn, dict(ORDER, signal_id="id-value"), dict(ANSWER), "now-value")
        pending = dict(ORDER, id="second", client_order_id="second-coid", signal_id="id-value")
        journal._insert_order(store.conn, pending, dict(ANSWER, updated_at=None), "now-value")
    first, second = (dict(r) for r in store.conn.execute("SELECT * FROM orders ORDER BY rowid"))
    common = {"signal_id": "id-value", "created_at": "now-value", "cancel_after_recorded": 1, "unfollowed": 0,
              "closed_by": None}  # fmt: skip
    assert first == ORDER | ANSWER | common
    assert second == pending | ANSWER | common | {"updated_at": "now-value"}  # no answer's time: the row's own
    store.close_sync()
