"""`bridge signals --follow` misses no row: neither a burst larger than `--limit` between two looks, nor a row
committed after newer ones (the intake process and the daemon both write), nor a change to a row no longer
among the newest. Each look's pause is where the test writes: no clock is waited on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge import follow
from bridge.cli import parser
from bridge.config.load import load_config
from bridge.store import journal
from bridge.store.db import Store, iso, utcnow
from tests.conftest import write_config

NOW = utcnow()


def _signal(store: Store, ticker: str, seconds: float = 0.0) -> str:
    """Journal an accepted signal received `seconds` after NOW, as the webhook does; its id."""
    received = iso(NOW + timedelta(seconds=seconds))
    signal_id, webhook_id = str(uuid.uuid4()), str(uuid.uuid4())
    webhook = journal.WebhookRow(id=webhook_id, received_at=received, strategy="sq", remote_addr=None,
                                 method="POST", path="/webhook/sq/***", headers={}, body="{}", status_code=200,
                                 signal_id=signal_id)  # fmt: skip
    row = {"id": signal_id, "webhook_id": webhook_id, "strategy": "sq", "ticker": ticker, "action": "buy",
           "sentiment": None, "price": None, "quantity": None, "signal_time": None, "payload": "{}", "extras": "{}",
           "received_at": received}  # fmt: skip
    journal.record_signal(store.conn, webhook, row, [("paper", "paper")])
    return signal_id


def _finish(store: Store, signal_id: str) -> None:
    journal.finish_execution(store.conn, signal_id, "paper", "executed", "buy while flat: opened long 1")


@pytest.fixture
def journaled(tmp_path: Path) -> Iterator[tuple[Path, Store]]:
    config = write_config(tmp_path)
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    yield config, store
    store.close_sync()


def _follow(config: Path, limit: int, steps: list[Callable[[], object]], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str], what: str = "signals") -> list[dict[str, object]]:  # fmt: skip
    """Follow with `--json`, running one step in each pause between two looks; the rows printed."""
    pending = list(steps)

    def pause(_seconds: float) -> None:
        if not pending:
            raise KeyboardInterrupt  # Ctrl-C: the follow ends
        pending.pop(0)()

    monkeypatch.setattr(follow.time, "sleep", pause)
    assert follow.follow(load_config(config), what, limit, as_json=True) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_a_burst_larger_than_the_limit_is_printed_whole(
    journaled: tuple[Path, Store], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, store = journaled
    ids: list[str] = []
    printed = _follow(config, 2, [lambda: ids.extend(_signal(store, t, i) for i, t in enumerate("ABCDE"))],
                      monkeypatch, capsys)  # fmt: skip
    assert [r["id"] for r in printed] == ids


def test_a_row_committed_after_newer_ones_is_printed(
    journaled: tuple[Path, Store], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, store = journaled
    newer = _signal(store, "NEW", 5)
    older = []  # received before `newer`, committed after it was printed (the other writer's row)
    printed = _follow(config, 1, [lambda: older.append(_signal(store, "OLD", 1))], monkeypatch, capsys)
    assert [r["id"] for r in printed] == [newer, *older]


def test_a_change_to_a_row_no_longer_among_the_newest_is_printed(
    journaled: tuple[Path, Store], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, store = journaled
    first = _signal(store, "A")
    later: list[str] = []

    def newer_then_decided() -> None:
        later.append(_signal(store, "B", 1))
        _finish(store, first)

    printed = _follow(config, 1, [newer_then_decided], monkeypatch, capsys)
    told = [(r["id"], r["state"]) for r in printed]
    assert told[0] == (first, "received")  # then both, from one look: which happened first it cannot tell
    assert sorted(told[1:]) == sorted([(later[0], "received"), (first, "executed")])


def test_follow_lists_the_columns_the_signals_list_does(
    journaled: tuple[Path, Store], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A signal's token fingerprint is the daemon's own check: `--follow --json` leaves it out, as the list does."""
    config, store = journaled
    signal_id = _signal(store, "A")
    store.conn.execute("UPDATE signals SET token_fingerprint = 'f1ng3rpr1nt' WHERE id = ?", (signal_id,))
    later: list[str] = []
    printed = _follow(config, 5, [lambda: later.append(_signal(store, "B", 1))], monkeypatch, capsys)
    assert [r["id"] for r in printed] == [signal_id, *later]
    assert all("token_fingerprint" not in row for row in printed), printed


def _order(store: Store, signal_id: str, status: str = "open") -> None:
    """The entry order of a signal, as the executor journals it once the broker answered."""
    store.conn.execute(
        "INSERT INTO orders (id, signal_id, broker, subscription, leg, seq, client_order_id, symbol, side, type,"
        " quantity, time_in_force, status, filled_quantity, created_at, updated_at) VALUES (?, ?, 'paper', 'paper',"
        " 'entry', 0, ?, 'AMD', 'buy', 'limit', '5', 'gtc', ?, '0', ?, ?)",
        (f"o-{signal_id}", signal_id, f"c-{signal_id}", status, iso(NOW), iso(NOW)),
    )


def test_bridge_orders_follow_prints_a_working_order_again_when_it_fills(
    journaled: tuple[Path, Store], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, store = journaled
    signal_id = _signal(store, "AMD")
    _order(store, signal_id)

    def filled() -> None:
        store.conn.execute("UPDATE orders SET status = 'filled', filled_quantity = '5', avg_fill_price = '10'")

    printed = _follow(config, 50, [filled], monkeypatch, capsys, what="orders")
    assert [(r["status"], r["filled_quantity"]) for r in printed] == [("open", 0), ("filled", 5)]


def test_orders_take_follow_as_signals_do() -> None:
    assert parser().parse_args(["orders", "--follow"]).follow is True
    assert parser().parse_args(["signals", "-f"]).follow is True
