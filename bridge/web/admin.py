"""`POST /api/reload`: reload the config file now (admin token required)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from bridge.service import Bridge
from bridge.web.auth import bearer_matches


async def reload_config(request: Request) -> JSONResponse:
    """Apply the config file as it is now; answer with the outcome (200 when applied or unchanged, else 422)."""
    bridge: Bridge = request.app.state.bridge
    expected = bridge.runtime.loaded.config.server.admin_token
    if not bearer_matches(expected, request.headers.get("authorization")):
        hint = (
            "send Authorization: Bearer <server.admin_token>" if expected else "set server.admin_token to use the API"
        )
        return JSONResponse({"success": False, "messageCode": "unauthorized", "message": hint}, status_code=401)
    status = await bridge.reload("admin API")
    return JSONResponse({"success": status.ok, **status.as_json()}, status_code=200 if status.ok else 422)
