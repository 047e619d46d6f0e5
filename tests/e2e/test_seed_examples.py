"""Every example of the seed (TradersPost's webhook page), sent as a user would: with curl, and with its PHP script.

Moving from TradersPost must be a host change (design §1), so both URL forms must answer the seed's
examples with TradersPost's response shape, and move the paper position the way the seed says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DaemonFactory, E2EDaemon

URL_FORMS = ["/webhook", "/trading/webhook"]
ACCEPTED_KEYS = {"success", "id", "logId", "payload"}
OPEN_STATUSES = ("pending", "submitted", "open", "partially_filled")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
SYMFONY_HTTP_CLIENT = Path("/usr/share/php/Symfony/Component/HttpClient")
RESTING_ORDER: dict[str, Any] = {"ticker": "SQ", "action": "buy", "orderType": "limit", "limitPrice": 1, "price": 100}
BUY: dict[str, Any] = {"ticker": "SQ", "action": "buy"}
SELL: dict[str, Any] = {"ticker": "SQ", "action": "sell"}


def check_canceled(daemon: E2EDaemon, final: dict[str, Any]) -> None:
    assert final["decision"] == "cancel while flat: canceled 1 open order"
    newest_limit = next(o for o in daemon.orders_for("SQ") if o["type"] == "limit")
    assert newest_limit["status"] == "canceled"


def check_signal_price(daemon: E2EDaemon, final: dict[str, Any]) -> None:
    (order,) = daemon.orders_of(final["id"])
    assert (order["side"], order["quantity"], order["status"], order["avg_fill_price"]) == ("buy", 1, "filled", 60.3)
    (position,) = [p for p in daemon.api("positions") if p["symbol"] == "SQ"]
    assert position["avg_price"] == 60.3


@dataclass(frozen=True)
class Example:
    """One seed example: its JSON text verbatim, what must be true before, and the position after."""

    name: str
    text: str
    position: float
    setup: list[dict[str, Any]] = field(default_factory=list)
    check: Callable[[E2EDaemon, dict[str, Any]], None] | None = None


def seed_json(*lines: str) -> str:
    """The example's JSON exactly as the seed formats it (4-space indent, one field a line)."""
    return "{\n" + ",\n".join(f"    {line}" for line in lines) + "\n}"


EXAMPLES: list[Example] = [
    Example("enter-bullish", seed_json('"ticker": "SQ"', '"action": "buy"'), 1),
    Example("exit-bullish", seed_json('"ticker": "SQ"', '"action": "exit"'), 0, [BUY]),
    Example("exit-bullish-sentiment", seed_json('"ticker": "SQ"', '"action": "sell"', '"sentiment": "flat"'), 0, [BUY]),
    Example("enter-bearish", seed_json('"ticker": "SQ"', '"action": "sell"'), -1),
    Example("exit-bearish", seed_json('"ticker": "SQ"', '"action": "exit"'), 0, [SELL]),
    Example("exit-bearish-sentiment", seed_json('"ticker": "SQ"', '"action": "buy"', '"sentiment": "flat"'), 0, [SELL]),
    Example("cancel", seed_json('"ticker": "SQ"', '"action": "cancel"'), 0, [RESTING_ORDER], check_canceled),
    Example("add", seed_json('"ticker": "SQ"', '"action": "add"'), 2, [BUY]),
    Example("signal-quantity", seed_json('"ticker": "SQ"', '"action": "buy"', '"quantity": 5'), 5),
    Example(
        "signal-price", seed_json('"ticker": "SQ"', '"action": "buy"', '"price": 60.30'), 1, [], check_signal_price
    ),
]


def no_proxy_env() -> dict[str, str]:
    """The environment without proxy settings: the daemon is on loopback."""
    return {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}


def curl_post(url: str, body: str, content_type: str | None) -> tuple[int, str]:
    """POST `body` with the real curl binary; returns (status, response body)."""
    # curl -d would add its own form content type; "Content-Type:" with no value removes the header.
    header = f"Content-Type: {content_type}" if content_type else "Content-Type:"
    done = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "-X", "POST", "-H", header, "--data-binary", "@-",
         "-w", "\n%{http_code}", url],
        input=body.encode(), capture_output=True, check=True, timeout=15, env=no_proxy_env(),
    )  # fmt: skip
    text, _, status = done.stdout.decode().rpartition("\n")
    return int(status), text


@pytest.fixture(scope="module")
def daemon(module_daemons: DaemonFactory) -> E2EDaemon:
    if shutil.which("curl") is None:
        pytest.skip("the curl binary is not installed")
    return module_daemons()


