"""The head timeout on kept-alive connections: one timer per connection, moved on only when it fires."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.web import protocol
from tests.conftest import GUARD, serve_in_thread

TIMEOUT = 0.5  # HEAD_TIMEOUT for these tests: each waits a few of them, never asserts on a duration
REQUEST = b"POST /x HTTP/1.1\r\nHost: bridge\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(protocol, "HEAD_TIMEOUT", TIMEOUT)

    async def answer(request: Request) -> JSONResponse:
        return JSONResponse({"success": True})

    app = Starlette(routes=[Route("/x", answer, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            http=protocol.http_protocol(None), timeout_keep_alive=60)  # fmt: skip
    yield from serve_in_thread(config)


def _answer(sock: socket.socket) -> bytes:
    """One whole answer of a kept-alive connection (its content is short and JSON)."""
    received = b""
    while not received.endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def _until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_a_kept_alive_connection_idle_past_the_head_timeout_still_serves_its_next_request(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(GUARD)
        sock.sendall(REQUEST)
        assert _answer(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(3 * TIMEOUT)  # the timer set at its opening fires meanwhile, with no head awaited
        sock.sendall(REQUEST)
        assert _answer(sock).startswith(b"HTTP/1.1 200 "), "closed by a head timeout while no head was awaited"


def test_a_second_head_begun_before_the_first_timer_fires_is_still_timed_out(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(GUARD)  # a guard against a head never timed out (the test would hang), not a measure
        sock.sendall(REQUEST)
        assert _answer(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT / 2)  # the opening's timer is still pending when the next head begins
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: bridge\r\n")  # and never the rest
        answer = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"messageCode":"request-timeout"' in answer.replace(b" ", b"")


def test_each_head_of_a_kept_alive_connection_is_timed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(GUARD)
        for _ in range(3):
            sock.sendall(REQUEST)
            assert _answer(sock).startswith(b"HTTP/1.1 200 ")
            time.sleep(1.5 * TIMEOUT)
        sock.sendall(b"POST /x HTTP/1.1\r\n")
        answer = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
