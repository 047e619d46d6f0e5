"""The paper broker's pure market rules that need more than an example: the day-order close it remembers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.brokers.paper_rules import DayCloses, day_order_expiry

# Two weeks around New York's spring DST change, and around London's autumn one: closes move in UTC there.
STARTS = [datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 10, 19, tzinfo=UTC)]
CLOSES = [time(16, 0), time(16, 0, 30), time(0, 0), time(23, 59, 59)]
ZONES = ["America/New_York", "Europe/London", "Asia/Tokyo", "UTC"]


@settings(max_examples=300, deadline=None)
@given(
    start=st.sampled_from(STARTS),
    close=st.sampled_from(CLOSES),
    zone=st.sampled_from(ZONES),
    # Steps of up to a day, some backwards (a clock set back, a test's clock): each lands anywhere in a session.
    steps=st.lists(st.integers(min_value=-86_400, max_value=86_400), min_size=1, max_size=60),
)
def test_the_remembered_close_is_the_one_worked_out_for_each_order(
    start: datetime, close: time, zone: str, steps: list[int]
) -> None:
    closes = DayCloses(close, zone)
    moment = start + timedelta(days=7)
    for step in steps:
        moment += timedelta(seconds=step)
        assert closes.after(moment) == day_order_expiry(moment, close, zone), moment


def test_an_order_placed_at_the_close_itself_gets_the_next_one() -> None:
    closes = DayCloses(time(16, 0), "America/New_York")
    monday_close = closes.after(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # 10:00 in New York
    assert closes.after(monday_close) == day_order_expiry(monday_close, time(16, 0), "America/New_York")
    assert closes.after(monday_close) > monday_close
