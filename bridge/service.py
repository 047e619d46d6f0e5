"""The running bridge: store, runtime, queues and executor, with an ordered start and stop."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.brokers.base import Broker
from bridge.config.load import LoadedConfig
from bridge.config.schema import Subscription
from bridge.config.secrets import redact
from bridge.execution.executor import Executor, Job
from bridge.execution.queues import KeyedQueues
from bridge.execution.recovery import interrupted_jobs, resolve_orders
from bridge.models import Signal
from bridge.runtime import Runtime, build_runtime
from bridge.store import journal
from bridge.store.db import Store, iso, utcnow

log = logging.getLogger("bridge")
RECOVERY_RETRY_SECONDS = 5.0
STOP_GRACE_SECONDS = 5.0


@dataclass
class Bridge:
    """Owns everything a daemon (or a test) runs."""

    loaded: LoadedConfig
    store: Store = field(init=False)
    runtime: Runtime = field(init=False)
    started_at: datetime = field(default_factory=utcnow)
    recovering: bool = True
    _gate: asyncio.Event = field(default_factory=asyncio.Event)
    _recovery: asyncio.Task[None] | None = None
    # Jobs accepted while recovery runs, and the jobs recovery queued: each job is queued once, in arrival order.
    _held: list[Job] = field(default_factory=list)
    _recovered: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.store = Store(self.loaded.database_path())
        self.executor = Executor(self.store, self.loaded.config.max_signal_age, self._brokers, self._settings)
        self.queues: KeyedQueues[Job] = KeyedQueues(self.executor.run, self._gate)

    def _brokers(self) -> dict[str, Broker | None]:
        return {name: slot.broker if slot.healthy else None for name, slot in self.runtime.brokers.items()}

    def _settings(self, strategy: str, subscription: str) -> tuple[str, Subscription] | None:
        sub = self.runtime.subscription(strategy, subscription)
        return None if sub is None else (sub.broker, sub)

    async def start(self) -> None:
        """Open the journal, connect brokers, then recover in the background (trading waits for it)."""
        await self.store.open()
        self.runtime = await build_runtime(self.loaded, self.store)
        self._recovery = asyncio.create_task(self._recover(), name="recovery")

    async def _recover(self) -> None:
        while True:
            unresolved = await resolve_orders(self.store, self._brokers())
            if not unresolved:
                break
            log.warning("trading halted: %d order(s) of unknown outcome; retrying in %gs", len(unresolved),
                        RECOVERY_RETRY_SECONDS)  # fmt: skip
            await asyncio.sleep(RECOVERY_RETRY_SECONDS)
        resumed, expired = await interrupted_jobs(self.store, self.loaded.config.max_signal_age, self._requeue)
        if resumed or expired:
            log.info("recovery: resumed %d interrupted execution(s), expired %d", resumed, expired)
        # Signals that arrived during recovery go behind the older interrupted ones (unless recovery found them).
        for job in self._held:
            if (job.signal_id, job.subscription) not in self._recovered:
                self.enqueue(job)
        self._held.clear()
        self.recovering = False
        self._gate.set()

    def _requeue(self, job: Job) -> None:
        self._recovered.add((job.signal_id, job.subscription))
        self.enqueue(job)

    def enqueue(self, job: Job) -> None:
        """Queue a job behind earlier signals for the same (subscription, ticker)."""
        self.queues.put((job.strategy, job.subscription, job.signal.ticker), job)

    async def accept(self, webhook: journal.WebhookRow, strategy: str, signal: Signal,
                     payload: dict[str, Any], unknown: dict[str, Any]) -> str:  # fmt: skip
        """Journal an accepted signal (committed before returning) and queue its executions."""
        signal_id = str(uuid.uuid4())
        subs = self.runtime.subscriptions(strategy)
        received = datetime.fromisoformat(webhook.received_at)
        secrets = self.runtime.loaded.secrets()
        row = {
            "id": signal_id, "webhook_id": webhook.id, "strategy": strategy, "ticker": signal.ticker,
            "action": signal.action, "sentiment": signal.sentiment,
            "price": None if signal.price is None else str(signal.price),
            "quantity": None if signal.quantity is None else str(signal.quantity),
            "signal_time": None if signal.time is None else iso(signal.time),
            # The body may carry a secret (a passphrase field, a note): the journal never stores one in clear.
            "payload": redact(json.dumps(payload), secrets),
            "extras": redact(json.dumps(unknown, default=str), secrets),
            "received_at": webhook.received_at,
        }  # fmt: skip
        webhook = journal.WebhookRow(**{**webhook.__dict__, "signal_id": signal_id})
        await self.store.run(
            journal.record_signal, self.store.conn, webhook, row, [(key, sub.broker) for key, sub in subs]
        )
        for key, _sub in subs:
            job = Job(signal_id, strategy, key, signal, received)
            if self.recovering:  # recovery queues it once it has queued the older interrupted signals
                self._held.append(job)
            elif (signal_id, key) not in self._recovered:  # committed before recovery's scan: already queued
                self.enqueue(job)
        return signal_id

    async def stop(self) -> None:
        """Stop workers, close brokers and the journal; unfinished work stays journaled."""
        if self._recovery is not None:
            self._recovery.cancel()
        try:  # let in-flight broker calls finish; whatever is left resumes at the next start
            await asyncio.wait_for(self.queues.join(), timeout=STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("stopping with %d queued signal(s); they resume at the next start", self.queues.pending)
        await self.queues.cancel()
        await self.runtime.close()
        await self.store.close()
