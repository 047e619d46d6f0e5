"""When the journal cannot take a signal (locked, full) or the server is saturated: 503, and nothing half-written.

The full database is real, not simulated: `database_max_mb` caps the daemon's own connection with
`PRAGMA max_page_count` (a per-connection limit, so it must be the daemon that sets it), and the
daemon is fed signals until SQLite itself answers SQLITE_FULL.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from bridge.web import webhook
from tests.conftest import ADMIN, GUARD, Daemon, journal_floor
from tests.security.conftest import rows, strategy


def half_written(db: Path) -> list[str]:
    """Rows that only make sense with a partner the same transaction should have written."""
    problems = []
    for label, sql in {
        "accepted webhook without its signal": "SELECT w.id FROM webhooks w LEFT JOIN signals s ON s.id = w.signal_id "
        "WHERE w.status_code = 200 AND (w.message_code IS NULL) AND s.id IS NULL",
        "signal without its webhook": "SELECT s.id FROM signals s LEFT JOIN webhooks w ON w.id = s.webhook_id "
        "WHERE w.id IS NULL",
        "signal without executions": "SELECT s.id FROM signals s LEFT JOIN executions e ON e.signal_id = s.id "
        "WHERE e.signal_id IS NULL AND s.state != 'ignored'",
        "keyed signal without its key": "SELECT w.id FROM webhooks w WHERE w.headers LIKE '%idempotency-key%' AND "
        "w.status_code = 200 AND w.message_code IS NULL "
        "AND w.signal_id NOT IN (SELECT signal_id FROM idempotency_keys)",
    }.items():  # fmt: skip
        found = rows(db, sql)
        if found:
            problems.append(f"{label}: {[tuple(r) for r in found[:3]]}")
    return problems


def test_a_locked_journal_answers_503_stores_nothing_and_the_resend_succeeds(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()})
    assert daemon.post({"ticker": "AMD", "action": "buy", "price": 1}).status_code == 200
    before = (
        rows(daemon.db, "SELECT count(*) FROM webhooks")[0][0],
        rows(daemon.db, "SELECT count(*) FROM signals")[0][0],
    )
    blocker = sqlite3.connect(daemon.db, timeout=5, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the daemon's busy_timeout
    try:
        blocked = daemon.post({"ticker": "SQ", "action": "buy", "price": 1}, headers={"Idempotency-Key": "sq-1"})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert blocked.status_code == 503
    assert blocked.json()["messageCode"] == "unavailable" and blocked.headers["Retry-After"]
    after = (
        rows(daemon.db, "SELECT count(*) FROM webhooks")[0][0],
        rows(daemon.db, "SELECT count(*) FROM signals")[0][0],
    )
    assert after == before, "a 503 leaves no row behind"
    resend = daemon.post({"ticker": "SQ", "action": "buy", "price": 1}, headers={"Idempotency-Key": "sq-1"})
    assert resend.status_code == 200 and "duplicate" not in resend.json(), "the resend after the lock is the signal"
    assert daemon.wait_final(resend.json()["id"])["state"] == "executed"
    assert half_written(daemon.db) == []
    assert rows(daemon.db, "PRAGMA integrity_check")[0][0] == "ok"


def test_a_full_journal_answers_503_and_keeps_every_acknowledged_signal_whole(
    start_daemon: Any, tmp_path: Path
) -> None:
    cap = (journal_floor(tmp_path / "probe.db") + 96 * 1024) / (1024 * 1024)
    daemon: Daemon = start_daemon({"sq": strategy(extra="    rate_limit: {per_minute: 100000, per_hour: 1000000}\n"
                                                        "    dedupe_window: 0\n")},
                                  top=f"database_max_mb: {cap:.4f}\n")  # fmt: skip
    acked: list[str] = []
    statuses: list[int] = []
    padding = "x" * 400  # journaled with the signal: fills the cap in a few dozen signals
    for n in range(400):
        response = daemon.post({"ticker": f"T{n % 7}", "action": "buy", "price": 5, "extras": {"pad": padding}},
                               headers={"Idempotency-Key": f"k{n}"})  # fmt: skip
        statuses.append(response.status_code)
        if response.status_code == 200:
            acked.append(response.json()["id"])
        if statuses[-3:] == [503, 503, 503]:
            break
    assert 503 in statuses, f"the journal never filled up: {len(acked)} signals stored"
    assert set(statuses) <= {200, 503}, statuses
    assert len(acked) >= 10, "the cap left room for some signals first"
    daemon.wait_output("database or disk is full")
    stored = {r[0] for r in rows(daemon.db, "SELECT id FROM signals")}
    assert set(acked) <= stored, "an acknowledged signal is missing"
    assert half_written(daemon.db) == []
    assert httpx.get(f"{daemon.base}/health", timeout=GUARD).status_code == 200, "the daemon keeps answering"
    daemon.stop()
    assert rows(daemon.db, "PRAGMA integrity_check")[0][0] == "ok"
    print(f"\nfull journal: cap {cap:.3f} MiB, {len(acked)} signals stored, then {statuses.count(503)} x 503")


def test_a_signal_answered_200_as_the_journal_fills_up_still_executes(start_daemon: Any, tmp_path: Path) -> None:
    cap = (journal_floor(tmp_path / "probe.db") + 96 * 1024) / (1024 * 1024)
    # However slow the machine: a signal that waited past max_signal_age (60 s by default) behind the others would
    # end `expired`, rightly, and prove nothing about the journal's room. The waits below are guards, not limits.
    daemon: Daemon = start_daemon({"sq": strategy(extra="    rate_limit: {per_minute: 100000, per_hour: 1000000}\n"
                                                        "    dedupe_window: 0\n")},
                                  top=f"database_max_mb: {cap:.4f}\nmax_signal_age: 86400\n")  # fmt: skip

    def send(n: int) -> httpx.Response:  # each its own symbol: each signal plans and journals an order
        signal = {"ticker": f"T{n}", "action": "buy", "price": 5, "extras": {"pad": "x" * 400}}
        return httpx.post(daemon.url, json=signal, headers={"Idempotency-Key": f"k{n}"}, timeout=300)

    with ThreadPoolExecutor(16) as pool:  # signals executing while others fill the journal
        answers = list(pool.map(send, range(300)))
    acked = [r.json()["id"] for r in answers if r.status_code == 200]
    assert {r.status_code for r in answers} == {200, 503} and acked
    ended = {signal_id: daemon.wait_final(signal_id, timeout=300)["state"] for signal_id in acked}
    # Before, the requests took the journal up to the cap, and the plans of signals already answered 200 could
    # not be journaled: they failed ("database or disk is full") or never ended, and the sender would not resend.
    assert set(ended.values()) == {"executed"}, ended
    assert half_written(daemon.db) == []


def test_signals_waiting_for_their_delay_keep_their_room_as_the_journal_fills_up(
    start_daemon: Any, tmp_path: Path
) -> None:
    cap = (journal_floor(tmp_path / "probe.db") + 192 * 1024) / (1024 * 1024)
    daemon: Daemon = start_daemon({"sq": strategy(extra="    rate_limit: {per_minute: 100000, per_hour: 1000000}\n"
                                                        "    dedupe_window: 0\n")},
                                  top=f"database_max_mb: {cap:.4f}\nmax_signal_age: 86400\n")  # fmt: skip
    # Every signal waits for one moment, so all of them execute after the journal filled up: a reserve of a fixed
    # tenth of the cap (9 pages here) held the plans of a dozen of them, and 80 of 92 failed "database or disk is
    # full". However slow the machine, a signal that arrives after that moment runs at once: the test then proves
    # less, never fails for it.
    at = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    acked: list[str] = []
    for n in range(400):
        signal = {"ticker": f"T{n}", "action": "buy", "price": 5, "delay": at}
        response = daemon.post(signal, headers={"Idempotency-Key": f"k{n}"})
        if response.status_code != 200:
            assert response.status_code == 503, response.text
            break
        acked.append(response.json()["id"])
    assert 10 <= len(acked) < 400, f"the journal never filled up: {len(acked)} signals stored"
    ended = {signal_id: daemon.wait_final(signal_id, timeout=300) for signal_id in acked}
    failed = {i: e["decision"] for i, e in ended.items() if e["state"] != "executed"}
    assert failed == {}, f"{len(failed)} of {len(acked)} signals answered 200 did not execute: {failed}"
    assert half_written(daemon.db) == []


def test_past_the_concurrency_limit_a_request_gets_a_503_when_no_place_frees(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()}, server="  limit_concurrency: 2\n")
    path = daemon.url[len(daemon.base) :]
    idle = [socket.create_connection(("127.0.0.1", daemon.port)) for _ in range(2)]  # two requests in progress
    for sock in idle:  # heads read, bodies still coming: each holds its place
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: b\r\nContent-Length: 100\r\n\r\n{{".encode())
    try:
        with httpx.Client(timeout=GUARD) as client:  # the holders stay: only a refusal answers
            saturated = client.post(daemon.url, json={"ticker": "AMD", "action": "buy"})
    finally:
        for sock in idle:
            sock.close()
    assert saturated.status_code == 503, "refused beyond limit_concurrency once its wait ends (TradingView resends)"
    assert saturated.json()["messageCode"] == "unavailable"
    assert rows(daemon.db, "SELECT count(*) FROM webhooks")[0][0] == 0


@pytest.mark.parametrize("server", ["", "  intake_process: true\n"], ids=["one-process", "intake-process"])
def test_connections_that_never_finish_their_request_head_are_closed_and_free_their_place(
    start_daemon: Any, server: str
) -> None:
    # No token needed: a stranger holding limit_concurrency connections open (a byte of head now and then, or none)
    # had every webhook answered 503 for as long as it liked, TradingView's included (it gives up after 3 resends).
    daemon: Daemon = start_daemon({"sq": strategy()}, server=server + "  limit_concurrency: 2\n")
    silent = socket.create_connection(("127.0.0.1", daemon.port))
    slow = socket.create_connection(("127.0.0.1", daemon.port))
    slow.sendall(b"POST /webhook/sq/x HTTP/1.1\r\nHost: bridge\r\n")  # and never the rest
    try:
        answers = []
        for sock in (silent, slow):
            sock.settimeout(GUARD)  # a guard against a hang, not a measure: the server closes it long before
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            answers.append(received)
    finally:
        silent.close()
        slow.close()
    assert answers[0] == b"", "a connection that sent nothing is closed without a word"
    assert answers[1].startswith(b"HTTP/1.1 408 "), answers[1]
    assert b'"messageCode":"request-timeout"' in answers[1].replace(b" ", b"")
    assert daemon.post({"ticker": "AMD", "action": "buy"}).status_code == 200, "their places are free again"


@pytest.mark.parametrize("server", ["", "  intake_process: true\n"], ids=["one-process", "intake-process"])
def test_a_body_that_trickles_in_after_a_valid_token_is_answered_408_and_its_connection_closed(
    start_daemon: Any, server: str
) -> None:
    # With a valid token the body is read: a sender that sent its head and then a byte of body now and then held the
    # connection (a place of limit_concurrency) and its request, unanswered and unjournaled, for as long as it liked.
    daemon: Daemon = start_daemon({"sq": strategy()}, server=server + "  limit_concurrency: 2\n")
    path = daemon.url[len(daemon.base) :]
    slow = socket.create_connection(("127.0.0.1", daemon.port))
    try:
        slow.sendall(f"POST {path} HTTP/1.1\r\nHost: b\r\nContent-Length: 1000\r\n\r\n".encode()
                     + b'{"ticker": "AMD", "action": "buy"')  # fmt: skip
        slow.settimeout(0.5)
        answer, closed, deadline = b"", False, time.monotonic() + GUARD  # a guard against a hang, not a measure
        while not closed and time.monotonic() < deadline:
            try:
                slow.sendall(b" ")  # a byte of the body now and then, never all of it
                while chunk := slow.recv(4096):
                    answer += chunk
                closed = True
            except TimeoutError:
                continue
            except OSError:  # reset: the answer may be read already
                closed = True
    finally:
        slow.close()
    assert closed, "the connection was held open by its body's bytes"
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"messageCode":"request-timeout"' in answer.replace(b" ", b"")
    journaled = [tuple(r) for r in rows(daemon.db, "SELECT status_code, message_code, body FROM webhooks")]
    assert journaled == [(408, "request-timeout", None)], "journaled with its outcome, and no part of a body"
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == 0
    assert daemon.post({"ticker": "AMD", "action": "buy"}).status_code == 200, "its place is free again"
    metrics = httpx.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert 'bridge_webhooks_total{outcome="timed-out"} 1.0' in metrics, "counted under a name, as every refusal is"


def test_a_connection_answered_before_its_body_arrived_is_closed_however_slowly_the_body_comes(
    start_daemon: Any,
) -> None:
    # A stranger's 401 is answered before its body is read. The body's bytes still came in, one now and then, each
    # one putting off the keep-alive timeout: the connection held a place of limit_concurrency for good.
    daemon: Daemon = start_daemon({"sq": strategy()}, server="  limit_concurrency: 2\n")
    stranger = socket.create_connection(("127.0.0.1", daemon.port))
    try:
        stranger.sendall(
            b"POST /webhook/sq/wrong-token-0123456789 HTTP/1.1\r\nHost: b\r\nContent-Length: 100000\r\n\r\n{"
        )
        stranger.settimeout(GUARD)
        assert stranger.recv(4096).startswith(b"HTTP/1.1 401 ")
        stranger.settimeout(0.5)
        closed, deadline = False, time.monotonic() + GUARD  # a guard against a hang, not a measure
        while not closed and time.monotonic() < deadline:
            try:
                stranger.sendall(b" ")  # a byte of the body now and then
                closed = stranger.recv(100) == b""
            except TimeoutError:
                continue
            except OSError:  # reset
                closed = True
        assert closed, "the connection was held open by its body's bytes"
    finally:
        stranger.close()
    # A body that does arrive whole after its answer is read and dropped: the answer was whole, the next request new.
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=GUARD) as sender:
        sender.sendall(b"POST /webhook/sq/wrong-token-0123456789 HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\n\r\n")
        answer = sender.recv(4096)
        sender.sendall(b"{}")
        while chunk := sender.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401 ") and answer.endswith(b"}"), answer
    assert daemon.post({"ticker": "AMD", "action": "buy"}).status_code == 200


def test_a_stale_or_future_signal_time_is_refused_with_stale_signal(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()}, top="max_signal_age: 60\nclock_skew: 5\n")
    now = datetime.now(UTC)

    def at(offset: float, **extra: Any) -> httpx.Response:
        return daemon.post({"ticker": "AMD", "action": "buy", "time": (now + timedelta(seconds=offset)).isoformat(),
                            **extra})  # fmt: skip

    answers = {
        "old": at(-70),
        "young": at(-50, n=1),
        "too far ahead": at(+30),
        "slightly ahead": at(+2, n=2),
        "epoch milliseconds, old": daemon.post({"ticker": "AMD", "action": "buy",
                                                "time": int(now.timestamp() - 3600) * 1000}),
        "no time": daemon.post({"ticker": "AMD", "action": "sell"}),
    }  # fmt: skip
    codes = {name: (r.status_code, r.json().get("messageCode")) for name, r in answers.items()}
    assert codes == {
        "old": (400, "stale-signal"),
        "young": (200, None),
        "too far ahead": (400, "stale-signal"),
        "slightly ahead": (200, None),
        "epoch milliseconds, old": (400, "stale-signal"),
        "no time": (200, None),
    }
    assert "max_signal_age 60s" in answers["old"].json()["message"]
    assert "in the future" in answers["too far ahead"].json()["message"]
    journaled = [
        tuple(r) for r in rows(daemon.db, "SELECT status_code, message_code FROM webhooks WHERE status_code = 400")
    ]
    assert journaled == [(400, "stale-signal")] * 3, "refused signals are journaled with their reason"
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == 3


def _answered_before_its_body(daemon: Daemon, request_line_end: str) -> bytes:
    """The head of the answer to a request whose declared body is over max_body_bytes, read before any of the body
    is sent; the body is sent after it, as a sender sends it, and the connection must then close cleanly."""
    path, body = daemon.url[len(daemon.base) :], b"x" * (70 * 1024)
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=GUARD) as conn:
        conn.sendall(f"POST {path} {request_line_end}\r\nHost: b\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        answer = b""
        while not answer.endswith(b"}"):  # the whole 413, sent before any of the body
            chunk = conn.recv(4096)
            assert chunk, answer
            answer += chunk
        for start in range(0, len(body), 8192):  # the body still comes after the answer, as a sender sends it
            conn.sendall(body[start : start + 8192])
        assert conn.recv(4096) == b"", "closed once the body was read, cleanly (a reset raises here)"
    return answer.split(b"\r\n\r\n")[0].lower()


def test_an_answer_sent_before_its_body_arrived_says_the_connection_closes_and_is_read_whole(
    start_daemon: Any,
) -> None:
    # A body declared over server.max_body_bytes is answered 413 once its head is read. That answer kept the
    # connection alive, and the connection closed as the rest of the body arrived: a client that sent its next
    # request on it (httpx, any sender reusing its connection) had that request dropped unanswered.
    daemon: Daemon = start_daemon({"sq": strategy()})
    head = _answered_before_its_body(daemon, "HTTP/1.1")
    assert head.startswith(b"http/1.1 413 ") and b"\r\nconnection: close" in head, head


@pytest.mark.parametrize("request_line_end", ["HTTP/1.1\r\nConnection: close", "HTTP/1.0"])
def test_an_answer_sent_before_its_body_arrived_to_a_closing_request_is_read_whole_before_closing(
    start_daemon: Any, request_line_end: str
) -> None:
    # A request that says its connection closes after it (`Connection: close`, or HTTP/1.0) answered 413 once its
    # head was read: uvicorn closed the connection as the answer ended, the body's rest unread, and the sender,
    # still sending it, had the connection reset under it (a client that reads its answer once its body is sent
    # never read the 413: "connection reset by peer").
    daemon: Daemon = start_daemon({"sq": strategy()})
    head = _answered_before_its_body(daemon, request_line_end)
    assert b" 413 " in head.split(b"\r\n")[0] and b"\r\nconnection: close" in head, head


def test_a_pipelined_request_whose_body_comes_after_the_answer_before_it_is_answered_too(start_daemon: Any) -> None:
    # HTTP/1.1 lets a client send its next request before the answer to the last: when the last was answered while
    # the next one's body was still coming, that body was taken for the answered one's unread rest, and the
    # connection closed the moment it ended, with the next request (a valid signal, journaled) never answered.
    daemon: Daemon = start_daemon({"sq": strategy()})
    path = daemon.url[len(daemon.base) :]

    def request(body: bytes) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip

    first, second = request(b'{"ticker": "AMD", "action": "buy"}'), request(b'{"ticker": "TSLA", "action": "buy"}')
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=GUARD) as conn:
        conn.sendall(first + second[:-5])  # the next request's head and the start of its body
        answer = b""
        while answer.count(b"HTTP/1.1 ") < 1 or not answer.endswith(b"}"):
            answer += conn.recv(4096)
        conn.sendall(second[-5:])  # the rest of its body, after the first answer
        while answer.count(b"HTTP/1.1 ") < 2 or not answer.endswith(b"}"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer
    assert [r[0] for r in rows(daemon.db, "SELECT ticker FROM signals ORDER BY received_at")] == ["AMD", "TSLA"]


def test_a_resend_of_an_accepted_signal_is_still_its_duplicate_once_the_journal_is_full(
    start_daemon: Any, tmp_path: Path
) -> None:
    cap = (journal_floor(tmp_path / "probe.db") + 96 * 1024) / (1024 * 1024)
    daemon: Daemon = start_daemon({"sq": strategy(extra="    rate_limit: {per_minute: 100000, per_hour: 1000000}\n"
                                                        "    dedupe_window: 60\n")},
                                  top=f"database_max_mb: {cap:.4f}\nmax_signal_age: 86400\n")  # fmt: skip

    def send(n: int, key: str | None = None, **extra: Any) -> httpx.Response:
        signal = {"ticker": f"T{n}", "action": "buy", "price": 5, "extras": {"pad": "x" * 400}, **extra}
        return daemon.post(signal, headers={"Idempotency-Key": key} if key else None)

    def settle() -> None:
        """Wait until every accepted signal has executed, so that no room is kept for executions still waiting."""
        deadline = time.monotonic() + GUARD  # a guard against a hang, not a measure
        while rows(daemon.db, "SELECT count(*) FROM executions WHERE state IN ('received', 'processing')")[0][0]:
            assert time.monotonic() < deadline, "the accepted signals never finished executing"
            time.sleep(0.05)

    acked: dict[int, str] = {}
    n, settled = 0, False
    while n < 400:
        response = send(n, f"k{n}") if n % 2 else send(n)  # keyed ones and keyless ones (deduped by their body)
        if response.status_code == 200:
            acked[n], n, settled = response.json()["id"], n + 1, False
            continue
        assert response.status_code == 503, response.text
        if settled:  # refused with no execution waiting: the journal is full for good
            break
        # Refused for the room kept for the executions still waiting (a machine slow to execute): it comes back as
        # they finish, and a new signal was then accepted after all. Sent again once they have.
        settle()
        settled = True
    assert 10 <= len(acked) < 400, f"the journal never filled up: {len(acked)} signals stored"
    signals = rows(daemon.db, "SELECT count(*) FROM signals")[0][0]
    keyed, keyless = max(n for n in acked if n % 2), max(n for n in acked if not n % 2)
    # A sender that resends on 503 would resend a repeat answered 503 for ever: the repeat is answered as what it is.
    for n, again in ((keyed, send(keyed, f"k{keyed}")), (keyless, send(keyless))):
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True and again.json()["id"] == acked[n]
    reused = send(keyed, f"k{keyed}", action="sell")  # the key of an accepted signal with another signal
    assert (reused.status_code, reused.json()["messageCode"]) == (422, "idempotency-key-reused"), reused.text
    # ... and the room check still holds for anything new.
    assert send(1001, "k-new").status_code == 503
    assert send(1002).status_code == 503
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == signals, "nothing new was journaled"
    assert half_written(daemon.db) == []


async def test_a_large_body_over_a_slow_link_is_read_whole_while_a_trickle_is_cut(monkeypatch: Any) -> None:
    # A body not whole BODY_TIMEOUT after its headers was answered 408 however fast it came: a relay's 64 KiB alert
    # over a tunnel of a few KB/s (some 16 s) was refused, its signal lost. Scaled down here (the timeout 1 s, the
    # least rate 16 KiB/s): 64 KiB at twice the least rate takes some 2 s, and is read; a trickle is still cut.
    monkeypatch.setattr(webhook, "BODY_TIMEOUT", 1.0)
    monkeypatch.setattr(webhook, "BODY_MIN_RATE", 16 * 1024)

    def sender(chunk: bytes, count: int, every: float) -> Any:
        sent = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            await asyncio.sleep(every)
            sent += 1
            return {"type": "http.request", "body": chunk, "more_body": sent < count}

        return Request({"type": "http", "method": "POST", "headers": []}, receive)

    body = await webhook.read_body(sender(b"x" * 1024, 64, 1 / 32), 64 * 1024)  # 32 KiB a second, 64 KiB
    assert body == b"x" * 64 * 1024
    with pytest.raises(webhook.BodyTimedOut):
        await webhook.read_body(sender(b"x" * 1024, 64, 1 / 8), 64 * 1024)  # 8 KiB a second: a trickle
