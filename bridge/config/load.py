"""Load a YAML config into validated models; every error reads `file:line: dotted.path: message`."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bridge.config.schema import Config, reference_errors
from bridge.config.secrets import MissingVariable, interpolate, is_secret_key
from bridge.errors import ConfigError

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from."""

    config: Config
    path: Path | None
    sha256: str

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the config are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    def database_path(self) -> Path:
        """The journal database file, resolved relative to the config file."""
        db = Path(self.config.database)
        return db if db.is_absolute() else self.base_dir / db

    def secrets(self) -> list[str]:
        """Every secret value in the config, for redaction (computed once: it is read on every webhook)."""
        return list(self._secrets)

    @cached_property
    def _secrets(self) -> tuple[str, ...]:
        found = [s.token for s in self.config.strategies.values()]
        for strategy in self.config.strategies.values():  # a signing secret also leaks without its whsec_ prefix
            found.extend(
                part for secret in strategy.signing_secrets for part in (secret, secret.removeprefix("whsec_"))
            )
        if self.config.server.admin_token:
            found.append(self.config.server.admin_token)
        for broker in self.config.brokers.values():
            found.extend(_secret_values(broker.options))
        found.extend(self.config.notifications.secrets())
        return tuple(found)


def _secret_values(options: Mapping[str, Any]) -> list[str]:
    values: list[str] = []
    for key, value in options.items():
        if isinstance(value, Mapping):
            values.extend(_secret_values(value))
        elif isinstance(value, str) and is_secret_key(str(key)):
            values.append(value)
    return values


