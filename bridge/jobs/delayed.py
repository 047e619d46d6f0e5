"""Delayed signals (`delay`): journaled on arrival, queued when due, each once; a restart loses none."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from datetime import datetime

from bridge.config.identity import removed, successor
from bridge.config.schema import Subscription
from bridge.execution.executor import Job
from bridge.execution.recovery import journaled_signal
from bridge.jobs.host import Host
from bridge.notify.events import signal_event
from bridge.runtime import Runtime
from bridge.store import journal, upkeep
from bridge.store.accepted import revoked_since
from bridge.store.db import iso

log = logging.getLogger("bridge.jobs")


class CancelRefused(Exception):
    """Nothing was canceled; `code` is the answer's messageCode (`unknown-signal`, `not-waiting`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def cancel_answer(signal_id: str, signal: sqlite3.Row | None, canceled: list[str]) -> sqlite3.Row:
    """The canceled signal's row, or CancelRefused saying why there was nothing to cancel."""
    if signal is None:
        raise CancelRefused("unknown-signal", f"no signal {signal_id} in the journal: copy its id from "
                                              "`bridge signals` or GET /api/signals")  # fmt: skip
    if canceled:
        return signal
    if signal["execute_at"] is None:
        why = "it has no `delay`: it was queued on arrival"
    elif signal["state"] in ("received", "processing"):
        why = f"its time ({signal['execute_at']}) came and it is executing"
    else:
        why = f"it is {signal['state']} already: {signal['decision']}"
    raise CancelRefused("not-waiting", f"signal {signal_id} is not a delayed signal waiting for its time ({why}); "
                                       "nothing was canceled")  # fmt: skip


