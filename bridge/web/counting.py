"""How webhook answers are counted (by `FastWebhook`, as it answers them), apart from `bridge.metrics`.

Apart so that the intake process, which only counts and reports to the daemon, does not load the
Prometheus client (a megabyte resident, and a fifth of its import time).
"""

from __future__ import annotations

from typing import Protocol

from starlette.types import Scope

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
