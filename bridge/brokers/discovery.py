"""`bridge plugins`: every adapter the registry can find, with its source, version and capabilities."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.brokers.base import BrokerFactory, Capabilities
from bridge.brokers.registry import (
    BUILTINS,
    PluginLoadError,
    installed_entry_points,
    load_file,
    load_target,
    plugin_files,
)


@dataclass(frozen=True)
class PluginInfo:
    """One adapter found by discovery."""

    name: str
    source: str  # built-in | entry point (<distribution>) | plugin dir
    location: str  # the file, or module:Class
    version: str | None
    capabilities: Capabilities | None
    error: str | None = None
    shadowed: bool = False  # an earlier source already provides this name, so this one is never used

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "name": self.name, "source": self.source, "location": self.location, "version": self.version,
            "capabilities": None if self.capabilities is None else self.capabilities.as_dict(),
            "error": self.error, "shadowed": self.shadowed,
        }  # fmt: skip


def _version(factory: BrokerFactory, fallback: str | None) -> str | None:
    """The class's `version`, else its module's `__version__`, else the distribution's."""
    module = sys.modules.get(factory.__module__)
    declared = getattr(factory, "version", None) or getattr(module, "__version__", None)
    return str(declared) if declared else fallback


def _info(name: str, source: str, location: str, load: Callable[[], BrokerFactory], version: str | None) -> PluginInfo:
    try:
        factory = load()
    except PluginLoadError as exc:
        return PluginInfo(name, source, location, version, None, error=str(exc))
    return PluginInfo(name, source, location, _version(factory, version), factory.capabilities)


def discover(dirs: Sequence[Path] = ()) -> list[PluginInfo]:
    """Every adapter found, in lookup order, each imported (a broken one is listed with its error)."""
    found: list[PluginInfo] = []
    for name, target in BUILTINS.items():
        found.append(_info(name, "built-in", target, partial(load_target, target, name), __version__))
    for ep in installed_entry_points():
        dist = ep.dist.name if ep.dist is not None else None
        source = f"entry point ({dist})" if dist else "entry point"
        version = ep.dist.version if ep.dist is not None else None
        found.append(_info(ep.name, source, ep.value, partial(load_target, ep.value, ep.name), version))
    for directory in dirs:
        for path in plugin_files(directory):
            found.append(_info(path.stem, "plugin dir", str(path), partial(load_file, path), None))
    seen: set[str] = set()
    marked: list[PluginInfo] = []
    for info in found:
        marked.append(replace(info, shadowed=True) if info.name in seen else info)
        seen.add(info.name)
    return marked


def render(infos: Sequence[PluginInfo]) -> str:
    """A table: name, version, source and location, then the capabilities (or the error) indented below."""
    header = ("NAME", "VERSION", "SOURCE", "LOCATION")
    rows = [header] + [
        (i.name, i.version or "-", i.source + (" (shadowed)" if i.shadowed else ""), _short(i.location)) for i in infos
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(3)]

    def line(row: tuple[str, str, str, str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3]

    lines = [line(header)]
    for info, row in zip(infos, rows[1:], strict=True):
        lines.append(line(row))
        detail = f"error: {info.error}" if info.error is not None else _describe(info.capabilities)
        lines.append(" " * (widths[0] + 2) + detail)
    return "\n".join(lines)


def _describe(capabilities: Capabilities | None) -> str:
    return capabilities.describe() if capabilities is not None else "no capabilities declared"


def _short(location: str) -> str:
    """A plugin file relative to the working directory when it is below it (shorter, and the same on every machine)."""
    path = Path(location)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        return str(path.relative_to(Path.cwd()))
    return location
