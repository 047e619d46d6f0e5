"""Rate limits and the auth lockout on a clock the test controls."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config.schema import Strategy, Subscription
from bridge.config.security import RateLimit
from bridge.web.checks import Refusal, check_rate
from bridge.web.gate import retry_after
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


def _naive_acquire(events: list[float], now: float, rules: tuple[tuple[int, float], ...]) -> float | None:
    """The rule itself, read literally: at most `limit` of the counted events in the `seconds` up to now."""
    wait = 0.0
    for limit, seconds in rules:
        inside = sorted(t for t in events if t > now - seconds)
        if len(inside) >= limit:
            wait = max(wait, inside[len(inside) - limit] + seconds - now, 0.001)
    if wait:
        return wait
    events.append(now)
    return None


@given(st.lists(st.floats(min_value=0.0, max_value=40.0), min_size=1, max_size=300),
       st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=40))  # fmt: skip
def test_the_limiter_counts_exactly_what_the_rule_says_as_its_window_slides(
    steps: list[float], per_minute: int, per_hour: int
) -> None:
    rules = ((per_minute, 60.0), (per_hour, 600.0))
    clock = Clock()
    rates = RateLimiter(clock)
    counted: list[float] = []
    for step in steps:  # long runs of time: the log's aged-out head is cut off many times over
        clock.now += step
        assert rates.acquire("sq", rules) == _naive_acquire(counted, clock.now, rules)


def test_a_million_an_hour_keeps_each_request_in_eight_bytes() -> None:
    clock = Clock()
    rates = RateLimiter(clock)
    rules = ((100_000, 60.0), (1_000_000, 3600.0))  # the most a config allows (a load test's)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        # 25,000 tell the bytes per request as well as more would (the log grows in proportion), in a quarter
        # of the time: every allocation is traced meanwhile.
        for _ in range(25_000):
            assert rates.acquire("sq", rules) is None
            clock.now += 0.01
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Before, a list of float objects: 800 kB for these 25,000 (and 32 MB for a full hour of a million).
    assert held < 300_000, f"{held} bytes for 25,000 requests"


def _sq(per_minute: int, per_hour: int) -> Strategy:
    return Strategy(token="t" * 24, subscriptions=[Subscription(broker="paper")],
                    rate_limit=RateLimit(per_minute=per_minute, per_hour=per_hour))  # fmt: skip


def _refused(rates: RateLimiter, strategy: Strategy) -> Refusal:
    with pytest.raises(Refusal) as refused:
        check_rate(rates, strategy, "sq")
    assert refused.value.status == 429 and refused.value.code == "too-many-requests"
    return refused.value


def test_a_429_names_the_limit_it_met_and_the_setting_that_raises_it() -> None:
    clock = Clock(0.0)
    rates, sq = RateLimiter(clock), _sq(per_minute=2, per_hour=3)
    check_rate(rates, sq, "sq")
    clock.now = 0.6
    check_rate(rates, sq, "sq")
    clock.now = 1.0
    minute = _refused(rates, sq).message
    assert "at most 2 requests a minute (strategies.sq.rate_limit.per_minute)" in minute, minute
    assert "an hour" not in minute, "the hour's limit was not what refused it"
    clock.now = 61.0  # the first two have left the minute, not the hour
    check_rate(rates, sq, "sq")
    clock.now = 122.0
    hour = _refused(rates, sq).message
    assert "at most 3 requests an hour (strategies.sq.rate_limit.per_hour)" in hour, hour
    assert "retry in 3478s" in hour, hour


def test_retry_after_is_never_sooner_than_the_limit_lets_the_request_through() -> None:
    clock = Clock(0.0)
    rates, sq = RateLimiter(clock), _sq(per_minute=1, per_hour=500)
    check_rate(rates, sq, "sq")
    clock.now = 58.6  # 1.4 s left: a sender told 1 s would be refused again
    refused = _refused(rates, sq)
    assert "retry in 2s" in refused.message, refused.message
    assert retry_after(refused.retry_after or 0) == {"Retry-After": "2"}
    assert retry_after(0.01) == {"Retry-After": "1"} and retry_after(300.0) == {"Retry-After": "300"}
