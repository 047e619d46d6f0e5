"""A reload that overtakes a webhook in the intake process: the signal executes under the config that judged it.

The daemon's side of the link runs for real (`IntakeProcess` with a real bridge, journal and paper
brokers); the intake process's side is driven step by step over a real socket pair, so the moment the
reload lands between "judged" and "handed over" is not left to chance.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config.load import LoadedConfig
from bridge.ids import new_id
from bridge.intake import wire
from bridge.intake.process import IntakeProcess, IntakeSpec
from bridge.intake.side import IntakeSide
from bridge.metrics import Metrics
from bridge.signals.parse import parse_body
from bridge.store import journal
from bridge.store.db import iso, utcnow
from tests.conftest import ADMIN, GUARD, TOKEN, eventually
from tests.reload.conftest import Running, config_text

# The same strategy and token, its subscription moved to another paper account: the old one is "gone".
MOVED = f"""server:
  admin_token: {ADMIN}
database: bridge.db
brokers:
  other:
    plugin: paper
strategies:
  sq:
    token: {TOKEN}
    subscriptions:
      - broker: other
        name: main
"""
# The same subscription (its name kept) on the paper broker: MOVED moves it to `other`.
NAMED = config_text({"sq": TOKEN}).replace("- broker: paper\n", "- broker: paper\n        name: main\n")


@dataclass
class Link:
    """The intake process's ends of the link, the daemon's task serving it, and the first config sent."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    serving: asyncio.Task[None]
    version: int
    loaded: LoadedConfig

    async def close(self) -> None:
        """Close it as an ending intake process does; the daemon lets go of every version it kept."""
        self.writer.close()
        await self.writer.wait_closed()
        await asyncio.wait_for(self.serving, timeout=GUARD)


async def link_to(bridge_process: IntakeProcess) -> Link:
    """Connect a scripted intake process to the daemon's side of the link."""
    daemon_end, intake_end = socket.socketpair()
    reader, writer = await asyncio.open_unix_connection(sock=daemon_end)
    serving = asyncio.create_task(bridge_process._accept_link(reader, writer))
    intake_reader, intake_writer = await asyncio.open_unix_connection(sock=intake_end)
    first = await wire.receive(intake_reader)
    assert first is not None and first[0] == "config"
    return Link(intake_reader, intake_writer, serving, first[1], first[2])


def webhook_row(body: bytes) -> journal.WebhookRow:
    """The request as the intake process journals it."""
    return journal.WebhookRow(id=new_id(), received_at=iso(utcnow()), strategy="sq", remote_addr="127.0.0.1",
                              method="POST", path="/webhook/sq/***", headers={}, body=body.decode(),
                              status_code=200)  # fmt: skip


async def final_state(live: Running, signal_id: str) -> str:
    """The signal's state once it has one that is final (waited for under GUARD)."""

    def final() -> str | None:
        state = live.bridge.store.peek(
            lambda conn: conn.execute("SELECT state FROM signals WHERE id = ?", (signal_id,)).fetchone()[0]
        )
        return None if state in ("received", "processing") else str(state)

    return str(await eventually(final, f"signal {signal_id} final"))


async def test_a_signal_judged_before_a_reload_executes_under_the_config_that_judged_it(
    running: Callable[..., Any], tmp_path: Path
) -> None:
    live: Running = await running(NAMED)
    bridge = live.bridge
    process = IntakeProcess(bridge, Metrics(bridge), IntakeSpec(tmp_path, []), on_end=lambda failure: None)
    link = await link_to(process)
    side = IntakeSide(link.loaded, bridge.store, link.writer, link.version)  # the intake side, on the same journal

    request = side.acquire()  # a webhook arrives: its token and subscriptions are judged by this config
    first_runtime = bridge.runtime
    status = await live.edit(MOVED)  # the reload lands before the signal is handed over
    assert status.ok, status
    assert bridge.runtime is not first_runtime
    body = json.dumps({"ticker": "AMD", "action": "buy", "price": 10}).encode()
    signal, payload, unknown = parse_body(body)
    signal_id = (await side.accept(webhook_row(body), "sq", signal, payload, unknown, request)).signal_id
    side.release(request)
    # The new config reaches the intake process only now.
    sent = await asyncio.wait_for(wire.receive(link.reader), timeout=GUARD)
    assert sent is not None and sent[0] == "config"
    side.use(sent[2], sent[1])

    # Executed on the account of the config that accepted it, not failed as "no longer in the config".
    assert await final_state(live, signal_id) == "executed"
    positions = bridge.store.peek(lambda conn: conn.execute("SELECT broker, symbol, quantity FROM paper_positions"))
    assert [tuple(row) for row in positions] == [("paper", "AMD", "1")]
    # Once the intake process has retired the old version and the execution is done, the old runtime goes.
    await eventually(lambda: first_runtime.users == 0 and first_runtime not in bridge._retired, "the old runtime went")
    await link.close()


