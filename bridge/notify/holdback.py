"""Notices that repeat: the first of each kind at once, then at most one per interval, the ones between counted."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable

NOTICE_INTERVAL_SECONDS = 600.0  # an alert that fires every minute with the same mistake: one notice in ten minutes
_KEPT = 1024  # kinds remembered at most (a venue's words may make a kind); the expired ones go first


class Holdback:
    """Decides, per kind of notice, whether this one goes now; the held ones are told with the next one of it."""

    def __init__(self, interval: float = NOTICE_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: Counter[Hashable] = Counter()

    def admit(self, kind: Hashable) -> int | None:
        """None to hold this notice (its kind was told less than an interval ago); else how many were held since."""
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._held[kind] += 1
            return None
        self._forget_expired(now)
        self._last[kind] = now
        return self._held.pop(kind, 0)

    def _forget_expired(self, now: float) -> None:
        """Bound the memory: a kind whose interval has passed is told at once anyway (without the count held)."""
        if len(self._last) < _KEPT:
            return
        for kind, last in list(self._last.items()):
            if now - last >= self.interval:
                del self._last[kind]
                self._held.pop(kind, None)
