"""Every signal sent four times (TradingView's maximum), one after another and all at once, trades once."""

from __future__ import annotations

import base64
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bridge.web.signing import sign
from tests.conftest import GUARD, Daemon
from tests.security.conftest import RELAXED, rows, strategy

SIGNALS = 100 if os.environ.get("BRIDGE_LONG_TESTS") == "1" else 10  # per delivery style; one ticker each
SECRET = "whsec_" + base64.b64encode(b"duplicate test secret, 32 bytes!").decode()
SIGNED_TOKEN = "tok-signed-0123456789abcdef"  # each strategy its own token


def post(
    daemon: Daemon, body: dict[str, Any], headers: dict[str, str], url: str | None = None
) -> tuple[int, str, bool]:
    response = httpx.post(url or daemon.url, json=body, headers=headers, timeout=GUARD)
    answer = response.json()
    return response.status_code, answer.get("id", ""), bool(answer.get("duplicate"))


def deliveries(style: str, n: int, daemon: Daemon) -> tuple[dict[str, Any], dict[str, str], str | None]:
    ticker = f"{style[:3].upper()}{n}"
    body: dict[str, Any] = {"ticker": ticker, "action": "buy", "price": 20 + n}
    if style == "header":
        return body, {"Idempotency-Key": f"alert-{ticker}"}, None
    if style == "field":
        return {**body, "idempotencyKey": f"alert-{ticker}"}, {}, None
    if style == "keyless":  # the keyless dedupe window: a resend repeats the ticker's last body
        return body, {}, None
    url = f"{daemon.base}/webhook/signed/{SIGNED_TOKEN}"  # Standard Webhooks: webhook-id is the key
    raw = httpx.Request("POST", url, json=body).content
    stamp = int(time.time())
    return body, {"webhook-id": f"msg_{ticker}", "webhook-timestamp": str(stamp),
                  "webhook-signature": sign(SECRET, f"msg_{ticker}", stamp, raw)}, url  # fmt: skip


def test_four_deliveries_sequential_and_concurrent_make_one_signal_and_one_order(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon(
        {"sq": strategy(), "signed": strategy(SIGNED_TOKEN, RELAXED + f"    signing_secrets: [{SECRET}]\n")}
    )
    styles = ("header", "field", "keyless", "signed")
    answers: dict[tuple[str, str, int], list[tuple[int, str, bool]]] = {}
    for style in styles:
        for n in range(SIGNALS):  # sequential: one after another, like TradingView's resends
            body, headers, url = deliveries(style, n, daemon)
            answers[("seq", style, n)] = [post(daemon, body, headers, url) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=32) as pool:  # concurrent: all four at once, every signal at once
        jobs = {
            ("par", style, n, i): pool.submit(post, daemon, *deliveries(style, n + 100, daemon))
            for style in styles for n in range(SIGNALS) for i in range(4)
        }  # fmt: skip
        for (mode, style, n, _), job in jobs.items():
            answers.setdefault((mode, style, n), []).append(job.result())

    accepted: set[str] = set()
    for case, four in answers.items():
        assert [status for status, _, _ in four] == [200] * 4, case
        assert len({signal_id for _, signal_id, _ in four}) == 1, f"{case}: four answers, more than one signal id"
        assert sorted(dup for _, _, dup in four) == [False, True, True, True], f"{case}: exactly one original"
        accepted.add(four[0][1])
    for signal_id in accepted:
        daemon.wait_final(signal_id)

    db = daemon.db
    assert {r[0] for r in rows(db, "SELECT id FROM signals")} == accepted
    assert len(accepted) == len(styles) * SIGNALS * 2
    per_signal = Counter(r[0] for r in rows(db, "SELECT signal_id FROM orders"))
    assert set(per_signal) == accepted and set(per_signal.values()) == {1}, "one order per signal"
    assert rows(db, "SELECT client_order_id FROM paper_orders GROUP BY 1 HAVING count(*) > 1") == []
    assert rows(db, "SELECT count(*) FROM paper_orders")[0][0] == len(accepted)
    assert rows(db, "SELECT count(*) FROM paper_fills")[0][0] == len(accepted)
    duplicates = rows(db, "SELECT count(*) FROM webhooks WHERE message_code = 'duplicate'")[0][0]
    assert duplicates == 3 * len(accepted), "every duplicate request is journaled, pointing at its original"
    print(f"\nduplicates: {len(answers)} signals x 4 deliveries ({', '.join(styles)}; sequential and concurrent) -> "
          f"{len(accepted)} signals, {sum(per_signal.values())} orders, {duplicates} duplicate answers")  # fmt: skip


def test_a_different_signal_under_a_used_key_is_refused_not_answered_duplicate(start_daemon: Any) -> None:
    daemon = start_daemon({"sq": strategy(extra=RELAXED)})
    key = {"Idempotency-Key": "alert-AMD-bar"}  # e.g. a key made of the ticker and the bar: the same for two alerts
    first = httpx.post(daemon.url, json={"ticker": "AMD", "action": "buy", "quantity": 1}, headers=key, timeout=GUARD)
    resend = httpx.post(daemon.url, json={"ticker": "AMD", "action": "buy", "quantity": 1}, headers=key, timeout=GUARD)
    other = httpx.post(daemon.url, json={"ticker": "AMD", "action": "sell", "quantity": 1}, headers=key, timeout=GUARD)
    assert first.status_code == 200 and resend.json()["duplicate"] is True
    assert other.status_code == 422, other.text
    answer = other.json()
    assert answer["success"] is False and answer["messageCode"] == "idempotency-key-reused"
    assert first.json()["id"] in answer["message"], "the answer names the signal that holds the key"
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == 1
