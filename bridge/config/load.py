"""Load a YAML config into validated models; every error reads `file:line: dotted.path: message`."""

from __future__ import annotations

import codecs
import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from bridge.config.scalars import PlainScalars
from bridge.config.schema import Config, reference_errors
from bridge.config.secrets import (
    BadReference,
    empty_variables,
    interpolate,
    is_secret_key,
    missing_variables,
    padded_variables,
    padding,
    variable_names,
)
from bridge.errors import ConfigError

if TYPE_CHECKING:  # the registry is imported only when brokers are checked
    from bridge.brokers.base import BrokerFactory

Path_ = tuple[str | int, ...]
_FAILED: Any = object()  # a value the reader reported as unreadable


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from."""

    config: Config
    # As given (made absolute), not resolved: a reload reads the file a symlink names then, where a deployment
    # switches the link to a new version (`ln -sfn`, a Kubernetes ConfigMap's `..data`) and may remove the old.
    path: Path | None
    sha256: str
    # The environment variables its values read (names only): a running daemon keeps the values it started with.
    variables: tuple[str, ...] = ()
    # The folder of the file behind the path when it was read: relative paths (the journal's) start there.
    folder: Path | None = None

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the config are resolved against."""
        if self.folder is not None:
            return self.folder
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
        elif isinstance(value, str):
            values.extend(_url_password(value))
    return values


def _url_password(value: str) -> list[str]:
    """The password in a URL's `user:password@` (a proxy's), as written and decoded: errors quote the URL."""
    if "://" not in value or "@" not in value:
        return []
    try:
        password = urlsplit(value).password
    except ValueError:  # not a URL after all
        return []
    return [] if not password else [password, unquote(password)]


_MAP, _SEQ, _MERGE = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "binary")}
_UNKNOWN_TAG = "a YAML tag this config does not use; remove it (quote the value if it starts with `!`)"
# Values read again through aliases: a real config repeats a few blocks; nested aliases (`*a` ten times in `&b`,
# `*b` ten times in `&c` ...) grow tenfold a line, and eight lines would keep `bridge check` or a reload busy for hours.
MAX_ALIASED_VALUES = 100_000


class _TooManyAliased(Exception):
    """The aliases expand the file past MAX_ALIASED_VALUES; carries the error line."""