async def test_signals_after_the_new_config_execute_under_it(running: Callable[..., Any], tmp_path: Path) -> None:
    live: Running = await running(NAMED)
    bridge = live.bridge
    process = IntakeProcess(bridge, Metrics(bridge), IntakeSpec(tmp_path, []), on_end=lambda failure: None)
    link = await link_to(process)
    side = IntakeSide(link.loaded, bridge.store, link.writer, link.version)
    status = await live.edit(MOVED)
    assert status.ok, status
    sent = await asyncio.wait_for(wire.receive(link.reader), timeout=GUARD)
    assert sent is not None and sent[0] == "config"
    side.use(sent[2], sent[1])

    request = side.acquire()
    body = json.dumps({"ticker": "AMD", "action": "buy", "price": 10}).encode()
    signal, payload, unknown = parse_body(body)
    signal_id = (await side.accept(webhook_row(body), "sq", signal, payload, unknown, request)).signal_id
    side.release(request)
    assert await final_state(live, signal_id) == "executed"
    positions = bridge.store.peek(lambda conn: conn.execute("SELECT broker, symbol, quantity FROM paper_positions"))
    assert [tuple(row) for row in positions] == [("other", "AMD", "1")]
    await link.close()


async def test_a_reload_right_after_the_link_is_up_reaches_the_intake_process(
    running: Callable[..., Any], tmp_path: Path
) -> None:
    """No moment between the first config and the daemon's next step where a reload (a revoked token) is missed."""
    live: Running = await running(config_text({"sq": TOKEN}))
    process = IntakeProcess(live.bridge, Metrics(live.bridge), IntakeSpec(tmp_path, []), on_end=lambda failure: None)
    link = await link_to(process)  # the link is up; `start` has not resumed (here it never does)
    assert [s.token for s in link.loaded.config.strategies.values()] == [TOKEN]
    status = await live.edit(config_text({"sq": "a-new-token-after-a-leak-000000000000"}))
    assert status.ok, status
    sent = await asyncio.wait_for(wire.receive(link.reader), timeout=GUARD)
    assert sent is not None and sent[0] == "config" and sent[1] == link.version + 1
    assert [s.token for s in sent[2].config.strategies.values()] == ["a-new-token-after-a-leak-000000000000"]
    await link.close()


async def test_a_signal_judged_with_a_token_the_reload_then_revoked_is_not_executed(
    running: Callable[..., Any], tmp_path: Path
) -> None:
    """The intake process still judged by the old token when the reload revoking it (after a leak) landed."""
    live: Running = await running(config_text({"sq": TOKEN}))
    bridge = live.bridge
    process = IntakeProcess(bridge, Metrics(bridge), IntakeSpec(tmp_path, []), on_end=lambda failure: None)
    link = await link_to(process)
    side = IntakeSide(link.loaded, bridge.store, link.writer, link.version)

    request = side.acquire()  # judged by the old token
    status = await live.edit(config_text({"sq": "a-new-token-after-a-leak-000000000000"}))
    assert status.ok, status
    body = json.dumps({"ticker": "AMD", "action": "buy", "price": 10}).encode()
    signal, payload, unknown = parse_body(body)
    signal_id = (await side.accept(webhook_row(body), "sq", signal, payload, unknown, request)).signal_id
    side.release(request)
    sent = await asyncio.wait_for(wire.receive(link.reader), timeout=GUARD)
    assert sent is not None and sent[0] == "config"
    side.use(sent[2], sent[1])

    assert await final_state(live, signal_id) == "rejected"
    positions = bridge.store.peek(lambda conn: conn.execute("SELECT count(*) FROM paper_positions").fetchone()[0])
    assert positions == 0, "the revoked token traded"
    await link.close()
