"""In-memory request limits: per-strategy rate limits and a lockout of addresses that keep failing auth.

Kept in memory on purpose: they protect the process and the journal from floods, and a restart
(which resets them) costs an attacker far more than it saves.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TRACKED = 10_000  # addresses remembered for the lockout; the oldest are forgotten first
FAILURE_WINDOW = 60.0


@dataclass
class _Times:
    """One key's event times, oldest first, 8 bytes each; those before `start` have aged out."""

    times: array[float] = field(default_factory=lambda: array("d"))
    start: int = 0


@dataclass
class RateLimiter:
    """Sliding-window counters: at most `limit` events in any `seconds` long span, per key.

    Every event of the longest window is kept (that is what makes the limit exact), so a strategy allowed
    a million an hour holds up to a million times: in an array of doubles, not a list of float objects
    (32 bytes each, 32 MB), and the aged-out head is cut off in bulk, not with a move of the whole log on
    every request once the window slides.
    """

    clock: Callable[[], float] = time.monotonic
    _events: dict[str, _Times] = field(default_factory=dict)

    def acquire(self, key: str, rules: Sequence[tuple[int, float]]) -> float | None:
        """Count one event for `key`, or return how many seconds until a rule would allow it (not counted)."""
        refused = self.admit(key, rules)
        return None if refused is None else refused[0]

    def admit(self, key: str, rules: Sequence[tuple[int, float]]) -> tuple[float, int] | None:
        """As `acquire`, with the refusal's wait the index in `rules` of the rule that holds the event back longest."""
        now = self.clock()
        log = self._events.get(key)
        if log is None:
            log = self._events[key] = _Times()
        times = log.times
        longest = max((seconds for _, seconds in rules), default=0.0)
        start = bisect_right(times, now - longest, log.start)  # what no rule can see any more lies before it
        if start > len(times) // 2:  # amortized: each time is moved at most once before it is dropped
            del times[:start]
            start = 0
        log.start = start
        wait, rule = 0.0, 0
        for index, (limit, seconds) in enumerate(rules):
            inside = len(times) - bisect_right(times, now - seconds, start)
            if inside >= limit:
                # The oldest event inside this window has to age out before another one fits.
                oldest = times[len(times) - limit] if limit > 0 else now
                this = max(oldest + seconds - now, 0.001)
                if this > wait:
                    wait, rule = this, index
        if wait:
            return wait, rule
        times.append(now)
        return None


@dataclass
class Lockout:
    """Locks out an address after `limit` auth failures within a minute, for `duration` seconds."""

    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _until: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def locked(self, address: str) -> float | None:
        """Seconds left of this address's lockout, or None when it is not locked out."""
        until = self._until.get(address)
        if until is None:
            return None
        left = until - self.clock()
        if left <= 0:
            del self._until[address]
            return None
        return left

    def failure(self, address: str, limit: int, duration: float) -> bool:
        """Record an auth failure; True when this one starts a lockout."""
        if limit <= 0:
            return False
        now = self.clock()
        times = self._failures.pop(address, None) or deque()
        times.append(now)
        while times and times[0] <= now - FAILURE_WINDOW:
            times.popleft()
        self._failures[address] = times  # re-inserted: most recently failing addresses are kept longest
        _trim(self._failures)
        if len(times) < limit:
            return False
        del self._failures[address]
        self._until[address] = now + duration
        _trim(self._until)
        return True


def _trim(table: OrderedDict[str, Any]) -> None:
    while len(table) > MAX_TRACKED:
        table.popitem(last=False)


@dataclass
class Guards:
    """The request limits of one app; they survive config reloads (limits are read per request)."""

    rates: RateLimiter = field(default_factory=RateLimiter)
    lockout: Lockout = field(default_factory=Lockout)
    strangers: RateLimiter = field(default_factory=RateLimiter)  # the journal rows of requests without a valid token
    unjournaled: int = 0  # those answered 429 instead since the last line that said how many


# Escapes read (bridge.config.encoded) in all the journaled headers of one request without a valid token together;
# past it, a value holding more is journaled as a note, not read. Real senders' headers hold a few, if any.
STRANGER_ESCAPES = 1024
# Characters of a request without a valid token's headers journaled (names and values, in order): what lies past them is
# not read (each character is searched for every configured secret), its size noted. A real sender's are a few hundred.
STRANGER_HEAD_CHARS = 4096
