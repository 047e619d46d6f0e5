"""A bar close's burst of webhooks, each on a new connection, past `server.limit_concurrency`.

TradingView sends each alert on its own request, all at once at a bar close, waits 3 s for the answer, and resends
a 5xx only after 5 s. uvicorn refused every request whose head ended while the limit's number of connections were
open, its first connections' too: a burst of more alerts than the limit was answered 503 whole, and so was each
resend of it.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from bridge.web.places import WAITING_PER_PLACE
from tests.conftest import GUARD, Daemon
from tests.security.conftest import rows, strategy


def _request(daemon: Daemon, ticker: str, keep_alive: bool = False) -> bytes:
    path = daemon.url[len(daemon.base) :]
    body = b'{"ticker": "%s", "action": "buy"}' % ticker.encode()
    close = b"" if keep_alive else b"Connection: close\r\n"
    return (b"POST %s HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (path.encode(), close, len(body), body))  # fmt: skip


def _answer(sock: socket.socket) -> bytes:
    """The answer on `sock`, read until its connection closes."""
    sock.settimeout(GUARD)  # a guard against a hang, not a measure
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("server", ["", "  intake_process: true\n"], ids=["one-process", "intake-process"])
def test_a_burst_of_more_connections_than_the_limit_is_answered_whole(start_daemon: Any, server: str) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()}, server=server + "  limit_concurrency: 4\n")
    senders = [socket.create_connection(("127.0.0.1", daemon.port)) for _ in range(24)]  # all open before any sends
    try:
        for number, sock in enumerate(senders):
            sock.sendall(_request(daemon, f"T{number}"))
        answers = [_answer(sock) for sock in senders]
    finally:
        for sock in senders:
            sock.close()
    statuses = [a.split(b" ", 2)[1] for a in answers]
    assert statuses == [b"200"] * len(senders), statuses
    assert rows(daemon.db, "SELECT count(*) FROM signals")[0][0] == len(senders)


def _slow_body(daemon: Daemon, ticker: str) -> tuple[socket.socket, bytes]:
    """A connection holding its place with a request whose body has not all come; and the body's rest."""
    whole = _request(daemon, ticker)
    sock = socket.create_connection(("127.0.0.1", daemon.port))
    sock.sendall(whole[:-5])
    return sock, whole[-5:]


def test_a_connection_past_the_limit_gets_a_503_only_when_no_place_frees(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()}, server="  limit_concurrency: 2\n")
    holders = [_slow_body(daemon, ticker) for ticker in ("MSFT", "NVDA")]  # their heads read, bodies still coming
    try:
        with socket.create_connection(("127.0.0.1", daemon.port)) as late:
            late.sendall(_request(daemon, "AMD"))
            refused = _answer(late)
        # The holders came first: their places are theirs, and their requests are served.
        sock, rest = holders[0]
        sock.sendall(rest)
        served = _answer(sock)
    finally:
        for sock, _ in holders:
            sock.close()
    assert refused.startswith(b"HTTP/1.1 503 "), refused
    assert b'"messageCode":"unavailable"' in refused.replace(b" ", b""), refused
    assert b"limit_concurrency" in refused, "the answer says which setting holds it"
    assert served.startswith(b"HTTP/1.1 200 "), served
    assert [r[0] for r in rows(daemon.db, "SELECT ticker FROM signals")] == ["MSFT"]


