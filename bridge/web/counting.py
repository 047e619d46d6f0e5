"""ASGI middleware that counts webhook answers by status, apart from `bridge.metrics`.

Apart so that the intake process, which only counts and reports to the daemon, does not load the
Prometheus client (a megabyte resident, and a fifth of its import time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBHOOK_PREFIXES = ("/webhook/", "/trading/webhook/")
# Where a handler names its answer's outcome, when its status alone would count it with others of another meaning.
OUTCOME = "bridge.outcome"
# A 429 to a request without a valid token (server.unauthenticated_journal_per_minute): a flood of strangers, not
# a strategy's own sender past its rate limit.
UNAUTHENTICATED_LIMITED = "unauthenticated-limited"
# A 429 to an address locked out for failed authentications (auth_failure_limit): someone guessing tokens.
LOCKED_OUT = "locked-out"
Answer = int | str  # an answer's status, or the outcome its handler named


class WebhookCounter(Protocol):
    """Where webhook answers are counted: `Metrics`, or the intake process, which reports them to the daemon."""

    def count_webhook(self, status: Answer) -> None:
        """Count one webhook response, by its status or the outcome its handler named."""


def name_outcome(scope: Scope, outcome: str) -> None:
    """Have the request of `scope` counted as `outcome` rather than by its status."""
    scope[OUTCOME] = outcome


def webhook_path(path: str) -> bool:
    """Whether `path` is under a webhook prefix."""
    return path.startswith(WEBHOOK_PREFIXES)


class CountWebhooks:
    """ASGI middleware: counts webhook responses by status without touching the handler."""

    def __init__(self, app: ASGIApp, metrics: WebhookCounter, counts: Callable[[str], bool] = webhook_path) -> None:
        self.app = app
        self.metrics = metrics
        self.counts = counts  # which paths it counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.counts(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                named: str | None = scope.get(OUTCOME)
                self.metrics.count_webhook(named or int(message["status"]))
            await send(message)

        await self.app(scope, receive, counting_send)
