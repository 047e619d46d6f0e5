"""The running bridge: store, runtime, queues, executor, reloads and jobs, with an ordered start and stop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bridge.brokers.base import Broker
from bridge.config.load import LoadedConfig
from bridge.config.reload import Reloader, ReloadStatus, watch_config
from bridge.config.schema import Subscription
from bridge.config.secrets import HeldSecrets
from bridge.execution.executor import Executor, Job, Target
from bridge.execution.queues import KeyedQueues
from bridge.execution.recovery import (
    follow_returned,
    halt_reason,
    interrupted_jobs,
    leave_elsewhere,
    leave_removed,
    leave_switched,
    resolve_orders,
)
from bridge.jobs import Jobs
from bridge.loopwatch import LoopWatch
from bridge.models import Signal, symbol_key
from bridge.notify.events import Event, recovery_event
from bridge.notify.refusals import RefusalNotices
from bridge.risk import Guard
from bridge.runtime import Runtime, build_runtime, close_slots
from bridge.signals.resolve import broker_symbol
from bridge.store import brokers as identities
from bridge.store import journal
from bridge.store.accepted import Accepted, journal_signal, revoked_since
from bridge.store.db import Store, iso, utcnow
from bridge.store.dedupe import Dedupe

log = logging.getLogger("bridge")
RECOVERY_RETRY_SECONDS = 5.0
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Work:
    """A queued job and the runtime it holds a lease on until it has run."""

    job: Job
    runtime: Runtime


@dataclass(frozen=True)
class Turn:
    """A job's work (a stop put back, tried again) queued in a symbol's turn at one account, as a signal there is."""

    run: Callable[[Runtime], Awaitable[None]]  # given the live runtime, leased while it runs


@dataclass
class Bridge:
    """Owns everything a daemon (or a test) runs."""

    loaded: LoadedConfig
    clock: Callable[[], datetime] = utcnow  # what the jobs consider "now"; tests pass one they control
    scheduling: bool = True  # False: jobs are registered but only run when a test calls them
    watching: bool = True  # watch the config file for changes
    store: Store = field(init=False)
    runtime: Runtime = field(init=False)
    started_at: datetime = field(default_factory=utcnow)
    loaded_at: datetime = field(default_factory=utcnow)
    recovering: bool = True
    recovery_halt: str | None = None  # while recovery waits for brokers to settle orders: which, and why
    # Every secret held since the start: a broker built with a key a reload replaced (a queued job's) may still
    # quote it, and what it says is journaled and served by /api.
    held_secrets: HeldSecrets = field(init=False)
    _gate: asyncio.Event = field(default_factory=asyncio.Event)
    _recovery: asyncio.Task[None] | None = None
    _watcher: asyncio.Task[None] | None = None
    _stop_watching: asyncio.Event = field(default_factory=asyncio.Event)
    # Jobs accepted while recovery runs, and the jobs recovery queued: each job is queued once, in arrival order.
    _held: list[Work] = field(default_factory=list)
    _recovered: set[tuple[str, str]] = field(default_factory=set)
    # Runtimes a reload replaced that requests or queued jobs still use; their brokers close when unused.
    _retired: list[Runtime] = field(default_factory=list)
    _unrecorded: bool = False  # a reload's brokers are recorded once no retired runtime is used (see `_collect`)
    swapped: list[Callable[[Runtime], None]] = field(default_factory=list)  # told of each runtime a reload made live
    _closing: set[asyncio.Task[None]] = field(default_factory=set)
    _switching: set[asyncio.Task[None]] = field(default_factory=set)  # a reload's switch being settled (`_switch`)
    _loop_watch: LoopWatch = field(default_factory=LoopWatch)  # names an adapter's line that blocks the event loop
    _refusals: RefusalNotices = field(default_factory=RefusalNotices)  # refused webhooks of known strategies

    def __post_init__(self) -> None:
        cap = self.loaded.config.database_max_mb
        self.store = Store(self.loaded.database_path(), durability=self.loaded.config.durability,
                           max_bytes=None if cap is None else int(cap * 1024 * 1024),
                           shared=self.loaded.config.server.intake_process)  # fmt: skip
        self.held_secrets = HeldSecrets(self.loaded.secrets())
        self.store.secrets = self.held_secrets.values  # masked in the venues' answers it journals
        self.guard = Guard(self.store, lambda: self.loaded.config)  # kill switch, risk limits, circuit breakers
        self.executor = Executor(self.store, self.loaded.config.max_signal_age, self._brokers, self._settings,
                                 self.guard, self.held_secrets.values,
                                 clock_skew=self.loaded.config.clock_skew, revoked=self._revoked,
                                 strategy=lambda name: self.runtime.strategies.get(name),
                                 journal_keys=lambda name, key: self.runtime.journal_keys(name, key))  # fmt: skip
        self.queues: KeyedQueues[Work | Turn] = KeyedQueues(self._execute, self._gate)
        self.reloader = Reloader(self.store, lambda: self.runtime, self._swap, self.clock)
        self.jobs = Jobs(self)

    def _brokers(self) -> dict[str, Broker | None]:
        return self.runtime.usable()

    def _settings(self, strategy: str, subscription: str) -> tuple[str, Subscription] | None:
        sub = self.runtime.subscription(strategy, subscription)
        return None if sub is None else (sub.broker, sub)

    async def start(self) -> None:
        """Open the journal, connect brokers, start jobs and the watcher, then recover (trading waits for it)."""
        self._loop_watch.start()  # first: an adapter's connect may be the first thing to block the loop
        await self.store.open()
        await self.guard.load()  # a halt persisted before a restart holds from the first moment
        self.runtime = await build_runtime(self.loaded, self.store)
        self.jobs.rebuild(self.runtime)
        await self.jobs.restore()
        if self.scheduling:
            self.jobs.start()
        if self.watching and self.loaded.path is not None:
            watch = watch_config(self.loaded.path, self._file_changed, self._stop_watching, self.loaded.sha256)
            self._watcher = asyncio.create_task(watch, name="config-watch")
        self._recovery = asyncio.create_task(self._recover(), name="recovery")

    async def _recover(self) -> None:
        """Start-up recovery; trading stays closed until it is done, and a failure is logged and tried again."""
        while True:
            try:
                await self._recover_once()
                return
            except Exception:
                log.exception("start-up recovery failed: trading stays halted; retrying in %gs", RECOVERY_RETRY_SECONDS)
                await asyncio.sleep(RECOVERY_RETRY_SECONDS)

    async def _recover_once(self) -> None:
        # At the accounts the daemon started with, whatever a reload meanwhile switched: their orders are settled and
        # their config recorded here, and a switch made during recovery is settled after it (`_switch`), once this
        # lease ends. Recorded as it ended, such a switch read as no change, and the old account's orders were
        # followed at the new one.
        runtime = self.runtime.lease()
        try:
            await self._recover_at(runtime)
        finally:
            self.release(runtime)

    async def _recover_at(self, runtime: Runtime) -> None:
        brokers = runtime.loaded.config.brokers
        # Brokers edited while the daemon was down may open another account than the one a plan was made at.
        changed = await self.store.read(identities.changed_since, self.store.conn, brokers)
        replaced = await self.store.read(identities.replaced_since, self.store.conn, brokers)
        if changed:
            log.warning("broker(s) %s changed (plugin, options or credentials) while the daemon was down: their "
                        "orders not final are looked up at the account the name opens now; those it does not hold "
                        "are left to the old account, and their plans stop", ", ".join(sorted(changed)))  # fmt: skip
        told = False
        while True:
            unresolved = await resolve_orders(self.store, runtime.usable(), self.publish, changed, replaced)
            if not unresolved:
                self.recovery_halt = None
                break
            self.recovery_halt = halt_reason(unresolved)
            log.warning("trading halted: %s; retrying in %gs", self.recovery_halt, RECOVERY_RETRY_SECONDS)
            if not told:  # once, not at every retry
                self.publish(recovery_event(self.recovery_halt))
                told = True
            await asyncio.sleep(RECOVERY_RETRY_SECONDS)
        if changed:
            await leave_elsewhere(self.store, runtime.usable(), changed, self.publish)
        await follow_returned(self.store, runtime.usable(), changed, self.publish)  # added back while down
        await leave_removed(self.store, brokers, self.publish)  # removed while the daemon was down: as by a reload
        resumed, expired = await interrupted_jobs(self.store, self.loaded.config.max_signal_age,
                                                  lambda job: self._requeue(job, runtime),
                                                  queued=self._recovered, publish=self.publish,
                                                  revoked=lambda row: revoked_since(row, self.runtime))  # fmt: skip
        if resumed or expired:
            log.info("recovery: resumed %d interrupted execution(s), expired %d", resumed, expired)
        # Recorded once the plans made at the accounts as they were are dealt with: a crash before this finds the
        # same change again at the next start.
        await self.store.run(identities.record, self.store.conn, brokers)
        await self.jobs.delayed.release_due()  # delayed signals that fell due while the daemon was down
        await self.jobs.missed_flattens()  # and flattens, within their grace
        # Signals that arrived during recovery go behind the older interrupted ones (unless recovery found them).
        held, self._held = self._held, []
        self.recovering = False
        self._collect()  # a reload during recovery: its switch is settled now (its runtime may be unused already)
        for work in held:
            self._dispatch(work)
        if told:
            self.publish(recovery_event(None))
        self._gate.set()

    async def ready(self) -> None:
        """Wait until start-up recovery is done and trading is open."""
        await self._gate.wait()

    def _requeue(self, job: Job, runtime: Runtime) -> None:
        """Queue an interrupted plan at the accounts recovery settled it at (`runtime`)."""
        self._recovered.add((job.signal_id, job.subscription))
        self._put(self._lease(job, runtime))

    def _put(self, work: Work) -> None:
        self.queues.put(_queue_key(work), work)

    # -- runtimes: leases, swap, and closing brokers nobody uses any more --------------------------------------

    def acquire(self) -> Runtime:
        """Pin the live runtime for one request (a reload mid-request does not change what it sees)."""
        return self.runtime.lease()

    def release(self, runtime: Runtime) -> None:
        """End a lease taken by `acquire` (or held by a queued job)."""
        if runtime.end_lease() and runtime is not self.runtime:
            self._collect()

    def _lease(self, job: Job, runtime: Runtime, webhook: bool = False) -> Work:
        """Bind a job to `runtime`'s broker and settings, holding a lease so that broker stays open for it.

        `webhook`: the job is a webhook signal's, accepted with the token `runtime` holds for its strategy.
        """
        sub = runtime.subscription(job.strategy, job.subscription)
        if sub is not None and job.target is None:
            strategy = runtime.strategies.get(job.strategy)
            token = _fingerprint(strategy.token) if webhook and strategy is not None else None
            job = replace(job, target=Target(sub.broker, runtime.broker(sub.broker), sub, token, strategy))
        return Work(job, runtime.lease())

    def _revoked(self, job: Job) -> str | None:
        """Why a webhook signal may no longer trade: a reload since it was accepted removed its token, or None.

        A request authenticated before the reload may still be journaled after it, a signal may wait in its
        symbol's queue, and the intake process judges by the old config until the new one reaches it: none of
        them trades once the operator has revoked the token they came with (a leaked token is revoked for this).
        """
        target = job.target
        if target is None or target.token is None:
            return None
        if self.runtime.strategies.get(job.strategy) is target.strategy:
            return None  # the very strategy (frozen) its token was taken from: no reload has changed it since
        return _revocation(job.strategy, self.runtime, target.token)

    def _swap(self, new: Runtime) -> None:
        """Make `new` the live runtime; called between requests (the event loop runs one thing at a time)."""
        old = self.runtime
        self.runtime, self.loaded, self.loaded_at = new, new.loaded, self.clock()
        self.held_secrets.add(new.loaded.secrets())
        self.executor.max_signal_age = new.loaded.config.max_signal_age
        self.executor.clock_skew = new.loaded.config.clock_skew
        # Orders journaled under a name whose broker changed may be the old account's: not followed at the new one
        # until the switch is settled (`_switch`), from the first switch not settled yet on.
        at = iso(utcnow())
        was = old.loaded.config.brokers
        new.switched = {**old.switched, **{name: at for name, config in new.loaded.config.brokers.items()
                                           if name in was and was[name] != config}}  # fmt: skip
        self._retired.append(old)
        self._unrecorded = True
        self._collect()
        self.jobs.rebuild(new)
        for listener in self.swapped:
            listener(new)

    def _collect(self) -> None:
        """Close the brokers of retired runtimes that nothing uses any more (and no live runtime shares)."""
        live = [self.runtime, *(r for r in self._retired if r.users > 0)]
        dead = [r for r in self._retired if r.users <= 0]
        self._retired = live[1:]
        kept = {id(slot) for runtime in live for slot in runtime.brokers.values()}
        doomed = {id(slot): slot for runtime in dead for slot in runtime.brokers.values() if id(slot) not in kept}
        if doomed:
            log.info("closing broker connection(s) no longer used: %s", ", ".join(s.name for s in doomed.values()))
            task = asyncio.create_task(close_slots(doomed.values()), name="close-brokers")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if self._unrecorded and not self._retired and not self.recovering:  # recovery records it once done
            # What each broker name stands for from now on, recorded once nothing trades at what it stood for
            # before: a plan queued under the old runtime still sends there, and a stop before it ends must find
            # the name changed at the next start, or the rest of that plan would go to the new account.
            self._unrecorded = False
            task = asyncio.create_task(self._switch(self.runtime.lease()), name="broker-switch")
            self._switching.add(task)
            task.add_done_callback(self._switching.discard)

    async def _switch(self, runtime: Runtime) -> None:
        """Leave to the accounts a reload switched away from the orders working there, then record the switch.

        As start-up recovery does for a name edited while the daemon was down: the order jobs follow and cancel by
        broker name, and would ask the new account for the old one's orders for good. Holds a lease on `runtime`,
        so a reload meanwhile settles its own switch only after this one (and its brokers stay open for it).
        """
        brokers = runtime.loaded.config.brokers
        covered = dict(runtime.switched)  # a reload meanwhile stamps its own switch anew: that one stays
        try:
            changed = await self.store.read(identities.changed_since, self.store.conn, brokers)
            # A name switched and switched back before this settles opens the account it was recorded with again,
            # so it reads as unchanged; but orders placed meanwhile went to the other account, which it no longer
            # opens. Looked up at the account it opens now, those it holds are followed, the rest left as above.
            changed |= {name for name in covered if name in brokers}
            if changed:
                replaced = await self.store.read(identities.replaced_since, self.store.conn, brokers)
                log.warning("broker(s) %s changed (plugin, options or credentials) by a reload: their orders not "
                            "final are looked up at the account the name opens now; those it does not hold are "
                            "left to the old account", ", ".join(sorted(changed)))  # fmt: skip
                await leave_switched(self.store, runtime.usable(), changed, replaced, self.publish)
            # A broker added back as it was opens the account that works the orders its removal left: followed again.
            await follow_returned(self.store, runtime.usable(), changed, self.publish)
            await leave_removed(self.store, brokers, self.publish)  # a removed broker's orders: nothing follows them
            # Recorded once the old accounts' orders are dealt with: a stop before this finds the change at the
            # next start, whose recovery deals with them instead.
            await self.store.run(identities.record, self.store.conn, brokers)
            for name, at in covered.items():  # the order jobs follow what is left under those names again
                if self.runtime.switched.get(name) == at:
                    del self.runtime.switched[name]
        except Exception:  # its orders stay unfollowed at the new account; the next start finds the change
            log.exception("settling the reload's broker switch failed; the next start settles it")
        finally:
            self.release(runtime)

    async def switched(self) -> None:
        """Wait until the broker switches of reloads so far are settled (`_switch`), those waiting on a lease aside."""
        while self._switching:
            await asyncio.gather(*self._switching, return_exceptions=True)

    async def _file_changed(self) -> str | None:
        """Reload after a change of the file; the hash of the file as the reload read it (for the watcher)."""
        # Checked per change, so a reload that turns watch_config back on takes effect at once.
        if self.runtime.loaded.config.watch_config:
            return (await self.reload("file change")).read
        return None

    async def reload(self, trigger: str) -> ReloadStatus:
        """Apply the config file now (file change, SIGHUP, or the admin API)."""
        before = self.runtime
        status = await self.reloader.reload(trigger)
        if self.runtime is not before:
            # Delayed signals wait in the journal, not in a queue: those a revoked token brought end here.
            live = self.runtime
            revoked = {name: why for name, strategy in before.strategies.items()
                       if (why := _revocation(name, live, _fingerprint(strategy.token))) is not None}  # fmt: skip
            if revoked:
                await self.jobs.delayed.revoke(revoked)
            await self.jobs.delayed.reloaded(before, live)  # those whose subscription it removed or renamed
        if self.runtime is not before and not self.recovering:  # recovery runs them itself once it is done
            # The rebuilt scheduler next runs a flatten_at moved to a time just passed tomorrow: run today's now,
            # as a restart would. One that already ran today queues nothing again (its signal ids).
            await self.jobs.missed_flattens("the reload")
        await self.switched()  # a switch nothing holds back is settled when the reload answers
        return status

    # -- signals ------------------------------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Tell metrics and notifications about an event found outside an execution (by a job, by recovery)."""
        self.executor.emit(event)

    def refused(self, strategy: str, status: int, code: str | None, message: str) -> None:
        """Notify the operator of a webhook with the strategy's right token that was refused (held when it repeats)."""
        if (event := self._refusals.note(strategy, status, code, message)) is not None:
            self.publish(event)

    def submit(self, job: Job, webhook: bool = False) -> None:
        """Queue a job (a delayed signal come due, a flatten) under the live runtime (`webhook`: a webhook's signal)."""
        self._dispatch(self._lease(job, self.runtime, webhook))

    def _dispatch(self, work: Work) -> None:
        key = (work.job.signal_id, work.job.subscription)
        if self.recovering:  # recovery queues it once it has queued the older interrupted signals
            self._held.append(work)
        elif key in self._recovered:  # committed before recovery's scan: already queued
            self.release(work.runtime)
        else:
            self._put(work)

    def in_turn(self, broker: str, symbol: str, run: Callable[[Runtime], Awaitable[None]]) -> None:
        """Queue a job's `run` in the turn of `symbol` (the broker's) at `broker`'s account: after the signals queued
        there before it, before those after, never beside one (`_queue_key`)."""
        self.queues.put((broker, symbol_key(symbol)), Turn(run))

    async def _execute(self, work: Work | Turn) -> None:
        if isinstance(work, Turn):
            runtime = self.runtime.lease()  # the config in force when its turn comes, its brokers kept open for it
            try:
                await work.run(runtime)
            finally:
                self.release(runtime)
            return
        try:
            await self.executor.run(work.job)
        finally:
            self.release(work.runtime)

    async def accept(self, webhook: journal.WebhookRow, strategy: str, signal: Signal, payload: dict[str, Any],
                     unknown: dict[str, Any], runtime: Runtime | None = None,
                     dedupe: Dedupe | None = None) -> Accepted:  # fmt: skip
        """Journal an accepted signal (committed before returning) and queue its executions under `runtime`."""
        runtime = runtime or self.runtime
        # Raises Duplicate (nothing stored, nothing queued) for a repeat of an accepted signal.
        accepted, keys = await journal_signal(self.store, webhook, strategy, signal, payload, unknown, runtime, dedupe)
        received = datetime.fromisoformat(webhook.received_at)
        await self.enqueue(accepted.signal_id, strategy, keys, signal, received, runtime)
        await self.room()
        return accepted

    async def room(self) -> None:
        """Wait while max_queued_signals or more executions wait to run: a flood is answered at execution's pace.

        Only answers wait: the signals are journaled and queued already, and one whose sender gave up
        waiting still executes. Memory then holds at most that many queued signals (and one per request
        in flight), where a flood faster than execution used to grow it for as long as it lasted.
        """
        while not self.has_room():
            if self.recovering:  # nothing runs before start-up recovery is done (then the held signals queue)
                await self._gate.wait()
            else:
                await self.queues.below(self.loaded.config.max_queued_signals)

    def has_room(self) -> bool:
        """Whether fewer than max_queued_signals executions wait to run (those held during recovery included)."""
        return self.queues.pending + len(self._held) < self.loaded.config.max_queued_signals

    async def enqueue(self, signal_id: str, strategy: str, keys: list[str], signal: Signal, received: datetime,
                      runtime: Runtime | None = None) -> None:  # fmt: skip
        """Queue the executions of a journaled signal (or schedule it, when it carries `execute_at`)."""
        runtime = runtime or self.runtime
        if signal.execute_at is not None and keys:
            # Journaled first, so a restart finds it; it runs under the config in force at its time.
            self.jobs.wake_at(signal_id, signal.execute_at)
            if signal.execute_at <= self.clock():
                await self.jobs.delayed.release_due()
            return
        for key in keys:
            self._dispatch(self._lease(Job(signal_id, strategy, key, signal, received), runtime, webhook=True))

    async def stop(self) -> None:
        """Stop the watcher, jobs and workers, close brokers and the journal; unfinished work stays journaled."""
        self._stop_watching.set()
        if self._watcher is not None:
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.jobs.stop()
        if self._recovery is not None:
            self._recovery.cancel()
        try:  # let in-flight broker calls finish; whatever is left resumes at the next start
            await asyncio.wait_for(self.queues.join(), timeout=STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("stopping with %d queued signal(s); they resume at the next start", self.queues.pending)
        await self.queues.cancel()
        await asyncio.gather(*self._switching, return_exceptions=True)
        await asyncio.gather(*self._closing, return_exceptions=True)
        open_slots = {id(slot): slot for r in [self.runtime, *self._retired] for slot in r.brokers.values()}
        await close_slots(open_slots.values())
        await self.store.close()
        self._loop_watch.stop()


def _revocation(name: str, live: Runtime, accepted_with: bytes) -> str | None:
    """Why a signal strategy `name` accepted with the token fingerprinted `accepted_with` may not trade now, or None."""
    strategy = live.strategies.get(name)
    if strategy is None:
        return f"rejected: a reload removed strategy {name} after this signal arrived; nothing was sent"
    if not hmac.compare_digest(_fingerprint(strategy.token), accepted_with):
        return (f"rejected: a reload changed strategy {name}'s token after this signal arrived with the old one; "
                "nothing was sent")  # fmt: skip
    return None


def _fingerprint(token: str) -> bytes:
    """What a queued job keeps of its strategy's token: enough to compare, nothing to leak."""
    return hashlib.sha256(token.encode()).digest()


def _queue_key(work: Work) -> tuple[str, ...]:
    """One account's position in one symbol takes one signal at a time, whichever strategy sent it.

    Strategies subscribed to the same broker trade the same position: two exits planned side by side on
    the same long 10 would both sell it (short 10). Other symbols and other accounts still run side by side.
    """
    job, target = work.job, work.job.target
    if target is None:  # its subscription is gone from the config: it fails at once, in its strategy's turn
        return (job.strategy, job.subscription, job.signal.ticker)
    # In any case: a venue that reads symbols without case (most do) holds one position for "AMD" and "amd",
    # and two plans for it side by side would each pass max_position. Serializing two symbols that differ only
    # in case where a venue tells them apart costs nothing but a turn. So for a pair with and without its slash.
    return (target.broker_name, symbol_key(broker_symbol(target.settings, job.signal.ticker)))