class Reader:
    """Turns a composed YAML node tree into data, remembering the line of every path."""

    def __init__(self, filename: str, environ: Mapping[str, str] | None) -> None:
        self.filename = filename
        self.environ = environ
        self.lines: dict[Path_, int] = {}
        self.errors: list[str] = []
        self.error_paths: list[Path_] = []  # the setting each of `errors` is about, in the same order
        self.failed: set[Path_] = set()  # paths already reported; pydantic's view of them is noise
        self.plain = PlainScalars()  # `NO`, `0700`, an empty value: what YAML made of them, for the errors
        self.empty: dict[Path_, list[str]] = {}  # settings that read an environment variable set to nothing
        self.variables: dict[str, None] = {}  # every environment variable a value reads, in the file's order
        self.missing: dict[str, None] = {}  # those read without a default that are not set
        self.constructor = yaml.constructor.SafeConstructor()  # the safe loader's own scalar rules
        self._open: set[int] = set()  # the collections being read: an alias back into one would never end
        self._seen: set[int] = set()  # every node read: one read again comes through an alias
        self._aliased = 0

    def read(self, node: yaml.Node, path: Path_) -> Any:
        # A setting's line is its key's line: a block mapping's value starts on the line below the key.
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self._seen:
            self._aliased += 1
            if self._aliased > MAX_ALIASED_VALUES:
                message = (
                    f"aliases (*name) expand the file past {MAX_ALIASED_VALUES} values here; write the settings out"
                )
                raise _TooManyAliased(f"{self.filename}:{self.lines.get(path[:1], 1)}: {dotted(path[:1])}: {message}")
        self._seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            return self.read_value(node, path)
        if node.tag not in (_MAP, _SEQ):
            return self.fail(path, node, _UNKNOWN_TAG)
        if id(node) in self._open:
            return self.fail(path, node, "an alias to the mapping or list it is in; write the settings out")
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.read_mapping(node, path)
            return [self.read(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def read_mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        """A mapping; `<<: *name` merges are read first, so the keys written beside them win (and keep their line)."""
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                for source in self.merge_sources(value_node, path):  # the first mapping listed wins, as in YAML
                    merged = self.read(source, path)
                    result = {**merged, **result} if isinstance(merged, dict) else result
        own: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(path, key_node, "a key must be a name, not a list or mapping")
                continue
            key = self.read_scalar(key_node, path)
            if key is _FAILED:
                continue
            if key_node.style is None:
                self.plain.key((*path, key), key_node.value, key)
            if key in own:
                self.error((*path, key), key_node.start_mark.line + 1, "duplicate key")
            own.add(key)
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.read(value_node, (*path, key))
        return result

    def merge_sources(self, node: yaml.Node, path: Path_) -> list[yaml.MappingNode]:
        """The mappings a `<<` key merges: one mapping (`<<: *defaults`) or a list of them."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if all(isinstance(item, yaml.MappingNode) for item in items):
            return list(items)
        self.fail(path, node, "`<<` merges a mapping (`<<: *name`) or a list of them; write the settings out")
        return []

    def read_value(self, node: yaml.ScalarNode, path: Path_) -> Any:
        value = self.read_scalar(node, path)
        if node.style is None and value is not _FAILED:
            self.plain.value(path, node.value, value)
        if isinstance(value, str) and "$" in value:
            try:
                self.variables.update(dict.fromkeys(variable_names(value)))
                self.missing.update(dict.fromkeys(missing_variables(value, self.environ)))
                interpolated = interpolate(value, self.environ)
                self.empty[path] = empty_variables(value, self.environ)
            except BadReference as exc:
                self.error(path, node.start_mark.line + 1, str(exc))
                self.failed.add(path)
                return value
            self.check_credential(path, node, value, interpolated)
            return interpolated
        if isinstance(value, str):
            self.check_credential(path, node, value, value)
        return value

    def check_credential(self, path: Path_, node: yaml.ScalarNode, written: str, value: str) -> None:
        """Refuse a credential with a space or line break at an end; its value is never quoted.

        A broker's venue takes it as part of the key and answers 401 at every connect, saying nothing of why; a
        notification target's token or URL so written fails every notification (an invalid URL).
        """
        key = path[-1] if path else None
        if not isinstance(key, str):
            return
        if len(path) >= 4 and path[0] == "brokers" and path[2] == "options" and is_secret_key(key):
            effect = "which the broker would take as part of the credential and refuse"
        elif path[:2] == ("notifications", "targets") and (is_secret_key(key) or key in ("url", "api_url")):
            effect = "which would fail every notification sent to this target"
        else:
            return
        what = padding(value)
        if what is None or value.lstrip().startswith("-----BEGIN "):
            return  # a PEM private key (Coinbase's secret) ends with a newline as written, and its readers take it
        named = padded_variables(written, self.environ)
        subject = f"environment variable {named[0]} has" if named else "the value has"
        self.fail(path, node, f"{subject} {what}, {effect}; remove it (a key pasted or read from a file often "
                  "keeps the file's last newline: `$(cat FILE)` in a shell drops it, an env file or a YAML block "
                  "`|` keeps it)")  # fmt: skip

    def read_scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        """The scalar as the safe loader reads it (`key:` with no value is null); a located error if it cannot be."""
        if node.tag not in _SCALAR_TAGS:
            return self.fail(path, node, _UNKNOWN_TAG)
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception:  # a tag that does not fit its value (`!!int lots`): PyYAML raises several kinds
            # The message is ours: PyYAML's quotes the value, which may be a secret.
            return self.fail(path, node, "the value does not fit its YAML tag (`!!int`, `!!bool`, ...); fix the value "
                             "or remove the tag")  # fmt: skip

    def fail(self, path: Path_, node: yaml.Node, message: str) -> Any:
        """Report `message` at the node's line; the marker returned stands for the value that could not be read."""
        self.error(path, node.start_mark.line + 1, message)
        self.failed.add(path)
        return _FAILED

    def error(self, path: Path_, line: int, message: str) -> None:
        self.errors.append(f"{self.filename}:{line}: {dotted(path) or '(top)'}: {message}")
        self.error_paths.append(path)

    def errors_under(self, prefix: Path_) -> list[str]:
        """The errors about `prefix` or a setting below it."""
        return [line for line, path in zip(self.errors, self.error_paths, strict=True) if path[: len(prefix)] == prefix]

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


def _empty_sections(data: dict[str, Any], model: type[BaseModel]) -> None:
    """Read `server:` with every setting below it commented out (YAML null) as the empty section it stands for.

    Only settings that are a section (a mapping) and cannot be null: a null number or list stays an error.
    """
    for name, field in model.model_fields.items():
        value = data.get(name)
        if value is None and name in data and _is_section(field.annotation):
            data[name] = {}
        else:
            _descend(value, field.annotation)


def _is_section(annotation: Any) -> bool:
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return is_model or get_origin(annotation) is dict


def _descend(value: Any, annotation: Any) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
        _empty_sections(value, annotation)
        return
    origin, args = get_origin(annotation), [a for a in get_args(annotation) if a is not type(None)]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        for item in value.values():
            _descend(item, args[1])
    elif origin is list and isinstance(value, list) and args:
        for item in value:
            _descend(item, args[0])
    elif origin in (Union, UnionType) and len(args) == 1:  # `Model | None`: a model when it is given
        _descend(value, args[0])


def validate_data(data: Any, reader: Reader, model: type[BaseModel] = Config, prefix: Path_ = ()) -> BaseModel | None:
    """Validate `data` against `model`, appending located errors to the reader."""
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = (*prefix, *err["loc"])
            if path in reader.failed:
                continue
            # A mapping key's own error (`ticker_map`'s): pydantic appends `[key]`; the key names it already.
            plain = path[:-1] if path[-1:] == ("[key]",) else path
            shown, message = reader.plain.hint(path, err["type"]) or (plain, _pydantic_message(err, model, err["loc"]))
            if reader.empty.get(path):  # the error is likely the variable's: say which one is empty
                message += f" (environment variable {', '.join(reader.empty[path])} is set but empty; give it a value)"
            reader.error(shown, reader.line_of(path), message)
        return None
    for path, message in reader.plain.misread_numbers(validated, prefix):
        reader.error(path, reader.line_of(path), message)
    return validated


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
    return _parse(text, filename, environ)[0]


def read_tree(text: str, filename: str, environ: Mapping[str, str] | None) -> tuple[dict[str, Any], Reader]:
    """The file's settings, interpolated, and the reader holding the problems found so far (not validated yet).

    ConfigError when nothing of it can be read: invalid YAML, an empty file, no mapping at the top.
    """
    reader = Reader(filename, environ)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_error_line(exc, filename, text)]) from exc
    if root is None:
        raise ConfigError([f"{filename}:1: (top): the file is empty; run `bridge init` for a starter config"])
    try:
        data = reader.read(root, ())
    except _TooManyAliased as exc:
        raise ConfigError([str(exc)]) from None
    if not isinstance(data, dict):
        reader.error((), 1, "the file must be a mapping of settings")
        raise ConfigError(reader.errors)
    _empty_sections(data, Config)
    return data, reader


