"""Find broker plugins: built-ins, the `bridge.brokers` entry-point group, plugin directories, or `module:Class`.

A name is looked up in that order. A plugin directory holds one adapter per `*.py` file, named by
the file's stem (`plugins/alpaca.py` is plugin `alpaca`); the module names its class with a
module-level `BROKER = MyBroker`, or defines exactly one class shaped like a broker. A plugin that
cannot be found is a config error; one that is found but raises while importing (or while being
built or connected) is reported with its name and file and leaves the other brokers running.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from bridge.brokers.base import (
    Broker,
    BrokerContext,
    BrokerFactory,
    Capabilities,
    capabilities_of,
    hold_capabilities,
)
from bridge.errors import BridgeError

ENTRY_POINT_GROUP = "bridge.brokers"
BUILTINS = {"paper": "bridge.brokers.paper:PaperBroker"}
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT_PLUGINS = PROJECT_ROOT / "plugins"  # the adapters we ship; only in a checkout (an editable install)
CONNECT_TIMEOUT = 30.0
REQUIRED_METHODS = (
    "connect", "close", "fetch_account", "fetch_positions", "fetch_open_orders", "fetch_order", "create_order",
    "cancel_order",
)  # fmt: skip

# Imported plugin files by path, with the (mtime, size) they were imported at: an edited file is imported anew.
_file_modules: dict[Path, tuple[tuple[int, int], ModuleType]] = {}


class PluginLoadError(BridgeError):
    """A plugin could not be found or imported."""


class PluginNotFound(PluginLoadError):
    """No plugin has that name: a mistake in the config."""


class PluginImportError(PluginLoadError):
    """The plugin exists but raised while importing, or does not look like a broker."""


class BrokerStartError(BridgeError):
    """An adapter was found but its options, constructor or `connect` failed."""


class BrokerConnectError(BrokerStartError):
    """The adapter was built but its `connect` failed or timed out: the venue may answer later."""


def plugin_dirs(configured: Iterable[str], base_dir: Path) -> list[Path]:
    """The directories searched for `*.py` plugins: the configured ones (relative to the config), then ours."""
    found: list[Path] = []
    for entry in [*(base_dir / Path(d).expanduser() for d in configured), *_default_dirs()]:
        resolved = entry.resolve()
        if resolved.is_dir() and resolved not in found:
            found.append(resolved)
    return found


def _default_dirs() -> list[Path]:
    """The project's own plugins/, when this is a checkout (not some other `plugins` beside site-packages)."""
    ours = PROJECT_PLUGINS.is_dir() and (PROJECT_ROOT / "pyproject.toml").is_file()
    return [PROJECT_PLUGINS] if ours else []


def broken_plugins(plugins: Iterable[str], dirs: Sequence[Path]) -> list[str]:
    """The import error of each named plugin that exists but cannot be loaded (for `bridge check`)."""
    problems = []
    for name in dict.fromkeys(plugins):
        try:
            find_plugin(name, dirs)
        except PluginImportError as exc:
            problems.append(str(exc))
        except PluginNotFound:
            pass  # already a config error
    return problems


def installed_entry_points() -> list[EntryPoint]:
    """The `bridge.brokers` entry points of installed packages, less the built-ins registered there too."""
    builtin_targets = set(BUILTINS.values())
    return [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value not in builtin_targets]


