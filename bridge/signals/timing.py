"""The payload's timing fields: `delay` (execute later) and `cancelAfter` (cancel an unfilled order)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.signals.fields import fail, show

MAX_DELAY_SECONDS = 86400
MAX_CANCEL_AFTER_SECONDS = 3600
# Far beyond either limit. A bigger whole number (1e999999999 is one) is refused as it is: turned into an int, its
# billion digits would hold the process for hours on a single request.
_MAX_WHOLE = Decimal(10) ** 12
_DELAY_HELP = (
    'use whole seconds from 1 to 86400 (e.g. "delay": 60), a relative time (e.g. "delay": "+5 minutes") or an ISO '
    'time with a time zone at most 24 hours ahead (e.g. "delay": "2026-01-02T15:30:00-05:00")'
)
# TradersPost's relative form, "+5 minutes": a whole number of seconds, minutes, hours or days from arrival.
_RELATIVE = re.compile(r"\+\s*(\d{1,9})\s*(second|minute|hour|day)s?", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _whole_number(value: Any) -> int | None:
    """An integer from an int or numeric string; None when `value` is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number.copy_abs() > _MAX_WHOLE or number != number.to_integral_value():
        return None
    return int(number)


def iso_moment(text: str) -> datetime:
    """An ISO 8601 time as `datetime.fromisoformat` reads it, with a final Z or z for UTC (RFC 3339 allows either).

    Raises ValueError as fromisoformat does.
    """
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def execute_at(value: Any, now: datetime | None = None) -> datetime | None:
    """`delay` (seconds, a relative "+5 minutes", or an aware ISO time) -> the UTC moment the signal may execute."""
    if value is None or value == "":
        return None
    now = now or datetime.now(UTC)
    seconds = _whole_number(value)
    relative = _RELATIVE.fullmatch(value.strip()) if isinstance(value, str) else None
    if relative is not None:
        seconds = int(relative.group(1)) * _UNIT_SECONDS[relative.group(2).lower()]
    if seconds is not None:
        if not 1 <= seconds <= MAX_DELAY_SECONDS:
            what = f"delay {show(value)} is {seconds} seconds" if relative else f"delay is {show(value)} seconds"
            raise fail("invalid-delay-format", f"{what}; {_DELAY_HELP}")
        return now + timedelta(seconds=seconds)
    if not isinstance(value, str):
        raise fail("invalid-delay-format", f"delay is {show(value)}; {_DELAY_HELP}")
    try:
        moment = iso_moment(value)
    except ValueError:
        raise fail("invalid-delay-format", f"delay is {show(value)}; {_DELAY_HELP}") from None
    if moment.tzinfo is None:
        raise fail("invalid-delay-format", f"delay {show(value)} has no time zone; add one such as Z or -05:00")
    # A time that passed on the way (latency, the sender's clock) is due now; how far past is too far is the
    # webhook's call (`check_due`: max_signal_age). A day past is a mistake whatever the config.
    if now - moment > timedelta(seconds=MAX_DELAY_SECONDS):
        raise fail("invalid-delay-format", f"delay {show(value)} is in the past; {_DELAY_HELP}")
    if moment - now > timedelta(seconds=MAX_DELAY_SECONDS):
        raise fail("invalid-delay-format", f"delay {show(value)} is more than 24 hours ahead; {_DELAY_HELP}")
    return moment.astimezone(UTC)


def aged_from(time: datetime | None, execute_at: datetime | None, received: datetime, skew: float) -> datetime:
    """The moment a signal's age at execution counts from: its `delay` time, else when it arrived.

    A signal whose `time` was already old on arrival counts from that time (plus `clock_skew`, as the webhook
    allows): accepted at the edge of max_signal_age, it must not then wait in a queue for as long again.
    """
    if execute_at is not None:
        return execute_at
    if time is not None and (received - time).total_seconds() > skew:
        return time + timedelta(seconds=skew)
    return received


def cancel_after(value: Any) -> Decimal | None:
    """`cancelAfter`: whole seconds from 1 to 3600."""
    if value is None or value == "":
        return None
    seconds = _whole_number(value)
    if seconds is None or not 1 <= seconds <= MAX_CANCEL_AFTER_SECONDS:
        raise fail(
            "invalid-cancel-after",
            f'cancelAfter must be whole seconds from 1 to {MAX_CANCEL_AFTER_SECONDS} (e.g. "cancelAfter": 30); '
            f"got {show(value)}",
        )
    return Decimal(seconds)
