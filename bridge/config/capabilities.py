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


def expiring_legs(config: Config, capabilities: Mapping[str, Capabilities]) -> list[tuple[Location, str]]:
    """(path, message) for every subscription whose take-profit/stop-loss defaults go out as day orders.

    Not errors (a trader may want them gone at the close), but said at `bridge check`: with time_in_force day set,
    or fractional quantities at a venue that takes them for the day only (Alpaca), the legs expire at the close,
    and a position they protect has no stop overnight.
    """
    found: list[tuple[Location, str]] = []
    for strategy_name, strategy in config.strategies.items():
        for index, sub in enumerate(strategy.subscriptions):
            caps = capabilities.get(sub.broker)
            message = _expiring(sub, caps) if caps is not None and caps.brackets else None
            if message is not None:
                found.append((("strategies", strategy_name, "subscriptions", index), message))
    return found


def _expiring(sub: Subscription, caps: Capabilities) -> str | None:
    legs = " and ".join(name for name, on in (("take_profit", sub.take_profit), ("stop_loss", sub.stop_loss)) if on)
    if not legs:
        return None
    if "time_in_force" in sub.model_fields_set and sub.time_in_force == "day":
        why = "time_in_force day"
        fix = "remove time_in_force (legs then go gtc) or set gtc"
    elif "gtc" not in caps.time_in_force:
        why = f"broker {sub.broker!r} takes no gtc orders"
        fix = "use a broker that takes gtc orders to keep them past the close"
    elif sub.fractional and caps.fractional_day_only:
        why = f"fractional: true, and broker {sub.broker!r} takes a fractional quantity for the day only"
        fix = "set fractional: false for whole shares, whose legs go gtc"
    else:
        return None
    return (f"{legs} on every entry are day orders whenever {why}: each expires at the close, leaving the position "
            f"without it overnight; {fix}")  # fmt: skip
