"""Webhooks skip Starlette's routing and middleware chain: the one path that must answer fast, every time.

A webhook request gets exactly what the chain gave it (its runtime pinned for the whole request; its
status still counted by CountWebhooks, and a 500 from the outer error middleware on a bug, both placed
before this one) at a fraction of the cost of walking every middleware and route. Any other path, and
any webhook URL the routes would not match as it is (an empty segment, an extra one), goes through the
normal chain.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.web.pin import pinned
from bridge.web.sink import SignalSink
from bridge.web.webhook import receive_webhook


def webhook_params(path: str) -> dict[str, str] | None:
    """`{"strategy", "token"}` of `/webhook/{strategy}/{token}` or `/trading/webhook/...`, else None."""
    parts = path.split("/")
    if len(parts) > 4 and parts[-1] == "":  # one trailing slash, as the routes take it
        parts.pop()
    if len(parts) == 4 and parts[1] == "webhook":
        strategy, token = parts[2], parts[3]
    elif len(parts) == 5 and parts[1] == "trading" and parts[2] == "webhook":
        strategy, token = parts[3], parts[4]
    else:
        return None
    return {"strategy": strategy, "token": token} if strategy and token and not parts[0] else None


class FastWebhook:
    """ASGI middleware: hands webhook requests straight to their handler, past the rest of the chain."""

    def __init__(self, app: ASGIApp, bridge: SignalSink) -> None:
        self.app = app
        self.bridge = bridge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = webhook_params(scope["path"]) if scope["type"] == "http" else None
        if params is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = params
        with pinned(scope, self.bridge):  # as PinRuntime does: one runtime for the whole request
            response = await receive_webhook(Request(scope, receive))
            await response(scope, receive, send)
