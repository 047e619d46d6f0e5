"""Warn when the journal's COMMIT is slow: the disk, not the bridge, is then what webhooks wait for."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("bridge.store")


class SlowCommits:
    """A commit observer that logs a warning for a COMMIT of `threshold` seconds or more, once per `every` seconds.

    With `durability: full` every webhook's answer waits for the COMMIT's fsync, so a disk that stalls
    (a busy or shared volume, a cloud disk at its I/O limit) shows as slow answers; TradingView gives
    up on a webhook after 3 s. The warning names the cause, so an operator looks at the disk rather
    than at the bridge. Called on the commit thread.
    """

    def __init__(self, threshold: float = 0.5, every: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:  # fmt: skip
        self.threshold = threshold
        self.every = every
        self._clock = clock
        self._log = logger
        self._lock = threading.Lock()
        self._last_warned: float | None = None
        self._held_back = 0  # slow commits since the last warning, not warned about one by one
        self._slowest = 0.0

    def __call__(self, seconds: float) -> None:
        """Note one COMMIT's duration."""
        if seconds < self.threshold:
            return
        with self._lock:
            now = self._clock()
            if self._last_warned is not None and now - self._last_warned < self.every:
                self._held_back += 1
                self._slowest = max(self._slowest, seconds)
                return
            held_back, slowest = self._held_back, self._slowest
            self._held_back, self._slowest, self._last_warned = 0, 0.0, now
        more = f" ({held_back} more since the last warning, the slowest {slowest:.2f} s)" if held_back else ""
        self._log.warning(
            "a journal COMMIT took %.2f s%s: the disk was slow to sync, and every webhook of that batch waited "
            "for it (TradingView gives up after 3 s). Check the disk's load and latency; `durability: normal` "
            "syncs less often, at the cost of the last signals on a power loss",
            seconds, more,
        )  # fmt: skip
