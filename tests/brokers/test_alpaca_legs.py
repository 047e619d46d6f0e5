"""A bracket's legs at Alpaca cancel together: canceling one leg alone must not leave the other gone unnoticed.

Alpaca cancels a bracket's take-profit with its stop-loss and the reverse (the fake does too, see its docstring),
and a stop a breakeven moved in place stays in its bracket. A signal that cancels one of them must leave the
journal as Alpaca has it, and the position with what the trader did not ask to cancel.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.test_alpaca_e2e import BRACKET, _working_exits, send
from tests.conftest import ADMIN, TOKEN, Daemon, free_port
from tests.fakes.alpaca import KEY_ID, SECRET_KEY, FakeAlpaca
from tests.fakes.server import LocalServer

BREAKEVEN = {"ticker": "SQ", "action": "breakeven", "price": 110}


@pytest.fixture
def flat(tmp_path: Path) -> Iterator[tuple[Daemon, FakeAlpaca]]:
    """A daemon on Alpaca whose order jobs poll once an hour: what the journal holds is what the signal wrote."""
    fake = FakeAlpaca()
    with LocalServer(fake.app) as server:
        port = free_port()
        config = tmp_path / "config.yaml"
        config.write_text(
            f"server: {{host: 127.0.0.1, port: {port}, admin_token: {ADMIN}}}\npoll_interval: 3600\n"
            "brokers:\n  alpaca:\n    plugin: alpaca\n"
            f"    options: {{key_id: {KEY_ID}, secret_key: '${{ALPACA_SECRET}}', base_url: '{server.url}',"
            " max_requests_per_minute: 6000}\n"
            f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: alpaca\n"
        )
        daemon = Daemon(config=config, port=port, env={"ALPACA_SECRET": SECRET_KEY}).start()
        try:
            yield daemon, fake
        finally:
            daemon.stop()


def _journal(daemon: Daemon) -> dict[str, str]:
    """The status the journal holds of each working order's client order id."""
    return {o["client_order_id"]: o["status"] for o in daemon.api("orders", limit=1000)}


def _at_alpaca(fake: FakeAlpaca) -> dict[str, str]:
    """Alpaca's status of each order the journal can name (legs by their parent's id and kind aside)."""
    return {o["client_order_id"]: o["status"] for o in fake.orders}


def _legs(daemon: Daemon, signal_id: str) -> dict[str, dict[str, Any]]:
    return {o["leg"]: o for o in daemon.api("orders", limit=1000) if o["signal_id"] == signal_id}


def _entered(daemon: Daemon, fake: FakeAlpaca) -> dict[str, Any]:
    fake.set_price("SQ", Decimal(100))
    entry = send(daemon, BRACKET)
    assert entry["state"] == "executed", entry["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "95", None)]
    return entry


def test_a_stop_moved_in_place_still_goes_with_its_take_profit_at_alpaca(flat: tuple[Daemon, FakeAlpaca]) -> None:
    """Alpaca's replacement of a stop-loss stays in its bracket: a second breakeven with `cancel: true` (which
    cancels the take-profit) must not replace a stop that went with it, and a cancel of the take-profit keeps one."""
    daemon, fake = flat
    _entered(daemon, fake)
    fake.set_price("SQ", Decimal(110))
    moved = send(daemon, BREAKEVEN)
    assert moved["state"] == "executed", moved["decision"]
    assert _working_exits(fake) == [("limit", None, "120"), ("stop", "100", None)]
    final = send(daemon, {**BREAKEVEN, "breakevenOffset": 2, "cancel": True})
    assert final["state"] == "executed", final["decision"]
    assert _working_exits(fake) == [("stop", "102", None)], final["decision"]
