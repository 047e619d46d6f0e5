"""The names the dashboard, /api and /metrics answer to: a guard against DNS rebinding.

A page on another site can have the operator's browser resolve that site's name to 127.0.0.1 and then
call the bridge as if it were that site: same-origin to the browser, from the operator's own address.
It learns no token that way, but it could read what needs none and spend the operator's admin lockout.
Its requests carry the other site's name in `Host`, so the admin side answers only loopback names, IP
addresses (a rebinding needs a name), `server.host`, `server.allowed_hosts` and the name in `server.public_url`.
Webhooks and /health answer any name: a tunnel passes on its own public one, and so does a path that is no
endpoint at all (404 saying which are): the name is right there, the path is not.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.config.security import ANY_HOST
from bridge.web.counting import webhook_path
from bridge.web.sink import SignalSink

OPEN_EXACT = {"/health"}


def host_name(value: str) -> str:
    """The name or address of a `Host` value: without its port, brackets or final dot, in lower case."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8787
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


@lru_cache(maxsize=64)
def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(value: str | None, server_host: str, allowed: tuple[str, ...]) -> bool:
    """True for a `Host` the operator uses: none, an IP address, a loopback name, server.host or allowed_hosts."""
    if not value:  # no browser leaves it out; an old HTTP/1.0 script may
        return True
    name = host_name(value)
    if name == "localhost" or name.endswith(".localhost"):  # resolved to loopback by the browser itself (RFC 6761)
        return True
    return _is_address(name) or name == server_host.lower().rstrip(".") or name in allowed or ANY_HOST in allowed


def refused(value: str) -> JSONResponse:
    """403 forbidden-host, saying how to allow the name."""
    name = "".join(ch for ch in host_name(value) if ch.isprintable())[:100]
    message = (f"this bridge does not answer its dashboard, /api or /metrics as {name!r}: another site's page can "
               "reach a loopback port under its own name (DNS rebinding). Browse to it as 127.0.0.1 or localhost, "
               f"or, if {name!r} is your own name for it (a LAN name, a tunnel or proxy hostname), add it to "
               "server.allowed_hosts")  # fmt: skip
    return JSONResponse({"success": False, "messageCode": "forbidden-host", "message": message}, status_code=403)


class HostGuard:
    """ASGI middleware: 403 forbidden-host for the admin side under a name the operator does not use."""

    def __init__(self, app: ASGIApp, bridge: SignalSink, admin_port: int | None,
                 routes: Sequence[BaseRoute] = ()) -> None:  # fmt: skip
        self.app = app
        self.bridge = bridge
        self.admin_port = admin_port
        self.routes = routes  # the app's: a path none of them takes is answered 404 under any name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._open(scope):
            value = Headers(scope=scope).get("host")
            server = self.bridge.runtime.loaded.config.server  # read per request: a reload that allows a name applies
            if not host_allowed(value, server.host, server.own_names):
                await refused(value or "")(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _open(self, scope: Scope) -> bool:
        path: str = scope["path"]
        # FastWebhook answers every webhook path before this guard; were it left out, they still answer any name.
        if path in OPEN_EXACT or webhook_path(path):
            return True
        # Answered 403 forbidden-host, a typo under a tunnel's name (`/webhooks/...`) sent the operator to
        # allowed_hosts for a name that was right. A 404 tells a rebinding page nothing it could not know.
        if self.routes and all(route.matches(scope)[0] is Match.NONE for route in self.routes):
            return True
        # Off the admin listener the admin side answers 404 by itself, as if absent: no need to tell it exists.
        local = scope.get("server")
        return self.admin_port is not None and (not local or local[1] != self.admin_port)
