"""A stranger who finds the URL cannot trade: forged sources, wrong tokens, bad or replayed signatures.

Every case goes through a real daemon and is checked in the journal file: a refused request leaves
a webhook row with its status and no signal, and nothing reaches the paper broker.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.web.gate import WIDE_LOCKOUT_FACTOR
from bridge.web.signing import sign
from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, patient_bridge
from tests.security.conftest import RELAXED, rows, strategy

EXPOSURE = Path(__file__).resolve().parents[2] / "docs" / "exposure.md"

TV_TOKEN = "tok-tv-" + "0123456789abcdef"
SIGNED_TOKEN = "tok-signed-" + "0123456789abcdef"
OLD_SECRET = "whsec_" + base64.b64encode(b"old signing secret of 32 bytes!!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"new signing secret of 32 bytes!!").decode()
TV = "52.89.214.238"
ATTACKER = "198.51.100.66"
BUY = {"ticker": "AMD", "action": "buy", "price": 10}


def strategies() -> dict[str, str]:
    return {
        "sq": strategy(),
        "tv": strategy(TV_TOKEN, RELAXED + "    allowed_sources: [tradingview]\n"),
        "signed": strategy(SIGNED_TOKEN, RELAXED + f"    signing_secrets: [{OLD_SECRET}, {NEW_SECRET}]\n"),
    }


def signed_headers(body: bytes, secret: str = NEW_SECRET, msg_id: str = "msg_1", age: int = 0) -> dict[str, str]:
    stamp = int(time.time()) - age
    signature = sign(secret, msg_id, stamp, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature,
            "content-type": "application/json"}  # fmt: skip


def counts(daemon: Daemon) -> tuple[int, int, int]:
    """(signals, journaled orders, paper broker orders)."""
    return (rows(daemon.db, "SELECT count(*) FROM signals")[0][0], rows(daemon.db, "SELECT count(*) FROM orders")[0][0],
            rows(daemon.db, "SELECT count(*) FROM paper_orders")[0][0])  # fmt: skip


def test_refused_requests_get_a_4xx_and_trade_nothing(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(strategies(), server="  auth_failure_limit: 1000\n")
    base = daemon.base
    body = json.dumps(BUY).encode()
    cases: dict[str, tuple[httpx.Response, int, str]] = {}

    def expect(name: str, response: httpx.Response, status: int, code: str) -> None:
        cases[name] = (response, status, code)

    url_tv = f"{base}/webhook/tv/{TV_TOKEN}"
    expect("forged X-Forwarded-For", httpx.post(url_tv, json=BUY, headers={"X-Forwarded-For": TV}), 403, "forbidden-ip")
    expect("forged Forwarded", httpx.post(url_tv, json=BUY, headers={"Forwarded": f"for={TV}"}), 403, "forbidden-ip")
    expect("loopback is not tradingview", httpx.post(url_tv, json=BUY), 403, "forbidden-ip")
    for name, url in {
        "wrong token": f"{base}/webhook/sq/{TOKEN[:-1]}x",
        "unknown strategy": f"{base}/webhook/nope/{TOKEN}",
        "another strategy's token": f"{base}/webhook/sq/{TV_TOKEN}",
        "admin token as webhook token": f"{base}/webhook/sq/{ADMIN}",
        "empty-looking token": f"{base}/webhook/sq/%20",
        "alias with a wrong token": f"{base}/trading/webhook/sq/{TOKEN.upper()}",
    }.items():
        expect(name, httpx.post(url, json=BUY), 401, "unauthorized")
    url_signed = f"{base}/webhook/signed/{SIGNED_TOKEN}"
    expect("unsigned", httpx.post(url_signed, content=body), 401, "invalid-signature")
    tampered = json.dumps({**BUY, "quantity": 500}).encode()
    expect("tampered body", httpx.post(url_signed, content=tampered, headers=signed_headers(body)), 401,
           "invalid-signature")  # fmt: skip
    wrong = "whsec_" + base64.b64encode(b"an attacker's guess, 32 bytes!!!").decode()
    expect("wrong secret", httpx.post(url_signed, content=body, headers=signed_headers(body, wrong)), 401,
           "invalid-signature")  # fmt: skip
    expect("expired timestamp", httpx.post(url_signed, content=body, headers=signed_headers(body, age=301)), 401,
           "expired-signature")  # fmt: skip
    # 302, not 301: the stamp is whole seconds (truncated), so "301 s ahead" is only 300.x s ahead when the
    # request leaves late in its second, and the server rightly accepts that.
    expect("future timestamp", httpx.post(url_signed, content=body, headers=signed_headers(body, age=-302)), 401,
           "expired-signature")  # fmt: skip
    expect("signed for another id", httpx.post(url_signed, content=body, headers={
        **signed_headers(body, msg_id="msg_a"), "webhook-id": "msg_b"}), 401, "invalid-signature")  # fmt: skip

    for name, (response, status, code) in cases.items():
        assert (response.status_code, response.json().get("messageCode")) == (status, code), name
        assert response.json()["success"] is False, name
    unauthorized = {json.dumps(r.json()) for r, s, _ in cases.values() if s == 401 and "token" in r.json()["message"]}
    assert len(unauthorized) == 1, "unknown strategy and wrong token must be indistinguishable"
    assert counts(daemon) == (0, 0, 0), "a refused request became a signal or an order"
    journaled = rows(daemon.db, "SELECT status_code, message_code, strategy FROM webhooks")
    assert sorted((r[0], r[1]) for r in journaled) == sorted((s, c) for _, s, c in cases.values())
    assert all(r["strategy"] is None for r in journaled if r["status_code"] == 401 and r[1] == "unauthorized")

    # The old and the new secret both verify during a rotation; a replay of the same webhook-id is one signal.
    first = httpx.post(url_signed, content=body, headers=signed_headers(body, OLD_SECRET, "msg_rotation"))
    assert first.status_code == 200 and "duplicate" not in first.json()
    headers = signed_headers(body, NEW_SECRET, "msg_rotation")
    with ThreadPoolExecutor(max_workers=16) as pool:
        replays = list(pool.map(lambda _: httpx.post(url_signed, content=body, headers=headers, timeout=GUARD),
                                range(64)))  # fmt: skip
    assert {(r.status_code, r.json()["id"], r.json().get("duplicate")) for r in replays} == {
        (200, first.json()["id"], True)
    }
    daemon.wait_final(first.json()["id"])
    assert counts(daemon) == (1, 1, 1), "64 replays of a signed request must trade exactly once"


@pytest.mark.parametrize(("sent", "replayed"), [(None, "attacker-chosen"), ("order-42", None)])
def test_a_signed_request_replayed_with_its_idempotency_key_header_changed_trades_once(
    start_daemon: Callable[..., Daemon], sent: str | None, replayed: str | None
) -> None:
    daemon = start_daemon(strategies())
    url = f"{daemon.base}/webhook/signed/{SIGNED_TOKEN}"
    body = json.dumps(BUY).encode()
    signed = signed_headers(body, msg_id="msg_once")

    def key(value: str | None) -> dict[str, str]:
        return {} if value is None else {"Idempotency-Key": value}

    first = httpx.post(url, content=body, headers={**signed, **key(sent)})
    assert first.status_code == 200 and "duplicate" not in first.json()
    # Someone who saw the request (the tunnel, a log) replays it within the signature's 5 minutes, adding or
    # removing the Idempotency-Key header, which the signature does not cover.
    replay = httpx.post(url, content=body, headers={**signed, **key(replayed)})
    assert (replay.status_code, replay.json().get("duplicate"), replay.json()["id"]) == (200, True, first.json()["id"])
    assert counts(daemon)[0] == 1, "one signed webhook-id must make one signal"


def test_behind_a_trusted_proxy_only_the_hop_our_proxy_added_counts(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon({"tv": strategy(TV_TOKEN, RELAXED + "    allowed_sources: [tradingview]\n")},
                          server="  trusted_proxies: [127.0.0.1]\n")  # fmt: skip
    url = f"{daemon.base}/webhook/tv/{TV_TOKEN}"

    def post(xff: str | None, **extra: Any) -> int:
        headers = {} if xff is None else {"X-Forwarded-For": xff}
        return httpx.post(url, json={**BUY, **extra}, headers=headers).status_code

    assert post(TV, n=1) == 200, "cloudflared/tailscale on this host forwarding TradingView"
    assert post(f"{ATTACKER}, {TV}", n=2) == 200, "a forged left part does not matter"
    assert post(f"{TV}, {ATTACKER}", n=3) == 403, "the attacker's own address, appended by our proxy, is judged"
    assert post(None, n=4) == 403, "no header: the proxy itself is not TradingView"
    assert post(f"{TV}, garbage", n=5) == 403
    stored = rows(daemon.db, "SELECT remote_addr, status_code FROM webhooks ORDER BY received_at")
    assert [tuple(r) for r in stored] == [(TV, 200), (TV, 200), (ATTACKER, 403), ("127.0.0.1", 403),
                                          ("garbage", 403)]  # fmt: skip
    # Where docs/exposure.md sends a user puzzled by a 403: a refused request makes no signal, only a webhook row.
    assert {w["remote_addr"] for w in daemon.api("webhooks") if w["status_code"] == 403} == {ATTACKER, "127.0.0.1",
                                                                                           "garbage"}  # fmt: skip
    advice = EXPOSURE.read_text().split("If a request got 403 unexpectedly", 1)[1].split("\n\n", 1)[0]
    assert "/api/webhooks" in advice and "bridge signals" not in advice


def test_rate_limit_then_lockout_after_repeated_bad_tokens(start_daemon: Callable[..., Daemon]) -> None:
    daemon = start_daemon(
        {"sq": strategy(TOKEN, "    rate_limit: {per_minute: 3, per_hour: 500}\n")},
        server="  auth_failure_limit: 5\n  auth_lockout: 300\n",
    )
    answers = [daemon.post({**BUY, "n": n}) for n in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].json()["messageCode"] == "too-many-requests"
    assert "3 requests a minute" in answers[3].json()["message"]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60

    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    guesses = [httpx.post(wrong, json=BUY).status_code for _ in range(8)]
    assert guesses == [401] * 5 + [429] * 3, "the fifth failure within a minute starts the lockout"
    locked = daemon.post(BUY)
    assert locked.status_code == 429, "a locked-out address is refused even with the right token"
    assert locked.json()["messageCode"] == "too-many-requests" and "failed authentications" in locked.json()["message"]
    assert int(locked.headers["Retry-After"]) > 200
    others = [httpx.request(method, wrong).status_code for method in ("GET", "PUT", "DELETE", "PATCH") * 5]
    assert set(others) == {429}, "whatever the method: a flood of GETs must not fill the journal with 405s"
    journaled = [r[0] for r in rows(daemon.db, "SELECT status_code FROM webhooks ORDER BY received_at")]
    assert journaled == [200, 200, 200, 429, 429, 401, 401, 401, 401, 401], "lockout answers are not journaled"
    daemon.wait_output("locked out 127.0.0.1 for 300s")
    assert counts(daemon)[0] == 3
    metrics = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    # Counted apart: an address guessing tokens is not the strategy's own sender sending too fast.
    assert 'bridge_webhooks_total{outcome="rate-limited"} 2.0' in metrics, "the strategy's own two"
    assert 'bridge_webhooks_total{outcome="locked-out"} 24.0' in metrics, "3 guesses, the right token, 20 others"


def test_other_methods_with_a_wrong_token_count_toward_the_lockout(start_daemon: Callable[..., Daemon]) -> None:
    # Before, only a POST counted: a stranger's GETs and DELETEs to any webhook-shaped URL were each journaled as a
    # 405, without end, until the journal reached database_max_mb and every real alert was answered 503.
    daemon = start_daemon({"sq": strategy()}, server="  auth_failure_limit: 5\n  auth_lockout: 300\n")
    right = [httpx.request(method, daemon.url).status_code for method in ("GET", "HEAD", "PUT") * 4]
    assert right == [405] * 12, "the right URL with the wrong method is no failed authentication"
    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    unknown = f"{daemon.base}/trading/webhook/nosuch/{TOKEN}"
    methods = ("GET", "HEAD", "DELETE", "OPTIONS", "PATCH") * 2
    guesses = [httpx.request(method, (wrong, unknown)[n % 2]).status_code for n, method in enumerate(methods)]
    assert guesses == [405] * 5 + [429] * 5, "the fifth failure within a minute starts the lockout"
    assert daemon.post(BUY).status_code == 429
    journaled = [r[0] for r in rows(daemon.db, "SELECT status_code FROM webhooks")]
    assert journaled == [405] * 17
    assert counts(daemon)[0] == 0


def test_the_admin_api_is_only_on_the_admin_listener_when_one_is_set(start_daemon: Callable[..., Daemon]) -> None:
    from tests.conftest import free_port

    admin_port = free_port()
    daemon = start_daemon({"sq": strategy()}, server=f"  admin_port: {admin_port}\n")
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    admin = f"http://127.0.0.1:{admin_port}"
    for path in ("/api/signals", "/api/webhooks", "/api/positions"):
        public = httpx.get(f"{daemon.base}{path}", headers=bearer)
        assert (public.status_code, public.json()["messageCode"]) == (404, "not-found"), path
        assert httpx.get(f"{admin}{path}", headers=bearer).status_code == 200, path
        assert httpx.get(f"{admin}{path}").status_code == 401, "the admin listener still needs the token"
    assert httpx.post(f"{daemon.base}/api/halt", headers=bearer).status_code == 404
    assert httpx.post(f"{daemon.base}/api/reload", headers=bearer).status_code == 404
    assert daemon.post(BUY).status_code == 200, "webhooks are served on the public listener"
    assert httpx.get(f"{daemon.base}/health").status_code == 200
    halted = patient_bridge("halt", "--config", str(daemon.config), cwd=daemon.config.parent)
    # Confirmed by the daemon there: a halt it did not confirm also names the URL, then goes into the journal.
    assert halted.returncode == 0 and f"the daemon at http://127.0.0.1:{admin_port}/api/halt confirmed it" in (
        halted.stdout
    ), f"the CLI finds the admin listener: {halted.stdout}{halted.stderr}"
    assert httpx.get(f"{daemon.base}/health").json()["halted"] is True


@pytest.mark.parametrize("change", ["moved", "removed"])
def test_a_reload_changing_admin_port_leaves_the_admin_side_where_it_listens(
    start_daemon: Callable[..., Daemon], change: str
) -> None:
    """docs/security.md: an admin_port change takes effect after a restart; until then /api, /metrics and the
    dashboard all stay on the listener that exists, and the public one keeps answering 404 there."""
    from tests.conftest import free_port

    admin_port = free_port()
    daemon = start_daemon({"sq": strategy()}, server=f"  admin_port: {admin_port}\n")
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    admin = f"http://127.0.0.1:{admin_port}"
    later = f"  admin_port: {free_port()}\n" if change == "moved" else ""
    daemon.config.write_text(daemon.config.read_text().replace(f"  admin_port: {admin_port}\n", later))
    reloaded = httpx.post(f"{admin}/api/reload", headers=bearer, timeout=GUARD)
    assert reloaded.status_code == 200 and reloaded.json()["success"], reloaded.text
    for path in ("/api/signals", "/metrics", "/"):
        assert httpx.get(f"{admin}{path}", headers=bearer).status_code == 200, path
        assert httpx.get(f"{daemon.base}{path}", headers=bearer).status_code == 404, path
    assert "server.admin_port changed: it takes effect when the daemon restarts" in daemon.wait_output("admin_port")


def test_an_attacker_rotating_ipv6_addresses_within_one_network_stays_locked_out(
    start_daemon: Callable[..., Daemon],
) -> None:
    # A home line or a VPS gets a /64 or more: 2**64 addresses, a fresh one for every guess.
    server = "  trusted_proxies: [127.0.0.1]\n  auth_failure_limit: 5\n  auth_lockout: 300\n"
    daemon = start_daemon({"sq": strategy()}, server=server)

    def via(address: str, url: str, **kw: Any) -> int:
        return httpx.post(url, headers={"X-Forwarded-For": address, **kw.pop("headers", {})}, **kw).status_code

    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    guesses = [via(f"2001:db8:1:2::{n:x}", wrong, json=BUY) for n in range(1, 9)]
    assert guesses == [401] * 5 + [429] * 3
    assert via("2001:db8:1:2:ffff::1", daemon.url, json=BUY) == 429, "the same /64, even with the right token"
    assert via("2001:db8:1:3::1", daemon.url, json=BUY) == 200, "the next /64 is someone else"
    daemon.wait_output("locked out 2001:db8:1:2::/64 for 300s")
    bad = {"Authorization": "Bearer " + "x" * 24}
    admin = [via(f"2001:db8:7:7::{n:x}", f"{daemon.base}/api/halt", headers=bad) for n in range(1, 8)]
    assert admin == [401] * 5 + [429] * 2


def test_an_attacker_rotating_the_64s_of_a_48_is_locked_out_by_the_48_but_not_its_valid_senders(
    start_daemon: Callable[..., Daemon],
) -> None:
    # A /48 (a site's allocation, a VPS provider's) holds 65,536 /64s: a fresh one for every guess or two met no
    # lockout, and past 10,000 the oldest were forgotten, so it could go on journaling 401s without end.
    server = "  trusted_proxies: [127.0.0.1]\n  auth_failure_limit: 2\n  auth_lockout: 300\n"
    daemon = start_daemon({"sq": strategy()}, server=server)

    def via(address: str, url: str, **kw: Any) -> int:
        return httpx.post(url, headers={"X-Forwarded-For": address, **kw.pop("headers", {})}, **kw).status_code

    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    wide = 2 * WIDE_LOCKOUT_FACTOR  # the /48's threshold
    guesses = [via(f"2001:db8:5:{n:x}::1", wrong, json=BUY) for n in range(wide + 3)]  # one guess per /64
    assert guesses == [401] * wide + [429] * 3
    assert via("2001:db8:5:fffe::1", wrong, json=BUY) == 429, "a fresh /64 of the /48 guessing on"
    # A provider's /48 holds its other customers too: the operator's own sender there, with the right token, is
    # not refused for a neighbour's guesses (its rows are bounded by its rate limit, not the lockout).
    assert via("2001:db8:5:ffff::1", daemon.url, json=BUY) == 200, "the same /48, with the right token"
    assert via("2001:db8:6::1", daemon.url, json=BUY | {"ticker": "AMZN"}) == 200, "the next /48 is someone else"
    daemon.wait_output("locked out 2001:db8:5::/48 for 300s")
    assert rows(daemon.db, "SELECT count(*) FROM webhooks WHERE status_code = 401")[0][0] == wide
    assert rows(daemon.db, "SELECT count(*) FROM webhooks WHERE status_code = 200")[0][0] == 2


def test_strangers_journal_a_bounded_number_of_rows_a_minute_and_senders_with_the_token_all(
    start_daemon: Callable[..., Daemon],
) -> None:
    # Many addresses (a botnet, the 65,536 /48s of a /32, TradingView's shared ones, which no lockout covers) each
    # under the lockout: every one of their 401s was journaled.
    server = "  auth_failure_limit: 0\n  unauthenticated_journal_per_minute: 5\n"
    slow = strategy(token=TOKEN + "x", extra="    rate_limit: {per_minute: 1}\n")
    daemon = start_daemon({"sq": strategy(), "slow": slow}, server=server)
    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    answers = [httpx.post(wrong, json=BUY) for _ in range(4)]
    answers += [httpx.post(f"{daemon.base}/webhook/nope/{TOKEN}", json=BUY), httpx.get(wrong)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    refused = answers[-1]
    assert refused.json()["messageCode"] == "too-many-requests" and int(refused.headers["Retry-After"]) >= 1
    assert "unauthenticated_journal_per_minute" in refused.json()["message"]
    for n in range(3):  # senders with the token are journaled whatever strangers send
        assert daemon.post(BUY | {"ticker": f"T{n}"}).status_code == 200
    own = f"{daemon.base}/webhook/slow/{TOKEN}x"  # a strategy's own rate limit, apart from the strangers'
    assert [daemon.post(BUY | {"ticker": f"S{n}"}, url=own).status_code for n in range(2)] == [200, 429]
    journaled = [tuple(r) for r in rows(daemon.db, "SELECT status_code FROM webhooks ORDER BY received_at")]
    assert journaled == [(401,)] * 5 + [(200,)] * 4 + [(429,)]
    daemon.wait_output("answered 429 and not journaled")
    metrics = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    # Counted apart: a flood of strangers is not a strategy's own sender sending too fast.
    assert 'bridge_webhooks_total{outcome="unauthenticated-limited"} 1.0' in metrics, "each one is counted"
    assert 'bridge_webhooks_total{outcome="rate-limited"} 1.0' in metrics, "the strategy's own"


def test_with_an_admin_port_no_dashboard_path_answers_on_the_public_listener(
    start_daemon: Callable[..., Daemon],
) -> None:
    from tests.conftest import free_port

    admin_port = free_port()
    daemon = start_daemon({"sq": strategy()}, server=f"  admin_port: {admin_port}\n")
    admin = f"http://127.0.0.1:{admin_port}"
    for method, path in [("GET", "/"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/dashboard/state"),
                         ("GET", "/dashboard/static/dashboard.js"), ("POST", "/dashboard/halt")]:  # fmt: skip
        public = httpx.request(method, f"{daemon.base}{path}")
        assert (public.status_code, public.json()["messageCode"]) == (404, "not-found"), path
        assert httpx.request(method, f"{admin}{path}").status_code != 404, path


def test_bad_tokens_sent_through_tradingview_do_not_lock_out_tradingview(start_daemon: Callable[..., Daemon]) -> None:
    # TradingView's webhook addresses are shared by every TradingView user: one who knows the host can send alerts
    # with wrong tokens from them. Locking those addresses out would refuse our own alerts (429, never resent),
    # exits included, for as long as the stranger keeps it up.
    server = "  trusted_proxies: [127.0.0.1]\n  auth_failure_limit: 5\n  auth_lockout: 300\n"
    daemon = start_daemon({"tv": strategy(TV_TOKEN, RELAXED + "    allowed_sources: [tradingview]\n")}, server=server)
    wrong = f"{daemon.base}/webhook/tv/{TV_TOKEN[:-1]}x"
    from_tv = {"X-Forwarded-For": TV}
    assert [httpx.post(wrong, json=BUY, headers=from_tv).status_code for _ in range(8)] == [401] * 8
    ours = httpx.post(f"{daemon.base}/webhook/tv/{TV_TOKEN}", json=BUY, headers=from_tv)
    assert ours.status_code == 200, ours.text
    # Any other address still meets the lockout, and so does the admin door from TradingView's.
    elsewhere = {"X-Forwarded-For": ATTACKER}
    assert [httpx.post(wrong, json=BUY, headers=elsewhere).status_code for _ in range(6)] == [401] * 5 + [429]
    admin = [httpx.get(f"{daemon.base}/api/signals", headers={**from_tv, "Authorization": "Bearer x"}).status_code
             for _ in range(6)]  # fmt: skip
    assert admin == [401] * 5 + [429]


def test_a_strangers_long_headers_are_journaled_cut_short(start_daemon: Callable[..., Daemon]) -> None:
    # Before, every header was journaled whole, a wrong token's 401 too: twenty wrong tokens a minute with the most
    # headers a request may have each filled the journal up to database_max_mb, and then every real alert got 503.
    daemon = start_daemon({"sq": strategy()}, server="  auth_failure_limit: 5\n")
    wrong = f"{daemon.base}/webhook/sq/{TOKEN[:-1]}x"
    many = {f"x-junk-{n}": "b" * 100 for n in range(150)}
    answer = httpx.post(wrong, json=BUY, headers={"x-long": "a" * 30_000 + TOKEN, "x-name-" + "n" * 5000: "1",
                                                  **many})  # fmt: skip
    assert answer.status_code == 401
    (row,) = rows(daemon.db, "SELECT headers FROM webhooks")
    headers = json.loads(row[0])
    assert len(row[0]) < 16 * 1024, "a fraction of the 50 KB sent"
    # Past the first STRANGER_HEAD_CHARS of a stranger's headers, a value is noted by its size, not read.
    assert headers["x-long"] == f"({30_000 + len(TOKEN)} characters, not read)", headers["x-long"]
    assert TOKEN[:8] not in row[0], "cut after the token was masked, never through it"
    assert "x-junk-0" in headers and "user-agent" in headers
    assert daemon.post(BUY).status_code == 200


def test_a_token_used_from_outside_allowed_sources_meets_the_lockout(start_daemon: Callable[..., Daemon]) -> None:
    # Before, a leaked token sent from an address the strategy does not allow was answered 403 and journaled as often
    # as it was sent, without end, until the journal reached database_max_mb and every real alert got 503.
    server = "  auth_failure_limit: 5\n  auth_lockout: 300\n"
    daemon = start_daemon({"tv": strategy(TV_TOKEN, RELAXED + "    allowed_sources: [tradingview]\n")}, server=server)
    url = f"{daemon.base}/webhook/tv/{TV_TOKEN}"
    assert [httpx.post(url, json={**BUY, "n": n}).status_code for n in range(8)] == [403] * 5 + [429] * 3
    assert [r[0] for r in rows(daemon.db, "SELECT status_code FROM webhooks")] == [403] * 5
    daemon.wait_output("locked out 127.0.0.1 for 300s")
    assert counts(daemon)[0] == 0


def test_other_methods_with_the_right_token_meet_the_source_and_rate_checks(
    start_daemon: Callable[..., Daemon],
) -> None:
    # Before, a GET (any method but POST) with the right token was answered 405 and journaled before any other check:
    # whoever held the token could fill the journal past rate_limit, and from outside allowed_sources too.
    daemon = start_daemon({"sq": strategy(TOKEN, "    rate_limit: {per_minute: 3, per_hour: 500}\n"),
                           "tv": strategy(TV_TOKEN, RELAXED + "    allowed_sources: [tradingview]\n")},
                          server="  auth_failure_limit: 1000\n")  # fmt: skip
    gets = [httpx.request(method, daemon.url) for method in ("GET", "PUT", "DELETE", "GET", "HEAD")]
    assert [g.status_code for g in gets] == [405, 405, 405, 429, 429]
    assert gets[0].json()["messageCode"] == "post-required" and gets[3].json()["messageCode"] == "too-many-requests"
    assert daemon.post(BUY).status_code == 429, "the same limit as POSTs"
    assert httpx.get(f"{daemon.base}/webhook/tv/{TV_TOKEN}").status_code == 403
    journaled = [r[0] for r in rows(daemon.db, "SELECT status_code FROM webhooks ORDER BY received_at")]
    assert journaled == [405, 405, 405, 429, 429, 429, 403]


def test_a_request_head_without_end_is_refused_before_it_is_all_read(start_daemon: Callable[..., Daemon]) -> None:
    # Before, the C parser took a request's line and headers without limit, each byte held in memory until they
    # ended: a few strangers streaming endless headers could take the daemon's memory, without a token, unlocked out.
    import socket

    daemon = start_daemon({"sq": strategy()})
    head = f"POST /webhook/sq/{TOKEN[:-1]}x HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\nx-junk: ".encode()
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as conn:
        try:
            conn.sendall(head)
            for _ in range(1024):  # 64 MiB: more than the kernel's buffers hold, were the daemon no longer reading
                conn.sendall(b"a" * 65536)
            conn.sendall(b"\r\n\r\n{}")
            answer = conn.recv(4096)
        except OSError:  # reset: it stopped reading and closed with the rest unread
            answer = b"reset"
    assert answer.startswith((b"HTTP/1.1 431", b"reset")), answer[:200]
    assert rows(daemon.db, "SELECT count(*) FROM webhooks")[0][0] == 0
    assert daemon.post(BUY).status_code == 200, "the next request is served"
    # A head and a body near max_body_bytes in one read, again and again on one connection: no head is long there.
    with httpx.Client() as client:
        for n in range(5):
            padded = json.dumps({**BUY, "n": n, "note": "x" * 60_000}).encode()
            answer = client.post(daemon.url, content=padded, headers={"content-type": "application/json"})
            assert answer.status_code == 200, answer.text


def test_a_webhook_url_with_an_empty_or_extra_segment_is_refused_journaled_and_never_echoed(
    start_daemon: Callable[..., Daemon],
) -> None:
    # Before, `/webhook/sq/<token>//` was answered 307 by the router with the token in its Location header, and was
    # not journaled: a sender that does not follow a redirect with its body lost the alert without a trace.
    daemon = start_daemon({"sq": strategy()}, server="  auth_failure_limit: 1000\n")
    base = daemon.base
    right = [f"{base}/webhook/sq/{TOKEN}//", f"{base}/trading/webhook/sq/{TOKEN}//", f"{base}/webhook/sq//{TOKEN}",
             f"{base}/webhook/sq/{TOKEN}/extra", f"{base}/webhook//sq/{TOKEN}/"]  # fmt: skip
    wrong = [f"{base}/webhook/sq/{TOKEN[:-1]}x//", f"{base}/webhook/{TOKEN}//", f"{base}/webhook/"]
    for url in right + wrong:
        for method in ("POST", "GET"):
            answer = httpx.request(method, url, json=BUY)
            assert answer.status_code == 404, (method, url, answer.status_code)
            assert answer.json()["messageCode"] == "invalid-webhook-url", url
            assert "/webhook/<strategy>/<token>" in answer.json()["message"]
            assert "location" not in answer.headers
            assert TOKEN not in answer.text and TOKEN not in str(answer.headers)
    journaled = rows(daemon.db, "SELECT strategy, path, status_code, message_code FROM webhooks ORDER BY received_at")
    assert [(r["status_code"], r["message_code"]) for r in journaled] == [(404, "invalid-webhook-url")] * 16
    assert [r["strategy"] for r in journaled] == ["sq"] * 10 + [None] * 6, "the right token tells its strategy"
    assert journaled[0]["path"] == "/webhook/sq/***//", "the shape of the URL shows, never its token"
    assert journaled[1]["path"] == "/webhook/sq/***//"
    assert journaled[2]["path"] == "/trading/webhook/sq/***//"
    assert journaled[6]["path"] == "/webhook/sq/***/***"
    assert not any(TOKEN in r["path"] or TOKEN[:8] in r["path"] for r in journaled)
    assert counts(daemon)[0] == 0
    # No other route redirects either: a trailing slash there is a plain 404.
    for path in ("/health/", "/api/signals/", "/dashboard/state/"):
        answer = httpx.get(base + path + f"?token={TOKEN}", headers={"Authorization": f"Bearer {ADMIN}"})
        assert (answer.status_code, answer.json()["messageCode"]) == (404, "not-found"), path
        assert "location" not in answer.headers
    # The kill switch with a slash too many: a 307 with an empty body read as done to `curl -X POST` without -L.
    halt = httpx.post(f"{base}/api/halt/", headers={"Authorization": f"Bearer {ADMIN}"})
    assert (halt.status_code, halt.json()["messageCode"]) == (404, "not-found")
    assert daemon.post(BUY).status_code == 200
    daemon.stop()
    assert TOKEN not in daemon.output()


@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded"])
def test_a_request_from_a_trusted_proxy_without_its_header_is_refused_saying_the_proxy_must_add_it(
    start_daemon: Callable[..., Daemon], header: str
) -> None:
    # Before, its 403 said only "list the proxy in server.trusted_proxies", which it was. Behind a plain TCP forward
    # (ssh -R, socat), which adds no header, that led to the forward's own address in allowed_sources, or to a
    # forward believed as a proxy: then any sender picks its address by writing the header itself.
    daemon = start_daemon({"tv": strategy(TV_TOKEN, RELAXED + "    allowed_sources: [tradingview]\n")},
                          server=f"  trusted_proxies: [127.0.0.1]\n  forwarded_header: {header}\n")  # fmt: skip
    answer = httpx.post(f"{daemon.base}/webhook/tv/{TV_TOKEN}", json=BUY)
    assert (answer.status_code, answer.json()["messageCode"]) == (403, "forbidden-ip")
    message = answer.json()["message"]
    named = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}[header]
    assert f"came without {named}" in message and "must add" in message and "TCP" in message, message
    # The sender's own header passed on as it was, with no address after it: the same advice.
    garbage = httpx.post(f"{daemon.base}/webhook/tv/{TV_TOKEN}", json=BUY, headers={header: "for=unknown"})
    assert garbage.status_code == 403
    assert f"last entry of {named} is not an address" in garbage.json()["message"]
    assert "must add" in garbage.json()["message"]
    stored = rows(daemon.db, "SELECT message FROM webhooks ORDER BY received_at")
    assert [r[0] for r in stored] == [message, garbage.json()["message"]]
    text = EXPOSURE.read_text()
    assert "adds no header" in text.split("## How the bridge finds the sender's address", 1)[1].split("\n## ", 1)[0]
