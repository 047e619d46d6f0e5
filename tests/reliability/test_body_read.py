"""`read_body` through uvicorn's protocol: a body that came with its head is read whole, as one sent in parts."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.web import protocol
from bridge.web.webhook import BodyTooLarge, read_body
from tests.conftest import GUARD, serve_in_thread

LIMIT = 16


@pytest.fixture
def port() -> Iterator[int]:
    async def echo(request: Request) -> Response:
        try:
            body = await read_body(request, LIMIT)
        except BodyTooLarge:
            return JSONResponse({"too_large": True}, status_code=413)
        return Response(body, media_type="application/octet-stream")

    app = Starlette(routes=[Route("/x", echo, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            http=protocol.http_protocol(None))  # fmt: skip
    yield from serve_in_thread(config)


def _exchange(port: int, *parts: bytes) -> bytes:
    """Send `parts` (a pause between them), then read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(GUARD)
        for index, part in enumerate(parts):
            if index:
                time.sleep(0.05)  # the app runs meanwhile: the rest of the body comes later
            sock.sendall(part)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    return received


def _chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


HEAD = b"POST /x HTTP/1.1\r\nHost: bridge\r\nConnection: close\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_sent_with_its_head_is_read_whole(port: int, framing: str) -> None:
    body = b'{"a": 1}'
    if framing == "chunked":
        request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body)
    else:
        request = HEAD + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    answer = _exchange(port, request)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n" + body), answer


def test_a_body_sent_in_parts_is_read_whole(port: int) -> None:
    answer = _exchange(port, HEAD + b'Content-Length: 8\r\n\r\n{"a"', b": 1}")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'\r\n\r\n{"a": 1}'), answer


def test_a_body_over_the_limit_sent_whole_without_its_length_is_refused(port: int) -> None:
    # Chunked, the head says no length: the size is known only from the body, read whole before the app runs.
    answer = _exchange(port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(b"x" * (LIMIT + 1)))
    assert answer.startswith(b"HTTP/1.1 413 "), answer


def test_a_body_of_the_limit_sent_whole_is_read(port: int) -> None:
    answer = _exchange(port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(b"x" * LIMIT))
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n" + b"x" * LIMIT), answer
