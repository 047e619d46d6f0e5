"""uvicorn's HTTP protocol with a limit on a request's head and `server.limit_concurrency` lifted on the admin port.

uvicorn counts the limit over all of a server's listeners at once: strangers holding that many
connections open on the public port (headers never finished) left the admin listener answering 503
too, so the kill switch (`/api/halt`, the dashboard) was theirs to take away. The admin listener
is loopback only, and its requests still need the admin token.

uvicorn's C parser (httptools) sets no limit on a request's line and headers, and holds every byte of
them until they end: a few strangers streaming endless headers, no token needed, took the daemon's
memory. Past MAX_HEAD_BYTES the request is answered 431 and its connection closed, as h11 (uvicorn's
other parser, 16 KiB) and every reverse proxy does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

MAX_HEAD_BYTES = 64 * 1024  # nginx takes 32 KiB of headers by default; real senders send a few hundred bytes
MESSAGE = f"The request line and headers are larger than {MAX_HEAD_BYTES} bytes."
TOO_LARGE = json.dumps({"success": False, "messageCode": "headers-too-large", "message": MESSAGE}).encode()
ANSWER = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
          b"content-length: %d\r\n\r\n%s" % (len(TOO_LARGE), TOO_LARGE))  # fmt: skip


def _head_limited(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """`base` with MAX_HEAD_BYTES on each request's head, when it is uvicorn's httptools protocol."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools absent: uvicorn uses h11, which has a limit of its own
        return base
    if not issubclass(base, HttpToolsProtocol):
        return base

    class HeadLimitedHTTPProtocol(base):  # type: ignore[valid-type, misc]
        head_bytes = 0  # bytes received since the current request's head began, while it has not ended
        in_body = False
        # A head or a body ended in the bytes being parsed: they are not all head (what they hold of the next
        # request's head, pipelined, goes uncounted: one read at most).
        boundary = False

        def on_headers_complete(self) -> None:
            self.in_body, self.boundary, self.head_bytes = True, True, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self.in_body, self.boundary = False, True
            super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            self.boundary = False
            super().data_received(data)
            if self.in_body or self.boundary or self.transport.is_closing():
                return
            # Counted after the parser saw it, only a read that is all head: a body's last part, read while the
            # app has not answered yet, is no head however long.
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.transport.write(ANSWER)
                self.transport.close()

    return HeadLimitedHTTPProtocol


def http_protocol(admin_port: int | None) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's `http`: head-limited, and unlimited on connections to `admin_port`."""
    base = _head_limited(AutoHTTPProtocol)
    if admin_port is None:
        return base

    def connection_made(self: Any, transport: asyncio.Transport) -> None:
        base.connection_made(self, transport)
        if self.server is not None and self.server[1] == admin_port:  # the local address: which listener
            self.limit_concurrency = None

    return type("AdminUnlimitedHTTPProtocol", (base,), {"connection_made": connection_made})