def _parse(text: str, filename: str, environ: Mapping[str, str] | None) -> tuple[Config, tuple[str, ...]]:
    """The validated config and the environment variables its values read; ConfigError listing every problem."""
    data, reader = read_tree(text, filename, environ)
    config = validate_data(data, reader)
    if isinstance(config, Config):
        for path, message in reference_errors(config):
            reader.error(path, reader.line_of(path), message)
        _validate_broker_options(config, data, reader)
        check_database(config, reader)
    else:  # `bridge check` reports every error in one go: the brokers' own too, not only after a second run
        _check_raw_brokers(data, reader)
    if reader.errors or not isinstance(config, Config):
        raise ConfigError(reader.errors)
    return config, tuple(reader.variables)


def check_database(config: Config, reader: Reader) -> None:
    """A journal path that is a folder: `bridge check` says so, not sqlite's traceback when the daemon starts."""
    database = Path(config.database)
    folder = database if database.is_absolute() else Path(reader.filename).parent / database
    if folder.is_dir():
        example = Path(config.database) / "bridge.db"
        reader.error(("database",), reader.line_of(("database",)),
                     f"{folder} is a folder; write the journal's file name in it, e.g. {example}")  # fmt: skip


def _plugin_options(
    name: str, plugin_name: str, options: Any, dirs: list[Path], reader: Reader
) -> tuple[BrokerFactory, BaseModel] | None:
    """The broker's plugin and its validated options, or None after reporting why not (a broken plugin: silently)."""
    from bridge.brokers.registry import PluginImportError, PluginLoadError, find_plugin

    path: Path_ = ("brokers", name, "plugin")
    try:
        plugin = find_plugin(plugin_name, dirs)
    except PluginImportError:
        return None  # it exists but is broken: /health reports it at run time and the other brokers still trade
    except PluginLoadError as exc:
        reader.error(path, reader.line_of(path), str(exc))
        return None
    validated = validate_data(options or {}, reader, plugin.options_model, ("brokers", name, "options"))
    return None if validated is None else (plugin, validated)


