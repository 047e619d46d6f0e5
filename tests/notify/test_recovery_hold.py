"""Start-up recovery that holds trading for orders of unknown outcome is told as a halt, and its end as a resume:
after a restart nobody watched (systemd's, after a crash) no order went out, and nobody had run `bridge halt`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bridge import service
from bridge.config.load import load_config
from bridge.metrics import Metrics
from bridge.notify.hub import Operations
from bridge.service import Bridge
from bridge.store.db import Store
from tests.conftest import GUARD, TOKEN, eventually
from tests.execution.test_recovery_halt_names_broker import seed_unknown_at
from tests.notify.receiver import Receiver

FLAKY = '''
from decimal import Decimal
from pathlib import Path

from bridge.brokers.paper import PaperBroker
from bridge.models import Order


class FlakyVenue(PaperBroker):
    """A venue that cannot answer order lookups until the file UP exists, then says the order filled."""

    async def fetch_order(self, client_order_id):
        if not Path(UP).exists():
            raise ConnectionError("venue unreachable")
        one = Decimal(1)
        return Order(client_order_id, "AMD", "buy", one, "market", "filled", filled_quantity=one,
                     avg_fill_price=Decimal(50))
'''


async def test_recovery_holding_trading_is_told_as_a_halt_then_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "RECOVERY_RETRY_SECONDS", 0.05)
    up = tmp_path / "venue-up"
    (tmp_path / "flakyvenue.py").write_text(FLAKY.replace("UP", repr(str(up))))
    store = Store(tmp_path / "bridge.db")
    store.open_sync()
    seed_unknown_at(store, "alpaca-live")
    store.close_sync()
    with Receiver() as receiver:
        config = tmp_path / "config.yaml"
        config.write_text("database: bridge.db\nplugin_dirs: ['.']\n"
                          "brokers:\n  alpaca-live:\n    plugin: flakyvenue\n"
                          f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: alpaca-live\n"
                          f"notifications:\n  backoff: 0.05\n  targets:\n    - type: webhook\n"
                          f"      url: {receiver.base}/hook\n")  # fmt: skip
        bridge = Bridge(load_config(config), scheduling=False, watching=False)
        await bridge.start()
        operations = Operations(bridge, Metrics(bridge))
        await operations.start()
        try:
            await eventually(lambda: bridge.recovery_halt is not None, "recovery halted trading")
            await asyncio.sleep(0.3)  # a few retries, each still failing: told once, not at each
            up.touch()
            await asyncio.wait_for(bridge.ready(), GUARD)
            await operations.notifier.drain(GUARD)
        finally:
            await operations.stop()
            await bridge.stop()
    told = [json.loads(raw.body) for raw in receiver.received]
    kinds = [body["kind"] for body in told if body["kind"] in ("halt", "resume")]
    assert kinds == ["halt", "resume"], told
    halt = next(body for body in told if body["kind"] == "halt")
    assert "start-up recovery" in halt["text"] and "broker alpaca-live" in halt["text"], halt
    assert any(body["kind"] == "order.filled" for body in told), told  # what recovery found is told too
