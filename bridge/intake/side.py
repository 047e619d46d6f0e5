"""The intake process's side of the bridge: it journals webhooks' signals and hands them to the daemon."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.intake import wire
from bridge.logs import redact_more
from bridge.models import Signal
from bridge.runtime import Runtime
from bridge.store import journal
from bridge.store.accepted import journal_signal
from bridge.store.db import Store
from bridge.store.dedupe import Dedupe


class IntakeSide:
    """A `SignalSink` with no broker: the daemon executes what it journals.

    Its config is the one the daemon last applied, sent over the link after every successful reload, so
    both processes judge a webhook by the same tokens and subscriptions.
    """

    def __init__(self, loaded: LoadedConfig, store: Store, link: asyncio.StreamWriter) -> None:
        self.store = store
        self.link = link
        self.runtime = Runtime(loaded)  # no broker: nothing to keep open, so leases cost nothing

    def use(self, loaded: LoadedConfig) -> None:
        """Serve the next requests with the config the daemon has just applied."""
        redact_more(loaded.secrets())  # before any request can log a new token
        self.runtime = Runtime(loaded)

    def acquire(self) -> Runtime:
        """The live runtime, for one request."""
        return self.runtime

    def release(self, runtime: Runtime) -> None:
        """Nothing to release: an intake runtime holds no broker."""

    async def accept(self, webhook: journal.WebhookRow, strategy: str, signal: Signal, payload: dict[str, Any],
                     unknown: dict[str, Any], runtime: Runtime | None = None,
                     dedupe: Dedupe | None = None) -> str:  # fmt: skip
        """Journal the signal (committed before returning), then tell the daemon to execute it."""
        runtime = runtime or self.runtime
        signal_id, keys = await journal_signal(self.store, webhook, strategy, signal, payload, unknown, runtime, dedupe)
        # Should this process die right here, the signal is journaled: the daemon stops with it, and
        # start-up recovery executes it (if still fresh) at the next start.
        wire.send(self.link, ("signal", signal_id, strategy, keys, signal, webhook.received_at))
        return signal_id

    def count_webhook(self, status: int) -> None:
        """Tell the daemon's metrics about one webhook answer."""
        wire.send(self.link, ("answer", status))
