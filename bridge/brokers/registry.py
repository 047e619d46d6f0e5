"""Find broker plugins: built-ins, the `bridge.brokers` entry-point group, or `module:Class`."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, cast

from bridge.brokers.base import BrokerFactory
from bridge.errors import BridgeError

ENTRY_POINT_GROUP = "bridge.brokers"
BUILTINS = {"paper": "bridge.brokers.paper:PaperBroker"}


class PluginLoadError(BridgeError):
    """A plugin could not be found or imported."""


def _import(target: str, label: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginLoadError(f"broker plugin {label!r} failed to import ({module_name}): {exc!r}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise PluginLoadError(f"broker plugin {label!r}: {module_name} has no attribute {attr!r}") from exc


def find_plugin(name: str) -> BrokerFactory:
    """Resolve a plugin name to its class; raise PluginLoadError with a fix-it message."""
    if name in BUILTINS:
        return cast(BrokerFactory, _import(BUILTINS[name], name))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return cast(BrokerFactory, ep.load())
            except Exception as exc:
                raise PluginLoadError(f"broker plugin {name!r} failed to import ({ep.value}): {exc!r}") from exc
    if ":" in name:
        return cast(BrokerFactory, _import(name, name))
    available = sorted({*BUILTINS, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})
    raise PluginLoadError(f"unknown broker plugin {name!r}; available: {', '.join(available)} (or write module:Class)")
