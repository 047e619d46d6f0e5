"""Webhooks skip Starlette's routing and middleware chain: the one path that must answer fast, every time.

A webhook request gets exactly what the chain gave it (its runtime pinned for the whole request; its
answer counted by its status or the outcome its handler named; a 500 from the outer error middleware on a
bug) at a fraction of the cost of walking every middleware and route. Any other path goes through the
normal chain.

A path under a webhook prefix that is not well formed (an empty segment, an extra one: `/webhook/s/<token>//`)
is handed to the same handler, which refuses it journaled (404 invalid-webhook-url): left to the router it
was answered 307 with the token in the `Location` header, and not journaled.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.web.counting import OUTCOME, WebhookCounter, webhook_path
from bridge.web.paths import loose_params, webhook_params
from bridge.web.pin import pinned
from bridge.web.sink import SignalSink
from bridge.web.webhook import receive_webhook


class FastWebhook:
    """ASGI middleware: hands webhook requests straight to their handler, past the rest of the chain."""

    def __init__(self, app: ASGIApp, bridge: SignalSink, metrics: WebhookCounter) -> None:
        self.app = app
        self.bridge = bridge
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not webhook_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        params = webhook_params(scope["path"]) or loose_params(scope["path"])
        scope["path_params"] = params
        with pinned(scope, self.bridge):  # as PinRuntime does: one runtime for the whole request
            response = await receive_webhook(Request(scope, receive))
            # Counted here, as it is answered: a middleware wrapping `send` to see its status passed both of the
            # answer's messages through one more coroutine.
            self.metrics.count_webhook(scope.get(OUTCOME) or response.status_code)
            await response(scope, receive, send)
