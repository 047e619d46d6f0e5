"""In-process bridges for reload tests: the real app over httpx's ASGI transport, the config file in a temp dir."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.config.load import load_config
from bridge.service import Bridge
from bridge.web.app import build_app
from tests.conftest import ADMIN, TOKEN

BROKER = "brokers:\n  paper:\n    plugin: {plugin}\n    options: {{cash: {cash}}}\n"


def config_text(strategies: dict[str, str], plugin: str = "paper", cash: int = 100000, extra: str = "") -> str:
    """A config with one broker `paper` and the given strategies (name -> token), each on that broker."""
    text = f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n" + BROKER.format(plugin=plugin, cash=cash)
    text += "strategies:\n"
    for name, token in strategies.items():
        text += f"  {name}:\n    token: {token}\n    rate_limit: {{per_minute: 100000, per_hour: 1000000}}\n"
        text += "    subscriptions:\n      - broker: paper\n"
    return text + textwrap.dedent(extra)


@dataclass
class Running:
    """A started bridge, its config file and an HTTP client for its app."""

    bridge: Bridge
    client: httpx.AsyncClient
    config: Path

    async def post(self, strategy: str = "sq", token: str = TOKEN, **payload: Any) -> httpx.Response:
        body = {"ticker": "AMD", "action": "buy", "price": 100, **payload}
        return await self.client.post(f"/webhook/{strategy}/{token}", json=body)

    async def edit(self, text: str, trigger: str = "test") -> Any:
        self.config.write_text(text)
        return await self.bridge.reload(trigger)

    async def settled(self) -> None:
        """Wait until every signal queued so far has run."""
        await self.bridge.queues.join()

    def paper_position(self, symbol: str = "AMD") -> str | None:
        """The paper book's quantity in `symbol` as stored (None: never held)."""
        row = self.bridge.store.peek(
            lambda conn: conn.execute("SELECT quantity FROM paper_positions WHERE symbol = ?", (symbol,)).fetchone()
        )
        return None if row is None else str(row[0])


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Factory: `await running(text)` -> a started in-process bridge (no watcher, no scheduler); stopped after."""
    started: list[Running] = []

    async def start(text: str) -> Running:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        bridge = Bridge(load_config(path), scheduling=False, watching=False)
        app = build_app(bridge.loaded, bridge=bridge)
        await bridge.start()
        await bridge.ready()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
        started.append(Running(bridge, client, path))
        return started[-1]

    yield start
    for item in started:
        await item.client.aclose()
        await item.bridge.stop()
