"""`bridge run`: logging with secrets redacted, the webhook URLs, and uvicorn in the foreground."""

from __future__ import annotations

import uvicorn

from bridge.config.load import LoadedConfig
from bridge.config.secrets import mask
from bridge.logs import setup_logging, write_directly
from bridge.web.app import build_app
from bridge.web.control import listen_sockets


def webhook_urls(loaded: LoadedConfig, host: str, port: int, reveal: str | None = None) -> list[str]:
    """One line per strategy: its URL with the token masked (except `reveal`, shown once in full)."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
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
    setup_logging([s for s in loaded.secrets() if s != reveal])
    source = loaded.path or "built-in demo config (paper broker)"
    print(f"trade-bridge serving {source} on http://{host}:{port}", flush=True)
    print('webhook URLs (POST JSON such as {"ticker": "AMD", "action": "buy"}):', flush=True)
    for line in webhook_urls(loaded, host, port, reveal):
        print(line, flush=True)
    if loaded.path is not None:
        print(f"edits to {loaded.path.name} apply without a restart (also: kill -HUP, POST /api/reload)", flush=True)
    config = uvicorn.Config(
        build_app(loaded, handle_sighup=True, on_stopped=write_directly),  # its last lines, then the signal ends it
        host=host, port=port, access_log=False, log_config=None, lifespan="on", proxy_headers=False,
        server_header=False, timeout_graceful_shutdown=10,
        limit_concurrency=server_cfg.limit_concurrency,  # beyond it: an immediate 503, which senders retry
    )  # fmt: skip
    server = uvicorn.Server(config)
    server.run(sockets=listen_sockets(config, server_cfg.admin_port))
    return 0
