"""The intake process's side of the bridge: it journals webhooks' signals and hands them to the daemon."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.config.secrets import HeldSecrets
from bridge.intake import wire
from bridge.logs import redact_more
from bridge.models import Signal
from bridge.notify.refusals import RefusalNotices
from bridge.runtime import Runtime
from bridge.store import journal
from bridge.store.accepted import Accepted, journal_signal
from bridge.store.db import Store
from bridge.store.dedupe import Dedupe
from bridge.web.counting import Answer

COUNTS_KEPT = 10_000  # commit durations kept for the daemon's metrics while it reads nothing
LINK_BACKED_UP = 16 * 1024  # bytes waiting on the link past which answers are counted here, not sent


@dataclass
class IntakeRuntime(Runtime):
    """A config the daemon sent (no broker), with its version: the daemon's runtime of the same version executes."""

    version: int = 0


class IntakeSide:
    """A `SignalSink` with no broker: the daemon executes what it journals.

    Its config is the one the daemon last applied, sent over the link after every successful reload, so
    both processes judge a webhook by the same tokens and subscriptions. Each signal names the version
    of the config that judged it, and the daemon executes it under its runtime of that version, as it
    would a request of its own that a reload overtook. Once a replaced version has no request left, the
    daemon is told, and lets its runtime (and its broker connections) go.
    """

    def __init__(self, loaded: LoadedConfig, store: Store, link: asyncio.StreamWriter, version: int = 0) -> None:
        self.store = store
        self.link = link
        # Every secret since the start, masked in what the journal keeps of a request: one a reload replaced too.
        self.held_secrets = HeldSecrets(loaded.secrets())
        store.secrets = self.held_secrets.values
        self.runtime: Runtime = IntakeRuntime(loaded, version=version)
        # This journal's COMMIT durations, for the daemon's metrics: sent along with the next answer, which
        # follows each commit at once (a deque, since the commit thread appends while the loop takes). Bounded:
        # while the daemon is behind (`count_webhook`), the oldest go unreported rather than fill the memory.
        self._commits: deque[float] = deque(maxlen=COUNTS_KEPT)
        self._answers: Counter[Answer] = Counter()  # webhook answers by status or outcome, not yet told the daemon
        self._refusals = RefusalNotices()
        store.commit_observers.append(self._commits.append)

    def use(self, loaded: LoadedConfig, version: int) -> None:
        """Serve the next requests with the config the daemon has just applied."""
        redact_more(loaded.secrets())  # before any request can log a new token
        self.held_secrets.add(loaded.secrets())  # ... or journal one
        old, self.runtime = self.runtime, IntakeRuntime(loaded, version=version)
        if old.users == 0:
            self._retire(old)

    def acquire(self) -> Runtime:
        """Lease the live runtime for one request."""
        return self.runtime.lease()

    def release(self, runtime: Runtime) -> None:
        """End a request's lease; the last one of a replaced version tells the daemon."""
        if runtime.end_lease() and runtime is not self.runtime:
            self._retire(runtime)

    def _retire(self, runtime: Runtime) -> None:
        # After every signal judged by it (a request sends its signal before it ends): none can follow.
        wire.send(self.link, ("retired", _version(runtime)))

    async def accept(self, webhook: journal.WebhookRow, strategy: str, signal: Signal, payload: dict[str, Any],
                     unknown: dict[str, Any], runtime: Runtime | None = None,
                     dedupe: Dedupe | None = None) -> Accepted:  # fmt: skip
        """Journal the signal (committed before returning), then tell the daemon to execute it."""
        runtime = runtime or self.runtime
        version = _version(runtime)
        accepted, keys = await journal_signal(self.store, webhook, strategy, signal, payload, unknown, runtime, dedupe)
        # Should this process die right here, the signal is journaled: the daemon stops with it, and
        # start-up recovery executes it (if still fresh) at the next start.
        wire.send(self.link, ("signal", version, accepted.signal_id, strategy, keys, signal, webhook.received_at))
        # The daemon stops reading while its queue is full (`Bridge.room`): the answer waits with the signal
        # journaled, so the link's buffer stays small. A link gone means the daemon is stopping: the journaled
        # signal is recovery's at the next start, and the answer is still the truth.
        with contextlib.suppress(OSError):  # a reset or broken link
            await self.link.drain()
        return accepted

    def refused(self, strategy: str, status: int, code: str | None, message: str) -> None:
        """Have the daemon notify the operator of a refused webhook of a known strategy (held when it repeats)."""
        # Held back here, not in the daemon: a sender repeating its mistake sends nothing more over the link.
        if (event := self._refusals.note(strategy, status, code, message)) is not None:
            wire.send(self.link, ("event", event))

    def count_webhook(self, status: Answer) -> None:
        """Tell the daemon's metrics about one webhook answer (and the journal commits since the last one).

        While the daemon reads nothing (its queue full: `Bridge.room`), the counts wait here as a few
        integers: a flood of refused requests then grows no buffer of messages.
        """
        self._answers[status] += 1
        if self.link.transport.get_write_buffer_size() > LINK_BACKED_UP:
            return
        if self._commits:
            taken = [self._commits.popleft() for _ in range(len(self._commits))]
            wire.send(self.link, ("commits", taken))
        wire.send(self.link, ("answers", dict(self._answers)))
        self._answers.clear()


def _version(runtime: Runtime) -> int:
    if not isinstance(runtime, IntakeRuntime):  # every runtime here is one; a mistake should not go unnoticed
        raise TypeError(f"not a runtime of the intake process: {runtime!r}")
    return runtime.version