def _validate_broker_options(config: Config, data: dict[str, Any], reader: Reader) -> None:
    from bridge.brokers.base import Capabilities, capabilities_of
    from bridge.brokers.registry import plugin_dirs
    from bridge.config.capabilities import capability_errors

    dirs = plugin_dirs(config.plugin_dirs, Path(reader.filename).parent)
    capabilities: dict[str, Capabilities] = {}
    for name, broker in config.brokers.items():
        found = _plugin_options(name, broker.plugin, data["brokers"][name].get("options"), dirs, reader)
        if found is not None:
            capabilities[name] = capabilities_of(*found)
    for error_path, message in capability_errors(config, capabilities):
        reader.error(error_path, reader.line_of(error_path), message)


def _check_raw_brokers(data: dict[str, Any], reader: Reader) -> None:
    """Plugins, their options and the subscriptions' broker names, checked on data that failed validation.

    Only what can be read as written: a broker whose plugin or options are themselves malformed was reported.
    """
    from bridge.brokers.registry import plugin_dirs

    brokers = data.get("brokers")
    if not isinstance(brokers, dict) or not brokers:  # no brokers at all: that error says it for every reference
        return
    configured = data.get("plugin_dirs", ["plugins"])
    if not (isinstance(configured, list) and all(isinstance(d, str) for d in configured)):
        configured = ["plugins"]
    dirs = plugin_dirs(configured, Path(reader.filename).parent)
    for name, broker in brokers.items():
        if isinstance(broker, dict) and isinstance(broker.get("plugin"), str):
            options = broker.get("options")
            if options is None or isinstance(options, dict):
                _plugin_options(str(name), broker["plugin"], options, dirs, reader)
    strategies = data.get("strategies")
    known = ", ".join(sorted(str(b) for b in brokers))
    for strategy_name, strategy in strategies.items() if isinstance(strategies, dict) else ():
        subscriptions = strategy.get("subscriptions") if isinstance(strategy, dict) else None
        for index, sub in enumerate(subscriptions if isinstance(subscriptions, list) else ()):
            if isinstance(sub, dict) and isinstance(sub.get("broker"), str) and sub["broker"] not in brokers:
                path: Path_ = ("strategies", strategy_name, "subscriptions", index, "broker")
                reader.error(path, reader.line_of(path), f"unknown broker {sub['broker']!r}; defined brokers: {known}")


def read_config_text(file: Path) -> tuple[bytes, str]:
    """The config file's bytes and text, or a located `ConfigError` saying why it cannot be read."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{file}:1: (top): cannot read the config file: {exc.strerror}"]) from exc
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # "Unicode" in Windows editors' save dialogs
        raise ConfigError([f"{file}:1: (top): the file is not UTF-8 text but UTF-16; save it as UTF-8"])
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1  # a Latin-1 é in one comment: say where, the file may be long
        message = "the file is not UTF-8 text (this line holds a byte that is not); save it as UTF-8"
        raise ConfigError([f"{file}:{line}: (top): {message}"]) from exc


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, interpolate and validate the config file at `path`."""
    file = Path(path)
    raw, text = read_config_text(file)
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        config, variables = _parse(text, str(file), environ)
    except ConfigError as exc:
        exc.sha256 = sha256
        raise
    return LoadedConfig(config, file.absolute(), sha256, variables, file.resolve().parent)
