"""Staying under a venue's rate limit, and retrying reads (never order submissions) with backoff.

Adapters share these so every plugin behaves the same way: a `Throttle` spaces requests below the
published limit and, after a 429, holds every caller until the venue's reset time; `retry_read`
retries an idempotent read on a temporary error, never sooner than the venue asked. The executor's reads
go through `retry_read` too: one loop, so a venue's Retry-After is honoured however a read is made. Order
submissions must not go through it: an ambiguous submission is resolved with `fetch_order(client_order_id)`
instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bridge.brokers.answers import NoAnswer
from bridge.errors import AccountRefused, TemporaryBrokerError

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimited(TemporaryBrokerError):
    """The venue answered "too many requests"; `retry_after` says how long it asked us to wait (seconds)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttle:
    """A token bucket: at most `per_minute` calls a minute, `burst` of them back to back."""

    def __init__(self, per_minute: float, burst: int = 1, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:  # fmt: skip
        if per_minute <= 0 or burst < 1:
            raise ValueError("a throttle needs a positive rate and a burst of at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._hold_until = 0.0
        self._lock = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        """Make every caller wait `seconds` from now (after a 429), on top of the normal spacing."""
        self._hold_until = max(self._hold_until, self._clock() + max(seconds, 0.0))

    async def wait(self) -> None:
        """Return when the next call may go out."""
        async with self._lock:  # one waiter at a time keeps the order of callers and the spacing exact
            while True:
                now = self._clock()
                if now < self._hold_until:
                    await self._sleep(self._hold_until - now)
                    continue
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)


async def retry_read(call: Callable[[], Awaitable[T]], attempts: int = 3, base_delay: float = 0.2,
                     max_delay: float = 5.0, sleep: Sleep = asyncio.sleep) -> T:  # fmt: skip
    """Run an idempotent read, retrying temporary errors with exponential backoff (or the venue's retry-after).

    A venue's retry-after is waited in full, never shortened: asking again sooner is what gets an IP banned
    (Binance answers 418). One longer than `max_delay`, the read's budget, is not waited for: the error is
    raised at once, for the caller to try again later. Neither a refused account (asking again with the same keys
    gets the same refusal, and spends the rate limit) nor a read that never answered (`NoAnswer`: it waited its
    full time already, and asking again would hold the symbol as long again) is asked again.
    """
    for attempt in range(attempts):
        try:
            return await call()
        except TemporaryBrokerError as exc:
            if isinstance(exc, (AccountRefused, NoAnswer)):
                raise
            asked = exc.retry_after if isinstance(exc, RateLimited) else None
            # NaN compares false with everything: slept, it never wakes; read as no number, it is not waited for.
            if attempt == attempts - 1 or (asked is not None and not asked <= max_delay):
                raise
            await sleep(asked if asked is not None else min(base_delay * 2**attempt, max_delay))
    raise AssertionError("unreachable: the loop returns or raises")
