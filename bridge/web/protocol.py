"""uvicorn's HTTP protocol with `server.limit_concurrency` lifted on the admin listener.

uvicorn counts the limit over all of a server's listeners at once: strangers holding that many
connections open on the public port (headers never finished) left the admin listener answering 503
too, so the kill switch (`/api/halt`, the dashboard) was theirs to take away. The admin listener
is loopback only, and its requests still need the admin token.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


def http_protocol(admin_port: int | None) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's `http`: the usual one, unlimited on connections to `admin_port`."""
    if admin_port is None:
        return AutoHTTPProtocol

    def connection_made(self: Any, transport: asyncio.Transport) -> None:
        AutoHTTPProtocol.connection_made(self, transport)
        if self.server is not None and self.server[1] == admin_port:  # the local address: which listener
            self.limit_concurrency = None

    return type("AdminUnlimitedHTTPProtocol", (AutoHTTPProtocol,), {"connection_made": connection_made})
