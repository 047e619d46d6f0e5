"""Staying under a venue's rate limit, and retrying reads (never order submissions) with backoff.

Adapters share these so every plugin behaves the same way: a `Throttle` spaces requests below the published limit
and, after a 429, holds every caller until the venue's reset time (or refuses, unsent, one that may wait only so long:
an order submission); `retry_read` retries an idempotent read on a temporary error, never sooner than the venue asked.
Order submissions must not go through it: an ambiguous submission is resolved with `fetch_order(client_order_id)`
instead.

Each read is retried by one loop, the innermost: the executor's reads go through `retry_read` too, for adapters that
do not retry their own, but an error that came out of a `retry_read` inside (an adapter's: its tries spent, or not
worth asking again) is raised by the loops around it as it is, never asked again. So a request is tried at most
`attempts` times (3), with at most `attempts - 1` waits of at most `max_delay` each (5 s), however many loops wrap it
(nested loops would multiply both: 3 x 3 requests to a venue already failing or asking for less). A retry loop of an
adapter's own, not `retry_read`, is not seen: the executor's asks again around it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

from bridge.brokers.answers import NoAnswer
from bridge.errors import AccountRefused, HeldUnsent, TemporaryBrokerError

T = TypeVar("T")
# The errors `retry_read`s inside the current try of the `retry_read` around them gave up with: that one raises them
# (or an error raised from one) as they come, without asking again (see the module's doc). Per try, so a read of an
# adapter that gave up and was handled (a fallback that answered) takes nothing from a later try's.
_GIVEN_UP: ContextVar[list[BaseException] | None] = ContextVar("bridge_read_given_up", default=None)
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimited(TemporaryBrokerError):
    """The venue answered "too many requests"; `retry_after` says how long it asked us to wait (seconds)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HeldForReset(RateLimited, HeldUnsent):
    """An order refused unsent, the venue's earlier "too many requests" holding every call longer than it may wait.

    The venue's answer counted once, as it came; the orders held back after it never reached it (see HeldUnsent).
    """


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

    async def wait(self, longest: float | None = None, cost: float = 1.0) -> None:
        """Return when the next call may go out; RateLimited at once, rather than wait out a hold longer than `longest`.

        An order submission passes `longest`: it was decided on a signal checked fresh just before, and held until a
        venue's reset (Alpaca's comes up to a minute later) it would go that much older, past `max_signal_age`.
        `cost`: what the call spends of the rate (a venue's request weight, as ccxt counts it); one costing more than
        a token goes once a token is there, and the calls after it wait for what it spent.
        """
        self._refuse_longer(longest)  # before queueing: a waiter ahead may be sleeping through the whole hold
        async with self._lock:  # one waiter at a time keeps the order of callers and the spacing exact
            while True:
                now = self._clock()
                if now < self._hold_until:
                    self._refuse_longer(longest)
                    await self._sleep(self._hold_until - now)
                    continue
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= cost
                    return
                await self._sleep((1 - self._tokens) / self.rate)

    def _refuse_longer(self, longest: float | None) -> None:
        left = self._hold_until - self._clock()
        if longest is not None and left > longest:
            raise HeldForReset(f"asked to send nothing for {left:.0f}s more (rate limit); nothing was sent",
                               retry_after=left)  # fmt: skip


async def retry_read(call: Callable[[], Awaitable[T]], attempts: int = 3, base_delay: float = 0.2,
                     max_delay: float = 5.0, sleep: Sleep = asyncio.sleep) -> T:  # fmt: skip
    """Run an idempotent read, retrying temporary errors with exponential backoff (or the venue's retry-after).

    A venue's retry-after is waited in full, never shortened: asking again sooner is what gets an IP banned
    (Binance answers 418). One longer than `max_delay`, the read's budget, is not waited for: the error is
    raised at once, for the caller to try again later. Neither a refused account (asking again with the same keys
    gets the same refusal, and spends the rate limit) nor a read that never answered (`NoAnswer`: it waited its
    full time already, and asking again would hold the symbol as long again) is asked again, nor an error that came
    out of another `retry_read` inside `call` (an adapter's own): that loop spent the read's tries already.
    """
    around = _GIVEN_UP.get()
    for attempt in range(attempts):
        inside: list[BaseException] = []
        token = _GIVEN_UP.set(inside)
        try:
            return await call()
        except TemporaryBrokerError as exc:
            asked = exc.retry_after if isinstance(exc, RateLimited) else None
            # NaN compares false with everything: slept, it never wakes; read as no number, it is not waited for.
            if (isinstance(exc, (AccountRefused, NoAnswer)) or _from_any(exc, inside) or attempt == attempts - 1
                    or (asked is not None and not asked <= max_delay)):  # fmt: skip
                if around is not None:
                    around.append(exc)
                raise
            await sleep(asked if asked is not None else min(base_delay * 2**attempt, max_delay))
        finally:
            _GIVEN_UP.reset(token)
    raise AssertionError("unreachable: the loop returns or raises")


def _from_any(exc: BaseException, given_up: list[BaseException]) -> bool:
    """Whether `exc` is one of `given_up`, or was raised from one or while handling one."""
    seen: set[int] = set()
    found: BaseException | None = exc
    while given_up and found is not None and id(found) not in seen:  # a chain can loop back on itself
        if any(found is each for each in given_up):
            return True
        seen.add(id(found))
        found = found.__cause__ or found.__context__
    return False
