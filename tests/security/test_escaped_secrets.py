"""A secret written with JSON escapes or percent-encoding is masked as surely as one written in clear."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import httpx

from bridge.signals.parse import parse_body, parse_payload
from bridge.store.accepted import masked_payload
from tests.conftest import ADMIN, GUARD, TOKEN, Daemon
from tests.security.conftest import RELAXED, strategy
from tests.test_secrets import journal_bytes

SIGNED_TOKEN = "tok-signed-" + "fedcba9876543210"
# A signing secret with `/` and `+` in it, as base64 often has: PHP writes its `/` as `\/`, a URL as `%2F`.
SLASHED = "whsec_" + base64.b64encode(b"\xfb\xff\xbfthe signing secret, 29 bytes!!").decode()
NEEDLES = {"token": TOKEN, "signed token": SIGNED_TOKEN, "admin token": ADMIN, "secret": SLASHED,
           "secret body": SLASHED.removeprefix("whsec_")}  # fmt: skip


def u_escaped(secret: str, every: int = 2) -> str:
    """`secret` with every `every`-th character written as a JSON `\\uXXXX` escape (and `/` as `\\/`)."""
    out = "".join(f"\\u{ord(c):04x}" if i % every == 0 else c for i, c in enumerate(secret))
    return out.replace("/", "\\/")


def percent(secret: str) -> str:
    """`secret` percent-encoded, every character (as a careful URL builder may write it)."""
    return "".join(f"%{b:02X}" for b in secret.encode())


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def readings(text: str) -> list[str]:
    """`text` as anyone may read it back: as JSON (every string in it), unescaped by hand, percent-decoded."""
    found = [text, re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text.replace("\\/", "/"))]
    with contextlib.suppress(ValueError):
        found += _strings(json.loads(text))
    for nested in list(found):  # a JSON field that holds JSON or a URL
        with contextlib.suppress(ValueError):
            found += _strings(json.loads(nested))
    found += [t.replace("\x00", "") for t in found]  # UTF-16 read as UTF-8: a NUL beside every ASCII character
    return found + [unquote(t) for t in found]


def leaks(label: str, text: str) -> list[str]:
    return [f"{what} in {label}" for what, needle in NEEDLES.items() for t in readings(text) if needle in t]


def _start(start_daemon: Any, **kw: Any) -> Daemon:
    signed = strategy(SIGNED_TOKEN, RELAXED + f'    signing_secrets: ["{SLASHED}"]\n')
    return start_daemon({"sq": strategy(), "signed": signed}, **kw)  # type: ignore[no-any-return]


def test_a_secret_written_with_json_escapes_in_the_body_is_journaled_masked(start_daemon: Any) -> None:
    # Before, the body was masked as written: a token with a character written `\u0061`, or a signing secret whose
    # `/` PHP's json_encode wrote `\/`, was journaled (and served by /api) in a form anyone decodes.
    daemon = _start(start_daemon)
    url = "https:\\/\\/host\\/webhook\\/signed\\/"
    bodies = [
        '{"ticker":"AMD","action":"buy","comment":"my url ' + url + u_escaped(SIGNED_TOKEN) + '"}',
        '{"ticker":"AMD","action":"sell","note":"' + SLASHED.replace("/", "\\/") + '","price":10.10}',
        '{"ticker":"AMD","action":"buy","extras":{"deep":[{"' + u_escaped(TOKEN, 1) + '":1}]}}',
        '{"ticker":"AMD","action":"sell","message":"admin ' + u_escaped(ADMIN, 3) + '"}',
        '{"ticker":"AMD","action":"buy","comment":"' + u_escaped(SLASHED.removeprefix("whsec_")) + '"}',
        '{"ticker":"AMD","action":"' + u_escaped(TOKEN) + '"}',  # refused: its 400 is journaled too
        "ticker AMD, action buy, see https:\\/\\/host\\/webhook\\/sq\\/" + u_escaped(TOKEN),  # not JSON at all
        '{"ticker":"AMD","action":"buy","comment":"https://host/webhook/sq/' + percent(TOKEN) + '"}',
        '{"ticker":"AMD","action":"sell","comment":"' + percent(SLASHED).replace("%", "\\u0025") + '"}',
    ]
    answers = [daemon.post(content=body.encode(), headers={"Content-Type": "text/plain"}) for body in bodies]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 400, 400, 200, 200], [a.text for a in answers]

    webhooks = daemon.api("webhooks", limit=100)
    assert len(webhooks) == len(bodies) and all("***" in w["body"] for w in webhooks), "each body is journaled, masked"
    assert '"price":10.10' in webhooks[-2]["body"], "the rest of the body stays as it was sent"
    found = [leak for w in webhooks for leak in leaks(f"webhook body {w['body']}", w["body"])]
    found += [leak for s in daemon.api("signals", limit=100) for f in ("payload", "extras")
              for leak in leaks(f"signal {f}", s[f])]  # fmt: skip
    assert not found
    daemon.stop()
    stored = journal_bytes(daemon.db)
    sent = [u_escaped(SIGNED_TOKEN), u_escaped(TOKEN, 1), u_escaped(ADMIN, 3), percent(TOKEN), "\\u0025"]
    assert not [part for part in sent for blob in stored.values() if part.encode() in blob]
    assert not leaks("daemon output", daemon.output())


def test_a_secret_escaped_in_a_header_or_a_forwarded_address_is_journaled_masked(start_daemon: Any) -> None:
    # Header values were masked as written: the webhook URL percent-encoded in a Referer, or a secret written with
    # JSON escapes in a header a relay filled from JSON, were journaled readable, and so was a forwarded address.
    daemon = _start(start_daemon, server="  trusted_proxies: [127.0.0.1]\n")
    headers = [
        {"Referer": "https://host/webhook/signed/" + percent(SIGNED_TOKEN)},
        {"X-Relay-Note": '{"secret":"' + SLASHED.replace("/", "\\/") + '"}'},
        {"X-Signing": SLASHED.replace("/", "%2F").replace("+", "%2B")},
        {"X-Forwarded-For": percent(ADMIN)},
        {f"x-{percent(TOKEN)}": "1"},
    ]
    statuses = [daemon.post({"ticker": "AMD", "action": "buy", "n": n}, headers=h).status_code
                for n, h in enumerate(headers)]  # fmt: skip
    # The token percent-encoded in the URL, and in its query string: each is read as the token.
    query = f"{daemon.base}/webhook/sq/{percent(TOKEN)}?note={percent(SLASHED)}"
    statuses.append(httpx.post(query, json={"ticker": "AMD", "action": "sell"}, timeout=GUARD).status_code)
    assert statuses == [200] * 6
    webhooks = daemon.api("webhooks", limit=100)
    assert len(webhooks) == 6
    found = [leak for w in webhooks for field in ("headers", "remote_addr", "path")
             for leak in leaks(f"webhook {field} {w[field]}", w[field] or "")]  # fmt: skip
    found += [leak for w in webhooks for v in json.loads(w["headers"]).items() for leak in leaks("header", str(v))]
    assert not found
    daemon.stop()
    assert not leaks("daemon output", daemon.output())
    stored = journal_bytes(daemon.db)
    sent = [percent(SIGNED_TOKEN), percent(ADMIN), percent(TOKEN).lower(), SLASHED.replace("/", "%2F")[:20]]
    assert not [part for part in sent for blob in stored.values() if part.encode() in blob]


def test_the_answer_echoes_the_payload_masked_as_it_is_journaled(start_daemon: Any) -> None:
    # The 200's `payload` echoed a secret sent in a field (the message, extras) in clear, in any writing of it,
    # where the signal's row held it masked: a relay or a tunnel's inspector that keeps answers kept the secret.
    daemon = _start(start_daemon)
    bodies = [
        {"ticker": "AMD", "action": "buy", "message": f"see {TOKEN}", "extras": {"k": ADMIN, SLASHED: 1}},
        '{"ticker":"AMD","action":"sell","message":"'
        + u_escaped(SIGNED_TOKEN)
        + '","extras":{"u":"'
        + percent(SLASHED)
        + '"}}',
    ]
    key = {"Idempotency-Key": "alert-1"}
    answers = [daemon.post(bodies[0], headers=key), daemon.post(content=str(bodies[1]).encode())]
    answers.append(daemon.post(bodies[0], headers=key))  # the duplicate's answer echoes the payload too
    assert [a.status_code for a in answers] == [200, 200, 200] and answers[2].json()["duplicate"] is True
    assert answers[0].json()["payload"] == {"ticker": "AMD", "action": "buy", "message": "see ***",
                                            "extras": {"k": "***", "***": 1}}  # fmt: skip
    assert answers[1].json()["payload"]["extras"] == {"u": "***"}
    assert not [leak for a in answers for leak in leaks("answer", a.text)]
    journaled = [json.loads(s["payload"]) for s in daemon.api("signals", limit=10)]
    assert journaled[::-1] == [a.json()["payload"] for a in answers[:2]], "the answer shows what was journaled"


def test_a_secret_of_digits_sent_as_a_json_number_is_masked_where_the_body_is_read_back(start_daemon: Any) -> None:
    # Masking walked a payload's strings only: a token (or broker key) all digits, sent as a JSON number, was
    # journaled in the signal's payload and extras, served by /api and echoed by the 200, in clear.
    digits = "98765432109876543210"
    daemon = start_daemon({"sq": strategy(), "num": strategy(f'"{digits}"')})
    body = ('{"ticker": "AMD", "action": "buy", "quantity": 5, "token": ' + digits + ', "extras": {"key": '
            + digits + ', "also": 1' + digits + '.5, "n": 7}}')  # fmt: skip
    answer = daemon.post(content=body.encode())
    assert answer.status_code == 200, answer.text
    echoed = answer.json()["payload"]
    assert echoed["extras"] == {"key": "***", "also": "1***.5", "n": 7}, "the sender's own fields, masked"
    assert echoed["quantity"] == 5, "what the signal trades by is left as sent"
    assert digits not in answer.text
    [signal] = daemon.api("signals")
    assert json.loads(signal["payload"]) == echoed, "journaled as echoed"
    assert json.loads(signal["extras"]) == {"token": "***"}
    assert digits not in json.dumps(daemon.api("signals")) + json.dumps(daemon.api("webhooks"))
    daemon.stop()
    assert not [name for name, blob in journal_bytes(daemon.db).items() if digits.encode() in blob]
    assert digits not in daemon.output()


def test_a_signal_whose_exact_numbers_or_time_hold_a_short_secret_s_digits_is_journaled_rebuildable() -> None:
    # A number a float cannot hold exactly (a 17-digit price) and the signal's time are echoed and journaled as text,
    # and masking walked every string: with a broker passphrase "2345", the price 12345.678901234567891 was journaled
    # "1***.678901***67891" and a time with .234500 seconds "...46.***00": a delayed signal, or one resumed at
    # start-up, is rebuilt from that payload, and failed ("price must be a number"), its trade lost.
    body = ('{"ticker": "AMD", "action": "buy", "price": 12345.678901234567891, "quantity": "2345.00000000000000001",'
            ' "stopLoss": {"stopPrice": 2345.1234567890123456}, "time": "2026-11-27T15:06:46.234500Z",'
            ' "message": "pass 2345", "extras": {"n": 12345}}')  # fmt: skip
    _signal, payload, _unknown = parse_body(body.encode())
    journaled = json.loads(json.dumps(masked_payload(payload, ["2345"])))
    rebuilt, again, _ = parse_payload(journaled)
    assert again == payload | {"message": "pass ***", "extras": {"n": "1***"}}, "only the sender's own text masked"
    assert rebuilt.price == Decimal("12345.678901234567891") and rebuilt.quantity == Decimal("2345.00000000000000001")


def test_a_secret_in_a_utf16_body_is_journaled_masked(start_daemon: Any) -> None:
    # A body saved as UTF-16 (Windows Notepad's "Unicode", PowerShell's Out-File) is refused as not UTF-8, and
    # journaled as read: ASCII in UTF-16 is every character followed (or led) by a NUL, the secret readable
    # by dropping them.
    daemon = _start(start_daemon)
    payload = {"ticker": "AMD", "action": "buy", "note": ADMIN, "url": f"https://host/webhook/sq/{TOKEN}"}
    text = json.dumps(payload)
    answers = [daemon.post(content=text.encode(codec)) for codec in ("utf-16", "utf-16-be", "utf-16-le")]
    escaped = json.dumps({**payload, "note": SLASHED.replace("/", "\\/")}).replace("\\\\/", "\\/")
    answers.append(daemon.post(content=escaped.encode("utf-16-le")))
    assert [a.json()["messageCode"] for a in answers] == ["malformed-json"] * 4
    bodies = [w["body"] for w in daemon.api("webhooks", limit=10)]
    assert len(bodies) == 4 and all("***" in b for b in bodies), bodies
    assert not [leak for b in bodies for leak in leaks("webhook body", b)]
    daemon.stop()
    stored = journal_bytes(daemon.db)
    assert not [(n, c) for n in (TOKEN, ADMIN, SLASHED.removeprefix("whsec_")) for c in ("utf-16-le", "utf-16-be")
                for blob in stored.values() if n.encode(c) in blob]  # fmt: skip


def test_a_secret_escaped_in_a_forwarded_address_stays_out_of_the_log(start_daemon: Any) -> None:
    # The log masked secrets as written: a forwarded "address" that was the admin token percent-encoded (or
    # JSON-escaped) was logged readable when its wrong tokens locked it out.
    daemon = _start(start_daemon, server="  trusted_proxies: [127.0.0.1]\n  auth_failure_limit: 2\n")
    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    # Within the 64 characters a forwarded "address" is shown whole in.
    for forwarded in (ADMIN.replace("-", "%2D").replace("f", "%66"), TOKEN.replace("a", "\\u0061")):
        statuses = [httpx.post(wrong, json={"ticker": "AMD", "action": "buy"}, headers={"X-Forwarded-For": forwarded},
                               timeout=GUARD).status_code for _ in range(3)]  # fmt: skip
        assert statuses == [401, 401, 429]
    output = daemon.wait_output("locked out ***", count=2)  # the log is written from a thread, each line a moment later
    assert output.count("locked out") == 2, output
    daemon.stop()
    assert not leaks("daemon output", daemon.output())


def test_a_ticker_carrying_a_secret_percent_encoded_is_refused(start_daemon: Any) -> None:
    # The ticker is journaled and shown as sent (signals.ticker, orders.symbol, the log of the order): one holding a
    # token was refused, but one holding it percent-encoded (a URL pasted into the field) was traded and kept so.
    daemon = _start(start_daemon)
    tickers = ["AMD " + TOKEN.replace("-", "%2D"), "AMD?k=" + percent(ADMIN)[:60] + ADMIN[20:]]
    answers = [daemon.post({"ticker": ticker, "action": "buy", "price": 10}) for ticker in tickers]
    assert [(a.status_code, a.json()["messageCode"]) for a in answers] == [(400, "invalid-payload")] * 2
    assert daemon.api("signals") == [] and daemon.api("orders") == []
    daemon.stop()
    stored = journal_bytes(daemon.db)
    assert not [t for t in tickers for blob in stored.values() if t.encode() in blob]


def test_a_non_ascii_secret_quoted_in_a_refusal_is_journaled_masked(start_daemon: Any) -> None:
    # A 400 quotes the offending value as JSON text, which writes a non-ASCII character as `\u00f6`: a token with
    # one, sent as the action, was journaled in the refusal's message (and served by /api) readable.
    umlaut = "t\u00f6k-" + "a1b2c3d4e5f6a7b8c9"
    daemon = start_daemon({"sq": strategy(), "umlaut": strategy(umlaut)})
    answer = daemon.post({"ticker": "AMD", "action": umlaut}, url=f"{daemon.base}/webhook/umlaut/{umlaut}")
    assert answer.status_code == 400 and answer.json()["messageCode"] == "invalid-action", answer.text
    webhooks = daemon.api("webhooks")
    assert len(webhooks) == 1 and "***" in webhooks[0]["message"], webhooks
    found = [t for t in readings(webhooks[0]["message"]) + readings(webhooks[0]["body"]) if umlaut in t]
    assert not found, webhooks
    daemon.stop()
    stored = journal_bytes(daemon.db)
    assert not [n for n in (umlaut, json.dumps(umlaut)[1:-1]) for blob in stored.values() if n.encode() in blob]
