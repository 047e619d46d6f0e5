"""A plugin that raises at import or in connect is named in /health, and the other brokers keep trading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.brokers.test_registry import write_plugin
from tests.conftest import ADMIN, GUARD, TOKEN, Daemon, free_port

OTHER_TOKEN = "tok-other-0f1e2d3c4b5a6978"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon with the paper broker, a plugin that fails to import and one whose connect fails."""
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "crashy", extra="raise RuntimeError('crashy cannot import its SDK')\n")
    write_plugin(plugins, "flaky", connect="raise ConnectionError('flaky rejected the login')")
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, admin_token: {ADMIN}}}\n"
        "brokers:\n"
        "  paper: {plugin: paper}\n"
        "  crashy: {plugin: crashy}\n"
        "  flaky: {plugin: flaky}\n"
        "strategies:\n"
        f"  sq:\n    token: {TOKEN}\n    subscriptions:\n"
        "      - {broker: paper}\n"
        "      - {broker: crashy}\n"
        "      - {broker: flaky}\n"
        f"  other:\n    token: {OTHER_TOKEN}\n    subscriptions:\n"
        "      - {broker: flaky}\n"
    )
    started = Daemon(config=config, port=port).start()
    yield started
    started.stop()


def crashy_line(plugins: Path) -> int:
    """The line of crashy.py that raises."""
    return (plugins / "crashy.py").read_text().splitlines().index(
        "raise RuntimeError('crashy cannot import its SDK')"
    ) + 1


def test_health_names_each_broken_plugin_and_its_file(daemon: Daemon) -> None:
    health = httpx.get(f"{daemon.base}/health", timeout=GUARD).json()
    plugins = daemon.config.parent / "plugins"
    assert health["status"] == "degraded"
    brokers = health["brokers"]
    assert brokers["paper"]["status"] == "ok"
    assert brokers["crashy"] == {
        "status": "error",
        "plugin": "crashy",
        "detail": f"broker plugin 'crashy' ({plugins / 'crashy.py'}:{crashy_line(plugins)}) failed to import: "
        "RuntimeError('crashy cannot import its SDK')",
        "reconnect_in": None,  # a plugin that cannot import waits for a config change
    }
    assert brokers["flaky"]["status"] == "error"
    assert brokers["flaky"]["detail"] == (
        f"broker plugin 'flaky' ({plugins / 'flaky.py'}) failed in connect: ConnectionError: flaky rejected the login"
    )
    assert 0 <= brokers["flaky"]["reconnect_in"] <= 300, "a failed connect is tried again, and /health says when"
    assert brokers["paper"]["reconnect_in"] is None
    log = daemon.output()
    assert "crashy.py" in log and "flaky.py" in log  # the operator sees the same in the log


def test_signals_still_execute_on_the_healthy_broker(daemon: Daemon) -> None:
    response = daemon.post({"ticker": "SQ", "action": "buy", "price": 50})
    assert response.status_code == 200, response.text
    final = daemon.wait_final(response.json()["id"])
    assert daemon.positions() == {"SQ": 1}  # the paper subscription traded
    assert sorted(daemon.position_errors()) == ["crashy", "flaky"]  # the brokers that are down say so, not "flat"
    orders = [o for o in daemon.api("orders") if o["signal_id"] == final["id"]]
    assert [(o["broker"], o["status"]) for o in orders] == [("paper", "filled")]
    # The signal's state shows the failure worth a look; the healthy broker's trade went through regardless.
    assert final["state"] == "failed"

    other = daemon.post({"ticker": "SQ", "action": "buy"}, url=f"{daemon.base}/webhook/other/{OTHER_TOKEN}")
    assert other.status_code == 200  # journaled even though its only broker is down
    failed = daemon.wait_final(other.json()["id"])
    assert failed["state"] == "failed"
    assert "broker flaky is unavailable" in failed["decision"]
