"""Starter configs: the file `bridge init` writes and the demo `bridge run` serves without one."""

from __future__ import annotations

import secrets

from bridge.config.load import LoadedConfig, parse_config

STARTER = """\
# trade-bridge configuration. Check it with: bridge check --config {path}
server:
  host: 127.0.0.1            # keep loopback; expose it through a tunnel or reverse proxy
  port: 8787
  admin_token: {admin}       # for /api/* (Authorization: Bearer ...); or ${{BRIDGE_ADMIN_TOKEN}}
database: bridge.db          # relative to this file
max_signal_age: 60           # seconds; older queued signals are expired, not executed
brokers:
  paper:
    plugin: paper            # the built-in paper broker
    options: {{cash: 100000}}
strategies:
  demo:                      # webhook URL: http://HOST:PORT/webhook/demo/<token>
    token: {token}
    subscriptions:
      - broker: paper
        sides: both          # both | long | short
        allow_swap: true     # buy while short: cover, then go long
        allow_add: false     # buy while long: ignored unless true
        use_signal_quantity: true
        sizing: {{type: fixed_quantity, value: 1}}
        order_type: market
"""


def new_token() -> str:
    """A fresh token of 192 random bits, hex so it is safe in URLs, YAML and shells."""
    return secrets.token_hex(24)


def starter_text(path: str = "config.yaml", admin: str | None = None) -> str:
    """A starter config with freshly generated tokens."""
    return STARTER.format(path=path, admin=admin or new_token(), token=new_token())


def demo_config(token: str) -> LoadedConfig:
    """The built-in demo: paper broker, one strategy `demo`, the admin token from $BRIDGE_ADMIN_TOKEN if set."""
    text = STARTER.format(path="config.yaml", admin="${BRIDGE_ADMIN_TOKEN:-}", token=token)
    return LoadedConfig(config=parse_config(text, "<demo>"), path=None, sha256="demo")
