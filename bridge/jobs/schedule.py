"""The scheduler: APScheduler's AsyncIOScheduler on the daemon's loop, its config jobs rebuilt on every reload."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bridge.config.schema import Subscription
from bridge.jobs.delayed import DelayedSignals
from bridge.jobs.flatten import (
    GRACE_SECONDS,
    RETRY_SECONDS,
    SOURCE,
    FlattenFailed,
    due_at,
    flatten_pass,
    flatten_trigger,
    is_last,
    may_hold,
    missed_lately,
)
from bridge.jobs.host import Host
from bridge.jobs.moves import finish_moves
from bridge.jobs.orders import Retries, cancel_expired, poll_orders
from bridge.jobs.putbacks import retry_put_backs
from bridge.jobs.reconnect import reconnect_brokers
from bridge.jobs.retention import daily_summary, prune
from bridge.jobs.stranded import StrandedOrders
from bridge.notify.events import flatten_event
from bridge.runtime import Runtime
from bridge.store import upkeep
from bridge.store.db import iso

log = logging.getLogger("bridge.jobs")
CONFIG = "cfg:"  # ids of the jobs a config defines; a reload replaces all of them
DELAY = "delay:"  # ids of delayed-signal wake-ups; they outlive reloads
TIMEOUT_CHECK_SECONDS = 1.0
RECONNECT_CHECK = 1.0  # seconds
STOP_GRACE_SECONDS = 5.0
FLATTEN_RETRY_SECONDS = RETRY_SECONDS  # a flatten that could not read the positions, or left some open, runs again


class Jobs:
    """Owns the scheduler; every job body is a plain coroutine a test can call with its own clock."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.delayed = DelayedSignals(host)
        self.stranded = StrandedOrders(host)  # outlives reloads: it remembers what its last check found
        self.cancel_retries: Retries = {}  # outlives reloads too: when each failing cancel_after cancel goes again
        self.move_retries: Retries = {}  # and when each failing cancel of a stop a breakeven moved goes again
        self.put_back_retries: Retries = {}  # and when each stop put back that did not reach the broker goes again
        self.put_backs_queued: set[str] = set()  # and those whose try waits for its symbol's turn (`Host.in_turn`)
        # A late run is still useful (coalesced into one), a run missed by more than a minute is skipped.
        self.scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )
        self._running: set[asyncio.Task[Any]] = set()
        self._flattens: dict[str, tuple[str, str]] = {}  # each flatten job's id: its (strategy, subscription key)
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)

    def _guarded(self, name: str, body: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await body()
            except Exception:
                log.exception("scheduled job %s failed; it runs again at its next time", name)
            finally:
                if task is not None:
                    self._running.discard(task)

        return run

    def _add(self, job_id: str, body: Callable[[], Awaitable[object]], trigger: Any, **options: Any) -> None:
        self.scheduler.add_job(self._guarded(job_id, body), trigger, id=job_id, name=job_id, replace_existing=True,
                               **options)  # fmt: skip

    def rebuild(self, runtime: Runtime) -> None:
        """Replace the config's jobs with those of `runtime`'s config."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith(CONFIG):
                self.scheduler.remove_job(job.id)
        config = runtime.loaded.config
        host = self.host
        self._add(f"{CONFIG}poll", self._poll, IntervalTrigger(seconds=config.poll_interval))
        self._add(f"{CONFIG}stranded", self.stranded.check, IntervalTrigger(seconds=config.poll_interval))
        timeouts = partial(cancel_expired, host, self.cancel_retries)
        self._add(f"{CONFIG}timeouts", timeouts, IntervalTrigger(seconds=TIMEOUT_CHECK_SECONDS))
        # Each broker waits its own back-off; the job only looks often enough to keep the first retry prompt.
        self._add(f"{CONFIG}reconnect", partial(reconnect_brokers, host), IntervalTrigger(seconds=RECONNECT_CHECK))
        self._add(f"{CONFIG}summary", partial(daily_summary, host), CronTrigger(hour=0, minute=0, timezone=UTC))
        # Also once now, at start and after every reload: a daemon that is never up at 00:10 (a laptop asleep, one
        # started for the session) never pruned, and a `retention_days` lowered to make room in a full journal
        # (as the 503 says) freed nothing until the next night. A prune with nothing old to delete is a few lookups.
        self._add(f"{CONFIG}prune", partial(prune, host), CronTrigger(hour=0, minute=10, timezone=UTC),
                  next_run_time=datetime.now(UTC))  # fmt: skip
        # A disabled subscription's too: it trades nothing, but the positions it leaves open are told of then.
        self._flattens = {}
        for strategy, key, sub in runtime.flattened():
            self._flattens[f"{CONFIG}flatten:{strategy}:{key}"] = (strategy, key)
            self._add(f"{CONFIG}flatten:{strategy}:{key}", self._flatten(strategy, key), flatten_trigger(sub),
                      misfire_grace_time=GRACE_SECONDS)  # fmt: skip

    def _missed(self, event: JobExecutionEvent) -> None:
        """A flatten the scheduler skipped as past its grace (the machine asleep at its time, the loop stalled): say
        what it leaves open, as a restart that late does (`_warn_if_missed`); APScheduler's own line is no alarm."""
        found = self._flattens.get(event.job_id)
        sub = None if found is None else self.host.runtime.subscription(*found)
        if found is None or sub is None or sub.flatten_at is None or not sub.enabled:
            return
        strategy, key = found
        name = f"{CONFIG}flatten-missed:{strategy}:{key}"
        since = "the scheduler woke (the machine was asleep, or the daemon stalled)"
        # The run the scheduler skipped, as it says: asleep over midnight (or all night), "today's" found none.
        warn = partial(self._warn_if_missed, strategy, key, sub, since, event.scheduled_run_time)
        task = asyncio.ensure_future(self._guarded(name, warn)())
        self._running.add(task)  # a strong reference until it ends, and `stop` waits for it
        task.add_done_callback(self._running.discard)

    async def _poll(self) -> None:
        """Follow the open orders; then finish the breakeven moves whose stop the poll (or recovery) found working,
        and send again the stops put back that did not reach the broker (the position may have none)."""
        await poll_orders(self.host)
        await finish_moves(self.host, self.move_retries)
        await retry_put_backs(self.host, self.put_back_retries, self.put_backs_queued)

    def _flatten(self, strategy: str, key: str, due: datetime | None = None,
                 at: datetime | None = None) -> Callable[[], Awaitable[None]]:  # fmt: skip
        """A flatten run; one that cannot read the positions, or leaves some held, runs again while its grace lasts.

        Left to its next time, a venue's brief outage at 15:55 held the positions overnight, and so did an exit
        the venue refused or did not take (a 503): a run again within the grace sends another (`_queue_exit`).

        A run again (`due`: the moment its flatten fell due; `at`: when it was to run) is the last when the next
        would be past the grace (`is_last`, as it starts): only the last closes a share not sure (`flatten_pass`).
        """

        async def run() -> None:
            sub = self.host.runtime.subscription(strategy, key)
            now = self.host.clock()
            if sub is None or sub.flatten_at is None:
                return  # a reload since took it away
            if due is not None and at is not None and now > max(at, due + timedelta(seconds=GRACE_SECONDS)) + \
                    timedelta(seconds=FLATTEN_RETRY_SECONDS):  # fmt: skip
                # Run long after its time (the machine asleep, the loop stalled): too late, as a late exit is a
                # dangerous one; but what it was to close may be held overnight.
                late = f"{now.astimezone(ZoneInfo(sub.timezone)):%H:%M:%S}"
                self._give_up(strategy, key, f"flatten_at for {strategy}/{key}: its run again came only at {late}")
                return
            moment = due or due_at(sub, now)
            last = is_last(moment, now)
            try:
                queued, held = await flatten_pass(self.host, strategy, key, moment, last)
            except FlattenFailed as exc:
                self._retry_flatten(strategy, key, str(exc), moment, last)
                return
            if held:  # closing still, or an exit failed: looked at again, and said loudly if still open at the end
                what = "closing, not seen closed yet" if queued else "still open"
                label = f"flatten_at for {strategy}/{key}: {', '.join(held)} {what}"
                self._retry_flatten(strategy, key, label, moment, last, quiet=True)

        return run

    def _retry_flatten(self, strategy: str, key: str, why: str, due: datetime | None, last: bool,
                       quiet: bool = False) -> None:  # fmt: skip
        """Run the flatten again in FLATTEN_RETRY_SECONDS, or at the end of its grace if sooner, unless the run that
        just ended was its last (`last`): then say it gave up.

        `quiet`: nothing failed yet (the exits may be filling), so the retry is not worth a warning.
        """
        sub = self.host.runtime.subscription(strategy, key)
        if last or due is None or sub is None or sub.flatten_at is None:
            self._give_up(strategy, key, why)
            return
        # The run after one that was not the last always comes, as the last one if its time is past the grace:
        # decided from when the run started, a slow one (a venue's read) left the next past the grace, dropped,
        # and a share not sure was never closed. At the grace's end at the latest, at once if the run ended past it.
        now = self.host.clock()
        at = min(now + timedelta(seconds=FLATTEN_RETRY_SECONDS), max(now, due + timedelta(seconds=GRACE_SECONDS)))
        (log.info if quiet else log.warning)("%s; looking again in %gs", why, (at - now).total_seconds())
        self._add(f"{CONFIG}flatten-retry:{strategy}:{key}", self._flatten(strategy, key, due, at),
                  DateTrigger(run_date=datetime.now(UTC) + (at - now), timezone=UTC),
                  misfire_grace_time=None)  # fmt: skip

    def _give_up(self, strategy: str, key: str, why: str) -> None:
        """Say loudly that the flatten's grace is over with the positions still open."""
        text = (f"{why}; its {GRACE_SECONDS}s grace is over: the positions stay open; close them by hand or with "
                "an exit signal")  # fmt: skip
        log.error("%s", text)
        self.host.publish(flatten_event(strategy, key, text))

    def wake_at(self, signal_id: str, when: datetime) -> None:
        """Release due delayed signals at `when` (an id per signal: scheduling one twice is harmless)."""
        self._add(f"{DELAY}{signal_id}", self.delayed.release_due, DateTrigger(run_date=when, timezone=UTC),
                  misfire_grace_time=None)  # fmt: skip

    async def cancel_delayed(self, signal_id: str, by: str) -> tuple[sqlite3.Row, list[str]]:
        """Cancel a waiting delayed signal and its wake-up; CancelRefused when it is unknown or no longer waits."""
        canceled = await self.delayed.cancel(signal_id, by)
        if self.scheduler.get_job(f"{DELAY}{signal_id}") is not None:
            self.scheduler.remove_job(f"{DELAY}{signal_id}")
        return canceled

    async def restore(self) -> None:
        """Schedule a wake-up for every delayed signal the journal holds (after a restart)."""
        for signal_id, when in await self.delayed.pending():
            self.wake_at(signal_id, when)

    async def missed_flattens(self, since: str = "the start") -> int:
        """Run the flattens that fell due less than their grace ago (the daemon was down); return how many ran.

        The scheduler counts a start (or a reload) as the first moment it knows of: restarted at 15:57, it would
        next run a 15:55 flatten tomorrow. A flatten that did run before queues nothing again (its signal ids).
        """
        ran = 0
        for strategy, key, sub in self.host.runtime.flattened():
            if due_at(sub, self.host.clock()) is not None:
                log.info("flatten_at %s for %s/%s fell due just before %s: running it now (if it has not run yet)",
                         f"{sub.flatten_at:%H:%M}", strategy, key, since)  # fmt: skip
                await self._guarded(f"{CONFIG}flatten:{strategy}:{key}", self._flatten(strategy, key))()
                ran += 1
            elif sub.enabled:  # a disabled one's closes nothing by design: its run said so at its time
                await self._warn_if_missed(strategy, key, sub, since)
        return ran

    async def _warn_if_missed(self, strategy: str, key: str, sub: Subscription, since: str,
                              missed: datetime | None = None) -> None:  # fmt: skip
        """Say so when a flatten fell due past its grace and journaled nothing: the daemon was down (or asleep) then.

        `missed`: the run the scheduler skipped; by default the last one a start still tells of (`missed_lately`).

        Too late to run (a late exit is a dangerous one), but the positions it was to close are held overnight:
        the operator must hear of it. A run that found nothing to close journals nothing either, hence "may"; one
        whose journal holds nothing (its positions closed before its time, or none opened) says nothing: told
        every evening's restart, a false alarm would teach the operator to skip the true one.
        """
        missed = missed or missed_lately(sub, self.host.clock())
        if missed is None:
            return
        store, keys = self.host.store, self.host.runtime.journal_keys(strategy, key)
        if await store.read(upkeep.flattened_since, store.conn, SOURCE, strategy, keys, iso(missed)):
            return
        if not may_hold(await store.read(upkeep.traded_orders, store.conn, strategy, keys, sub.broker)):
            return
        local = missed.astimezone(ZoneInfo(sub.timezone))  # the scheduler's skipped run comes in UTC
        text = (f"flatten_at {sub.flatten_at:%H:%M} {sub.timezone} for {strategy}/{key} fell due at "
                f"{local.isoformat()}, more than {GRACE_SECONDS}s before {since}, and closed nothing: it is not run "
                "this late; if the daemon was down (or asleep) then, the positions it was to close are still open: "
                "close them by hand or with an exit signal")  # fmt: skip
        log.warning("%s", text)
        self.host.publish(flatten_event(strategy, key, text))

    def start(self) -> None:
        """Start running jobs on the current event loop."""
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling; give running jobs a moment, then cancel them."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._running:
            _done, pending = await asyncio.wait(list(self._running), timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def next_runs(self, prefix: str = CONFIG) -> dict[str, datetime | None]:
        """Next run time of each job whose id starts with `prefix` (for /health and tests)."""
        now = datetime.now(UTC)
        return {job.id: getattr(job, "next_run_time", None) or job.trigger.get_next_fire_time(None, now)
                for job in self.scheduler.get_jobs() if job.id.startswith(prefix)}  # fmt: skip
