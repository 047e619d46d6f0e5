"""Signals refused or failed again and again, as notices: the first of each kind at once, then one per interval."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace

from bridge.notify.events import Event
from bridge.notify.holdback import NOTICE_INTERVAL_SECONDS, Holdback

# Only these are held: what a trader must hear every time (a fill, an order the broker refused, a halt) never is.
HELD_KINDS = ("signal.rejected", "signal.failed")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


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
        self._holdback = Holdback(interval, clock)

    def note(self, event: Event) -> Event | None:
        """The event to send (with how many like it were held since), or None while its kind was told lately."""
        if event.kind not in HELD_KINDS:
            return event
        data = event.data
        more = self._holdback.admit((event.kind, str(data.get("strategy")), str(data.get("subscription")),
                                     reason_kind(event)))  # fmt: skip
        if more is None:  # held
            return None
        if more == 0:
            return event
        return replace(event, text=f"{event.text} ({more} more like it since the last notice)",
                       data={**data, "more": more})  # fmt: skip
