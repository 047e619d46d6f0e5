"""Design §4's refusals through the real server: status, messageCode, a `webhooks` row, and no trade.

Also the admin API's guard and shape, and `/health`'s documented keys.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, TOKEN
from tests.e2e.conftest import DaemonFactory, E2EDaemon

VALID = {"ticker": "AMD", "action": "buy"}
MAX_BODY = 64 * 1024
# A valid signal padded past the limit: only its size is wrong.
TOO_LARGE = json.dumps({**VALID, "note": "x" * (MAX_BODY + 1)}).encode()
WRONG_TOKEN = "tok-wrongwrongwrong0123"
SIGNAL_FIELDS = {"id", "strategy", "ticker", "action", "sentiment", "state", "decision", "received_at"}
ORDER_FIELDS = {"id", "signal_id", "broker", "symbol", "side", "type", "quantity", "limit_price", "stop_price"}
ORDER_FIELDS |= {"status", "filled_quantity", "avg_fill_price", "client_order_id", "error"}
POSITION_FIELDS = {"broker", "symbol", "quantity", "avg_price"}
WEBHOOK_FIELDS = {"id", "received_at", "strategy", "remote_addr", "headers", "body", "status_code", "message_code"}


@pytest.fixture(scope="module")
def daemon(module_daemons: DaemonFactory) -> E2EDaemon:
    """A daemon that must never trade: every request this module sends to it is refused."""
    return module_daemons()


def refused(daemon: E2EDaemon, send: Callable[[], httpx.Response], status: int, code: str) -> dict[str, Any]:
    """Send one bad request; check its answer, its journal row, and that nothing traded. Returns the body."""
    before = daemon.api("webhooks", limit=1000)
    response = send()
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["success"], body["messageCode"]) == (False, code)
    assert isinstance(body["message"], str) and body["message"]
    after = daemon.api("webhooks", limit=1000)
    assert len(after) == len(before) + 1
    row = after[0]
    assert (row["status_code"], row["message_code"], row["signal_id"]) == (status, code, None)
    if "logId" in body:
        assert row["id"] == body["logId"]
    assert TOKEN not in json.dumps(row)  # the URL token is never stored in clear
    assert daemon.api("signals") == []
    assert daemon.api("orders") == []
    assert daemon.api("positions") == []
    return dict(body)


def post_bytes(daemon: E2EDaemon, body: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return daemon.post(content=body, headers=headers)


PAYLOAD_CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty-json"),
    ("blank", b"  \n ", "empty-json"),
    ("malformed", b'{"ticker": "AMD", "action": "buy",}', "malformed-json"),
    ("not-json", b"buy AMD now", "malformed-json"),
    ("invalid-action", json.dumps({"ticker": "AMD", "action": "purchase"}).encode(), "invalid-action"),
    ("invalid-sentiment", json.dumps({**VALID, "sentiment": "sideways"}).encode(), "invalid-sentiment"),
    ("placeholder", json.dumps({**VALID, "price": "{{close}}"}).encode(), "unsubstituted-placeholder"),
    (
        "nested-too-deep",
        json.dumps({**VALID, "extras": json.loads('{"a":' * 600 + "1" + "}" * 600)}).encode(),
        "invalid-payload",
    ),
    ("miscased-field", json.dumps({**VALID, "StopLoss": {"percent": 2}}).encode(), "invalid-payload"),
    ("invisible-ticker", json.dumps({**VALID, "ticker": "AMD\u200b"}).encode(), "invalid-payload"),
    ("duplicate-key", b'{"ticker": "AMD", "action": "buy", "action": "sell"}', "invalid-payload"),
]


@pytest.mark.parametrize(("body", "code"), [(b, c) for _, b, c in PAYLOAD_CASES], ids=[n for n, _, _ in PAYLOAD_CASES])
def test_invalid_payload_is_400(daemon: E2EDaemon, body: bytes, code: str) -> None:
    answer = refused(daemon, lambda: post_bytes(daemon, body), 400, code)
    assert set(answer) == {"success", "logId", "messageCode", "message"}


def test_placeholder_message_names_the_placeholder(daemon: E2EDaemon) -> None:
    body = json.dumps({**VALID, "price": "{{close}}"}).encode()
    answer = refused(daemon, lambda: post_bytes(daemon, body, "text/plain"), 400, "unsubstituted-placeholder")
    assert "{{close}}" in answer["message"] and "placeholder" in answer["message"]


def test_wrong_token_and_unknown_strategy_get_the_same_401(daemon: E2EDaemon) -> None:
    wrong = daemon.url_for(token=WRONG_TOKEN)
    unknown = daemon.url_for(strategy="nosuchstrategy", token=TOKEN)
    # The bodies are valid signals: only the URL is wrong, and still nothing may trade.
    first = refused(daemon, lambda: daemon.post(VALID, url=wrong), 401, "unauthorized")
    second = refused(daemon, lambda: daemon.post(VALID, url=unknown), 401, "unauthorized")
    assert first == second
    assert set(first) == {"success", "messageCode", "message"}
    raw = [daemon.post(VALID, url=url) for url in (wrong, unknown, wrong.replace("/webhook/", "/trading/webhook/"))]
    assert len({(r.status_code, r.content, r.headers["content-type"]) for r in raw}) == 1
    assert not any(WRONG_TOKEN in json.dumps(w) for w in daemon.api("webhooks", limit=1000))
    assert daemon.api("signals") == [] and daemon.api("orders") == []


def chunks(body: bytes, size: int = 8192) -> Iterator[bytes]:
    """Stream without a Content-Length: httpx sends it chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_64_kib_is_413(daemon: E2EDaemon, framing: str) -> None:
    def send() -> httpx.Response:
        if framing == "chunked":
            response = daemon.client.post(daemon.url, content=chunks(TOO_LARGE), headers={"Content-Type": "text/plain"})
            assert response.request.headers.get("transfer-encoding") == "chunked"
            assert "content-length" not in response.request.headers
            return response
        return post_bytes(daemon, TOO_LARGE)

    answer = refused(daemon, send, 413, "payload-too-large")
    assert set(answer) == {"success", "logId", "messageCode", "message"}


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "gzip, identity"])
def test_a_compressed_body_is_415_saying_to_send_it_uncompressed(daemon: E2EDaemon, encoding: str) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    answer = refused(daemon, lambda: daemon.post(content=gzip.compress(json.dumps(VALID).encode()), headers=headers),
                     415, "unsupported-content-encoding")  # fmt: skip
    assert encoding.split(",")[0] in answer["message"] and "uncompressed" in answer["message"]


