"""Signals refused or failed again and again, as notices: the first of each kind at once, then one per interval."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from bridge.notify.events import Event
from bridge.notify.refusals import NOTICE_INTERVAL_SECONDS

# Only these are held: what a trader must hear every time (a fill, an order the broker refused, a halt) never is.
HELD_KINDS = ("signal.rejected", "signal.failed")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")
_KEPT = 1024  # kinds remembered at most; the expired ones go first


def reason_kind(event: Event) -> str:
    """The reason of a signal's event without its numbers or the plan it names (`...; nothing was sent (...)`)."""
    data = event.data
    head = f"{data.get('strategy')}/{data.get('subscription')} {data.get('ticker')}: "
    decision = event.text.removeprefix(head)
    return _NUMBERS.sub("#", decision.split(";", 1)[0])


class RepeatNotices:
    """Holds repeats of a `signal.rejected` / `signal.failed` notice, per (strategy, subscription, kind, reason).

    A runaway alert, or any alert while trading is halted, is refused at every firing: one notice per signal
    would bury the fill that matters, or crowd it out of a full queue. As for refused webhooks
    (`RefusalNotices`), the held ones are counted and told with the next notice of their kind.
    """

    def __init__(self, interval: float = NOTICE_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[tuple[str, ...], float] = {}
        self._held: Counter[tuple[str, ...]] = Counter()

    def note(self, event: Event) -> Event | None:
        """The event to send (with how many like it were held since), or None while its kind was told lately."""
        if event.kind not in HELD_KINDS:
            return event
        data = event.data
        key = (event.kind, str(data.get("strategy")), str(data.get("subscription")), reason_kind(event))
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] += 1
            return None
        self._forget_expired(now)
        self._last[key] = now
        more = self._held.pop(key, 0)
        if not more:
            return event
        return replace(event, text=f"{event.text} ({more} more like it since the last notice)",
                       data={**data, "more": more})  # fmt: skip

    def _forget_expired(self, now: float) -> None:
        """Bound the memory: reasons quote the venue's words, so their kinds are not a closed set."""
        if len(self._last) < _KEPT:
            return
        for key, last in list(self._last.items()):
            if now - last >= self.interval:  # its next repeat is told at once anyway (without the count held)
                del self._last[key]
                self._held.pop(key, None)
