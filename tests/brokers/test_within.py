"""`answers.within`: an adapter's call answers, fails or is cut off at CALL_TIMEOUT alike, whether or not it waits.

A call that answers without waiting (the paper broker's reads) sets up no deadline; one that waits goes on under
the deadline from its first wait. Each test's call waits at least once, so it takes the second way.
"""

from __future__ import annotations

import asyncio

import pytest

from bridge.brokers import answers
from bridge.brokers.answers import NoAnswer
from bridge.errors import UnknownOutcome
from tests.conftest import GUARD

SPINS = 100_000  # loop turns a busy call takes before it answers, were no cancel to reach it


class Venue:
    """An adapter whose calls wait for the venue as the test says."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.ended: list[str] = []

    async def fetch_order(self, waits: int = 1) -> str:
        """Waits `waits` loop turns, then for the venue's answer; says how it ended."""
        try:
            for _ in range(waits):
                await asyncio.sleep(0)
            return await self.answer
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        finally:
            self.ended.append("ended")

    async def fetch_quote(self) -> str:
        """Answers at once, without waiting."""
        return "100"

    async def fetch_positions(self) -> str:
        """Keeps busy, giving the loop a turn each step, without a future to wait on (cancelled, a future would
        say so itself): only a cancel thrown into the coroutine stops it."""
        try:
            for _ in range(SPINS):
                await asyncio.sleep(0)
            return "went on through the cancel"
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise

    async def cancel_order(self) -> str:
        """Catches a cancel and answers all the same (as an adapter finishing its request would)."""
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0)
            return "caught"
        return "unreachable"


async def test_an_answer_without_a_wait_and_one_after_waits_are_both_returned() -> None:
    venue = Venue()
    assert await answers.within(venue, "fetch_quote", venue.fetch_quote()) == "100"
    asyncio.get_running_loop().call_later(0.01, venue.answer.set_result, "filled")
    assert await asyncio.wait_for(answers.within(venue, "fetch_order", venue.fetch_order(waits=3)), GUARD) == "filled"
    assert venue.ended == ["ended"]


async def test_an_error_raised_after_a_wait_is_the_adapters_own() -> None:
    venue = Venue()
    venue.answer.set_exception(UnknownOutcome("the venue hung up"))
    with pytest.raises(UnknownOutcome, match="hung up"):
        await asyncio.wait_for(answers.within(venue, "fetch_order", venue.fetch_order()), GUARD)
    venue = Venue()
    venue.answer.set_exception(TimeoutError("the adapter's own HTTP timeout"))
    with pytest.raises(TimeoutError, match="HTTP timeout"):  # not NoAnswer: the deadline did not pass
        await asyncio.wait_for(answers.within(venue, "fetch_order", venue.fetch_order()), GUARD)


async def test_a_call_that_never_answers_is_cut_off_at_the_deadline_and_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(answers, "CALL_TIMEOUT", 0.05)
    venue = Venue()
    with pytest.raises(NoAnswer, match=r"Venue\.fetch_order"):
        await asyncio.wait_for(answers.within(venue, "fetch_order", venue.fetch_order()), GUARD)
    assert venue.ended == ["cancelled", "ended"]  # the adapter's coroutine heard the cancel: it holds nothing
    with pytest.raises(NoAnswer, match=r"Venue\.fetch_positions"):
        await asyncio.wait_for(answers.within(venue, "fetch_positions", venue.fetch_positions()), GUARD)
    assert venue.ended[-1] == "cancelled"


async def test_a_cancel_of_the_caller_reaches_the_call_waiting() -> None:
    venue = Venue()
    task = asyncio.ensure_future(answers.within(venue, "fetch_order", venue.fetch_order()))
    await asyncio.sleep(0.01)  # it waits for the venue now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert venue.ended == ["cancelled", "ended"]
    task = asyncio.ensure_future(answers.within(venue, "fetch_positions", venue.fetch_positions()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert venue.ended[-1] == "cancelled"
    # One that catches the cancel and answers: its answer is the caller's, as with `await` itself.
    task = asyncio.ensure_future(answers.within(venue, "cancel_order", venue.cancel_order()))
    await asyncio.sleep(0.01)
    task.cancel()
    assert await asyncio.wait_for(task, GUARD) == "caught"
