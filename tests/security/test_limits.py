"""Rate limits and the auth lockout on a clock the test controls."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.web.limits import MAX_TRACKED, Lockout, RateLimiter

PER = ((60, 60.0), (500, 3600.0))  # TradersPost's defaults


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sixty_a_minute_then_429_until_the_oldest_ages_out() -> None:
    clock = Clock()
    rates = RateLimiter(clock)
    for _ in range(60):
        assert rates.acquire("sq", PER) is None
        clock.now += 0.5
    wait = rates.acquire("sq", PER)  # 30 s after the first request: it ages out 30 s from now
    assert wait is not None and abs(wait - 30.0) < 1e-6
    clock.now += wait
    assert rates.acquire("sq", PER) is None
    assert rates.acquire("other", PER) is None, "limits are per strategy"


def test_five_hundred_an_hour_even_when_each_minute_is_under_sixty() -> None:
    clock = Clock()
    rates = RateLimiter(clock)
    for _ in range(500):
        assert rates.acquire("sq", PER) is None
        clock.now += 6.0  # 10 a minute
    wait = rates.acquire("sq", PER)  # 3000 s in: the first request leaves the hour 600 s from now
    assert wait is not None and abs(wait - 600.0) < 1e-6
    refused = sum(rates.acquire("sq", PER) is not None for _ in range(50))
    assert refused == 50, "a refused request is not counted, and does not let the next one through"


def test_twenty_failures_in_a_minute_lock_an_address_out_for_the_lockout() -> None:
    clock = Clock()
    lockout = Lockout(clock)
    for _ in range(19):
        assert not lockout.failure("198.51.100.7", 20, 300)
        clock.now += 1
    assert lockout.locked("198.51.100.7") is None
    assert lockout.failure("198.51.100.7", 20, 300), "the 20th failure starts the lockout"
    assert lockout.locked("198.51.100.7") == 300
    assert lockout.locked("198.51.100.8") is None, "only that address"
    clock.now += 299
    assert lockout.locked("198.51.100.7") == 1
    clock.now += 1
    assert lockout.locked("198.51.100.7") is None


def test_failures_spread_over_more_than_a_minute_do_not_lock_out() -> None:
    clock = Clock()
    lockout = Lockout(clock)
    for _ in range(100):
        assert not lockout.failure("198.51.100.7", 20, 300)
        clock.now += 3.5  # 17 a minute
    assert lockout.locked("198.51.100.7") is None


def test_zero_disables_the_lockout_and_memory_stays_bounded() -> None:
    lockout = Lockout(Clock())
    assert not any(lockout.failure("a", 0, 300) for _ in range(100))
    for n in range(MAX_TRACKED + 500):
        lockout.failure(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 20, 300)
    assert len(lockout._failures) == MAX_TRACKED
