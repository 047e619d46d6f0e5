"""`bridge run`: logging with secrets redacted, the webhook URLs, and uvicorn in the foreground."""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path
from typing import Any

import uvicorn

from bridge.config.load import LoadedConfig
from bridge.config.secrets import mask
from bridge.errors import ConfigError
from bridge.heap import freeze_startup_objects
from bridge.intake.process import IntakeSpec
from bridge.intake.wire import APP_SOCKET
from bridge.logs import setup_logging, write_directly
from bridge.store.daemonlock import sole_daemon
from bridge.store.db import require_servable
from bridge.web.app import build_app
from bridge.web.control import listen_sockets
from bridge.web.places import allow_files_for
from bridge.web.protocol import http_protocol


def url_host(host: str) -> str:
    """`host` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def webhook_urls(loaded: LoadedConfig, host: str, port: int, reveal: str | None = None) -> list[str]:
    """One line per strategy: its URL with the token masked (except `reveal`, shown once in full)."""
    shown_host = url_host("127.0.0.1" if host in ("0.0.0.0", "::") else host)  # noqa: S104 - display only
    lines = []
    for name, strategy in loaded.config.strategies.items():
        token = strategy.token if strategy.token == reveal else mask(strategy.token)
        lines.append(f"  {name}: http://{shown_host}:{port}/webhook/{name}/{token}")
    return lines


def run(loaded: LoadedConfig, host: str | None = None, port: int | None = None, reveal: str | None = None) -> int:
    """Serve until SIGINT/SIGTERM; the config file is watched, and SIGHUP reloads it too."""
    server_cfg = loaded.config.server
    host = host or server_cfg.host
    port = port or server_cfg.port
    if port == server_cfg.admin_port:  # the config refuses this; `--port` must not bring it back
        raise ConfigError([f"--port {port} is server.admin_port: the admin API needs a port of its own; pick another"])
    database = loaded.database_path()
    fix = f"check `database` in {loaded.path or 'the config'}"
    with sole_daemon(database, fix):  # before anything reads the journal: a second daemon stops here
        require_servable(database, fix)
        return _serve(loaded, host, port, reveal)


def _check_ports(host: str, port: int, admin_port: int | None) -> None:
    """Stop with the fix when a port is taken; uvicorn would say so only after start-up ran on the journal."""
    wanted = [(host, port, "--port or server.port")]
    if admin_port is not None:
        wanted.append(("127.0.0.1", admin_port, "server.admin_port"))
    for address, number, setting in wanted:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.create_server((address, number), family=family):  # SO_REUSEADDR, as uvicorn binds
                pass
        except OSError as exc:
            raise SystemExit(
                f"cannot listen on {address}:{number}: {exc.strerror or exc}{_fix(exc, setting)}"
            ) from None


def _fix(exc: OSError, setting: str) -> str:
    """What to change when binding failed: the port when it is taken or reserved, else the host."""
    if exc.errno == errno.EADDRINUSE:
        return (
            f" (is another bridge daemon or another program using it?): stop it, or choose another port with {setting}"
        )
    if exc.errno == errno.EACCES:
        return f": ports below 1024 need privileges; choose a port from 1024 up with {setting}"
    # A LAN address the machine no longer has (DHCP), or a name that does not resolve: another port would fail alike.
    return (": it is not an address of this machine; check --host or server.host (127.0.0.1 keeps it local, "
            "behind a tunnel or proxy)")  # fmt: skip


def _serve(loaded: LoadedConfig, host: str, port: int, reveal: str | None) -> int:
    server_cfg = loaded.config.server
    _check_ports(host, port, server_cfg.admin_port)
    allow_files_for(server_cfg.limit_concurrency)  # the intake process, started from this one, inherits it
    setup_logging([s for s in loaded.secrets() if s != reveal])
    source = loaded.path or "built-in demo config (paper broker)"
    print(f"trade-bridge serving {source} on http://{url_host(host)}:{port}", flush=True)
    print('webhook URLs (POST JSON such as {"ticker": "AMD", "action": "buy"}):', flush=True)
    for line in webhook_urls(loaded, host, port, reveal):
        print(line, flush=True)
    if loaded.path is not None:
        print(f"edits to {loaded.path.name} apply without a restart (also: kill -HUP, POST /api/reload)", flush=True)
    if server_cfg.intake_process and hasattr(socket, "AF_UNIX"):
        return _run_with_intake(loaded, host, port)
    if server_cfg.intake_process:
        print("server.intake_process needs Unix sockets: serving from one process", flush=True)
    # on_stopped: its last lines, then the signal ends it. limit_concurrency: beyond it an immediate 503, which
    # senders retry; not on the admin listener, which a full public side must not take away.
    app = build_app(loaded, handle_sighup=True, on_started=freeze_startup_objects, on_stopped=write_directly)
    config = uvicorn.Config(app, **_server_options(host, port), limit_concurrency=server_cfg.limit_concurrency,
                            http=http_protocol(server_cfg.admin_port))  # fmt: skip
    server = uvicorn.Server(config)
    server.run(sockets=listen_sockets(config, server_cfg.admin_port))
    return 0


def _server_options(host: str, port: int) -> dict[str, Any]:
    return {"host": host, "port": port, "access_log": False, "log_config": None, "lifespan": "on",
            "proxy_headers": False, "server_header": False, "timeout_graceful_shutdown": 10}  # fmt: skip


def _run_with_intake(loaded: LoadedConfig, host: str, port: int) -> int:
    """`server.intake_process`: the intake process takes the listeners; this one serves it the rest privately."""
    server_cfg = loaded.config.server
    public = uvicorn.Config("unused", **_server_options(host, port))
    listeners = listen_sockets(public, server_cfg.admin_port) or [public.bind_socket()]
    failed: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="bridge-") as directory:  # 0700: only this user reaches its sockets
        private = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        private.bind(str(Path(directory) / APP_SOCKET))
        private.listen(2048)
        spec = IntakeSpec(Path(directory), listeners, server_cfg.limit_concurrency, server_cfg.admin_port)

        def intake_ended(failure: bool) -> None:  # the daemon ends too; after a crash with a failure status
            failed.append(failure)  # (systemd's Restart=on-failure starts it again)
            server.should_exit = True

        app = build_app(loaded, handle_sighup=True, on_started=freeze_startup_objects, on_stopped=write_directly,
                        intake=spec, on_intake_end=intake_ended)  # fmt: skip
        server = uvicorn.Server(uvicorn.Config(app, **_server_options(host, port)))
        server.run(sockets=[private])
    return 1 if any(failed) else 0
