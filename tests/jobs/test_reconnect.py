"""A broker whose `connect` failed is connected again by a job, backing off; one that cannot work is left alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bridge.jobs.reconnect import reconnect_brokers
from bridge.runtime import BrokerSlot, retry_delay
from tests.jobs.conftest import Clock, config_text

# The paper broker behind a venue that refuses connections while a file `down` lies beside the config,
# and a plugin whose constructor always fails (as bad options would): connecting again cannot help it.
PLUGINS = {
    "flaky.py": """
import asyncio

from bridge.brokers.paper import PaperBroker


class FlakyBroker(PaperBroker):
    def __init__(self, options, context):
        super().__init__(options, context)
        self.down = context.base_dir / "down"

    async def connect(self):
        if self.down.exists():
            raise ConnectionError("venue unreachable")
        while (self.down.parent / "hold").exists():  # a slow venue: the test decides when it answers
            await asyncio.sleep(0.01)
        await super().connect()

    async def close(self):
        (self.down.parent / "closed").touch()


BROKER = FlakyBroker
""",
    "broken.py": """
from bridge.brokers.paper import PaperBroker


class BrokenBroker(PaperBroker):
    def __init__(self, options, context):
        raise ValueError("this adapter cannot be built")


BROKER = BrokenBroker
""",
}


def _config(tmp_path: Path) -> str:
    (tmp_path / "plugins").mkdir()
    for name, source in PLUGINS.items():
        (tmp_path / "plugins" / name).write_text(source)
    text = config_text(extra="plugin_dirs: [plugins]\n").replace("plugin: paper", "plugin: flaky")
    return text.replace("brokers:\n", "brokers:\n  broken:\n    plugin: broken\n")


async def test_a_broker_down_at_start_is_connected_again_once_its_wait_is_over(bridges: Any, tmp_path: Path) -> None:
    (tmp_path / "down").touch()
    r = await bridges(_config(tmp_path), Clock())
    slot = r.bridge.runtime.brokers["paper"]
    assert not slot.healthy and slot.retry and "failed in connect" in (slot.error or "")
    failed = r.signal(await r.accepted())
    await r.bridge.queues.join()
    assert r.signal(failed["id"])["state"] == "failed", "no broker, no trade"

    first = slot.next_attempt
    assert await reconnect_brokers(r.bridge, now=first - 0.1) == [] and slot.attempts == 1, "not before its time"
    assert await reconnect_brokers(r.bridge, now=first) == []  # still down: it waits longer before the next try
    assert slot.attempts == 2 and slot.next_attempt == first + retry_delay(2) and not slot.healthy

    (tmp_path / "down").unlink()  # the venue is back
    assert await reconnect_brokers(r.bridge, now=slot.next_attempt) == ["paper"]
    assert r.bridge.runtime.brokers["paper"].healthy
    signal_id = await r.accepted(price=101)  # another signal: the same body again would be a duplicate
    await r.bridge.queues.join()
    assert r.signal(signal_id)["state"] == "executed", r.signal(signal_id)["decision"]
    assert r.rows("SELECT status FROM orders WHERE signal_id = ?", signal_id)[0]["status"] == "filled"
    assert await reconnect_brokers(r.bridge, now=float("inf")) == [], "a connected broker is left alone"


async def test_a_connection_made_while_the_config_changed_is_closed_not_installed(bridges: Any, tmp_path: Path) -> None:
    (tmp_path / "down").touch()
    r = await bridges(_config(tmp_path), Clock())
    (tmp_path / "down").unlink()
    (tmp_path / "hold").touch()  # the venue is back, but slow to answer
    (tmp_path / "closed").unlink()  # left by the failed attempt at start-up, which closed its adapter
    attempt = asyncio.create_task(reconnect_brokers(r.bridge, now=float("inf")))
    await asyncio.sleep(0.05)
    # Meanwhile a reload put its own slot in place (its own attempt, here a failed one).
    newer = BrokerSlot("paper", "flaky", None, error="a reload's own attempt")
    r.bridge.runtime.brokers["paper"] = newer
    (tmp_path / "hold").unlink()
    assert await attempt == []
    assert r.bridge.runtime.brokers["paper"] is newer, "the job never installs over a slot it did not try"
    assert (tmp_path / "closed").exists(), "and the connection it made is closed"


async def test_a_broker_that_cannot_be_built_waits_for_a_config_change(bridges: Any, tmp_path: Path) -> None:
    r = await bridges(_config(tmp_path), Clock())
    broken = r.bridge.runtime.brokers["broken"]
    assert not broken.healthy and not broken.retry and "cannot be built" in (broken.error or "")
    assert await reconnect_brokers(r.bridge, now=float("inf")) == []
    assert broken.attempts == 1 and r.bridge.runtime.brokers["broken"] is broken


def test_the_wait_doubles_up_to_five_minutes() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay(7) == 300 and retry_delay(50) == 300
