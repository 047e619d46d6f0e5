"""Trading-window times are quoted local wall-clock "HH:MM"; the window's timezone carries the zone."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config.load import parse_config
from bridge.config.trading import in_windows
from bridge.errors import ConfigError

TOKEN = "tok-0123456789abcdef"
WINDOW_LINE = 9  # the line of `trading_windows:` in the text below
OFFSET = 'write the local time without an offset, e.g. "09:30"; the timezone setting names the zone'


def config_text(start: str, end: str = '"16:00"') -> str:
    """A config whose only subscription trades inside one window, every day, in UTC."""
    return (
        f"brokers:\n  paper:\n    plugin: paper\nstrategies:\n  s1:\n    token: {TOKEN}\n    subscriptions:\n"
        "      - broker: paper\n"
        f"        trading_windows: [{{days: [mon, tue, wed, thu, fri, sat, sun], start: {start}, end: {end}, "
        "timezone: UTC}]\n"
    )


def errors(text: str) -> list[str]:
    """The error lines of a config that must be refused."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml", {})
    return caught.value.lines


@pytest.mark.parametrize(("start", "end"), [('"00:00Z"', '"23:59Z"'), ('"09:30-05:00"', '"16:00-05:00"')])
def test_a_window_time_with_an_offset_is_refused_saying_the_timezone_carries_the_zone(start: str, end: str) -> None:
    """Accepted before, an aware time then failed every signal of the subscription, exits included (TypeError)."""
    where = f"c.yaml:{WINDOW_LINE}: strategies.s1.subscriptions.0.trading_windows.0"
    assert errors(config_text(start, end)) == [f"{where}.start: {OFFSET}", f"{where}.end: {OFFSET}"]


@pytest.mark.parametrize(("start", "number"), [("9.30", "9.3"), ("9:30", "570")])
def test_an_unquoted_window_time_is_refused_whether_yaml_reads_a_decimal_or_a_base_60_number(
    start: str, number: str
) -> None:
    """`start: 9.30` was read as 9.3 seconds past midnight UTC; `start: 9:30` is YAML's base-60 570."""
    [line] = errors(config_text(start))
    assert line == (
        f"c.yaml:{WINDOW_LINE}: strategies.s1.subscriptions.0.trading_windows.0.start: write the time in quotes, "
        f'e.g. "15:55" (unquoted, YAML reads it as the number {number})'
    )


def test_bridge_check_refuses_a_window_time_with_an_offset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text('"09:30Z"'))
    assert main(["check", "--config", str(path)]) == 1
    assert capsys.readouterr().err.strip().endswith(f"trading_windows.0.start: {OFFSET}")


def test_a_quoted_window_time_is_a_local_wall_clock_time_compared_in_the_windows_zone() -> None:
    config = parse_config(config_text('"09:30"'), "c.yaml", {})
    [window] = config.strategies["s1"].subscriptions[0].trading_windows
    assert (window.start, window.end) == (time(9, 30), time(16, 0))
    assert in_windows([window], datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    assert not in_windows([window], datetime(2026, 1, 5, 16, 0, tzinfo=UTC))


def test_a_quoted_time_with_seconds_still_loads_as_it_did() -> None:
    config = parse_config(config_text('"09:30:15"', '"16:00:00"'), "c.yaml", {})
    [window] = config.strategies["s1"].subscriptions[0].trading_windows
    assert (window.start, window.end) == (time(9, 30, 15), time(16, 0))
    assert not in_windows([window], datetime(2026, 1, 5, 9, 30, 14, tzinfo=UTC))
    assert in_windows([window], datetime(2026, 1, 5, 9, 30, 15, tzinfo=UTC))


def test_a_window_whose_end_is_its_start_is_refused_as_it_would_never_open() -> None:
    """`end` is exclusive: loaded before, the window held no moment and every entry was ignored, silently."""
    [line] = errors(config_text('"00:00"', '"00:00"'))
    assert line.startswith(
        f'c.yaml:{WINDOW_LINE}: strategies.s1.subscriptions.0.trading_windows.0: start and end are both "00:00:00", '
        "so the window never opens; for a whole day write"
    )


@pytest.mark.parametrize("end", ['"24:00"', '"24:00:00"'])
def test_a_window_ending_at_24_00_holds_the_days_last_second_and_not_the_next_day(end: str) -> None:
    config = parse_config(config_text('"00:00"', end).replace("sat, sun", "sat"), "c.yaml", {})
    [window] = config.strategies["s1"].subscriptions[0].trading_windows
    saturday = datetime(2026, 1, 10, tzinfo=UTC)
    assert in_windows([window], saturday)
    assert in_windows([window], saturday.replace(hour=23, minute=59, second=59, microsecond=999_999))
    assert not in_windows([window], datetime(2026, 1, 11, tzinfo=UTC))  # Sunday is not listed


def test_24_00_is_a_windows_end_only() -> None:
    [line] = errors(config_text('"24:00"'))
    assert line.endswith("trading_windows.0.start: expected a 24-hour local time such as \"15:55\", got '24:00'")
