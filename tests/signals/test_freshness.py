"""A signal's `time` against the clock: what is refused as stale, and what the refusal tells the sender to fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.config.load import parse_config
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
