"""Config value types for local times: a wall-clock time (no offset) and an IANA time zone name."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")  # seconds optional: configs carry "09:30:00"
# "09:30Z", "09:30+01:00", "09:30:00-0500": a time that carries its own offset (ISO 8601).
_WITH_OFFSET = re.compile(r"^\d?\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)$")


def _wall_clock(value: Any) -> time:
    """A naive local `time` from a quoted "HH:MM"; anything else is refused with how to write it."""
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML reads an unquoted 15:55 as the base-60 number 955 and 9.30 as 9.3: refuse rather than guess.
        raise ValueError(f'write the time in quotes, e.g. "15:55" (unquoted, YAML reads it as the number {value!r})')
    text = value.strip() if isinstance(value, str) else None
    if isinstance(value, time) or (text is not None and _WITH_OFFSET.match(text)):
        # Compared with a naive local time, an aware one raised TypeError on every signal: the zone is a setting.
        raise ValueError('write the local time without an offset, e.g. "09:30"; the timezone setting names the zone')
    match = _HHMM.match(text) if text is not None else None
    if match is None:
        raise ValueError(f'expected a 24-hour local time such as "15:55", got {value!r}')
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def _day_end(value: Any) -> time:
    """A window's end: a wall-clock time, or "24:00" for the end of the day (ISO 8601's midnight at the end)."""
    if isinstance(value, str) and value.strip() in ("24:00", "24:00:00"):
        return time.max  # `TradingWindow` takes this end as inclusive: nothing of the day is left after it
    return _wall_clock(value)


def _optional_wall_clock(value: Any) -> time | None:
    return None if value is None else _wall_clock(value)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as America/New_York") from None
    return value


# The validator wraps the type, so the docs show `time` (or `time or null`).
LocalTime = Annotated[time, BeforeValidator(_wall_clock)]
OptionalLocalTime = Annotated[time | None, BeforeValidator(_optional_wall_clock)]
DayEnd = Annotated[time, BeforeValidator(_day_end)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
