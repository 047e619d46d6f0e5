"""Refused webhooks of a known strategy, as notices: the first of each kind at once, then at most one per interval."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from bridge.notify.events import Event, refused_event

NOTICE_INTERVAL_SECONDS = 600.0  # an alert that fires every minute with the same mistake: one notice in ten minutes


class RefusalNotices:
    """Turns refused webhooks into `webhook.refused` events, one per (strategy, messageCode) and interval.

    TradingView shows nobody the answer to its webhook: an alert whose message has a typo is refused at
    every firing, and without a notice the trader learns it from a trade that never happened. Held ones
    are counted and told with the next notice of their kind. The keys are the config's strategies times
    the bridge's own codes: bounded.
    """

    def __init__(self, interval: float = NOTICE_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: Counter[tuple[str, str]] = Counter()

    def note(self, strategy: str, status: int, code: str | None, message: str) -> Event | None:
        """The event to publish for this refusal, or None while its kind was told less than an interval ago."""
        key, now = (strategy, code or str(status)), self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] += 1
            return None
        self._last[key] = now
        return refused_event(strategy, status, code, message, self._held.pop(key, 0))