@pytest.fixture
def flat_sq(daemon: E2EDaemon) -> Iterator[E2EDaemon]:
    """Every example is written for ticker SQ: start each test flat with no open orders."""
    if any(o["status"] in OPEN_STATUSES for o in daemon.orders_for("SQ")):
        assert daemon.send({"ticker": "SQ", "action": "cancel"})["state"] == "executed"
    if daemon.position("SQ") != 0:
        assert daemon.send({"ticker": "SQ", "action": "exit"})["state"] == "executed"
    assert daemon.position("SQ") == 0
    assert not any(o["status"] in OPEN_STATUSES for o in daemon.orders_for("SQ"))
    yield daemon


def journaled(daemon: E2EDaemon, log_id: str) -> dict[str, Any]:
    """The `webhooks` row of one request."""
    (row,) = [w for w in daemon.api("webhooks", limit=1000) if w["id"] == log_id]
    return dict(row)


def assert_accepted(daemon: E2EDaemon, status: int, text: str, expected_payload: dict[str, Any]) -> dict[str, Any]:
    """TradersPost's 200 body, exactly; returns the signal's final state."""
    assert status == 200, text
    body = json.loads(text)
    assert set(body) == ACCEPTED_KEYS
    assert body["success"] is True
    assert body["payload"] == expected_payload
    final = daemon.wait_final(body["id"])
    assert final["state"] == "executed", final["decision"]
    row = journaled(daemon, body["logId"])
    assert (row["status_code"], row["signal_id"], row["strategy"]) == (200, body["id"], "sq")
    return final


@pytest.mark.parametrize("prefix", URL_FORMS)
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_seed_example_with_curl(flat_sq: E2EDaemon, example: Example, prefix: str) -> None:
    daemon = flat_sq
    for setup in example.setup:
        assert daemon.send(setup)["state"] == "executed"

    status, text = curl_post(daemon.url_for(prefix=prefix), example.text, "application/json")

    final = assert_accepted(daemon, status, text, json.loads(example.text))
    assert daemon.position("SQ") == example.position
    if example.check is not None:
        example.check(daemon, final)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/plain; charset=utf-8", None])
def test_any_content_type_is_read_as_json(flat_sq: E2EDaemon, content_type: str | None) -> None:
    """TradingView sends text/plain; hand-written scripts often send no content type at all."""
    daemon = flat_sq
    example = EXAMPLES[0]

    status, text = curl_post(daemon.url_for(prefix="/trading/webhook"), example.text, content_type)

    assert_accepted(daemon, status, text, {"ticker": "SQ", "action": "buy"})
    assert daemon.position("SQ") == 1
    headers = json.loads(journaled(daemon, json.loads(text)["logId"])["headers"])
    assert headers.get("content-type") == content_type  # proves curl sent what the case claims


PHP_SCRIPT = """<?php
// traderspost-test.php

require '{autoload}';

use Symfony\\Component\\HttpClient\\HttpClient;

$webhookUrl = '{url}';

$client = HttpClient::create();

$response = $client->request('POST', $webhookUrl, [
    'json' => [
        'ticker' => 'AMD',
        'action' => 'buy',
        'price' => 85.50,
    ]
]);

echo $response->getContent();
"""


def symfony_autoload() -> Path | None:
    """Debian's php-symfony-http-client ships an autoload.php per component (it pulls in the contracts)."""
    autoload = SYMFONY_HTTP_CLIENT / "autoload.php"
    return autoload if shutil.which("php") and autoload.is_file() else None


def test_seed_php_example(daemon: E2EDaemon, tmp_path: Path) -> None:
    autoload = symfony_autoload()
    if autoload is None:
        pytest.skip("needs php and Debian's php-symfony-http-client (apt-get install php-cli php-symfony-http-client)")
    assert daemon.position("AMD") == 0
    script = tmp_path / "traderspost-test.php"
    script.write_text(PHP_SCRIPT.format(autoload=autoload, url=daemon.url_for(prefix="/trading/webhook")))

    done = subprocess.run(["php", str(script)], capture_output=True, timeout=30, env=no_proxy_env(), cwd=tmp_path)

    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    assert_accepted(daemon, 200, done.stdout.decode(), {"ticker": "AMD", "action": "buy", "price": 85.5})
    (position,) = [p for p in daemon.api("positions") if p["symbol"] == "AMD"]
    assert (position["quantity"], position["avg_price"]) == (1, 85.5)