class DelayedSignals:
    """Releases journaled delayed signals into the execution queues when their time comes."""

    def __init__(self, host: Host) -> None:
        self.host = host
        # Released in this process but maybe not started yet (their executions still read `received`).
        self._released: set[tuple[str, str]] = set()

    async def pending(self) -> list[tuple[str, datetime]]:
        """(signal id, execute_at) of every delayed signal still waiting, soonest first."""
        store = self.host.store
        rows = await store.run(upkeep.delayed_executions, store.conn)
        waiting = {row["signal_id"]: datetime.fromisoformat(row["execute_at"]) for row in rows}
        return sorted(waiting.items(), key=lambda item: item[1])

    async def release_due(self) -> int:
        """Queue every delayed execution whose time has come; expire those released too late; return how many."""
        store, now = self.host.store, self.host.clock()
        max_age = self.host.runtime.loaded.config.max_signal_age
        released = 0
        rows = await store.run(upkeep.delayed_executions, store.conn, iso(now))
        # Those no longer waiting are never listed again: forgotten, the set holds only what may still be listed.
        self._released &= {(row["signal_id"], row["subscription"]) for row in rows}
        for row in rows:
            key = (row["signal_id"], row["subscription"])
            if key in self._released:
                continue
            self._released.add(key)
            if (revoked := revoked_since(row, self.host.runtime)) is not None:  # changed while the daemon was down
                await self._finish(row, "rejected", revoked)
                log.warning("delayed signal %s for %s %s", key[0], key[1], revoked)
                continue
            late = (now - datetime.fromisoformat(row["execute_at"])).total_seconds()
            if late > max_age:  # e.g. the daemon was down at its time: a late order is a dangerous order
                decision = (f"expired: due at {row['execute_at']} but released {late:.0f}s late "
                            f"(max_signal_age {max_age:g}s)")  # fmt: skip
                await self._finish(row, "expired", decision)
                log.warning("delayed signal %s for %s %s", key[0], key[1], decision)
                continue
            try:
                signal = journaled_signal(row)
            except Exception as exc:  # one row that cannot be rebuilt must not hold back the others
                log.exception("delayed signal %s cannot be rebuilt from the journal", key[0])
                decision = f"failed: the journaled signal could not be rebuilt ({type(exc).__name__}: {exc})"
                await self._finish(row, "failed", decision)
                continue
            received = datetime.fromisoformat(row["received_at"])
            self.host.submit(
                Job(row["signal_id"], row["strategy"], row["subscription"], signal, received), webhook=True
            )
            released += 1
        if released:
            log.info("released %d delayed signal execution(s)", released)
        return released

    async def cancel(self, signal_id: str, by: str) -> tuple[sqlite3.Row, list[str]]:
        """Cancel a waiting delayed signal (the operator's word); return it and the subscriptions canceled.

        Raises CancelRefused for an unknown id, or a signal no longer waiting: one released at its time (queued
        here, maybe not started) runs. Claimed in `_released` first, so `release_due` cannot queue it meanwhile.
        """
        store = self.host.store
        _signal, waiting = await store.read(upkeep.waiting_executions, store.conn, signal_id)
        claimed = [sub for sub in waiting if (signal_id, sub) not in self._released]
        self._released.update((signal_id, sub) for sub in claimed)
        decision = f"canceled by {by} while it waited for its time"
        try:
            signal, canceled = await store.run(upkeep.cancel_waiting, store.conn, signal_id, decision, claimed)
        finally:
            self._released.difference_update((signal_id, sub) for sub in claimed)
        row = cancel_answer(signal_id, signal, canceled)
        for subscription in canceled:
            self.host.publish(signal_event(row["strategy"], subscription, row["ticker"], signal_id, "canceled",
                                           decision))  # fmt: skip
        log.warning("delayed signal %s (%s %s) %s (%s)", signal_id, row["strategy"], row["ticker"], decision,
                    ", ".join(canceled))  # fmt: skip
        return row, canceled

    async def revoke(self, strategies: Mapping[str, str]) -> int:
        """End the waiting delayed signals of these strategies without trading, each with its strategy's reason.

        A reload removed the strategy or changed its token: what the old token brought must not trade at its time.
        """
        store, ended = self.host.store, 0
        for row in await store.run(upkeep.delayed_executions, store.conn):
            key = (row["signal_id"], row["subscription"])
            if row["strategy"] in strategies and key not in self._released:
                self._released.add(key)
                await self._finish(row, "rejected", strategies[row["strategy"]])
                ended += 1
        if ended:
            log.warning("ended %d delayed signal execution(s) that a revoked token brought", ended)
        return ended

    async def reloaded(self, before: Runtime, after: Runtime) -> int:
        """Settle the waiting delayed signals whose subscription key a reload took away; return how many.

        They run under the config in force at their time, which knows them by key: left under a key it no
        longer has, they ended `failed` there. Removed (see `identity.successor`), a subscription stops them as
        `enabled: false` does: `ignored`, saying so. Renamed on its broker, it is the same subscription: they
        are journaled under its new key and run at their time. A removed strategy's are `revoke`'s.
        """
        store, settled = self.host.store, 0
        for row in await store.run(upkeep.delayed_executions, store.conn):
            name, key = row["strategy"], row["subscription"]
            was, now = before.strategies.get(name), after.strategies.get(name)
            if (row["signal_id"], key) in self._released or was is None or now is None:
                continue
            if after.subscription(name, key) is not None or before.subscription(name, key) is None:
                continue  # still there, or gone before this reload (its time finds it gone, as a restart's)
            claim = (row["signal_id"], key)
            self._released.add(claim)  # `release_due` must not queue it under the old key meanwhile
            try:
                await self._settle(row, successor(was, key, now))
            finally:
                self._released.discard(claim)
            settled += 1
        return settled

    async def _settle(self, row: sqlite3.Row, became: tuple[str, Subscription] | None) -> None:
        """Rename a waiting execution to what its subscription `became`, or end it `ignored` when it was removed."""
        store, name, key = self.host.store, row["strategy"], row["subscription"]
        if became is None:
            await self._finish(row, "ignored", removed(name, key))
        elif await store.run(upkeep.rename_waiting, store.conn, row["signal_id"], key, became[0]):
            log.info("delayed signal %s: subscription %s renamed %s by a reload", row["signal_id"], key, became[0])
        else:  # the signal has an execution under that key already (journaled when an older version had it)
            why = (f"ignored: subscription {key}, renamed {became[0]} by a reload, has this signal's execution under "
                   "that name already; nothing was sent")  # fmt: skip
            await self._finish(row, "ignored", why)

    async def _finish(self, row: sqlite3.Row, state: str, decision: str) -> None:
        """End a delayed execution without running it, and say so as the executor says of the ones it ends."""
        store = self.host.store
        await store.run(journal.finish_execution, store.conn, row["signal_id"], row["subscription"], state, decision)
        self.host.publish(signal_event(row["strategy"], row["subscription"], row["ticker"], row["signal_id"], state,
                                       decision))  # fmt: skip
