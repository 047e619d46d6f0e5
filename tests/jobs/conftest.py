"""In-process bridges on a clock the test controls; the scheduler is not started, tests run the jobs themselves."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.config.load import load_config
from bridge.service import Bridge
from bridge.store.db import utcnow
from bridge.web.app import build_app
from tests.conftest import ADMIN, TOKEN

OTHER_TOKEN = "tok-" + "77aa66bb55cc44dd33ee"


def config_text(subscription: str = "", extra: str = "") -> str:
    """The paper broker; strategy `sq` (its subscription takes the extra YAML lines) and strategy `other`."""
    lines = "".join(f"        {line}\n" for line in subscription.splitlines() if line.strip())
    return (
        f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n{extra}"
        "brokers:\n  paper:\n    plugin: paper\n    options: {cash: 100000}\n"
        f"strategies:\n  sq:\n    token: {TOKEN}\n    subscriptions:\n      - broker: paper\n{lines}"
        f"  other:\n    token: {OTHER_TOKEN}\n    subscriptions:\n      - broker: paper\n"
    )


def two_strategies(sq_subscriptions: list[str]) -> str:
    """Broker `paper`; strategy `sq` with these subscriptions (YAML bodies; none: no `sq`), strategy `other`."""
    out = f"server:\n  admin_token: {ADMIN}\ndatabase: bridge.db\n"
    out += "brokers:\n  paper:\n    plugin: paper\n    options: {cash: 100000}\nstrategies:\n"
    if sq_subscriptions:
        out += f"  sq:\n    token: {TOKEN}\n    subscriptions:\n"
        for body in sq_subscriptions:
            first, *rest = body.strip().splitlines()
            out += f"      - {first}\n" + "".join(f"        {line}\n" for line in rest)
    return out + f"  other:\n    token: {OTHER_TOKEN}\n    subscriptions:\n      - broker: paper\n"


class Clock:
    """What the bridge's jobs take as now; starts at the real time, moves only when told."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Running:
    """A started bridge with an HTTP client for its app and direct access to its journal."""

    bridge: Bridge
    client: httpx.AsyncClient

    async def post(self, strategy: str = "sq", **payload: Any) -> httpx.Response:
        token = TOKEN if strategy == "sq" else OTHER_TOKEN
        body = {"ticker": "AMD", "action": "buy", "price": 100, **payload}
        return await self.client.post(f"/webhook/{strategy}/{token}", json=body)

    async def accepted(self, strategy: str = "sq", **payload: Any) -> str:
        response = await self.post(strategy, **payload)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with sqlite3.connect(self.bridge.store.path) as db:
            db.row_factory = sqlite3.Row
            return db.execute(sql, args).fetchall()

    def signal(self, signal_id: str) -> sqlite3.Row:
        return self.rows("SELECT * FROM signals WHERE id = ?", signal_id)[0]

    async def positions(self) -> dict[str, Decimal]:
        broker = self.bridge.runtime.broker("paper")
        assert broker is not None
        return {p.symbol: p.quantity for p in await broker.fetch_positions()}


@pytest.fixture
async def bridges(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Factory: `await bridges(text, clock)` -> a started bridge on config.yaml in tmp_path (same journal each time)."""
    started: list[Running] = []

    async def start(text: str, clock: Clock) -> Running:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        bridge = Bridge(load_config(path), clock=clock, scheduling=False, watching=False)
        app = build_app(bridge.loaded, bridge=bridge)
        await bridge.start()
        await bridge.ready()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
        started.append(Running(bridge, client))
        return started[-1]

    yield start
    for item in started:
        await item.client.aclose()
        await item.bridge.stop()  # a second stop (after a test's own) is harmless
