"""A config as the commands that need only the journal read it: `database`, and where the daemon's admin API is.

`bridge halt` is the kill switch. The daemon has its strategy tokens and broker keys from its environment file
(systemd's EnvironmentFile); the operator's shell seldom has them, and a halt that first demanded every one of
them could not be made from there. Nor may an error elsewhere in the file (which a failed reload leaves the
daemon running without) stop it: these commands read only what they use, and `bridge check` stays strict.
`bridge replay` reads the whole file, but trades on paper and posts no webhook: it needs no token or key either.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from bridge.config.load import (
    LoadedConfig,
    Reader,
    check_database,
    load_config,
    read_config_text,
    read_tree,
    validate_data,
)
from bridge.config.schema import Config, ServerConfig, database_name
from bridge.config.secrets import missing_variables
from bridge.errors import ConfigError

CONNECTION = ("host", "port", "admin_port", "admin_token")  # where the daemon's admin API is, and its token


@dataclass(frozen=True)
class JournalView:
    """The config's journal and server settings; `unasked`: why the daemon cannot be asked from here, or None."""

    loaded: LoadedConfig
    unasked: str | None = None


class _Journal(BaseModel):
    """The journal's setting, checked as the whole config checks it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    database: str = "bridge.db"

    @field_validator("database")
    @classmethod
    def _names_a_file(cls, value: str) -> str:
        return database_name(value)


def load_journal_view(path: str | Path, environ: Mapping[str, str] | None = None) -> JournalView:
    """Read `database` and the server settings of the config at `path`; ConfigError only for the journal's path."""
    file = Path(path)
    raw, text = read_config_text(file)
    data, reader = read_tree(text, str(file), environ)
    journal = validate_data({"database": data.get("database", "bridge.db")}, reader, _Journal)
    server, unasked = _server(data, reader, environ, file)
    database = journal.database if isinstance(journal, _Journal) else ""
    config = Config.model_construct(server=server, database=database, brokers={}, strategies={})
    if isinstance(journal, _Journal):
        check_database(config, reader)
    errors = reader.errors_under(("database",))
    if errors:
        raise ConfigError([*errors, *_export_hint(data.get("database"), environ)])
    loaded = LoadedConfig(config, file.absolute(), hashlib.sha256(raw).hexdigest(), tuple(reader.variables),
                          file.resolve().parent)  # fmt: skip
    return JournalView(loaded, unasked)


def _export_hint(value: Any, environ: Mapping[str, str] | None) -> list[str]:
    """What to do when the journal's path reads a variable this shell does not set."""
    missing = missing_variables(value, environ) if isinstance(value, str) else []
    if not missing:
        return []
    names = ", ".join(missing)
    return [f"the journal's path reads {names}: run this command with the daemon's environment (`export {missing[0]}"
            "=...`, or `set -a; . /etc/trade-bridge/bridge.env; set +a` where systemd runs it)"]  # fmt: skip


def _server(data: dict[str, Any], reader: Reader, environ: Mapping[str, str] | None,
            file: Path) -> tuple[ServerConfig, str | None]:  # fmt: skip
    """The server settings, and why the daemon cannot be asked: a setting that says where it is could not be read."""
    given = data.get("server", {})
    check = f"`bridge check --config {file}` says why"
    if not isinstance(given, dict):
        return ServerConfig(), f"the server settings cannot be read ({check})"
    # Settings that read a variable this shell lacks are left out: of them, only where the daemon is matters here.
    unread = {path[1] for path in reader.failed if path[:1] == ("server",) and len(path) > 1}
    server = validate_data({k: v for k, v in given.items() if k not in unread}, reader, ServerConfig, ("server",))
    if not isinstance(server, ServerConfig):
        return ServerConfig(), f"the server settings have errors ({check})"
    reasons = []
    for key in CONNECTION:
        if key in unread:
            missing = missing_variables(str(given[key]), environ)
            reasons.append(f"server.{key} reads {', '.join(missing)}, which this shell does not set" if missing
                           else f"server.{key} cannot be read ({check})")  # fmt: skip
    if reasons:
        return server.model_copy(update={"admin_token": None}), "; ".join(reasons)
    return server, None


def load_without_secrets(path: str | Path, environ: Mapping[str, str] | None = None) -> tuple[LoadedConfig, list[str]]:
    """The whole config for a command that uses none of its tokens or keys (replay), and the variables it did
    without: each one read without a default that this shell does not set stands in as a placeholder.

    The journal's path must still be read as written (ConfigError naming its variable), and a placeholder that does
    not fit its setting (a number, a URL) gives the strict error: those are settings the command uses.
    """
    load_journal_view(path, environ)  # the journal's path: never a placeholder
    env = os.environ if environ is None else environ
    try:
        return load_config(path, env), []
    except ConfigError as strict:
        file = Path(path)
        _, text = read_config_text(file)
        missing = list(read_tree(text, str(file), env)[1].missing)
        if not missing:
            raise
        # A name read with a default elsewhere takes the placeholder there too; the command names each one.
        stand_ins = {**env, **{name: f"unset-{name}-in-this-shell" for name in missing}}
        try:
            return load_config(path, stand_ins), missing
        except ConfigError:
            raise strict from None
