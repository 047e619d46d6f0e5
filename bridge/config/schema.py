"""The configuration file's pydantic models; unknown keys are errors everywhere."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIN_TOKEN_LENGTH = 16


class Strict(BaseModel):
    """Base model: a misspelt key must never silently disable a setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Strict):
    """Where the daemon listens and who may use the admin API."""

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65535)
    admin_token: str | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("admin_token")
    @classmethod
    def _admin_token_strength(cls, value: str | None) -> str | None:
        if value is not None and value != "" and len(value) < MIN_TOKEN_LENGTH:
            raise ValueError(f"admin_token must be at least {MIN_TOKEN_LENGTH} characters")
        return value or None


class BrokerConfig(Strict):
    """One broker account: which plugin drives it and the plugin's own options."""

    plugin: str
    options: dict[str, Any] = Field(default_factory=dict)


class Sizing(Strict):
    """How many units an entry buys or sells when the signal does not say."""

    type: Literal["fixed_quantity"] = "fixed_quantity"
    value: Decimal = Field(default=Decimal(1), gt=0)


class Subscription(Strict):
    """How one strategy's signals become orders at one broker."""

    broker: str
    name: str | None = None
    enabled: bool = True
    sides: Literal["both", "long", "short"] = "both"
    allow_swap: bool = True
    allow_add: bool = False
    use_signal_quantity: bool = True
    sizing: Sizing = Field(default_factory=Sizing)
    order_type: Literal["market", "limit", "stop", "stop_limit", "trailing_stop"] = "market"
    exit_fill_timeout: float = Field(default=120.0, gt=0, le=600)


class Strategy(Strict):
    """A webhook URL and the subscriptions its signals fan out to."""

    token: str = Field(min_length=MIN_TOKEN_LENGTH)
    subscriptions: list[Subscription] = Field(min_length=1)


class Config(Strict):
    """The whole configuration file."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    database: str = "bridge.db"
    max_signal_age: float = Field(default=60.0, gt=0, le=86400)
    brokers: dict[str, BrokerConfig] = Field(min_length=1)
    strategies: dict[str, Strategy] = Field(min_length=1)

    @field_validator("strategies")
    @classmethod
    def _strategy_names_are_url_safe(cls, value: dict[str, Strategy]) -> dict[str, Strategy]:
        for name in value:
            if not name or not all(ch.isalnum() or ch in "-_." for ch in name):
                raise ValueError(f"strategy name {name!r} may only use letters, digits, '-', '_' and '.'")
        return value


def subscription_key(strategy: Strategy, index: int) -> str:
    """The stable name of a subscription: its `name`, else its broker (suffixed when repeated)."""
    sub = strategy.subscriptions[index]
    if sub.name:
        return sub.name
    same_broker = [i for i, s in enumerate(strategy.subscriptions) if s.broker == sub.broker and not s.name]
    return sub.broker if len(same_broker) == 1 else f"{sub.broker}-{same_broker.index(index) + 1}"


def reference_errors(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references pydantic cannot check alone, as (path, message) pairs."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    known = ", ".join(sorted(config.brokers))
    for strategy_name, strategy in config.strategies.items():
        names: set[str] = set()
        for index, sub in enumerate(strategy.subscriptions):
            path: tuple[str | int, ...] = ("strategies", strategy_name, "subscriptions", index)
            if sub.broker not in config.brokers:
                errors.append(((*path, "broker"), f"unknown broker {sub.broker!r}; defined brokers: {known}"))
            key = subscription_key(strategy, index)
            if key in names:
                errors.append(((*path, "name"), f"subscription name {key!r} is used twice; give each a unique name"))
            names.add(key)
    return errors
