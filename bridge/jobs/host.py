"""What the scheduled jobs need from the running bridge (a Protocol, so jobs do not import the service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from bridge.execution.executor import Executor, Job
from bridge.notify.events import Event
from bridge.runtime import Runtime
from bridge.store.db import Store


class Host(Protocol):
    """The running bridge as the jobs see it."""

    store: Store
    runtime: Runtime  # the config in force now
    executor: Executor  # sends what a job sends as a signal's plan would (a stop put back, tried again)

    @property
    def clock(self) -> Callable[[], datetime]:
        """Decides what is due; tests pass a clock they control."""
        ...

    def publish(self, event: Event) -> None:
        """Tell metrics and notifications about something a job found (an order filled while resting)."""
        ...

    def submit(self, job: Job, webhook: bool = False) -> None:
        """Queue a job under the live runtime, behind earlier signals of its (subscription, ticker).

        `webhook`: the job is a webhook signal's (a delayed one come due): a reload that then revokes its
        strategy's token stops it from trading.
        """
        ...

    def in_turn(self, broker: str, symbol: str, run: Callable[[Runtime], Awaitable[None]]) -> None:
        """Queue `run` (given the live runtime) in the turn of `symbol` (the broker's) at `broker`'s account.

        It runs as a signal for that position does: after those queued before it, before those after, never beside
        one, whose reads and orders it would race (an exit selling what it reads as held).
        """
        ...
