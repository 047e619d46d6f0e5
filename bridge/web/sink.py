"""What the webhook handler needs from whoever journals its signals: the daemon, or the intake process."""

from __future__ import annotations

from typing import Any, Protocol

from bridge.models import Signal
from bridge.runtime import Runtime
from bridge.store import journal
from bridge.store.accepted import Accepted
from bridge.store.db import Store
from bridge.store.dedupe import Dedupe


class SignalSink(Protocol):
    """The journal, the live config, and where an accepted signal goes (`Bridge` is one)."""

    store: Store
    runtime: Runtime

    def acquire(self) -> Runtime:
        """Pin the live runtime for one request."""

    def release(self, runtime: Runtime) -> None:
        """End a lease taken by `acquire`."""

    async def accept(self, webhook: journal.WebhookRow, strategy: str, signal: Signal, payload: dict[str, Any],
                     unknown: dict[str, Any], runtime: Runtime | None = None,
                     dedupe: Dedupe | None = None) -> Accepted:  # fmt: skip
        """Journal the signal (committed before returning) and see that its executions run; return its id and its
        payload as journaled (masked JSON text), which the answer echoes."""

    def refused(self, strategy: str, status: int, code: str | None, message: str) -> None:
        """Tell the operator (a `webhook.refused` notice, held back when it repeats) that a webhook with the
        strategy's right token was refused."""
