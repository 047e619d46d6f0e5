"""`delay` as TradersPost also writes it: a relative time such as "+5 minutes"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic_core import PydanticCustomError

from bridge.signals import timing
from bridge.signals.parse import parse_body

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("+5 minutes", 300),
        ("+1 minute", 60),
        ("+30 seconds", 30),
        ("+1 second", 1),
        ("+2 hours", 7200),
        ("+1 day", 86400),
        (" +10 Minutes ", 600),
        ("+24 hours", 86400),
    ],
)
def test_a_relative_delay_runs_that_long_after_arrival(value: str, seconds: int) -> None:
    assert timing.execute_at(value, NOW) == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "hint"),
    [("+0 minutes", "is 0 seconds"), ("+25 hours", "is 90000 seconds"), ("+2 days", "is 172800 seconds")],
)
def test_a_relative_delay_outside_a_day_is_refused_with_the_range(value: Any, hint: str) -> None:
    with pytest.raises(PydanticCustomError) as caught:
        timing.execute_at(value, NOW)
    assert caught.value.type == "invalid-delay-format"
    assert hint in caught.value.message() and '"+5 minutes"' in caught.value.message(), caught.value.message()


def test_a_relative_delay_reaches_the_signal() -> None:
    before = datetime.now(UTC)
    signal, echo, _ = parse_body(b'{"ticker": "SQ", "action": "buy", "delay": "+5 minutes"}')
    after = datetime.now(UTC)
    assert signal.execute_at is not None
    assert before + timedelta(minutes=5) <= signal.execute_at <= after + timedelta(minutes=5)
    assert echo["delay"] == signal.execute_at.isoformat()
