"""Signing secrets, like tokens, never reach the log or the journal, whatever a request does with them."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import httpx

from bridge.web.signing import sign
from tests.conftest import ADMIN, TOKEN, Daemon
from tests.security.conftest import RELAXED, strategy
from tests.test_secrets import journal_bytes

SIGNED_TOKEN = "tok-signed-" + "fedcba9876543210"
SECRET = "whsec_" + base64.b64encode(b"the signing secret, 32 bytes !!!").decode()
RAW = SECRET.removeprefix("whsec_")
NEEDLES = {"token": TOKEN, "signed token": SIGNED_TOKEN, "admin token": ADMIN, "secret": SECRET, "secret body": RAW}


def leaks(blobs: dict[str, bytes]) -> list[str]:
    return [f"{label} in {name} ({enc})" for name, blob in blobs.items() for label, needle in NEEDLES.items()
            for enc in ("utf-8", "utf-16-le", "utf-16-be") if needle.encode(enc) in blob]  # fmt: skip


def signed(body: bytes, msg_id: str, secret: str = SECRET) -> dict[str, str]:
    stamp = int(time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, body),
    }


def test_signing_secrets_and_tokens_stay_out_of_the_log_and_the_journal(start_daemon: object) -> None:
    daemon: Daemon = start_daemon(  # type: ignore[operator]
        {"sq": strategy(), "signed": strategy(SIGNED_TOKEN, RELAXED + f"    signing_secrets: [{SECRET}]\n")}
    )
    url = f"{daemon.base}/webhook/signed/{SIGNED_TOKEN}"
    statuses = []
    for n, payload in enumerate([
        {"ticker": "AMD", "action": "buy", "note": SECRET},
        {"ticker": "AMD", "action": "sell", "extras": {"k": RAW}},
        {"ticker": "AMD", "action": SECRET},
    ]):  # fmt: skip
        body = json.dumps(payload).encode()
        statuses.append(httpx.post(url, content=body, headers=signed(body, f"msg_{n}")).status_code)
    body = b'{"ticker": "AMD", "action": "buy"}'
    statuses.append(httpx.post(url, content=body, headers={**signed(body, "msg_x"), "X-Note": SECRET}).status_code)
    statuses.append(httpx.post(url, content=body, headers=signed(body, RAW)).status_code)  # the secret as webhook-id
    statuses.append(
        httpx.post(
            url, content=body, headers=signed(body, "msg_y", "whsec_" + base64.b64encode(b"x" * 32).decode())
        ).status_code
    )
    statuses.append(daemon.post({"ticker": "SQ", "action": "buy"}, headers={"Idempotency-Key": SECRET}).status_code)
    statuses.append(daemon.post({"ticker": "SQ", "action": "sell", "idempotencyKey": TOKEN}).status_code)
    statuses.append(httpx.post(f"{daemon.base}/webhook/signed/{SECRET}", content=body).status_code)
    assert statuses == [200, 200, 400, 200, 200, 401, 200, 200, 401]

    running = journal_bytes(daemon.db)
    assert b"AMD" in b"".join(running.values()), "the check must be looking at the journal"
    assert not leaks(running)
    for what in ("signals", "webhooks", "orders"):
        assert not leaks({f"api {what}": json.dumps(daemon.api(what, limit=1000)).encode()})
    assert not leaks({"health": httpx.get(f"{daemon.base}/health").content})
    daemon.stop()
    assert not leaks(journal_bytes(daemon.db))
    output = daemon.output()
    assert "signal=" in output and "invalid-signature" in output, "the log must show the requests"
    assert not leaks({"daemon output": output.encode()})


def test_idempotency_keys_are_journaled_as_their_sha256(start_daemon: object) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()})  # type: ignore[operator]
    key = "client-key-" + "77f3e1a9c0b24d5e"
    first = daemon.post({"ticker": "AMD", "action": "buy", "price": 10}, headers={"Idempotency-Key": key})
    again = daemon.post({"ticker": "AMD", "action": "buy", "price": 10}, headers={"Idempotency-Key": key})
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"], "the key still dedupes"
    journaled = [json.loads(w["headers"])["idempotency-key"] for w in daemon.api("webhooks")]
    assert journaled == ["sha256:" + hashlib.sha256(key.encode()).hexdigest()] * 2
    daemon.stop()
    leaked = [name for name, blob in journal_bytes(daemon.db).items() if key.encode() in blob]
    assert not leaked, f"the idempotency key is stored in clear in {leaked}"


def test_a_ticker_carrying_a_secret_is_refused_before_it_is_journaled(start_daemon: object) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()})  # type: ignore[operator]
    # The ticker is journaled and shown as sent (signals.ticker, orders.symbol), where the body is masked.
    answers = [daemon.post({"ticker": ticker, "action": "buy", "price": 10}) for ticker in (TOKEN, f"AMD {ADMIN}")]
    assert [(a.status_code, a.json()["messageCode"]) for a in answers] == [(400, "invalid-payload")] * 2
    assert all("configured secret" in a.json()["message"] for a in answers)
    assert daemon.api("signals") == []
    webhooks = daemon.api("webhooks")
    assert [w["status_code"] for w in webhooks] == [400, 400] and all("***" in w["body"] for w in webhooks)
    assert not leaks({"answers": b"".join(a.content for a in answers), "api": json.dumps(webhooks).encode()})
    daemon.stop()
    assert not leaks(journal_bytes(daemon.db))


def test_secrets_in_header_names_or_forwarded_addresses_stay_out_of_the_journal(start_daemon: object) -> None:
    # Before, only header values were masked: a token or the admin token sent as a header's name was journaled in
    # clear, and so was whatever a trusted proxy passed on as the sender's address when it was not an address.
    daemon: Daemon = start_daemon(  # type: ignore[operator]
        {"sq": strategy(), "signed": strategy(SIGNED_TOKEN, RELAXED + f"    signing_secrets: [{SECRET}]\n")},
        server="  trusted_proxies: [127.0.0.1]\n  auth_failure_limit: 1000\n",
    )
    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    named = {f"x-{TOKEN}": "1", ADMIN: "2", f"x-{SIGNED_TOKEN}-note": "3"}
    statuses = [
        daemon.post({"ticker": "AMD", "action": "buy", "n": 1}, headers=named).status_code,
        httpx.post(wrong, json={"ticker": "AMD", "action": "buy"}, headers=named).status_code,
    ]
    for n, forwarded in enumerate([SECRET, TOKEN, f"203.0.113.9, {ADMIN}", f"for={SIGNED_TOKEN}"]):
        statuses.append(daemon.post({"ticker": "AMD", "action": "sell", "n": n},
                                    headers={"X-Forwarded-For": forwarded}).status_code)  # fmt: skip
    assert statuses == [200, 401, 200, 200, 200, 200]
    assert not leaks(journal_bytes(daemon.db))
    webhooks = daemon.api("webhooks", limit=1000)
    assert len(webhooks) == 6 and "x-***" in webhooks[-1]["headers"], "the header is journaled, masked"
    assert {w["remote_addr"] for w in webhooks[:4]} == {"***", "for=***"}
    assert not leaks({"api webhooks": json.dumps(webhooks).encode()})
    daemon.stop()
    assert not leaks(journal_bytes(daemon.db))
    assert not leaks({"daemon output": daemon.output().encode()})


def test_a_secret_in_a_long_forwarded_address_or_content_encoding_is_never_stored_cut_short(
    start_daemon: object,
) -> None:
    # Before, a forwarded address that was not one was kept as its first 64 characters, and a Content-Encoding
    # quoted in the 415 as its first 20: cut first, a secret across the cut was stored in part, past the masking.
    long_secret = "whsec_" + base64.b64encode(bytes(range(48))).decode()  # 70 characters
    daemon: Daemon = start_daemon(  # type: ignore[operator]
        {"sq": strategy(), "signed": strategy(SIGNED_TOKEN, RELAXED + f'    signing_secrets: ["{long_secret}"]\n')},
        server="  trusted_proxies: [127.0.0.1]\n  auth_failure_limit: 1000\n",
    )
    buy = {"ticker": "AMD", "action": "buy"}
    answers = [
        daemon.post({**buy, "n": 1}, headers={"X-Forwarded-For": long_secret}),
        daemon.post({**buy, "n": 2}, headers={"X-Forwarded-For": "x" * 30 + TOKEN + "x" * 30}),
        daemon.post({**buy, "n": 3}, headers={"Content-Encoding": TOKEN}),
        daemon.post({**buy, "n": 4}, headers={"Content-Encoding": f"gzip, {long_secret}"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 415, 415]
    parts = {"token": TOKEN[:12], "admin": ADMIN[:12], "long secret": long_secret[10:30]}
    stored = journal_bytes(daemon.db)
    assert not [f"{what} in {name}" for what, part in parts.items() for name, blob in stored.items()
                if part.encode() in blob]  # fmt: skip
    webhooks = daemon.api("webhooks", limit=10)
    assert "gzip" in webhooks[0]["message"], "the refusal still names the coding it could show"
    daemon.stop()
    output = daemon.output()
    assert not [what for what, part in parts.items() if part in output]


def test_a_secret_as_the_key_of_a_too_deep_value_is_never_stored_cut_short(start_daemon: object) -> None:
    # The 400 named the key by its first 40 characters: cut before the masking, a secret longer than that
    # (a signing secret, a token) was stored in part in the refusal's message.
    long_secret = "whsec_" + base64.b64encode(bytes(range(48))).decode()  # 70 characters
    daemon: Daemon = start_daemon(  # type: ignore[operator]
        {"sq": strategy(), "signed": strategy(SIGNED_TOKEN, RELAXED + f'    signing_secrets: ["{long_secret}"]\n')},
    )
    deep: object = 1
    for _ in range(40):
        deep = [deep]
    answers = [daemon.post({"ticker": "AMD", "action": "buy", key: deep}) for key in (long_secret, "short")]
    assert [a.status_code for a in answers] == [400, 400]
    assert "short nests" in answers[1].json()["message"], "a short key is still named"
    part = long_secret[10:30].encode()
    assert not [name for name, blob in journal_bytes(daemon.db).items() if part in blob]
    daemon.stop()
    assert long_secret[10:30] not in daemon.output()


def test_a_mixed_case_token_sent_as_a_header_name_stays_out_of_the_journal(start_daemon: object) -> None:
    # Header names reach the app lowercased (HTTP/1.1 servers and ASGI fold them): a token with capitals, as
    # `bridge init` makes them, sent as a header's name was journaled in lowercase, the token but for its case.
    mixed = "Tok-MiXeD-" + "AbCdEfGhIjKlMnOp"
    daemon: Daemon = start_daemon(  # type: ignore[operator]
        {"sq": strategy(), "mixed": strategy(mixed)}, server="  auth_failure_limit: 1000\n"
    )
    named = {f"x-{mixed}": "1", f"X-{mixed}-Note": "2"}
    answer = daemon.post({"ticker": "AMD", "action": "buy"}, headers=named)
    assert answer.status_code == 200, answer.text
    folded = [mixed.lower()]
    headers = [w["headers"] for w in daemon.api("webhooks", limit=10)]
    assert len(headers) == 1 and not [s for s in folded if s in json.dumps(headers)], headers
    daemon.stop()
    assert not [s for s in folded if s.encode() in journal_bytes(daemon.db)]


def test_a_mixed_case_token_sent_as_a_content_encoding_stays_out_of_the_journal(start_daemon: object) -> None:
    # The 415 quoted the codings lowercased (as they are compared): a token with capitals sent as the Content-Encoding
    # was journaled in the refusal's message, and told in its notification, as the token but for its case.
    mixed = "Tok-MiXeD-" + "AbCdEfGh"
    daemon: Daemon = start_daemon({"sq": strategy(), "mixed": strategy(mixed)})  # type: ignore[operator]
    answers = [daemon.post({"ticker": "AMD", "action": "buy", "n": n}, headers={"Content-Encoding": coding})
               for n, coding in enumerate([mixed, f"GZip, {mixed}"])]  # fmt: skip
    assert [a.status_code for a in answers] == [415, 415]
    assert "GZip" in answers[1].json()["message"], "the codings are quoted as sent"
    webhooks = daemon.api("webhooks", limit=10)
    assert len(webhooks) == 2 and all("***" in w["message"] for w in webhooks), webhooks
    shown = json.dumps(webhooks).lower()
    assert mixed.lower() not in shown, webhooks
    daemon.stop()
    assert not [name for name, blob in journal_bytes(daemon.db).items() if mixed.lower().encode() in blob.lower()]


def test_a_mixed_case_token_sent_as_the_stop_loss_type_stays_out_of_the_journal(start_daemon: object) -> None:
    # The 400 quoted stopLoss.type lowercased (as it is compared): a token with capitals sent there was journaled in
    # the refusal's message as the token but for its case.
    mixed = "Tok-MiXeD-" + "AbCdEfGh"
    daemon: Daemon = start_daemon({"sq": strategy(), "mixed": strategy(mixed)})  # type: ignore[operator]
    answer = daemon.post({"ticker": "AMD", "action": "buy", "stopLoss": {"type": mixed, "percent": 5}})
    assert answer.status_code == 400 and answer.json()["messageCode"] == "invalid-stop-loss-type", answer.text
    assert mixed in answer.json()["message"], "the type is quoted as sent"
    webhooks = daemon.api("webhooks", limit=10)
    assert len(webhooks) == 1 and "***" in webhooks[0]["message"], webhooks
    assert mixed.lower() not in json.dumps(webhooks).lower(), webhooks
    daemon.stop()
    assert not [name for name, blob in journal_bytes(daemon.db).items() if mixed.lower().encode() in blob.lower()]
