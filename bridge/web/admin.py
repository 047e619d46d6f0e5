"""`POST /api/reload`: reload the config file now (admin token required)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from bridge.service import Bridge
from bridge.web.gate import admin_denied


async def reload_config(request: Request) -> JSONResponse:
    """Apply the config file as it is now; answer with the outcome (200 when applied or unchanged, else 422)."""
    if (denied := admin_denied(request)) is not None:
        return denied
    bridge: Bridge = request.app.state.bridge
    status = await bridge.reload("admin API")
    return JSONResponse({"success": status.ok, **status.as_json()}, status_code=200 if status.ok else 422)
