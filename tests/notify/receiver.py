"""A loopback HTTP receiver for notification tests: records requests, can fail its first N."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import GUARD, free_port


@dataclass
class Received:
    """One request the receiver answered with success."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Runs in a thread on 127.0.0.1; `fail_first` requests get 500 before it recovers."""

    fail_first: int = 0
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: Request) -> JSONResponse:
        self.attempts += 1
        body = await request.body()
        if self.attempts <= self.fail_first:
            return JSONResponse({"ok": False}, status_code=500)
        self.received.append(Received(request.url.path, dict(request.headers), body))
        return JSONResponse({"ok": True})

    def __enter__(self) -> Receiver:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + GUARD
        while not self._server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def wait(self, count: int = 1, timeout: float = GUARD) -> list[Received]:
        """Block until `count` requests were received (or fail at the deadline)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"received {len(self.received)} of {count} (attempts {self.attempts})"
            time.sleep(0.01)
        return self.received


@dataclass
class Bystander:
    """A TCP listener on 127.0.0.1 that answers nothing and keeps what reaches it: a proxy named by the environment."""

    port: int = field(default_factory=free_port)
    received: list[bytes] = field(default_factory=list)
    _socket: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _connection: socket.socket | None = None  # the one being read, ended at exit

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.05)  # looks at `_stop` between waits: a close alone does not wake accept()
        while not self._stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                # A guard, not a wait: the read ends at the request's blank line, or when its sender closes. A short
                # one kept b"" for a sender a loaded machine left unscheduled past it before its first write.
                connection.settimeout(GUARD)
                self._connection = connection
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data and (chunk := connection.recv(65536)):
                        data += chunk
                self._connection = None
                self.received.append(data)

    def __enter__(self) -> Bystander:
        self._socket = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._serve, args=(self._socket,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._socket is not None and self._thread is not None
        self._stop.set()
        # A client that connected and sends nothing would hold the read for the whole guard: what it sent is kept.
        if (connection := self._connection) is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self._socket.close()
