"""While start-up recovery keeps trading halted for orders of unknown outcome, it says at which broker (by the
name the config gives it) and why it cannot settle them there, in the log and in /health: "1 order(s) of unknown
outcome" alone left the operator to search every account."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from bridge.config.load import load_config
from bridge.execution.executor import client_order_id
from bridge.service import Bridge
from bridge.store import journal
from bridge.store.db import Store
from bridge.web.app import build_app
from tests.conftest import TOKEN, eventually
from tests.execution.test_recovery_bad_row import seed

DOWN = '''
from bridge.brokers.paper import PaperBroker


class DownVenue(PaperBroker):
    """A venue that cannot be reached at the start."""

    async def connect(self):
        raise ConnectionError("venue unreachable")
'''


def seed_unknown_at(store: Store, broker: str) -> str:
    """A plan whose order went to `broker` just before the stop, its answer lost."""
    signal_id = seed(store, "AMD", json.dumps({"ticker": "AMD", "action": "buy", "price": 50}), broker)
    coid = client_order_id(signal_id, broker, "entry")
    row = {"id": coid, "signal_id": signal_id, "broker": broker, "subscription": broker, "leg": "entry", "seq": 0,
           "client_order_id": coid, "symbol": "AMD", "side": "buy", "type": "market", "quantity": "1",
           "limit_price": None, "stop_price": None, "time_in_force": "day", "reference_price": "50"}  # fmt: skip
    journal.start_execution(store.conn, signal_id, broker)
    journal.save_plan(store.conn, signal_id, broker, "buy while flat: planned before the crash", [row])
    journal.update_order(store.conn, coid, status="unknown", error="timeout")
    return coid


async def test_recovery_names_the_broker_it_waits_for(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "downvenue.py").write_text(DOWN)
    config = tmp_path / "config.yaml"
    config.write_text("database: bridge.db\nplugin_dirs: ['.']\n"
                      "brokers:\n  paper:\n    plugin: paper\n  alpaca-live:\n    plugin: downvenue\n"
                      f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: alpaca-live\n"
                      "        name: alpaca-live\n")  # fmt: skip
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    seed_unknown_at(store, "alpaca-live")
    store.close_sync()

    caplog.set_level(logging.WARNING, logger="bridge")
    bridge = Bridge(load_config(config), scheduling=False, watching=False)
    await bridge.start()
    try:
        # Recovery runs as a task: until it has looked once (it then waits to retry).
        await eventually(lambda: any("trading halted" in r.getMessage() for r in caplog.records), "recovery halted")
        transport = httpx.ASGITransport(app=build_app(bridge.loaded, bridge=bridge))  # the bridge is started above
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            health = (await client.get("/health")).json()
    finally:
        await bridge.stop()
    [halted] = [r.getMessage() for r in caplog.records if "trading halted" in r.getMessage()]
    assert "broker alpaca-live" in halted and "not connected" in halted, halted
    assert health["halted"] is True and health["recovering"] is True
    assert "broker alpaca-live" in health["recovery_halt"], health
