"""The shared throttle and read retry adapters use to stay under a venue's rate limit."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bridge.brokers.answers import NoAnswer
from bridge.brokers.throttle import RateLimited, Throttle, retry_read
from bridge.errors import AccountRefused, CredentialsRefused, OrderRejected, TemporaryBrokerError


@dataclass
class FakeTime:
    """A clock that only moves when someone sleeps."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_calls_are_spaced_to_the_rate_after_the_burst() -> None:
    fake = FakeTime()
    throttle = Throttle(per_minute=60, burst=2, clock=fake.clock, sleep=fake.sleep)
    start = fake.now
    for _ in range(10):
        await throttle.wait()
    assert fake.now - start == pytest.approx(8.0)  # 2 at once, then one a second
    assert fake.slept == pytest.approx([1.0] * 8)


async def test_a_call_that_costs_more_makes_the_next_wait_for_what_it_spent() -> None:
    """ccxt counts a request's weight in the venue's units (Binance's account read costs 4 where an order costs 0.2)."""
    fake = FakeTime()
    throttle = Throttle(per_minute=60, clock=fake.clock, sleep=fake.sleep)
    await throttle.wait(cost=4)  # goes at once: a token was there
    await throttle.wait(cost=0.5)
    assert fake.slept == pytest.approx([4.0])  # 1 - 4 leaves -3 tokens: 4 s until there is one again
    await throttle.wait(cost=0.5)
    assert fake.slept == pytest.approx([4.0, 0.5])


async def test_no_more_than_the_rate_in_any_minute() -> None:
    fake = FakeTime()
    throttle = Throttle(per_minute=160, burst=8, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for _ in range(400):
        await throttle.wait()
        stamps.append(fake.now)
    for i, stamp in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < stamp + 60]
        assert len(in_window) <= 160 + 8  # the rate, plus at most one burst
    assert stamps[-1] - stamps[0] >= (400 - 8) * 60 / 160 - 1e-6


async def test_hold_pauses_everyone_until_the_venue_resets() -> None:
    fake = FakeTime()
    throttle = Throttle(per_minute=6000, burst=5, clock=fake.clock, sleep=fake.sleep)
    await throttle.wait()
    throttle.hold(7.5)
    await throttle.wait()
    assert fake.now == pytest.approx(1007.5)


def test_a_throttle_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        Throttle(per_minute=0)


async def test_retry_read_backs_off_then_succeeds() -> None:
    fake = FakeTime()
    calls = []

    async def flaky() -> str:
        calls.append(fake.now)
        if len(calls) < 3:
            raise TemporaryBrokerError("502")
        return "ok"

    assert await retry_read(flaky, attempts=3, base_delay=0.5, sleep=fake.sleep) == "ok"
    assert fake.slept == [0.5, 1.0]


async def test_retry_read_waits_as_long_as_a_rate_limit_asks() -> None:
    fake = FakeTime()
    answers: list[BaseException | str] = [RateLimited("429", retry_after=3.0), "ok"]

    async def limited() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert await retry_read(limited, sleep=fake.sleep) == "ok"
    assert fake.slept == [3.0]


async def test_retry_read_never_shortens_a_retry_after_and_gives_up_on_one_beyond_its_budget() -> None:
    fake = FakeTime()
    answers: list[BaseException | str] = [RateLimited("429", retry_after=4.5), RateLimited("429", retry_after=8)]
    calls = 0

    async def limited() -> str:
        nonlocal calls
        calls += 1
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    with pytest.raises(RateLimited):
        await retry_read(limited, attempts=5, max_delay=5.0, sleep=fake.sleep)
    assert fake.slept == [4.5] and calls == 2  # 4.5 s in full; 8 s is over the budget: no third call


async def test_retry_read_gives_up_and_never_retries_a_final_error() -> None:
    fake = FakeTime()
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        raise TemporaryBrokerError("still down")

    with pytest.raises(TemporaryBrokerError):
        await retry_read(down, attempts=4, sleep=fake.sleep)
    assert attempts == 4

    async def refused() -> None:
        nonlocal attempts
        attempts += 1
        raise OrderRejected("no")

    attempts = 0
    with pytest.raises(OrderRejected):
        await retry_read(refused, sleep=fake.sleep)
    assert attempts == 1


