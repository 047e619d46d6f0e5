"""E2E fixtures: one real `bridge run` daemon per test module, serving several strategies on one paper broker."""

from __future__ import annotations

import signal
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, free_port

# Strategy name -> its subscriptions (raw YAML list). `sq` keeps the defaults of design §7.
DEFAULT_STRATEGIES: dict[str, str] = {"sq": "- broker: paper\n"}
# One module-wide daemon takes far more requests a minute than a real alert sends.
RELAXED = "    rate_limit: {per_minute: 100000, per_hour: 1000000}\n"


def token_for(strategy: str) -> str:
    """Each strategy's URL token; `sq` uses the shared test token so `Daemon.url` works unchanged."""
    return TOKEN if strategy == "sq" else f"tok-{strategy}-0f1e2d3c4b5a6978"


def write_strategies_config(directory: Path, port: int, strategies: Mapping[str, str], server: str = "") -> Path:
    """A config with the paper broker and one strategy per entry of `strategies` (`server`: more YAML lines there)."""
    text = (
        f"server:\n  host: 127.0.0.1\n  port: {port}\n  admin_token: {ADMIN}\n{server}"
        "database: bridge.db\n"
        "brokers:\n  paper:\n    plugin: paper\n    options: {cash: 100000}\n"
        "strategies:\n"
    )
    for name, subscriptions in strategies.items():
        text += f"  {name}:\n    token: {token_for(name)}\n{RELAXED}    subscriptions:\n"
        text += textwrap.indent(subscriptions, "      ")
    path = directory / "config.yaml"
    path.write_text(text)
    return path


@dataclass
class E2EDaemon(Daemon):
    """A `Daemon` with the helpers end-to-end tests share, talking over one kept-alive HTTP client."""

    # httpx.get() builds a client (and an SSL context) per call, ~35 ms; one client makes a call ~1 ms.
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=GUARD), repr=False)

    def post(self, payload: Any = None, *, content: bytes | None = None, headers: dict[str, str] | None = None,
             url: str | None = None) -> httpx.Response:  # fmt: skip
        if content is None:
            return self.client.post(url or self.url, json=payload, headers=headers)
        return self.client.post(url or self.url, content=content, headers=headers)

    def api(self, what: str, **params: Any) -> Any:
        response = self.client.get(
            f"{self.base}/api/{what}", params=params, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        """`GET /health` as JSON."""
        response = self.client.get(f"{self.base}/health")
        response.raise_for_status()
        return dict(response.json())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        super().stop(sig)
        self.client.close()

    def url_for(self, strategy: str = "sq", prefix: str = "/webhook", token: str | None = None) -> str:
        """The webhook URL of `strategy` in either URL form."""
        return f"{self.base}{prefix}/{strategy}/{token if token is not None else token_for(strategy)}"

    def send(self, payload: dict[str, Any], strategy: str = "sq") -> dict[str, Any]:
        """Post a signal that must be accepted, and return its final state from the API."""
        response = self.post(payload, url=self.url_for(strategy))
        assert response.status_code == 200, response.text
        return self.wait_final(response.json()["id"])

    def orders_of(self, signal_id: str) -> list[dict[str, Any]]:
        """The journaled orders of one signal, in the order they were planned."""
        orders = [o for o in self.api("orders", limit=1000) if o["signal_id"] == signal_id]
        return sorted(orders, key=lambda o: o["seq"])

    def orders_for(self, symbol: str) -> list[dict[str, Any]]:
        """Every journaled order for one symbol, newest first (as the API lists them)."""
        return [o for o in self.api("orders", limit=1000) if o["symbol"] == symbol]

    def position(self, symbol: str) -> float:
        """The paper position in `symbol` (0 when flat: the API lists only non-zero positions)."""
        return self.positions().get(symbol, 0)

    def wait_idle(self, timeout: float = GUARD) -> None:
        """Wait until no signal is queued or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health().get("queued", 0) == 0 and not [
                s for s in self.api("signals", limit=1000) if s["state"] in ("received", "processing")
            ]:
                return
            time.sleep(0.05)
        raise AssertionError(f"signals still running: {self.output()[-2000:]}")


DaemonFactory = Callable[..., E2EDaemon]


@pytest.fixture(scope="module")
def module_daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonFactory]:
    """Factory for daemons that live as long as the test module: `factory(strategies=None, server="")`."""
    started: list[E2EDaemon] = []

    def factory(strategies: Mapping[str, str] | None = None, server: str = "") -> E2EDaemon:
        port = free_port()
        directory = tmp_path_factory.mktemp("daemon")
        config = write_strategies_config(directory, port, strategies or DEFAULT_STRATEGIES, server)
        daemon = E2EDaemon(config=config, port=port)
        started.append(daemon)
        daemon.start()
        return daemon

    yield factory
    for daemon in started:
        daemon.stop()
