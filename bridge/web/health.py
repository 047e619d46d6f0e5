"""`GET /health`: liveness and what is wrong, without revealing any secret."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from bridge import __version__
from bridge.runtime import BrokerSlot
from bridge.service import Bridge
from bridge.store import upkeep
from bridge.store.db import iso


def _broker(slot: BrokerSlot, now: float) -> dict[str, object]:
    """One broker's health.

    `reconnect_in`: seconds until the next attempt to connect a broker whose `connect` failed; None when
    no attempt will be made (it is healthy, or it waits for a config change).
    """
    retrying = slot.retry and not slot.healthy
    return {"status": "ok" if slot.healthy else "error", "plugin": slot.plugin, "detail": slot.error,
            "reconnect_in": round(max(0.0, slot.next_attempt - now), 1) if retrying else None}  # fmt: skip


async def health(request: Request) -> JSONResponse:
    """Report config (and the last reload), brokers, trading state and scheduled jobs."""
    bridge: Bridge = request.app.state.bridge
    now = time.monotonic()
    brokers = {name: _broker(slot, now) for name, slot in bridge.runtime.brokers.items()}
    last_reload = bridge.reloader.status
    halt = bridge.guard.halt.shown()  # as the journal has it: `bridge halt` may have written it there
    # Stops put back that have not reached the broker yet (`jobs.putbacks`), or not known to have reached it (their
    # send's outcome unknown, looked up by the order jobs): their positions may have no stop there.
    unsent = len(await bridge.store.read(upkeep.failed_put_backs, bridge.store.conn))
    unsent += await bridge.store.read(upkeep.put_backs_in_doubt, bridge.store.conn)
    degraded = (bridge.recovering or not last_reload.ok or any(b["status"] != "ok" for b in brokers.values())
                or unsent > 0)  # fmt: skip
    return JSONResponse({
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "config": {
            "loaded_at": iso(bridge.loaded_at),
            "sha256": bridge.loaded.sha256,
            "last_reload": last_reload.as_json(),
        },
        "brokers": brokers,
        "halted": bridge.recovering or halt.halted,  # either way no new order is sent
        "kill_switch": halt.as_json(),
        "circuit_breakers": bridge.guard.status(),  # per broker: outages open it, for every strategy
        "strategy_circuit_breakers": bridge.guard.strategy_status(),  # per broker and strategy: the venue's refusals
        "recovering": bridge.recovering,
        "recovery_halt": bridge.recovery_halt,  # the orders start-up recovery waits on, by broker, and why
        "queued": bridge.queues.pending,
        "stops_not_put_back": unsent,  # how many, sent again until they work (the log and /api/orders say which)
        "jobs": {job: None if at is None else iso(at) for job, at in sorted(bridge.jobs.next_runs().items())},
        "delayed_signals": len(bridge.jobs.next_runs("delay:")),
    })  # fmt: skip