@pytest.mark.parametrize(
    "error",
    [
        AccountRefused("403 account is not authorized to trade"),  # the same keys meet the same refusal
        CredentialsRefused("401 unauthorized"),
        NoAnswer("no answer within 300s"),  # it waited its full time already: asking again holds the symbol as long
    ],
)
async def test_retry_read_never_asks_again_after_a_refused_account_or_a_read_that_never_answered(
    error: TemporaryBrokerError,
) -> None:
    fake = FakeTime()
    calls = 0

    async def read() -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await retry_read(read, attempts=5, sleep=fake.sleep)
    assert calls == 1 and fake.slept == []


@pytest.mark.parametrize("wait", [float("nan"), float("inf")])
async def test_retry_read_gives_up_on_a_retry_after_that_is_no_number_of_seconds(wait: float) -> None:
    """Before, a NaN Retry-After (a plugin's `float(header)` of "nan") was slept: asyncio never wakes from that."""
    fake = FakeTime()
    answers: list[BaseException | str] = [RateLimited("429", retry_after=wait), "ok"]

    async def limited() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    with pytest.raises(RateLimited):
        await retry_read(limited, sleep=fake.sleep)
    assert fake.slept == [] and answers == ["ok"]


@pytest.mark.parametrize(
    "error", [TemporaryBrokerError("503"), RateLimited("429", retry_after=5.0)], ids=["temporary", "rate-limited"]
)
async def test_a_read_retried_inside_another_retry_read_is_still_tried_three_times_at_most(
    error: TemporaryBrokerError,
) -> None:
    """An adapter's retry_read inside the executor's: the outer loop asked the inner again, 3 x 3 requests, and waited
    up to 8 x 5 s where the read's budget is 2 x 5 s."""
    fake = FakeTime()
    calls = 0

    async def request() -> None:
        nonlocal calls
        calls += 1
        raise error

    async def adapters_read() -> None:
        await retry_read(request, sleep=fake.sleep)

    async def handled_by_the_adapter() -> None:  # an adapter that words the error its own way, from the first
        try:
            await retry_read(request, sleep=fake.sleep)
        except TemporaryBrokerError as exc:
            raise TemporaryBrokerError(f"the venue is busy: {exc}") from exc

    for read in (adapters_read, handled_by_the_adapter):
        calls, fake.slept = 0, []
        with pytest.raises(TemporaryBrokerError):
            await retry_read(read, sleep=fake.sleep)
        assert calls == 3
        assert len(fake.slept) == 2 and all(wait <= 5.0 for wait in fake.slept)


async def test_a_read_whose_adapter_does_not_retry_is_retried_by_the_loop_around_it() -> None:
    fake = FakeTime()
    calls = 0

    async def once_then_ok() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TemporaryBrokerError("503")
        return "ok"

    async def adapters_read() -> str:
        first = await retry_read(lambda: _ok(), sleep=fake.sleep)  # an earlier request of the same read, answered
        return first + await once_then_ok()

    assert await retry_read(adapters_read, sleep=fake.sleep) == "okok"
    assert calls == 2


async def _ok() -> str:
    return "ok"


async def test_a_caller_that_may_wait_only_so_long_is_refused_a_longer_hold_at_once() -> None:
    fake = FakeTime()
    throttle = Throttle(per_minute=6000, burst=5, clock=fake.clock, sleep=fake.sleep)
    throttle.hold(30)
    with pytest.raises(RateLimited, match="nothing was sent") as refused:
        await throttle.wait(longest=5)
    assert fake.slept == [] and refused.value.retry_after == pytest.approx(30)
    fake.now += 26  # 4 s left: waited out
    await throttle.wait(longest=5)
    assert fake.slept == pytest.approx([4.0])
