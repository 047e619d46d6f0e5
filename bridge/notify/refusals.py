"""Refused webhooks of a known strategy, as notices: the first of each kind at once, then at most one per interval."""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.notify.events import Event, refused_event
from bridge.notify.holdback import NOTICE_INTERVAL_SECONDS, Holdback


class RefusalNotices:
    """Turns refused webhooks into `webhook.refused` events, one per (strategy, messageCode) and interval.

    TradingView shows nobody the answer to its webhook: an alert whose message has a typo is refused at
    every firing, and without a notice the trader learns it from a trade that never happened. Held ones
    are counted and told with the next notice of their kind. The keys are the config's strategies times
    the bridge's own codes: bounded.
    """

    def __init__(self, interval: float = NOTICE_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._holdback = Holdback(interval, clock)

    def note(self, strategy: str, status: int, code: str | None, message: str) -> Event | None:
        """The event to publish for this refusal, or None while its kind was told less than an interval ago."""
        more = self._holdback.admit((strategy, code or str(status)))
        return None if more is None else refused_event(strategy, status, code, message, more)
