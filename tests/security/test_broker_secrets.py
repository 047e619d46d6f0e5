"""A broker's error may quote its own request, key included: the key must not reach /health or the journal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from bridge.store.db import Store
from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, free_port
from tests.test_secrets import journal_bytes

API_KEY = "broker-api-key-" + "5e5e5e5e5e5e5e5e"
KEYED = '''
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bridge.brokers.paper import PaperBroker
from bridge.errors import OrderRejected


class KeyedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: str


class KeyedBroker(PaperBroker):
    """A venue that takes its key in the query string; its HTTP errors quote the URL, as httpx's do."""

    options_model: ClassVar[type[BaseModel]] = KeyedOptions

    def __init__(self, options, context):
        self.api_key = options.api_key
        super().__init__({}, context)
'''
UNAUTHORIZED = """

class RefusingBroker(KeyedBroker):
    async def connect(self):
        raise RuntimeError(f"Client error '401 Unauthorized' for url 'https://broker.example/v1/account?apikey={self.api_key}'")
"""

REJECTING = """

class RejectingBroker(KeyedBroker):
    async def create_order(self, request):
        raise OrderRejected(f"400 for url 'https://broker.example/v1/orders?apikey={self.api_key}'")
"""


@pytest.fixture
def keyed_daemon(tmp_path: Path) -> Iterator[Callable[[str, str], Daemon]]:
    """Factory: a started daemon whose only broker is `plugin` (code appended to KEYED), class `cls`, key `key`."""
    started: list[Daemon] = []

    def factory(plugin: str, cls: str, key: str = API_KEY) -> Daemon:
        (tmp_path / "keyed.py").write_text(KEYED + plugin)
        port = free_port()
        config = tmp_path / "config.yaml"
        config.write_text(
            f"server:\n  host: 127.0.0.1\n  port: {port}\n  admin_token: {ADMIN}\n"
            "database: bridge.db\n"
            f"brokers:\n  live:\n    plugin: keyed:{cls}\n    options: {{api_key: '{key}'}}\n"
            f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: live\n"
        )
        started.append(Daemon(config=config, port=port))
        return started[-1].start()

    yield factory
    for daemon in started:
        daemon.stop()


def test_health_does_not_show_a_broker_secret_quoted_by_its_connect_error(
    keyed_daemon: Callable[[str, str], Daemon],
) -> None:
    daemon = keyed_daemon(UNAUTHORIZED, "RefusingBroker")
    health = httpx.get(f"{daemon.base}/health", timeout=GUARD)
    assert health.json()["brokers"]["live"]["status"] == "error", health.text
    assert "401 Unauthorized" in health.json()["brokers"]["live"]["detail"], "the failure must be shown"
    assert API_KEY not in health.text, f"/health (no auth) shows the broker key: {health.json()['brokers']}"
    assert API_KEY not in daemon.output(), "the log is redacted too"


ENCODING = """

from urllib.parse import urlencode


class EncodingBroker(KeyedBroker):
    # httpx builds a query from params= with urlencode, and its errors quote that URL: `+/=` as %2B%2F%3D.
    async def connect(self):
        raise RuntimeError(f"Client error '401 Unauthorized' for url 'https://broker.example/v1/account?"
                           f"{urlencode({'apikey': self.api_key})}'")

    async def create_order(self, request):
        raise OrderRejected(f"400 for url 'https://broker.example/v1/orders?{urlencode({'apikey': self.api_key})}'")
"""
BASE64_KEY = "c2VjcmV0+a2V5/Zm9y" + "IGEgdmVudWU="


def test_a_broker_secret_percent_encoded_in_its_error_is_masked(keyed_daemon: Callable[..., Daemon]) -> None:
    # A key quoted as its request's URL has it percent-encoded (base64's `+/=`): masked only as written, it was
    # shown by /health (no auth) and journaled with the order's error, readable.
    daemon = keyed_daemon(ENCODING.replace("async def connect", "async def _connect"), "EncodingBroker", BASE64_KEY)
    answer = daemon.post({"ticker": "AMD", "action": "buy", "price": 10})
    assert answer.status_code == 200, answer.text
    final = daemon.wait_final(answer.json()["id"])
    assert final["state"] == "failed" and "400 for url" in final["decision"], final
    shown = "".join(httpx.get(f"{daemon.base}/api/{what}", headers={"Authorization": f"Bearer {ADMIN}"}).text
                    for what in ("orders", "signals"))  # fmt: skip
    encoded = urlencode({"k": BASE64_KEY})[2:]
    assert "%2B" in encoded and "400 for url" in shown and encoded not in shown, shown
    daemon.stop()
    assert not [name for name, blob in journal_bytes(daemon.db).items() if encoded.encode() in blob]
    assert encoded not in daemon.output()
    refusing = keyed_daemon(ENCODING, "EncodingBroker", BASE64_KEY)
    health = httpx.get(f"{refusing.base}/health", timeout=GUARD).json()["brokers"]["live"]
    assert health["status"] == "error" and "401 Unauthorized" in health["detail"], health
    assert encoded not in health["detail"], f"/health (no auth) shows the broker key: {health}"


def test_a_broker_error_quoting_its_secret_is_not_journaled_in_clear(
    keyed_daemon: Callable[[str, str], Daemon],
) -> None:
    daemon = keyed_daemon(REJECTING, "RejectingBroker")
    answer = daemon.post({"ticker": "AMD", "action": "buy", "price": 10})
    assert answer.status_code == 200, answer.text
    final = daemon.wait_final(answer.json()["id"])
    assert final["state"] == "failed" and "400 for url" in final["decision"], final
    shown = "".join(httpx.get(f"{daemon.base}/api/{what}", headers={"Authorization": f"Bearer {ADMIN}"}).text
                    for what in ("orders", "signals"))  # fmt: skip
    assert "400 for url" in shown and API_KEY not in shown, "the admin API shows the key in an order error / decision"
    daemon.stop()
    leaked = [name for name, blob in journal_bytes(daemon.db).items() if API_KEY.encode() in blob]
    assert not leaked, f"the broker key is stored in clear in {leaked}"
    assert API_KEY not in daemon.output(), "the log is redacted too"


def test_health_does_not_show_the_password_of_a_broker_url(tmp_path: Path) -> None:
    # A proxy's credentials in its URL (https://user:password@proxy) are a secret though the option is `base_url`.
    password = "proxy-pass-" + "7a7a7a7a7a7a"
    port, closed = free_port(), free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"server:\n  host: 127.0.0.1\n  port: {port}\n  admin_token: {ADMIN}\n"
        "database: bridge.db\n"
        "brokers:\n  live:\n    plugin: alpaca\n    options:\n"
        "      key_id: PKTESTKEYID\n      secret_key: testsecret123\n"
        f"      base_url: http://proxyuser:{password}@127.0.0.1:{closed}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: live\n"
    )
    daemon = Daemon(config=config, port=port).start()
    try:
        health = httpx.get(f"{daemon.base}/health", timeout=GUARD)
        assert health.json()["brokers"]["live"]["status"] == "error", health.text
        assert password not in health.text, f"/health (no auth) shows the proxy password: {health.json()['brokers']}"
        assert password not in daemon.output(), "the log is redacted too"
    finally:
        daemon.stop()


ANSWERING = """

from dataclasses import replace
from decimal import Decimal


class AnsweringBroker(KeyedBroker):
    async def create_order(self, request):
        order = await super().create_order(request)
        return replace(order, status="rejected", filled_quantity=Decimal(0), avg_fill_price=None,
                       error=f"400 for url 'https://broker.example/v1/orders?apikey={self.api_key}'")
"""


def test_an_order_answer_quoting_the_broker_secret_is_not_journaled_in_clear(
    keyed_daemon: Callable[[str, str], Daemon],
) -> None:
    # Not an exception this time: the adapter answers with a rejected order whose error quotes its request.
    daemon = keyed_daemon(ANSWERING, "AnsweringBroker")
    answer = daemon.post({"ticker": "AMD", "action": "buy", "price": 10})
    assert answer.status_code == 200, answer.text
    final = daemon.wait_final(answer.json()["id"])
    assert final["state"] == "failed" and "400 for url" in final["decision"], final
    orders = httpx.get(f"{daemon.base}/api/orders", headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert "400 for url" in orders and API_KEY not in orders, f"/api/orders shows the broker key: {orders}"
    daemon.stop()
    leaked = [name for name, blob in journal_bytes(daemon.db).items() if API_KEY.encode() in blob]
    assert not leaked, f"the broker key is stored in clear in {leaked}"


CLOSING = """

import logging


class ChattyBroker(KeyedBroker):
    async def fetch_positions(self):
        # What an HTTP library retrying a request logs (urllib3 does, at WARNING): the URL, key and all.
        logging.getLogger("urllib3.connectionpool").warning(
            "Retrying after connection broken: /v1/positions?apikey=%s", self.api_key)
        return await super().fetch_positions()

    async def close(self):
        raise RuntimeError(f"Server error '502 Bad Gateway' for url 'https://broker.example/v1/logout?apikey={self.api_key}'")
"""


def test_bridge_positions_masks_a_broker_secret_in_what_is_logged(tmp_path: Path) -> None:
    # `bridge positions` connects the brokers outside the daemon: a record their code (or ours, on a failed close)
    # logs went to stderr as it was, where the daemon's log masks every configured secret.
    (tmp_path / "keyed.py").write_text(KEYED + CLOSING)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"server:\n  host: 127.0.0.1\n  port: {free_port()}\n  admin_token: {ADMIN}\n"
        "database: bridge.db\n"
        f"brokers:\n  live:\n    plugin: keyed:ChattyBroker\n    options: {{api_key: {API_KEY}}}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: live\n"
    )
    store = Store(tmp_path / "bridge.db")
    store.open_sync()  # the journal a daemon made: the listing never creates one
    store.close_sync()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "bridge", "positions", "--config", str(config)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False)  # fmt: skip
    assert "no open positions" in done.stdout, done
    assert "Retrying after connection broken" in done.stderr and "502 Bad Gateway" in done.stderr, done.stderr
    assert API_KEY not in done.stderr, f"bridge positions printed the broker key: {done.stderr}"
