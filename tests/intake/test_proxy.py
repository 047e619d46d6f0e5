"""What the intake process passes on to the daemon: the request as sent, however many are waiting.

Each test runs the real `bridge run` with `server.intake_process` and compares with one process where
the answer should be the same.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, free_port
from tests.security.conftest import rows, strategy

ON = "  intake_process: true\n"


def raw_post(daemon: Daemon, path: str, payload: dict[str, object]) -> int:
    """POST to `path` exactly as written: http.client, unlike httpx, sends `.` and `..` segments as they are."""
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    try:
        connection.request("POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


@pytest.mark.parametrize("server", ["", ON], ids=["one-process", "intake-process"])
def test_a_webhook_path_with_dot_segments_is_not_found_and_passes_no_rate_limit_by(
    start_daemon: Callable[..., Daemon], server: str
) -> None:
    daemon = start_daemon({"sq": strategy(TOKEN, "    rate_limit: {per_minute: 1, per_hour: 500}\n")}, server=server)
    assert raw_post(daemon, f"/webhook/sq/{TOKEN}", {"ticker": "AMD", "action": "buy"}) == 200
    assert raw_post(daemon, f"/webhook/sq/{TOKEN}", {"ticker": "AMD", "action": "sell"}) == 429
    # Behind the intake process these reached the daemon as `/webhook/sq/<token>` (its HTTP client resolves
    # dot segments), where its own rate limit and lockout, not the intake's, judged them: one more trade each.
    for path in (f"/x/../webhook/sq/{TOKEN}", f"/webhook/sq/./{TOKEN}", f"/webhook/./sq/{TOKEN}"):
        assert raw_post(daemon, path, {"ticker": "AMD", "action": "sell"}) == 404, path
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == 1


def test_senders_holding_requests_open_do_not_keep_a_halt_from_the_daemon(start_daemon: Callable[..., Daemon]) -> None:
    admin_port = free_port()
    daemon = start_daemon({"sq": strategy()}, server=ON + f"  admin_port: {admin_port}\n  limit_concurrency: 1000\n")
    held = []
    try:  # strangers on the public port announce a body and never send it: each request waits at the daemon
        for _ in range(120):
            sender = socket.create_connection(("127.0.0.1", daemon.port))
            sender.sendall(b"POST /anything HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
            held.append(sender)
        assert daemon.post({"ticker": "AMD", "action": "buy"}).status_code == 200
        halt = httpx.post(f"http://127.0.0.1:{admin_port}/api/halt", headers={"Authorization": f"Bearer {ADMIN}"},
                          timeout=GUARD)  # fmt: skip
        assert halt.status_code == 200 and halt.json()["halted"] is True
        assert httpx.get(f"{daemon.base}/health", timeout=GUARD).status_code == 200
    finally:
        for sender in held:
            sender.close()


def sign_in_cut_short(daemon: Daemon, token: str) -> None:
    """A sign-in whose sender goes away mid-body: the form announces more than it sends."""
    form = f"token={token}".encode()
    sender = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    try:
        sender.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(form) + 20, form))  # fmt: skip
        time.sleep(0.5)  # the part sent is taken (and passed on) before the connection goes; no answer comes
    finally:
        sender.close()


@pytest.mark.parametrize("server", ["", ON], ids=["one-process", "intake-process"])
def test_a_request_cut_short_reaches_the_daemon_cut_short_not_as_a_whole_shorter_one(
    start_daemon: Callable[..., Daemon], server: str
) -> None:
    daemon = start_daemon({"sq": strategy()}, server=server + "  auth_failure_limit: 3\n")
    # The operator's own sign-in, its connection lost halfway through the token, three times over.
    for _ in range(3):
        sign_in_cut_short(daemon, ADMIN[: len(ADMIN) // 2])
    # Behind the intake process each arrived whole, its token cut: three wrong admin tokens, and the
    # operator's address locked out of the API with the right one.
    positions = httpx.get(f"{daemon.base}/api/positions", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=GUARD)
    assert positions.status_code == 200, positions.text


@pytest.mark.parametrize("server", ["", ON], ids=["one-process", "intake-process"])
def test_a_full_public_side_leaves_the_admin_api_answering(start_daemon: Callable[..., Daemon], server: str) -> None:
    admin_port = free_port()
    daemon = start_daemon({"sq": strategy()}, server=server + f"  admin_port: {admin_port}\n  limit_concurrency: 5\n")
    path = daemon.url[len(daemon.base) :]
    held = []
    try:  # requests in progress on the public port hold every place: their heads read, their bodies still coming
        # (a stranger's connections stalled on their heads are closed for those waiting: bridge.web.places)
        for _ in range(8):
            sender = socket.create_connection(("127.0.0.1", daemon.port))
            sender.sendall(f"POST {path} HTTP/1.1\r\nHost: bridge\r\nContent-Length: 100\r\n\r\n{{".encode())
            held.append(sender)
        deadline = time.monotonic() + GUARD
        while httpx.get(f"{daemon.base}/health", timeout=GUARD).status_code != 503:  # the public port is full
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The kill switch is on the admin listener so that the public side cannot take it away.
        halt = httpx.post(f"http://127.0.0.1:{admin_port}/api/halt", headers={"Authorization": f"Bearer {ADMIN}"},
                          timeout=GUARD)  # fmt: skip
        assert halt.status_code == 200 and halt.json()["halted"] is True, halt.text
    finally:
        for sender in held:
            sender.close()
