"""Dashboard sessions over plain HTTP: the cookie, CSRF on the halt/resume forms, nothing without a session."""

from __future__ import annotations

import re
import socket
import sqlite3
from typing import Any

import httpx

from tests.conftest import ADMIN, GUARD, TOKEN


def sign_in(daemon: Any) -> tuple[httpx.Client, str]:
    """A client holding a session cookie, and the page's CSRF token."""
    client = httpx.Client(base_url=daemon.base, timeout=GUARD)
    response = client.post("/login", data={"token": ADMIN})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return client, match.group(1)


def test_without_a_session_only_the_sign_in_form_is_served(make_daemon: Any) -> None:
    daemon = make_daemon()
    page = httpx.get(f"{daemon.base}/", timeout=GUARD)
    assert page.status_code == 200 and 'name="token"' in page.text and 'id="timeline"' not in page.text
    assert httpx.get(f"{daemon.base}/dashboard/state", timeout=GUARD).status_code == 401
    assert httpx.get(f"{daemon.base}/dashboard/url/sq", timeout=GUARD).status_code == 401
    wrong = httpx.post(f"{daemon.base}/login", data={"token": "wrong-wrong-wrong-wrong"}, timeout=GUARD)
    assert wrong.status_code == 401
    forged = httpx.post(f"{daemon.base}/dashboard/halt", data={"csrf": "x"}, cookies={"bridge_session": "made-up"},
                        timeout=GUARD)  # fmt: skip
    assert forged.status_code == 403
    assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is False


def test_halt_needs_the_session_csrf_token_and_the_url_is_only_given_on_request(make_daemon: Any) -> None:
    daemon = make_daemon()
    client, csrf = sign_in(daemon)
    try:
        assert TOKEN not in client.get("/").text
        assert client.post("/dashboard/halt", data={"csrf": "not-it"}).status_code == 403
        assert client.post("/dashboard/halt", data={}).status_code == 403
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is False
        assert client.post("/dashboard/halt", data={"csrf": csrf}).status_code == 303
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is True
        assert client.get("/dashboard/state").json()["halted"] is True
        assert client.post("/dashboard/resume", data={"csrf": csrf}).status_code == 303
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is False
        url = client.get("/dashboard/url/sq").json()["url"]
        assert url == f"{daemon.base}/webhook/sq/{TOKEN}"
        client.post("/logout")
        assert client.get("/dashboard/state").status_code == 401
    finally:
        client.close()


def test_a_form_with_too_many_fields_or_a_non_ascii_csrf_is_refused_not_a_500(make_daemon: Any) -> None:
    daemon = make_daemon()
    many = "token=wrong-token-0000000000&" + "&".join(f"f{n}=1" for n in range(10))  # 11 fields, no auth needed
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert httpx.post(f"{daemon.base}/login", content=many, headers=form, timeout=GUARD).status_code == 401
    client, csrf = sign_in(daemon)
    try:
        assert client.post("/dashboard/halt", data={"csrf": "é"}).status_code == 403
        assert client.post("/dashboard/halt", content=f"csrf={csrf}&" + many, headers=form).status_code == 403
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is False
    finally:
        client.close()


def test_the_cookie_is_secure_when_the_browser_signs_in_over_https_behind_a_tunnel(make_daemon: Any) -> None:
    # A tunnel or proxy ends TLS and talks plain HTTP to the bridge: only the browser's Origin says it was HTTPS.
    # Without Secure the browser would also send the session over any plain-HTTP request to that host.
    daemon = make_daemon()
    tunnel = httpx.post(f"{daemon.base}/login", data={"token": ADMIN}, headers={"origin": "https://hooks.example.com"})
    assert tunnel.status_code == 303 and "; secure" in tunnel.headers["set-cookie"].lower()
    lan = httpx.post(f"{daemon.base}/login", data={"token": ADMIN}, headers={"origin": "http://192.168.1.5:8787"})
    assert lan.status_code == 303 and "secure" not in lan.headers["set-cookie"].lower(), "plain HTTP would drop it"


def test_a_halt_the_journal_cannot_store_says_so_instead_of_a_bare_500(make_daemon: Any) -> None:
    daemon = make_daemon()
    client, csrf = sign_in(daemon)
    blocker = sqlite3.connect(daemon.db, timeout=5, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the journal past the daemon's busy timeout
        answer = client.post("/dashboard/halt", data={"csrf": csrf})
        assert answer.status_code == 503, answer.text
        assert "trading is halted until restart, but not persisted" in answer.json()["message"]
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is True, "the halt holds meanwhile"
        resumed = client.post("/dashboard/resume", data={"csrf": csrf})
        assert resumed.status_code == 503 and "still halted" in resumed.json()["message"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        client.close()


def _raw_post(daemon: Any, path: str, head: str, body: bytes) -> bytes:
    """Send a request's head and the start of its body, then read the answer (the rest of the body never comes)."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() + body)
        return conn.recv(4096)


def test_a_huge_form_is_refused_before_it_is_read_into_memory(make_daemon: Any) -> None:
    # Before, the whole body was read first and only then measured: anyone who reaches the sign-in form could make the
    # trading daemon hold gigabytes. The first check needs no credentials at all.
    daemon = make_daemon()
    form = "Content-Type: application/x-www-form-urlencoded\r\n"
    declared = _raw_post(daemon, "/login", form + "Content-Length: 4000000000\r\n", b"token=" + b"x" * 1000)
    assert declared.startswith(b"HTTP/1.1 413 "), declared[:200]
    chunk = b"x" * 3000
    streamed = _raw_post(daemon, "/login", form + "Transfer-Encoding: chunked\r\n",
                         b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2)  # fmt: skip
    assert streamed.startswith(b"HTTP/1.1 413 "), streamed[:200]
    client, csrf = sign_in(daemon)
    try:
        cookie = f"Cookie: bridge_session={client.cookies['bridge_session']}\r\n"
        huge = _raw_post(
            daemon, "/dashboard/halt", form + cookie + "Content-Length: 4000000000\r\n", f"csrf={csrf}&".encode()
        )
        assert huge.startswith(b"HTTP/1.1 413 "), huge[:200]
    finally:
        client.close()
    assert httpx.get(f"{daemon.base}/health", timeout=GUARD).json()["halted"] is False
