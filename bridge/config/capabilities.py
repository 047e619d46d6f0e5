"""Check each subscription against what its broker declares it can do, before anything trades.

A setting the broker cannot honour (a bracket on a broker without brackets, a stop order where only
market and limit exist, shorting on a spot exchange) is a config error with the fix in its message,
rather than a rejected order at the worst moment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bridge.brokers.base import Capabilities
from bridge.config.schema import Config, Subscription

Location = tuple[str | int, ...]


def capability_errors(config: Config, capabilities: Mapping[str, Capabilities]) -> list[tuple[Location, str]]:
    """(path, message) for every subscription setting its broker's declared capabilities do not cover."""
    errors: list[tuple[Location, str]] = []
    for strategy_name, strategy in config.strategies.items():
        for index, sub in enumerate(strategy.subscriptions):
            caps = capabilities.get(sub.broker)
            if caps is None:  # unknown broker or a plugin that failed to load: reported elsewhere
                continue
            path: Location = ("strategies", strategy_name, "subscriptions", index)
            label = f"broker {sub.broker!r} ({config.brokers[sub.broker].plugin})"
            errors.extend(((*path, key), f"{label} {message}") for key, message in _problems(sub, caps))
    return errors


def _listed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _problems(sub: Subscription, caps: Capabilities) -> Iterator[tuple[str, str]]:
    for key in ("order_type", "exit_order_type"):
        value = getattr(sub, key)
        if value not in caps.order_types:
            yield key, f"does not support {key} {value!r}; it supports: {_listed(caps.order_types)}"
    # Market orders ignore time in force on venues without a "day" session, so the default only matters
    # when the subscription sends resting orders or names a value itself.
    resting = sub.order_type != "market" or sub.exit_order_type != "market"
    if sub.time_in_force not in caps.time_in_force and (resting or "time_in_force" in sub.model_fields_set):
        yield (
            "time_in_force",
            f"does not support time_in_force {sub.time_in_force!r}; set one of: {_listed(caps.time_in_force)}",
        )
    if sub.sides != "long" and not caps.shorting:
        yield "sides", "cannot sell short; set `sides: long` so sells only close longs"
    if sub.extended_hours and not caps.extended_hours:
        yield "extended_hours", "does not trade extended hours; remove `extended_hours: true`"
    if sub.fractional and not caps.fractional:
        yield "fractional", "does not take fractional quantities; remove `fractional: true`"
    for key in ("take_profit", "stop_loss"):
        if getattr(sub, key) is not None and not caps.brackets:
            yield key, f"has no bracket orders, so it cannot attach a {key.replace('_', '-')} leg; remove `{key}`"