def test_connections_holding_places_without_sending_their_request_give_them_to_those_waiting(
    start_daemon: Any,
) -> None:
    # No token needed to open connections and send nothing (or a head a byte at a time): held until the head
    # timeout (10 s), each a place, while every webhook behind them waited its 2 s and was answered 503.
    daemon: Daemon = start_daemon({"sq": strategy()}, server="  limit_concurrency: 2\n")
    silent = socket.create_connection(("127.0.0.1", daemon.port))
    slow = socket.create_connection(("127.0.0.1", daemon.port))
    slow.sendall(b"POST /webhook/sq/x HTTP/1.1\r\nHost: bridge\r\n")  # and never the rest
    try:
        with socket.create_connection(("127.0.0.1", daemon.port)) as late:
            late.sendall(_request(daemon, "AMD"))
            answer = _answer(late)
        closed = [_answer(silent), _answer(slow)]
    finally:
        silent.close()
        slow.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert closed[0] == b"", "a connection that sent nothing is closed without a word"
    assert closed[1].startswith(b"HTTP/1.1 408 "), closed[1]


def test_an_idle_kept_alive_connection_gives_its_place_to_one_waiting(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()}, server="  limit_concurrency: 2\n")
    idle = [socket.create_connection(("127.0.0.1", daemon.port)) for _ in range(2)]
    try:
        for number, sock in enumerate(idle):  # each served once, then kept alive and silent
            sock.sendall(_request(daemon, f"K{number}", keep_alive=True))
            sock.settimeout(GUARD)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        with socket.create_connection(("127.0.0.1", daemon.port)) as late:
            late.sendall(_request(daemon, "AMD"))
            answer = _answer(late)
        closed = [_answer(sock) == b"" for sock in idle]
    finally:
        for sock in idle:
            sock.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert any(closed), "an idle kept-alive connection was closed to make room"


def test_a_connection_that_goes_idle_while_others_wait_gives_its_place(start_daemon: Any) -> None:
    daemon: Daemon = start_daemon({"sq": strategy()}, server="  limit_concurrency: 1\n")
    whole = _request(daemon, "HOLD", keep_alive=True)
    cut = whole.index(b"\r\n\r\n") + 6  # the head and part of the body: busy, not idle, while the others come
    holder = socket.create_connection(("127.0.0.1", daemon.port))
    waiting: list[socket.socket] = []
    try:
        holder.sendall(whole[:cut])
        for number in range(WAITING_PER_PLACE):  # as many as may wait for its place
            waiting.append(socket.create_connection(("127.0.0.1", daemon.port)))
            waiting[-1].sendall(_request(daemon, f"W{number}"))
        with socket.create_connection(("127.0.0.1", daemon.port)) as probe:  # refused at once: the others all wait
            probe.sendall(_request(daemon, "PROBE"))
            assert _answer(probe).startswith(b"HTTP/1.1 503 ")
        holder.sendall(whole[cut:])  # its request served, it is kept alive and silent, as a sender's pool keeps one
        holder.settimeout(GUARD)
        assert holder.recv(65536).startswith(b"HTTP/1.1 200 ")
        answers = [_answer(sock) for sock in waiting]
    finally:
        for sock in [holder, *waiting]:
            sock.close()
    statuses = [a.split(b" ", 2)[1] for a in answers]
    assert statuses == [b"200"] * len(waiting), statuses


def test_strangers_answered_401_whose_bodies_never_come_give_their_places_to_those_waiting(
    start_daemon: Any,
) -> None:
    # A wrong token is answered before its body is read; the connection then waits for the body it announced, to
    # drain it: strangers announcing large bodies and sending none would hold every place for nothing.
    daemon: Daemon = start_daemon({"sq": strategy()}, server="  limit_concurrency: 2\n")
    strangers = [socket.create_connection(("127.0.0.1", daemon.port)) for _ in range(2)]
    try:
        for sock in strangers:
            sock.sendall(
                b"POST /webhook/sq/wrong-token-0123456789 HTTP/1.1\r\nHost: b\r\nContent-Length: 100000\r\n\r\n"
            )
            sock.settimeout(GUARD)
            assert sock.recv(4096).startswith(b"HTTP/1.1 401 ")
        with socket.create_connection(("127.0.0.1", daemon.port)) as late:
            late.sendall(_request(daemon, "AMD"))
            answer = _answer(late)
    finally:
        for sock in strangers:
            sock.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
