"""Where events meet their listeners: executor events, halts and reloads -> metrics and notifications."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from bridge.config.reload import ReloadStatus
from bridge.halt import HaltState
from bridge.metrics import Metrics
from bridge.notify.events import Event
from bridge.notify.repeats import RepeatNotices
from bridge.notify.send import Notifier

if TYPE_CHECKING:
    from bridge.service import Bridge

WATCH_INTERVAL = 0.25  # seconds; reads two in-memory values and the kill switch's one journal row


class Operations:
    """Starts and stops the metrics and notification side of a bridge."""

    def __init__(self, bridge: Bridge, metrics: Metrics) -> None:
        self.bridge = bridge
        self.metrics = metrics
        self.notifier = Notifier(lambda: self.bridge.loaded.config.notifications, secrets=bridge.held_secrets.values)
        self._watch: asyncio.Task[None] | None = None
        self._repeats = RepeatNotices()  # a signal refused at every firing is told once per reason and interval
        self._halt_seen: HaltState | None = None  # the kill switch's state last told (or found at the start)

    def observe(self, event: Event) -> None:
        """Count and notify one event (a repeated signal refusal is held, though counted); returns at once."""
        self.metrics.observe(event)
        if (told := self._repeats.note(event)) is not None:
            self.notifier.submit(told)

    async def start(self) -> None:
        """Listen to the executor, and watch the kill switch and reloads (whoever changed them)."""
        self.bridge.executor.observers.append(self.observe)
        self._halt_seen = self.bridge.guard.halt.state
        self.bridge.guard.halt.listeners.append(self._halt_changed)
        self.notifier.start()
        self._watch = asyncio.create_task(self._watch_state(), name="ops-watch")

    def _halt_changed(self, state: HaltState, polled: bool = False) -> None:
        """Tell a state of the kill switch not told yet: set here (hooked, each change), or found in the journal.

        Each change made here (the API, the dashboard, `bridge halt` through the daemon) is told as it is
        made, however soon another follows it. One `bridge halt` wrote into the journal is found by the
        watch; found with the halted flag as it was but changed since, it changed twice (at least) meanwhile:
        the change between is told too, as far as it is known, so whoever hears only of halts hears of it.
        """
        seen = self._halt_seen
        if seen is not None and (state.halted, state.changed_at) == (seen.halted, seen.changed_at):
            return  # told already (made here, then read back from the journal by the watch)
        self._halt_seen = state
        if seen is None or state.halted != seen.halted:
            self.observe(_halt_event(state))
        elif polled:  # a halt made here again while halted (a new reason) is no change to tell
            self.observe(_between_event(state))
            self.observe(_halt_event(state))

    async def _watch_state(self) -> None:
        # Changes made here are told as they are made (`_halt_changed`); polling finds those `bridge halt` wrote
        # into the journal when the daemon did not confirm them, and the reloads, whoever asked for them.
        reload: ReloadStatus = self.bridge.reloader.status
        loop = asyncio.get_running_loop()
        while True:
            asleep = loop.time()
            await asyncio.sleep(WATCH_INTERVAL)
            # How much later than asked the loop woke this task: what every other task waited too.
            self.metrics.loop_lag.observe(max(0.0, loop.time() - asleep - WATCH_INTERVAL))
            self._halt_changed(self.bridge.guard.halt.shown(), polled=True)  # `bridge halt` may have written it
            status = self.bridge.reloader.status
            if status is not reload:
                self.observe(_reload_event(status))
            reload = status

    async def stop(self) -> None:
        """Stop watching, then give pending notifications a moment to go out."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        with contextlib.suppress(ValueError):
            self.bridge.executor.observers.remove(self.observe)
        with contextlib.suppress(ValueError):
            self.bridge.guard.halt.listeners.remove(self._halt_changed)
        await self.notifier.stop()


def _halt_event(state: HaltState) -> Event:
    by = f" by {state.changed_by}" if state.changed_by else ""
    why = f": {state.reason}" if state.reason else ""
    if state.halted:
        return Event("halt", f"trading HALTED{by}{why}; no new order is sent until a resume", state.as_json())
    return Event("resume", f"trading resumed{by}", state.as_json())


def _between_event(state: HaltState) -> Event:
    """The change before `state` that the journal no longer holds: `state` wrote over it before it was seen."""
    data = {"halted": not state.halted, "reason": None, "changed_at": None, "by": None, "overwritten": True}
    if state.halted:
        return Event("resume", "trading was resumed, then halted again before the daemon saw it "
                     f"(at {state.changed_at} at the latest)", data)  # fmt: skip
    return Event("halt", "trading was HALTED, then resumed before the daemon saw it "
                 f"(at {state.changed_at} at the latest); who halted it and why is not known", data)  # fmt: skip


def _reload_event(status: ReloadStatus) -> Event:
    if status.ok:
        return Event("reload.ok", f"config reloaded ({status.trigger}): {status.changes}", status.as_json())
    return Event("reload.failed", f"config reload ({status.trigger}) failed, still serving the previous config: "
                 f"{status.error}", status.as_json())  # fmt: skip
