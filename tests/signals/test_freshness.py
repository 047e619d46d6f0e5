"""A signal's `time` against the clock: what is refused as stale, and what the refusal tells the sender to fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.config.load import parse_config
from bridge.signals.parse import parse_payload
from bridge.web.checks import Refusal, check_fresh
from tests.jobs.conftest import config_text

NOW = datetime(2026, 11, 25, 15, 0, 1, tzinfo=UTC)
CONFIG = parse_config(config_text(extra="max_signal_age: 60\nclock_skew: 5\n"), "c.yaml")


def test_a_bar_time_sent_for_the_alert_s_time_is_refused_with_timenow_as_the_fix() -> None:
    """TradingView's {{time}} is the bar's opening time: on a 5-minute chart it is 5 minutes old when the bar closes.

    The refusal spoke only of the delivery and of NTP, which is not what is wrong.
    """
    bar_open = NOW - timedelta(minutes=5, seconds=1)
    with pytest.raises(Refusal) as caught:
        check_fresh(bar_open, NOW, CONFIG)
    assert caught.value.code == "stale-signal"
    assert "{{timenow}}" in caught.value.message and "{{time}}" in caught.value.message


@pytest.mark.parametrize(
    ("sent", "direction"),
    [("2026-11-25T10:00:01", "old"), ("2026-11-25T16:00:01", "in the future")],
    ids=["New York local time", "Berlin local time"],
)
def test_a_local_time_sent_without_its_offset_is_refused_saying_it_was_read_as_utc(sent: str, direction: str) -> None:
    """`datetime.now().isoformat()` sends the sender's wall clock with no offset: hours off once read as UTC.

    The refusal only said to check the clocks (NTP), which are right: the offset is what is missing.
    """
    signal, _, _ = parse_payload({"ticker": "AMD", "action": "buy", "time": sent})
    with pytest.raises(Refusal) as caught:
        check_fresh(signal.time, NOW, CONFIG)
    assert direction in caught.value.message
    assert "no offset, so it was read as UTC" in caught.value.message


def test_a_time_with_its_offset_gets_no_hint_about_one() -> None:
    with pytest.raises(Refusal) as caught:
        check_fresh(NOW - timedelta(hours=5), NOW, CONFIG)
    assert "offset" not in caught.value.message