def _module_file(module_name: str) -> str:
    """Where a module lives, for error messages, without running it."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    return spec.origin if spec is not None and spec.origin else module_name


def _at_line(exc: BaseException, where: str) -> str:
    """`where` (a plugin's file) with the line of it that raised `exc`, when the traceback passes through it.

    An import that fails names its line, as a traceback would: the log and `bridge check` show the message alone.
    """
    if isinstance(exc, SyntaxError) and exc.filename == where and exc.lineno:
        return f"{where}:{exc.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == where]
    return f"{where}:{lines[-1]}" if lines else where


def _check_shape(obj: Any, label: str, where: str) -> BrokerFactory:
    """Refuse, with a message that says what is missing, anything that is not a broker class."""
    if not inspect.isclass(obj):
        raise PluginImportError(f"broker plugin {label!r} ({where}): {obj!r} is not a class")
    problems = [m for m in REQUIRED_METHODS if not callable(getattr(obj, m, None))]
    # A plain `def` is awaited all the same, and fails at each call with "object list can't be used in 'await'
    # expression", at a line of ours: said here, it names the method (unwrapped: a functools.wraps decorator is fine).
    problems += [f"async def {m}" for m in REQUIRED_METHODS
                 if m not in problems and not inspect.iscoroutinefunction(inspect.unwrap(getattr(obj, m)))]  # fmt: skip
    if not isinstance(getattr(obj, "capabilities", None), Capabilities):
        problems.append("capabilities (a bridge.brokers.base.Capabilities)")
    model = getattr(obj, "options_model", None)
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        problems.append("options_model (a pydantic model)")
    if problems:
        raise PluginImportError(f"broker plugin {label!r} ({where}): {obj.__name__} is missing {', '.join(problems)}")
    return cast(BrokerFactory, obj)


def load_target(target: str, label: str) -> BrokerFactory:
    """Import `module:Class` and check it is shaped like a broker."""
    module_name, _, attr = target.partition(":")
    where = _module_file(module_name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise PluginNotFound(f"broker plugin {label!r} failed to import: no module named {module_name!r}") from exc
        raise PluginImportError(f"broker plugin {label!r} ({_at_line(exc, where)}) failed to import: {exc!r}") from exc
    except (Exception, SystemExit) as exc:
        raise PluginImportError(f"broker plugin {label!r} ({_at_line(exc, where)}) failed to import: {exc!r}") from exc
    if not hasattr(module, attr):
        raise PluginNotFound(f"broker plugin {label!r}: {module_name} has no attribute {attr!r}")
    return _check_shape(getattr(module, attr), label, where)


def _import_file(path: Path) -> ModuleType:
    """Import a plugin file under a private module name, once per version of the file."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _file_modules.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    module_name = f"bridge_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginImportError(f"broker plugin {path.stem!r} ({path}): not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pydantic look their module up by name
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        where = _at_line(exc, str(path))
        raise PluginImportError(f"broker plugin {path.stem!r} ({where}) failed to import: {exc!r}") from exc
    _file_modules[path] = (version, module)
    return module


def _factory_in(module: ModuleType, label: str, where: str) -> BrokerFactory:
    """The module's `BROKER`, else its one class that has `create_order` and `capabilities`."""
    chosen = getattr(module, "BROKER", None)
    if chosen is None:
        candidates = [
            value for value in vars(module).values()
            if inspect.isclass(value) and value.__module__ == module.__name__
            and hasattr(value, "create_order") and hasattr(value, "capabilities")
        ]  # fmt: skip
        if len(candidates) != 1:
            names = ", ".join(c.__name__ for c in candidates) or "none"
            raise PluginImportError(
                f"broker plugin {label!r} ({where}): set BROKER = YourClass in the module "
                f"(found {len(candidates)} broker-like classes: {names})"
            )
        chosen = candidates[0]
    return _check_shape(chosen, label, where)


def load_file(path: Path) -> BrokerFactory:
    """Import a plugin file and return its broker class."""
    return _factory_in(_import_file(path), path.stem, str(path))


def _file_for(name: str, dirs: Sequence[Path]) -> Path | None:
    if not name.isidentifier():
        return None
    for directory in dirs:
        candidate = directory / f"{name}.py"
        if candidate.is_file():
            return candidate
    return None


def find_plugin(name: str, dirs: Sequence[Path] | None = None) -> BrokerFactory:
    """Resolve a plugin name to its class; raise PluginNotFound or PluginImportError with a fix-it message.

    `dirs` are the plugin directories to search (see `plugin_dirs`); by default the project's own plugins/.
    """
    dirs = _default_dirs() if dirs is None else dirs
    if name in BUILTINS:
        return load_target(BUILTINS[name], name)
    for ep in installed_entry_points():
        if ep.name == name:
            return load_target(ep.value, name)
    path = _file_for(name, dirs)
    if path is not None:
        return load_file(path)
    if ":" in name:
        return load_target(name, name)
    known = sorted({*BUILTINS, *(ep.name for ep in installed_entry_points()), *_file_names(dirs)})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise PluginNotFound(
        f"unknown broker plugin {name!r}; {hint}see `bridge plugins`, add {name}.py to a plugin directory, "
        "or write module:Class"
    )


def plugin_files(directory: Path) -> list[Path]:
    """The plugin files of one directory: `*.py` named like a module and not private (`_helpers.py`)."""
    return [p for p in sorted(directory.glob("*.py")) if p.stem.isidentifier() and not p.stem.startswith("_")]


def _file_names(dirs: Sequence[Path]) -> list[str]:
    return [path.stem for directory in dirs for path in plugin_files(directory)]


def locate(name: str, dirs: Sequence[Path] | None = None) -> str:
    """Where plugin `name` comes from (a file or module path), for messages; never imports anything."""
    dirs = _default_dirs() if dirs is None else dirs
    if name in BUILTINS:
        return _module_file(BUILTINS[name].partition(":")[0])
    for ep in installed_entry_points():
        if ep.name == name:
            return _module_file(ep.value.partition(":")[0])
    path = _file_for(name, dirs)
    if path is not None:
        return str(path)
    return _module_file(name.partition(":")[0]) if ":" in name else name


async def open_broker(
    plugin: str,
    options: Mapping[str, Any],
    context: BrokerContext,
    dirs: Sequence[Path] | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> Broker:
    """Find, build and connect an adapter; every failure names the plugin and its file."""
    factory = find_plugin(plugin, dirs)
    where = locate(plugin, dirs)
    try:
        validated = factory.options_model.model_validate(dict(options))
        broker = factory(validated, context)
        # Its venue's capabilities, as the config was checked against: what decides a resend, say, is the venue's.
        hold_capabilities(broker, capabilities_of(factory, validated))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(options)'}: {e['msg']}" for e in exc.errors())
        raise BrokerStartError(f"broker plugin {plugin!r} ({where}): invalid options: {problems}") from exc
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        raise BrokerStartError(f"broker plugin {plugin!r} ({where}) failed to start: {failure}") from exc
    try:
        await asyncio.wait_for(broker.connect(), connect_timeout)
    except Exception as exc:
        await _close_quietly(broker)
        what = f"did not connect within {connect_timeout:g}s" if isinstance(exc, TimeoutError) else "failed in connect"
        raise BrokerConnectError(f"broker plugin {plugin!r} ({where}) {what}: {type(exc).__name__}: {exc}") from exc
    return broker


async def _close_quietly(broker: Broker) -> None:
    with contextlib.suppress(Exception):  # the connect error is the one worth reporting
        await broker.close()
