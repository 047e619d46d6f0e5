"""A venue that does not refuse a reused client order id: a crash mid-submission must still send only once.

Binance accepts a client order id again once its first order is no longer open, so a market order
re-sent after a restart would trade twice. The daemon must find the first order by its client order
id (the ccxt adapter recovers the symbol from the journal) and adopt it (reliability.md §5.4, D6).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("ccxt", reason="the ccxt extra is not installed: pip install 'trade-bridge[ccxt]'")

from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, free_port
from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from tests.fakes.server import LocalServer


@pytest.fixture
def venue() -> Iterator[tuple[FakeBinance, str]]:
    """A fake Binance for this test alone."""
    fake = FakeBinance()
    with LocalServer(fake.app) as server:
        yield fake, server.url


def config(directory: Path, port: int, url: str, sizing: str = "") -> Path:
    """A daemon trading BTCUSDT on the fake through the ccxt adapter (`sizing`: the subscription's, in YAML flow)."""
    path = directory / "config.yaml"
    path.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, admin_token: {ADMIN}}}\n"
        "brokers:\n  spot:\n    plugin: ccxt_exchange\n"
        f"    options: {{exchange: binance, api_key: {API_KEY}, secret: '${{BINANCE_SECRET}}', api_url: '{url}',"
        " max_requests_per_minute: 60000}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n"
        f"      - {{broker: spot, sides: long, fractional: true{sizing}}}\n"
    )
    return path


def test_a_crash_while_the_order_is_in_flight_never_sends_it_twice(
    tmp_path: Path, venue: tuple[FakeBinance, str]
) -> None:
    fake, url = venue
    assert not fake.orders
    port = free_port()
    path = config(tmp_path, port, url)
    env = {"BINANCE_SECRET": SECRET}
    fake.answer_delay = 30.0  # the order is placed at once; the answer never arrives before the crash
    daemon = Daemon(config=path, port=port, env=env).start()
    try:
        accepted = daemon.post({"ticker": "BTCUSDT", "action": "buy", "quantity": "0.01"})
        assert accepted.status_code == 200, accepted.text
        deadline = time.monotonic() + GUARD
        while not fake.order_requests:
            assert time.monotonic() < deadline, daemon.output()[-2000:]
            time.sleep(0.02)
        daemon.kill()  # SIGKILL while waiting for Binance's answer
        fake.answer_delay = 0.0

        restarted = Daemon(config=path, port=port, env=env).start()
        try:
            final = restarted.wait_final(accepted.json()["id"])
            (order,) = [o for o in restarted.api("orders") if o["signal_id"] == final["id"]]
            assert order["status"] == "filled", (order, restarted.output()[-2000:])
        finally:
            restarted.stop()
    finally:
        daemon.stop()
    assert len(fake.order_requests) == 1, "the order was sent again after the restart"
    assert fake.balances["BTC"][0] == Decimal("0.01")
    assert final["state"] == "executed", final["decision"]


def test_a_dollar_sized_buy_is_rounded_down_to_the_markets_step(tmp_path: Path, venue: tuple[FakeBinance, str]) -> None:
    """$100 of BTC at 43,210.50 is 0.0023142... BTC: the market takes steps of 0.00001, so 0.00231 goes out."""
    fake, url = venue
    fake.prices["BTCUSDT"] = Decimal("43210.5")
    port = free_port()
    path = config(tmp_path, port, url, ", sizing: {type: dollar_amount, value: 100}")
    daemon = Daemon(config=path, port=port, env={"BINANCE_SECRET": SECRET}).start()
    try:
        accepted = daemon.post({"ticker": "BTCUSDT", "action": "buy", "price": "43210.5"})  # sized by the config
        assert accepted.status_code == 200, accepted.text
        final = daemon.wait_final(accepted.json()["id"])
        (order,) = [o for o in daemon.api("orders") if o["signal_id"] == final["id"]]
    finally:
        daemon.stop()
    assert final["state"] == "executed", final["decision"]  # not refused as "does not fit BTC/USDT's step"
    assert Decimal(str(order["quantity"])) == Decimal("0.00231") and order["status"] == "filled", order
    assert fake.balances["BTC"][0] == Decimal("0.00231")
