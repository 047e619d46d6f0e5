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
        self.notifier = Notifier(lambda: self.bridge.loaded.config.notifications,
                                 secrets=lambda: self.bridge.loaded.secrets())  # fmt: skip
        self._watch: asyncio.Task[None] | None = None
        self._repeats = RepeatNotices()  # a signal refused at every firing is told once per reason and interval

    def observe(self, event: Event) -> None:
        """Count and notify one event (a repeated signal refusal is held, though counted); returns at once."""
        self.metrics.observe(event)
        if (told := self._repeats.note(event)) is not None:
            self.notifier.submit(told)

    async def start(self) -> None:
        """Listen to the executor, and watch the kill switch and reloads (whoever changed them)."""
        self.bridge.executor.observers.append(self.observe)
        self.notifier.start()
        self._watch = asyncio.create_task(self._watch_state(), name="ops-watch")

    async def _watch_state(self) -> None:
        # Polled rather than hooked, so a halt from the API, the dashboard or the CLI is seen the same way.
        halt: HaltState = self.bridge.guard.halt.state
        reload: ReloadStatus = self.bridge.reloader.status
        loop = asyncio.get_running_loop()
        while True:
            asleep = loop.time()
            await asyncio.sleep(WATCH_INTERVAL)
            # How much later than asked the loop woke this task: what every other task waited too.
            self.metrics.loop_lag.observe(max(0.0, loop.time() - asleep - WATCH_INTERVAL))
            now = self.bridge.guard.halt.shown()  # read again: `bridge halt` may have written the journal
            if now.halted != halt.halted:
                self.observe(_halt_event(now))
            halt = now
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
        await self.notifier.stop()


def _halt_event(state: HaltState) -> Event:
    by = f" by {state.changed_by}" if state.changed_by else ""
    why = f": {state.reason}" if state.reason else ""
    if state.halted:
        return Event("halt", f"trading HALTED{by}{why}; no new order is sent until a resume", state.as_json())
    return Event("resume", f"trading resumed{by}", state.as_json())


def _reload_event(status: ReloadStatus) -> Event:
    if status.ok:
        return Event("reload.ok", f"config reloaded ({status.trigger}): {status.changes}", status.as_json())
    return Event("reload.failed", f"config reload ({status.trigger}) failed, still serving the previous config: "
                 f"{status.error}", status.as_json())  # fmt: skip