def test_a_compressed_body_named_in_a_second_content_encoding_header_is_415(daemon: E2EDaemon) -> None:
    # Two headers are one list (RFC 9110 5.3): the second one's gzip is as much a coding of the body.
    headers = [("Content-Type", "application/json"), ("Content-Encoding", "identity"), ("Content-Encoding", "gzip")]
    answer = refused(daemon, lambda: daemon.post(content=gzip.compress(json.dumps(VALID).encode()), headers=headers),
                     415, "unsupported-content-encoding")  # fmt: skip
    assert "gzip" in answer["message"], answer


def test_an_identity_content_encoding_is_no_compression(module_daemons: DaemonFactory) -> None:
    daemon = module_daemons()
    response = daemon.post(content=json.dumps(VALID).encode(), headers={"Content-Encoding": "Identity"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("prefix", ["/webhook", "/trading/webhook"])
def test_get_on_the_webhook_url_is_405(daemon: E2EDaemon, prefix: str) -> None:
    url = daemon.url_for(prefix=prefix)
    response = daemon.client.get(url)
    assert response.headers.get("allow") == "POST"
    refused(daemon, lambda: daemon.client.get(url), 405, "post-required")


@pytest.mark.parametrize(("method", "path", "allowed"), [("POST", "/health", "GET"), ("PUT", "/metrics", "GET"),
                                                          ("DELETE", "/api/signals", "GET")])  # fmt: skip
def test_a_wrong_method_elsewhere_names_the_method_that_endpoint_takes(daemon: E2EDaemon, method: str, path: str,
                                                                      allowed: str) -> None:  # fmt: skip
    response = daemon.client.request(method, f"{daemon.base}{path}")
    assert response.status_code == 405
    assert allowed in response.headers["allow"]
    body = response.json()
    assert body["success"] is False and allowed in body["message"] and "Webhooks" not in body["message"]


def test_health_has_the_documented_keys_and_no_secret(daemon: E2EDaemon) -> None:
    response = daemon.client.get(f"{daemon.base}/health")  # no Authorization header: health is public
    assert response.status_code == 200
    health = response.json()
    assert {"status", "version", "config", "brokers", "halted"} <= set(health)
    assert (health["status"], health["halted"]) == ("ok", False)
    assert isinstance(health["version"], str) and health["version"]
    assert {"loaded_at", "sha256", "last_reload"} <= set(health["config"])
    assert len(health["config"]["sha256"]) == 64
    assert set(health["config"]["last_reload"]) >= {"ok", "at", "error"}
    assert health["config"]["last_reload"]["ok"] is True
    assert set(health["brokers"]) == {"paper"}
    assert health["brokers"]["paper"]["status"] == "ok" and "detail" in health["brokers"]["paper"]
    assert TOKEN not in response.text and ADMIN not in response.text


# ---- the admin API, against a daemon that has traded ----


@pytest.fixture(scope="module")
def traded(module_daemons: DaemonFactory) -> tuple[E2EDaemon, list[dict[str, Any]]]:
    """A daemon with three signals: an executed buy of 5 at 10, an executed sell, a rejected exit."""
    # The refusals below try 20 wrong admin credentials from this address: the lockout would answer 429 from then on.
    daemon = module_daemons(server="  auth_failure_limit: 1000\n")
    finals = [
        daemon.send({"ticker": "AAA", "action": "buy", "quantity": 5, "price": 10}),
        daemon.send({"ticker": "BBB", "action": "sell", "sentiment": "bearish"}),
        daemon.send({"ticker": "CCC", "action": "exit"}),
    ]
    assert [f["state"] for f in finals] == ["executed", "executed", "rejected"]
    return daemon, finals


@pytest.mark.parametrize("what", ["webhooks", "signals", "orders", "positions"])
@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {WRONG_TOKEN}", f"Bearer {TOKEN}", f"Basic {ADMIN}", ADMIN, "Bearer"],
    ids=["missing", "wrong-token", "webhook-token", "basic-scheme", "no-scheme", "empty-bearer"],
)
def test_admin_api_refuses_without_the_admin_token(
    traded: tuple[E2EDaemon, list[dict[str, Any]]], what: str, authorization: str | None
) -> None:
    daemon, _ = traded
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = daemon.client.get(f"{daemon.base}/api/{what}", headers=headers)
    assert response.status_code == 401
    assert response.json()["messageCode"] == "unauthorized"
    assert "AAA" not in response.text


def test_admin_api_lists_signals_newest_first(traded: tuple[E2EDaemon, list[dict[str, Any]]]) -> None:
    daemon, finals = traded
    signals = daemon.api("signals")
    assert [s["id"] for s in signals] == [f["id"] for f in reversed(finals)]
    assert all(set(s) >= SIGNAL_FIELDS for s in signals)
    received = [s["received_at"] for s in signals]
    assert received == sorted(received, reverse=True)
    aaa = signals[-1]
    assert (aaa["strategy"], aaa["ticker"], aaa["action"], aaa["sentiment"], aaa["state"]) == (
        "sq", "AAA", "buy", None, "executed"
    )  # fmt: skip
    assert aaa["decision"] == "buy while flat: opened long 5 (signal quantity)"
    assert (signals[1]["sentiment"], signals[0]["state"]) == ("bearish", "rejected")


def test_admin_api_lists_orders_newest_first(traded: tuple[E2EDaemon, list[dict[str, Any]]]) -> None:
    daemon, finals = traded
    orders = daemon.api("orders")
    assert all(set(o) >= ORDER_FIELDS for o in orders)
    assert [(o["signal_id"], o["symbol"], o["side"]) for o in orders] == [
        (finals[1]["id"], "BBB", "sell"),
        (finals[0]["id"], "AAA", "buy"),
    ]
    aaa = orders[1]
    assert (aaa["broker"], aaa["type"], aaa["quantity"], aaa["limit_price"], aaa["stop_price"]) == (
        "paper", "market", 5, None, None
    )  # fmt: skip
    assert (aaa["status"], aaa["filled_quantity"], aaa["avg_fill_price"], aaa["error"]) == ("filled", 5, 10, None)
    assert isinstance(aaa["client_order_id"], str) and aaa["client_order_id"]
    assert aaa["client_order_id"] != orders[0]["client_order_id"]


def test_admin_api_lists_positions_signed(traded: tuple[E2EDaemon, list[dict[str, Any]]]) -> None:
    daemon, _ = traded
    positions = daemon.api("positions")
    assert all(set(p) >= POSITION_FIELDS for p in positions)
    by_symbol = {p["symbol"]: p for p in positions}
    assert set(by_symbol) == {"AAA", "BBB"}
    assert (by_symbol["AAA"]["broker"], by_symbol["AAA"]["quantity"], by_symbol["AAA"]["avg_price"]) == ("paper", 5, 10)
    assert by_symbol["BBB"]["quantity"] == -1


def test_admin_api_lists_webhooks_newest_first(traded: tuple[E2EDaemon, list[dict[str, Any]]]) -> None:
    daemon, finals = traded
    webhooks = daemon.api("webhooks")
    assert all(set(w) >= WEBHOOK_FIELDS for w in webhooks)
    assert [w["signal_id"] for w in webhooks] == [f["id"] for f in reversed(finals)]
    assert all(w["status_code"] == 200 and w["strategy"] == "sq" for w in webhooks)
    assert not any(TOKEN in json.dumps(w) for w in webhooks)


@pytest.mark.parametrize("what", ["webhooks", "signals", "orders", "positions"])
def test_admin_api_limit(traded: tuple[E2EDaemon, list[dict[str, Any]]], what: str) -> None:
    daemon, _ = traded
    everything = daemon.api(what)
    assert len(everything) >= 2
    assert daemon.api(what, limit=1) == everything[:1]
    assert daemon.api(what, limit=2) == everything[:2]


@pytest.mark.parametrize("limit", ["\u00b2", "x", "-1"], ids=["unicode-digit", "word", "negative"])
def test_admin_api_limit_that_is_not_a_usable_number_is_a_400_not_a_500(
    traded: tuple[E2EDaemon, list[dict[str, Any]]], limit: str
) -> None:
    daemon, _ = traded
    answer = daemon.client.get(f"{daemon.base}/api/signals", params={"limit": limit},
                               headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
    assert answer.status_code == 400 and answer.json()["messageCode"] == "invalid-limit", answer.text


def test_admin_api_limit_of_more_digits_than_int_reads_is_the_most_allowed(
    traded: tuple[E2EDaemon, list[dict[str, Any]]],
) -> None:
    daemon, _ = traded
    assert daemon.api("signals", limit="9" * 5000) == daemon.api("signals")  # the most (1000): all there are here


def test_fields_sent_in_the_query_string_are_told_to_go_in_the_body(daemon: E2EDaemon) -> None:
    """requests.post(url, params={...}) or curl -G: the fields are in the URL and the body is empty."""
    answer = refused(
        daemon, lambda: daemon.client.post(daemon.url, params={"ticker": "AMD", "action": "buy"}), 400, "empty-json"
    )
    assert "query string" in answer["message"] and "json=" in answer["message"], answer["message"]
