"""`GET /health`: liveness and what is wrong, without revealing any secret."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from bridge import __version__
from bridge.service import Bridge
from bridge.store.db import iso


async def health(request: Request) -> JSONResponse:
    """Report config, brokers and trading state."""
    bridge: Bridge = request.app.state.bridge
    brokers = {
        name: {"status": "ok" if slot.healthy else "error", "plugin": slot.plugin, "detail": slot.error}
        for name, slot in bridge.runtime.brokers.items()
    }
    degraded = bridge.recovering or any(b["status"] != "ok" for b in brokers.values())
    return JSONResponse({
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "config": {
            "loaded_at": iso(bridge.started_at),
            "sha256": bridge.loaded.sha256,
            "last_reload": {"ok": True, "at": iso(bridge.started_at), "error": None},
        },
        "brokers": brokers,
        "halted": bridge.recovering,
        "recovering": bridge.recovering,
        "queued": bridge.queues.pending,
    })  # fmt: skip
