"""Settings that limit what a request, a leaked token or a runaway strategy can do."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bridge.config.trading import Symbol
from bridge.web.signing import secret_key
from bridge.web.sources import parse_networks

ANY_HOST = "*"  # server.allowed_hosts: every name


class Strict(BaseModel):
    """Base model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(Strict):
    """How many webhook requests one strategy takes; more answer 429 too-many-requests."""

    per_minute: int = Field(default=60, ge=1, le=100_000, description="requests in any 60-second span")
    per_hour: int = Field(default=500, ge=1, le=1_000_000, description="requests in any 3600-second span")


class RiskLimits(Strict):
    """Pre-trade limits; an order that breaks one is rejected with the reason and never reaches the broker."""

    max_order_quantity: Decimal | None = Field(
        default=None, gt=0, description="largest quantity of one opening order (exits are never blocked by it)"
    )
    max_notional: Decimal | None = Field(
        default=None,
        gt=0,
        description="largest quantity x price of one opening order, at the highest price it may fill at: a buy "
        "limit (or stop-limit) at its limit, any other order at the largest of its limit/stop, the signal's price and "
        "the broker's quote (asked for whenever this is set; without one, the signal's price is trusted as sent); "
        "with no price at all the order is rejected",
    )
    max_position: Decimal | None = Field(
        default=None,
        gt=0,
        description="largest absolute position per symbol an opening order may leave behind, counting the orders "
        "on its side still working at the broker as filled (take-profit/stop-loss legs aside)",
    )
    max_orders_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="orders (exits included) planned in any 60 seconds; more are rejected. At the top level every "
        "strategy's orders count against an entry, but only its own strategy's against an exit (a swap refused "
        "for other strategies' orders sends its exit alone)",
    )
    allowed_symbols: list[Symbol] | None = Field(
        default=None, description="only these tickers or broker symbols trade (case-insensitive); null: any"
    )

    @field_validator("allowed_symbols")
    @classmethod
    def _symbols_list_some(cls, value: list[str] | None) -> list[str] | None:
        # `[]` written for "any symbol" refused every order a signal asked for, the exits of open positions included.
        if value == []:
            raise ValueError("an empty allowed_symbols refuses every order, exits of open positions included; remove "
                             "the key to allow any")  # fmt: skip
        return value


class GlobalRisk(RiskLimits):
    """The top-level `risk:` block: limits over every subscription, plus the circuit breakers."""

    breaker_failures: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="consecutive failed submissions (outages) that open a broker's circuit, for every strategy; "
        "as many orders of one strategy refused by the venue in a row open that strategy's circuit there, for its "
        "entries (its exits still go); 0: never",
    )
    breaker_cooldown: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="seconds an open circuit (a broker's or a strategy's) refuses orders before one probe is let "
        "through",
    )


def check_sources(value: list[str] | None) -> list[str] | None:
    """Validate allowlist entries (`tradingview`, `trendspider`, an address or a CIDR network)."""
    if value is not None:
        if not value:
            raise ValueError("an empty allowed_sources would refuse every request; remove the key to allow any")
        parse_networks(value)
    return value


def check_proxies(value: list[str]) -> list[str]:
    """Validate trusted proxy entries (addresses or CIDR networks; no sender aliases, never every address)."""
    for entry, network in zip(value, parse_networks(value, aliases=False), strict=True):
        if network.prefixlen == 0:  # every sender a proxy: its own X-Forwarded-For would pass allowed_sources
            raise ValueError(
                f"{entry!r} is every address: any sender's forged X-Forwarded-For would be believed, and "
                "allowed_sources would stop no one; list only your own tunnel or proxy, e.g. 127.0.0.1"
            )
    return value


def check_signing_secrets(value: list[str]) -> list[str]:
    """Validate Standard Webhooks secrets (`whsec_` + base64 of 24+ bytes)."""
    for secret in value:
        secret_key(secret)
    return value


def check_hosts(entries: list[str]) -> list[str]:
    """Validate `server.allowed_hosts`: bare names (or `*`), stored as `Host` values are compared."""
    names = []
    for entry in entries:
        name = entry.strip().lower().rstrip(".")
        if name == ANY_HOST:
            names.append(name)
            continue
        if not name or "/" in name or ":" in name or "*" in name or any(ch.isspace() for ch in name):
            raise ValueError(f"{entry!r} is not a bare host name; write the name alone, as the browser's "
                             "address bar shows it without http:// and the port, e.g. bridge.example.com "
                             "(or '*' for any)")  # fmt: skip
        names.append(name)
    return names
