"""In the daemon, behind the intake process: each request is seen as coming from its real sender and listener."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.intake.proxy import LISTENER_HEADER, PEER_HEADER

_PEER, _LISTENER = PEER_HEADER.encode(), LISTENER_HEADER.encode()


def _pair(value: bytes) -> tuple[str, int] | None:
    host, _, port = value.decode("latin-1").rpartition("|")
    return (host, int(port)) if host and port.isdigit() else None


class FromIntakeProcess:
    """ASGI middleware for the daemon's private socket: restore `client` and `server` from the intake's headers.

    Only the intake process can reach that socket (it lives in a directory only the daemon's user can
    enter), so the headers are trusted there; they are removed before the app sees the request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            kept = []
            client = server = None
            for key, value in scope["headers"]:
                if key == _PEER:
                    client = _pair(value)
                elif key == _LISTENER:
                    server = _pair(value)
                else:
                    kept.append((key, value))
            scope = {**scope, "headers": kept, "client": client, "server": server}
        await self.app(scope, receive, send)