class _Reader:
    """Turns a composed YAML node tree into data, remembering the line of every path."""

    def __init__(self, filename: str, environ: Mapping[str, str] | None) -> None:
        self.filename = filename
        self.environ = environ
        self.lines: dict[Path_, int] = {}
        self.errors: list[str] = []
        self.failed: set[Path_] = set()  # paths already reported; pydantic's view of them is noise

    def read(self, node: yaml.Node, path: Path_) -> Any:
        # A setting's line is its key's line: a block mapping's value starts on the line below the key.
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.read_scalar(key_node)
                if key in result:
                    self.error((*path, key), key_node.start_mark.line + 1, "duplicate key")
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.read(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.read_scalar(node)
        if isinstance(value, str) and "${" in value:
            try:
                return interpolate(value, self.environ)
            except MissingVariable as exc:
                self.error(path, node.start_mark.line + 1, str(exc))
                self.failed.add(path)
        return value

    def read_scalar(self, node: yaml.Node) -> Any:
        # Resolve the scalar with the safe loader's own tag rules (ints, bools, nulls, ...).
        return yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value

    def error(self, path: Path_, line: int, message: str) -> None:
        self.errors.append(f"{self.filename}:{line}: {dotted(path) or '(top)'}: {message}")

    def line_of(self, path: Path_) -> int:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def dotted(path: Path_) -> str:
    """`("strategies", "x", "subscriptions", 0)` -> `strategies.x.subscriptions.0`."""
    return ".".join(str(part) for part in path)


def _pydantic_message(err: Mapping[str, Any], model: type[BaseModel], path: Path_) -> str:
    if err["type"] == "extra_forbidden":
        known = _known_keys(model, path[:-1])
        hint = difflib.get_close_matches(str(path[-1]), known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(known)}"
        return f"unknown key {path[-1]!r}{suggestion}"
    if err["type"] == "missing":
        return "required setting is missing"
    return str(err["msg"]).removeprefix("Value error, ")


def _known_keys(model: type[BaseModel], path: Path_) -> list[str]:
    current: Any = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            continue  # a dict key (strategy or broker name): the value model is already current
        current = _inner_model(field.annotation)
    return sorted(getattr(current, "model_fields", {}))


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def validate_data(data: Any, reader: _Reader, model: type[BaseModel] = Config, prefix: Path_ = ()) -> BaseModel | None:
    """Validate `data` against `model`, appending located errors to the reader."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = (*prefix, *err["loc"])
            if path in reader.failed:
                continue
            reader.error(path, reader.line_of(path), _pydantic_message(err, model, tuple(err["loc"])))
        return None


# What PyYAML quotes in a message: an alias, anchor or tag name, a character of the source. A token written
# `*tok-...` or `!tok-...` is such a name, so quoted text goes, except PyYAML's own token names and punctuation.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_SYNTAX = re.compile(r"['\"](?:<[a-z ]+>|[^\w\s'\"]|\\[tnr])['\"]")


def _without_quotes(message: str) -> str:
    kept = _QUOTED.sub(lambda m: m.group(0) if _SYNTAX.fullmatch(m.group(0)) else "", message)
    return re.sub(r"\s+([;,:])", r"\1", re.sub(r"\s{2,}", " ", kept)).strip()


def yaml_error_line(exc: yaml.YAMLError, filename: str, text: str) -> str:
    """A YAML syntax error as one `file:line: (top): invalid YAML: ...` line, without source excerpts or names.

    The line is where the mistake is: the problem's, or where the unclosed quote or bracket opened when the
    problem is the end of the file (that line says nothing). str(exc) is never used: it quotes the source lines,
    a token's among them, and the config's secrets are unknown while it does not parse.
    """
    if isinstance(exc, yaml.reader.ReaderError):  # no marks: a character position
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return f"{filename}:{line}: (top): invalid YAML: a control character YAML does not accept; remove it"
    problem = getattr(exc, "problem", None) or type(exc).__name__
    context = getattr(exc, "context", None)
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    mark = problem_mark or context_mark
    if context_mark is not None and (problem_mark is None or not text[problem_mark.index :].strip()):
        mark = context_mark
    message = _without_quotes(problem)
    if context and context.startswith("while "):
        message = f"{context}: {message}"
    elif context and context_mark is not None:  # "found duplicate anchor ...; first occurrence" + "second occurrence"
        message = f"{_without_quotes(context)} at line {context_mark.line + 1}, {message}"
    return f"{filename}:{mark.line + 1 if mark else 1}: (top): invalid YAML: {message}"


def parse_config(text: str, filename: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    """Parse and validate config text; raise ConfigError listing every problem."""
    reader = _Reader(filename, environ)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_error_line(exc, filename, text)]) from exc
    if root is None:
        raise ConfigError([f"{filename}:1: (top): the file is empty; run `bridge init` for a starter config"])
    data = reader.read(root, ())
    if not isinstance(data, dict):
        reader.error((), 1, "the file must be a mapping of settings")
        raise ConfigError(reader.errors)
    config = validate_data(data, reader)
    if isinstance(config, Config):
        for path, message in reference_errors(config):
            reader.error(path, reader.line_of(path), message)
        _validate_broker_options(config, data, reader)
    if reader.errors or not isinstance(config, Config):
        raise ConfigError(reader.errors)
    return config


def _validate_broker_options(config: Config, data: dict[str, Any], reader: _Reader) -> None:
    from bridge.brokers.base import Capabilities, capabilities_of
    from bridge.brokers.registry import PluginImportError, PluginLoadError, find_plugin, plugin_dirs
    from bridge.config.capabilities import capability_errors

    dirs = plugin_dirs(config.plugin_dirs, Path(reader.filename).parent)
    capabilities: dict[str, Capabilities] = {}
    for name, broker in config.brokers.items():
        path: Path_ = ("brokers", name, "plugin")
        try:
            plugin = find_plugin(broker.plugin, dirs)
        except PluginImportError:
            continue  # it exists but is broken: /health reports it at run time and the other brokers still trade
        except PluginLoadError as exc:
            reader.error(path, reader.line_of(path), str(exc))
            continue
        options = data["brokers"][name].get("options") or {}
        validated = validate_data(options, reader, plugin.options_model, ("brokers", name, "options"))
        if validated is not None:
            capabilities[name] = capabilities_of(plugin, validated)
    for error_path, message in capability_errors(config, capabilities):
        reader.error(error_path, reader.line_of(error_path), message)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, interpolate and validate the config file at `path`."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{file}:1: (top): cannot read the config file: {exc.strerror}"]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}:1: (top): the file is not UTF-8 text"]) from exc
    config = parse_config(text, str(file), environ)
    return LoadedConfig(config=config, path=file.resolve(), sha256=hashlib.sha256(raw).hexdigest())
