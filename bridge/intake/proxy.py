"""In the intake process: every request that is not a webhook goes on to the daemon's app, over its private socket.

The daemon's app must judge the request as if it had come straight in: the sender's address and the
listener it arrived on (the admin port or the public one) travel in two headers that the daemon
trusts on this socket alone (see `peer.FromIntakeProcess`). Bodies stream both ways.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from bridge.web.paths import NOT_FOUND

log = logging.getLogger("bridge.intake")
PEER_HEADER = "x-bridge-intake-peer"
LISTENER_HEADER = "x-bridge-intake-listener"
# Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection, not to the request.
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade",
              b"content-length"}  # fmt: skip
# The answer's body is passed on as it is, so its length holds; its `Date` is added by this process's own server
# (passed on too, the answer would carry two, and a client may refuse the field).
HOP_BY_HOP_ANSWER = HOP_BY_HOP - {b"content-length"} | {b"date"}
UNREACHABLE = {"success": False, "messageCode": "unavailable",
               "message": "The bridge is starting or stopping; retry shortly."}  # fmt: skip


def _address(pair: tuple[str, int | None] | list[object] | None) -> str:
    return "" if not pair else f"{pair[0]}|{'' if pair[1] is None else pair[1]}"


class Proxy:
    """ASGI app: forwards the request to the daemon's app and streams its answer back."""

    def __init__(self, app_socket: Path) -> None:
        # No read timeout: an API call may wait on a broker as long as the daemon lets it.
        wait = httpx.Timeout(connect=5.0, read=None, write=None, pool=None)
        # One connection to the daemon per request, as the request's own connection would be in one process
        # (server.limit_concurrency bounds them): with httpx's 100, a hundred senders that announce a body and
        # never send it held every one, and a halt on the admin listener waited behind them for good.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
        transport = httpx.AsyncHTTPTransport(uds=str(app_socket), limits=limits)
        self.client = httpx.AsyncClient(transport=transport, timeout=wait)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan is the intake app's own
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP and not k.startswith(b"x-bridge-intake-")]
        headers += [(PEER_HEADER.encode(), _address(scope.get("client")).encode()),
                    (LISTENER_HEADER.encode(), _address(scope.get("server")).encode())]  # fmt: skip
        path = scope.get("raw_path") or scope["path"].encode()
        if _dot_segments(path):  # the daemon would see the path httpx resolves them to, not the one sent
            await JSONResponse(NOT_FOUND, status_code=404)(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        target = path + (b"?" + query if query else b"")
        request = self.client.build_request(
            scope["method"], httpx.URL("http://bridge").copy_with(raw_path=target), headers=headers,
            content=_body(receive) if scope["method"] not in ("GET", "HEAD") else None,
        )  # fmt: skip
        try:
            answer = await self.client.send(request, stream=True)
        except SenderGone:  # the daemon's request is aborted too, as its own connection would have been
            return
        except httpx.HTTPError as exc:
            log.warning("could not reach the daemon's app for %s %s: %r", scope["method"], scope["path"], exc)
            await JSONResponse(UNREACHABLE, status_code=503, headers={"Retry-After": "2"})(scope, receive, send)
            return
        try:
            kept = [(k, v) for k, v in answer.headers.raw if k.lower() not in HOP_BY_HOP_ANSWER]
            await send({"type": "http.response.start", "status": answer.status_code, "headers": kept})
            async for chunk in answer.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await answer.aclose()

    async def close(self) -> None:
        """Close the connections to the daemon."""
        await self.client.aclose()


def _dot_segments(path: bytes) -> bool:
    """True for a path with a `.` or `..` segment, which httpx resolves before sending (`/x/../webhook/...`).

    One process answers such a path 404, since no route matches it as sent; passed on resolved, a webhook
    path would be answered by the daemon, past the intake process's rate limits and auth-failure lockout.
    """
    return any(segment in (b".", b"..") for segment in path.split(b"/"))


class SenderGone(Exception):
    """The sender went away before the end of its body."""


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # Not the end of the body: ended here, the daemon would take the part sent for the whole request
            # (half a sign-in token, a wrong admin token that counts towards the lockout).
            raise SenderGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
