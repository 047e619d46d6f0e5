"""While the daemon reads nothing from the link (its execution queue full), the intake process must not grow.

The daemon's side of the link runs for real (`IntakeProcess` with a real bridge and journal); the
intake process's side is a real `IntakeSide` on a real socket pair, its far end left unread as the
daemon leaves it while `max_queued_signals` signals wait for execution.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.intake import wire
from bridge.intake.process import IntakeProcess, IntakeSpec
from bridge.intake.side import IntakeSide
from bridge.metrics import Metrics
from tests.conftest import GUARD, TOKEN, eventually
from tests.reload.conftest import Running, config_text

REFUSED = 50_000  # a stranger's bad tokens, each journaled and answered 401 in well under a millisecond


async def test_refused_webhooks_while_the_daemon_reads_nothing_neither_grow_the_intake_nor_go_uncounted(
    running: Callable[..., Any], tmp_path: Path
) -> None:
    live: Running = await running(config_text({"sq": TOKEN}))
    daemon_end, intake_end = socket.socketpair()
    intake_reader, intake_writer = await asyncio.open_unix_connection(sock=intake_end)
    side = IntakeSide(live.bridge.loaded, live.bridge.store, intake_writer)
    commit = live.bridge.store.commit_observers[-1]  # the side's own, as the journal's commit thread calls it
    for _ in range(REFUSED):
        commit(0.001)  # each refusal is journaled
        side.count_webhook(401)
    # One message per answer (and per commit) piled up here for as long as the daemon read nothing: no bound.
    assert intake_writer.transport.get_write_buffer_size() < 256 * 1024

    # The daemon reads again (execution caught up): every answer is counted, none lost to the bound.
    metrics = Metrics(live.bridge)
    process = IntakeProcess(live.bridge, metrics, IntakeSpec(tmp_path, []), on_end=lambda failure: None)
    reader, writer = await asyncio.open_unix_connection(sock=daemon_end)
    serving = asyncio.create_task(process._accept_link(reader, writer))
    first = await wire.receive(intake_reader)
    assert first is not None and first[0] == "config"

    def counted() -> bool:
        side.count_webhook(401)  # the next answer takes along what waited
        total = metrics.registry.get_sample_value("bridge_webhooks_total", {"outcome": "unauthorized"}) or 0.0
        return total >= REFUSED

    await eventually(counted, f"{REFUSED} refusals counted")
    intake_writer.close()
    await intake_writer.wait_closed()
    await asyncio.wait_for(serving, timeout=GUARD)
