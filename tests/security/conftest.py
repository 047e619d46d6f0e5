"""Daemons with hand-written configs for the attack tests (several strategies, server settings)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN, TOKEN, Daemon, free_port

RELAXED = "    rate_limit: {per_minute: 100000, per_hour: 1000000}\n"


def config_text(port: int, strategies: dict[str, str], server: str = "", top: str = "", plugin: str = "paper") -> str:
    """A config on the paper broker (or `plugin`); `strategies` maps name -> that strategy's YAML (indented 4)."""
    text = (
        f"server:\n  host: 127.0.0.1\n  port: {port}\n  admin_token: {ADMIN}\n{server}"
        "database: bridge.db\n"
        f"brokers:\n  paper:\n    plugin: {plugin}\n    options: {{cash: 100000}}\n"
        f"{top}strategies:\n"
    )
    for name, body in strategies.items():
        text += f"  {name}:\n{body}"
        if "subscriptions:" not in body:
            text += "    subscriptions:\n      - broker: paper\n"
    return text


def strategy(token: str = TOKEN, extra: str = RELAXED) -> str:
    """The YAML of one strategy (token plus extra settings)."""
    return f"    token: {token}\n{extra}"


@pytest.fixture
def start_daemon(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Daemon]]:
    """Factory: start_daemon(strategies, server="", top="", plugin="paper", files={}) -> a started Daemon.

    A test module's `SERVER` (YAML lines of the server section) goes into every config it starts: the
    same tests then run against another shape of the daemon (`server.intake_process`).
    """
    started: list[Daemon] = []
    module_server: str = getattr(request.module, "SERVER", "")

    def factory(strategies: dict[str, str], server: str = "", top: str = "", plugin: str = "paper",
                files: dict[str, str] | None = None, start: bool = True, **kw: Any) -> Daemon:  # fmt: skip
        port = free_port()
        directory = tmp_path / f"d{len(started)}"
        directory.mkdir()
        for name, text in (files or {}).items():  # plugin modules next to the config
            (directory / name).write_text(text)
        path = directory / "config.yaml"
        path.write_text(config_text(port, strategies, module_server + server, top, plugin))
        daemon = Daemon(config=path, port=port, **kw)
        started.append(daemon)
        return daemon.start() if start else daemon

    yield factory
    for daemon in started:
        daemon.stop()


def rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Read the journal directly (read-only: the daemon may be running)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
