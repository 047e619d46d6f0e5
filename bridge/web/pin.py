"""Each HTTP request works with one runtime from start to end: a reload swaps it only between requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.runtime import Runtime
from bridge.web.sink import SignalSink

STATE_KEY = "runtime"


class PinRuntime:
    """ASGI middleware: lease the live runtime for the request, so its brokers stay open until it is done."""

    def __init__(self, app: ASGIApp, bridge: SignalSink) -> None:
        self.app = app
        self.bridge = bridge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with pinned(scope, self.bridge):
            await self.app(scope, receive, send)


@contextmanager
def pinned(scope: Scope, bridge: SignalSink) -> Iterator[Runtime]:
    """Lease the live runtime for one request, recorded in its scope, until the request is done."""
    runtime = bridge.acquire()
    scope.setdefault("state", {})[STATE_KEY] = runtime
    try:
        yield runtime
    finally:
        bridge.release(runtime)


def runtime_of(request: Request, bridge: SignalSink) -> Runtime:
    """The runtime this request was pinned to (the live one if it was not)."""
    pinned = request.scope.get("state", {}).get(STATE_KEY)
    return pinned if isinstance(pinned, Runtime) else bridge.runtime
