"""Subscription sub-settings: sizing, brackets and trading windows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bridge.config.timing import DayEnd, LocalTime, TimeZoneName

SizingType = Literal[
    "fixed_quantity", "dollar_amount", "percent_of_equity", "percent_of_position", "risk_dollar_amount", "risk_percent"
]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = get_args(Day)
Overridable = Literal[
    "orderType", "limitPrice", "stopPrice", "trailAmount", "trailPercent", "timeInForce", "extendedHours",
    "takeProfit", "stopLoss", "quantityType", "cancel",
]  # fmt: skip
OVERRIDABLE: tuple[Overridable, ...] = get_args(Overridable)


def _symbol(value: str) -> str:
    # A signal's ticker is read stripped: ` AAPL` (or `AAPL\r` from an env file) never matched it, and an empty
    # broker symbol sent an order for nothing.
    if not value.strip():
        raise ValueError("an empty ticker or symbol; write one, or remove the entry")
    if value != value.strip():
        raise ValueError("has a space or line break before or after it, which a signal's ticker never has; remove it")
    return value


# A ticker or broker symbol as settings list them (`tickers`, `ticker_map`, `allowed_symbols`).
Symbol = Annotated[str, AfterValidator(_symbol)]
V = TypeVar("V")


def by_symbol(entries: Mapping[str, V], symbol: str) -> V | None:
    """The entry of a setting keyed by symbol: its key matched exactly, else ignoring case (`amd` finds AMD)."""
    if symbol in entries or not entries:
        return entries.get(symbol)
    folded = symbol.upper()
    return next((value for key, value in entries.items() if key.upper() == folded), None)


def _weekdays() -> list[Day]:
    return ["mon", "tue", "wed", "thu", "fri"]


class Strict(BaseModel):
    """Base model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sizing(Strict):
    """How big an entry is when the signal does not say (or use_signal_quantity is off)."""

    type: SizingType = Field(
        default="fixed_quantity",
        description="fixed_quantity (units), dollar_amount ($), percent_of_equity (%), percent_of_position (% of "
        "the current position), risk_dollar_amount ($ lost at the stop), risk_percent (% of equity lost at the stop)",
    )
    value: Decimal = Field(default=Decimal(1), gt=0, description="the number the type applies to")


class TakeProfitDefault(Strict):
    """Take-profit leg attached to entries: exactly one of percent or amount from the entry price."""

    percent: Decimal | None = Field(default=None, gt=0, description="percent above a long entry / below a short")
    amount: Decimal | None = Field(default=None, gt=0, description="price distance from the entry")

    @model_validator(mode="after")
    def _one(self) -> TakeProfitDefault:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("set exactly one of percent or amount")
        return self


class StopLossDefault(Strict):
    """Stop-loss leg attached to entries: type plus exactly one distance."""

    type: Literal["stop", "stop_limit", "trailing_stop"] = Field(default="stop", description="stop order type")
    percent: Decimal | None = Field(default=None, gt=0, description="percent below a long entry / above a short")
    amount: Decimal | None = Field(default=None, gt=0, description="price distance from the entry")
    limit_offset: Decimal | None = Field(
        default=None,
        ge=0,
        description="stop_limit only: how far past the stop the limit sits (the limit goes to the tick, toward the "
        "stop; a limit at or below zero rejects the signal)",
    )

    @model_validator(mode="after")
    def _one(self) -> StopLossDefault:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("set exactly one of percent or amount")
        return self


class TradingWindow(Strict):
    """A span of local time on given weekdays; `start` inclusive, `end` exclusive; end < start wraps midnight."""

    days: list[Day] = Field(default_factory=_weekdays, description="weekdays the window opens on")
    start: LocalTime = Field(description='local opening time in quotes, e.g. "09:30" (no offset: see timezone)')
    end: DayEnd = Field(
        description='local closing time (exclusive) in quotes, e.g. "16:00"; "24:00" for the end of the day'
    )
    timezone: TimeZoneName = Field(default="America/New_York", description="IANA time zone of start and end")

    @model_validator(mode="after")
    def _opens(self) -> TradingWindow:
        # `end` is exclusive: a window from 09:30 to 09:30 holds no moment, and every entry would be ignored.
        if self.start == self.end:
            raise ValueError(
                f'start and end are both "{self.start:%H:%M:%S}", so the window never opens; for a whole day write '
                'start "00:00", end "24:00"; across midnight, an end earlier than the start ("18:00" to "17:00")'
            )
        return self

    def contains(self, moment: datetime) -> bool:
        """True when `moment` (aware) falls inside this window."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        now = local.time().replace(tzinfo=None)
        day = DAYS[local.weekday()]
        if self.start <= self.end:  # "24:00" (time.max) ends the day: its last second is inside too
            return day in self.days and self.start <= now and (now < self.end or self.end == time.max)
        if now >= self.start:  # wraps midnight: the evening part belongs to the listed day
            return day in self.days
        previous = DAYS[(local.weekday() - 1) % 7]
        return previous in self.days and now < self.end


def in_windows(windows: list[TradingWindow], moment: datetime) -> bool:
    """True when there are no windows, or `moment` falls in one of them."""
    return not windows or any(w.contains(moment) for w in windows)


__all__ = [
    "OVERRIDABLE",
    "Overridable",
    "Sizing",
    "StopLossDefault",
    "Symbol",
    "TakeProfitDefault",
    "TradingWindow",
    "in_windows",
]
