"""The payload's `delay` and `cancelAfter`, and the schedule a config makes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticCustomError

from bridge.signals import timing
from bridge.signals.parse import PayloadError, parse_payload
from tests.jobs.conftest import Clock, config_text

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (60, NOW + timedelta(seconds=60)),
        ("90", NOW + timedelta(seconds=90)),
        (Decimal("1.0"), NOW + timedelta(seconds=1)),
        (86400, NOW + timedelta(days=1)),
        ("2026-11-25T10:30:00-05:00", datetime(2026, 11, 25, 15, 30, tzinfo=UTC)),
        ("2026-11-25T15:00:01Z", NOW + timedelta(seconds=1)),
        ("2026-11-25t15:00:02z", NOW + timedelta(seconds=2)),  # RFC 3339 allows T and Z in lower case
        ("2026-11-25T14:59:59Z", NOW - timedelta(seconds=1)),  # passed on the way: due now (the webhook bounds it)
        (None, None),
    ],
)
def test_delay_becomes_the_moment_to_execute(value: Any, expected: datetime | None) -> None:
    assert timing.execute_at(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (0, "is 0 seconds"),
        (86401, "is 86401 seconds"),
        (1.5, "whole seconds from 1 to 86400"),
        (True, "whole seconds"),
        ("soon", "whole seconds"),
        ("2026-11-25T16:00:00", "has no time zone"),
        ("2026-11-24T14:59:59Z", "is in the past"),  # a day past: a mistake, whatever max_signal_age is
        ("2026-11-26T15:00:01Z", "more than 24 hours ahead"),
    ],
)
def test_a_bad_delay_is_invalid_delay_format_with_a_fix(value: Any, hint: str) -> None:
    with pytest.raises(PydanticCustomError) as caught:
        timing.execute_at(value, NOW)
    assert caught.value.type == "invalid-delay-format"
    assert hint in caught.value.message()
    assert 'e.g. "delay": 60' in caught.value.message() or "add one such as Z" in caught.value.message()


def test_a_bad_delay_in_a_payload_answers_its_message_code() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload({"ticker": "AMD", "action": "buy", "delay": "2000-01-01T00:00:00Z"})
    assert (caught.value.code, "is in the past" in caught.value.message) == ("invalid-delay-format", True)


@pytest.mark.parametrize("value", [0, 3601, 2.5, "x", False])
def test_a_bad_cancel_after_is_invalid_cancel_after(value: Any) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload({"ticker": "AMD", "action": "buy", "cancelAfter": value})
    assert caught.value.code == "invalid-cancel-after"
    assert "whole seconds from 1 to 3600" in caught.value.message


def test_delay_and_cancel_after_reach_the_signal_and_its_echo() -> None:
    signal, echo, _unknown = parse_payload({"ticker": "AMD", "action": "buy", "delay": "30", "cancelAfter": "600"})
    assert signal.execute_at is not None and signal.cancel_after == Decimal(600)
    assert echo["delay"] == signal.execute_at.isoformat() and echo["cancelAfter"] == 600


async def test_a_config_schedules_polling_stranded_exits_timeouts_reconnects_summary_pruning(bridges: Any) -> None:
    r = await bridges(config_text(extra="poll_interval: 2\n"), Clock())
    jobs = r.bridge.jobs.scheduler
    expected = {"cfg:poll", "cfg:stranded", "cfg:timeouts", "cfg:reconnect", "cfg:summary", "cfg:prune"}
    assert {job.id for job in jobs.get_jobs()} == expected
    assert jobs.get_job("cfg:poll").trigger.interval == timedelta(seconds=2)
    assert jobs.get_job("cfg:stranded").trigger.interval == timedelta(seconds=2)
    health = (await r.client.get("/health")).json()
    assert set(health["jobs"]) == expected


async def test_the_executor_ages_signals_with_the_config_s_clock_skew_and_a_reload_s(bridges: Any) -> None:
    r = await bridges(config_text(extra="clock_skew: 7\n"), Clock())
    assert r.bridge.executor.clock_skew == 7
    r.bridge.loaded.path.write_text(config_text(extra="clock_skew: 9\n"))
    assert (await r.bridge.reload("test")).ok
    assert r.bridge.executor.clock_skew == 9


@pytest.mark.parametrize(
    ("field", "code"), [("delay", "invalid-delay-format"), ("cancelAfter", "invalid-cancel-after")]
)
@pytest.mark.parametrize("value", ["1e999999999", "-1E+999999999"])
def test_a_whole_number_with_a_huge_exponent_is_refused_at_once(field: str, code: str, value: str) -> None:
    """A billion-digit whole number as seconds: read as an int, it held the process for hours on one request.

    Run apart, so that a regression ends in the timeout (a hang guard, not a measure of speed).
    """
    script = (
        "import json, sys\n"
        "from bridge.signals.parse import PayloadError, parse_body\n"
        "for body in sys.argv[1:]:\n"
        "    try:\n"
        "        parse_body(body.encode())\n"
        "    except PayloadError as exc:\n"
        "        print(exc.code)\n"
    )
    bodies = [f'{{"ticker": "AMD", "action": "buy", "{field}": {text}}}' for text in (f'"{value}"', value)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script, *bodies], capture_output=True, text=True, env=env,
                          timeout=60, check=False)  # fmt: skip
    assert done.stdout.split() == [code, code], done.stderr
