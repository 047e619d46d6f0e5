"""Config value types for the scheduled jobs: a local wall-clock time and an IANA time zone name."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _wall_clock(value: Any) -> time | None:
    if value is None or isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads an unquoted 15:55 as the base-60 number 955: refuse rather than guess.
        raise ValueError('write the time in quotes, e.g. "15:55" (unquoted, YAML reads 15:55 as a number)')
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'expected a 24-hour local time such as "15:55", got {value!r}')
    return time(int(match.group(1)), int(match.group(2)))


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as America/New_York") from None
    return value


# The validator wraps the optional type, so the docs show `time or null`.
OptionalLocalTime = Annotated[time | None, BeforeValidator(_wall_clock)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
